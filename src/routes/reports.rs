//! Reports API (issue #19): summary with the previous period, time series, breakdowns and
//! the weekly heatmap of a local date range, as JSON or CSV (`format=csv`); admins read
//! everything, agents as `reports.agents` says (by default their own figures only).
//!
//! Each answer first brings the rollups up to now (questions asked at once share a refresh;
//! see `crate::reports::Refresher`), then adds up rollup rows.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::extract::{Admin, Auth};
use crate::config::AgentReports;
use crate::db::types::{ChannelType, Role};
use crate::reports::query::{self, COLUMNS, Figures, Interval, Range, Scope};
use crate::reports::{Counters, Dim};
use crate::state::AppState;
use crate::store::audit::AuditEvent;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/summary", web::get().to(summary))
        .route("/reports/timeseries", web::get().to(timeseries))
        .route("/reports/breakdown", web::get().to(breakdown))
        .route("/reports/heatmap", web::get().to(heatmap))
        .route("/reports/rebuild", web::post().to(rebuild));
}

/// Every report's query string; all optional, read by hand so each mistake is named.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// First day, `YYYY-MM-DD` in `tz` (default: six days before `to`).
    from: Option<String>,
    /// Last day, included (default: today in `tz`).
    to: Option<String>,
    /// IANA time zone the days and hours are read in (default UTC).
    tz: Option<String>,
    inbox_id: Option<String>,
    team_id: Option<String>,
    agent_id: Option<String>,
    label_id: Option<String>,
    channel: Option<String>,
    /// Time series: hour, day (default) or week.
    interval: Option<String>,
    /// Breakdown: inbox, channel, team, agent or label.
    by: Option<String>,
    /// `csv` for a download; JSON otherwise.
    format: Option<String>,
}

impl ReportQuery {
    fn range(&self) -> Result<Range, ApiError> {
        let tz = self.tz.as_deref().unwrap_or("UTC");
        let zone: chrono_tz::Tz = tz.trim().parse().map_err(|_| {
            ApiError::invalid(
                "tz",
                format!("unknown time zone {tz:?} (use an IANA name such as Europe/Berlin)"),
            )
        })?;
        let today = Utc::now().with_timezone(&zone).date_naive().to_string();
        let to = self.to.clone().unwrap_or(today);
        let from = match &self.from {
            Some(from) => from.clone(),
            // Six days before `to`; a `to` that is no date is refused as `to` below.
            None => Range::parse(&to, &to, tz)
                .ok()
                .and_then(|r| r.to.checked_sub_signed(TimeDelta::days(6)))
                .map_or_else(|| to.clone(), |d| d.to_string()),
        };
        Range::parse(&from, &to, tz).map_err(|e| ApiError::invalid(e.field, e.reason))
    }

    fn csv(&self) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(ApiError::invalid(
                "format",
                format!("{other:?} is not \"json\" or \"csv\""),
            )),
        }
    }

    /// The one filter given, as (dimension, id) or a channel type.
    fn filter(&self) -> Result<Option<Filter>, ApiError> {
        let given: Vec<(&str, &String)> = [
            ("inbox_id", &self.inbox_id),
            ("team_id", &self.team_id),
            ("agent_id", &self.agent_id),
            ("label_id", &self.label_id),
            ("channel", &self.channel),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_ref()?)))
        .collect();
        let (name, value) = match given.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => {
                return Err(ApiError::invalid(
                    "filter",
                    "filter by one of inbox_id, team_id, agent_id, label_id or channel at a time",
                ));
            }
        };
        if name == "channel" {
            let channel: ChannelType = value.trim().parse().map_err(|_| {
                ApiError::invalid(
                    "channel",
                    format!("{value:?} is not api, widget, telegram, whatsapp or email"),
                )
            })?;
            return Ok(Some(Filter::Channel(channel)));
        }
        let id: i64 = value
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError::invalid(name, format!("{value:?} is not an id")))?;
        let dim = match name {
            "inbox_id" => Dim::Inbox,
            "team_id" => Dim::Team,
            "agent_id" => Dim::Agent,
            _ => Dim::Label,
        };
        Ok(Some(Filter::Value(dim, id)))
    }
}

