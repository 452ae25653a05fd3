//! Inboxes: admins create and configure channels; agents see the inboxes they belong to.
//! A secret is shown once, when created or rotated; every later read masks it. How each
//! channel type is set up lives in its home (`crate::channels`); here requests are parsed,
//! authorized and answered.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_channel::Capabilities;

use super::extract::{Admin, Auth};
use super::{AgentView, ApiError, Page, PageQuery, PublicId, id_string, no_content, utc};
use crate::channels::SettingsError;
use crate::channels::setup::{self, InboxPatch, NewInboxRequest};
use crate::db::types::{ChannelType, Role};
use crate::domain::{DisplayName, InboxId};
use crate::state::AppState;
use crate::store::inboxes::{self, Inbox};
use crate::store::{self, agents, unreadable};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/inboxes", web::get().to(list))
        .route("/inboxes", web::post().to(create))
        .route("/inboxes/{id}", web::get().to(show))
        .route("/inboxes/{id}", web::patch().to(update))
        .route("/inboxes/{id}", web::delete().to(delete))
        .route("/inboxes/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/inboxes/{id}/check", web::post().to(check))
        .route("/inboxes/{id}/templates", web::get().to(templates))
        .route(
            "/inboxes/{id}/templates/refresh",
            web::post().to(refresh_templates),
        )
        .route("/inboxes/{id}/members", web::get().to(members))
        .route("/inboxes/{id}/members", web::post().to(add_member))
        .route(
            "/inboxes/{id}/members/{agent_id}",
            web::delete().to(remove_member),
        )
        .route("/inboxes/{id}/unreadable", web::get().to(unreadable_list))
        .route(
            "/inboxes/{id}/unreadable/{event_id}/replay",
            web::post().to(replay_unreadable),
        );
}

/// A provider update the hub could not read, as admins see it.
#[derive(Serialize)]
struct UnreadableView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    reason: String,
    /// The update as it arrived.
    payload: Value,
    received_at: DateTime<Utc>,
    replayed_at: Option<DateTime<Utc>>,
}

/// The inbox's unreadable updates, newest first (admins: they may hold customer data).
async fn unreadable_list(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<InboxId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, before) = query.parse()?;
    let conn = &mut state.db.reader().await?;
    if inboxes::find(conn, id.0).await?.is_none() {
        return Err(ApiError::not_found("no inbox with that id"));
    }
    let rows = unreadable::list(conn, id.0, before, limit).await?;
    let views: Vec<UnreadableView> = rows
        .into_iter()
        .map(|row| UnreadableView {
            id: row.id,
            reason: row.reason,
            // Stored by the hub from parsed JSON; kept as text should it ever not be.
            payload: serde_json::from_str(&row.payload).unwrap_or(Value::String(row.payload)),
            received_at: utc(row.received_at),
            replayed_at: row.replayed_at.map(utc),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |v: &UnreadableView| v.id)))
}

/// Reads a kept update again with the current parser and stores what it yields: 422 while
/// it still cannot be read, 409 once replayed or while the inbox is disabled.
async fn replay_unreadable(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (inbox, event) = path.into_inner();
    let entry = state.hub.channels.get(inbox.0).ok_or_else(|| {
        ApiError::conflict(
            "inbox_disabled",
            "no enabled inbox with that id; enable it to replay its updates",
        )
    })?;
    let outcomes = state.hub.inbound.replay(&entry, event.0).await?;
    let events: Vec<_> = outcomes.iter().map(super::webhooks::outcome_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events })))
}

#[derive(Serialize)]
struct InboxView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    channel_type: ChannelType,
    enabled: bool,
    /// An agent's reply to an unassigned conversation assigns it to them.
    assign_on_reply: bool,
    settings: Value,
    /// Where the provider (or integration) posts events.
    webhook_url: String,
    /// The signing secret: in full only in the create/rotate answer.
    secret: Option<String>,
    /// What the channel can do: a Telegram bot, say, gets no delivered/read receipts, so
    /// its replies stop at `sent` and the inbox shows no ticks it cannot know.
    capabilities: Capabilities,
    /// A widget inbox's embed snippet: the lines a site pastes into its pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    embed: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Agents see which inboxes they work in, not how they are wired: settings (a callback
