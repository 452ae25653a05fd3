//! Agents' notifications: assignment, @mentions in notes, customers' messages in your
//! conversations and SLA breaches reach the right agent (live and in the list), never the
//! one who acted, and only their own agent can read or mark them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, call, call_ok, change, conversation_path, post_message};
use crate::helpers::{TestApp, eventually, message_event, spawn_app};

async fn notifications(app: &TestApp, token: &str) -> Value {
    app.get_json(token, "/api/v1/notifications").await
}

/// Waits until the agent's list holds `n` notifications; answers it.
async fn until_count(app: &TestApp, token: &str, n: usize) -> Value {
    eventually(app, token, "/api/v1/notifications", |l| {
        l["data"].as_array().map(Vec::len) == Some(n)
    })
    .await
}

#[actix_web::test]
async fn an_assignment_notifies_the_assignee_live_and_they_mark_it_read() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    app.add_member(&admin, &inbox.id, &bob).await;
    // Ada is online: the router gives her the new conversation and tells her.
    let mut ada_socket = app.websocket(&ada_token, None).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    let event = ada_socket.next_of("notification.created").await;
    let routed = &event["data"]["notification"];
    assert_eq!(routed["kind"], "assigned");
    assert_eq!(routed["conversation_id"], id.as_str());
    assert_eq!(routed["actor_id"], Value::Null, "the router: {routed}");

    // Taking a conversation yourself tells nobody; a customer's message tells its assignee.
    change(
        &app,
        &bob_token,
        &id,
        "assign",
        json!({"assignee_id": "me"}),
    )
    .await;
    post_message(
        &app,
        &inbox,
        &message_event("m-2", "cust-1", "still there?"),
    )
    .await;
    let bobs = until_count(&app, &bob_token, 1).await;
    assert_eq!(bobs["data"][0]["kind"], "message", "{bobs}");
    assert!(
        bobs["data"][0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("still there?"))
    );

    // An admin hands it back to Ada: she hears who did it, live.
    change(&app, &admin, &id, "assign", json!({"assignee_id": ada})).await;
    let event = ada_socket.next_of("notification.created").await;
    let n = &event["data"]["notification"];
    assert_eq!(n["kind"], "assigned");
    assert!(
        n["body"]
            .as_str()
            .is_some_and(|b| b.ends_with(&format!("assigned you conversation #{id}"))),
        "{n}"
    );
    assert!(n["actor_id"].is_string());
    let list = until_count(&app, &ada_token, 2).await;
    assert_eq!(list["unread_count"], 2);
    assert_eq!(list["data"][0]["id"], n["id"], "newest first");

    // Only its agent marks it; the count follows.
    let nid = n["id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = call(
        &app,
        &bob_token,
        Method::POST,
        &format!("/api/v1/notifications/{nid}/read"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let read = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("/api/v1/notifications/{nid}/read"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["unread_count"], 1);
    let unread = app
        .get_json(&ada_token, "/api/v1/notifications?unread=true")
        .await;
    assert_eq!(unread["data"][0]["id"], routed["id"]);
    let all = call_ok(
        &app,
        &ada_token,
        Method::POST,
        "/api/v1/notifications/read-all",
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["marked"], 1);
    assert_eq!(notifications(&app, &ada_token).await["unread_count"], 0);
    assert_eq!(
        notifications(&app, &bob_token).await["unread_count"],
        1,
        "Bob's stay unread"
    );
}

/// Priya Shah, an agent and member of the inbox; answers her token.
pub(crate) async fn priya(app: &TestApp, admin: &str, inbox_id: &str) -> String {
    let (id, token) = agent(app, admin, "priya@example.com").await;
    call_ok(
        app,
        admin,
        Method::PATCH,
        &format!("/api/v1/agents/{id}"),
        Some(json!({"name": "Priya Shah"})),
        StatusCode::OK,
    )
    .await;
    app.add_member(admin, inbox_id, &id).await;
    token
}

#[actix_web::test]
async fn a_note_notifies_the_members_it_mentions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let priya_token = priya(&app, &admin, &inbox.id).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (_outsider, outsider_token) = agent(&app, &admin, "olga@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let id = post_message(
        &app,
        &inbox,
        &message_event("m-1", "cust-1", "refund please"),
    )
    .await;

    let note = "@Priya can you check the refund? @olga too. Customer wrote to ada@example.com";
    call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{}/messages", conversation_path(&id)),
        Some(json!({"content": note, "private": true})),
        StatusCode::CREATED,
    )
    .await;
    let list = until_count(&app, &priya_token, 1).await;
    let n = &list["data"][0];
    assert_eq!(n["kind"], "mention");
    assert!(
        n["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("Test Agent mentioned you: @Priya")),
        "{n}"
    );
    // Olga is not a member of the inbox; Ada wrote it and her address is no mention.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        notifications(&app, &outsider_token).await["data"],
        json!([])
    );
    assert_eq!(notifications(&app, &ada_token).await["data"], json!([]));
    // A public reply mentions nobody.
    call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{}/messages", conversation_path(&id)),
        Some(json!({"content": "@Priya is on it"})),
        StatusCode::CREATED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        notifications(&app, &priya_token).await["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[actix_web::test]
async fn an_sla_breach_notifies_the_assignee() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"name": "Hour", "first_response_secs": 3600})),
        StatusCode::CREATED,
    )
    .await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    change(&app, &admin, &id, "assign", json!({"assignee_id": ada})).await;
    until_count(&app, &ada_token, 1).await;
    eventually(
        &app,
        &admin,
        &format!("{}/sla", conversation_path(&id)),
        |s| s["sla"]["target"] == "first_response",
    )
    .await;

    app.state.hub.sla.clock.advance(Duration::from_secs(3601));
    let list = until_count(&app, &ada_token, 2).await;
    let n = &list["data"][0];
    assert_eq!(n["kind"], "sla_breach", "{list}");
    assert!(
        n["body"]
            .as_str()
            .is_some_and(|b| b.contains("First response SLA breached")),
        "{n}"
    );
}

