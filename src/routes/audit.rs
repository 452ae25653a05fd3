//! The audit log, newest first (admins only).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ApiError;
use super::extract::Admin;
use super::{Page, PageQuery, id_string, utc};
use crate::db::types::ActorType;
use crate::state::AppState;
use crate::store::{self, audit::AuditEntry};
use crate::views::opt_id_string;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list));
}

#[derive(Serialize)]
struct AuditView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    actor_type: ActorType,
    #[serde(serialize_with = "opt_id_string")]
    actor_id: Option<i64>,
    action: String,
    target_type: Option<String>,
    #[serde(serialize_with = "opt_id_string")]
    target_id: Option<i64>,
    details: serde_json::Value,
    ip: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            ip: e.ip,
            created_at: utc(e.created_at),
        }
    }
}

async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, before) = query.parse()?;
    let entries = store::audit::list(&mut state.db.reader().await?, before, limit).await?;
    let views = entries.into_iter().map(AuditView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |e: &AuditView| e.id)))
}
