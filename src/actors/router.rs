//! The router: assigns new and reopened support conversations round-robin to inbox members
//! who are online and under their capacity (`agents.capacity`; none means no limit).
//! A conversation nobody can take waits unassigned; it is assigned when an agent comes
//! online or frees up, and a periodic sweep catches anything a full mailbox dropped.
//!
//! Assignments go through the conversation's actor as a conditional claim ("only if still
//! unassigned"), so an agent assigning by hand at the same moment always wins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::presence::Presence;
use crate::conversations::{Command, ConversationRegistry, ForConversation};
use crate::db::Database;
use crate::store::conversations::{self as conv, ConversationChange};
use crate::store::{Actor as AuditActor, agents, inboxes};

/// How often waiting conversations are checked even without a trigger.
const SWEEP: Duration = Duration::from_secs(15);

pub(crate) struct Router {
    db: Database,
    presence: Arc<Presence>,
    conversations: Option<Addr<ConversationRegistry>>,
    /// Per inbox, the last agent id that got a conversation (round robin).
    last_assigned: HashMap<i64, i64>,
    busy: bool,
    again: bool,
}

impl Router {
    pub(crate) fn new(db: Database, presence: Arc<Presence>) -> Self {
        Self {
            db,
            presence,
            conversations: None,
            last_assigned: HashMap::new(),
            busy: false,
            again: false,
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(SWEEP, |_, ctx| ctx.notify(Sweep));
    }
}

/// Gives the router the conversation registry (they reference each other).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    pub conversations: Addr<ConversationRegistry>,
}

/// A conversation became active without an assignee.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Route {
    pub conversation_id: i64,
    pub inbox_id: i64,
}

/// An agent came online or freed up: waiting conversations may go to them.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AgentAvailable {
    pub agent_id: i64,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Sweep;

/// Stops the router (the hub is shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

impl Handler<Shutdown> for Router {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Done(HashMap<i64, i64>);

impl Handler<Attach> for Router {
    type Result = ();
    fn handle(&mut self, msg: Attach, _: &mut Self::Context) {
        self.conversations = Some(msg.conversations);
    }
}

impl Handler<Route> for Router {
    type Result = ();
    fn handle(&mut self, msg: Route, ctx: &mut Self::Context) {
        let _span = tracing::debug_span!(
            "route",
            conversation_id = msg.conversation_id,
            inbox_id = msg.inbox_id
        )
        .entered();
        ctx.notify(Sweep);
    }
}

impl Handler<AgentAvailable> for Router {
    type Result = ();
    fn handle(&mut self, msg: AgentAvailable, ctx: &mut Self::Context) {
        let _span = tracing::debug_span!("agent_available", agent_id = msg.agent_id).entered();
        ctx.notify(Sweep);
    }
}

/// One pass: every waiting conversation of every inbox with an online member, oldest first.
impl Handler<Sweep> for Router {
    type Result = ();
    fn handle(&mut self, _: Sweep, ctx: &mut Self::Context) {
        if self.busy {
            self.again = true;
            return;
        }
        let Some(registry) = self.conversations.clone() else {
            return;
        };
        let online = self.presence.online();
        if online.is_empty() {
            return;
        }
        self.busy = true;
        let db = self.db.clone();
        let mut last = self.last_assigned.clone();
        let pass = async move {
            if let Err(error) = assign_waiting(&db, &registry, &online, &mut last).await {
                tracing::warn!(%error, "routing pass failed");
            }
            last
        };
        let addr = ctx.address();
        actix_web::rt::spawn(async move {
            let last = pass.await;
            addr.do_send(Done(last));
        });
    }
}

impl Handler<Done> for Router {
    type Result = ();
    fn handle(&mut self, msg: Done, ctx: &mut Self::Context) {
        self.last_assigned = msg.0;
        self.busy = false;
        if std::mem::take(&mut self.again) {
            ctx.notify(Sweep);
        }
    }
}

/// An active agent under their capacity (`None`: no limit).
fn has_room(capacity: &HashMap<i64, Option<i64>>, load: &HashMap<i64, i64>, agent_id: i64) -> bool {
    match capacity.get(&agent_id) {
        None => false,
        Some(None) => true,
        Some(Some(limit)) => load.get(&agent_id).copied().unwrap_or(0) < *limit,
    }
}

async fn assign_waiting(
    db: &Database,
    registry: &Addr<ConversationRegistry>,
    online: &[i64],
    last_assigned: &mut HashMap<i64, i64>,
) -> Result<(), crate::db::StoreError> {
    let conn = &mut db.reader().await?;
    // Inboxes any online agent belongs to.
    let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
    for &agent_id in online {
        for inbox_id in inboxes::ids_of_member(conn, agent_id).await? {
            members.entry(inbox_id).or_default().push(agent_id);
        }
    }
    if members.is_empty() {
        return Ok(());
    }
    // Most sweeps (one per new conversation) find nothing waiting: answer that with one
    // cheap query before counting anybody's load.
    let all_inboxes: Vec<i64> = members.keys().copied().collect();
    if conv::waiting(conn, &all_inboxes, 1).await?.is_empty() {
        return Ok(());
    }
    let mut load = conv::open_load(conn, online).await?;
    let mut capacity = HashMap::new();
    for &agent_id in online {
        if let Some(agent) = agents::find(conn, agent_id).await?
            && agent.active
        {
            capacity.insert(agent_id, agent.capacity);
        }
    }
    // Only inboxes where someone has room: a backlog in an inbox whose agents are all full
    // must not fill the page and starve the others.
    let inbox_ids: Vec<i64> = members
        .iter()
        .filter(|(_, candidates)| candidates.iter().any(|id| has_room(&capacity, &load, *id)))
        .map(|(inbox_id, _)| *inbox_id)
        .collect();
    if inbox_ids.is_empty() {
        return Ok(());
    }
    let waiting = conv::waiting(conn, &inbox_ids, 200).await?;
    for conversation in waiting {
        let Some(inbox_id) = conversation.inbox_id else {
            continue;
        };
        let Some(candidates) = members.get_mut(&inbox_id) else {
            continue;
        };
        candidates.sort_unstable();
        let after = last_assigned.get(&inbox_id).copied().unwrap_or(0);
        let pick = candidates
            .iter()
            .filter(|id| **id > after)
            .chain(candidates.iter().filter(|id| **id <= after))
            .find(|id| has_room(&capacity, &load, **id))
            .copied();
        let Some(agent_id) = pick else { continue };
        let claim = ForConversation {
            conversation_id: conversation.id,
            command: Command::Change {
                change: ConversationChange::Assign {
                    agent_id: Some(agent_id),
                    only_if_unassigned: true,
                },
                actor: AuditActor::system(),
            },
        };
        match registry.send(claim).await {
            Ok(Ok(_)) => {
                tracing::info!(conversation_id = conversation.id, agent_id, "routed");
                last_assigned.insert(inbox_id, agent_id);
                *load.entry(agent_id).or_default() += 1;
            }
            Ok(Err(error)) => tracing::debug!(%error, "routing claim not applied"),
            Err(error) => tracing::warn!(%error, "conversation registry unavailable"),
        }
    }
    Ok(())
}
