//! Reports (issue #19): figures checked against values computed by hand on a seeded
//! dataset (both backends), in three time zones (one with a half-hour offset), with a
//! reopened conversation, business hours, surveys and SLA targets; the live path (webhook,
//! reply, resolve, the customer reopening); agents' access; every refusal; CSV.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{conversation_path, post_message};
use crate::helpers::{TestApp, assert_error, message_event, spawn_app, spawn_app_with};

use crate::helpers::run_sql as execute;

async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let response = app.api(token, Method::POST, path, Some(body)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "POST {path}");
    let body: Value = response.json().await.expect("body");
    body["id"].as_str().expect("id").to_owned()
}

async fn agent(app: &TestApp, admin: &str, email: &str, name: &str) -> (String, String) {
    let password = "agent password 123";
    let id = created(
        app,
        admin,
        "/api/v1/agents",
        json!({"email": email, "name": name, "role": "agent", "password": password}),
    )
    .await;
    (id, app.token_for(email, password).await)
}

/// Asserts the named figures of a report object.
fn assert_figures(what: &str, figures: &Value, expected: &Value) {
    for (key, value) in expected.as_object().expect("expected figures") {
        assert_eq!(&figures[key], value, "{what}: {key} in {figures}");
    }
}

/// What the seeded dataset adds up to over Monday 2 and Tuesday 3 March 2026 (UTC), by hand:
/// see the comments in `seed`.
fn all_figures() -> Value {
    json!({
        "conversations_opened": 3, "conversations_resolved": 3, "conversations_reopened": 1,
        "messages_in": 8, "messages_out": 5,
        "first_responses": 2, "first_response_avg_secs": 2100,
        "resolution_avg_secs": 4200, "replies_per_resolution": 1.33,
        "csat_sent": 3, "csat_answers": 2, "csat_response_rate": 66.7, "csat_score": 50.0,
        "csat_average": 3.5,
        "sla_met": 1, "sla_breached": 1, "sla_met_rate": 50.0,
    })
}

pub(crate) struct Seeded {
    pub(crate) admin: String,
    /// (id, API token)
    pub(crate) ada: (String, String),
    pub(crate) bob: (String, String),
    pub(crate) team: String,
    pub(crate) label: String,
    pub(crate) inbox_a: String,
    pub(crate) inbox_b: String,
}

