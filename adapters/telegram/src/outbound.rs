//! The pure rules for sending through the Bot API.
//!
//! The channel actor escapes the agent's text (split to [`MAX_TEXT_UTF16`] by the shared
//! [`switchboard_channel::split_text`]), picks `sendPhoto` or `sendDocument` for each file,
//! addresses the chat from the contact identifier, builds a satisfaction survey's question and
//! inline keyboard ([`survey_message`]), trims the text that confirms an answer
//! ([`callback_answer_text`]), and maps teloxide's errors to retry-or-fail with the functions
//! here, so all of it is testable without a network.

use switchboard_channel::{
    ChannelError, MAX_RETRY_AFTER, SurveyRequest, SurveyScale, choice_id, error_chain,
    parse_choice_id,
};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::{ApiError, RequestError};

use crate::inbound::external_id;

/// Longest message text the Bot API accepts, counted after entity parsing in UTF-16 code units;
/// longer replies must be split with [`switchboard_channel::split_text`], counting
/// [`char::len_utf16`].
pub const MAX_TEXT_UTF16: usize = 4096;

/// Longest media caption the Bot API accepts, in UTF-16 code units; a longer text goes in its
/// own message after the file.
pub const MAX_CAPTION_UTF16: usize = 1024;

/// Largest image `sendPhoto` accepts; bigger ones go as documents instead of failing.
pub const MAX_PHOTO_BYTES: u64 = 10 * 1024 * 1024;

/// Escapes text for `parse_mode=HTML`, so customer-visible text is shown exactly as the agent
/// typed it instead of being read as markup (or refused as broken markup).
///
/// Split first ([`switchboard_channel::split_text`]), then escape each piece: Telegram counts
/// the limit after entities are parsed, and a split must never cut an entity such as `&amp;` in
/// two.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Length as Telegram counts it (UTF-16 code units: an emoji such as 😀 counts 2), because
/// the Bot API limits are in those units, not bytes or chars.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Longest text `answerCallbackQuery` shows on the pressed button (the Bot API allows 0-200
/// characters; counted here in UTF-16 units, which is never fewer than characters).
pub const MAX_CALLBACK_ANSWER_UTF16: usize = 200;

/// The inline keyboard under a survey's question, so the customer answers with one tap and the
/// tap names the survey and rating ([`choice_id`]) without the channel keeping any state.
///
/// Best answer first, as [`SurveyScale::choices`] lists them; the five-point scale gets one
/// button per row (its labels are too long to share a phone-wide row), thumbs share one row.
pub fn survey_keyboard(survey: &SurveyRequest) -> InlineKeyboardMarkup {
    let buttons = survey.scale.choices().iter().map(|choice| {
        InlineKeyboardButton::callback(
            format!("{} {}", choice.emoji, choice.label),
            choice_id(&survey.survey_id, choice.rating),
        )
    });
    match survey.scale {
        SurveyScale::Five => InlineKeyboardMarkup::new(buttons.map(|button| [button])),
        SurveyScale::Thumbs => InlineKeyboardMarkup::new([buttons]),
    }
}

/// A survey as one `sendMessage`: the question, HTML-escaped like every text, and its
/// keyboard ([`survey_keyboard`]).
///
/// `content` is the question (as [`switchboard_channel::OutboundMessage::survey`] says);
/// a blank `content` falls back to [`SurveyRequest::question`]. Refused permanently, before
/// anything is sent, when there is no question, when it is longer than one Telegram message,
/// or when the survey id would not read back from the buttons (a tap that could never be
/// taken as an answer).
pub fn survey_message(
    content: &str,
    survey: &SurveyRequest,
) -> Result<(String, InlineKeyboardMarkup), ChannelError> {
    let refuse = |reason: String| ChannelError::Permanent { code: None, reason };
    let question = if content.trim().is_empty() {
        survey.question.as_str()
    } else {
        content
    };
    if question.trim().is_empty() {
        return Err(refuse("the survey has no question to ask".to_owned()));
    }
    let length = utf16_len(question);
    if length > MAX_TEXT_UTF16 {
        return Err(refuse(format!(
            "the survey question is {length} UTF-16 units long; a Telegram message holds at \
             most {MAX_TEXT_UTF16}"
        )));
    }
    let reads_back = survey.scale.choices().iter().all(|choice| {
        parse_choice_id(&choice_id(&survey.survey_id, choice.rating))
            == Some((survey.survey_id.clone(), choice.rating))
    });
    if !reads_back {
        return Err(refuse(format!(
            "survey id {:?} cannot be carried on a Telegram button",
            survey.survey_id
        )));
    }
    Ok((escape_html(question), survey_keyboard(survey)))
}

