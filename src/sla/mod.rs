//! Service levels: business hours, SLA policies and the escalation supervisor.
//!
//! How it fits together:
//! - Every committed change to a conversation is published on the event hub, which also
//!   marks the conversation as *touched* here ([`Sla::touch`], a set insert; nothing at all
//!   while no policy is enabled).
//! - The [`Escalation`] supervisor syncs touched conversations in batches: it reads what
//!   the store holds, lets [`track::plan`] decide which clocks start, pause, resume, meet
//!   or end, and writes them. A conversation whose notice was lost (a crash between commit
//!   and notice) is found at start and by a periodic pass, by comparing its `updated_at`
//!   with the one last synced.
//! - Each running clock has a `fire_at` in the database, indexed. The supervisor keeps only
//!   the earliest in memory and sleeps until then on the [`clock::Clock`]; a due clock is
//!   fired by the conversation's actor, which records the warning or breach (once, guarded
//!   in SQL) and runs the policy's actions in the same transaction, audited, with an
//!   activity line in the conversation.

pub mod clock;
pub(crate) mod hours;
pub(crate) mod policy;
mod supervisor;
pub(crate) mod track;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use self::clock::Clock;
use self::hours::Schedule;
use self::policy::{Policy, Target};
use crate::store::sla::{ClockRow, PolicyRow, ScheduleRow};
pub(crate) use supervisor::{Attach, Escalation, Reload, Shutdown};

/// Share (in percent of the target) from which a running clock counts as "breaching
/// soon" for the inbox's filter and sort, whatever the policy's own warning share.
pub(crate) const SOON_PERCENT: i64 = 75;

/// Policies and schedules as the supervisor and the answers use them.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub(crate) policies: Vec<Policy>,
    pub(crate) schedules: HashMap<i64, Arc<Schedule>>,
    /// Inbox id → schedule id.
    pub(crate) inbox_schedule: HashMap<i64, i64>,
}

impl Config {
    /// Builds the configuration from stored rows; a schedule that no longer parses (it
    /// was checked when written) is left out, so its inboxes count calendar time.
    pub(crate) fn from_rows(
        policies: &[PolicyRow],
        schedules: &[ScheduleRow],
        inbox_schedule: &[(i64, i64)],
    ) -> Self {
        let schedules = schedules
            .iter()
            .filter_map(|row| {
                let hours = serde_json::from_str(&row.hours).ok()?;
                let closed = serde_json::from_str(&row.closed_dates).ok()?;
                match Schedule::parse(&row.time_zone, &hours, &closed) {
                    Ok(s) => Some((row.id, Arc::new(s))),
                    Err(error) => {
                        tracing::warn!(schedule_id = row.id, %error, "stored schedule unreadable");
                        None
                    }
                }
            })
            .collect();
        Self {
            policies: policies.iter().map(Policy::from_row).collect(),
            schedules,
            inbox_schedule: inbox_schedule.iter().copied().collect(),
        }
    }

    /// The schedule an inbox keeps (none: always open).
    pub(crate) fn schedule_of(&self, inbox_id: Option<i64>) -> Option<&Schedule> {
        let schedule_id = self.inbox_schedule.get(&inbox_id?)?;
        self.schedules.get(schedule_id).map(Arc::as_ref)
    }

    fn any_enabled(&self) -> bool {
        self.policies.iter().any(|p| p.enabled)
    }
}

/// The supervisor's figures on `/metrics` (`switchboard_sla_*`).
#[derive(Debug, Default)]
pub(crate) struct SlaMetrics {
    pub(crate) synced: prometheus_client::metrics::counter::Counter,
    pub(crate) fired: prometheus_client::metrics::counter::Counter,
    pub(crate) start_pass_ms: prometheus_client::metrics::gauge::Gauge,
    pub(crate) full_pass_ms: prometheus_client::metrics::gauge::Gauge,
}

/// What the supervisor, the event hub and the HTTP answers share.
#[derive(Debug)]
pub struct Sla {
    /// The time every SLA decision reads (tests move it forward).
    pub clock: Arc<Clock>,
    pub(crate) metrics: SlaMetrics,
    config: RwLock<Arc<Config>>,
    /// Whether any policy is enabled: no bookkeeping at all otherwise.
    active: AtomicBool,
    touched: Mutex<HashSet<i64>>,
}

impl Sla {
    pub(crate) fn new(clock: Arc<Clock>) -> Self {
        Self {
            clock,
            metrics: SlaMetrics::default(),
            config: RwLock::default(),
            active: AtomicBool::new(false),
            touched: Mutex::default(),
        }
    }

    /// A conversation changed (called by the event hub after every commit).
    pub(crate) fn touch(&self, conversation_id: i64) {
        if self.active.load(Ordering::Relaxed) {
            self.touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(conversation_id);
        }
    }

    fn has_touched(&self) -> bool {
        !self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    fn take_touched(&self) -> Vec<i64> {
        let mut set = self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ids: Vec<i64> = set.drain().collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_config(&self, config: Config) {
        self.active.store(config.any_enabled(), Ordering::Relaxed);
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
    }

    /// Whether the inbox is within its business hours now (always, without a schedule).
    pub(crate) fn is_open(&self, inbox_id: i64) -> bool {
        self.config()
            .schedule_of(Some(inbox_id))
            .is_none_or(|s| s.is_open(self.clock.now()))
    }

    /// The SLA badge of a conversation from its running clocks: the one due soonest.
    pub(crate) fn badge(&self, inbox_id: Option<i64>, clocks: &[ClockRow]) -> Option<SlaBadge> {
        let config = self.config();
        let schedule = config.schedule_of(inbox_id);
        let now = self.clock.now();
        clocks
            .iter()
            .filter(|c| c.ended_at.is_none())
            .map(|c| SlaBadge::of(c, schedule, now))
            .min_by_key(|b| b.remaining_secs)
    }
}

/// What an agent sees of a conversation's SLA: the target due soonest.
#[derive(Debug, Clone, Serialize)]
pub struct SlaBadge {
    pub target: &'static str,
    /// Due instant while running; absent while paused.
    pub due_at: Option<DateTime<Utc>>,
    /// Business seconds left; negative when overdue.
    pub remaining_secs: i64,
    pub target_secs: i64,
    pub paused: bool,
    /// `ok`, `warning` (past the policy's warning share), or `breached`.
    pub state: &'static str,
    /// At least [`SOON_PERCENT`] of the target used (and not breached yet).
    pub breaching_soon: bool,
}

impl SlaBadge {
    fn of(clock: &ClockRow, schedule: Option<&Schedule>, now: DateTime<Utc>) -> Self {
        let used = track::used_secs(clock, schedule, now);
        let remaining_secs = clock.target_secs - used;
        let state = if clock.breached_at.is_some() || remaining_secs < 0 {
            "breached"
        } else if clock.warned_at.is_some()
            || used * 100 >= clock.target_secs.saturating_mul(clock.warn_percent)
        {
            "warning"
        } else {
            "ok"
        };
        Self {
            target: Target::parse(&clock.target).map_or("resolution", Target::as_str),
            due_at: clock.due_at.map(|d| d.and_utc()),
            remaining_secs,
            target_secs: clock.target_secs,
            paused: clock.resumed_at.is_none(),
            state,
            breaching_soon: state != "breached" && used * 100 >= clock.target_secs * SOON_PERCENT,
        }
    }
}
