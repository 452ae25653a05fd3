//! Open widget sockets by visitor and by conversation, so what the hub stores or an agent
//! does reaches every tab of the visitor it concerns. The widget's session actors join
//! and leave; the event hub, the delivery tracker and the widget routes hand events in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::store::conversations::Message;

/// What reaches a visitor's socket from the rest of the hub (through the cluster's stream
/// when the visitor's socket is on another node).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum VisitorEvent {
    /// A message of the visitor's conversation was stored (`created`) or changed.
    Message {
        message: Arc<Message>,
        created: bool,
    },
    /// An agent started or stopped typing.
    Typing { agent_id: i64, on: bool },
    /// An agent read the conversation up to this seq.
    Read { up_to: i64 },
    /// Whether an agent of the inbox is online now.
    Presence { agents_online: bool },
    /// A satisfaction survey of the conversation was asked or answered.
    Csat {
        survey: Arc<crate::store::csat::Survey>,
    },
    /// The conversation was resolved or closed (`true`), or is open again.
    Conversation {
        conversation_id: i64,
        resolved: bool,
    },
    /// The visitor's conversation or contact changed (identify joined another contact):
    /// the socket closes so the browser reconnects and loads the right conversation.
    Resume,
}

/// A visitor across tabs: the inbox and the visitor id of their token.
pub(crate) type VisitorKey = (i64, String);

struct Session {
    visitor: VisitorKey,
    tx: mpsc::Sender<VisitorEvent>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<u64, Session>,
    by_visitor: HashMap<VisitorKey, HashSet<u64>>,
    conversation_of: HashMap<VisitorKey, i64>,
    visitors_of: HashMap<i64, HashSet<VisitorKey>>,
    next: u64,
}

/// Open widget sockets by visitor and by conversation, so a reply reaches every tab of
/// the visitor. Delivery never waits: a session whose buffer is full is cut off, and its
/// socket closes so the browser reconnects and resumes from its last seq (the store is
/// the source of truth, so nothing is lost).
#[derive(Default)]
pub struct Visitors {
    inner: Mutex<Inner>,
    /// Woken when agents' presence changes (the widget's presence watcher waits on it).
    pub presence: tokio::sync::Notify,
    /// With several nodes, events for visitors go through the cluster's stream: the
    /// visitor's sockets may be on any node.
    link: Option<Arc<super::cluster::Link>>,
}

/// Events buffered per visitor socket.
pub(crate) const SESSION_BUFFER: usize = 64;

