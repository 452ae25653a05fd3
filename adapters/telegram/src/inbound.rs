//! Bot API `Update`s in, normalized [`InboundEvent`]s out.
//!
//! Pure functions only: the webhook handler and the getUpdates poller both hand us one update
//! as JSON and get back exactly one event: a message, an edit, a block/unblock, a survey
//! answer (a `callback_query` from a survey button, see [`switchboard_channel::choice_id`]),
//! or a [`InboundEvent::Skipped`] / [`InboundEvent::Unreadable`] with the reason, which the
//! hub counts (and keeps, when unreadable) so nothing is lost silently.
//!
//! The updates are read from `serde_json::Value`, not from teloxide's strict types: Bot API
//! versions, self-hosted Bot API servers and other tools send bodies without fields teloxide
//! requires (`from.is_bot` before Bot API 3.x, `file_unique_id` before 4.5, newer sticker
//! fields), and one missing field there would drop the customer's whole message. The rule
//! here: if an update has a chat and a message id, a message is stored, with every part that
//! could be read and a visible note naming each part that could not.
//!
//! Text is passed through raw (the hub escapes when it shows it). Albums (`media_group_id`)
//! need no special handling: every item is its own message, and the hub's per-contact
//! serialization keeps them in one conversation, in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_channel::{
    AttachmentRef, ContactProfile, Forward, InboundError, InboundEvent, InboundMessage,
    MessageEdit, Quote, Reachability, SurveyAnswer, json_int, json_type, parse_choice_id,
};

/// Largest file a bot may fetch with getFile (the Bot API refuses bigger ones), so larger files
/// become a note for the agent instead of a download that can only fail.
pub const MAX_BOT_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// How group chats are handled (inbox setting `groups`): a bot added to a group sees its
/// messages, and not every inbox wants those as conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// Drop group and supergroup messages (the default: a bot is usually for 1:1 support).
    #[default]
    Ignore,
    /// Treat each group as one conversation, its contact being the group, with each message's
    /// author named.
    Conversation,
}

/// Inbox settings that change how updates are read, so one parser serves every bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// What to do with group chats.
    pub groups: GroupPolicy,
    /// Files above this size get a note in the text instead of an attachment, because the hub
    /// could not download them anyway (the Bot API limit is [`MAX_BOT_DOWNLOAD_BYTES`]).
    pub max_download_bytes: u64,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            groups: GroupPolicy::default(),
            max_download_bytes: MAX_BOT_DOWNLOAD_BYTES,
        }
    }
}

/// What one update turned into, so the caller can acknowledge `update_id` whatever it was
/// (Telegram redelivers unacknowledged updates forever).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUpdate {
    /// The update's id, for getUpdates offsets; `None` only for a polled update without one.
    pub update_id: Option<u32>,
    /// Exactly one event: what to store, or why nothing is (skipped, unreadable).
    pub events: Vec<InboundEvent>,
    /// Parts of a stored message that could not be read (each has a note in the message), for
    /// a warning in the log.
    pub unread_parts: Vec<String>,
}

impl ParsedUpdate {
    /// Why the update was skipped on purpose, if it was.
    pub fn skipped(&self) -> Option<&str> {
        self.events.iter().find_map(|event| match event {
            InboundEvent::Skipped { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// Why the update could not be read at all, if so.
    pub fn unreadable(&self) -> Option<&str> {
        self.events.iter().find_map(|event| match event {
            InboundEvent::Unreadable { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
    }
}

/// The external id of a Telegram message: `"{chat_id}:{message_id}"`, because message ids are
/// only unique within one chat. [`crate::outbound::parse_external_id`] is the inverse.
pub fn external_id(chat_id: i64, message_id: i64) -> String {
    format!("{chat_id}:{message_id}")
}

/// Parses one webhook body (a single `Update` as JSON).
///
/// Only a body that is not an update at all (invalid JSON, not an object, missing or invalid
/// `update_id`) is an error; everything else yields an event, so Telegram is never asked to
/// redeliver an update that will not read better the next time.
pub fn parse_webhook(body: &[u8], options: &ParseOptions) -> Result<ParsedUpdate, InboundError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| InboundError::Malformed(format!("body is not valid JSON: {error}")))?;
    let Value::Object(object) = &value else {
        return Err(InboundError::Malformed(format!(
            "body must be a JSON object (a Telegram Update), found {}",
            json_type(&value)
        )));
    };
    match object.get("update_id") {
        None => {
            return Err(InboundError::Malformed(
                "update_id: missing; the body is not a Telegram Update".to_owned(),
            ));
        }
        Some(id) if id.as_u64().is_none_or(|id| u32::try_from(id).is_err()) => {
            return Err(InboundError::Malformed(format!(
                "update_id: must be an integer from 0 to {}, found {id}",
                u32::MAX
            )));
        }
        Some(_) => {}
    }
    Ok(parse_value(&value, options))
}

/// Turns one update (a webhook body or one getUpdates result) into its event; both paths
/// behave the same.
pub fn parse_value(update: &Value, options: &ParseOptions) -> ParsedUpdate {
    let update_id = update
        .get("update_id")
        .and_then(Value::as_u64)
        .and_then(|id| u32::try_from(id).ok());
    let mut unread_parts = Vec::new();
    let event = match update_event(update, options, &mut unread_parts) {
        Ok(event) => event,
        Err(Problem::Skip(reason)) => InboundEvent::Skipped { reason },
        Err(Problem::Unreadable(reason)) => InboundEvent::Unreadable {
            reason,
            raw: update.clone(),
        },
    };
    ParsedUpdate {
        update_id,
        events: vec![event],
        unread_parts,
    }
}

/// Why an update yields no message.
enum Problem {
    /// Deliberately not handled (another update kind, a group on an inbox that ignores them).
    Skip(String),
    /// Meant to be handled but too broken to read (no chat or message id).
    Unreadable(String),
}

fn update_event(
    update: &Value,
    options: &ParseOptions,
    unread_parts: &mut Vec<String>,
) -> Result<InboundEvent, Problem> {
    let Some(object) = update.as_object() else {
        return Err(Problem::Unreadable(format!(
            "the update is {}, not an object",
            json_type(update)
        )));
    };
    let Some((kind, payload)) = object.iter().find(|(key, _)| key.as_str() != "update_id") else {
        return Err(Problem::Skip(
            "update carries no content besides update_id".to_owned(),
        ));
    };
    match kind.as_str() {
        "message" => {
            let (message, parts) = message_event(kind, payload, options)?;
            *unread_parts = parts;
            Ok(InboundEvent::Message(message))
        }
        "edited_message" => {
            let (edit, parts) = edit_event(payload, options)?;
            *unread_parts = parts;
            Ok(InboundEvent::Edit(edit))
        }
        "my_chat_member" => membership_event(payload).map(InboundEvent::Reachability),
        "callback_query" => survey_answer(payload, options).map(InboundEvent::SurveyAnswer),
        other => Err(Problem::Skip(format!(
            "`{other}` updates are not handled by this inbox"
        ))),
    }
}

fn field_int(object: &Map<String, Value>, key: &str) -> Option<i64> {
    object.get(key).and_then(json_int)
}

fn field_str<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

fn field_object<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key).and_then(Value::as_object)
}

fn field_time(object: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    field_int(object, key).and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

/// The parts of a message object that say where it is; without them nothing can be stored.
struct Located<'a> {
    object: &'a Map<String, Value>,
    chat: &'a Map<String, Value>,
    chat_id: i64,
    message_id: i64,
}

fn locate<'a>(kind: &str, payload: &'a Value) -> Result<Located<'a>, Problem> {
    let object = message_object(kind, payload)?;
    let (chat, chat_id) = locate_chat(kind, object)?;
    let message_id = field_int(object, "message_id")
        .ok_or_else(|| Problem::Unreadable(format!("`{kind}` has no readable `message_id`")))?;
    Ok(Located {
        object,
        chat,
        chat_id,
        message_id,
    })
}

fn message_object<'a>(kind: &str, payload: &'a Value) -> Result<&'a Map<String, Value>, Problem> {
    payload.as_object().ok_or_else(|| {
        Problem::Unreadable(format!(
            "`{kind}` is {}, not a message object",
            json_type(payload)
        ))
    })
}

/// A message's chat and its id.
fn locate_chat<'a>(
    kind: &str,
    object: &'a Map<String, Value>,
) -> Result<(&'a Map<String, Value>, i64), Problem> {
    let chat = field_object(object, "chat")
        .ok_or_else(|| Problem::Unreadable(format!("`{kind}` has no `chat` object")))?;
    let chat_id = field_int(chat, "id")
        .ok_or_else(|| Problem::Unreadable(format!("`{kind}.chat` has no readable `id`")))?;
    Ok((chat, chat_id))
}

/// What kind of chat this is; older or third-party servers may leave `type` out, and then
/// Telegram's id ranges tell (users are positive, groups and channels negative).
fn chat_type(chat: &Map<String, Value>, chat_id: i64) -> &str {
    match field_str(chat, "type") {
        Some(kind) => kind,
        None if chat_id > 0 => "private",
        None => "group",
    }
}

/// Who a message belongs to (the contact) and, in groups, who wrote it.
struct Sender {
    contact: ContactProfile,
    author: Option<String>,
    author_id: Option<String>,
}

fn resolve_sender(located: &Located<'_>, options: &ParseOptions) -> Result<Sender, Problem> {
    let Located {
        object,
        chat,
        chat_id,
        ..
    } = located;
    let contact = chat_contact(chat, *chat_id, field_object(object, "from"), options)?;
    let (author, author_id) = match chat_type(chat, *chat_id) {
        "group" | "supergroup" => group_author(object),
        _ => (None, None),
    };
    Ok(Sender {
        contact,
        author,
        author_id,
    })
}

