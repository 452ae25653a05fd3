//! Replies out: [`render_reply`] builds the MIME of an agent's (or an automatic) reply with
//! lettre's builder, and [`message_id`] / [`verify_message_id`] sign and check the hub's
//! Message-IDs.
//!
//! The Message-ID carries the hub's message id and an HMAC over it: when a customer answers,
//! their client puts our id in In-Reply-To and References, and the hub can tell that it
//! really is one of ours before threading on it, so a forged header cannot attach a mail to
//! someone else's conversation. No network here; the SMTP client sends the bytes.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use sha2::Sha256;

use crate::html::escape;
use crate::inbound::{Mailbox, strip_brackets};

/// Separates the id from its signature in our Message-IDs' local part; not a hex digit.
const SIGNATURE_SEPARATOR: char = '.';

/// Bytes of HMAC-SHA256 kept in a Message-ID: 128 bits, beyond guessing, short enough to
/// keep ids readable.
const SIGNATURE_BYTES: usize = 16;

/// How many ids a References header keeps: the first (the thread's root) and the latest
/// ones, as RFC 5322 suggests for long threads.
const MAX_REFERENCES: usize = 20;

/// Binds the signature to its use, so the key's other HMACs can never pass for one.
const SIGNATURE_CONTEXT: &[u8] = b"switchboard email message-id v1\0";

/// A file to send with the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttachment {
    /// The name the customer sees.
    pub file_name: String,
    /// `type/subtype`; anything unreadable is sent as `application/octet-stream`.
    pub content_type: String,
    /// The content.
    pub data: Vec<u8>,
}

/// A link offered as a button under the text (a satisfaction survey's answers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailLink {
    /// What the button says.
    pub label: String,
    /// Where it goes (absolute http or https).
    pub url: String,
}

/// Everything a reply needs; the hub fills it from the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyMail {
    /// The inbox's address and display name.
    pub from: Mailbox,
    /// The customer (and whoever else the agent answers).
    pub to: Vec<Mailbox>,
    /// Copies, usually the customer's Cc.
    pub cc: Vec<Mailbox>,
    /// Where answers go: the conversation's plus-address (see [`plus_address`]), so the
    /// customer's answer threads even when their client drops In-Reply-To.
    pub reply_to: Option<Mailbox>,
    /// The conversation's subject; `Re: ` is added for replies unless already there.
    pub subject: String,
    /// A `[#number]` token appended to the subject (unless present), the threading of last
    /// resort for clients that keep neither headers nor addresses.
    pub subject_number: Option<u64>,
    /// The reply's text; the HTML part is made from it.
    pub text: String,
    /// The Message-ID of the mail answered (with or without angle brackets).
    pub in_reply_to: Option<String>,
    /// That mail's References, oldest first; the answered id is appended.
    pub references: Vec<String>,
    /// This mail's Message-ID, from [`message_id`].
    pub message_id: String,
    /// Files to attach.
    pub attachments: Vec<OutgoingAttachment>,
    /// Sent by the hub on its own (an acknowledgement, an auto-close notice): marked
    /// `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All`, so the customer's
    /// out-of-office does not answer it and start a loop.
    pub automatic: bool,
    /// The Date header; `None` for now.
    pub date: Option<DateTime<Utc>>,
    /// Buttons under the text (a survey's answers): links in the HTML part, one line each
    /// (label and URL) in the plain text.
    pub links: Vec<MailLink>,
}

/// Why a reply could not be rendered; each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An address is not one (the inbox's settings or the contact's address).
    #[error("{field}: `{address}` is not a valid email address: {reason}")]
    InvalidAddress {
        /// Which field: `from`, `to`, `cc` or `reply_to`.
        field: &'static str,
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No recipient in To or Cc.
    #[error("the reply has no recipient")]
    NoRecipient,
    /// The Message-ID is not `<local@domain>`.
    #[error("message_id `{0}` is not a Message-ID (`<local@domain>`)")]
    InvalidMessageId(String),
    /// lettre refused the message.
    #[error("the reply could not be built: {0}")]
    Build(String),
}

/// The plus-address `local+token@domain` a conversation's answers come back to.
pub fn plus_address(local: &str, token: &str, domain: &str) -> String {
    format!("{local}+{token}@{domain}")
}

fn signature(key: &[u8], hub_message_id: &str, domain: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(SIGNATURE_CONTEXT);
    mac.update(domain.trim().to_ascii_lowercase().as_bytes());
    mac.update(b"\0");
    mac.update(hub_message_id.as_bytes());
    Some(mac)
}

