//! Raw MIME in, a normalized mail out: [`parse`] reads whatever arrives, never fails and
//! never panics.
//!
//! Mail is the least disciplined of the channels: broken boundaries, missing headers,
//! undeclared or invented charsets, Outlook's winmail.dat, clients that send only HTML.
//! None of that may cost the customer's message, so the rules here are:
//!
//! - Whatever can be read is kept; whatever cannot is described in a visible note
//!   ([`ParsedMail::notes`]) instead of being dropped silently.
//! - Every header is optional. A mail without a Message-ID gets a synthetic one made from
//!   its headers, so a redelivered copy still dedupes; a mail without a readable sender has
//!   no [`ParsedMail::contact`] (the hub keeps such mail for admins).
//! - Threading facts are reported, not decided: plus-address tokens, In-Reply-To and
//!   References, a `[#123]` subject token. The hub knows which of them are its own.
//! - Auto-replies, loops and bounces are classified here ([`Classification`]) so the hub
//!   never opens a customer conversation for a machine's mail.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Address, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_channel::ContactProfile;

use crate::classify;
use crate::html;
use crate::quotes;

/// The domain of synthetic Message-IDs, given to mail that arrived without one.
pub const SYNTHETIC_ID_DOMAIN: &str = "synthetic.switchboard";

/// The note for Outlook's TNEF container, whose contents cannot be shown.
pub const WINMAIL_NOTE: &str =
    "[A winmail.dat (Outlook TNEF) attachment arrived; its contents cannot be shown]";

/// The note when the mail could not be read as MIME at all (kept as text).
pub const UNREADABLE_NOTE: &str =
    "[This mail could not be read as MIME; it is shown as plain text as it arrived]";

/// The note when the headers could be read but the MIME structure could not.
pub const STRUCTURE_NOTE: &str =
    "[The parts of this mail could not be told apart; its body is shown as it arrived]";

/// The note when a part's transfer encoding was broken (bad base64, a part cut off).
pub const DAMAGED_PART_NOTE: &str =
    "[A part of this mail is damaged (broken encoding or cut off); it is shown as it arrived]";

/// The note when a multipart body never closes: the mail was probably truncated.
pub const TRUNCATED_NOTE: &str = "[This mail ends before its last part closes; it may be cut off]";

/// What the hub tells [`parse`] about itself, so mail from its own addresses (a loop) is
/// recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The inbox's own addresses (its mailbox, its reply address); compared ignoring case.
    pub own_addresses: Vec<String>,
    /// The domain of the Message-IDs the hub generates: mail carrying one of ours as its
    /// own Message-ID is our mail come back.
    pub own_message_id_domain: Option<String>,
}

/// One mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mailbox {
    /// The address, lower-cased: the contact's identity on this channel.
    pub address: String,
    /// The display name, as the sender's client wrote it.
    #[serde(default)]
    pub name: Option<String>,
}

/// A plus-address found in To, Cc or Delivered-To: `local+token@domain`. The hub gives its
/// reply address a token per conversation; which domain is its own is for the hub to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlusToken {
    /// What follows the first `+` of the local part, lower-cased like the whole address
    /// (servers on the way may lower-case it, so tokens must not depend on case).
    pub token: String,
    /// The local part before the `+`.
    pub local: String,
    /// The domain, lower-cased.
    pub domain: String,
}

/// A file that came with the mail, its bytes included (mail carries its files inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the sender gave, without any directory part.
    pub file_name: Option<String>,
    /// `type/subtype`, lower-cased, as declared (the hub re-checks it).
    pub content_type: String,
    /// The `Content-ID` without angle brackets, which `cid:` URLs in the HTML refer to.
    pub content_id: Option<String>,
    /// Meant to be shown in the body (an inline image) rather than as a download.
    pub inline: bool,
    /// The decoded content.
    pub data: Vec<u8>,
}

