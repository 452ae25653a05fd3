//! `GET /api/v1/conversations/{id}/activity`: the conversation's activity lines (built in
//! `conversations::activity` from the audit trail).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::ApiError;
use super::conversations::visible_conversation;
use super::extract::Auth;
use crate::domain::ConversationId;
use crate::state::AppState;

/// Members of the inbox (and admins), oldest first.
pub(crate) async fn activity(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let conn = &mut state.db.reader().await?;
    let lines = crate::conversations::activity::lines(
        conn,
        &conversation,
        caller.agent.id,
        caller.agent.role,
    )
    .await?;
    let data: Vec<_> = lines
        .iter()
        .map(|l| {
            json!({
                "id": l.id.to_string(),
                "action": l.action,
                "actor_id": l.actor_id.map(|a| a.to_string()),
                "text": l.text,
                "created_at": super::utc(l.created_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}
