//! Parsing and validation of inbound webhook bodies.
//!
//! Bodies are walked as [`serde_json::Value`] by hand rather than derived, so every refusal names
//! the exact location (`events[1].contact.identifier: must not be empty`) and unknown fields are
//! ignored for forward compatibility.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use switchboard_channel::{
    AttachmentRef, ContactProfile, DeliveryState, InboundError, InboundEvent, InboundMessage,
    MessageEdit, ProviderError, StatusUpdate, SurveyAnswer, Typing,
};

/// Most events accepted in one `{"events": [...]}` body; keeps one request's transaction small.
pub const MAX_BATCH: usize = 500;

/// Longest message text accepted, in UTF-8 bytes.
pub const MAX_CONTENT_BYTES: usize = 65_536;

/// Longest external id or contact identifier accepted, in characters (fits an indexed column).
pub const MAX_ID_CHARS: usize = 255;

/// Longest name, language, file name or content type accepted, in characters.
const MAX_TEXT_CHARS: usize = 255;

/// Longest URL accepted (avatar, attachment), in characters.
const MAX_URL_CHARS: usize = 2048;

/// Reason recorded when an integrator reports `failed` without saying why.
const NO_REASON: &str = "failed (no reason given)";

const EVENT_TYPES: &str = "message, edit, typing, status or csat";

/// Longest survey comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

type Object = Map<String, Value>;

/// Parses the body of `POST /webhooks/api/{inbox_id}`: one event object, or `{"events": [...]}`
/// with 1 to [`MAX_BATCH`] events of type `message`, `edit`, `typing`, `status` or `csat`
/// (a customer's answer to a survey the hub asked for with a `csat_request` callback).
///
/// Error locations are relative to the body: `external_id` for a single event,
/// `events[3].external_id` inside a batch. The same external id may appear twice in a batch; the
/// hub dedupes by external id, so redelivery stays harmless.
pub fn parse_events(body: &[u8]) -> Result<Vec<InboundEvent>, InboundError> {
    parse_body(body, parse_event)
}

/// Parses the body of `POST /webhooks/api/{inbox_id}/status`: one status object or
/// `{"events": [...]}` of them, e.g.
/// `{"external_id":"m-1","status":"failed","error":{"code":"blocked","reason":"..."}}`.
/// Each update keeps its original JSON object as `raw` for the audit trail.
pub fn parse_status(body: &[u8]) -> Result<Vec<StatusUpdate>, InboundError> {
    parse_body(body, |value, path| {
        let event = object(value, path)?;
        match event.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "status" => {}
            Some(other) => {
                return Err(malformed(
                    &join(path, "type"),
                    format!(
                        "only status events are accepted on the status endpoint (got {}); \
                         post other events to /webhooks/api/{{inbox_id}}",
                        quoted_value(other)
                    ),
                ));
            }
        }
        parse_status_object(value, event, path)
    })
}

