//! Pure rules for sending through the Cloud API: message JSON (text, media, templates, read
//! receipts, satisfaction surveys as interactive reply buttons or lists), text limits (the
//! splitting itself is the shared [`switchboard_channel::split_text`]), media kinds, Graph error
//! classification.
//!
//! [`crate::channel`] builds every request body and reads every failure with the functions
//! here, so all of it is testable without a network.

use std::time::Duration;

use serde_json::{Map, Value, json};
use switchboard_channel::{
    ChannelError, SurveyChoice, SurveyRequest, SurveyScale, TemplateMessage, TemplateParameter,
    choice_id, parse_choice_id,
};

/// Longest text body the Cloud API accepts, in characters; longer replies are split with
/// [`switchboard_channel::split_text`], counting each character as 1.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Longest media caption the Cloud API accepts, in characters; a longer text goes in its own
/// message.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Longest body of an interactive message, in characters: reply buttons take 1024 (lists take
/// 4096, but a survey's question is kept to the smaller limit for both scales, so it reads the
/// same whichever way it is asked).
pub const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;

/// Longest reply button title Meta accepts.
const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// Longest reply button id Meta accepts.
const MAX_BUTTON_ID_CHARS: usize = 256;
/// Longest label of the button that opens a list.
const MAX_LIST_BUTTON_CHARS: usize = 20;
/// Longest list section title and list row title.
const MAX_LIST_TITLE_CHARS: usize = 24;
/// Longest list row id Meta accepts.
const MAX_ROW_ID_CHARS: usize = 200;

/// The label of the button that opens a five-point survey's list.
const SURVEY_LIST_BUTTON: &str = "Choose a rating";
/// The title of a five-point survey's one list section.
const SURVEY_SECTION_TITLE: &str = "Your rating";

/// Largest image Meta delivers as an image (5 MB, counted in decimal megabytes so a file near
/// the limit goes as a document rather than failing).
pub const MAX_IMAGE_BYTES: u64 = 5_000_000;

/// Largest video Meta delivers as a video (16 MB).
pub const MAX_VIDEO_BYTES: u64 = 16_000_000;

/// Largest audio file Meta delivers as audio (16 MB).
pub const MAX_AUDIO_BYTES: u64 = 16_000_000;

/// Largest file Meta accepts at all, as a document (100 MB); bigger ones cannot be sent.
pub const MAX_DOCUMENT_BYTES: u64 = 100_000_000;

/// How long to wait after a rate limit without a `Retry-After`: the pair rate limit (one
/// message to a customer every 6 s, on average) frees up quickly.
pub const PAIR_LIMIT_WAIT: Duration = Duration::from_secs(6);

/// How long to wait after any other rate limit without a `Retry-After`.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether a text should show a link preview: only when it contains a link.
pub fn wants_preview(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("http://") || lower.contains("https://")
}

/// How a file goes to the customer; each kind has its own size limit and rules at Meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Shown inline: JPEG or PNG up to [`MAX_IMAGE_BYTES`].
    Image,
    /// Played inline: MP4 or 3GPP up to [`MAX_VIDEO_BYTES`].
    Video,
    /// Played inline without a caption: AAC, AMR, MP3, MP4 audio or OGG up to
    /// [`MAX_AUDIO_BYTES`].
    Audio,
    /// Any other file, byte for byte, up to [`MAX_DOCUMENT_BYTES`].
    Document,
}

impl MediaKind {
    /// The message `type` and object key in the Cloud API's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
        }
    }

    /// Whether Meta shows a caption with this kind (audio has none).
    pub fn takes_caption(self) -> bool {
        !matches!(self, Self::Audio)
    }
}

/// The MIME type without parameters, lowercased: `Image/JPEG; q=1` → `image/jpeg`.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Chooses how a file of `content_type` and `byte_size` bytes is sent, following Meta's
/// supported types and limits: a type or size Meta would not play inline goes as a document
/// (WebP too: Meta takes WebP only as stickers, which need exact dimensions), and a file over
/// [`MAX_DOCUMENT_BYTES`] cannot be sent at all (a permanent error naming the limit).
pub fn media_kind(content_type: &str, byte_size: u64) -> Result<MediaKind, ChannelError> {
    if byte_size > MAX_DOCUMENT_BYTES {
        return Err(ChannelError::Permanent {
            code: Some("file_too_big".into()),
            reason: format!(
                "the file is {byte_size} bytes; WhatsApp accepts files of at most 100 MB \
                 ({MAX_DOCUMENT_BYTES} bytes)"
            ),
        });
    }
    let (kind, limit) = match essence(content_type).as_str() {
        "image/jpeg" | "image/png" => (MediaKind::Image, MAX_IMAGE_BYTES),
        "video/mp4" | "video/3gpp" => (MediaKind::Video, MAX_VIDEO_BYTES),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => {
            (MediaKind::Audio, MAX_AUDIO_BYTES)
        }
        _ => return Ok(MediaKind::Document),
    };
    Ok(if byte_size <= limit {
        kind
    } else {
        MediaKind::Document
    })
}

