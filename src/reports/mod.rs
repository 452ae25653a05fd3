//! Reports (issue #19): what a support lead manages with — volume, first response and
//! resolution times, replies per resolution, satisfaction and SLA, by inbox, channel, team,
//! agent and label, over time.
//!
//! Figures are sums and counts per 15-minute bucket and dimension value (`report_rollups`),
//! recomputed from the stored data by [`rollup`] (after start, once a minute, and before a
//! report is answered), so a report adds up rollup rows (one per bucket and value that had
//! figures) and never reads messages. Every time zone's offset is a multiple of 15 minutes, so a local hour, day or
//! week is a whole number of buckets. [`query`] turns rollups into the figures the API and
//! the `/reports` page show.

pub mod query;
pub mod rollup;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

/// Keeps one node's refreshes one at a time: a report includes everything committed before
/// it was asked, and the questions a report page asks at once share one refresh (a caller
/// that waited for a refresh which began after it asked takes that one). A caller that
/// would wait long (a first backfill or a rebuild is running) answers from the rollups as
/// they are; the answer's `covered_until` says how far they go.
#[derive(Debug, Default)]
pub struct Refresher {
    /// When the last refresh began.
    last_started: tokio::sync::Mutex<Option<std::time::Instant>>,
}

impl Refresher {
    /// The longest a report waits for another refresh to end.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

    /// Brings the rollups up to now, unless a refresh that began after this call did (or
    /// one has been running longer than a report should wait).
    pub async fn ensure_fresh(
        &self,
        db: &crate::db::Database,
    ) -> Result<(), crate::db::StoreError> {
        let asked = std::time::Instant::now();
        let Ok(mut last) = tokio::time::timeout(Self::PATIENCE, self.last_started.lock()).await
        else {
            return Ok(());
        };
        if last.is_some_and(|started| started >= asked) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let done = rollup::refresh(db, crate::store::now()).await?;
        if done.took > std::time::Duration::from_secs(1) {
            tracing::info!(
                buckets = done.buckets,
                rows = done.rows,
                took_ms = done.took.as_millis() as u64,
                "report rollups refreshed"
            );
        }
        *last = Some(started);
        Ok(())
    }

    /// Recomputes every rollup ([`rollup::rebuild`]).
    pub async fn rebuild(
        &self,
        db: &crate::db::Database,
    ) -> Result<rollup::Refreshed, crate::db::StoreError> {
        let mut last = self.last_started.lock().await;
        let started = std::time::Instant::now();
        let done = rollup::rebuild(db, crate::store::now()).await?;
        *last = Some(started);
        Ok(done)
    }
}

/// A bucket's length: the least common step of every time zone's offset.
pub const BUCKET_SECS: i64 = 900;

/// The start of the bucket `at` falls in.
pub fn bucket_of(at: NaiveDateTime) -> NaiveDateTime {
    let secs = i64::from(at.num_seconds_from_midnight());
    let start = secs - secs.rem_euclid(BUCKET_SECS);
    at.date()
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight + chrono::TimeDelta::seconds(start))
        .unwrap_or(at)
}

/// What a rollup row is counted by. A conversation's figures count once under `All`,
/// under its inbox, its team, its assignee (an agent's reply under its author) and each of
/// its labels; the rows of one dimension add up to `All` except labels (a conversation may
/// have several, or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    All,
    Inbox,
    Team,
    Agent,
    Label,
}

impl Dim {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::All => "all",
            Dim::Inbox => "inbox",
            Dim::Team => "team",
            Dim::Agent => "agent",
            Dim::Label => "label",
        }
    }
}

