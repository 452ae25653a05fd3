//! Business schedules, SLA policies and the SLA clocks of conversations.
//!
//! The escalation supervisor (`crate::sla`) decides; this module reads and writes. Clock
//! rows have two writers that never overwrite each other's columns: the supervisor's sync
//! (start, pause, resume, meet, end, due times) and the conversation actor's firing
//! (`warned_at`, `breached_at`, guarded by `IS NULL`, so a warning or breach is recorded,
//! and its actions run, exactly once even with several hub nodes).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent};
use crate::db::schema::{
    business_schedules, conversation_labels, conversations, inbox_schedules, labels, messages,
    sla_clocks, sla_policies, sla_states,
};
use crate::db::types::{ConversationKind, ConversationStatus, Direction, Priority, SenderType};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// A stored business schedule (`hours` and `closed_dates` are JSON).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = business_schedules)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ScheduleRow {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub closed_dates: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A schedule's fields as written.
#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = business_schedules)]
pub struct ScheduleFields {
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub closed_dates: String,
}

/// A stored SLA policy (`actions` is JSON).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sla_policies)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    pub inbox_id: Option<i64>,
    pub priority: Option<Priority>,
    pub team_id: Option<i64>,
    pub label: Option<String>,
    pub first_response_secs: Option<i64>,
    pub next_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
    pub warn_percent: i64,
    pub actions: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One SLA clock of a conversation (see the migration for the meaning of each time).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = sla_clocks)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ClockRow {
    pub id: i64,
    pub conversation_id: i64,
    pub policy_id: Option<i64>,
    pub target: String,
    pub target_secs: i64,
    pub warn_percent: i64,
    pub consumed_secs: i64,
    pub started_at: NaiveDateTime,
    pub resumed_at: Option<NaiveDateTime>,
    pub warn_at: Option<NaiveDateTime>,
    pub due_at: Option<NaiveDateTime>,
    pub fire_at: Option<NaiveDateTime>,
    pub warned_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
    pub met_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
}

/// What the supervisor last accounted for in a conversation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sla_states)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct StateRow {
    pub conversation_id: i64,
    pub policy_id: Option<i64>,
    pub synced_seq: i64,
    pub synced_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The parts of a conversation its SLA depends on.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ConversationFacts {
    pub id: i64,
    pub kind: ConversationKind,
    pub inbox_id: Option<i64>,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub team_id: Option<i64>,
    pub first_response_at: Option<NaiveDateTime>,
    pub last_seq: i64,
    pub updated_at: NaiveDateTime,
}

/// Everything a sync of one conversation reads, in one transaction.
#[derive(Debug, Clone)]
pub struct SyncView {
    pub conversation: ConversationFacts,
    pub labels: Vec<String>,
    pub state: Option<StateRow>,
    /// Clocks not yet ended.
    pub active: Vec<ClockRow>,
    /// The sequence number of the customer's latest message, if any.
    pub last_inbound_seq: Option<i64>,
    /// The sequence number of the latest agent reply (not a note), if any.
    pub last_reply_seq: Option<i64>,
}

/// What a sync writes: changed clocks (by id), new clocks (id ignored) and the state.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    pub changed: Vec<ClockRow>,
    pub started: Vec<ClockRow>,
}

// ---- schedules ----------------------------------------------------------------------

/// Every business schedule, oldest first (the supervisor loads them all; there are few).
pub async fn schedules(conn: &mut DbConn) -> Result<Vec<ScheduleRow>, StoreError> {
    Ok(db_run!(conn, c => business_schedules::table
        .order(business_schedules::id)
        .select(ScheduleRow::as_select())
        .load(c)
        .await)?)
}

/// One business schedule by id.
pub async fn schedule(conn: &mut DbConn, id: i64) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(db_run!(conn, c => business_schedules::table
        .find(id)
        .select(ScheduleRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Creates a schedule; `StoreError::Conflict` when the name is taken.
pub async fn create_schedule(
    conn: &mut DbConn,
    fields: &ScheduleFields,
    actor: &Actor,
) -> Result<ScheduleRow, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let row = diesel::insert_into(business_schedules::table)
            .values((
                fields,
                business_schedules::created_at.eq(at),
                business_schedules::updated_at.eq(at),
            ))
            .returning(ScheduleRow::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("schedule.create", "schedule", row.id)
            .with_details(json!({"name": row.name, "time_zone": row.time_zone}));
        audit!(c, actor, event).await?;
        Ok(row)
    }).await)
}

