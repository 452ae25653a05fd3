//! Bot API `Update`s in, normalized [`InboundEvent`]s out.
//!
//! Pure functions only: the webhook handler and the getUpdates poller both hand us one `Update`
//! at a time and get back the events to store plus, when nothing was produced, a reason for the
//! log line. Text is passed through raw (the hub escapes when it shows it).
//!
//! Albums (`media_group_id`) need no special handling here: Telegram delivers every item of an
//! album as its own message with its own id, and the hub's per-contact serialization keeps all of
//! them in the same conversation, in order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_channel::{
    AttachmentRef, ContactProfile, InboundError, InboundEvent, InboundMessage, MessageEdit,
};
use teloxide::types::{
    Chat, ChatKind, FileMeta, MediaKind, Message, MessageKind, PublicChatKind, Update, UpdateKind,
    User,
};

/// Largest file a bot may fetch with getFile (the Bot API refuses bigger ones), so larger files
/// become a note for the agent instead of a download that can only fail.
pub const MAX_BOT_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// Update kinds whose payload teloxide reads as a [`Message`]; when one of them fails to
/// deserialize, teloxide reports it as an unknown kind, and we re-read it to log the real cause.
const MESSAGE_KINDS: [&str; 6] = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
];

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

/// What one `Update` turned into, so the caller can acknowledge `update_id` whether or not
/// anything was produced (Telegram redelivers unacknowledged updates forever).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUpdate {
    /// The update's id, for getUpdates offsets and deduplication.
    pub update_id: u32,
    /// The events to store; empty when the update was skipped.
    pub events: Vec<InboundEvent>,
    /// Why nothing was produced, for a log line; `None` when events were produced.
    pub skipped: Option<String>,
}

impl ParsedUpdate {
    fn produced(update_id: u32, event: InboundEvent) -> Self {
        Self {
            update_id,
            events: vec![event],
            skipped: None,
        }
    }

    fn skipped(update_id: u32, reason: String) -> Self {
        Self {
            update_id,
            events: Vec::new(),
            skipped: Some(reason),
        }
    }
}

/// The external id of a Telegram message: `"{chat_id}:{message_id}"`, because message ids are
/// only unique within one chat. [`crate::outbound::parse_external_id`] is the inverse.
pub fn external_id(chat_id: i64, message_id: i32) -> String {
    format!("{chat_id}:{message_id}")
}

/// Parses one webhook body (a single `Update` as JSON).
///
/// Only a body that is not an `Update` at all (invalid JSON, not an object, missing or invalid
/// `update_id`) is an error; update kinds we do not handle, including ones newer than teloxide,
/// come back as [`ParsedUpdate::skipped`] so Telegram is not asked to redeliver them forever.
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
    let kind_key = object
        .iter()
        .find(|(key, _)| key.as_str() != "update_id")
        .map(|(key, payload)| (key.clone(), payload.clone()));

    // From the bytes, not from `value`: teloxide's `UpdateKind` wants borrowed keys, and reading
    // it from a `Value` loses the kind.
    let update: Update = serde_json::from_slice(body)
        .map_err(|error| InboundError::Malformed(format!("not a Telegram Update: {error}")))?;
    if !matches!(update.kind, UpdateKind::Error(_)) {
        return Ok(parse_update(&update, options));
    }

    // teloxide turns both unknown kinds and known kinds it failed to read into `Error`; name
    // which one it was so the log line is useful.
    let reason = match kind_key {
        None => "update carries no content besides update_id".to_owned(),
        Some((key, payload)) if MESSAGE_KINDS.contains(&key.as_str()) => {
            match serde_json::from_value::<Message>(payload) {
                Err(error) => format!("`{key}` update could not be read: {error}"),
                Ok(_) => format!("`{key}` update could not be read"),
            }
        }
        Some((key, _)) => format!("unknown update kind `{key}`"),
    };
    Ok(ParsedUpdate::skipped(update.id.0, reason))
}

