//! Reading reports from the rollups: totals, time series, breakdowns and the weekly
//! heatmap of a local date range, and the figures derived from sums (averages and rates).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{BUCKET_SECS, Counters, Dim};
use crate::db::{DbConn, StoreError};

/// The longest range a report covers.
pub const MAX_DAYS: i64 = 1_096;
/// The longest range an hourly series covers.
pub const MAX_HOURLY_DAYS: i64 = 31;

/// A report's dates: `from` to `to` (both included) in a time zone, and the UTC instants
/// they begin and end at.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
    /// Local midnight starting `from`, in UTC.
    pub start: NaiveDateTime,
    /// Local midnight after `to`, in UTC (excluded).
    pub end: NaiveDateTime,
}

/// Why a range was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeError {
    pub field: &'static str,
    pub reason: String,
}

impl Range {
    /// Reads `from`, `to` (`YYYY-MM-DD`) and `tz` (an IANA name).
    pub fn parse(from: &str, to: &str, tz: &str) -> Result<Range, RangeError> {
        let date = |field: &'static str, value: &str| {
            NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| RangeError {
                field,
                reason: format!("{value:?} is not a date (use YYYY-MM-DD)"),
            })
        };
        let to = date("to", to)?;
        let from = date("from", from)?;
        // Years a timestamp of both backends holds, with room for a week's arithmetic.
        for (field, day) in [("to", to), ("from", from)] {
            if !(1970..=9999).contains(&day.year()) {
                return Err(RangeError {
                    field,
                    reason: format!("{day} is out of range (years 1970 to 9999)"),
                });
            }
        }
        let tz: Tz = tz.trim().parse().map_err(|_| RangeError {
            field: "tz",
            reason: format!("unknown time zone {tz:?} (use an IANA name such as Europe/Berlin)"),
        })?;
        if to < from {
            return Err(RangeError {
                field: "to",
                reason: "must not be before from".to_owned(),
            });
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_DAYS {
            return Err(RangeError {
                field: "to",
                reason: format!("a report covers at most {MAX_DAYS} days"),
            });
        }
        Range::new(from, to, tz)
    }

    fn new(from: NaiveDate, to: NaiveDate, tz: Tz) -> Result<Range, RangeError> {
        let start = local_midnight(tz, from).ok_or_else(|| RangeError {
            field: "from",
            reason: "out of range".to_owned(),
        })?;
        let end = to
            .succ_opt()
            .and_then(|after| local_midnight(tz, after))
            .ok_or_else(|| RangeError {
                field: "to",
                reason: "out of range".to_owned(),
            })?;
        Ok(Range {
            from,
            to,
            tz,
            start,
            end,
        })
    }

    /// Days covered.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The as long period just before, to compare with.
    pub fn previous(&self) -> Option<Range> {
        let to = self.from.pred_opt()?;
        let from = to.checked_sub_signed(TimeDelta::days(self.days() - 1))?;
        Range::new(from, to, self.tz).ok()
    }
}

/// The UTC instant a local date begins (where midnight is skipped by a clock change, the
/// first local time that exists).
fn local_midnight(tz: Tz, date: NaiveDate) -> Option<NaiveDateTime> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    (0..=24).find_map(|quarter| {
        let local = midnight + TimeDelta::minutes(15 * quarter);
        tz.from_local_datetime(&local)
            .earliest()
            .map(|at| at.naive_utc())
    })
}

/// Which rollup rows a report adds up: one dimension, all its values or some.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub dim: Dim,
    /// `None`: every value of the dimension.
    pub ids: Option<Vec<i64>>,
}

impl Scope {
    /// Everything (`all` rows).
    pub fn everything() -> Scope {
        Scope {
            dim: Dim::All,
            ids: None,
        }
    }

    /// The dimension and ids as SQL: both are the hub's own values (an enum and integers),
    /// so they are written in; times are bound.
    fn values(&self) -> String {
        let mut sql = format!("dim = '{}'", self.dim.as_str());
        if let Some(ids) = &self.ids {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            if list.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                sql.push_str(&format!(" AND dim_id IN ({})", list.join(",")));
            }
        }
        sql
    }

    /// The buckets of `[?, ?)`.
    fn filter(&self) -> String {
        format!(
            "{} AND bucket_start >= ? AND bucket_start < ?",
            self.values()
        )
    }

    /// The rows adding up to `[?, ?)`: buckets before the first whole UTC day, days, and
    /// buckets after the last (six bound times, see [`split`]).
    fn rows(&self) -> String {
        let values = self.values();
        format!(
            "SELECT dim_id, {cols} FROM report_rollups WHERE {values} AND bucket_start >= ? AND bucket_start < ? \
             UNION ALL SELECT dim_id, {cols} FROM report_daily WHERE {values} AND day >= ? AND day < ? \
             UNION ALL SELECT dim_id, {cols} FROM report_rollups WHERE {values} AND bucket_start >= ? AND bucket_start < ?",
            cols = Counters::COLUMNS
        )
    }
}

