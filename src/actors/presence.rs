//! Presence: while at least one of their inbox connections is open an agent shows what they
//! chose (online, busy or away), and offline otherwise. Changes are published as
//! `presence` events; only online agents take new conversations from the router and make
//! the widget say someone is there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::types::Availability;
use crate::realtime::{Event, EventHub, Scope};

#[derive(Debug, Clone, Copy)]
struct State {
    connections: usize,
    availability: Availability,
}

/// Who is connected, shared by sessions and the router.
pub(crate) struct Presence {
    events: Arc<EventHub>,
    agents: Mutex<HashMap<i64, State>>,
}

impl Presence {
    pub(crate) fn new(events: Arc<EventHub>) -> Self {
        Self {
            events,
            agents: Mutex::new(HashMap::new()),
        }
    }

    fn status_of(state: Option<&State>) -> Availability {
        match state {
            Some(s) if s.connections > 0 => match s.availability {
                // Offline is never a choice; a connected agent is at least online.
                Availability::Offline => Availability::Online,
                chosen => chosen,
            },
            _ => Availability::Offline,
        }
    }

    fn update(&self, agent_id: i64, change: impl FnOnce(&mut State)) -> Option<Availability> {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let before = Self::status_of(agents.get(&agent_id));
        let state = agents.entry(agent_id).or_insert(State {
            connections: 0,
            availability: Availability::Online,
        });
        change(state);
        let after = Self::status_of(Some(state));
        if state.connections == 0 {
            agents.remove(&agent_id);
        }
        drop(agents);
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
            s.availability = availability;
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
        self.update(agent_id, |s| s.availability = availability)
    }

    fn is_connected(&self, agent_id: i64) -> bool {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        agents.get(&agent_id).is_some_and(|s| s.connections > 0)
    }

    /// What an agent shows now: their choice while connected, offline otherwise.
    pub(crate) fn status(&self, agent_id: i64) -> Availability {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        Self::status_of(agents.get(&agent_id))
    }

    /// Agents that are connected and online.
    pub(crate) fn online(&self) -> Vec<i64> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<i64> = agents
            .iter()
            .filter(|(_, s)| Self::status_of(Some(s)) == Availability::Online)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}
