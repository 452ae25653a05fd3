//! A widget conversation mailed to the visitor on request ("Email me this conversation"),
//! through the email inbox the widget's admin chose (`settings.transcript_inbox_id`). The mail
//! holds what the visitor saw in the widget: no private notes, nothing internal.

use chrono::{DateTime, Utc};
use serde_json::json;
use switchboard_email::Mailbox;
use switchboard_email::outbound::{ReplyMail, render_reply};

use super::WidgetConfig;
use crate::db::StoreError;
use crate::db::types::{ChannelType, SenderType};
use crate::state::AppState;
use crate::store::{Actor, AuditEvent};

/// Most messages a transcript holds (the latest).
pub(crate) const MAX_MESSAGES: i64 = 1_000;

/// One message as the transcript shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TranscriptLine {
    /// Who wrote it as the visitor knows them ("You", the agent's name, "Support").
    pub(crate) author: String,
    pub(crate) at: DateTime<Utc>,
    pub(crate) text: String,
    /// Names of the files sent with it.
    pub(crate) files: Vec<String>,
}

/// The transcript's text: a heading, then each message under its author and time (UTC).
pub(crate) fn transcript_text(title: &str, lines: &[TranscriptLine], now: DateTime<Utc>) -> String {
    let mut text = format!(
        "Your conversation with {title}, as of {} UTC.\n",
        now.format("%Y-%m-%d %H:%M")
    );
    for line in lines {
        text.push_str(&format!(
            "\n{} · {} UTC\n",
            line.author,
            line.at.format("%Y-%m-%d %H:%M")
        ));
        let body = line.text.trim();
        if !body.is_empty() {
            text.push_str(body);
            text.push('\n');
        }
        if !line.files.is_empty() {
            text.push_str(&format!("(Files: {})\n", line.files.join(", ")));
        }
    }
    text.push_str("\nYou asked for this copy in the chat on our website.\n");
    text
}

/// Why a transcript was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TranscriptError {
    /// The widget's admin chose no email inbox, or it cannot send.
    #[error("transcripts by email are not available: {0}")]
    Unavailable(String),
    /// The visitor has not written yet.
    #[error("there is no conversation to send yet")]
    NoConversation,
    /// The visitor (3 an hour) or their address (10 an hour) asked too often.
    #[error("too many transcripts asked for; try again later")]
    RateLimited,
    /// The mail server refused or could not be reached.
    #[error("the transcript could not be sent: {0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mails the visitor's current conversation to `email` and records it on the conversation
/// (audit and activity: "The customer had the transcript emailed to …").
pub(crate) async fn send(
    state: &AppState,
    config: &WidgetConfig,
    visitor_id: &str,
    email: &str,
    ip: Option<String>,
) -> Result<(), TranscriptError> {
    let inbox_id = config
        .transcript_inbox_id
        .ok_or_else(|| TranscriptError::Unavailable("the widget has no email inbox set".into()))?;
    let identifier = switchboard_widget::visitor_identifier(visitor_id);
    let (inbox, conversation_id, messages, names) = {
        let conn = &mut state.db.reader().await?;
        let inbox = crate::store::inboxes::find(conn, inbox_id)
            .await?
            .filter(|i| i.channel_type == ChannelType::Email && i.enabled)
            .ok_or_else(|| {
                TranscriptError::Unavailable("its email inbox is gone or switched off".into())
            })?;
        let conversation_id =
            crate::store::widget::visitor_conversation(conn, config.inbox_id, &identifier)
                .await?
                .and_then(|(_, conversation)| conversation)
                .ok_or(TranscriptError::NoConversation)?;
        let messages =
            crate::store::widget::visible_messages(conn, conversation_id, None, MAX_MESSAGES)
                .await?;
        let ids: Vec<i64> = messages
            .iter()
            .filter(|m| m.sender_type == SenderType::Agent)
            .filter_map(|m| m.sender_id)
            .collect();
        let names = crate::store::widget::agent_names(conn, &ids).await?;
        (inbox, conversation_id, messages, names)
    };
    if messages.is_empty() {
        return Err(TranscriptError::NoConversation);
    }
    let lines: Vec<TranscriptLine> = messages
        .iter()
        .map(|m| TranscriptLine {
            author: match m.sender_type {
                SenderType::Contact => "You".to_owned(),
                SenderType::Agent => m
                    .sender_id
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| "Support".to_owned()),
                _ => m.author.clone().unwrap_or_else(|| "Support".to_owned()),
            },
            at: crate::views::utc(m.created_at),
            text: m.content.clone(),
            files: crate::store::attachments::parse_meta(&m.attachments)
                .into_iter()
                .map(|a| a.file_name)
                .collect(),
        })
        .collect();
    let (sender, from) =
        crate::channels::email::sender_of(&inbox).map_err(TranscriptError::Unavailable)?;
    // Counted only for a mail that would go out (a refusal above costs nothing).
    if !state
        .hub
        .widget_limits
        .transcript(visitor_id, ip.as_deref().unwrap_or_default())
    {
        return Err(TranscriptError::RateLimited);
    }
    let now = Utc::now();
    let domain = from.address.rsplit('@').next().unwrap_or("localhost");
    let mail = ReplyMail {
        from: from.clone(),
        to: vec![Mailbox {
            address: email.to_owned(),
            name: None,
        }],
        subject: format!("Your conversation with {}", config.title),
        text: transcript_text(&config.title, &lines, now),
        message_id: format!(
            "<transcript-{conversation_id}-{}@{domain}>",
            now.timestamp_millis()
        ),
        automatic: true,
        ..ReplyMail::default()
    };
    let raw = render_reply(&mail).map_err(|e| TranscriptError::Failed(e.to_string()))?;
    sender
        .send(&from.address, &[email.to_owned()], &raw)
        .await
        .map_err(|e| TranscriptError::Failed(e.to_string()))?;
    let actor = Actor {
        ip,
        ..Actor::system()
    };
    let event = AuditEvent::new("conversation.transcript", "conversation", conversation_id)
        .with_details(json!({ "email": email }));
    crate::store::audit::record(&mut state.db.writer().await?, &actor, &event).await?;
    tracing::info!(conversation_id, "widget transcript mailed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_transcript_lists_each_message_under_its_author_and_time() {
        let at = |h, m| {
            Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0)
                .single()
                .unwrap_or_default()
        };
        let lines = [
            TranscriptLine {
                author: "You".into(),
                at: at(10, 0),
                text: "Where is my order?\n".into(),
                files: vec!["receipt.pdf".into()],
            },
            TranscriptLine {
                author: "Ada".into(),
                at: at(10, 2),
                text: "It ships today.".into(),
                files: vec![],
            },
        ];
        assert_eq!(
            transcript_text("Acme support", &lines, at(10, 5)),
            "Your conversation with Acme support, as of 2026-12-07 10:05 UTC.\n\
             \nYou · 2026-12-07 10:00 UTC\nWhere is my order?\n(Files: receipt.pdf)\n\
             \nAda · 2026-12-07 10:02 UTC\nIt ships today.\n\
             \nYou asked for this copy in the chat on our website.\n"
        );
    }
}