/// Our Message-ID for the hub's message `hub_message_id`: `<{hex id}.{hex signature}@{domain}>`.
/// Hex keeps every id valid in a Message-ID whatever characters it has, and survives
/// servers that change case.
pub fn message_id(key: &[u8], hub_message_id: &str, domain: &str) -> String {
    let tag = signature(key, hub_message_id, domain)
        .map(|mac| mac.finalize().into_bytes())
        .map(|bytes| hex::encode(bytes.get(..SIGNATURE_BYTES).unwrap_or_default()))
        .unwrap_or_default();
    format!(
        "<{}{SIGNATURE_SEPARATOR}{tag}@{}>",
        hex::encode(hub_message_id.as_bytes()),
        domain.trim().to_ascii_lowercase()
    )
}

/// The hub's message id inside `id` (with or without angle brackets), when `id` is a
/// Message-ID we made for `domain` with `key`; `None` for anyone else's.
pub fn verify_message_id(key: &[u8], id: &str, domain: &str) -> Option<String> {
    let id = strip_brackets(id);
    let (local, id_domain) = id.rsplit_once('@')?;
    if !id_domain.eq_ignore_ascii_case(domain.trim()) {
        return None;
    }
    let (encoded, tag) = local.rsplit_once(SIGNATURE_SEPARATOR)?;
    let hub_message_id = String::from_utf8(hex::decode(encoded).ok()?).ok()?;
    let tag = hex::decode(tag).ok()?;
    if tag.len() != SIGNATURE_BYTES {
        return None;
    }
    signature(key, &hub_message_id, domain)?
        .verify_truncated_left(&tag)
        .ok()?;
    Some(hub_message_id)
}

/// `Re: subject`, unless the subject already starts with a reply prefix.
pub fn reply_subject(subject: &str) -> String {
    let subject = one_line(subject);
    let lower = subject.to_lowercase();
    let already = ["re:", "re :", "aw:", "sv:", "antw:", "r:", "réf:", "ref:"]
        .iter()
        .any(|prefix| lower.starts_with(prefix))
        || (lower.starts_with("re[") && lower.contains("]:"));
    if already {
        subject
    } else if subject.is_empty() {
        "Re:".to_owned()
    } else {
        format!("Re: {subject}")
    }
}

/// A header value on one line: CR and LF become spaces (lettre would encode them; a
/// subject with a line break is a mistake, not content).
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Message-ID as a header wants it, `<local@domain>`; `None` for anything that would not
/// survive in a header (spaces, brackets inside, no `@`).
fn header_id(id: &str) -> Option<String> {
    let id = strip_brackets(id);
    let (local, domain) = id.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    valid.then(|| format!("<{id}>"))
}

fn lettre_mailbox(field: &'static str, mailbox: &Mailbox) -> Result<LettreMailbox, RenderError> {
    let address: Address =
        mailbox
            .address
            .trim()
            .parse()
            .map_err(
                |error: lettre::address::AddressError| RenderError::InvalidAddress {
                    field,
                    address: mailbox.address.clone(),
                    reason: error.to_string(),
                },
            )?;
    let name = mailbox
        .name
        .as_deref()
        .map(one_line)
        .filter(|name| !name.is_empty());
    Ok(LettreMailbox::new(name, address))
}

/// The HTML part made from the text: escaped, empty lines as paragraphs, line breaks kept.
pub fn text_to_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut html = String::from("<!DOCTYPE html>\n<html><body>\n");
    for paragraph in text.split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if paragraph.trim().is_empty() {
            continue;
        }
        html.push_str("<p>");
        let lines: Vec<String> = paragraph.lines().map(escape).collect();
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// The plain and HTML bodies of `text` followed by `links`: a line per link in the plain
/// text (every client shows a bare URL), a row of buttons in the HTML.
fn with_links(text: &str, links: &[MailLink]) -> (String, String) {
    let html = text_to_html(text);
    if links.is_empty() {
        return (text.to_owned(), html);
    }
    let mut plain = text.trim_end().to_owned();
    plain.push_str("\n\n");
    let mut buttons = String::from("<p>");
    for link in links {
        plain.push_str(&format!("{}: {}\n", link.label, link.url));
        buttons.push_str(&format!(
            "<a href=\"{}\" style=\"display:inline-block;margin:4px 6px 4px 0;padding:8px 14px;\
             border:1px solid #c7ccd6;border-radius:6px;color:#1f2937;text-decoration:none\">{}</a>\n",
            crate::html::escape(&link.url),
            crate::html::escape(&link.label)
        ));
    }
    buttons.push_str("</p>\n</body></html>\n");
    let html = match html.strip_suffix("</body></html>\n") {
        Some(head) => format!("{head}{buttons}"),
        None => html,
    };
    (plain, html)
}