/// Replaces a schedule's fields; `None` when it does not exist.
pub async fn update_schedule(
    conn: &mut DbConn,
    id: i64,
    fields: &ScheduleFields,
    actor: &Actor,
) -> Result<Option<ScheduleRow>, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let Some(row) = diesel::update(business_schedules::table.find(id))
            .set((fields, business_schedules::updated_at.eq(at)))
            .returning(ScheduleRow::as_returning())
            .get_result(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let event = AuditEvent::new("schedule.update", "schedule", id)
            .with_details(json!({"name": row.name, "time_zone": row.time_zone}));
        audit!(c, actor, event).await?;
        Ok(Some(row))
    }).await)
}

/// Deletes a schedule (its inboxes are then always open); false when it did not exist.
pub async fn delete_schedule(
    conn: &mut DbConn,
    id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let gone = diesel::delete(business_schedules::table.find(id)).execute(c).await?;
        if gone > 0 {
            audit!(c, actor, AuditEvent::new("schedule.delete", "schedule", id)).await?;
        }
        Ok(gone > 0)
    }).await)
}

/// Every inbox that keeps a schedule, as `(inbox_id, schedule_id)`.
pub async fn inbox_schedules(conn: &mut DbConn) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(db_run!(conn, c => inbox_schedules::table
        .select((inbox_schedules::inbox_id, inbox_schedules::schedule_id))
        .load(c)
        .await)?)
}

/// The schedule an inbox keeps.
pub async fn schedule_of_inbox(
    conn: &mut DbConn,
    inbox_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(db_run!(conn, c => inbox_schedules::table
        .find(inbox_id)
        .select(inbox_schedules::schedule_id)
        .first(c)
        .await
        .optional())?)
}

/// Gives an inbox a schedule, or takes it away (`None`: always open).
pub async fn set_inbox_schedule(
    conn: &mut DbConn,
    inbox_id: i64,
    schedule_id: Option<i64>,
    actor: &Actor,
) -> Result<(), StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::delete(inbox_schedules::table.find(inbox_id)).execute(c).await?;
        if let Some(schedule_id) = schedule_id {
            diesel::insert_into(inbox_schedules::table)
                .values((
                    inbox_schedules::inbox_id.eq(inbox_id),
                    inbox_schedules::schedule_id.eq(schedule_id),
                ))
                .execute(c)
                .await?;
        }
        let event = AuditEvent::new("inbox.schedule", "inbox", inbox_id)
            .with_details(json!({"business_hours_id": schedule_id.map(|s| s.to_string())}));
        audit!(c, actor, event).await?;
        Ok(())
    }).await)
}

// ---- policies -----------------------------------------------------------------------

/// Every policy in precedence order (position, then id).
pub async fn policies(conn: &mut DbConn) -> Result<Vec<PolicyRow>, StoreError> {
    Ok(db_run!(conn, c => sla_policies::table
        .order((sla_policies::position, sla_policies::id))
        .select(PolicyRow::as_select())
        .load(c)
        .await)?)
}

/// One policy by id.
pub async fn policy(conn: &mut DbConn, id: i64) -> Result<Option<PolicyRow>, StoreError> {
    Ok(db_run!(conn, c => sla_policies::table
        .find(id)
        .select(PolicyRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// A policy's fields as written.
#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = sla_policies)]
#[diesel(treat_none_as_null = true)]
pub struct PolicyValues {
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    pub inbox_id: Option<i64>,
    pub priority: Option<Priority>,
    pub team_id: Option<i64>,
    pub label: Option<String>,
    pub first_response_secs: Option<i64>,
    pub next_response_secs: Option<i64>,
    pub resolution_secs: Option<i64>,
    pub warn_percent: i64,
    pub actions: String,
}

/// Creates a policy; `StoreError::Conflict` when the name is taken.
pub async fn create_policy(
    conn: &mut DbConn,
    values: &PolicyValues,
    actor: &Actor,
) -> Result<PolicyRow, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let row = diesel::insert_into(sla_policies::table)
            .values((values, sla_policies::created_at.eq(at), sla_policies::updated_at.eq(at)))
            .returning(PolicyRow::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("sla_policy.create", "sla_policy", row.id)
            .with_details(json!({"name": row.name}));
        audit!(c, actor, event).await?;
        Ok(row)
    }).await)
}

/// Replaces a policy's fields; `None` when it does not exist.
pub async fn update_policy(
    conn: &mut DbConn,
    id: i64,
    values: &PolicyValues,
    actor: &Actor,
) -> Result<Option<PolicyRow>, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let Some(row) = diesel::update(sla_policies::table.find(id))
            .set((values, sla_policies::updated_at.eq(at)))
            .returning(PolicyRow::as_returning())
            .get_result(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let event = AuditEvent::new("sla_policy.update", "sla_policy", id)
            .with_details(json!({"name": row.name}));
        audit!(c, actor, event).await?;
        Ok(Some(row))
    }).await)
}