/// The text `answerCallbackQuery` shows: at most [`MAX_CALLBACK_ANSWER_UTF16`], cut on a
/// character boundary, because Telegram refuses the whole answer when the text is longer.
pub fn callback_answer_text(text: &str) -> &str {
    let mut units = 0;
    for (index, ch) in text.char_indices() {
        units += ch.len_utf16();
        if units > MAX_CALLBACK_ANSWER_UTF16 {
            return &text[..index];
        }
    }
    text
}

/// Reads an external id made by [`crate::inbound::external_id`] back into chat id and
/// message id, to reply to (quote) a customer message. Only the exact form is accepted.
pub fn parse_external_id(id: &str) -> Option<(i64, i32)> {
    let (chat, message) = id.rsplit_once(':')?;
    let chat_id = parse_chat_id(chat)?;
    let message_id: i32 = message.parse().ok()?;
    (message_id > 0 && external_id(chat_id, i64::from(message_id)) == id)
        .then_some((chat_id, message_id))
}

/// The chat to send to for a contact identifier: the user id of a private chat or the negative
/// id of a group (the forms [`crate::inbound`] produces). Anything else, including zero,
/// padded or signed-positive numbers, is `None`.
pub fn parse_chat_id(identifier: &str) -> Option<i64> {
    let chat_id: i64 = identifier.parse().ok()?;
    (chat_id != 0 && chat_id.to_string() == identifier).then_some(chat_id)
}

/// How a file is uploaded: Telegram recompresses photos (and refuses ones it cannot), so only
/// images it surely takes go as photos; everything else keeps its bytes as a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// `sendPhoto`: shown inline, recompressed by Telegram.
    Photo,
    /// `sendDocument`: sent as a file, byte for byte.
    Document,
}

/// Chooses between `sendPhoto` and `sendDocument`, following the Bot API's photo limits.
///
/// A photo is a JPEG, PNG or WebP of at most [`MAX_PHOTO_BYTES`] whose width plus height is at
/// most 10000 and whose sides differ by a factor of at most 20. Images with unknown dimensions,
/// GIFs (which would lose their animation), PDFs and everything else go as documents.
pub fn upload_kind(
    content_type: &str,
    byte_size: u64,
    width: Option<u32>,
    height: Option<u32>,
) -> UploadKind {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let photo_type = matches!(
        essence.as_str(),
        "image/jpeg" | "image/jpg" | "image/png" | "image/webp"
    );
    let (Some(width), Some(height)) = (width, height) else {
        return UploadKind::Document;
    };
    let (width, height) = (u64::from(width), u64::from(height));
    let fits = photo_type
        && byte_size > 0
        && byte_size <= MAX_PHOTO_BYTES
        && width > 0
        && height > 0
        && width + height <= 10_000
        && width.max(height) <= 20 * width.min(height);
    if fits {
        UploadKind::Photo
    } else {
        UploadKind::Document
    }
}

