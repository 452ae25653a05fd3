//! Several hub nodes, one realtime stream (issue #20, `cluster.nats_url`).
//!
//! Every event a node publishes (agents' events and what visitors' sockets receive) goes to
//! one JetStream stream, `<name>`, on the subject `<name>.events`. The stream numbers each
//! event once for the whole hub; every node reads the stream in that order with an ordered
//! consumer and hands each event to its own sockets, so an event's sequence number is the
//! same on every node and a client resumes on any node from the number it last saw (the
//! epoch names the stream: a stream made again starts a new epoch). A node that starts
//! replays the stream's last `realtime.replay_events` events into its log first.
//!
//! Presence and viewers come from sockets, which live on one node each. Every node sends a
//! snapshot of its connected agents and of what its sockets view on `<name>.nodes`, when
//! that changes and every second; a node not heard from for five seconds is gone. One node
//! at a time, the keeper (the live node with the smallest name), compares what all nodes
//! hold with what the stream last announced and publishes the difference, so a presence or
//! viewers event goes out once, in the stream's order, and a dead node's agents and viewers
//! expire within seconds.
//!
//! Without `cluster.nats_url` nothing here runs and the hub needs no NATS.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};

use super::visitors::VisitorEvent;
use super::{EventHub, Scope};
use crate::config::ClusterSettings;
use crate::db::types::Availability;

/// Events a node holds for the publisher; a node cut off from NATS for longer loses events
/// beyond this (counted, and its clients resync when they resume).
const OUTGOING: usize = 65_536;
/// Events published before their acknowledgements are awaited.
const PUBLISH_WINDOW: usize = 256;
/// How often a node sends its snapshot and the keeper checks what was announced.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is gone: its agents and viewers expire.
pub(crate) const NODE_EXPIRY: Duration = Duration::from_secs(5);
/// A starting node keeps quiet this long, until it has heard every live node's snapshot.
const SETTLE: Duration = Duration::from_millis(2_500);
/// How long the inbound door waits for the stream to take its events before answering
/// anyway (NATS down: the events are stored, clients reload).
pub(crate) const PUBLISH_WAIT: Duration = Duration::from_secs(5);

/// Why a node could not join the others.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {url}: {reason} (check SWITCHBOARD_CLUSTER_NATS_URL)")]
    Connect { url: String, reason: String },
    #[error(
        "JetStream stream {name}: {reason} (the NATS server must run with JetStream, `nats-server -js`)"
    )]
    Stream { name: String, reason: String },
}

/// The node's link to the others: where its events go.
pub(crate) struct Link {
    /// This node's name.
    pub(crate) node: String,
    client: async_nats::Client,
    out: mpsc::Sender<Outgoing>,
    /// Events handed to the publisher, and how many of them the stream has taken.
    queued: AtomicU64,
    taken: watch::Receiver<u64>,
    nodes_subject: String,
    /// Events that never reached the stream (the outgoing queue was full).
    pub(crate) lost: prometheus_client::metrics::counter::Counter,
    /// Woken when this node's presence or viewers change: its snapshot goes out now.
    pub(crate) changed: Notify,
    /// What the other nodes hold, and what the stream announced.
    pub(crate) nodes: Nodes,
    /// Other nodes' notices, for the hub to act on.
    notices: mpsc::Sender<Notice>,
}

impl Link {
    /// Hands an agents' event to the stream (it comes back numbered to every node). An
    /// event with a `key` is kept once by the stream however often it is sent within two
    /// minutes (a message's creation, sent again when a provider retries; see
    /// [`EventHub::republish`](super::EventHub::republish)).
    pub(crate) fn send_agent(&self, scope: Scope, body: &str, key: Option<String>) {
        let tag = match scope {
            Scope::Inbox(id) => format!("i{id}"),
            Scope::Agent(id) => format!("a{id}"),
            Scope::Everyone => "e".to_owned(),
        };
        self.send(Bytes::from(format!("{tag}\n{body}")), key);
    }

