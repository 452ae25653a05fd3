//! SLA policies, business hours and the escalation supervisor, through the API: clocks
//! start, pause, are met and breach; breach actions run once, audited, with an activity
//! line; timers survive a restart. The hub's SLA clock is moved forward, so a one-hour
//! target passes in milliseconds.

use std::time::Duration;

use chrono::{Datelike, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{call, call_ok, change, conversation_path, post_message};
use crate::helpers::{ApiInbox, TestApp, assert_error, eventually, message_event, spawn_app};

const HOUR: Duration = Duration::from_secs(3600);

fn advance(app: &TestApp, by: Duration) {
    app.state.hub.sla.clock.advance(by);
}

async fn create_policy(app: &TestApp, admin: &str, body: Value) -> Value {
    call_ok(
        app,
        admin,
        Method::POST,
        "/api/v1/sla-policies",
        Some(body),
        StatusCode::CREATED,
    )
    .await
}

async fn sla_of(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_json(token, &format!("{}/sla", conversation_path(id)))
        .await
}

/// Waits until the conversation's SLA answer satisfies `check`.
async fn sla_until(app: &TestApp, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(app, token, &format!("{}/sla", conversation_path(id)), check).await
}

async fn audit_count(app: &TestApp, admin: &str, action: &str) -> usize {
    app.audit_actions(admin, 200)
        .await
        .iter()
        .filter(|a| a.as_str() == action)
        .count()
}

/// The conversation's activity lines (the hub's own private notes).
async fn activity(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let messages = app
        .get_json(
            token,
            &format!("{}/messages?limit=100", conversation_path(id)),
        )
        .await;
    messages["data"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|m| m["sender_type"] == "system")
                .filter_map(|m| m["content"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An agent replies; waits until the first response clock shows as met.
async fn reply_meets_first_response(app: &TestApp, admin: &str, id: &str, text: &str) -> Value {
    call_ok(
        app,
        admin,
        Method::POST,
        &format!("{}/messages", conversation_path(id)),
        Some(json!({"content": text})),
        StatusCode::CREATED,
    )
    .await;
    sla_until(app, admin, id, |s| s["clocks"][0]["met_at"].is_string()).await
}

async fn first_message(app: &TestApp, inbox: &ApiInbox, external_id: &str, who: &str) -> String {
    post_message(
        app,
        inbox,
        &message_event(external_id, who, "where is my order?"),
    )
    .await
}

#[actix_web::test]
async fn a_breach_runs_its_actions_once_audited_with_an_activity_line() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let team = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Escalations"})),
        StatusCode::CREATED,
    )
    .await;
    let team_id = team["id"].as_str().unwrap_or_default().to_owned();
    let policy = create_policy(
        &app,
        &admin,
        json!({
            "name": "Standard",
            "first_response_secs": 3600,
            "resolution_secs": 8 * 3600,
            "warn_percent": 80,
            "actions": [
                {"on": "warning", "do": "add_label", "label": "SLA-Warning"},
                {"on": "breach", "do": "raise_priority", "priority": "urgent"},
                {"on": "breach", "do": "set_team", "team_id": team_id},
            ],
        }),
    )
    .await;
    assert_eq!(
        policy["actions"][0]["label"], "sla-warning",
        "labels are normalized"
    );
    let mut watcher = app.websocket(&admin, None).await;
    let id = first_message(&app, &inbox, "m-1", "cust-1").await;

    // The first-response clock runs: an hour of calendar time (no business hours).
    let answer = sla_until(&app, &admin, &id, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;
    assert_eq!(answer["sla"]["state"], "ok");
    assert_eq!(answer["sla"]["paused"], false);
    let left = answer["sla"]["remaining_secs"].as_i64().unwrap_or_default();
    assert!((3590..=3600).contains(&left), "an hour left, not {left}");
    let event = watcher.next_of("conversation.sla").await;
    assert_eq!(event["data"]["conversation_id"], id.as_str());
    assert_eq!(event["data"]["sla"]["target"], "first_response");

    // 49 minutes: past 80 % → the warning's label.
    advance(&app, Duration::from_secs(49 * 60));
    let shown = eventually(&app, &admin, &conversation_path(&id), |c| {
        c["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("sla-warning")))
    })
    .await;
    assert_eq!(shown["sla"]["state"], "warning");
    assert_eq!(
        shown["priority"], "none",
        "the breach actions wait for the breach"
    );
    let at_risk = app
        .get_json(&admin, "/api/v1/conversations?sla=at_risk")
        .await;
    assert_eq!(
        at_risk["data"][0]["id"],
        id.as_str(),
        "breaching soon: {at_risk}"
    );
    assert_eq!(at_risk["data"].as_array().map(Vec::len), Some(1));

    // Past the hour: priority raised, team set, activity line, audited.
    advance(&app, Duration::from_secs(12 * 60));
    let shown = eventually(&app, &admin, &conversation_path(&id), |c| {
        c["priority"] == "urgent"
    })
    .await;
    assert_eq!(shown["team_id"], team_id.as_str());
    assert_eq!(shown["sla"]["state"], "breached");
    assert!(shown["sla"]["remaining_secs"].as_i64().unwrap_or_default() < 0);
    let lines = activity(&app, &admin, &id).await;
    assert_eq!(
        lines.len(),
        2,
        "a warning line and a breach line: {lines:?}"
    );
    assert!(
        lines[0].starts_with("First response SLA due soon"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("First response SLA breached")
            && lines[1].contains("priority raised to urgent")
            && lines[1].contains("handed to team Escalations"),
        "{lines:?}"
    );
    assert_eq!(audit_count(&app, &admin, "sla.breach").await, 1);
    assert_eq!(audit_count(&app, &admin, "sla.warning").await, 1);
    assert!(audit_count(&app, &admin, "conversation.priority").await >= 1);
    let sla = sla_of(&app, &admin, &id).await;
    let first = &sla["clocks"][0];
    assert_eq!(first["target"], "first_response");
    assert!(
        first["breached_at"].is_string() && first["warned_at"].is_string(),
        "{sla}"
    );

    // Later passes, and a restart, fire nothing again.
    advance(&app, HOUR);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let app = app.restart().await;
    let admin = app.admin_token().await;
    advance(&app, 2 * HOUR);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        audit_count(&app, &admin, "sla.breach").await,
        1,
        "fired once"
    );
    assert_eq!(activity(&app, &admin, &id).await.len(), 2);

    // The agent's reply meets the (late) first response; the clock is kept as history.
    change(&app, &admin, &id, "status", json!({"status": "open"})).await;
    let sla = reply_meets_first_response(&app, &admin, &id, "Sorry for the wait!").await;
    assert_eq!(
        sla["sla"]["target"], "resolution",
        "only the resolution clock runs: {sla}"
    );
}

#[actix_web::test]
async fn a_timer_set_before_a_restart_fires_after_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    create_policy(
        &app,
        &admin,
        json!({"name": "Fast", "first_response_secs": 600, "actions": [
            {"on": "breach", "do": "add_label", "label": "late"}
        ]}),
    )
    .await;
    let id = first_message(&app, &inbox, "m-1", "cust-1").await;
    sla_until(&app, &admin, &id, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;

    let app = app.restart().await;
    let admin = app.admin_token().await;
    // The new process reloads the due time from the database and sleeps until it.
    advance(&app, Duration::from_secs(601));
    let shown = eventually(&app, &admin, &conversation_path(&id), |c| {
        c["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("late")))
    })
    .await;
    assert_eq!(shown["sla"]["state"], "breached");
    assert_eq!(audit_count(&app, &admin, "sla.breach").await, 1);
}

#[actix_web::test]
async fn pending_pauses_the_clock_and_a_reply_meets_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    create_policy(
        &app,
        &admin,
        json!({"name": "Hour", "first_response_secs": 3600, "next_response_secs": 1800}),
    )
    .await;
    let id = first_message(&app, &inbox, "m-1", "cust-1").await;
    sla_until(&app, &admin, &id, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;

    // Ten minutes pass, then the conversation waits on the customer for two hours.
    advance(&app, Duration::from_secs(600));
    change(&app, &admin, &id, "status", json!({"status": "pending"})).await;
    sla_until(&app, &admin, &id, |s| s["sla"]["paused"] == true).await;
    advance(&app, 2 * HOUR);
    change(&app, &admin, &id, "status", json!({"status": "open"})).await;
    let sla = sla_until(&app, &admin, &id, |s| s["sla"]["paused"] == false).await;
    let left = sla["sla"]["remaining_secs"].as_i64().unwrap_or_default();
    assert!(
        (2990..=3000).contains(&left),
        "50 minutes left, not {left}: {sla}"
    );
    assert_eq!(sla["sla"]["state"], "ok");

    // The reply meets it; the customer's next message starts the next-response clock.
    let sla = reply_meets_first_response(&app, &admin, &id, "Looking into it").await;
    assert!(
        sla["sla"].is_null(),
        "no target runs while nobody waits: {sla}"
    );
    post_message(&app, &inbox, &message_event("m-2", "cust-1", "any news?")).await;
    let sla = sla_until(&app, &admin, &id, |s| s["sla"]["target"] == "next_response").await;
    assert_eq!(sla["sla"]["target_secs"], 1800);
    advance(&app, 2 * HOUR);
    let breached = |s: &Value| {
        s["clocks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|k| k["breached_at"].is_string()))
    };
    let sla = sla_until(&app, &admin, &id, breached).await;
    assert_eq!(sla["sla"]["state"], "breached");
    assert_eq!(audit_count(&app, &admin, "sla.breach").await, 1);
    assert!(activity(&app, &admin, &id).await[0].starts_with("Next response SLA breached"));
}

#[actix_web::test]
async fn business_hours_move_the_due_time_and_close_the_inbox() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let day = json!([["00:00", "24:00"]]);
    let today = app.state.hub.sla.clock.now().date_naive();
    let schedule = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/business-hours",
        Some(json!({
            "name": "Every day but today",
            "time_zone": "UTC",
            "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
            "closed_dates": [today.format("%Y-%m-%d").to_string()],
        })),
        StatusCode::CREATED,
    )
    .await;
    let schedule_id = schedule["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/v1/inboxes/{}/business-hours", inbox.id);
    call_ok(
        &app,
        &admin,
        Method::PUT,
        &path,
        Some(json!({"business_hours_id": schedule_id})),
        StatusCode::OK,
    )
    .await;
    let open = app.get_json(&admin, &path).await;
    assert_eq!(open["open_now"], false, "{open}");
    assert_eq!(open["business_hours_id"], schedule_id.as_str());
    create_policy(
        &app,
        &admin,
        json!({"name": "Hour", "first_response_secs": 3600}),
    )
    .await;

    let id = first_message(&app, &inbox, "m-1", "cust-1").await;
    let sla = sla_until(&app, &admin, &id, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;
    // Closed all of today: the hour runs from tomorrow 00:00 UTC.
    let tomorrow = today.succ_opt().unwrap_or(today);
    let due = tomorrow.and_hms_opt(1, 0, 0).map(|t| t.and_utc());
    let shown: Option<chrono::DateTime<Utc>> =
        sla["sla"]["due_at"].as_str().and_then(|d| d.parse().ok());
    assert_eq!(shown, due, "{sla}");
    assert_eq!(
        sla["sla"]["remaining_secs"], 3600,
        "no business time used today"
    );
    assert_eq!(today.weekday(), app.state.hub.sla.clock.now().weekday());
}

/// POSTs `body` to `path` and checks the 422 names `field` first.
async fn refused(app: &TestApp, admin: &str, path: &str, body: Value, field: &str) {
    let response = app.api(admin, Method::POST, path, Some(body.clone())).await;
    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "{body} → {error}"
    );
}

#[actix_web::test]
async fn bad_schedules_and_policies_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ok_hours = json!({"mon": [["09:00", "17:00"]]});
    let cases = [
        (
            json!({"name": "x", "time_zone": "Mars/Olympus", "hours": ok_hours}),
            "time_zone",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "hours": {"mon": [["17:00", "09:00"]]}}),
            "hours.mon[0]",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}),
            "hours.mon[1]",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "hours": {}}),
            "hours",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "hours": ok_hours, "closed_dates": ["tomorrow"]}),
            "closed_dates[0]",
        ),
        (json!({"time_zone": "UTC", "hours": ok_hours}), "name"),
    ];
    for (body, field) in cases {
        refused(&app, &admin, "/api/v1/business-hours", body, field).await;
    }
    let policies = [
        (
            json!({"name": "p", "first_response_secs": -60}),
            "first_response_secs",
        ),
        (json!({"name": "p"}), "first_response_secs"),
        (
            json!({"name": "p", "resolution_secs": 60, "inbox_id": "999"}),
            "inbox_id",
        ),
        (
            json!({"name": "p", "resolution_secs": 60, "actions": [{"on": "breach", "do": "set_team", "team_id": "999"}]}),
            "actions[0].team_id",
        ),
        (
            json!({"name": "p", "resolution_secs": 60, "warn_percent": 0}),
            "warn_percent",
        ),
    ];
    for (body, field) in policies {
        refused(&app, &admin, "/api/v1/sla-policies", body, field).await;
    }
    // Nothing was stored.
    assert_eq!(
        app.get_json(&admin, "/api/v1/business-hours").await["data"],
        json!([])
    );
    assert_eq!(
        app.get_json(&admin, "/api/v1/sla-policies").await["data"],
        json!([])
    );

    // A PATCH is checked as a whole and leaves the stored policy as it was when refused.
    let policy = create_policy(&app, &admin, json!({"name": "p", "resolution_secs": 60})).await;
    let path = format!(
        "/api/v1/sla-policies/{}",
        policy["id"].as_str().unwrap_or_default()
    );
    let (status, _) = call(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"resolution_secs": null})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a policy without any target"
    );
    assert_eq!(app.get_json(&admin, &path).await["resolution_secs"], 60);
    let changed = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"resolution_secs": 120})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["resolution_secs"], 120);
    assert_eq!(changed["name"], "p");

    // Agents read; only admins change.
    let (_, agent_token) =
        crate::conversation_helpers::agent(&app, &admin, "ada@example.com").await;
    app.get_json(&agent_token, "/api/v1/sla-policies").await;
    let response = app
        .api(
            &agent_token,
            Method::POST,
            "/api/v1/sla-policies",
            Some(json!({"name": "q", "resolution_secs": 60})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let duplicate = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/sla-policies",
            Some(json!({"name": "p", "resolution_secs": 60})),
        )
        .await;
    assert_error(duplicate, StatusCode::CONFLICT, "name_taken").await;
}