#[actix_web::test]
async fn a_policy_notifies_the_team_and_the_admins_it_names() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (lead, lead_token) = agent(&app, &admin, "lead@example.com").await;
    let (remote, remote_token) = agent(&app, &admin, "remote@example.com").await;
    let (_, outsider_token) = agent(&app, &admin, "outsider@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    app.add_member(&admin, &inbox.id, &lead).await;
    let team = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Tier 2"})),
        StatusCode::CREATED,
    )
    .await;
    let team_id = team["id"].as_str().unwrap_or_default().to_owned();
    // The remote member is in the team but not in the inbox: they may not see it.
    for member in [&lead, &remote] {
        call_ok(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/teams/{team_id}/members"),
            Some(json!({"agent_id": member})),
            StatusCode::CREATED,
        )
        .await;
    }
    // A bad target list is refused by name.
    let (status, error) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"name": "Bad", "first_response_secs": 60,
            "actions": [{"on": "breach", "do": "notify", "to": ["everyone"]}]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("actions[0].to: ")),
        "{error}"
    );
    // On breach: hand to Tier 2 and tell the team and the admins (not the assignee).
    let policy = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/sla-policies",
        Some(
            json!({"name": "Hour", "first_response_secs": 3600, "actions": [
                {"on": "breach", "do": "set_team", "team_id": team_id},
                {"on": "breach", "do": "notify", "to": ["team", "admins"]},
            ]}),
        ),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        policy["actions"][1],
        json!({"on": "breach", "do": "notify", "to": ["team", "admins"]})
    );
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    change(&app, &admin, &id, "assign", json!({"assignee_id": ada})).await;
    until_count(&app, &ada_token, 1).await;
    eventually(
        &app,
        &admin,
        &format!("{}/sla", conversation_path(&id)),
        |s| s["sla"]["target"] == "first_response",
    )
    .await;

    app.state.hub.sla.clock.advance(Duration::from_secs(3601));
    let leads = until_count(&app, &lead_token, 1).await;
    assert_eq!(leads["data"][0]["kind"], "sla_breach", "{leads}");
    let admins = eventually(&app, &admin, "/api/v1/notifications", |l| {
        l["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n["kind"] == "sla_breach"))
    })
    .await;
    assert!(admins["unread_count"].as_i64() >= Some(1));
    // Ada (assigned, not named), the team member who cannot see the inbox and an agent
    // outside the team hear nothing of it.
    let remotes = app.get_json(&remote_token, "/api/v1/notifications").await;
    assert_eq!(remotes["data"], json!([]), "{remotes}");
    let adas = app.get_json(&ada_token, "/api/v1/notifications").await;
    assert_eq!(adas["data"].as_array().map(Vec::len), Some(1), "{adas}");
    assert_eq!(adas["data"][0]["kind"], "assigned");
    let outsiders = app.get_json(&outsider_token, "/api/v1/notifications").await;
    assert_eq!(outsiders["data"], json!([]), "{outsiders}");
}
