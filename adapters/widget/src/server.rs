//! Frames the hub sends over the widget WebSocket, in exactly the spec's JSON shapes.
//!
//! Ids are strings (JavaScript numbers lose precision past 2^53) while seqs stay numbers, since
//! the browser compares them. Absent optional values are sent as `null`, never omitted, so the
//! widget script can rely on every key being present. The types deserialize too, for tests and
//! the benchmark client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who wrote a message, as the widget shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    /// The visitor themselves (shown on the right).
    Visitor,
    /// A human agent.
    Agent,
    /// An automated reply.
    Bot,
    /// A hub notice (conversation resolved, agent joined…).
    System,
}

/// How far an agent message got on the visitor's side; shown only on agent messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Receipt {
    /// Stored by the hub and sent to the widget.
    Sent,
    /// The visitor's browser received it.
    Delivered,
    /// The visitor saw it.
    Read,
}

/// The `code` of an `error` frame, which tells the widget what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Too many messages: the widget drops `client_id` from its queue and may retry later.
    RateLimited,
    /// The message `client_id` is over the inbox's character limit: dropped, error shown.
    TooLong,
    /// The frame is not part of the protocol (a widget bug); nothing to retry.
    InvalidFrame,
    /// The token is invalid: the socket closes and the widget starts a new session.
    Unauthorized,
    /// The message `client_id` has no content: dropped.
    Empty,
}

/// A file attached to a message, with signed download URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentFrame {
    /// The hub's attachment id.
    pub id: String,
    /// File name to show and download as.
    pub file_name: String,
    /// MIME type, so the widget knows whether to show an image.
    pub content_type: String,
    /// Size in bytes, shown next to the file name.
    pub byte_size: u64,
    /// Pixel width of an image, so the layout does not jump while it loads.
    pub width: Option<u32>,
    /// Pixel height of an image.
    pub height: Option<u32>,
    /// Absolute signed download URL, valid for a while.
    pub url: String,
    /// Absolute signed URL of a small preview of an image, when one exists.
    pub thumbnail_url: Option<String>,
}

/// One message of the conversation as the widget shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFrame {
    /// The hub's message id.
    pub id: String,
    /// Position in the visitor's stream, so the widget resumes without gaps or duplicates.
    pub seq: i64,
    /// The browser's idempotency key for visitor messages, so the widget matches its pending
    /// bubble; `None` for everything else.
    pub client_id: Option<String>,
    /// Who wrote it.
    pub from: Sender,
    /// Display name of the agent or bot; `None` for the visitor.
    pub author: Option<String>,
    /// Text content; may be empty when the message only carries files.
    pub content: String,
    /// Files sent with the message.
    pub attachments: Vec<AttachmentFrame>,
    /// When the hub stored it (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// Delivery state of an agent message; `None` on other messages.
    pub status: Option<Receipt>,
}

/// One frame from the hub to the widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// The answer to `hello`; the missed messages follow, then live frames.
    Ready {
        /// The visitor's id, for the widget's own bookkeeping.
        visitor_id: String,
        /// The visitor's current conversation, if they have one yet.
        conversation_id: Option<String>,
        /// Highest seq in the visitor's stream when the socket became ready.
        last_seq: i64,
        /// Whether an agent is available, to show the away message otherwise.
        agents_online: bool,
    },
    /// A new message (or one of the missed ones after `ready`).
    Message {
        /// The message.
        message: MessageFrame,
    },
    /// A visitor message was stored; `duplicate` when its `client_id` had been stored before.
    Ack {
        /// The browser's idempotency key, so the widget drops it from its queue.
        client_id: String,
        /// The stored message (the original one for a duplicate).
        message: MessageFrame,
        /// Whether this `client_id` had been stored before.
        duplicate: bool,
    },
    /// An agent started or stopped typing.
    Typing {
        /// Whether the agent is typing now.
        on: bool,
        /// The agent's display name.
        author: String,
    },
    /// An agent read the visitor's messages up to a seq.
    Status {
        /// Highest seq the status applies to.
        up_to: i64,
        /// The new state.
        status: Receipt,
    },
    /// Agents came online or all went away.
    Presence {
        /// Whether an agent is available.
        agents_online: bool,
    },
    /// A satisfaction survey after the conversation was resolved (after `ready` while it may
    /// be answered, and when it is asked); `rating` is set once answered (a changed answer
    /// comes back the same way).
    Csat {
        /// The survey, named in the answer.
        survey_id: String,
        /// What the inbox asks.
        question: String,
        /// `five` (1 to 5) or `thumbs` (1 down, 5 up).
        scale: String,
        /// The visitor's answer so far.
        rating: Option<i64>,
        /// Their words with it.
        comment: Option<String>,
    },
    /// The state of the visitor's conversation: sent after `ready` (and its history) and when
    /// it changes. A resolved conversation shows as ended, with "start a new conversation".
    Conversation {
        /// The conversation.
        conversation_id: String,
        /// Whether support marked it resolved (or closed it).
        resolved: bool,
    },
    /// Something was refused; `code` says what the widget should do.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail, for logs and the developer console.
        message: String,
        /// The refused message's idempotency key, when the error is about one.
        client_id: Option<String>,
    },
}