/// What kind of mail this is, so machines' mail never becomes a customer conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classification {
    /// Written by a person.
    Normal,
    /// Sent by a machine: an out-of-office reply, bulk or list mail, a delivery report that
    /// is not a failure, or our own mail come back (a loop).
    AutoReply {
        /// Which header or rule said so, for the log and the agent.
        reason: String,
    },
    /// A mail we sent could not be delivered.
    Bounce {
        /// The Message-ID of our mail that failed, without angle brackets, when the report
        /// names it.
        original_message_id: Option<String>,
        /// The address that failed, lower-cased.
        recipient: Option<String>,
        /// Why, in the reporting server's words.
        reason: String,
    },
}

/// A mail, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// The Message-ID without angle brackets; synthetic when the mail had none.
    pub message_id: String,
    /// Whether [`message_id`](Self::message_id) was made up from the headers' hash.
    pub message_id_synthetic: bool,
    /// From.
    pub from: Vec<Mailbox>,
    /// Reply-To.
    pub reply_to: Vec<Mailbox>,
    /// To.
    pub to: Vec<Mailbox>,
    /// Cc, kept so replies can include everyone.
    pub cc: Vec<Mailbox>,
    /// Delivered-To, each hop's (where the mail server records which mailbox received it).
    pub delivered_to: Vec<Mailbox>,
    /// Who the conversation is with: the first Reply-To, else the first From.
    pub contact: Option<Mailbox>,
    /// The subject, encoded-words decoded; empty when missing.
    pub subject: String,
    /// The Date header, when readable.
    pub date: Option<DateTime<Utc>>,
    /// In-Reply-To ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// Plus-addresses in To, Cc and Delivered-To, each once.
    pub plus_tokens: Vec<PlusToken>,
    /// The number in a `[#123]` subject token, the last resort of threading.
    pub subject_number: Option<u64>,
    /// Whether the subject marks a forward (`Fwd:`, `WG:`…): then the quoted part is the
    /// message and is not stripped.
    pub forwarded: bool,
    /// The text to show: the plain-text body (else the HTML read as text), without quoted
    /// history, signature or mobile footer.
    pub text: String,
    /// The whole text body, quotes included: the agent's "show everything".
    pub full_text: String,
    /// The HTML body, sanitized, when the mail had one.
    pub html: Option<String>,
    /// Remote images the sanitized HTML does not load, in document order.
    pub remote_images: Vec<String>,
    /// Files, inline images included.
    pub attachments: Vec<Attachment>,
    /// What could not be read or shown, for the agent to see.
    pub notes: Vec<String>,
    /// Person, machine or bounce.
    pub classification: Classification,
}

impl ParsedMail {
    /// The contact in the channel contract's terms: the address is both the identifier and
    /// the email, the display name comes along.
    pub fn contact_profile(&self) -> Option<ContactProfile> {
        let contact = self.contact.as_ref()?;
        let mut profile = ContactProfile::new(contact.address.clone());
        profile.email = Some(contact.address.clone());
        profile.name = contact.name.clone();
        Some(profile)
    }

    /// The text with the notes below it: what the inbox shows as the message.
    pub fn content(&self) -> String {
        let mut content = self.text.clone();
        for note in &self.notes {
            if !content.is_empty() {
                content.push_str("\n\n");
            }
            content.push_str(note);
        }
        content
    }
}

/// Reads a raw mail (RFC 5322 bytes, as IMAP or a pipe delivers it). Never fails: what
/// cannot be read becomes a note.
pub fn parse(raw: &[u8], options: &ParseOptions) -> ParsedMail {
    // mail-parser and html5ever are written not to panic, but they meet hostile input here;
    // a panic in either must not take the mail (or the polling loop) with it.
    match catch_unwind(AssertUnwindSafe(|| parse_inner(raw, options))) {
        Ok(mail) => mail,
        Err(_) => unreadable(raw),
    }
}

