//! Recomputing the rollups from the stored data, a time range at a time.
//!
//! A range's rows are computed afresh (messages, conversations, status changes from the
//! audit trail, surveys and SLA clocks of that range) and replace the stored ones in one
//! transaction, so recomputing is idempotent: a refresh recomputes from a little before
//! where the last one stopped (a write that committed late is counted), plus the buckets of
//! earlier resolutions whose survey was sent or answered since. On PostgreSQL a refresh holds
//! an advisory lock from its first read to its last write, so nodes refresh one after the
//! other and a later refresh never writes older figures over newer ones. The write paths
//! gain one audit row when a customer's message reopens a resolved conversation, and the
//! indexes the ranges are read by (messages', conversations' and surveys' times).
//!
//! Attribution: a conversation's figures count for its inbox, team, labels and assignee as
//! they are when its bucket is computed (the last time: a refresh passes a bucket once,
//! unless a survey about a resolution in it is sent or answered later, or a rebuild runs);
//! a reply counts for its author, a first response for whoever answered first. Resolution
//! time runs from the start of the cycle (opened, or reopened) to the resolve; first
//! response and resolution times count business seconds where the inbox keeps hours.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{BUCKET_SECS, Counters, Dim, bucket_of};
use crate::db::schema::{
    audit_log, conversation_labels, conversations, csat_surveys, messages, report_daily,
    report_rollups, report_state, sla_clocks,
};
use crate::db::types::{ConversationKind, Direction, SenderType};
use crate::db::{Database, DbConn, StoreError};
use crate::db_run;
use crate::sla::Config as Hours;

/// How far before the last refresh's end a refresh starts again: a transaction that took
/// its time stamp before the last refresh and committed after it is counted.
const OVERLAP: TimeDelta = TimeDelta::minutes(2);
/// The widest range computed in one go (memory stays bounded on a first backfill).
const CHUNK: TimeDelta = TimeDelta::days(1);
/// Ids per `IN (...)` list (SQLite binds each).
const IDS_PER_QUERY: usize = 5_000;
/// Rollup rows per insert statement (19 values each, under SQLite's bind limit).
const ROWS_PER_INSERT: usize = 500;

/// What one refresh did.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// Buckets recomputed.
    pub buckets: usize,
    /// Rollup rows written.
    pub rows: usize,
    pub took: Duration,
}

/// Brings the rollups up to `now`: the first time from the first conversation on, later
/// from shortly before the last refresh.
pub async fn refresh(db: &Database, now: NaiveDateTime) -> Result<Refreshed, StoreError> {
    exclusive(db, refresh_from(db, now, None)).await
}

/// Recomputes every rollup from the stored data (after business hours changed, after an
/// import, or to check a report). Each range's rows are replaced as it is computed, so
/// reports keep answering (from the old figures of what is not done yet).
pub async fn rebuild(db: &Database, now: NaiveDateTime) -> Result<Refreshed, StoreError> {
    exclusive(db, async {
        let mut reader = db.reader().await?;
        let first: Option<NaiveDateTime> = db_run!(&mut reader, c => conversations::table
            .select(diesel::dsl::min(conversations::created_at))
            .first(c)
            .await)?;
        drop(reader);
        let start = bucket_of(first.unwrap_or(now).min(now));
        // Rows from before the first conversation can only be left from deleted data.
        let mut writer = db.writer().await?;
        db_run!(&mut writer, c => diesel::delete(
            report_rollups::table
                .filter(report_rollups::dim.eq_any(DIMS))
                .filter(report_rollups::bucket_start.lt(start)),
        )
        .execute(c)
        .await)?;
        let first_day = start.date().and_time(chrono::NaiveTime::MIN);
        db_run!(&mut writer, c => diesel::delete(
            report_daily::table
                .filter(report_daily::dim.eq_any(DIMS))
                .filter(report_daily::day.lt(first_day)),
        )
        .execute(c)
        .await)?;
        drop(writer);
        refresh_from(db, now, Some(start)).await
    })
    .await
}

