//! Property-based fuzzing of the WhatsApp channel's parsers of outside input (issue #17):
//! webhook bodies (`inbound::parse_webhook`, `parse_value`, `phone_number_ids`), their
//! signatures (`verify_signature`), Meta's subscription check (`answer_handshake`), the webhook
//! door and replays through the `Channel` trait, and the Graph API's answers (error bodies,
//! send and upload answers, template pages, template placeholders). Every input must give `Ok`
//! or a clean error, never a panic, and what is read must be well-formed.
//!
//! The corpus is the recorded webhooks in `tests/fixtures/inbound/*.json` and the Graph answers
//! in `tests/fixtures/graph/*.json`; failures proptest finds are kept in
//! `tests/proptest-regressions/`.

#[path = "../../channel/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use fuzz_support::{
    ByteEdit, arbitrary_bytes, byte_edit, config, corpus_keys, edited_bytes, json_value, leak_keys,
    load_corpus, mutated, nasty_number, nasty_string, text_edited,
};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_channel::{
    Channel, ChannelError, DeliveryState, Handshake, InboundError, InboundEvent, InboundRequest,
    TemplateMessage, TemplateParameter,
};
use switchboard_whatsapp::inbound::{
    answer_handshake, parse_value, parse_webhook, phone_number_ids, verify_signature,
};
use switchboard_whatsapp::outbound::{
    classify_error, parse_graph_error, sent_message_id, uploaded_media_id,
};
use switchboard_whatsapp::templates::{parse_page, placeholders, render};
use switchboard_whatsapp::{SIGNATURE_HEADER, WhatsAppChannel, WhatsAppSettings};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/fuzz.txt"
);

/// Strings the parser dispatches on, kept when only texts are fuzzed.
const KEEP: &[&str] = &["object", "field", "type", "status", "phone_number_id"];

/// The number every fixture is addressed to (Meta's documented example id).
const NUMBER: &str = "106540352242922";
const APP_SECRET: &str = "appsecretvalue";
const VERIFY_TOKEN: &str = "verifytokenvalue";

/// Field names the parser looks at, beyond those the corpus uses.
const EXTRA_KEYS: &[&str] = &[
    "object",
    "entry",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "messages",
    "statuses",
    "errors",
    "wa_id",
    "user_id",
    "parent_user_id",
    "username",
    "profile",
    "name",
    "from",
    "from_user_id",
    "from_parent_user_id",
    "group_id",
    "id",
    "timestamp",
    "type",
    "text",
    "body",
    "image",
    "video",
    "audio",
    "voice",
    "document",
    "sticker",
    "caption",
    "sha256",
    "filename",
    "mime_type",
    "file_size",
    "location",
    "latitude",
    "longitude",
    "interactive",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "response_json",
    "button",
    "payload",
    "reaction",
    "message_id",
    "emoji",
    "order",
    "product_items",
    "item_price",
    "quantity",
    "currency",
    "system",
    "new_wa_id",
    "unsupported",
    "context",
    "forwarded",
    "frequently_forwarded",
    "referral",
    "status",
    "code",
    "title",
    "message",
    "error_data",
    "details",
];

fn corpus() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inbound");
    let corpus = load_corpus(&dir);
    assert!(corpus.len() >= 39, "the WhatsApp corpus lost files");
    corpus
}

fn graph_corpus() -> Vec<(String, Value)> {
    let mut corpus =
        load_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph"));
    // Graph's documented answers to a send, an upload and a refused send.
    corpus.extend([
        (
            "send".to_owned(),
            json!({"messaging_product": "whatsapp", "contacts": [{"input": "16505551234", "wa_id": "16505551234"}], "messages": [{"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "message_status": "accepted"}]}),
        ),
        ("upload".to_owned(), json!({"id": "1037543291543636"})),
        (
            "error".to_owned(),
            json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047, "error_subcode": 2494010, "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}, "error_user_title": "Re-engagement message", "fbtrace_id": "AbCdEf"}}),
        ),
    ]);
    corpus
}

fn keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = corpus_keys(&corpus());
        keys.extend(corpus_keys(&graph_corpus()));
        keys.extend(EXTRA_KEYS.iter().map(|key| (*key).to_owned()));
        keys.sort();
        keys.dedup();
        leak_keys(keys)
    })
}

fn channel() -> &'static WhatsAppChannel {
    static CHANNEL: OnceLock<WhatsAppChannel> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        WhatsAppChannel::new(WhatsAppSettings {
            phone_number_id: NUMBER.into(),
            waba_id: Some("102290129340398".into()),
            access_token: "EAAJBsecretTOKENvalue".into(),
            app_secret: APP_SECRET.into(),
            verify_token: VERIFY_TOKEN.into(),
            api_url: url::Url::parse("https://graph.facebook.com/").expect("url"),
            api_version: "v23.0".into(),
            messages_per_second: 80,
            timeout: Duration::from_secs(10),
        })
        .expect("an offline channel")
    })
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn assert_text(text: &str, what: &str) {
    assert!(!text.trim().is_empty(), "{what} is blank");
    assert_eq!(text, text.trim(), "{what} is not trimmed");
}