/// `[start, end)` as the bound times of [`Scope::rows`]: the buckets up to the first UTC
/// midnight, the whole days up to the last midnight, the buckets after it.
fn split(start: NaiveDateTime, end: NaiveDateTime) -> [NaiveDateTime; 6] {
    let midnight = |at: NaiveDateTime| at.date().and_time(chrono::NaiveTime::MIN);
    let first = if midnight(start) == start {
        start
    } else {
        midnight(start) + TimeDelta::days(1)
    };
    let last = midnight(end);
    if first < last {
        [start, first, first, last, last, end]
    } else {
        [start, end, end, end, end, end]
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ...
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Runs a report query with the range's two instants bound.
async fn load<T>(
    conn: &mut DbConn,
    sql: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<T>, StoreError>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    Ok(match conn {
        DbConn::Sqlite(c) => {
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(start)
                .bind::<Timestamp, _>(end)
                .load(&mut **c)
                .await?
        }
        DbConn::Postgres(c) => {
            diesel::sql_query(numbered(sql))
                .bind::<Timestamp, _>(start)
                .bind::<Timestamp, _>(end)
                .load(&mut **c)
                .await?
        }
    })
}

/// Runs a report query over [`Scope::rows`] with its six times bound.
async fn load_split<T>(
    conn: &mut DbConn,
    sql: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<T>, StoreError>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    let [a, b, c, d, e, f] = split(start, end);
    macro_rules! bound {
        ($query:expr) => {
            $query
                .bind::<Timestamp, _>(a)
                .bind::<Timestamp, _>(b)
                .bind::<Timestamp, _>(c)
                .bind::<Timestamp, _>(d)
                .bind::<Timestamp, _>(e)
                .bind::<Timestamp, _>(f)
        };
    }
    Ok(match conn {
        DbConn::Sqlite(conn) => bound!(diesel::sql_query(sql)).load(&mut **conn).await?,
        DbConn::Postgres(conn) => {
            bound!(diesel::sql_query(numbered(sql)))
                .load(&mut **conn)
                .await?
        }
    })
}

/// The scope's sums over `[start, end)`.
pub async fn totals(
    conn: &mut DbConn,
    scope: &Scope,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Counters, StoreError> {
    let sql = format!("SELECT {} FROM ({}) AS t", Counters::SUMS, scope.rows());
    let rows: Vec<Counters> = load_split(conn, &sql, start, end).await?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = Timestamp)]
    bucket_start: NaiveDateTime,
    #[diesel(embed)]
    counters: Counters,
}

/// The scope's sums per bucket over `[start, end)`, buckets without figures left out.
pub async fn by_bucket(
    conn: &mut DbConn,
    scope: &Scope,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, Counters)>, StoreError> {
    let sql = format!(
        "SELECT bucket_start, {} FROM report_rollups WHERE {} GROUP BY bucket_start",
        Counters::SUMS,
        scope.filter()
    );
    let rows: Vec<BucketRow> = load(conn, &sql, start, end).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.bucket_start, r.counters))
        .collect())
}

#[derive(QueryableByName)]
struct IncomingRow {
    #[diesel(sql_type = Timestamp)]
    bucket_start: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    messages_in: i64,
}

/// Customers' messages per bucket over `[start, end)` (the heatmap reads nothing else).
pub async fn incoming_by_bucket(
    conn: &mut DbConn,
    scope: &Scope,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, Counters)>, StoreError> {
    let sql = format!(
        "SELECT bucket_start, CAST(SUM(messages_in) AS BIGINT) AS messages_in \
         FROM report_rollups WHERE {} AND messages_in > 0 GROUP BY bucket_start",
        scope.filter()
    );
    let rows: Vec<IncomingRow> = load(conn, &sql, start, end).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.bucket_start,
                Counters {
                    messages_in: r.messages_in,
                    ..Counters::default()
                },
            )
        })
        .collect())
}

#[derive(QueryableByName)]
struct DimRow {
    #[diesel(sql_type = BigInt)]
    dim_id: i64,
    #[diesel(embed)]
    counters: Counters,
}

