//! WhatsApp inboxes in the hub (Meta's Cloud API): their stored settings, the token check
//! against the phone number when an admin connects one, and the verify token Meta echoes
//! when the webhook is subscribed.
//!
//! Settings (`inboxes.settings`): `phone_number_id`, `waba_id` (for templates),
//! `verify_token` (generated when absent), `api_url` (the Graph API base, for a test double),
//! `api_version`, `messages_per_second`, and what the number check told
//! (`display_phone_number`, `verified_name`, `quality_rating`); `token_refused_at` is set
//! when Meta answered a send with error 190 (the token expired or was revoked) and cleared
//! by the next successful check. Secrets (`inboxes.secrets`): `access_token` and
//! `app_secret` (webhooks are signed with it).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use switchboard_channel::{BoxFuture, Capabilities, ChannelError};
use switchboard_whatsapp::{
    DEFAULT_API_URL, DEFAULT_API_VERSION, WhatsAppChannel, WhatsAppSettings,
};
use url::Url;

use super::{Built, ChannelKind, ConnectError, SettingsError};
use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::store::inboxes::Inbox;

/// The home of WhatsApp inboxes.
pub(crate) struct WhatsAppKind;

/// Settings keys of WhatsApp inboxes that admins may send (besides the common ones).
const SETTING_KEYS: [&str; 8] = [
    "phone_number_id",
    "waba_id",
    "access_token",
    "app_secret",
    "verify_token",
    "api_url",
    "api_version",
    "messages_per_second",
];

/// Meta's default throughput per business number.
const DEFAULT_MESSAGES_PER_SECOND: u32 = 80;

/// The setting that marks an inbox whose token Meta refused (error 190).
pub(crate) const TOKEN_REFUSED: &str = "token_refused_at";

impl ChannelKind for WhatsAppKind {
    fn channel_type(&self) -> ChannelType {
        ChannelType::Whatsapp
    }

    fn capabilities(&self) -> Capabilities {
        switchboard_whatsapp::CAPABILITIES
    }

    fn setting_keys(&self) -> &'static [&'static str] {
        &SETTING_KEYS
    }

    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError> {
        check_setting(key, value)
    }

    fn credential_keys(&self) -> &'static [&'static str] {
        &["access_token", "app_secret"]
    }

    fn prepare_new(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
        _hub: &Settings,
    ) -> Result<(), SettingsError> {
        for key in ["access_token", "app_secret"] {
            if !secrets.contains_key(key) {
                return Err(SettingsError::new(format!("settings.{key}"), "is required"));
            }
        }
        if !settings.contains_key("phone_number_id") {
            return Err(SettingsError::new(
                "settings.phone_number_id",
                "is required",
            ));
        }
        if !settings.contains_key("verify_token") {
            settings.insert(
                "verify_token".into(),
                Value::String(crate::auth::new_secret("sbwa_")),
            );
        }
        Ok(())
    }

    fn build(&self, inbox: &Inbox, hub: &Settings) -> Result<Built, String> {
        let channel = channel_of(inbox, hub)?;
        Ok(Built {
            adapter: Arc::new(channel),
            poller: None,
            // Meta vouches for the wa_id of every message.
            verification: Verification::Provider,
            config: None,
        })
    }

    fn connect<'a>(
        &'a self,
        inbox: &'a Inbox,
        hub: &'a Settings,
        _webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<Map<String, Value>, ConnectError>> {
        Box::pin(async move {
            let channel =
                channel_of(inbox, hub).map_err(|reason| SettingsError::new("settings", reason))?;
            let number = channel.phone_number().await.map_err(|e| match e {
                ChannelError::Permanent { reason, .. } => {
                    ConnectError::Refused(SettingsError::new(
                        "settings.access_token",
                        format!(
                            "the Graph API refused the token for this phone_number_id: {reason}"
                        ),
                    ))
                }
                ChannelError::Transient { reason, .. } => ConnectError::Unreachable(format!(
                    "cannot reach the WhatsApp Graph API: {reason}"
                )),
            })?;
            let mut about = Map::new();
            for (key, value) in [
                ("display_phone_number", number.display_phone_number),
                ("verified_name", number.verified_name),
                ("quality_rating", number.quality_rating),
            ] {
                if let Some(value) = value {
                    about.insert(key.into(), json!(value));
                }
            }
            // A token that works again clears the warning.
            about.insert(TOKEN_REFUSED.into(), Value::Null);
            Ok(about)
        })
    }

    fn needs_connect(&self, current: &Inbox, next: &Inbox) -> bool {
        let (before, after) = (current.settings_json(), next.settings_json());
        ["phone_number_id", "api_url", "api_version"]
            .iter()
            .any(|key| before.get(*key) != after.get(*key))
    }
}