/// What the parser promises the hub: every stored thing has its ids and sender, a survey
/// answer a survey id and rating a button could carry, a failed status its reason, an
/// identity change is followed by the message under the new identity, and an unreadable
/// item's `raw` replays (as a complete envelope for this number).
fn check_events(events: &[InboundEvent], number: &str) {
    for (index, event) in events.iter().enumerate() {
        match event {
            InboundEvent::Message(message) => {
                assert_text(&message.external_id, "external_id");
                assert!(!message.sender.identifier.trim().is_empty(), "no sender");
                for attachment in &message.attachments {
                    let media_id = attachment.source.split('?').next().unwrap_or_default();
                    assert!(!media_id.trim().is_empty(), "media without an id");
                }
                if let Some(reply_to) = &message.reply_to_external_id {
                    assert_text(reply_to, "reply_to");
                }
            }
            InboundEvent::Status(status) => {
                assert_text(&status.external_id, "status id");
                match (&status.status, &status.error) {
                    (DeliveryState::Failed, Some(error)) => {
                        assert!(!error.reason.trim().is_empty(), "blank failure reason");
                    }
                    (DeliveryState::Failed, None) => panic!("a failure without its error"),
                    (_, error) => assert!(error.is_none(), "an error on a non-failure"),
                }
            }
            InboundEvent::Reaction(reaction) => {
                assert_text(&reaction.external_id, "reaction id");
                assert_text(&reaction.target_external_id, "reaction target");
                assert!(!reaction.sender.identifier.trim().is_empty(), "no sender");
                assert!(
                    reaction
                        .emoji
                        .as_deref()
                        .is_none_or(|emoji| !emoji.is_empty())
                );
            }
            InboundEvent::IdentityChange(change) => {
                assert!(!change.old_identifier.trim().is_empty());
                assert!(!change.new_identifier.trim().is_empty());
                assert_ne!(change.old_identifier, change.new_identifier);
                match events.get(index + 1) {
                    Some(InboundEvent::Message(notice)) => {
                        assert_eq!(notice.sender.identifier, change.new_identifier);
                    }
                    other => panic!("an identity change without its notice: {other:?}"),
                }
            }
            InboundEvent::SurveyAnswer(answer) => {
                assert!(!answer.sender.identifier.trim().is_empty(), "no sender");
                assert_eq!(
                    switchboard_channel::parse_choice_id(&switchboard_channel::choice_id(
                        &answer.survey_id,
                        answer.rating
                    )),
                    Some((answer.survey_id.clone(), answer.rating)),
                    "an answer no survey button could carry"
                );
                assert!(answer.comment.is_none() && answer.confirm.is_none());
            }
            InboundEvent::Skipped { reason } => assert!(!reason.is_empty()),
            InboundEvent::Unreadable { reason, raw } => {
                assert!(!reason.is_empty());
                let replayed = parse_value(raw, number)
                    .unwrap_or_else(|e| panic!("{reason}: its raw {raw} does not replay: {e}"));
                assert!(!replayed.is_empty(), "a replay gives nothing: {raw}");
            }
            other => panic!("WhatsApp made an event it never should: {other:?}"),
        }
    }
}

/// A parse result: Ok events are well-formed; an unknown account names numbers that the
/// routing (`phone_number_ids`) finds in the body too.
fn check_result(result: &Result<Vec<InboundEvent>, InboundError>, body: &[u8], number: &str) {
    match result {
        Ok(events) => check_events(events, number),
        Err(InboundError::Malformed(reason)) => assert!(!reason.is_empty()),
        // (A value nested past serde_json's limit has no body that parses back.)
        Err(InboundError::UnknownAccount(_)) if serde_json::from_slice::<Value>(body).is_ok() => {
            assert!(
                !phone_number_ids(body).is_empty(),
                "unknown account but no number"
            )
        }
        Err(InboundError::UnknownAccount(_)) => {}
        Err(other) => panic!("a parse error that is not Malformed: {other:?}"),
    }
}

