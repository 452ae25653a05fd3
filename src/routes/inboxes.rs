//! Inboxes: admins create and configure channels; agents see the inboxes they belong to.
//! A secret is shown once, when created or rotated; every later read masks it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use switchboard_channel::Capabilities;

use super::{AgentView, Page, PageQuery, PublicId, id_string, no_content, utc};
use crate::actors::channel::{Configure, Remove, build_entry};
use crate::auth::{Admin, Auth};
use crate::db::types::{ChannelType, Role};
use crate::domain::DisplayName;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::inboxes::{self, DeleteInboxError, Inbox, InboxChanges, NewInbox};
use crate::store::{self, agents};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/inboxes", web::get().to(list))
        .route("/inboxes", web::post().to(create))
        .route("/inboxes/{id}", web::get().to(show))
        .route("/inboxes/{id}", web::patch().to(update))
        .route("/inboxes/{id}", web::delete().to(delete))
        .route("/inboxes/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/inboxes/{id}/members", web::get().to(members))
        .route("/inboxes/{id}/members", web::post().to(add_member))
        .route(
            "/inboxes/{id}/members/{agent_id}",
            web::delete().to(remove_member),
        );
}

/// Prefix of generated inbox secrets, so leaked ones are recognisable.
const SECRET_PREFIX: &str = "sbwh_";

#[derive(Serialize)]
struct InboxView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    channel_type: ChannelType,
    enabled: bool,
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
    let secret = inbox.secret("secret").map(|s| {
        if reveal {
            s
        } else {
            format!("{SECRET_PREFIX}…{}", crate::auth::last_chars(&s, 4))
        }
    });
    let mut settings = inbox.settings_json();
    if let (Some(map), Some(token)) = (settings.as_object_mut(), inbox.secret("bot_token")) {
        map.insert(
            "bot_token".into(),
            Value::String(crate::telegram::mask_token(&token)),
        );
    }
    let embed = (inbox.channel_type == ChannelType::Widget)
        .then(|| settings.get("public_key").and_then(Value::as_str))
        .flatten()
        .map(|key| {
            switchboard_widget::snippet(
                state
                    .settings
                    .server
                    .public_url
                    .as_str()
                    .trim_end_matches('/'),
                key,
            )
        });
    InboxView {
        id: inbox.id,
        name: inbox.name.clone(),
        channel_type: inbox.channel_type,
        enabled: inbox.enabled,
        settings,
        webhook_url: webhook_url(state, inbox),
        secret,
        capabilities: capabilities(inbox.channel_type),
        embed,
        created_at: utc(inbox.created_at),
        updated_at: utc(inbox.updated_at),
    }
}

/// What each channel type can do (see [`Capabilities`]).
fn capabilities(channel_type: ChannelType) -> Capabilities {
    match channel_type {
        ChannelType::Api => Capabilities {
            receipts: true,
            typing: true,
            edits: true,
            media: true,
            ..Capabilities::default()
        },
        ChannelType::Telegram => Capabilities {
            receipts: false,
            typing: false,
            edits: true,
            media: true,
            uploads_files: true,
            notes_refused_files: true,
        },
        ChannelType::Widget => Capabilities {
            receipts: true,
            typing: true,
            edits: false,
            media: true,
            ..Capabilities::default()
        },
        _ => Capabilities::default(),
    }
}

/// The URL a channel's provider posts to: `<public_url>webhooks/<type>/<id>`.
pub fn webhook_url(state: &AppState, inbox: &Inbox) -> String {
    format!(
        "{}webhooks/{}/{}",
        state.settings.server.public_url, inbox.channel_type, inbox.id
    )
}

