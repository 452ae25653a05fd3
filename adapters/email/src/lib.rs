//! Switchboard's email channel: the pure part.
//!
//! [`inbound::parse`] reads a raw mail (RFC 5322 bytes, as IMAP fetches them) into a
//! [`ParsedMail`]: addresses, threading facts (plus-address tokens, In-Reply-To, References,
//! a `[#123]` subject token), the text to show (quoted history stripped by [`quotes`]) next
//! to the full text, sanitized HTML ([`html`]), attachments with their bytes, notes for
//! what could not be read, and whether a person, a machine or a bounce sent it.
//! [`outbound::render_reply`] builds a reply's MIME with lettre's builder, under a
//! Message-ID the hub signs ([`outbound::message_id`]) and can later recognise
//! ([`outbound::verify_message_id`]).
//!
//! Nothing here touches the network or the database: the IMAP poller and SMTP sender wrap
//! these functions, and the hub decides what the facts mean for its conversations.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel;
mod classify;
pub mod html;
pub mod imap;
pub mod inbound;
pub mod outbound;
pub mod quotes;
pub mod smtp;

#[cfg(test)]
mod fixture_tests;

use switchboard_channel::Capabilities;

pub use inbound::{
    Attachment, Classification, Mailbox, ParseOptions, ParsedMail, PlusToken, parse,
};
pub use outbound::{
    MailLink, OutgoingAttachment, RenderError, ReplyMail, message_id, plus_address, render_reply,
    verify_message_id,
};

/// What email offers the inbox: files both ways (sent as bytes, since mail carries them
/// inline), refused files noted instead of refusing the mail. No receipts, typing, edits,
/// reactions or reply window: mail has none of them.
pub const CAPABILITIES: Capabilities = Capabilities {
    receipts: false,
    typing: false,
    edits: false,
    media: true,
    uploads_files: true,
    notes_refused_files: true,
    reply_window_secs: None,
    templates: false,
    reactions: false,
    marks_read: false,
    threads_by_reference: true,
    surveys: switchboard_channel::SurveyDelivery::Message,
};

/// How a connection to a mail server is protected (IMAP and SMTP alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Implicit,
    /// Plain connect, then `STARTTLS` (IMAP 143, SMTP 587); refused if the server lacks it.
    StartTls,
    /// No TLS: only for a server on the same host or a test server.
    None,
}

impl Tls {
    /// Reads the stored spelling: `implicit`, `starttls` or `none`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "implicit" => Some(Self::Implicit),
            "starttls" => Some(Self::StartTls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "implicit",
            Self::StartTls => "starttls",
            Self::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tls;

    #[test]
    fn tls_modes_read_their_stored_spelling() {
        for mode in [Tls::Implicit, Tls::StartTls, Tls::None] {
            assert_eq!(Tls::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Tls::parse("ssl"), None);
    }
}