/// URL may carry credentials) and the masked secret are for admins.
fn for_caller(mut view: InboxView, caller: &Auth) -> InboxView {
    if caller.agent.role != Role::Admin {
        view.settings = Value::Object(serde_json::Map::new());
        view.secret = None;
    }
    view
}

fn view(state: &AppState, inbox: &Inbox, reveal: bool) -> InboxView {
    let secret = inbox
        .secret("secret")
        .map(|s| if reveal { s } else { setup::masked_secret(&s) });
    InboxView {
        id: inbox.id,
        name: inbox.name.clone(),
        channel_type: inbox.channel_type,
        enabled: inbox.enabled,
        assign_on_reply: inbox.assign_on_reply,
        settings: setup::shown_settings(inbox),
        webhook_url: setup::webhook_url(state, inbox),
        secret,
        capabilities: setup::capabilities(inbox.channel_type),
        embed: setup::embed(inbox, state.settings.server.public_url.as_str()),
        created_at: utc(inbox.created_at),
        updated_at: utc(inbox.updated_at),
    }
}

async fn find_visible(state: &AppState, caller: &Auth, id: i64) -> Result<Inbox, ApiError> {
    let conn = &mut state.db.reader().await?;
    let inbox = inboxes::find(conn, id).await?;
    match inbox {
        Some(inbox)
            if caller.agent.role == Role::Admin
                || inboxes::is_member(conn, id, caller.agent.id).await? =>
        {
            Ok(inbox)
        }
        _ => Err(ApiError::not_found("no inbox with that id")),
    }
}

async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = query.parse()?;
    let member = (caller.agent.role != Role::Admin).then_some(caller.agent.id);
    let rows = inboxes::list(&mut state.db.reader().await?, member, after, limit).await?;
    let views = rows
        .iter()
        .map(|i| for_caller(view(&state, i, false), &caller))
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |v: &InboxView| v.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInbox {
    name: String,
    channel_type: String,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    enabled: Option<bool>,
}

async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<CreateInbox>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = DisplayName::parse(&body.name).map_err(|r| ApiError::invalid("name", r))?;
    let channel_type: ChannelType = body
        .channel_type
        .parse()
        .map_err(|e| SettingsError::new("channel_type", e))?;
    let request = NewInboxRequest {
        name,
        channel_type,
        settings: body.settings.unwrap_or_else(|| json!({})),
        enabled: body.enabled.unwrap_or(true),
    };
    let inbox = setup::create(&state, request, &admin.actor()).await?;
    Ok(HttpResponse::Created().json(view(&state, &inbox, true)))
}

async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = find_visible(&state, &caller, id.0).await?;
    Ok(HttpResponse::Ok().json(for_caller(view(&state, &inbox, false), &caller)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInbox {
    name: Option<String>,
    settings: Option<Value>,
    enabled: Option<bool>,
    assign_on_reply: Option<bool>,
}

async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<InboxId>,
    body: web::Json<UpdateInbox>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let patch = InboxPatch {
        name: body
            .name
            .map(|n| DisplayName::parse(&n).map_err(|r| ApiError::invalid("name", r)))
            .transpose()?,
        settings: body.settings,
        enabled: body.enabled,
        assign_on_reply: body.assign_on_reply,
    };
    let inbox = setup::update(&state, *id, patch, &admin.actor()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &inbox, false)))
}

async fn rotate_secret(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<InboxId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = setup::rotate_secret(&state, *id, &admin.actor()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &inbox, true)))
}

/// Checks the inbox's account with its provider again (is the token still good?) and
/// answers the inbox with what the provider tells now.
async fn check(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<InboxId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = setup::check(&state, *id, &admin.actor()).await?;
    Ok(HttpResponse::Ok().json(view(&state, &inbox, false)))
}