/// What a report is narrowed to.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Value(Dim, i64),
    Channel(ChannelType),
}

/// Whether the caller reads everything or only their own figures.
fn access(state: &AppState, caller: &Auth) -> Result<Option<i64>, ApiError> {
    if caller.agent.role == Role::Admin {
        return Ok(None);
    }
    match state.settings.reports.agents {
        AgentReports::All => Ok(None),
        AgentReports::Own => Ok(Some(caller.agent.id)),
        AgentReports::None => Err(ApiError::forbidden(
            "reports_admins_only",
            "reports are for admins on this hub",
        )),
    }
}

/// The rollup rows a filtered report adds up; an agent limited to their own figures may
/// leave out the filter or name themselves.
async fn scope(state: &AppState, caller: &Auth, query: &ReportQuery) -> Result<Scope, ApiError> {
    let own = access(state, caller)?;
    let filter = query.filter()?;
    if let Some(me) = own {
        return match filter {
            None => Ok(Scope {
                dim: Dim::Agent,
                ids: Some(vec![me]),
            }),
            Some(Filter::Value(Dim::Agent, id)) if id == me => Ok(Scope {
                dim: Dim::Agent,
                ids: Some(vec![me]),
            }),
            Some(_) => Err(own_only()),
        };
    }
    Ok(match filter {
        None => Scope::everything(),
        Some(Filter::Value(dim, id)) => Scope {
            dim,
            ids: Some(vec![id]),
        },
        Some(Filter::Channel(channel)) => {
            let inboxes = query::names(&mut state.db.reader().await?, Dim::Inbox).await?;
            let ids = inboxes
                .into_iter()
                .filter(|(_, named)| named.channel.as_deref() == Some(channel.as_str()))
                .map(|(id, _)| id)
                .collect();
            Scope {
                dim: Dim::Inbox,
                ids: Some(ids),
            }
        }
    })
}

fn own_only() -> ApiError {
    ApiError::forbidden(
        "own_reports_only",
        "agents read their own figures on this hub: leave out the filter or give your own agent_id",
    )
}

fn range_json(range: &Range) -> Value {
    json!({
        "from": range.from.to_string(),
        "to": range.to.to_string(),
        "tz": range.tz.name(),
        "start": range.start.and_utc(),
        "end": range.end.and_utc(),
    })
}

/// What every report reads first: the range, JSON or CSV, the rows the caller may add up;
/// then the rollups are brought up to now.
async fn prepare(
    state: &AppState,
    caller: &Auth,
    query: &ReportQuery,
) -> Result<(Range, bool, Scope), ApiError> {
    let range = query.range()?;
    let csv = query.csv()?;
    let scope = scope(state, caller, query).await?;
    state.reports.ensure_fresh(&state.db).await?;
    Ok((range, csv, scope))
}

/// Totals of the range and of the as long period before it.
async fn summary(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range, csv, scope) = prepare(&state, &caller, &query).await?;
    let conn = &mut state.db.reader().await?;
    let current = Figures::from(&query::totals(conn, &scope, range.start, range.end).await?);
    let previous_range = range.previous();
    let previous = match &previous_range {
        Some(p) => Some(Figures::from(
            &query::totals(conn, &scope, p.start, p.end).await?,
        )),
        None => None,
    };
    if csv {
        let mut out = Csv::new(&["metric", "current", "previous"]);
        for (name, read) in COLUMNS {
            out.row([
                name.to_owned(),
                read(&current),
                previous.as_ref().map(read).unwrap_or_default(),
            ]);
        }
        return Ok(out.download("summary", &range));
    }
    let covered = crate::reports::rollup::covered_until(conn).await?;
    Ok(HttpResponse::Ok().json(json!({
        "range": range_json(&range),
        "previous_range": previous_range.as_ref().map(range_json),
        "figures": current,
        "previous": previous,
        "covered_until": covered.map(|c| c.and_utc()),
    })))
}