/// Deletes a policy; its running clocks end at the next sync. False when it did not exist.
pub async fn delete_policy(conn: &mut DbConn, id: i64, actor: &Actor) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let gone = diesel::delete(sla_policies::table.find(id)).execute(c).await?;
        if gone > 0 {
            audit!(c, actor, AuditEvent::new("sla_policy.delete", "sla_policy", id)).await?;
        }
        Ok(gone > 0)
    }).await)
}

// ---- clocks -------------------------------------------------------------------------

/// Conversations whose SLA state lags behind them: active support conversations never
/// synced, and any whose `updated_at` moved since the last sync (a change whose notice
/// was lost, e.g. in a crash). `after` is the id cursor; at most `limit`.
pub async fn stale(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
    let active = [
        ConversationStatus::Open,
        ConversationStatus::Pending,
        ConversationStatus::Snoozed,
    ];
    Ok(db_run!(conn, c => conversations::table
        .left_join(sla_states::table)
        .filter(conversations::id.gt(after))
        .filter(
            sla_states::conversation_id
                .is_null()
                .and(conversations::kind.eq(ConversationKind::Support))
                .and(conversations::status.eq_any(active))
                .or(sla_states::synced_at.ne(conversations::updated_at)),
        )
        .order(conversations::id)
        .limit(limit)
        .select(conversations::id)
        .load(c)
        .await)?)
}

/// Conversations with a clock still running (after the last policy was disabled or
/// deleted, the only ones a pass must look at: their clocks end). `after` is the id cursor.
pub async fn with_running_clocks(
    conn: &mut DbConn,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(db_run!(conn, c => sla_clocks::table
        .filter(sla_clocks::ended_at.is_null())
        .filter(sla_clocks::conversation_id.gt(after))
        .select(sla_clocks::conversation_id)
        .distinct()
        .order(sla_clocks::conversation_id)
        .limit(limit)
        .load(c)
        .await)?)
}

/// Forgets what was synced for every conversation, so the next pass looks at all active
/// ones again (policies or schedules changed).
pub async fn resync_all(conn: &mut DbConn) -> Result<usize, StoreError> {
    Ok(db_run!(conn, c => diesel::delete(sla_states::table).execute(c).await)?)
}

/// Reads what a sync of some conversations needs, with a fixed number of queries whatever
/// their number (those that no longer exist are left out).
pub async fn sync_views(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<SyncView>, StoreError> {
    use std::collections::HashMap;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (facts, labels, states, clocks, inbound, replies) = db_run!(conn, c => {
        let facts = conversations::table
            .filter(conversations::id.eq_any(ids))
            .order(conversations::id)
            .select(ConversationFacts::as_select())
            .load(c)
            .await?;
        let labels: Vec<(i64, String)> = conversation_labels::table
            .inner_join(labels::table)
            .filter(conversation_labels::conversation_id.eq_any(ids))
            .select((conversation_labels::conversation_id, labels::name))
            .load(c)
            .await?;
        let states = sla_states::table
            .filter(sla_states::conversation_id.eq_any(ids))
            .select(StateRow::as_select())
            .load(c)
            .await?;
        let clocks = sla_clocks::table
            .filter(sla_clocks::conversation_id.eq_any(ids))
            .filter(sla_clocks::ended_at.is_null())
            .order(sla_clocks::id)
            .select(ClockRow::as_select())
            .load(c)
            .await?;
        let inbound: Vec<(i64, Option<i64>)> = messages::table
            .filter(messages::conversation_id.eq_any(ids))
            .filter(messages::direction.eq(Direction::Inbound))
            .group_by(messages::conversation_id)
            .select((messages::conversation_id, diesel::dsl::max(messages::seq)))
            .load(c)
            .await?;
        let replies: Vec<(i64, Option<i64>)> = messages::table
            .filter(messages::conversation_id.eq_any(ids))
            .filter(messages::direction.eq(Direction::Outbound))
            .filter(messages::sender_type.eq(SenderType::Agent))
            .group_by(messages::conversation_id)
            .select((messages::conversation_id, diesel::dsl::max(messages::seq)))
            .load(c)
            .await?;
        Ok::<_, diesel::result::Error>((facts, labels, states, clocks, inbound, replies))
    })?;
    let mut labels_of: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, name) in labels {
        labels_of.entry(id).or_default().push(name);
    }
    let mut states: HashMap<i64, StateRow> =
        states.into_iter().map(|s| (s.conversation_id, s)).collect();
    let mut clocks_of: HashMap<i64, Vec<ClockRow>> = HashMap::new();
    for clock in clocks {
        clocks_of
            .entry(clock.conversation_id)
            .or_default()
            .push(clock);
    }
    let inbound: HashMap<i64, i64> = inbound
        .into_iter()
        .filter_map(|(id, seq)| Some((id, seq?)))
        .collect();
    let replies: HashMap<i64, i64> = replies
        .into_iter()
        .filter_map(|(id, seq)| Some((id, seq?)))
        .collect();
    Ok(facts
        .into_iter()
        .map(|conversation| {
            let id = conversation.id;
            SyncView {
                labels: labels_of.remove(&id).unwrap_or_default(),
                state: states.remove(&id),
                active: clocks_of.remove(&id).unwrap_or_default(),
                last_inbound_seq: inbound.get(&id).copied(),
                last_reply_seq: replies.get(&id).copied(),
                conversation,
            }
        })
        .collect())
}

