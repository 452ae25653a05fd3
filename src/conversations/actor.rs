//! ConversationRegistry and ConversationActor: one actor per active conversation applies
//! the agents' changes to it one at a time (replies, notes, assignment, status, priority,
//! labels, retries) and publishes each after its commit. The registry starts actors on
//! demand and stops them after `conversation_idle` without work; the store stays the
//! source of truth, so a stopped actor loses nothing. Contact merges, which move
//! conversations between contacts, go through the registry too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::ConversationError;
use super::rules::{Assignment, ReplyDraft};
use crate::actors::channel::{ChannelSupervisor, Wake};
use crate::actors::delivery::{DeliveryTracker, Requeued};
use crate::actors::detached;
use crate::actors::router::{AgentAvailable, Route, Router};
use crate::db::types::{ConversationStatus, Role};
use crate::db::{Database, DbConn, StoreError};
use crate::domain::{AgentId, ContactId, MessageId};
use crate::realtime::{EventHub, frees_agent};
use crate::store::Actor as AuditActor;
use crate::store::contacts::{self, Contact};
use crate::store::conversations::{
    self as conv, Conversation, ConversationChange, Message, NewReply, ReplyError, ReplyOutcome,
};
use crate::store::outbox::{self, RetryError};
use crate::store::{agents, inboxes, teams};

/// Commands a conversation actor carries out.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// Store a reply (queued, sent by the channel) or a private note.
    Reply {
        agent: AgentId,
        draft: ReplyDraft,
        actor: AuditActor,
    },
    /// An agent's assignment and/or team change, checked and made together.
    Assign {
        assignment: Assignment,
        actor: AuditActor,
    },
    /// Status, priority, labels, or the router's claim.
    Change {
        change: ConversationChange,
        actor: AuditActor,
    },
    /// Queue a failed reply again.
    Retry {
        message: MessageId,
        actor: AuditActor,
    },
    /// Fire a due SLA clock with the policies and schedules of the moment.
    FireSla {
        clock_id: i64,
        now: chrono::NaiveDateTime,
        config: Arc<crate::sla::Config>,
    },
}

/// What a command produced.
// Short-lived results moved once; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Reply(ReplyOutcome),
    Conversation(Conversation),
    Message(Message),
    /// An SLA clock fired: the conversation after its actions, and the activity line.
    /// `None` when nothing was due any more (fired elsewhere, met or paused meanwhile).
    Fired(Option<FiredSla>),
}

/// What an SLA firing did.
#[derive(Debug, Clone)]
pub(crate) struct FiredSla {
    pub(crate) conversation: Conversation,
    pub(crate) activity: Option<Message>,
    /// A breach (else a warning).
    pub(crate) breach: bool,
    /// Who hears of it (the policy's notify actions).
    pub(crate) notify: crate::sla::policy::NotifyTargets,
}

/// A command addressed to one conversation (sent to the registry).
#[derive(Message)]
#[rtype(result = "Result<Output, ConversationError>")]
pub(crate) struct ForConversation {
    pub(crate) conversation_id: i64,
    pub(crate) command: Command,
}

/// Merges one contact into another (sent to the registry): the moved conversations are
/// published after the commit.
#[derive(Message)]
#[rtype(result = "Result<Option<Contact>, ConversationError>")]
pub(crate) struct MergeContacts {
    pub(crate) target: ContactId,
    pub(crate) source: ContactId,
    pub(crate) actor: AuditActor,
}

/// The same changes to many conversations (bulk actions), in one transaction: all are
/// made or none (sent to the registry; each conversation is published after the commit).
#[derive(Message)]
#[rtype(result = "Result<Vec<Conversation>, ConversationError>")]
pub(crate) struct Bulk {
    pub(crate) ids: Vec<i64>,
    pub(crate) change: BulkChange,
    pub(crate) actor: AuditActor,
}

