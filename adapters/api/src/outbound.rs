//! The outbound callback: the JSON body we post and how we read the integrator's answer.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_channel::{
    ChannelError, OutboundMessage, SendReceipt, SurveyRequest, parse_retry_after,
};

use crate::inbound::MAX_ID_CHARS;

/// Most response bytes read from a callback; enough for any sensible answer, and a misbehaving
/// endpoint cannot make the hub buffer megabytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How much of a plain-text error body is quoted to the agent.
const MAX_DETAIL_CHARS: usize = 200;

/// Renders the callback body for an agent's reply:
/// `{"message": {"id", "conversation_id", "content", "private", "attachments", "contact", "reply_to"}}`.
/// The `id` is stable across retries so the integrator can dedupe redeliveries.
/// A satisfaction survey renders as [`render_csat_request`] instead.
pub fn render_outbound(message: &OutboundMessage) -> Vec<u8> {
    if let Some(survey) = &message.survey {
        return render_csat_request(message, survey);
    }
    let attachments: Vec<Value> = message
        .attachments
        .iter()
        .map(|attachment| {
            json!({
                "id": attachment.id,
                "file_name": attachment.file_name,
                "content_type": attachment.content_type,
                "byte_size": attachment.byte_size,
                "url": attachment.url,
                "width": attachment.width,
                "height": attachment.height,
                "thumbnail_url": attachment.thumbnail_url,
            })
        })
        .collect();
    let recipient = &message.recipient;
    json!({
        "message": {
            "id": message.message_id,
            "conversation_id": message.conversation_id,
            "content": message.content,
            "private": message.private,
            "attachments": attachments,
            "contact": {
                "identifier": recipient.identifier,
                "name": recipient.name,
                "email": recipient.email,
                "phone": recipient.phone,
            },
            "reply_to": message.reply_to_external_id,
        }
    })
    .to_string()
    .into_bytes()
}

/// Renders the callback body that asks the integrator to put a satisfaction survey to the
/// contact: `{"csat_request": {"id", "survey_id", "conversation_id", "question", "scale",
/// "choices": [{"rating", "label"}], "links": [{"rating", "url"}], "contact"}}`. The answer
/// comes back as a `csat` event naming `survey_id`; `links` are the hub's own signed rating
/// pages, for integrators that would rather send a link.
pub fn render_csat_request(message: &OutboundMessage, survey: &SurveyRequest) -> Vec<u8> {
    let choices: Vec<Value> = survey
        .scale
        .choices()
        .iter()
        .map(|choice| json!({"rating": choice.rating, "label": choice.label}))
        .collect();
    let links: Vec<Value> = survey
        .links
        .iter()
        .map(|link| json!({"rating": link.rating, "url": link.url}))
        .collect();
    let recipient = &message.recipient;
    json!({
        "csat_request": {
            "id": message.message_id,
            "survey_id": survey.survey_id,
            "conversation_id": message.conversation_id,
            "question": message.content,
            "scale": survey.scale.as_str(),
            "choices": choices,
            "links": links,
            "contact": {
                "identifier": recipient.identifier,
                "name": recipient.name,
                "email": recipient.email,
                "phone": recipient.phone,
            },
        }
    })
    .to_string()
    .into_bytes()
}

/// Classifies the callback's answer so the outbox knows what to do: 2xx is delivered (with the
/// integrator's `external_id` when it sends a usable one); 408, 425, 429 and 5xx are transient
/// and honour `Retry-After`; redirects and other 4xx are permanent, with the integrator's own
/// error code and message when it answers `{"error": {"code", "message"}}`.
///
/// Pure (the caller passes `now` and the already-capped body) so every branch is unit-testable.
pub fn parse_send_response(
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<SendReceipt, ChannelError> {
    let retry_after = || retry_after_header.and_then(|value| parse_retry_after(value, now));
    match status {
        200..=299 => Ok(SendReceipt {
            external_id: receipt_id(body),
        }),
        429 => Err(ChannelError::Transient {
            reason: "callback answered 429 Too Many Requests".to_owned(),
            retry_after: retry_after(),
        }),
        408 | 425 | 500..=599 => {
            let mut reason = format!("callback answered {}", status_line(status));
            if let Some((_, Some(message))) = json_error(body) {
                reason.push_str(": ");
                reason.push_str(&message);
            }
            Err(ChannelError::Transient {
                reason,
                retry_after: retry_after(),
            })
        }
        300..=399 => Err(ChannelError::Permanent {
            code: Some(status.to_string()),
            reason: "callback answered a redirect (not followed)".to_owned(),
        }),
        400..=499 => {
            let (code, message) = json_error(body).unwrap_or((None, None));
            let detail = message
                .or_else(|| text_snippet(body))
                .or_else(|| canonical_reason(status).map(str::to_owned))
                .unwrap_or_else(|| "no details".to_owned());
            Err(ChannelError::Permanent {
                code: Some(code.unwrap_or_else(|| status.to_string())),
                reason: format!("callback answered {status}: {detail}"),
            })
        }
        _ => Err(ChannelError::Permanent {
            code: Some(status.to_string()),
            reason: format!("callback answered an unexpected HTTP status {status}"),
        }),
    }
}

/// The integrator's id for the delivered message, if the body is `{"external_id": "<id>"}` with
/// an id the hub can store; anything else is simply "no id".
fn receipt_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = value.get("external_id")?.as_str()?;
    let usable = !id.trim().is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && !id.chars().any(char::is_control);
    usable.then(|| id.to_owned())
}

