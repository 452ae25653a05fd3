//! Property-based fuzzing of the Telegram channel's parsers of outside input (issue #17):
//! webhook bodies (`inbound::parse_webhook`), updates from getUpdates (`inbound::parse_value`),
//! the webhook door with its secret header (`Channel::parse_inbound`), and the external ids the
//! hub hands back for replies (`outbound::parse_external_id`, `outbound::parse_chat_id`).
//! Every input must give `Ok` or a clean error, never a panic, and what is read must be
//! well-formed.
//!
//! The corpus is the recorded updates in `tests/fixtures/*.json`; failures proptest finds are
//! kept in `tests/proptest-regressions/`.

#[path = "../../channel/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use fuzz_support::{
    arbitrary_bytes, config, corpus_keys, edited_bytes, json_value, leak_keys, load_corpus,
    mutated, nasty_number, nasty_string, text_edited,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_channel::{Channel, InboundError, InboundEvent, InboundMessage, InboundRequest};
use switchboard_telegram::inbound::{
    MAX_BOT_DOWNLOAD_BYTES, ParseOptions, ParsedUpdate, external_id, parse_value, parse_webhook,
};
use switchboard_telegram::outbound::{parse_chat_id, parse_external_id};
use switchboard_telegram::{GroupPolicy, SECRET_HEADER, TelegramChannel, TelegramSettings};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/fuzz.txt"
);

/// Strings the parser dispatches on, kept when only texts are fuzzed (`data`: a survey
/// button's, so the answer's other fields are fuzzed too).
const KEEP: &[&str] = &["type", "status", "data"];

/// Update kinds and message fields the parser looks at, beyond those the corpus uses.
const EXTRA_KEYS: &[&str] = &[
    "update_id",
    "message",
    "edited_message",
    "channel_post",
    "my_chat_member",
    "callback_query",
    "data",
    "inline_message_id",
    "chat_instance",
    "game_short_name",
    "chat",
    "id",
    "type",
    "message_id",
    "from",
    "sender_chat",
    "author_signature",
    "date",
    "edit_date",
    "text",
    "caption",
    "photo",
    "document",
    "animation",
    "voice",
    "audio",
    "video",
    "video_note",
    "sticker",
    "is_animated",
    "is_video",
    "emoji",
    "file_id",
    "file_unique_id",
    "file_name",
    "file_size",
    "mime_type",
    "location",
    "latitude",
    "longitude",
    "venue",
    "title",
    "address",
    "contact",
    "phone_number",
    "poll",
    "question",
    "options",
    "dice",
    "value",
    "game",
    "story",
    "invoice",
    "new_chat_members",
    "new_chat_title",
    "pinned_message",
    "reply_to_message",
    "external_reply",
    "quote",
    "origin",
    "sender_user",
    "sender_user_name",
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_sender_name",
    "forward_signature",
    "forward_date",
    "is_topic_message",
    "message_thread_id",
    "new_chat_member",
    "status",
    "first_name",
    "last_name",
    "username",
    "language_code",
];

const SECRET: &str = "webhook-secret-0123456789";

fn corpus() -> Vec<(String, Value)> {
    let corpus = load_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert!(corpus.len() >= 36, "the Telegram corpus lost files");
    corpus
}

fn keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = corpus_keys(&corpus());
        keys.extend(EXTRA_KEYS.iter().map(|key| (*key).to_owned()));
        keys.sort();
        keys.dedup();
        leak_keys(keys)
    })
}

fn options() -> impl Strategy<Value = ParseOptions> {
    (
        prop::sample::select(vec![GroupPolicy::Ignore, GroupPolicy::Conversation]),
        prop_oneof![
            4 => Just(MAX_BOT_DOWNLOAD_BYTES),
            1 => Just(0u64),
            1 => Just(u64::MAX),
            1 => any::<u64>(),
        ],
    )
        .prop_map(|(groups, max_download_bytes)| ParseOptions {
            groups,
            max_download_bytes,
        })
}

fn channel() -> &'static TelegramChannel {
    static CHANNEL: OnceLock<TelegramChannel> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        TelegramChannel::new(TelegramSettings {
            bot_token: "123456789:AAE_test-token_abcdefghijklmnopqrstu".into(),
            api_url: None,
            webhook_secret: Some(SECRET.into()),
            groups: GroupPolicy::Conversation,
            timeout: Duration::from_secs(10),
        })
        .expect("an offline channel")
    })
}

