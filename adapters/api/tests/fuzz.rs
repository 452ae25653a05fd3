//! Property-based fuzzing of the API channel's parsers of outside input (issue #17): webhook
//! bodies (`parse_events`, `parse_status`), their signatures (`verify`) and the integrator's
//! answers to callbacks (`parse_send_response`). Every input must give `Ok` or a clean error,
//! never a panic, and what is accepted must be well-formed.
//!
//! The corpus is `tests/fixtures/*.json` (bodies) and `tests/fixtures/callback/*.json`
//! (callback answers); failures proptest finds are kept in `tests/proptest-regressions/`.

#[path = "../../channel/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::Path;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use fuzz_support::{
    ByteEdit, arbitrary_bytes, byte_edit, config, corpus_keys, edited_bytes, json_value, leak_keys,
    load_corpus, mutated, nasty_string, text_edited,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_api_channel::{
    MAX_BATCH, MAX_CONTENT_BYTES, MAX_ID_CHARS, parse_events, parse_send_response, parse_status,
    sign, verify,
};
use switchboard_channel::{
    ChannelError, ContactProfile, DeliveryState, InboundError, InboundEvent, MAX_RETRY_AFTER,
};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/fuzz.txt"
);

/// Strings the parser dispatches on, kept when only texts are fuzzed.
const KEEP: &[&str] = &["type", "status", "timestamp", "email", "url", "avatar_url"];

/// Field names of the API channel's bodies, beyond those the corpus already uses.
const EXTRA_KEYS: &[&str] = &[
    "type",
    "events",
    "external_id",
    "contact",
    "identifier",
    "content",
    "on",
    "status",
    "error",
    "code",
    "reason",
    "message",
    "reply_to",
    "attachments",
    "url",
    "byte_size",
    "timestamp",
];

fn fixtures() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

fn corpus() -> Vec<(String, Value)> {
    let corpus = load_corpus(fixtures());
    assert!(corpus.len() >= 12, "the API channel corpus lost files");
    corpus
}

fn callback_corpus() -> Vec<(String, Value)> {
    load_corpus(&fixtures().join("callback"))
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

/// A required id or identifier as the parser promises it: non-blank, at most
/// [`MAX_ID_CHARS`] characters, no control characters (NUL included).
fn assert_id(id: &str, what: &str) {
    assert!(!id.trim().is_empty(), "{what} is blank");
    assert!(id.chars().count() <= MAX_ID_CHARS, "{what} is too long");
    assert!(
        !id.chars().any(char::is_control),
        "{what} has a control char"
    );
}

fn assert_contact(contact: &ContactProfile) {
    assert_id(&contact.identifier, "contact.identifier");
    for text in [
        &contact.name,
        &contact.email,
        &contact.phone,
        &contact.language,
        &contact.avatar_url,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!text.trim().is_empty(), "a blank optional field is kept");
        assert!(
            !text.chars().any(char::is_control),
            "control char in {text:?}"
        );
    }
}

fn assert_http_url(url: &str) {
    let parsed = url::Url::parse(url).expect("an accepted URL parses");
    assert!(
        matches!(parsed.scheme(), "http" | "https"),
        "scheme of {url}"
    );
}

/// What `parse_events` accepts is well-formed: 1 to [`MAX_BATCH`] events of the four kinds,
/// each with the ids and contents the hub relies on.
fn check_events(result: &Result<Vec<InboundEvent>, InboundError>) {
    let Ok(events) = result else { return };
    assert!((1..=MAX_BATCH).contains(&events.len()), "batch size");
    for event in events {
        match event {
            InboundEvent::Message(message) => {
                assert_id(&message.external_id, "external_id");
                assert_contact(&message.sender);
                assert!(message.content.len() <= MAX_CONTENT_BYTES, "content size");
                assert!(!message.content.contains('\0'), "NUL in content");
                assert!(
                    !message.content.trim().is_empty() || !message.attachments.is_empty(),
                    "an empty message is accepted"
                );
                if let Some(reply_to) = &message.reply_to_external_id {
                    assert_id(reply_to, "reply_to");
                }
                for attachment in &message.attachments {
                    assert_http_url(&attachment.source);
                }
            }
            InboundEvent::Edit(edit) => {
                assert_id(&edit.external_id, "external_id");
                assert_contact(&edit.sender);
                assert!(!edit.content.trim().is_empty(), "an empty edit is accepted");
                assert!(!edit.content.contains('\0'), "NUL in an edit");
            }
            InboundEvent::Typing(typing) => assert_contact(&typing.sender),
            InboundEvent::Status(status) => {
                assert_id(&status.external_id, "external_id");
                match (&status.status, &status.error) {
                    (DeliveryState::Failed, Some(error)) => {
                        assert!(!error.reason.trim().is_empty(), "blank failure reason");
                        assert!(!error.reason.contains('\0'), "NUL in a failure reason");
                        if let Some(code) = &error.code {
                            assert!(!code.trim().is_empty(), "blank failure code");
                            assert!(!code.contains('\0'), "NUL in a failure code");
                        }
                    }
                    (DeliveryState::Failed, None) => panic!("a failure without its error"),
                    (_, error) => assert!(error.is_none(), "an error on a non-failure"),
                }
                assert!(status.raw.is_object(), "raw is the event object");
            }
            other => panic!("the API channel made an event it never should: {other:?}"),
        }
    }
}