impl ServerFrame {
    /// An `error` frame, for refusals that do not come from frame parsing (rate limits, tokens).
    pub fn error(code: ErrorCode, message: impl Into<String>, client_id: Option<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id,
        }
    }
}

/// The JSON text of `frame`, ready to send. Never fails: should serialization ever break, the
/// widget gets an `invalid_frame` error frame instead of nothing.
pub fn render(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_else(|err| {
        serde_json::json!({
            "type": "error",
            "code": ErrorCode::InvalidFrame,
            "message": format!("the hub could not encode a frame: {err}"),
            "client_id": null,
        })
        .to_string()
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0)
            .single()
            .expect("valid fixed date")
    }

    fn visitor_message() -> MessageFrame {
        MessageFrame {
            id: "55".into(),
            seq: 3,
            client_id: Some("c-uuid-0001".into()),
            from: Sender::Visitor,
            author: None,
            content: "Hello".into(),
            attachments: Vec::new(),
            created_at: at(),
            status: None,
        }
    }

    fn visitor_message_json() -> Value {
        json!({
            "id": "55",
            "seq": 3,
            "client_id": "c-uuid-0001",
            "from": "visitor",
            "author": null,
            "content": "Hello",
            "attachments": [],
            "created_at": "2026-11-27T14:00:00Z",
            "status": null
        })
    }

    /// Renders `frame`, compares it with `expected`, and checks it parses back to `frame`.
    fn check(frame: ServerFrame, expected: Value) {
        let text = render(&frame);
        let value: Value = serde_json::from_str(&text).expect("render gives JSON");
        assert_eq!(value, expected);
        let back: ServerFrame = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, frame);
    }

    #[test]
    fn ready() {
        check(
            ServerFrame::Ready {
                visitor_id: "AAECAwQFBgcICQoLDA0ODw".into(),
                conversation_id: None,
                last_seq: 0,
                agents_online: false,
            },
            json!({
                "type": "ready",
                "visitor_id": "AAECAwQFBgcICQoLDA0ODw",
                "conversation_id": null,
                "last_seq": 0,
                "agents_online": false
            }),
        );
        check(
            ServerFrame::Ready {
                visitor_id: "v".into(),
                conversation_id: Some("7".into()),
                last_seq: 12,
                agents_online: true,
            },
            json!({
                "type": "ready",
                "visitor_id": "v",
                "conversation_id": "7",
                "last_seq": 12,
                "agents_online": true
            }),
        );
    }

    #[test]
    fn message_with_attachments_and_status() {
        let message = MessageFrame {
            id: "56".into(),
            seq: 4,
            client_id: None,
            from: Sender::Agent,
            author: Some("Bob".into()),
            content: "Here is the invoice".into(),
            attachments: vec![
                AttachmentFrame {
                    id: "9".into(),
                    file_name: "invoice.pdf".into(),
                    content_type: "application/pdf".into(),
                    byte_size: 52_311,
                    width: None,
                    height: None,
                    url: "https://hub.example/files/9?sig=x".into(),
                    thumbnail_url: None,
                },
                AttachmentFrame {
                    id: "10".into(),
                    file_name: "photo.png".into(),
                    content_type: "image/png".into(),
                    byte_size: 1024,
                    width: Some(640),
                    height: Some(480),
                    url: "https://hub.example/files/10?sig=y".into(),
                    thumbnail_url: Some("https://hub.example/files/10/thumb?sig=z".into()),
                },
            ],
            created_at: at(),
            status: Some(Receipt::Delivered),
        };
        check(
            ServerFrame::Message { message },
            json!({
                "type": "message",
                "message": {
                    "id": "56",
                    "seq": 4,
                    "client_id": null,
                    "from": "agent",
                    "author": "Bob",
                    "content": "Here is the invoice",
                    "attachments": [
                        {
                            "id": "9",
                            "file_name": "invoice.pdf",
                            "content_type": "application/pdf",
                            "byte_size": 52311,
                            "width": null,
                            "height": null,
                            "url": "https://hub.example/files/9?sig=x",
                            "thumbnail_url": null
                        },
                        {
                            "id": "10",
                            "file_name": "photo.png",
                            "content_type": "image/png",
                            "byte_size": 1024,
                            "width": 640,
                            "height": 480,
                            "url": "https://hub.example/files/10?sig=y",
                            "thumbnail_url": "https://hub.example/files/10/thumb?sig=z"
                        }
                    ],
                    "created_at": "2026-11-27T14:00:00Z",
                    "status": "delivered"
                }
            }),
        );
    }

    #[test]
    fn ack() {
        for duplicate in [false, true] {
            check(
                ServerFrame::Ack {
                    client_id: "c-uuid-0001".into(),
                    message: visitor_message(),
                    duplicate,
                },
                json!({
                    "type": "ack",
                    "client_id": "c-uuid-0001",
                    "message": visitor_message_json(),
                    "duplicate": duplicate
                }),
            );
        }
    }

    #[test]
    fn typing_status_presence() {
        check(
            ServerFrame::Typing {
                on: true,
                author: "Bob".into(),
            },
            json!({"type": "typing", "on": true, "author": "Bob"}),
        );
        check(
            ServerFrame::Status {
                up_to: 8,
                status: Receipt::Read,
            },
            json!({"type": "status", "up_to": 8, "status": "read"}),
        );
        check(
            ServerFrame::Presence {
                agents_online: true,
            },
            json!({"type": "presence", "agents_online": true}),
        );
        check(
            ServerFrame::Conversation {
                conversation_id: "12".into(),
                resolved: true,
            },
            json!({"type": "conversation", "conversation_id": "12", "resolved": true}),
        );
    }

    #[test]
    fn errors() {
        check(
            ServerFrame::error(
                ErrorCode::RateLimited,
                "too many messages",
                Some("c-uuid-0001".into()),
            ),
            json!({
                "type": "error",
                "code": "rate_limited",
                "message": "too many messages",
                "client_id": "c-uuid-0001"
            }),
        );
        for (code, text) in [
            (ErrorCode::RateLimited, "rate_limited"),
            (ErrorCode::TooLong, "too_long"),
            (ErrorCode::InvalidFrame, "invalid_frame"),
            (ErrorCode::Unauthorized, "unauthorized"),
            (ErrorCode::Empty, "empty"),
        ] {
            check(
                ServerFrame::error(code, "m", None),
                json!({"type": "error", "code": text, "message": "m", "client_id": null}),
            );
        }
    }

    #[test]
    fn senders_and_receipts_spell_as_the_spec() {
        for (from, text) in [
            (Sender::Visitor, "visitor"),
            (Sender::Agent, "agent"),
            (Sender::Bot, "bot"),
            (Sender::System, "system"),
        ] {
            assert_eq!(serde_json::to_value(from).expect("serializes"), json!(text));
        }
        for (status, text) in [
            (Receipt::Sent, "sent"),
            (Receipt::Delivered, "delivered"),
            (Receipt::Read, "read"),
        ] {
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                json!(text)
            );
        }
    }

    #[test]
    fn created_at_is_utc_rfc3339() {
        let text = r#"{"type":"message","message":{"id":"1","seq":1,"client_id":null,
            "from":"system","author":null,"content":"Resolved","attachments":[],
            "created_at":"2026-11-27T15:00:00+01:00","status":null}}"#;
        let ServerFrame::Message { message } = serde_json::from_str(text).expect("parses") else {
            panic!("expected a message frame");
        };
        assert_eq!(message.created_at, at());
        let rendered: Value =
            serde_json::from_str(&render(&ServerFrame::Message { message })).expect("JSON");
        assert_eq!(rendered["message"]["created_at"], "2026-11-27T14:00:00Z");
    }

    #[test]
    fn render_is_compact_json() {
        assert_eq!(
            render(&ServerFrame::Presence {
                agents_online: false
            }),
            r#"{"type":"presence","agents_online":false}"#
        );
    }
}
