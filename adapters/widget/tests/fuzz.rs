//! Property-based fuzzing of the widget channel's parsers of outside input (issue #17): the
//! text frames a visitor's browser sends (`parse_client_frame`), the visitor tokens it keeps
//! in localStorage (`verify_visitor_token`), the identity hashes a website passes
//! (`verify_identifier`) and the upload route's field checks (`is_valid_client_id`,
//! `check_content`). Every input must give `Ok` or a clean error, never a panic; every refusal
//! must render as an `error` frame, and what is accepted must be well-formed.
//!
//! The corpus is `tests/fixtures/*.json` (one frame of each kind); failures proptest finds
//! are kept in `tests/proptest-regressions/`.

#[path = "../../channel/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::Path;
use std::sync::OnceLock;

use fuzz_support::{
    arbitrary_bytes, config, corpus_keys, edited_bytes, json_value, leak_keys, load_corpus,
    mutated, nasty_string, text_edited,
};
use proptest::prelude::*;
use serde_json::Value;
use switchboard_widget::{
    ClientFrame, FrameError, Limits, MAX_CLIENT_ID_CHARS, ServerFrame, TokenError, check_content,
    identifier_hash, is_valid_client_id, new_visitor_id, parse_client_frame, render,
    sign_visitor_token, verify_identifier, verify_visitor_token,
};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/proptest-regressions/fuzz.txt"
);

/// Strings the parser dispatches on, kept when only texts are fuzzed.
const KEEP: &[&str] = &["type", "client_id"];

const EXTRA_KEYS: &[&str] = &[
    "type",
    "token",
    "last_seq",
    "conversation_id",
    "client_id",
    "content",
    "on",
    "up_to",
];

fn corpus() -> Vec<(String, Value)> {
    let corpus = load_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert!(corpus.len() >= 8, "the widget frame corpus lost files");
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

/// The spec's limits mostly, and odd inbox settings sometimes (0, 1, huge).
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        4 => Just(Limits::default()),
        1 => (
            prop_oneof![Just(0usize), Just(1), 1usize..5000, Just(usize::MAX)],
            prop_oneof![Just(0usize), 1usize..100_000, Just(usize::MAX)],
        )
            .prop_map(|(max_message_chars, max_frame_bytes)| Limits {
                max_message_chars,
                max_frame_bytes,
            }),
    ]
}

/// A frame's fate: accepted frames are well-formed and read back the same from their own
/// JSON; refused ones render as an `error` frame that reads back too.
fn check_frame(text: &str, limits: &Limits) {
    match parse_client_frame(text, limits) {
        Ok(frame) => {
            assert!(
                text.len() <= limits.max_frame_bytes,
                "an oversized frame read"
            );
            match &frame {
                ClientFrame::Hello {
                    last_seq,
                    conversation_id,
                    ..
                } => {
                    assert!(last_seq.is_none_or(|seq| seq >= 0), "negative last_seq");
                    if let Some(id) = conversation_id {
                        assert!(!id.is_empty() && id.len() <= 20, "conversation_id {id:?}");
                    }
                }
                ClientFrame::Message { client_id, content } => {
                    assert!(is_valid_client_id(client_id), "client_id {client_id:?}");
                    assert_eq!(content, content.trim(), "content is trimmed");
                    assert!(!content.is_empty(), "empty content");
                    assert!(content.chars().count() <= limits.max_message_chars);
                }
                ClientFrame::Typing { .. } | ClientFrame::NewConversation => {}
                ClientFrame::Csat {
                    survey_id,
                    rating,
                    comment,
                } => {
                    assert!(!survey_id.is_empty() && survey_id.len() <= 20);
                    assert!((1..=5).contains(rating), "rating {rating}");
                    if let Some(comment) = comment {
                        assert_eq!(comment, comment.trim(), "comment is trimmed");
                        assert!(!comment.is_empty());
                        assert!(
                            comment.chars().count() <= switchboard_widget::MAX_CSAT_COMMENT_CHARS
                        );
                    }
                }
                ClientFrame::Delivered { up_to } | ClientFrame::Read { up_to } => {
                    assert!(*up_to >= 0, "negative up_to");
                }
                ClientFrame::Context(context) => {
                    assert!(context.pages.len() <= switchboard_widget::MAX_PAGES);
                    let long = |t: &Option<String>, max| {
                        t.as_ref().is_some_and(|t| t.chars().count() > max)
                    };
                    assert!(
                        !long(&context.url, switchboard_widget::MAX_URL_CHARS),
                        "url"
                    );
                    assert!(
                        !long(&context.title, switchboard_widget::MAX_TITLE_CHARS),
                        "title"
                    );
                }
            }
            let again = serde_json::to_string(&frame).expect("a frame serializes");
            let relaxed = Limits {
                max_frame_bytes: usize::MAX,
                ..*limits
            };
            assert_eq!(parse_client_frame(&again, &relaxed), Ok(frame), "{again}");
        }
        Err(error) => check_refusal(&error),
    }
}

fn check_refusal(error: &FrameError) {
    if let Some(client_id) = error.client_id() {
        assert!(is_valid_client_id(client_id), "refusal names {client_id:?}");
    }
    let frame = error.to_frame();
    let text = render(&frame);
    let read: ServerFrame = serde_json::from_str(&text).expect("an error frame is JSON");
    assert_eq!(read, frame);
    assert!(matches!(frame, ServerFrame::Error { .. }));
}