/// Renders the reply as a complete RFC 5322 message, ready for SMTP.
pub fn render_reply(reply: &ReplyMail) -> Result<Vec<u8>, RenderError> {
    if reply.to.is_empty() && reply.cc.is_empty() {
        return Err(RenderError::NoRecipient);
    }
    let message_id = header_id(&reply.message_id)
        .ok_or_else(|| RenderError::InvalidMessageId(reply.message_id.clone()))?;

    let mut builder = Message::builder().from(lettre_mailbox("from", &reply.from)?);
    for mailbox in &reply.to {
        builder = builder.to(lettre_mailbox("to", mailbox)?);
    }
    for mailbox in &reply.cc {
        builder = builder.cc(lettre_mailbox("cc", mailbox)?);
    }
    if let Some(reply_to) = &reply.reply_to {
        builder = builder.reply_to(lettre_mailbox("reply_to", reply_to)?);
    }

    let in_reply_to = reply.in_reply_to.as_deref().and_then(header_id);
    let mut subject = if in_reply_to.is_some() {
        reply_subject(&reply.subject)
    } else {
        one_line(&reply.subject)
    };
    if let Some(number) = reply.subject_number {
        let token = format!("[#{number}]");
        if !subject.contains(&token) {
            if !subject.is_empty() {
                subject.push(' ');
            }
            subject.push_str(&token);
        }
    }
    builder = builder.subject(subject).message_id(Some(message_id));

    let mut references: Vec<String> = Vec::new();
    for id in reply.references.iter().filter_map(|id| header_id(id)) {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    if let Some(in_reply_to) = &in_reply_to {
        references.retain(|id| id != in_reply_to);
        references.push(in_reply_to.clone());
        builder = builder.in_reply_to(in_reply_to.clone());
    }
    if references.len() > MAX_REFERENCES {
        let first = references[0].clone();
        let recent = references.split_off(references.len() - (MAX_REFERENCES - 1));
        references = std::iter::once(first).chain(recent).collect();
    }
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }

    if reply.automatic {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".to_owned(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".to_owned(),
            ));
    }
    builder = match reply.date {
        Some(date) => builder.date(SystemTime::from(date)),
        None => builder.date_now(),
    };

    let (text, html) = with_links(&reply.text, &reply.links);
    let body = MultiPart::alternative_plain_html(text, html);
    let message = if reply.attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for attachment in &reply.attachments {
            mixed = mixed.singlepart(attachment_part(attachment));
        }
        builder.multipart(mixed)
    }
    .map_err(|error| RenderError::Build(error.to_string()))?;
    Ok(message.formatted())
}

