//! Presence: an agent is online (or away, if they chose that) while at least one of their
//! inbox connections is open, and offline otherwise. Changes are published as
//! `presence` events and tell the router an agent may take conversations.

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
            // Connected agents are online unless they chose "away"; the stored
            // "offline" only describes an agent without a connection.
            Some(s) if s.connections > 0 && s.availability == Availability::Away => {
                Availability::Away
            }
            Some(s) if s.connections > 0 => Availability::Online,
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
