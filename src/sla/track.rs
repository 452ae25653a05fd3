//! How a conversation's SLA clocks follow the conversation: a pure function from what the
//! store holds now to the clock rows to write, so every rule is tested without a database.
//!
//! - A customer message that waits for an answer starts the first-response clock (no
//!   agent has replied yet) or the next-response clock; an agent's reply meets it.
//! - The resolution clock runs from the start, or the reopening, of a conversation to its
//!   resolution.
//! - Clocks run while the conversation is `open` and pause while it is `pending` or
//!   `snoozed`; time counts only within the inbox's business hours.
//! - A change of policy (priority raised, team or label changed) applies the new policy's
//!   targets to the running clocks, keeping the time already used.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::hours::{self, Schedule};
use super::policy::{Policy, Target};
use crate::db::types::{ConversationKind, ConversationStatus};
use crate::store::sla::{ClockRow, SyncView, SyncWrite, next_fire_of};

/// The clock rows to write for one conversation at `now`.
pub(crate) fn plan(
    view: &SyncView,
    policy: Option<&Policy>,
    schedule: Option<&Schedule>,
    now: DateTime<Utc>,
) -> SyncWrite {
    let at = now.naive_utc();
    let facts = &view.conversation;
    let mut clocks = view.active.clone();
    let mut started = Vec::new();

    let synced_seq = view.state.as_ref().map_or(0, |s| s.synced_seq);
    let replied_since = view.last_reply_seq.is_some_and(|r| r > synced_seq);
    let awaiting_reply = match (view.last_inbound_seq, view.last_reply_seq) {
        (Some(inbound), Some(reply)) => inbound > reply,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let is_response = |c: &ClockRow| c.target != Target::Resolution.as_str();

    // An agent's reply meets the response clock that was waiting for it.
    if replied_since {
        for clock in clocks.iter_mut().filter(|c| is_response(c)) {
            stop(clock, schedule, now, true);
        }
    }
    let policy = policy.filter(|_| facts.kind == ConversationKind::Support);
    match (policy, facts.status) {
        (None, _) => clocks
            .iter_mut()
            .for_each(|c| stop(c, schedule, now, false)),
        (Some(_), ConversationStatus::Resolved | ConversationStatus::Closed) => {
            for clock in clocks.iter_mut().filter(|c| c.ended_at.is_none()) {
                let met = !is_response(clock);
                stop(clock, schedule, now, met);
            }
        }
        (Some(policy), status) => {
            let live = |c: &&mut ClockRow| c.ended_at.is_none();
            if !awaiting_reply {
                // The wait ended without an agent's reply (the message was withdrawn).
                for clock in clocks.iter_mut().filter(|c| is_response(c)).filter(live) {
                    stop(clock, schedule, now, false);
                }
            }
            let has = |clocks: &[ClockRow], response: bool| {
                clocks
                    .iter()
                    .any(|c| c.ended_at.is_none() && is_response(c) == response)
            };
            if awaiting_reply && !has(&clocks, true) {
                let target = if facts.first_response_at.is_none() {
                    Target::FirstResponse
                } else {
                    Target::NextResponse
                };
                started.extend(start(facts.id, policy, target, at));
            }
            if !has(&clocks, false) {
                started.extend(start(facts.id, policy, Target::Resolution, at));
            }
            let running = status == ConversationStatus::Open;
            for clock in clocks.iter_mut().chain(started.iter_mut()) {
                if clock.ended_at.is_some() {
                    continue;
                }
                let target = Target::parse(&clock.target).unwrap_or(Target::Resolution);
                let Some(secs) = policy.target_secs(target) else {
                    stop(clock, schedule, now, false);
                    continue;
                };
                clock.policy_id = Some(policy.id);
                clock.target_secs = secs;
                clock.warn_percent = policy.warn_percent;
                match (running, clock.resumed_at) {
                    (true, None) => clock.resumed_at = Some(at),
                    (false, Some(_)) => pause(clock, schedule, now),
                    _ => {}
                }
                schedule_times(clock, schedule);
            }
        }
    }
    let changed = clocks
        .into_iter()
        .zip(&view.active)
        .filter(|(new, old)| new != *old)
        .map(|(new, _)| new)
        .collect();
    SyncWrite { changed, started }
}

/// Business seconds used so far, counting a running clock up to `now`.
pub(crate) fn used_secs(clock: &ClockRow, schedule: Option<&Schedule>, now: DateTime<Utc>) -> i64 {
    clock.consumed_secs
        + clock.resumed_at.map_or(0, |since| {
            hours::secs_between(schedule, since.and_utc(), now)
        })
}

fn start(
    conversation_id: i64,
    policy: &Policy,
    target: Target,
    at: NaiveDateTime,
) -> Option<ClockRow> {
    let secs = policy.target_secs(target)?;
    Some(ClockRow {
        id: 0,
        conversation_id,
        policy_id: Some(policy.id),
        target: target.as_str().to_owned(),
        target_secs: secs,
        warn_percent: policy.warn_percent,
        consumed_secs: 0,
        started_at: at,
        resumed_at: None,
        warn_at: None,
        due_at: None,
        fire_at: None,
        warned_at: None,
        breached_at: None,
        met_at: None,
        ended_at: None,
    })
}

fn pause(clock: &mut ClockRow, schedule: Option<&Schedule>, now: DateTime<Utc>) {
    clock.consumed_secs = used_secs(clock, schedule, now);
    clock.resumed_at = None;
}

fn stop(clock: &mut ClockRow, schedule: Option<&Schedule>, now: DateTime<Utc>, met: bool) {
    if clock.ended_at.is_some() {
        return;
    }
    pause(clock, schedule, now);
    let at = now.naive_utc();
    if met {
        clock.met_at = Some(at);
    }
    clock.ended_at = Some(at);
    clock.warn_at = None;
    clock.due_at = None;
    clock.fire_at = None;
}

/// Warning and due instants of a running clock from its time left; none while paused.
fn schedule_times(clock: &mut ClockRow, schedule: Option<&Schedule>) {
    match clock.resumed_at {
        None => {
            clock.warn_at = None;
            clock.due_at = None;
        }
        Some(since) => {
            let since = since.and_utc();
            let at_share = |secs: i64| {
                let left = secs - clock.consumed_secs;
                if left <= 0 {
                    Some(since)
                } else {
                    hours::add_secs(schedule, since, left)
                }
            };
            clock.due_at = at_share(clock.target_secs).map(|t| t.naive_utc());
            let warn_secs = clock.target_secs.saturating_mul(clock.warn_percent) / 100;
            clock.warn_at = at_share(warn_secs).map(|t| t.naive_utc());
        }
    }
    clock.fire_at = next_fire_of(clock);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::types::Priority;
    use crate::store::sla::{ConversationFacts, StateRow};
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn policy() -> Policy {
        Policy {
            id: 1,
            name: "p".into(),
            position: 0,
            enabled: true,
            inbox_id: None,
            priority: None,
            team_id: None,
            label: None,
            first_response_secs: Some(3600),
            next_response_secs: Some(1800),
            resolution_secs: Some(8 * 3600),
            warn_percent: 80,
            actions: Vec::new(),
        }
    }

    fn view(status: ConversationStatus, inbound: Option<i64>, reply: Option<i64>) -> SyncView {
        SyncView {
            conversation: ConversationFacts {
                id: 9,
                kind: ConversationKind::Support,
                inbox_id: Some(1),
                status,
                priority: Priority::None,
                team_id: None,
                first_response_at: reply.map(|_| t0().naive_utc()),
                last_seq: inbound.max(reply).unwrap_or(0),
                updated_at: t0().naive_utc(),
            },
            labels: Vec::new(),
            state: None,
            active: Vec::new(),
            last_inbound_seq: inbound,
            last_reply_seq: reply,
        }
    }

    /// Applies a plan as the store would, giving new clocks ids.
    fn apply(view: &mut SyncView, write: SyncWrite) {
        for changed in write.changed {
            if let Some(c) = view.active.iter_mut().find(|c| c.id == changed.id) {
                *c = changed;
            }
        }
        let next = view.active.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        for (i, mut c) in write.started.into_iter().enumerate() {
            c.id = next + i as i64;
            view.active.push(c);
        }
        view.active.retain(|c| c.ended_at.is_none());
        view.state = Some(StateRow {
            conversation_id: 9,
            policy_id: Some(1),
            synced_seq: view.conversation.last_seq,
            synced_at: view.conversation.updated_at,
            updated_at: view.conversation.updated_at,
        });
    }

    fn step(v: &mut SyncView, p: Option<&Policy>, s: Option<&Schedule>, now: DateTime<Utc>) {
        let write = plan(v, p, s, now);
        apply(v, write);
    }

    fn clock(view: &SyncView, target: Target) -> &ClockRow {
        view.active
            .iter()
            .find(|c| c.target == target.as_str())
            .unwrap_or_else(|| panic!("no {target:?} clock in {:?}", view.active))
    }

    #[test]
    fn a_new_message_starts_first_response_and_resolution() {
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        let write = plan(&v, Some(&p), None, t0());
        assert_eq!(write.started.len(), 2);
        apply(&mut v, write);
        let first = clock(&v, Target::FirstResponse);
        assert_eq!(first.due_at, Some((t0() + Duration::hours(1)).naive_utc()));
        assert_eq!(
            first.warn_at,
            Some((t0() + Duration::minutes(48)).naive_utc())
        );
        assert_eq!(first.fire_at, first.warn_at);
        // Nothing changed: nothing to write.
        let again = plan(&v, Some(&p), None, t0() + Duration::minutes(5));
        assert!(
            again.changed.is_empty() && again.started.is_empty(),
            "{again:?}"
        );
    }

    #[test]
    fn a_reply_meets_and_the_next_message_starts_next_response() {
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        step(&mut v, Some(&p), None, t0());
        // The agent replies (seq 2) 10 minutes later.
        v.conversation.last_seq = 2;
        v.conversation.first_response_at = Some(t0().naive_utc());
        v.last_reply_seq = Some(2);
        let write = plan(&v, Some(&p), None, t0() + Duration::minutes(10));
        let met = write
            .changed
            .iter()
            .find(|c| c.target == "first_response")
            .unwrap_or_else(|| panic!("{write:?}"));
        assert!(met.met_at.is_some() && met.ended_at.is_some() && met.fire_at.is_none());
        assert_eq!(met.consumed_secs, 600);
        apply(&mut v, write);
        assert_eq!(v.active.len(), 1, "only resolution runs");
        // The customer writes again (seq 3): next response, 30 minutes.
        v.conversation.last_seq = 3;
        v.last_inbound_seq = Some(3);
        let later = t0() + Duration::minutes(20);
        step(&mut v, Some(&p), None, later);
        let next = clock(&v, Target::NextResponse);
        assert_eq!(
            next.due_at,
            Some((later + Duration::minutes(30)).naive_utc())
        );
    }

    #[test]
    fn pending_pauses_and_open_resumes_with_the_time_left() {
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        step(&mut v, Some(&p), None, t0());
        v.conversation.status = ConversationStatus::Pending;
        v.conversation.updated_at += Duration::seconds(1);
        step(&mut v, Some(&p), None, t0() + Duration::minutes(20));
        let paused = clock(&v, Target::FirstResponse);
        assert_eq!(
            (paused.consumed_secs, paused.resumed_at, paused.fire_at),
            (1200, None, None)
        );
        v.conversation.status = ConversationStatus::Open;
        let back = t0() + Duration::hours(5);
        step(&mut v, Some(&p), None, back);
        let resumed = clock(&v, Target::FirstResponse);
        assert_eq!(
            resumed.due_at,
            Some((back + Duration::minutes(40)).naive_utc())
        );
    }

    #[test]
    fn resolving_meets_resolution_and_ends_the_wait() {
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        step(&mut v, Some(&p), None, t0());
        v.conversation.status = ConversationStatus::Resolved;
        let write = plan(&v, Some(&p), None, t0() + Duration::minutes(30));
        let by_target = |t: Target| {
            write
                .changed
                .iter()
                .find(|c| c.target == t.as_str())
                .cloned()
        };
        let resolution = by_target(Target::Resolution).unwrap_or_else(|| panic!("{write:?}"));
        let first = by_target(Target::FirstResponse).unwrap_or_else(|| panic!("{write:?}"));
        assert!(resolution.met_at.is_some());
        assert!(first.met_at.is_none() && first.ended_at.is_some());
        apply(&mut v, write);
        assert!(v.active.is_empty());
        // Reopened by a new message: a new resolution cycle and, no reply yet, first response.
        v.conversation.status = ConversationStatus::Open;
        v.conversation.last_seq = 2;
        v.last_inbound_seq = Some(2);
        step(&mut v, Some(&p), None, t0() + Duration::hours(2));
        assert_eq!(v.active.len(), 2);
    }

    #[test]
    fn a_stricter_policy_keeps_the_time_used() {
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        step(&mut v, Some(&p), None, t0());
        let strict = Policy {
            id: 2,
            first_response_secs: Some(900),
            ..policy()
        };
        let now = t0() + Duration::minutes(10);
        step(&mut v, Some(&strict), None, now);
        let first = clock(&v, Target::FirstResponse);
        assert_eq!(first.policy_id, Some(2));
        // Started at t0, 15 minutes: due at t0 + 15 min whatever the time of the change.
        assert_eq!(
            first.due_at,
            Some((t0() + Duration::minutes(15)).naive_utc())
        );
        // No policy any more: the clocks end, unmet.
        let write = plan(&v, None, None, now);
        assert!(
            write
                .changed
                .iter()
                .all(|c| c.ended_at.is_some() && c.met_at.is_none())
        );
    }

    #[test]
    fn business_hours_move_the_due_time_past_the_night() {
        let schedule = Schedule::parse(
            "UTC",
            &serde_json::json!({"mon": [["09:00", "11:00"]], "tue": [["09:00", "17:00"]]}),
            &serde_json::json!([]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = policy();
        let mut v = view(ConversationStatus::Open, Some(1), None);
        // Monday 10:00: one hour left on Monday, so a 1-hour target is due at 11:00;
        // the 8-hour resolution runs 1 h Monday + 7 h Tuesday → Tuesday 16:00.
        step(&mut v, Some(&p), Some(&schedule), t0());
        assert_eq!(
            clock(&v, Target::FirstResponse).due_at,
            Some((t0() + Duration::hours(1)).naive_utc())
        );
        assert_eq!(
            clock(&v, Target::Resolution).due_at,
            Some((t0() + Duration::hours(30)).naive_utc())
        );
    }
}