/// [`parse`] without its outer panic guard, so tests see a panic of this crate's own code
/// instead of the fallback.
pub(crate) fn parse_inner(raw: &[u8], options: &ParseOptions) -> ParsedMail {
    let parser = MessageParser::default();
    // mail-parser has `debug_assert!`s on some corrupt structures (debug builds panic where
    // release builds recover); then only the headers are read and the body kept as text.
    let (message, structure_readable) = match catch_unwind(AssertUnwindSafe(|| parser.parse(raw))) {
        Ok(message) => (message, true),
        Err(_) => (
            catch_unwind(AssertUnwindSafe(|| parser.parse_headers(raw)))
                .ok()
                .flatten(),
            false,
        ),
    };
    let Some(message) = message.filter(|message| !message.parts.is_empty()) else {
        return unreadable(raw);
    };
    let mut notes = Notes::default();

    let from = mailboxes(message.from());
    let reply_to = mailboxes(message.reply_to());
    let to = mailboxes(message.to());
    let cc = mailboxes(message.cc());
    let delivered_to: Vec<Mailbox> = header_values(&message, "Delivered-To")
        .iter()
        .filter_map(|value| bare_address(value))
        .map(|address| Mailbox {
            address,
            name: None,
        })
        .collect();
    let contact = reply_to.first().or(from.first()).cloned();
    if from.is_empty() {
        match header_values(&message, "From").first() {
            Some(raw_from) => notes.push(format!(
                "[The sender's address could not be read: \u{201c}{}\u{201d}]",
                shorten(raw_from, 200)
            )),
            None => notes.push("[This mail has no sender (From header)]".to_owned()),
        }
    }

    let (message_id, message_id_synthetic) = match message
        .message_id()
        .map(strip_brackets)
        .filter(|id| !id.is_empty())
    {
        Some(id) => (id, false),
        None => (synthetic_message_id(raw), true),
    };
    let subject = message
        .subject()
        .map(|subject| subject.trim().to_owned())
        .unwrap_or_default();
    let date = message
        .date()
        .filter(|date| date.is_valid())
        .and_then(|date| DateTime::<Utc>::from_timestamp(date.to_timestamp(), 0));
    let in_reply_to = ids(message.in_reply_to());
    let references = ids(message.references());

    let mut plus_tokens: Vec<PlusToken> = Vec::new();
    for mailbox in to.iter().chain(&cc).chain(&delivered_to) {
        if let Some(token) = plus_token(&mailbox.address)
            && !plus_tokens.contains(&token)
        {
            plus_tokens.push(token);
        }
    }
    let subject_number = subject_number(&subject);
    let forwarded = is_forward_subject(&subject);

    let (body, attachments) = if structure_readable {
        let body = read_body(&message, &mut notes);
        let attachments = read_attachments(&message, &mut notes);
        check_parts(&message, raw, &mut notes);
        (body, attachments)
    } else {
        notes.push(STRUCTURE_NOTE.to_owned());
        (raw_body(raw), Vec::new())
    };

    let text = if forwarded {
        quotes::strip_signature_only(&body.full_text)
    } else {
        quotes::strip(&body.full_text)
    };

    let facts = classify::Facts {
        message: &message,
        message_id: (!message_id_synthetic).then_some(message_id.as_str()),
        subject: &subject,
        from: &from,
        reply_to: &reply_to,
        full_text: &body.full_text,
        options,
    };
    let classification = classify::classify(&facts);

    ParsedMail {
        message_id,
        message_id_synthetic,
        from,
        reply_to,
        to,
        cc,
        delivered_to,
        contact,
        subject,
        date,
        in_reply_to,
        references,
        plus_tokens,
        subject_number,
        forwarded,
        text,
        full_text: body.full_text,
        html: body.html,
        remote_images: body.remote_images,
        attachments,
        notes: notes.into_vec(),
        classification,
    }
}

/// Notes, each once, in the order found.
#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn push(&mut self, note: String) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// A mail no MIME reading got anywhere with: its bytes as text, under a note.
fn unreadable(raw: &[u8]) -> ParsedMail {
    let body = header_end(raw).map_or(raw, |end| raw.get(end..).unwrap_or_default());
    let full_text = String::from_utf8_lossy(body).trim().to_owned();
    ParsedMail {
        message_id: synthetic_message_id(raw),
        message_id_synthetic: true,
        from: Vec::new(),
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        delivered_to: Vec::new(),
        contact: None,
        subject: String::new(),
        date: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        plus_tokens: Vec::new(),
        subject_number: None,
        forwarded: false,
        text: full_text.clone(),
        full_text,
        html: None,
        remote_images: Vec::new(),
        attachments: Vec::new(),
        notes: vec![UNREADABLE_NOTE.to_owned()],
        classification: Classification::Normal,
    }
}