/// `(code, message)` from a `{"error": {"code", "message"}}` body (or `{"error": "message"}`);
/// `None` when the body is not shaped like that.
fn json_error(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("error")? {
        Value::String(message) => Some((None, clean(message, MAX_DETAIL_CHARS))),
        Value::Object(error) => {
            let code = match error.get("code") {
                Some(Value::String(code)) => clean(code, 64),
                Some(Value::Number(code)) => Some(code.to_string()),
                _ => None,
            };
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .and_then(|message| clean(message, MAX_DETAIL_CHARS));
            Some((code, message))
        }
        _ => None,
    }
}

/// The first [`MAX_DETAIL_CHARS`] characters of a non-JSON-error body, made single-line.
fn text_snippet(body: &[u8]) -> Option<String> {
    clean(&String::from_utf8_lossy(body), MAX_DETAIL_CHARS)
}

/// `value` cut to `max_chars`, with control characters (newlines…) turned into spaces and
/// surrounding whitespace dropped, so it reads well in one line of the inbox; `None` if blank.
fn clean(value: &str, max_chars: usize) -> Option<String> {
    let cleaned: String = value
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn canonical_reason(status: u16) -> Option<&'static str> {
    StatusCode::from_u16(status).ok()?.canonical_reason()
}

/// `503 Service Unavailable`, or just `599` for codes without a standard phrase.
fn status_line(status: u16) -> String {
    match canonical_reason(status) {
        Some(phrase) => format!("{status} {phrase}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use switchboard_channel::{ContactProfile, OutboundAttachment};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
            .single()
            .expect("valid fixed date")
    }

    fn transient(reason: &str, retry_after: Option<u64>) -> Result<SendReceipt, ChannelError> {
        Err(ChannelError::Transient {
            reason: reason.to_owned(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    fn permanent(code: &str, reason: &str) -> Result<SendReceipt, ChannelError> {
        Err(ChannelError::Permanent {
            code: Some(code.to_owned()),
            reason: reason.to_owned(),
        })
    }

    fn receipt(external_id: Option<&str>) -> Result<SendReceipt, ChannelError> {
        Ok(SendReceipt {
            external_id: external_id.map(str::to_owned),
        })
    }

    #[test]
    fn send_response_table() {
        let long_id = format!(r#"{{"external_id":"{}"}}"#, "x".repeat(256));
        let long_text = "e".repeat(500);
        type Case<'a> = (
            u16,
            Option<&'a str>,
            &'a [u8],
            Result<SendReceipt, ChannelError>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                200,
                None,
                br#"{"external_id":"ext-9"}"#,
                receipt(Some("ext-9")),
            ),
            (200, None, br#"{"ok":true}"#, receipt(None)),
            (200, None, b"", receipt(None)),
            (200, None, br#"{"external_id":""}"#, receipt(None)),
            (200, None, br#"{"external_id":42}"#, receipt(None)),
            (200, None, long_id.as_bytes(), receipt(None)),
            (201, None, b"created, thanks", receipt(None)),
            (204, None, b"", receipt(None)),
            (
                429,
                Some("3"),
                b"",
                transient("callback answered 429 Too Many Requests", Some(3)),
            ),
            (
                429,
                Some("Wed, 21 Oct 2015 07:28:20 GMT"),
                b"slow down",
                transient("callback answered 429 Too Many Requests", Some(20)),
            ),
            (
                429,
                None,
                b"",
                transient("callback answered 429 Too Many Requests", None),
            ),
            (
                429,
                Some("later"),
                b"",
                transient("callback answered 429 Too Many Requests", None),
            ),
            (
                500,
                None,
                b"<html>oops</html>",
                transient("callback answered 500 Internal Server Error", None),
            ),
            (
                503,
                Some("120"),
                b"",
                transient("callback answered 503 Service Unavailable", Some(120)),
            ),
            (
                502,
                None,
                br#"{"error":{"code":"upstream","message":"CRM is down"}}"#,
                transient("callback answered 502 Bad Gateway: CRM is down", None),
            ),
            (
                408,
                None,
                b"",
                transient("callback answered 408 Request Timeout", None),
            ),
            (
                425,
                None,
                b"",
                transient("callback answered 425 Too Early", None),
            ),
            (599, None, b"", transient("callback answered 599", None)),
            (
                301,
                None,
                b"",
                permanent("301", "callback answered a redirect (not followed)"),
            ),
            (
                307,
                Some("5"),
                b"",
                permanent("307", "callback answered a redirect (not followed)"),
            ),
            (
                403,
                None,
                br#"{"error":{"code":"contact_blocked","message":"customer opted out"}}"#,
                permanent(
                    "contact_blocked",
                    "callback answered 403: customer opted out",
                ),
            ),
            (
                422,
                None,
                br#"{"error":{"message":"unknown conversation"}}"#,
                permanent("422", "callback answered 422: unknown conversation"),
            ),
            (
                404,
                None,
                b"no such hook\n",
                permanent("404", "callback answered 404: no such hook"),
            ),
            (
                404,
                None,
                b"",
                permanent("404", "callback answered 404: Not Found"),
            ),
            (
                400,
                None,
                long_text.as_bytes(),
                permanent(
                    "400",
                    &format!("callback answered 400: {}", "e".repeat(200)),
                ),
            ),
            (
                499,
                None,
                b"",
                permanent("499", "callback answered 499: no details"),
            ),
            (
                101,
                None,
                b"",
                permanent("101", "callback answered an unexpected HTTP status 101"),
            ),
        ];
        for (status, retry_after, body, expected) in cases {
            assert_eq!(
                parse_send_response(status, retry_after, body, now()),
                expected,
                "status {status}, retry-after {retry_after:?}, body {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn render_outbound_shape() {
        let message = OutboundMessage {
            mail_thread: None,
            survey: None,
            message_id: "msg-17".into(),
            conversation_id: "conv-3".into(),
            content: "Hi Ann, your order shipped.".into(),
            private: false,
            attachments: vec![OutboundAttachment {
                id: "att-1".into(),
                file_name: "label.pdf".into(),
                content_type: "application/pdf".into(),
                byte_size: 2048,
                url: "https://hub.example.com/files/att-1".into(),
                width: None,
                height: None,
                thumbnail_url: None,
                data: None,
            }],
            recipient: ContactProfile {
                identifier: "cust-42".into(),
                name: Some("Ann".into()),
                email: Some("ann@example.com".into()),
                phone: None,
                language: Some("de".into()),
                avatar_url: None,
                details: serde_json::Map::new(),
            },
            reply_to_external_id: Some("m-1".into()),
            thread_id: None,
            template: None,
        };
        let rendered: Value =
            serde_json::from_slice(&render_outbound(&message)).expect("rendered JSON");
        assert_eq!(
            rendered,
            json!({"message": {
                "id": "msg-17",
                "conversation_id": "conv-3",
                "content": "Hi Ann, your order shipped.",
                "private": false,
                "attachments": [{
                    "id": "att-1",
                    "file_name": "label.pdf",
                    "content_type": "application/pdf",
                    "byte_size": 2048,
                    "url": "https://hub.example.com/files/att-1",
                    "width": null,
                    "height": null,
                    "thumbnail_url": null
                }],
                "contact": {"identifier": "cust-42", "name": "Ann", "email": "ann@example.com", "phone": null},
                "reply_to": "m-1"
            }})
        );
    }

    #[test]
    fn a_survey_renders_as_a_csat_request() {
        let message = OutboundMessage {
            mail_thread: None,
            survey: Some(SurveyRequest {
                survey_id: "17".into(),
                question: "Happy?".into(),
                scale: switchboard_channel::SurveyScale::Thumbs,
                links: vec![switchboard_channel::SurveyLink {
                    rating: 5,
                    url: "https://hub.example.com/csat/17.sig?rating=5".into(),
                }],
            }),
            message_id: "msg-19".into(),
            conversation_id: "conv-3".into(),
            content: "Happy?".into(),
            private: false,
            attachments: Vec::new(),
            recipient: ContactProfile::new("cust-42"),
            reply_to_external_id: None,
            thread_id: None,
            template: None,
        };
        let rendered: Value =
            serde_json::from_slice(&render_outbound(&message)).expect("rendered JSON");
        assert_eq!(
            rendered,
            json!({"csat_request": {
                "id": "msg-19",
                "survey_id": "17",
                "conversation_id": "conv-3",
                "question": "Happy?",
                "scale": "thumbs",
                "choices": [{"rating": 5, "label": "Yes, thanks"}, {"rating": 1, "label": "Not really"}],
                "links": [{"rating": 5, "url": "https://hub.example.com/csat/17.sig?rating=5"}],
                "contact": {"identifier": "cust-42", "name": null, "email": null, "phone": null}
            }})
        );
    }

    #[test]
    fn render_outbound_without_reply_or_attachments() {
        let message = OutboundMessage {
            mail_thread: None,
            survey: None,
            message_id: "msg-18".into(),
            conversation_id: "conv-3".into(),
            content: "internal".into(),
            private: true,
            attachments: Vec::new(),
            recipient: ContactProfile::new("cust-42"),
            reply_to_external_id: None,
            thread_id: None,
            template: None,
        };
        let rendered: Value =
            serde_json::from_slice(&render_outbound(&message)).expect("rendered JSON");
        assert_eq!(rendered["message"]["private"], json!(true));
        assert_eq!(rendered["message"]["attachments"], json!([]));
        assert_eq!(rendered["message"]["reply_to"], Value::Null);
        assert_eq!(rendered["message"]["contact"]["name"], Value::Null);
    }
}
