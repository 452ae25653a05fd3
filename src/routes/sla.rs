//! Business hours and SLA policies: every agent may read them, admins change them. A
//! change reaches the escalation supervisor at once (it recomputes the running clocks).
//!
//! `PATCH` lays the given fields over the stored document and checks the whole again, so
//! a change can never leave a policy or schedule that a create would refuse.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use super::extract::{Admin, Auth};
use super::{ApiError, PublicId, no_content, utc};
use crate::db::StoreError;
use crate::sla::hours::{FieldError, Schedule};
use crate::sla::policy::{Policy, actions_json, parse_policy};
use crate::state::AppState;
use crate::store::sla::{self as store, PolicyRow, PolicyValues, ScheduleFields, ScheduleRow};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/business-hours", web::get().to(list_schedules))
        .route("/business-hours", web::post().to(create_schedule))
        .route("/business-hours/{id}", web::get().to(show_schedule))
        .route("/business-hours/{id}", web::patch().to(update_schedule))
        .route("/business-hours/{id}", web::delete().to(delete_schedule))
        .route(
            "/inboxes/{id}/business-hours",
            web::get().to(inbox_schedule),
        )
        .route(
            "/inboxes/{id}/business-hours",
            web::put().to(set_inbox_schedule),
        )
        .route("/sla-policies", web::get().to(list_policies))
        .route("/sla-policies", web::post().to(create_policy))
        .route("/sla-policies/{id}", web::get().to(show_policy))
        .route("/sla-policies/{id}", web::patch().to(update_policy))
        .route("/sla-policies/{id}", web::delete().to(delete_policy))
        .route("/conversations/{id}/sla", web::get().to(conversation_sla));
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(&e.field, e.reason)
    }
}

fn name_taken(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| {
        if e.is_conflict() {
            ApiError::conflict(
                "name_taken",
                format!("a {what} with that name already exists"),
            )
        } else {
            e.into()
        }
    }
}

/// Lays `patch` over `base` (both objects); a non-object patch is refused.
fn overlay(mut base: Value, patch: Value) -> Result<Value, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    if let Some(map) = base.as_object_mut() {
        map.extend(patch);
    }
    Ok(base)
}

fn tell_supervisor(state: &AppState) {
    state
        .hub
        .events
        .tell_nodes(crate::realtime::cluster::Notice::Sla);
    if let Err(error) = state.hub.escalation.try_send(crate::sla::Reload) {
        // Its periodic pass rereads everything within half a minute.
        tracing::warn!(%error, "escalation supervisor busy");
    }
}

// ---- business hours -----------------------------------------------------------------

fn schedule_view(row: &ScheduleRow) -> Value {
    json!({
        "id": row.id.to_string(),
        "name": row.name,
        "time_zone": row.time_zone,
        "hours": serde_json::from_str::<Value>(&row.hours).unwrap_or(Value::Null),
        "closed_dates": serde_json::from_str::<Value>(&row.closed_dates).unwrap_or(Value::Null),
        "created_at": utc(row.created_at),
        "updated_at": utc(row.updated_at),
    })
}

/// Checks a whole schedule document.
fn schedule_fields(doc: &Value) -> Result<ScheduleFields, ApiError> {
    let Value::Object(map) = doc else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    const KNOWN: [&str; 7] = [
        "id",
        "name",
        "time_zone",
        "hours",
        "closed_dates",
        "created_at",
        "updated_at",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::invalid(unknown, "not a business hours field"));
    }
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 100)
        .ok_or_else(|| ApiError::invalid("name", "required: 1 to 100 characters"))?;
    let time_zone = map
        .get("time_zone")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid("time_zone", "required: an IANA name such as Europe/Berlin")
        })?;
    let hours = map.get("hours").unwrap_or(&Value::Null);
    let closed = map.get("closed_dates").unwrap_or(&Value::Null);
    let schedule = Schedule::parse(time_zone, hours, closed)?;
    Ok(ScheduleFields {
        name: name.to_owned(),
        time_zone: schedule.time_zone().to_owned(),
        hours: schedule.hours_json().to_string(),
        closed_dates: schedule.closed_json().to_string(),
    })
}

