//! What an agent's change to a conversation must satisfy before it reaches the
//! conversation's actor: pure checks of the request, so the HTTP layer only parses and every
//! caller (the API, the inbox, a later CLI) gets the same rules and the same messages.

use chrono::{DateTime, Utc};

use super::ConversationError;
use crate::db::types::ConversationStatus;
use crate::domain::{AgentId, MessageId};
use crate::files::MAX_FILES;

/// Longest reply or note.
pub(crate) const MAX_CONTENT_BYTES: usize = 65_536;
/// Most labels on one conversation.
pub(crate) const MAX_LABELS: usize = 50;
/// Longest label.
const MAX_LABEL_CHARS: usize = 50;

/// An agent's reply or note as it will be stored: trimmed, bounded, with its files.
#[derive(Debug, Clone)]
pub(crate) struct ReplyDraft {
    pub(crate) content: String,
    pub(crate) private: bool,
    pub(crate) reply_to: Option<MessageId>,
    /// Uploads of the conversation to send with it, each once, in the order given.
    pub(crate) attachment_ids: Vec<i64>,
    /// Makes a repeated request (a retry after a lost answer) return the first message.
    pub(crate) idempotency_key: Option<String>,
    /// What is stored with the message besides its text (the template it is sent as).
    pub(crate) details: Option<String>,
}

impl ReplyDraft {
    pub(crate) fn parse(
        content: &str,
        private: bool,
        reply_to: Option<MessageId>,
        attachment_ids: &[i64],
    ) -> Result<Self, ConversationError> {
        let content = content.trim_end().to_owned();
        let mut seen = std::collections::HashSet::new();
        let attachment_ids: Vec<i64> = attachment_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        if content.trim().is_empty() && attachment_ids.is_empty() {
            return Err(ConversationError::invalid(
                "content",
                "must not be empty unless the message has attachments",
            ));
        }
        if attachment_ids.len() > MAX_FILES {
            return Err(ConversationError::invalid(
                "attachment_ids",
                format!("at most {MAX_FILES} files per message"),
            ));
        }
        // Newlines and tabs are text; NUL is not (and PostgreSQL cannot store it).
        if content.contains('\0') {
            return Err(ConversationError::invalid(
                "content",
                "must not contain NUL characters",
            ));
        }
        if content.len() > MAX_CONTENT_BYTES {
            return Err(ConversationError::invalid(
                "content",
                format!("is longer than {MAX_CONTENT_BYTES} bytes"),
            ));
        }
        Ok(Self {
            content,
            private,
            reply_to,
            attachment_ids,
            idempotency_key: None,
            details: None,
        })
    }
}

/// A status change: snoozing needs a time in the future, and only snoozing takes one.
pub(crate) fn status_change(
    status: ConversationStatus,
    snoozed_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<chrono::NaiveDateTime>, ConversationError> {
    match (status, snoozed_until) {
        (ConversationStatus::Snoozed, Some(at)) if at > now => Ok(Some(at.naive_utc())),
        (ConversationStatus::Snoozed, Some(_)) => Err(ConversationError::invalid(
            "snoozed_until",
            "must be in the future",
        )),
        (ConversationStatus::Snoozed, None) => Err(ConversationError::invalid(
            "snoozed_until",
            "is required to snooze",
        )),
        (_, Some(_)) => Err(ConversationError::invalid(
            "snoozed_until",
            "only goes with status snoozed",
        )),
        (_, None) => Ok(None),
    }
}

/// Labels as stored: trimmed, lower-case, each once, in the order given.
pub(crate) fn labels(raw: Vec<String>) -> Result<Vec<String>, ConversationError> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let name = raw.trim().to_lowercase();
        let valid = !name.is_empty()
            && name.chars().count() <= MAX_LABEL_CHARS
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_ .".contains(c));
        if !valid {
            return Err(ConversationError::invalid(
                format!("labels[{i}]"),
                "must be 1 to 50 letters, digits, spaces, '-', '_' or '.'",
            ));
        }
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    if names.len() > MAX_LABELS {
        return Err(ConversationError::invalid("labels", "at most 50 labels"));
    }
    Ok(names)
}

