//! Saved views: `GET/POST /api/v1/me/views`, `PATCH/DELETE /api/v1/me/views/{id}`. A view's
//! filters are the conversation list's own query parameters, checked the same way, so a
//! view opens exactly the list it was saved from.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::extract::Auth;
use super::{ApiError, PublicId, id_string, no_content, utc};
use crate::db::types::{ConversationStatus, Priority};
use crate::domain::DisplayName;
use crate::state::AppState;
use crate::store::views::{self, SavedView, ViewError};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me/views", web::get().to(list))
        .route("/me/views", web::post().to(create))
        .route("/me/views/{id}", web::patch().to(update))
        .route("/me/views/{id}", web::delete().to(delete));
}

/// The list's filters a view keeps; each as `GET /api/v1/conversations` takes it.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ViewFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inbox_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sla: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
}

impl ViewFilters {
    /// Checks every value and drops empty ones; the field is named in the error.
    fn checked(self) -> Result<Self, ApiError> {
        let bad =
            |field: &str, reason: &str| ApiError::invalid(&format!("filters.{field}"), reason);
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let id = |field: &str, v: Option<String>| -> Result<Option<String>, ApiError> {
            match given(v) {
                Some(text) if !text.parse::<i64>().is_ok_and(|n| n > 0) => {
                    Err(bad(field, "must be an id"))
                }
                other => Ok(other),
            }
        };
        let assignee = match given(self.assignee) {
            Some(a) if !["me", "unassigned", "all"].contains(&a.as_str()) => {
                return Err(bad("assignee", "must be me, unassigned or all"));
            }
            other => other,
        };
        let status = given(self.status);
        if let Some(text) = &status {
            for s in text.split(',') {
                s.trim()
                    .parse::<ConversationStatus>()
                    .map_err(|e| bad("status", &e.to_string()))?;
            }
        }
        let priority = given(self.priority);
        if let Some(p) = &priority {
            p.parse::<Priority>()
                .map_err(|e| bad("priority", &e.to_string()))?;
        }
        let label = match given(self.label) {
            Some(l) => Some(
                crate::conversations::rules::labels(vec![l])
                    .map_err(|_| bad("label", "must be a label name"))?
                    .pop()
                    .unwrap_or_default(),
            ),
            None => None,
        };
        let q = given(self.q);
        if q.as_ref()
            .is_some_and(|t| t.chars().count() > 200 || t.chars().any(char::is_control))
        {
            return Err(bad(
                "q",
                "must be at most 200 characters without control characters",
            ));
        }
        let sla = match given(self.sla) {
            Some(s) if s != "at_risk" => return Err(bad("sla", "must be at_risk")),
            other => other,
        };
        let sort = match given(self.sort) {
            Some(s) if !["newest", "waiting", "priority", "sla_due"].contains(&s.as_str()) => {
                return Err(bad("sort", "must be newest, waiting, priority or sla_due"));
            }
            other => other,
        };
        Ok(Self {
            assignee,
            inbox_id: id("inbox_id", self.inbox_id)?,
            team_id: id("team_id", self.team_id)?,
            status,
            priority,
            label,
            q,
            sla,
            sort,
        })
    }
}

#[derive(Serialize)]
struct ViewView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    filters: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SavedView> for ViewView {
    fn from(v: SavedView) -> Self {
        Self {
            id: v.id,
            name: v.name,
            // Written by this module from checked filters; an unreadable one shows as none.
            filters: serde_json::from_str(&v.filters).unwrap_or_else(|_| json!({})),
            created_at: utc(v.created_at),
            updated_at: utc(v.updated_at),
        }
    }
}

fn view_error(e: ViewError) -> ApiError {
    match e {
        ViewError::NameTaken => ApiError::conflict("name_taken", e.to_string()),
        ViewError::TooMany => ApiError::unprocessable("too_many_views", e.to_string()),
        ViewError::Store(e) => e.into(),
    }
}

fn view_name(text: &str) -> Result<String, ApiError> {
    DisplayName::parse(text)
        .map(|n| n.as_str().to_owned())
        .map_err(|r| ApiError::invalid("name", r))
}

fn stored(filters: ViewFilters) -> Result<String, ApiError> {
    serde_json::to_string(&filters.checked()?).map_err(ApiError::internal)
}

async fn list(state: web::Data<AppState>, caller: Auth) -> Result<HttpResponse, ApiError> {
    let rows = views::list(&mut state.db.reader().await?, caller.agent.id).await?;
    let data: Vec<ViewView> = rows.into_iter().map(ViewView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateView {
    name: String,
    filters: ViewFilters,
}

async fn create(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<CreateView>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = view_name(&body.name)?;
    let filters = stored(body.filters)?;
    let view = views::create(
        &mut state.db.writer().await?,
        caller.agent.id,
        &name,
        &filters,
    )
    .await
    .map_err(view_error)?;
    Ok(HttpResponse::Created().json(ViewView::from(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateView {
    name: Option<String>,
    filters: Option<ViewFilters>,
}

async fn update(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<UpdateView>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.name.is_none() && body.filters.is_none() {
        return Err(ApiError::unprocessable(
            "nothing_to_change",
            "give name or filters",
        ));
    }
    let name = body.name.as_deref().map(view_name).transpose()?;
    let filters = body.filters.map(stored).transpose()?;
    let view = views::update(
        &mut state.db.writer().await?,
        caller.agent.id,
        id.0,
        name.as_deref(),
        filters.as_deref(),
    )
    .await
    .map_err(view_error)?
    .ok_or_else(|| ApiError::not_found("you have no view with that id"))?;
    Ok(HttpResponse::Ok().json(ViewView::from(view)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    if views::delete(&mut state.db.writer().await?, caller.agent.id, id.0).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("you have no view with that id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(value: serde_json::Value) -> Result<ViewFilters, String> {
        serde_json::from_value::<ViewFilters>(value)
            .map_err(|e| e.to_string())?
            .checked()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn filters_are_checked_like_the_list_query_and_empty_ones_dropped() {
        let f = filters(json!({
            "assignee": "me", "status": "open,pending", "priority": "high",
            "label": " VIP ", "inbox_id": "7", "q": "", "sort": "waiting"
        }))
        .unwrap_or_default();
        assert_eq!(f.label.as_deref(), Some("vip"));
        assert_eq!(f.q, None);
        assert_eq!(
            serde_json::to_value(&f).unwrap_or_default(),
            json!({"assignee": "me", "inbox_id": "7", "status": "open,pending",
                   "priority": "high", "label": "vip", "sort": "waiting"})
        );
        for bad in [
            json!({"assignee": "someone"}),
            json!({"status": "open,lost"}),
            json!({"priority": "asap"}),
            json!({"inbox_id": "x"}),
            json!({"team_id": "-1"}),
            json!({"sort": "oldest"}),
            json!({"sla": "late"}),
            json!({"colour": "red"}),
        ] {
            assert!(filters(bad.clone()).is_err(), "{bad}");
        }
    }
}