/// The additive figures of a bucket, or of any sum of buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, QueryableByName)]
pub struct Counters {
    /// Customers' messages.
    #[diesel(sql_type = BigInt)]
    pub messages_in: i64,
    /// Public replies (agents', bots').
    #[diesel(sql_type = BigInt)]
    pub messages_out: i64,
    /// Conversations started.
    #[diesel(sql_type = BigInt)]
    pub opened: i64,
    /// Resolved conversations opened again (by an agent or the customer writing).
    #[diesel(sql_type = BigInt)]
    pub reopened: i64,
    /// Resolutions: each resolve (or close) of an active conversation.
    #[diesel(sql_type = BigInt)]
    pub resolved: i64,
    /// Conversations that got their first public reply.
    #[diesel(sql_type = BigInt)]
    pub first_responses: i64,
    /// Their waits for that reply, summed (business seconds where the inbox keeps hours).
    #[diesel(sql_type = BigInt)]
    pub first_response_secs: i64,
    /// Each resolution's time since its cycle began (opened or reopened), summed.
    #[diesel(sql_type = BigInt)]
    pub resolution_secs: i64,
    /// Agents' public replies within the resolved cycles, summed.
    #[diesel(sql_type = BigInt)]
    pub replies: i64,
    /// Satisfaction surveys sent, counted at the resolution they ask about.
    #[diesel(sql_type = BigInt)]
    pub csat_sent: i64,
    /// Surveys answered.
    #[diesel(sql_type = BigInt)]
    pub csat_answers: i64,
    /// Answers of 4 or 5 (thumbs up).
    #[diesel(sql_type = BigInt)]
    pub csat_satisfied: i64,
    /// Answers on the 1–5 scale.
    #[diesel(sql_type = BigInt)]
    pub csat_rated: i64,
    /// Their ratings, summed.
    #[diesel(sql_type = BigInt)]
    pub csat_rating_sum: i64,
    /// SLA targets met in time.
    #[diesel(sql_type = BigInt)]
    pub sla_met: i64,
    /// SLA targets breached.
    #[diesel(sql_type = BigInt)]
    pub sla_breached: i64,
}

impl Counters {
    /// Adds another bucket's figures.
    pub fn add(&mut self, other: &Counters) {
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.opened += other.opened;
        self.reopened += other.reopened;
        self.resolved += other.resolved;
        self.first_responses += other.first_responses;
        self.first_response_secs += other.first_response_secs;
        self.resolution_secs += other.resolution_secs;
        self.replies += other.replies;
        self.csat_sent += other.csat_sent;
        self.csat_answers += other.csat_answers;
        self.csat_satisfied += other.csat_satisfied;
        self.csat_rated += other.csat_rated;
        self.csat_rating_sum += other.csat_rating_sum;
        self.sla_met += other.sla_met;
        self.sla_breached += other.sla_breached;
    }

    /// The column list summed in SQL (`COALESCE(SUM(x), 0)` as a 64-bit integer on both
    /// backends: PostgreSQL's SUM of a BIGINT is NUMERIC).
    /// The columns, for a subquery the sums read.
    pub(crate) const COLUMNS: &'static str = "messages_in, messages_out, opened, reopened, \
        resolved, first_responses, first_response_secs, resolution_secs, replies, csat_sent, \
        csat_answers, csat_satisfied, csat_rated, csat_rating_sum, sla_met, sla_breached";

    pub(crate) const SUMS: &'static str = "\
        CAST(COALESCE(SUM(messages_in), 0) AS BIGINT) AS messages_in, \
        CAST(COALESCE(SUM(messages_out), 0) AS BIGINT) AS messages_out, \
        CAST(COALESCE(SUM(opened), 0) AS BIGINT) AS opened, \
        CAST(COALESCE(SUM(reopened), 0) AS BIGINT) AS reopened, \
        CAST(COALESCE(SUM(resolved), 0) AS BIGINT) AS resolved, \
        CAST(COALESCE(SUM(first_responses), 0) AS BIGINT) AS first_responses, \
        CAST(COALESCE(SUM(first_response_secs), 0) AS BIGINT) AS first_response_secs, \
        CAST(COALESCE(SUM(resolution_secs), 0) AS BIGINT) AS resolution_secs, \
        CAST(COALESCE(SUM(replies), 0) AS BIGINT) AS replies, \
        CAST(COALESCE(SUM(csat_sent), 0) AS BIGINT) AS csat_sent, \
        CAST(COALESCE(SUM(csat_answers), 0) AS BIGINT) AS csat_answers, \
        CAST(COALESCE(SUM(csat_satisfied), 0) AS BIGINT) AS csat_satisfied, \
        CAST(COALESCE(SUM(csat_rated), 0) AS BIGINT) AS csat_rated, \
        CAST(COALESCE(SUM(csat_rating_sum), 0) AS BIGINT) AS csat_rating_sum, \
        CAST(COALESCE(SUM(sla_met), 0) AS BIGINT) AS sla_met, \
        CAST(COALESCE(SUM(sla_breached), 0) AS BIGINT) AS sla_breached";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_are_quarter_hours() {
        assert_eq!(
            bucket_of(t("2026-03-01T10:14:59.999")),
            t("2026-03-01T10:00:00")
        );
        assert_eq!(
            bucket_of(t("2026-03-01T10:15:00")),
            t("2026-03-01T10:15:00")
        );
        assert_eq!(
            bucket_of(t("2026-03-01T23:59:59")),
            t("2026-03-01T23:45:00")
        );
    }
}
