//! Phase r of the hub benchmark (issue #19): reports over 1,000,000 messages in 100,000
//! conversations.
//!
//! The history is written straight into the hub's database with set-based SQL (through
//! webhooks it would take longer than the rest of the benchmark, and every message would be
//! stamped "now"): `--report-conversations` conversations spread over the 90 days before
//! today, 10 messages each (customer and agent in turn, 5 minutes apart), resolved after 50
//! minutes, one in ten reopened by the customer and resolved again, a third with an
//! answered survey, half with SLA clocks (written ended, as the escalation supervisor leaves
//! them: a running clock of a resolved conversation would be ended, and counted, now),
//! across 4 inboxes, 20 agents, 4 teams and 8 labels made through the API. Then the rollups are rebuilt (`POST /reports/rebuild`,
//! timed) and every report is asked 5 times over HTTP for the last 30 and the last 90 days
//! (Europe/Berlin), each answer's median and slowest printed against the 200 ms target.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Hub;

/// Issue #19: each report query on this machine.
pub const TARGET_QUERY_MS: f64 = 200.0;
const MESSAGES_PER_CONVERSATION: u64 = 10;
/// Seeded ids start here, clear of what other phases stored.
const FIRST_ID: u64 = 10_000_000;

/// Where the seeding SQL goes.
pub enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

pub struct ReportsResult {
    pub conversations: u64,
    pub messages: u64,
    pub seed: Duration,
    pub rebuild: Duration,
    pub rollup_rows: u64,
    /// (query, median, slowest)
    pub queries: Vec<(String, Duration, Duration)>,
}

impl ReportsResult {
    pub fn slowest(&self) -> Duration {
        self.queries.iter().map(|q| q.2).max().unwrap_or_default()
    }
}

async fn created(hub: &Hub, path: &str, body: Value) -> Result<String, String> {
    let response = hub
        .client
        .post(format!("{}/api/v1{path}", hub.base))
        .bearer_auth(&hub.token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("POST {path}: {}", response.status()));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("POST {path}: no id in {body}"))
}