/// The scope's sums per dimension value over `[start, end)`.
pub async fn by_value(
    conn: &mut DbConn,
    scope: &Scope,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<Vec<(i64, Counters)>, StoreError> {
    let sql = format!(
        "SELECT dim_id, {} FROM ({}) AS t GROUP BY dim_id",
        Counters::SUMS,
        scope.rows()
    );
    let rows: Vec<DimRow> = load_split(conn, &sql, start, end).await?;
    Ok(rows.into_iter().map(|r| (r.dim_id, r.counters)).collect())
}

/// A time series' step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn parse(value: &str) -> Option<Interval> {
        match value {
            "hour" => Some(Interval::Hour),
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            _ => None,
        }
    }
}

/// One period of a time series: its local start (`2026-03-29`, the Monday of a week, or
/// `2026-03-29T02:00:00+02:00` for an hour) and its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub start: String,
    #[serde(flatten)]
    pub figures: Figures,
    #[serde(skip)]
    pub counters: Counters,
}

/// Every period of the range (empty ones included), with the buckets' sums added up by
/// local period.
pub fn series(
    range: &Range,
    interval: Interval,
    buckets: &[(NaiveDateTime, Counters)],
) -> Vec<Point> {
    let tz = range.tz;
    let local = |at: NaiveDateTime| at.and_utc().with_timezone(&tz);
    // The period a bucket belongs to, as a sortable key (UTC instant of its start for
    // hours: a repeated local hour in autumn stays two periods).
    let key = |at: NaiveDateTime| -> (NaiveDateTime, String) {
        let l = local(at);
        match interval {
            Interval::Hour => {
                let start = at - TimeDelta::minutes(i64::from(l.minute()));
                let label = local(start).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
                (start, label)
            }
            Interval::Day => {
                let day = l.date_naive();
                (day.and_time(chrono::NaiveTime::MIN), day.to_string())
            }
            Interval::Week => {
                let day = l.date_naive();
                let monday = day - TimeDelta::days(i64::from(day.weekday().num_days_from_monday()));
                (monday.and_time(chrono::NaiveTime::MIN), monday.to_string())
            }
        }
    };
    let mut points: BTreeMap<NaiveDateTime, (String, Counters)> = BTreeMap::new();
    let mut at = range.start;
    while at < range.end {
        let (k, label) = key(at);
        points.entry(k).or_insert((label, Counters::default()));
        at += TimeDelta::seconds(BUCKET_SECS);
    }
    for (bucket, counters) in buckets {
        if *bucket >= range.start && *bucket < range.end {
            let (k, label) = key(*bucket);
            points
                .entry(k)
                .or_insert((label, Counters::default()))
                .1
                .add(counters);
        }
    }
    points
        .into_values()
        .map(|(start, counters)| Point {
            start,
            figures: Figures::from(&counters),
            counters,
        })
        .collect()
}

/// Customers' messages per local weekday (Monday first) and hour.
pub fn heatmap(range: &Range, buckets: &[(NaiveDateTime, Counters)]) -> [[i64; 24]; 7] {
    let mut cells = [[0i64; 24]; 7];
    for (bucket, counters) in buckets {
        if *bucket < range.start || *bucket >= range.end {
            continue;
        }
        let local: DateTime<Tz> = Utc.from_utc_datetime(bucket).with_timezone(&range.tz);
        let day = local.weekday().num_days_from_monday() as usize;
        cells[day][local.hour() as usize] += counters.messages_in;
    }
    cells
}

/// What a report shows: counts, and averages and rates where there is something to divide
/// by (`null` otherwise).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub conversations_opened: i64,
    pub conversations_resolved: i64,
    pub conversations_reopened: i64,
    pub messages_in: i64,
    pub messages_out: i64,
    pub first_responses: i64,
    /// Mean wait for the first reply, in seconds (business seconds where the inbox keeps
    /// hours).
    pub first_response_avg_secs: Option<i64>,
    /// Mean time from a cycle's start (opened or reopened) to its resolution, in seconds.
    pub resolution_avg_secs: Option<i64>,
    /// Agents' replies per resolution, to two decimals.
    pub replies_per_resolution: Option<f64>,
    pub csat_sent: i64,
    pub csat_answers: i64,
    /// Answers per survey sent, in percent (one decimal).
    pub csat_response_rate: Option<f64>,
    /// Satisfied answers (4–5, thumbs up) per answer, in percent (one decimal).
    pub csat_score: Option<f64>,
    /// Mean rating of the 1–5 answers (two decimals).
    pub csat_average: Option<f64>,
    pub sla_met: i64,
    pub sla_breached: i64,
    /// SLA targets met per target met or breached, in percent (one decimal).
    pub sla_met_rate: Option<f64>,
}