/// The fields every message to one customer starts with.
fn envelope(to: &str, kind: &str, reply_to: Option<&str>) -> Map<String, Value> {
    let mut message = Map::new();
    message.insert("messaging_product".into(), "whatsapp".into());
    message.insert("recipient_type".into(), "individual".into());
    message.insert("to".into(), to.into());
    message.insert("type".into(), kind.into());
    if let Some(id) = reply_to.filter(|id| !id.is_empty()) {
        message.insert("context".into(), json!({ "message_id": id }));
    }
    message
}

/// A text message to `to` (a wa_id), quoting the customer's message `reply_to` when given;
/// links get a preview.
pub fn text_message(to: &str, body: &str, reply_to: Option<&str>) -> Value {
    let mut message = envelope(to, "text", reply_to);
    message.insert(
        "text".into(),
        json!({ "body": body, "preview_url": wants_preview(body) }),
    );
    Value::Object(message)
}

/// A message showing an uploaded file (`media_id` from `POST /{phone_number_id}/media`).
/// The caption is dropped for audio (Meta refuses it there) and the file name is kept only
/// for documents, the one kind that shows it.
pub fn media_message(
    to: &str,
    kind: MediaKind,
    media_id: &str,
    caption: Option<&str>,
    file_name: Option<&str>,
    reply_to: Option<&str>,
) -> Value {
    let mut message = envelope(to, kind.as_str(), reply_to);
    let mut media = Map::new();
    media.insert("id".into(), media_id.into());
    if let Some(caption) = caption.filter(|c| kind.takes_caption() && !c.trim().is_empty()) {
        media.insert("caption".into(), caption.into());
    }
    if let Some(name) = file_name.filter(|n| kind == MediaKind::Document && !n.is_empty()) {
        media.insert("filename".into(), name.into());
    }
    message.insert(kind.as_str().into(), Value::Object(media));
    Value::Object(message)
}

/// The `parameters` of a header or body component; named ones carry `parameter_name`.
fn text_parameters(parameters: &[TemplateParameter]) -> Value {
    parameters
        .iter()
        .map(|parameter| {
            let mut value = Map::new();
            value.insert("type".into(), "text".into());
            if let Some(name) = parameter.name.as_deref().filter(|n| !n.is_empty()) {
                value.insert("parameter_name".into(), name.into());
            }
            value.insert("text".into(), parameter.text.as_str().into());
            Value::Object(value)
        })
        .collect()
}

/// An approved template with its parameters filled in: the only message Meta delivers
/// outside the 24-hour customer service window. Components without parameters are left out,
/// as Meta expects.
pub fn template_message(to: &str, template: &TemplateMessage) -> Value {
    let mut components = Vec::new();
    if !template.header.is_empty() {
        components.push(json!({
            "type": "header",
            "parameters": text_parameters(&template.header),
        }));
    }
    if !template.body.is_empty() {
        components.push(json!({
            "type": "body",
            "parameters": text_parameters(&template.body),
        }));
    }
    for button in &template.buttons {
        components.push(json!({
            "type": "button",
            "sub_type": "url",
            "index": button.index.to_string(),
            "parameters": [{ "type": "text", "text": button.text }],
        }));
    }
    let mut message = envelope(to, "template", None);
    let mut body = Map::new();
    body.insert("name".into(), template.name.as_str().into());
    body.insert("language".into(), json!({ "code": template.language }));
    if !components.is_empty() {
        body.insert("components".into(), Value::Array(components));
    }
    message.insert("template".into(), Value::Object(body));
    Value::Object(message)
}

/// `text` cut to at most `max` characters, ending in `…` when cut, so Meta takes it instead of
/// refusing the whole message. Cuts fall between characters (never inside one), and spaces or a
/// joiner left dangling before the `…` are dropped.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let kept = cut
        .trim_end_matches(|c: char| c.is_whitespace() || c == '\u{200d}')
        .len();
    cut.truncate(kept);
    cut.push('…');
    cut
}

