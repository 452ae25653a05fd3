//! How stored records look in the API and in realtime events: one representation for
//! both, so a client can apply an event exactly like a fresh REST read.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::db::types::{
    ChannelType, ConversationKind, ConversationStatus, DeliveryStatus, Direction, Priority,
    SenderType, Verification,
};
use crate::store::contacts::{Contact, Identity};
use crate::store::conversations::{Conversation, Message, MessageDetails};

/// Serde helper: a stored integer id as a string (ids are strings outside the hub).
pub(crate) fn id_string<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Serde helper for `Option<i64>` ids.
pub(crate) fn opt_id_string<S: serde::Serializer>(
    id: &Option<i64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// Stored times are naive UTC; the API always shows them with their zone.
pub(crate) fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(at, Utc)
}

fn opt_utc(at: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    at.map(utc)
}

/// A message as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    #[serde(serialize_with = "id_string")]
    pub conversation_id: i64,
    #[serde(serialize_with = "opt_id_string")]
    pub inbox_id: Option<i64>,
    pub seq: i64,
    pub direction: Direction,
    pub sender_type: SenderType,
    #[serde(serialize_with = "opt_id_string")]
    pub sender_id: Option<i64>,
    /// The person in a group conversation who wrote an inbound message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub content: String,
    pub content_type: String,
    pub private: bool,
    #[serde(serialize_with = "opt_id_string")]
    pub reply_to_id: Option<i64>,
    pub external_id: Option<String>,
    /// Delivery progress of a reply (`null` for inbound messages and notes).
    pub status: Option<DeliveryStatus>,
    /// Why a reply failed, or why it is waiting for a retry.
    pub error: Option<ErrorView>,
    pub attachments: Vec<AttachmentView>,
    pub provider_at: Option<DateTime<Utc>>,
    pub edited_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Quote, forward origin, topic and author id, when the channel told them.
    #[serde(flatten)]
    pub details: MessageDetails,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    pub code: Option<String>,
    pub reason: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            inbox_id: m.inbox_id,
            seq: m.seq,
            direction: m.direction,
            sender_type: m.sender_type,
            sender_id: m.sender_id,
            author: m.author.clone(),
            content: m.content.clone(),
            content_type: m.content_type.clone(),
            private: m.private,
            reply_to_id: m.reply_to_id,
            // One field for clients: the customer's message id, or our reply's provider id.
            external_id: m
                .external_id
                .clone()
                .or_else(|| m.provider_message_id.clone()),
            status: m.delivery_status,
            error: m.error_reason.clone().map(|reason| ErrorView {
                code: m.error_code.clone(),
                reason,
            }),
            attachments: crate::store::attachments::parse_meta(&m.attachments)
                .iter()
                .map(AttachmentView::from)
                .collect(),
            provider_at: opt_utc(m.provider_at),
            edited_at: opt_utc(m.edited_at),
            created_at: utc(m.created_at),
            details: MessageDetails::parse(m.details.as_deref()),
        }
    }
}

/// A file on a message. The URLs are the hub's stable, authenticated addresses (paths
/// under the hub's public URL): each answers with a redirect to a short-lived signed
/// download URL, so events kept for replay never carry an expired link.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    pub file_name: String,
    pub content_type: String,
    pub byte_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub url: String,
    /// Thumbnails (200 px and 800 px boxes) once made; images only.
    pub thumbnail_url: Option<String>,
    pub thumbnail_large_url: Option<String>,
}

impl From<&crate::store::attachments::AttachmentMeta> for AttachmentView {
    fn from(a: &crate::store::attachments::AttachmentMeta) -> Self {
        let base = format!("/api/v1/attachments/{}", a.id);
        Self {
            id: a.id,
            file_name: a.file_name.clone(),
            content_type: a.content_type.clone(),
            byte_size: a.byte_size,
            width: a.width,
            height: a.height,
            url: format!("{base}/download"),
            thumbnail_url: a.thumbnail.then(|| format!("{base}/thumbnail?size=small")),
            thumbnail_large_url: a.thumbnail.then(|| format!("{base}/thumbnail?size=large")),
        }
    }
}