#[actix_web::test]
async fn deleting_the_last_policy_ends_the_running_clocks() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let policy = create_policy(
        &app,
        &admin,
        json!({"name": "Hour", "first_response_secs": 3600}),
    )
    .await;
    let id = first_message(&app, &inbox, "m-1", "cust-1").await;
    sla_until(&app, &admin, &id, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;

    let path = format!(
        "/api/v1/sla-policies/{}",
        policy["id"].as_str().unwrap_or_default()
    );
    call_ok(
        &app,
        &admin,
        Method::DELETE,
        &path,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let sla = sla_until(&app, &admin, &id, |s| s["sla"].is_null()).await;
    let first = &sla["clocks"][0];
    assert!(
        first["ended_at"].is_string() && first["met_at"].is_null(),
        "{sla}"
    );
    // Nothing fires for it any more.
    advance(&app, 2 * HOUR);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(audit_count(&app, &admin, "sla.breach").await, 0);
}

#[actix_web::test]
async fn sorting_by_sla_due_lists_the_soonest_first_and_pages_in_that_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    // Urgent conversations get 10 minutes, the rest an hour.
    create_policy(
        &app,
        &admin,
        json!({"name": "Urgent", "position": 0, "priority": "urgent", "first_response_secs": 600}),
    )
    .await;
    create_policy(
        &app,
        &admin,
        json!({"name": "Hour", "position": 1, "first_response_secs": 3600}),
    )
    .await;
    let older = first_message(&app, &inbox, "s-1", "cust-1").await;
    sla_until(&app, &admin, &older, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;
    advance(&app, Duration::from_secs(60));
    let newer = first_message(&app, &inbox, "s-2", "cust-2").await;
    sla_until(&app, &admin, &newer, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;
    advance(&app, Duration::from_secs(60));
    let urgent = first_message(&app, &inbox, "s-3", "cust-3").await;
    change(
        &app,
        &admin,
        &urgent,
        "priority",
        json!({"priority": "urgent"}),
    )
    .await;
    sla_until(&app, &admin, &urgent, |s| {
        s["clocks"][0]["target_secs"] == 600
    })
    .await;
    // Answered: its clock is met, so it has nothing due and is left out.
    let answered = first_message(&app, &inbox, "s-4", "cust-4").await;
    sla_until(&app, &admin, &answered, |s| {
        s["sla"]["target"] == "first_response"
    })
    .await;
    reply_meets_first_response(&app, &admin, &answered, "Hello!").await;

    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = eventually(
        &app,
        &admin,
        "/api/v1/conversations?sort=sla_due&limit=2",
        |p| p["data"].as_array().map(Vec::len) == Some(2),
    )
    .await;
    assert_eq!(ids(&first), vec![urgent.clone(), older.clone()], "{first}");
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let second = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations?sort=sla_due&limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&second), vec![newer.clone()], "{second}");
    assert_eq!(second["next_cursor"], Value::Null);
    // The default order is still the newest activity first, with every conversation.
    let recent = app.get_json(&admin, "/api/v1/conversations").await;
    assert_eq!(ids(&recent).len(), 4, "{recent}");
    assert_eq!(ids(&recent)[0], answered);
    // Filters apply to the sorted list too.
    let urgent_only = app
        .get_json(&admin, "/api/v1/conversations?sort=sla_due&priority=urgent")
        .await;
    assert_eq!(ids(&urgent_only), vec![urgent]);

    let (status, error) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/conversations?sort=oldest",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("sort: ")),
        "{error}"
    );
}