async fn find_schedule(state: &AppState, id: i64) -> Result<ScheduleRow, ApiError> {
    store::schedule(&mut state.db.reader().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no business hours with that id"))
}

async fn list_schedules(
    state: web::Data<AppState>,
    _caller: Auth,
) -> Result<HttpResponse, ApiError> {
    let rows = store::schedules(&mut state.db.reader().await?).await?;
    let data: Vec<Value> = rows.iter().map(schedule_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

async fn create_schedule(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let fields = schedule_fields(&body)?;
    let row = store::create_schedule(&mut state.db.writer().await?, &fields, &admin.actor())
        .await
        .map_err(name_taken("schedule"))?;
    Ok(HttpResponse::Created().json(schedule_view(&row)))
}

async fn show_schedule(
    state: web::Data<AppState>,
    _caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(schedule_view(&find_schedule(&state, id.0).await?)))
}

async fn update_schedule(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let current = find_schedule(&state, id.0).await?;
    let fields = schedule_fields(&overlay(schedule_view(&current), body.into_inner())?)?;
    let row = store::update_schedule(&mut state.db.writer().await?, id.0, &fields, &admin.actor())
        .await
        .map_err(name_taken("schedule"))?
        .ok_or_else(|| ApiError::not_found("no business hours with that id"))?;
    tell_supervisor(&state);
    Ok(HttpResponse::Ok().json(schedule_view(&row)))
}

async fn delete_schedule(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    if !store::delete_schedule(&mut state.db.writer().await?, id.0, &admin.actor()).await? {
        return Err(ApiError::not_found("no business hours with that id"));
    }
    tell_supervisor(&state);
    Ok(no_content())
}

/// An inbox's business hours and whether it is open now (members of the inbox; admins).
async fn inbox_schedule(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let conn = &mut state.db.reader().await?;
    let visible = crate::store::inboxes::find(conn, id.0).await?.is_some()
        && (caller.agent.role == crate::db::types::Role::Admin
            || crate::store::inboxes::is_member(conn, id.0, caller.agent.id).await?);
    if !visible {
        return Err(ApiError::not_found("no inbox with that id"));
    }
    let schedule_id = store::schedule_of_inbox(conn, id.0).await?;
    // Read from the store, not the supervisor's copy (which follows a change within a pass).
    let schedule = match schedule_id {
        Some(schedule_id) => store::schedule(conn, schedule_id).await?,
        None => None,
    };
    let open_now = schedule.as_ref().is_none_or(|row| {
        crate::sla::Config::from_rows(&[], std::slice::from_ref(row), &[(id.0, row.id)])
            .schedule_of(Some(id.0))
            .is_none_or(|s| s.is_open(state.hub.sla.clock.now()))
    });
    Ok(HttpResponse::Ok().json(json!({
        "business_hours_id": schedule_id.map(|s| s.to_string()),
        "open_now": open_now,
    })))
}

async fn set_inbox_schedule(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let schedule_id = match body.get("business_hours_id") {
        Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(s.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
                ApiError::invalid("business_hours_id", "an id, or null for always open")
            })?)
        }
        _ => {
            return Err(ApiError::invalid(
                "business_hours_id",
                "required: the id of business hours (a string), or null for always open",
            ));
        }
    };
    if let Some(unknown) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| k.as_str() != "business_hours_id"))
    {
        return Err(ApiError::invalid(unknown, "not a field of this request"));
    }
    let conn = &mut state.db.writer().await?;
    crate::store::inboxes::find(conn, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    if let Some(schedule_id) = schedule_id {
        store::schedule(conn, schedule_id).await?.ok_or_else(|| {
            ApiError::invalid("business_hours_id", "no business hours with that id")
        })?;
    }
    store::set_inbox_schedule(conn, id.0, schedule_id, &admin.actor()).await?;
    tell_supervisor(&state);
    Ok(HttpResponse::Ok().json(json!({
        "business_hours_id": schedule_id.map(|s| s.to_string()),
    })))
}

// ---- SLA policies -------------------------------------------------------------------

fn policy_view(row: &PolicyRow) -> Value {
    let policy = Policy::from_row(row);
    json!({
        "id": row.id.to_string(),
        "name": row.name,
        "position": row.position,
        "enabled": row.enabled,
        "inbox_id": row.inbox_id.map(|i| i.to_string()),
        "priority": row.priority,
        "team_id": row.team_id.map(|t| t.to_string()),
        "label": row.label,
        "first_response_secs": row.first_response_secs,
        "next_response_secs": row.next_response_secs,
        "resolution_secs": row.resolution_secs,
        "warn_percent": row.warn_percent,
        "actions": actions_json(&policy.actions),
        "created_at": utc(row.created_at),
        "updated_at": utc(row.updated_at),
    })
}

