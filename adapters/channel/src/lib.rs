//! The contract every Switchboard channel adapter implements.
//!
//! Adapters speak one provider's protocol (WhatsApp, Telegram, email, the signed API channel…) and
//! nothing else: they turn inbound webhook requests into normalized [`InboundEvent`]s and send
//! [`OutboundMessage`]s, classifying failures as [`ChannelError::Transient`] (retry) or
//! [`ChannelError::Permanent`] (show to the agent). Keeping this crate free of actors, storage and
//! HTTP clients lets every adapter be tested alone against recorded provider payloads.

#![warn(missing_docs)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod json;
mod parts;
mod survey;
mod text;

pub use json::{json_int, json_type};
pub use parts::{Progress, delivered_note};
pub use survey::{
    SurveyAnswer, SurveyChoice, SurveyLink, SurveyRequest, SurveyScale, choice_id, parse_choice_id,
};
pub use text::{error_chain, split_text};

/// Longest wait the hub will honour from a provider's `Retry-After`, so a buggy or hostile value
/// cannot park an outbox entry for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// Who sent an inbound event, as the channel knows them; the hub matches or creates its contact
/// from this, so only `identifier` is guaranteed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactProfile {
    /// The channel's stable id for the person (phone number, chat id, address, integrator id).
    pub identifier: String,
    /// Display name, when the channel shares one.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number, when known.
    #[serde(default)]
    pub phone: Option<String>,
    /// Preferred language tag (e.g. `de`), used to pick reply templates.
    #[serde(default)]
    pub language: Option<String>,
    /// Avatar image URL, shown in the inbox.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Channel-specific details of this identity (a Telegram username, first and last name),
    /// kept on the contact's identity and shown in the inbox.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ContactProfile {
    /// A profile with only the identifier, for channels that know nothing else about the sender.
    pub fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            ..Self::default()
        }
    }
}

/// A file attached to an inbound message, not yet downloaded: the hub fetches and checks it
/// (size, type) separately so parsing stays pure and fast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Provider file id or URL from which the hub can fetch the content.
    pub source: String,
    /// Original file name, when the provider gives one.
    #[serde(default)]
    pub file_name: Option<String>,
    /// MIME type as claimed by the provider (the hub re-checks it).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Size as claimed by the provider, so oversized files can be refused before downloading.
    #[serde(default)]
    pub byte_size: Option<u64>,
    /// The part's `Content-ID` (without brackets) when the message's HTML shows it inline
    /// (`cid:` images in a mail), so the inbox can put the stored file in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The content itself, when it arrived inside the message (a mail's parts): the hub
    /// stores it through the same checks as a download instead of fetching `source`.
    #[serde(skip)]
    pub data: Option<bytes::Bytes>,
}

/// A new message from a customer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's id for the message; unique per channel, it is what makes redelivered
    /// webhooks idempotent.
    pub external_id: String,
    /// Who wrote it.
    pub sender: ContactProfile,
    /// Text content; may be empty when the message only carries attachments.
    pub content: String,
    /// Files sent with the message.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// External id of the message this one answers, so the inbox can show the quote.
    #[serde(default)]
    pub reply_to_external_id: Option<String>,
    /// When the provider says the message was sent; the hub keeps its own receive time too.
    #[serde(default)]
    pub provider_at: Option<DateTime<Utc>>,
    /// Who wrote it when `sender` is a group (a Telegram group chat is one conversation with
    /// many people in it), so the agent sees each person's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The provider's stable id of `author` (a Telegram user id), because display names
    /// change and collide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    /// What the customer answered, as the provider quoted it: kept even when the hub never
    /// stored the original, so the agent still sees what the reply refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// Where a forwarded message came from, so it is not taken for the customer's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<Forward>,
    /// Set when the message arrived only as an edit (the original never reached the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    /// The provider's sub-thread of the chat (a Telegram forum topic); replies go back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Provider-specific facts worth keeping with the message (the ad a WhatsApp customer
    /// clicked, an order's items), shown in the inbox as they are.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Set by channels that thread by reference (email): the message joins the conversation
    /// these keys find, or starts a new one, instead of the contact's open conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadKeys>,
    /// Why a machine, not the customer, wrote this (an out-of-office reply): stored only in a
    /// conversation it threads into, never starting or reopening one, never assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<String>,
    /// What a mail carries besides its text (subject, copies, the full and HTML versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailDetails>,
}

