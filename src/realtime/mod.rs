//! Realtime events for agents: one numbered stream per hub node, kept in a replay log so
//! a client that reconnects with its last sequence number gets exactly what it missed.
//!
//! Every event gets the next sequence number under one lock, is appended to a bounded log
//! and handed to each subscriber that may see it (its inboxes, or every inbox for
//! admins). Subscribing with a resume point copies the logged events after it and
//! registers the subscriber under the same lock, so nothing falls between the replay and
//! the live stream and nothing comes twice. The stream is per node and per process run:
//! its `epoch` changes on restart, and a client resuming from another epoch, or from a
//! point older than the log, is told to resync (reload through the REST API).
//!
//! Delivery never waits: each subscriber has a bounded buffer, and one that falls too far
//! behind is dropped from the stream and told to resync instead of slowing the others.

pub(crate) mod cluster;
pub(crate) mod visitors;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::db::types::ConversationStatus;
use crate::views::{ConversationView, MessageView};

/// One event of the stream, serialized once for every subscriber.
#[derive(Debug)]
pub struct Envelope {
    pub seq: u64,
    scope: Scope,
    /// `{"seq":N,"type":"...","data":{...}}`
    pub json: String,
}

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Members of the inbox (and admins).
    Inbox(i64),
    /// Every agent (presence).
    Everyone,
    /// One agent's sockets only (their notifications).
    Agent(i64),
}

/// The events agents receive.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated { message: MessageView },
    #[serde(rename = "message.updated")]
    MessageUpdated { message: MessageView },
    #[serde(rename = "conversation.created")]
    ConversationCreated { conversation: ConversationView },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: ConversationView },
    /// What agents see of a contact changed (a web visitor moved to another page).
    #[serde(rename = "contact.updated")]
    ContactUpdated {
        #[serde(serialize_with = "crate::views::id_string")]
        contact_id: i64,
    },
    /// A contact blocked or unblocked the inbox's channel (a Telegram bot): the inbox shows
    /// it, and replies fail at once while blocked.
    #[serde(rename = "contact.reachability")]
    Reachability {
        #[serde(serialize_with = "crate::views::id_string")]
        contact_id: i64,
        #[serde(serialize_with = "crate::views::id_string")]
        inbox_id: i64,
        blocked: bool,
    },
    #[serde(rename = "typing")]
    Typing {
        #[serde(serialize_with = "crate::views::id_string")]
        conversation_id: i64,
        sender_type: &'static str,
        #[serde(serialize_with = "crate::views::id_string")]
        sender_id: i64,
        on: bool,
    },
    /// Who has a conversation open right now (collision detection): sent to the inbox when
    /// the set changes, and to an agent who starts viewing.
    #[serde(rename = "viewers")]
    Viewers {
        #[serde(serialize_with = "crate::views::id_string")]
        conversation_id: i64,
        #[serde(serialize_with = "ids_as_strings")]
        agent_ids: Vec<i64>,
        /// The same agents with their names (every agent may see colleagues' names here,
        /// even where the agent directory is for admins).
        agents: Vec<ViewerView>,
    },
    /// A notification for the agent of this socket (the bell).
    #[serde(rename = "notification.created")]
    Notification {
        notification: crate::views::NotificationView,
    },
    /// A conversation's SLA changed: started, paused, met, warned, breached.
    #[serde(rename = "conversation.sla")]
    Sla {
        #[serde(serialize_with = "crate::views::id_string")]
        conversation_id: i64,
        sla: Option<crate::sla::SlaBadge>,
    },
    #[serde(rename = "presence")]
    Presence {
        #[serde(serialize_with = "crate::views::id_string")]
        agent_id: i64,
        status: &'static str,
    },
}

/// Where a subscriber starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Resumed: the backlog holds exactly the events after the client's point.
    Resumed,
    /// New client: live from now on.
    Fresh,
    /// The client's point cannot be served (other epoch, or older than the log); it must
    /// reload its state; live events follow from now on.
    Resync(&'static str),
}