/// Two nodes on one PostgreSQL database both hold the timer; only one records the breach
/// and runs its actions (the `IS NULL` guard of the write), once. On SQLite there is one
/// node by design, so this runs on PostgreSQL only (CI runs both backends).
#[actix_web::test]
async fn with_two_nodes_only_one_fires_each_timer() {
    let app = spawn_app().await;
    if !app.db.is_postgres() {
        return;
    }
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    create_policy(
        &app,
        &admin,
        json!({"name": "Fast", "first_response_secs": 600, "actions": [
            {"on": "warning", "do": "add_label", "label": "soon"},
            {"on": "breach", "do": "add_label", "label": "late"},
            {"on": "breach", "do": "raise_priority", "priority": "high"}
        ]}),
    )
    .await;
    let ids = [
        first_message(&app, &inbox, "m-1", "cust-1").await,
        first_message(&app, &inbox, "m-2", "cust-2").await,
        first_message(&app, &inbox, "m-3", "cust-3").await,
    ];
    for id in &ids {
        sla_until(&app, &admin, id, |s| s["sla"]["target"] == "first_response").await;
    }
    // The second node loads the same timers at start and sleeps until them too.
    let other = app.second_node().await;
    // Past 80 %: the warnings; past the target: the breaches.
    for (secs, label) in [(481, "soon"), (120, "late")] {
        advance(&other, Duration::from_secs(secs));
        advance(&app, Duration::from_secs(secs));
        for id in &ids {
            eventually(&app, &admin, &conversation_path(id), |c| {
                c["labels"]
                    .as_array()
                    .is_some_and(|l| l.contains(&json!(label)))
            })
            .await;
        }
    }
    // Both supervisors have had their chance (their passes run every 200 ms when due).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(audit_count(&app, &admin, "sla.warning").await, 3);
    assert_eq!(audit_count(&app, &admin, "sla.breach").await, 3);
    for id in &ids {
        let lines = activity(&app, &admin, id).await;
        let breaches = lines.iter().filter(|l| l.contains("breached")).count();
        let warnings = lines.iter().filter(|l| l.contains("due soon")).count();
        assert_eq!((warnings, breaches), (1, 1), "{lines:?}");
    }
    // Each node counts what it recorded: together, each stage of each timer once.
    let mut fired = 0.0;
    for node in [&app, &other] {
        let text = node.metrics_text().await;
        fired += text
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_sla_fired_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no fired counter in {text}"));
    }
    assert_eq!(fired, 6.0);
}