/// What a bulk action changes; each part `None` (or empty) is left as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct BulkChange {
    pub(crate) assignment: Option<Assignment>,
    pub(crate) status: Option<(ConversationStatus, Option<chrono::NaiveDateTime>)>,
    pub(crate) priority: Option<crate::db::types::Priority>,
    pub(crate) add_labels: Vec<String>,
    pub(crate) remove_labels: Vec<String>,
}

#[derive(Message)]
#[rtype(result = "Result<Output, ConversationError>")]
struct Run(Command);

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

/// Stops the registry and every conversation actor (the hub is shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

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
    /// Told of assignments, notes (for @mentions) and SLA firings.
    notifier: Addr<crate::notify::Notifier>,
    /// Most bytes of files on one message.
    max_message_bytes: u64,
}

/// Starts, finds and passivates conversation actors.
pub(crate) struct ConversationRegistry {
    shared: Shared,
    idle: Duration,
    actors: HashMap<i64, (Addr<ConversationActor>, Instant)>,
}

/// The actors a conversation's changes wake after the commit.
pub(crate) struct Peers {
    pub(crate) channels: Addr<ChannelSupervisor>,
    pub(crate) router: Addr<Router>,
    pub(crate) delivery: Addr<DeliveryTracker>,
    pub(crate) notifier: Addr<crate::notify::Notifier>,
}

