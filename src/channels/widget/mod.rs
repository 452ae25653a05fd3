//! Widget inboxes: each one's settings (looks, pre-chat form, allowed origins, identity
//! verification), the visitors' rate limits ([`limits`]), their uploads' storage quotas
//! ([`quota`]) and the visitor socket's session actor ([`session`]). Agents' replies reach
//! open sockets through the realtime visitors' registry (`realtime::visitors`).
//!
//! The protocol itself (frames, tokens, HMAC) is the pure `switchboard-widget` crate; the
//! HTTP routes are in `routes::widget`.

pub(crate) mod limits;
pub(crate) mod quota;
pub(crate) mod session;
pub(crate) mod transcript;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};
use switchboard_channel::Capabilities;

use super::{Built, ChannelEntry, ChannelKind, Channels, SettingsError};
use crate::config::Settings;
use crate::db::types::{ChannelType, Verification};
use crate::realtime::visitors::VisitorEvent;
use crate::store::inboxes::Inbox;

/// The home of widget inboxes.
pub(crate) struct WidgetKind;

impl ChannelKind for WidgetKind {
    fn channel_type(&self) -> ChannelType {
        ChannelType::Widget
    }

    fn capabilities(&self) -> Capabilities {
        switchboard_widget::CAPABILITIES
    }

    fn setting_keys(&self) -> &'static [&'static str] {
        &SETTING_KEYS
    }

    fn check_setting(&self, key: &str, value: &Value) -> Result<(), SettingsError> {
        check_setting(key, value)
    }

    /// A new widget needs the origins of the pages that embed it, and gets its public key.
    fn prepare_new(
        &self,
        settings: &mut Map<String, Value>,
        _secrets: &mut Map<String, Value>,
        _hub: &Settings,
    ) -> Result<(), SettingsError> {
        if !settings.contains_key("allowed_origins") {
            return Err(SettingsError::new(
                "settings.allowed_origins",
                "is required: the origins (like \"https://shop.example\") whose pages may embed the widget",
            ));
        }
        settings.insert(
            "public_key".into(),
            Value::String(crate::auth::new_secret("sbwk_")),
        );
        Ok(())
    }

    fn embed(&self, inbox: &Inbox, public_url: &str) -> Option<String> {
        let settings = inbox.settings_json();
        let key = settings.get("public_key").and_then(Value::as_str)?;
        Some(switchboard_widget::snippet(
            public_url.trim_end_matches('/'),
            key,
        ))
    }

    fn build(&self, inbox: &Inbox, _hub: &Settings) -> Result<Built, String> {
        Ok(Built {
            adapter: Arc::new(WidgetChannel),
            poller: None,
            // A visitor is who their browser's token says; an HMAC-verified identity is
            // recorded separately (verification `hmac`).
            verification: Verification::Unverified,
            config: Some(Arc::new(WidgetConfig::from_inbox(inbox)?)),
        })
    }
}

/// The running widget inbox with this public key, and its settings.
pub(crate) fn find(
    channels: &Channels,
    public_key: &str,
) -> Option<(Arc<ChannelEntry>, Arc<WidgetConfig>)> {
    let entry = channels.find(|e| {
        e.config::<WidgetConfig>()
            .is_some_and(|w| w.public_key == public_key)
    })?;
    let config = entry.config::<WidgetConfig>()?;
    Some((entry, config))
}

/// How a pre-chat field is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Ask {
    Off,
    Optional,
    Required,
}