/// The numbers a body is routed to: each once, non-empty, trimmed.
fn check_numbers(body: &[u8]) -> Vec<String> {
    let ids = phone_number_ids(body);
    for (index, id) in ids.iter().enumerate() {
        assert_text(id, "phone_number_id");
        assert!(!ids[..index].contains(id), "{id} listed twice");
    }
    ids
}

fn check_body(body: &[u8]) {
    let ids = check_numbers(body);
    check_result(&parse_webhook(body, NUMBER), body, NUMBER);
    // Each inbox the hub would hand the body to reads it too.
    for id in ids.iter().take(3) {
        check_result(&parse_webhook(body, id), body, id);
    }
}

fn check_value(value: &Value) {
    let body = serde_json::to_vec(value).expect("serializes");
    check_result(&parse_value(value, NUMBER), &body, NUMBER);
    // The bytes path reads what the body parses back to (floats need not round-trip exactly,
    // and nesting past serde_json's limit is refused as not JSON).
    if let Ok(reparsed) = serde_json::from_slice::<Value>(&body) {
        assert_eq!(
            parse_value(&reparsed, NUMBER),
            parse_webhook(&body, NUMBER),
            "both paths agree"
        );
    }
    check_body(&body);
}

/// A message item under a real envelope, so random content reaches the message readers.
fn envelope(message: Value, contact: Value, number: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
                    "contacts": [contact],
                    "messages": [message],
                    "statuses": [],
                },
            }],
        }],
    })
}

fn message_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "text", "image", "video", "audio", "document", "sticker", "location", "contacts",
            "interactive", "button", "reaction", "order", "system", "unsupported",
            "request_welcome", "", "ephemeral",
        ])
        .prop_map(Value::from),
        1 => nasty_number(),
        1 => Just(Value::Null),
    ]
}

/// Query strings for the subscription check: well-formed ones and anything.
fn handshake_query() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => nasty_string(),
        3 => (
            prop::option::of(prop_oneof![Just("subscribe".to_owned()), nasty_string()]),
            prop::option::of(prop_oneof![Just(VERIFY_TOKEN.to_owned()), nasty_string()]),
            prop::option::of(nasty_string()),
            any::<bool>(),
        )
            .prop_map(|(mode, token, challenge, question)| {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                if let Some(mode) = &mode {
                    query.append_pair("hub.mode", mode);
                }
                if let Some(token) = &token {
                    query.append_pair("hub.verify_token", token);
                }
                if let Some(challenge) = &challenge {
                    query.append_pair("hub.challenge", challenge);
                }
                let query = query.finish();
                if question { format!("?{query}") } else { query }
            }),
        1 => "[a-z.=&%0-9+]{0,60}",
    ]
}