impl ConversationRegistry {
    pub(crate) fn new(
        db: Database,
        events: Arc<EventHub>,
        peers: Peers,
        idle: Duration,
        max_message_bytes: u64,
    ) -> Self {
        let Peers {
            channels,
            router,
            delivery,
            notifier,
        } = peers;
        Self {
            shared: Shared {
                db,
                events,
                channels,
                router,
                delivery,
                notifier,
                max_message_bytes,
            },
            idle,
            actors: HashMap::new(),
        }
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

impl Handler<MergeContacts> for ConversationRegistry {
    type Result = ResponseFuture<Result<Option<Contact>, ConversationError>>;

    fn handle(&mut self, msg: MergeContacts, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!(
            "merge_contacts",
            target = msg.target.get(),
            source = msg.source.get()
        );
        let shared = self.shared.clone();
        Box::pin(async move {
            use tracing::Instrument;
            let db = shared.db.clone();
            let merged = detached(
                async move {
                    let conn = &mut db.writer().await?;
                    let merged =
                        contacts::merge(conn, msg.target.get(), msg.source.get(), &msg.actor)
                            .await?;
                    let Some((contact, moved)) = merged else {
                        return Ok::<_, ConversationError>(None);
                    };
                    let mut conversations = Vec::with_capacity(moved.len());
                    for id in moved {
                        if let Some(c) = conv::find(conn, id).await? {
                            conversations.push(c);
                        }
                    }
                    Ok(Some((contact, conversations)))
                }
                .instrument(span),
            )
            .await??;
            Ok(merged.map(|(contact, conversations)| {
                for conversation in &conversations {
                    shared.events.conversation(conversation, false);
                }
                contact
            }))
        })
    }
}

impl Handler<Bulk> for ConversationRegistry {
    type Result = ResponseFuture<Result<Vec<Conversation>, ConversationError>>;

    fn handle(&mut self, msg: Bulk, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!("bulk_change", conversations = msg.ids.len());
        let shared = self.shared.clone();
        Box::pin(async move {
            use tracing::Instrument;
            let db = shared.db.clone();
            let Bulk { ids, change, actor } = msg;
            let by = actor.agent_id;
            let assignee = change
                .assignment
                .and_then(|a| a.assignee)
                .flatten()
                .map(AgentId::get);
            let changed = detached(
                async move {
                    let conn = &mut db.writer().await?;
                    crate::db::begin(conn).await?;
                    match apply_bulk(conn, &ids, &change, &actor).await {
                        Ok(changed) => {
                            crate::db::commit(conn).await?;
                            Ok(changed)
                        }
                        Err(error) => {
                            if let Err(rollback) = crate::db::rollback(conn).await {
                                tracing::warn!(%rollback, "rollback after a refused bulk change");
                            }
                            Err(error)
                        }
                    }
                }
                .instrument(span),
            )
            .await??;
            let mut out = Vec::with_capacity(changed.len());
            for (conversation, assignee_before) in changed {
                let output = Output::Conversation(conversation);
                after_commit(&shared, &output);
                // Only a conversation that changed hands tells its new assignee.
                if let Some(to) = assignee.filter(|to| assignee_before != Some(*to)) {
                    notify(&shared, Heard::Assignment { to, by }, &output);
                }
                if let Output::Conversation(conversation) = output {
                    out.push(conversation);
                }
            }
            Ok(out)
        })
    }
}

/// Checks and applies a bulk change to each conversation in turn (inside the caller's
/// transaction), in id order, each row locked before it is read (so two overlapping bulk
/// changes cannot deadlock and a label set is not read stale); the first refusal ends it,
/// naming the conversation. Answers each conversation after, with its assignee before.
async fn apply_bulk(
    conn: &mut DbConn,
    ids: &[i64],
    change: &BulkChange,
    actor: &AuditActor,
) -> Result<Vec<(Conversation, Option<i64>)>, ConversationError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let named = |id: i64, error: ConversationError| match error {
        ConversationError::Invalid { field, reason } => {
            ConversationError::invalid(field, format!("{reason} (conversation {id})"))
        }
        other => other,
    };
    let mut changed = Vec::with_capacity(ids.len());
    for &id in &ids {
        conv::lock(conn, id).await?;
        let conversation = conv::find(conn, id)
            .await?
            .ok_or(ConversationError::NotFound)?;
        let assignee_before = conversation.assignee_id;
        if let Some(assignment) = &change.assignment {
            check_assignment(conn, &conversation, assignment)
                .await
                .map_err(|e| named(id, e))?;
            let assign = ConversationChange::AssignAndTeam {
                agent_id: assignment.assignee.map(|a| a.map(AgentId::get)),
                team_id: assignment.team,
            };
            conv::change(conn, id, &assign, actor).await?;
        }
        if let Some((status, snoozed_until)) = change.status {
            let set = ConversationChange::Status {
                status,
                snoozed_until,
            };
            conv::change(conn, id, &set, actor).await?;
        }
        if let Some(priority) = change.priority {
            conv::change(conn, id, &ConversationChange::Priority(priority), actor).await?;
        }
        if !change.add_labels.is_empty() || !change.remove_labels.is_empty() {
            let before = conv::labels_of(conn, &[id])
                .await?
                .remove(&id)
                .unwrap_or_default();
            let mut after: Vec<String> = before
                .iter()
                .filter(|l| !change.remove_labels.contains(l))
                .cloned()
                .collect();
            for label in &change.add_labels {
                if !after.contains(label) {
                    after.push(label.clone());
                }
            }
            if after.len() > super::rules::MAX_LABELS {
                return Err(ConversationError::invalid(
                    "add_labels",
                    format!(
                        "a conversation keeps at most {} labels (conversation {id})",
                        super::rules::MAX_LABELS
                    ),
                ));
            }
            if after != before {
                conv::change(conn, id, &ConversationChange::Labels(after), actor).await?;
            }
        }
        changed.push((
            conv::find(conn, id)
                .await?
                .ok_or(ConversationError::NotFound)?,
            assignee_before,
        ));
    }
    Ok(changed)
}

impl Handler<ForConversation> for ConversationRegistry {
    type Result = ResponseFuture<Result<Output, ConversationError>>;

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
                .map_err(|e| ConversationError::Unavailable(e.to_string()))?
        })
    }
}

/// The single writer of one conversation's agent-side changes.
struct ConversationActor {
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
    type Result = AtomicResponse<Self, Result<Output, ConversationError>>;

