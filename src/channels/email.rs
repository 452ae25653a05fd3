//! Email inboxes in the hub: a support address, the IMAP mailbox the hub reads (optional:
//! mail can also arrive as raw MIME posted by an MTA) and the SMTP server replies go out by.
//!
//! Settings (`inboxes.settings`): `address`, `display_name`, `reply_domain` (for
//! `reply+<token>@reply_domain` addresses), `imap {host, port, tls, username, folder,
//! poll_secs}`, `smtp {host, port, tls, username}`. Secrets (`inboxes.secrets`):
//! `imap_password`, `smtp_password` (sent inside `imap` / `smtp` as `password`, masked on
//! every read), `signing_key` (generated: signs our Message-IDs and reply addresses, so a
//! forged header cannot attach mail to someone else's conversation) and `secret`, which the
//! raw-MIME webhook must present.

use std::sync::Arc;

use serde_json::{Map, Value};
use switchboard_channel::{BoxFuture, Capabilities};
use switchboard_email::channel::{EmailChannel, EmailSettings};
use switchboard_email::imap::{self, ImapSettings, MailError, Tls};
use switchboard_email::smtp::{self, CheckError, SmtpSettings};

use super::{Built, ChannelKind, ConnectError, SettingsError};
use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::store::inboxes::Inbox;

/// The home of email inboxes.
pub(crate) struct EmailKind;

/// Settings keys of email inboxes that admins may send (besides the common ones).
const SETTING_KEYS: [&str; 5] = ["address", "display_name", "reply_domain", "imap", "smtp"];

/// The server objects whose `password` is a credential, and the secret it is kept as.
const SERVERS: [(&str, &str); 2] = [("imap", "imap_password"), ("smtp", "smtp_password")];

/// How long one IMAP IDLE (or, without IDLE, the pause between polls) lasts by default.
const DEFAULT_POLL_SECS: u64 = 60;

impl ChannelKind for EmailKind {
    fn channel_type(&self) -> ChannelType {
        ChannelType::Email
    }

    fn capabilities(&self) -> Capabilities {
        switchboard_email::CAPABILITIES
    }

    fn setting_keys(&self) -> &'static [&'static str] {
        &SETTING_KEYS
    }

    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError> {
        check_setting(key, value)
    }

    fn take_credentials(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
    ) -> bool {
        let mut taken = false;
        for (server, secret) in SERVERS {
            let Some(Value::Object(object)) = settings.get_mut(server) else {
                continue;
            };
            let Some(password) = object.remove("password") else {
                continue;
            };
            let password = password.as_str().unwrap_or_default();
            // The masked value an admin read and sent back unchanged is not a password.
            if password.starts_with('…') {
                continue;
            }
            secrets.insert(secret.to_owned(), Value::String(password.to_owned()));
            taken = true;
        }
        taken
    }

    fn show_credentials(&self, settings: &mut Map<String, Value>, inbox: &Inbox) {
        for (server, secret) in SERVERS {
            if let (Some(Value::Object(object)), Some(password)) =
                (settings.get_mut(server), inbox.secret(secret))
            {
                let shown = format!("…{}", crate::auth::last_chars(&password, 2));
                object.insert("password".to_owned(), Value::String(shown));
            }
        }
    }

    fn max_webhook_bytes(&self, hub: &Settings) -> usize {
        // A mail carries its files base64-encoded (4/3 of their size) plus its text.
        let files = hub.attachments.max_message_bytes.saturating_mul(4) / 3;
        usize::try_from(files.saturating_add(1024 * 1024)).unwrap_or(usize::MAX)
    }

    fn prepare_new(
        &self,
        settings: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
        _hub: &Settings,
    ) -> Result<(), SettingsError> {
        for key in ["address", "smtp"] {
            if !settings.contains_key(key) {
                return Err(SettingsError::new(format!("settings.{key}"), "is required"));
            }
        }
        secrets.insert(
            "signing_key".into(),
            Value::String(crate::auth::new_secret("sbmk_")),
        );
        Ok(())
    }

    fn build(&self, inbox: &Inbox, _hub: &Settings) -> Result<Built, String> {
        let channel = Arc::new(EmailChannel::new(email_settings(inbox)?)?);
        Ok(Built {
            poller: channel
                .polls()
                .then(|| channel.clone() as Arc<dyn switchboard_channel::Poller>),
            adapter: channel,
            // Anyone can write any From: the address is claimed, not proven.
            verification: Verification::Unverified,
            config: None,
        })
    }

    fn connect<'a>(
        &'a self,
        inbox: &'a Inbox,
        _hub: &'a Settings,
        _webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<Map<String, Value>, ConnectError>> {
        Box::pin(async move {
            let settings =
                email_settings(inbox).map_err(|reason| SettingsError::new("settings", reason))?;
            let imap_check = async {
                match &settings.imap {
                    Some(imap) => imap::check(imap).await.map_err(imap_refusal),
                    None => Ok(()),
                }
            };
            let smtp_check = async {
                match &settings.smtp {
                    Some(smtp) => smtp::check(smtp).await.map_err(smtp_refusal),
                    None => Ok(()),
                }
            };
            let (imap, smtp) = tokio::join!(imap_check, smtp_check);
            imap?;
            smtp?;
            Ok(Map::new())
        })
    }

    fn needs_connect(&self, current: &Inbox, next: &Inbox) -> bool {
        let (before, after) = (current.settings_json(), next.settings_json());
        ["imap", "smtp"]
            .iter()
            .any(|key| before.get(*key) != after.get(*key))
    }

    fn account_changed(&self, current: &Inbox, next: &Inbox) -> bool {
        // Another mailbox numbers its mail anew: polling starts from its unseen mail.
        let mailbox = |inbox: &Inbox| {
            let settings = inbox.settings_json();
            let imap = settings.get("imap").cloned().unwrap_or(Value::Null);
            (
                imap.get("host").cloned(),
                imap.get("username").cloned(),
                imap.get("folder").cloned(),
            )
        };
        mailbox(current) != mailbox(next)
    }
}

