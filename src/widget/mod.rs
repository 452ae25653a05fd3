//! The web chat widget in the hub: each widget inbox's settings (looks, pre-chat form,
//! allowed origins, identity verification), the registry that carries agents' replies to
//! visitors' open sockets, and the rate limits of visitors.
//!
//! The protocol itself (frames, tokens, HMAC) is the pure `switchboard-widget` crate; the
//! HTTP routes are in `routes::widget`, the socket's session actor in [`session`].

pub mod session;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::store::conversations::Message;

/// How a pre-chat field is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ask {
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
pub struct WidgetConfig {
    pub inbox_id: i64,
    /// The public key in the embed snippet.
    pub public_key: String,
    /// Origins (`https://shop.example`) whose pages may use the widget; `*` allows any.
    pub allowed_origins: Vec<String>,
    pub title: String,
    pub greeting: String,
    pub colour: String,
    pub position: &'static str,
    pub avatar_url: Option<String>,
    pub prechat_name: Ask,
    pub prechat_email: Ask,
    pub away_message: String,
    /// Whether `identify` must carry a valid `identifier_hash`.
    pub verification: Ask,
    /// The HMAC key for `identifier_hash` (the inbox secret).
    pub secret: String,
}

/// Setting keys of widget inboxes admins may send.
pub const SETTING_KEYS: [&str; 10] = [
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
];

/// Checks one widget setting as an admin sent it.
pub fn check_setting(key: &str, value: &Value) -> Result<(), ApiError> {
    let field = format!("settings.{key}");
    let text = |max: usize| -> Result<&str, ApiError> {
        let text = value
            .as_str()
            .ok_or_else(|| ApiError::invalid(&field, "must be a string"))?;
        if text.chars().count() > max {
            return Err(ApiError::invalid(
                &field,
                format!("must be at most {max} characters"),
            ));
        }
        Ok(text)
    };
    match key {
        "allowed_origins" => {
            let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                ApiError::invalid(
                    &field,
                    "must be a non-empty list of origins like \"https://shop.example\" (or \"*\")",
                )
            })?;
            for origin in list {
                let origin = origin
                    .as_str()
                    .ok_or_else(|| ApiError::invalid(&field, "origins must be strings"))?;
                normalize_origin(origin).ok_or_else(|| {
                    ApiError::invalid(
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
                return Err(ApiError::invalid(
                    &field,
                    "must be a colour like \"#1f6feb\"",
                ));
            }
        }
        "position" => {
            if !matches!(text(5)?, "right" | "left") {
                return Err(ApiError::invalid(&field, "must be \"right\" or \"left\""));
            }
        }
        "avatar_url" => {
            if !value.is_null() {
                let url = url::Url::parse(text(2000)?)
                    .map_err(|e| ApiError::invalid(&field, format!("is not a URL: {e}")))?;
                if !matches!(url.scheme(), "https" | "http") {
                    return Err(ApiError::invalid(&field, "must be an http(s) URL"));
                }
            }
        }
        "prechat_name" | "prechat_email" | "verification" => {
            Ask::parse(text(10)?).ok_or_else(|| {
                ApiError::invalid(&field, "must be \"off\", \"optional\" or \"required\"")
            })?;
        }
        _ => {
            return Err(ApiError::invalid(
                &field,
                "is not a setting of widget inboxes",
            ));
        }
    }
    Ok(())
}

/// `scheme://host[:port]` in lowercase without a trailing slash, or `*`; `None` when the
/// text is not an origin.
pub fn normalize_origin(text: &str) -> Option<String> {
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
    pub fn from_inbox(inbox: &crate::store::inboxes::Inbox) -> Result<Self, String> {
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
        })
    }

    /// Whether a page of `origin` (the request's `Origin` header) may use this widget.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        if self.allowed_origins.iter().any(|o| o == "*") {
            return true;
        }
        let Some(origin) = origin.and_then(normalize_origin) else {
            return false;
        };
        self.allowed_origins.contains(&origin)
    }
}