/// Splits a body into its events and parses each with `parse_one(event, path)`.
fn parse_body<T>(
    body: &[u8],
    parse_one: impl Fn(&Value, &str) -> Result<T, InboundError>,
) -> Result<Vec<T>, InboundError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|err| malformed("body", format!("not valid JSON: {err}")))?;
    let Value::Object(fields) = &root else {
        return Err(malformed(
            "body",
            "must be a JSON object: one event, or {\"events\": [...]}",
        ));
    };
    let Some(events) = fields.get("events") else {
        return Ok(vec![parse_one(&root, "")?]);
    };
    let Value::Array(events) = events else {
        return Err(malformed("events", "must be an array of events"));
    };
    if events.is_empty() {
        return Err(malformed("events", "must contain at least one event"));
    }
    if events.len() > MAX_BATCH {
        return Err(malformed(
            "events",
            format!(
                "at most {MAX_BATCH} events per request (got {}); split the batch",
                events.len()
            ),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(index, event)| parse_one(event, &format!("events[{index}]")))
        .collect()
}

fn parse_event(value: &Value, path: &str) -> Result<InboundEvent, InboundError> {
    let event = object(value, path)?;
    let type_path = join(path, "type");
    let kind = match event.get("type") {
        None | Some(Value::Null) => {
            return Err(malformed(
                &type_path,
                format!("is required (one of {EVENT_TYPES})"),
            ));
        }
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(malformed(&type_path, "must be a string")),
    };
    match kind {
        "message" => parse_message(event, path).map(InboundEvent::Message),
        "edit" => parse_edit(event, path).map(InboundEvent::Edit),
        "typing" => parse_typing(event, path).map(InboundEvent::Typing),
        "status" => parse_status_object(value, event, path).map(InboundEvent::Status),
        "csat" => parse_csat(event, path).map(InboundEvent::SurveyAnswer),
        other => Err(malformed(
            &type_path,
            format!(
                "unknown event type {} (expected {EVENT_TYPES})",
                quoted(other)
            ),
        )),
    }
}

fn parse_message(event: &Object, path: &str) -> Result<InboundMessage, InboundError> {
    let external_id = required_id(event, path, "external_id")?;
    let sender = contact(event, path)?;
    let content = content(event, path)?.unwrap_or_default();
    let attachments = attachments(event, path)?;
    if content.trim().is_empty() && attachments.is_empty() {
        return Err(malformed(
            &join(path, "content"),
            "must not be empty unless the message has attachments",
        ));
    }
    Ok(InboundMessage {
        external_id,
        sender,
        content,
        attachments,
        reply_to_external_id: optional_id(event, path, "reply_to")?,
        provider_at: timestamp(event, path)?,
        author: None,
        ..InboundMessage::default()
    })
}

/// `{"type": "csat", "contact": {...}, "survey_id": "12", "rating": 4, "comment": "..."}`:
/// the rating is 1 to 5 here; the hub checks it against the survey's own scale (thumbs take
/// 1 and 5) and that the survey was put to this contact.
fn parse_csat(event: &Object, path: &str) -> Result<SurveyAnswer, InboundError> {
    let sender = contact(event, path)?;
    let survey_path = join(path, "survey_id");
    let survey_id = match field(event, "survey_id") {
        None => return Err(malformed(&survey_path, "is required")),
        Some(Value::String(id)) => id.trim().to_owned(),
        Some(Value::Number(id)) => id.to_string(),
        Some(_) => return Err(malformed(&survey_path, "must be a string")),
    };
    if survey_id.is_empty()
        || survey_id.len() > 20
        || !survey_id.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed(
            &survey_path,
            "must be the survey_id of a csat_request",
        ));
    }
    let rating_path = join(path, "rating");
    let rating = match field(event, "rating") {
        None => return Err(malformed(&rating_path, "is required")),
        Some(value) => value
            .as_i64()
            .filter(|r| (1..=5).contains(r))
            .ok_or_else(|| {
                malformed(
                    &rating_path,
                    "must be a whole number from 1 to 5 (thumbs: 5 up, 1 down)",
                )
            })?,
    };
    // Several lines are fine in a comment; other control characters are not text.
    let comment = optional_str(event, path, "comment")?.and_then(non_blank);
    if let Some(comment) = comment {
        let chars = comment.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(malformed(
                &join(path, "comment"),
                format!("must be at most {MAX_COMMENT_CHARS} characters (got {chars})"),
            ));
        }
        if comment
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(malformed(
                &join(path, "comment"),
                "must not contain control characters besides line breaks and tabs",
            ));
        }
    }
    let comment = comment.map(str::to_owned);
    Ok(SurveyAnswer {
        sender,
        survey_id,
        rating,
        comment,
        confirm: None,
        at: timestamp(event, path)?,
    })
}

fn parse_edit(event: &Object, path: &str) -> Result<MessageEdit, InboundError> {
    let external_id = required_id(event, path, "external_id")?;
    let sender = contact(event, path)?;
    let content_path = join(path, "content");
    let content = content(event, path)?.ok_or_else(|| malformed(&content_path, "is required"))?;
    if content.trim().is_empty() {
        return Err(malformed(&content_path, "must not be empty"));
    }
    Ok(MessageEdit {
        external_id,
        sender,
        content,
        edited_at: timestamp(event, path)?,
        as_message: None,
    })
}

fn parse_typing(event: &Object, path: &str) -> Result<Typing, InboundError> {
    let sender = contact(event, path)?;
    let on = match field(event, "on") {
        None => true,
        Some(Value::Bool(on)) => *on,
        Some(_) => return Err(malformed(&join(path, "on"), "must be true or false")),
    };
    Ok(Typing { sender, on })
}

/// Parses one status object; `raw` is the same value, kept verbatim for audits.
fn parse_status_object(
    raw: &Value,
    event: &Object,
    path: &str,
) -> Result<StatusUpdate, InboundError> {
    let external_id = required_id(event, path, "external_id")?;
    let status_path = join(path, "status");
    let status = match required_str(event, path, "status")? {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "failed" => DeliveryState::Failed,
        other => {
            return Err(malformed(
                &status_path,
                format!(
                    "unknown status {} (expected sent, delivered, read or failed)",
                    quoted(other)
                ),
            ));
        }
    };
    // Only failures carry a reason for the agent; an `error` next to another status is kept in
    // `raw` but otherwise ignored rather than refused.
    let error = match status {
        DeliveryState::Failed => Some(provider_error(event, path)?),
        _ => None,
    };
    Ok(StatusUpdate {
        external_id,
        status,
        error,
        at: timestamp(event, path)?,
        raw: raw.clone(),
    })
}