/// Checks a whole policy document, including that the inbox and team it names exist.
async fn policy_values(state: &AppState, doc: &Value) -> Result<PolicyValues, ApiError> {
    let f = parse_policy(doc)?;
    let conn = &mut state.db.reader().await?;
    if let Some(inbox_id) = f.inbox_id {
        crate::store::inboxes::find(conn, inbox_id)
            .await?
            .ok_or_else(|| ApiError::invalid("inbox_id", "no inbox with that id"))?;
    }
    let teams_named = serde_json::from_str::<Value>(&f.actions)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((i, a.get("team_id")?.as_str()?.parse::<i64>().ok()?)))
        .collect::<Vec<_>>();
    for (field, team) in f
        .team_id
        .map(|t| ("team_id".to_owned(), t))
        .into_iter()
        .chain(
            teams_named
                .into_iter()
                .map(|(i, t)| (format!("actions[{i}].team_id"), t)),
        )
    {
        crate::store::teams::find(conn, team)
            .await?
            .ok_or_else(|| ApiError::invalid(&field, "no team with that id"))?;
    }
    Ok(f)
}

async fn find_policy(state: &AppState, id: i64) -> Result<PolicyRow, ApiError> {
    store::policy(&mut state.db.reader().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no SLA policy with that id"))
}

async fn list_policies(
    state: web::Data<AppState>,
    _caller: Auth,
) -> Result<HttpResponse, ApiError> {
    let rows = store::policies(&mut state.db.reader().await?).await?;
    let data: Vec<Value> = rows.iter().map(policy_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

async fn create_policy(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let values = policy_values(&state, &body).await?;
    let row = store::create_policy(&mut state.db.writer().await?, &values, &admin.actor())
        .await
        .map_err(name_taken("policy"))?;
    tell_supervisor(&state);
    Ok(HttpResponse::Created().json(policy_view(&row)))
}

async fn show_policy(
    state: web::Data<AppState>,
    _caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(policy_view(&find_policy(&state, id.0).await?)))
}

async fn update_policy(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let current = find_policy(&state, id.0).await?;
    let doc = overlay(policy_view(&current), body.into_inner())?;
    let values = policy_values(&state, &doc).await?;
    let row = store::update_policy(&mut state.db.writer().await?, id.0, &values, &admin.actor())
        .await
        .map_err(name_taken("policy"))?
        .ok_or_else(|| ApiError::not_found("no SLA policy with that id"))?;
    tell_supervisor(&state);
    Ok(HttpResponse::Ok().json(policy_view(&row)))
}

async fn delete_policy(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    if !store::delete_policy(&mut state.db.writer().await?, id.0, &admin.actor()).await? {
        return Err(ApiError::not_found("no SLA policy with that id"));
    }
    tell_supervisor(&state);
    Ok(no_content())
}

/// A conversation's SLA: the badge and every clock it had (met, breached, running).
async fn conversation_sla(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let conversation = super::conversations::visible_conversation(&state, &caller, id.0).await?;
    let clocks = store::history(&mut state.db.reader().await?, conversation.id).await?;
    let running: Vec<_> = clocks
        .iter()
        .filter(|c| c.ended_at.is_none())
        .cloned()
        .collect();
    let badge = state.hub.sla.badge(conversation.inbox_id, &running);
    let list: Vec<Value> = clocks
        .iter()
        .map(|c| {
            let mut v = Map::new();
            v.insert("target".into(), json!(c.target));
            v.insert(
                "policy_id".into(),
                json!(c.policy_id.map(|p| p.to_string())),
            );
            v.insert("target_secs".into(), json!(c.target_secs));
            v.insert("started_at".into(), json!(utc(c.started_at)));
            v.insert("due_at".into(), json!(c.due_at.map(utc)));
            v.insert(
                "paused".into(),
                json!(c.ended_at.is_none() && c.resumed_at.is_none()),
            );
            v.insert("warned_at".into(), json!(c.warned_at.map(utc)));
            v.insert("breached_at".into(), json!(c.breached_at.map(utc)));
            v.insert("met_at".into(), json!(c.met_at.map(utc)));
            v.insert("ended_at".into(), json!(c.ended_at.map(utc)));
            Value::Object(v)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "sla": badge, "clocks": list })))
}