/// How a message finds its conversation on a channel that threads by reference, tried in
/// this order. Every key is one the channel checked: ids are the hub's own (from a signed
/// address or Message-ID), so a forged header cannot reach someone else's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ThreadKeys {
    /// Conversations the channel vouches for (a signed reply address), best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation_ids: Vec<String>,
    /// The hub's own messages this one answers (signed Message-IDs), most recent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ids: Vec<String>,
    /// External ids of earlier inbound messages it answers (In-Reply-To, References).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ids: Vec<String>,
    /// A conversation number the subject carries (`[#42]`): tried last, and only for a
    /// conversation of the same contact, since anyone can type one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
}

/// The parts of a mail the inbox shows besides its text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailDetails {
    /// The subject as the customer wrote it; a new conversation takes it.
    #[serde(default)]
    pub subject: String,
    /// The sender as the mail names them (`Name <address>`): on a thread with several
    /// people, replies copy everyone who wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Addressees besides us (`Name <address>`), kept so replies go to everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Copies (`Name <address>`), kept on the conversation and used for replies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// The whole text, quoted history and signature included (the message shows it stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<String>,
    /// The HTML version, sanitized (no scripts, no remote loads), shown on demand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Remote images the sanitized HTML left out, loaded only when an agent asks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_images: Vec<String>,
    /// The `Content-ID` of each stored file, in the message's file order, so `cid:` images in
    /// the HTML show the stored files (filled by the hub as it keeps them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_ids: Vec<Option<String>>,
}

impl InboundMessage {
    /// A message with the essentials; the rest is filled field by field.
    pub fn new(
        external_id: impl Into<String>,
        sender: ContactProfile,
        content: impl Into<String>,
    ) -> Self {
        Self {
            external_id: external_id.into(),
            sender,
            content: content.into(),
            ..Self::default()
        }
    }
}

/// The quoted part of the message a customer answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quote {
    /// The quoted text (or a description such as "[Photo]" when it had none).
    pub text: String,
    /// Who wrote the quoted message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The origin of a forwarded message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Forward {
    /// Who or what it was forwarded from (a person, a hidden user's name, a chat or channel).
    pub from: String,
    /// When the original was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
}

/// A customer changed the text of a message they sent earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEdit {
    /// External id of the edited message.
    pub external_id: String,
    /// Who edited it (must match the original sender; the hub checks).
    pub sender: ContactProfile,
    /// The new text.
    pub content: String,
    /// When the provider says the edit happened.
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    /// The whole message as it reads after the edit, stored as a new message (marked edited)
    /// when the hub never received the original, so the edit is not lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_message: Option<Box<InboundMessage>>,
}

/// A customer can no longer be reached on this channel (they blocked a Telegram bot), or can
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// Whose reachability changed.
    pub sender: ContactProfile,
    /// `true`: replies cannot be delivered until this changes again.
    pub blocked: bool,
    /// When the provider says it changed.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A customer reacted to a message with an emoji (or took their reaction back), shown on
/// the message rather than as a message of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The provider's id of the reaction itself, so a redelivered webhook applies it once.
    pub external_id: String,
    /// The provider's id of the message reacted to (the customer's or one of our replies).
    pub target_external_id: String,
    /// Who reacted.
    pub sender: ContactProfile,
    /// The emoji; `None` removes the sender's earlier reaction.
    #[serde(default)]
    pub emoji: Option<String>,
    /// When the provider says it happened.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// The customer's id on the channel changed (a new WhatsApp number): their identity follows,
/// so the conversation history stays with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityChange {
    /// The identifier the hub knows them by.
    pub old_identifier: String,
    /// The identifier they use from now on.
    pub new_identifier: String,
    /// When the provider says it changed.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// How far an outbound message got at the provider. Statuses only move forward in the hub
