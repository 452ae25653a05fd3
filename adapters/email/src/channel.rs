//! One mailbox as a channel of the hub: raw mail in (from the IMAP poller or the raw-MIME
//! webhook) as normalized events, agents' replies out over SMTP.
//!
//! Everything the hub's conversation logic needs is decided here from the mail alone and
//! the inbox's key: which conversation the mail claims (only keys we signed, or ids the hub
//! stored, are trusted), whether a machine wrote it, and which of our mails a bounce is
//! about. The hub never reads MIME.

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_channel::{
    AttachmentRef, BoxFuture, Capabilities, Channel, ChannelError, DeliveryState, InboundError,
    InboundEvent, InboundMessage, InboundRequest, MailDetails, OutboundMessage, PolledUpdate,
    Poller, ProviderError, SendReceipt, StatusUpdate, ThreadKeys,
};

use crate::imap::{ImapPoller, ImapSettings, MailError};
use crate::inbound::{Classification, Mailbox, ParseOptions, ParsedMail, parse};
use crate::outbound::{
    MailLink, OutgoingAttachment, ReplyMail, message_id, plus_address, render_reply,
    verify_message_id,
};
use crate::smtp::{SendError, SmtpSender, SmtpSettings};

/// The local part of reply addresses: `reply+<token>@<reply_domain>`.
const REPLY_LOCAL_PART: &str = "reply";

/// Binds conversation tokens to their use, so the key's other HMACs never pass for one.
const TOKEN_CONTEXT: &[u8] = b"switchboard email conversation token v1\0";

/// Hex digits of HMAC in a conversation token: 64 bits, beyond guessing by mail.
const TOKEN_SIGNATURE_HEX: usize = 16;

/// How a mailbox is set up, as the hub read it from the inbox.
#[derive(Clone)]
pub struct EmailSettings {
    /// The support address customers write to (`support@acme.example`), lower-cased.
    pub address: String,
    /// The name replies are sent under (`Acme Support`).
    pub display_name: Option<String>,
    /// The domain of plus-addressed reply addresses, when the inbox has one.
    pub reply_domain: Option<String>,
    /// The inbox's signing key for Message-IDs and reply addresses.
    pub signing_key: Vec<u8>,
    /// The inbox secret the raw-MIME webhook must present (bearer or basic password).
    pub webhook_secret: String,
    /// Where to poll, when the inbox reads a mailbox itself.
    pub imap: Option<ImapSettings>,
    /// Where replies go out.
    pub smtp: Option<SmtpSettings>,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("address", &self.address)
            .field("reply_domain", &self.reply_domain)
            .field("imap", &self.imap.is_some())
            .field("smtp", &self.smtp.is_some())
            .finish_non_exhaustive()
    }
}

/// A mailbox as the hub runs it.
pub struct EmailChannel {
    settings: EmailSettings,
    /// The domain our Message-IDs carry: the support address's.
    domain: String,
    poller: Option<ImapPoller>,
    sender: Option<Arc<SmtpSender>>,
}

