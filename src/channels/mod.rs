//! One home per channel type. Each type (the API channel, Telegram, the web widget...) is
//! one file or folder here implementing [`ChannelKind`]: its settings and their checks,
//! which settings are credentials, how its adapter is built from a stored inbox, how the
//! provider side is connected and disconnected, and what it can do (the adapter crate's
//! own [`Capabilities`]). Everything else in the hub (the inbox routes, the channel
//! supervisor, the inbound door) works through the trait and never matches on the type.
//!
//! Adding a channel: an adapter crate under `adapters/`, one file here implementing
//! [`ChannelKind`], and one line in [`KINDS`]. ARCHITECTURE.md walks through it.

mod api;
mod email;
pub(crate) mod setup;
mod telegram;
pub(crate) mod whatsapp;
pub(crate) mod widget;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};
use switchboard_channel::{BoxFuture, Capabilities, Channel, Poller};

use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::inbound::Source;
use crate::store::inboxes::Inbox;

/// Every channel type the hub can run, in the order admins see them.
static KINDS: [&dyn ChannelKind; 5] = [
    &api::ApiKind,
    &email::EmailKind,
    &telegram::TelegramKind,
    &whatsapp::WhatsAppKind,
    &widget::WidgetKind,
];

/// The home of a channel type, if this version has one.
pub(crate) fn kind(channel_type: ChannelType) -> Option<&'static dyn ChannelKind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.channel_type() == channel_type)
}

/// The channel types admins can create, for messages that list them.
pub(crate) fn available() -> String {
    KINDS
        .iter()
        .map(|k| k.channel_type().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A setting an admin sent that the channel refuses; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub(crate) struct SettingsError {
    /// Where in the request: `settings.bot_token`, `channel_type`...
    pub(crate) field: String,
    /// What is wrong, for the admin.
    pub(crate) reason: String,
}

impl SettingsError {
    pub(crate) fn new(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// Why the provider side of a channel could not be connected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The provider refused (a revoked token, a wrong id): a setting must change.
    #[error(transparent)]
    Refused(#[from] SettingsError),
    /// The provider could not be reached: trying again later may work.
    #[error("{0}")]
    Unreachable(String),
    /// A fault of the hub's own (its public URL is not a URL).
    #[error("{0}")]
    Internal(String),
}

/// What [`ChannelKind::build`] makes of a stored inbox.
pub(crate) struct Built {
    /// The provider's protocol: webhook verification and parsing, sends, media downloads.
    pub(crate) adapter: Arc<dyn Channel>,
    /// Set for channels that pull their updates (a Telegram bot in polling mode).
    pub(crate) poller: Option<Arc<dyn Poller>>,
    /// How far the channel vouches for who a sender is.
    pub(crate) verification: Verification,
    /// The type's own settings as its routes need them (a widget's origins and looks).
    pub(crate) config: Option<Arc<dyn Any + Send + Sync>>,
}

/// A channel type's home. Implementations are unit structs listed in [`KINDS`].
pub(crate) trait ChannelKind: Sync {
    /// The type this home is for.
    fn channel_type(&self) -> ChannelType;

    /// What the channel can do: the adapter crate's own declaration, so the inbox offers
    /// only what works (no read ticks for a Telegram bot).
    fn capabilities(&self) -> Capabilities;

    /// Setting keys admins may send for this type (besides the common `reopen_resolved`).
    fn setting_keys(&self) -> &'static [&'static str];

    /// Checks one setting as an admin sent it; `key` is one of [`Self::setting_keys`].
    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError>;

    /// Settings that are credentials: moved into the inbox's secrets when sent, masked on
    /// every read. A new value for one counts as connecting another account only if
    /// [`Self::account_changed`] says so.
    fn credential_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// How a credential shows on read: its last four characters.
    fn mask_credential(&self, key: &str, value: &str) -> String {
        let _ = key;
        format!("…{}", crate::auth::last_chars(value, 4))
    }

    /// Moves the credentials an admin sent out of the settings into the secrets, so they
    /// are never stored or shown with the settings; answers whether any was sent. The
    /// default takes the top-level [`Self::credential_keys`]; a type whose credentials sit
    /// inside a settings object (email's `imap.password`) takes them itself.
    fn take_credentials(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
    ) -> bool {
        let mut taken = false;
        for key in self.credential_keys() {
            if let Some(value) = settings.remove(*key) {
                let text = value.as_str().unwrap_or_default().trim().to_owned();
                secrets.insert((*key).to_owned(), Value::String(text));
                taken = true;
            }
        }
        taken
    }

    /// Puts the masked credentials into the settings admins read (see
    /// [`Self::take_credentials`]).
    fn show_credentials(&self, settings: &mut Map<String, Value>, inbox: &Inbox) {
        for key in self.credential_keys() {
            if let Some(value) = inbox.secret(key) {
                settings.insert(
                    (*key).to_owned(),
                    Value::String(self.mask_credential(key, &value)),
                );
            }
        }
    }

    /// Largest webhook body this type accepts: JSON events are small; a raw mail carries
    /// its attachments.
    fn max_webhook_bytes(&self, hub: &Settings) -> usize {
        let _ = hub;
        2 * 1024 * 1024
    }

    /// Fills in what a new inbox needs besides the admin's settings (defaults, generated
    /// keys); `secrets` already holds the credentials and the webhook secret, and takes
    /// generated keys.
    fn prepare_new(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
        hub: &Settings,
    ) -> Result<(), SettingsError> {
        let _ = (settings, secrets, hub);
        Ok(())
    }

    /// What a site pastes into its pages, shown to admins (the widget's snippet).
    fn embed(&self, inbox: &Inbox, public_url: &str) -> Option<String> {
        let _ = (inbox, public_url);
        None
    }

    /// Builds the running channel of a stored inbox (no network call). A stored inbox
    /// that cannot be read is reported, not guessed at.
    fn build(&self, inbox: &Inbox, hub: &Settings) -> Result<Built, String>;

    /// Connects the provider side (checks the credentials, registers the webhook or
    /// prepares polling) and answers what to store about the account (a bot's name).
    fn connect<'a>(
        &'a self,
        inbox: &'a Inbox,
        hub: &'a Settings,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<Map<String, Value>, ConnectError>> {
        let _ = (inbox, hub, webhook_url);
        Box::pin(async { Ok(Map::new()) })
    }

    /// Tells the provider to stop sending here (best effort: the credentials may already be
    /// revoked), so it does not retry into a closed door.
    fn disconnect<'a>(&'a self, inbox: &'a Inbox, hub: &'a Settings) -> BoxFuture<'a, ()> {
        let _ = (inbox, hub);
        Box::pin(async {})
    }

    /// Whether a change needs the provider connected again, besides new credentials or
    /// switching the inbox on (Telegram: another mode or Bot API URL).
    fn needs_connect(&self, current: &Inbox, next: &Inbox) -> bool {
        let _ = (current, next);
        false
    }

    /// Whether a change points the inbox at another provider account (another bot): its
    /// webhook secret is renewed, the old account disconnected and polling starts afresh.
    fn account_changed(&self, current: &Inbox, next: &Inbox) -> bool {
        let _ = (current, next);
        false
    }
}