proptest! {
    #![proptest_config(config(2_000, REGRESSIONS))]

    /// Arbitrary bytes: not JSON, not an object, huge, half a body.
    #[test]
    fn arbitrary_bytes_never_panic(body in arbitrary_bytes()) {
        check_body(&body);
        let _ = parse_graph_error(&body);
    }

    /// The corpus with bits flipped, bytes inserted or removed, or cut short.
    #[test]
    fn edited_corpus_bytes_never_panic((_seed, body) in edited_bytes(corpus())) {
        check_body(&body);
    }

    /// Signatures: Meta's signature of any body verifies (with `SHA256=` too), a body with one
    /// bit flipped does not, any header gives Ok or Unauthorized, and no app secret refuses all.
    #[test]
    fn signatures_verify_exactly(
        body in arbitrary_bytes(),
        secret in prop_oneof![Just(APP_SECRET.to_owned()), "\\PC{1,40}"],
        flip in byte_edit(),
        header in prop_oneof![
            nasty_string(),
            "(sha256|SHA256|Sha256)=[0-9a-fA-F]{60,68}",
            "sha256=\\PC{64}",
        ],
    ) {
        let signature = sign(&secret, &body);
        prop_assert_eq!(verify_signature(&secret, Some(&signature), &body), Ok(()));
        let shouted = format!(" SHA256={} ", &signature["sha256=".len()..]);
        prop_assert_eq!(verify_signature(&secret, Some(&shouted), &body), Ok(()));
        let mut altered = body.clone();
        if let ByteEdit::Flip(at, bit) = &flip {
            ByteEdit::Flip(*at, *bit).apply(&mut altered);
        } else {
            altered.extend_from_slice(b"\n");
        }
        if altered != body {
            prop_assert!(verify_signature(&secret, Some(&signature), &altered).is_err());
        }
        match verify_signature(&secret, Some(&header), &body) {
            Ok(()) => prop_assert!(header.trim().eq_ignore_ascii_case(&signature)),
            Err(InboundError::Unauthorized(_)) => {}
            Err(other) => prop_assert!(false, "not Unauthorized: {other:?}"),
        }
        prop_assert!(verify_signature("", Some(&signature), &body).is_err());
        prop_assert!(verify_signature(&secret, None, &body).is_err());
    }

    /// The subscription check: only `subscribe` with the exact token and a challenge is
    /// accepted, answering the challenge itself; anything else is refused, never a panic.
    #[test]
    fn handshakes_answer_exactly(query in handshake_query(), token in prop_oneof![
        Just(VERIFY_TOKEN.to_owned()),
        Just(String::new()),
        nasty_string(),
    ]) {
        let answer = answer_handshake(&query, &token);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(
            query.strip_prefix('?').unwrap_or(&query).as_bytes(),
        )
        .into_owned()
        .collect();
        let first = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let expected_ok = first("hub.mode").as_deref() == Some("subscribe")
            && !token.is_empty()
            && first("hub.verify_token").as_deref() == Some(token.as_str())
            && first("hub.challenge").is_some_and(|c| !c.is_empty());
        match answer {
            Handshake::Accepted(challenge) => {
                prop_assert!(expected_ok, "accepted {:?}", query);
                prop_assert_eq!(Some(challenge), first("hub.challenge"));
            }
            Handshake::Refused(reason) => {
                prop_assert!(!expected_ok, "refused {:?}: {}", query, reason);
                prop_assert!(!reason.is_empty());
            }
            Handshake::Unsupported => prop_assert!(false, "WhatsApp has a handshake"),
        }
    }
}

