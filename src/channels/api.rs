//! API inboxes: a generic HMAC-signed channel for integrations. Settings: `callback_url`,
//! where replies are POSTed (none: replies stay queued until one is set). Secrets: `secret`,
//! which signs both directions.

use std::sync::Arc;

use serde_json::Value;
use switchboard_api_channel::{ApiChannel, ApiChannelSettings};
use switchboard_channel::Capabilities;

use super::{Built, ChannelKind, SettingsError};
use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::store::inboxes::Inbox;

/// The home of API inboxes.
pub(crate) struct ApiKind;

impl ChannelKind for ApiKind {
    fn channel_type(&self) -> ChannelType {
        ChannelType::Api
    }

    fn capabilities(&self) -> Capabilities {
        switchboard_api_channel::CAPABILITIES
    }

    fn setting_keys(&self) -> &'static [&'static str] {
        &["callback_url"]
    }

    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError> {
        let field = format!("settings.{key}");
        match value {
            Value::Null => Ok(()),
            Value::String(text) => {
                let url = url::Url::parse(text).map_err(|e| {
                    SettingsError::new(&field, format!("{text:?} is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(SettingsError::new(
                        field,
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                Ok(())
            }
            _ => Err(SettingsError::new(field, "must be a URL string")),
        }
    }

    fn build(&self, inbox: &Inbox, hub: &Settings) -> Result<Built, String> {
        let config = inbox.settings_json();
        let callback_url = match config.get("callback_url").and_then(Value::as_str) {
            None | Some("") => None,
            Some(text) => Some(url::Url::parse(text).map_err(|e| format!("callback_url: {e}"))?),
        };
        let secret = inbox.secret("secret").ok_or("the inbox has no secret")?;
        let adapter = ApiChannel::new(ApiChannelSettings {
            secret,
            callback_url,
            timeout: hub.outbound.send_timeout,
        })
        .map_err(|e| e.to_string())?;
        Ok(Built {
            adapter: Arc::new(adapter),
            poller: None,
            // The integrator signs every request, so it vouches for who the contact is.
            verification: Verification::Provider,
            config: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn callback_urls_are_checked() {
        assert!(
            ApiKind
                .check_setting("callback_url", &json!("https://shop.example/hook"))
                .is_ok()
        );
        assert!(ApiKind.check_setting("callback_url", &Value::Null).is_ok());
        for bad in [json!("ftp://x.example"), json!("not a url"), json!(5)] {
            let error = ApiKind
                .check_setting("callback_url", &bad)
                .expect_err("refused");
            assert_eq!(error.field, "settings.callback_url");
        }
    }
}