    /// Hands a visitors' event to the stream, for the node(s) holding their sockets.
    pub(crate) fn send_visitor(&self, wire: &VisitorWire, key: Option<String>) {
        match serde_json::to_string(wire) {
            Ok(json) => self.send(Bytes::from(format!("v\n{json}")), key),
            Err(error) => tracing::error!(%error, "cannot serialize a visitor event"),
        }
    }

    /// Tells the other nodes to reload what an admin changed (this node already did).
    pub(crate) fn send_notice(&self, notice: Notice) {
        let wire = NoticeWire {
            from: self.node.clone(),
            notice,
        };
        match serde_json::to_string(&wire) {
            Ok(json) => self.send(Bytes::from(format!("n\n{json}")), None),
            Err(error) => tracing::error!(%error, "cannot serialize a notice"),
        }
    }

    /// A notice from the stream: acted on unless this node sent it.
    pub(crate) fn take_notice(&self, body: &str) {
        let Ok(wire) = serde_json::from_str::<NoticeWire>(body) else {
            tracing::warn!("an unreadable notice in the cluster's stream was skipped");
            return;
        };
        if wire.from != self.node && self.notices.try_send(wire.notice).is_err() {
            tracing::warn!("too many notices from other nodes; one was dropped");
        }
    }

    fn send(&self, payload: Bytes, key: Option<String>) {
        match self.out.try_send(Outgoing { payload, key }) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::AcqRel);
            }
            Err(_) => {
                self.lost.inc();
                tracing::error!("the cluster's event queue is full: an event is lost");
            }
        }
    }

    /// Resolves once the stream has taken every event handed over before this call (or
    /// after [`PUBLISH_WAIT`]): a provider's acknowledgement then means agents on every
    /// node will see the message, even if this node dies right after answering.
    pub(crate) fn taken(&self) -> impl Future<Output = ()> + use<> {
        let target = self.queued.load(Ordering::Acquire);
        let mut taken = self.taken.clone();
        async move {
            let wait = taken.wait_for(|done| *done >= target);
            if tokio::time::timeout(PUBLISH_WAIT, wait).await.is_err() {
                tracing::warn!("the cluster's stream did not take events within 5 s");
            }
        }
    }
}

/// An event on its way to the stream, with its deduplication key if it has one.
struct Outgoing {
    payload: Bytes,
    key: Option<String>,
}

/// A visitors' event on the stream: to one visitor's sockets or to a conversation's.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum VisitorWire {
    Conversation(i64, VisitorEvent),
    Visitor(i64, String, VisitorEvent),
}

/// Something an admin changed that every node keeps in memory: the others reload it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Notice {
    /// An inbox was created, changed or deleted: its channel actor follows.
    Inbox(i64),
    /// An agent's inbox memberships changed: their open sockets see exactly those.
    Memberships(i64),
    /// SLA policies or business hours changed.
    Sla,
}

#[derive(Serialize, Deserialize)]
struct NoticeWire {
    from: String,
    notice: Notice,
}

/// What one node holds: its connected agents and what its agents' sockets view.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) node: String,
    /// Connected agents: id, availability, when it was chosen (Unix ms).
    pub(crate) agents: Vec<(i64, Availability, i64)>,
    /// Open conversations: agent, agent's name, conversation, inbox.
    pub(crate) viewing: Vec<(i64, String, i64, i64)>,
    /// The node is stopping: forget it now.
    #[serde(default)]
    pub(crate) leaving: bool,
}

#[derive(Default)]
struct NodesInner {
    others: HashMap<String, (Instant, Snapshot)>,
    /// Status per agent as the stream last announced it.
    announced_presence: HashMap<i64, Availability>,
    /// Viewers per conversation as the stream last announced them: (inbox, agents).
    announced_viewers: HashMap<i64, (i64, Vec<i64>)>,
    /// Published by this node as keeper, not yet back from the stream.
    pending_presence: HashMap<i64, (Availability, Instant)>,
    pending_viewers: HashMap<i64, (Vec<i64>, Instant)>,
}

/// The other nodes' snapshots and what the stream announced (shared by presence, viewers
/// and the keeper).
#[derive(Default)]
pub(crate) struct Nodes {
    inner: Mutex<NodesInner>,
}

