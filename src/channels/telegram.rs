//! Telegram inboxes in the hub: their stored settings, the bot check when an admin connects
//! one, and whether updates come by webhook or by long polling.
//!
//! Settings (`inboxes.settings`): `api_url` (the Bot API base, for a local Bot API server or
//! a test double), `mode` (`webhook` | `polling`), `groups` (`ignore` | `conversation`), and
//! what getMe told (`bot_id`, `bot_username`). Secrets (`inboxes.secrets`): `bot_token` and
//! `secret`, the `secret_token` Telegram sends back with every webhook request.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use switchboard_channel::{BoxFuture, Capabilities, ChannelError};
use switchboard_telegram::{GroupPolicy, SetupError, TelegramChannel, TelegramSettings};
use url::Url;

use super::{Built, ChannelKind, ConnectError, SettingsError};
use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::store::inboxes::Inbox;

/// The home of Telegram inboxes.
pub(crate) struct TelegramKind;

impl ChannelKind for TelegramKind {
    fn channel_type(&self) -> ChannelType {
        ChannelType::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        switchboard_telegram::CAPABILITIES
    }

    fn setting_keys(&self) -> &'static [&'static str] {
        &SETTING_KEYS
    }

    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError> {
        check_setting(key, value)
    }

    fn credential_keys(&self) -> &'static [&'static str] {
        &["bot_token"]
    }

    fn mask_credential(&self, _key: &str, value: &str) -> String {
        mask_token(value)
    }

    fn prepare_new(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
        hub: &Settings,
    ) -> Result<(), SettingsError> {
        if !secrets.contains_key("bot_token") {
            return Err(SettingsError::new("settings.bot_token", "is required"));
        }
        if !settings.contains_key("mode") {
            let mode = Mode::default_for(hub);
            settings.insert("mode".into(), Value::String(mode.as_str().into()));
        }
        Ok(())
    }

    fn build(&self, inbox: &Inbox, hub: &Settings) -> Result<Built, String> {
        let config = TelegramConfig::from_inbox(inbox)?;
        let channel = Arc::new(config.channel(hub).map_err(|e| e.to_string())?);
        Ok(Built {
            poller: (config.mode == Mode::Polling)
                .then(|| channel.clone() as Arc<dyn switchboard_channel::Poller>),
            adapter: channel,
            // Telegram vouches for its user ids.
            verification: Verification::Provider,
            config: None,
        })
    }

    fn connect<'a>(
        &'a self,
        inbox: &'a Inbox,
        hub: &'a Settings,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<Map<String, Value>, ConnectError>> {
        Box::pin(async move {
            let config = TelegramConfig::from_inbox(inbox)
                .map_err(|reason| SettingsError::new("settings", reason))?;
            connect(&config, hub, webhook_url).await
        })
    }

    fn disconnect<'a>(&'a self, inbox: &'a Inbox, hub: &'a Settings) -> BoxFuture<'a, ()> {
        Box::pin(disconnect(inbox, hub))
    }

    fn needs_connect(&self, current: &Inbox, next: &Inbox) -> bool {
        let (before, after) = (current.settings_json(), next.settings_json());
        // Switching surveys on registers the webhook again: a bot connected before this
        // version asked Telegram for no `callback_query` updates, and the taps on a survey's
        // buttons would be dropped at Telegram.
        let surveys_on = |settings: &serde_json::Value| {
            settings.get("csat_enabled") == Some(&serde_json::Value::Bool(true))
        };
        ["mode", "api_url"]
            .iter()
            .any(|key| before.get(*key) != after.get(*key))
            || (surveys_on(&after) && !surveys_on(&before))
    }

    fn account_changed(&self, current: &Inbox, next: &Inbox) -> bool {
        current.secret("bot_token") != next.secret("bot_token")
    }
}

/// How a bot's updates reach the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Telegram posts each update to `/webhooks/telegram/{inbox_id}` (needs a public https URL).
    Webhook,
    /// The hub asks with getUpdates; works behind a firewall and on a laptop.
    Polling,
}

impl Mode {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "webhook" => Some(Self::Webhook),
            "polling" => Some(Self::Polling),
            _ => None,
        }
    }

    /// The stored spelling.
    fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Polling => "polling",
        }
    }

    /// Webhooks need an https URL Telegram can reach; anything else polls.
    fn default_for(settings: &Settings) -> Self {
        if settings.server.public_url.scheme() == "https" {
            Self::Webhook
        } else {
            Self::Polling
        }
    }
}

/// Settings keys of Telegram inboxes that admins may send (besides the common ones).
const SETTING_KEYS: [&str; 4] = ["bot_token", "api_url", "mode", "groups"];