/// The IMAP server's refusal, in its own words, or its absence.
fn imap_refusal(error: MailError) -> ConnectError {
    match error {
        MailError::Refused(words) => ConnectError::Refused(SettingsError::new(
            "settings.imap",
            format!("the IMAP server refused: {words}"),
        )),
        MailError::Unreachable(reason) => {
            ConnectError::Unreachable(format!("the IMAP server cannot be reached: {reason}"))
        }
        MailError::Protocol(reason) => ConnectError::Refused(SettingsError::new(
            "settings.imap",
            format!("the IMAP server answered unexpectedly: {reason}"),
        )),
    }
}

/// The SMTP server's refusal, in its own words, or its absence.
fn smtp_refusal(error: CheckError) -> ConnectError {
    match error {
        CheckError::Refused(words) => ConnectError::Refused(SettingsError::new(
            "settings.smtp",
            format!("the SMTP server refused: {words}"),
        )),
        CheckError::Unreachable(reason) => {
            ConnectError::Unreachable(format!("the SMTP server cannot be reached: {reason}"))
        }
    }
}

/// Checks one email setting as an admin sent it.
fn check_setting(key: &str, value: &Value) -> Result<(), SettingsError> {
    let field = format!("settings.{key}");
    match key {
        "address" => {
            let text = value
                .as_str()
                .ok_or_else(|| SettingsError::new(&field, "must be a string"))?;
            check_address(&field, text)?;
        }
        "display_name" => {
            if !value.is_null() && value.as_str().is_none_or(|t| t.len() > 200) {
                return Err(SettingsError::new(
                    &field,
                    "must be a string of at most 200 bytes",
                ));
            }
        }
        "reply_domain" => {
            if !value.is_null() {
                let text = value
                    .as_str()
                    .ok_or_else(|| SettingsError::new(&field, "must be a string"))?;
                check_domain(&field, text)?;
            }
        }
        // `null` takes the mailbox away (mail then arrives by the webhook only).
        "imap" if value.is_null() => {}
        "imap" | "smtp" => {
            let Value::Object(object) = value else {
                return Err(SettingsError::new(&field, "must be an object"));
            };
            check_server(&field, key, object)?;
        }
        _ => {
            return Err(SettingsError::new(
                &field,
                "is not a setting of email inboxes",
            ));
        }
    }
    Ok(())
}