fn provider_error(event: &Object, path: &str) -> Result<ProviderError, InboundError> {
    let error_path = join(path, "error");
    let error = match field(event, "error") {
        None => {
            return Ok(ProviderError {
                code: None,
                reason: NO_REASON.to_owned(),
            });
        }
        // NUL is refused here as in every other string field (see `optional_str`).
        Some(Value::String(reason)) if reason.contains('\0') => {
            return Err(malformed(&error_path, "must not contain NUL characters"));
        }
        Some(Value::String(reason)) => {
            return Ok(ProviderError {
                code: None,
                reason: non_blank(reason).unwrap_or(NO_REASON).to_owned(),
            });
        }
        Some(Value::Object(error)) => error,
        Some(_) => {
            return Err(malformed(
                &error_path,
                "must be an object like {\"code\": \"...\", \"reason\": \"...\"}",
            ));
        }
    };
    let code = match field(error, "code") {
        None => None,
        Some(Value::String(code)) if code.contains('\0') => {
            return Err(malformed(
                &join(&error_path, "code"),
                "must not contain NUL characters",
            ));
        }
        Some(Value::String(code)) => non_blank(code).map(str::to_owned),
        Some(Value::Number(code)) => Some(code.to_string()),
        Some(_) => {
            return Err(malformed(
                &join(&error_path, "code"),
                "must be a string or a number",
            ));
        }
    };
    let reason = match optional_str(error, &error_path, "reason")?.and_then(non_blank) {
        Some(reason) => Some(reason),
        None => optional_str(error, &error_path, "message")?.and_then(non_blank),
    };
    Ok(ProviderError {
        code,
        reason: reason.unwrap_or(NO_REASON).to_owned(),
    })
}

fn contact(event: &Object, path: &str) -> Result<ContactProfile, InboundError> {
    let contact_path = join(path, "contact");
    let contact = match field(event, "contact") {
        None => return Err(malformed(&contact_path, "is required")),
        Some(Value::Object(contact)) => contact,
        Some(_) => {
            return Err(malformed(
                &contact_path,
                "must be an object with at least an identifier",
            ));
        }
    };
    let email = optional_text(contact, &contact_path, "email", MAX_TEXT_CHARS)?;
    if let Some(email) = &email
        && !is_plausible_email(email)
    {
        return Err(malformed(
            &join(&contact_path, "email"),
            "must be an email address like name@example.com",
        ));
    }
    Ok(ContactProfile {
        identifier: required_id(contact, &contact_path, "identifier")?,
        name: optional_text(contact, &contact_path, "name", MAX_TEXT_CHARS)?,
        email,
        phone: optional_text(contact, &contact_path, "phone", MAX_TEXT_CHARS)?,
        language: optional_text(contact, &contact_path, "language", MAX_TEXT_CHARS)?,
        avatar_url: optional_url(contact, &contact_path, "avatar_url")?,
        details: serde_json::Map::new(),
    })
}

fn attachments(event: &Object, path: &str) -> Result<Vec<AttachmentRef>, InboundError> {
    let list_path = join(path, "attachments");
    let items = match field(event, "attachments") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(malformed(&list_path, "must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let item_path = format!("{list_path}[{index}]");
            let item = object(item, &item_path)?;
            let source = optional_url(item, &item_path, "url")?
                .ok_or_else(|| malformed(&join(&item_path, "url"), "is required"))?;
            let byte_size = match field(item, "byte_size") {
                None => None,
                Some(size) => Some(size.as_u64().ok_or_else(|| {
                    malformed(
                        &join(&item_path, "byte_size"),
                        "must be a non-negative integer",
                    )
                })?),
            };
            Ok(AttachmentRef {
                source,
                file_name: optional_text(item, &item_path, "file_name", MAX_TEXT_CHARS)?,
                content_type: optional_text(item, &item_path, "content_type", MAX_TEXT_CHARS)?,
                byte_size,
                content_id: None,
                data: None,
            })
        })
        .collect()
}

/// The `content` string, if present, checked against [`MAX_CONTENT_BYTES`].
fn content(event: &Object, path: &str) -> Result<Option<String>, InboundError> {
    let Some(content) = optional_str(event, path, "content")? else {
        return Ok(None);
    };
    if content.len() > MAX_CONTENT_BYTES {
        return Err(malformed(
            &join(path, "content"),
            format!(
                "must be at most {MAX_CONTENT_BYTES} bytes (got {})",
                content.len()
            ),
        ));
    }
    Ok(Some(content.to_owned()))
}

fn timestamp(event: &Object, path: &str) -> Result<Option<DateTime<Utc>>, InboundError> {
    let Some(value) = optional_str(event, path, "timestamp")? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(value.trim())
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| {
            malformed(
                &join(path, "timestamp"),
                "must be an RFC 3339 date-time like 2026-11-23T10:00:00Z",
            )
        })
}

/// A required external id or identifier: non-blank, at most [`MAX_ID_CHARS`], no control
/// characters. Kept exactly as sent, since the integrator matches on it.
fn required_id(object: &Object, path: &str, key: &str) -> Result<String, InboundError> {
    let value = required_str(object, path, key)?;
    check_id(value, &join(path, key))?;
    Ok(value.to_owned())
}