proptest! {
    #![proptest_config(config(2_000, REGRESSIONS))]

    /// Arbitrary text: not JSON, not an object, huge.
    #[test]
    fn arbitrary_text_never_panics(
        text in prop_oneof![
            nasty_string(),
            arbitrary_bytes().prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        ],
        limits in limits(),
    ) {
        check_frame(&text, &limits);
    }

    /// The corpus with bits flipped, bytes inserted or removed, or cut short.
    #[test]
    fn edited_corpus_text_never_panics(
        (_seed, bytes) in edited_bytes(corpus()),
        limits in limits(),
    ) {
        check_frame(&String::from_utf8_lossy(&bytes), &limits);
    }

    /// Visitor tokens: any text is a clean error or names the visitor whose canonical token it
    /// is; tokens the hub signs verify, and any changed character breaks them.
    #[test]
    fn visitor_tokens_verify_exactly(
        key in prop::collection::vec(any::<u8>(), 0..100),
        random in any::<[u8; 16]>(),
        inbox_id in any::<i64>(),
        text in prop_oneof![
            nasty_string(),
            "[A-Za-z0-9_-]{1,30}\\.-?[0-9]{1,20}\\.[A-Za-z0-9_-]{40,46}",
        ],
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(vec!['A', 'b', '0', '-', '_', '.', 'é']),
    ) {
        match verify_visitor_token(&key, &text) {
            Ok(token) => {
                prop_assert_eq!(sign_visitor_token(&key, token.inbox_id, &token.visitor_id), text);
            }
            Err(TokenError::Malformed(reason)) => prop_assert!(!reason.is_empty()),
            Err(TokenError::Forged) => {}
        }
        let visitor_id = new_visitor_id(random);
        let token = sign_visitor_token(&key, inbox_id, &visitor_id);
        let verified = verify_visitor_token(&key, &token).expect("a signed token verifies");
        prop_assert_eq!(verified.inbox_id, inbox_id);
        prop_assert_eq!(verified.visitor_id, visitor_id);

        let mut chars: Vec<char> = token.chars().collect();
        let at = position.index(chars.len());
        if chars[at] != replacement {
            chars[at] = replacement;
            let altered: String = chars.into_iter().collect();
            prop_assert!(verify_visitor_token(&key, &altered).is_err(), "{}", altered);
        }
    }

    /// Identity hashes: the site's hash of an identifier verifies (in either case), anything
    /// else does not, and nothing panics.
    #[test]
    fn identity_hashes_verify_exactly(
        secret in prop::collection::vec(any::<u8>(), 0..100),
        identifier in nasty_string(),
        given in prop_oneof![nasty_string(), "[0-9a-fA-F]{62,66}"],
    ) {
        let hash = identifier_hash(&secret, &identifier);
        prop_assert!(verify_identifier(&secret, &identifier, &hash));
        prop_assert!(verify_identifier(&secret, &identifier, &hash.to_ascii_uppercase()));
        prop_assert_eq!(
            verify_identifier(&secret, &identifier, &given),
            given.eq_ignore_ascii_case(&hash)
        );
    }

    /// The upload route's checks of its form fields agree with the socket's.
    #[test]
    fn upload_fields_are_checked_like_frames(
        client_id in prop_oneof![nasty_string(), "[A-Za-z0-9_-]{6,66}"],
        content in nasty_string(),
        limits in limits(),
    ) {
        let valid = is_valid_client_id(&client_id);
        prop_assert_eq!(
            valid,
            (8..=MAX_CLIENT_ID_CHARS).contains(&client_id.len())
                && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        match check_content(&client_id, &content, &limits) {
            Ok(checked) => {
                prop_assert_eq!(checked, content.trim());
                prop_assert!(!checked.is_empty());
                prop_assert!(checked.chars().count() <= limits.max_message_chars);
            }
            // The route checks the client_id first; a refusal names only a valid one.
            Err(error) if valid => check_refusal(&error),
            Err(error) => prop_assert!(!matches!(error, FrameError::Invalid(_))),
        }
    }
}

proptest! {
    #![proptest_config(config(1_000, REGRESSIONS))]

    /// Arbitrary JSON trees in the frames' vocabulary.
    #[test]
    fn arbitrary_json_never_panics(value in json_value(keys(), 5, 48), limits in limits()) {
        check_frame(&value.to_string(), &limits);
    }

    /// The corpus with fields deleted, retyped, set to extreme values, added or nested deep.
    #[test]
    fn mutated_corpus_never_panics(
        (_seed, value) in prop_oneof![3 => mutated(corpus(), keys()), 1 => text_edited(corpus(), KEEP)],
        limits in limits(),
    ) {
        check_frame(&value.to_string(), &limits);
    }
}

/// Every corpus frame reads before it is mutated.
#[test]
fn corpus_seeds_parse() {
    for (name, value) in corpus() {
        let text = value.to_string();
        let frame = parse_client_frame(&text, &Limits::default());
        assert!(frame.is_ok(), "{name}: {frame:?}");
        check_frame(&text, &Limits::default());
    }
}