/// The raw body as text, for a mail whose parts could not be read.
fn raw_body(raw: &[u8]) -> Body {
    let body = header_end(raw).map_or(&b""[..], |end| raw.get(end..).unwrap_or_default());
    Body {
        full_text: normalize_text(&String::from_utf8_lossy(body)),
        html: None,
        remote_images: Vec::new(),
    }
}

/// Where the header block ends (just after the empty line), if it does.
fn header_end(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|window| window == b"\r\n\r\n");
    let lf = raw.windows(2).position(|window| window == b"\n\n");
    match (crlf, lf) {
        (Some(crlf), Some(lf)) if lf < crlf => Some(lf + 2),
        (Some(crlf), _) => Some(crlf + 4),
        (None, Some(lf)) => Some(lf + 2),
        (None, None) => None,
    }
}

/// `<sha256 of the raw headers>@synthetic.switchboard`: the same mail delivered twice gets
/// the same id, so the hub stores it once.
fn synthetic_message_id(raw: &[u8]) -> String {
    let headers = header_end(raw).map_or(raw, |end| raw.get(..end).unwrap_or(raw));
    format!(
        "{}@{SYNTHETIC_ID_DOMAIN}",
        hex::encode(Sha256::digest(headers))
    )
}

/// Removes surrounding whitespace and angle brackets from a message id.
pub(crate) fn strip_brackets(id: &str) -> String {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    id.trim().to_owned()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        let id = strip_brackets(id);
        if !id.is_empty() && !list.contains(&id) {
            list.push(id);
        }
    };
    match value {
        mail_parser::HeaderValue::Text(id) => add(id),
        mail_parser::HeaderValue::TextList(ids) => ids.iter().for_each(|id| add(id)),
        _ => {}
    }
    list
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let mut list: Vec<Mailbox> = Vec::new();
    let Some(address) = address else {
        return list;
    };
    for addr in address.iter() {
        let Some(email) = addr.address.as_deref().and_then(clean_address) else {
            continue;
        };
        if list.iter().any(|known| known.address == email) {
            continue;
        }
        let name = addr
            .name
            .as_deref()
            .map(|name| name.trim().trim_matches('"').trim().to_owned())
            .filter(|name| !name.is_empty() && !name.eq_ignore_ascii_case(&email));
        list.push(Mailbox {
            address: email,
            name,
        });
    }
    list
}

/// A usable address: trimmed, lower-cased, with one `@` between non-empty parts and no
/// whitespace or brackets.
fn clean_address(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = address.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','));
    valid.then(|| address.to_lowercase())
}

/// The address in a raw header value such as `<a@b>` or `a@b` (Delivered-To, Final-Recipient).
pub(crate) fn bare_address(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => value.get(start + 1..end).unwrap_or(value),
        _ => value,
    };
    clean_address(inner)
}

/// The token of a plus-address, if `address` is one.
fn plus_token(address: &str) -> Option<PlusToken> {
    let (local, domain) = address.rsplit_once('@')?;
    let (base, token) = local.split_once('+')?;
    if base.is_empty() || token.is_empty() {
        return None;
    }
    Some(PlusToken {
        token: token.to_owned(),
        local: base.to_owned(),
        domain: domain.to_owned(),
    })
}

/// The number of the first `[#123]` in the subject.
fn subject_number(subject: &str) -> Option<u64> {
    let mut rest = subject;
    while let Some(start) = rest.find("[#") {
        let after = rest.get(start + 2..).unwrap_or_default();
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0
            && after
                .get(digits..)
                .is_some_and(|tail| tail.starts_with(']'))
            && let Some(Ok(number)) = after.get(..digits).map(str::parse::<u64>)
        {
            return Some(number);
        }
        rest = after;
    }
    None
}

