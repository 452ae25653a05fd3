//! ConversationRegistry and ConversationActor: one actor per active conversation applies
//! the agents' changes to it one at a time (replies, notes, assignment, status, priority,
//! labels, retries) and publishes each after its commit. The registry starts actors on
//! demand and stops them after `conversation_idle` without work; the store stays the
//! source of truth, so a stopped actor loses nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::channel::{ChannelSupervisor, Wake};
use super::delivery::{DeliveryTracker, Requeued};
use super::detached;
use super::router::{AgentAvailable, Route, Router};
use crate::db::types::ConversationStatus;
use crate::db::{Database, StoreError};
use crate::realtime::{EventHub, frees_agent};
use crate::store::Actor as AuditActor;
use crate::store::conversations::{
    self as conv, Conversation, ConversationChange, Message, NewReply, ReplyError, ReplyOutcome,
};
use crate::store::outbox::{self, RetryError};

/// Commands a conversation actor carries out.
#[derive(Debug, Clone)]
pub enum Command {
    /// Store a reply (queued, sent by the channel) or a private note.
    Reply { reply: NewReply, actor: AuditActor },
    /// Assignment, team, status, priority or labels.
    Change {
        change: ConversationChange,
        actor: AuditActor,
    },
    /// Queue a failed reply again.
    Retry { message_id: i64, actor: AuditActor },
}

/// What a command produced.
// Short-lived results moved once; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Output {
    Reply(ReplyOutcome),
    Conversation(Conversation),
    Message(Message),
}

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no such conversation")]
    NotFound,
    /// Refused for a reason the agent can act on.
    #[error("{0}")]
    Refused(String),
    /// A field of the request is wrong (the message says which).
    #[error("{0}")]
    Invalid(String),
    #[error("the conversation changed meanwhile")]
    Lost,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the conversation service is unavailable: {0}")]
    Unavailable(String),
}

/// A command addressed to one conversation (sent to the registry).
#[derive(Message)]
#[rtype(result = "Result<Output, CommandError>")]
pub struct ForConversation {
    pub conversation_id: i64,
    pub command: Command,
}

#[derive(Message)]
#[rtype(result = "Result<Output, CommandError>")]
struct Run(Command);

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

/// Stops the registry and every conversation actor (the hub is shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for ConversationRegistry {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Everything an actor needs besides its id.
#[derive(Clone)]
struct Shared {
    db: Database,
    events: Arc<EventHub>,
    channels: Addr<ChannelSupervisor>,
    router: Addr<Router>,
    delivery: Addr<DeliveryTracker>,
}

/// Starts, finds and passivates conversation actors.
pub struct ConversationRegistry {
    shared: Shared,
    idle: Duration,
    actors: HashMap<i64, (Addr<ConversationActor>, Instant)>,
}

impl ConversationRegistry {
    pub fn new(
        db: Database,
        events: Arc<EventHub>,
        channels: Addr<ChannelSupervisor>,
        router: Addr<Router>,
        delivery: Addr<DeliveryTracker>,
        idle: Duration,
    ) -> Self {
        Self {
            shared: Shared {
                db,
                events,
                channels,
                router,
                delivery,
            },
            idle,
            actors: HashMap::new(),
        }
    }

    /// Active conversation actors (metrics, tests).
    pub fn active(&self) -> usize {
        self.actors.len()
    }
}

impl Actor for ConversationRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let every = (self.idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        ctx.run_interval(every, |this, _| {
            let idle = this.idle;
            this.actors.retain(|id, (addr, last)| {
                let keep = last.elapsed() < idle;
                if !keep {
                    tracing::debug!(conversation_id = id, "conversation actor passivated");
                    // Queued behind any command already sent, so those still run.
                    addr.do_send(Stop);
                }
                keep
            });
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (addr, _) in self.actors.values() {
            addr.do_send(Stop);
        }
        self.actors.clear();
    }
}

impl Handler<ForConversation> for ConversationRegistry {
    type Result = ResponseFuture<Result<Output, CommandError>>;

    fn handle(&mut self, msg: ForConversation, _: &mut Self::Context) -> Self::Result {
        let id = msg.conversation_id;
        let entry = self.actors.entry(id).or_insert_with(|| {
            let actor = ConversationActor {
                id,
                shared: self.shared.clone(),
            };
            (actor.start(), Instant::now())
        });
        if !entry.0.connected() {
            let actor = ConversationActor {
                id,
                shared: self.shared.clone(),
            };
            entry.0 = actor.start();
        }
        entry.1 = Instant::now();
        let addr = entry.0.clone();
        Box::pin(async move {
            addr.send(Run(msg.command))
                .await
                .map_err(|e| CommandError::Unavailable(e.to_string()))?
        })
    }
}

/// The single writer of one conversation's agent-side changes.
pub struct ConversationActor {
    id: i64,
    shared: Shared,
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::trace!(conversation_id = self.id, "conversation actor stopped");
    }
}