/// A stored message as the hub relies on it: its external id is `{chat_id}:{message_id}`, its
/// contact the chat (so replies can be addressed), and no file over the download limit.
fn check_message(message: &InboundMessage, options: &ParseOptions) {
    let (chat, id) = message
        .external_id
        .split_once(':')
        .expect("external_id is chat:message");
    let chat: i64 = chat.parse().expect("the chat part is a number");
    let id: i64 = id.parse().expect("the message part is a number");
    assert_eq!(message.external_id, external_id(chat, id));
    assert_eq!(
        message.sender.identifier,
        chat.to_string(),
        "contact is the chat"
    );
    for attachment in &message.attachments {
        assert!(
            !attachment.source.is_empty(),
            "an attachment without a file id"
        );
        if let Some(size) = attachment.byte_size {
            assert!(size <= options.max_download_bytes, "a file over the limit");
        }
    }
    if let Some(reply_to) = &message.reply_to_external_id {
        let (chat, id) = reply_to.split_once(':').expect("reply_to is chat:message");
        assert!(chat.parse::<i64>().is_ok() && id.parse::<i64>().is_ok());
    }
}

/// One update gives exactly one event, well-formed; an unreadable one keeps the update.
fn check_parsed(parsed: &ParsedUpdate, update: &Value, options: &ParseOptions) {
    assert_eq!(parsed.events.len(), 1, "one update, one event");
    let expected_id = update
        .get("update_id")
        .and_then(Value::as_u64)
        .and_then(|id| u32::try_from(id).ok());
    assert_eq!(parsed.update_id, expected_id);
    match &parsed.events[0] {
        InboundEvent::Message(message) => check_message(message, options),
        InboundEvent::Edit(edit) => {
            let message = edit
                .as_message
                .as_deref()
                .expect("an edit carries its message");
            check_message(message, options);
            assert_eq!(edit.external_id, message.external_id);
            assert_eq!(edit.sender, message.sender);
            assert_eq!(edit.content, message.content);
        }
        InboundEvent::Reachability(reachability) => {
            let chat: i64 = reachability
                .sender
                .identifier
                .parse()
                .expect("the contact is a chat id");
            assert_eq!(reachability.sender.identifier, chat.to_string());
        }
        InboundEvent::SurveyAnswer(answer) => {
            assert!(update.get("callback_query").is_some(), "answers are taps");
            let chat: i64 = answer
                .sender
                .identifier
                .parse()
                .expect("the contact is a chat id");
            assert_eq!(answer.sender.identifier, chat.to_string());
            assert!((1..=5).contains(&answer.rating), "{answer:?}");
            assert!(!answer.survey_id.is_empty());
            assert!(answer.confirm.as_deref().is_some_and(|id| !id.is_empty()));
            assert_eq!(answer.at, None);
        }
        InboundEvent::Skipped { reason } => assert!(!reason.is_empty()),
        InboundEvent::Unreadable { reason, raw } => {
            assert!(!reason.is_empty());
            assert_eq!(raw, update, "an unreadable update is kept whole");
        }
        other => panic!("Telegram made an event it never should: {other:?}"),
    }
    if !parsed.unread_parts.is_empty() {
        assert!(matches!(
            parsed.events[0],
            InboundEvent::Message(_) | InboundEvent::Edit(_)
        ));
    }
}

/// A webhook body: a clean error, or what `parse_value` makes of the same JSON.
fn check_body(body: &[u8], options: &ParseOptions) {
    match parse_webhook(body, options) {
        Ok(parsed) => {
            let update: Value = serde_json::from_slice(body).expect("accepted bodies are JSON");
            assert!(parsed.update_id.is_some(), "a webhook update has an id");
            check_parsed(&parsed, &update, options);
            assert_eq!(parsed, parse_value(&update, options), "both paths agree");
        }
        Err(InboundError::Malformed(reason)) => assert!(!reason.is_empty()),
        Err(other) => panic!("not Malformed: {other:?}"),
    }
}

fn check_value(update: &Value, options: &ParseOptions) {
    check_parsed(&parse_value(update, options), update, options);
    check_body(&serde_json::to_vec(update).expect("serializes"), options);
}

