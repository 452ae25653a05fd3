//! Frames the browser sends over the widget WebSocket, and their validation.
//!
//! Frames are walked as [`serde_json::Value`] by hand rather than derived, so every refusal names
//! the field (`client_id: must be 8 to 64 characters …`) and a refused message still carries its
//! `client_id`, which the browser needs to drop it from its offline queue.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::server::{ErrorCode, ServerFrame};

/// Shortest accepted `client_id`: long enough that browsers' random ids do not collide.
pub const MIN_CLIENT_ID_CHARS: usize = 8;

/// Longest accepted `client_id`: fits a UUID with a prefix, and keeps the external id indexable.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

const FRAME_TYPES: &str =
    "hello, message, typing, delivered, read, context, new_conversation or csat";

/// Size limits for client frames; the inbox's widget configuration sets `max_message_chars`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message content, in characters (Unicode scalar values) after trimming, as the
    /// widget counts them for the visitor.
    pub max_message_chars: usize,
    /// Largest text frame, in bytes, refused before parsing so a huge frame costs no JSON work.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    /// The spec's limits: 4000 characters per message, 64 KiB per frame.
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            max_frame_bytes: 64 * 1024,
        }
    }
}

/// One frame from the browser, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    /// The first frame on every socket: who the visitor is and what they already have.
    Hello {
        /// The visitor token from `POST /widget/api/session` (checked by the hub, not here).
        token: String,
        /// Highest seq the browser has; `None` asks for the recent history instead.
        last_seq: Option<i64>,
        /// The conversation `last_seq` counts in (from the last `ready`); when the visitor's
        /// conversation is another one now, the hub sends its history instead.
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    /// A visitor message; resending the same `client_id` must not store it twice.
    Message {
        /// The browser's idempotency key for this message, 8 to 64 chars of `[A-Za-z0-9_-]`.
        client_id: String,
        /// The text, trimmed of surrounding whitespace; never empty.
        content: String,
    },
    /// The visitor started (`true`) or stopped (`false`) typing.
    Typing {
        /// Whether the visitor is typing now.
        on: bool,
    },
    /// The browser received agent messages up to this seq.
    Delivered {
        /// Highest seq received.
        up_to: i64,
    },
    /// The visitor saw agent messages up to this seq (panel open, page visible).
    Read {
        /// Highest seq seen.
        up_to: i64,
    },
    /// Where the visitor is (sent on every page): shown to agents beside the conversation.
    Context(crate::visitor::VisitorContext),
    /// The visitor leaves their resolved conversation for a new one (the hub closes it; their
    /// next message starts another).
    #[serde(rename = "new_conversation")]
    NewConversation,
    /// The visitor's answer to a satisfaction survey (`csat` frame from the hub).
    Csat {
        /// The survey answered.
        survey_id: String,
        /// 1 to 5 (thumbs: 1 down, 5 up).
        rating: i64,
        /// What they added in words, trimmed; `None` when empty.
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

/// Longest survey comment, in characters.
pub const MAX_CSAT_COMMENT_CHARS: usize = 1_000;

/// Why a client frame was refused; [`FrameError::to_frame`] gives the `error` frame to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not a frame of the protocol: bad JSON, unknown type, missing, extra or mistyped field,
    /// or too large. The message names the field.
    #[error("{0}")]
    Invalid(String),
    /// A message whose content is empty once trimmed; nothing to store.
    #[error("message content must not be empty")]
    Empty {
        /// The refused message's idempotency key, so the browser can drop it from its queue.
        client_id: String,
    },
    /// A message longer than the inbox allows; the browser drops it and shows the limit.
    #[error("message content is longer than {limit} characters")]
    TooLong {
        /// The refused message's idempotency key, so the browser can drop it from its queue.
        client_id: String,
        /// The limit in characters, for the error message.
        limit: usize,
    },
}

impl FrameError {
    /// The `code` of the `error` frame answering this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::InvalidFrame,
            Self::Empty { .. } => ErrorCode::Empty,
            Self::TooLong { .. } => ErrorCode::TooLong,
        }
    }

    /// The refused message's `client_id`, when the frame got far enough to have a valid one.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Invalid(_) => None,
            Self::Empty { client_id } | Self::TooLong { client_id, .. } => Some(client_id),
        }
    }

    /// The `error` frame the hub sends back for this refusal.
    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::error(
            self.code(),
            self.to_string(),
            self.client_id().map(str::to_owned),
        )
    }
}

