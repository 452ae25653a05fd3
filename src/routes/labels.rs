//! Labels: every agent reads them (names and colours for the list); only admins create,
//! colour and delete them. Agents still create a label by putting it on a conversation.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{Admin, Auth};
use super::{Page, PageQuery, PublicId, id_string, no_content, utc};
use crate::conversations::ConversationError;
use crate::db::types::Role;
use crate::state::AppState;
use crate::store::{self, labels::Label};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/labels", web::get().to(list))
        .route("/labels", web::post().to(create))
        .route("/labels/{id}", web::patch().to(update))
        .route("/labels/{id}", web::delete().to(delete));
}

/// The colour a label gets until an admin picks one (the column's default).
const DEFAULT_COLOR: &str = "#888888";

#[derive(Serialize)]
struct LabelView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    color: String,
    /// How many conversations carry it (in admins' lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    conversations: Option<i64>,
    created_at: DateTime<Utc>,
}

impl LabelView {
    fn new(label: Label, conversations: Option<i64>) -> Self {
        Self {
            id: label.id,
            name: label.name,
            color: label.color,
            conversations,
            created_at: utc(label.created_at),
        }
    }
}

/// `#rrggbb`, stored lower-case.
fn color(text: &str) -> Result<String, ApiError> {
    let hex = text.trim().strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(ApiError::invalid(
            "color",
            "must be a colour written #rrggbb, like #1f6feb",
        ))
    }
}

/// A label name as conversations store it (trimmed, lower-case, the same characters).
fn name(text: String) -> Result<String, ApiError> {
    crate::conversations::rules::labels(vec![text])
        .map_err(|e| match e {
            ConversationError::Invalid { reason, .. } => ApiError::invalid("name", reason),
            other => ApiError::internal(other),
        })?
        .pop()
        .ok_or_else(|| ApiError::invalid("name", "a name is required"))
}

/// Counts are over every inbox, so only admins get them.
async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = query.parse()?;
    let rows = store::labels::list(&mut state.db.reader().await?, after, limit).await?;
    let admin = caller.agent.role == Role::Admin;
    let views = rows
        .into_iter()
        .map(|(label, n)| LabelView::new(label, Some(n).filter(|_| admin)))
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |l: &LabelView| l.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLabel {
    name: String,
    color: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<CreateLabel>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = name(body.name)?;
    let color = match body.color.as_deref() {
        Some(text) => color(text)?,
        None => DEFAULT_COLOR.to_owned(),
    };
    let label = store::labels::create(&mut state.db.writer().await?, &name, &color, &admin.actor())
        .await
        .map_err(|e| {
            if e.is_conflict() {
                ApiError::conflict("name_taken", "a label with that name already exists")
            } else {
                e.into()
            }
        })?;
    Ok(HttpResponse::Created().json(LabelView::new(label, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateLabel {
    color: String,
}

/// Only the colour changes: SLA policies and saved views name labels, so a rename would
/// quietly stop matching them.
async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<UpdateLabel>,
) -> Result<HttpResponse, ApiError> {
    let color = color(&body.color)?;
    let label =
        store::labels::set_color(&mut state.db.writer().await?, id.0, &color, &admin.actor())
            .await?
            .ok_or_else(|| ApiError::not_found("no label with that id"))?;
    Ok(HttpResponse::Ok().json(LabelView::new(label, None)))
}

async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    state
        .hub
        .conversations
        .delete_label(&state.db, id.0, admin.actor())
        .await?
        .ok_or_else(|| ApiError::not_found("no label with that id"))?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_six_hex_digits_stored_lower_case() {
        assert_eq!(color(" #1F6FEB ").ok(), Some("#1f6feb".to_owned()));
        for bad in ["1f6feb", "#1f6fe", "#1f6febb", "#1g6feb", "red", "", "#"] {
            assert!(color(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_stored_as_conversations_store_them() {
        assert_eq!(name(" Billing ".into()).ok(), Some("billing".to_owned()));
        assert!(name("   ".into()).is_err());
        assert!(name("a/b".into()).is_err());
    }
}