/// The contact a chat's messages (and survey answers) belong to: the group itself in groups
/// (when the inbox takes groups), else the person; `user` is who wrote or tapped, when known.
fn chat_contact(
    chat: &Map<String, Value>,
    chat_id: i64,
    user: Option<&Map<String, Value>>,
    options: &ParseOptions,
) -> Result<ContactProfile, Problem> {
    match chat_type(chat, chat_id) {
        "channel" => Err(Problem::Skip(
            "channel chats are not handled by this inbox".to_owned(),
        )),
        kind @ ("group" | "supergroup") => {
            if options.groups == GroupPolicy::Ignore {
                return Err(Problem::Skip(
                    "group chats are ignored by this inbox".to_owned(),
                ));
            }
            let title = field_str(chat, "title").map(str::to_owned);
            let mut details = Map::new();
            details.insert("chat_type".to_owned(), Value::from(kind));
            if let Some(title) = &title {
                details.insert("title".to_owned(), Value::from(title.as_str()));
            }
            Ok(ContactProfile {
                identifier: chat_id.to_string(),
                name: title,
                details,
                ..ContactProfile::default()
            })
        }
        // Private chats, and chat types newer than this parser: in a private chat the chat is
        // the person, so a missing `from` still names them.
        _ => Ok(user_profile(user.unwrap_or(chat), chat_id)),
    }
}

/// A private chat's person; `identifier` is the chat id, which replies are sent to.
fn user_profile(user: &Map<String, Value>, chat_id: i64) -> ContactProfile {
    let mut details = Map::new();
    for key in ["username", "first_name", "last_name"] {
        if let Some(value) = field_str(user, key) {
            details.insert(key.to_owned(), Value::from(value));
        }
    }
    ContactProfile {
        identifier: chat_id.to_string(),
        name: full_name(user),
        language: field_str(user, "language_code").map(str::to_owned),
        details,
        ..ContactProfile::default()
    }
}

