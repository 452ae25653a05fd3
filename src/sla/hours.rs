//! Business hours: when an inbox is open, and how much open time lies between two instants.
//!
//! SLA targets count only business time ("first response within 4 business hours"), so the
//! escalation supervisor asks two questions of a schedule: how many open seconds lie between
//! two instants, and at which instant a given number of open seconds will have passed. Both
//! walk the schedule's local days in its IANA time zone, so weekends, closed dates and the
//! days daylight saving time starts or ends (23 or 25 hours long) come out right.
//!
//! Opening intervals are local wall-clock times. A local time that does not exist (skipped
//! by a spring-forward change) is taken as the first instant after the gap; one that exists
//! twice (fall back) as its first occurrence.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// Days a search for open time walks before it concludes the schedule never opens again.
const HORIZON_DAYS: i64 = 1_000;
/// Most closed dates one schedule may list.
const MAX_CLOSED_DATES: usize = 1_000;
/// Most opening intervals on one weekday.
const MAX_INTERVALS_PER_DAY: usize = 12;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// Weekday keys as they appear in the API, Monday first.
pub(crate) const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A field of a schedule that cannot be used, and why (answered as 422 naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A weekly opening schedule in one time zone, with dates on which it stays closed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schedule {
    tz: Tz,
    /// Per weekday (Monday first): sorted, non-overlapping `[start, end)` in minutes since
    /// local midnight; `end` may be 1440 (midnight at the end of the day).
    week: [Vec<(u32, u32)>; 7],
    closed: BTreeSet<NaiveDate>,
}

impl Schedule {
    /// Parses and checks the API's representation: `time_zone` an IANA name, `hours` an
    /// object of weekday keys to `[["09:00", "17:00"], ...]`, `closed_dates` a list of
    /// `YYYY-MM-DD`.
    pub(crate) fn parse(
        time_zone: &str,
        hours: &Value,
        closed_dates: &Value,
    ) -> Result<Self, FieldError> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            FieldError::new(
                "time_zone",
                format!("unknown time zone {time_zone:?} (use an IANA name such as Europe/Berlin)"),
            )
        })?;
        let week = parse_week(hours)?;
        let closed = parse_closed(closed_dates)?;
        Ok(Self { tz, week, closed })
    }

    /// The time zone's IANA name.
    pub(crate) fn time_zone(&self) -> &'static str {
        self.tz.name()
    }

    /// The weekly hours in the API's representation.
    pub(crate) fn hours_json(&self) -> Value {
        let mut out = Map::new();
        for (key, intervals) in DAY_KEYS.iter().zip(&self.week) {
            let list = intervals
                .iter()
                .map(|&(s, e)| Value::from(vec![clock_text(s), clock_text(e)]))
                .collect();
            out.insert((*key).to_owned(), Value::Array(list));
        }
        Value::Object(out)
    }

    /// The closed dates in the API's representation.
    pub(crate) fn closed_json(&self) -> Value {
        Value::from(
            self.closed
                .iter()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect::<Vec<_>>(),
        )
    }

    /// Whether the schedule is open at `at`.
    pub(crate) fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = at.with_timezone(&self.tz).date_naive();
        // An interval ends by midnight, so only the local day of `at` (and the day before,
        // when a fall-back hour makes local days overlap in UTC) can contain it.
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.open_on(d))
            .any(|(s, e)| s <= at && at < e)
    }

    /// Open seconds in `[from, to)`; zero when `to` is not after `from`.
    pub(crate) fn open_secs_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = from.with_timezone(&self.tz).date_naive();
        if let Some(before) = date.pred_opt() {
            date = before;
        }
        let last = to.with_timezone(&self.tz).date_naive();
        while date <= last {
            for (s, e) in self.open_on(date) {
                let (s, e) = (s.max(from), e.min(to));
                if e > s {
                    total += (e - s).num_seconds();
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total
    }

    /// The instant at which `secs` open seconds after `from` have passed: `from` itself
    /// (or the next opening, when closed) for zero. `None` when the schedule does not open
    /// for that long within the search horizon (every day closed).
    pub(crate) fn add_open_secs(&self, from: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        let mut remaining = secs.max(0);
        let mut date = from.with_timezone(&self.tz).date_naive().pred_opt()?;
        for _ in 0..HORIZON_DAYS {
            for (s, e) in self.open_on(date) {
                let s = s.max(from);
                if e <= s {
                    continue;
                }
                let available = (e - s).num_seconds();
                if remaining <= available {
                    return Some(s + Duration::seconds(remaining));
                }
                remaining -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The opening intervals of one local date, as UTC instants.
    fn open_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
        let intervals: &[(u32, u32)] = if self.closed.contains(&date) {
            &[]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        };
        let tz = self.tz;
        intervals.iter().filter_map(move |&(s, e)| {
            let start = local_instant(tz, at_minute(date, s)?);
            let end = local_instant(tz, at_minute(date, e)?);
            (end > start).then_some((start, end))
        })
    }
}

/// Open time when an inbox has no schedule: every second counts.
pub(crate) fn secs_between(
    schedule: Option<&Schedule>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    match schedule {
        Some(s) => s.open_secs_between(from, to),
        None => (to - from).num_seconds().max(0),
    }
}

/// [`Schedule::add_open_secs`], or plain addition without a schedule.
pub(crate) fn add_secs(
    schedule: Option<&Schedule>,
    from: DateTime<Utc>,
    secs: i64,
) -> Option<DateTime<Utc>> {
    match schedule {
        Some(s) => s.add_open_secs(from, secs),
        None => from.checked_add_signed(Duration::seconds(secs.max(0))),
    }
}

/// `date` at `minute` minutes after local midnight (1440 is the next midnight).
fn at_minute(date: NaiveDate, minute: u32) -> Option<NaiveDateTime> {
    date.and_hms_opt(0, 0, 0)?
        .checked_add_signed(Duration::minutes(i64::from(minute)))
}

/// The UTC instant of a local wall-clock time: the first occurrence when it exists twice,
/// the end of the gap when a clock change skipped it.
fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => first_instant_at_or_after(tz, local),
    }
}

/// The first instant whose local time is at least `local` (for a time inside a gap: the
/// instant the clock jumped). UTC offsets lie within ±14 hours, so the answer lies within
/// 14 hours of `local` read as UTC; a binary search to the second finds it.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let local_at = |secs: i64| {
        DateTime::from_timestamp(secs, 0).map(|t| (t, t.with_timezone(&tz).naive_local()))
    };
    let center = local.and_utc().timestamp();
    let (mut low, mut high) = (center - 14 * 3600, center + 14 * 3600);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        match local_at(mid) {
            Some((_, wall)) if wall >= local => high = mid,
            _ => low = mid,
        }
    }
    local_at(high).map_or_else(|| local.and_utc(), |(t, _)| t)
}