/// (sent → delivered → read; failed is terminal), whatever order providers report them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Accepted by the provider.
    Sent,
    /// Arrived on the customer's device.
    Delivered,
    /// Seen by the customer.
    Read,
    /// The provider gave up; see [`StatusUpdate::error`].
    Failed,
}

impl DeliveryState {
    /// The lowercase wire and database spelling, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the provider failed a message, in its own words, so the agent sees the real reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    /// Provider-specific error code, when it gives one.
    #[serde(default)]
    pub code: Option<String>,
    /// Human-readable reason.
    pub reason: String,
}

/// A delivery status for a message the hub sent earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The provider's id of the outbound message (from its [`SendReceipt`]).
    pub external_id: String,
    /// The new state.
    pub status: DeliveryState,
    /// Failure details; set when `status` is [`DeliveryState::Failed`].
    #[serde(default)]
    pub error: Option<ProviderError>,
    /// When the provider says the state changed.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// The provider's raw status object, kept by the hub for audits.
    pub raw: serde_json::Value,
}

/// A customer started or stopped typing, relayed live to the agents watching the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// Who is typing.
    pub sender: ContactProfile,
    /// `true` when typing started, `false` when it stopped.
    pub on: bool,
}

/// Everything a channel can report inbound, normalized across providers.
// Nearly every event is a message, so boxing the large variant would add an allocation to
// the common case to save bytes on the rare small ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InboundEvent {
    /// A new customer message.
    Message(InboundMessage),
    /// A customer edited a message.
    Edit(MessageEdit),
    /// A delivery status for an outbound message.
    Status(StatusUpdate),
    /// A typing indicator.
    Typing(Typing),
    /// The customer blocked or unblocked the channel.
    Reachability(Reachability),
    /// A customer reacted to a message.
    Reaction(Reaction),
    /// The customer's id on the channel changed.
    IdentityChange(IdentityChange),
    /// The customer answered a satisfaction survey.
    #[serde(rename = "survey_answer")]
    SurveyAnswer(SurveyAnswer),
    /// A provider update the hub does not handle on purpose (a group chat on an inbox that
    /// ignores groups, a service message); counted and logged, nothing stored.
    Skipped {
        /// Why, for the log line.
        reason: String,
    },
    /// A provider update that could not be read at all (no chat, no message id): kept raw so
    /// an admin can see it and replay it once the parser learns it.
    Unreadable {
        /// What was wrong with it.
        reason: String,
        /// The update exactly as received.
        raw: serde_json::Value,
    },
}

/// A file the hub has stored and offers to the provider by URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundAttachment {
    /// The hub's opaque attachment id.
    pub id: String,
    /// File name to show the customer.
    pub file_name: String,
    /// MIME type of the content.
    pub content_type: String,
    /// Size in bytes, for providers with upload limits.
    pub byte_size: u64,
    /// Where the provider (or integrator) can download the content.
    pub url: String,
    /// Pixel width of an image, for previews.
    #[serde(default)]
    pub width: Option<u32>,
    /// Pixel height of an image.
    #[serde(default)]
    pub height: Option<u32>,
    /// A small preview of an image (fits 200×200), when one was made in time.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// The content itself, loaded by the hub only for channels that upload files
    /// ([`Capabilities::uploads_files`]): providers such as Telegram fail on URLs they cannot
    /// reach, and a hub behind a firewall has no URL they can.
    #[serde(skip)]
    pub data: Option<bytes::Bytes>,
}

/// An agent's reply (or note) to deliver through a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The hub's opaque message id, so receivers can dedupe retried deliveries.
    pub message_id: String,
    /// The hub's opaque conversation id.
    pub conversation_id: String,
    /// Text content.
    pub content: String,
    /// Internal note not meant for the customer; only channels that mirror notes see these.
    pub private: bool,
    /// Files to send with the message.
    pub attachments: Vec<OutboundAttachment>,
    /// The customer to deliver to.
    pub recipient: ContactProfile,
    /// External id of the customer message being answered, for threaded replies.
    pub reply_to_external_id: Option<String>,
    /// The provider's sub-thread to answer in (a Telegram forum topic), from the customer's
    /// latest message.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Send this approved template instead of free text (`content` then holds its rendered
    /// text, as the agent saw it): the only thing WhatsApp delivers outside its 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateMessage>,
    /// The conversation's thread as a mail reply needs it (subject, earlier Message-IDs,
    /// copies); filled only for channels that thread by reference
    /// ([`Capabilities::threads_by_reference`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_thread: Option<MailThread>,
    /// Put this satisfaction survey to the customer (`content` holds its question): buttons
    /// where the channel has them, links to the rating page in a mail, a `csat_request` for
    /// an integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyRequest>,
}