/// Checks a settings object for a channel type; unknown keys are refused so typos do
/// not pass silently.
fn check_settings(channel_type: ChannelType, settings: &Value) -> Result<Value, ApiError> {
    let Value::Object(map) = settings else {
        return Err(ApiError::invalid("settings", "must be an object"));
    };
    let mut clean = Map::new();
    for (key, value) in map {
        match (channel_type, key.as_str()) {
            (_, "reopen_resolved") => {
                if !value.is_boolean() {
                    return Err(ApiError::invalid(
                        "settings.reopen_resolved",
                        "must be true or false",
                    ));
                }
            }
            (ChannelType::Api, "callback_url") => match value {
                Value::Null => {}
                Value::String(text) => {
                    let url = url::Url::parse(text).map_err(|e| {
                        ApiError::invalid(
                            "settings.callback_url",
                            format!("{text:?} is not a URL: {e}"),
                        )
                    })?;
                    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                        return Err(ApiError::invalid(
                            "settings.callback_url",
                            "must be an http:// or https:// URL with a host",
                        ));
                    }
                }
                _ => {
                    return Err(ApiError::invalid(
                        "settings.callback_url",
                        "must be a URL string",
                    ));
                }
            },
            (ChannelType::Telegram, key) if crate::telegram::SETTING_KEYS.contains(&key) => {
                crate::telegram::check_setting(key, value)?;
            }
            (ChannelType::Widget, key) if crate::widget::SETTING_KEYS.contains(&key) => {
                crate::widget::check_setting(key, value)?;
            }
            (_, other) => {
                return Err(ApiError::invalid(
                    &format!("settings.{other}"),
                    format!("is not a setting of {channel_type} inboxes"),
                ));
            }
        }
        clean.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(clean))
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
        .map_err(|e| ApiError::invalid("channel_type", e))?;
    if !matches!(
        channel_type,
        ChannelType::Api | ChannelType::Telegram | ChannelType::Widget
    ) {
        return Err(ApiError::invalid(
            "channel_type",
            format!(
                "{channel_type} inboxes are not available in this version (available: api, telegram, widget)"
            ),
        ));
    }
    let mut settings = check_settings(channel_type, &body.settings.unwrap_or_else(|| json!({})))?;
    let secret = crate::auth::new_secret(SECRET_PREFIX);
    let mut secrets = json!({ "secret": secret });
    let enabled = body.enabled.unwrap_or(true);
    if channel_type == ChannelType::Widget
        && let Some(map) = settings.as_object_mut()
    {
        crate::widget::new_inbox_settings(map)?;
    }
    if channel_type == ChannelType::Telegram {
        let map = settings
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid("settings", "must be an object"))?;
        // The token is a credential: it lives with the secrets, never in the settings.
        let token = match map.remove("bot_token") {
            Some(Value::String(token)) => token.trim().to_owned(),
            _ => return Err(ApiError::invalid("settings.bot_token", "is required")),
        };
        secrets["bot_token"] = Value::String(token);
        if !map.contains_key("mode") {
            let mode = crate::telegram::Mode::default_for(&state.settings);
            map.insert("mode".into(), Value::String(mode.as_str().into()));
        }
    }
    let new = NewInbox {
        name: name.as_str().to_owned(),
        channel_type,
        settings,
        secrets,
        enabled,
    };
    let inbox = inboxes::create(&mut state.db.writer().await?, &new, &admin.actor()).await?;
    let inbox = match connect_provider(&state, &inbox, &admin).await {
        Ok(Some(inbox)) => inbox,
        Ok(None) => inbox,
        Err(error) => {
            // Nothing can have arrived yet: the inbox goes again, so a retry starts clean.
            if let Err(cleanup) =
                inboxes::delete(&mut state.db.writer().await?, inbox.id, &admin.actor()).await
            {
                tracing::warn!(error = %cleanup, inbox_id = inbox.id, "cannot remove an inbox whose setup failed");
            }
            return Err(error);
        }
    };
    // Answer once the channel runs, so the webhook URL works as soon as it is shown.
    configure_channel(&state, &inbox).await;
    Ok(HttpResponse::Created().json(view(&state, &inbox, true)))
}