/// What `parse_status` accepts: only statuses, with the same guarantees.
fn check_statuses(body: &[u8]) {
    let result = parse_status(body);
    if let Ok(updates) = &result {
        let events: Vec<InboundEvent> = updates.iter().cloned().map(InboundEvent::Status).collect();
        check_events(&Ok(events));
    }
}

fn check_body(body: &[u8]) {
    check_events(&parse_events(body));
    check_statuses(body);
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("a valid date")
}

/// The callback answer classification: never a panic, 2xx is delivered with a usable id or
/// none, retryable statuses are transient with a capped wait, reasons carry no control
/// characters (they are shown on one line and stored).
fn check_send_response(status: u16, retry_after: Option<&str>, body: &[u8]) {
    let result = parse_send_response(status, retry_after, body, now());
    match (&result, status) {
        (Ok(receipt), 200..=299) => {
            if let Some(id) = &receipt.external_id {
                assert_id(id, "receipt external_id");
            }
        }
        (Ok(_), _) => panic!("HTTP {status} counted as delivered"),
        (
            Err(ChannelError::Transient {
                retry_after,
                reason,
            }),
            408 | 425 | 429 | 500..=599,
        ) => {
            assert!(
                retry_after.is_none_or(|wait| wait <= MAX_RETRY_AFTER),
                "wait cap"
            );
            assert!(!reason.contains('\0'), "NUL in {reason:?}");
        }
        (Err(ChannelError::Permanent { code, reason }), _)
            if !(200..=299).contains(&status) && !matches!(status, 408 | 425 | 429 | 500..=599) =>
        {
            assert!(!reason.contains('\0'), "NUL in {reason:?}");
            if let Some(code) = code {
                assert!(
                    !code.chars().any(char::is_control),
                    "control char in {code:?}"
                );
            }
        }
        (other, _) => panic!("HTTP {status} classified as {other:?}"),
    }
}

/// Headers the signature check is fed: well-formed but wrong, near misses, and anything.
fn signature_header() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => nasty_string(),
        2 => "[0-9a-fA-F]{60,68}".prop_map(|digits| format!("sha256={digits}")),
        1 => "\\PC{64}".prop_map(|digits| format!("sha256={digits}")),
        1 => "[ \t]{0,2}(sha256|SHA256|sha1)[=:][0-9a-f]{64}[ \t]{0,2}",
    ]
}