/// A registered subscriber.
pub struct Subscription {
    pub id: u64,
    pub start: Start,
    /// The sequence number of the last event before live delivery begins.
    pub seq: u64,
    pub backlog: Vec<Arc<Envelope>>,
    pub events: mpsc::Receiver<Arc<Envelope>>,
    /// Set when the hub dropped this subscriber for being too slow.
    pub lagged: Arc<AtomicBool>,
}

struct Subscriber {
    agent_id: i64,
    admin: bool,
    inboxes: HashSet<i64>,
    /// `None` while the subscriber is dropped from the stream for being too slow: the entry
    /// stays (with its inboxes kept current) until the connection resubscribes or closes.
    tx: Option<mpsc::Sender<Arc<Envelope>>>,
    lagged: Arc<AtomicBool>,
    /// Events up to this seq were already delivered by another node (a client that resumed
    /// here a little ahead of this node's copy of the stream).
    seen_through: u64,
}

impl Subscriber {
    fn sees(&self, scope: Scope) -> bool {
        match scope {
            Scope::Everyone => true,
            Scope::Inbox(id) => self.admin || self.inboxes.contains(&id),
            Scope::Agent(id) => self.agent_id == id,
        }
    }
}

struct Inner {
    last_seq: u64,
    log: VecDeque<Arc<Envelope>>,
    subscribers: HashMap<u64, Subscriber>,
    next_subscriber: u64,
}

/// The node's event stream (shared by all workers and actors).
pub struct EventHub {
    /// Widget visitors' open sockets: they get their conversation's messages too.
    pub visitors: visitors::Visitors,
    /// Which agent socket has which conversation open.
    pub viewers: Viewers,
    epoch: String,
    log_capacity: usize,
    buffer: usize,
    inner: Mutex<Inner>,
    /// Told of every conversation change, to keep SLA clocks in step.
    sla: std::sync::OnceLock<Arc<crate::sla::Sla>>,
    /// With several nodes: events go through the cluster's stream, which numbers them.
    link: Option<Arc<cluster::Link>>,
}

impl EventHub {
    /// `log_capacity` events are kept for resume; each subscriber buffers `buffer`.
    pub fn new(log_capacity: usize, buffer: usize) -> Self {
        let epoch = hex::encode(crate::auth::random_bytes::<8>());
        Self::with(log_capacity, buffer, epoch, 0, None)
    }

    /// A node's stream fed by the cluster's: sequence numbers and epoch are the stream's.
    pub(crate) fn clustered(log_capacity: usize, buffer: usize, joined: &cluster::Joined) -> Self {
        Self::with(
            log_capacity,
            buffer,
            joined.epoch.clone(),
            joined.floor,
            Some(joined.link.clone()),
        )
    }

    fn with(
        log_capacity: usize,
        buffer: usize,
        epoch: String,
        floor: u64,
        link: Option<Arc<cluster::Link>>,
    ) -> Self {
        Self {
            visitors: visitors::Visitors::new(link.clone()),
            viewers: Viewers::default(),
            epoch,
            log_capacity: log_capacity.max(1),
            buffer: buffer.max(1),
            inner: Mutex::new(Inner {
                last_seq: floor,
                log: VecDeque::new(),
                subscribers: HashMap::new(),
                next_subscriber: 1,
            }),
            sla: std::sync::OnceLock::new(),
            link,
        }
    }

    /// The cluster link, when this node is one of several.
    pub(crate) fn link(&self) -> Option<&Arc<cluster::Link>> {
        self.link.as_ref()
    }

    /// Tells the other nodes to reload what an admin changed (nothing on a single node).
    pub(crate) fn tell_nodes(&self, notice: cluster::Notice) {
        if let Some(link) = &self.link {
            link.send_notice(notice);
        }
    }

    /// Resolves once every event published so far is on its way to all nodes (at once on
    /// a single node, where delivery happens inside `publish`).
    pub(crate) fn published(&self) -> Option<impl Future<Output = ()> + use<>> {
        self.link.as_ref().map(|link| link.taken())
    }

    /// Lets the SLA bookkeeping hear of every committed conversation change.
    pub(crate) fn watch_sla(&self, sla: Arc<crate::sla::Sla>) {
        let _ = self.sla.set(sla);
    }

    fn touched(&self, conversation_id: i64) {
        if let Some(sla) = self.sla.get() {
            sla.touch(conversation_id);
        }
    }

