//! Presence: while at least one of their inbox connections is open an agent shows what they
//! chose (online, busy or away), and offline otherwise. Changes are published as
//! `presence` events; only online agents take new conversations from the router and make
//! the widget say someone is there.
//!
//! With several nodes an agent's sockets may be on any of them: each node counts its own,
//! the nodes share snapshots (`realtime::cluster`), an agent's status is what the most
//! recent choice says while any live node holds a socket, and the cluster's keeper publishes
//! the changes once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::types::Availability;
use crate::realtime::{Event, EventHub, Scope};

#[derive(Debug, Clone, Copy)]
struct State {
    connections: usize,
    availability: Availability,
    /// When the availability was chosen (Unix ms): across nodes the latest choice wins.
    chosen_at: i64,
}

/// Who is connected, shared by sessions and the router.
pub(crate) struct Presence {
    events: Arc<EventHub>,
    agents: Mutex<HashMap<i64, State>>,
}

/// What a connected agent shows: offline is never a choice, a connected agent is at least
/// online.
fn shown(availability: Availability) -> Availability {
    match availability {
        Availability::Offline => Availability::Online,
        chosen => chosen,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Presence {
    pub(crate) fn new(events: Arc<EventHub>) -> Self {
        Self {
            events,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// The agent's status over every node: this node's state and the others' snapshots.
    fn combined(&self, agents: &HashMap<i64, State>, agent_id: i64) -> Availability {
        let here = agents
            .get(&agent_id)
            .filter(|s| s.connections > 0)
            .map(|s| (s.availability, s.chosen_at));
        let elsewhere = self
            .events
            .link()
            .and_then(|link| link.nodes.agent(agent_id));
        match (here, elsewhere) {
            (Some(a), Some(b)) => shown(if b.1 > a.1 { b.0 } else { a.0 }),
            (Some((a, _)), None) | (None, Some((a, _))) => shown(a),
            (None, None) => Availability::Offline,
        }
    }

    fn update(&self, agent_id: i64, change: impl FnOnce(&mut State)) -> Option<Availability> {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let before = self.combined(&agents, agent_id);
        let state = agents.entry(agent_id).or_insert(State {
            connections: 0,
            availability: Availability::Online,
            chosen_at: 0,
        });
        change(state);
        if state.connections == 0 {
            agents.remove(&agent_id);
        }
        let after = self.combined(&agents, agent_id);
        drop(agents);
        if let Some(link) = self.events.link() {
            // The cluster's keeper publishes the change once for every node.
            link.changed.notify_one();
            return (before != after).then_some(after);
        }
        (before != after).then(|| {
            self.events.publish(
                Scope::Everyone,
                &Event::Presence {
                    agent_id,
                    status: after.as_str(),
                },
            );
            after
        })
    }

    /// A connection opened; returns the new status if it changed.
    pub(crate) fn connected(
        &self,
        agent_id: i64,
        availability: Availability,
    ) -> Option<Availability> {
        self.update(agent_id, |s| {
            s.connections += 1;
            if s.availability != availability || s.chosen_at == 0 {
                s.availability = availability;
                s.chosen_at = now_ms();
            }
        })
    }

    /// A connection closed; returns the new status if it changed.
    pub(crate) fn disconnected(&self, agent_id: i64) -> Option<Availability> {
        self.update(agent_id, |s| {
            s.connections = s.connections.saturating_sub(1)
        })
    }

    /// An agent chose another availability (an admin may choose for them); returns the new
    /// status if it changed. Without a connection nothing shows until they connect.
    pub(crate) fn chose(&self, agent_id: i64, availability: Availability) -> Option<Availability> {
        if !self.is_connected(agent_id) {
            return None;
        }
        self.update(agent_id, |s| {
            if s.availability != availability {
                s.availability = availability;
                s.chosen_at = now_ms();
            }
        })
    }

    fn is_connected(&self, agent_id: i64) -> bool {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents.get(&agent_id).is_some_and(|s| s.connections > 0)
    }

    /// What an agent shows now: their choice while connected (to any node), offline
    /// otherwise.
    pub(crate) fn status(&self, agent_id: i64) -> Availability {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        self.combined(&agents, agent_id)
    }

    /// Every agent connected to any node, with the status they show.
    pub(crate) fn statuses(&self) -> HashMap<i64, Availability> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<i64> = agents
            .iter()
            .filter(|(_, s)| s.connections > 0)
            .map(|(id, _)| *id)
            .collect();
        if let Some(link) = self.events.link() {
            ids.extend(link.nodes.agents().into_keys());
        }
        ids.into_iter()
            .map(|id| (id, self.combined(&agents, id)))
            .collect()
    }

    /// Agents that are connected and online.
    pub(crate) fn online(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .statuses()
            .into_iter()
            .filter(|(_, status)| *status == Availability::Online)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// This node's connected agents, for its snapshot to the other nodes.
    fn local_agents(&self) -> Vec<(i64, Availability, i64)> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents
            .iter()
            .filter(|(_, s)| s.connections > 0)
            .map(|(id, s)| (*id, s.availability, s.chosen_at))
            .collect()
    }
}

/// What this node tells the other nodes: its connected agents and what their sockets view.
pub(crate) struct NodeState {
    pub(crate) presence: Arc<Presence>,
}

impl crate::realtime::cluster::LocalState for NodeState {
    fn snapshot(&self, node: &str) -> crate::realtime::cluster::Snapshot {
        crate::realtime::cluster::Snapshot {
            node: node.to_owned(),
            agents: self.presence.local_agents(),
            viewing: self.presence.events.viewers.local(),
            leaving: false,
        }
    }
}