/// Connects the provider side of an inbox that has one (a Telegram bot: token check, then
/// webhook or polling) and stores what the provider told about itself. `Ok(None)` when the
/// channel type has nothing to connect or the inbox is disabled.
async fn connect_provider(
    state: &AppState,
    inbox: &Inbox,
    admin: &Admin,
) -> Result<Option<Inbox>, ApiError> {
    if inbox.channel_type != ChannelType::Telegram || !inbox.enabled {
        return Ok(None);
    }
    let config = crate::telegram::TelegramConfig::from_inbox(inbox)
        .map_err(|reason| ApiError::invalid("settings", reason))?;
    let about =
        crate::telegram::connect(&config, &state.settings, &webhook_url(state, inbox)).await?;
    let mut settings = inbox.settings_json();
    if let Some(map) = settings.as_object_mut() {
        map.extend(about);
    }
    if settings == inbox.settings_json() {
        return Ok(None);
    }
    let changes = InboxChanges {
        settings: Some(settings),
        ..InboxChanges::default()
    };
    Ok(inboxes::update(
        &mut state.db.writer().await?,
        inbox.id,
        &changes,
        &admin.actor(),
    )
    .await?)
}

async fn configure_channel(state: &AppState, inbox: &Inbox) {
    if let Err(error) = state.hub.supervisor.send(Configure(inbox.clone())).await {
        tracing::warn!(%error, inbox_id = inbox.id, "channel supervisor unavailable");
    }
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
}