impl Nodes {
    fn lock(&self) -> MutexGuard<'_, NodesInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn heard(&self, snapshot: Snapshot) {
        let mut inner = self.lock();
        if snapshot.leaving {
            inner.others.remove(&snapshot.node);
        } else {
            inner
                .others
                .insert(snapshot.node.clone(), (Instant::now(), snapshot));
        }
    }

    /// Forgets nodes not heard from within [`NODE_EXPIRY`]; whether any went.
    fn expire(&self) -> bool {
        let mut inner = self.lock();
        let before = inner.others.len();
        inner
            .others
            .retain(|_, (heard, _)| heard.elapsed() < NODE_EXPIRY);
        inner.others.len() != before
    }

    /// The other live nodes' connected agents: id → (availability, chosen at).
    pub(crate) fn agents(&self) -> HashMap<i64, (Availability, i64)> {
        let inner = self.lock();
        let mut agents: HashMap<i64, (Availability, i64)> = HashMap::new();
        for (_, snapshot) in inner.others.values() {
            for (id, availability, at) in &snapshot.agents {
                let entry = agents.entry(*id).or_insert((*availability, *at));
                if *at > entry.1 {
                    *entry = (*availability, *at);
                }
            }
        }
        agents
    }

    /// One agent on the other live nodes: the latest (availability, chosen at), if connected.
    pub(crate) fn agent(&self, agent_id: i64) -> Option<(Availability, i64)> {
        let inner = self.lock();
        inner
            .others
            .values()
            .flat_map(|(_, s)| s.agents.iter())
            .filter(|(id, _, _)| *id == agent_id)
            .map(|(_, availability, at)| (*availability, *at))
            .max_by_key(|(_, at)| *at)
    }

    /// The other live nodes' viewers: (agent, name, conversation, inbox).
    pub(crate) fn viewing(&self) -> Vec<(i64, String, i64, i64)> {
        let inner = self.lock();
        inner
            .others
            .values()
            .flat_map(|(_, s)| s.viewing.iter().cloned())
            .collect()
    }

    fn live_names(&self) -> Vec<String> {
        self.lock().others.keys().cloned().collect()
    }

    /// A presence event came through the stream.
    fn announced_presence(&self, agent_id: i64, status: Availability) {
        let mut inner = self.lock();
        inner.announced_presence.insert(agent_id, status);
        if inner
            .pending_presence
            .get(&agent_id)
            .is_some_and(|(s, _)| *s == status)
        {
            inner.pending_presence.remove(&agent_id);
        }
    }

    /// A viewers event came through the stream.
    fn announced_viewers(&self, conversation_id: i64, inbox_id: i64, agents: Vec<i64>) {
        let mut inner = self.lock();
        if inner
            .pending_viewers
            .get(&conversation_id)
            .is_some_and(|(a, _)| *a == agents)
        {
            inner.pending_viewers.remove(&conversation_id);
        }
        if agents.is_empty() {
            inner.announced_viewers.remove(&conversation_id);
        } else {
            inner
                .announced_viewers
                .insert(conversation_id, (inbox_id, agents));
        }
    }
}

/// A node connected to NATS with the stream ready, before its tasks run.
pub(crate) struct Joined {
    pub(crate) link: Arc<Link>,
    /// Names this stream: sequence numbers compare only within one epoch.
    pub(crate) epoch: String,
    /// The stream position just before the first event this node replays into its log.
    pub(crate) floor: u64,
    consumer: jetstream::consumer::Consumer<OrderedConfig>,
    publisher: Publisher,
    snapshots: async_nats::Subscriber,
    /// Other nodes' notices (see [`Notice`]), for the hub to act on.
    pub(crate) notices: mpsc::Receiver<Notice>,
}

struct Publisher {
    context: jetstream::Context,
    subject: String,
    queue: mpsc::Receiver<Outgoing>,
    taken: watch::Sender<u64>,
    node: String,
}