/// Writes a sync's outcome and records what it accounted for. The firing columns
/// (`warned_at`, `breached_at`) are never written here.
pub async fn save_sync(
    conn: &mut DbConn,
    view: &SyncView,
    policy_id: Option<i64>,
    write: &SyncWrite,
) -> Result<(), StoreError> {
    let at = super::now();
    let facts = &view.conversation;
    // The soonest due time among the clocks still running after this write.
    let due_at = view
        .active
        .iter()
        .filter(|c| !write.changed.iter().any(|w| w.id == c.id))
        .chain(&write.changed)
        .chain(&write.started)
        .filter(|c| c.ended_at.is_none() && c.met_at.is_none())
        .filter_map(|c| c.due_at)
        .min()
        // Microseconds, as PostgreSQL keeps them, so a page cursor compares equal on both.
        .map(|due| chrono::SubsecRound::trunc_subsecs(due, 6));
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        for clock in &write.changed {
            diesel::update(sla_clocks::table.find(clock.id))
                .set((
                    sla_clocks::policy_id.eq(clock.policy_id),
                    sla_clocks::target_secs.eq(clock.target_secs),
                    sla_clocks::warn_percent.eq(clock.warn_percent),
                    sla_clocks::consumed_secs.eq(clock.consumed_secs),
                    sla_clocks::resumed_at.eq(clock.resumed_at),
                    sla_clocks::warn_at.eq(clock.warn_at),
                    sla_clocks::due_at.eq(clock.due_at),
                    sla_clocks::fire_at.eq(clock.fire_at),
                    sla_clocks::met_at.eq(clock.met_at),
                    sla_clocks::ended_at.eq(clock.ended_at),
                ))
                .execute(c)
                .await?;
        }
        for clock in &write.started {
            diesel::insert_into(sla_clocks::table)
                .values((
                    sla_clocks::conversation_id.eq(clock.conversation_id),
                    sla_clocks::policy_id.eq(clock.policy_id),
                    sla_clocks::target.eq(&clock.target),
                    sla_clocks::target_secs.eq(clock.target_secs),
                    sla_clocks::warn_percent.eq(clock.warn_percent),
                    sla_clocks::consumed_secs.eq(clock.consumed_secs),
                    sla_clocks::started_at.eq(clock.started_at),
                    sla_clocks::resumed_at.eq(clock.resumed_at),
                    sla_clocks::warn_at.eq(clock.warn_at),
                    sla_clocks::due_at.eq(clock.due_at),
                    sla_clocks::fire_at.eq(clock.fire_at),
                ))
                .execute(c)
                .await?;
        }
        let state = (
            sla_states::policy_id.eq(policy_id),
            sla_states::synced_seq.eq(facts.last_seq),
            sla_states::synced_at.eq(facts.updated_at),
            sla_states::updated_at.eq(at),
            sla_states::due_at.eq(due_at),
        );
        diesel::insert_into(sla_states::table)
            .values((sla_states::conversation_id.eq(facts.id), state))
            .on_conflict(sla_states::conversation_id)
            .do_update()
            .set(state)
            .execute(c)
            .await?;
        Ok(())
    }).await)
}