/// The statements that write the history, for one backend.
fn seed_sql(store: &Store, n: u64, epoch: i64, ids: &Ids) -> Vec<String> {
    let sqlite = matches!(store, Store::Sqlite(_));
    // A time `secs` after the start of the history, as the backend stores it.
    let ts = |secs: &str| {
        if sqlite {
            format!("datetime({epoch} + {secs}, 'unixepoch')")
        } else {
            format!("(to_timestamp({epoch} + {secs}) AT TIME ZONE 'UTC')")
        }
    };
    let series = |count: u64| {
        if sqlite {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) ",
                count - 1
            )
        } else {
            String::new()
        }
    };
    let from = |count: u64| {
        if sqlite {
            "FROM n".to_owned()
        } else {
            format!("FROM generate_series(0, {}) AS n(i)", count - 1)
        }
    };
    let pick = |list: &[String], column: &str| {
        let cases: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(k, id)| format!("WHEN {k} THEN {id}"))
            .collect();
        format!("(CASE ({column}) % {} {} END)", list.len(), cases.join(" "))
    };
    // Conversation i opens at i * 77 s (100,000 of them fill 89 days).
    let at = |plus: &str| ts(&format!("i * 77 + {plus}"));
    let id = format!("({FIRST_ID} + i)");
    let inbox = pick(&ids.inboxes, "i");
    let agent = pick(&ids.agents, "i");
    let team = format!(
        "(CASE WHEN i % 5 = 4 THEN NULL ELSE {} END)",
        pick(&ids.teams, "i")
    );
    let mut sql = vec![format!(
        "{}INSERT INTO conversations (id, kind, inbox_id, status, assignee_id, team_id, \
         first_response_at, resolved_at, last_seq, last_activity_at, created_at, updated_at) \
         SELECT {id}, 'support', {inbox}, 'resolved', {agent}, {team}, {}, {}, {MESSAGES_PER_CONVERSATION}, {}, {}, {} {}",
        series(n),
        at("300"),
        at("3000"),
        at("3000"),
        at("0"),
        at("3000"),
        from(n)
    )];
    // Ten messages each: customer (even k) and agent (odd k), 5 minutes apart.
    let m = n * MESSAGES_PER_CONVERSATION;
    sql.push(format!(
        "{}INSERT INTO messages (conversation_id, inbox_id, seq, direction, sender_type, sender_id, content, created_at) \
         SELECT {FIRST_ID} + i / {MESSAGES_PER_CONVERSATION}, {}, i % {MESSAGES_PER_CONVERSATION} + 1, \
         CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END, \
         CASE WHEN i % 2 = 0 THEN 'contact' ELSE 'agent' END, \
         CASE WHEN i % 2 = 0 THEN NULL ELSE {} END, 'Benchmark message', {} {}",
        series(m),
        pick(&ids.inboxes, &format!("i / {MESSAGES_PER_CONVERSATION}")),
        pick(&ids.agents, &format!("i / {MESSAGES_PER_CONVERSATION}")),
        ts(&format!(
            "(i / {MESSAGES_PER_CONVERSATION}) * 77 + (i % {MESSAGES_PER_CONVERSATION}) * 300"
        )),
        from(m)
    ));
    // Resolved at 50 minutes; one in ten reopened by the customer at 55 and resolved at 60.
    sql.push(format!(
        "{}INSERT INTO audit_log (actor_type, actor_id, action, target_type, target_id, details, created_at) \
         SELECT 'agent', {agent}, 'conversation.status', 'conversation', {id}, '{{\"status\": \"resolved\"}}', {} {}",
        series(n),
        at("3000"),
        from(n)
    ));
    let tenth = n.div_ceil(10);
    sql.push(format!(
        "{}INSERT INTO audit_log (actor_type, actor_id, action, target_type, target_id, details, created_at) \
         SELECT 'system', NULL, 'conversation.status', 'conversation', {FIRST_ID} + i * 10, \
         '{{\"status\": \"open\", \"reason\": \"customer_wrote\"}}', {} {}",
        series(tenth),
        ts("i * 770 + 3300"),
        from(tenth)
    ));
    sql.push(format!(
        "{}INSERT INTO audit_log (actor_type, actor_id, action, target_type, target_id, details, created_at) \
         SELECT 'agent', NULL, 'conversation.status', 'conversation', {FIRST_ID} + i * 10, \
         '{{\"status\": \"resolved\"}}', {} {}",
        series(tenth),
        ts("i * 770 + 3600"),
        from(tenth)
    ));
    // Labels on a third; surveys answered on a third (ratings 1-5); SLA clocks on half.
    sql.push(format!(
        "{}INSERT INTO conversation_labels (conversation_id, label_id) SELECT {id}, {} {} WHERE i % 3 = 0",
        series(n),
        pick(&ids.labels, "i / 3"),
        from(n)
    ));
    sql.push(format!(
        "{}INSERT INTO csat_surveys (conversation_id, inbox_id, resolved_at, due_at, sent_at, question, scale, rating, answered_at) \
         SELECT {id}, {inbox}, {}, {}, {}, 'How did we do?', 'five', 1 + i % 5, {} {} WHERE i % 3 = 1",
        series(n),
        at("3000"),
        at("3000"),
        at("3000"),
        at("3300"),
        from(n)
    ));
    sql.push(format!(
        "{}INSERT INTO sla_clocks (conversation_id, target, target_secs, warn_percent, started_at, met_at, breached_at, ended_at) \
         SELECT {id}, 'first_response', 600, 80, {}, \
         CASE WHEN i % 20 = 1 THEN NULL ELSE {} END, CASE WHEN i % 20 = 1 THEN {} ELSE NULL END, {} {} WHERE i % 2 = 1",
        series(n),
        at("0"),
        at("300"),
        at("600"),
        at("3000"),
        from(n)
    ));
    if !sqlite {
        sql.push("ANALYZE".to_owned());
    }
    sql
}

struct Ids {
    inboxes: Vec<String>,
    agents: Vec<String>,
    teams: Vec<String>,
    labels: Vec<String>,
}