/// A conversation as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    pub kind: ConversationKind,
    #[serde(serialize_with = "opt_id_string")]
    pub inbox_id: Option<i64>,
    #[serde(serialize_with = "opt_id_string")]
    pub contact_id: Option<i64>,
    pub subject: Option<String>,
    pub status: ConversationStatus,
    pub priority: Priority,
    #[serde(serialize_with = "opt_id_string")]
    pub assignee_id: Option<i64>,
    #[serde(serialize_with = "opt_id_string")]
    pub team_id: Option<i64>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Seq of the newest message.
    pub last_seq: i64,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Since when the customer waits for an answer (`null` when answered, resolved or closed),
    /// so a list can say how long someone has waited.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Present in REST answers; events leave them out (`null`) as they are per agent.
    pub labels: Option<Vec<String>>,
    pub unread_count: Option<i64>,
    /// The contact's name, in REST answers (so a list shows who wrote without one request
    /// per row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    /// The latest message in short, in REST answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessageView>,
    /// The SLA target due soonest, in REST answers while one runs or is paused (events
    /// carry it as `conversation.sla`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<crate::sla::SlaBadge>,
    /// The customer's latest satisfaction answer (lists and detail; `None` elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat: Option<CsatView>,
}

/// A conversation's latest message, shortened for lists.
#[derive(Debug, Clone, Serialize)]
pub struct LastMessageView {
    /// At most 140 characters.
    pub content: String,
    pub direction: Direction,
    pub private: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Conversation> for ConversationView {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            inbox_id: c.inbox_id,
            contact_id: c.contact_id,
            subject: c.subject.clone(),
            status: c.status,
            priority: c.priority,
            assignee_id: c.assignee_id,
            team_id: c.team_id,
            snoozed_until: opt_utc(c.snoozed_until),
            first_response_at: opt_utc(c.first_response_at),
            resolved_at: opt_utc(c.resolved_at),
            last_seq: c.last_seq,
            last_activity_at: utc(c.last_activity_at),
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
            waiting_since: c.waiting_since.filter(|_| c.is_active()).map(utc),
            labels: None,
            unread_count: None,
            contact_name: None,
            last_message: None,
            sla: None,
            csat: None,
        }
    }
}

/// A satisfaction answer as agents see it.
#[derive(Debug, Clone, Serialize)]
pub struct CsatView {
    /// 1 to 5 (thumbs: 1 down, 5 up).
    pub rating: i64,
    pub scale: String,
    pub comment: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl From<&crate::store::csat::Survey> for CsatView {
    fn from(s: &crate::store::csat::Survey) -> Self {
        Self {
            rating: s.rating.unwrap_or_default(),
            scale: s.scale.clone(),
            comment: s.comment.clone(),
            answered_at: s.answered_at.map(utc),
        }
    }
}

/// A contact with its identities.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ContactView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub avatar_url: Option<String>,
    pub attributes: serde_json::Value,
    pub identities: Option<Vec<IdentityView>>,
    /// In lists: the channels they wrote on, their conversations and latest activity (over
    /// the inboxes the caller sees).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id,
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            language: c.language.clone(),
            avatar_url: c.avatar_url.clone(),
            attributes: serde_json::from_str(&c.attributes)
                .unwrap_or_else(|_| serde_json::json!({})),
            identities: None,
            channels: None,
            conversations_count: None,
            last_activity_at: None,
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdentityView {
    #[serde(serialize_with = "id_string")]
    pub inbox_id: i64,
    pub channel_type: ChannelType,
    pub identifier: String,
    pub verification: Verification,
    /// What the channel tells about this identity (a Telegram username, first and last name).
    pub profile: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Since when the customer has blocked the channel (a Telegram bot); replies cannot
    /// reach them until they unblock it.
    pub blocked_at: Option<DateTime<Utc>>,
}

impl From<&Identity> for IdentityView {
    fn from(i: &Identity) -> Self {
        Self {
            inbox_id: i.inbox_id,
            channel_type: i.channel_type,
            identifier: i.identifier.clone(),
            verification: i.verification,
            profile: serde_json::from_str(&i.profile)
                .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new())),
            created_at: utc(i.created_at),
            blocked_at: opt_utc(i.blocked_at),
        }
    }
}

/// A notification as its agent sees it (REST and `notification.created`).
#[derive(Debug, Clone, Serialize)]
pub struct NotificationView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    /// `assigned`, `mention`, `message`, `sla_warning` or `sla_breach`.
    pub kind: String,
    #[serde(serialize_with = "opt_id_string")]
    pub conversation_id: Option<i64>,
    #[serde(serialize_with = "opt_id_string")]
    pub actor_id: Option<i64>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<&crate::store::notifications::Notification> for NotificationView {
    fn from(n: &crate::store::notifications::Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind.clone(),
            conversation_id: n.conversation_id,
            actor_id: n.actor_id,
            body: n.body.clone(),
            created_at: utc(n.created_at),
            read_at: n.read_at.map(utc),
        }
    }
}
