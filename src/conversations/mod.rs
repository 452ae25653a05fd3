//! Conversations' rules and their single writer. Agents' changes (replies, notes,
//! assignment, status, priority, labels, retries) and contact merges pass [`Conversations`]:
//! the request is checked by [`rules`], then carried out by the conversation's actor one
//! at a time, in one transaction each, and published after the commit. HTTP handlers only
//! parse, authorize, call and map [`ConversationError`].

pub(crate) mod activity;
mod actor;
pub(crate) mod rules;
pub(crate) mod surveys;

use actix::Addr;
use chrono::Utc;

pub(crate) use self::actor::{
    Bulk, BulkChange, Command, ConversationRegistry, ForConversation, MergeContacts, Output, Peers,
    Shutdown,
};
use self::rules::{Assignment, ReplyDraft};
use crate::db::StoreError;
use crate::db::types::{ConversationStatus, Priority};
use crate::domain::{AgentId, ContactId, ConversationId, MessageId};
use crate::store::Actor as AuditActor;
use crate::store::contacts::Contact;
use crate::store::conversations::{Conversation, ConversationChange, Message, ReplyOutcome};

/// Why a change to a conversation was not made. Nothing changed then.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConversationError {
    #[error("no conversation with that id")]
    NotFound,
    /// A field of the request breaks a rule; the message names it.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request asks for no change at all.
    #[error("{0}")]
    NothingToChange(&'static str),
    /// The reply's files together exceed the per-message limit.
    #[error("{0}")]
    TooLarge(String),
    /// Refused for a reason the agent can act on (a reply where there is no channel).
    #[error("{0}")]
    Refused(String),
    /// A conditional change lost against a concurrent one.
    #[error("the conversation changed meanwhile; reload it")]
    Lost,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the conversation service is unavailable: {0}")]
    Unavailable(String),
}

impl ConversationError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// The way to change conversations, cheap to clone.
#[derive(Clone)]
pub(crate) struct Conversations {
    registry: Addr<ConversationRegistry>,
}

impl Conversations {
    pub(crate) fn new(registry: Addr<ConversationRegistry>) -> Self {
        Self { registry }
    }

    /// The registry, for the router (it claims conversations) and shutdown.
    pub(crate) fn registry(&self) -> &Addr<ConversationRegistry> {
        &self.registry
    }

    async fn run(&self, id: ConversationId, command: Command) -> Result<Output, ConversationError> {
        self.registry
            .send(ForConversation {
                conversation_id: id.get(),
                command,
            })
            .await
            .map_err(|e| ConversationError::Unavailable(e.to_string()))?
    }