/// Seeds three support conversations (and a team channel that must not count) with times
/// chosen by hand, then rebuilds the rollups.
pub(crate) async fn seed(app: &TestApp) -> Seeded {
    let admin = app.admin_token().await;
    let ada = agent(app, &admin, "ada@example.com", "Ada Lovelace").await;
    let bob = agent(app, &admin, "bob@example.com", "Bob Byron").await;
    let team = created(app, &admin, "/api/v1/teams", json!({"name": "Billing"})).await;
    let label = created(
        app,
        &admin,
        "/api/v1/labels",
        json!({"name": "vip", "color": "#1f6feb"}),
    )
    .await;
    let inbox_a = app.create_api_inbox(&admin, None).await.id;
    let inbox_b = app.create_api_inbox(&admin, None).await.id;
    // Inbox B keeps business hours: weekdays 09:00-17:00 UTC.
    let day = json!([["09:00", "17:00"]]);
    let hours = created(
        app,
        &admin,
        "/api/v1/business-hours",
        json!({"name": "Office", "time_zone": "UTC", "closed_dates": [],
               "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}),
    )
    .await;
    let response = app
        .api(
            &admin,
            Method::PUT,
            &format!("/api/v1/inboxes/{inbox_b}/business-hours"),
            Some(json!({"business_hours_id": hours})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "inbox hours");
    let (ada_id, bob_id) = (&ada.0, &bob.0);

    // C1 (inbox A, Billing, Ada, vip), Monday 2 March UTC: opened 08:00, Ada answers at
    // 08:10 (first response 600 s) and 08:30, resolves at 09:00 (3,600 s, 2 replies); the
    // customer writes at 10:00 (a reopen), Ada answers 10:30 and resolves 11:00 (3,600 s,
    // 1 reply), then closes it (no new resolution). A note at 08:15 counts for nothing.
    execute(
        app,
        &format!(
            "INSERT INTO conversations (id, kind, inbox_id, status, assignee_id, team_id, \
         first_response_at, last_seq, last_activity_at, created_at, updated_at) VALUES \
         (9001, 'support', {inbox_a}, 'closed', {ada_id}, {team}, '2026-03-02 08:10:00', 7, \
         '2026-03-02 11:30:00', '2026-03-02 08:00:00', '2026-03-02 11:30:00'), \
         (9002, 'support', {inbox_b}, 'resolved', {bob_id}, NULL, '2026-03-03 09:30:00', 4, \
         '2026-03-03 10:00:00', '2026-03-02 16:30:00', '2026-03-03 10:00:00'), \
         (9003, 'support', {inbox_a}, 'open', NULL, {team}, NULL, 3, \
         '2026-03-02 23:40:00', '2026-03-02 23:30:00', '2026-03-02 23:40:00'), \
         (9004, 'team_channel', NULL, 'open', NULL, NULL, NULL, 1, \
         '2026-03-02 12:00:00', '2026-03-02 12:00:00', '2026-03-02 12:00:00')"
        ),
    )
    .await;
    execute(app, &format!(
        "INSERT INTO conversation_labels (conversation_id, label_id) VALUES (9001, {label}), (9003, {label})"
    ))
    .await;
    let messages = [
        (9001, 1, "inbound", "contact", "NULL", "2026-03-02 08:00:00"),
        (
            9001,
            2,
            "outbound",
            "agent",
            ada_id.as_str(),
            "2026-03-02 08:10:00",
        ),
        (
            9001,
            3,
            "internal",
            "agent",
            ada_id.as_str(),
            "2026-03-02 08:15:00",
        ),
        (9001, 4, "inbound", "contact", "NULL", "2026-03-02 08:20:00"),
        (
            9001,
            5,
            "outbound",
            "agent",
            ada_id.as_str(),
            "2026-03-02 08:30:00",
        ),
        (9001, 6, "inbound", "contact", "NULL", "2026-03-02 10:00:00"),
        (
            9001,
            7,
            "outbound",
            "agent",
            ada_id.as_str(),
            "2026-03-02 10:30:00",
        ),
        // C2 (inbox B, Bob): opened Monday 16:30, customer again at 18:20 and 18:40 (in
        // Kolkata, UTC+5:30, 23:50 on Monday and 00:10 on Tuesday); Bob answers Tuesday
        // 09:30: 61,200 s of calendar but 3,600 s of business hours; resolved Tuesday
        // 10:00 after a pending (no reopen): 5,400 business seconds, 1 reply.
        (9002, 1, "inbound", "contact", "NULL", "2026-03-02 16:30:00"),
        (9002, 2, "inbound", "contact", "NULL", "2026-03-02 18:20:00"),
        (9002, 3, "inbound", "contact", "NULL", "2026-03-02 18:40:00"),
        (
            9002,
            4,
            "outbound",
            "agent",
            bob_id.as_str(),
            "2026-03-03 09:30:00",
        ),
        // C3 (inbox A, Billing, vip, nobody's): opened Monday 23:30 UTC (Tuesday in
        // Berlin), a second message, a bot's answer.
        (9003, 1, "inbound", "contact", "NULL", "2026-03-02 23:30:00"),
        (9003, 2, "inbound", "contact", "NULL", "2026-03-02 23:35:00"),
        (9003, 3, "outbound", "bot", "NULL", "2026-03-02 23:40:00"),
        // A team channel's message: not support, never counted.
        (
            9004,
            1,
            "outbound",
            "agent",
            ada_id.as_str(),
            "2026-03-02 12:00:00",
        ),
    ];
    let values: Vec<String> = messages
        .iter()
        .map(|(c, seq, direction, sender, id, at)| {
            let inbox = match c {
                9001 | 9003 => inbox_a.as_str(),
                9002 => inbox_b.as_str(),
                _ => "NULL",
            };
            format!("({c}, {inbox}, {seq}, '{direction}', '{sender}', {id}, 'x', '{at}')")
        })
        .collect();
    execute(app, &format!(
        "INSERT INTO messages (conversation_id, inbox_id, seq, direction, sender_type, sender_id, \
         content, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
    let status = |actor: &str, id: &str, conversation: i64, status: &str, extra: &str, at: &str| {
        format!(
            "('{actor}', {id}, 'conversation.status', 'conversation', {conversation}, \
             '{{\"status\": \"{status}\"{extra}}}', '{at}')"
        )
    };
    let audits = [
        status("agent", ada_id, 9001, "resolved", "", "2026-03-02 09:00:00"),
        status(
            "system",
            "NULL",
            9001,
            "open",
            ", \"reason\": \"customer_wrote\"",
            "2026-03-02 10:00:00",
        ),
        status("agent", ada_id, 9001, "resolved", "", "2026-03-02 11:00:00"),
        status("agent", ada_id, 9001, "closed", "", "2026-03-02 11:30:00"),
        status("agent", bob_id, 9002, "pending", "", "2026-03-03 09:40:00"),
        status("agent", bob_id, 9002, "resolved", "", "2026-03-03 10:00:00"),
    ];
    execute(
        app,
        &format!(
            "INSERT INTO audit_log (actor_type, actor_id, action, target_type, target_id, details, \
         created_at) VALUES {}",
            audits.join(", ")
        ),
    )
    .await;
    // Surveys: C1's first resolution rated 5, its second 2; C2's (thumbs) unanswered.
    execute(app, &format!(
        "INSERT INTO csat_surveys (conversation_id, inbox_id, resolved_at, due_at, sent_at, \
         question, scale, rating, answered_at) VALUES \
         (9001, {inbox_a}, '2026-03-02 09:00:00', '2026-03-02 09:00:00', '2026-03-02 09:00:00', 'How?', 'five', 5, '2026-03-02 09:05:00'), \
         (9001, {inbox_a}, '2026-03-02 11:00:00', '2026-03-02 11:00:00', '2026-03-02 11:00:00', 'How?', 'five', 2, '2026-03-02 11:05:00'), \
         (9002, {inbox_b}, '2026-03-03 10:00:00', '2026-03-03 10:00:00', '2026-03-03 10:00:00', 'How?', 'thumbs', NULL, NULL)"
    ))
    .await;
    // SLA: C1's first response met at 08:10; C2's breached Tuesday 09:00.
    execute(
        app,
        "INSERT INTO sla_clocks (conversation_id, target, target_secs, warn_percent, started_at, \
         met_at, breached_at, ended_at) VALUES \
         (9001, 'first_response', 3600, 80, '2026-03-02 08:00:00', '2026-03-02 08:10:00', NULL, '2026-03-02 08:10:00'), \
         (9002, 'first_response', 3600, 80, '2026-03-02 16:30:00', NULL, '2026-03-03 09:00:00', '2026-03-03 09:30:00')",
    )
    .await;
    let rebuilt = app
        .api(&admin, Method::POST, "/api/v1/reports/rebuild", None)
        .await;
    assert_eq!(rebuilt.status(), StatusCode::OK, "rebuild");
    Seeded {
        admin,
        ada,
        bob,
        team,
        label,
        inbox_a,
        inbox_b,
    }
}

async fn report(app: &TestApp, token: &str, path: &str) -> Value {
    app.get_json(token, path).await
}

#[actix_web::test]
async fn reports_add_up_to_hand_computed_figures_in_every_time_zone() {
    let app = spawn_app().await;
    let s = seed(&app).await;
    let range = "from=2026-03-02&to=2026-03-03";

    // Totals, and the two days before as the previous period (nothing then).
    let summary = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/summary?{range}&tz=UTC"),
    )
    .await;
    assert_figures("summary", &summary["figures"], &all_figures());
    assert_eq!(summary["previous_range"]["from"], "2026-02-28");
    assert_eq!(summary["previous_range"]["to"], "2026-03-01");
    assert_figures(
        "previous",
        &summary["previous"],
        &json!({"conversations_opened": 0, "first_response_avg_secs": null, "csat_score": null}),
    );
    assert_eq!(summary["range"]["start"], "2026-03-02T00:00:00Z");

    // Per day in UTC, in Berlin (UTC+1: C3 falls on Tuesday) and in Kolkata (UTC+5:30).
    let days = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/timeseries?{range}&tz=UTC"),
    )
    .await;
    let points = days["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["start"], "2026-03-02");
    assert_figures(
        "UTC Monday",
        &points[0],
        &json!({"conversations_opened": 3, "messages_in": 8, "conversations_resolved": 2}),
    );
    assert_figures(
        "UTC Tuesday",
        &points[1],
        &json!({"conversations_opened": 0, "messages_in": 0, "conversations_resolved": 1, "first_responses": 1}),
    );
    let berlin = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/timeseries?{range}&tz=Europe/Berlin"),
    )
    .await;
    let points = berlin["points"].as_array().expect("points");
    assert_figures(
        "Berlin Monday",
        &points[0],
        &json!({"conversations_opened": 2, "messages_in": 6}),
    );
    assert_figures(
        "Berlin Tuesday",
        &points[1],
        &json!({"conversations_opened": 1, "messages_in": 2}),
    );
    let kolkata = report(
        &app,
        &s.admin,
        "/api/v1/reports/summary?from=2026-03-02&to=2026-03-02&tz=Asia/Kolkata",
    )
    .await;
    assert_eq!(kolkata["range"]["start"], "2026-03-01T18:30:00Z");
    assert_figures(
        "Kolkata Monday",
        &kolkata["figures"],
        &json!({"conversations_opened": 2, "messages_in": 5, "messages_out": 3,
                "conversations_resolved": 2, "conversations_reopened": 1}),
    );

    // Weeks (Monday first) and hours.
    let weeks = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/timeseries?{range}&tz=UTC&interval=week"),
    )
    .await;
    assert_eq!(weeks["points"].as_array().map(Vec::len), Some(1));
    assert_eq!(weeks["points"][0]["start"], "2026-03-02");
    assert_eq!(weeks["points"][0]["messages_in"], 8);
    let hours = report(
        &app,
        &s.admin,
        "/api/v1/reports/timeseries?from=2026-03-02&to=2026-03-02&tz=Asia/Kolkata&interval=hour",
    )
    .await;
    let hours = hours["points"].as_array().expect("hours");
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[23]["start"], "2026-03-02T23:00:00+05:30");
    assert_eq!(hours[23]["messages_in"], 1, "18:20 UTC is 23:50 in Kolkata");

    // The heatmap: customers' messages per weekday and hour (Monday first).
    let heat = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/heatmap?{range}&tz=UTC"),
    )
    .await;
    let monday = &heat["cells"][0];
    assert_eq!(
        (
            monday[8].clone(),
            monday[10].clone(),
            monday[16].clone(),
            monday[18].clone(),
            monday[23].clone()
        ),
        (json!(2), json!(1), json!(1), json!(2), json!(2))
    );
    assert_eq!(heat["max"], 2);
    let berlin_heat = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/heatmap?{range}&tz=Europe/Berlin"),
    )
    .await;
    assert_eq!(berlin_heat["cells"][1][0], 2, "Tuesday 00:30 in Berlin");

    // Breakdowns.
    let by_agent = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=agent"),
    )
    .await;
    let row = |rows: &Value, id: &str| -> Value {
        rows["rows"]
            .as_array()
            .and_then(|r| r.iter().find(|row| row["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no row {id} in {rows}"))
    };
    let ada = row(&by_agent, &s.ada.0);
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_figures(
        "Ada",
        &ada,
        &json!({
            "conversations_opened": 1, "conversations_resolved": 2, "conversations_reopened": 1,
            "first_responses": 1, "first_response_avg_secs": 600, "resolution_avg_secs": 3600,
            "replies_per_resolution": 1.5, "messages_in": 3, "messages_out": 3,
            "csat_sent": 2, "csat_answers": 2, "csat_average": 3.5, "sla_met": 1, "sla_breached": 0,
        }),
    );
    assert_figures(
        "Bob",
        &row(&by_agent, &s.bob.0),
        &json!({
            "conversations_opened": 1, "conversations_resolved": 1, "first_response_avg_secs": 3600,
            "resolution_avg_secs": 5400, "messages_in": 3, "messages_out": 1, "csat_sent": 1,
            "csat_answers": 0, "csat_score": null, "sla_breached": 1,
        }),
    );
    // The admin is listed with zeros; names sort the rows.
    let names: Vec<&str> = by_agent["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names
            .windows(2)
            .all(|w| w[0].to_lowercase() <= w[1].to_lowercase()),
        "{names:?}"
    );
    let billing = json!({"conversations_opened": 2, "messages_in": 5, "messages_out": 4, "conversations_resolved": 2});
    let by_team = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=team"),
    )
    .await;
    assert_figures("Billing", &row(&by_team, &s.team), &billing);
    let by_label = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=label"),
    )
    .await;
    assert_figures("vip", &row(&by_label, &s.label), &billing);
    let by_inbox = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=inbox"),
    )
    .await;
    assert_figures(
        "inbox A",
        &row(&by_inbox, &s.inbox_a),
        &json!({"conversations_opened": 2}),
    );
    assert_figures(
        "inbox B",
        &row(&by_inbox, &s.inbox_b),
        &json!({"conversations_opened": 1, "first_response_avg_secs": 3600}),
    );
    let by_channel = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=channel"),
    )
    .await;
    assert_eq!(by_channel["rows"].as_array().map(Vec::len), Some(1));
    assert_figures("api", &row(&by_channel, "api"), &all_figures());

    // Filters narrow the summary to one value.
    let filtered = report(
        &app,
        &s.admin,
        &format!(
            "/api/v1/reports/summary?{range}&tz=UTC&agent_id={}",
            s.ada.0
        ),
    )
    .await;
    assert_eq!(
        filtered["figures"],
        ada.as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("id");
                o.remove("name");
                Value::Object(o)
            })
            .unwrap_or_default()
    );
    let by_channel = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/summary?{range}&tz=UTC&channel=api"),
    )
    .await;
    assert_figures("channel api", &by_channel["figures"], &all_figures());
    let telegram = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/summary?{range}&tz=UTC&channel=telegram"),
    )
    .await;
    assert_figures(
        "channel telegram",
        &telegram["figures"],
        &json!({"conversations_opened": 0}),
    );

    // CSV of each table, quoted as a spreadsheet reads it.
    let csv = app
        .api(
            &s.admin,
            Method::GET,
            &format!("/api/v1/reports/summary?{range}&tz=UTC&format=csv"),
            None,
        )
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("switchboard-summary-2026-03-02-2026-03-03.csv")
    );
    let text = csv.text().await.expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "metric,current,previous");
    assert!(lines.contains(&"conversations_opened,3,0"), "{text}");
    assert!(lines.contains(&"replies_per_resolution,1.33,"), "{text}");
    let csv = app
        .api(
            &s.admin,
            Method::GET,
            &format!("/api/v1/reports/breakdown?{range}&tz=UTC&by=agent&format=csv"),
            None,
        )
        .await
        .text()
        .await
        .expect("csv");
    assert!(csv.starts_with("id,name,conversations_opened,"), "{csv}");
    assert!(
        csv.contains(&format!(
            "{},Ada Lovelace,1,2,1,3,3,1,600,3600,1.5,2,2,100,50,3.5,1,0,100\r\n",
            s.ada.0
        )),
        "{csv}"
    );
    let heat_csv = app
        .api(
            &s.admin,
            Method::GET,
            &format!("/api/v1/reports/heatmap?{range}&tz=UTC&format=csv"),
            None,
        )
        .await
        .text()
        .await
        .expect("csv");
    assert!(
        heat_csv
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("mon,0,0,0,0,0,0,0,0,2,0,1,")),
        "{heat_csv}"
    );
    let series_csv = app
        .api(
            &s.admin,
            Method::GET,
            &format!("/api/v1/reports/timeseries?{range}&tz=UTC&format=csv"),
            None,
        )
        .await
        .text()
        .await
        .expect("csv");
    assert_eq!(series_csv.lines().count(), 3, "{series_csv}");

    // A rebuild computes the same again; a refresh changes nothing that is final.
    let again = report(
        &app,
        &s.admin,
        &format!("/api/v1/reports/summary?{range}&tz=UTC"),
    )
    .await;
    assert_eq!(again["figures"], summary["figures"]);
}