/// Figures per hour, day or week of the range, every period listed.
async fn timeseries(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let interval_name = query.interval.as_deref().unwrap_or("day");
    let interval = Interval::parse(interval_name).ok_or_else(|| {
        ApiError::invalid(
            "interval",
            format!("{interval_name:?} is not \"hour\", \"day\" or \"week\""),
        )
    })?;
    // Checked before anything is read or refreshed.
    if interval == Interval::Hour && query.range()?.days() > query::MAX_HOURLY_DAYS {
        return Err(ApiError::invalid(
            "interval",
            format!(
                "an hourly series covers at most {} days",
                query::MAX_HOURLY_DAYS
            ),
        ));
    }
    let (range, csv, scope) = prepare(&state, &caller, &query).await?;
    let buckets = query::by_bucket(
        &mut state.db.reader().await?,
        &scope,
        range.start,
        range.end,
    )
    .await?;
    let points = query::series(&range, interval, &buckets);
    if csv {
        let mut header = vec!["start"];
        header.extend(COLUMNS.iter().map(|(name, _)| *name));
        let mut out = Csv::new(&header);
        for point in &points {
            let mut cells = vec![point.start.clone()];
            cells.extend(COLUMNS.iter().map(|(_, read)| read(&point.figures)));
            out.row(cells);
        }
        return Ok(out.download("timeseries", &range));
    }
    Ok(HttpResponse::Ok().json(json!({
        "range": range_json(&range),
        "interval": interval_name,
        "points": points,
    })))
}

/// Figures per inbox, channel, team, agent or label over the range.
async fn breakdown(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = query.range()?;
    let csv = query.csv()?;
    let by = query.by.as_deref().unwrap_or("agent");
    let dim = match by {
        "inbox" | "channel" => Dim::Inbox,
        "team" => Dim::Team,
        "agent" => Dim::Agent,
        "label" => Dim::Label,
        other => {
            return Err(ApiError::invalid(
                "by",
                format!("{other:?} is not inbox, channel, team, agent or label"),
            ));
        }
    };
    let own = access(&state, &caller)?;
    if query.filter()?.is_some() {
        return Err(ApiError::invalid(
            "filter",
            "a breakdown covers every inbox: leave out the filters",
        ));
    }
    if own.is_some() && dim != Dim::Agent {
        return Err(own_only());
    }
    state.reports.ensure_fresh(&state.db).await?;
    let conn = &mut state.db.reader().await?;
    let scope = Scope {
        dim,
        ids: own.map(|me| vec![me]),
    };
    let sums: BTreeMap<i64, Counters> = query::by_value(conn, &scope, range.start, range.end)
        .await?
        .into_iter()
        .collect();
    let names = query::names(conn, dim).await?;
    // Every listed value (zeros included) and every value with figures.
    let mut rows: Vec<(String, String, Counters)> = Vec::new();
    let ids: std::collections::BTreeSet<i64> = names
        .iter()
        .filter(|(id, named)| named.listed && own.is_none_or(|me| me == **id))
        .map(|(id, _)| *id)
        .chain(sums.keys().copied())
        .collect();
    let mut channels: BTreeMap<String, Counters> = BTreeMap::new();
    for id in ids {
        let counters = sums.get(&id).copied().unwrap_or_default();
        let named = names.get(&id);
        if by == "channel" {
            let channel = named
                .and_then(|n| n.channel.clone())
                .unwrap_or_else(|| "deleted".to_owned());
            channels.entry(channel).or_default().add(&counters);
            continue;
        }
        let name = match named {
            Some(n) => n.name.clone(),
            None => format!("Deleted {} #{id}", by),
        };
        rows.push((id.to_string(), name, counters));
    }
    if by == "channel" {
        rows = channels
            .into_iter()
            .map(|(channel, counters)| (channel.clone(), channel_name(&channel), counters))
            .collect();
    }
    rows.sort_by(|a, b| {
        a.1.to_lowercase()
            .cmp(&b.1.to_lowercase())
            .then(a.0.cmp(&b.0))
    });
    if csv {
        let mut header = vec!["id", "name"];
        header.extend(COLUMNS.iter().map(|(name, _)| *name));
        let mut out = Csv::new(&header);
        for (id, name, counters) in &rows {
            let figures = Figures::from(counters);
            let mut cells = vec![id.clone(), name.clone()];
            cells.extend(COLUMNS.iter().map(|(_, read)| read(&figures)));
            out.row(cells);
        }
        return Ok(out.download(&format!("by-{by}"), &range));
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(id, name, counters)| {
            let mut row = json!({"id": id, "name": name});
            if let (Value::Object(row), Ok(Value::Object(figures))) =
                (&mut row, serde_json::to_value(Figures::from(&counters)))
            {
                row.extend(figures);
            }
            row
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "range": range_json(&range),
        "by": by,
        "rows": rows,
    })))
}