/// What a mail reply needs of its conversation to thread in the customer's mail client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailThread {
    /// The conversation's number, shown as `[#42]` in the subject.
    pub number: i64,
    /// The conversation's subject (`Re: ` is added by the channel).
    #[serde(default)]
    pub subject: Option<String>,
    /// Message-IDs of the thread so far, oldest first (customers' and ours).
    #[serde(default)]
    pub references: Vec<String>,
    /// Copies to keep (`Name <address>`): everyone on the thread's mails besides us.
    #[serde(default)]
    pub cc: Vec<String>,
}

/// An approved template with its parameters filled in, as an agent chose it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// The template's name at the provider.
    pub name: String,
    /// Its language code (`en_US`); a template exists once per language.
    pub language: String,
    /// Values for the header's placeholders, in order.
    #[serde(default)]
    pub header: Vec<TemplateParameter>,
    /// Values for the body's placeholders, in order.
    #[serde(default)]
    pub body: Vec<TemplateParameter>,
    /// Values for buttons with a placeholder (a dynamic URL suffix).
    #[serde(default)]
    pub buttons: Vec<TemplateButtonValue>,
}

/// One placeholder's value: positional (`{{1}}`) or named (`{{first_name}}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateParameter {
    /// The placeholder's name for named templates; `None` for positional ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text put in its place.
    pub text: String,
}

/// The value of a button's placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateButtonValue {
    /// The button's position in the template (from 0).
    pub index: u32,
    /// The text put in its placeholder (the URL's dynamic suffix).
    pub text: String,
}

/// A message template as the provider has it approved, for agents to pick and fill.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageTemplate {
    /// The provider's template id.
    #[serde(default)]
    pub id: Option<String>,
    /// The name used to send it.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Review state (`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`...): only approved ones send.
    pub status: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[serde(default)]
    pub category: Option<String>,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`) placeholders.
    #[serde(default)]
    pub parameter_format: Option<String>,
    /// Header text; `None` when there is no header or it is not text.
    #[serde(default)]
    pub header: Option<String>,
    /// Header kind when it is not text (`IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`).
    #[serde(default)]
    pub header_format: Option<String>,
    /// Body text with its placeholders.
    pub body: String,
    /// Footer text.
    #[serde(default)]
    pub footer: Option<String>,
    /// Its buttons, in order.
    #[serde(default)]
    pub buttons: Vec<TemplateButton>,
}

/// One button of a template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateButton {
    /// `QUICK_REPLY`, `URL`, `PHONE_NUMBER`, `COPY_CODE`...
    pub kind: String,
    /// The label.
    pub text: String,
    /// The URL for URL buttons, with a `{{1}}` placeholder when its end is filled per send.
    #[serde(default)]
    pub url: Option<String>,
}

/// What the provider told us about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The provider's id for the sent message when it gives one; later status updates refer to it.
    pub external_id: Option<String>,
}

/// Why a send failed, classified so the outbox knows whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Network error, timeout, 429 or 5xx: retry with backoff, waiting at least `retry_after`
    /// when the provider asked for it.
    #[error("{reason}")]
    Transient {
        /// What went wrong, safe to log and show (never contains secrets).
        reason: String,
        /// How long the provider asked us to wait before trying again.
        retry_after: Option<Duration>,
    },
    /// The provider refused for good (blocked, bad address, window closed): mark the message
    /// failed and show the reason to the agent.
    #[error("{reason}")]
    Permanent {
        /// Provider-specific error code, when known.
        code: Option<String>,
        /// What went wrong, meant for the agent.
        reason: String,
    },
}

impl ChannelError {
    /// Whether the outbox should try again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// The provider's requested wait, if any; always `None` for permanent errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            Self::Permanent { .. } => None,
        }
    }
}

/// Why an inbound webhook was refused; the message is precise enough to show to the integrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Missing or wrong signature/secret; answer HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The payload does not follow the channel's format; answer HTTP 400. The message names
    /// the location, e.g. `events[2].contact.identifier: must not be empty`.
    #[error("{0}")]
    Malformed(String),
    /// The payload is for an account this inbox is not (another WhatsApp number); answer
    /// HTTP 404 so the misrouting shows in the provider's dashboard.
    #[error("{0}")]
    UnknownAccount(String),
}

/// The answer to a provider's subscription check (WhatsApp's `GET` with `hub.challenge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// The channel has no such check: the hub answers 405.
    Unsupported,
    /// Verified: answer 200 with this body, exactly.
    Accepted(String),
    /// Wrong token or mode: answer 403 with this reason.
    Refused(String),
}