fn ratio(part: i64, whole: i64, scale: f64, decimals: i32) -> Option<f64> {
    (whole > 0).then(|| {
        let factor = 10f64.powi(decimals);
        (part as f64 * scale / whole as f64 * factor).round() / factor
    })
}

fn mean_secs(sum: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| (sum as f64 / count as f64).round() as i64)
}

impl From<&Counters> for Figures {
    fn from(c: &Counters) -> Figures {
        Figures {
            conversations_opened: c.opened,
            conversations_resolved: c.resolved,
            conversations_reopened: c.reopened,
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            first_responses: c.first_responses,
            first_response_avg_secs: mean_secs(c.first_response_secs, c.first_responses),
            resolution_avg_secs: mean_secs(c.resolution_secs, c.resolved),
            replies_per_resolution: ratio(c.replies, c.resolved, 1.0, 2),
            csat_sent: c.csat_sent,
            csat_answers: c.csat_answers,
            csat_response_rate: ratio(c.csat_answers, c.csat_sent, 100.0, 1),
            csat_score: ratio(c.csat_satisfied, c.csat_answers, 100.0, 1),
            csat_average: ratio(c.csat_rating_sum, c.csat_rated, 1.0, 2),
            sla_met: c.sla_met,
            sla_breached: c.sla_breached,
            sla_met_rate: ratio(c.sla_met, c.sla_met + c.sla_breached, 100.0, 1),
        }
    }
}

/// The figures' names in CSV column order, with a reader for each.
/// A CSV column: its name and how to read it off figures.
pub type FigureColumn = (&'static str, fn(&Figures) -> String);

pub const COLUMNS: [FigureColumn; 17] = [
    ("conversations_opened", |f| {
        f.conversations_opened.to_string()
    }),
    ("conversations_resolved", |f| {
        f.conversations_resolved.to_string()
    }),
    ("conversations_reopened", |f| {
        f.conversations_reopened.to_string()
    }),
    ("messages_in", |f| f.messages_in.to_string()),
    ("messages_out", |f| f.messages_out.to_string()),
    ("first_responses", |f| f.first_responses.to_string()),
    (
        "first_response_avg_secs",
        |f| opt(f.first_response_avg_secs),
    ),
    ("resolution_avg_secs", |f| opt(f.resolution_avg_secs)),
    ("replies_per_resolution", |f| opt(f.replies_per_resolution)),
    ("csat_sent", |f| f.csat_sent.to_string()),
    ("csat_answers", |f| f.csat_answers.to_string()),
    ("csat_response_rate", |f| opt(f.csat_response_rate)),
    ("csat_score", |f| opt(f.csat_score)),
    ("csat_average", |f| opt(f.csat_average)),
    ("sla_met", |f| f.sla_met.to_string()),
    ("sla_breached", |f| f.sla_breached.to_string()),
    ("sla_met_rate", |f| opt(f.sla_met_rate)),
];

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A dimension value as a report names it.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    /// An inbox's channel type.
    pub channel: Option<String>,
    /// Listed even without figures (active agents; every team, inbox and label).
    pub listed: bool,
}