async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<UpdateInbox>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let current = inboxes::find(&mut state.db.reader().await?, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    let name = body
        .name
        .map(|n| DisplayName::parse(&n).map_err(|r| ApiError::invalid("name", r)))
        .transpose()?;
    // Settings are merged key by key: `{"callback_url": null}` clears one setting.
    let settings = match body.settings {
        None => None,
        Some(patch) => {
            let patch = check_settings(current.channel_type, &patch)?;
            let mut merged = current.settings_json();
            if let (Some(target), Value::Object(patch)) = (merged.as_object_mut(), patch) {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(&key);
                    } else {
                        target.insert(key, value);
                    }
                }
            }
            Some(merged)
        }
    };
    // A new bot token goes to the secrets, never into the settings.
    let mut settings = settings;
    let mut secrets = None;
    let mut bot_changed = false;
    if let Some(token) = settings
        .as_mut()
        .and_then(Value::as_object_mut)
        .and_then(|map| map.remove("bot_token"))
    {
        let mut merged: Value =
            serde_json::from_str(&current.secrets).unwrap_or_else(|_| json!({}));
        let token = token.as_str().unwrap_or_default().trim().to_owned();
        if current.secret("bot_token").as_deref() != Some(token.as_str()) {
            // Another bot: a new webhook secret, so the old bot's webhook (if it still
            // points here) is refused from now on.
            merged["secret"] = Value::String(crate::auth::new_secret(SECRET_PREFIX));
            bot_changed = true;
        }
        merged["bot_token"] = Value::String(token);
        secrets = Some(merged);
    }
    let probe = Inbox {
        settings: settings
            .as_ref()
            .map_or_else(|| current.settings.clone(), Value::to_string),
        secrets: secrets
            .as_ref()
            .map_or_else(|| current.secrets.clone(), Value::to_string),
        enabled: body.enabled.unwrap_or(current.enabled),
        ..current.clone()
    };
    if settings.is_some() || secrets.is_some() {
        build_entry(&probe, &state.settings).map_err(|r| ApiError::invalid("settings", r))?;
    }
    // A bot whose token, Bot API or mode changed (or that is switched on) is connected
    // again before anything is saved, so a refused token leaves the inbox as it was.
    let reconnect = probe.channel_type == ChannelType::Telegram
        && probe.enabled
        && (secrets.is_some()
            || body.enabled == Some(true) && !current.enabled
            || ["mode", "api_url"]
                .iter()
                .any(|key| probe.settings_json().get(*key) != current.settings_json().get(*key)));
    if reconnect {
        let config = crate::telegram::TelegramConfig::from_inbox(&probe)
            .map_err(|reason| ApiError::invalid("settings", reason))?;
        let about =
            crate::telegram::connect(&config, &state.settings, &webhook_url(&state, &probe))
                .await?;
        let mut merged = probe.settings_json();
        if let Some(map) = merged.as_object_mut() {
            map.extend(about);
        }
        settings = Some(merged);
        if bot_changed && current.channel_type == ChannelType::Telegram {
            // The old bot stops posting here (best effort: its token may be revoked).
            if let Ok(old) = crate::telegram::TelegramConfig::from_inbox(&current)
                && let Ok(channel) = old.channel(&state.settings)
                && let Err(error) = channel.delete_webhook().await
            {
                tracing::info!(%error, inbox_id = current.id, "cannot remove the old bot's webhook");
            }
        }
    }
    let changes = InboxChanges {
        name: name.map(|n| n.as_str().to_owned()),
        settings,
        secrets,
        enabled: body.enabled,
    };
    let inbox = inboxes::update(
        &mut state.db.writer().await?,
        id.0,
        &changes,
        &admin.actor(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    if current.enabled && !inbox.enabled {
        crate::telegram::disconnect(&current, &state.settings).await;
    }
    if bot_changed {
        // Another bot numbers its updates anew: polling starts from its own queue.
        crate::store::cursors::delete(&mut state.db.writer().await?, inbox.id).await?;
    }
    configure_channel(&state, &inbox).await;
    Ok(HttpResponse::Ok().json(view(&state, &inbox, false)))
}

async fn rotate_secret(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let current = inboxes::find(&mut state.db.reader().await?, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    let secret = crate::auth::new_secret(SECRET_PREFIX);
    // Other secrets (a bot token) stay as they are.
    let mut secrets: Value = serde_json::from_str(&current.secrets).unwrap_or_else(|_| json!({}));
    secrets["secret"] = Value::String(secret);
    let rotated = Inbox {
        secrets: secrets.to_string(),
        ..current.clone()
    };
    // A bot in webhook mode learns the new secret first, so its next request carries it.
    if rotated.channel_type == ChannelType::Telegram && rotated.enabled {
        let config = crate::telegram::TelegramConfig::from_inbox(&rotated)
            .map_err(|reason| ApiError::invalid("settings", reason))?;
        crate::telegram::connect(&config, &state.settings, &webhook_url(&state, &rotated)).await?;
    }
    let inbox = inboxes::replace_secrets(
        &mut state.db.writer().await?,
        id.0,
        &secrets,
        &admin.actor(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no inbox with that id"))?;
    configure_channel(&state, &inbox).await;
    Ok(HttpResponse::Ok().json(view(&state, &inbox, true)))
}

async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let found = inboxes::find(&mut state.db.reader().await?, id.0).await?;
    match inboxes::delete(&mut state.db.writer().await?, id.0, &admin.actor()).await {
        Ok(()) => {
            let _ = state.hub.supervisor.send(Remove(id.0)).await;
            if let Some(inbox) = found {
                crate::telegram::disconnect(&inbox, &state.settings).await;
            }
            Ok(no_content())
        }
        Err(DeleteInboxError::NotFound) => Err(ApiError::not_found("no inbox with that id")),
        Err(e @ DeleteInboxError::HasHistory) => {
            Err(ApiError::conflict("inbox_has_history", e.to_string()))
        }
        Err(DeleteInboxError::Store(e)) => Err(e.into()),
    }
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
            views.push(AgentView::from(&agent));
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
    let _ = state
        .hub
        .router
        .try_send(crate::actors::router::AgentAvailable { agent_id });
    Ok(())
}