/// Connects to NATS, makes sure the stream exists (it keeps `replay` events, as each node's
/// log does) and prepares the consumer that replays the stream's tail into this node.
pub(crate) async fn join(
    settings: &ClusterSettings,
    replay: usize,
) -> Result<Joined, ClusterError> {
    let connect_error = |e: &dyn std::fmt::Display| ClusterError::Connect {
        url: settings.nats_url.clone(),
        reason: e.to_string(),
    };
    let client = async_nats::ConnectOptions::new()
        .name(format!("switchboard {}", settings.node))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(settings.nats_url.as_str());
    // A hub that cannot reach NATS at start says so instead of waiting for ever.
    let client = match tokio::time::timeout(Duration::from_secs(20), client).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(connect_error(&e)),
        Err(_) => return Err(connect_error(&"no answer within 20 s")),
    };
    let context = jetstream::new(client.clone());
    let stream_error = |e: &dyn std::fmt::Display| ClusterError::Stream {
        name: settings.name.clone(),
        reason: e.to_string(),
    };
    let subject = format!("{}.events", settings.name);
    let stream = context
        .get_or_create_stream(jetstream::stream::Config {
            name: settings.name.clone(),
            subjects: vec![subject.clone()],
            max_messages: i64::try_from(replay).unwrap_or(i64::MAX),
            discard: jetstream::stream::DiscardPolicy::Old,
            storage: jetstream::stream::StorageType::File,
            // A retried publish (same id) within this window is stored once.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| stream_error(&e))?;
    let info = stream.get_info().await.map_err(|e| stream_error(&e))?;
    let created = info.created.unix_timestamp_nanos();
    let epoch = format!("{}-{created:x}", settings.name);
    let last = info.state.last_sequence;
    let start = last
        .saturating_sub(replay as u64)
        .saturating_add(1)
        .max(info.state.first_sequence)
        .max(1);
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject.clone(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| stream_error(&e))?;
    let nodes_subject = format!("{}.nodes", settings.name);
    let snapshots = client
        .subscribe(nodes_subject.clone())
        .await
        .map_err(|e| connect_error(&e))?;
    let (out, queue) = mpsc::channel(OUTGOING);
    let (taken_tx, taken) = watch::channel(0);
    let (notices_tx, notices) = mpsc::channel(1024);
    let link = Arc::new(Link {
        notices: notices_tx,
        node: settings.node.clone(),
        client,
        out,
        queued: AtomicU64::new(0),
        taken,
        nodes_subject,
        lost: prometheus_client::metrics::counter::Counter::default(),
        changed: Notify::new(),
        nodes: Nodes::default(),
    });
    tracing::info!(node = %settings.node, stream = %settings.name, last, replay_from = start, "joined the cluster");
    Ok(Joined {
        link,
        epoch,
        floor: start - 1,
        consumer,
        publisher: Publisher {
            context,
            subject,
            queue,
            taken: taken_tx,
            node: settings.node.clone(),
        },
        snapshots,
        notices,
    })
}

/// What a node tells the others about itself (its presence and viewers).
pub(crate) trait LocalState: Send + Sync + 'static {
    fn snapshot(&self, node: &str) -> Snapshot;
}

impl Joined {
    /// Starts the node's cluster tasks: the publisher, the stream follower, the snapshot
    /// exchange and the keeper.
    pub(crate) fn run(
        self,
        events: Arc<EventHub>,
        local: Arc<dyn LocalState>,
        presence: Arc<crate::actors::presence::Presence>,
    ) -> mpsc::Receiver<Notice> {
        let Joined {
            notices,
            link,
            consumer,
            publisher,
            snapshots,
            ..
        } = self;
        tokio::spawn(publish(publisher));
        tokio::spawn(follow(consumer, events.clone()));
        tokio::spawn(exchange(link.clone(), snapshots, local, events.clone()));
        tokio::spawn(keep(link, events, presence));
        notices
    }
}