/// Checks one Telegram setting as an admin sent it.
fn check_setting(key: &str, value: &Value) -> Result<(), SettingsError> {
    let field = format!("settings.{key}");
    let text = || {
        value
            .as_str()
            .ok_or_else(|| SettingsError::new(&field, "must be a string"))
    };
    match key {
        "bot_token" => {
            if text()?.trim().is_empty() {
                return Err(SettingsError::new(&field, "must not be empty"));
            }
        }
        "api_url" => {
            if !value.is_null() {
                let url = Url::parse(text()?)
                    .map_err(|e| SettingsError::new(&field, format!("is not a URL: {e}")))?;
                switchboard_telegram::channel::check_api_url(url)
                    .map_err(|e| SettingsError::new(&field, e))?;
            }
        }
        "mode" => {
            Mode::parse(text()?)
                .ok_or_else(|| SettingsError::new(&field, "must be \"webhook\" or \"polling\""))?;
        }
        "groups" => {
            if !matches!(text()?, "ignore" | "conversation") {
                return Err(SettingsError::new(
                    &field,
                    "must be \"ignore\" or \"conversation\"",
                ));
            }
        }
        _ => {
            return Err(SettingsError::new(
                &field,
                "is not a setting of telegram inboxes",
            ));
        }
    }
    Ok(())
}

/// A Telegram inbox's configuration, read from its stored settings and secrets.
#[derive(Clone)]
struct TelegramConfig {
    bot_token: String,
    api_url: Option<Url>,
    mode: Mode,
    groups: GroupPolicy,
    /// The webhook `secret_token`.
    secret: String,
}

/// The token and the webhook secret never reach logs: both print as `<redacted>`.
impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const REDACTED: &str = "<redacted>";
        let api_url = self.api_url.as_ref().map(|url| {
            let mut shown = url.clone();
            // Credentials in the URL are secrets too; these only fail where there are none.
            let _ = shown.set_password(None);
            let _ = shown.set_username("");
            String::from(shown)
        });
        f.debug_struct("TelegramConfig")
            .field("bot_token", &REDACTED)
            .field("api_url", &api_url)
            .field("mode", &self.mode)
            .field("groups", &self.groups)
            .field("secret", &REDACTED)
            .finish()
    }
}

impl TelegramConfig {
    /// Reads the stored inbox; a damaged one is reported, not guessed at.
    fn from_inbox(inbox: &Inbox) -> Result<Self, String> {
        let settings = inbox.settings_json();
        Self::from_parts(&settings, inbox.secret("bot_token"), inbox.secret("secret"))
    }

    fn from_parts(
        settings: &Value,
        bot_token: Option<String>,
        secret: Option<String>,
    ) -> Result<Self, String> {
        let text = |key: &str| settings.get(key).and_then(Value::as_str);
        let api_url = text("api_url")
            .map(|u| Url::parse(u).map_err(|e| format!("api_url: {e}")))
            .transpose()?;
        let mode = match text("mode") {
            Some(m) => Mode::parse(m).ok_or_else(|| format!("mode {m:?} is not known"))?,
            None => Mode::Polling,
        };
        let groups = match text("groups") {
            Some("conversation") => GroupPolicy::Conversation,
            _ => GroupPolicy::Ignore,
        };
        Ok(Self {
            bot_token: bot_token.ok_or("the inbox has no bot_token")?,
            api_url,
            mode,
            groups,
            secret: secret.ok_or("the inbox has no webhook secret")?,
        })
    }

    /// The client for this configuration (no network call).
    fn channel(&self, settings: &Settings) -> Result<TelegramChannel, SetupError> {
        TelegramChannel::new(TelegramSettings {
            bot_token: self.bot_token.clone(),
            api_url: self.api_url.clone(),
            // In polling mode nothing may come in through the webhook door.
            webhook_secret: (self.mode == Mode::Webhook).then(|| self.secret.clone()),
            groups: self.groups,
            timeout: settings.outbound.send_timeout,
        })
    }
}