fn channel_name(channel: &str) -> String {
    match channel {
        "api" => "API",
        "widget" => "Website widget",
        "telegram" => "Telegram",
        "whatsapp" => "WhatsApp",
        "email" => "Email",
        _ => "Deleted inboxes",
    }
    .to_owned()
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Customers' messages per local weekday and hour over the range.
async fn heatmap(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (range, csv, scope) = prepare(&state, &caller, &query).await?;
    let buckets = query::incoming_by_bucket(
        &mut state.db.reader().await?,
        &scope,
        range.start,
        range.end,
    )
    .await?;
    let cells = query::heatmap(&range, &buckets);
    if csv {
        let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let mut header = vec!["day"];
        header.extend(hours.iter().map(String::as_str));
        let mut out = Csv::new(&header);
        for (day, row) in WEEKDAYS.iter().zip(cells.iter()) {
            let mut line = vec![(*day).to_owned()];
            line.extend(row.iter().map(i64::to_string));
            out.row(line);
        }
        return Ok(out.download("heatmap", &range));
    }
    let max = cells.iter().flatten().copied().max().unwrap_or(0);
    Ok(HttpResponse::Ok().json(json!({
        "range": range_json(&range),
        "metric": "messages_in",
        "days": WEEKDAYS,
        "cells": cells,
        "max": max,
    })))
}

/// Recomputes every rollup from the stored data (after business hours changed or an
/// import); admins only, audited.
async fn rebuild(state: web::Data<AppState>, caller: Admin) -> Result<HttpResponse, ApiError> {
    let done = state.reports.rebuild(&state.db).await?;
    let event = AuditEvent::new("reports.rebuild", "reports", 0).with_details(json!({
        "buckets": done.buckets, "rows": done.rows,
    }));
    crate::store::audit::record(&mut state.db.writer().await?, &caller.actor(), &event).await?;
    Ok(HttpResponse::Ok().json(json!({
        "buckets": done.buckets,
        "rows": done.rows,
        "took_ms": done.took.as_millis() as u64,
    })))
}

/// A CSV download: RFC 4180 quoting, and cells a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) quoted with a leading apostrophe.
struct Csv {
    text: String,
}

impl Csv {
    fn new(header: &[&str]) -> Csv {
        let mut csv = Csv {
            text: String::new(),
        };
        csv.row(header.iter().map(|h| (*h).to_owned()));
        csv
    }

    fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let cells: Vec<String> = cells.into_iter().map(|c| csv_cell(&c)).collect();
        self.text.push_str(&cells.join(","));
        self.text.push_str("\r\n");
    }

    fn download(self, what: &str, range: &Range) -> HttpResponse {
        let name = format!("switchboard-{what}-{}-{}.csv", range.from, range.to);
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ))
            .body(self.text)
    }
}

fn csv_cell(cell: &str) -> String {
    let numeric = cell.parse::<f64>().is_ok();
    let guarded = if !numeric && cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("Ada"), "Ada");
        assert_eq!(csv_cell("Support, EU"), "\"Support, EU\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-12.5"), "-12.5");
        assert_eq!(csv_cell("@team"), "'@team");
    }
}