/// Runs `work` while holding the nodes' refresh lock on PostgreSQL (a session advisory
/// lock on a connection of its own, released however `work` ends); SQLite has one node.
async fn exclusive<T>(
    db: &Database,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut holder = match db.writer().await? {
        DbConn::Postgres(holder) => holder,
        sqlite => {
            drop(sqlite);
            return work.await;
        }
    };
    diesel::sql_query("SELECT pg_advisory_lock(hashtextextended('reports:refresh', 0))")
        .execute(&mut *holder)
        .await?;
    let result = work.await;
    let unlocked =
        diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended('reports:refresh', 0))")
            .execute(&mut *holder)
            .await;
    if let Err(error) = unlocked {
        // The lock goes with the connection: close it instead of giving it back to the pool.
        drop(deadpool::managed::Object::take(holder));
        tracing::warn!(%error, "report refresh lock not released; connection closed");
    }
    result
}

/// Runs `work` on SQLite's writer with `synchronous = NORMAL`: rollups are derived data, so
/// their commits need not wait for the disk (a crash loses at most the newest, which the
/// next refresh computes again; the WAL keeps their order). The connection is back to
/// `FULL` before anyone else gets it.
async fn without_fsync<T>(
    c: &mut crate::db::SqliteConn,
    work: impl AsyncFnOnce(&mut crate::db::SqliteConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    diesel::sql_query("PRAGMA synchronous = NORMAL")
        .execute(c)
        .await?;
    let result = work(c).await;
    let restored = diesel::sql_query("PRAGMA synchronous = FULL")
        .execute(c)
        .await;
    let value = result?;
    restored?;
    Ok(value)
}

/// The dimensions every range holds rows of.
const DIMS: [&str; 5] = ["all", "inbox", "team", "agent", "label"];

/// [`refresh`] from `start` (a rebuild) or from where the last refresh stopped.
async fn refresh_from(
    db: &Database,
    now: NaiveDateTime,
    start: Option<NaiveDateTime>,
) -> Result<Refreshed, StoreError> {
    let started = Instant::now();
    let mut reader_conn = db.reader().await?;
    let reader = &mut reader_conn;
    let covered: Option<NaiveDateTime> = db_run!(reader, c => report_state::table
        .find(1)
        .select(report_state::covered_until)
        .first(c)
        .await
        .optional())?;
    let end = bucket_of(now) + TimeDelta::seconds(BUCKET_SECS);
    let (from, late) = match (start, covered) {
        (Some(start), _) => (start, BTreeSet::new()),
        (None, Some(covered)) => {
            let from = bucket_of(covered - OVERLAP).min(bucket_of(now));
            // Surveys sent or answered since then about earlier resolutions change those
            // resolutions' buckets.
            let since = covered - OVERLAP;
            let mut earlier: Vec<NaiveDateTime> = db_run!(reader, c => csat_surveys::table
                .filter(csat_surveys::sent_at.ge(since))
                .filter(csat_surveys::resolved_at.lt(from))
                .select(csat_surveys::resolved_at)
                .load(c)
                .await)?;
            let answered: Vec<NaiveDateTime> = db_run!(reader, c => csat_surveys::table
                .filter(csat_surveys::answered_at.ge(since))
                .filter(csat_surveys::resolved_at.lt(from))
                .select(csat_surveys::resolved_at)
                .load(c)
                .await)?;
            earlier.extend(answered);
            let late: BTreeSet<NaiveDateTime> = earlier.into_iter().map(bucket_of).collect();
            (from, late)
        }
        (None, None) => {
            let first: Option<NaiveDateTime> = db_run!(reader, c => conversations::table
                .select(diesel::dsl::min(conversations::created_at))
                .first(c)
                .await)?;
            (bucket_of(first.unwrap_or(now).min(now)), BTreeSet::new())
        }
    };
    let hours = load_hours(reader).await?;
    drop(reader_conn);
    let mut done = Refreshed::default();
    let mut a = from;
    while a < end {
        let b = (a + CHUNK).min(end);
        done.rows += recompute(db, &hours, a, b).await?;
        done.buckets += ((b - a).num_seconds() / BUCKET_SECS) as usize;
        a = b;
    }
    for bucket in late {
        done.rows +=
            recompute(db, &hours, bucket, bucket + TimeDelta::seconds(BUCKET_SECS)).await?;
        done.buckets += 1;
    }
    // Only ever forward (a node whose clock is behind never moves it back).
    let covered_until = covered.map_or(now, |c| c.max(now));
    let mut writer_conn = db.writer().await?;
    let refreshed_at = crate::store::now();
    let upsert = diesel::insert_into(report_state::table)
        .values((
            report_state::id.eq(1),
            report_state::covered_until.eq(covered_until),
            report_state::refreshed_at.eq(refreshed_at),
        ))
        .on_conflict(report_state::id)
        .do_update()
        .set((
            report_state::covered_until.eq(covered_until),
            report_state::refreshed_at.eq(refreshed_at),
        ));
    match &mut writer_conn {
        DbConn::Sqlite(c) => {
            let c: &mut crate::db::SqliteConn = c;
            without_fsync(c, async |c| Ok(upsert.execute(c).await?)).await?;
        }
        DbConn::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            upsert.execute(c).await?;
        }
    }
    done.took = started.elapsed();
    Ok(done)
}