/// Checks the token with getMe, then points the bot's updates at the hub: setWebhook with
/// the secret in webhook mode, deleteWebhook (so getUpdates works) in polling mode. Answers
/// the settings to store about the bot.
async fn connect(
    config: &TelegramConfig,
    settings: &Settings,
    webhook_url: &str,
) -> Result<Map<String, Value>, ConnectError> {
    let channel = config.channel(settings).map_err(|e| match e {
        SetupError::Invalid(reason) => {
            ConnectError::Refused(SettingsError::new("settings", reason))
        }
        SetupError::Api(error) => bot_api_error(error),
    })?;
    let me = channel.get_me().await.map_err(|e| match e {
        ChannelError::Permanent { reason, .. } => ConnectError::Refused(SettingsError::new(
            "settings.bot_token",
            format!("Telegram refused the token: {reason}"),
        )),
        transient => bot_api_error(transient),
    })?;
    match config.mode {
        Mode::Webhook => {
            let url = Url::parse(webhook_url)
                .map_err(|e| ConnectError::Internal(format!("webhook URL {webhook_url}: {e}")))?;
            channel
                .set_webhook(url, &config.secret)
                .await
                .map_err(bot_api_error)?;
        }
        Mode::Polling => channel.delete_webhook().await.map_err(bot_api_error)?,
    }
    let mut about = Map::new();
    about.insert("bot_id".into(), json!(me.id.to_string()));
    if let Some(username) = &me.username {
        about.insert("bot_username".into(), json!(username));
    }
    Ok(about)
}

/// A webhook bot that is switched off or deleted stops posting here (best effort: the
/// token may already be revoked), so Telegram does not retry into a closed door for a day.
async fn disconnect(inbox: &Inbox, settings: &Settings) {
    let Ok(config) = TelegramConfig::from_inbox(inbox) else {
        return;
    };
    if config.mode != Mode::Webhook {
        return;
    }
    let result = match config.channel(settings) {
        Ok(channel) => channel.delete_webhook().await,
        Err(error) => {
            tracing::info!(%error, inbox_id = inbox.id, "cannot build the bot to remove its webhook");
            return;
        }
    };
    if let Err(error) = result {
        tracing::info!(%error, inbox_id = inbox.id, "cannot remove the bot's webhook");
    }
}

/// A Bot API failure during setup, shown to the admin in Telegram's words.
fn bot_api_error(error: ChannelError) -> ConnectError {
    match error {
        ChannelError::Permanent { reason, .. } => ConnectError::Refused(SettingsError::new(
            "settings",
            format!("the Telegram Bot API refused: {reason}"),
        )),
        ChannelError::Transient { reason, .. } => {
            ConnectError::Unreachable(format!("cannot reach the Telegram Bot API: {reason}"))
        }
    }
}

/// A token as admins see it after creation: the bot id and the last four characters.
fn mask_token(token: &str) -> String {
    let id = token.split(':').next().unwrap_or_default();
    format!("{id}:…{}", crate::auth::last_chars(token, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(check_setting("mode", &json!("webhook")).is_ok());
        assert!(check_setting("mode", &json!("push")).is_err());
        assert!(check_setting("groups", &json!("conversation")).is_ok());
        assert!(check_setting("groups", &json!(true)).is_err());
        assert!(check_setting("api_url", &json!("http://127.0.0.1:8081/")).is_ok());
        assert!(check_setting("api_url", &Value::Null).is_ok());
        assert!(check_setting("api_url", &json!("ftp://x")).is_err());
        assert!(check_setting("bot_token", &json!(" ")).is_err());
        assert!(check_setting("callback_url", &json!("http://x")).is_err());
    }

    #[test]
    fn config_reads_stored_parts() {
        let config = TelegramConfig::from_parts(
            &json!({"mode": "webhook", "groups": "conversation", "api_url": "http://127.0.0.1:1/"}),
            Some("1:AA".into()),
            Some("sbwh_x".into()),
        )
        .expect("config");
        assert_eq!(config.mode, Mode::Webhook);
        assert_eq!(config.groups, GroupPolicy::Conversation);
        assert!(TelegramConfig::from_parts(&json!({}), None, Some("s".into())).is_err());
        assert!(
            TelegramConfig::from_parts(&json!({"mode": "x"}), Some("1:A".into()), Some("s".into()))
                .is_err()
        );
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let config = TelegramConfig::from_parts(
            &json!({"mode": "webhook", "api_url": "http://bot:hunter2@127.0.0.1:8081/"}),
            Some("123456:AAEsecretpart".into()),
            Some("sbwh_topsecret".into()),
        )
        .expect("config");
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            for secret in ["AAEsecretpart", "123456:", "sbwh_topsecret", "hunter2"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("<redacted>"), "{shown}");
            assert!(shown.contains("Webhook"), "{shown}");
            assert!(shown.contains("127.0.0.1:8081"), "{shown}");
        }
        assert!(format!("{config:?}").contains("bot_token: \"<redacted>\""));
        assert!(format!("{config:?}").contains("secret: \"<redacted>\""));
    }

    #[test]
    fn tokens_are_masked() {
        assert_eq!(mask_token("123456:AAEabcdWXYZ"), "123456:…WXYZ");
    }
}