proptest! {
    #![proptest_config(config(1_000, REGRESSIONS))]

    /// Arbitrary JSON trees in the webhook's vocabulary.
    #[test]
    fn arbitrary_json_never_panics(value in json_value(keys(), 5, 48)) {
        check_value(&value);
    }

    /// Arbitrary message items and contacts inside a real envelope.
    #[test]
    fn arbitrary_messages_never_panic(
        kind in message_type(),
        id in prop_oneof![3 => Just(json!("wamid.X")), 1 => nasty_number(), 1 => nasty_string().prop_map(Value::from)],
        from in prop_oneof![3 => Just(json!("16505551234")), 1 => nasty_number(), 1 => nasty_string().prop_map(Value::from)],
        fields in json_value(keys(), 4, 40),
        contact in json_value(keys(), 3, 16),
        number in prop_oneof![4 => Just(json!(NUMBER)), 1 => nasty_number(), 1 => nasty_string().prop_map(Value::from)],
    ) {
        let mut message = match fields {
            Value::Object(fields) => fields,
            other => [("text".to_owned(), other)].into_iter().collect(),
        };
        message.insert("id".to_owned(), id);
        message.insert("from".to_owned(), from);
        if let Some(kind_name) = kind.as_str() {
            // The payload under the type's own key, where the readers look for it.
            let payload = message.remove("value").unwrap_or_else(|| json!({}));
            message.insert(kind_name.to_owned(), payload);
        }
        message.insert("type".to_owned(), kind);
        check_value(&envelope(Value::Object(message), contact, number));
    }

    /// The corpus with fields deleted, retyped, set to extreme values, added or nested deep.
    #[test]
    fn mutated_corpus_never_panics((_seed, value) in prop_oneof![3 => mutated(corpus(), keys()), 1 => text_edited(corpus(), KEEP)]) {
        check_value(&value);
    }

    /// The webhook door: unsigned or wrongly signed bodies are refused before anything is
    /// read; signed ones read as `parse_webhook` reads them; replays and routing never panic.
    #[test]
    fn webhook_door_checks_the_signature_first(
        (_seed, value) in mutated(corpus(), keys()),
        signed in prop_oneof![3 => Just(Some(APP_SECRET)), 1 => Just(Some("another secret")), 1 => Just(None)],
    ) {
        let body = serde_json::to_vec(&value).expect("serializes");
        let signature = signed.map(|secret| sign(secret, &body));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(signature) = &signature {
            headers.push((SIGNATURE_HEADER, signature.as_str()));
        }
        let request = InboundRequest { route: "", headers, body: &body };
        let result = channel().parse_inbound(&request);
        if signed == Some(APP_SECRET) {
            prop_assert_eq!(&result, &parse_webhook(&body, NUMBER));
        } else {
            prop_assert!(matches!(result, Err(InboundError::Unauthorized(_))), "{:?}", result);
        }
        prop_assert_eq!(channel().accounts_in(&request), phone_number_ids(&body));
        let replay = channel().reparse(&value);
        check_result(&replay, &body, NUMBER);
    }

    /// Graph API answers: error bodies, send and upload answers, template pages, from the
    /// recorded answers mutated or from nothing.
    #[test]
    fn graph_answers_never_panic(
        (_seed, value) in prop_oneof![
            mutated(graph_corpus(), keys()),
            json_value(keys(), 4, 32).prop_map(|value| ("random".to_owned(), value)),
        ],
        status in prop_oneof![400u16..600, any::<u16>()],
        retry_after in prop::option::of(0u64..100_000),
    ) {
        let body = serde_json::to_vec(&value).expect("serializes");
        if let Some(error) = parse_graph_error(&body) {
            prop_assert!(!error.describe().is_empty());
        }
        match classify_error(status, &body, retry_after.map(Duration::from_secs)) {
            ChannelError::Transient { reason, .. } | ChannelError::Permanent { reason, .. } => {
                prop_assert!(!reason.is_empty());
            }
        }
        if let Some(id) = sent_message_id(&value) {
            prop_assert!(!id.is_empty());
        }
        if let Some(id) = uploaded_media_id(&value) {
            prop_assert!(!id.is_empty());
        }
        let page = parse_page(&value);
        for template in &page.templates {
            prop_assert!(!template.name.trim().is_empty() && !template.body.trim().is_empty());
            // Filling every placeholder of the body by name always renders.
            let filled = TemplateMessage {
                body: placeholders(&template.body)
                    .into_iter()
                    .map(|name| TemplateParameter { name: Some(name), text: "x".to_owned() })
                    .collect(),
                header: template
                    .header
                    .as_deref()
                    .map(placeholders)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|name| TemplateParameter { name: Some(name), text: "x".to_owned() })
                    .collect(),
                ..TemplateMessage::default()
            };
            let dynamic_button = template
                .buttons
                .iter()
                .any(|button| button.url.as_deref().is_some_and(|url| !placeholders(url).is_empty()));
            let rendered = render(template, &filled);
            prop_assert!(rendered.is_ok() || dynamic_button, "{:?}", rendered);
        }
    }

    /// Template texts with braces anywhere: placeholders are found once each, named like
    /// Meta's (`{{1}}`, `{{first_name}}`), and filling them all renders.
    #[test]
    fn template_placeholders_are_exact(text in prop_oneof![
        "[{}a-z0-9_ é😀]{0,40}",
        nasty_string(),
    ]) {
        let found = placeholders(&text);
        for (index, name) in found.iter().enumerate() {
            prop_assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            let braced = format!("{{{{{name}}}}}");
            prop_assert!(text.contains(&braced), "{} not in {:?}", braced, text);
            prop_assert!(!found[..index].contains(name));
        }
        let template = switchboard_channel::MessageTemplate {
            name: "t".into(),
            language: "en".into(),
            status: "APPROVED".into(),
            body: text.clone(),
            ..Default::default()
        };
        let filled = TemplateMessage {
            body: found
                .iter()
                .map(|name| TemplateParameter { name: Some(name.clone()), text: "v".into() })
                .collect(),
            ..TemplateMessage::default()
        };
        prop_assert!(render(&template, &filled).is_ok());
        let empty = render(&template, &TemplateMessage::default());
        prop_assert_eq!(empty.is_ok(), found.is_empty());
    }
}

/// Every corpus file reads without an error before it is mutated.
#[test]
fn corpus_seeds_parse() {
    for (name, value) in corpus() {
        let body = serde_json::to_vec(&value).expect("serializes");
        let result = parse_webhook(&body, NUMBER);
        if name == "other_number.json" {
            assert!(
                matches!(result, Err(InboundError::UnknownAccount(_))),
                "{name}"
            );
            continue;
        }
        let events = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        check_events(&events, NUMBER);
    }
    assert!(graph_corpus().len() >= 5, "the Graph corpus lost files");
}