impl Ask {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// One widget inbox's settings, read once when its channel starts.
#[derive(Debug, Clone)]
pub(crate) struct WidgetConfig {
    pub(crate) inbox_id: i64,
    /// The public key in the embed snippet.
    pub(crate) public_key: String,
    /// Origins (`https://shop.example`) whose pages may use the widget; `*` allows any.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) title: String,
    pub(crate) greeting: String,
    pub(crate) colour: String,
    pub(crate) position: &'static str,
    pub(crate) avatar_url: Option<String>,
    pub(crate) prechat_name: Ask,
    pub(crate) prechat_email: Ask,
    pub(crate) away_message: String,
    /// Whether `identify` must carry a valid `identifier_hash`.
    pub(crate) verification: Ask,
    /// The HMAC key for `identifier_hash` (the inbox secret).
    pub(crate) secret: String,
    /// The email inbox that mails visitors their transcript on request (`None`: not offered).
    pub(crate) transcript_inbox_id: Option<i64>,
}

/// Setting keys of widget inboxes admins may send.
const SETTING_KEYS: [&str; 11] = [
    "allowed_origins",
    "title",
    "greeting",
    "colour",
    "position",
    "avatar_url",
    "prechat_name",
    "prechat_email",
    "away_message",
    "verification",
    "transcript_inbox_id",
];

/// Checks one widget setting as an admin sent it.
fn check_setting(key: &str, value: &Value) -> Result<(), SettingsError> {
    let field = format!("settings.{key}");
    let text = |max: usize| -> Result<&str, SettingsError> {
        let text = value
            .as_str()
            .ok_or_else(|| SettingsError::new(&field, "must be a string"))?;
        if text.chars().count() > max {
            return Err(SettingsError::new(
                &field,
                format!("must be at most {max} characters"),
            ));
        }
        Ok(text)
    };
    match key {
        "allowed_origins" => {
            let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                SettingsError::new(
                    &field,
                    "must be a non-empty list of origins like \"https://shop.example\" (or \"*\")",
                )
            })?;
            for origin in list {
                let origin = origin
                    .as_str()
                    .ok_or_else(|| SettingsError::new(&field, "origins must be strings"))?;
                normalize_origin(origin).ok_or_else(|| {
                    SettingsError::new(
                        &field,
                        format!("{origin:?} is not an origin like \"https://shop.example\""),
                    )
                })?;
            }
        }
        "title" => {
            text(80)?;
        }
        "greeting" | "away_message" => {
            text(500)?;
        }
        "colour" => {
            let colour = text(7)?;
            let hex = colour.strip_prefix('#').unwrap_or_default();
            if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(SettingsError::new(
                    &field,
                    "must be a colour like \"#1f6feb\"",
                ));
            }
        }
        "position" => {
            if !matches!(text(5)?, "right" | "left") {
                return Err(SettingsError::new(&field, "must be \"right\" or \"left\""));
            }
        }
        "avatar_url" => {
            if !value.is_null() {
                let url = url::Url::parse(text(2000)?)
                    .map_err(|e| SettingsError::new(&field, format!("is not a URL: {e}")))?;
                if !matches!(url.scheme(), "https" | "http") {
                    return Err(SettingsError::new(&field, "must be an http(s) URL"));
                }
            }
        }
        "transcript_inbox_id" => {
            let ok = value.is_null()
                || value
                    .as_str()
                    .is_some_and(|id| id.parse::<i64>().is_ok_and(|n| n > 0));
            if !ok {
                return Err(SettingsError::new(
                    &field,
                    "must be the id of an email inbox, or null to offer no transcripts",
                ));
            }
        }
        "prechat_name" | "prechat_email" | "verification" => {
            Ask::parse(text(10)?).ok_or_else(|| {
                SettingsError::new(&field, "must be \"off\", \"optional\" or \"required\"")
            })?;
        }
        _ => {
            return Err(SettingsError::new(
                &field,
                "is not a setting of widget inboxes",
            ));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` in lowercase without a trailing slash, or `*`; `None` when the
/// text is not an origin.
fn normalize_origin(text: &str) -> Option<String> {
    if text == "*" {
        return Some("*".into());
    }
    let url = url::Url::parse(text).ok()?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !bare {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

impl WidgetConfig {
    /// Reads a stored widget inbox.
    fn from_inbox(inbox: &Inbox) -> Result<Self, String> {
        let settings = inbox.settings_json();
        let text = |key: &str| settings.get(key).and_then(Value::as_str);
        let ask = |key: &str, default: Ask| text(key).and_then(Ask::parse).unwrap_or(default);
        let public_key = text("public_key")
            .ok_or("the widget inbox has no public key")?
            .to_owned();
        let allowed_origins = settings
            .get("allowed_origins")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(normalize_origin)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            inbox_id: inbox.id,
            public_key,
            allowed_origins,
            title: text("title").unwrap_or(&inbox.name).to_owned(),
            greeting: text("greeting")
                .unwrap_or("Hi! How can we help you today?")
                .to_owned(),
            colour: text("colour").unwrap_or("#1f6feb").to_owned(),
            position: if text("position") == Some("left") {
                "left"
            } else {
                "right"
            },
            avatar_url: text("avatar_url").map(str::to_owned),
            prechat_name: ask("prechat_name", Ask::Off),
            prechat_email: ask("prechat_email", Ask::Off),
            away_message: text("away_message")
                .unwrap_or(
                    "We're away right now. Leave a message and we'll answer as soon as we can.",
                )
                .to_owned(),
            verification: ask("verification", Ask::Optional),
            secret: inbox.secret("secret").ok_or("the inbox has no secret")?,
            transcript_inbox_id: text("transcript_inbox_id").and_then(|id| id.parse().ok()),
        })
    }

    /// Whether a page of `origin` (the request's `Origin` header) may use this widget.
    pub(crate) fn allows(&self, origin: Option<&str>) -> bool {
        if self.allowed_origins.iter().any(|o| o == "*") {
            return true;
        }
        let Some(origin) = origin.and_then(normalize_origin) else {
            return false;
        };
        self.allowed_origins.contains(&origin)
    }
}

/// The key that signs visitor tokens, derived from the hub's secret so tokens survive
/// restarts and die with a new secret.
pub(crate) fn token_key(state: &crate::state::AppState) -> [u8; 32] {
    state.secret.sign("widget-visitor-token-key", b"")
}

/// Whether the inbox is within its business hours and any of its agents is online now
/// (the widget shows its away message else).
pub(crate) async fn agents_online(
    state: &crate::state::AppState,
    inbox_id: i64,
) -> Result<bool, crate::db::StoreError> {
    Ok(state.hub.sla.is_open(inbox_id)
        && inbox_online(&state.db, &state.hub.presence, inbox_id).await?)
}

async fn inbox_online(
    db: &crate::db::Database,
    presence: &crate::actors::presence::Presence,
    inbox_id: i64,
) -> Result<bool, crate::db::StoreError> {
    let online: HashSet<i64> = presence.online().into_iter().collect();
    if online.is_empty() {
        return Ok(false);
    }
    let conn = &mut db.reader().await?;
    let members = crate::store::inboxes::member_ids(conn, inbox_id).await?;
    Ok(members.iter().any(|id| online.contains(id)))
}

/// Tells visitor sockets when their inbox gets or loses an online agent, or opens or
/// closes by its business hours: one check per inbox with open sockets after each burst of
/// presence changes (not one per socket), and once a minute for the hours; only changes
/// are sent.
pub(crate) async fn watch_presence(
    events: Arc<crate::realtime::EventHub>,
    presence: Arc<crate::actors::presence::Presence>,
    sla: Arc<crate::sla::Sla>,
    db: crate::db::Database,
) {
    let mut told: std::collections::HashMap<i64, bool> = std::collections::HashMap::new();
    loop {
        let changed = tokio::select! {
            () = events.visitors.presence.notified() => true,
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => false,
        };
        if changed {
            // Agents come and go in bursts (a shift starting): one round for the burst.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let inboxes = events.visitors.inboxes();
        told.retain(|id, _| inboxes.contains(id));
        for inbox_id in inboxes {
            let online = match inbox_online(&db, &presence, inbox_id).await {
                Ok(online) => online && sla.is_open(inbox_id),
                Err(error) => {
                    tracing::warn!(%error, inbox_id, "cannot check agents' presence");
                    continue;
                }
            };
            if !changed && told.get(&inbox_id) == Some(&online) {
                continue;
            }
            told.insert(inbox_id, online);
            events.visitors.to_inbox(
                inbox_id,
                VisitorEvent::Presence {
                    agents_online: online,
                },
            );
        }
    }
}

/// The widget channel: visitors write through `/widget/ws` (not webhooks), and replies
/// reach them through the visitors' registry as soon as they are stored, so "sending" only records
/// that the reply left; the browser reports delivered and read.
struct WidgetChannel;

impl switchboard_channel::Channel for WidgetChannel {
    fn capabilities(&self) -> Capabilities {
        switchboard_widget::CAPABILITIES
    }

    fn parse_inbound(
        &self,
        _: &switchboard_channel::InboundRequest<'_>,
    ) -> Result<Vec<switchboard_channel::InboundEvent>, switchboard_channel::InboundError> {
        Err(switchboard_channel::InboundError::Unauthorized(
            "widget visitors write through /widget/ws, not webhooks".into(),
        ))
    }

    fn send<'a>(
        &'a self,
        _: &'a switchboard_channel::OutboundMessage,
    ) -> switchboard_channel::BoxFuture<
        'a,
        Result<switchboard_channel::SendReceipt, switchboard_channel::ChannelError>,
    > {
        Box::pin(async { Ok(switchboard_channel::SendReceipt::default()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_checked() {
        assert_eq!(
            normalize_origin("https://Shop.Example").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(normalize_origin("https://shop.example/path"), None);
        assert_eq!(normalize_origin("ftp://shop.example"), None);
        assert_eq!(normalize_origin("null"), None);
        assert!(check_setting("allowed_origins", &serde_json::json!([])).is_err());
        assert!(
            check_setting("allowed_origins", &serde_json::json!(["https://a.example"])).is_ok()
        );
        assert!(check_setting("colour", &serde_json::json!("#12ab9F")).is_ok());
        assert!(check_setting("colour", &serde_json::json!("red")).is_err());
        assert!(check_setting("prechat_email", &serde_json::json!("required")).is_ok());
        assert!(check_setting("prechat_email", &serde_json::json!("yes")).is_err());
        assert!(check_setting("bot_token", &serde_json::json!("x")).is_err());
    }
}