/// How far the rollups are computed, if they are.
pub async fn covered_until(conn: &mut DbConn) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(db_run!(conn, c => report_state::table
        .find(1)
        .select(report_state::covered_until)
        .first(c)
        .await
        .optional())?)
}

/// Business hours per inbox (the SLA module's schedules).
async fn load_hours(conn: &mut DbConn) -> Result<Hours, StoreError> {
    let schedules = crate::store::sla::schedules(conn).await?;
    let inbox_schedules = crate::store::sla::inbox_schedules(conn).await?;
    Ok(Hours::from_rows(&[], &schedules, &inbox_schedules))
}

/// Serializes rollup writers on PostgreSQL: nodes that recompute the same range at once
/// would otherwise both insert its rows (SQLite has one writer already).
async fn lock_rollups(c: &mut diesel_async::AsyncPgConnection) -> Result<(), StoreError> {
    crate::store::locks::advisory_locks_pg(c, vec!["reports:rollup".to_owned()]).await
}

/// A conversation as its figures are counted.
#[derive(Debug, Clone)]
struct ConversationDims {
    created_at: NaiveDateTime,
    inbox_id: Option<i64>,
    team_id: Option<i64>,
    assignee_id: Option<i64>,
    labels: Vec<i64>,
}

/// The rollup rows of a range being computed.
#[derive(Default)]
struct Tally {
    rows: HashMap<(Dim, i64, NaiveDateTime), Counters>,
}

impl Tally {
    /// Counts `change` at `at` for the conversation's dimensions and `agent`.
    fn count(
        &mut self,
        conversation: &ConversationDims,
        agent: Option<i64>,
        at: NaiveDateTime,
        change: impl Fn(&mut Counters),
    ) {
        let bucket = bucket_of(at);
        let keys = [
            (Dim::All, Some(0)),
            (Dim::Inbox, conversation.inbox_id),
            (Dim::Team, conversation.team_id),
            (Dim::Agent, agent),
        ]
        .into_iter()
        .filter_map(|(dim, id)| Some((dim, id?)))
        .chain(conversation.labels.iter().map(|label| (Dim::Label, *label)));
        for (dim, id) in keys {
            change(self.rows.entry((dim, id, bucket)).or_default());
        }
    }
}

/// Insertable rollup row (flat: SQLite inserts many rows in one statement only then).
#[derive(Insertable)]
#[diesel(table_name = report_rollups)]
struct RollupRow {
    dim: &'static str,
    dim_id: i64,
    bucket_start: NaiveDateTime,
    messages_in: i64,
    messages_out: i64,
    opened: i64,
    reopened: i64,
    resolved: i64,
    first_responses: i64,
    first_response_secs: i64,
    resolution_secs: i64,
    replies: i64,
    csat_sent: i64,
    csat_answers: i64,
    csat_satisfied: i64,
    csat_rated: i64,
    csat_rating_sum: i64,
    sla_met: i64,
    sla_breached: i64,
}

impl RollupRow {
    fn new(dim: Dim, dim_id: i64, bucket_start: NaiveDateTime, c: Counters) -> RollupRow {
        RollupRow {
            dim: dim.as_str(),
            dim_id,
            bucket_start,
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            opened: c.opened,
            reopened: c.reopened,
            resolved: c.resolved,
            first_responses: c.first_responses,
            first_response_secs: c.first_response_secs,
            resolution_secs: c.resolution_secs,
            replies: c.replies,
            csat_sent: c.csat_sent,
            csat_answers: c.csat_answers,
            csat_satisfied: c.csat_satisfied,
            csat_rated: c.csat_rated,
            csat_rating_sum: c.csat_rating_sum,
            sla_met: c.sla_met,
            sla_breached: c.sla_breached,
        }
    }
}