    fn handle(&mut self, msg: Run, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!("conversation_command", conversation_id = self.id);
        let shared = self.shared.clone();
        let id = self.id;
        let work = async move {
            use tracing::Instrument;
            let limit = shared.max_message_bytes;
            let heard = Heard::of(&msg.0);
            let result =
                detached(execute(shared.db.clone(), id, msg.0, limit).instrument(span)).await?;
            let output = result?;
            after_commit(&shared, &output);
            notify(&shared, heard, &output);
            Ok(output)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self)))
    }
}

async fn execute(
    db: Database,
    id: i64,
    command: Command,
    max_message_bytes: u64,
) -> Result<Output, ConversationError> {
    let conn = &mut db.writer().await?;
    match command {
        Command::Reply {
            agent,
            draft,
            actor,
        } => {
            // A repeated request (same Idempotency-Key) is answered with the first message,
            // which took these files; only a new message has its files checked.
            let replay = match &draft.idempotency_key {
                Some(key) => conv::idempotency_key_used(conn, id, key).await?,
                None => false,
            };
            if !replay {
                check_attachments(conn, id, &draft.attachment_ids, max_message_bytes).await?;
            }
            let reply = NewReply {
                conversation_id: id,
                agent_id: agent.get(),
                content: draft.content,
                private: draft.private,
                idempotency_key: draft.idempotency_key,
                reply_to_id: draft.reply_to.map(MessageId::get),
                attachment_ids: draft.attachment_ids,
                details: draft.details,
            };
            match conv::store_reply(conn, &reply, &actor).await {
                Ok(outcome) => Ok(Output::Reply(
                    assign_on_reply(conn, outcome, agent, &actor).await,
                )),
                Err(ReplyError::NotFound) => Err(ConversationError::NotFound),
                Err(error @ (ReplyError::BadReplyTo | ReplyError::Attachment(_))) => {
                    Err(ConversationError::invalid("message", error))
                }
                Err(ReplyError::Store(e)) => Err(e.into()),
                Err(other) => Err(ConversationError::Refused(other.to_string())),
            }
        }
        Command::Assign { assignment, actor } => {
            let conversation = conv::find(conn, id)
                .await?
                .ok_or(ConversationError::NotFound)?;
            check_assignment(conn, &conversation, &assignment).await?;
            let change = ConversationChange::AssignAndTeam {
                agent_id: assignment.assignee.map(|a| a.map(AgentId::get)),
                team_id: assignment.team,
            };
            conv::change(conn, id, &change, &actor)
                .await?
                .map(Output::Conversation)
                .ok_or(ConversationError::NotFound)
        }
        Command::Change { change, actor } => {
            let conditional = matches!(
                change,
                ConversationChange::Assign {
                    only_if_unassigned: true,
                    ..
                } | ConversationChange::CloseResolved
            );
            match conv::change(conn, id, &change, &actor).await? {
                Some(conversation) => Ok(Output::Conversation(conversation)),
                None if conditional => Err(ConversationError::Lost),
                None => Err(ConversationError::NotFound),
            }
        }
        Command::FireSla {
            clock_id,
            now,
            config,
        } => {
            crate::db::begin(conn).await?;
            match fire_sla(conn, id, clock_id, now, &config).await {
                Ok(fired) => {
                    crate::db::commit(conn).await?;
                    Ok(Output::Fired(fired))
                }
                Err(error) => {
                    if let Err(rollback) = crate::db::rollback(conn).await {
                        tracing::warn!(%rollback, "rollback after a failed SLA firing");
                    }
                    Err(error)
                }
            }
        }
        Command::Retry { message, actor } => {
            match outbox::retry(conn, id, message.get(), &actor).await {
                Ok(message) => Ok(Output::Message(message)),
                Err(RetryError::NotFound) => Err(ConversationError::NotFound),
                Err(RetryError::Store(e)) => Err(e.into()),
                Err(other) => Err(ConversationError::Refused(other.to_string())),
            }
        }
    }
}