fn full_name(user: &Map<String, Value>) -> Option<String> {
    let name = [field_str(user, "first_name"), field_str(user, "last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.trim().is_empty()).then_some(name)
}

/// A person's name for people: full name, else `@username`, else their id.
fn person_name(user: &Map<String, Value>) -> Option<String> {
    full_name(user)
        .or_else(|| field_str(user, "username").map(|name| format!("@{name}")))
        .or_else(|| field_int(user, "id").map(|id| format!("user {id}")))
}

/// Who wrote a group message: the user, or for anonymous admins and linked channels (which
/// post "as" a chat) that chat's signature or title; with the provider's id of either.
fn group_author(object: &Map<String, Value>) -> (Option<String>, Option<String>) {
    if let Some(sender_chat) = field_object(object, "sender_chat") {
        let name = field_str(object, "author_signature")
            .or_else(|| field_str(sender_chat, "title"))
            .map(str::to_owned);
        return (name, field_int(sender_chat, "id").map(|id| id.to_string()));
    }
    match field_object(object, "from") {
        Some(user) => (
            person_name(user),
            field_int(user, "id").map(|id| id.to_string()),
        ),
        None => (None, None),
    }
}

fn message_event(
    kind: &str,
    payload: &Value,
    options: &ParseOptions,
) -> Result<(InboundMessage, Vec<String>), Problem> {
    let located = locate(kind, payload)?;
    let sender = resolve_sender(&located, options)?;
    build_message(&located, sender, options)
}

fn build_message(
    located: &Located<'_>,
    sender: Sender,
    options: &ParseOptions,
) -> Result<(InboundMessage, Vec<String>), Problem> {
    let object = located.object;
    let rendered = render(object, located.message_id, options)?;
    let (reply_to_external_id, quote) = reply_of(object, located.chat_id);
    // Only forum topics: in other groups `message_thread_id` names a reply thread, and
    // sending into it would fail.
    let thread_id = object
        .get("is_topic_message")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .then(|| field_int(object, "message_thread_id"))
        .flatten()
        .map(|id| id.to_string());
    let message = InboundMessage {
        external_id: external_id(located.chat_id, located.message_id),
        sender: sender.contact,
        content: rendered.content(),
        attachments: rendered.attachments,
        reply_to_external_id,
        provider_at: field_time(object, "date"),
        author: sender.author,
        author_id: sender.author_id,
        quote,
        forwarded: forward_of(object),
        edited_at: None,
        thread_id,
        ..InboundMessage::default()
    };
    Ok((message, rendered.unread_parts))
}

fn edit_event(
    payload: &Value,
    options: &ParseOptions,
) -> Result<(MessageEdit, Vec<String>), Problem> {
    let located = locate("edited_message", payload)?;
    let sender = resolve_sender(&located, options)?;
    // A shared live location is reported as an edit of its message at every move (a plain
    // location cannot be edited at all): the message keeps the first position, and the
    // updates are not edits of anything the customer wrote.
    if located.object.contains_key("location") && !located.object.contains_key("venue") {
        return Err(Problem::Skip("live location update".to_owned()));
    }
    let (mut message, unread) = build_message(&located, sender, options)?;
    let edited_at = field_time(located.object, "edit_date");
    message.edited_at = edited_at.or(message.provider_at);
    let edit = MessageEdit {
        external_id: message.external_id.clone(),
        sender: message.sender.clone(),
        content: message.content.clone(),
        edited_at,
        as_message: Some(Box::new(message)),
    };
    Ok((edit, unread))
}

/// `my_chat_member` in a private chat: the person blocked the bot (`kicked`) or started it
/// again (`member`).
fn membership_event(payload: &Value) -> Result<Reachability, Problem> {
    let object = payload.as_object().ok_or_else(|| {
        Problem::Unreadable(format!(
            "`my_chat_member` is {}, not an object",
            json_type(payload)
        ))
    })?;
    let chat = field_object(object, "chat")
        .ok_or_else(|| Problem::Unreadable("`my_chat_member` has no `chat` object".to_owned()))?;
    let chat_id = field_int(chat, "id").ok_or_else(|| {
        Problem::Unreadable("`my_chat_member.chat` has no readable `id`".to_owned())
    })?;
    if chat_type(chat, chat_id) != "private" {
        return Err(Problem::Skip(
            "the bot's membership of a group or channel changed".to_owned(),
        ));
    }
    let status =
        field_object(object, "new_chat_member").and_then(|member| field_str(member, "status"));
    let blocked = match status {
        Some("kicked") => true,
        Some("member") => false,
        Some(other) => {
            return Err(Problem::Skip(format!(
                "the bot's status in a private chat became `{other}`"
            )));
        }
        None => {
            return Err(Problem::Unreadable(
                "`my_chat_member.new_chat_member` has no `status`".to_owned(),
            ));
        }
    };
    let user = field_object(object, "from").unwrap_or(chat);
    Ok(Reachability {
        sender: user_profile(user, chat_id),
        blocked,
        at: field_time(object, "date"),
    })
}

/// A `callback_query` from a survey button (its `data` made by
/// [`switchboard_channel::choice_id`]): the answer, from the contact a message in the same
/// chat would come from. Only `id`, `from`, `data` and the message's chat are needed; other
/// buttons' queries are skipped.
fn survey_answer(payload: &Value, options: &ParseOptions) -> Result<SurveyAnswer, Problem> {
    let object = payload.as_object().ok_or_else(|| {
        Problem::Unreadable(format!(
            "`callback_query` is {}, not an object",
            json_type(payload)
        ))
    })?;
    let Some(data) = field_str(object, "data") else {
        return Err(Problem::Skip(
            "a `callback_query` without `data` (a game button) is not handled by this inbox"
                .to_owned(),
        ));
    };
    let Some((survey_id, rating)) = parse_choice_id(data) else {
        return Err(Problem::Skip(
            "a `callback_query` whose data is not a survey answer is not handled by this inbox"
                .to_owned(),
        ));
    };
    // Telegram sends the id as a string; a number is read too.
    let id = field_str(object, "id")
        .map(str::to_owned)
        .or_else(|| field_int(object, "id").map(|id| id.to_string()))
        .ok_or_else(|| {
            Problem::Unreadable("survey answer: `callback_query` has no `id`".to_owned())
        })?;
    let user = field_object(object, "from").ok_or_else(|| {
        Problem::Unreadable("survey answer: `callback_query` has no `from` object".to_owned())
    })?;
    let Some(message) = object.get("message") else {
        return Err(if object.contains_key("inline_message_id") {
            Problem::Skip(
                "survey answer on an inline-mode message: it has no chat to match a \
                 conversation"
                    .to_owned(),
            )
        } else {
            Problem::Unreadable(
                "survey answer: `callback_query` has neither `message` nor `inline_message_id`"
                    .to_owned(),
            )
        });
    };
    // A message too old for the bot to see (`InaccessibleMessage`) still names its chat.
    let message = message_object("callback_query.message", message)?;
    let (chat, chat_id) = locate_chat("callback_query.message", message)?;
    let sender = chat_contact(chat, chat_id, Some(user), options)?;
    Ok(SurveyAnswer {
        sender,
        survey_id,
        rating,
        comment: None,
        confirm: Some(id),
        // `message.date` is when the survey was sent; Telegram gives no time for the tap.
        at: None,
    })
}

/// Keys of a message object that describe it rather than carry content.
const ENVELOPE_KEYS: &[&str] = &[
    "message_id",
    "message_thread_id",
    "direct_messages_topic",
    "from",
    "sender_chat",
    "sender_boost_count",
    "sender_business_bot",
    "sender_tag",
    "date",
    "business_connection_id",
    "chat",
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_signature",
    "forward_sender_name",
    "forward_date",
    "is_topic_message",
    "is_automatic_forward",
    "reply_to_message",
    "external_reply",
    "quote",
    "reply_to_story",
    "reply_to_checklist_task_id",
    "via_bot",
    "edit_date",
    "has_protected_content",
    "is_from_offline",
    "is_paid_post",
    "media_group_id",
    "author_signature",
    "paid_star_count",
    "text",
    "entities",
    "caption",
    "caption_entities",
    "link_preview_options",
    "effect_id",
    "show_caption_above_media",
    "has_media_spoiler",
    "reply_markup",
    "suggested_post_info",
];

/// Keys of service messages (someone joined, a title changed): no customer content.
const SERVICE_KEYS: &[&str] = &[
    "new_chat_members",
    "new_chat_member",
    "new_chat_participant",
    "left_chat_member",
    "left_chat_participant",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "connected_website",
    "write_access_allowed",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "voice_chat_scheduled",
    "voice_chat_started",
    "voice_chat_ended",
    "voice_chat_participants_invited",
    "successful_payment",
    "refunded_payment",
    "gift",
    "unique_gift",
    "checklist_tasks_done",
    "checklist_tasks_added",
];

/// Content this inbox cannot show, with the words the placeholder uses.
const NOT_SHOWN: &[(&str, &str)] = &[
    ("game", "A game"),
    ("story", "A story"),
    ("invoice", "An invoice"),
    ("paid_media", "Paid media"),
    ("checklist", "A checklist"),
    ("giveaway", "A giveaway"),
    ("giveaway_winners", "Giveaway results"),
    ("passport_data", "Telegram Passport data"),
    ("web_app_data", "Data from a web app"),
    ("chat_shared", "A shared chat"),
    ("users_shared", "A shared contact"),
    ("user_shared", "A shared contact"),
];

/// How each kind of file is named and typed when the payload does not say.
struct FileKind {
    key: &'static str,
    /// "A photo": for placeholders.
    label: &'static str,
    /// Generated name `{prefix}_{unique id}.{extension}`; `None` keeps the sender's name only.
    default_name: Option<(&'static str, &'static str)>,
    /// Use the sender's file name when given.
    keeps_name: bool,
    /// Type when the payload gives none; `None`: unknown.
    default_type: Option<&'static str>,
    /// Use the payload's `mime_type` when given.
    keeps_type: bool,
}

const FILE_KINDS: &[FileKind] = &[
    FileKind {
        key: "document",
        label: "A file",
        default_name: None,
        keeps_name: true,
        default_type: None,
        keeps_type: true,
    },
    FileKind {
        key: "voice",
        label: "A voice message",
        default_name: Some(("voice", "ogg")),
        keeps_name: false,
        default_type: Some("audio/ogg"),
        keeps_type: true,
    },
    FileKind {
        key: "audio",
        label: "An audio file",
        default_name: Some(("audio", "mp3")),
        keeps_name: true,
        default_type: None,
        keeps_type: true,
    },
    FileKind {
        key: "video",
        label: "A video",
        default_name: Some(("video", "mp4")),
        keeps_name: true,
        default_type: Some("video/mp4"),
        keeps_type: true,
    },
    FileKind {
        key: "video_note",
        label: "A video message",
        default_name: Some(("video_note", "mp4")),
        keeps_name: false,
        default_type: Some("video/mp4"),
        keeps_type: false,
    },
    FileKind {
        key: "animation",
        label: "An animation",
        default_name: Some(("animation", "mp4")),
        keeps_name: true,
        default_type: Some("video/mp4"),
        keeps_type: true,
    },
];

const PHOTO: FileKind = FileKind {
    key: "photo",
    label: "A photo",
    default_name: Some(("photo", "jpg")),
    keeps_name: false,
    default_type: Some("image/jpeg"),
    keeps_type: false,
};

const STICKER: FileKind = FileKind {
    key: "sticker",
    label: "A sticker",
    default_name: Some(("sticker", "webp")),
    keeps_name: false,
    default_type: Some("image/webp"),
    keeps_type: false,
};

/// A message's text and files, before the notes are joined onto the text.
#[derive(Default)]
struct Rendered {
    lines: Vec<String>,
    notes: Vec<String>,
    attachments: Vec<AttachmentRef>,
    unread_parts: Vec<String>,
}

impl Rendered {
    fn line(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// A part that arrived but cannot be shown: a note for the agent, a warning for the log.
    fn unreadable(&mut self, label: &str, why: &str) {
        self.notes
            .push(format!("[{label} arrived but cannot be shown here: {why}]"));
        self.unread_parts.push(format!("{label}: {why}"));
    }

    /// Adds a file, or a note in its place when it is unreadable or too big for a bot.
    fn file(&mut self, kind: &FileKind, value: &Value, message_id: i64, options: &ParseOptions) {
        let Some(object) = value.as_object() else {
            self.unreadable(kind.label, "its description is not an object");
            return;
        };
        let Some(file_id) = field_str(object, "file_id") else {
            self.unreadable(kind.label, "it carries no file id");
            return;
        };
        let sender_name = field_str(object, "file_name").filter(|_| kind.keeps_name);
        let file_name = sender_name.map(str::to_owned).or_else(|| {
            kind.default_name.map(|(prefix, extension)| {
                // Bot API before 4.5 has no `file_unique_id`; the message id is unique too.
                let unique = field_str(object, "file_unique_id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("m{message_id}"));
                format!("{prefix}_{unique}.{extension}")
            })
        });
        let content_type = field_str(object, "mime_type")
            .filter(|_| kind.keeps_type)
            .or(kind.default_type)
            .map(str::to_owned);
        let byte_size = field_int(object, "file_size").and_then(|size| u64::try_from(size).ok());
        match byte_size {
            Some(size) if size > options.max_download_bytes => {
                let what = sender_name
                    .map(|name| format!("“{name}”"))
                    .unwrap_or_else(|| kind.label.to_lowercase());
                self.notes.push(format!(
                    "[The customer sent {what} ({}), larger than the {} a Telegram bot can \
                     download. Ask them to send it another way.]",
                    format_size(size),
                    format_size(options.max_download_bytes)
                ));
            }
            _ => self.attachments.push(AttachmentRef {
                source: file_id.to_owned(),
                file_name,
                content_type,
                byte_size,
                content_id: None,
                data: None,
            }),
        }
    }

    fn content(&self) -> String {
        self.lines
            .iter()
            .chain(&self.notes)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.notes.is_empty() && self.attachments.is_empty()
    }
}

/// A size for people: `20 MB`, `45.2 MB`, `812 KB`, `17 bytes` (binary units, one decimal).
fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale {
            let tenths = (u128::from(bytes) * 10 + u128::from(scale) / 2) / u128::from(scale);
            let (whole, fraction) = (tenths / 10, tenths % 10);
            return if fraction == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{fraction} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

fn map_link(latitude: f64, longitude: f64) -> String {
    format!("https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}")
}

fn coordinates(value: &Value) -> Option<(f64, f64)> {
    Some((
        value.get("latitude")?.as_f64()?,
        value.get("longitude")?.as_f64()?,
    ))
}

/// Reads every content part of a message; fails only for service messages (no content).
fn render(
    object: &Map<String, Value>,
    message_id: i64,
    options: &ParseOptions,
) -> Result<Rendered, Problem> {
    let mut rendered = Rendered::default();
    if let Some(text) = field_str(object, "text").or_else(|| field_str(object, "caption")) {
        rendered.line(text);
    }
    let mut service: Option<&str> = None;
    let mut unknown: Vec<&str> = Vec::new();
    for (key, value) in object {
        let key = key.as_str();
        if ENVELOPE_KEYS.contains(&key) {
            continue;
        }
        match key {
            "photo" => photo(&mut rendered, value, message_id, options),
            // A GIF comes as both `animation` and `document`: one file.
            "document" if object.contains_key("animation") => {}
            "sticker" => sticker(&mut rendered, value, message_id, options),
            // A venue carries its location too.
            "location" if object.contains_key("venue") => {}
            "location" => match coordinates(value) {
                Some((lat, lon)) => {
                    rendered.line(format!("Location: {lat}, {lon}\n{}", map_link(lat, lon)));
                }
                None => rendered.unreadable("A location", "it has no coordinates"),
            },
            "venue" => {
                let venue = value.as_object();
                let title = venue.and_then(|v| field_str(v, "title")).unwrap_or("");
                let address = venue.and_then(|v| field_str(v, "address")).unwrap_or("");
                let mut text = format!("Venue: {title}\n{address}");
                if let Some((lat, lon)) = value.get("location").and_then(coordinates) {
                    text.push('\n');
                    text.push_str(&map_link(lat, lon));
                }
                rendered.line(text);
            }
            "contact" => {
                let contact = value.as_object();
                let name = contact.and_then(full_name).unwrap_or_default();
                let phone = contact
                    .and_then(|c| field_str(c, "phone_number"))
                    .unwrap_or("no phone number");
                rendered.line(format!("Contact: {name}, {phone}"));
            }
            "poll" => {
                let question = value.get("question").and_then(Value::as_str).unwrap_or("");
                let mut text = format!("Poll: {question}");
                for option in value
                    .get("options")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(option) = option.get("text").and_then(Value::as_str) {
                        text.push_str("\n• ");
                        text.push_str(option);
                    }
                }
                rendered.line(text);
            }
            "dice" => {
                let emoji = value.get("emoji").and_then(Value::as_str).unwrap_or("🎲");
                match value.get("value").and_then(json_int) {
                    Some(number) => rendered.line(format!("Dice {emoji}: {number}")),
                    None => rendered.line(format!("Dice {emoji}")),
                }
            }
            key => {
                if let Some(kind) = FILE_KINDS.iter().find(|kind| kind.key == key) {
                    rendered.file(kind, value, message_id, options);
                } else if let Some((_, label)) = NOT_SHOWN.iter().find(|(k, _)| *k == key) {
                    rendered
                        .notes
                        .push(format!("[{label} arrived; it cannot be shown here]"));
                } else if SERVICE_KEYS.contains(&key) {
                    service = service.or(Some(key));
                } else {
                    unknown.push(key);
                }
            }
        }
    }
    if rendered.is_empty() {
        if let Some(key) = service {
            return Err(Problem::Skip(format!(
                "service message (`{key}`), no customer content"
            )));
        }
        if unknown.is_empty() {
            rendered.unreadable("A message", "it has no content this inbox knows");
        } else {
            let keys = unknown
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", ");
            rendered.unreadable("A message", &format!("its kind ({keys}) is unknown here"));
        }
    }
    Ok(rendered)
}

/// The largest size of a photo: Telegram lists sizes smallest first, so the last one that
/// has a file id.
fn photo(rendered: &mut Rendered, value: &Value, message_id: i64, options: &ParseOptions) {
    let sizes = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let largest = sizes
        .iter()
        .rev()
        .find(|size| size.get("file_id").and_then(Value::as_str).is_some());
    match largest {
        Some(size) => rendered.file(&PHOTO, size, message_id, options),
        None if !sizes.is_empty() => rendered.unreadable(PHOTO.label, "it carries no file id"),
        None => rendered.unreadable(PHOTO.label, "it carries no sizes"),
    }
}

fn sticker(rendered: &mut Rendered, value: &Value, message_id: i64, options: &ParseOptions) {
    let emoji = value
        .get("emoji")
        .and_then(Value::as_str)
        .filter(|emoji| !emoji.is_empty());
    rendered.line(match emoji {
        Some(emoji) => format!("[Sticker {emoji}]"),
        None => "[Sticker]".to_owned(),
    });
    // Animated (TGS) and video (WebM) stickers are not images an agent can view; fields
    // missing in older payloads mean a plain (static) sticker.
    let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
    if !flag("is_animated") && !flag("is_video") {
        rendered.file(&STICKER, value, message_id, options);
    }
}

/// A short description of a quoted message that has no text: "[Photo]", "[Voice message]".
fn describe(object: &Map<String, Value>) -> Option<String> {
    if let Some(text) = field_str(object, "text").or_else(|| field_str(object, "caption")) {
        return Some(text.to_owned());
    }
    let labels = [
        ("photo", "Photo"),
        ("sticker", "Sticker"),
        ("animation", "Animation"),
        ("document", "File"),
        ("voice", "Voice message"),
        ("audio", "Audio"),
        ("video", "Video"),
        ("video_note", "Video message"),
        ("location", "Location"),
        ("venue", "Venue"),
        ("contact", "Contact"),
        ("poll", "Poll"),
    ];
    labels
        .iter()
        .find(|(key, _)| object.contains_key(*key))
        .map(|(_, label)| format!("[{label}]"))
}

/// The message a reply answers: its external id when it is in this chat, and the quoted text
/// and author as the customer saw them (kept even when the original was never stored).
fn reply_of(object: &Map<String, Value>, chat_id: i64) -> (Option<String>, Option<Quote>) {
    // In a forum every message of a topic "replies" to the topic's first message; that is
    // the topic, not a quote.
    let topic_root = object
        .get("is_topic_message")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .then(|| field_int(object, "message_thread_id"))
        .flatten();
    if topic_root.is_some()
        && field_object(object, "reply_to_message").and_then(|reply| field_int(reply, "message_id"))
            == topic_root
    {
        return (None, None);
    }
    let selected = field_object(object, "quote").and_then(|quote| field_str(quote, "text"));
    if let Some(reply) = field_object(object, "reply_to_message") {
        let reply_chat = field_object(reply, "chat")
            .and_then(|chat| field_int(chat, "id"))
            .unwrap_or(chat_id);
        let external = field_int(reply, "message_id").map(|id| external_id(reply_chat, id));
        let author = field_object(reply, "sender_chat")
            .and_then(|chat| field_str(chat, "title").map(str::to_owned))
            .or_else(|| field_object(reply, "from").and_then(person_name));
        let text = selected.map(str::to_owned).or_else(|| describe(reply));
        let quote = (text.is_some() || author.is_some()).then(|| Quote {
            text: text.unwrap_or_default(),
            author,
        });
        return (external, quote);
    }
    if let Some(external) = field_object(object, "external_reply") {
        let author = field_object(external, "origin")
            .and_then(origin_name)
            .or_else(|| {
                field_object(external, "chat")
                    .and_then(|c| field_str(c, "title").map(str::to_owned))
            });
        let text = selected.map(str::to_owned).or_else(|| describe(external));
        let quote = (text.is_some() || author.is_some()).then(|| Quote {
            text: text.unwrap_or_default(),
            author,
        });
        return (None, quote);
    }
    (None, None)
}

/// A `MessageOrigin`'s sender for people.
fn origin_name(origin: &Map<String, Value>) -> Option<String> {
    let chat_title = |key: &str| {
        field_object(origin, key).and_then(|chat| {
            field_str(chat, "title")
                .map(str::to_owned)
                .or_else(|| person_name(chat))
        })
    };
    let name = match field_str(origin, "type") {
        Some("user") => field_object(origin, "sender_user").and_then(person_name),
        Some("hidden_user") => field_str(origin, "sender_user_name").map(str::to_owned),
        Some("chat") => chat_title("sender_chat"),
        Some("channel") => chat_title("chat"),
        _ => field_object(origin, "sender_user")
            .and_then(person_name)
            .or_else(|| field_str(origin, "sender_user_name").map(str::to_owned))
            .or_else(|| chat_title("sender_chat"))
            .or_else(|| chat_title("chat")),
    }?;
    Some(match field_str(origin, "author_signature") {
        Some(signature) => format!("{name} ({signature})"),
        None => name,
    })
}

/// Where a forwarded message came from: `forward_origin` (Bot API 7.0+) or the older
/// `forward_from` / `forward_from_chat` / `forward_sender_name` / `forward_date`.
fn forward_of(object: &Map<String, Value>) -> Option<Forward> {
    if let Some(origin) = field_object(object, "forward_origin") {
        return Some(Forward {
            from: origin_name(origin).unwrap_or_else(|| "an unknown sender".to_owned()),
            date: field_time(origin, "date"),
        });
    }
    let from = field_object(object, "forward_from")
        .and_then(person_name)
        .or_else(|| field_str(object, "forward_sender_name").map(str::to_owned))
        .or_else(|| {
            field_object(object, "forward_from_chat").and_then(|chat| {
                let title = field_str(chat, "title").map(str::to_owned)?;
                Some(match field_str(object, "forward_signature") {
                    Some(signature) => format!("{title} ({signature})"),
                    None => title,
                })
            })
        });
    let date = field_time(object, "forward_date");
    match (from, date) {
        (None, None) => None,
        (from, date) => Some(Forward {
            from: from.unwrap_or_else(|| "an unknown sender".to_owned()),
            date,
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn fixture(name: &str) -> &'static str {
        match name {
            "text" => include_str!("../tests/fixtures/text.json"),
            "photo_caption" => include_str!("../tests/fixtures/photo_caption.json"),
            "document" => include_str!("../tests/fixtures/document.json"),
            "voice" => include_str!("../tests/fixtures/voice.json"),
            "audio" => include_str!("../tests/fixtures/audio.json"),
            "video" => include_str!("../tests/fixtures/video.json"),
            "video_note" => include_str!("../tests/fixtures/video_note.json"),
            "sticker" => include_str!("../tests/fixtures/sticker.json"),
            "animation" => include_str!("../tests/fixtures/animation.json"),
            "location" => include_str!("../tests/fixtures/location.json"),
            "venue" => include_str!("../tests/fixtures/venue.json"),
            "contact" => include_str!("../tests/fixtures/contact.json"),
            "reply" => include_str!("../tests/fixtures/reply.json"),
            "edited" => include_str!("../tests/fixtures/edited.json"),
            "album_1" => include_str!("../tests/fixtures/album_1.json"),
            "album_2" => include_str!("../tests/fixtures/album_2.json"),
            "group_text" => include_str!("../tests/fixtures/group_text.json"),
            "big_document" => include_str!("../tests/fixtures/big_document.json"),
            "callback_query" => include_str!("../tests/fixtures/callback_query.json"),
            "unknown_kind" => include_str!("../tests/fixtures/unknown_kind.json"),
            "channel_post" => include_str!("../tests/fixtures/channel_post.json"),
            "my_chat_member" => include_str!("../tests/fixtures/my_chat_member.json"),
            "poll" => include_str!("../tests/fixtures/poll.json"),
            "dice" => include_str!("../tests/fixtures/dice.json"),
            "docs_text" => include_str!("../tests/fixtures/docs_text.json"),
            "docs_edited" => include_str!("../tests/fixtures/docs_edited.json"),
            "docs_reply" => include_str!("../tests/fixtures/docs_reply.json"),
            "docs_forwarded" => include_str!("../tests/fixtures/docs_forwarded.json"),
            "docs_audio" => include_str!("../tests/fixtures/docs_audio.json"),
            "docs_voice" => include_str!("../tests/fixtures/docs_voice.json"),
            "docs_document" => include_str!("../tests/fixtures/docs_document.json"),
            "old_2018_photo" => include_str!("../tests/fixtures/old_2018_photo.json"),
            "old_2019_sticker" => include_str!("../tests/fixtures/old_2019_sticker.json"),
            "forward_origin" => include_str!("../tests/fixtures/forward_origin.json"),
            "external_reply" => include_str!("../tests/fixtures/external_reply.json"),
            "forum_topic" => include_str!("../tests/fixtures/forum_topic.json"),
            "survey_answer" => include_str!("../tests/fixtures/survey_answer.json"),
            "survey_answer_minimal" => {
                include_str!("../tests/fixtures/survey_answer_minimal.json")
            }
            other => panic!("no fixture {other}"),
        }
    }

    fn parse_with(name: &str, options: &ParseOptions) -> ParsedUpdate {
        parse_webhook(fixture(name).as_bytes(), options).expect("fixture parses")
    }

    fn parse(name: &str) -> ParsedUpdate {
        parse_with(name, &ParseOptions::default())
    }

    /// Parses a fixture after changing it, for variants of one recorded payload.
    fn parse_modified(
        name: &str,
        options: &ParseOptions,
        change: impl FnOnce(&mut Value),
    ) -> ParsedUpdate {
        let mut value: Value = serde_json::from_str(fixture(name)).expect("fixture is JSON");
        change(&mut value);
        let body = serde_json::to_vec(&value).expect("serializes");
        parse_webhook(&body, options).expect("modified fixture parses")
    }

    fn only_message(parsed: &ParsedUpdate) -> &InboundMessage {
        assert_eq!(parsed.skipped(), None, "update was skipped");
        assert_eq!(parsed.events.len(), 1);
        match &parsed.events[0] {
            InboundEvent::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn only_attachment(message: &InboundMessage) -> &AttachmentRef {
        assert_eq!(message.attachments.len(), 1, "{:?}", message.attachments);
        &message.attachments[0]
    }

    fn at(timestamp: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(timestamp, 0)
    }

    fn groups() -> ParseOptions {
        ParseOptions {
            groups: GroupPolicy::Conversation,
            ..ParseOptions::default()
        }
    }

    #[test]
    fn defaults() {
        let options = ParseOptions::default();
        assert_eq!(options.groups, GroupPolicy::Ignore);
        assert_eq!(options.max_download_bytes, 20 * 1024 * 1024);
        assert_eq!(MAX_BOT_DOWNLOAD_BYTES, 20_971_520);
    }

    #[test]
    fn group_policy_serde_is_lowercase() {
        assert_eq!(
            serde_json::to_value(GroupPolicy::Conversation).expect("serializes"),
            Value::from("conversation")
        );
        let ignore: GroupPolicy = serde_json::from_str("\"ignore\"").expect("deserializes");
        assert_eq!(ignore, GroupPolicy::Ignore);
        assert!(serde_json::from_str::<GroupPolicy>("\"Ignore\"").is_err());
    }

    #[test]
    fn external_id_is_chat_and_message() {
        assert_eq!(external_id(123_456_789, 1365), "123456789:1365");
        assert_eq!(external_id(-1_001_234_567_890, 7), "-1001234567890:7");
    }

    #[test]
    fn private_text_message() {
        let parsed = parse("text");
        assert_eq!(parsed.update_id, Some(873_451_001));
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "123456789:1365");
        // Raw text: no escaping, markup-looking text stays as the customer typed it.
        assert_eq!(
            message.content,
            "Hallo! Meine Bestellung <b>#4711</b> & die Rechnung fehlen.\nKönnen Sie helfen? 🙏"
        );
        assert!(message.attachments.is_empty());
        assert_eq!(message.reply_to_external_id, None);
        assert_eq!(message.provider_at, at(1_718_000_000));
        assert_eq!(message.author, None);

        let sender = &message.sender;
        assert_eq!(sender.identifier, "123456789");
        assert_eq!(sender.name.as_deref(), Some("Anna Schmidt"));
        assert_eq!(sender.language.as_deref(), Some("de"));
        assert_eq!(sender.email, None);
        assert_eq!(sender.phone, None);
        let details = serde_json::json!({
            "username": "anna_s",
            "first_name": "Anna",
            "last_name": "Schmidt",
        });
        assert_eq!(Value::Object(sender.details.clone()), details);
    }

    #[test]
    fn private_sender_without_optional_names() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            let from = &mut value["message"]["from"];
            let from = from.as_object_mut().expect("from is an object");
            from.remove("last_name");
            from.remove("username");
            from.remove("language_code");
        });
        let sender = &only_message(&parsed).sender;
        assert_eq!(sender.name.as_deref(), Some("Anna"));
        assert_eq!(sender.language, None);
        assert_eq!(
            Value::Object(sender.details.clone()),
            serde_json::json!({"first_name": "Anna"})
        );
    }

    /// Some servers and older payloads leave `from` out of private messages; the chat is
    /// the person, so the message is still stored under them.
    #[test]
    fn private_message_without_from_uses_the_chat() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("from");
        });
        let message = only_message(&parsed);
        assert_eq!(message.sender.identifier, "123456789");
        assert_eq!(message.sender.name.as_deref(), Some("Anna Schmidt"));
        assert!(message.content.starts_with("Hallo!"));
    }

    #[test]
    fn photo_takes_largest_size_and_caption() {
        let parsed = parse("photo_caption");
        let message = only_message(&parsed);
        assert_eq!(message.content, "Das Paket kam so an");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "AgACAgIAAxkBAAIBS2ZmPhoto1280".into(),
                file_name: Some("photo_AQADt1280.jpg".into()),
                content_type: Some("image/jpeg".into()),
                byte_size: Some(183_021),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn document_keeps_name_and_mime() {
        let parsed = parse("document");
        let message = only_message(&parsed);
        assert_eq!(message.content, "");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "BQACAgIAAxkBAAIBTGZmDocument".into(),
                file_name: Some("Rechnung 2024-03.pdf".into()),
                content_type: Some("application/pdf".into()),
                byte_size: Some(183_456),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn file_without_size_has_unknown_size() {
        let parsed = parse_modified("document", &ParseOptions::default(), |value| {
            value["message"]["document"]
                .as_object_mut()
                .expect("document is an object")
                .remove("file_size");
        });
        assert_eq!(only_attachment(only_message(&parsed)).byte_size, None);
    }

    #[test]
    fn voice_note() {
        let parsed = parse("voice");
        let message = only_message(&parsed);
        assert_eq!(message.content, "");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "AwACAgIAAxkBAAIBTWZmVoice".into(),
                file_name: Some("voice_AgADvoice1.ogg".into()),
                content_type: Some("audio/ogg".into()),
                byte_size: Some(28_544),
                content_id: None,
                data: None,
            }
        );
    }

    /// A voice note without `mime_type` (optional in the Bot API) is still a voice note.
    #[test]
    fn media_without_optional_fields_keeps_the_file() {
        let parsed = parse_modified("voice", &ParseOptions::default(), |value| {
            let voice = value["message"]["voice"]
                .as_object_mut()
                .expect("voice is an object");
            voice.remove("mime_type");
            voice.remove("file_unique_id");
            voice.remove("file_size");
        });
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "123456789:1368");
        assert_eq!(message.content, "");
        let file = only_attachment(message);
        assert_eq!(file.source, "AwACAgIAAxkBAAIBTWZmVoice");
        assert_eq!(file.file_name.as_deref(), Some("voice_m1368.ogg"));
        assert_eq!(file.content_type.as_deref(), Some("audio/ogg"));
        assert_eq!(file.byte_size, None);
    }

    /// A file without an id cannot be fetched: the caption stays, a note says what is missing.
    #[test]
    fn media_without_a_file_id_keeps_the_caption_and_a_note() {
        let parsed = parse_modified("photo_caption", &ParseOptions::default(), |value| {
            for size in value["message"]["photo"]
                .as_array_mut()
                .expect("photo sizes")
            {
                size.as_object_mut().expect("a size").remove("file_id");
            }
        });
        let message = only_message(&parsed);
        assert!(message.attachments.is_empty());
        assert_eq!(
            message.content,
            "Das Paket kam so an\n[A photo arrived but cannot be shown here: it carries no file id]"
        );
        assert_eq!(parsed.unread_parts.len(), 1);
    }

    #[test]
    fn audio_with_name_and_default_name() {
        let parsed = parse("audio");
        let message = only_message(&parsed);
        assert_eq!(message.content, "Diese Musik läuft seit 20 Minuten");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "CQACAgIAAxkBAAIBTmZmAudio".into(),
                file_name: Some("Hotline Warteschleife.mp3".into()),
                content_type: Some("audio/mpeg".into()),
                byte_size: Some(2_946_123),
                content_id: None,
                data: None,
            }
        );

        let parsed = parse_modified("audio", &ParseOptions::default(), |value| {
            value["message"]["audio"]
                .as_object_mut()
                .expect("audio is an object")
                .remove("file_name");
        });
        assert_eq!(
            only_attachment(only_message(&parsed)).file_name.as_deref(),
            Some("audio_AgADaudio1.mp3")
        );
    }

    #[test]
    fn video_defaults_name_and_keeps_mime() {
        let parsed = parse("video");
        let message = only_message(&parsed);
        assert_eq!(message.content, "Das Gerät macht dieses Geräusch");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "BAACAgIAAxkBAAIBT2ZmVideo".into(),
                file_name: Some("video_AgADvideo1.mp4".into()),
                content_type: Some("video/mp4".into()),
                byte_size: Some(3_145_728),
                content_id: None,
                data: None,
            }
        );

        let parsed = parse_modified("video", &ParseOptions::default(), |value| {
            let video = &mut value["message"]["video"];
            video["file_name"] = Value::from("Geräusch.mov");
            video["mime_type"] = Value::from("video/quicktime");
        });
        let attachment = only_attachment(only_message(&parsed));
        assert_eq!(attachment.file_name.as_deref(), Some("Geräusch.mov"));
        assert_eq!(attachment.content_type.as_deref(), Some("video/quicktime"));
    }

    #[test]
    fn video_note() {
        let parsed = parse("video_note");
        let message = only_message(&parsed);
        assert_eq!(message.content, "");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "DQACAgIAAxkBAAIBUGZmVideoNote".into(),
                file_name: Some("video_note_AgADnote1.mp4".into()),
                content_type: Some("video/mp4".into()),
                byte_size: Some(1_048_576),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn static_sticker_is_an_image() {
        let parsed = parse("sticker");
        let message = only_message(&parsed);
        assert_eq!(message.content, "[Sticker 👍]");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "CAACAgIAAxkBAAIBUWZmSticker".into(),
                file_name: Some("sticker_AgADsticker1.webp".into()),
                content_type: Some("image/webp".into()),
                byte_size: Some(23_476),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn animated_and_video_stickers_are_text_only() {
        for flag in ["is_animated", "is_video"] {
            let parsed = parse_modified("sticker", &ParseOptions::default(), |value| {
                value["message"]["sticker"][flag] = Value::Bool(true);
            });
            let message = only_message(&parsed);
            assert_eq!(message.content, "[Sticker 👍]", "{flag}");
            assert!(message.attachments.is_empty(), "{flag}");
        }
    }

    #[test]
    fn animation_is_not_read_as_document() {
        let parsed = parse("animation");
        let message = only_message(&parsed);
        assert_eq!(message.content, "");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "CgACAgQAAxkBAAIBUmZmAnimation".into(),
                file_name: Some("giphy.mp4".into()),
                content_type: Some("video/mp4".into()),
                byte_size: Some(402_113),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn location_becomes_text_with_map_link() {
        let parsed = parse("location");
        let message = only_message(&parsed);
        assert_eq!(
            message.content,
            "Location: 52.520008, 13.404954\n\
             https://www.openstreetmap.org/?mlat=52.520008&mlon=13.404954"
        );
        assert!(message.attachments.is_empty());
    }

    #[test]
    fn venue_is_not_read_as_location() {
        let parsed = parse("venue");
        assert_eq!(
            only_message(&parsed).content,
            "Venue: Brandenburger Tor\nPariser Platz, 10117 Berlin\n\
             https://www.openstreetmap.org/?mlat=52.516275&mlon=13.377704"
        );
    }

    #[test]
    fn contact_card() {
        let parsed = parse("contact");
        assert_eq!(
            only_message(&parsed).content,
            "Contact: Erika Mustermann, +4915112345678"
        );

        let parsed = parse_modified("contact", &ParseOptions::default(), |value| {
            value["message"]["contact"]
                .as_object_mut()
                .expect("contact is an object")
                .remove("last_name");
        });
        assert_eq!(
            only_message(&parsed).content,
            "Contact: Erika, +4915112345678"
        );
    }

    #[test]
    fn unsupported_content_still_arrives() {
        let parsed = parse("poll");
        assert_eq!(
            only_message(&parsed).content,
            "Poll: Welcher Termin passt?\n• Montag\n• Dienstag"
        );
        let parsed = parse("dice");
        let message = only_message(&parsed);
        assert_eq!(message.content, "Dice 🎲: 4");
        assert_eq!(message.external_id, "123456789:1385");
    }

    #[test]
    fn reply_points_at_the_quoted_message() {
        let parsed = parse("reply");
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "123456789:1380");
        assert_eq!(message.content, "Die Nummer ist 4711");
        assert_eq!(
            message.reply_to_external_id.as_deref(),
            Some("123456789:1377")
        );
    }

    #[test]
    fn edit_keeps_the_original_external_id() {
        let original = parse("text");
        let original = only_message(&original);

        let parsed = parse("edited");
        assert_eq!(parsed.skipped(), None);
        assert_eq!(parsed.events.len(), 1);
        let InboundEvent::Edit(edit) = &parsed.events[0] else {
            panic!("expected an edit, got {:?}", parsed.events[0]);
        };
        assert_eq!(edit.external_id, original.external_id);
        assert_eq!(edit.sender, original.sender);
        assert_eq!(edit.content, "Hallo! Meine Bestellung #4712 fehlt.");
        assert_eq!(edit.edited_at, at(1_718_000_090));
    }

    #[test]
    fn edited_caption_is_the_new_content() {
        let parsed = parse_modified("photo_caption", &ParseOptions::default(), |value| {
            let mut message = value["message"].take();
            message["edit_date"] = Value::from(1_718_000_100);
            message["caption"] = Value::from("Das Paket kam beschädigt an");
            *value = serde_json::json!({"update_id": 873_451_030, "edited_message": message});
        });
        let InboundEvent::Edit(edit) = &parsed.events[0] else {
            panic!("expected an edit, got {parsed:?}");
        };
        assert_eq!(edit.external_id, "123456789:1366");
        assert_eq!(edit.content, "Das Paket kam beschädigt an");
        assert_eq!(edit.edited_at, at(1_718_000_100));
    }

    #[test]
    fn live_location_updates_are_skipped() {
        let parsed = parse_modified("location", &ParseOptions::default(), |value| {
            let mut message = value["message"].take();
            message["edit_date"] = Value::from(1_718_000_600);
            message["location"] = serde_json::json!({"latitude": 52.521, "longitude": 13.41,
                "live_period": 900, "heading": 90, "horizontal_accuracy": 12.5});
            *value = serde_json::json!({"update_id": 873_451_032, "edited_message": message});
        });
        assert!(parsed.skipped().is_some(), "{parsed:?}");
        assert_eq!(parsed.skipped(), Some("live location update"));
        assert_eq!(parsed.update_id, Some(873_451_032));

        // The live location's first message is an ordinary location message.
        let started = parse_modified("location", &ParseOptions::default(), |value| {
            value["message"]["location"]["live_period"] = Value::from(900);
        });
        assert!(only_message(&started).content.contains("52.520008"));
        // Edits of other messages still count.
        assert_eq!(parse("edited").skipped(), None);
    }

    #[test]
    fn album_items_are_separate_messages_of_one_sender() {
        let first = parse("album_1");
        let second = parse("album_2");
        let first = only_message(&first);
        let second = only_message(&second);
        assert_eq!(first.external_id, "123456789:1381");
        assert_eq!(second.external_id, "123456789:1382");
        assert_eq!(first.sender, second.sender);
        assert_eq!(first.content, "Vorher und nachher");
        assert_eq!(second.content, "");
        assert_eq!(only_attachment(first).source, "AgACAgIAAxkBAAIBVWZmAlbum1x");
        assert_eq!(
            only_attachment(second).source,
            "AgACAgIAAxkBAAIBVmZmAlbum2x"
        );
    }

    #[test]
    fn group_ignored_by_default() {
        let parsed = parse("group_text");
        assert_eq!(parsed.update_id, Some(873_451_017));
        assert!(parsed.skipped().is_some());
        assert_eq!(
            parsed.skipped(),
            Some("group chats are ignored by this inbox")
        );
    }

    #[test]
    fn group_as_conversation_names_the_author() {
        let parsed = parse_with("group_text", &groups());
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "-4012345678:52");
        assert_eq!(
            message.content,
            "@kunden_support_bot wann kommt die Lieferung?"
        );
        assert_eq!(message.author.as_deref(), Some("Jonas Weber"));
        let sender = &message.sender;
        assert_eq!(sender.identifier, "-4012345678");
        assert_eq!(sender.name.as_deref(), Some("Kunden GmbH × Partner AG"));
        assert_eq!(sender.language, None);
        assert_eq!(
            Value::Object(sender.details.clone()),
            serde_json::json!({"chat_type": "group", "title": "Kunden GmbH × Partner AG"})
        );
    }

    #[test]
    fn supergroup_author_falls_back_to_username() {
        let parsed = parse_modified("group_text", &groups(), |value| {
            let message = &mut value["message"];
            message["chat"] = serde_json::json!({
                "id": -1_001_234_567_890_i64,
                "title": "Kunden GmbH Support",
                "type": "supergroup",
            });
            message["from"]["first_name"] = Value::from("");
            message["from"]
                .as_object_mut()
                .expect("from is an object")
                .remove("last_name");
        });
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "-1001234567890:52");
        assert_eq!(message.sender.identifier, "-1001234567890");
        assert_eq!(message.author.as_deref(), Some("@jweber"));
        assert_eq!(message.sender.details["chat_type"], "supergroup");
    }

    #[test]
    fn anonymous_group_admin_is_named_by_signature() {
        let parsed = parse_modified("group_text", &groups(), |value| {
            let message = &mut value["message"];
            message["from"] = serde_json::json!({
                "id": 1_087_968_824, "is_bot": true, "first_name": "Group",
                "username": "GroupAnonymousBot",
            });
            message["sender_chat"] = message["chat"].clone();
            message["author_signature"] = Value::from("Inhaberin");
        });
        assert_eq!(only_message(&parsed).author.as_deref(), Some("Inhaberin"));
    }

    #[test]
    fn group_edit_uses_the_group_as_sender() {
        let parsed = parse_modified("group_text", &groups(), |value| {
            let mut message = value["message"].take();
            message["edit_date"] = Value::from(1_718_002_100);
            *value = serde_json::json!({"update_id": 873_451_031, "edited_message": message});
        });
        let InboundEvent::Edit(edit) = &parsed.events[0] else {
            panic!("expected an edit, got {parsed:?}");
        };
        assert_eq!(edit.external_id, "-4012345678:52");
        assert_eq!(edit.sender.identifier, "-4012345678");

        let ignored = parse_modified("group_text", &ParseOptions::default(), |value| {
            let mut message = value["message"].take();
            message["edit_date"] = Value::from(1_718_002_100);
            *value = serde_json::json!({"update_id": 873_451_031, "edited_message": message});
        });
        assert!(ignored.skipped().is_some());
    }

    #[test]
    fn too_big_file_becomes_a_notice() {
        let parsed = parse("big_document");
        let message = only_message(&parsed);
        assert!(message.attachments.is_empty());
        assert_eq!(
            message.content,
            "Hier das Video vom Schaden\n[The customer sent “Baustelle Rundgang.mov” (45.2 MB), \
             larger than the 20 MB a Telegram bot can download. Ask them to send it another way.]"
        );
    }

    #[test]
    fn notice_uses_the_configured_limit_and_stands_alone_without_caption() {
        let options = ParseOptions {
            max_download_bytes: 100 * 1024,
            ..ParseOptions::default()
        };
        let parsed = parse_with("document", &options);
        let message = only_message(&parsed);
        assert!(message.attachments.is_empty());
        assert_eq!(
            message.content,
            "[The customer sent “Rechnung 2024-03.pdf” (179.2 KB), larger than the 100 KB a \
             Telegram bot can download. Ask them to send it another way.]"
        );

        // Exactly at the limit is still downloadable.
        let options = ParseOptions {
            max_download_bytes: 183_456,
            ..ParseOptions::default()
        };
        assert_eq!(
            only_message(&parse_with("document", &options))
                .attachments
                .len(),
            1
        );
    }

    #[test]
    fn other_update_kinds_are_skipped_with_their_name() {
        let parsed = parse("channel_post");
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(
            parsed.skipped(),
            Some("`channel_post` updates are not handled by this inbox")
        );
    }

    fn only_answer(parsed: &ParsedUpdate) -> &SurveyAnswer {
        match parsed.events.as_slice() {
            [InboundEvent::SurveyAnswer(answer)] => answer,
            other => panic!("expected a survey answer, got {other:?}"),
        }
    }

    /// Puts the callback query of a survey tap into a group chat (by the message's chat).
    fn survey_in_group(value: &mut Value) {
        value["callback_query"]["message"]["chat"] = serde_json::json!({
            "id": -4_012_345_678_i64, "title": "Kunden GmbH × Partner AG", "type": "group",
        });
    }

    #[test]
    fn survey_tap_in_a_private_chat_is_an_answer() {
        let parsed = parse("survey_answer");
        assert_eq!(parsed.update_id, Some(873_451_050));
        assert!(parsed.unread_parts.is_empty());
        let answer = only_answer(&parsed);
        assert_eq!(answer.survey_id, "42");
        assert_eq!(answer.rating, 4);
        assert_eq!(answer.confirm.as_deref(), Some("4382bfdwdsb323b2d9"));
        assert_eq!(answer.comment, None);
        // `message.date` is when the survey went out, not when it was answered.
        assert_eq!(answer.at, None);
        // The same contact as a message Anna writes in that chat.
        assert_eq!(answer.sender, only_message(&parse("text")).sender);
        assert_eq!(answer.sender.identifier, "123456789");
    }

    /// `from.last_name`, `from.username`, `message.from` and `chat_instance` left out.
    #[test]
    fn survey_tap_without_optional_fields_is_an_answer() {
        let parsed = parse("survey_answer_minimal");
        let answer = only_answer(&parsed);
        assert_eq!(answer.survey_id, "43");
        assert_eq!(answer.rating, 1);
        assert_eq!(answer.confirm.as_deref(), Some("4382bfdwdsb323b2e1"));
        assert_eq!(answer.at, None);
        let sender = &answer.sender;
        assert_eq!(sender.identifier, "223456789");
        assert_eq!(sender.name.as_deref(), Some("Jonas"));
        assert_eq!(sender.language, None);
        assert_eq!(
            Value::Object(sender.details.clone()),
            serde_json::json!({"first_name": "Jonas"})
        );

        // A survey message too old for the bot to see comes as an `InaccessibleMessage`
        // (chat, message id, date 0): its chat is all the answer needs.
        let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
            value["callback_query"]["message"] = serde_json::json!({
                "chat": {"id": 123_456_789, "type": "private"}, "message_id": 1390, "date": 0,
            });
        });
        let answer = only_answer(&parsed);
        assert_eq!(answer.sender.identifier, "123456789");
        assert_eq!(answer.sender.name.as_deref(), Some("Anna Schmidt"));
        assert_eq!(answer.rating, 4);

        // Even a chat without `type` (a positive id is a person) and a numeric query id.
        let parsed = parse_modified("survey_answer_minimal", &ParseOptions::default(), |value| {
            let query = &mut value["callback_query"];
            query["id"] = Value::from(987_654_321_u64);
            query["message"]["chat"] = serde_json::json!({"id": 223_456_789});
        });
        let answer = only_answer(&parsed);
        assert_eq!(answer.sender.identifier, "223456789");
        assert_eq!(answer.confirm.as_deref(), Some("987654321"));
    }

    #[test]
    fn survey_tap_in_a_group_follows_the_group_policy() {
        let ignored = parse_modified("survey_answer", &ParseOptions::default(), survey_in_group);
        assert_eq!(
            ignored.skipped(),
            Some("group chats are ignored by this inbox")
        );

        let parsed = parse_modified("survey_answer", &groups(), survey_in_group);
        let answer = only_answer(&parsed);
        // The group is the contact, as for the group's messages; any member may answer.
        assert_eq!(
            answer.sender,
            only_message(&parse_with("group_text", &groups())).sender
        );
        assert_eq!(answer.sender.identifier, "-4012345678");
        assert_eq!(answer.rating, 4);

        let parsed = parse_modified("survey_answer", &groups(), |value| {
            value["callback_query"]["message"]["chat"] = serde_json::json!({"id": -1_001_234_567_890_i64, "title": "News", "type": "channel"});
        });
        assert_eq!(
            parsed.skipped(),
            Some("channel chats are not handled by this inbox")
        );
    }

    #[test]
    fn survey_tap_on_an_inline_message_is_skipped() {
        let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
            let query = value["callback_query"]
                .as_object_mut()
                .expect("callback_query is an object");
            query.remove("message");
            query.insert("inline_message_id".into(), Value::from("BAAAAKmaEGx8nFv"));
        });
        assert_eq!(
            parsed.skipped(),
            Some("survey answer on an inline-mode message: it has no chat to match a conversation")
        );
    }

    #[test]
    fn other_callback_queries_are_skipped() {
        let parsed = parse("callback_query");
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(
            parsed.skipped(),
            Some(
                "a `callback_query` whose data is not a survey answer is not handled by this \
                 inbox"
            )
        );
        for data in ["csat:42:9", "csat:abc:5", "csat:42", ""] {
            let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
                value["callback_query"]["data"] = Value::from(data);
            });
            assert!(parsed.skipped().is_some(), "{data:?}: {parsed:?}");
        }
        let parsed = parse_modified("callback_query", &ParseOptions::default(), |value| {
            let query = value["callback_query"]
                .as_object_mut()
                .expect("callback_query is an object");
            query.remove("data");
            query.insert("game_short_name".into(), Value::from("snake"));
        });
        assert_eq!(
            parsed.skipped(),
            Some("a `callback_query` without `data` (a game button) is not handled by this inbox")
        );
        // Not ours: a broken query of another button is skipped, not kept for replay.
        let parsed = parse_modified("callback_query", &ParseOptions::default(), |value| {
            value["callback_query"]
                .as_object_mut()
                .expect("callback_query is an object")
                .remove("from");
        });
        assert!(parsed.skipped().is_some(), "{parsed:?}");
    }

    #[test]
    fn broken_survey_taps_are_kept_as_unreadable() {
        type Change = fn(&mut Map<String, Value>);
        let cases: [(&str, Change); 6] = [
            ("survey answer: `callback_query` has no `id`", |query| {
                query.remove("id");
            }),
            ("survey answer: `callback_query` has no `id`", |query| {
                query.insert("id".into(), Value::from(""));
            }),
            (
                "survey answer: `callback_query` has no `from` object",
                |query| {
                    query.remove("from");
                },
            ),
            (
                "survey answer: `callback_query` has neither `message` nor `inline_message_id`",
                |query| {
                    query.remove("message");
                },
            ),
            ("`callback_query.message` has no `chat` object", |query| {
                query["message"]
                    .as_object_mut()
                    .expect("message is an object")
                    .remove("chat");
            }),
            (
                "`callback_query.message.chat` has no readable `id`",
                |query| {
                    query["message"]["chat"]
                        .as_object_mut()
                        .expect("chat is an object")
                        .remove("id");
                },
            ),
        ];
        for (expected, change) in cases {
            let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
                change(
                    value["callback_query"]
                        .as_object_mut()
                        .expect("callback_query is an object"),
                );
            });
            let [InboundEvent::Unreadable { reason, raw }] = parsed.events.as_slice() else {
                panic!("{expected}: expected an unreadable update, got {parsed:?}");
            };
            assert_eq!(reason, expected);
            assert_eq!(raw["update_id"], Value::from(873_451_050));
        }
        let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
            value["callback_query"] = Value::from("csat:42:4");
        });
        assert_eq!(
            parsed.unreadable(),
            Some("`callback_query` is a string, not an object")
        );
        let parsed = parse_modified("survey_answer", &ParseOptions::default(), |value| {
            value["callback_query"]["message"] = Value::Null;
        });
        assert!(parsed.unreadable().is_some(), "{parsed:?}");
    }

    #[test]
    fn blocking_and_unblocking_the_bot() {
        let parsed = parse("my_chat_member");
        let [InboundEvent::Reachability(blocked)] = parsed.events.as_slice() else {
            panic!("expected a reachability change, got {parsed:?}");
        };
        assert!(blocked.blocked);
        assert_eq!(blocked.sender.identifier, "123456789");
        assert_eq!(blocked.at, at(1_718_005_000));

        let parsed = parse_modified("my_chat_member", &ParseOptions::default(), |value| {
            value["my_chat_member"]["old_chat_member"]["status"] = Value::from("kicked");
            value["my_chat_member"]["new_chat_member"]["status"] = Value::from("member");
        });
        let [InboundEvent::Reachability(unblocked)] = parsed.events.as_slice() else {
            panic!("expected a reachability change, got {parsed:?}");
        };
        assert!(!unblocked.blocked);

        // In a group it is the bot being removed, not a customer blocking it.
        let parsed = parse_modified("my_chat_member", &ParseOptions::default(), |value| {
            value["my_chat_member"]["chat"] =
                serde_json::json!({"id": -4_012_345_678_i64, "title": "Team", "type": "group"});
        });
        assert!(
            parsed.skipped().is_some_and(|r| r.contains("group")),
            "{parsed:?}"
        );
    }

    #[test]
    fn unknown_kind_is_skipped_not_failed() {
        let parsed = parse("unknown_kind");
        assert_eq!(parsed.update_id, Some(9));
        assert!(parsed.skipped().is_some());
        assert_eq!(
            parsed.skipped(),
            Some("`some_future_kind` updates are not handled by this inbox")
        );
    }

    #[test]
    fn message_without_a_chat_is_kept_as_unreadable() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("chat");
        });
        let [InboundEvent::Unreadable { reason, raw }] = parsed.events.as_slice() else {
            panic!("expected an unreadable update, got {parsed:?}");
        };
        assert_eq!(reason, "`message` has no `chat` object");
        assert_eq!(raw["update_id"], Value::from(873_451_001));
        assert_eq!(raw["message"]["message_id"], Value::from(1365));

        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("message_id");
        });
        assert_eq!(
            parsed.unreadable(),
            Some("`message` has no readable `message_id`")
        );
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"] = Value::from("not a message");
        });
        assert!(parsed.unreadable().is_some());
    }

    #[test]
    fn channel_chat_messages_are_skipped() {
        let parsed = parse_modified("channel_post", &groups(), |value| {
            let post = value["channel_post"].take();
            *value = serde_json::json!({"update_id": 873_451_032, "message": post});
        });
        assert!(parsed.skipped().is_some());
        assert_eq!(
            parsed.skipped(),
            Some("channel chats are not handled by this inbox")
        );
    }

    #[test]
    fn service_messages_are_skipped() {
        let parsed = parse_modified("group_text", &groups(), |value| {
            let message = value["message"]
                .as_object_mut()
                .expect("message is an object");
            message.remove("text");
            message.remove("entities");
            message.insert("new_chat_title".into(), Value::from("Neuer Name"));
        });
        assert!(parsed.skipped().is_some());
        assert!(
            parsed
                .skipped()
                .is_some_and(|r| r.contains("service message")),
            "{parsed:?}"
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "body is not valid JSON"),
            (b"{\"update_id\": 1,", "body is not valid JSON"),
            (
                b"[1, 2]",
                "body must be a JSON object (a Telegram Update), found an array",
            ),
            (b"{}", "update_id: missing"),
            (b"{\"message\": {}}", "update_id: missing"),
            (b"{\"update_id\": \"12\"}", "update_id: must be an integer"),
            (b"{\"update_id\": -1}", "update_id: must be an integer"),
        ];
        for (body, expected) in cases {
            match parse_webhook(body, &ParseOptions::default()) {
                Err(InboundError::Malformed(message)) => {
                    assert!(message.starts_with(expected), "{message}");
                }
                other => panic!(
                    "{:?}: expected Malformed, got {other:?}",
                    String::from_utf8_lossy(body)
                ),
            }
        }
        assert!(matches!(
            parse_webhook(b"{\"update_id\": 4294967296}", &ParseOptions::default()),
            Err(InboundError::Malformed(_))
        ));
    }

    #[test]
    fn update_with_only_an_id_is_skipped() {
        let parsed =
            parse_webhook(b"{\"update_id\": 4294967295}", &ParseOptions::default()).expect("ok");
        assert_eq!(parsed.update_id, Some(u32::MAX));
        assert!(parsed.skipped().is_some());
    }

    #[test]
    fn parse_value_matches_parse_webhook() {
        for name in [
            "text",
            "photo_caption",
            "edited",
            "group_text",
            "callback_query",
            "survey_answer",
            "survey_answer_minimal",
            "unknown_kind",
        ] {
            let update: Value = serde_json::from_str(fixture(name)).expect("JSON");
            for options in [ParseOptions::default(), groups()] {
                let direct = parse_value(&update, &options);
                let via_webhook = parse_with(name, &options);
                assert_eq!(direct, via_webhook, "{name}");
            }
        }
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_size(17), "17 bytes");
        assert_eq!(format_size(1024), "1 KB");
        assert_eq!(format_size(183_456), "179.2 KB");
        assert_eq!(format_size(20 * 1024 * 1024), "20 MB");
        assert_eq!(format_size(47_400_000), "45.2 MB");
        assert_eq!(format_size(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
        assert_eq!(format_size(u64::MAX), "17179869184 GB");
    }
    /// The example bodies of Telegram's own webhook documentation: no `is_bot`, no chat
    /// `type` in the first, no `file_unique_id` anywhere.
    #[test]
    fn documentation_examples_are_stored() {
        let parsed = parse("docs_text");
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "1111111:1365");
        assert_eq!(message.content, "/start");
        assert_eq!(message.sender.identifier, "1111111");
        assert_eq!(message.sender.name.as_deref(), Some("Test Test Lastname"));
        assert_eq!(message.provider_at, at(1_441_645_532));

        let parsed = parse("docs_reply");
        let message = only_message(&parsed);
        assert_eq!(
            message.reply_to_external_id.as_deref(),
            Some("1111112:1334")
        );
        assert_eq!(
            message.quote,
            Some(Quote {
                text: "Original".into(),
                author: None
            })
        );

        let parsed = parse("docs_forwarded");
        assert_eq!(
            only_message(&parsed).forwarded,
            Some(Forward {
                from: "Forward Forward Lastname".into(),
                date: at(1_441_645_550)
            })
        );

        for (name, file_name, content_type, size) in [
            ("docs_audio", "audio_m1365.mp3", "audio/mpeg", 3_897_500),
            ("docs_voice", "voice_m1365.ogg", "audio/ogg", 23_000),
            ("docs_document", "Testfile.pdf", "application/pdf", 536_392),
        ] {
            let parsed = parse(name);
            let file = only_attachment(only_message(&parsed));
            assert_eq!(file.source, "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", "{name}");
            assert_eq!(file.file_name.as_deref(), Some(file_name), "{name}");
            assert_eq!(file.content_type.as_deref(), Some(content_type), "{name}");
            assert_eq!(file.byte_size, Some(size), "{name}");
        }
    }

    #[test]
    fn documentation_edit_example_carries_the_whole_message() {
        let parsed = parse("docs_edited");
        let [InboundEvent::Edit(edit)] = parsed.events.as_slice() else {
            panic!("expected an edit, got {parsed:?}");
        };
        assert_eq!(edit.external_id, "1111111:1365");
        assert_eq!(edit.content, "Edited text");
        assert_eq!(edit.edited_at, at(1_441_646_600));
        let message = edit
            .as_message
            .as_deref()
            .expect("the message as it reads now");
        assert_eq!(message.external_id, "1111111:1365");
        assert_eq!(message.content, "Edited text");
        assert_eq!(message.edited_at, at(1_441_646_600));
        assert_eq!(message.provider_at, at(1_441_645_532));
    }

    #[test]
    fn old_bot_api_shapes_keep_files_and_captions() {
        let parsed = parse("old_2018_photo");
        let message = only_message(&parsed);
        assert_eq!(message.content, "Zdjęcie uszkodzenia");
        assert_eq!(message.sender.language.as_deref(), Some("pl-PL"));
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "AgADBAADq6sxG0Large".into(),
                file_name: Some("photo_m211.jpg".into()),
                content_type: Some("image/jpeg".into()),
                byte_size: Some(61_215),
                content_id: None,
                data: None,
            }
        );

        let parsed = parse("old_2019_sticker");
        let message = only_message(&parsed);
        assert_eq!(message.content, "[Sticker 👍]");
        assert_eq!(
            only_attachment(message),
            &AttachmentRef {
                source: "CAADAgADOld2019Sticker".into(),
                file_name: Some("sticker_m87.webp".into()),
                content_type: Some("image/webp".into()),
                byte_size: Some(23_210),
                content_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn forwards_name_their_origin_in_new_and_old_fields() {
        let expected = Some(Forward {
            from: "Paketdienst News (Redaktion)".into(),
            date: at(1_717_990_000),
        });
        let parsed = parse("forward_origin");
        let message = only_message(&parsed);
        assert_eq!(message.forwarded, expected);
        assert_eq!(message.content, "Zustellungen verzögern sich wegen Streik");

        // Before Bot API 7.0 only the forward_* fields were sent.
        let parsed = parse_modified("forward_origin", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("forward_origin");
        });
        assert_eq!(only_message(&parsed).forwarded, expected);

        let parsed = parse_modified("docs_forwarded", &ParseOptions::default(), |value| {
            let message = value["message"]
                .as_object_mut()
                .expect("message is an object");
            message.remove("forward_from");
            message.insert("forward_sender_name".into(), Value::from("Geheim G."));
        });
        assert_eq!(
            only_message(&parsed).forwarded,
            Some(Forward {
                from: "Geheim G.".into(),
                date: at(1_441_645_550)
            })
        );
        assert_eq!(only_message(&parse("text")).forwarded, None);
    }

    #[test]
    fn external_reply_keeps_the_selected_quote() {
        let parsed = parse("external_reply");
        let message = only_message(&parsed);
        assert_eq!(message.reply_to_external_id, None);
        assert_eq!(
            message.quote,
            Some(Quote {
                text: "mein Paket liegt beim Nachbarn".into(),
                author: Some("Max M.".into()),
            })
        );
    }

    #[test]
    fn reply_quote_survives_without_the_original() {
        let parsed = parse("reply");
        let message = only_message(&parsed);
        let quote = message.quote.as_ref().expect("a quote");
        assert!(!quote.text.is_empty());
        assert!(quote.author.is_some());
    }

    #[test]
    fn forum_topic_message_keeps_its_thread_and_author_id() {
        let parsed = parse_with("forum_topic", &groups());
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "-1001234567890:96");
        assert_eq!(message.sender.identifier, "-1001234567890");
        assert_eq!(message.thread_id.as_deref(), Some("90"));
        assert_eq!(message.author.as_deref(), Some("Jonas"));
        assert_eq!(message.author_id.as_deref(), Some("555000111"));
        // The topic's first message is the topic, not a quote.
        assert_eq!(message.reply_to_external_id, None);
        assert_eq!(message.quote, None);

        // A reply thread in an ordinary group is not a topic to answer into.
        let parsed = parse_modified("forum_topic", &groups(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("is_topic_message");
        });
        let message = only_message(&parsed);
        assert_eq!(message.thread_id, None);
        assert_eq!(
            message.reply_to_external_id.as_deref(),
            Some("-1001234567890:90")
        );
    }

    #[test]
    fn unknown_content_is_stored_with_a_note() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            let message = value["message"]
                .as_object_mut()
                .expect("message is an object");
            message.remove("text");
            message.insert("hologram".into(), serde_json::json!({"id": 1}));
        });
        let message = only_message(&parsed);
        assert_eq!(
            message.content,
            "[A message arrived but cannot be shown here: its kind (`hologram`) is unknown here]"
        );
        assert_eq!(parsed.unread_parts.len(), 1);

        // New metadata beside readable content changes nothing.
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]["sender_hologram"] = Value::from(true);
        });
        assert!(only_message(&parsed).content.starts_with("Hallo!"));
        assert!(parsed.unread_parts.is_empty());
    }

    #[test]
    fn placeholders_say_what_arrived_without_sending_agents_elsewhere() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            let message = value["message"]
                .as_object_mut()
                .expect("message is an object");
            message.remove("text");
            message.insert("game".into(), serde_json::json!({"title": "Snake"}));
        });
        let content = &only_message(&parsed).content;
        assert_eq!(content, "[A game arrived; it cannot be shown here]");
        assert!(!content.contains("open Telegram"));
    }

    #[test]
    fn numbers_written_as_strings_are_read() {
        let parsed = parse_modified("document", &ParseOptions::default(), |value| {
            value["message"]["document"]["file_size"] = Value::from("183456");
            value["message"]["message_id"] = Value::from("1367");
        });
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "123456789:1367");
        assert_eq!(only_attachment(message).byte_size, Some(183_456));
    }
}