/// Checks one WhatsApp setting as an admin sent it.
fn check_setting(key: &str, value: &Value) -> Result<(), SettingsError> {
    let field = format!("settings.{key}");
    let text = || {
        value
            .as_str()
            .map(str::trim)
            .ok_or_else(|| SettingsError::new(&field, "must be a string"))
    };
    match key {
        "phone_number_id" | "waba_id" => {
            let id = text()?;
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SettingsError::new(
                    &field,
                    "must be the numeric id Meta shows in WhatsApp Manager (not the phone number)",
                ));
            }
        }
        "access_token" | "app_secret" => {
            if text()?.is_empty() {
                return Err(SettingsError::new(&field, "must not be empty"));
            }
        }
        "verify_token" => {
            let token = text()?;
            if token.len() < 8 || token.len() > 200 {
                return Err(SettingsError::new(&field, "must be 8 to 200 characters"));
            }
        }
        "api_url" => {
            if !value.is_null() {
                let url = Url::parse(text()?)
                    .map_err(|e| SettingsError::new(&field, format!("is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(SettingsError::new(&field, "must be an http(s) URL"));
                }
            }
        }
        "api_version" => {
            let version = text()?;
            let digits = version.strip_prefix('v').unwrap_or_default();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Err(SettingsError::new(&field, "must look like \"v23.0\""));
            }
        }
        "messages_per_second" => {
            if !value.as_u64().is_some_and(|n| (1..=1000).contains(&n)) {
                return Err(SettingsError::new(
                    &field,
                    "must be a number from 1 to 1000",
                ));
            }
        }
        _ => {
            return Err(SettingsError::new(
                &field,
                "is not a setting of whatsapp inboxes",
            ));
        }
    }
    Ok(())
}

/// The client of a stored inbox (no network call); a damaged one is reported.
fn channel_of(inbox: &Inbox, hub: &Settings) -> Result<WhatsAppChannel, String> {
    let settings = settings_of(
        &inbox.settings_json(),
        inbox.secret("access_token"),
        inbox.secret("app_secret"),
        hub.outbound.send_timeout,
    )?;
    WhatsAppChannel::new(settings).map_err(|e| e.to_string())
}

fn settings_of(
    settings: &Value,
    access_token: Option<String>,
    app_secret: Option<String>,
    timeout: Duration,
) -> Result<WhatsAppSettings, String> {
    let text = |key: &str| settings.get(key).and_then(Value::as_str).map(str::to_owned);
    let api_url = text("api_url").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let mut api_url = Url::parse(&api_url).map_err(|e| format!("api_url: {e}"))?;
    if !api_url.path().ends_with('/') {
        let path = format!("{}/", api_url.path());
        api_url.set_path(&path);
    }
    Ok(WhatsAppSettings {
        phone_number_id: text("phone_number_id").ok_or("the inbox has no phone_number_id")?,
        waba_id: text("waba_id"),
        access_token: access_token.ok_or("the inbox has no access_token")?,
        app_secret: app_secret.ok_or("the inbox has no app_secret")?,
        verify_token: text("verify_token").ok_or("the inbox has no verify_token")?,
        api_url,
        api_version: text("api_version").unwrap_or_else(|| DEFAULT_API_VERSION.to_owned()),
        messages_per_second: settings
            .get("messages_per_second")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_MESSAGES_PER_SECOND),
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(check_setting("phone_number_id", &json!("106540352242922")).is_ok());
        assert!(check_setting("phone_number_id", &json!("+1 555 0100")).is_err());
        assert!(check_setting("phone_number_id", &json!(106540352242922u64)).is_err());
        assert!(check_setting("api_version", &json!("v23.0")).is_ok());
        assert!(check_setting("api_version", &json!("23")).is_err());
        assert!(check_setting("verify_token", &json!("short")).is_err());
        assert!(check_setting("messages_per_second", &json!(80)).is_ok());
        assert!(check_setting("messages_per_second", &json!(0)).is_err());
        assert!(check_setting("api_url", &json!("ftp://x/")).is_err());
        assert!(check_setting("access_token", &json!(" ")).is_err());
        assert!(check_setting("bot_token", &json!("x")).is_err());
    }

    #[test]
    fn stored_settings_read_with_defaults() {
        let read = settings_of(
            &json!({"phone_number_id": "1", "verify_token": "sbwa_x", "api_url": "http://127.0.0.1:9/graph"}),
            Some("EAAG".into()),
            Some("s3cret".into()),
            Duration::from_secs(5),
        )
        .expect("settings");
        assert_eq!(read.api_url.as_str(), "http://127.0.0.1:9/graph/");
        assert_eq!(read.api_version, DEFAULT_API_VERSION);
        assert_eq!(read.messages_per_second, DEFAULT_MESSAGES_PER_SECOND);
        assert!(settings_of(&json!({"phone_number_id": "1"}), None, None, Duration::ZERO).is_err());
    }
}