/// Records a due warning or breach and runs its actions, inside the caller's transaction.
/// Every action is idempotent ("at least this priority", "this team", "this label"), each
/// is audited by the change it makes, and an activity line tells the agents what happened.
async fn fire_sla(
    conn: &mut DbConn,
    id: i64,
    clock_id: i64,
    now: chrono::NaiveDateTime,
    config: &crate::sla::Config,
) -> Result<Option<FiredSla>, ConversationError> {
    use crate::sla::policy::{Action, Stage, Target, priority_rank};
    let (clock, fired) = crate::store::sla::fire(conn, clock_id, now).await?;
    let Some(clock) = clock.filter(|_| fired.warning || fired.breach) else {
        return Ok(None);
    };
    let stage = if fired.breach {
        Stage::Breach
    } else {
        Stage::Warning
    };
    let policy = config
        .policies
        .iter()
        .find(|p| Some(p.id) == clock.policy_id);
    let system = AuditActor::system();
    let mut done: Vec<String> = Vec::new();
    for action in policy.into_iter().flat_map(|p| p.actions_on(stage)) {
        let Some(current) = conv::find(conn, id).await? else {
            return Err(ConversationError::NotFound);
        };
        let change = match action {
            Action::RaisePriority(p) if priority_rank(current.priority) < priority_rank(*p) => {
                done.push(format!("priority raised to {}", p.as_str()));
                ConversationChange::Priority(*p)
            }
            Action::SetTeam(team) if current.team_id != Some(*team) => {
                let Some(found) = teams::find(conn, *team).await? else {
                    done.push(format!("team {team} no longer exists"));
                    continue;
                };
                done.push(format!("handed to team {}", found.name));
                ConversationChange::AssignAndTeam {
                    agent_id: None,
                    team_id: Some(Some(*team)),
                }
            }
            Action::Unassign if current.assignee_id.is_some() => {
                done.push("unassigned, to be offered again".to_owned());
                ConversationChange::Assign {
                    agent_id: None,
                    only_if_unassigned: false,
                }
            }
            Action::AddLabel(label) => {
                let mut labels = conv::labels_of(conn, &[id])
                    .await?
                    .remove(&id)
                    .unwrap_or_default();
                if labels.contains(label) {
                    continue;
                }
                labels.push(label.clone());
                done.push(format!("labelled {label}"));
                ConversationChange::Labels(labels)
            }
            _ => continue,
        };
        conv::change(conn, id, &change, &system).await?;
    }
    let target = Target::parse(&clock.target).unwrap_or(Target::Resolution);
    let due = clock
        .due_at
        .map(|d| d.and_utc().format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let mut line = match stage {
        Stage::Warning => format!("{} SLA due soon ({due})", target.label()),
        Stage::Breach => format!("{} SLA breached (due {due})", target.label()),
    };
    if !done.is_empty() {
        line.push_str(": ");
        line.push_str(&done.join("; "));
    }
    let event = crate::store::AuditEvent::new(
        match stage {
            Stage::Warning => "sla.warning",
            Stage::Breach => "sla.breach",
        },
        "conversation",
        id,
    )
    .with_details(serde_json::json!({
        "clock_id": clock_id.to_string(),
        "target": target.as_str(),
        "policy_id": clock.policy_id.map(|p| p.to_string()),
        "due_at": clock.due_at.map(|d| d.and_utc()),
        "actions": done,
    }));
    crate::store::audit::record(conn, &system, &event).await?;
    let activity = conv::store_activity(conn, id, &line).await?;
    let conversation = conv::find(conn, id)
        .await?
        .ok_or(ConversationError::NotFound)?;
    tracing::info!(
        conversation_id = id,
        clock_id,
        stage = stage.as_str(),
        "SLA fired"
    );
    let notify = policy.map_or(crate::sla::policy::NotifyTargets::DEFAULT, |p| {
        p.notify_targets(stage)
    });
    Ok(Some(FiredSla {
        conversation,
        activity,
        breach: stage == Stage::Breach,
        notify,
    }))
}

/// Refuses attachments that are not unsent uploads of this conversation, or that together
/// exceed the per-message limit, with a message naming the problem (the store checks the
/// first part again atomically when the message is stored).
async fn check_attachments(
    conn: &mut DbConn,
    conversation_id: i64,
    ids: &[i64],
    limit: u64,
) -> Result<(), ConversationError> {
    let mut total: u64 = 0;
    for id in ids {
        match crate::store::attachments::find(conn, *id).await? {
            Some((a, _)) if a.conversation_id == conversation_id && a.message_id.is_none() => {
                total = total.saturating_add(u64::try_from(a.byte_size).unwrap_or(u64::MAX));
            }
            Some((a, _)) if a.conversation_id == conversation_id => {
                return Err(ConversationError::invalid(
                    "attachment_ids",
                    format!(
                        "attachment {id} was already sent with message {}",
                        a.message_id.unwrap_or_default()
                    ),
                ));
            }
            _ => {
                return Err(ConversationError::invalid(
                    "attachment_ids",
                    format!("no upload {id} in this conversation"),
                ));
            }
        }
    }
    if total > limit {
        return Err(ConversationError::TooLarge(format!(
            "the attachments total {total} bytes, over the limit of {limit} bytes per message"
        )));
    }
    Ok(())
}

/// Only an active agent who can see the conversation can be given it, and only an existing
/// team; everything is checked before anything changes.
async fn check_assignment(
    conn: &mut DbConn,
    conversation: &Conversation,
    assignment: &Assignment,
) -> Result<(), ConversationError> {
    if let Some(Some(team)) = assignment.team {
        teams::find(conn, team)
            .await?
            .ok_or_else(|| ConversationError::invalid("team_id", "no team with that id"))?;
    }
    if let (Some(Some(agent_id)), Some(inbox_id)) = (assignment.assignee, conversation.inbox_id) {
        let agent = agents::find(conn, agent_id.get())
            .await?
            .filter(|a| a.active)
            .ok_or_else(|| {
                ConversationError::invalid("assignee_id", "no active agent with that id")
            })?;
        if agent.role != Role::Admin && !inboxes::is_member(conn, inbox_id, agent_id.get()).await? {
            return Err(ConversationError::invalid(
                "assignee_id",
                "that agent is not a member of this inbox",
            ));
        }
    }
    Ok(())
}

/// An agent's reply (not a note) to an unassigned conversation makes it theirs, when its
/// inbox says so (`assign_on_reply`, on by default); a claim that loses quietly to a
/// concurrent assignment. Audited like any assignment. Best effort: the reply is stored
/// already, so a failure here is logged and the reply answered as it is.
async fn assign_on_reply(
    conn: &mut DbConn,
    outcome: ReplyOutcome,
    agent: AgentId,
    actor: &AuditActor,
) -> ReplyOutcome {
    let ReplyOutcome::Created {
        message,
        conversation,
    } = outcome
    else {
        return outcome;
    };
    match claim_on_reply(conn, &message, &conversation, agent, actor).await {
        Ok(Some(claimed)) => ReplyOutcome::Created {
            message,
            conversation: claimed,
        },
        Ok(None) => ReplyOutcome::Created {
            message,
            conversation,
        },
        Err(error) => {
            tracing::warn!(%error, conversation_id = conversation.id, "reply stored; assigning it failed");
            ReplyOutcome::Created {
                message,
                conversation,
            }
        }
    }
}

/// The conversation after a reply's claim, or `None` when no claim was wanted.
async fn claim_on_reply(
    conn: &mut DbConn,
    message: &Message,
    conversation: &Conversation,
    agent: AgentId,
    actor: &AuditActor,
) -> Result<Option<Conversation>, StoreError> {
    let wanted = !message.private
        && conversation.assignee_id.is_none()
        && match conversation.inbox_id {
            Some(inbox) => inboxes::find(conn, inbox)
                .await?
                .is_some_and(|i| i.assign_on_reply),
            None => false,
        };
    if !wanted {
        return Ok(None);
    }
    let claim = ConversationChange::Assign {
        agent_id: Some(agent.get()),
        only_if_unassigned: true,
    };
    match conv::change(conn, conversation.id, &claim, actor).await? {
        Some(claimed) => Ok(Some(claimed)),
        // Someone assigned it meanwhile: publish it as it is now.
        None => conv::find(conn, conversation.id).await,
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
            route_if_waiting(shared, conversation);
        }
        Output::Fired(None) => {}
        Output::Fired(Some(FiredSla {
            conversation,
            activity,
            ..
        })) => {
            if let Some(activity) = activity {
                shared.events.message(activity, true);
            }
            shared.events.conversation(conversation, false);
            route_if_waiting(shared, conversation);
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

/// What of a command its agents may need to hear about, taken before it runs.
enum Heard {
    /// An assignment to this agent, by this agent (none: the router or the hub).
    Assignment {
        to: i64,
        by: Option<i64>,
    },
    /// A private note by this agent.
    Note {
        by: i64,
    },
    Nothing,
}

impl Heard {
    fn of(command: &Command) -> Self {
        match command {
            Command::Assign { assignment, actor } => match assignment.assignee {
                Some(Some(to)) => Self::Assignment {
                    to: to.get(),
                    by: actor.agent_id,
                },
                _ => Self::Nothing,
            },
            Command::Change {
                change:
                    ConversationChange::Assign {
                        agent_id: Some(to), ..
                    },
                actor,
            } => Self::Assignment {
                to: *to,
                by: actor.agent_id,
            },
            Command::Reply { agent, draft, .. } if draft.private => Self::Note { by: agent.get() },
            _ => Self::Nothing,
        }
    }
}

/// Hands the notifier what agents should hear about a committed command.
fn notify(shared: &Shared, heard: Heard, output: &Output) {
    use crate::notify::Intent;
    let intent = match (heard, output) {
        (Heard::Assignment { to, by }, Output::Conversation(c)) if c.assignee_id == Some(to) => {
            Intent::Assigned {
                agent_id: to,
                conversation_id: c.id,
                actor_id: by,
            }
        }
        (
            Heard::Note { by },
            Output::Reply(ReplyOutcome::Created {
                message,
                conversation,
            }),
        ) => Intent::Note {
            conversation_id: conversation.id,
            inbox_id: conversation.inbox_id,
            actor_id: by,
            content: message.content.clone(),
        },
        (_, Output::Fired(Some(fired))) => Intent::Sla {
            assignee_id: fired.conversation.assignee_id,
            inbox_id: fired.conversation.inbox_id,
            team_id: fired.conversation.team_id,
            to: fired.notify,
            conversation_id: fired.conversation.id,
            breach: fired.breach,
            line: fired
                .activity
                .as_ref()
                .map(|m| m.content.clone())
                .unwrap_or_default(),
        },
        _ => return,
    };
    if let Err(error) = shared
        .notifier
        .try_send(crate::notify::Notify(vec![intent]))
    {
        tracing::warn!(%error, "notifier busy; a notification was dropped");
    }
}

/// An open conversation without an assignee goes to the router.
fn route_if_waiting(shared: &Shared, conversation: &Conversation) {
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

fn wake(shared: &Shared, inbox_id: i64) {
    if let Err(error) = shared.channels.try_send(Wake { inbox_id }) {
        // The channel's own timer drains the outbox within a second anyway.
        tracing::debug!(%error, inbox_id, "channel supervisor busy");
    }
}