/// What a survey message asks: the message's content (its question), else the survey's own
/// question, cut to [`MAX_INTERACTIVE_BODY_CHARS`].
fn survey_body(survey: &SurveyRequest, body: &str) -> String {
    let question = if body.trim().is_empty() {
        survey.question.as_str()
    } else {
        body
    };
    shorten(question, MAX_INTERACTIVE_BODY_CHARS)
}

/// Checks, before anything is sent, that a survey can go as an interactive message whose
/// answers come back as answers: it has a question, and each choice's id fits a button and a
/// list row and reads back (through [`parse_choice_id`]) as this survey and rating. An id
/// that would not read back would turn the customer's tap into a plain message.
pub fn check_survey(survey: &SurveyRequest, body: &str) -> Result<(), ChannelError> {
    if survey_body(survey, body).trim().is_empty() {
        return Err(ChannelError::Permanent {
            code: Some("survey_without_question".into()),
            reason: format!(
                "survey {} has no question to ask (WhatsApp refuses an interactive message \
                 without a body)",
                survey.survey_id
            ),
        });
    }
    for choice in survey.scale.choices() {
        let id = choice_id(&survey.survey_id, choice.rating);
        let fits = id.chars().count() <= MAX_BUTTON_ID_CHARS.min(MAX_ROW_ID_CHARS);
        let reads_back = parse_choice_id(&id).is_some_and(|(survey_id, rating)| {
            survey_id == survey.survey_id && rating == choice.rating
        });
        if !fits || !reads_back {
            return Err(ChannelError::Permanent {
                code: Some("bad_survey_id".into()),
                reason: format!(
                    "survey id {:?} cannot be carried by a WhatsApp button: the answer would not \
                     come back as an answer",
                    survey.survey_id
                ),
            });
        }
    }
    Ok(())
}

/// A satisfaction survey to `to` as an interactive message whose buttons carry
/// [`choice_id`]s, so the customer's tap comes back as the answer: two reply buttons for
/// [`SurveyScale::Thumbs`], a list of five rows (best first) for [`SurveyScale::Five`], which
/// has more answers than the three buttons Meta allows. `body` is the message's content (the
/// question; the survey's own question when blank), cut to [`MAX_INTERACTIVE_BODY_CHARS`];
/// titles are cut to Meta's limits. Quotes the customer's message `reply_to` when given.
pub fn survey_message(
    to: &str,
    survey: &SurveyRequest,
    body: &str,
    reply_to: Option<&str>,
) -> Value {
    let title = |choice: &SurveyChoice, max: usize| {
        shorten(&format!("{} {}", choice.emoji, choice.label), max)
    };
    let choices = survey.scale.choices();
    let interactive = match survey.scale {
        SurveyScale::Thumbs => {
            let buttons: Vec<Value> = choices
                .iter()
                .map(|choice| {
                    json!({
                        "type": "reply",
                        "reply": {
                            "id": choice_id(&survey.survey_id, choice.rating),
                            "title": title(choice, MAX_BUTTON_TITLE_CHARS),
                        },
                    })
                })
                .collect();
            json!({
                "type": "button",
                "body": { "text": survey_body(survey, body) },
                "action": { "buttons": buttons },
            })
        }
        SurveyScale::Five => {
            let rows: Vec<Value> = choices
                .iter()
                .map(|choice| {
                    json!({
                        "id": choice_id(&survey.survey_id, choice.rating),
                        "title": title(choice, MAX_LIST_TITLE_CHARS),
                    })
                })
                .collect();
            json!({
                "type": "list",
                "body": { "text": survey_body(survey, body) },
                "action": {
                    "button": shorten(SURVEY_LIST_BUTTON, MAX_LIST_BUTTON_CHARS),
                    "sections": [{
                        "title": shorten(SURVEY_SECTION_TITLE, MAX_LIST_TITLE_CHARS),
                        "rows": rows,
                    }],
                },
            })
        }
    };
    let mut message = envelope(to, "interactive", reply_to);
    message.insert("interactive".into(), interactive);
    Value::Object(message)
}

/// Marks the customer's message `message_id` (and those before it) as read, which shows the
/// blue ticks on their phone.
pub fn read_receipt(message_id: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    })
}