/// Maps a teloxide error to retry-or-fail for the outbox, with a reason safe to log and show
/// (never the bot token, which teloxide's request URLs contain).
///
/// Rate limits and network, I/O or response-parsing trouble are transient; Bot API refusals
/// (`Forbidden`, `Bad Request`, `Unauthorized`: blocked bot, unknown chat, deactivated user…)
/// are permanent and carry the HTTP status as code; other Bot API errors (`Too Many Requests`
/// without parameters, `Internal Server Error`, `Bad Gateway`, unknown ones) are transient.
pub fn classify_error(error: &RequestError) -> ChannelError {
    match error {
        RequestError::RetryAfter(seconds) => ChannelError::Transient {
            reason: format!("Telegram rate limit: retry after {} s", seconds.seconds()),
            retry_after: Some(seconds.duration().min(MAX_RETRY_AFTER)),
        },
        RequestError::MigrateToChatId(chat_id) => ChannelError::Permanent {
            code: Some("400".to_owned()),
            reason: format!(
                "the group was upgraded to a supergroup (new chat id {}); replies cannot reach \
                 the old group, and new messages from the supergroup start a new conversation",
                chat_id.0
            ),
        },
        RequestError::Api(api_error) => classify_api_error(api_error),
        RequestError::Network(network) => {
            let what = if network.is_timeout() {
                "Telegram did not answer in time"
            } else {
                "could not reach Telegram"
            };
            transient(format!(
                "{what}: {}",
                redact_secrets(&error_chain(network.as_ref()))
            ))
        }
        RequestError::InvalidJson { source, .. } => transient(format!(
            "Telegram sent a response that could not be read: {}",
            redact_secrets(&source.to_string())
        )),
        RequestError::Io(io) => transient(format!(
            "I/O error while talking to Telegram: {}",
            redact_secrets(&error_chain(io.as_ref()))
        )),
    }
}

fn transient(reason: String) -> ChannelError {
    ChannelError::Transient {
        reason,
        retry_after: None,
    }
}