#[actix_web::test]
async fn agents_read_their_own_figures_and_every_mistake_is_named() {
    let app = spawn_app().await;
    let s = seed(&app).await;
    let range = "from=2026-03-02&to=2026-03-03&tz=UTC";
    let ada = &s.ada.1;

    // Without a filter, an agent reads their own figures; naming themselves is the same.
    let own = report(&app, ada, &format!("/api/v1/reports/summary?{range}")).await;
    assert_figures(
        "Ada's own",
        &own["figures"],
        &json!({"conversations_resolved": 2, "messages_out": 3}),
    );
    let named = report(
        &app,
        ada,
        &format!("/api/v1/reports/summary?{range}&agent_id={}", s.ada.0),
    )
    .await;
    assert_eq!(named["figures"], own["figures"]);
    let rows = report(
        &app,
        ada,
        &format!("/api/v1/reports/breakdown?{range}&by=agent"),
    )
    .await;
    let ids: Vec<&str> = rows["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec![s.ada.0.as_str()]);
    let heat = report(&app, ada, &format!("/api/v1/reports/heatmap?{range}")).await;
    assert_eq!(heat["cells"][0][8], 2);
    for path in [
        format!("/api/v1/reports/summary?{range}&agent_id={}", s.bob.0),
        format!("/api/v1/reports/summary?{range}&team_id={}", s.team),
        format!("/api/v1/reports/timeseries?{range}&channel=api"),
        format!("/api/v1/reports/breakdown?{range}&by=team"),
    ] {
        let response = app.api(ada, Method::GET, &path, None).await;
        assert_error(response, StatusCode::FORBIDDEN, "own_reports_only").await;
    }
    let response = app
        .api(ada, Method::POST, "/api/v1/reports/rebuild", None)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
    let response = app
        .client
        .get(app.url("/api/v1/reports/summary"))
        .send()
        .await
        .expect("anon");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Every mistake answers 422 naming the field, or 400 for an unknown parameter.
    for (query, field) in [
        ("from=2026-03-03&to=2026-03-02", "to"),
        ("from=2026-02-30&to=2026-03-03", "from"),
        ("from=2020-01-01&to=2026-03-03", "to"),
        ("to=-262143-01-03", "to"),
        ("from=1969-12-31&to=1970-01-01", "from"),
        ("from=-262143-01-01&to=-262143-01-01", "to"),
        ("tz=Mars/Olympus", "tz"),
        ("inbox_id=1&team_id=2", "filter"),
        ("inbox_id=abc", "inbox_id"),
        ("inbox_id=-4", "inbox_id"),
        ("channel=fax", "channel"),
        ("format=xml", "format"),
    ] {
        let response = app
            .api(
                &s.admin,
                Method::GET,
                &format!("/api/v1/reports/summary?{query}"),
                None,
            )
            .await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{query}: {body}"
        );
    }
    for (path, field) in [
        ("/api/v1/reports/timeseries?interval=minute", "interval"),
        (
            "/api/v1/reports/timeseries?from=2026-01-01&to=2026-03-01&interval=hour",
            "interval",
        ),
        ("/api/v1/reports/breakdown?by=planet", "by"),
        ("/api/v1/reports/breakdown?by=agent&inbox_id=1", "filter"),
    ] {
        let response = app.api(&s.admin, Method::GET, path, None).await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{path}: {body}"
        );
    }
    let response = app
        .api(
            &s.admin,
            Method::GET,
            "/api/v1/reports/summary?colour=red",
            None,
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
    // The default period is the last seven days in the zone asked.
    let default = report(&app, &s.admin, "/api/v1/reports/summary?tz=Europe/Berlin").await;
    let from = default["range"]["from"]
        .as_str()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let to = default["range"]["to"]
        .as_str()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    assert_eq!(from.zip(to).map(|(f, t)| (t - f).num_days()), Some(6));
}