proptest! {
    #![proptest_config(config(2_000, REGRESSIONS))]

    /// Arbitrary bytes: not JSON, not an object, huge, half a body.
    #[test]
    fn arbitrary_bytes_never_panic(body in arbitrary_bytes()) {
        check_body(&body);
    }

    /// The corpus with bits flipped, bytes inserted or removed, or cut short.
    #[test]
    fn edited_corpus_bytes_never_panic((_seed, body) in edited_bytes(corpus())) {
        check_body(&body);
    }

    /// Signatures: what `sign` makes verifies (in upper-case hex and padded too), a body with
    /// one bit flipped or a signature with one digit changed does not, and any header at all
    /// gives Ok or Unauthorized.
    #[test]
    fn signatures_verify_exactly(
        secret in prop::collection::vec(any::<u8>(), 1..80),
        body in arbitrary_bytes(),
        flip in byte_edit(),
        header in signature_header(),
        digit in 7usize..71,
    ) {
        let signature = sign(&secret, &body);
        prop_assert_eq!(verify(&secret, &body, Some(&signature)), Ok(()));
        let upper = format!("sha256={}", signature["sha256=".len()..].to_ascii_uppercase());
        prop_assert_eq!(verify(&secret, &body, Some(&format!(" {upper}\t"))), Ok(()));

        let mut altered = body.clone();
        if let ByteEdit::Flip(at, bit) = &flip {
            ByteEdit::Flip(*at, *bit).apply(&mut altered);
        } else {
            altered.push(b' ');
        }
        if altered != body {
            prop_assert!(verify(&secret, &altered, Some(&signature)).is_err());
        }

        let mut wrong = signature.clone().into_bytes();
        wrong[digit] = if wrong[digit] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).expect("ASCII");
        prop_assert!(verify(&secret, &body, Some(&wrong)).is_err());

        match verify(&secret, &body, Some(&header)) {
            Ok(()) => prop_assert!(header.trim().eq_ignore_ascii_case(&signature)),
            Err(InboundError::Unauthorized(_)) => {}
            Err(other) => prop_assert!(false, "not Unauthorized: {other:?}"),
        }
        prop_assert!(matches!(verify(&secret, &body, None), Err(InboundError::Unauthorized(_))));
    }
}

proptest! {
    #![proptest_config(config(1_000, REGRESSIONS))]

    /// Arbitrary JSON trees in the channel's vocabulary, alone and as a batch.
    #[test]
    fn arbitrary_json_never_panics(
        value in json_value(keys(), 5, 48),
        batch in prop::collection::vec(json_value(keys(), 4, 24), 0..4),
    ) {
        check_body(&serde_json::to_vec(&value).expect("serializes"));
        let batch = json!({ "events": batch });
        check_body(&serde_json::to_vec(&batch).expect("serializes"));
    }

    /// Arbitrary events with the right type: the walk past the `type` check.
    #[test]
    fn arbitrary_typed_events_never_panic(
        kind in prop::sample::select(vec!["message", "edit", "typing", "status"]),
        value in json_value(keys(), 4, 32),
        contact in json_value(keys(), 2, 12),
    ) {
        let mut event = match value {
            Value::Object(fields) => fields,
            other => [("content".to_owned(), other)].into_iter().collect(),
        };
        event.insert("type".to_owned(), json!(kind));
        event.insert("contact".to_owned(), contact);
        check_body(&serde_json::to_vec(&event).expect("serializes"));
    }

    /// The corpus with fields deleted, retyped, set to extreme values, added or nested deep.
    #[test]
    fn mutated_corpus_never_panics((_seed, value) in prop_oneof![3 => mutated(corpus(), keys()), 1 => text_edited(corpus(), KEEP)]) {
        check_body(&serde_json::to_vec(&value).expect("serializes"));
    }

    /// Integrators' answers to callbacks: any status, any Retry-After, any body (mutated
    /// answers of the callback corpus among them).
    #[test]
    fn callback_answers_never_panic(
        status in prop_oneof![100u16..600, any::<u16>()],
        retry_after in prop::option::of(prop_oneof![
            nasty_string(),
            "[0-9]{1,30}",
            Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
            Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
        ]),
        body in prop_oneof![
            arbitrary_bytes(),
            mutated(callback_corpus(), keys())
                .prop_map(|(_, value)| serde_json::to_vec(&value).expect("serializes")),
        ],
    ) {
        check_send_response(status, retry_after.as_deref(), &body);
    }
}

/// Every corpus file reads as intended before it is mutated, so the mutations start from
/// bodies that reach the deepest checks.
#[test]
fn corpus_seeds_parse() {
    for (name, value) in corpus() {
        let body = serde_json::to_vec(&value).expect("serializes");
        let result = if name.starts_with("status_") {
            parse_status(&body)
                .map(|updates| updates.into_iter().map(InboundEvent::Status).collect())
        } else {
            parse_events(&body)
        };
        assert!(result.is_ok(), "{name}: {result:?}");
        check_events(&result);
    }
    assert!(
        callback_corpus().len() >= 3,
        "the callback corpus lost files"
    );
}