/// Who a conversation is assigned to and which team has it; `None` leaves a part as it
/// is, `Some(None)` clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) assignee: Option<Option<AgentId>>,
    pub(crate) team: Option<Option<i64>>,
}

impl Assignment {
    /// `assignee` as sent: an agent id, `"me"` (the caller) or null.
    pub(crate) fn parse(
        assignee: Option<Option<&str>>,
        team: Option<Option<i64>>,
        caller: AgentId,
    ) -> Result<Self, ConversationError> {
        if assignee.is_none() && team.is_none() {
            return Err(ConversationError::NothingToChange(
                "give assignee_id and/or team_id",
            ));
        }
        let assignee = match assignee {
            None => None,
            Some(None) => Some(None),
            Some(Some("me")) => Some(Some(caller)),
            Some(Some(text)) => Some(Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|i| *i > 0)
                    .map(AgentId)
                    .ok_or_else(|| {
                        ConversationError::invalid(
                            "assignee_id",
                            "must be an agent id, \"me\" or null",
                        )
                    })?,
            )),
        };
        Ok(Self { assignee, team })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: ConversationError) -> String {
        match error {
            ConversationError::Invalid { field, .. } => field,
            other => panic!("not an invalid field: {other}"),
        }
    }

    #[test]
    fn replies_are_trimmed_bounded_and_need_content_or_files() {
        let draft = ReplyDraft::parse("Hello \n", false, None, &[3, 3, 4]).expect("valid");
        assert_eq!(draft.content, "Hello");
        assert_eq!(draft.attachment_ids, [3, 4]);
        assert!(ReplyDraft::parse("  ", false, None, &[7]).is_ok());
        assert_eq!(
            field(ReplyDraft::parse(" \n", false, None, &[]).expect_err("empty")),
            "content"
        );
        assert_eq!(
            field(ReplyDraft::parse("a\0b", false, None, &[]).expect_err("NUL")),
            "content"
        );
        let long = "x".repeat(MAX_CONTENT_BYTES + 1);
        assert_eq!(
            field(ReplyDraft::parse(&long, false, None, &[]).expect_err("long")),
            "content"
        );
        let many: Vec<i64> = (1..=11).collect();
        assert_eq!(
            field(ReplyDraft::parse("x", false, None, &many).expect_err("files")),
            "attachment_ids"
        );
    }

    #[test]
    fn snoozing_needs_a_future_time_and_nothing_else_takes_one() {
        let now = Utc::now();
        let later = now + chrono::Duration::hours(1);
        assert!(status_change(ConversationStatus::Snoozed, Some(later), now).is_ok());
        assert!(status_change(ConversationStatus::Snoozed, Some(now), now).is_err());
        assert!(status_change(ConversationStatus::Snoozed, None, now).is_err());
        assert!(status_change(ConversationStatus::Open, Some(later), now).is_err());
        assert_eq!(
            status_change(ConversationStatus::Resolved, None, now).ok(),
            Some(None)
        );
    }

    #[test]
    fn labels_are_normalized_deduplicated_and_checked() {
        assert_eq!(
            labels(vec![" VIP ".into(), "vip".into(), "billing-2".into()]).expect("valid"),
            ["vip", "billing-2"]
        );
        assert_eq!(
            field(labels(vec!["ok".into(), "no!".into()]).expect_err("bad")),
            "labels[1]"
        );
        assert!(labels((0..51).map(|i| format!("l{i}")).collect()).is_err());
    }

    #[test]
    fn assignments_read_me_ids_and_null() {
        let me = AgentId(5);
        assert_eq!(
            Assignment::parse(Some(Some("me")), None, me)
                .expect("me")
                .assignee,
            Some(Some(me))
        );
        assert_eq!(
            Assignment::parse(Some(None), Some(Some(2)), me).expect("clear"),
            Assignment {
                assignee: Some(None),
                team: Some(Some(2))
            }
        );
        assert!(Assignment::parse(Some(Some("someone")), None, me).is_err());
        assert!(matches!(
            Assignment::parse(None, None, me),
            Err(ConversationError::NothingToChange(_))
        ));
    }
}
