//! The caller's notifications (the bell): list, unread count, mark read. Each agent sees
//! only their own; another agent's notification answers 404 like one that does not exist.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Auth;
use super::{ApiError, PageQuery, PublicId};
use crate::db::types::Role;
use crate::state::AppState;
use crate::store::notifications as store;
use crate::views::NotificationView;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list))
        .route("/notifications/read-all", web::post().to(read_all))
        .route("/notifications/{id}/read", web::post().to(read_one))
        .route("/me/notification-settings", web::get().to(show_settings))
        .route("/me/notification-settings", web::put().to(save_settings));
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

/// The caller's notification settings and watched inboxes; `email_configured` says whether
/// this hub can send email at all (`notifications.smtp_host`).
async fn show_settings(state: web::Data<AppState>, caller: Auth) -> Result<HttpResponse, ApiError> {
    let conn = &mut state.db.reader().await?;
    let settings = store::settings(conn, caller.agent.id).await?;
    let watched = store::watched_inboxes(conn, caller.agent.id).await?;
    Ok(HttpResponse::Ok().json(settings_view(&state, &settings, &watched)))
}

fn settings_view(state: &AppState, settings: &store::Settings, watched: &[i64]) -> Value {
    let clock = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    json!({
        "email": {
            "enabled": settings.email_enabled,
            "kinds": settings.email_kinds,
            "quiet_hours": settings.quiet.map(|(start, end)| json!({
                "start": clock(start),
                "end": clock(end),
            })),
            "time_zone": settings.time_zone,
        },
        "watched_inbox_ids": watched.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        "email_configured": state.settings.notifications.email.is_some(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    email: Option<EmailBody>,
    watched_inbox_ids: Option<Vec<PublicId>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    enabled: Option<bool>,
    kinds: Option<Vec<String>>,
    /// `null` ends the quiet hours.
    #[serde(default, deserialize_with = "super::double_option")]
    quiet_hours: Option<Option<QuietHours>>,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietHours {
    start: String,
    end: String,
}

/// Most inboxes one agent watches (each is checked when saved).
const MAX_WATCHED: usize = 500;

/// `HH:MM` (00:00 to 23:59) as minutes of the day.
fn minute_of_day(field: &'static str, text: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::invalid(field, "must be a time of day such as 22:00");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || text.trim().len() != 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Changes what is given (absent fields keep their value); the watched inboxes are
/// replaced by the list sent. Nothing is stored when any field is refused.
async fn save_settings(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let agent_id = caller.agent.id;
    let mut settings = store::settings(&mut state.db.reader().await?, agent_id).await?;
    if let Some(email) = body.email {
        if let Some(enabled) = email.enabled {
            settings.email_enabled = enabled;
        }
        if let Some(kinds) = email.kinds {
            let mut chosen: Vec<String> = Vec::new();
            for kind in kinds {
                if !store::KINDS.contains(&kind.as_str()) {
                    return Err(ApiError::invalid(
                        "email.kinds",
                        format!("{kind} is not a kind; use {}", store::KINDS.join(", ")),
                    ));
                }
                if !chosen.contains(&kind) {
                    chosen.push(kind);
                }
            }
            settings.email_kinds = chosen;
        }
        if let Some(quiet) = email.quiet_hours {
            settings.quiet = match quiet {
                None => None,
                Some(q) => {
                    let start = minute_of_day("email.quiet_hours.start", &q.start)?;
                    let end = minute_of_day("email.quiet_hours.end", &q.end)?;
                    if start == end {
                        return Err(ApiError::invalid(
                            "email.quiet_hours.end",
                            "must differ from the start",
                        ));
                    }
                    Some((start, end))
                }
            };
        }
        if let Some(zone) = email.time_zone {
            let zone = zone.trim();
            if zone.parse::<chrono_tz::Tz>().is_err() {
                return Err(ApiError::invalid(
                    "email.time_zone",
                    format!("{zone} is not an IANA time zone such as Europe/Berlin"),
                ));
            }
            settings.time_zone = zone.to_owned();
        }
    }
    let conn = &mut state.db.writer().await?;
    let watched = match body.watched_inbox_ids {
        None => store::watched_inboxes(conn, agent_id).await?,
        Some(ids) if ids.len() > MAX_WATCHED => {
            return Err(ApiError::invalid(
                "watched_inbox_ids",
                format!("at most {MAX_WATCHED} inboxes"),
            ));
        }
        Some(ids) => {
            let mut watched: Vec<i64> = Vec::new();
            for id in ids {
                let visible = crate::store::inboxes::find(conn, id.0).await?.is_some()
                    && (caller.agent.role == Role::Admin
                        || crate::store::inboxes::is_member(conn, id.0, agent_id).await?);
                if !visible {
                    return Err(ApiError::invalid(
                        "watched_inbox_ids",
                        format!("{} is not an inbox you can see", id.0),
                    ));
                }
                if !watched.contains(&id.0) {
                    watched.push(id.0);
                }
            }
            watched
        }
    };
    store::save_settings(conn, agent_id, &settings, &watched).await?;
    Ok(HttpResponse::Ok().json(settings_view(&state, &settings, &watched)))
}