impl Handler<Stop> for ConversationActor {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Run> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Output, CommandError>>;

    fn handle(&mut self, msg: Run, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!("conversation_command", conversation_id = self.id);
        let shared = self.shared.clone();
        let id = self.id;
        let work = async move {
            use tracing::Instrument;
            let result = detached(execute(shared.db.clone(), id, msg.0).instrument(span)).await?;
            let output = result?;
            after_commit(&shared, &output);
            Ok(output)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self)))
    }
}

async fn execute(db: Database, id: i64, command: Command) -> Result<Output, CommandError> {
    let conn = &mut db.writer().await?;
    match command {
        Command::Reply { reply, actor } => {
            debug_assert_eq!(reply.conversation_id, id);
            match conv::store_reply(conn, &reply, &actor).await {
                Ok(outcome) => Ok(Output::Reply(outcome)),
                Err(ReplyError::NotFound) => Err(CommandError::NotFound),
                Err(error @ (ReplyError::BadReplyTo | ReplyError::Attachment(_))) => {
                    Err(CommandError::Invalid(error.to_string()))
                }
                Err(ReplyError::Store(e)) => Err(e.into()),
                Err(other) => Err(CommandError::Refused(other.to_string())),
            }
        }
        Command::Change { change, actor } => {
            let conditional = matches!(
                change,
                ConversationChange::Assign {
                    only_if_unassigned: true,
                    ..
                }
            );
            match conv::change(conn, id, &change, &actor).await? {
                Some(conversation) => Ok(Output::Conversation(conversation)),
                None if conditional => Err(CommandError::Lost),
                None => Err(CommandError::NotFound),
            }
        }
        Command::Retry { message_id, actor } => {
            match outbox::retry(conn, id, message_id, &actor).await {
                Ok(message) => Ok(Output::Message(message)),
                Err(RetryError::NotFound) => Err(CommandError::NotFound),
                Err(RetryError::Store(e)) => Err(e.into()),
                Err(other) => Err(CommandError::Refused(other.to_string())),
            }
        }
    }
}

/// Publishes a committed change and wakes whoever has work because of it.
fn after_commit(shared: &Shared, output: &Output) {
    match output {
        Output::Reply(ReplyOutcome::Created {
            message,
            conversation,
        }) => {
            shared.events.message(message, true);
            shared.events.conversation(conversation, false);
            if let (false, Some(inbox_id)) = (message.private, message.inbox_id) {
                wake(shared, inbox_id);
            }
        }
        Output::Reply(ReplyOutcome::Replayed(_)) => {}
        Output::Conversation(conversation) => {
            shared.events.conversation(conversation, false);
            if frees_agent(conversation.status) || conversation.assignee_id.is_none() {
                let _ = shared.router.try_send(AgentAvailable { agent_id: 0 });
            }
            if conversation.status == ConversationStatus::Open
                && conversation.assignee_id.is_none()
                && let Some(inbox_id) = conversation.inbox_id
            {
                let _ = shared.router.try_send(Route {
                    conversation_id: conversation.id,
                    inbox_id,
                });
            }
        }
        Output::Message(message) => {
            // A retried reply: published by the tracker, which starts its statuses over.
            shared.delivery.do_send(Requeued(message.clone()));
            if let Some(inbox_id) = message.inbox_id {
                wake(shared, inbox_id);
            }
        }
    }
}

fn wake(shared: &Shared, inbox_id: i64) {
    if let Err(error) = shared.channels.try_send(Wake { inbox_id }) {
        // The channel's own timer drains the outbox within a second anyway.
        tracing::debug!(%error, inbox_id, "channel supervisor busy");
    }
}