/// The id of the first message in a send answer
/// (`{"messages":[{"id":"wamid…","message_status":"accepted"}]}`).
pub fn sent_message_id(answer: &Value) -> Option<String> {
    answer
        .get("messages")?
        .as_array()?
        .first()?
        .get("id")?
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The media id in an upload answer (`{"id":"1037543291543636"}`); Graph ids are strings but
/// a number is read too.
pub fn uploaded_media_id(answer: &Value) -> Option<String> {
    graph_id(answer.get("id")?)
}

/// A Graph id given as a string or a number.
pub fn graph_id(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A Graph API error body (`{"error":{…}}`), read leniently: any field may be missing, and
/// `code` may be a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphError {
    /// Graph's error code (`131047`), the field to decide on.
    pub code: Option<i64>,
    /// The deprecated subcode, kept for logs.
    pub subcode: Option<i64>,
    /// Graph's message (`(#131047) Re-engagement message`).
    pub message: Option<String>,
    /// A short title, when Graph gives one (`error_user_title`, or `title` in newer answers).
    pub title: Option<String>,
    /// `error_data.details`: the most specific explanation.
    pub details: Option<String>,
    /// The error type (`OAuthException`).
    pub kind: Option<String>,
    /// Meta's trace id, which its support asks for.
    pub fbtrace_id: Option<String>,
}

/// Reads a Graph error body; `None` when it is not one.
pub fn parse_graph_error(body: &[u8]) -> Option<GraphError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?.as_object()?;
    let text = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let number = |key: &str| match error.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Some(GraphError {
        code: number("code"),
        subcode: number("error_subcode"),
        message: text("message"),
        title: text("error_user_title").or_else(|| text("title")),
        details: error
            .get("error_data")
            .and_then(|data| data.get("details"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .or_else(|| text("error_user_msg")),
        kind: text("type"),
        fbtrace_id: text("fbtrace_id"),
    })
}

impl GraphError {
    /// `title (code): details`, Graph's words for the agent: the message's `(#131047) `
    /// prefix is dropped (the code follows), and details repeating the title are left out.
    pub fn describe(&self) -> String {
        let message = self.message.as_deref().map(strip_code_prefix);
        let title = self
            .title
            .as_deref()
            .or(message)
            .unwrap_or("Graph API error");
        let mut text = match self.code {
            Some(code) => format!("{title} ({code})"),
            None => title.to_owned(),
        };
        let details = self
            .details
            .as_deref()
            .or(message.filter(|m| *m != title))
            .filter(|d| *d != title);
        if let Some(details) = details {
            text.push_str(": ");
            text.push_str(details);
        }
        text
    }
}

/// `(#131047) Re-engagement message` → `Re-engagement message`.
fn strip_code_prefix(message: &str) -> &str {
    let Some(rest) = message.strip_prefix("(#") else {
        return message;
    };
    match rest.split_once(')') {
        Some((code, tail)) if code.bytes().all(|b| b.is_ascii_digit()) => tail.trim_start(),
        _ => message,
    }
}

/// Graph codes meaning "too many messages, slow down": throughput (130429), pair rate limit
/// (131056), spam rate limit (131048), and the Graph API's own call limits (4, 80007, 613).
const RATE_LIMIT_CODES: [i64; 6] = [130429, 131056, 131048, 80007, 4, 613];

/// Graph codes for trouble on Meta's side worth retrying: generic user error (131000),
/// "service unavailable"-style errors (131016, 133004), API unknown (1) and service (2).
const TEMPORARY_CODES: [i64; 5] = [131000, 131016, 133004, 1, 2];

/// Maps a failed Graph API answer (HTTP `status`, raw `body`, the `Retry-After` header already
/// read with [`switchboard_channel::parse_retry_after`]) to retry-or-fail for the outbox.
///
/// Rate limits are transient and wait `retry_after`, else [`PAIR_LIMIT_WAIT`] for the pair
/// limit and [`RATE_LIMIT_WAIT`] for the others; Meta's temporary errors, any 5xx and an
/// unreadable 5xx body are transient; 131047 (window closed), 190 (token) and every other
/// refusal are permanent with the Graph code (else the HTTP status) as code. A refused token
/// (code 190, or any HTTP 401) says the inbox needs a new one.
pub fn classify_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> ChannelError {
    let Some(error) = parse_graph_error(body) else {
        return classify_status(status, retry_after);
    };
    let reason = error.describe();
    let Some(code) = error.code else {
        return match classify_status(status, retry_after) {
            ChannelError::Transient { retry_after, .. } => ChannelError::Transient {
                reason,
                retry_after,
            },
            ChannelError::Permanent { code, .. } => ChannelError::Permanent { code, reason },
        };
    };
    if RATE_LIMIT_CODES.contains(&code) || status == 429 {
        let default = if code == 131056 {
            PAIR_LIMIT_WAIT
        } else {
            RATE_LIMIT_WAIT
        };
        return ChannelError::Transient {
            reason: format!("WhatsApp rate limit: {reason}"),
            retry_after: Some(retry_after.unwrap_or(default)),
        };
    }
    if TEMPORARY_CODES.contains(&code) || (500..600).contains(&status) {
        return ChannelError::Transient {
            reason,
            retry_after,
        };
    }
    let reason = match code {
        131047 => format!(
            "the 24-hour customer service window is closed (more than 24 hours since the \
             customer's last message): only an approved template can reach them now; {reason}"
        ),
        _ if code == 190 || status == 401 => format!(
            "the access token is expired or invalid: the inbox needs a new token from \
             Meta's Business Manager; {reason}"
        ),
        _ => reason,
    };
    ChannelError::Permanent {
        code: Some(code.to_string()),
        reason,
    }
}

/// A failed answer without a Graph error body, judged by its HTTP status alone.
fn classify_status(status: u16, retry_after: Option<Duration>) -> ChannelError {
    match status {
        429 => ChannelError::Transient {
            reason: "WhatsApp rate limit: HTTP 429 Too Many Requests".into(),
            retry_after: Some(retry_after.unwrap_or(RATE_LIMIT_WAIT)),
        },
        408 | 500..=599 => ChannelError::Transient {
            reason: format!("the Graph API failed with HTTP {status}"),
            retry_after,
        },
        401 => ChannelError::Permanent {
            code: Some("401".into()),
            reason: "the Graph API refused the access token (HTTP 401): the inbox needs a \
                     new token"
                .into(),
        },
        _ => ChannelError::Permanent {
            code: Some(status.to_string()),
            reason: format!("the Graph API refused the request with HTTP {status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use switchboard_channel::TemplateButtonValue;

    use super::*;

    #[test]
    fn media_kinds_follow_types_and_limits() {
        let kind = |ct: &str, size: u64| media_kind(ct, size).expect("sendable");
        assert_eq!(kind("image/jpeg", 1000), MediaKind::Image);
        assert_eq!(kind("Image/PNG; x=y", MAX_IMAGE_BYTES), MediaKind::Image);
        assert_eq!(kind("image/png", MAX_IMAGE_BYTES + 1), MediaKind::Document);
        assert_eq!(kind("image/webp", 1000), MediaKind::Document);
        assert_eq!(kind("image/gif", 1000), MediaKind::Document);
        assert_eq!(kind("video/mp4", MAX_VIDEO_BYTES), MediaKind::Video);
        assert_eq!(kind("video/3gpp", 10), MediaKind::Video);
        assert_eq!(kind("video/mp4", MAX_VIDEO_BYTES + 1), MediaKind::Document);
        assert_eq!(kind("video/quicktime", 10), MediaKind::Document);
        for audio in [
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ] {
            assert_eq!(kind(audio, 10), MediaKind::Audio, "{audio}");
        }
        assert_eq!(kind("audio/ogg", MAX_AUDIO_BYTES + 1), MediaKind::Document);
        assert_eq!(kind("application/pdf", 10), MediaKind::Document);
        assert_eq!(kind("", 10), MediaKind::Document);
        assert_eq!(
            kind("application/pdf", MAX_DOCUMENT_BYTES),
            MediaKind::Document
        );
        let too_big = media_kind("application/pdf", MAX_DOCUMENT_BYTES + 1);
        match too_big {
            Err(ChannelError::Permanent { code, reason }) => {
                assert_eq!(code.as_deref(), Some("file_too_big"));
                assert!(reason.contains("100 MB"), "{reason}");
            }
            other => panic!("expected a permanent error, got {other:?}"),
        }
    }

    #[test]
    fn text_message_json() {
        assert_eq!(
            text_message("16505551234", "Hello", None),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": { "body": "Hello", "preview_url": false },
            })
        );
        let reply = text_message("16505551234", "See https://example.com", Some("wamid.X"));
        assert_eq!(reply["text"]["preview_url"], true);
        assert_eq!(reply["context"], json!({ "message_id": "wamid.X" }));
        assert!(text_message("1", "x", Some("")).get("context").is_none());
    }

    #[test]
    fn media_message_json() {
        assert_eq!(
            media_message(
                "1",
                MediaKind::Image,
                "m1",
                Some("Look"),
                Some("a.jpg"),
                None
            ),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "1",
                "type": "image",
                "image": { "id": "m1", "caption": "Look" },
            })
        );
        let document = media_message(
            "1",
            MediaKind::Document,
            "m2",
            Some("Invoice"),
            Some("invoice.pdf"),
            Some("wamid.Q"),
        );
        assert_eq!(
            document["document"],
            json!({ "id": "m2", "caption": "Invoice", "filename": "invoice.pdf" })
        );
        assert_eq!(document["context"]["message_id"], "wamid.Q");
        let audio = media_message("1", MediaKind::Audio, "m3", Some("no"), Some("a.ogg"), None);
        assert_eq!(audio["audio"], json!({ "id": "m3" }));
        let blank = media_message("1", MediaKind::Video, "m4", Some("  "), None, None);
        assert_eq!(blank["video"], json!({ "id": "m4" }));
    }

    #[test]
    fn template_message_json() {
        let template = TemplateMessage {
            name: "order_update".into(),
            language: "en_US".into(),
            header: vec![TemplateParameter {
                name: None,
                text: "#42".into(),
            }],
            body: vec![
                TemplateParameter {
                    name: Some("first_name".into()),
                    text: "Ada".into(),
                },
                TemplateParameter {
                    name: None,
                    text: "Friday".into(),
                },
            ],
            buttons: vec![TemplateButtonValue {
                index: 1,
                text: "orders/42".into(),
            }],
        };
        assert_eq!(
            template_message("16505551234", &template),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": { "code": "en_US" },
                    "components": [
                        { "type": "header", "parameters": [{ "type": "text", "text": "#42" }] },
                        { "type": "body", "parameters": [
                            { "type": "text", "parameter_name": "first_name", "text": "Ada" },
                            { "type": "text", "text": "Friday" },
                        ] },
                        { "type": "button", "sub_type": "url", "index": "1",
                          "parameters": [{ "type": "text", "text": "orders/42" }] },
                    ],
                },
            })
        );
        let bare = TemplateMessage {
            name: "hello_world".into(),
            language: "en_US".into(),
            ..TemplateMessage::default()
        };
        assert_eq!(
            template_message("1", &bare)["template"],
            json!({ "name": "hello_world", "language": { "code": "en_US" } })
        );
    }

    fn survey(scale: SurveyScale) -> SurveyRequest {
        SurveyRequest {
            survey_id: "42".into(),
            question: "How did we do?".into(),
            scale,
            links: Vec::new(),
        }
    }

    #[test]
    fn thumbs_survey_is_two_reply_buttons() {
        assert_eq!(
            survey_message(
                "16505551234",
                &survey(SurveyScale::Thumbs),
                "Did we solve your problem?",
                None
            ),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": { "text": "Did we solve your problem?" },
                    "action": {
                        "buttons": [
                            { "type": "reply", "reply": { "id": "csat:42:5", "title": "👍 Yes, thanks" } },
                            { "type": "reply", "reply": { "id": "csat:42:1", "title": "👎 Not really" } },
                        ],
                    },
                },
            })
        );
    }

    #[test]
    fn five_point_survey_is_a_list_best_first() {
        assert_eq!(
            survey_message(
                "16505551234",
                &survey(SurveyScale::Five),
                "How satisfied are you with our help?",
                Some("wamid.X")
            ),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "interactive",
                "context": { "message_id": "wamid.X" },
                "interactive": {
                    "type": "list",
                    "body": { "text": "How satisfied are you with our help?" },
                    "action": {
                        "button": "Choose a rating",
                        "sections": [{
                            "title": "Your rating",
                            "rows": [
                                { "id": "csat:42:5", "title": "😀 Very satisfied" },
                                { "id": "csat:42:4", "title": "🙂 Satisfied" },
                                { "id": "csat:42:3", "title": "😐 Neutral" },
                                { "id": "csat:42:2", "title": "🙁 Dissatisfied" },
                                { "id": "csat:42:1", "title": "😞 Very dissatisfied" },
                            ],
                        }],
                    },
                },
            })
        );
    }

    #[test]
    fn survey_texts_fit_metas_limits() {
        for scale in [SurveyScale::Five, SurveyScale::Thumbs] {
            let message = survey_message("1", &survey(scale), "Q", None);
            let action = &message["interactive"]["action"];
            let titles: Vec<&Value> = match scale {
                SurveyScale::Thumbs => action["buttons"]
                    .as_array()
                    .expect("buttons")
                    .iter()
                    .map(|b| &b["reply"]["title"])
                    .collect(),
                SurveyScale::Five => action["sections"][0]["rows"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|r| &r["title"])
                    .collect(),
            };
            let max = match scale {
                SurveyScale::Thumbs => MAX_BUTTON_TITLE_CHARS,
                SurveyScale::Five => MAX_LIST_TITLE_CHARS,
            };
            assert_eq!(titles.len(), scale.choices().len());
            for title in titles {
                let title = title.as_str().expect("a title");
                assert!(title.chars().count() <= max, "{title}");
                assert!(!title.ends_with('…'), "{title} was cut");
            }
        }
        // A long question is cut between characters, ending in `…`.
        let long = format!("{}😀 and more", "é".repeat(1022));
        let message = survey_message("1", &survey(SurveyScale::Thumbs), &long, None);
        let body = message["interactive"]["body"]["text"]
            .as_str()
            .expect("body");
        assert_eq!(body.chars().count(), MAX_INTERACTIVE_BODY_CHARS);
        assert_eq!(body, format!("{}😀…", "é".repeat(1022)));
        let exact = "x".repeat(MAX_INTERACTIVE_BODY_CHARS);
        let message = survey_message("1", &survey(SurveyScale::Five), &exact, None);
        assert_eq!(message["interactive"]["body"]["text"], exact.as_str());
        // A blank content asks the survey's own question.
        let message = survey_message("1", &survey(SurveyScale::Five), "  ", None);
        assert_eq!(message["interactive"]["body"]["text"], "How did we do?");
    }

    #[test]
    fn shorten_cuts_between_characters() {
        assert_eq!(shorten("Choose a rating", 20), "Choose a rating");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("ab cdef", 4), "ab…");
        assert_eq!(shorten("a👩\u{200d}💻x", 4), "a👩…");
        assert_eq!(shorten("👍👍👍", 2), "👍…");
        assert_eq!(shorten("abc", 0), "");
    }

    #[test]
    fn surveys_whose_answers_would_not_come_back_are_refused() {
        assert_eq!(check_survey(&survey(SurveyScale::Five), "Q"), Ok(()));
        assert_eq!(check_survey(&survey(SurveyScale::Thumbs), ""), Ok(()));
        for bad in ["", "abc", "4:2", &"9".repeat(300)] {
            let mut odd = survey(SurveyScale::Thumbs);
            odd.survey_id = bad.to_owned();
            assert!(
                matches!(
                    check_survey(&odd, "Q"),
                    Err(ChannelError::Permanent { code: Some(code), .. }) if code == "bad_survey_id"
                ),
                "{bad}"
            );
        }
        let mut silent = survey(SurveyScale::Five);
        silent.question = " ".into();
        assert!(matches!(
            check_survey(&silent, ""),
            Err(ChannelError::Permanent { code: Some(code), .. }) if code == "survey_without_question"
        ));
    }

    #[test]
    fn read_receipt_json() {
        assert_eq!(
            read_receipt("wamid.A"),
            json!({ "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A" })
        );
    }

    #[test]
    fn answers_are_read_leniently() {
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "+1 650 555 1234", "wa_id": "16505551234" }],
            "messages": [{ "id": "wamid.HBgL", "message_status": "accepted" }],
        });
        assert_eq!(sent_message_id(&answer).as_deref(), Some("wamid.HBgL"));
        assert_eq!(sent_message_id(&json!({ "messages": [] })), None);
        assert_eq!(
            sent_message_id(&json!({ "messages": [{ "id": "" }] })),
            None
        );
        assert_eq!(
            uploaded_media_id(&json!({ "id": "1037543291543636" })).as_deref(),
            Some("1037543291543636")
        );
        assert_eq!(
            uploaded_media_id(&json!({ "id": 42 })).as_deref(),
            Some("42")
        );
        assert_eq!(uploaded_media_id(&json!({})), None);
    }

    fn error_body(code: Value, message: &str, details: Option<&str>) -> Vec<u8> {
        let mut error = json!({
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_subcode": 2494010,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        });
        if let Some(details) = details {
            error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
        }
        serde_json::to_vec(&json!({ "error": error })).expect("serializes")
    }

    #[test]
    fn graph_errors_are_described_in_graphs_words() {
        let body = error_body(
            json!(131047),
            "(#131047) Re-engagement message",
            Some("Message failed to send because more than 24 hours have passed"),
        );
        let error = parse_graph_error(&body).expect("a Graph error");
        assert_eq!(error.code, Some(131047));
        assert_eq!(error.subcode, Some(2494010));
        assert_eq!(error.kind.as_deref(), Some("OAuthException"));
        assert_eq!(
            error.describe(),
            "Re-engagement message (131047): Message failed to send because more than 24 \
             hours have passed"
        );
        let no_details = parse_graph_error(&error_body(json!("100"), "Invalid parameter", None))
            .expect("a Graph error");
        assert_eq!(no_details.code, Some(100));
        assert_eq!(no_details.describe(), "Invalid parameter (100)");
        assert_eq!(parse_graph_error(b"<html>"), None);
        assert_eq!(parse_graph_error(br#"{"data":[]}"#), None);
        assert_eq!(
            parse_graph_error(br#"{"error":{}}"#)
                .expect("empty error")
                .describe(),
            "Graph API error"
        );
    }

    fn transient_wait(error: ChannelError) -> Option<Duration> {
        match error {
            ChannelError::Transient { retry_after, .. } => retry_after,
            other => panic!("expected transient, got {other:?}"),
        }
    }

    fn permanent_code(error: ChannelError) -> (String, String) {
        match error {
            ChannelError::Permanent { code, reason } => (code.unwrap_or_default(), reason),
            other => panic!("expected permanent, got {other:?}"),
        }
    }

    #[test]
    fn rate_limits_are_transient_with_a_wait() {
        for code in [130429, 131048, 80007, 4, 613] {
            let body = error_body(json!(code), "(#130429) Rate limit hit", None);
            assert_eq!(
                transient_wait(classify_error(400, &body, None)),
                Some(RATE_LIMIT_WAIT),
                "{code}"
            );
            assert_eq!(
                transient_wait(classify_error(429, &body, Some(Duration::from_secs(3)))),
                Some(Duration::from_secs(3)),
                "{code}"
            );
        }
        let pair = error_body(json!(131056), "(#131056) Pair rate limit hit", None);
        assert_eq!(
            transient_wait(classify_error(400, &pair, None)),
            Some(PAIR_LIMIT_WAIT)
        );
        let reason = classify_error(400, &pair, None).to_string();
        assert!(reason.starts_with("WhatsApp rate limit: Pair rate limit hit (131056)"));
        assert_eq!(
            transient_wait(classify_error(429, b"", None)),
            Some(RATE_LIMIT_WAIT)
        );
    }

    #[test]
    fn temporary_and_server_errors_are_transient() {
        for code in [131000, 131016, 133004, 1, 2] {
            let body = error_body(json!(code), "Something went wrong", None);
            assert_eq!(transient_wait(classify_error(400, &body, None)), None);
        }
        let unknown_on_500 = error_body(json!(999), "Oops", None);
        assert!(classify_error(500, &unknown_on_500, None).is_transient());
        assert!(classify_error(502, b"<html>Bad Gateway</html>", None).is_transient());
        assert!(classify_error(503, b"", None).is_transient());
        assert!(classify_error(408, b"", None).is_transient());
        assert_eq!(
            transient_wait(classify_error(503, b"", Some(Duration::from_secs(9)))),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn closed_window_says_to_use_a_template() {
        let body = error_body(
            json!(131047),
            "(#131047) Re-engagement message",
            Some(
                "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
            ),
        );
        let (code, reason) = permanent_code(classify_error(400, &body, None));
        assert_eq!(code, "131047");
        assert!(reason.contains("24-hour"), "{reason}");
        assert!(reason.contains("template"), "{reason}");
        assert!(reason.contains("(131047)"), "{reason}");
    }

    #[test]
    fn expired_token_says_the_inbox_needs_a_new_one() {
        let body = error_body(
            json!(190),
            "Error validating access token: Session has expired",
            None,
        );
        let (code, reason) = permanent_code(classify_error(401, &body, None));
        assert_eq!(code, "190");
        assert!(reason.contains("needs a new token"), "{reason}");
        let (code, reason) = permanent_code(classify_error(401, b"", None));
        assert_eq!(code, "401");
        assert!(reason.contains("new token"), "{reason}");
        let other_code = error_body(json!(0), "(#0) AuthException", None);
        let (code, reason) = permanent_code(classify_error(401, &other_code, None));
        assert_eq!(code, "0");
        assert!(reason.contains("needs a new token"), "{reason}");
    }

    #[test]
    fn refusals_are_permanent_with_the_graph_code() {
        for code in [
            131026, 130472, 132000, 132001, 132015, 132999, 100, 131051, 131052, 131053, 368,
        ] {
            let body = error_body(json!(code), "Refused", Some("because"));
            let (got, reason) = permanent_code(classify_error(400, &body, None));
            assert_eq!(got, code.to_string());
            assert_eq!(reason, format!("Refused ({code}): because"));
        }
        let (code, _) = permanent_code(classify_error(404, b"not json", None));
        assert_eq!(code, "404");
        let (code, reason) = permanent_code(classify_error(
            403,
            br#"{"error":{"message":"Forbidden"}}"#,
            None,
        ));
        assert_eq!((code.as_str(), reason.as_str()), ("403", "Forbidden"));
    }
}