/// Fills in what a new widget inbox needs besides the admin's settings: its public key.
pub fn new_inbox_settings(settings: &mut Map<String, Value>) -> Result<(), ApiError> {
    if !settings.contains_key("allowed_origins") {
        return Err(ApiError::invalid(
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

/// The key that signs visitor tokens, derived from the hub's secret so tokens survive
/// restarts and die with a new secret.
pub fn token_key(state: &crate::startup::AppState) -> [u8; 32] {
    state.secret.sign("widget-visitor-token-key", b"")
}

/// Whether any agent of the inbox is online now (the widget shows its away message else).
pub async fn agents_online(
    state: &crate::startup::AppState,
    inbox_id: i64,
) -> Result<bool, crate::db::StoreError> {
    inbox_online(&state.db, &state.hub.presence, inbox_id).await
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

/// Tells visitor sockets when their inbox gets or loses an online agent: one check per
/// inbox with open sockets after each burst of presence changes (not one per socket).
pub async fn watch_presence(
    events: Arc<crate::realtime::EventHub>,
    presence: Arc<crate::actors::presence::Presence>,
    db: crate::db::Database,
) {
    loop {
        events.visitors.presence.notified().await;
        // Agents come and go in bursts (a shift starting): one round for the burst.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        for inbox_id in events.visitors.inboxes() {
            match inbox_online(&db, &presence, inbox_id).await {
                Ok(online) => events.visitors.to_inbox(
                    inbox_id,
                    VisitorEvent::Presence {
                        agents_online: online,
                    },
                ),
                Err(error) => tracing::warn!(%error, inbox_id, "cannot check agents' presence"),
            }
        }
    }
}

/// The widget channel: visitors write through `/widget/ws` (not webhooks), and replies
/// reach them through [`Visitors`] as soon as they are stored, so "sending" only records
/// that the reply left; the browser reports delivered and read.
pub struct WidgetChannel;

impl switchboard_channel::Channel for WidgetChannel {
    fn capabilities(&self) -> switchboard_channel::Capabilities {
        switchboard_channel::Capabilities {
            receipts: true,
            typing: true,
            edits: false,
            media: true,
            ..switchboard_channel::Capabilities::default()
        }
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

/// What reaches a visitor's socket from the rest of the hub.
#[derive(Debug, Clone)]
pub enum VisitorEvent {
    /// A message of the visitor's conversation was stored (`created`) or changed.
    Message {
        message: Arc<Message>,
        created: bool,
    },
    /// An agent started or stopped typing.
    Typing { agent_id: i64, on: bool },
    /// An agent read the conversation up to this seq.
    Read { up_to: i64 },
    /// Whether an agent of the inbox is online now.
    Presence { agents_online: bool },
    /// The visitor's conversation or contact changed (identify joined another contact):
    /// the socket closes so the browser reconnects and loads the right conversation.
    Resume,
}

/// A visitor across tabs: the inbox and the visitor id of their token.
pub type VisitorKey = (i64, String);

struct Session {
    visitor: VisitorKey,
    tx: mpsc::Sender<VisitorEvent>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<u64, Session>,
    by_visitor: HashMap<VisitorKey, HashSet<u64>>,
    conversation_of: HashMap<VisitorKey, i64>,
    visitors_of: HashMap<i64, HashSet<VisitorKey>>,
    next: u64,
}

/// Open widget sockets by visitor and by conversation, so a reply reaches every tab of
/// the visitor. Delivery never waits: a session whose buffer is full is cut off, and its
/// socket closes so the browser reconnects and resumes from its last seq (the store is
/// the source of truth, so nothing is lost).
#[derive(Default)]
pub struct Visitors {
    inner: Mutex<Inner>,
    /// Woken when agents' presence changes (see [`watch_presence`]).
    pub presence: tokio::sync::Notify,
}

/// Events buffered per visitor socket.
pub const SESSION_BUFFER: usize = 64;

impl Visitors {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket of a visitor; its events arrive on the receiver.
    pub fn join(&self, visitor: VisitorKey) -> (u64, mpsc::Receiver<VisitorEvent>) {
        let (tx, rx) = mpsc::channel(SESSION_BUFFER);
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner
            .by_visitor
            .entry(visitor.clone())
            .or_default()
            .insert(id);
        inner.sessions.insert(id, Session { visitor, tx });
        (id, rx)
    }

    /// Forgets a socket (closed); the visitor's binding goes with their last socket.
    pub fn leave(&self, session: u64) {
        let mut inner = self.lock();
        let Some(gone) = inner.sessions.remove(&session) else {
            return;
        };
        let last = match inner.by_visitor.get_mut(&gone.visitor) {
            Some(set) => {
                set.remove(&session);
                set.is_empty()
            }
            None => true,
        };
        if last {
            inner.by_visitor.remove(&gone.visitor);
            if let Some(conversation) = inner.conversation_of.remove(&gone.visitor)
                && let Some(set) = inner.visitors_of.get_mut(&conversation)
            {
                set.remove(&gone.visitor);
                if set.is_empty() {
                    inner.visitors_of.remove(&conversation);
                }
            }
        }
    }

    /// The visitor's conversation is `conversation_id` from now on (all their tabs).
    pub fn bind(&self, visitor: &VisitorKey, conversation_id: i64) {
        let mut inner = self.lock();
        if !inner.by_visitor.contains_key(visitor) {
            return;
        }
        if let Some(old) = inner
            .conversation_of
            .insert(visitor.clone(), conversation_id)
            && old != conversation_id
            && let Some(set) = inner.visitors_of.get_mut(&old)
        {
            set.remove(visitor);
            if set.is_empty() {
                inner.visitors_of.remove(&old);
            }
        }
        inner
            .visitors_of
            .entry(conversation_id)
            .or_default()
            .insert(visitor.clone());
    }

    /// Hands an event to every socket of the visitor.
    pub fn to_visitor(&self, visitor: &VisitorKey, event: VisitorEvent) {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .by_visitor
            .get(visitor)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        deliver(&mut inner, &ids, &event);
    }

    /// Hands an event to every visitor socket of a conversation.
    pub fn to_conversation(&self, conversation_id: i64, event: VisitorEvent) {
        let mut inner = self.lock();
        let Some(visitors) = inner.visitors_of.get(&conversation_id) else {
            return;
        };
        let ids: Vec<u64> = visitors
            .iter()
            .filter_map(|v| inner.by_visitor.get(v))
            .flatten()
            .copied()
            .collect();
        deliver(&mut inner, &ids, &event);
    }

    /// A message was stored or changed: visitors see everything but private notes.
    pub fn message(&self, message: &Message, created: bool) {
        if message.private || message.direction == crate::db::types::Direction::Internal {
            return;
        }
        let event = VisitorEvent::Message {
            message: Arc::new(message.clone()),
            created,
        };
        self.to_conversation(message.conversation_id, event);
    }

    /// Agents' presence changed: [`watch_presence`] re-checks the inboxes with sockets.
    pub fn presence_changed(&self) {
        self.presence.notify_one();
    }

    /// Inboxes with open visitor sockets.
    pub fn inboxes(&self) -> HashSet<i64> {
        self.lock()
            .by_visitor
            .keys()
            .map(|(inbox, _)| *inbox)
            .collect()
    }

    /// Hands an event to every visitor socket of an inbox.
    pub fn to_inbox(&self, inbox_id: i64, event: VisitorEvent) {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.visitor.0 == inbox_id)
            .map(|(id, _)| *id)
            .collect();
        deliver(&mut inner, &ids, &event);
    }

    /// Open visitor sockets (for metrics and the benchmark).
    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }
}

fn deliver(inner: &mut Inner, ids: &[u64], event: &VisitorEvent) {
    for id in ids {
        let Some(session) = inner.sessions.get_mut(id) else {
            continue;
        };
        if session.tx.is_closed() {
            continue;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = session.tx.try_send(event.clone()) {
            // Presence hints may be dropped; anything else means the socket must resume.
            if !matches!(event, VisitorEvent::Presence { .. }) {
                let (closed, _) = mpsc::channel(1);
                session.tx = closed;
            }
        }
    }
}

/// Visitors' rate limits: per visitor (20 messages a minute, bursts of 10) and per client
/// address (60 a minute), so one page cannot flood the inbox.
pub struct VisitorLimits {
    per_visitor: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
    sessions_per_ip: DefaultKeyedRateLimiter<String>,
}

impl Default for VisitorLimits {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            per_visitor: RateLimiter::keyed(Quota::per_minute(n(20)).allow_burst(n(10))),
            per_ip: RateLimiter::keyed(Quota::per_minute(n(60)).allow_burst(n(30))),
            sessions_per_ip: RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(30))),
        }
    }
}

impl VisitorLimits {
    /// Whether one more message from this visitor and address is allowed now.
    pub fn message(&self, visitor_id: &str, ip: &str) -> bool {
        self.tidy();
        self.per_visitor.check_key(&visitor_id.to_owned()).is_ok()
            && self.per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this address may start one more visitor session now.
    pub fn session(&self, ip: &str) -> bool {
        self.tidy();
        self.sessions_per_ip.check_key(&address_key(ip)).is_ok()
    }

    fn tidy(&self) {
        if self.per_visitor.len() > 100_000 || self.per_ip.len() > 100_000 {
            self.per_visitor.retain_recent();
            self.per_ip.retain_recent();
            self.sessions_per_ip.retain_recent();
        }
    }
}

/// The key an address is limited under: the address for IPv4, its /64 network for IPv6 (one
/// subscriber's whole range, which they can rotate through at will).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_limited_per_64_network() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key(""), "");
    }

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

    #[test]
    fn a_full_socket_is_cut_off_and_others_still_receive() {
        let visitors = Visitors::default();
        let a: VisitorKey = (1, "a".into());
        let (_, mut slow) = visitors.join(a.clone());
        let (_, mut fast) = visitors.join(a.clone());
        visitors.bind(&a, 7);
        for _ in 0..SESSION_BUFFER {
            visitors.to_conversation(7, VisitorEvent::Read { up_to: 1 });
        }
        while fast.try_recv().is_ok() {}
        visitors.to_conversation(7, VisitorEvent::Read { up_to: 2 });
        assert!(fast.try_recv().is_ok());
        // The slow one got its buffer, then its stream ends: it must resume.
        let mut got = 0;
        while slow.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SESSION_BUFFER);
    }

    #[test]
    fn binding_follows_the_last_socket_of_a_visitor() {
        let visitors = Visitors::default();
        let a: VisitorKey = (1, "a".into());
        let (first, mut rx1) = visitors.join(a.clone());
        let (second, mut rx2) = visitors.join(a.clone());
        visitors.bind(&a, 9);
        visitors.leave(first);
        visitors.to_conversation(9, VisitorEvent::Read { up_to: 3 });
        assert!(rx2.try_recv().is_ok());
        assert!(rx1.try_recv().is_err());
        visitors.leave(second);
        assert_eq!(visitors.count(), 0);
        visitors.to_conversation(9, VisitorEvent::Read { up_to: 4 });
    }
}