fn attachment_part(attachment: &OutgoingAttachment) -> SinglePart {
    let content_type = ContentType::parse(attachment.content_type.trim())
        .or_else(|_| ContentType::parse("application/octet-stream"))
        .unwrap_or(ContentType::TEXT_PLAIN);
    let name = one_line(&attachment.file_name);
    let name = if name.is_empty() {
        "attachment".to_owned()
    } else {
        name
    };
    Attachment::new(name).body(attachment.data.clone(), content_type)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::inbound::{ParseOptions, parse_inner};

    const KEY: &[u8] = b"hub signing key for tests";

    fn mailbox(address: &str, name: Option<&str>) -> Mailbox {
        Mailbox {
            address: address.to_owned(),
            name: name.map(str::to_owned),
        }
    }

    fn reply() -> ReplyMail {
        ReplyMail {
            from: mailbox("support@acme.example", Some("Acme Support")),
            to: vec![mailbox("jane@example.com", Some("Jane Müller"))],
            cc: vec![mailbox("boss@example.com", None)],
            reply_to: Some(mailbox(
                &plus_address("support", "c0ffee", "reply.acme.example"),
                Some("Acme Support"),
            )),
            subject: "Router keeps rebooting".to_owned(),
            subject_number: Some(42),
            text: "Hi Jane,\n\nplease try <this> & that.\nThanks".to_owned(),
            in_reply_to: Some("<CAF=abc@mail.gmail.com>".to_owned()),
            references: vec![
                "root@example.com".to_owned(),
                "<CAF=abc@mail.gmail.com>".to_owned(),
            ],
            message_id: message_id(KEY, "msg-123", "acme.example"),
            attachments: vec![OutgoingAttachment {
                file_name: "guide.pdf".to_owned(),
                content_type: "application/pdf".to_owned(),
                data: b"%PDF-1.4 fake".to_vec(),
            }],
            automatic: false,
            date: Utc.with_ymd_and_hms(2024, 3, 5, 9, 41, 0).single(),
            links: Vec::new(),
        }
    }

    #[test]
    fn links_follow_the_text_as_lines_and_buttons() {
        let links = [
            MailLink {
                label: "😀 Very satisfied".into(),
                url: "https://hub.example/csat/7.ab?rating=5".into(),
            },
            MailLink {
                label: "<b>".into(),
                url: "https://hub.example/csat/7.ab?rating=1&x=\"".into(),
            },
        ];
        let (plain, html) = with_links("How did we do?\n", &links);
        assert_eq!(
            plain,
            "How did we do?\n\n😀 Very satisfied: https://hub.example/csat/7.ab?rating=5\n\
             <b>: https://hub.example/csat/7.ab?rating=1&x=\"\n"
        );
        assert!(html.contains("<p>How did we do?</p>"), "{html}");
        assert!(
            html.contains("<a href=\"https://hub.example/csat/7.ab?rating=5\" style="),
            "{html}"
        );
        assert!(html.contains(">😀 Very satisfied</a>"), "{html}");
        assert!(
            html.contains("href=\"https://hub.example/csat/7.ab?rating=1&amp;x=&quot;\""),
            "{html}"
        );
        assert!(html.contains(">&lt;b&gt;</a>"), "{html}");
        assert!(html.ends_with("</p>\n</body></html>\n"), "{html}");
        // Without links, the bodies are the text's own.
        assert_eq!(with_links("Hi", &[]), ("Hi".to_owned(), text_to_html("Hi")));
        let mut mail = reply();
        mail.links = links.to_vec();
        let raw = render_reply(&mail).expect("renders");
        let parsed = parse_inner(&raw, &ParseOptions::default());
        assert!(
            parsed
                .full_text
                .contains("😀 Very satisfied: https://hub.example/csat/7.ab?rating=5"),
            "{}",
            parsed.full_text
        );
    }

    #[test]
    fn message_ids_round_trip_and_refuse_forgeries() {
        let id = message_id(KEY, "msg-123", "Acme.Example");
        assert!(
            id.starts_with('<') && id.ends_with("@acme.example>"),
            "{id}"
        );
        assert_eq!(
            verify_message_id(KEY, &id, "acme.example").as_deref(),
            Some("msg-123")
        );
        let bare = id.trim_matches(['<', '>']);
        assert_eq!(
            verify_message_id(KEY, bare, "acme.example").as_deref(),
            Some("msg-123")
        );
        assert_eq!(
            verify_message_id(KEY, &id.to_uppercase(), "ACME.EXAMPLE").as_deref(),
            Some("msg-123")
        );
        assert_eq!(verify_message_id(b"other key", &id, "acme.example"), None);
        assert_eq!(verify_message_id(KEY, &id, "evil.example"), None);
        // Someone else's message id re-signed with our domain but a made-up signature.
        let forged = format!(
            "<{}.{}@acme.example>",
            hex::encode("msg-999"),
            "00".repeat(16)
        );
        assert_eq!(verify_message_id(KEY, &forged, "acme.example"), None);
        for garbage in [
            "",
            "<>",
            "no-at-sign",
            "<x@acme.example>",
            "<zz.zz@acme.example>",
        ] {
            assert_eq!(
                verify_message_id(KEY, garbage, "acme.example"),
                None,
                "{garbage}"
            );
        }
        // Any hub id survives, whatever its characters.
        let odd = "id with spaces <and> brackets@ünïcode";
        let id = message_id(KEY, odd, "acme.example");
        assert_eq!(
            verify_message_id(KEY, &id, "acme.example").as_deref(),
            Some(odd)
        );
    }

    #[test]
    fn reply_subjects_are_not_doubled() {
        assert_eq!(reply_subject("Router"), "Re: Router");
        assert_eq!(reply_subject("Re: Router"), "Re: Router");
        assert_eq!(reply_subject("RE: Router"), "RE: Router");
        assert_eq!(reply_subject("AW: Router"), "AW: Router");
        assert_eq!(reply_subject("Re[2]: Router"), "Re[2]: Router");
        assert_eq!(reply_subject(""), "Re:");
        assert_eq!(reply_subject("Two\r\nlines"), "Re: Two lines");
    }

    #[test]
    fn rendered_reply_reads_back() {
        let raw = render_reply(&reply()).expect("renders");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Content-Type: multipart/mixed"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(!text.contains("Auto-Submitted"), "{text}");

        let mail = parse_inner(&raw, &ParseOptions::default());
        assert_eq!(mail.subject, "Re: Router keeps rebooting [#42]");
        assert_eq!(mail.subject_number, Some(42));
        assert_eq!(mail.from[0].address, "support@acme.example");
        assert_eq!(mail.from[0].name.as_deref(), Some("Acme Support"));
        assert_eq!(mail.to[0].name.as_deref(), Some("Jane Müller"));
        assert_eq!(mail.cc[0].address, "boss@example.com");
        assert_eq!(
            mail.reply_to[0].address,
            "support+c0ffee@reply.acme.example"
        );
        assert_eq!(mail.in_reply_to, vec!["CAF=abc@mail.gmail.com".to_owned()]);
        assert_eq!(
            mail.references,
            vec![
                "root@example.com".to_owned(),
                "CAF=abc@mail.gmail.com".to_owned()
            ]
        );
        assert_eq!(
            verify_message_id(KEY, &mail.message_id, "acme.example").as_deref(),
            Some("msg-123")
        );
        assert_eq!(
            mail.full_text,
            "Hi Jane,\n\nplease try <this> & that.\nThanks"
        );
        let html = mail.html.expect("html part");
        assert!(
            html.contains("please try &lt;this&gt; &amp; that.<br>"),
            "{html}"
        );
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].file_name.as_deref(), Some("guide.pdf"));
        assert_eq!(mail.attachments[0].content_type, "application/pdf");
        assert_eq!(mail.attachments[0].data, b"%PDF-1.4 fake");
        assert_eq!(
            mail.date.map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-03-05T09:41:00+00:00")
        );
        assert_eq!(mail.classification, crate::Classification::Normal);
    }

    #[test]
    fn automatic_mail_is_marked_and_classified_as_auto_reply() {
        let mut automatic = reply();
        automatic.automatic = true;
        automatic.attachments.clear();
        let raw = render_reply(&automatic).expect("renders");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
        assert!(text.contains("X-Auto-Response-Suppress: All\r\n"), "{text}");
        assert!(
            text.contains("Content-Type: multipart/alternative"),
            "{text}"
        );
        let mail = parse_inner(&raw, &ParseOptions::default());
        assert!(matches!(
            mail.classification,
            crate::Classification::AutoReply { .. }
        ));
    }

    #[test]
    fn long_reference_chains_keep_root_and_recent() {
        let mut long = reply();
        long.references = (0..30).map(|n| format!("<r{n}@example.com>")).collect();
        let raw = render_reply(&long).expect("renders");
        let mail = parse_inner(&raw, &ParseOptions::default());
        assert_eq!(mail.references.len(), MAX_REFERENCES);
        assert_eq!(mail.references[0], "r0@example.com");
        assert_eq!(
            mail.references.last().map(String::as_str),
            Some("CAF=abc@mail.gmail.com")
        );
    }

    #[test]
    fn a_new_mail_has_no_re_and_no_threading_headers() {
        let mut first = reply();
        first.in_reply_to = None;
        first.references.clear();
        first.subject_number = None;
        let raw = render_reply(&first).expect("renders");
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("Subject: Router keeps rebooting\r\n"),
            "{text}"
        );
        assert!(!text.contains("In-Reply-To"), "{text}");
        assert!(!text.contains("References"), "{text}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut bad = reply();
        bad.to = vec![mailbox("not an address", None)];
        assert!(matches!(
            render_reply(&bad),
            Err(RenderError::InvalidAddress { field: "to", .. })
        ));
        let mut bad = reply();
        bad.to.clear();
        bad.cc.clear();
        assert_eq!(render_reply(&bad), Err(RenderError::NoRecipient));
        let mut bad = reply();
        bad.message_id = "no brackets or at".to_owned();
        assert!(matches!(
            render_reply(&bad),
            Err(RenderError::InvalidMessageId(_))
        ));
        let mut odd = reply();
        odd.subject = "Injected\r\nBcc: victim@example.com".to_owned();
        odd.attachments[0].content_type = "not a type".to_owned();
        let raw = render_reply(&odd).expect("renders");
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("application/octet-stream"), "{text}");
    }
}