proptest! {
    #![proptest_config(config(2_000, REGRESSIONS))]

    /// Arbitrary bytes: not JSON, not an object, huge, half a body.
    #[test]
    fn arbitrary_bytes_never_panic(body in arbitrary_bytes(), options in options()) {
        check_body(&body, &options);
    }

    /// The corpus with bits flipped, bytes inserted or removed, or cut short.
    #[test]
    fn edited_corpus_bytes_never_panic(
        (_seed, body) in edited_bytes(corpus()),
        options in options(),
    ) {
        check_body(&body, &options);
    }

    /// Reply targets the hub hands back: any text reads as an id only in the exact form
    /// `external_id` writes, and every such id reads back.
    #[test]
    fn reply_ids_read_back_exactly(
        text in prop_oneof![nasty_string(), "-?[0-9]{1,20}:-?[0-9]{1,12}", "-?[0-9 +]{1,21}"],
        chat in any::<i64>(),
        id in any::<i32>(),
    ) {
        if let Some((chat, id)) = parse_external_id(&text) {
            prop_assert_eq!(external_id(chat, i64::from(id)), text.clone());
            prop_assert!(id > 0 && chat != 0);
        }
        if let Some(chat) = parse_chat_id(&text) {
            prop_assert_eq!(chat.to_string(), text.clone());
        }
        let written = external_id(chat, i64::from(id));
        let expected = (chat != 0 && id > 0).then_some((chat, id));
        prop_assert_eq!(parse_external_id(&written), expected);
        prop_assert_eq!(parse_chat_id(&chat.to_string()), (chat != 0).then_some(chat));
    }
}

proptest! {
    #![proptest_config(config(1_000, REGRESSIONS))]

    /// Arbitrary JSON trees in the Bot API's vocabulary.
    #[test]
    fn arbitrary_json_never_panics(value in json_value(keys(), 5, 48), options in options()) {
        check_value(&value, &options);
    }

    /// Arbitrary message objects under a real update kind: the walk past the envelope.
    #[test]
    fn arbitrary_messages_never_panic(
        update_id in prop_oneof![0u64..=u64::from(u32::MAX), Just(u64::from(u32::MAX) + 1)],
        kind in prop::sample::select(vec![
            "message", "edited_message", "my_chat_member", "channel_post", "callback_query",
        ]),
        chat_id in nasty_number(),
        chat_type in prop::option::of(prop::sample::select(vec![
            "private", "group", "supergroup", "channel", "secret",
        ])),
        message_id in nasty_number(),
        fields in json_value(keys(), 4, 40),
        options in options(),
    ) {
        let mut message = match fields {
            Value::Object(fields) => fields,
            other => [("text".to_owned(), other)].into_iter().collect(),
        };
        let mut chat = json!({ "id": chat_id });
        if let Some(chat_type) = chat_type {
            chat["type"] = json!(chat_type);
        }
        message.insert("chat".to_owned(), chat);
        message.insert("message_id".to_owned(), message_id);
        let update = json!({ "update_id": update_id, kind: message });
        check_value(&update, &options);
    }

    /// The corpus with fields deleted, retyped, set to extreme values, added or nested deep.
    #[test]
    fn mutated_corpus_never_panics(
        (_seed, value) in prop_oneof![3 => mutated(corpus(), keys()), 1 => text_edited(corpus(), KEEP)],
        options in options(),
    ) {
        check_value(&value, &options);
    }

    /// The webhook door: without the exact secret nothing is read; with it, a body reads as
    /// `parse_webhook` reads it.
    #[test]
    fn webhook_door_checks_the_secret_first(
        (_seed, value) in mutated(corpus(), keys()),
        secret in prop_oneof![
            3 => Just(Some(SECRET.to_owned())),
            1 => Just(None),
            2 => prop::option::of(nasty_string()),
            1 => Just(Some(format!("{SECRET} "))),
        ],
        route in prop_oneof![4 => Just(String::new()), 1 => nasty_string()],
    ) {
        let body = serde_json::to_vec(&value).expect("serializes");
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(secret) = &secret {
            headers.push((SECRET_HEADER, secret.as_str()));
        }
        let request = InboundRequest { route: &route, headers, body: &body };
        let result = channel().parse_inbound(&request);
        if secret.as_deref() != Some(SECRET) {
            prop_assert!(matches!(result, Err(InboundError::Unauthorized(_))), "{:?}", result);
        } else if !route.is_empty() {
            prop_assert!(matches!(result, Err(InboundError::Malformed(_))), "{:?}", result);
        } else {
            let direct = parse_webhook(&body, channel().parse_options()).map(|p| p.events);
            prop_assert_eq!(result, direct);
        }
        // A replayed (unreadable) update reads without a signature, never panicking.
        let replayed = channel().reparse(&value).expect("Telegram replays any value");
        prop_assert_eq!(replayed.len(), 1);
    }
}

/// Every corpus file reads as a stored or deliberately skipped update before it is mutated.
#[test]
fn corpus_seeds_parse() {
    let options = ParseOptions {
        groups: GroupPolicy::Conversation,
        ..ParseOptions::default()
    };
    for (name, value) in corpus() {
        let body = serde_json::to_vec(&value).expect("serializes");
        let parsed = parse_webhook(&body, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_parsed(&parsed, &value, &options);
        assert!(parsed.unreadable().is_none(), "{name}: {parsed:?}");
    }
}