fn optional_id(object: &Object, path: &str, key: &str) -> Result<Option<String>, InboundError> {
    let Some(value) = optional_str(object, path, key)? else {
        return Ok(None);
    };
    check_id(value, &join(path, key))?;
    Ok(Some(value.to_owned()))
}

fn check_id(value: &str, path: &str) -> Result<(), InboundError> {
    if value.trim().is_empty() {
        return Err(malformed(path, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(malformed(
            path,
            format!("must be at most {MAX_ID_CHARS} characters (got {chars})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(malformed(path, "must not contain control characters"));
    }
    Ok(())
}

/// An optional single-line text field; blank counts as absent, surrounding whitespace is
/// dropped, since these are display values rather than keys.
fn optional_text(
    object: &Object,
    path: &str,
    key: &str,
    max_chars: usize,
) -> Result<Option<String>, InboundError> {
    let Some(value) = optional_str(object, path, key)?.and_then(non_blank) else {
        return Ok(None);
    };
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(malformed(
            &join(path, key),
            format!("must be at most {max_chars} characters (got {chars})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(malformed(
            &join(path, key),
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// An optional http(s) URL: the inbox renders and fetches these, so other schemes
/// (`javascript:`, `file:`) are refused.
fn optional_url(object: &Object, path: &str, key: &str) -> Result<Option<String>, InboundError> {
    let Some(value) = optional_text(object, path, key, MAX_URL_CHARS)? else {
        return Ok(None);
    };
    match url::Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(value)),
        _ => Err(malformed(
            &join(path, key),
            "must be an absolute http or https URL",
        )),
    }
}

fn required_str<'v>(object: &'v Object, path: &str, key: &str) -> Result<&'v str, InboundError> {
    optional_str(object, path, key)?.ok_or_else(|| malformed(&join(path, key), "is required"))
}

/// A string field; absent and `null` both mean "not given".
fn optional_str<'v>(
    object: &'v Object,
    path: &str,
    key: &str,
) -> Result<Option<&'v str>, InboundError> {
    match field(object, key) {
        None => Ok(None),
        // NUL is never text (and PostgreSQL cannot store it): refused in every field.
        Some(Value::String(value)) if value.contains('\0') => Err(malformed(
            &join(path, key),
            "must not contain NUL characters",
        )),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(malformed(&join(path, key), "must be a string")),
    }
}

/// A field's value, treating `null` like a missing field.
fn field<'v>(object: &'v Object, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Object, InboundError> {
    value.as_object().ok_or_else(|| {
        malformed(
            if path.is_empty() { "body" } else { path },
            "must be a JSON object",
        )
    })
}

fn non_blank(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

fn is_plausible_email(email: &str) -> bool {
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty() && !domain.is_empty() && !email.chars().any(char::is_whitespace)
        }
        _ => false,
    }
}

/// `key` under `path`, e.g. `events[1]` + `external_id` → `events[1].external_id`.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Echoes a caller-supplied string safely: escaped, quoted and cut to a sane length.
fn quoted(value: &str) -> String {
    const MAX_ECHO_CHARS: usize = 64;
    if value.chars().count() > MAX_ECHO_CHARS {
        let head: String = value.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head:?}…")
    } else {
        format!("{value:?}")
    }
}

fn quoted_value(value: &Value) -> String {
    match value {
        Value::String(value) => quoted(value),
        other => quoted(&other.to_string()),
    }
}

fn malformed(path: &str, message: impl Display) -> InboundError {
    InboundError::Malformed(format!("{path}: {message}"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    const ISSUE_EXAMPLE: &str = r#"{"type":"message","external_id":"m-1","contact":{"identifier":"cust-42","name":"Ann","email":"ann@example.com","phone":"+4366..."},"content":"Hello","timestamp":"2026-11-23T10:00:00Z"}"#;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0)
            .single()
            .expect("valid fixed date")
    }

    fn malformed_message(result: Result<impl std::fmt::Debug, InboundError>) -> String {
        match result {
            Err(InboundError::Malformed(message)) => message,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn events(body: &str) -> Vec<InboundEvent> {
        match parse_events(body.as_bytes()) {
            Ok(events) => events,
            Err(err) => panic!("expected {body} to parse, got {err:?}"),
        }
    }

    fn single_message(body: &str) -> InboundMessage {
        match events(body).as_slice() {
            [InboundEvent::Message(message)] => message.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    #[test]
    fn issue_example_message() {
        let parsed = events(ISSUE_EXAMPLE);
        assert_eq!(
            parsed,
            vec![InboundEvent::Message(InboundMessage {
                external_id: "m-1".into(),
                sender: ContactProfile {
                    identifier: "cust-42".into(),
                    name: Some("Ann".into()),
                    email: Some("ann@example.com".into()),
                    phone: Some("+4366...".into()),
                    language: None,
                    avatar_url: None,
                    details: serde_json::Map::new(),
                },
                content: "Hello".into(),
                attachments: Vec::new(),
                reply_to_external_id: None,
                provider_at: Some(at(10, 0)),
                author: None,
                ..InboundMessage::default()
            })]
        );
    }

    #[test]
    fn full_message_with_attachment_reply_and_extra_fields() {
        let body = r#"{"type":"message","external_id":"m-1","contact":{"identifier":"cust-42","name":"Ann","email":"ann@example.com","phone":"+4366...","language":"de","avatar_url":"https://cdn.example.com/ann.png","vip":true},"content":"Hello","timestamp":"2026-11-23T11:00:00+01:00","reply_to":"m-0","attachments":[{"url":"https://files.example.com/a.png","file_name":"a.png","content_type":"image/png","byte_size":123},{"url":"https://files.example.com/b"}],"future_field":{"x":1}}"#;
        let message = single_message(body);
        assert_eq!(message.sender.language.as_deref(), Some("de"));
        assert_eq!(
            message.sender.avatar_url.as_deref(),
            Some("https://cdn.example.com/ann.png")
        );
        assert_eq!(message.reply_to_external_id.as_deref(), Some("m-0"));
        assert_eq!(
            message.provider_at,
            Some(at(10, 0)),
            "offset normalized to UTC"
        );
        assert_eq!(
            message.attachments,
            vec![
                AttachmentRef {
                    source: "https://files.example.com/a.png".into(),
                    file_name: Some("a.png".into()),
                    content_type: Some("image/png".into()),
                    byte_size: Some(123),
                    content_id: None,
                    data: None,
                },
                AttachmentRef {
                    source: "https://files.example.com/b".into(),
                    file_name: None,
                    content_type: None,
                    byte_size: None,
                    content_id: None,
                    data: None,
                },
            ]
        );
    }

    #[test]
    fn csat_answers_name_their_survey_and_rating() {
        let body = r#"{"type":"csat","contact":{"identifier":"cust-42"},"survey_id":"17","rating":4,"comment":"  Quick,\nthanks  ","timestamp":"2026-11-23T10:00:00Z"}"#;
        assert_eq!(
            events(body),
            vec![InboundEvent::SurveyAnswer(SurveyAnswer {
                sender: ContactProfile::new("cust-42"),
                survey_id: "17".into(),
                rating: 4,
                comment: Some("Quick,\nthanks".into()),
                confirm: None,
                at: Some(at(10, 0)),
            })]
        );
        // A number for the id is read too; a blank comment is none.
        let body = r#"{"type":"csat","contact":{"identifier":"cust-42"},"survey_id":17,"rating":1,"comment":" "}"#;
        match events(body).as_slice() {
            [InboundEvent::SurveyAnswer(answer)] => {
                assert_eq!((answer.survey_id.as_str(), answer.rating), ("17", 1));
                assert_eq!(answer.comment, None);
            }
            other => panic!("expected one answer, got {other:?}"),
        }
        for (body, expected) in [
            (
                r#"{"type":"csat","contact":{"identifier":"c"},"rating":3}"#,
                "survey_id: is required",
            ),
            (
                r#"{"type":"csat","contact":{"identifier":"c"},"survey_id":"x1","rating":3}"#,
                "survey_id: must be the survey_id of a csat_request",
            ),
            (
                r#"{"type":"csat","contact":{"identifier":"c"},"survey_id":"1","rating":6}"#,
                "rating: must be a whole number from 1 to 5 (thumbs: 5 up, 1 down)",
            ),
            (
                r#"{"type":"csat","contact":{"identifier":"c"},"survey_id":"1","rating":"4"}"#,
                "rating: must be a whole number from 1 to 5 (thumbs: 5 up, 1 down)",
            ),
            (
                r#"{"type":"csat","survey_id":"1","rating":4}"#,
                "contact: is required",
            ),
            (
                r#"{"type":"csat","contact":{"identifier":"c"},"survey_id":"1","rating":4,"comment":"a\u0007"}"#,
                "comment: must not contain control characters besides line breaks and tabs",
            ),
        ] {
            assert_eq!(
                malformed_message(parse_events(body.as_bytes())),
                expected,
                "{body}"
            );
        }
    }

    #[test]
    fn attachment_only_message_has_empty_content() {
        let body = r#"{"type":"message","external_id":"m-2","contact":{"identifier":"cust-42"},"attachments":[{"url":"https://files.example.com/a.png"}]}"#;
        let message = single_message(body);
        assert_eq!(message.content, "");
        assert_eq!(message.attachments.len(), 1);
        assert_eq!(message.provider_at, None);
    }

    #[test]
    fn blank_optional_contact_fields_count_as_absent() {
        let body = r#"{"type":"typing","contact":{"identifier":"cust-42","name":"  ","email":"","phone":null}}"#;
        assert_eq!(
            events(body),
            vec![InboundEvent::Typing(Typing {
                sender: ContactProfile::new("cust-42"),
                on: true,
            })]
        );
    }

    #[test]
    fn five_event_batch_keeps_order_and_duplicates() {
        let body = json!({"events": [
            {"type":"message","external_id":"m-1","contact":{"identifier":"cust-42"},"content":"Hello"},
            {"type":"edit","external_id":"m-1","contact":{"identifier":"cust-42"},"content":"Hello!","timestamp":"2026-11-23T10:05:00Z"},
            {"type":"typing","contact":{"identifier":"cust-42"},"on":false},
            {"type":"status","external_id":"out-7","status":"read","timestamp":"2026-11-23T10:06:00Z"},
            {"type":"message","external_id":"m-1","contact":{"identifier":"cust-42"},"content":"Hello"}
        ]})
        .to_string();
        let parsed = events(&body);
        assert_eq!(parsed.len(), 5);
        assert!(matches!(&parsed[0], InboundEvent::Message(m) if m.content == "Hello"));
        assert_eq!(
            parsed[1],
            InboundEvent::Edit(MessageEdit {
                external_id: "m-1".into(),
                sender: ContactProfile::new("cust-42"),
                content: "Hello!".into(),
                edited_at: Some(at(10, 5)),
                as_message: None,
            })
        );
        assert_eq!(
            parsed[2],
            InboundEvent::Typing(Typing {
                sender: ContactProfile::new("cust-42"),
                on: false,
            })
        );
        assert_eq!(
            parsed[3],
            InboundEvent::Status(StatusUpdate {
                external_id: "out-7".into(),
                status: DeliveryState::Read,
                error: None,
                at: Some(at(10, 6)),
                raw: json!({"type":"status","external_id":"out-7","status":"read","timestamp":"2026-11-23T10:06:00Z"}),
            })
        );
        assert_eq!(
            parsed[4], parsed[0],
            "duplicates are left to the hub to dedupe"
        );
    }

    #[test]
    fn batch_limits() {
        assert_eq!(
            malformed_message(parse_events(br#"{"events":[]}"#)),
            "events: must contain at least one event"
        );
        let event = json!({"type":"typing","contact":{"identifier":"c"}});
        let full = json!({ "events": vec![event.clone(); MAX_BATCH] }).to_string();
        assert_eq!(events(&full).len(), MAX_BATCH);
        let over = json!({ "events": vec![event; MAX_BATCH + 1] }).to_string();
        assert_eq!(
            malformed_message(parse_events(over.as_bytes())),
            "events: at most 500 events per request (got 501); split the batch"
        );
    }

    #[test]
    fn content_size_limit_is_in_bytes() {
        let at_limit = "é".repeat(MAX_CONTENT_BYTES / 2);
        let body = json!({"type":"message","external_id":"m","contact":{"identifier":"c"},"content":at_limit}).to_string();
        assert_eq!(events(&body).len(), 1);

        let over = format!("{at_limit}x");
        let body =
            json!({"type":"message","external_id":"m","contact":{"identifier":"c"},"content":over})
                .to_string();
        assert_eq!(
            malformed_message(parse_events(body.as_bytes())),
            "content: must be at most 65536 bytes (got 65537)"
        );
    }

    #[test]
    fn id_length_limit_is_in_characters() {
        let ok = "ü".repeat(MAX_ID_CHARS);
        let body =
            json!({"type":"message","external_id":ok,"contact":{"identifier":"c"},"content":"x"})
                .to_string();
        assert_eq!(events(&body).len(), 1);
    }

    /// Every refusal, with the exact message: the location must point at the offending field.
    #[test]
    fn malformed_events_name_the_location() {
        let long_id = "x".repeat(256);
        let big = "x".repeat(MAX_CONTENT_BYTES + 1);
        let cases: Vec<(String, String)> = vec![
            ("".into(), "body: not valid JSON: EOF while parsing a value at line 1 column 0".into()),
            ("{\"type\":".into(), "body: not valid JSON: EOF while parsing a value at line 1 column 8".into()),
            ("[]".into(), "body: must be a JSON object: one event, or {\"events\": [...]}".into()),
            ("\"message\"".into(), "body: must be a JSON object: one event, or {\"events\": [...]}".into()),
            (r#"{"events":{}}"#.into(), "events: must be an array of events".into()),
            (r#"{"events":[1]}"#.into(), "events[0]: must be a JSON object".into()),
            (r#"{"external_id":"m-1"}"#.into(), "type: is required (one of message, edit, typing, status or csat)".into()),
            (r#"{"type":7}"#.into(), "type: must be a string".into()),
            (r#"{"events":[{"type":"foo"}]}"#.into(), "events[0].type: unknown event type \"foo\" (expected message, edit, typing, status or csat)".into()),
            (r#"{"type":"foo"}"#.into(), "type: unknown event type \"foo\" (expected message, edit, typing, status or csat)".into()),
            (
                r#"{"events":[{"type":"typing","contact":{"identifier":"c"}},{"type":"message","external_id":" ","contact":{"identifier":"c"},"content":"x"}]}"#.into(),
                "events[1].external_id: must not be empty".into(),
            ),
            (r#"{"type":"message","contact":{"identifier":"c"},"content":"x"}"#.into(), "external_id: is required".into()),
            (r#"{"type":"message","external_id":5,"contact":{"identifier":"c"},"content":"x"}"#.into(), "external_id: must be a string".into()),
            (
                format!(r#"{{"type":"message","external_id":"{long_id}","contact":{{"identifier":"c"}},"content":"x"}}"#),
                "external_id: must be at most 255 characters (got 256)".into(),
            ),
            (r#"{"type":"message","external_id":"m\n1","contact":{"identifier":"c"},"content":"x"}"#.into(), "external_id: must not contain control characters".into()),
            (r#"{"type":"message","external_id":"m","content":"x"}"#.into(), "contact: is required".into()),
            (r#"{"type":"message","external_id":"m","contact":"c","content":"x"}"#.into(), "contact: must be an object with at least an identifier".into()),
            (
                r#"{"events":[{"type":"typing","contact":{"identifier":"c"}},{"type":"typing","contact":{"identifier":"c"}},{"type":"message","external_id":"m","contact":{"identifier":""},"content":"x"}]}"#.into(),
                "events[2].contact.identifier: must not be empty".into(),
            ),
            (r#"{"type":"message","external_id":"m","contact":{"name":"Ann"},"content":"x"}"#.into(), "contact.identifier: is required".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c\u0000"},"content":"x"}"#.into(), "contact.identifier: must not contain NUL characters".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c\u0007"},"content":"x"}"#.into(), "contact.identifier: must not contain control characters".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","email":"ann.example.com"},"content":"x"}"#.into(), "contact.email: must be an email address like name@example.com".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","email":"a@b@c"},"content":"x"}"#.into(), "contact.email: must be an email address like name@example.com".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","email":"@example.com"},"content":"x"}"#.into(), "contact.email: must be an email address like name@example.com".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","email":"ann@"},"content":"x"}"#.into(), "contact.email: must be an email address like name@example.com".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","name":42},"content":"x"}"#.into(), "contact.name: must be a string".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c","avatar_url":"javascript:alert(1)"},"content":"x"}"#.into(), "contact.avatar_url: must be an absolute http or https URL".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"}}"#.into(), "content: must not be empty unless the message has attachments".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":"  ","attachments":[]}"#.into(), "content: must not be empty unless the message has attachments".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":"a\u0000b"}"#.into(), "content: must not contain NUL characters".into()),
            (r#"{"type":"edit","external_id":"m","contact":{"identifier":"c"},"content":"\u0000"}"#.into(), "content: must not contain NUL characters".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":["x"]}"#.into(), "content: must be a string".into()),
            (format!(r#"{{"type":"message","external_id":"m","contact":{{"identifier":"c"}},"content":"{big}"}}"#), "content: must be at most 65536 bytes (got 65537)".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":"x","timestamp":"yesterday"}"#.into(), "timestamp: must be an RFC 3339 date-time like 2026-11-23T10:00:00Z".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":"x","timestamp":1700000000}"#.into(), "timestamp: must be a string".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"content":"x","reply_to":""}"#.into(), "reply_to: must not be empty".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":{"url":"https://x"}}"#.into(), "attachments: must be an array".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":["https://x"]}"#.into(), "attachments[0]: must be a JSON object".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":[{"file_name":"a.png"}]}"#.into(), "attachments[0].url: is required".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":[{"url":"https://x/a"},{"url":"file:///etc/passwd"}]}"#.into(), "attachments[1].url: must be an absolute http or https URL".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":[{"url":"https://x/a","byte_size":-1}]}"#.into(), "attachments[0].byte_size: must be a non-negative integer".into()),
            (r#"{"type":"message","external_id":"m","contact":{"identifier":"c"},"attachments":[{"url":"https://x/a","byte_size":"12"}]}"#.into(), "attachments[0].byte_size: must be a non-negative integer".into()),
            (r#"{"type":"edit","external_id":"m","contact":{"identifier":"c"}}"#.into(), "content: is required".into()),
            (r#"{"type":"edit","external_id":"m","contact":{"identifier":"c"},"content":""}"#.into(), "content: must not be empty".into()),
            (r#"{"type":"typing","contact":{"identifier":"c"},"on":"yes"}"#.into(), "on: must be true or false".into()),
            (r#"{"type":"typing"}"#.into(), "contact: is required".into()),
            (r#"{"events":[{"type":"status","external_id":"m","status":"seen"}]}"#.into(), "events[0].status: unknown status \"seen\" (expected sent, delivered, read or failed)".into()),
            (r#"{"type":"status","external_id":"m"}"#.into(), "status: is required".into()),
            (r#"{"type":"status","external_id":"m","status":"failed","error":42}"#.into(), "error: must be an object like {\"code\": \"...\", \"reason\": \"...\"}".into()),
            (r#"{"type":"status","external_id":"m","status":"failed","error":{"code":["x"]}}"#.into(), "error.code: must be a string or a number".into()),
            (r#"{"type":"status","external_id":"m","status":"failed","error":{"reason":7}}"#.into(), "error.reason: must be a string".into()),
            (r#"{"type":"status","external_id":"m","status":"failed","error":"a\u0000b"}"#.into(), "error: must not contain NUL characters".into()),
            (r#"{"type":"status","external_id":"m","status":"failed","error":{"code":"\u0000"}}"#.into(), "error.code: must not contain NUL characters".into()),
        ];
        for (body, expected) in cases {
            let message = malformed_message(parse_events(body.as_bytes()));
            assert_eq!(message, expected, "body {body}");
        }
    }

    #[test]
    fn unknown_type_echo_is_bounded() {
        let kind = "y".repeat(1000);
        let body = json!({ "type": kind }).to_string();
        let message = malformed_message(parse_events(body.as_bytes()));
        assert!(message.len() < 200, "echo too long: {message}");
        assert!(message.starts_with("type: unknown event type \"yyyy"));
    }

    #[test]
    fn single_status() {
        let body =
            r#"{"external_id":"out-1","status":"delivered","timestamp":"2026-11-23T10:00:00Z"}"#;
        let raw: Value = serde_json::from_str(body).expect("test JSON");
        assert_eq!(
            parse_status(body.as_bytes()),
            Ok(vec![StatusUpdate {
                external_id: "out-1".into(),
                status: DeliveryState::Delivered,
                error: None,
                at: Some(at(10, 0)),
                raw,
            }])
        );
    }

    #[test]
    fn status_batch_with_failures() {
        let body = json!({"events": [
            {"external_id":"out-1","status":"failed","error":{"code":"blocked","reason":"user blocked the bot"}},
            {"external_id":"out-2","status":"failed","error":{"code":131047,"message":"24-hour window closed"}},
            {"external_id":"out-3","status":"failed"},
            {"external_id":"out-4","status":"failed","error":{"code":"x","reason":"  "}},
            {"type":"status","external_id":"out-5","status":"sent"},
            {"external_id":"out-6","status":"read","error":{"reason":"ignored"}}
        ]})
        .to_string();
        let updates = match parse_status(body.as_bytes()) {
            Ok(updates) => updates,
            Err(err) => panic!("expected statuses, got {err:?}"),
        };
        let errors: Vec<_> = updates.iter().map(|u| u.error.clone()).collect();
        assert_eq!(
            errors,
            vec![
                Some(ProviderError {
                    code: Some("blocked".into()),
                    reason: "user blocked the bot".into()
                }),
                Some(ProviderError {
                    code: Some("131047".into()),
                    reason: "24-hour window closed".into()
                }),
                Some(ProviderError {
                    code: None,
                    reason: "failed (no reason given)".into()
                }),
                Some(ProviderError {
                    code: Some("x".into()),
                    reason: "failed (no reason given)".into()
                }),
                None,
                None,
            ]
        );
        assert_eq!(updates[4].status, DeliveryState::Sent);
        assert_eq!(
            updates[5].raw,
            json!({"external_id":"out-6","status":"read","error":{"reason":"ignored"}}),
            "raw keeps the whole object"
        );
    }

    #[test]
    fn status_endpoint_refusals() {
        assert_eq!(
            malformed_message(parse_status(ISSUE_EXAMPLE.as_bytes())),
            "type: only status events are accepted on the status endpoint (got \"message\"); \
             post other events to /webhooks/api/{inbox_id}"
        );
        assert_eq!(
            malformed_message(parse_status(
                br#"{"events":[{"external_id":"a","status":"read"},{"status":"read"}]}"#
            )),
            "events[1].external_id: is required"
        );
        assert_eq!(
            malformed_message(parse_status(br#"{"external_id":"a","status":"READ"}"#)),
            "status: unknown status \"READ\" (expected sent, delivered, read or failed)"
        );
        assert_eq!(
            malformed_message(parse_status(
                br#"{"external_id":"a","status":"read","timestamp":"2026-13-01T00:00:00Z"}"#
            )),
            "timestamp: must be an RFC 3339 date-time like 2026-11-23T10:00:00Z"
        );
        assert_eq!(
            malformed_message(parse_status(br#"{"events":[]}"#)),
            "events: must contain at least one event"
        );
        assert_eq!(
            malformed_message(parse_status(b"not json")),
            "body: not valid JSON: expected ident at line 1 column 2"
        );
    }
}