fn check_address(field: &str, text: &str) -> Result<(), SettingsError> {
    let text = text.trim();
    let valid = text.len() <= 254
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && check_domain(field, domain).is_ok()
        });
    if valid {
        Ok(())
    } else {
        Err(SettingsError::new(
            field,
            "must be an email address such as support@example.com",
        ))
    }
}

fn check_domain(field: &str, text: &str) -> Result<(), SettingsError> {
    let valid = !text.is_empty()
        && text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(SettingsError::new(
            field,
            "must be a domain such as reply.example.com",
        ))
    }
}

/// Keys of the `imap` and `smtp` objects.
const IMAP_KEYS: [&str; 7] = [
    "host",
    "port",
    "tls",
    "username",
    "password",
    "folder",
    "poll_secs",
];
const SMTP_KEYS: [&str; 5] = ["host", "port", "tls", "username", "password"];

fn check_server(field: &str, kind: &str, object: &Map<String, Value>) -> Result<(), SettingsError> {
    let keys: &[&str] = if kind == "imap" {
        &IMAP_KEYS
    } else {
        &SMTP_KEYS
    };
    for (key, value) in object {
        let field = format!("{field}.{key}");
        if !keys.contains(&key.as_str()) {
            return Err(SettingsError::new(
                &field,
                format!("is not a setting of {kind} (known: {})", keys.join(", ")),
            ));
        }
        let text_ok = || {
            value
                .as_str()
                .is_some_and(|t| !t.trim().is_empty() && t.len() <= 255)
        };
        let ok = match key.as_str() {
            "host" | "username" | "folder" | "password" => text_ok(),
            "port" => value.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
            "tls" => value
                .as_str()
                .is_some_and(|t| matches!(t, "implicit" | "starttls" | "none")),
            "poll_secs" => value.as_u64().is_some_and(|s| (5..=1740).contains(&s)),
            _ => false,
        };
        if !ok {
            let expected = match key.as_str() {
                "port" => "must be a port number (1-65535)",
                "tls" => "must be \"implicit\", \"starttls\" or \"none\"",
                "poll_secs" => "must be a number of seconds from 5 to 1740 (29 minutes)",
                _ => "must be a non-empty string of at most 255 bytes",
            };
            return Err(SettingsError::new(&field, expected));
        }
    }
    if !object.contains_key("host") {
        return Err(SettingsError::new(format!("{field}.host"), "is required"));
    }
    if kind == "imap" && !object.contains_key("username") {
        return Err(SettingsError::new(
            format!("{field}.username"),
            "is required",
        ));
    }
    Ok(())
}

/// A server object's port, or the usual one for its TLS mode.
fn port(object: &Value, default: u16) -> u16 {
    object
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(default)
}

