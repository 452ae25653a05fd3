//! NUL characters out of inbound text. PostgreSQL cannot store NUL in a text column (it
//! failed the whole write, and the provider retried forever); a customer's message is
//! never refused for it: each NUL becomes U+FFFD, visible where it was.

use switchboard_channel::{ContactProfile, InboundEvent, InboundMessage};

const REPLACEMENT: &str = "\u{FFFD}";

fn text(value: &mut String) {
    if value.contains('\0') {
        *value = value.replace('\0', REPLACEMENT);
    }
}

fn optional(value: &mut Option<String>) {
    if let Some(value) = value {
        text(value);
    }
}

fn profile(profile: &mut ContactProfile) {
    text(&mut profile.identifier);
    for field in [
        &mut profile.name,
        &mut profile.email,
        &mut profile.phone,
        &mut profile.language,
        &mut profile.avatar_url,
    ] {
        optional(field);
    }
    for value in profile.details.values_mut() {
        if let serde_json::Value::String(value) = value {
            text(value);
        }
    }
}

/// Every text of a message that is stored in a text column.
pub(super) fn message(m: &mut InboundMessage) {
    text(&mut m.external_id);
    text(&mut m.content);
    profile(&mut m.sender);
    for field in [
        &mut m.reply_to_external_id,
        &mut m.author,
        &mut m.author_id,
        &mut m.thread_id,
    ] {
        optional(field);
    }
    for attachment in &mut m.attachments {
        text(&mut attachment.source);
        optional(&mut attachment.file_name);
        optional(&mut attachment.content_type);
        optional(&mut attachment.content_id);
    }
    // Thread keys become query parameters, which PostgreSQL refuses with NUL as well.
    if let Some(thread) = &mut m.thread {
        for key in thread
            .conversation_ids
            .iter_mut()
            .chain(&mut thread.message_ids)
            .chain(&mut thread.external_ids)
        {
            text(key);
        }
    }
    // Mail details: the subject is a column; the rest is stored as JSON (NUL escaped) but
    // cleaned all the same, for the inbox and for replies that copy the addresses.
    if let Some(mail) = &mut m.mail {
        text(&mut mail.subject);
        optional(&mut mail.from);
        optional(&mut mail.full_text);
        optional(&mut mail.html);
        for value in mail
            .to
            .iter_mut()
            .chain(&mut mail.cc)
            .chain(&mut mail.remote_images)
        {
            text(value);
        }
        for content_id in &mut mail.content_ids {
            optional(content_id);
        }
    }
    // Quote and forward are stored as JSON, where NUL is escaped; cleaned for the inbox.
    if let Some(quote) = &mut m.quote {
        text(&mut quote.text);
        optional(&mut quote.author);
    }
    if let Some(forwarded) = &mut m.forwarded {
        text(&mut forwarded.from);
    }
}

/// Every text of an event that is stored in a text column.
pub(super) fn event(event: &mut InboundEvent) {
    match event {
        InboundEvent::Message(m) => message(m),
        InboundEvent::Edit(e) => {
            text(&mut e.external_id);
            text(&mut e.content);
            profile(&mut e.sender);
            if let Some(m) = e.as_message.as_deref_mut() {
                message(m);
            }
        }
        InboundEvent::Status(s) => {
            text(&mut s.external_id);
            if let Some(error) = &mut s.error {
                optional(&mut error.code);
                text(&mut error.reason);
            }
        }
        InboundEvent::Typing(t) => profile(&mut t.sender),
        InboundEvent::Reachability(r) => profile(&mut r.sender),
        InboundEvent::Reaction(r) => {
            text(&mut r.external_id);
            text(&mut r.target_external_id);
            optional(&mut r.emoji);
            profile(&mut r.sender);
        }
        InboundEvent::IdentityChange(change) => {
            text(&mut change.old_identifier);
            text(&mut change.new_identifier);
        }
        InboundEvent::SurveyAnswer(answer) => {
            profile(&mut answer.sender);
            text(&mut answer.survey_id);
            optional(&mut answer.comment);
        }
        InboundEvent::Skipped { reason } | InboundEvent::Unreadable { reason, .. } => text(reason),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_channel::ContactProfile;

    use super::*;

    #[test]
    fn nul_becomes_a_visible_replacement_everywhere() {
        let mut m = InboundMessage::new(
            "ext\0id",
            ContactProfile {
                name: Some("A\0nn".into()),
                ..ContactProfile::new("cust\0")
            },
            "he\0llo",
        );
        message(&mut m);
        assert_eq!(m.content, "he\u{FFFD}llo");
        assert_eq!(m.external_id, "ext\u{FFFD}id");
        assert_eq!(m.sender.identifier, "cust\u{FFFD}");
        assert_eq!(m.sender.name.as_deref(), Some("A\u{FFFD}nn"));
        let mut mail = InboundMessage::new("x", ContactProfile::new("y"), "plain");
        mail.thread = Some(switchboard_channel::ThreadKeys {
            external_ids: vec!["<a\0b@example>".into()],
            ..Default::default()
        });
        mail.mail = Some(switchboard_channel::MailDetails {
            subject: "Re: \0".into(),
            cc: vec!["c\0@example".into()],
            ..Default::default()
        });
        message(&mut mail);
        let thread = mail.thread.unwrap_or_default();
        assert_eq!(thread.external_ids, ["<a\u{FFFD}b@example>"]);
        let details = mail.mail.unwrap_or_default();
        assert_eq!(details.subject, "Re: \u{FFFD}");
        assert_eq!(details.cc, ["c\u{FFFD}@example"]);
        let mut untouched = InboundMessage::new("x", ContactProfile::new("y"), "plain");
        message(&mut untouched);
        assert_eq!(untouched.content, "plain");
    }
}