fn classify_api_error(error: &ApiError) -> ChannelError {
    let description = match error {
        // Its Display wraps the text in `Unknown error: "…"`; the agent wants Telegram's words.
        ApiError::Unknown(text) => text.trim().to_owned(),
        other => other.to_string(),
    };
    let description = if description.is_empty() {
        "Telegram reported an error without a description".to_owned()
    } else {
        description
    };
    let starts = |prefix: &str| {
        description
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let code = if matches!(error, ApiError::InvalidToken) || starts("Unauthorized") {
        Some("401")
    } else if starts("Forbidden") {
        Some("403")
    } else if starts("Bad Request") {
        Some("400")
    } else if starts("Not Found") {
        Some("404")
    } else if starts("Request Entity Too Large") {
        Some("413")
    } else {
        None
    };
    match code {
        Some(code) => ChannelError::Permanent {
            code: Some(code.to_owned()),
            reason: description,
        },
        None => {
            let retry_after = if starts("Too Many Requests") {
                retry_after_in(&description)
            } else {
                None
            };
            ChannelError::Transient {
                reason: description,
                retry_after,
            }
        }
    }
}

/// The wait in a `Too Many Requests: retry after 5` description that came without the
/// structured `parameters` teloxide would have turned into [`RequestError::RetryAfter`].
fn retry_after_in(description: &str) -> Option<std::time::Duration> {
    let lower = description.to_ascii_lowercase();
    let (_, tail) = lower.split_once("retry after")?;
    let digits: String = tail
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let seconds: u64 = digits.parse().ok()?;
    Some(std::time::Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Removes what could leak the bot token from an error text: URLs (teloxide's request URLs are
/// `https://api.telegram.org/bot<token>/method`) keep only scheme and host, and anything left
/// that looks like a token (`<digits>:<35 characters>`) is replaced.
fn redact_secrets(text: &str) -> String {
    redact_tokens(&redact_urls(text))
}

fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["https://", "http://"]
            .into_iter()
            .filter_map(|scheme| rest.find(scheme))
            .min();
        let Some(start) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(candidate.len());
        let shown = url::Url::parse(&candidate[..end])
            .ok()
            .and_then(|url| {
                let host = url.host_str()?.to_owned();
                Some(match url.port() {
                    Some(port) => format!("{}://{host}:{port}/…", url.scheme()),
                    None => format!("{}://{host}/…", url.scheme()),
                })
            })
            .unwrap_or_else(|| "<url>".to_owned());
        out.push_str(&shown);
        rest = &candidate[end..];
    }
}

/// Replaces `<digits>:<secret>` runs (with an optional `bot` prefix), the shape of a Bot API
/// token, by `<redacted>`; digit runs need 5+ digits and secrets 20+ characters, so ordinary
/// `chat:message` ids and times stay readable.
fn redact_tokens(text: &str) -> String {
    let is_secret = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        let starts_run = bytes[index].is_ascii_digit()
            && (index == 0 || !bytes[index - 1].is_ascii_alphanumeric() || {
                // Allow the `bot` prefix of `bot123:…`.
                index >= 3 && text.get(index - 3..index) == Some("bot")
            });
        if !starts_run {
            index += 1;
            continue;
        }
        let digits_end = index
            + bytes[index..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        let secret_start = digits_end + 1;
        let secret_len = if digits_end - index >= 5 && bytes.get(digits_end) == Some(&b':') {
            bytes[secret_start..]
                .iter()
                .take_while(|&&b| is_secret(b))
                .count()
        } else {
            0
        };
        if secret_len >= 20 {
            out.push_str(&text[copied..index]);
            out.push_str("<redacted>");
            index = secret_start + secret_len;
            copied = index;
        } else {
            index = digits_end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    use teloxide::types::{ChatId, Seconds};

    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn escapes_html_specials() {
        assert_eq!(
            escape_html(r#"<b>"Tom" & Jerry</b> 5 > 3"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt; 5 &gt; 3"
        );
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
        assert_eq!(escape_html("Grüße 👋 'quoted'"), "Grüße 👋 'quoted'");
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn counts_utf16_units() {
        assert_eq!(utf16_len(""), 0);
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("äöü€"), 4);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("👍🏽"), 4);
        assert_eq!(utf16_len("a😀b"), "a😀b".encode_utf16().count());
    }

    fn survey(scale: SurveyScale) -> SurveyRequest {
        SurveyRequest {
            survey_id: "42".into(),
            question: "How did we do?".into(),
            scale,
            links: Vec::new(),
        }
    }

    /// The keyboard as Telegram receives it in `reply_markup`.
    #[test]
    fn five_point_keyboard_has_one_button_per_row_best_first() {
        let keyboard =
            serde_json::to_value(survey_keyboard(&survey(SurveyScale::Five))).expect("serializes");
        assert_eq!(
            keyboard,
            serde_json::json!({"inline_keyboard": [
                [{"text": "😀 Very satisfied", "callback_data": "csat:42:5"}],
                [{"text": "🙂 Satisfied", "callback_data": "csat:42:4"}],
                [{"text": "😐 Neutral", "callback_data": "csat:42:3"}],
                [{"text": "🙁 Dissatisfied", "callback_data": "csat:42:2"}],
                [{"text": "😞 Very dissatisfied", "callback_data": "csat:42:1"}],
            ]})
        );
    }

    #[test]
    fn thumbs_keyboard_is_one_row() {
        let keyboard = serde_json::to_value(survey_keyboard(&survey(SurveyScale::Thumbs)))
            .expect("serializes");
        assert_eq!(
            keyboard,
            serde_json::json!({"inline_keyboard": [[
                {"text": "👍 Yes, thanks", "callback_data": "csat:42:5"},
                {"text": "👎 Not really", "callback_data": "csat:42:1"},
            ]]})
        );
    }

    /// Every button's data reads back as its survey and rating, within Telegram's 64 bytes.
    #[test]
    fn survey_buttons_read_back() {
        for scale in [SurveyScale::Five, SurveyScale::Thumbs] {
            let mut request = survey(scale);
            request.survey_id = u64::MAX.to_string();
            let keyboard = survey_keyboard(&request);
            let buttons: Vec<_> = keyboard.inline_keyboard.iter().flatten().collect();
            assert_eq!(buttons.len(), scale.choices().len());
            for (button, choice) in buttons.into_iter().zip(scale.choices()) {
                let teloxide::types::InlineKeyboardButtonKind::CallbackData(data) = &button.kind
                else {
                    panic!("not a callback button: {button:?}");
                };
                assert!(data.len() <= 64, "{data}");
                assert_eq!(
                    parse_choice_id(data),
                    Some((request.survey_id.clone(), choice.rating))
                );
            }
        }
    }

    #[test]
    fn survey_message_escapes_the_question() {
        let request = survey(SurveyScale::Thumbs);
        let (text, keyboard) =
            survey_message("War <b>alles</b> gut & schnell?", &request).expect("a survey");
        assert_eq!(text, "War &lt;b&gt;alles&lt;/b&gt; gut &amp; schnell?");
        assert_eq!(keyboard, survey_keyboard(&request));
        // A blank content asks the survey's own question.
        let (text, _) = survey_message("  ", &request).expect("a survey");
        assert_eq!(text, "How did we do?");
    }

    #[test]
    fn survey_message_refuses_what_telegram_could_not_take() {
        let mut request = survey(SurveyScale::Five);
        request.question = String::new();
        let refused =
            |content: &str, request: &SurveyRequest| match survey_message(content, request) {
                Err(ChannelError::Permanent { code: None, reason }) => reason,
                other => panic!("{content:?}: expected a permanent refusal, got {other:?}"),
            };
        assert_eq!(refused("", &request), "the survey has no question to ask");
        assert!(refused(&"?".repeat(MAX_TEXT_UTF16 + 1), &request).contains("4097"));
        assert!(survey_message(&"?".repeat(MAX_TEXT_UTF16), &request).is_ok());
        for id in ["", "abc", "123456789012345678901", "4:2"] {
            request.survey_id = id.into();
            assert_eq!(
                refused("How did we do?", &request),
                format!("survey id {id:?} cannot be carried on a Telegram button")
            );
        }
    }

    #[test]
    fn callback_answer_text_is_cut_on_a_character_boundary() {
        assert_eq!(callback_answer_text(""), "");
        assert_eq!(callback_answer_text("Danke!"), "Danke!");
        let exact = "a".repeat(MAX_CALLBACK_ANSWER_UTF16);
        assert_eq!(callback_answer_text(&exact), exact);
        let long = "a".repeat(MAX_CALLBACK_ANSWER_UTF16 + 5);
        assert_eq!(callback_answer_text(&long), exact);
        // 😀 is two UTF-16 units: the one that would end at 201 is left out whole.
        let emoji = format!("{}😀😀", "a".repeat(MAX_CALLBACK_ANSWER_UTF16 - 3));
        let cut = callback_answer_text(&emoji);
        assert_eq!(
            cut,
            format!("{}😀", "a".repeat(MAX_CALLBACK_ANSWER_UTF16 - 3))
        );
        assert_eq!(utf16_len(cut), MAX_CALLBACK_ANSWER_UTF16 - 1);
        let umlauts = "ü".repeat(300);
        assert_eq!(callback_answer_text(&umlauts).chars().count(), 200);
    }

    #[test]
    fn external_ids_round_trip() {
        for (chat, message) in [
            (123_456_789_i64, 1365_i32),
            (-4_012_345_678, 52),
            (-1_001_234_567_890, i32::MAX),
        ] {
            let id = external_id(chat, i64::from(message));
            assert_eq!(parse_external_id(&id), Some((chat, message)), "{id}");
        }
    }

    #[test]
    fn external_id_rejects_other_forms() {
        for id in [
            "",
            "123",
            ":5",
            "123:",
            "abc:5",
            "123:abc",
            "123:0",
            "123:-5",
            "0:5",
            "+123:5",
            "123:+5",
            "0123:5",
            " 123:5",
            "123:5 ",
            "1:2:3",
            "123:99999999999",
        ] {
            assert_eq!(parse_external_id(id), None, "{id:?}");
        }
    }

    #[test]
    fn chat_ids() {
        assert_eq!(parse_chat_id("123456789"), Some(123_456_789));
        assert_eq!(parse_chat_id("-1001234567890"), Some(-1_001_234_567_890));
        for bad in [
            "",
            "0",
            "-0",
            "+5",
            "007",
            " 5",
            "5 ",
            "@anna_s",
            "12.5",
            "99999999999999999999",
        ] {
            assert_eq!(parse_chat_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn photos_within_limits() {
        assert_eq!(
            upload_kind("image/jpeg", 2_000_000, Some(1280), Some(960)),
            UploadKind::Photo
        );
        assert_eq!(
            upload_kind("image/png", 500_000, Some(800), Some(600)),
            UploadKind::Photo
        );
        assert_eq!(
            upload_kind("IMAGE/WEBP; charset=binary", 100, Some(512), Some(512)),
            UploadKind::Photo
        );
        assert_eq!(
            upload_kind("image/jpeg", MAX_PHOTO_BYTES, Some(5000), Some(5000)),
            UploadKind::Photo
        );
        assert_eq!(
            upload_kind("image/jpeg", 1000, Some(4000), Some(200)),
            UploadKind::Photo
        );
    }

    #[test]
    fn everything_else_is_a_document() {
        let cases = [
            ("image/gif", 1000, Some(200), Some(200)),
            ("application/pdf", 1000, None, None),
            ("image/jpeg", MAX_PHOTO_BYTES + 1, Some(1000), Some(1000)),
            ("image/png", 1000, Some(5001), Some(5000)),
            ("image/png", 1000, Some(4001), Some(200)),
            ("image/png", 1000, Some(200), Some(4001)),
            ("image/png", 1000, None, Some(100)),
            ("image/png", 1000, Some(100), None),
            ("image/png", 1000, Some(0), Some(100)),
            ("image/png", 0, Some(100), Some(100)),
            ("image/svg+xml", 1000, Some(100), Some(100)),
            ("image/heic", 1000, Some(100), Some(100)),
            ("", 1000, Some(100), Some(100)),
        ];
        for (content_type, size, width, height) in cases {
            assert_eq!(
                upload_kind(content_type, size, width, height),
                UploadKind::Document,
                "{content_type} {size} {width:?}x{height:?}"
            );
        }
    }

    fn permanent(error: RequestError) -> (Option<String>, String) {
        match classify_error(&error) {
            ChannelError::Permanent { code, reason } => (code, reason),
            other => panic!("{error:?}: expected permanent, got {other:?}"),
        }
    }

    fn transient_of(error: RequestError) -> (String, Option<Duration>) {
        match classify_error(&error) {
            ChannelError::Transient {
                reason,
                retry_after,
            } => (reason, retry_after),
            other => panic!("{error:?}: expected transient, got {other:?}"),
        }
    }

    #[test]
    fn rate_limit_is_transient_with_wait() {
        let (reason, retry_after) =
            transient_of(RequestError::RetryAfter(Seconds::from_seconds(3)));
        assert_eq!(reason, "Telegram rate limit: retry after 3 s");
        assert_eq!(retry_after, Some(Duration::from_secs(3)));

        let (_, retry_after) =
            transient_of(RequestError::RetryAfter(Seconds::from_seconds(86_400)));
        assert_eq!(retry_after, Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn known_refusals_are_permanent() {
        assert_eq!(
            permanent(RequestError::Api(ApiError::BotBlocked)),
            (
                Some("403".into()),
                "Forbidden: bot was blocked by the user".into()
            )
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::ChatNotFound)),
            (Some("400".into()), "Bad Request: chat not found".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::UserDeactivated)),
            (Some("403".into()), "Forbidden: user is deactivated".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::BotKicked)),
            (
                Some("401".into()),
                "Unauthorized: bot was kicked from a chat".into()
            )
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::BotKickedFromSupergroup)).0,
            Some("403".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::InvalidToken)).0,
            Some("401".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::MessageIsTooLong)).0,
            Some("400".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::CantParseEntities(
                "Bad Request: can't parse entities: unexpected end tag at byte offset 12".into()
            ))),
            (
                Some("400".into()),
                "Bad Request: can't parse entities: unexpected end tag at byte offset 12".into()
            )
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::RequestEntityTooLarge)).0,
            Some("413".into())
        );
    }

    #[test]
    fn unknown_api_errors_use_telegrams_words() {
        assert_eq!(
            permanent(RequestError::Api(ApiError::Unknown(
                "Bad Request: chat not found".into()
            ))),
            (Some("400".into()), "Bad Request: chat not found".into())
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::Unknown(
                "Forbidden: bot can't initiate conversation with a user".into()
            ))),
            (
                Some("403".into()),
                "Forbidden: bot can't initiate conversation with a user".into()
            )
        );
        assert_eq!(
            permanent(RequestError::Api(ApiError::Unknown("Unauthorized".into()))).0,
            Some("401".into())
        );
    }

    #[test]
    fn server_trouble_is_transient() {
        for description in [
            "Internal Server Error",
            "Bad Gateway",
            "Gateway Timeout",
            "Too Many Requests",
            "Conflict: terminated by other getUpdates request",
            "Something new",
        ] {
            let (reason, retry_after) =
                transient_of(RequestError::Api(ApiError::Unknown(description.into())));
            assert_eq!(reason, description);
            assert_eq!(retry_after, None);
        }
        let (reason, retry_after) = transient_of(RequestError::Api(ApiError::Unknown(
            "Too Many Requests: retry after 17".into(),
        )));
        assert_eq!(reason, "Too Many Requests: retry after 17");
        assert_eq!(retry_after, Some(Duration::from_secs(17)));
        let (reason, _) = transient_of(RequestError::Api(ApiError::Unknown(String::new())));
        assert!(!reason.is_empty());
    }

    #[test]
    fn migrated_group_is_permanent_with_new_id() {
        let (code, reason) = permanent(RequestError::MigrateToChatId(ChatId(-1_001_234_567_890)));
        assert_eq!(code, Some("400".into()));
        assert!(
            reason.starts_with(
                "the group was upgraded to a supergroup (new chat id -1001234567890); "
            ),
            "{reason}"
        );
    }

    #[test]
    fn io_and_json_errors_are_transient() {
        let io_error = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer");
        let (reason, retry_after) = transient_of(RequestError::Io(Arc::new(io_error)));
        assert_eq!(
            reason,
            "I/O error while talking to Telegram: connection reset by peer"
        );
        assert_eq!(retry_after, None);

        let json_error = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        let (reason, _) = transient_of(RequestError::InvalidJson {
            source: Arc::new(json_error),
            raw: "<html>502 Bad Gateway</html>".into(),
        });
        assert!(
            reason.starts_with("Telegram sent a response that could not be read: "),
            "{reason}"
        );
        assert!(!reason.contains("<html>"), "{reason}");
    }

    #[tokio::test]
    async fn network_errors_are_transient_and_hide_the_token() {
        // Port 1 on loopback refuses at once; the URL has the shape of a real Bot API call.
        let url = format!("http://127.0.0.1:1/bot{TOKEN}/sendMessage");
        let error = reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .expect_err("nothing listens on port 1");
        assert!(error.to_string().contains(TOKEN), "test premise: {error}");
        // Built directly (not through teloxide's `From`, which hides the token itself) to prove
        // our own redaction.
        let (reason, retry_after) = transient_of(RequestError::Network(Arc::new(error)));
        assert!(reason.starts_with("could not reach Telegram: "), "{reason}");
        assert!(!reason.contains(TOKEN), "{reason}");
        assert!(
            !reason.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
            "{reason}"
        );
        assert!(reason.contains("http://127.0.0.1:1/…"), "{reason}");
        assert_eq!(retry_after, None);
    }

    #[test]
    fn redaction_removes_urls_and_tokens() {
        assert_eq!(
            redact_secrets(&format!(
                "error sending request for url (https://api.telegram.org/bot{TOKEN}/sendMessage)"
            )),
            "error sending request for url (https://api.telegram.org/…)"
        );
        assert_eq!(
            redact_secrets(&format!("token bot{TOKEN} leaked, and {TOKEN} too")),
            "token bot<redacted> leaked, and <redacted> too"
        );
        assert_eq!(
            redact_secrets("chat 123456789:1365 at 12:30, see http://[bad"),
            "chat 123456789:1365 at 12:30, see <url>"
        );
        assert_eq!(redact_secrets("Grüße 😀 ok"), "Grüße 😀 ok");
    }
}
