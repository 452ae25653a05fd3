//! The router: new conversations go to online members of the inbox, in turn, within their
//! capacity, and wait while nobody is online.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{
    agent, call_ok, change, conversation_path, is_presence, post_message, read_until, sorted,
};
use crate::helpers::{TestApp, message_event, spawn_app};

/// Waits until the router has assigned the conversation; returns the assignee. Routing
/// takes milliseconds; 5 s stays well below the router's 15 s safety sweep, so a missing
/// trigger fails here instead of being rescued by the sweep.
async fn assignee_of(app: &TestApp, admin: &str, id: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let shown = app.get_json(admin, &conversation_path(id)).await;
        if let Some(assignee) = shown["assignee_id"].as_str() {
            return assignee.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "conversation {id} was not routed within 5 s: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[actix_web::test]
async fn the_router_assigns_to_online_members_and_holds_conversations_while_nobody_is_online() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    // The admin is online but no member of the inbox: not a routing target.
    let mut watcher = app.websocket(&admin, None).await;

    let waiting = post_message(&app, &inbox, &message_event("m-1", "cust-1", "anyone?")).await;
    let shown = app.get_json(&admin, &conversation_path(&waiting)).await;
    assert_eq!(shown["assignee_id"], Value::Null, "nobody online: it waits");
    assert_eq!(shown["status"], "open");

    let socket = app.websocket(&ada_token, None).await;
    read_until(&mut watcher, "ada online", |f| {
        is_presence(f, &ada, "online")
    })
    .await;
    assert_eq!(
        assignee_of(&app, &admin, &waiting).await,
        ada,
        "assigned when she came online"
    );
    let event = read_until(&mut watcher, "the assignment event", |f| {
        f["type"] == "conversation.updated" && f["data"]["conversation"]["id"] == waiting.as_str()
    })
    .await;
    assert_eq!(
        event.last().expect("event")["data"]["conversation"]["assignee_id"],
        ada.as_str()
    );

    let fresh = post_message(&app, &inbox, &message_event("m-2", "cust-2", "hello")).await;
    assert_eq!(
        assignee_of(&app, &admin, &fresh).await,
        ada,
        "new conversations go to her"
    );
    let entry = app.get_json(&admin, "/api/v1/audit?limit=1").await["data"][0].clone();
    assert_eq!(entry["action"], "conversation.assign");
    assert_eq!(entry["actor_type"], "system");

    socket.close().await;
    read_until(&mut watcher, "ada offline", |f| {
        is_presence(f, &ada, "offline")
    })
    .await;
}

#[actix_web::test]
async fn the_router_alternates_between_online_members() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    for member in [&ada, &bob] {
        app.add_member(&admin, &inbox.id, member).await;
    }
    let _ada_socket = app.websocket(&ada_token, None).await;
    let _bob_socket = app.websocket(&bob_token, None).await;

    let mut assignees = Vec::new();
    for i in 0..4 {
        let event = message_event(&format!("m-{i}"), &format!("cust-{i}"), "hello");
        let id = post_message(&app, &inbox, &event).await;
        assignees.push(assignee_of(&app, &admin, &id).await);
    }
    let (x, y) = (assignees[0].clone(), assignees[1].clone());
    assert_eq!(
        sorted(vec![x.clone(), y.clone()]),
        sorted(vec![ada, bob]),
        "the first two conversations went to different agents: {assignees:?}"
    );
    assert_eq!(assignees, vec![x.clone(), y.clone(), x, y], "round robin");
}

#[actix_web::test]
async fn the_router_respects_capacity() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    // ada has the lower id, so round robin would come back to her every other time.
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    for member in [&ada, &bob] {
        app.add_member(&admin, &inbox.id, member).await;
    }
    let patched = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/agents/{ada}"),
        Some(json!({"capacity": 1})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["capacity"], 1);

    let _ada_socket = app.websocket(&ada_token, None).await;
    let first = post_message(&app, &inbox, &message_event("m-1", "cust-1", "one")).await;
    assert_eq!(assignee_of(&app, &admin, &first).await, ada);

    let _bob_socket = app.websocket(&bob_token, None).await;
    let mut later = Vec::new();
    for i in 2..=4 {
        let event = message_event(&format!("m-{i}"), &format!("cust-{i}"), "hello");
        let id = post_message(&app, &inbox, &event).await;
        later.push(assignee_of(&app, &admin, &id).await);
    }
    assert_eq!(
        later,
        vec![bob.clone(), bob.clone(), bob.clone()],
        "ada is at her capacity of one open conversation"
    );

    // Resolving hers frees her for the next one.
    change(
        &app,
        &ada_token,
        &first,
        "status",
        json!({"status": "resolved"}),
    )
    .await;
    let next = post_message(&app, &inbox, &message_event("m-5", "cust-5", "five")).await;
    assert_eq!(assignee_of(&app, &admin, &next).await, ada);
}

/// A long backlog in an inbox whose agents are all at capacity must not keep another
/// inbox's waiting conversation from an agent who comes online with room.
#[actix_web::test]
async fn a_full_inbox_backlog_does_not_starve_other_inboxes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let busy = app.create_api_inbox(&admin, None).await;
    let quiet = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &busy.id, &ada).await;
    app.add_member(&admin, &quiet.id, &bob).await;
    call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/agents/{ada}"),
        Some(json!({"capacity": 1})),
        StatusCode::OK,
    )
    .await;
    let _ada_socket = app.websocket(&ada_token, None).await;
    let first = post_message(&app, &busy, &message_event("b-0", "busy-0", "first")).await;
    assert_eq!(assignee_of(&app, &admin, &first).await, ada);
    // 250 more in the busy inbox: ada is full, so they all wait.
    for batch in 0..5 {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                let n = batch * 50 + i + 1;
                message_event(&format!("b-{n}"), &format!("busy-{n}"), "waiting")
            })
            .collect();
        let response = app
            .post_signed(&busy, "", &json!({ "events": events }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Then one in the quiet inbox while bob is away; it waits too.
    let newer = post_message(&app, &quiet, &message_event("q-1", "quiet-1", "hello")).await;
    let shown = app.get_json(&admin, &conversation_path(&newer)).await;
    assert_eq!(shown["assignee_id"], Value::Null);

    let _bob_socket = app.websocket(&bob_token, None).await;
    assert_eq!(
        assignee_of(&app, &admin, &newer).await,
        bob,
        "bob gets the quiet inbox's conversation despite the other backlog"
    );
}