/// The inbox's approved message templates, from the stored copy (fetched from the provider
/// the first time).
async fn templates(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = find_visible(&state, &caller, id.0).await?;
    let stored = store::templates::get(&mut state.db.reader().await?, inbox.id).await?;
    let (list, fetched_at) = match stored {
        Some(stored) => stored,
        None => fetch_templates(&state, &inbox, &caller.actor()).await?,
    };
    Ok(HttpResponse::Ok().json(json!({"data": list, "fetched_at": utc(fetched_at)})))
}

/// Fetches the templates from the provider again (after an admin approved a new one).
async fn refresh_templates(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<InboxId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = inboxes::find(&mut state.db.reader().await?, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    let (list, fetched_at) = fetch_templates(&state, &inbox, &admin.actor()).await?;
    Ok(HttpResponse::Ok().json(json!({"data": list, "fetched_at": utc(fetched_at)})))
}

async fn fetch_templates(
    state: &AppState,
    inbox: &Inbox,
    actor: &store::Actor,
) -> Result<
    (
        Vec<switchboard_channel::MessageTemplate>,
        chrono::NaiveDateTime,
    ),
    ApiError,
> {
    let offers =
        crate::channels::kind(inbox.channel_type).is_some_and(|k| k.capabilities().templates);
    if !offers {
        return Err(ApiError::unprocessable(
            "no_templates",
            format!("{} inboxes have no message templates", inbox.channel_type),
        ));
    }
    let entry = state.hub.channels.get(inbox.id).ok_or_else(|| {
        ApiError::conflict(
            "inbox_disabled",
            "the inbox is disabled; enable it to fetch templates",
        )
    })?;
    let list = entry.adapter.templates().await.map_err(|e| match e {
        switchboard_channel::ChannelError::Permanent { reason, .. } => {
            ApiError::unprocessable("provider_refused", reason)
        }
        switchboard_channel::ChannelError::Transient { reason, .. } => {
            ApiError::unavailable(format!("cannot reach the provider: {reason}"))
        }
    })?;
    let fetched_at =
        store::templates::put(&mut state.db.writer().await?, inbox.id, &list, actor).await?;
    Ok((list, fetched_at))
}

async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<InboxId>,
) -> Result<HttpResponse, ApiError> {
    setup::delete(&state, *id, &admin.actor()).await?;
    Ok(no_content())
}

async fn members(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let inbox = find_visible(&state, &caller, id.0).await?;
    let conn = &mut state.db.reader().await?;
    let mut views = Vec::new();
    for agent_id in inboxes::member_ids(conn, inbox.id).await? {
        if let Some(agent) = agents::find(conn, agent_id).await? {
            views.push(AgentView::from(&agent).live(&state.hub.presence));
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "data": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    agent_id: PublicId,
}

async fn add_member(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let agent_id = body.agent_id.0;
    {
        let conn = &mut state.db.reader().await?;
        inboxes::find(conn, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
        store::agents::find(conn, agent_id)
            .await?
            .ok_or_else(|| ApiError::invalid("agent_id", "no agent with that id"))?;
    }
    inboxes::add_member(
        &mut state.db.writer().await?,
        id.0,
        agent_id,
        &admin.actor(),
    )
    .await?;
    refresh_visibility(&state, agent_id).await?;
    Ok(no_content())
}

async fn remove_member(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (inbox, agent) = path.into_inner();
    let removed = inboxes::remove_member(
        &mut state.db.writer().await?,
        inbox.0,
        agent.0,
        &admin.actor(),
    )
    .await?;
    if !removed {
        return Err(ApiError::not_found(
            "that agent is not a member of that inbox",
        ));
    }
    refresh_visibility(&state, agent.0).await?;
    Ok(no_content())
}

/// Open realtime connections of the agent see exactly their inboxes from now on.
async fn refresh_visibility(state: &AppState, agent_id: i64) -> Result<(), ApiError> {
    let ids = inboxes::ids_of_member(&mut state.db.reader().await?, agent_id).await?;
    state
        .hub
        .events
        .set_inboxes(agent_id, &ids.into_iter().collect());
    state
        .hub
        .events
        .tell_nodes(crate::realtime::cluster::Notice::Memberships(agent_id));
    let _ = state
        .hub
        .router
        .try_send(crate::actors::router::AgentAvailable { agent_id });
    Ok(())
}