impl EmailChannel {
    /// Builds the channel (no network: the hub checks the servers when an admin connects).
    pub fn new(settings: EmailSettings) -> Result<Self, String> {
        let domain = settings
            .address
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_ascii_lowercase())
            .filter(|domain| !domain.is_empty())
            .ok_or_else(|| format!("{} is not an email address", settings.address))?;
        if settings.signing_key.is_empty() {
            return Err("the inbox has no signing key".to_owned());
        }
        let sender = settings
            .smtp
            .clone()
            .map(SmtpSender::new)
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            poller: settings.imap.clone().map(ImapPoller::new),
            domain,
            sender,
            settings,
        })
    }

    /// Whether the inbox reads a mailbox itself (else mail arrives by the webhook only).
    pub fn polls(&self) -> bool {
        self.poller.is_some()
    }

    /// The events of one raw mail. Never fails: a mail without a sender is kept as
    /// unreadable (with its bytes, for replay), a bounce about a mail we never sent is
    /// skipped.
    pub fn events_of(&self, raw: &[u8]) -> Vec<InboundEvent> {
        let options = ParseOptions {
            own_addresses: self.own_addresses(),
            own_message_id_domain: None,
        };
        let mail = parse(raw, &options);
        vec![self.event_of(mail, raw)]
    }

    fn own_addresses(&self) -> Vec<String> {
        let mut own = vec![self.settings.address.clone()];
        if let Some(domain) = &self.settings.reply_domain {
            own.push(format!("{REPLY_LOCAL_PART}@{domain}"));
        }
        own
    }

    fn event_of(&self, mail: ParsedMail, raw: &[u8]) -> InboundEvent {
        let key = &self.settings.signing_key;
        // Our own mail come back (a forwarding loop) carries a Message-ID we signed.
        let ours = verify_message_id(key, &mail.message_id, &self.domain).is_some();
        let automatic = match &mail.classification {
            Classification::Bounce {
                original_message_id,
                recipient,
                reason,
            } => return self.bounce(original_message_id.as_deref(), recipient.as_deref(), reason),
            Classification::AutoReply { reason } => Some(reason.clone()),
            Classification::Normal if ours => Some("our own mail came back".to_owned()),
            Classification::Normal => None,
        };
        let Some(sender) = mail.contact_profile() else {
            return InboundEvent::Unreadable {
                reason: "the mail names no sender address (From, Reply-To)".to_owned(),
                raw: kept_raw(raw),
            };
        };
        let references: Vec<&String> = mail
            .in_reply_to
            .iter()
            .chain(mail.references.iter().rev())
            .collect();
        let mut thread = ThreadKeys {
            number: mail.subject_number.and_then(|n| i64::try_from(n).ok()),
            ..ThreadKeys::default()
        };
        for token in &mail.plus_tokens {
            let ours = self
                .settings
                .reply_domain
                .as_deref()
                .is_some_and(|domain| token.domain.eq_ignore_ascii_case(domain));
            if ours && let Some(id) = verify_conversation_token(key, &token.token) {
                push_new(&mut thread.conversation_ids, id);
            }
        }
        for id in &references {
            match verify_message_id(key, id, &self.domain) {
                Some(hub_id) => push_new(&mut thread.message_ids, hub_id),
                None => push_new(&mut thread.external_ids, (*id).clone()),
            }
        }
        let is_own = |mailbox: &&Mailbox| {
            self.own_addresses()
                .iter()
                .any(|own| own.eq_ignore_ascii_case(&mailbox.address))
                || mail.plus_tokens.iter().any(|t| {
                    format!("{}+{}@{}", t.local, t.token, t.domain)
                        .eq_ignore_ascii_case(&mailbox.address)
                })
        };
        let contact = sender.identifier.clone();
        let others = |list: &[Mailbox]| -> Vec<String> {
            list.iter()
                .filter(|m| !is_own(m) && !m.address.eq_ignore_ascii_case(&contact))
                .map(display)
                .collect()
        };
        let from = mail.contact.as_ref().map(display);
        let details = MailDetails {
            subject: mail.subject.clone(),
            from,
            to: others(&mail.to),
            cc: others(&mail.cc),
            full_text: (mail.full_text.trim() != mail.text.trim()).then(|| mail.full_text.clone()),
            html: mail.html.clone(),
            remote_images: mail.remote_images.clone(),
            content_ids: Vec::new(),
        };
        let attachments = mail
            .attachments
            .iter()
            .enumerate()
            .map(|(index, part)| AttachmentRef {
                source: format!("mime-part:{index}"),
                file_name: part.file_name.clone(),
                content_type: Some(part.content_type.clone()),
                byte_size: u64::try_from(part.data.len()).ok(),
                content_id: part.content_id.clone(),
                data: Some(bytes::Bytes::copy_from_slice(&part.data)),
            })
            .collect();
        let mut message = InboundMessage::new(mail.message_id.clone(), sender, mail.content());
        message.attachments = attachments;
        message.provider_at = mail.date;
        message.thread = Some(thread);
        message.automatic = automatic;
        message.mail = Some(details);
        InboundEvent::Message(message)
    }

    /// A bounce marks our mail failed; one about a mail we did not send is only logged.
    fn bounce(
        &self,
        original: Option<&str>,
        recipient: Option<&str>,
        reason: &str,
    ) -> InboundEvent {
        let ours = original
            .filter(|id| verify_message_id(&self.settings.signing_key, id, &self.domain).is_some());
        let Some(original) = ours else {
            return InboundEvent::Skipped {
                reason: format!(
                    "a delivery failure report about a mail this inbox did not send ({reason})"
                ),
            };
        };
        let reason = match recipient {
            Some(recipient) => format!("{recipient}: {reason}"),
            None => reason.to_owned(),
        };
        InboundEvent::Status(StatusUpdate {
            external_id: original.to_owned(),
            status: DeliveryState::Failed,
            error: Some(ProviderError {
                code: Some("bounce".to_owned()),
                reason: reason.clone(),
            }),
            at: None,
            raw: json!({ "bounce": reason }),
        })
    }

    /// Checks the webhook's bearer token or basic-auth password against the inbox secret.
    fn authorized(&self, request: &InboundRequest<'_>) -> bool {
        let Some(header) = request.header("authorization") else {
            return false;
        };
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        let presented = if scheme.eq_ignore_ascii_case("bearer") {
            value.trim().to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default();
            decoded
                .split_once(':')
                .map(|(_, password)| password.to_owned())
                .unwrap_or_default()
        } else {
            return false;
        };
        constant_time_eq(
            presented.as_bytes(),
            self.settings.webhook_secret.as_bytes(),
        )
    }

    fn reply_mail(&self, message: &OutboundMessage) -> Result<ReplyMail, ChannelError> {
        let refused = |reason: String| ChannelError::Permanent {
            code: Some("bad_address".to_owned()),
            reason,
        };
        let recipient = message
            .recipient
            .email
            .clone()
            .unwrap_or_else(|| message.recipient.identifier.clone());
        if !recipient.contains('@') {
            return Err(refused(format!("{recipient} is not an email address")));
        }
        let thread = message.mail_thread.clone().unwrap_or_default();
        let number = message.conversation_id.parse::<i64>().ok();
        let reply_to = match (&self.settings.reply_domain, number) {
            (Some(domain), Some(number)) => Some(Mailbox {
                address: plus_address(
                    REPLY_LOCAL_PART,
                    &conversation_token(&self.settings.signing_key, &number.to_string()),
                    domain,
                ),
                name: self.settings.display_name.clone(),
            }),
            _ => None,
        };
        let in_reply_to = message
            .reply_to_external_id
            .clone()
            .or_else(|| thread.references.last().cloned());
        let attachments = message
            .attachments
            .iter()
            .map(|file| {
                file.data
                    .as_ref()
                    .map(|data| OutgoingAttachment {
                        file_name: file.file_name.clone(),
                        content_type: file.content_type.clone(),
                        data: data.to_vec(),
                    })
                    .ok_or_else(|| ChannelError::Transient {
                        reason: format!("the content of {} was not loaded", file.file_name),
                        retry_after: None,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let recipient_mailbox = Mailbox {
            address: recipient.clone(),
            name: message.recipient.name.clone(),
        };
        Ok(ReplyMail {
            from: Mailbox {
                address: self.settings.address.clone(),
                name: self.settings.display_name.clone(),
            },
            to: vec![recipient_mailbox],
            // Everyone else on the thread; never the customer twice, never ourselves.
            cc: thread
                .cc
                .iter()
                .filter_map(|text| mailbox_of(text))
                .filter(|m| {
                    !m.address.eq_ignore_ascii_case(&recipient)
                        && !self
                            .own_addresses()
                            .iter()
                            .any(|own| own.eq_ignore_ascii_case(&m.address))
                        && !m.address.split_once('@').is_some_and(|(_, domain)| {
                            self.settings
                                .reply_domain
                                .as_deref()
                                .is_some_and(|reply| domain.eq_ignore_ascii_case(reply))
                        })
                })
                .collect(),
            reply_to,
            subject: thread
                .subject
                .clone()
                .unwrap_or_else(|| "Your conversation with us".to_owned()),
            subject_number: number.and_then(|n| u64::try_from(n).ok()),
            text: message.content.clone(),
            in_reply_to,
            references: thread.references.clone(),
            message_id: message_id(
                &self.settings.signing_key,
                &message.message_id,
                &self.domain,
            ),
            attachments,
            // The hub asked on its own: the customer's out-of-office must not answer it.
            automatic: message.survey.is_some(),
            date: None,
            links: survey_links(message.survey.as_ref()),
        })
    }
}

/// A survey's answers as buttons: the hub's signed rating page per answer.
fn survey_links(survey: Option<&switchboard_channel::SurveyRequest>) -> Vec<MailLink> {
    let Some(survey) = survey else {
        return Vec::new();
    };
    survey
        .links
        .iter()
        .filter_map(|link| {
            let choice = survey.scale.choice(link.rating)?;
            Some(MailLink {
                label: format!("{} {}", choice.emoji, choice.label),
                url: link.url.clone(),
            })
        })
        .collect()
}

/// Adds `value` unless it is there already, keeping the order keys were found in.
fn push_new(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// A mailbox as the inbox shows and stores it: `Name <address>` or the bare address.
fn display(mailbox: &Mailbox) -> String {
    match &mailbox.name {
        Some(name) if !name.trim().is_empty() => format!("{} <{}>", name.trim(), mailbox.address),
        _ => mailbox.address.clone(),
    }
}

/// Reads back what [`display`] wrote.
fn mailbox_of(text: &str) -> Option<Mailbox> {
    let text = text.trim();
    let (name, address) = match text.rsplit_once('<') {
        Some((name, rest)) => (
            Some(name.trim().trim_matches('"').to_owned()).filter(|n| !n.is_empty()),
            rest.trim_end_matches('>').trim().to_owned(),
        ),
        None => (None, text.to_owned()),
    };
    address.contains('@').then(|| Mailbox {
        address: address.to_ascii_lowercase(),
        name,
    })
}

/// The raw mail as an unreadable update keeps it, for replay once the parser reads it.
fn kept_raw(raw: &[u8]) -> Value {
    json!({ "mime_base64": base64::engine::general_purpose::STANDARD.encode(raw) })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_signature(key: &[u8], conversation_id: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(TOKEN_CONTEXT);
    mac.update(conversation_id.as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    digest.get(..TOKEN_SIGNATURE_HEX).map(str::to_owned)
}

/// The plus-address token of a conversation: `c<id>-<signature>`, lower-case (servers and
/// clients change the case of addresses), so only mail we invited reaches it.
pub fn conversation_token(key: &[u8], conversation_id: &str) -> String {
    let signature = token_signature(key, conversation_id).unwrap_or_default();
    format!("c{conversation_id}-{signature}")
}

/// The conversation id in `token` when it is one of ours ([`conversation_token`]).
pub fn verify_conversation_token(key: &[u8], token: &str) -> Option<String> {
    let token = token.to_ascii_lowercase();
    let (id, signature) = token.strip_prefix('c')?.split_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let expected = token_signature(key, id)?;
    constant_time_eq(expected.as_bytes(), signature.as_bytes()).then(|| id.to_owned())
}

impl Channel for EmailChannel {
    fn capabilities(&self) -> Capabilities {
        crate::CAPABILITIES
    }

    /// The raw-MIME webhook: the body is the mail exactly as an MTA delivers it.
    fn parse_inbound(
        &self,
        request: &InboundRequest<'_>,
    ) -> Result<Vec<InboundEvent>, InboundError> {
        if !self.authorized(request) {
            return Err(InboundError::Unauthorized(
                "send the inbox secret as a bearer token or as the basic-auth password".to_owned(),
            ));
        }
        if !request.route.is_empty() {
            return Err(InboundError::Malformed(format!(
                "unknown webhook route {:?}; post the raw mail to the inbox's webhook URL",
                request.route
            )));
        }
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Err(InboundError::Malformed(
                "the body is empty; post the raw mail (RFC 5322) as the body".to_owned(),
            ));
        }
        Ok(self.events_of(request.body))
    }

    fn send<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>> {
        Box::pin(async move {
            let Some(sender) = self.sender.clone() else {
                return Err(ChannelError::Permanent {
                    code: Some("no_smtp".to_owned()),
                    reason: "the inbox has no SMTP server to send replies with".to_owned(),
                });
            };
            let reply = self.reply_mail(message)?;
            let raw = render_reply(&reply).map_err(|e| ChannelError::Permanent {
                code: Some("bad_address".to_owned()),
                reason: e.to_string(),
            })?;
            let recipients: Vec<String> = reply
                .to
                .iter()
                .chain(&reply.cc)
                .map(|m| m.address.clone())
                .collect();
            sender
                .send(&self.settings.address, &recipients, &raw)
                .await
                .map_err(|e| match e {
                    SendError::Transient { reason, .. } => ChannelError::Transient {
                        reason,
                        retry_after: None,
                    },
                    SendError::Permanent { code, reason } => ChannelError::Permanent {
                        code: code.map(|c| c.to_string()),
                        reason,
                    },
                })?;
            Ok(SendReceipt {
                external_id: Some(crate::inbound::strip_brackets(&reply.message_id)),
            })
        })
    }

    fn reparse(&self, raw: &Value) -> Result<Vec<InboundEvent>, InboundError> {
        let bytes = raw
            .get("mime_base64")
            .and_then(Value::as_str)
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or_else(|| InboundError::Malformed("the kept update holds no mail".to_owned()))?;
        Ok(self.events_of(&bytes))
    }
}

impl Poller for EmailChannel {
    fn poll(&self, cursor: Option<i64>) -> BoxFuture<'_, Result<Vec<PolledUpdate>, ChannelError>> {
        Box::pin(async move {
            let Some(poller) = &self.poller else {
                return Ok(Vec::new());
            };
            let mails = poller.poll(cursor).await.map_err(|e| match e {
                MailError::Refused(reason) => ChannelError::Permanent { code: None, reason },
                MailError::Unreachable(reason) | MailError::Protocol(reason) => {
                    ChannelError::Transient {
                        reason,
                        retry_after: None,
                    }
                }
            })?;
            Ok(mails
                .into_iter()
                .map(|mail| PolledUpdate {
                    next_cursor: mail.cursor,
                    events: self.events_of(&mail.raw),
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn channel() -> EmailChannel {
        EmailChannel::new(EmailSettings {
            address: "support@acme.example".into(),
            display_name: Some("Acme Support".into()),
            reply_domain: Some("reply.acme.example".into()),
            signing_key: KEY.to_vec(),
            webhook_secret: "sbwh_secret".into(),
            imap: None,
            smtp: None,
        })
        .expect("channel")
    }

    fn message(events: Vec<InboundEvent>) -> InboundMessage {
        match events.into_iter().next() {
            Some(InboundEvent::Message(m)) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn conversation_tokens_verify_only_when_signed_and_survive_case_changes() {
        let token = conversation_token(KEY, "42");
        assert_eq!(
            verify_conversation_token(KEY, &token).as_deref(),
            Some("42")
        );
        assert_eq!(
            verify_conversation_token(KEY, &token.to_ascii_uppercase()).as_deref(),
            Some("42")
        );
        let forged = token.replacen("c42", "c43", 1);
        assert_eq!(verify_conversation_token(KEY, &forged), None);
        assert_eq!(verify_conversation_token(b"another key", &token), None);
        assert_eq!(verify_conversation_token(KEY, "c42"), None);
    }

    #[test]
    fn a_reply_finds_its_conversation_by_signed_keys_only() {
        let ours = message_id(KEY, "7", "acme.example");
        let token = conversation_token(KEY, "42");
        let raw = format!(
            "From: Ann <Ann@Example.COM>\r\nTo: reply+{token}@reply.acme.example\r\n\
             Cc: Bob <bob@example.com>, support@acme.example\r\n\
             Subject: Re: Broken printer [#42]\r\nMessage-ID: <c1@example.com>\r\n\
             In-Reply-To: {ours}\r\nReferences: <first@example.com> <forged.00@acme.example> {ours}\r\n\r\nThanks!\r\n"
        );
        let m = message(channel().events_of(raw.as_bytes()));
        assert_eq!(m.sender.identifier, "ann@example.com");
        assert_eq!(m.external_id, "c1@example.com");
        let thread = m.thread.expect("thread keys");
        assert_eq!(thread.conversation_ids, ["42"]);
        assert_eq!(thread.message_ids, ["7"]);
        assert_eq!(
            thread.external_ids,
            ["forged.00@acme.example", "first@example.com"]
        );
        assert_eq!(thread.number, Some(42));
        let mail = m.mail.expect("mail details");
        assert_eq!(mail.cc, ["Bob <bob@example.com>"]);
        assert!(mail.to.is_empty());
        assert_eq!(m.automatic, None);
    }

    #[test]
    fn bounces_of_our_mail_fail_it_and_others_are_skipped() {
        let ours = message_id(KEY, "9", "acme.example");
        let dsn = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: support@acme.example\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.com>\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
             --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
             Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
             --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ours}\r\nSubject: Re: hi\r\n\r\n--B--\r\n"
        );
        match channel().events_of(dsn.as_bytes()).as_slice() {
            [InboundEvent::Status(status)] => {
                assert_eq!(status.status, DeliveryState::Failed);
                assert_eq!(status.external_id, crate::inbound::strip_brackets(&ours));
                let error = status.error.as_ref().expect("reason");
                assert!(
                    error.reason.contains("gone@example.com"),
                    "{}",
                    error.reason
                );
            }
            other => panic!("{other:?}"),
        }
        let foreign = dsn.replace(&ours, "<someone-else@elsewhere.example>");
        assert!(matches!(
            channel().events_of(foreign.as_bytes()).as_slice(),
            [InboundEvent::Skipped { .. }]
        ));
    }

    #[test]
    fn out_of_office_and_our_own_mail_are_automatic() {
        let ooo = "From: ann@example.com\r\nTo: support@acme.example\r\nSubject: Automatic reply: hi\r\n\
                   Auto-Submitted: auto-replied\r\nMessage-ID: <o1@example.com>\r\n\r\nI am away.\r\n";
        assert!(
            message(channel().events_of(ooo.as_bytes()))
                .automatic
                .is_some()
        );
        let looped = format!(
            "From: someone@example.com\r\nTo: support@acme.example\r\nSubject: hi\r\nMessage-ID: {}\r\n\r\nx\r\n",
            message_id(KEY, "5", "acme.example")
        );
        let m = message(channel().events_of(looped.as_bytes()));
        assert_eq!(m.automatic.as_deref(), Some("our own mail came back"));
    }

    #[test]
    fn a_mail_without_sender_is_kept_for_replay() {
        let raw = b"To: support@acme.example\r\nSubject: who?\r\n\r\nbody\r\n";
        let channel = channel();
        let events = channel.events_of(raw);
        let [InboundEvent::Unreadable { raw: kept, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(
            channel.reparse(kept).expect("replays"),
            channel.events_of(raw)
        );
    }

    #[test]
    fn the_webhook_takes_the_secret_as_bearer_or_basic_password() {
        let channel = channel();
        let body = b"From: a@example.com\r\nSubject: x\r\nMessage-ID: <w@x>\r\n\r\nhi\r\n";
        let request = |auth: Option<&'static str>| InboundRequest {
            route: "",
            headers: auth.map(|a| vec![("Authorization", a)]).unwrap_or_default(),
            body,
        };
        assert!(
            channel
                .parse_inbound(&request(Some("Bearer sbwh_secret")))
                .is_ok()
        );
        // "postfix:sbwh_secret"
        assert!(
            channel
                .parse_inbound(&request(Some("Basic cG9zdGZpeDpzYndoX3NlY3JldA==")))
                .is_ok()
        );
        for refused in [
            None,
            Some("Bearer wrong"),
            Some("Basic cG9zdGZpeDp3cm9uZw=="),
        ] {
            assert!(matches!(
                channel.parse_inbound(&request(refused)),
                Err(InboundError::Unauthorized(_))
            ));
        }
        let empty = InboundRequest {
            route: "",
            headers: vec![("authorization", "bearer sbwh_secret")],
            body: b"  \r\n",
        };
        assert!(matches!(
            channel.parse_inbound(&empty),
            Err(InboundError::Malformed(_))
        ));
    }

    #[test]
    fn a_reply_threads_with_our_signed_id_and_plus_address() {
        let channel = channel();
        let outbound = OutboundMessage {
            message_id: "77".into(),
            conversation_id: "42".into(),
            content: "Hello Ann".into(),
            private: false,
            attachments: Vec::new(),
            recipient: switchboard_channel::ContactProfile {
                email: Some("ann@example.com".into()),
                name: Some("Ann".into()),
                ..switchboard_channel::ContactProfile::new("ann@example.com")
            },
            reply_to_external_id: Some("c1@example.com".into()),
            thread_id: None,
            template: None,
            mail_thread: Some(switchboard_channel::MailThread {
                number: 42,
                subject: Some("Broken printer".into()),
                references: vec!["first@example.com".into(), "c1@example.com".into()],
                cc: vec!["Bob <bob@example.com>".into()],
            }),
            survey: None,
        };
        let reply = channel.reply_mail(&outbound).expect("reply");
        assert_eq!(
            verify_message_id(KEY, &reply.message_id, "acme.example").as_deref(),
            Some("77")
        );
        let reply_to = reply.reply_to.expect("plus address").address;
        let token = reply_to
            .strip_prefix("reply+")
            .and_then(|rest| rest.strip_suffix("@reply.acme.example"))
            .expect("reply+token@domain");
        assert_eq!(verify_conversation_token(KEY, token).as_deref(), Some("42"));
        assert_eq!(reply.cc[0].address, "bob@example.com");
        assert_eq!(reply.in_reply_to.as_deref(), Some("c1@example.com"));
        assert_eq!(reply.subject_number, Some(42));
    }
}