/// A survey's (conversation, resolved at, sent at, scale, rating).
type SurveyFact = (
    i64,
    NaiveDateTime,
    Option<NaiveDateTime>,
    String,
    Option<i64>,
);
/// A conversation's (id, created at, inbox, team, assignee).
type ConversationRow = (i64, NaiveDateTime, Option<i64>, Option<i64>, Option<i64>);

/// Everything stored about `[a, b)` that figures are computed from.
#[derive(Default)]
struct Facts {
    /// (conversation, at, direction, sender type, sender)
    messages: Vec<(i64, NaiveDateTime, Direction, SenderType, Option<i64>)>,
    /// (conversation, at)
    opened: Vec<(i64, NaiveDateTime)>,
    /// (conversation, first response at)
    first_responses: Vec<(i64, Option<NaiveDateTime>)>,
    /// Status changes of conversations with one in the range, up to its end:
    /// (conversation, at, details).
    status_history: Vec<(Option<i64>, NaiveDateTime, String)>,
    /// Agents' public replies of conversations resolved or first answered in the range, up
    /// to its end: (conversation, at, agent).
    agent_replies: Vec<(i64, NaiveDateTime, Option<i64>)>,
    /// Surveys of resolutions in the range: (conversation, resolved at, sent at, scale,
    /// rating).
    surveys: Vec<SurveyFact>,
    /// SLA clocks met in time / breached: (conversation, at).
    sla_met: Vec<(i64, Option<NaiveDateTime>)>,
    sla_breached: Vec<(i64, Option<NaiveDateTime>)>,
    conversations: HashMap<i64, ConversationDims>,
}