/// The earliest instant any clock needs the supervisor.
pub async fn next_fire(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(db_run!(conn, c => sla_clocks::table
        .filter(sla_clocks::fire_at.is_not_null())
        .select(diesel::dsl::min(sla_clocks::fire_at))
        .first::<Option<NaiveDateTime>>(c)
        .await)?)
}

/// Clocks due at `now`, earliest first, as `(clock id, conversation id)`.
pub async fn due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(db_run!(conn, c => sla_clocks::table
        .filter(sla_clocks::fire_at.le(now))
        .order((sla_clocks::fire_at, sla_clocks::id))
        .limit(limit)
        .select((sla_clocks::id, sla_clocks::conversation_id))
        .load(c)
        .await)?)
}

/// The clocks of some conversations that are not ended, for answers (badges).
pub async fn active_clocks(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<ClockRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db_run!(conn, c => sla_clocks::table
        .filter(sla_clocks::conversation_id.eq_any(ids))
        .filter(sla_clocks::ended_at.is_null())
        .order(sla_clocks::id)
        .select(ClockRow::as_select())
        .load(c)
        .await)?)
}

/// Every clock of one conversation, oldest first (met, breached and running).
pub async fn history(conn: &mut DbConn, conversation_id: i64) -> Result<Vec<ClockRow>, StoreError> {
    Ok(db_run!(conn, c => sla_clocks::table
        .filter(sla_clocks::conversation_id.eq(conversation_id))
        .order(sla_clocks::id)
        .limit(200)
        .select(ClockRow::as_select())
        .load(c)
        .await)?)
}

/// Which stages a call to [`fire`] recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    pub warning: bool,
    pub breach: bool,
}

/// Firing, inside the caller's transaction (the conversation actor's, so the actions
/// commit with it): records the stage that is due, guarded by `IS NULL` so only one caller
/// ever records each, and sets the clock's next fire time. When the breach is due too, only
/// the breach is recorded (its actions run; the warning's are skipped). Returns the clock
/// as read before, and what this call recorded.
pub async fn fire(
    conn: &mut DbConn,
    clock_id: i64,
    now: NaiveDateTime,
) -> Result<(Option<ClockRow>, Fired), StoreError> {
    db_run!(conn, c => {
        let clock = sla_clocks::table
            .find(clock_id)
            .select(ClockRow::as_select())
            .first(c)
            .await
            .optional()?;
        let mut fired = Fired::default();
        if let Some(clock) = clock.as_ref().filter(|k| k.ended_at.is_none()) {
            let breach_due = clock.breached_at.is_none() && clock.due_at.is_some_and(|d| d <= now);
            let warn_due = clock.warned_at.is_none() && clock.warn_at.is_some_and(|w| w <= now);
            if breach_due {
                fired.breach = diesel::update(
                    sla_clocks::table.find(clock_id).filter(sla_clocks::breached_at.is_null()),
                )
                .set(sla_clocks::breached_at.eq(now))
                .execute(c)
                .await?
                    > 0;
            }
            if breach_due || warn_due {
                let warned = diesel::update(
                    sla_clocks::table.find(clock_id).filter(sla_clocks::warned_at.is_null()),
                )
                .set(sla_clocks::warned_at.eq(now))
                .execute(c)
                .await?
                    > 0;
                fired.warning = warned && !breach_due;
            }
        }
        if let Some(fresh) = sla_clocks::table
            .find(clock_id)
            .select(ClockRow::as_select())
            .first(c)
            .await
            .optional()?
        {
            let next = next_fire_of(&fresh);
            if next != fresh.fire_at {
                diesel::update(sla_clocks::table.find(clock_id))
                    .set(sla_clocks::fire_at.eq(next))
                    .execute(c)
                    .await?;
            }
        }
        Ok((clock, fired))
    })
}

/// When a clock next needs the supervisor: its warning, then its due time, whichever has
/// not fired yet; never while paused or ended.
pub fn next_fire_of(clock: &ClockRow) -> Option<NaiveDateTime> {
    if clock.ended_at.is_some() || clock.resumed_at.is_none() {
        return None;
    }
    let warn = clock.warn_at.filter(|_| clock.warned_at.is_none());
    let due = clock.due_at.filter(|_| clock.breached_at.is_none());
    match (warn, due) {
        (Some(w), Some(d)) => Some(w.min(d)),
        (w, d) => w.or(d),
    }
}