/// Parses and validates one text frame from the browser.
///
/// Frames larger than `limits.max_frame_bytes` are refused before parsing. Unknown types,
/// missing, unknown or mistyped fields, a malformed `client_id` and negative seqs give
/// [`FrameError::Invalid`] naming the field; message content is trimmed, then must be non-empty
/// ([`FrameError::Empty`]) and at most `limits.max_message_chars` characters
/// ([`FrameError::TooLong`]).
pub fn parse_client_frame(text: &str, limits: &Limits) -> Result<ClientFrame, FrameError> {
    if text.len() > limits.max_frame_bytes {
        return Err(invalid(
            "frame",
            format!(
                "{} bytes is over the limit of {} bytes",
                text.len(),
                limits.max_frame_bytes
            ),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|err| invalid("frame", format!("not valid JSON ({err})")))?;
    let Value::Object(fields) = value else {
        return Err(invalid(
            "frame",
            format!("must be a JSON object with a \"type\" ({FRAME_TYPES})"),
        ));
    };
    let kind = match fields.get("type") {
        None => return Err(invalid("type", format!("is required ({FRAME_TYPES})"))),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(invalid("type", format!("must be a string ({FRAME_TYPES})"))),
    };
    match kind {
        "hello" => {
            only_fields(&fields, kind, &["token", "last_seq", "conversation_id"])?;
            let token = string(&fields, "token")?;
            let conversation_id = match fields.get("conversation_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if !id.is_empty() && id.len() <= 20 => Some(id.clone()),
                Some(_) => {
                    return Err(invalid(
                        "conversation_id",
                        "must be a conversation id string or null",
                    ));
                }
            };
            let last_seq = match fields.get("last_seq") {
                None | Some(Value::Null) => None,
                Some(value) => Some(seq(value).ok_or_else(|| {
                    invalid("last_seq", "must be a non-negative integer or null")
                })?),
            };
            Ok(ClientFrame::Hello {
                token,
                last_seq,
                conversation_id,
            })
        }
        "message" => {
            only_fields(&fields, kind, &["client_id", "content"])?;
            let client_id = string(&fields, "client_id")?;
            if !is_valid_client_id(&client_id) {
                return Err(invalid(
                    "client_id",
                    format!(
                        "must be {MIN_CLIENT_ID_CHARS} to {MAX_CLIENT_ID_CHARS} characters of \
                         A-Z, a-z, 0-9, _ and -"
                    ),
                ));
            }
            let content = string(&fields, "content")?;
            let content = check_content(&client_id, &content, limits)?.to_owned();
            Ok(ClientFrame::Message { client_id, content })
        }
        "typing" => {
            only_fields(&fields, kind, &["on"])?;
            match fields.get("on") {
                Some(Value::Bool(on)) => Ok(ClientFrame::Typing { on: *on }),
                None => Err(invalid("on", "is required (true or false)")),
                Some(_) => Err(invalid("on", "must be true or false")),
            }
        }
        "delivered" | "read" => {
            only_fields(&fields, kind, &["up_to"])?;
            let up_to = match fields.get("up_to") {
                None => return Err(invalid("up_to", "is required (a non-negative integer)")),
                Some(value) => {
                    seq(value).ok_or_else(|| invalid("up_to", "must be a non-negative integer"))?
                }
            };
            Ok(if kind == "read" {
                ClientFrame::Read { up_to }
            } else {
                ClientFrame::Delivered { up_to }
            })
        }
        "csat" => {
            only_fields(&fields, kind, &["survey_id", "rating", "comment"])?;
            let survey_id = string(&fields, "survey_id")?;
            if survey_id.is_empty() || survey_id.len() > 20 {
                return Err(invalid("survey_id", "must be a survey id string"));
            }
            let rating = fields
                .get("rating")
                .and_then(Value::as_i64)
                .filter(|r| (1..=5).contains(r))
                .ok_or_else(|| invalid("rating", "must be a whole number from 1 to 5"))?;
            let comment = match fields.get("comment") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => {
                    let text = text.trim();
                    if text.chars().count() > MAX_CSAT_COMMENT_CHARS {
                        return Err(invalid(
                            "comment",
                            format!("must be at most {MAX_CSAT_COMMENT_CHARS} characters"),
                        ));
                    }
                    (!text.is_empty()).then(|| text.to_owned())
                }
                Some(_) => return Err(invalid("comment", "must be text or null")),
            };
            Ok(ClientFrame::Csat {
                survey_id,
                rating,
                comment,
            })
        }
        "new_conversation" => {
            only_fields(&fields, kind, &[])?;
            Ok(ClientFrame::NewConversation)
        }
        // Read tolerantly: a page's odd title or a long URL is cut, not refused.
        "context" => Ok(ClientFrame::Context(
            crate::visitor::VisitorContext::from_fields(&fields),
        )),
        other => Err(invalid(
            "type",
            format!("unknown frame type {other:?} (expected {FRAME_TYPES})"),
        )),
    }
}

/// Whether `client_id` is 8 to 64 characters of `[A-Za-z0-9_-]`, the shape the widget generates;
/// the multipart upload route checks its `client_id` field with this too.
pub fn is_valid_client_id(client_id: &str) -> bool {
    (MIN_CLIENT_ID_CHARS..=MAX_CLIENT_ID_CHARS).contains(&client_id.len())
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Trims message `content` and checks it is non-empty and within `limits.max_message_chars`
/// characters, so the WebSocket and the multipart upload route (which allows empty content when
/// files are attached, and only calls this otherwise) refuse the same texts.
pub fn check_content<'a>(
    client_id: &str,
    content: &'a str,
    limits: &Limits,
) -> Result<&'a str, FrameError> {
    let content = content.trim();
    if content.is_empty() {
        return Err(FrameError::Empty {
            client_id: client_id.to_owned(),
        });
    }
    if content.chars().nth(limits.max_message_chars).is_some() {
        return Err(FrameError::TooLong {
            client_id: client_id.to_owned(),
            limit: limits.max_message_chars,
        });
    }
    Ok(content)
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> FrameError {
    FrameError::Invalid(format!("{field}: {problem}"))
}

/// Refuses fields a frame of this `kind` does not have, so typos are not silently ignored.
fn only_fields(
    fields: &Map<String, Value>,
    kind: &str,
    allowed: &[&str],
) -> Result<(), FrameError> {
    match fields
        .keys()
        .find(|key| *key != "type" && !allowed.contains(&key.as_str()))
    {
        Some(extra) => Err(invalid(
            extra,
            format!(
                "unknown field in a {kind} frame (allowed: {})",
                ["type"]
                    .iter()
                    .chain(allowed)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn string(fields: &Map<String, Value>, field: &str) -> Result<String, FrameError> {
    match fields.get(field) {
        Some(Value::String(text)) => Ok(text.clone()),
        None => Err(invalid(field, "is required (a string)")),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// A seq: a JSON integer from 0 to `i64::MAX` (no floats, no strings).
fn seq(value: &Value) -> Option<i64> {
    value.as_i64().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        parse_client_frame(text, &Limits::default())
    }

    fn invalid_message(text: &str) -> String {
        match parse(text) {
            Err(FrameError::Invalid(message)) => message,
            other => panic!("expected Invalid for {text}, got {other:?}"),
        }
    }

    #[test]
    fn csat_answers_are_a_rating_and_maybe_words() {
        assert_eq!(
            parse(r#"{"type":"csat","survey_id":"4","rating":5,"comment":"  Great help "}"#),
            Ok(ClientFrame::Csat {
                survey_id: "4".into(),
                rating: 5,
                comment: Some("Great help".into())
            })
        );
        assert_eq!(
            parse(r#"{"type":"csat","survey_id":"4","rating":1,"comment":"  "}"#),
            Ok(ClientFrame::Csat {
                survey_id: "4".into(),
                rating: 1,
                comment: None
            })
        );
        for (text, message) in [
            (
                r#"{"type":"csat","survey_id":"4","rating":6}"#,
                "rating: must be a whole number from 1 to 5",
            ),
            (
                r#"{"type":"csat","survey_id":"4","rating":2.5}"#,
                "rating: must be a whole number from 1 to 5",
            ),
            (
                r#"{"type":"csat","survey_id":"4"}"#,
                "rating: must be a whole number from 1 to 5",
            ),
            (
                r#"{"type":"csat","survey_id":4,"rating":3}"#,
                "survey_id: must be a string",
            ),
            (
                r#"{"type":"csat","survey_id":"4","rating":3,"comment":7}"#,
                "comment: must be text or null",
            ),
        ] {
            assert_eq!(invalid_message(text), message, "{text}");
        }
    }

    #[test]
    fn new_conversation_has_no_fields() {
        assert_eq!(
            parse(r#"{"type":"new_conversation"}"#),
            Ok(ClientFrame::NewConversation)
        );
        assert_eq!(
            invalid_message(r#"{"type":"new_conversation","conversation_id":"3"}"#),
            "conversation_id: unknown field in a new_conversation frame (allowed: type)"
        );
        assert_eq!(
            serde_json::to_string(&ClientFrame::NewConversation)
                .ok()
                .as_deref(),
            Some(r#"{"type":"new_conversation"}"#)
        );
    }

    #[test]
    fn default_limits_match_the_spec() {
        let limits = Limits::default();
        assert_eq!(limits.max_message_chars, 4000);
        assert_eq!(limits.max_frame_bytes, 65_536);
    }

    #[test]
    fn hello_with_and_without_last_seq() {
        assert_eq!(
            parse(r#"{"type":"hello","token":"abc.3.sig","last_seq":12}"#),
            Ok(ClientFrame::Hello {
                token: "abc.3.sig".into(),
                last_seq: Some(12),
                conversation_id: None,
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","token":"t","last_seq":0}"#),
            Ok(ClientFrame::Hello {
                token: "t".into(),
                last_seq: Some(0),
                conversation_id: None,
            })
        );
        for text in [
            r#"{"type":"hello","token":"t","last_seq":null}"#,
            r#"{"type":"hello","token":"t"}"#,
        ] {
            assert_eq!(
                parse(text),
                Ok(ClientFrame::Hello {
                    token: "t".into(),
                    last_seq: None,
                    conversation_id: None,
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn hello_may_name_the_conversation_its_seq_counts_in() {
        assert_eq!(
            parse(r#"{"type":"hello","token":"t","last_seq":4,"conversation_id":"17"}"#),
            Ok(ClientFrame::Hello {
                token: "t".into(),
                last_seq: Some(4),
                conversation_id: Some("17".into()),
            })
        );
        for bad in [r#"17"#, r#""""#, r#"true"#] {
            let text = format!(r#"{{"type":"hello","token":"t","conversation_id":{bad}}}"#);
            assert!(
                matches!(parse(&text), Err(FrameError::Invalid(m)) if m.starts_with("conversation_id:")),
                "{text}"
            );
        }
    }

    #[test]
    fn hello_refusals_name_the_field() {
        assert_eq!(
            invalid_message(r#"{"type":"hello"}"#),
            "token: is required (a string)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"hello","token":42}"#),
            "token: must be a string"
        );
        for last_seq in ["-1", "1.5", "\"12\"", "true", "18446744073709551615"] {
            assert_eq!(
                invalid_message(&format!(
                    r#"{{"type":"hello","token":"t","last_seq":{last_seq}}}"#
                )),
                "last_seq: must be a non-negative integer or null",
                "last_seq {last_seq}"
            );
        }
    }

    #[test]
    fn message_is_trimmed() {
        assert_eq!(
            parse(
                r#"{"type":"message","client_id":"c-0123456789","content":"  Hello\n there \n"}"#
            ),
            Ok(ClientFrame::Message {
                client_id: "c-0123456789".into(),
                content: "Hello\n there".into()
            })
        );
    }

    #[test]
    fn client_id_shape() {
        for good in [
            "abcdefgh",
            "c-3f1e2d4c-aaaa-bbbb-cccc-0123456789ab",
            "A_b-C_d-",
            &"x".repeat(64),
        ] {
            assert!(is_valid_client_id(good), "{good}");
            let text = format!(r#"{{"type":"message","client_id":"{good}","content":"hi"}}"#);
            assert!(parse(&text).is_ok(), "{good}");
        }
        for bad in [
            "",
            "short",
            "abcdefg",
            &"x".repeat(65),
            "has space1",
            "dots.are.out",
            "ümlauts-no",
            "c-uuid/../x",
        ] {
            assert!(!is_valid_client_id(bad), "{bad:?}");
            let text = format!(r#"{{"type":"message","client_id":"{bad}","content":"hi"}}"#);
            assert_eq!(
                invalid_message(&text),
                "client_id: must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -",
                "{bad:?}"
            );
        }
        assert_eq!(
            invalid_message(r#"{"type":"message","client_id":12345678,"content":"hi"}"#),
            "client_id: must be a string"
        );
        assert_eq!(
            invalid_message(r#"{"type":"message","content":"hi"}"#),
            "client_id: is required (a string)"
        );
    }

    #[test]
    fn message_content_must_be_a_string() {
        assert_eq!(
            invalid_message(r#"{"type":"message","client_id":"c-12345678"}"#),
            "content: is required (a string)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"message","client_id":"c-12345678","content":null}"#),
            "content: must be a string"
        );
    }

    #[test]
    fn whitespace_only_content_is_empty_with_the_client_id() {
        for content in ["", "   ", "\\n\\t ", "\\u00a0\\u2003"] {
            let text =
                format!(r#"{{"type":"message","client_id":"c-12345678","content":"{content}"}}"#);
            let err = parse(&text).expect_err("empty");
            assert_eq!(
                err,
                FrameError::Empty {
                    client_id: "c-12345678".into()
                },
                "{content:?}"
            );
            assert_eq!(err.code(), ErrorCode::Empty);
            assert_eq!(err.client_id(), Some("c-12345678"));
        }
    }

    #[test]
    fn length_is_counted_in_characters_after_trimming() {
        let limits = Limits {
            max_message_chars: 5,
            ..Limits::default()
        };
        // Five emoji are 20 bytes but 5 characters: accepted, surrounding spaces not counted.
        let text = r#"{"type":"message","client_id":"c-12345678","content":"  😀😀😀😀😀  "}"#;
        assert_eq!(
            parse_client_frame(text, &limits),
            Ok(ClientFrame::Message {
                client_id: "c-12345678".into(),
                content: "😀😀😀😀😀".into()
            })
        );
        // Escaped surrogate pairs count as one character each, too.
        let text =
            r#"{"type":"message","client_id":"c-12345678","content":"\ud83d\ude00\ud83d\ude00"}"#;
        assert!(parse_client_frame(text, &limits).is_ok());

        let text = r#"{"type":"message","client_id":"c-12345678","content":"😀😀😀😀😀😀"}"#;
        let err = parse_client_frame(text, &limits).expect_err("too long");
        assert_eq!(
            err,
            FrameError::TooLong {
                client_id: "c-12345678".into(),
                limit: 5
            }
        );
        assert_eq!(err.code(), ErrorCode::TooLong);
        assert_eq!(
            err.to_string(),
            "message content is longer than 5 characters"
        );
    }

    #[test]
    fn too_long_at_the_default_limit_carries_the_client_id() {
        let at_limit = "a".repeat(4000);
        let text =
            format!(r#"{{"type":"message","client_id":"c-12345678","content":"{at_limit}"}}"#);
        assert!(parse(&text).is_ok());
        let over = "a".repeat(4001);
        let text = format!(r#"{{"type":"message","client_id":"c-12345678","content":"{over}"}}"#);
        let err = parse(&text).expect_err("too long");
        assert_eq!(err.client_id(), Some("c-12345678"));
        assert_eq!(
            err.to_frame(),
            ServerFrame::Error {
                code: ErrorCode::TooLong,
                message: "message content is longer than 4000 characters".into(),
                client_id: Some("c-12345678".into()),
            }
        );
    }

    #[test]
    fn check_content_is_shared_with_uploads() {
        let limits = Limits::default();
        assert_eq!(check_content("c-12345678", " hi ", &limits), Ok("hi"));
        assert!(matches!(
            check_content("c-12345678", " \n", &limits),
            Err(FrameError::Empty { .. })
        ));
    }

    #[test]
    fn typing() {
        assert_eq!(
            parse(r#"{"type":"typing","on":true}"#),
            Ok(ClientFrame::Typing { on: true })
        );
        assert_eq!(
            parse(r#"{"type":"typing","on":false}"#),
            Ok(ClientFrame::Typing { on: false })
        );
        assert_eq!(
            invalid_message(r#"{"type":"typing"}"#),
            "on: is required (true or false)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"typing","on":"yes"}"#),
            "on: must be true or false"
        );
        assert_eq!(
            invalid_message(r#"{"type":"typing","on":1}"#),
            "on: must be true or false"
        );
    }

    #[test]
    fn delivered_and_read() {
        assert_eq!(
            parse(r#"{"type":"delivered","up_to":7}"#),
            Ok(ClientFrame::Delivered { up_to: 7 })
        );
        assert_eq!(
            parse(r#"{"type":"read","up_to":0}"#),
            Ok(ClientFrame::Read { up_to: 0 })
        );
        for kind in ["delivered", "read"] {
            assert_eq!(
                invalid_message(&format!(r#"{{"type":"{kind}"}}"#)),
                "up_to: is required (a non-negative integer)"
            );
            for up_to in ["-3", "2.0", "\"7\"", "null", "[1]"] {
                assert_eq!(
                    invalid_message(&format!(r#"{{"type":"{kind}","up_to":{up_to}}}"#)),
                    "up_to: must be a non-negative integer",
                    "{kind} {up_to}"
                );
            }
        }
    }

    #[test]
    fn unknown_missing_or_mistyped_type() {
        assert_eq!(
            invalid_message(r#"{"type":"bye"}"#),
            "type: unknown frame type \"bye\" (expected hello, message, typing, delivered, read, context, new_conversation or csat)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"Message","client_id":"c-12345678","content":"hi"}"#),
            "type: unknown frame type \"Message\" (expected hello, message, typing, delivered, read, context, new_conversation or csat)"
        );
        assert_eq!(
            invalid_message(r#"{"on":true}"#),
            "type: is required (hello, message, typing, delivered, read, context, new_conversation or csat)"
        );
        assert_eq!(
            invalid_message(r#"{"type":3}"#),
            "type: must be a string (hello, message, typing, delivered, read, context, new_conversation or csat)"
        );
    }

    #[test]
    fn extra_fields_are_refused() {
        assert_eq!(
            invalid_message(r#"{"type":"typing","on":true,"author":"me"}"#),
            "author: unknown field in a typing frame (allowed: type, on)"
        );
        assert_eq!(
            invalid_message(
                r#"{"type":"message","client_id":"c-12345678","content":"hi","files":[]}"#
            ),
            "files: unknown field in a message frame (allowed: type, client_id, content)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"hello","token":"t","lastSeq":3}"#),
            "lastSeq: unknown field in a hello frame (allowed: type, token, last_seq, conversation_id)"
        );
        assert_eq!(
            invalid_message(r#"{"type":"read","up_to":1,"seq":2}"#),
            "seq: unknown field in a read frame (allowed: type, up_to)"
        );
    }

    #[test]
    fn not_json_or_not_an_object() {
        assert!(invalid_message("hello").starts_with("frame: not valid JSON ("));
        assert!(invalid_message("").starts_with("frame: not valid JSON ("));
        assert!(
            invalid_message(r#"{"type":"typing","on":true} x"#)
                .starts_with("frame: not valid JSON (")
        );
        for text in ["[]", "null", "\"hello\"", "42"] {
            assert_eq!(
                invalid_message(text),
                "frame: must be a JSON object with a \"type\" (hello, message, typing, delivered, read, context, new_conversation or csat)",
                "{text}"
            );
        }
    }

    #[test]
    fn oversize_frames_are_refused_before_parsing() {
        let limits = Limits::default();
        let padding = " ".repeat(limits.max_frame_bytes);
        let text = format!(r#"{{"type":"typing","on":true}}{padding}"#);
        let err = parse_client_frame(&text, &limits).expect_err("oversize");
        assert_eq!(
            err,
            FrameError::Invalid(format!(
                "frame: {} bytes is over the limit of 65536 bytes",
                text.len()
            ))
        );
        assert_eq!(err.code(), ErrorCode::InvalidFrame);
        assert_eq!(err.client_id(), None);

        // Not even valid JSON matters once it is too large; at the limit it is parsed.
        let small = Limits {
            max_frame_bytes: 27,
            ..Limits::default()
        };
        assert_eq!(
            parse_client_frame(r#"{"type":"typing","on":true}"#, &small),
            Ok(ClientFrame::Typing { on: true })
        );
        assert!(matches!(
            parse_client_frame(r#"{"type":"typing","on":false}"#, &small),
            Err(FrameError::Invalid(message)) if message.starts_with("frame: 28 bytes")
        ));
    }

    #[test]
    fn invalid_frames_answer_with_invalid_frame_errors() {
        let err = parse(r#"{"type":"bye"}"#).expect_err("invalid");
        let ServerFrame::Error {
            code,
            message,
            client_id,
        } = err.to_frame()
        else {
            panic!("expected an error frame");
        };
        assert_eq!(code, ErrorCode::InvalidFrame);
        assert!(message.starts_with("type: unknown frame type"));
        assert_eq!(client_id, None);
    }

    #[test]
    fn serialized_client_frames_parse_back() {
        for frame in [
            ClientFrame::Hello {
                token: "v.3.s".into(),
                last_seq: None,
                conversation_id: None,
            },
            ClientFrame::Hello {
                token: "v.3.s".into(),
                last_seq: Some(9),
                conversation_id: None,
            },
            ClientFrame::Message {
                client_id: "c-12345678".into(),
                content: "Hi 👋".into(),
            },
            ClientFrame::Typing { on: true },
            ClientFrame::Delivered { up_to: 4 },
            ClientFrame::Read { up_to: 5 },
        ] {
            let text = serde_json::to_string(&frame).expect("serializes");
            assert_eq!(parse(&text), Ok(frame), "{text}");
        }
        assert_eq!(
            serde_json::to_value(ClientFrame::Hello {
                token: "t".into(),
                last_seq: None,
                conversation_id: None,
            })
            .expect("serializes"),
            serde_json::json!({"type": "hello", "token": "t", "last_seq": null})
        );
    }
}
