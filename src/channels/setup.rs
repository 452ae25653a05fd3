//! Creating, changing, rotating and deleting an inbox's channel, the same way for every
//! channel type: settings checked by the type's home, credentials kept with the secrets,
//! the provider connected before anything is saved (so a refused token leaves the inbox as
//! it was), and the channel supervisor told afterwards.

use serde_json::{Map, Value};

use super::{ChannelKind, ConnectError, SettingsError, build_entry, kind};
use crate::actors::channel::{Configure, Remove};
use crate::db::StoreError;
use crate::db::types::ChannelType;
use crate::domain::{DisplayName, InboxId};
use crate::state::AppState;
use crate::store::Actor;
use crate::store::inboxes::{self, DeleteInboxError, Inbox, InboxChanges, NewInbox};

/// Prefix of generated inbox secrets, so leaked ones are recognisable.
pub(crate) const SECRET_PREFIX: &str = "sbwh_";

/// Why an inbox was not created or changed. Nothing is stored then.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// A setting (or the channel type) is refused; the message names it.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    /// The provider refused the account or could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("no inbox with that id")]
    NotFound,
    /// An inbox with conversations is kept for their history.
    #[error("the inbox has conversations; disable it instead to keep their history")]
    HasHistory,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an admin asks for a new inbox.
pub(crate) struct NewInboxRequest {
    pub(crate) name: DisplayName,
    pub(crate) channel_type: ChannelType,
    pub(crate) settings: Value,
    pub(crate) enabled: bool,
}

/// What an admin changes on an inbox; `None` leaves a part as it is.
pub(crate) struct InboxPatch {
    pub(crate) name: Option<DisplayName>,
    /// Merged key by key: `{"callback_url": null}` clears one setting.
    pub(crate) settings: Option<Value>,
    pub(crate) enabled: Option<bool>,
    /// Whether an agent's reply to an unassigned conversation assigns it to them.
    pub(crate) assign_on_reply: Option<bool>,
}

/// The URL a channel's provider posts to: `<public_url>webhooks/<type>/<id>`.
pub(crate) fn webhook_url(state: &AppState, inbox: &Inbox) -> String {
    format!(
        "{}webhooks/{}/{}",
        state.settings.server.public_url, inbox.channel_type, inbox.id
    )
}

/// The home of a stored inbox's type.
fn home(channel_type: ChannelType) -> Result<&'static dyn ChannelKind, SettingsError> {
    kind(channel_type).ok_or_else(|| {
        SettingsError::new(
            "channel_type",
            format!(
                "{channel_type} inboxes are not available in this version (available: {})",
                super::available()
            ),
        )
    })
}

/// A stored inbox and the home of its type.
async fn stored(
    state: &AppState,
    id: InboxId,
) -> Result<(Inbox, &'static dyn ChannelKind), SetupError> {
    let inbox = inboxes::find(&mut state.db.reader().await?, id.get())
        .await?
        .ok_or(SetupError::NotFound)?;
    let kind = home(inbox.channel_type)?;
    Ok((inbox, kind))
}

/// Checks a settings object for a channel type; unknown keys are refused so typos do not
/// pass silently.
fn check_settings(
    kind: &dyn ChannelKind,
    settings: &Value,
) -> Result<Map<String, Value>, SettingsError> {
    let Value::Object(map) = settings else {
        return Err(SettingsError::new("settings", "must be an object"));
    };
    for (key, value) in map {
        if key == "reopen_resolved" {
            if !value.is_boolean() {
                return Err(SettingsError::new(
                    "settings.reopen_resolved",
                    "must be true or false",
                ));
            }
        } else if crate::domain::csat::SETTING_KEYS.contains(&key.as_str()) {
            if kind.capabilities().surveys == switchboard_channel::SurveyDelivery::None {
                return Err(SettingsError::new(
                    format!("settings.{key}"),
                    format!(
                        "{} inboxes cannot ask satisfaction surveys",
                        kind.channel_type()
                    ),
                ));
            }
            crate::domain::csat::CsatSettings::check(key, value)
                .map_err(|reason| SettingsError::new(format!("settings.{key}"), reason))?;
        } else if kind.setting_keys().contains(&key.as_str()) {
            kind.check_setting(key, value)?;
        } else {
            return Err(SettingsError::new(
                format!("settings.{key}"),
                format!("is not a setting of {} inboxes", kind.channel_type()),
            ));
        }
    }
    Ok(map.clone())
}