impl Visitors {
    pub(crate) fn new(link: Option<Arc<super::cluster::Link>>) -> Self {
        Self {
            link,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket of a visitor; its events arrive on the receiver.
    pub fn join(&self, visitor: VisitorKey) -> (u64, mpsc::Receiver<VisitorEvent>) {
        let (tx, rx) = mpsc::channel(SESSION_BUFFER);
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner
            .by_visitor
            .entry(visitor.clone())
            .or_default()
            .insert(id);
        inner.sessions.insert(id, Session { visitor, tx });
        (id, rx)
    }

    /// Forgets a socket (closed); the visitor's binding goes with their last socket.
    pub fn leave(&self, session: u64) {
        let mut inner = self.lock();
        let Some(gone) = inner.sessions.remove(&session) else {
            return;
        };
        let last = match inner.by_visitor.get_mut(&gone.visitor) {
            Some(set) => {
                set.remove(&session);
                set.is_empty()
            }
            None => true,
        };
        if last {
            inner.by_visitor.remove(&gone.visitor);
            if let Some(conversation) = inner.conversation_of.remove(&gone.visitor)
                && let Some(set) = inner.visitors_of.get_mut(&conversation)
            {
                set.remove(&gone.visitor);
                if set.is_empty() {
                    inner.visitors_of.remove(&conversation);
                }
            }
        }
    }

    /// The visitor has no conversation any more (they started afresh): events of the old one
    /// stop reaching their tabs.
    pub fn unbind(&self, visitor: &VisitorKey) {
        let mut inner = self.lock();
        if let Some(old) = inner.conversation_of.remove(visitor)
            && let Some(set) = inner.visitors_of.get_mut(&old)
        {
            set.remove(visitor);
            if set.is_empty() {
                inner.visitors_of.remove(&old);
            }
        }
    }

    /// The visitor's conversation is `conversation_id` from now on (all their tabs).
    pub fn bind(&self, visitor: &VisitorKey, conversation_id: i64) {
        let mut inner = self.lock();
        if !inner.by_visitor.contains_key(visitor) {
            return;
        }
        if let Some(old) = inner
            .conversation_of
            .insert(visitor.clone(), conversation_id)
            && old != conversation_id
            && let Some(set) = inner.visitors_of.get_mut(&old)
        {
            set.remove(visitor);
            if set.is_empty() {
                inner.visitors_of.remove(&old);
            }
        }
        inner
            .visitors_of
            .entry(conversation_id)
            .or_default()
            .insert(visitor.clone());
    }

    /// Hands an event to every socket of the visitor, on whichever node.
    pub fn to_visitor(&self, visitor: &VisitorKey, event: VisitorEvent) {
        match &self.link {
            Some(link) => link.send_visitor(
                &super::cluster::VisitorWire::Visitor(visitor.0, visitor.1.clone(), event),
                None,
            ),
            None => self.deliver_to_visitor(visitor, event),
        }
    }

    /// Hands an event to every visitor socket of a conversation, on whichever node.
    pub fn to_conversation(&self, conversation_id: i64, event: VisitorEvent) {
        self.to_conversation_keyed(conversation_id, event, None);
    }

    fn to_conversation_keyed(
        &self,
        conversation_id: i64,
        event: VisitorEvent,
        key: Option<String>,
    ) {
        match &self.link {
            Some(link) => link.send_visitor(
                &super::cluster::VisitorWire::Conversation(conversation_id, event),
                key,
            ),
            None => self.deliver_to_conversation(conversation_id, event),
        }
    }

    /// A visitors' event from the cluster's stream: this node's sockets get it.
    pub(crate) fn deliver(&self, wire: super::cluster::VisitorWire) {
        match wire {
            super::cluster::VisitorWire::Conversation(conversation_id, event) => {
                self.deliver_to_conversation(conversation_id, event);
            }
            super::cluster::VisitorWire::Visitor(inbox_id, visitor, event) => {
                self.deliver_to_visitor(&(inbox_id, visitor), event);
            }
        }
    }

    fn deliver_to_visitor(&self, visitor: &VisitorKey, event: VisitorEvent) {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .by_visitor
            .get(visitor)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        deliver(&mut inner, &ids, &event);
    }

    fn deliver_to_conversation(&self, conversation_id: i64, event: VisitorEvent) {
        let mut inner = self.lock();
        let Some(visitors) = inner.visitors_of.get(&conversation_id) else {
            return;
        };
        let ids: Vec<u64> = visitors
            .iter()
            .filter_map(|v| inner.by_visitor.get(v))
            .flatten()
            .copied()
            .collect();
        deliver(&mut inner, &ids, &event);
    }

    /// A message was stored or changed: visitors see everything but private notes.
    pub fn message(&self, message: &Message, created: bool) {
        if message.private || message.direction == crate::db::types::Direction::Internal {
            return;
        }
        let event = VisitorEvent::Message {
            message: Arc::new(message.clone()),
            created,
        };
        // A message's creation goes out once however often it is published (see
        // `EventHub::republish`).
        let key = created.then(|| format!("vm-{}", message.id));
        self.to_conversation_keyed(message.conversation_id, event, key);
    }

    /// Agents' presence changed: the widget's presence watcher re-checks the inboxes with sockets.
    pub fn presence_changed(&self) {
        self.presence.notify_one();
    }

    /// Inboxes with open visitor sockets.
    pub fn inboxes(&self) -> HashSet<i64> {
        self.lock()
            .by_visitor
            .keys()
            .map(|(inbox, _)| *inbox)
            .collect()
    }

    /// Hands an event to every visitor socket of an inbox on this node (each node's presence
    /// watcher tells its own sockets).
    pub fn to_inbox(&self, inbox_id: i64, event: VisitorEvent) {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.visitor.0 == inbox_id)
            .map(|(id, _)| *id)
            .collect();
        deliver(&mut inner, &ids, &event);
    }

    /// Open visitor sockets (for metrics and the benchmark).
    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }
}

fn deliver(inner: &mut Inner, ids: &[u64], event: &VisitorEvent) {
    for id in ids {
        let Some(session) = inner.sessions.get_mut(id) else {
            continue;
        };
        if session.tx.is_closed() {
            continue;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = session.tx.try_send(event.clone()) {
            // Presence hints may be dropped; anything else means the socket must resume.
            if !matches!(event, VisitorEvent::Presence { .. }) {
                let (closed, _) = mpsc::channel(1);
                session.tx = closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_socket_is_cut_off_and_others_still_receive() {
        let visitors = Visitors::default();
        let a: VisitorKey = (1, "a".into());
        let (_, mut slow) = visitors.join(a.clone());
        let (_, mut fast) = visitors.join(a.clone());
        visitors.bind(&a, 7);
        for _ in 0..SESSION_BUFFER {
            visitors.to_conversation(7, VisitorEvent::Read { up_to: 1 });
        }
        while fast.try_recv().is_ok() {}
        visitors.to_conversation(7, VisitorEvent::Read { up_to: 2 });
        assert!(fast.try_recv().is_ok());
        // The slow one got its buffer, then its stream ends: it must resume.
        let mut got = 0;
        while slow.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SESSION_BUFFER);
    }

    #[test]
    fn binding_follows_the_last_socket_of_a_visitor() {
        let visitors = Visitors::default();
        let a: VisitorKey = (1, "a".into());
        let (first, mut rx1) = visitors.join(a.clone());
        let (second, mut rx2) = visitors.join(a.clone());
        visitors.bind(&a, 9);
        visitors.leave(first);
        visitors.to_conversation(9, VisitorEvent::Read { up_to: 3 });
        assert!(rx2.try_recv().is_ok());
        assert!(rx1.try_recv().is_err());
        visitors.leave(second);
        assert_eq!(visitors.count(), 0);
        visitors.to_conversation(9, VisitorEvent::Read { up_to: 4 });
    }
}