    /// Stores a reply (queued for the channel) or a private note.
    pub(crate) async fn reply(
        &self,
        id: ConversationId,
        agent: AgentId,
        draft: ReplyDraft,
        actor: AuditActor,
    ) -> Result<ReplyOutcome, ConversationError> {
        match self
            .run(
                id,
                Command::Reply {
                    agent,
                    draft,
                    actor,
                },
            )
            .await?
        {
            Output::Reply(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    /// Assigns (and/or hands to a team), checking that the assignee may see the
    /// conversation and the team exists; both change in one transaction.
    pub(crate) async fn assign(
        &self,
        id: ConversationId,
        assignment: Assignment,
        actor: AuditActor,
    ) -> Result<Conversation, ConversationError> {
        self.conversation(id, Command::Assign { assignment, actor })
            .await
    }

    /// Opens, resolves, closes or snoozes (until a time in the future).
    pub(crate) async fn set_status(
        &self,
        id: ConversationId,
        status: ConversationStatus,
        snoozed_until: Option<chrono::DateTime<Utc>>,
        actor: AuditActor,
    ) -> Result<Conversation, ConversationError> {
        let snoozed_until = rules::status_change(status, snoozed_until, Utc::now())?;
        let change = ConversationChange::Status {
            status,
            snoozed_until,
        };
        self.conversation(id, Command::Change { change, actor })
            .await
    }

    /// Closes a resolved conversation for a widget visitor who starts a new one;
    /// `ConversationError::Lost` when it is not resolved (any more).
    pub(crate) async fn close_resolved(
        &self,
        id: ConversationId,
        actor: AuditActor,
    ) -> Result<Conversation, ConversationError> {
        let change = ConversationChange::CloseResolved;
        self.conversation(id, Command::Change { change, actor })
            .await
    }

    pub(crate) async fn set_priority(
        &self,
        id: ConversationId,
        priority: Priority,
        actor: AuditActor,
    ) -> Result<Conversation, ConversationError> {
        let change = ConversationChange::Priority(priority);
        self.conversation(id, Command::Change { change, actor })
            .await
    }

    /// Replaces the labels (normalized: trimmed, lower-case, each once).
    pub(crate) async fn set_labels(
        &self,
        id: ConversationId,
        labels: Vec<String>,
        actor: AuditActor,
    ) -> Result<Conversation, ConversationError> {
        let change = ConversationChange::Labels(rules::labels(labels)?);
        self.conversation(id, Command::Change { change, actor })
            .await
    }

    /// Queues a failed reply again.
    pub(crate) async fn retry(
        &self,
        id: ConversationId,
        message: MessageId,
        actor: AuditActor,
    ) -> Result<Message, ConversationError> {
        match self.run(id, Command::Retry { message, actor }).await? {
            Output::Message(message) => Ok(message),
            _ => Err(unexpected()),
        }
    }

    /// Fires a due SLA clock (the escalation supervisor): records the warning or breach
    /// once and runs the policy's actions with it, in one transaction.
    pub(crate) async fn fire_sla(
        &self,
        id: ConversationId,
        clock_id: i64,
        now: chrono::NaiveDateTime,
        config: std::sync::Arc<crate::sla::Config>,
    ) -> Result<bool, ConversationError> {
        let output = self
            .run(
                id,
                Command::FireSla {
                    clock_id,
                    now,
                    config,
                },
            )
            .await?;
        Ok(matches!(output, Output::Fired(Some(_))))
    }

    /// Applies the same changes to many conversations in one transaction (all or none),
    /// each audited as if made one by one; answers them as they are after the commit.
    pub(crate) async fn bulk(
        &self,
        ids: Vec<i64>,
        change: BulkChange,
        actor: AuditActor,
    ) -> Result<Vec<Conversation>, ConversationError> {
        self.registry
            .send(Bulk { ids, change, actor })
            .await
            .map_err(|e| ConversationError::Unavailable(e.to_string()))?
    }

    /// Deletes a label: first taken off its conversations as agents' bulk changes are (each
    /// audited, published, its SLA checked again), 200 at a time, then the label itself
    /// (with any put on meanwhile). The number of conversations it was taken off; `None`
    /// when there is no such label.
    pub(crate) async fn delete_label(
        &self,
        db: &crate::db::Database,
        label_id: i64,
        actor: AuditActor,
    ) -> Result<Option<usize>, ConversationError> {
        let Some(label) = crate::store::labels::find(&mut db.reader().await?, label_id).await?
        else {
            return Ok(None);
        };
        let carriers = crate::store::labels::carriers(&mut db.reader().await?, label_id).await?;
        for ids in carriers.chunks(200) {
            let change = BulkChange {
                assignment: None,
                status: None,
                priority: None,
                add_labels: Vec::new(),
                remove_labels: vec![label.name.clone()],
            };
            self.bulk(ids.to_vec(), change, actor.clone()).await?;
        }
        Ok(
            crate::store::labels::delete(&mut db.writer().await?, label_id, &actor)
                .await?
                .map(|_| carriers.len()),
        )
    }

    /// Merges `source` into `target` (identities and conversations move); `None` when one
    /// of them no longer exists.
    pub(crate) async fn merge_contacts(
        &self,
        target: ContactId,
        source: ContactId,
        actor: AuditActor,
    ) -> Result<Option<Contact>, ConversationError> {
        if source == target {
            return Err(ConversationError::invalid(
                "contact_id",
                "a contact cannot be merged into itself",
            ));
        }
        self.registry
            .send(MergeContacts {
                target,
                source,
                actor,
            })
            .await
            .map_err(|e| ConversationError::Unavailable(e.to_string()))?
    }

    async fn conversation(
        &self,
        id: ConversationId,
        command: Command,
    ) -> Result<Conversation, ConversationError> {
        match self.run(id, command).await? {
            Output::Conversation(conversation) => Ok(conversation),
            _ => Err(unexpected()),
        }
    }
}

fn unexpected() -> ConversationError {
    ConversationError::Unavailable("the conversation actor answered another command".into())
}