/// Whether the subject marks a forward, behind any number of reply prefixes.
fn is_forward_subject(subject: &str) -> bool {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_lowercase();
        let Some(colon) = lower.find(':') else {
            return false;
        };
        let prefix = lower.get(..colon).unwrap_or_default().trim();
        // "Re[2]", "AW", "Fwd"…
        let word = prefix.split('[').next().unwrap_or_default().trim();
        match word {
            "fwd" | "fw" | "wg" | "tr" | "rv" | "enc" | "doorst" | "vs" => return true,
            "re" | "aw" | "sv" | "antw" | "r" | "ref" | "res" => {
                rest = rest.get(colon + 1..).unwrap_or_default().trim_start();
            }
            _ => return false,
        }
    }
}

/// The unfolded values of every root header called `name`, in order.
pub(crate) fn header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .headers_raw()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| unfold(value))
        .collect()
}

/// Joins a folded header value onto one line.
pub(crate) fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max).collect();
        short.push('…');
        short
    }
}

/// The text and HTML bodies.
struct Body {
    full_text: String,
    html: Option<String>,
    remote_images: Vec<String>,
}

fn read_body(message: &Message<'_>, notes: &mut Notes) -> Body {
    let mut texts: Vec<&str> = Vec::new();
    for id in &message.text_body {
        if let Some(part) = message.parts.get(*id as usize)
            && let PartType::Text(text) = &part.body
        {
            note_charset(part, notes);
            texts.push(text);
        }
    }
    let mut sanitized_parts: Vec<String> = Vec::new();
    let mut remote_images: Vec<String> = Vec::new();
    for id in &message.html_body {
        if let Some(part) = message.parts.get(*id as usize)
            && let PartType::Html(html) = &part.body
        {
            note_charset(part, notes);
            let sanitized = html::sanitize(html);
            for url in sanitized.remote_images {
                if !remote_images.contains(&url) {
                    remote_images.push(url);
                }
            }
            sanitized_parts.push(sanitized.html);
        }
    }
    let html = (!sanitized_parts.is_empty()).then(|| sanitized_parts.join("\n"));
    let full_text = if !texts.is_empty() {
        normalize_text(&texts.join("\n\n"))
    } else if let Some(html) = &html {
        html::to_text(html)
    } else {
        String::new()
    };
    Body {
        full_text,
        html,
        remote_images,
    }
}

/// Line endings as `\n`, trailing spaces kept only where they mean something (the `-- `
/// signature delimiter), no leading or trailing empty lines.
fn normalize_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.trim_matches('\n').trim_end().to_owned()
}

/// A note when a text part declared a charset nobody can decode.
fn note_charset(part: &MessagePart<'_>, notes: &mut Notes) {
    let charset = part
        .content_type()
        .and_then(|content_type| content_type.attribute("charset"))
        .map(str::trim)
        .filter(|charset| !charset.is_empty());
    if let Some(charset) = charset
        && charset_decoder(charset.as_bytes()).is_none()
        && !charset.eq_ignore_ascii_case("utf-8")
        && !charset.eq_ignore_ascii_case("utf8")
        && !charset.eq_ignore_ascii_case("us-ascii")
    {
        notes.push(format!(
            "[Part of this mail is in the unknown charset \u{201c}{}\u{201d}; it is shown as \
             well as it could be read]",
            shorten(charset, 40)
        ));
    }
}

