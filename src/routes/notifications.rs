//! The caller's notifications (the bell): list, unread count, mark read. Each agent sees
//! only their own; another agent's notification answers 404 like one that does not exist.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::extract::Auth;
use super::{ApiError, PageQuery, PublicId};
use crate::state::AppState;
use crate::store::notifications as store;
use crate::views::NotificationView;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list))
        .route("/notifications/read-all", web::post().to(read_all))
        .route("/notifications/{id}/read", web::post().to(read_one));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `true`: unread ones only.
    unread: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Newest first, with the unread count (the bell's number).
async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, before) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let conn = &mut state.db.reader().await?;
    let agent = caller.agent.id;
    let rows = store::list(conn, agent, query.unread.unwrap_or(false), before, limit).await?;
    let unread = store::unread_count(conn, agent).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|n| n.id.to_string()))
        .flatten();
    let data: Vec<NotificationView> = rows.iter().map(NotificationView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": data,
        "next_cursor": next_cursor,
        "unread_count": unread,
    })))
}

async fn read_one(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let conn = &mut state.db.writer().await?;
    if !store::owned(conn, caller.agent.id, id.0).await? {
        return Err(ApiError::not_found("no notification with that id"));
    }
    store::mark_read(conn, caller.agent.id, Some(id.0)).await?;
    let unread = store::unread_count(conn, caller.agent.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "unread_count": unread })))
}

async fn read_all(state: web::Data<AppState>, caller: Auth) -> Result<HttpResponse, ApiError> {
    let conn = &mut state.db.writer().await?;
    let marked = store::mark_read(conn, caller.agent.id, None).await?;
    Ok(HttpResponse::Ok().json(json!({ "marked": marked, "unread_count": 0 })))
}