/// A running channel as the inbound door and the widget routes see it.
pub(crate) struct ChannelEntry {
    pub(crate) inbox_id: i64,
    pub(crate) channel_type: ChannelType,
    pub(crate) adapter: Arc<dyn Channel>,
    pub(crate) source: Source,
    /// Set for channels that pull their updates: the channel actor runs the polling loop.
    pub(crate) poller: Option<Arc<dyn Poller>>,
    /// The type's own settings (see [`Built::config`]).
    pub(crate) config: Option<Arc<dyn Any + Send + Sync>>,
}

impl ChannelEntry {
    /// The type's own settings, when they are of type `T`.
    pub(crate) fn config<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.config.clone()?.downcast::<T>().ok()
    }
}

/// Builds the running channel of a stored inbox through its type's home.
pub(crate) fn build_entry(inbox: &Inbox, settings: &Settings) -> Result<ChannelEntry, String> {
    let kind = kind(inbox.channel_type).ok_or_else(|| {
        format!(
            "channel type {} has no adapter in this version",
            inbox.channel_type
        )
    })?;
    let built = kind.build(inbox, settings)?;
    Ok(ChannelEntry {
        inbox_id: inbox.id,
        channel_type: inbox.channel_type,
        adapter: built.adapter,
        source: Source {
            inbox_id: inbox.id,
            channel_type: inbox.channel_type,
            verification: built.verification,
            reopen_resolved: inbox.reopens_resolved(),
        },
        poller: built.poller,
        config: built.config,
    })
}

/// The channels of all running inboxes, by inbox id: a shared read-mostly map, so inbound
/// traffic never queues behind a channel actor's outbound work.
#[derive(Clone, Default)]
pub(crate) struct Channels(Arc<RwLock<HashMap<i64, Arc<ChannelEntry>>>>);

impl Channels {
    /// The running channel of an inbox, if it is enabled and configured.
    pub(crate) fn get(&self, inbox_id: i64) -> Option<Arc<ChannelEntry>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&inbox_id)
            .cloned()
    }

    /// The first running channel that `matches` (inboxes are few: a scan is fine).
    pub(crate) fn find(
        &self,
        matches: impl Fn(&ChannelEntry) -> bool,
    ) -> Option<Arc<ChannelEntry>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|e| matches(e))
            .cloned()
    }

    pub(crate) fn set(&self, entry: Arc<ChannelEntry>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.inbox_id, entry);
    }

    pub(crate) fn remove(&self, inbox_id: i64) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&inbox_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_has_at_most_one_home() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.channel_type()), "{} twice", k.channel_type());
            assert_eq!(
                kind(k.channel_type()).map(|k| k.channel_type()),
                Some(k.channel_type())
            );
        }
        assert_eq!(available(), "api, email, telegram, whatsapp, widget");
    }
}