fn read_attachments(message: &Message<'_>, notes: &mut Notes) -> Vec<Attachment> {
    let mut attachments = Vec::new();
    for id in &message.attachments {
        let Some(part) = message.parts.get(*id as usize) else {
            continue;
        };
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
            note_charset(part, notes);
        }
        let content_type = part
            .content_type()
            .map(|content_type| match content_type.subtype() {
                Some(subtype) => format!("{}/{}", content_type.ctype(), subtype),
                None => content_type.ctype().to_owned(),
            })
            .map(|content_type| content_type.trim().to_lowercase())
            .filter(|content_type| content_type.contains('/'))
            .unwrap_or_else(|| {
                match part.body {
                    PartType::Text(_) => "text/plain",
                    PartType::Html(_) => "text/html",
                    PartType::Message(_) => "message/rfc822",
                    _ => "application/octet-stream",
                }
                .to_owned()
            });
        let file_name = part.attachment_name().and_then(file_name);
        let content_id = part
            .content_id()
            .map(strip_brackets)
            .filter(|id| !id.is_empty());
        let disposition = part
            .content_disposition()
            .map(|disposition| disposition.ctype().to_ascii_lowercase());
        let inline = match disposition.as_deref() {
            Some("inline") => true,
            Some(_) => false,
            None => content_id.is_some(),
        };
        let winmail = matches!(
            content_type.as_str(),
            "application/ms-tnef" | "application/vnd.ms-tnef"
        ) || file_name
            .as_deref()
            .is_some_and(|name| name.eq_ignore_ascii_case("winmail.dat"));
        if winmail {
            notes.push(WINMAIL_NOTE.to_owned());
        }
        attachments.push(Attachment {
            file_name,
            content_type,
            content_id,
            inline,
            data: part.contents().to_vec(),
        });
    }
    attachments
}

/// The last path segment of a file name, without control characters: names come from
/// strangers and end up in downloads.
fn file_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

/// Notes for damaged parts and multiparts that never close.
fn check_parts(message: &Message<'_>, raw: &[u8], notes: &mut Notes) {
    for part in &message.parts {
        if part.is_encoding_problem {
            notes.push(DAMAGED_PART_NOTE.to_owned());
        }
        if matches!(part.body, PartType::Multipart(_))
            && let Some(boundary) = part
                .content_type()
                .and_then(|content_type| content_type.attribute("boundary"))
        {
            let mut closing = Vec::with_capacity(boundary.len() + 4);
            closing.extend_from_slice(b"--");
            closing.extend_from_slice(boundary.as_bytes());
            closing.extend_from_slice(b"--");
            if !raw
                .windows(closing.len())
                .any(|window| window == closing.as_slice())
            {
                notes.push(TRUNCATED_NOTE.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_numbers() {
        assert_eq!(subject_number("Re: Router [#42]"), Some(42));
        assert_eq!(subject_number("[#] [#x] [#7]"), Some(7));
        assert_eq!(subject_number("[#12"), None);
        assert_eq!(subject_number("[#99999999999999999999999]"), None);
        assert_eq!(subject_number("no token"), None);
    }

    #[test]
    fn forward_subjects() {
        assert!(is_forward_subject("Fwd: Invoice"));
        assert!(is_forward_subject("RE: WG: Rechnung"));
        assert!(is_forward_subject("TR: Facture"));
        assert!(!is_forward_subject("Re: Invoice"));
        assert!(!is_forward_subject("Question: forwarding?"));
    }

    #[test]
    fn plus_tokens() {
        assert_eq!(
            plus_token("reply+abc123@mail.acme.example"),
            Some(PlusToken {
                token: "abc123".to_owned(),
                local: "reply".to_owned(),
                domain: "mail.acme.example".to_owned()
            })
        );
        assert_eq!(plus_token("reply@acme.example"), None);
        assert_eq!(plus_token("+x@acme.example"), None);
        assert_eq!(plus_token("reply+@acme.example"), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            bare_address(" <Jane@Example.COM> "),
            Some("jane@example.com".into())
        );
        assert_eq!(
            bare_address("jane@example.com"),
            Some("jane@example.com".into())
        );
        assert_eq!(bare_address("not an address"), None);
        assert_eq!(bare_address("a b@c"), None);
        assert_eq!(clean_address("@example.com"), None);
    }

    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            file_name("C:\\Users\\x\\report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(file_name(".."), None);
        assert_eq!(file_name("a\u{0}b.txt").as_deref(), Some("ab.txt"));
    }

    #[test]
    fn empty_and_garbage_input_still_parse() {
        for raw in [
            &b""[..],
            b"\n",
            b"\r\n\r\n",
            b"garbage without headers",
            b"\xff\xfe\x00",
        ] {
            let mail = parse_inner(raw, &ParseOptions::default());
            assert!(mail.message_id.ends_with(SYNTHETIC_ID_DOMAIN));
            assert!(mail.message_id_synthetic);
        }
    }
}