/// Publishes the node's events in order, a window at a time, and counts what the stream
/// took. A failed publish is retried with its message id, so the stream keeps it once.
async fn publish(mut publisher: Publisher) {
    let mut batch = Vec::with_capacity(PUBLISH_WINDOW);
    let mut next_id: u64 = 0;
    let mut taken: u64 = 0;
    while publisher.queue.recv_many(&mut batch, PUBLISH_WINDOW).await > 0 {
        let mut waiting = Vec::with_capacity(batch.len());
        for Outgoing { payload, key } in batch.drain(..) {
            let id = key.unwrap_or_else(|| {
                next_id += 1;
                format!("{}-{next_id}", publisher.node)
            });
            let ack = send_one(&publisher, &id, payload.clone()).await;
            waiting.push((id, payload, ack));
        }
        for (id, payload, ack) in waiting {
            let mut outcome = match ack {
                Some(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                None => Err("not sent".to_owned()),
            };
            let mut attempt = 0;
            while let Err(error) = &outcome {
                attempt += 1;
                if attempt > 10 {
                    tracing::error!(%error, "an event could not be published to the cluster's stream");
                    break;
                }
                tracing::warn!(%error, attempt, "publishing an event again");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                outcome = match send_one(&publisher, &id, payload.clone()).await {
                    Some(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                    None => Err("not sent".to_owned()),
                };
            }
            taken += 1;
            publisher.taken.send_replace(taken);
        }
    }
}

async fn send_one(
    publisher: &Publisher,
    id: &str,
    payload: Bytes,
) -> Option<jetstream::context::PublishAckFuture> {
    let message = jetstream::message::PublishMessage::build()
        .payload(payload)
        .message_id(id);
    match publisher
        .context
        .send_publish(publisher.subject.clone(), message)
        .await
    {
        Ok(ack) => Some(ack),
        Err(error) => {
            tracing::warn!(%error, "cannot hand an event to NATS");
            None
        }
    }
}

/// Reads the stream in order and hands every event to this node's sockets.
async fn follow(consumer: jetstream::consumer::Consumer<OrderedConfig>, events: Arc<EventHub>) {
    let mut messages = match consumer.messages().await {
        Ok(messages) => messages,
        Err(error) => {
            tracing::error!(%error, "cannot read the cluster's stream; realtime events stop");
            return;
        }
    };
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                // The ordered consumer makes itself again after gaps and reconnects.
                tracing::warn!(%error, "reading the cluster's stream");
                continue;
            }
        };
        let Ok(info) = message.info() else {
            continue;
        };
        let seq = info.stream_sequence;
        events.take_from_stream(seq, &message.payload);
    }
    tracing::error!("the cluster's stream ended; realtime events stop");
}

/// A decoded event from the stream.
pub(crate) enum Incoming<'a> {
    Agent { scope: Scope, body: &'a str },
    Visitor(VisitorWire),
    Notice(&'a str),
}

/// Reads a payload written by [`Link::send_agent`] or [`Link::send_visitor`].
pub(crate) fn decode(payload: &[u8]) -> Option<Incoming<'_>> {
    let text = std::str::from_utf8(payload).ok()?;
    let (tag, body) = text.split_once('\n')?;
    let scope = match tag.split_at_checked(1)? {
        ("v", "") => return serde_json::from_str(body).ok().map(Incoming::Visitor),
        ("n", "") => return Some(Incoming::Notice(body)),
        ("e", "") => Scope::Everyone,
        ("i", id) => Scope::Inbox(id.parse().ok()?),
        ("a", id) => Scope::Agent(id.parse().ok()?),
        _ => return None,
    };
    Some(Incoming::Agent { scope, body })
}

#[derive(Deserialize)]
struct Announced {
    #[serde(rename = "type")]
    kind: String,
    data: AnnouncedData,
}

#[derive(Deserialize)]
struct AnnouncedData {
    agent_id: Option<String>,
    status: Option<Availability>,
    conversation_id: Option<String>,
    agent_ids: Option<Vec<String>>,
}