/// What a channel supports, so the inbox only offers what will actually work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Reports delivery/read statuses.
    pub receipts: bool,
    /// Reports typing indicators.
    pub typing: bool,
    /// Reports message edits.
    pub edits: bool,
    /// Carries attachments.
    pub media: bool,
    /// Wants reply files as bytes ([`OutboundAttachment::data`]) to upload, not as URLs.
    pub uploads_files: bool,
    /// A file the hub refuses (too large, a disallowed type) becomes a note in the message
    /// instead of refusing the whole webhook: the provider cannot change the file and would
    /// only resend it, holding up everything behind it.
    pub notes_refused_files: bool,
    /// Free-form replies are only delivered within this many seconds of the customer's last
    /// message (WhatsApp: 24 hours); after that only templates are.
    pub reply_window_secs: Option<u64>,
    /// Offers provider-approved templates ([`Channel::templates`]).
    pub templates: bool,
    /// Reports customers' reactions to messages.
    pub reactions: bool,
    /// Tells the customer when an agent has read their messages ([`Channel::mark_read`]).
    pub marks_read: bool,
    /// Threads by reference, not one chat per contact (email): inbound messages carry
    /// [`InboundMessage::thread`] and replies get [`OutboundMessage::mail_thread`].
    pub threads_by_reference: bool,
    /// How satisfaction surveys reach the customer.
    pub surveys: SurveyDelivery,
}

/// How a channel puts satisfaction surveys to customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyDelivery {
    /// It cannot: inboxes of this type do not ask.
    #[default]
    None,
    /// As a message through [`Channel::send`] with [`OutboundMessage::survey`] set, so the
    /// outbox retries it and its delivery is tracked like a reply's.
    Message,
    /// The channel shows surveys itself (the web widget asks over its socket).
    Live,
}

/// An inbound webhook request, stripped to what an adapter needs to verify and parse it, so
/// adapters stay independent of the hub's web framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRequest<'a> {
    /// What follows `/webhooks/{type}/{id}` in the path, without the leading slash: `""` or
    /// e.g. `"status"`.
    pub route: &'a str,
    /// Request headers in arrival order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The raw body, exactly as received: signatures are computed over these bytes.
    pub body: &'a [u8],
}

impl<'a> InboundRequest<'a> {
    /// The first value of header `name`, compared case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }
}

/// A boxed, sendable future, so [`Channel`] stays dyn-compatible while `send` is async.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An inbound file's content as the channel downloads it, for providers whose files need an
/// API call and the bot's credentials (Telegram's getFile), which the hub's plain URL fetch
/// cannot do. The hub checks size and type while it streams the body into storage.
pub struct MediaDownload {
    /// The file name the provider reports, when [`AttachmentRef::file_name`] had none.
    pub file_name: Option<String>,
    /// The size the provider reports, so an oversized file is refused before downloading.
    pub byte_size: Option<u64>,
    /// The content, chunk by chunk; an error item is a broken download.
    pub body: Pin<Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, String>> + Send>>,
}