fn text(object: &Value, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// How mail goes out as an email inbox outside its conversations (the widget's transcripts):
/// its SMTP sender and its address and name. `Err` says why it cannot (no SMTP server).
pub(crate) fn sender_of(
    inbox: &Inbox,
) -> Result<
    (
        switchboard_email::smtp::SmtpSender,
        switchboard_email::Mailbox,
    ),
    String,
> {
    let settings = email_settings(inbox)?;
    let smtp = settings
        .smtp
        .ok_or("the email inbox has no SMTP server to send with")?;
    let sender = switchboard_email::smtp::SmtpSender::new(smtp)?;
    Ok((
        sender,
        switchboard_email::Mailbox {
            address: settings.address,
            name: settings.display_name,
        },
    ))
}

/// A stored email inbox read for its channel.
fn email_settings(inbox: &Inbox) -> Result<EmailSettings, String> {
    let settings = inbox.settings_json();
    let address = text(&settings, "address")
        .ok_or("the inbox has no address")?
        .to_ascii_lowercase();
    let signing_key = inbox
        .secret("signing_key")
        .ok_or("the inbox has no signing key")?
        .into_bytes();
    let webhook_secret = inbox.secret("secret").ok_or("the inbox has no secret")?;
    let imap = match settings.get("imap").filter(|v| v.is_object()) {
        None => None,
        Some(object) => {
            let tls = text(object, "tls")
                .map(|t| Tls::parse(&t).ok_or(format!("imap.tls {t:?} is unknown")))
                .transpose()?
                .unwrap_or(Tls::Implicit);
            let default_port = match tls {
                Tls::Implicit => 993,
                Tls::StartTls | Tls::None => 143,
            };
            Some(ImapSettings {
                host: text(object, "host").ok_or("imap.host is missing")?,
                port: port(object, default_port),
                tls,
                username: text(object, "username").ok_or("imap.username is missing")?,
                password: inbox.secret("imap_password").unwrap_or_default(),
                folder: text(object, "folder").unwrap_or_else(|| "INBOX".to_owned()),
                idle_secs: object
                    .get("poll_secs")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_POLL_SECS),
            })
        }
    };
    let smtp = match settings.get("smtp").filter(|v| v.is_object()) {
        None => None,
        Some(object) => {
            let tls = text(object, "tls")
                .map(|t| Tls::parse(&t).ok_or(format!("smtp.tls {t:?} is unknown")))
                .transpose()?
                .unwrap_or(Tls::StartTls);
            let default_port = match tls {
                Tls::Implicit => 465,
                Tls::StartTls => 587,
                Tls::None => 25,
            };
            Some(SmtpSettings {
                host: text(object, "host").ok_or("smtp.host is missing")?,
                port: port(object, default_port),
                tls,
                username: text(object, "username"),
                password: inbox.secret("smtp_password"),
                hello_name: None,
            })
        }
    };
    Ok(EmailSettings {
        address,
        display_name: text(&settings, "display_name"),
        reply_domain: text(&settings, "reply_domain").map(|d| d.to_ascii_lowercase()),
        signing_key,
        webhook_secret,
        imap,
        smtp,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_are_checked_field_by_field() {
        assert!(check_setting("address", &json!("support@acme.example")).is_ok());
        for bad in [
            json!("support"),
            json!("a b@x.example"),
            json!(3),
            json!("x@nodot"),
        ] {
            assert!(check_setting("address", &bad).is_err(), "{bad}");
        }
        assert!(check_setting("reply_domain", &json!("reply.acme.example")).is_ok());
        assert!(check_setting("reply_domain", &json!("reply acme")).is_err());
        let imap = json!({"host": "imap.acme.example", "port": 993, "tls": "implicit",
                          "username": "support", "password": "pw", "folder": "INBOX", "poll_secs": 60});
        assert!(check_setting("imap", &imap).is_ok());
        let error = check_setting("imap", &json!({"host": "h", "username": "u", "tls": "ssl"}))
            .expect_err("tls");
        assert_eq!(error.field, "settings.imap.tls");
        let error = check_setting("smtp", &json!({"port": 587})).expect_err("host");
        assert_eq!(error.field, "settings.smtp.host");
        let error = check_setting("smtp", &json!({"host": "h", "folder": "x"})).expect_err("key");
        assert_eq!(error.field, "settings.smtp.folder");
        assert!(
            check_setting("imap", &Value::Null).is_ok(),
            "null removes the mailbox"
        );
        assert!(
            check_setting("smtp", &Value::Null).is_err(),
            "replies need a server"
        );
    }

    #[test]
    fn passwords_move_to_the_secrets_and_masked_ones_are_not_taken() {
        let mut settings = Map::new();
        settings.insert(
            "imap".into(),
            json!({"host": "h", "username": "u", "password": "pw1"}),
        );
        settings.insert("smtp".into(), json!({"host": "h", "password": "…w2"}));
        let mut secrets = Map::new();
        assert!(EmailKind.take_credentials(&mut settings, &mut secrets));
        assert_eq!(secrets.get("imap_password"), Some(&json!("pw1")));
        assert_eq!(secrets.get("smtp_password"), None);
        assert_eq!(settings["imap"].get("password"), None);
        assert_eq!(settings["smtp"].get("password"), None);
    }
}