impl Link {
    /// Notes what a presence or viewers event from the stream announced.
    pub(crate) fn note_announced(&self, scope: Scope, body: &str) {
        let Ok(announced) = serde_json::from_str::<Announced>(body) else {
            return;
        };
        let id = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<i64>().ok());
        match (announced.kind.as_str(), scope) {
            ("presence", _) => {
                if let (Some(agent), Some(status)) =
                    (id(&announced.data.agent_id), announced.data.status)
                {
                    self.nodes.announced_presence(agent, status);
                }
            }
            ("viewers", Scope::Inbox(inbox)) => {
                if let (Some(conversation), Some(agents)) = (
                    id(&announced.data.conversation_id),
                    announced.data.agent_ids.as_ref(),
                ) {
                    let agents = agents.iter().filter_map(|a| a.parse().ok()).collect();
                    self.nodes.announced_viewers(conversation, inbox, agents);
                }
            }
            _ => {}
        }
    }
}

/// Sends this node's snapshot when it changes and every [`HEARTBEAT`], and takes the
/// others'.
async fn exchange(
    link: Arc<Link>,
    mut snapshots: async_nats::Subscriber,
    local: Arc<dyn LocalState>,
    events: Arc<EventHub>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => send_snapshot(&link, local.snapshot(&link.node)).await,
            () = link.changed.notified() => send_snapshot(&link, local.snapshot(&link.node)).await,
            heard = snapshots.next() => {
                let Some(message) = heard else {
                    tracing::error!("the cluster's snapshot subscription ended");
                    return;
                };
                let Ok(snapshot) = serde_json::from_slice::<Snapshot>(&message.payload) else {
                    tracing::warn!("an unreadable node snapshot was skipped");
                    continue;
                };
                if snapshot.node != link.node {
                    link.nodes.heard(snapshot);
                    // Agents elsewhere may have come or gone: the widget's presence hint.
                    events.visitors.presence_changed();
                }
            }
        }
    }
}

async fn send_snapshot(link: &Link, snapshot: Snapshot) {
    match serde_json::to_vec(&snapshot) {
        Ok(json) => {
            if let Err(error) = link
                .client
                .publish(link.nodes_subject.clone(), json.into())
                .await
            {
                tracing::warn!(%error, "cannot send this node's snapshot");
            }
        }
        Err(error) => tracing::error!(%error, "cannot serialize this node's snapshot"),
    }
}

impl Link {
    /// Tells the others at once that this node stops (its agents and viewers go now).
    pub(crate) async fn leave(&self) {
        send_snapshot(
            self,
            Snapshot {
                node: self.node.clone(),
                leaving: true,
                ..Snapshot::default()
            },
        )
        .await;
        let _ = self.client.flush().await;
    }
}

/// Every [`HEARTBEAT`] (and after a change), the keeper publishes what differs between the
/// nodes' snapshots and what the stream announced.
async fn keep(
    link: Arc<Link>,
    events: Arc<EventHub>,
    presence: Arc<crate::actors::presence::Presence>,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(HEARTBEAT / 2);
    loop {
        tick.tick().await;
        if link.nodes.expire() {
            events.visitors.presence_changed();
        }
        if started.elapsed() < SETTLE {
            continue;
        }
        let keeper = link
            .nodes
            .live_names()
            .iter()
            .all(|other| *other > link.node);
        if keeper {
            reconcile(&link, &events, &presence);
        }
    }
}