/// Turns one deserialized `Update` into events; used for webhook bodies and getUpdates results
/// alike so both paths behave the same.
pub fn parse_update(update: &Update, options: &ParseOptions) -> ParsedUpdate {
    let update_id = update.id.0;
    let result = match &update.kind {
        UpdateKind::Message(message) => message_event(message, options).map(InboundEvent::Message),
        UpdateKind::EditedMessage(message) => edit_event(message, options).map(InboundEvent::Edit),
        UpdateKind::Error(_) => Err("unknown update kind (not known to teloxide)".to_owned()),
        other => Err(format!(
            "`{}` updates are not handled by this inbox",
            update_kind_name(other)
        )),
    };
    match result {
        Ok(event) => ParsedUpdate::produced(update_id, event),
        Err(reason) => ParsedUpdate::skipped(update_id, reason),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn update_kind_name(kind: &UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::ChannelPost(_) => "channel_post",
        UpdateKind::EditedChannelPost(_) => "edited_channel_post",
        UpdateKind::BusinessConnection(_) => "business_connection",
        UpdateKind::BusinessMessage(_) => "business_message",
        UpdateKind::EditedBusinessMessage(_) => "edited_business_message",
        UpdateKind::DeletedBusinessMessages(_) => "deleted_business_messages",
        UpdateKind::MessageReaction(_) => "message_reaction",
        UpdateKind::MessageReactionCount(_) => "message_reaction_count",
        UpdateKind::InlineQuery(_) => "inline_query",
        UpdateKind::ChosenInlineResult(_) => "chosen_inline_result",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::ShippingQuery(_) => "shipping_query",
        UpdateKind::PreCheckoutQuery(_) => "pre_checkout_query",
        UpdateKind::PurchasedPaidMedia(_) => "purchased_paid_media",
        UpdateKind::Poll(_) => "poll",
        UpdateKind::PollAnswer(_) => "poll_answer",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        UpdateKind::ChatMember(_) => "chat_member",
        UpdateKind::ChatJoinRequest(_) => "chat_join_request",
        UpdateKind::ChatBoost(_) => "chat_boost",
        UpdateKind::RemovedChatBoost(_) => "removed_chat_boost",
        UpdateKind::Error(_) => "unknown",
    }
}

fn message_event(message: &Message, options: &ParseOptions) -> Result<InboundMessage, String> {
    let (sender, author) = resolve_sender(message, options)?;
    let rendered = render(message, options)?;
    let reply_to_external_id = match &message.kind {
        MessageKind::Common(common) => common
            .reply_to_message
            .as_ref()
            .map(|reply| external_id(message.chat.id.0, reply.id.0)),
        _ => None,
    };
    Ok(InboundMessage {
        external_id: external_id(message.chat.id.0, message.id.0),
        sender,
        content: rendered.content(),
        attachments: rendered.attachments,
        reply_to_external_id,
        provider_at: Some(message.date),
        author,
    })
}

fn edit_event(message: &Message, options: &ParseOptions) -> Result<MessageEdit, String> {
    let (sender, _author) = resolve_sender(message, options)?;
    // A shared live location is reported as an edit of its message at every move (a plain
    // location cannot be edited at all): the message keeps the first position, and the
    // updates are not edits of anything the customer wrote.
    if let MessageKind::Common(common) = &message.kind
        && matches!(common.media_kind, MediaKind::Location(_))
    {
        return Err("live location update".to_owned());
    }
    let rendered = render(message, options)?;
    let edited_at = match &message.kind {
        MessageKind::Common(common) => common.edit_date,
        _ => None,
    };
    Ok(MessageEdit {
        external_id: external_id(message.chat.id.0, message.id.0),
        sender,
        content: rendered.content(),
        edited_at,
    })
}

/// The contact a message belongs to and, in groups, the person who wrote it.
fn resolve_sender(
    message: &Message,
    options: &ParseOptions,
) -> Result<(ContactProfile, Option<String>), String> {
    let chat = &message.chat;
    match &chat.kind {
        ChatKind::Private(_) => {
            let user = message
                .from
                .as_ref()
                .ok_or_else(|| "private chat message without a sender (`from`)".to_owned())?;
            Ok((user_profile(user), None))
        }
        ChatKind::Public(public) => {
            let chat_type = match &public.kind {
                PublicChatKind::Group => "group",
                PublicChatKind::Supergroup(_) => "supergroup",
                PublicChatKind::Channel(_) => {
                    return Err("channel chats are not handled by this inbox".to_owned());
                }
            };
            if options.groups == GroupPolicy::Ignore {
                return Err("group chats are ignored by this inbox".to_owned());
            }
            let mut details = Map::new();
            details.insert("chat_type".to_owned(), Value::from(chat_type));
            if let Some(title) = &public.title {
                details.insert("title".to_owned(), Value::from(title.as_str()));
            }
            let sender = ContactProfile {
                identifier: chat.id.0.to_string(),
                name: public.title.clone(),
                details,
                ..ContactProfile::default()
            };
            Ok((sender, group_author(message)))
        }
    }
}

fn user_profile(user: &User) -> ContactProfile {
    let mut details = Map::new();
    if let Some(username) = &user.username {
        details.insert("username".to_owned(), Value::from(username.as_str()));
    }
    details.insert(
        "first_name".to_owned(),
        Value::from(user.first_name.as_str()),
    );
    if let Some(last_name) = &user.last_name {
        details.insert("last_name".to_owned(), Value::from(last_name.as_str()));
    }
    let name = user.full_name();
    ContactProfile {
        identifier: user.id.0.to_string(),
        name: (!name.trim().is_empty()).then_some(name),
        language: user.language_code.clone(),
        details,
        ..ContactProfile::default()
    }
}

/// Who wrote a group message: the user, or for anonymous admins and linked channels (which
/// post "as" a chat) that chat's signature or title.
fn group_author(message: &Message) -> Option<String> {
    if let Some(sender_chat) = &message.sender_chat {
        let signature = match &message.kind {
            MessageKind::Common(common) => common.author_signature.clone(),
            _ => None,
        };
        return signature.or_else(|| chat_title(sender_chat));
    }
    let user = message.from.as_ref()?;
    let name = user.full_name();
    if name.trim().is_empty() {
        user.mention()
    } else {
        Some(name)
    }
}

fn chat_title(chat: &Chat) -> Option<String> {
    match &chat.kind {
        ChatKind::Public(public) => public.title.clone(),
        ChatKind::Private(private) => private.first_name.clone(),
    }
}

/// A message's text and files, before the size notices are joined onto the text.
#[derive(Default)]
struct Rendered {
    text: String,
    notices: Vec<String>,
    attachments: Vec<AttachmentRef>,
}

impl Rendered {
    fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    fn caption(caption: Option<&str>) -> Self {
        Self::text(caption.unwrap_or_default())
    }

    fn unsupported(kind: &str) -> Self {
        Self::text(format!(
            "[{kind} — not supported here; open Telegram to see it]"
        ))
    }

    /// Adds a file, or a notice in its place when it is too big for a bot to download.
    fn file(
        mut self,
        meta: &FileMeta,
        file_name: Option<String>,
        content_type: Option<String>,
        options: &ParseOptions,
    ) -> Self {
        let byte_size = known_size(meta);
        match byte_size {
            Some(size) if size > options.max_download_bytes => {
                let what = file_name
                    .map(|name| format!("“{name}”"))
                    .unwrap_or_else(|| "a file".to_owned());
                self.notices.push(format!(
                    "[The customer sent {what} ({}), larger than the {} a Telegram bot can \
                     download. Ask them to send it another way.]",
                    format_size(size),
                    format_size(options.max_download_bytes)
                ));
            }
            _ => self.attachments.push(AttachmentRef {
                source: meta.id.0.clone(),
                file_name,
                content_type,
                byte_size,
            }),
        }
        self
    }

    fn content(&self) -> String {
        let mut lines: Vec<&str> = Vec::with_capacity(1 + self.notices.len());
        if !self.text.is_empty() {
            lines.push(&self.text);
        }
        lines.extend(self.notices.iter().map(String::as_str));
        lines.join("\n")
    }
}

/// teloxide fills a missing `file_size` with `u32::MAX`; that means "unknown", not 4 GB.
fn known_size(meta: &FileMeta) -> Option<u64> {
    (meta.size != u32::MAX).then_some(u64::from(meta.size))
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

fn render(message: &Message, options: &ParseOptions) -> Result<Rendered, String> {
    let media = match &message.kind {
        MessageKind::Common(common) => &common.media_kind,
        MessageKind::Dice(_) => return Ok(Rendered::unsupported("Dice")),
        MessageKind::Giveaway(_) => return Ok(Rendered::unsupported("Giveaway")),
        MessageKind::Invoice(_) => return Ok(Rendered::unsupported("Invoice")),
        MessageKind::PassportData(_) => return Ok(Rendered::unsupported("Telegram Passport data")),
        MessageKind::WebAppData(_) => return Ok(Rendered::unsupported("Web app data")),
        MessageKind::ChatShared(_) => return Ok(Rendered::unsupported("Shared chat")),
        MessageKind::UsersShared(_) => return Ok(Rendered::unsupported("Shared contact")),
        MessageKind::Empty {} => return Ok(Rendered::unsupported("Message of an unknown type")),
        _ => return Err("service message (no customer content)".to_owned()),
    };
    let rendered = match media {
        MediaKind::Text(text) => Rendered::text(text.text.clone()),
        MediaKind::Photo(photo) => {
            let rendered = Rendered::caption(photo.caption.as_deref());
            match photo.photo.last() {
                Some(largest) => rendered.file(
                    &largest.file,
                    Some(format!("photo_{}.jpg", largest.file.unique_id.0)),
                    Some("image/jpeg".to_owned()),
                    options,
                ),
                None => rendered,
            }
        }
        MediaKind::Document(document) => Rendered::caption(document.caption.as_deref()).file(
            &document.document.file,
            document.document.file_name.clone(),
            document
                .document
                .mime_type
                .as_ref()
                .map(|mime| mime.essence_str().to_owned()),
            options,
        ),
        MediaKind::Voice(voice) => {
            let file = &voice.voice.file;
            Rendered::caption(voice.caption.as_deref()).file(
                file,
                Some(format!("voice_{}.ogg", file.unique_id.0)),
                Some(
                    voice
                        .voice
                        .mime_type
                        .as_ref()
                        .map_or("audio/ogg", |mime| mime.essence_str())
                        .to_owned(),
                ),
                options,
            )
        }
        MediaKind::Audio(audio) => {
            let file = &audio.audio.file;
            Rendered::caption(audio.caption.as_deref()).file(
                file,
                Some(
                    audio
                        .audio
                        .file_name
                        .clone()
                        .unwrap_or_else(|| format!("audio_{}.mp3", file.unique_id.0)),
                ),
                audio
                    .audio
                    .mime_type
                    .as_ref()
                    .map(|mime| mime.essence_str().to_owned()),
                options,
            )
        }
        MediaKind::Video(video) => {
            let file = &video.video.file;
            Rendered::caption(video.caption.as_deref()).file(
                file,
                Some(
                    video
                        .video
                        .file_name
                        .clone()
                        .unwrap_or_else(|| format!("video_{}.mp4", file.unique_id.0)),
                ),
                Some(
                    video
                        .video
                        .mime_type
                        .as_ref()
                        .map_or("video/mp4", |mime| mime.essence_str())
                        .to_owned(),
                ),
                options,
            )
        }
        MediaKind::VideoNote(note) => {
            let file = &note.video_note.file;
            Rendered::default().file(
                file,
                Some(format!("video_note_{}.mp4", file.unique_id.0)),
                Some("video/mp4".to_owned()),
                options,
            )
        }
        MediaKind::Animation(animation) => {
            let file = &animation.animation.file;
            Rendered::caption(animation.caption.as_deref()).file(
                file,
                Some(
                    animation
                        .animation
                        .file_name
                        .clone()
                        .unwrap_or_else(|| format!("animation_{}.mp4", file.unique_id.0)),
                ),
                Some(
                    animation
                        .animation
                        .mime_type
                        .as_ref()
                        .map_or("video/mp4", |mime| mime.essence_str())
                        .to_owned(),
                ),
                options,
            )
        }
        MediaKind::Sticker(sticker) => {
            let sticker = &sticker.sticker;
            let text = match sticker.emoji.as_deref() {
                Some(emoji) if !emoji.is_empty() => format!("[Sticker {emoji}]"),
                _ => "[Sticker]".to_owned(),
            };
            let rendered = Rendered::text(text);
            // Animated (TGS) and video (WebM) stickers are not images an agent can view.
            if sticker.flags.is_animated || sticker.flags.is_video {
                rendered
            } else {
                rendered.file(
                    &sticker.file,
                    Some(format!("sticker_{}.webp", sticker.file.unique_id.0)),
                    Some("image/webp".to_owned()),
                    options,
                )
            }
        }
        MediaKind::Location(location) => {
            let (lat, lon) = (location.location.latitude, location.location.longitude);
            Rendered::text(format!("Location: {lat}, {lon}\n{}", map_link(lat, lon)))
        }
        MediaKind::Venue(venue) => {
            let venue = &venue.venue;
            let (lat, lon) = (venue.location.latitude, venue.location.longitude);
            Rendered::text(format!(
                "Venue: {}\n{}\n{}",
                venue.title,
                venue.address,
                map_link(lat, lon)
            ))
        }
        MediaKind::Contact(contact) => {
            let contact = &contact.contact;
            let name = match &contact.last_name {
                Some(last) if !last.is_empty() => format!("{} {last}", contact.first_name),
                _ => contact.first_name.clone(),
            };
            Rendered::text(format!("Contact: {name}, {}", contact.phone_number))
        }
        MediaKind::Poll(_) => Rendered::unsupported("Poll"),
        MediaKind::Game(_) => Rendered::unsupported("Game"),
        MediaKind::Story(_) => Rendered::unsupported("Story"),
        MediaKind::PaidMedia(_) => Rendered::unsupported("Paid media"),
        MediaKind::Checklist(_) => Rendered::unsupported("Checklist"),
        MediaKind::Migration(_) => {
            return Err("service message (group migrated to a supergroup)".to_owned());
        }
    };
    Ok(rendered)
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
        assert_eq!(parsed.skipped, None, "update was skipped");
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
        assert_eq!(parsed.update_id, 873_451_001);
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

    #[test]
    fn private_message_without_from_is_skipped() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("from");
        });
        assert!(parsed.events.is_empty());
        assert!(
            parsed
                .skipped
                .as_deref()
                .is_some_and(|r| r.contains("from")),
            "{parsed:?}"
        );
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
            }
        );
    }

    /// teloxide cannot read a voice note without `mime_type` (optional in the Bot API, always
    /// sent in practice) and falls back to a content-less message; it must still reach the agent.
    #[test]
    fn unreadable_media_still_reaches_the_agent() {
        let parsed = parse_modified("voice", &ParseOptions::default(), |value| {
            value["message"]["voice"]
                .as_object_mut()
                .expect("voice is an object")
                .remove("mime_type");
        });
        let message = only_message(&parsed);
        assert_eq!(message.external_id, "123456789:1368");
        assert_eq!(
            message.content,
            "[Message of an unknown type — not supported here; open Telegram to see it]"
        );
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
            "[Poll — not supported here; open Telegram to see it]"
        );
        let parsed = parse("dice");
        let message = only_message(&parsed);
        assert_eq!(
            message.content,
            "[Dice — not supported here; open Telegram to see it]"
        );
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
        assert_eq!(parsed.skipped, None);
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
        assert!(parsed.events.is_empty(), "{parsed:?}");
        assert_eq!(parsed.skipped.as_deref(), Some("live location update"));
        assert_eq!(parsed.update_id, 873_451_032);

        // The live location's first message is an ordinary location message.
        let started = parse_modified("location", &ParseOptions::default(), |value| {
            value["message"]["location"]["live_period"] = Value::from(900);
        });
        assert!(only_message(&started).content.contains("52.520008"));
        // Edits of other messages still count.
        assert_eq!(parse("edited").skipped, None);
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
        assert_eq!(parsed.update_id, 873_451_017);
        assert!(parsed.events.is_empty());
        assert_eq!(
            parsed.skipped.as_deref(),
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
        assert!(ignored.events.is_empty());
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
        for (name, kind) in [
            ("callback_query", "callback_query"),
            ("channel_post", "channel_post"),
            ("my_chat_member", "my_chat_member"),
        ] {
            let parsed = parse(name);
            assert!(parsed.events.is_empty(), "{name}");
            assert_eq!(
                parsed.skipped,
                Some(format!("`{kind}` updates are not handled by this inbox")),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_kind_is_skipped_not_failed() {
        let parsed = parse("unknown_kind");
        assert_eq!(parsed.update_id, 9);
        assert!(parsed.events.is_empty());
        assert_eq!(
            parsed.skipped.as_deref(),
            Some("unknown update kind `some_future_kind`")
        );
    }

    #[test]
    fn unreadable_message_is_skipped_with_the_cause() {
        let parsed = parse_modified("text", &ParseOptions::default(), |value| {
            value["message"]
                .as_object_mut()
                .expect("message is an object")
                .remove("chat");
        });
        assert!(parsed.events.is_empty());
        let reason = parsed.skipped.unwrap_or_default();
        assert!(
            reason.starts_with("`message` update could not be read"),
            "{reason}"
        );
        assert!(reason.contains("chat"), "{reason}");
    }

    #[test]
    fn channel_chat_messages_are_skipped() {
        let parsed = parse_modified("channel_post", &groups(), |value| {
            let post = value["channel_post"].take();
            *value = serde_json::json!({"update_id": 873_451_032, "message": post});
        });
        assert!(parsed.events.is_empty());
        assert_eq!(
            parsed.skipped.as_deref(),
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
        assert!(parsed.events.is_empty());
        assert!(
            parsed
                .skipped
                .as_deref()
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
        assert_eq!(parsed.update_id, u32::MAX);
        assert!(parsed.events.is_empty());
        assert!(parsed.skipped.is_some());
    }

    #[test]
    fn parse_update_matches_parse_webhook() {
        for name in [
            "text",
            "photo_caption",
            "edited",
            "group_text",
            "callback_query",
        ] {
            let update: Update = serde_json::from_str(fixture(name)).expect("an Update");
            for options in [ParseOptions::default(), groups()] {
                let direct = parse_update(&update, &options);
                let via_webhook = parse_with(name, &options);
                assert_eq!(direct, via_webhook, "{name}");
            }
        }
        let update: Update = serde_json::from_str(fixture("unknown_kind")).expect("an Update");
        let parsed = parse_update(&update, &ParseOptions::default());
        assert_eq!(parsed.update_id, 9);
        assert!(parsed.events.is_empty());
        assert!(parsed.skipped.is_some());
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
}