impl fmt::Debug for MediaDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaDownload")
            .field("file_name", &self.file_name)
            .field("byte_size", &self.byte_size)
            .finish_non_exhaustive()
    }
}

/// One configured channel instance (a WhatsApp number, a bot, a mailbox…). The hub holds these
/// as `Arc<dyn Channel>`, one per channel actor.
pub trait Channel: Send + Sync {
    /// What this channel supports.
    fn capabilities(&self) -> Capabilities;

    /// Verifies the request's signature or secret, then parses it into normalized events.
    /// Pure and synchronous so the hub can refuse bad requests before touching storage.
    fn parse_inbound(
        &self,
        request: &InboundRequest<'_>,
    ) -> Result<Vec<InboundEvent>, InboundError>;

    /// Delivers one message to the provider.
    fn send<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>>;

    /// Opens the download of an inbound file. `None` (the default) means `reference.source` is
    /// a plain URL the hub fetches itself. Transient errors make the webhook ask for a retry;
    /// permanent ones refuse the file.
    fn open_media<'a>(
        &'a self,
        reference: &'a AttachmentRef,
    ) -> BoxFuture<'a, Result<Option<MediaDownload>, ChannelError>> {
        let _ = reference;
        Box::pin(async { Ok(None) })
    }

    /// Answers a provider's subscription check, a `GET` on the webhook URL with this query
    /// string. The default: the channel has none.
    fn handshake(&self, query: &str) -> Handshake {
        let _ = query;
        Handshake::Unsupported
    }

    /// Tells the provider an agent has read the customer's message `external_id` (and those
    /// before it). The default does nothing, for channels without read receipts.
    fn mark_read<'a>(&'a self, external_id: &'a str) -> BoxFuture<'a, Result<(), ChannelError>> {
        let _ = external_id;
        Box::pin(async { Ok(()) })
    }

    /// The provider's approved message templates, all pages. The default: none.
    fn templates(&self) -> BoxFuture<'_, Result<Vec<MessageTemplate>, ChannelError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The provider account this channel is (a WhatsApp phone_number_id), when one app's
    /// webhooks can carry several accounts' updates. The default: none.
    fn account(&self) -> Option<String> {
        None
    }

    /// The accounts a webhook body this channel verified addresses, so the hub can hand a
    /// body shared by several inboxes of one provider app (Meta posts every number of an
    /// app to one callback URL) to each of them. The default: none.
    fn accounts_in(&self, request: &InboundRequest<'_>) -> Vec<String> {
        let _ = request;
        Vec::new()
    }

    /// Tells the customer their survey answer was taken, or why not (Telegram shows `text`
    /// on the button they pressed; `handle` is [`SurveyAnswer::confirm`]). Best effort; the
    /// default does nothing, for channels where the answer needs no confirmation.
    fn confirm_answer<'a>(
        &'a self,
        handle: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        let _ = (handle, text);
        Box::pin(async { Ok(()) })
    }

    /// Parses an update kept as unreadable again (no signature check: it was verified when
    /// it arrived), so an admin can replay it once the parser reads it. The default says
    /// the channel keeps nothing to replay.
    fn reparse(&self, raw: &serde_json::Value) -> Result<Vec<InboundEvent>, InboundError> {
        let _ = raw;
        Err(InboundError::Malformed(
            "this channel cannot replay stored updates".to_owned(),
        ))
    }
}

/// One update the provider handed out by polling, and where to continue after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledUpdate {
    /// The cursor to save once this update's events are stored: the next poll starts there,
    /// so a restart neither loses nor repeats updates.
    pub next_cursor: i64,
    /// Its normalized events (none for kinds the hub skips).
    pub events: Vec<InboundEvent>,
}

/// A channel that pulls its updates (Telegram's getUpdates) instead of receiving webhooks.
/// The hub's channel actor drives the loop and keeps the cursor in the database.
pub trait Poller: Send + Sync {
    /// Waits (long polling) for the updates after `cursor` (`None`: from the provider's
    /// oldest unconfirmed one). An empty list means the wait ended with nothing new.
    fn poll(&self, cursor: Option<i64>) -> BoxFuture<'_, Result<Vec<PolledUpdate>, ChannelError>>;
}