/// Publishes the presence and viewers events that make the stream say what the nodes hold.
fn reconcile(link: &Link, events: &EventHub, presence: &crate::actors::presence::Presence) {
    let now = Instant::now();
    let recent = |at: &Instant| now.duration_since(*at) < Duration::from_secs(3);
    let statuses = presence.statuses();
    let viewers = events.viewers.all(&link.nodes);
    let mut presence_changes = Vec::new();
    let mut viewer_changes = Vec::new();
    {
        let mut inner = link.nodes.lock();
        let agents: Vec<i64> = statuses
            .keys()
            .chain(inner.announced_presence.keys())
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for agent in agents {
            let now_status = statuses
                .get(&agent)
                .copied()
                .unwrap_or(Availability::Offline);
            let announced = inner
                .announced_presence
                .get(&agent)
                .copied()
                .unwrap_or(Availability::Offline);
            if now_status == announced {
                continue;
            }
            if inner
                .pending_presence
                .get(&agent)
                .is_some_and(|(s, at)| *s == now_status && recent(at))
            {
                continue;
            }
            inner.pending_presence.insert(agent, (now_status, now));
            presence_changes.push((agent, now_status));
        }
        let mut conversations: BTreeMap<i64, i64> = viewers
            .iter()
            .map(|(conversation, (inbox, _))| (*conversation, *inbox))
            .collect();
        for (conversation, (inbox, _)) in &inner.announced_viewers {
            conversations.entry(*conversation).or_insert(*inbox);
        }
        for (conversation, inbox) in conversations {
            let agents = viewers
                .get(&conversation)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
            let ids: Vec<i64> = agents.iter().map(|a| a.id).collect();
            let announced = inner
                .announced_viewers
                .get(&conversation)
                .map(|(_, a)| a.as_slice())
                .unwrap_or_default();
            if ids == announced {
                continue;
            }
            if inner
                .pending_viewers
                .get(&conversation)
                .is_some_and(|(a, at)| *a == ids && recent(at))
            {
                continue;
            }
            inner
                .pending_viewers
                .insert(conversation, (ids.clone(), now));
            viewer_changes.push((conversation, inbox, ids, agents));
        }
    }
    for (agent_id, status) in presence_changes {
        events.publish(
            Scope::Everyone,
            &super::Event::Presence {
                agent_id,
                status: status.as_str(),
            },
        );
    }
    for (conversation_id, inbox_id, agent_ids, agents) in viewer_changes {
        events.publish(
            Scope::Inbox(inbox_id),
            &super::Event::Viewers {
                conversation_id,
                agent_ids,
                agents,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_audience() {
        let Some(Incoming::Agent { scope, body }) = decode(b"i42\n{\"type\":\"x\"}") else {
            panic!("an inbox event");
        };
        assert_eq!((scope, body), (Scope::Inbox(42), "{\"type\":\"x\"}"));
        assert!(matches!(
            decode(b"a7\n{}"),
            Some(Incoming::Agent {
                scope: Scope::Agent(7),
                ..
            })
        ));
        assert!(matches!(
            decode(b"e\n{}"),
            Some(Incoming::Agent {
                scope: Scope::Everyone,
                ..
            })
        ));
        let wire = VisitorWire::Conversation(
            9,
            VisitorEvent::Typing {
                agent_id: 3,
                on: true,
            },
        );
        let json = serde_json::to_string(&wire).expect("serializes");
        let payload = format!("v\n{json}");
        assert!(matches!(
            decode(payload.as_bytes()),
            Some(Incoming::Visitor(VisitorWire::Conversation(
                9,
                VisitorEvent::Typing {
                    agent_id: 3,
                    on: true
                }
            )))
        ));
        for broken in [
            &b""[..],
            b"i\n{}",
            b"ix\n{}",
            b"q1\n{}",
            b"e{}",
            b"v\nnot json",
        ] {
            assert!(decode(broken).is_none(), "{broken:?}");
        }
    }

    #[test]
    fn the_latest_choice_wins_and_silent_nodes_expire() {
        let nodes = Nodes::default();
        nodes.heard(Snapshot {
            node: "a".into(),
            agents: vec![(1, Availability::Busy, 10)],
            ..Snapshot::default()
        });
        nodes.heard(Snapshot {
            node: "b".into(),
            agents: vec![(1, Availability::Away, 20), (2, Availability::Online, 5)],
            viewing: vec![(2, "Bo".into(), 100, 7)],
            ..Snapshot::default()
        });
        let agents = nodes.agents();
        assert_eq!(agents[&1], (Availability::Away, 20));
        assert_eq!(nodes.viewing().len(), 1);
        nodes.heard(Snapshot {
            node: "b".into(),
            leaving: true,
            ..Snapshot::default()
        });
        assert_eq!(nodes.agents()[&1], (Availability::Busy, 10));
        assert!(nodes.viewing().is_empty());
        assert!(!nodes.expire());
        {
            let mut inner = nodes.lock();
            let heard = &mut inner.others.get_mut("a").expect("a").0;
            *heard = heard
                .checked_sub(NODE_EXPIRY)
                .expect("the clock runs longer than 5 s");
        }
        assert!(nodes.expire());
        assert!(nodes.agents().is_empty());
    }
}