/// The UTC days `[a, b)` touches, as their midnights.
fn days_of(a: NaiveDateTime, b: NaiveDateTime) -> Vec<NaiveDateTime> {
    let mut day = a.date();
    let mut days = Vec::new();
    while day.and_time(chrono::NaiveTime::MIN) < b {
        days.push(day.and_time(chrono::NaiveTime::MIN));
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// Replaces a UTC day's `report_daily` rows by the sums of its buckets (inside the
/// transaction that wrote them). The day is bound; the statement is the same on both
/// backends.
macro_rules! sum_day {
    ($c:expr, $day:expr, $sql:expr) => {{
        let day: NaiveDateTime = $day;
        let next = day + TimeDelta::days(1);
        diesel::delete(
            report_daily::table
                .filter(report_daily::dim.eq_any(DIMS))
                .filter(report_daily::day.eq(day)),
        )
        .execute($c)
        .await?;
        diesel::sql_query($sql)
            .bind::<diesel::sql_types::Timestamp, _>(day)
            .bind::<diesel::sql_types::Timestamp, _>(day)
            .bind::<diesel::sql_types::Timestamp, _>(next)
            .execute($c)
            .await?;
    }};
}

/// Sums a day's buckets into `report_daily` (`?`: the day, its start, its end).
const SUM_DAY: &str = "INSERT INTO report_daily (dim, dim_id, day, messages_in, messages_out, opened, reopened, \
             resolved, first_responses, first_response_secs, resolution_secs, replies, csat_sent, \
             csat_answers, csat_satisfied, csat_rated, csat_rating_sum, sla_met, sla_breached) \
             SELECT dim, dim_id, ?, SUM(messages_in), SUM(messages_out), SUM(opened), SUM(reopened), \
             SUM(resolved), SUM(first_responses), SUM(first_response_secs), SUM(resolution_secs), \
             SUM(replies), SUM(csat_sent), SUM(csat_answers), SUM(csat_satisfied), SUM(csat_rated), \
             SUM(csat_rating_sum), SUM(sla_met), SUM(sla_breached) FROM report_rollups \
             WHERE dim IN ('all', 'inbox', 'team', 'agent', 'label') \
             AND bucket_start >= ? AND bucket_start < ? GROUP BY dim, dim_id";

/// Recomputes `[a, b)` (bucket aligned) and replaces its stored rows; answers the number
/// of rows written.
async fn recompute(
    db: &Database,
    hours: &Hours,
    a: NaiveDateTime,
    b: NaiveDateTime,
) -> Result<usize, StoreError> {
    let facts = {
        let mut reader = db.reader().await?;
        load_facts(&mut reader, a, b).await?
    };
    let tally = tally(&facts, hours, a, b);
    let rows: Vec<RollupRow> = tally
        .rows
        .into_iter()
        .filter(|(_, counters)| *counters != Counters::default())
        .map(|((dim, dim_id, bucket_start), counters)| {
            RollupRow::new(dim, dim_id, bucket_start, counters)
        })
        .collect();
    let written = rows.len();
    let stale = report_rollups::table
        .filter(report_rollups::dim.eq_any(DIMS))
        .filter(report_rollups::bucket_start.ge(a))
        .filter(report_rollups::bucket_start.lt(b));
    let mut writer = db.writer().await?;
    match &mut writer {
        // diesel-async's SQLite wrapper has no multi-row insert; prepared once, a row is
        // a few microseconds inside the transaction.
        DbConn::Sqlite(c) => {
            let c: &mut crate::db::SqliteConn = c;
            without_fsync(c, async |c| {
                c.transaction::<_, StoreError, _>(async |c| {
                    diesel::delete(stale).execute(c).await?;
                    for row in &rows {
                        diesel::insert_into(report_rollups::table)
                            .values(row)
                            .execute(c)
                            .await?;
                    }
                    for day in days_of(a, b) {
                        sum_day!(c, day, SUM_DAY);
                    }
                    Ok(())
                })
                .await
            })
            .await?;
        }
        DbConn::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            c.transaction::<_, StoreError, _>(async |c| {
                lock_rollups(c).await?;
                diesel::delete(stale).execute(c).await?;
                for chunk in rows.chunks(ROWS_PER_INSERT) {
                    diesel::insert_into(report_rollups::table)
                        .values(chunk)
                        .execute(c)
                        .await?;
                }
                for day in days_of(a, b) {
                    sum_day!(c, day, super::query::numbered(SUM_DAY));
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(written)
}

async fn load_facts(
    conn: &mut DbConn,
    a: NaiveDateTime,
    b: NaiveDateTime,
) -> Result<Facts, StoreError> {
    let mut facts = Facts::default();
    db_run!(conn, c => {
        facts.messages = messages::table
            .filter(messages::created_at.ge(a))
            .filter(messages::created_at.lt(b))
            .filter(messages::direction.ne(Direction::Internal))
            // A survey is the hub asking, not a message of the conversation.
            .filter(messages::content_type.ne(crate::store::conversations::SURVEY_CONTENT_TYPE))
            .select((
                messages::conversation_id,
                messages::created_at,
                messages::direction,
                messages::sender_type,
                messages::sender_id,
            ))
            .load(c)
            .await?;
        facts.opened = conversations::table
            .filter(conversations::created_at.ge(a))
            .filter(conversations::created_at.lt(b))
            .select((conversations::id, conversations::created_at))
            .load(c)
            .await?;
        facts.first_responses = conversations::table
            .filter(conversations::first_response_at.ge(a))
            .filter(conversations::first_response_at.lt(b))
            .select((conversations::id, conversations::first_response_at))
            .load(c)
            .await?;
        // The target type is checked here, not in SQL: with it there, SQLite's planner
        // prefers the (target_type, target_id) index and reads every conversation's entries.
        let changed: Vec<(Option<String>, Option<i64>)> = audit_log::table
            .filter(audit_log::action.eq("conversation.status"))
            .filter(audit_log::created_at.ge(a))
            .filter(audit_log::created_at.lt(b))
            .select((audit_log::target_type, audit_log::target_id))
            .load(c)
            .await?;
        let changed: Vec<i64> = changed
            .into_iter()
            .filter(|(kind, _)| kind.as_deref() == Some("conversation"))
            .filter_map(|(_, id)| id)
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        for ids in changed.chunks(IDS_PER_QUERY) {
            let mut part: Vec<(Option<i64>, NaiveDateTime, String)> = audit_log::table
                .filter(audit_log::target_type.eq("conversation"))
                .filter(audit_log::target_id.eq_any(ids))
                .filter(audit_log::action.eq("conversation.status"))
                .filter(audit_log::created_at.lt(b))
                .order((audit_log::created_at, audit_log::id))
                .select((audit_log::target_id, audit_log::created_at, audit_log::details))
                .load(c)
                .await?;
            facts.status_history.append(&mut part);
        }
        let mut answered: BTreeSet<i64> = changed.iter().copied().collect();
        answered.extend(facts.first_responses.iter().map(|(id, _)| *id));
        let answered: Vec<i64> = answered.into_iter().collect();
        for ids in answered.chunks(IDS_PER_QUERY) {
            let mut part: Vec<(i64, NaiveDateTime, Option<i64>)> = messages::table
                .filter(messages::conversation_id.eq_any(ids))
                .filter(messages::direction.eq(Direction::Outbound))
                .filter(messages::sender_type.eq(SenderType::Agent))
                .filter(messages::created_at.lt(b))
                .select((messages::conversation_id, messages::created_at, messages::sender_id))
                .load(c)
                .await?;
            facts.agent_replies.append(&mut part);
        }
        facts.surveys = csat_surveys::table
            .filter(csat_surveys::resolved_at.ge(a))
            .filter(csat_surveys::resolved_at.lt(b))
            .select((
                csat_surveys::conversation_id,
                csat_surveys::resolved_at,
                csat_surveys::sent_at,
                csat_surveys::scale,
                csat_surveys::rating,
            ))
            .load(c)
            .await?;
        facts.sla_met = sla_clocks::table
            .filter(sla_clocks::met_at.ge(a))
            .filter(sla_clocks::met_at.lt(b))
            .filter(sla_clocks::breached_at.is_null())
            .select((sla_clocks::conversation_id, sla_clocks::met_at))
            .load(c)
            .await?;
        facts.sla_breached = sla_clocks::table
            .filter(sla_clocks::breached_at.ge(a))
            .filter(sla_clocks::breached_at.lt(b))
            .select((sla_clocks::conversation_id, sla_clocks::breached_at))
            .load(c)
            .await?;

        let mut ids: BTreeSet<i64> = facts.messages.iter().map(|m| m.0).collect();
        ids.extend(facts.opened.iter().map(|o| o.0));
        ids.extend(answered.iter().copied());
        ids.extend(facts.surveys.iter().map(|s| s.0));
        ids.extend(facts.sla_met.iter().chain(&facts.sla_breached).map(|s| s.0));
        let ids: Vec<i64> = ids.into_iter().collect();
        for ids in ids.chunks(IDS_PER_QUERY) {
            let rows: Vec<ConversationRow> =
                conversations::table
                    .filter(conversations::id.eq_any(ids))
                    .filter(conversations::kind.eq(ConversationKind::Support))
                    .select((
                        conversations::id,
                        conversations::created_at,
                        conversations::inbox_id,
                        conversations::team_id,
                        conversations::assignee_id,
                    ))
                    .load(c)
                    .await?;
            for (id, created_at, inbox_id, team_id, assignee_id) in rows {
                facts.conversations.insert(
                    id,
                    ConversationDims { created_at, inbox_id, team_id, assignee_id, labels: Vec::new() },
                );
            }
            let labels: Vec<(i64, i64)> = conversation_labels::table
                .filter(conversation_labels::conversation_id.eq_any(ids))
                .select((conversation_labels::conversation_id, conversation_labels::label_id))
                .load(c)
                .await?;
            for (id, label) in labels {
                if let Some(dims) = facts.conversations.get_mut(&id) {
                    dims.labels.push(label);
                }
            }
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(facts)
}

/// A status change's new status, from its audit details.
fn status_of(details: &str) -> Option<String> {
    let details: serde_json::Value = serde_json::from_str(details).ok()?;
    Some(details.get("status")?.as_str()?.to_owned())
}

/// Computes the rows of `[a, b)` from its facts.
fn tally(facts: &Facts, hours: &Hours, a: NaiveDateTime, b: NaiveDateTime) -> Tally {
    let mut tally = Tally::default();
    let in_range = |at: NaiveDateTime| at >= a && at < b;
    let business_secs =
        |conversation: &ConversationDims, from: NaiveDateTime, to: NaiveDateTime| {
            crate::sla::hours::secs_between(
                hours.schedule_of(conversation.inbox_id),
                from.and_utc(),
                to.and_utc(),
            )
        };

    for (conversation_id, at, direction, sender_type, sender_id) in &facts.messages {
        let Some(conversation) = facts.conversations.get(conversation_id) else {
            continue;
        };
        match (direction, sender_type) {
            (Direction::Inbound, SenderType::Contact) => {
                tally.count(conversation, conversation.assignee_id, *at, |c| {
                    c.messages_in += 1
                })
            }
            (Direction::Outbound, SenderType::Agent) => {
                tally.count(conversation, *sender_id, *at, |c| c.messages_out += 1)
            }
            (Direction::Outbound, SenderType::Bot) => {
                tally.count(conversation, None, *at, |c| c.messages_out += 1)
            }
            _ => {}
        }
    }

    for (conversation_id, at) in &facts.opened {
        if let Some(conversation) = facts.conversations.get(conversation_id) {
            tally.count(conversation, conversation.assignee_id, *at, |c| {
                c.opened += 1
            });
        }
    }

    // Agents' replies per conversation, in time order.
    let mut replies: HashMap<i64, Vec<(NaiveDateTime, Option<i64>)>> = HashMap::new();
    for (conversation_id, at, agent) in &facts.agent_replies {
        replies
            .entry(*conversation_id)
            .or_default()
            .push((*at, *agent));
    }
    for list in replies.values_mut() {
        list.sort_unstable();
    }

    for (conversation_id, first) in &facts.first_responses {
        let (Some(conversation), Some(first)) = (facts.conversations.get(conversation_id), first)
        else {
            continue;
        };
        // Whoever answered first (the reply stamped at the first response), else the
        // assignee.
        let responder = replies
            .get(conversation_id)
            .and_then(|list| list.iter().find(|(at, _)| at >= first))
            .and_then(|(_, agent)| *agent)
            .or(conversation.assignee_id);
        let secs = business_secs(conversation, conversation.created_at, *first);
        tally.count(conversation, responder, *first, |c| {
            c.first_responses += 1;
            c.first_response_secs += secs;
        });
    }

    // Resolutions and reopens: each conversation's status changes replayed from its start.
    let mut history: HashMap<i64, Vec<(NaiveDateTime, String)>> = HashMap::new();
    for (conversation_id, at, details) in &facts.status_history {
        if let (Some(id), Some(status)) = (conversation_id, status_of(details)) {
            history.entry(*id).or_default().push((*at, status));
        }
    }
    for (conversation_id, changes) in &history {
        let Some(conversation) = facts.conversations.get(conversation_id) else {
            continue;
        };
        let mut active = true;
        let mut cycle_start = conversation.created_at;
        for (at, status) in changes {
            match status.as_str() {
                "resolved" | "closed" if active => {
                    active = false;
                    if in_range(*at) {
                        let secs = business_secs(conversation, cycle_start, *at);
                        let count = replies.get(conversation_id).map_or(0, |list| {
                            list.iter()
                                .filter(|(t, _)| *t >= cycle_start && t <= at)
                                .count()
                        }) as i64;
                        tally.count(conversation, conversation.assignee_id, *at, |c| {
                            c.resolved += 1;
                            c.resolution_secs += secs;
                            c.replies += count;
                        });
                    }
                }
                "open" | "pending" | "snoozed" if !active => {
                    active = true;
                    cycle_start = *at;
                    if in_range(*at) {
                        tally.count(conversation, conversation.assignee_id, *at, |c| {
                            c.reopened += 1
                        });
                    }
                }
                _ => {}
            }
        }
    }

    for (conversation_id, resolved_at, sent_at, scale, rating) in &facts.surveys {
        let Some(conversation) = facts.conversations.get(conversation_id) else {
            continue;
        };
        if sent_at.is_none() {
            continue;
        }
        let five = scale != "thumbs";
        tally.count(conversation, conversation.assignee_id, *resolved_at, |c| {
            c.csat_sent += 1;
            if let Some(rating) = rating {
                c.csat_answers += 1;
                c.csat_satisfied += i64::from(*rating >= 4);
                if five {
                    c.csat_rated += 1;
                    c.csat_rating_sum += rating;
                }
            }
        });
    }

    for (list, met) in [(&facts.sla_met, true), (&facts.sla_breached, false)] {
        for (conversation_id, at) in list {
            let (Some(conversation), Some(at)) = (facts.conversations.get(conversation_id), at)
            else {
                continue;
            };
            tally.count(conversation, conversation.assignee_id, *at, |c| {
                if met {
                    c.sla_met += 1;
                } else {
                    c.sla_breached += 1;
                }
            });
        }
    }
    tally
}