/// Reads an HTTP `Retry-After` value (delta-seconds or an HTTP-date such as
/// `Wed, 21 Oct 2015 07:28:00 GMT`) as a wait from `now`, so every adapter honours provider
/// back-off the same way. Waits are capped at [`MAX_RETRY_AFTER`]; dates in the past mean "retry
/// now" ([`Duration::ZERO`]); anything unreadable gives `None`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too large for u64 is still "a very long time": cap it.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    // A negative delta (date in the past) fails to convert: retry now.
    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
            .single()
            .expect("valid fixed date")
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(parse_retry_after("3", now()), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_delta_seconds_is_capped() {
        assert_eq!(parse_retry_after("7200", now()), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("3600", now()), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_http_date() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_past_date_means_now() {
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_far_future_date_is_capped() {
        assert_eq!(
            parse_retry_after("Fri, 21 Oct 2016 07:28:00 GMT", now()),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_rejects_garbage() {
        for value in [
            "",
            "   ",
            "-1",
            "+5",
            "1.5",
            "soon",
            "3 seconds",
            "2015-10-21T07:28:10Z",
        ] {
            assert_eq!(parse_retry_after(value, now()), None, "value {value:?}");
        }
    }

    #[test]
    fn delivery_state_strings_match_serde() {
        for state in [
            DeliveryState::Sent,
            DeliveryState::Delivered,
            DeliveryState::Read,
            DeliveryState::Failed,
        ] {
            let json = serde_json::to_value(state).expect("serializes");
            assert_eq!(json, serde_json::Value::String(state.as_str().to_owned()));
            assert_eq!(state.to_string(), state.as_str());
            let back: DeliveryState = serde_json::from_value(json).expect("deserializes");
            assert_eq!(back, state);
        }
    }

    #[test]
    fn channel_error_helpers() {
        let transient = ChannelError::Transient {
            reason: "timeout".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(transient.is_transient());
        assert_eq!(transient.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(transient.to_string(), "timeout");

        let permanent = ChannelError::Permanent {
            code: Some("blocked".into()),
            reason: "user blocked the bot".into(),
        };
        assert!(!permanent.is_transient());
        assert_eq!(permanent.retry_after(), None);
        assert_eq!(permanent.to_string(), "user blocked the bot");
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_takes_the_first() {
        let request = InboundRequest {
            route: "",
            headers: vec![
                ("content-type", "application/json"),
                ("X-Signature", "first"),
                ("x-signature", "second"),
            ],
            body: b"{}",
        };
        assert_eq!(request.header("Content-Type"), Some("application/json"));
        assert_eq!(request.header("X-SIGNATURE"), Some("first"));
        assert_eq!(request.header("x-missing"), None);
    }

    #[test]
    fn inbound_events_round_trip_through_serde() {
        let event = InboundEvent::Typing(Typing {
            sender: ContactProfile::new("cust-42"),
            on: true,
        });
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "typing");
        assert_eq!(json["sender"]["identifier"], "cust-42");
        let back: InboundEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, event);
    }

    struct Dummy;

    impl Channel for Dummy {
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                receipts: true,
                ..Capabilities::default()
            }
        }

        fn parse_inbound(
            &self,
            request: &InboundRequest<'_>,
        ) -> Result<Vec<InboundEvent>, InboundError> {
            Err(InboundError::Malformed(format!(
                "route {:?}",
                request.route
            )))
        }

        fn send<'a>(
            &'a self,
            message: &'a OutboundMessage,
        ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>> {
            Box::pin(async move {
                Ok(SendReceipt {
                    external_id: Some(message.message_id.clone()),
                })
            })
        }
    }

    #[test]
    fn channel_is_dyn_compatible() {
        let channel: Arc<dyn Channel> = Arc::new(Dummy);
        assert!(channel.capabilities().receipts);
        let request = InboundRequest {
            route: "status",
            headers: Vec::new(),
            body: b"",
        };
        assert_eq!(
            channel.parse_inbound(&request),
            Err(InboundError::Malformed("route \"status\"".into()))
        );
    }
}