fn execute(store: &Store, statements: &[String]) -> Result<(), String> {
    match store {
        Store::Sqlite(path) => {
            use diesel::{Connection, RunQueryDsl};
            let mut conn = diesel::SqliteConnection::establish(&path.display().to_string())
                .map_err(|e| format!("open {}: {e}", path.display()))?;
            diesel::sql_query("PRAGMA busy_timeout = 60000")
                .execute(&mut conn)
                .map_err(|e| e.to_string())?;
            conn.transaction(|conn| {
                for sql in statements {
                    diesel::sql_query(sql).execute(conn)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(|e| format!("seed: {e}"))?;
            // What a hub that wrote this history over time would have: the WAL checkpointed
            // (one bulk transaction left it hundreds of megabytes long) and the planner's
            // statistics.
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .map_err(|e| format!("checkpoint: {e}"))?;
            diesel::sql_query("ANALYZE")
                .execute(&mut conn)
                .map_err(|e| format!("analyze: {e}"))?;
            Ok(())
        }
        Store::Postgres(url) => {
            for sql in statements {
                crate::psql(url, sql)?;
            }
            Ok(())
        }
    }
}

/// Seeds, rebuilds and asks every report.
pub async fn run(hub: &Hub, store: Store, conversations: u64) -> Result<ReportsResult, String> {
    let nonce = crate::unique_suffix();
    let mut ids = Ids {
        inboxes: Vec::new(),
        agents: Vec::new(),
        teams: Vec::new(),
        labels: Vec::new(),
    };
    for k in 0..4 {
        ids.inboxes.push(
            created(
                hub,
                "/inboxes",
                json!({"name": format!("Reports {k}"), "channel_type": "api", "settings": {}}),
            )
            .await?,
        );
        ids.teams
            .push(created(hub, "/teams", json!({"name": format!("Team {nonce} {k}")})).await?);
    }
    for k in 0..20 {
        ids.agents.push(
            created(
                hub,
                "/agents",
                json!({"email": format!("r{k}-{nonce}@example.com"), "name": format!("Agent {k}"),
                       "role": "agent", "password": "reports bench password"}),
            )
            .await?,
        );
    }
    for k in 0..8 {
        ids.labels.push(
            created(
                hub,
                "/labels",
                json!({"name": format!("l{k}-{nonce}"), "color": "#1f6feb"}),
            )
            .await?,
        );
    }
    let today = chrono::Utc::now().date_naive();
    let epoch = (today - chrono::TimeDelta::days(90))
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp());
    let statements = seed_sql(&store, conversations, epoch, &ids);
    let started = Instant::now();
    let worker = std::thread::spawn(move || execute(&store, &statements));
    while !worker.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker
        .join()
        .map_err(|_| "the seeding thread panicked".to_owned())??;
    let seed = started.elapsed();

    let started = Instant::now();
    let response = hub
        .client
        .post(format!("{}/api/v1/reports/rebuild", hub.base))
        .bearer_auth(&hub.token)
        .timeout(Duration::from_secs(1800))
        .send()
        .await
        .map_err(|e| format!("rebuild: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("rebuild: {}", response.status()));
    }
    let rebuilt: Value = response.json().await.map_err(|e| format!("rebuild: {e}"))?;
    let rebuild = started.elapsed();

    let mut queries = Vec::new();
    for days in [30i64, 90] {
        let from = today - chrono::TimeDelta::days(days - 1);
        let range = format!("from={from}&to={today}&tz=Europe/Berlin");
        let mut asks = vec![
            ("summary".to_owned(), format!("summary?{range}")),
            (
                "by day".to_owned(),
                format!("timeseries?{range}&interval=day"),
            ),
            (
                "by week".to_owned(),
                format!("timeseries?{range}&interval=week"),
            ),
            ("heatmap".to_owned(), format!("heatmap?{range}")),
            (
                "one agent".to_owned(),
                format!("summary?{range}&agent_id={}", ids.agents[0]),
            ),
            (
                "one label".to_owned(),
                format!("summary?{range}&label_id={}", ids.labels[0]),
            ),
            ("channel".to_owned(), format!("summary?{range}&channel=api")),
        ];
        if days <= 31 {
            asks.push((
                "by hour".to_owned(),
                format!("timeseries?{range}&interval=hour"),
            ));
        }
        for by in ["agent", "team", "inbox", "channel", "label"] {
            asks.push((
                format!("breakdown {by}"),
                format!("breakdown?{range}&by={by}"),
            ));
        }
        for (name, path) in asks {
            let mut times = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let response = hub
                    .client
                    .get(format!("{}/api/v1/reports/{path}", hub.base))
                    .bearer_auth(&hub.token)
                    .send()
                    .await
                    .map_err(|e| format!("{path}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{path}: {}", response.status()));
                }
                response.bytes().await.map_err(|e| format!("{path}: {e}"))?;
                times.push(t.elapsed());
            }
            times.sort();
            queries.push((
                format!("{days} d {name}"),
                times[times.len() / 2],
                times[times.len() - 1],
            ));
        }
    }
    Ok(ReportsResult {
        conversations,
        messages: conversations * MESSAGES_PER_CONVERSATION,
        seed,
        rebuild,
        rollup_rows: rebuilt["rows"].as_u64().unwrap_or(0),
        queries,
    })
}