/// The names of a dimension's values: agents, teams, inboxes (with their channel type) or
/// labels.
pub async fn names(conn: &mut DbConn, dim: Dim) -> Result<BTreeMap<i64, Named>, StoreError> {
    use crate::db::schema::{agents, inboxes, labels, teams};
    let named = |name: String, channel: Option<String>, listed: bool| Named {
        name,
        channel,
        listed,
    };
    Ok(match dim {
        Dim::All => BTreeMap::new(),
        Dim::Agent => {
            let rows: Vec<(i64, String, bool)> = crate::db_run!(conn, c => agents::table
                .select((agents::id, agents::name, agents::active))
                .load(c)
                .await)?;
            rows.into_iter()
                .map(|(id, name, active)| (id, named(name, None, active)))
                .collect()
        }
        Dim::Team | Dim::Label => {
            let rows: Vec<(i64, String)> = if dim == Dim::Team {
                crate::db_run!(conn, c => teams::table
                    .select((teams::id, teams::name))
                    .load(c)
                    .await)?
            } else {
                crate::db_run!(conn, c => labels::table
                    .select((labels::id, labels::name))
                    .load(c)
                    .await)?
            };
            rows.into_iter()
                .map(|(id, name)| (id, named(name, None, true)))
                .collect()
        }
        Dim::Inbox => {
            let rows: Vec<(i64, String, String)> = crate::db_run!(conn, c => inboxes::table
                .select((inboxes::id, inboxes::name, inboxes::channel_type))
                .load(c)
                .await)?;
            rows.into_iter()
                .map(|(id, name, channel)| (id, named(name, Some(channel), true)))
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_runs_from_local_midnight_to_local_midnight() {
        let r = Range::parse("2026-03-28", "2026-03-29", "Europe/Berlin").unwrap();
        assert_eq!(r.start, t("2026-03-27T23:00:00"));
        // Summer time began on the 29th: the day has 23 hours.
        assert_eq!(r.end, t("2026-03-29T22:00:00"));
        let p = r.previous().unwrap();
        assert_eq!(
            (p.from.to_string(), p.to.to_string()),
            ("2026-03-26".into(), "2026-03-27".into())
        );
        let k = Range::parse("2026-03-01", "2026-03-01", "Asia/Kolkata").unwrap();
        assert_eq!(k.start, t("2026-02-28T18:30:00"));
        assert!(Range::parse("2026-03-02", "2026-03-01", "UTC").is_err());
        assert!(Range::parse("2026-03-01", "2026-03-01", "Mars/Base").is_err());
        assert!(Range::parse("yesterday", "2026-03-01", "UTC").is_err());
        assert!(Range::parse("2020-01-01", "2026-03-01", "UTC").is_err());
    }

    #[test]
    fn a_range_reads_whole_utc_days_from_daily_rows() {
        let [a, b, c, d, e, f] = split(t("2026-03-01T18:30:00"), t("2026-03-04T18:30:00"));
        assert_eq!((a, b), (t("2026-03-01T18:30:00"), t("2026-03-02T00:00:00")));
        assert_eq!((c, d), (t("2026-03-02T00:00:00"), t("2026-03-04T00:00:00")));
        assert_eq!((e, f), (t("2026-03-04T00:00:00"), t("2026-03-04T18:30:00")));
        let [a, b, c, d, e, f] = split(t("2026-03-02T00:00:00"), t("2026-03-03T00:00:00"));
        assert_eq!(
            (a, b, c, d, e, f),
            (
                t("2026-03-02T00:00:00"),
                t("2026-03-02T00:00:00"),
                t("2026-03-02T00:00:00"),
                t("2026-03-03T00:00:00"),
                t("2026-03-03T00:00:00"),
                t("2026-03-03T00:00:00")
            )
        );
        // Less than a whole day: buckets only.
        let [a, b, c, d, ..] = split(t("2026-03-01T23:00:00"), t("2026-03-02T23:00:00"));
        assert_eq!(
            (a, b, c, d),
            (
                t("2026-03-01T23:00:00"),
                t("2026-03-02T23:00:00"),
                t("2026-03-02T23:00:00"),
                t("2026-03-02T23:00:00")
            )
        );
    }

    #[test]
    fn series_fill_every_local_period() {
        let r = Range::parse("2026-03-29", "2026-03-29", "Europe/Berlin").unwrap();
        let one = Counters {
            messages_in: 1,
            ..Counters::default()
        };
        let buckets = vec![
            (t("2026-03-28T23:00:00"), one),
            (t("2026-03-29T01:15:00"), one),
        ];
        let hours = series(&r, Interval::Hour, &buckets);
        assert_eq!(hours.len(), 23);
        assert_eq!(hours[0].start, "2026-03-29T00:00:00+01:00");
        assert_eq!(hours[0].figures.messages_in, 1);
        // 01:15 UTC is 03:15 summer time: the third local hour (02:00 does not exist).
        assert_eq!(hours[2].start, "2026-03-29T03:00:00+02:00");
        assert_eq!(hours[2].figures.messages_in, 1);
        let days = series(&r, Interval::Day, &buckets);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].figures.messages_in, 2);
        let map = heatmap(&r, &buckets);
        assert_eq!(map[6][0], 1);
        assert_eq!(map[6][3], 1);
    }

    #[test]
    fn figures_divide_only_by_something() {
        let f = Figures::from(&Counters::default());
        assert_eq!(f.first_response_avg_secs, None);
        assert_eq!(f.csat_score, None);
        let c = Counters {
            resolved: 3,
            replies: 7,
            csat_sent: 3,
            csat_answers: 2,
            csat_satisfied: 1,
            csat_rated: 2,
            csat_rating_sum: 7,
            sla_met: 2,
            sla_breached: 1,
            ..Counters::default()
        };
        let f = Figures::from(&c);
        assert_eq!(f.replies_per_resolution, Some(2.33));
        assert_eq!(f.csat_response_rate, Some(66.7));
        assert_eq!(f.csat_score, Some(50.0));
        assert_eq!(f.csat_average, Some(3.5));
        assert_eq!(f.sla_met_rate, Some(66.7));
    }
}