fn clock_text(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// `HH:MM`, 00:00 to 24:00.
fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

fn parse_week(hours: &Value) -> Result<[Vec<(u32, u32)>; 7], FieldError> {
    let Value::Object(days) = hours else {
        return Err(FieldError::new(
            "hours",
            "must be an object of weekdays (mon … sun) to lists of [\"HH:MM\", \"HH:MM\"]",
        ));
    };
    let mut week: [Vec<(u32, u32)>; 7] = Default::default();
    for (key, list) in days {
        let Some(day) = DAY_KEYS.iter().position(|k| k == key) else {
            return Err(FieldError::new(
                format!("hours.{key}"),
                "not a weekday (use mon, tue, wed, thu, fri, sat, sun)",
            ));
        };
        let Value::Array(list) = list else {
            return Err(FieldError::new(
                format!("hours.{key}"),
                "must be a list of [\"HH:MM\", \"HH:MM\"] intervals (an empty list: closed)",
            ));
        };
        if list.len() > MAX_INTERVALS_PER_DAY {
            return Err(FieldError::new(
                format!("hours.{key}"),
                format!("at most {MAX_INTERVALS_PER_DAY} intervals per day"),
            ));
        }
        let mut intervals = Vec::with_capacity(list.len());
        for (i, interval) in list.iter().enumerate() {
            let field = format!("hours.{key}[{i}]");
            let pair = interval
                .as_array()
                .filter(|p| p.len() == 2)
                .and_then(|p| Some((p[0].as_str()?, p[1].as_str()?)))
                .ok_or_else(|| {
                    FieldError::new(
                        &field,
                        "must be [\"HH:MM\", \"HH:MM\"], e.g. [\"09:00\", \"17:00\"]",
                    )
                })?;
            let start = parse_clock(pair.0)
                .filter(|&s| s < MINUTES_PER_DAY)
                .ok_or_else(|| {
                    FieldError::new(&field, format!("{:?} is not a time 00:00–23:59", pair.0))
                })?;
            let end = parse_clock(pair.1).ok_or_else(|| {
                FieldError::new(&field, format!("{:?} is not a time 00:00–24:00", pair.1))
            })?;
            if end <= start {
                return Err(FieldError::new(
                    &field,
                    format!("empty interval: {} is not before {}", pair.0, pair.1),
                ));
            }
            intervals.push((start, end, i));
        }
        intervals.sort_unstable();
        for pair in intervals.windows(2) {
            let ((s1, e1, _), (s2, _, i2)) = (pair[0], pair[1]);
            if s2 < e1 {
                return Err(FieldError::new(
                    format!("hours.{key}[{i2}]"),
                    format!(
                        "overlaps the interval {}–{} of the same day",
                        clock_text(s1),
                        clock_text(e1)
                    ),
                ));
            }
        }
        week[day] = intervals.into_iter().map(|(s, e, _)| (s, e)).collect();
    }
    if week.iter().all(Vec::is_empty) {
        return Err(FieldError::new(
            "hours",
            "the schedule is never open: give at least one interval",
        ));
    }
    Ok(week)
}

fn parse_closed(closed: &Value) -> Result<BTreeSet<NaiveDate>, FieldError> {
    let list = match closed {
        Value::Null => return Ok(BTreeSet::new()),
        Value::Array(list) => list,
        _ => {
            return Err(FieldError::new(
                "closed_dates",
                "must be a list of dates like \"2026-12-25\"",
            ));
        }
    };
    if list.len() > MAX_CLOSED_DATES {
        return Err(FieldError::new(
            "closed_dates",
            format!("at most {MAX_CLOSED_DATES} dates"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            d.as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    FieldError::new(
                        format!("closed_dates[{i}]"),
                        "not a date like \"2026-12-25\"",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
    }

    fn office(tz: &str, closed: Value) -> Schedule {
        let day = json!([["09:00", "17:00"]]);
        let hours = json!({"mon": day, "tue": day, "wed": day, "thu": day, "fri": day});
        Schedule::parse(tz, &hours, &closed).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_friday_afternoon_target_lands_on_monday() {
        let s = office("Europe/Berlin", json!([]));
        // Friday 2026-03-06 16:00 Berlin (UTC+1) = 15:00 UTC; 4 business hours: 1 on
        // Friday, 3 on Monday from 09:00 → Monday 12:00 Berlin = 11:00 UTC.
        let due = s.add_open_secs(utc("2026-03-06T15:00:00Z"), 4 * 3600);
        assert_eq!(due, Some(utc("2026-03-09T11:00:00Z")));
        assert_eq!(
            s.open_secs_between(utc("2026-03-06T15:00:00Z"), utc("2026-03-09T11:00:00Z")),
            4 * 3600
        );
        assert!(!s.is_open(utc("2026-03-07T12:00:00Z")), "Saturday");
        assert!(
            s.is_open(utc("2026-03-09T08:00:00Z")),
            "Monday 09:00 Berlin"
        );
        assert!(!s.is_open(utc("2026-03-09T07:59:59Z")));
    }

    #[test]
    fn closed_dates_are_skipped() {
        let s = office("Europe/London", json!(["2026-12-25", "2026-12-28"]));
        // Thursday 24 Dec 16:00 London (UTC+0); 2 hours: 1 on Thursday, Friday 25 closed,
        // weekend, Monday 28 closed → Tuesday 29 10:00.
        let due = s.add_open_secs(utc("2026-12-24T16:00:00Z"), 2 * 3600);
        assert_eq!(due, Some(utc("2026-12-29T10:00:00Z")));
        assert!(!s.is_open(utc("2026-12-25T12:00:00Z")));
    }

    #[test]
    fn the_spring_forward_day_has_its_local_hours() {
        // Los Angeles moves from UTC-8 to UTC-7 on Sunday 2026-03-08 at 02:00 local.
        let day = json!([["00:00", "24:00"]]);
        let s = Schedule::parse("America/Los_Angeles", &json!({"sun": day}), &json!([]))
            .unwrap_or_else(|e| panic!("{e}"));
        // That Sunday is 23 hours long.
        let start = utc("2026-03-08T08:00:00Z"); // 00:00 PST
        let end = utc("2026-03-09T07:00:00Z"); // 24:00 PDT
        assert_eq!(s.open_secs_between(start, end), 23 * 3600);
        assert_eq!(s.add_open_secs(start, 23 * 3600), Some(end));
        // One more second waits a week.
        assert_eq!(
            s.add_open_secs(start, 23 * 3600 + 1),
            Some(utc("2026-03-15T07:00:01Z"))
        );
    }

    #[test]
    fn an_interval_starting_inside_the_gap_opens_when_the_clock_jumps() {
        // Berlin skips 02:00–03:00 on Sunday 2026-03-29 (01:00 UTC).
        let s = Schedule::parse(
            "Europe/Berlin",
            &json!({"sun": [["02:30", "04:00"]]}),
            &json!([]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let opens = s.add_open_secs(utc("2026-03-29T00:00:00Z"), 0);
        assert_eq!(opens, Some(utc("2026-03-29T01:00:00Z")));
        // 03:00 → 04:00 CEST = 01:00 → 02:00 UTC: one hour.
        assert_eq!(
            s.open_secs_between(utc("2026-03-29T00:00:00Z"), utc("2026-03-29T06:00:00Z")),
            3600
        );
    }

    #[test]
    fn the_fall_back_day_counts_its_repeated_hour() {
        // Berlin repeats 02:00–03:00 on Sunday 2026-10-25; a 00:00–24:00 Sunday is 25 h.
        let s = Schedule::parse(
            "Europe/Berlin",
            &json!({"sun": [["00:00", "24:00"]]}),
            &json!([]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let start = utc("2026-10-24T22:00:00Z"); // 00:00 CEST
        let end = utc("2026-10-25T23:00:00Z"); // 24:00 CET
        assert_eq!(s.open_secs_between(start, end), 25 * 3600);
        assert!(s.is_open(utc("2026-10-25T01:30:00Z")), "the second 02:30");
    }

    #[test]
    fn business_time_and_its_inverse_agree() {
        let s = office("Asia/Kolkata", json!(["2026-08-15"]));
        let from = utc("2026-08-13T10:17:23Z");
        for secs in [0, 1, 59, 3600, 8 * 3600, 8 * 3600 + 1, 40 * 3600, 123_457] {
            let due = s
                .add_open_secs(from, secs)
                .unwrap_or_else(|| panic!("{secs}"));
            assert_eq!(s.open_secs_between(from, due), secs, "{secs} s from {from}");
        }
    }

    #[test]
    fn no_schedule_is_calendar_time() {
        let from = utc("2026-01-01T00:00:00Z");
        assert_eq!(add_secs(None, from, 90), Some(utc("2026-01-01T00:01:30Z")));
        assert_eq!(
            secs_between(None, from, utc("2026-01-02T00:00:00Z")),
            86_400
        );
    }

    #[test]
    fn a_schedule_that_never_opens_has_no_due_time() {
        let s = Schedule::parse(
            "UTC",
            &json!({"mon": [["09:00", "10:00"]]}),
            &json!(["2026-01-05"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Opens the following Monday.
        assert_eq!(
            s.add_open_secs(utc("2026-01-05T00:00:00Z"), 60),
            Some(utc("2026-01-12T09:01:00Z"))
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let err = |tz: &str, hours: Value, closed: Value| {
            Schedule::parse(tz, &hours, &closed)
                .err()
                .map(|e| e.field)
                .unwrap_or_default()
        };
        let ok = json!({"mon": [["09:00", "17:00"]]});
        assert_eq!(err("Mars/Olympus", ok.clone(), json!([])), "time_zone");
        assert_eq!(
            err("UTC", json!({"mon": [["17:00", "09:00"]]}), json!([])),
            "hours.mon[0]"
        );
        assert_eq!(
            err("UTC", json!({"mon": [["09:00", "09:00"]]}), json!([])),
            "hours.mon[0]"
        );
        assert_eq!(
            err(
                "UTC",
                json!({"tue": [["09:00", "12:00"], ["11:00", "13:00"]]}),
                json!([])
            ),
            "hours.tue[1]"
        );
        assert_eq!(err("UTC", json!({"funday": []}), json!([])), "hours.funday");
        assert_eq!(
            err("UTC", json!({"mon": [["9:00", "17:00"]]}), json!([])),
            "hours.mon[0]"
        );
        assert_eq!(
            err("UTC", json!({"mon": [["09:00", "24:01"]]}), json!([])),
            "hours.mon[0]"
        );
        assert_eq!(err("UTC", json!({"mon": []}), json!([])), "hours");
        assert_eq!(err("UTC", ok, json!(["2026-02-30"])), "closed_dates[0]");
    }

    #[test]
    fn the_representation_round_trips() {
        let s = Schedule::parse(
            "Europe/Berlin",
            &json!({"mon": [["13:00", "24:00"], ["08:00", "12:00"]]}),
            &json!(["2026-12-25"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.hours_json()["mon"],
            json!([["08:00", "12:00"], ["13:00", "24:00"]])
        );
        assert_eq!(s.closed_json(), json!(["2026-12-25"]));
        let again = Schedule::parse(s.time_zone(), &s.hours_json(), &s.closed_json())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, s);
    }
}