#[actix_web::test]
async fn where_reports_are_for_admins_agents_read_none() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_REPORTS_AGENTS".into(), "none".into());
    })
    .await;
    let admin = app.admin_token().await;
    let (_, token) = agent(&app, &admin, "cy@example.com", "Cy").await;
    let response = app
        .api(&token, Method::GET, "/api/v1/reports/summary", None)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "reports_admins_only").await;
    let me = app.get_json(&token, "/api/v1/me").await;
    assert_eq!(me["reports"], "none");
    assert_eq!(app.get_json(&admin, "/api/v1/me").await["reports"], "all");
    report(&app, &admin, "/api/v1/reports/summary").await;
}

#[actix_web::test]
async fn reports_follow_live_traffic_and_a_customer_reopening_counts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let id = post_message(&app, &inbox, &message_event("live-1", "cust-1", "hello")).await;
    let path = conversation_path(&id);
    let response = app
        .api(
            &admin,
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"content": "Hi, how can I help?"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let resolve = async || {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("{path}/status"),
                Some(json!({"status": "resolved"})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "resolve");
    };
    resolve().await;
    // Asked at once: the report includes what was just committed.
    let today = report(&app, &admin, "/api/v1/reports/summary?tz=UTC").await;
    assert_figures(
        "after the first resolve",
        &today["figures"],
        &json!({
            "conversations_opened": 1, "conversations_resolved": 1, "conversations_reopened": 0,
            "messages_in": 1, "messages_out": 1, "first_responses": 1, "replies_per_resolution": 1.0,
        }),
    );
    // The customer writes again: the conversation reopens (the thread says so) and the
    // next resolve is a second resolution of a new cycle without replies.
    let again = post_message(
        &app,
        &inbox,
        &message_event("live-2", "cust-1", "one more thing"),
    )
    .await;
    assert_eq!(again, id);
    resolve().await;
    let today = report(&app, &admin, "/api/v1/reports/summary?tz=UTC").await;
    assert_figures(
        "after the reopen",
        &today["figures"],
        &json!({
            "conversations_opened": 1, "conversations_resolved": 2, "conversations_reopened": 1,
            "messages_in": 2, "messages_out": 1, "first_responses": 1, "replies_per_resolution": 0.5,
        }),
    );
    let activity = app.get_json(&admin, &format!("{path}/activity")).await;
    assert!(
        activity
            .to_string()
            .contains("Reopened: the customer wrote again"),
        "{activity}"
    );
    let hour = report(
        &app,
        &admin,
        "/api/v1/reports/timeseries?tz=UTC&interval=hour",
    )
    .await;
    let total: i64 = hour["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["messages_in"].as_i64())
        .sum();
    assert_eq!(total, 2);
}