    /// Tells one agent's sockets of a new notification.
    pub(crate) fn notification(&self, notification: &crate::store::notifications::Notification) {
        self.publish(
            Scope::Agent(notification.agent_id),
            &Event::Notification {
                notification: notification.into(),
            },
        );
    }

    /// Publishes a conversation's SLA badge (none: no running clock) to its inbox.
    pub(crate) fn sla(
        &self,
        conversation_id: i64,
        inbox_id: i64,
        sla: Option<crate::sla::SlaBadge>,
    ) {
        self.publish(
            Scope::Inbox(inbox_id),
            &Event::Sla {
                conversation_id,
                sla,
            },
        );
    }

    /// Identifies this run of the stream; sequence numbers are only comparable within it.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the log half-written (every update
        // is a push or a remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers, logs and delivers one event. Never waits for a subscriber.
    pub fn publish(&self, scope: Scope, event: &Event) {
        self.publish_keyed(scope, event, None);
    }

    /// [`publish`](Self::publish), with a key under which the cluster's stream keeps the
    /// event once.
    fn publish_keyed(&self, scope: Scope, event: &Event, key: Option<String>) {
        match event {
            Event::Presence { .. } => self.visitors.presence_changed(),
            // Visitors see their conversation end (resolved or closed) and open again.
            Event::ConversationUpdated { conversation }
            | Event::ConversationCreated { conversation } => self.visitors.to_conversation(
                conversation.id,
                visitors::VisitorEvent::Conversation {
                    conversation_id: conversation.id,
                    resolved: matches!(
                        conversation.status,
                        ConversationStatus::Resolved | ConversationStatus::Closed
                    ),
                },
            ),
            Event::Typing {
                conversation_id,
                sender_type: "agent",
                sender_id,
                on,
            } => self.visitors.to_conversation(
                *conversation_id,
                visitors::VisitorEvent::Typing {
                    agent_id: *sender_id,
                    on: *on,
                },
            ),
            _ => {}
        }
        let body = match serde_json::to_string(event) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "cannot serialize an event");
                return;
            }
        };
        if let Some(link) = &self.link {
            // Numbered by the cluster's stream, delivered when it comes back (from_stream).
            link.send_agent(scope, &body, key);
            return;
        }
        let mut inner = self.lock();
        let seq = inner.last_seq + 1;
        self.append(&mut inner, seq, scope, &body);
    }

    /// An event read from the cluster's stream at `seq`: this node's sockets get it.
    pub(crate) fn take_from_stream(&self, seq: u64, payload: &[u8]) {
        match cluster::decode(payload) {
            Some(cluster::Incoming::Agent { scope, body }) => {
                if let Some(link) = &self.link
                    && (body.starts_with("{\"type\":\"presence\"")
                        || body.starts_with("{\"type\":\"viewers\""))
                {
                    link.note_announced(scope, body);
                    if body.starts_with("{\"type\":\"presence\"") {
                        self.visitors.presence_changed();
                    }
                }
                let mut inner = self.lock();
                if seq <= inner.last_seq {
                    return;
                }
                self.append(&mut inner, seq, scope, body);
            }
            Some(cluster::Incoming::Visitor(wire)) => self.visitors.deliver(wire),
            Some(cluster::Incoming::Notice(body)) => {
                if let Some(link) = &self.link {
                    link.take_notice(body);
                }
            }
            None => tracing::warn!(
                seq,
                "an unreadable event in the cluster's stream was skipped"
            ),
        }
    }

    /// Logs an event at `seq` and hands it to every subscriber that sees it.
    fn append(&self, inner: &mut Inner, seq: u64, scope: Scope, body: &str) {
        // `{"type":..,"data":..}` → `{"seq":N,"type":..,"data":..}`
        let rest = body.strip_prefix('{').unwrap_or(body);
        inner.last_seq = seq;
        let envelope = Arc::new(Envelope {
            seq,
            scope,
            json: format!("{{\"seq\":{seq},{rest}"),
        });
        inner.log.push_back(envelope.clone());
        while inner.log.len() > self.log_capacity {
            inner.log.pop_front();
        }
        inner.subscribers.retain(|_, s| {
            let Some(tx) =
                s.tx.as_ref()
                    .filter(|_| seq > s.seen_through && s.sees(scope))
            else {
                return true;
            };
            match tx.try_send(envelope.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Dropping the sender ends the connection's stream after what it holds.
                    s.lagged.store(true, Ordering::Release);
                    s.tx = None;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Registers an agent's connection, resuming after `(epoch, seq)` when given.
    pub fn subscribe(
        &self,
        agent_id: i64,
        admin: bool,
        inboxes: HashSet<i64>,
        resume: Option<(&str, u64)>,
    ) -> Subscription {
        let (tx, events) = mpsc::channel(self.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber {
            agent_id,
            admin,
            inboxes,
            tx: Some(tx),
            lagged: lagged.clone(),
            seen_through: 0,
        };
        let mut subscriber = subscriber;
        let mut inner = self.lock();
        let oldest = inner.log.front().map_or(inner.last_seq + 1, |e| e.seq);
        let mut seq_now = inner.last_seq;
        let (start, backlog) = match resume {
            None => (Start::Fresh, Vec::new()),
            Some((epoch, _)) if epoch != self.epoch => (
                Start::Resync("the hub restarted since this sequence number"),
                Vec::new(),
            ),
            // Another node delivered up to `seq` and this node's copy of the cluster's
            // stream is a little behind: what comes after it follows live.
            Some((_, seq))
                if self.link.is_some()
                    && seq > inner.last_seq
                    && seq - inner.last_seq <= self.log_capacity as u64 =>
            {
                subscriber.seen_through = seq;
                seq_now = seq;
                (Start::Resumed, Vec::new())
            }
            Some((_, seq)) if seq > inner.last_seq => (
                Start::Resync("this sequence number was never sent"),
                Vec::new(),
            ),
            Some((_, seq)) if seq + 1 < oldest => (
                Start::Resync("too many events were missed to replay them"),
                Vec::new(),
            ),
            Some((_, seq)) => {
                let backlog = inner
                    .log
                    .iter()
                    .filter(|e| e.seq > seq && subscriber.sees(e.scope))
                    .cloned()
                    .collect();
                (Start::Resumed, backlog)
            }
        };
        let id = inner.next_subscriber;
        inner.next_subscriber += 1;
        inner.subscribers.insert(id, subscriber);
        Subscription {
            id,
            start,
            seq: seq_now,
            backlog,
            events,
            lagged,
        }
    }

    /// Puts a subscriber that was dropped for being too slow back on the live stream, told
    /// to resync, with the inboxes it sees now (membership may have changed meanwhile).
    /// `None` if it has unsubscribed.
    pub fn resubscribe(&self, id: u64) -> Option<Subscription> {
        let (tx, events) = mpsc::channel(self.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut inner = self.lock();
        let seq = inner.last_seq;
        let subscriber = inner.subscribers.get_mut(&id)?;
        subscriber.tx = Some(tx);
        subscriber.lagged = lagged.clone();
        subscriber.seen_through = 0;
        Some(Subscription {
            id,
            start: Start::Resync("this connection fell too far behind"),
            seq,
            backlog: Vec::new(),
            events,
            lagged,
        })
    }

    /// Removes a subscriber (its connection closed).
    pub fn unsubscribe(&self, id: u64) {
        self.lock().subscribers.remove(&id);
    }

    /// Updates which inboxes an agent's connections see (membership changed).
    pub fn set_inboxes(&self, agent_id: i64, inboxes: &HashSet<i64>) {
        for s in self.lock().subscribers.values_mut() {
            if s.agent_id == agent_id {
                s.inboxes = inboxes.clone();
            }
        }
    }

    /// Changes whether a subscriber sees every inbox (its agent became or stopped being an
    /// admin).
    pub fn set_admin(&self, id: u64, admin: bool) {
        if let Some(s) = self.lock().subscribers.get_mut(&id) {
            s.admin = admin;
        }
    }

    /// Subscribers on the live stream, not counting those dropped for being too slow until
    /// they resubscribe (metrics, tests).
    pub fn subscriber_count(&self) -> usize {
        self.lock()
            .subscribers
            .values()
            .filter(|s| s.tx.is_some())
            .count()
    }

    /// Publishes a conversation change to the conversation's inbox.
    pub fn conversation(
        &self,
        conversation: &crate::store::conversations::Conversation,
        created: bool,
    ) {
        self.touched(conversation.id);
        let Some(inbox_id) = conversation.inbox_id else {
            return;
        };
        let view = ConversationView::from(conversation);
        let event = if created {
            Event::ConversationCreated { conversation: view }
        } else {
            Event::ConversationUpdated { conversation: view }
        };
        self.publish(Scope::Inbox(inbox_id), &event);
    }

    /// Publishes a new or changed message to its conversation's inbox.
    pub fn message(&self, message: &crate::store::conversations::Message, created: bool) {
        self.touched(message.conversation_id);
        let Some(inbox_id) = message.inbox_id else {
            return;
        };
        let view = MessageView::from(message);
        let event = if created {
            Event::MessageCreated { message: view }
        } else {
            Event::MessageUpdated { message: view }
        };
        let key = created.then(|| format!("mc-{}", message.id));
        self.publish_keyed(Scope::Inbox(inbox_id), &event, key);
        self.visitors.message(message, created);
    }

    /// Publishes a stored message's creation again, for a provider's retry of a webhook
    /// whose first delivery this or another node stored: if that node died between its
    /// commit and its publish, agents and visitors would never hear of the message. With
    /// several nodes the stream keeps each creation once (its key), so nobody sees it twice
    /// when the first publish did happen; on a single node the first one always did.
    pub(crate) fn republish(
        &self,
        message: &crate::store::conversations::Message,
        conversation: &crate::store::conversations::Conversation,
    ) {
        let Some(inbox_id) = message.inbox_id.filter(|_| self.link.is_some()) else {
            return;
        };
        self.message(message, true);
        self.publish_keyed(
            Scope::Inbox(inbox_id),
            &Event::ConversationUpdated {
                conversation: ConversationView::from(conversation),
            },
            Some(format!("cu-{}", message.id)),
        );
    }
}

fn ids_as_strings<S: serde::Serializer>(ids: &[i64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(ids.iter().map(i64::to_string))
}

/// An agent viewing a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerView {
    #[serde(serialize_with = "crate::views::id_string")]
    pub id: i64,
    pub name: String,
}

/// Who views a conversation: `(conversation, inbox, agent ids, agents with names)`.
pub type ViewersChange = (i64, i64, Vec<i64>, Vec<ViewerView>);

/// The conversation each agent socket shows, for "who else is viewing this".
#[derive(Default)]
pub struct Viewers {
    /// Socket → (agent, agent's name, conversation, inbox).
    open: Mutex<HashMap<u64, (i64, String, i64, i64)>>,
}

impl Viewers {
    /// The socket now shows `viewing` (`None`: no conversation); returns the conversations
    /// (with their inbox) whose viewers changed, and who views each now.
    pub fn set(
        &self,
        socket: u64,
        agent: (i64, &str),
        viewing: Option<(i64, i64)>,
    ) -> Vec<ViewersChange> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let before = open.get(&socket).map(|(_, _, c, i)| (*c, *i));
        if before == viewing {
            return Vec::new();
        }
        match viewing {
            Some((conversation, inbox)) => {
                open.insert(socket, (agent.0, agent.1.to_owned(), conversation, inbox));
            }
            None => {
                open.remove(&socket);
            }
        }
        let viewers_of = |conversation: i64| {
            let mut agents: Vec<ViewerView> = open
                .values()
                .filter(|(_, _, c, _)| *c == conversation)
                .map(|(id, name, _, _)| ViewerView {
                    id: *id,
                    name: name.clone(),
                })
                .collect();
            agents.sort_by_key(|a| a.id);
            agents.dedup_by_key(|a| a.id);
            agents
        };
        [before, viewing]
            .into_iter()
            .flatten()
            .map(|(c, i)| {
                let agents = viewers_of(c);
                (c, i, agents.iter().map(|a| a.id).collect(), agents)
            })
            .collect()
    }
}

impl Viewers {
    /// This node's sockets' open conversations: (agent, name, conversation, inbox).
    pub(crate) fn local(&self) -> Vec<(i64, String, i64, i64)> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().cloned().collect()
    }

    /// Every node's viewers by conversation: (inbox, agents by id, each once).
    pub(crate) fn all(&self, nodes: &cluster::Nodes) -> HashMap<i64, (i64, Vec<ViewerView>)> {
        let mut all: HashMap<i64, (i64, Vec<ViewerView>)> = HashMap::new();
        for (agent, name, conversation, inbox) in self.local().into_iter().chain(nodes.viewing()) {
            all.entry(conversation)
                .or_insert((inbox, Vec::new()))
                .1
                .push(ViewerView { id: agent, name });
        }
        for (_, agents) in all.values_mut() {
            agents.sort_by_key(|a| a.id);
            agents.dedup_by_key(|a| a.id);
        }
        all
    }
}

/// Whether a status change frees the assignee for another conversation.
pub fn frees_agent(status: ConversationStatus) -> bool {
    matches!(
        status,
        ConversationStatus::Resolved | ConversationStatus::Closed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(hub: &EventHub, agent_id: i64) {
        hub.publish(
            Scope::Everyone,
            &Event::Presence {
                agent_id,
                status: "online",
            },
        );
    }

    #[test]
    fn resume_replays_exactly_the_missed_events() {
        let hub = EventHub::new(100, 100);
        for i in 1..=5 {
            presence(&hub, i);
        }
        let epoch = hub.epoch().to_owned();
        let mut sub = hub.subscribe(1, false, HashSet::new(), Some((&epoch, 3)));
        assert_eq!(sub.start, Start::Resumed);
        let seqs: Vec<u64> = sub.backlog.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![4, 5]);
        presence(&hub, 6);
        assert_eq!(sub.events.try_recv().map(|e| e.seq).ok(), Some(6));
        assert!(
            sub.backlog[0]
                .json
                .starts_with("{\"seq\":4,\"type\":\"presence\"")
        );
    }

    #[test]
    fn resume_from_an_evicted_point_or_another_epoch_asks_for_resync() {
        let hub = EventHub::new(3, 100);
        for i in 1..=10 {
            presence(&hub, i);
        }
        let epoch = hub.epoch().to_owned();
        assert!(matches!(
            hub.subscribe(1, true, HashSet::new(), Some((&epoch, 2)))
                .start,
            Start::Resync(_)
        ));
        assert_eq!(
            hub.subscribe(1, true, HashSet::new(), Some((&epoch, 7)))
                .start,
            Start::Resumed
        );
        assert!(matches!(
            hub.subscribe(1, true, HashSet::new(), Some(("other", 9)))
                .start,
            Start::Resync(_)
        ));
        assert!(matches!(
            hub.subscribe(1, true, HashSet::new(), Some((&epoch, 11)))
                .start,
            Start::Resync(_)
        ));
    }

    #[test]
    fn agents_only_see_their_inboxes_and_slow_ones_are_dropped() {
        let hub = EventHub::new(100, 2);
        let mut member = hub.subscribe(1, false, HashSet::from([7]), None);
        let mut other = hub.subscribe(2, false, HashSet::from([8]), None);
        let typing = Event::Typing {
            conversation_id: 1,
            sender_type: "contact",
            sender_id: 1,
            on: true,
        };
        hub.publish(Scope::Inbox(7), &typing);
        assert!(member.events.try_recv().is_ok());
        assert!(other.events.try_recv().is_err());
        for _ in 0..3 {
            hub.publish(Scope::Inbox(8), &typing);
        }
        assert!(other.lagged.load(Ordering::Acquire));
        // Its stream ends after what it holds; nothing more is queued for it.
        while other.events.try_recv().is_ok() {}
        assert!(matches!(
            other.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));

        // Meanwhile agent 2 joins inbox 7; when it comes back it sees inbox 7.
        hub.set_inboxes(2, &HashSet::from([7, 8]));
        let mut back = hub.resubscribe(other.id).expect("still registered");
        assert!(matches!(back.start, Start::Resync(_)));
        hub.publish(Scope::Inbox(7), &typing);
        assert!(back.events.try_recv().is_ok());
        assert_eq!(hub.subscriber_count(), 2);

        hub.unsubscribe(other.id);
        assert!(hub.resubscribe(other.id).is_none());
    }
}