/// Moves the credentials an admin sent out of the settings into the secrets (see
/// [`ChannelKind::take_credentials`]).
fn take_credentials(
    kind: &dyn ChannelKind,
    settings: &mut Map<String, Value>,
    secrets: &mut Map<String, Value>,
) -> bool {
    kind.take_credentials(settings, secrets)
}

fn secrets_of(inbox: &Inbox) -> Map<String, Value> {
    match serde_json::from_str(&inbox.secrets) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Creates an inbox and connects its provider; if the provider refuses, the inbox goes
/// again, so a retry starts clean. Answers once the channel runs, so the webhook URL works
/// as soon as it is shown.
pub(crate) async fn create(
    state: &AppState,
    request: NewInboxRequest,
    actor: &Actor,
) -> Result<Inbox, SetupError> {
    let kind = home(request.channel_type)?;
    let mut settings = check_settings(kind, &request.settings)?;
    let mut secrets = Map::new();
    secrets.insert(
        "secret".into(),
        Value::String(crate::auth::new_secret(SECRET_PREFIX)),
    );
    take_credentials(kind, &mut settings, &mut secrets);
    kind.prepare_new(&mut settings, &mut secrets, &state.settings)?;
    let new = NewInbox {
        name: request.name.as_str().to_owned(),
        channel_type: request.channel_type,
        settings: Value::Object(settings),
        secrets: Value::Object(secrets),
        enabled: request.enabled,
    };
    let inbox = inboxes::create(&mut state.db.writer().await?, &new, actor).await?;
    let inbox = match connect_new(state, kind, &inbox, actor).await {
        Ok(connected) => connected.unwrap_or(inbox),
        Err(error) => {
            // Nothing can have arrived yet: the inbox goes again.
            if let Err(cleanup) =
                inboxes::delete(&mut state.db.writer().await?, inbox.id, actor).await
            {
                tracing::warn!(error = %cleanup, inbox_id = inbox.id, "cannot remove an inbox whose setup failed");
            }
            return Err(error);
        }
    };
    configure(state, &inbox).await;
    Ok(inbox)
}

/// Connects a new, enabled inbox's provider and stores what it told about the account.
async fn connect_new(
    state: &AppState,
    kind: &dyn ChannelKind,
    inbox: &Inbox,
    actor: &Actor,
) -> Result<Option<Inbox>, SetupError> {
    if !inbox.enabled {
        return Ok(None);
    }
    connect_and_store(state, kind, inbox, actor).await
}

/// Connects a stored inbox's provider and stores what it told about the account (a bot's
/// name, a number's verified name); `None` when nothing changed.
async fn connect_and_store(
    state: &AppState,
    kind: &dyn ChannelKind,
    inbox: &Inbox,
    actor: &Actor,
) -> Result<Option<Inbox>, SetupError> {
    let about = kind
        .connect(inbox, &state.settings, &webhook_url(state, inbox))
        .await?;
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
    Ok(inboxes::update(&mut state.db.writer().await?, inbox.id, &changes, actor).await?)
}

/// Changes an inbox. A change of credentials, of how the provider reaches the hub, or
/// switching the inbox on connects the provider again first: if it refuses, nothing is
/// saved. Another provider account gets a new webhook secret and starts polling afresh,
/// and the old account lets go.
pub(crate) async fn update(
    state: &AppState,
    id: InboxId,
    patch: InboxPatch,
    actor: &Actor,
) -> Result<Inbox, SetupError> {
    let (current, kind) = stored(state, id).await?;
    let mut settings = None;
    let mut secrets = None;
    if let Some(patch) = &patch.settings {
        let patch = check_settings(kind, patch)?;
        let mut merged = match current.settings_json() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        let mut new_secrets = secrets_of(&current);
        if take_credentials(kind, &mut merged, &mut new_secrets) {
            secrets = Some(new_secrets);
        }
        settings = Some(merged);
    }
    let mut probe = Inbox {
        settings: settings.as_ref().map_or_else(
            || current.settings.clone(),
            |s| Value::Object(s.clone()).to_string(),
        ),
        secrets: secrets.as_ref().map_or_else(
            || current.secrets.clone(),
            |s| Value::Object(s.clone()).to_string(),
        ),
        enabled: patch.enabled.unwrap_or(current.enabled),
        ..current.clone()
    };
    let account_changed = secrets.is_some() && kind.account_changed(&current, &probe);
    if account_changed && let Some(secrets) = secrets.as_mut() {
        // Another account: a new webhook secret, so the old account's webhook (if it still
        // points here) is refused from now on.
        secrets.insert(
            "secret".into(),
            Value::String(crate::auth::new_secret(SECRET_PREFIX)),
        );
        probe.secrets = Value::Object(secrets.clone()).to_string();
    }
    if settings.is_some() || secrets.is_some() {
        build_entry(&probe, &state.settings).map_err(|r| SettingsError::new("settings", r))?;
    }
    let switched_on = patch.enabled == Some(true) && !current.enabled;
    let reconnect =
        probe.enabled && (secrets.is_some() || switched_on || kind.needs_connect(&current, &probe));
    if reconnect {
        let about = kind
            .connect(&probe, &state.settings, &webhook_url(state, &probe))
            .await?;
        if !about.is_empty() {
            let mut merged = match probe.settings_json() {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            merged.extend(about);
            settings = Some(merged);
        }
        if account_changed {
            // The old account stops posting here (best effort: its token may be revoked).
            kind.disconnect(&current, &state.settings).await;
        }
    }
    let changes = InboxChanges {
        name: patch.name.map(|n| n.as_str().to_owned()),
        settings: settings.map(Value::Object),
        secrets: secrets.map(Value::Object),
        enabled: patch.enabled,
        assign_on_reply: patch.assign_on_reply,
    };
    let inbox = inboxes::update(&mut state.db.writer().await?, id.get(), &changes, actor)
        .await?
        .ok_or(SetupError::NotFound)?;
    if current.enabled && !inbox.enabled {
        kind.disconnect(&current, &state.settings).await;
    }
    if account_changed {
        // Another account numbers its updates anew: polling starts from its own queue.
        crate::store::cursors::delete(&mut state.db.writer().await?, inbox.id).await?;
    }
    configure(state, &inbox).await;
    Ok(inbox)
}

/// Checks a stored inbox's account with its provider again (a WhatsApp token against its
/// number) and stores what the provider tells now; an admin's "check connection".
pub(crate) async fn check(
    state: &AppState,
    id: InboxId,
    actor: &Actor,
) -> Result<Inbox, SetupError> {
    let (current, kind) = stored(state, id).await?;
    Ok(connect_and_store(state, kind, &current, actor)
        .await?
        .unwrap_or(current))
}

/// Replaces the inbox's webhook secret; a provider that sends it back learns the new one
/// first, so its next request carries it. Other secrets (a bot token) stay.
pub(crate) async fn rotate_secret(
    state: &AppState,
    id: InboxId,
    actor: &Actor,
) -> Result<Inbox, SetupError> {
    let (current, kind) = stored(state, id).await?;
    let mut secrets = secrets_of(&current);
    secrets.insert(
        "secret".into(),
        Value::String(crate::auth::new_secret(SECRET_PREFIX)),
    );
    let secrets = Value::Object(secrets);
    let rotated = Inbox {
        secrets: secrets.to_string(),
        ..current.clone()
    };
    if rotated.enabled {
        kind.connect(&rotated, &state.settings, &webhook_url(state, &rotated))
            .await?;
    }
    let inbox = inboxes::replace_secrets(&mut state.db.writer().await?, id.get(), &secrets, actor)
        .await?
        .ok_or(SetupError::NotFound)?;
    configure(state, &inbox).await;
    Ok(inbox)
}

/// Deletes an inbox that never received anything; its provider lets go.
pub(crate) async fn delete(state: &AppState, id: InboxId, actor: &Actor) -> Result<(), SetupError> {
    let found = inboxes::find(&mut state.db.reader().await?, id.get()).await?;
    match inboxes::delete(&mut state.db.writer().await?, id.get(), actor).await {
        Ok(()) => {
            let _ = state.hub.supervisor.send(Remove(id.get())).await;
            state
                .hub
                .events
                .tell_nodes(crate::realtime::cluster::Notice::Inbox(id.get()));
            if let Some(inbox) = found
                && let Some(kind) = kind(inbox.channel_type)
            {
                kind.disconnect(&inbox, &state.settings).await;
            }
            Ok(())
        }
        Err(DeleteInboxError::NotFound) => Err(SetupError::NotFound),
        Err(DeleteInboxError::HasHistory) => Err(SetupError::HasHistory),
        Err(DeleteInboxError::Store(e)) => Err(e.into()),
    }
}

/// Starts, reconfigures or stops the inbox's channel actor.
async fn configure(state: &AppState, inbox: &Inbox) {
    if let Err(error) = state.hub.supervisor.send(Configure(inbox.clone())).await {
        tracing::warn!(%error, inbox_id = inbox.id, "channel supervisor unavailable");
    }
    state
        .hub
        .events
        .tell_nodes(crate::realtime::cluster::Notice::Inbox(inbox.id));
}

/// The settings as admins read them: credentials masked by their channel's home.
pub(crate) fn shown_settings(inbox: &Inbox) -> Value {
    let mut settings = inbox.settings_json();
    if let (Some(map), Some(kind)) = (settings.as_object_mut(), kind(inbox.channel_type)) {
        kind.show_credentials(map, inbox);
    }
    settings
}

/// The webhook secret as admins read it after creation: the prefix and the last four.
pub(crate) fn masked_secret(secret: &str) -> String {
    format!("{SECRET_PREFIX}…{}", crate::auth::last_chars(secret, 4))
}

/// What a channel type can do (nothing, for a type this version cannot run).
pub(crate) fn capabilities(channel_type: ChannelType) -> switchboard_channel::Capabilities {
    kind(channel_type)
        .map(|k| k.capabilities())
        .unwrap_or_default()
}

/// What a site pastes into its pages for this inbox, if its type has such a thing.
pub(crate) fn embed(inbox: &Inbox, public_url: &str) -> Option<String> {
    kind(inbox.channel_type)?.embed(inbox, public_url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_are_checked_by_the_channel_home_and_unknown_keys_refused() {
        let api = home(ChannelType::Api).expect("api");
        assert!(check_settings(api, &json!({"callback_url": "https://x.example/h"})).is_ok());
        assert!(check_settings(api, &json!({"reopen_resolved": false})).is_ok());
        let error = check_settings(api, &json!({"reopen_resolved": "no"})).expect_err("bool");
        assert_eq!(error.field, "settings.reopen_resolved");
        let error = check_settings(api, &json!({"bot_token": "1:A"})).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "settings.bot_token: is not a setting of api inboxes"
        );
        assert!(check_settings(api, &json!([])).is_err());
    }

    #[test]
    fn credentials_move_to_the_secrets_trimmed() {
        let telegram = home(ChannelType::Telegram).expect("telegram");
        let mut settings = Map::new();
        settings.insert("bot_token".into(), json!(" 1:AA "));
        settings.insert("mode".into(), json!("polling"));
        let mut secrets = Map::new();
        assert!(take_credentials(telegram, &mut settings, &mut secrets));
        assert_eq!(secrets.get("bot_token"), Some(&json!("1:AA")));
        assert!(!settings.contains_key("bot_token"));
        assert!(!take_credentials(telegram, &mut settings, &mut secrets));
    }
}
