//! Agents' side of the unified stream: the resumable realtime socket, conversation lists
//! with filters and cursors, messages by seq, assignment/status/priority/labels, unread
//! counts, contacts and merges, the router, and who may see or manage what.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    AgentSocket, ApiInbox, TestApp, assert_error, message_event, spawn_app, spawn_app_with,
};

// ---------------------------------------------------------------------------------------
// Helpers of this file
// ---------------------------------------------------------------------------------------

/// A message event from a contact with its own name and email.
fn event_from(
    external_id: &str,
    identifier: &str,
    name: &str,
    email: &str,
    content: &str,
) -> Value {
    json!({
        "type": "message",
        "external_id": external_id,
        "contact": {"identifier": identifier, "name": name, "email": email},
        "content": content,
        "timestamp": "2026-11-23T10:00:00Z",
    })
}

/// Sends a request with a Bearer token; returns the status and the JSON body (null if empty).
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let response = app.api(token, method.clone(), path, body).await;
    let status = response.status();
    let text = response.text().await.expect("response body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {text}"))
    };
    (status, json)
}

/// Sends a request that must succeed with `expected`; returns the JSON body.
async fn call_ok(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    expected: StatusCode,
) -> Value {
    let (status, json) = call(app, token, method.clone(), path, body).await;
    assert_eq!(status, expected, "{method} {path} answered {json}");
    json
}

/// Posts a signed webhook body; returns the conversation id of its first stored event.
async fn post_message(app: &TestApp, inbox: &ApiInbox, event: &Value) -> String {
    let response = app.post_signed(inbox, "", event).await;
    assert_eq!(response.status(), StatusCode::OK, "webhook accepted");
    let body: Value = response.json().await.expect("webhook answer");
    body["stored"][0]["conversation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no conversation id in {body}"))
        .to_owned()
}

fn conversation_path(id: &str) -> String {
    format!("/api/v1/conversations/{id}")
}

/// The ids of a `{"data":[...]}` answer, in order.
fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array in {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Ids as a sorted list, to compare sets with clear failure output.
fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The ids a list query returns (first page, large enough for these tests), as a set.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let page = app
        .get_json(token, &format!("/api/v1/conversations?limit=200&{query}"))
        .await;
    sorted(ids(&page))
}

/// Reads frames until one matches `stop`; returns every frame read, that one last.
async fn read_until(
    socket: &mut AgentSocket,
    what: &str,
    stop: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let Some(frame) = socket.next_within(Duration::from_secs(10)).await else {
            panic!(
                "no frame for {what} within 10 s; read {}",
                summary(&frames).join(", ")
            );
        };
        let done = stop(&frame);
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn is_message(frame: &Value, content: &str) -> bool {
    frame["type"] == "message.created" && frame["data"]["message"]["content"] == content
}

fn is_presence(frame: &Value, agent_id: &str, status: &str) -> bool {
    frame["type"] == "presence"
        && frame["data"]["agent_id"] == agent_id
        && frame["data"]["status"] == status
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("frame without seq: {frame}"))
}

/// `"<seq> <type>"` per frame, for failure messages.
fn summary(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| format!("{} {}", f["seq"], f["type"].as_str().unwrap_or("?")))
        .collect()
}

/// The inbox an event frame belongs to (`None` for presence and typing).
fn inbox_of(frame: &Value) -> Option<&str> {
    let data = &frame["data"];
    data["message"]["inbox_id"]
        .as_str()
        .or_else(|| data["conversation"]["inbox_id"].as_str())
}

/// Creates an agent and returns its id and an API token.
async fn agent(app: &TestApp, admin: &str, email: &str) -> (String, String) {
    let (id, password) = app.create_agent(admin, email, "agent").await;
    let token = app.token_for(email, &password).await;
    (id, token)
}

// ---------------------------------------------------------------------------------------
// 1. Resume
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn reconnecting_with_a_sequence_replays_exactly_the_missed_events() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let hidden = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;

    // The watcher stays connected all along; an admin sees every event of the hub.
    let mut watcher = app.websocket(&admin, None).await;
    let mut watched = Vec::new();
    let mut socket = app.websocket(&ada_token, None).await;
    assert_eq!(socket.hello["data"]["start"], "fresh");
    let epoch = socket.epoch();
    assert_eq!(watcher.epoch(), epoch, "one stream per hub");

    let first = post_message(&app, &inbox, &message_event("m-1", "cust-1", "first")).await;
    let seen = read_until(&mut socket, "the first message", |f| is_message(f, "first")).await;
    let last_seen = seq_of(seen.last().expect("a frame"));
    socket.close().await;
    // Once the hub has noticed, nothing else can reach the old connection.
    watched.extend(
        read_until(&mut watcher, "ada going offline", |f| {
            is_presence(f, &ada, "offline")
        })
        .await,
    );

    // Missed while away: three messages (one opens a conversation), one in an inbox ada
    // does not belong to, and an assignment.
    post_message(&app, &inbox, &message_event("m-2", "cust-1", "second")).await;
    let second = post_message(&app, &inbox, &message_event("m-3", "cust-2", "third")).await;
    post_message(&app, &inbox, &message_event("m-4", "cust-1", "fourth")).await;
    post_message(
        &app,
        &hidden,
        &message_event("h-1", "cust-9", "not for ada"),
    )
    .await;
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{}/assign", conversation_path(&second)),
        Some(json!({"assignee_id": ada})),
        StatusCode::OK,
    )
    .await;
    watched.extend(
        read_until(&mut watcher, "the assignment", |f| {
            f["type"] == "conversation.updated"
                && f["data"]["conversation"]["id"] == second.as_str()
                && f["data"]["conversation"]["assignee_id"] == ada.as_str()
        })
        .await,
    );

    let mut resumed = app.websocket(&ada_token, Some((&epoch, last_seen))).await;
    assert_eq!(
        resumed.hello["data"]["start"], "resumed",
        "hello: {}",
        resumed.hello
    );
    assert_eq!(resumed.hello["data"]["epoch"], epoch.as_str());
    let resumed_at = resumed.hello["data"]["seq"].as_u64().expect("hello seq");
    assert!(
        resumed_at >= seq_of(watched.last().expect("watched")),
        "hello seq {resumed_at} is behind events already sent"
    );

    // Live events continue after the replay.
    post_message(&app, &inbox, &message_event("m-5", "cust-2", "live")).await;
    let got = read_until(&mut resumed, "the live message", |f| is_message(f, "live")).await;
    watched.extend(read_until(&mut watcher, "the live message", |f| is_message(f, "live")).await);

    // The watcher's stream is the reference: contiguous, as it sees everything.
    let all: Vec<u64> = watched.iter().map(seq_of).collect();
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "the admin's stream has gaps or repeats: {:?}",
        summary(&watched)
    );
    let expected: Vec<Value> = watched
        .iter()
        .filter(|f| seq_of(f) > last_seen)
        .filter(|f| inbox_of(f).is_none_or(|id| id == inbox.id))
        .cloned()
        .collect();
    assert_eq!(
        summary(&got),
        summary(&expected),
        "resumed from {last_seen}: got vs what ada should have seen"
    );
    assert_eq!(got, expected, "same events, same content");
    assert_eq!(seq_of(&got[0]), last_seen + 1, "replay starts right after");

    let replayed: Vec<&Value> = got.iter().filter(|f| seq_of(f) <= resumed_at).collect();
    let contents: Vec<&str> = replayed
        .iter()
        .filter(|f| f["type"] == "message.created")
        .map(|f| f["data"]["message"]["content"].as_str().expect("content"))
        .collect();
    assert_eq!(
        contents,
        ["second", "third", "fourth"],
        "missed messages in order"
    );
    assert!(
        replayed.iter().any(|f| f["type"] == "conversation.updated"
            && f["data"]["conversation"]["id"] == second.as_str()
            && f["data"]["conversation"]["assignee_id"] == ada.as_str()),
        "the assignment is replayed: {:?}",
        summary(&got)
    );
    assert!(
        got.iter().all(|f| inbox_of(f) != Some(hidden.id.as_str())),
        "events of an inbox ada is not in leaked into the replay"
    );
    let live = got.last().expect("live frame");
    assert!(
        seq_of(live) > resumed_at,
        "the live message came after the replay"
    );
    assert_eq!(live["data"]["message"]["conversation_id"], second.as_str());
    assert_ne!(first, second);
}

#[actix_web::test]
async fn resuming_from_a_point_the_hub_cannot_serve_asks_for_resync() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut socket = app.websocket(&admin, None).await;
    let epoch = socket.epoch();
    app.inbound(&inbox, "m-1", "cust-1", "hello").await;
    let seen = read_until(&mut socket, "the message", |f| is_message(f, "hello")).await;
    let last = seq_of(seen.last().expect("frame"));

    let mut other_epoch = app
        .websocket(&admin, Some(("0123456789abcdef", last)))
        .await;
    assert_eq!(other_epoch.hello["data"]["start"], "resync");
    assert!(
        other_epoch.hello["data"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "a reason: {}",
        other_epoch.hello
    );
    let mut future = app.websocket(&admin, Some((&epoch, last + 1000))).await;
    assert_eq!(future.hello["data"]["start"], "resync", "{}", future.hello);
    assert_eq!(future.hello["data"]["epoch"], epoch.as_str());

    // Either way the socket continues live, without replaying anything old.
    app.inbound(&inbox, "m-2", "cust-1", "after").await;
    for s in [&mut other_epoch, &mut future] {
        let frame = s.next_of("message.created").await;
        assert_eq!(
            frame["data"]["message"]["content"], "after",
            "nothing replayed"
        );
    }

    // epoch and since go together.
    let response = app
        .api(&admin, Method::GET, "/api/v1/ws?epoch=abc", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
    // A plain GET (no websocket handshake) is refused and registers no subscriber.
    let before = app.state.hub.events.subscriber_count();
    let response = app.api(&admin, Method::GET, "/api/v1/ws", None).await;
    assert_error(response, StatusCode::BAD_REQUEST, "not_a_websocket").await;
    assert_eq!(app.state.hub.events.subscriber_count(), before);
}

#[actix_web::test]
async fn resuming_after_more_events_than_the_replay_log_holds_asks_for_resync() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_REALTIME_REPLAY_EVENTS".into(), "3".into());
    })
    .await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut socket = app.websocket(&admin, None).await;
    let epoch = socket.epoch();
    app.inbound(&inbox, "m-1", "cust-1", "one").await;
    let seen = read_until(&mut socket, "the message", |f| is_message(f, "one")).await;
    let last = seq_of(seen.last().expect("frame"));

    // Within the log: resumed (one message = conversation.updated + message.created).
    app.inbound(&inbox, "m-2", "cust-1", "two").await;
    let mut within = app.websocket(&admin, Some((&epoch, last))).await;
    assert_eq!(within.hello["data"]["start"], "resumed", "{}", within.hello);
    let replay = read_until(&mut within, "the missed message", |f| is_message(f, "two")).await;
    assert_eq!(seq_of(&replay[0]), last + 1);
    let last = seq_of(replay.last().expect("frame"));
    within.close().await;
    socket.close().await;

    // Three messages are six events: more than the log keeps.
    for (i, text) in ["three", "four", "five"].into_iter().enumerate() {
        app.inbound(&inbox, &format!("m-{}", i + 3), "cust-1", text)
            .await;
    }
    let mut resync = app.websocket(&admin, Some((&epoch, last))).await;
    assert_eq!(resync.hello["data"]["start"], "resync", "{}", resync.hello);
    assert!(resync.hello["data"]["reason"].as_str().is_some());
    app.inbound(&inbox, "m-9", "cust-1", "live").await;
    let frame = resync.next_of("message.created").await;
    assert_eq!(
        frame["data"]["message"]["content"], "live",
        "a resync replays nothing, then continues live"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Slow clients
// ---------------------------------------------------------------------------------------

/// Open sockets re-check their sign-in: a demoted admin stops seeing inboxes it is not a
/// member of, and a deactivated agent's socket is closed.
#[actix_web::test]
async fn open_sockets_follow_role_changes_and_deactivation() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_REALTIME_RECHECK_SECS".into(), "1".into());
    })
    .await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (second_id, password) = app
        .create_agent(&admin, "second@example.com", "admin")
        .await;
    let second = app.token_for("second@example.com", &password).await;
    let mut socket = app.websocket(&second, None).await;
    app.inbound(&inbox, "m-1", "cust-1", "seen as admin").await;
    socket.next_of("message.created").await;

    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/agents/{second_id}"),
            Some(json!({"role": "agent"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.inbound(&inbox, "m-2", "cust-1", "not for agents outside the inbox")
        .await;
    let mut leaked = Vec::new();
    while let Some(frame) = socket.next_within(Duration::from_millis(700)).await {
        if frame["type"] == "message.created" {
            leaked.push(frame);
        }
    }
    assert!(leaked.is_empty(), "a demoted admin still sees: {leaked:?}");

    let response = app
        .api(
            &admin,
            Method::DELETE,
            &format!("/api/v1/agents/{second_id}"),
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let mut closed = false;
    for _ in 0..50 {
        if app.state.hub.events.subscriber_count() == 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the deactivated agent's socket is closed");
    assert_eq!(socket.next_within(Duration::from_secs(2)).await, None);
}

#[actix_web::test]
async fn a_slow_client_is_told_to_resync_and_never_holds_up_the_others() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_REALTIME_CLIENT_BUFFER".into(), "8".into());
    })
    .await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut slow = app.websocket(&admin, None).await;
    let mut fast = app.websocket(&admin, None).await;
    assert_eq!(app.state.hub.events.subscriber_count(), 2);

    let reader = actix_web::rt::spawn(async move {
        let frames = read_until(&mut fast, "the last message", |f| is_message(f, "the end")).await;
        (fast, frames)
    });

    // The slow socket is never read: once the kernel's and the server's write buffers are
    // full, its session stops draining its queue, the queue fills and the hub drops it.
    // How many bytes that takes depends on TCP autotuning, so post large messages until
    // the hub has dropped it (it re-subscribes only after its socket is read again).
    let big = "x".repeat(60_000);
    let mut posted = 0;
    while app.state.hub.events.subscriber_count() == 2 {
        assert!(
            posted < 1000,
            "the unread socket was never dropped after {posted} messages of 60 kB"
        );
        let event = message_event(&format!("m-{posted}"), "cust-1", &big);
        let response = app.post_signed(&inbox, "", &event).await;
        assert_eq!(response.status(), StatusCode::OK);
        posted += 1;
    }
    app.inbound(&inbox, "m-end", "cust-1", "the end").await;

    let (fast, frames) = reader.await.expect("reader task");
    assert!(
        frames.iter().all(|f| f["type"] != "hello"),
        "the reading socket was told to resync, but it kept up: {:?}",
        summary(&frames)
    );
    let created = frames
        .iter()
        .filter(|f| f["type"] == "message.created")
        .count();
    assert_eq!(created, posted + 1, "the reading socket got every message");
    let seqs: Vec<u64> = frames.iter().map(seq_of).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the reading socket's stream is contiguous"
    );

    // Everything it had queued, then the resync: events published while it was dropped
    // are not sent (it reloads through the REST API instead).
    let got = read_until(&mut slow, "the resync", |f| f["type"] == "hello").await;
    let hello = got.last().expect("hello");
    assert_eq!(hello["data"]["start"], "resync", "{hello}");
    assert!(
        hello["data"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{hello}"
    );
    let hello_seq = hello["data"]["seq"].as_u64().expect("seq");
    let before: Vec<u64> = got[..got.len() - 1].iter().map(seq_of).collect();
    assert!(
        before.windows(2).all(|w| w[1] == w[0] + 1),
        "what it got before falling behind is in order: {before:?}"
    );
    assert!(
        before.last().is_some_and(|s| *s < hello_seq),
        "it missed events ({before:?}, resync at {hello_seq})"
    );
    // Then it continues live.
    app.inbound(&inbox, "m-live", "cust-1", "after the resync")
        .await;
    let live = read_until(&mut slow, "a live message", |f| {
        is_message(f, "after the resync")
    })
    .await;
    assert!(
        live.iter().all(|f| seq_of(f) > hello_seq),
        "after the resync only live events follow: {:?}",
        summary(&live)
    );
    fast.close().await;
    slow.close().await;
}

// ---------------------------------------------------------------------------------------
// 3. Access
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn agents_see_only_their_inboxes_and_admins_see_everything() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mine = app.create_api_inbox(&admin, None).await;
    let theirs = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (_, outsider) = agent(&app, &admin, "out@example.com").await;
    app.add_member(&admin, &mine.id, &ada).await;

    let visible = post_message(&app, &mine, &message_event("m-1", "cust-1", "hello")).await;
    let invisible = post_message(&app, &theirs, &message_event("t-1", "cust-2", "psst")).await;
    let contact_of = |id: &str| {
        let path = conversation_path(id);
        let app = &app;
        let admin = &admin;
        async move {
            app.get_json(admin, &path).await["contact_id"]
                .as_str()
                .expect("contact id")
                .to_owned()
        }
    };
    let visible_contact = contact_of(&visible).await;
    let invisible_contact = contact_of(&invisible).await;

    // Admins see all.
    assert_eq!(
        listed(&app, &admin, "").await,
        sorted(vec![visible.clone(), invisible.clone()])
    );
    // A member sees the inbox she belongs to, and nothing else.
    assert_eq!(listed(&app, &ada_token, "").await, vec![visible.clone()]);
    assert_eq!(
        listed(&app, &ada_token, &format!("inbox_id={}", theirs.id)).await,
        Vec::<String>::new(),
        "filtering by another inbox does not open it"
    );
    // An agent in no inbox sees nothing.
    assert_eq!(listed(&app, &outsider, "").await, Vec::<String>::new());
    let contacts = app.get_json(&outsider, "/api/v1/contacts").await;
    assert_eq!(ids(&contacts), Vec::<String>::new());

    for (token, conversation, contact) in [
        (&outsider, &visible, &visible_contact),
        (&ada_token, &invisible, &invisible_contact),
    ] {
        let path = conversation_path(conversation);
        for sub in ["", "/messages"] {
            let response = app
                .api(token, Method::GET, &format!("{path}{sub}"), None)
                .await;
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        for (action, body) in [
            ("assign", json!({"assignee_id": "me"})),
            ("status", json!({"status": "resolved"})),
            ("priority", json!({"priority": "high"})),
            ("read", json!({})),
            ("typing", json!({"on": true})),
        ] {
            let response = app
                .api(token, Method::POST, &format!("{path}/{action}"), Some(body))
                .await;
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        let response = app
            .api(
                token,
                Method::PUT,
                &format!("{path}/labels"),
                Some(json!({"labels": ["x"]})),
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app
            .api(
                token,
                Method::GET,
                &format!("/api/v1/contacts/{contact}"),
                None,
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let shown = app.get_json(&ada_token, &conversation_path(&visible)).await;
    assert_eq!(shown["id"], visible.as_str());
    let messages = app
        .get_json(
            &ada_token,
            &format!("{}/messages", conversation_path(&visible)),
        )
        .await;
    assert_eq!(messages["data"][0]["content"], "hello");
    app.get_json(&admin, &conversation_path(&invisible)).await;
    app.get_json(&admin, &format!("/api/v1/contacts/{invisible_contact}"))
        .await;

    // Inboxes: an agent lists and reads only hers.
    assert_eq!(
        ids(&app.get_json(&ada_token, "/api/v1/inboxes").await),
        vec![mine.id.clone()]
    );
    assert_eq!(
        ids(&app.get_json(&outsider, "/api/v1/inboxes").await),
        Vec::<String>::new()
    );
    let response = app
        .api(
            &ada_token,
            Method::GET,
            &format!("/api/v1/inboxes/{}", theirs.id),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        sorted(ids(&app.get_json(&admin, "/api/v1/inboxes").await)),
        sorted(vec![mine.id.clone(), theirs.id.clone()])
    );
}

#[actix_web::test]
async fn only_admins_manage_inboxes_and_secrets_are_shown_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let path = format!("/api/v1/inboxes/{}", inbox.id);

    for (method, target, body) in [
        (
            Method::POST,
            "/api/v1/inboxes".to_owned(),
            Some(json!({"name": "Mine", "channel_type": "api"})),
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (
            Method::POST,
            format!("{path}/members"),
            Some(json!({"agent_id": ada})),
        ),
        (Method::DELETE, format!("{path}/members/{ada}"), None),
    ] {
        let response = app.api(&ada_token, method, &target, body).await;
        assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
    }
    let audit = app.audit_actions(&admin, 5).await;
    assert!(
        !audit
            .iter()
            .any(|a| a == "inbox.update" || a == "inbox.delete"),
        "refused actions changed nothing: {audit:?}"
    );

    // Reads mask the secret: a recognisable prefix and its last four characters only.
    let tail = &inbox.secret[inbox.secret.len() - 4..];
    let check_masked = |shown: &Value| {
        let masked = shown["secret"].as_str().expect("secret field");
        assert_ne!(masked, inbox.secret, "secret shown in full");
        assert!(
            masked.starts_with("sbwh_") && masked.ends_with(tail),
            "masked secret {masked}"
        );
        assert!(masked.chars().count() < 12, "masked secret {masked}");
    };
    check_masked(&app.get_json(&admin, &path).await);
    // Members who are not admins see the inbox, not its wiring (secret, settings).
    let as_member = app.get_json(&ada_token, &path).await;
    assert!(as_member["secret"].is_null(), "{as_member}");
    assert_eq!(as_member["settings"], json!({}), "{as_member}");
    let list = app.get_json(&admin, "/api/v1/inboxes").await;
    check_masked(&list["data"][0]);
    let renamed = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"name": "Renamed"})),
        StatusCode::OK,
    )
    .await;
    check_masked(&renamed);
    assert_eq!(renamed["name"], "Renamed");

    // Rotating reveals the new secret once; the old one stops working at once.
    let rotated = call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{path}/rotate-secret"),
        None,
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    assert!(new_secret.starts_with("sbwh_") && new_secret.len() > 20);
    assert_ne!(new_secret, inbox.secret);
    let response = app
        .post_signed(&inbox, "", &message_event("m-1", "cust-1", "old key"))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let rotated_inbox = ApiInbox {
        secret: new_secret.clone(),
        ..inbox.clone()
    };
    app.inbound(&rotated_inbox, "m-1", "cust-1", "new key")
        .await;
    let shown = app.get_json(&admin, &path).await;
    assert_ne!(shown["secret"], new_secret.as_str());
    assert!(
        shown["secret"]
            .as_str()
            .is_some_and(|s| s.ends_with(&new_secret[new_secret.len() - 4..]))
    );
    let list = app.get_json(&admin, "/api/v1/conversations").await;
    let contents: Vec<Value> = app
        .get_json(
            &admin,
            &format!("{}/messages", conversation_path(&ids(&list)[0])),
        )
        .await["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        [json!("new key")],
        "the refused webhook stored nothing"
    );
    assert_eq!(app.audit_actions(&admin, 1).await, ["inbox.rotate_secret"]);
}

// ---------------------------------------------------------------------------------------
// 4. Lists: filters and cursors
// ---------------------------------------------------------------------------------------

/// Follows `next_cursor` from the first page to the last; returns every id in order.
async fn walk(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_activity: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            None => format!("/api/v1/conversations?limit={limit}&{query}"),
            Some(c) => format!("/api/v1/conversations?limit={limit}&{query}&cursor={c}"),
        };
        let page = app.get_json(token, &path).await;
        let items = page["data"].as_array().expect("data");
        assert!(items.len() <= limit, "page longer than limit: {page}");
        for item in items {
            let at = item["last_activity_at"]
                .as_str()
                .expect("activity")
                .to_owned();
            let at_parsed = chrono::DateTime::parse_from_rfc3339(&at).expect("timestamp");
            if let Some(previous) = &last_activity {
                let previous = chrono::DateTime::parse_from_rfc3339(previous).expect("ts");
                assert!(
                    at_parsed <= previous,
                    "newest activity first: {at} after {previous}"
                );
            }
            last_activity = Some(at);
        }
        all.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a cursor only after a full page");
                cursor = Some(next.to_owned());
            }
            None => return all,
        }
    }
    panic!("more than 100 pages for {query}");
}

/// Posts an agent-side change and checks it was accepted.
async fn change(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> Value {
    let method = if action == "labels" {
        Method::PUT
    } else {
        Method::POST
    };
    call_ok(
        app,
        token,
        method,
        &format!("{}/{action}", conversation_path(id)),
        Some(body),
        StatusCode::OK,
    )
    .await
}

#[actix_web::test]
async fn the_conversation_list_filters_and_pages_by_last_activity() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let one = app.create_api_inbox(&admin, None).await;
    let two = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, _) = agent(&app, &admin, "bob@example.com").await;
    for inbox in [&one, &two] {
        for member in [&ada, &bob] {
            app.add_member(&admin, &inbox.id, member).await;
        }
    }
    let specs = [
        (
            &one,
            "alpha",
            "Zoe Alpha",
            "alpha@example.com",
            "Hello about my invoice",
        ),
        (&one, "bravo", "Bravo", "bravo@example.com", "refund please"),
        (
            &one,
            "charlie",
            "Charlie",
            "charlie@corp.test",
            "it is 100% broken",
        ),
        (
            &one,
            "delta",
            "Delta",
            "delta@example.com",
            "my_file is missing",
        ),
        (
            &two,
            "echo",
            "Echo",
            "echo@example.com",
            "Where is my ORDER?",
        ),
        (&two, "fox", "Foxtrot", "fox@example.com", "hi"),
        (&one, "golf", "Golf", "golf@example.com", "plain question"),
    ];
    let mut c = Vec::new();
    for (i, (inbox, identifier, name, email, content)) in specs.into_iter().enumerate() {
        let event = event_from(&format!("m-{i}"), identifier, name, email, content);
        c.push(post_message(&app, inbox, &event).await);
    }
    let team = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Billing"})),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .expect("team id")
        .to_owned();
    let soon = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    change(&app, &admin, &c[0], "assign", json!({"assignee_id": ada})).await;
    change(&app, &admin, &c[0], "priority", json!({"priority": "high"})).await;
    change(&app, &admin, &c[0], "labels", json!({"labels": ["vip"]})).await;
    change(&app, &admin, &c[1], "status", json!({"status": "pending"})).await;
    change(
        &app,
        &admin,
        &c[1],
        "priority",
        json!({"priority": "urgent"}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[1],
        "labels",
        json!({"labels": ["billing"]}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[1],
        "assign",
        json!({"assignee_id": bob, "team_id": team}),
    )
    .await;
    change(&app, &admin, &c[2], "status", json!({"status": "resolved"})).await;
    change(
        &app,
        &admin,
        &c[2],
        "labels",
        json!({"labels": ["vip", "billing"]}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[3],
        "status",
        json!({"status": "snoozed", "snoozed_until": soon}),
    )
    .await;
    change(&app, &admin, &c[3], "assign", json!({"assignee_id": ada})).await;
    change(&app, &admin, &c[4], "priority", json!({"priority": "low"})).await;
    change(&app, &admin, &c[5], "status", json!({"status": "closed"})).await;

    let pick = |indexes: &[usize]| sorted(indexes.iter().map(|i| c[*i].clone()).collect());
    let bravo_contact = app.get_json(&admin, &conversation_path(&c[1])).await["contact_id"]
        .as_str()
        .expect("contact")
        .to_owned();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("".into(), pick(&[0, 1, 2, 3, 4, 5, 6])),
        ("status=open".into(), pick(&[0, 4, 6])),
        ("status=open,pending".into(), pick(&[0, 1, 4, 6])),
        ("status=open%2C%20pending".into(), pick(&[0, 1, 4, 6])),
        ("status=resolved".into(), pick(&[2])),
        ("status=snoozed".into(), pick(&[3])),
        ("status=closed,resolved".into(), pick(&[2, 5])),
        (format!("assignee={bob}"), pick(&[1])),
        ("assignee=unassigned".into(), pick(&[2, 4, 5, 6])),
        ("assignee=all".into(), pick(&[0, 1, 2, 3, 4, 5, 6])),
        ("label=vip".into(), pick(&[0, 2])),
        ("label=billing".into(), pick(&[1, 2])),
        ("label=VIP".into(), pick(&[0, 2])),
        ("label=nothing".into(), vec![]),
        ("label=vip&status=resolved".into(), pick(&[2])),
        ("priority=urgent".into(), pick(&[1])),
        ("priority=high".into(), pick(&[0])),
        ("priority=none".into(), pick(&[2, 3, 5, 6])),
        (format!("inbox_id={}", two.id), pick(&[4, 5])),
        (format!("inbox_id={}&status=open", one.id), pick(&[0, 6])),
        (format!("team_id={team}"), pick(&[1])),
        (format!("contact_id={bravo_contact}"), pick(&[1])),
        // Text: contact name, contact email, message text; any case; % and _ literal.
        ("q=ALPHA".into(), pick(&[0])),
        ("q=corp.test".into(), pick(&[2])),
        ("q=order".into(), pick(&[4])),
        ("q=%20Invoice%20".into(), pick(&[0])),
        ("q=100%25".into(), pick(&[2])),
        ("q=%25".into(), pick(&[2])),
        ("q=_".into(), pick(&[3])),
        ("q=my_f".into(), pick(&[3])),
        ("q=nowhere".into(), vec![]),
    ];
    for (query, expected) in &cases {
        assert_eq!(
            &listed(&app, &admin, query).await,
            expected,
            "GET /api/v1/conversations?{query}"
        );
    }
    assert_eq!(listed(&app, &ada_token, "assignee=me").await, pick(&[0, 3]));
    assert_eq!(
        listed(&app, &admin, "assignee=me").await,
        Vec::<String>::new()
    );

    // Newest activity first; changes of state are not activity.
    let newest_first: Vec<String> = c.iter().rev().cloned().collect();
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/conversations").await),
        newest_first
    );
    assert_eq!(walk(&app, &admin, "", 2).await, newest_first);
    assert_eq!(walk(&app, &admin, "", 7).await, newest_first);
    // A new message moves its conversation to the top.
    post_message(
        &app,
        &one,
        &event_from(
            "m-again",
            "alpha",
            "Zoe Alpha",
            "alpha@example.com",
            "me again",
        ),
    )
    .await;
    let mut reordered = vec![c[0].clone()];
    reordered.extend(c[1..].iter().rev().cloned());
    assert_eq!(walk(&app, &admin, "", 2).await, reordered);
    assert_eq!(walk(&app, &admin, "", 3).await, reordered);
    assert_eq!(
        walk(&app, &admin, "status=open,pending", 1).await,
        vec![c[0].clone(), c[6].clone(), c[4].clone(), c[1].clone()]
    );
    assert_eq!(
        walk(&app, &ada_token, "assignee=me", 1).await,
        vec![c[0].clone(), c[3].clone()]
    );

    // Bad input is refused with a precise answer.
    for (query, status, code) in [
        (
            "status=bogus",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status=open,bogus",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=nobody",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=-3",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("cursor=abc", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("cursor=123", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("cursor=x.1", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (
            "limit=1000",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("limit=two", StatusCode::BAD_REQUEST, "invalid_query"),
        ("priority=extreme", StatusCode::BAD_REQUEST, "invalid_query"),
        ("inbox_id=abc", StatusCode::BAD_REQUEST, "invalid_query"),
        ("colour=red", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let response = app
            .api(
                &admin,
                Method::GET,
                &format!("/api/v1/conversations?{query}"),
                None,
            )
            .await;
        let body = assert_error(response, status, code).await;
        if code == "invalid_input" {
            let field = query.split('=').next().expect("field");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(field)),
                "the message names {field}: {body}"
            );
        }
    }
    let long = "x".repeat(201);
    let response = app
        .api(
            &admin,
            Method::GET,
            &format!("/api/v1/conversations?q={long}"),
            None,
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
}

// ---------------------------------------------------------------------------------------
// 5. Messages by seq
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn messages_page_by_sequence_number() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let events: Vec<Value> = (1..=7)
        .map(|i| message_event(&format!("m-{i}"), "cust-1", &format!("message {i}")))
        .collect();
    let id = post_message(&app, &inbox, &json!({ "events": events })).await;
    let path = format!("{}/messages", conversation_path(&id));
    let seqs_of = |page: &Value| -> Vec<i64> {
        page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["seq"].as_i64().expect("seq"))
            .collect()
    };
    for (query, expected) in [
        ("", vec![1, 2, 3, 4, 5, 6, 7]),
        ("?limit=2", vec![6, 7]),
        ("?after=0&limit=3", vec![1, 2, 3]),
        ("?after=2&limit=3", vec![3, 4, 5]),
        ("?after=5&limit=3", vec![6, 7]),
        ("?after=7", vec![]),
        ("?before=6&limit=3", vec![3, 4, 5]),
        ("?before=3&limit=3", vec![1, 2]),
        ("?before=1", vec![]),
        ("?before=100&limit=2", vec![6, 7]),
    ] {
        let page = app.get_json(&admin, &format!("{path}{query}")).await;
        assert_eq!(seqs_of(&page), expected, "GET {path}{query}");
        assert_eq!(page["last_seq"], 7);
    }
    let page = app
        .get_json(&admin, &format!("{path}?after=3&limit=1"))
        .await;
    assert_eq!(page["data"][0]["content"], "message 4");
    assert_eq!(page["data"][0]["direction"], "inbound");
    assert_eq!(page["data"][0]["conversation_id"], id.as_str());

    // Walking forward and backward both see every message once, in order.
    let mut forward = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get_json(&admin, &format!("{path}?after={after}&limit=3"))
            .await;
        let seqs = seqs_of(&page);
        let Some(last) = seqs.last().copied() else {
            break;
        };
        forward.extend(seqs);
        after = last;
    }
    assert_eq!(forward, (1..=7).collect::<Vec<_>>());
    let mut backward = Vec::new();
    let mut before = 8;
    loop {
        let page = app
            .get_json(&admin, &format!("{path}?before={before}&limit=3"))
            .await;
        let seqs = seqs_of(&page);
        let Some(first) = seqs.first().copied() else {
            break;
        };
        backward.splice(0..0, seqs);
        before = first;
    }
    assert_eq!(backward, (1..=7).collect::<Vec<_>>());

    for (query, status, code) in [
        (
            "?after=1&before=5",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "?after=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?before=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?limit=201",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("?after=first", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let response = app
            .api(&admin, Method::GET, &format!("{path}{query}"), None)
            .await;
        assert_error(response, status, code).await;
    }
    let response = app
        .api(
            &admin,
            Method::GET,
            "/api/v1/conversations/999999/messages",
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// 6. Agent-side changes
// ---------------------------------------------------------------------------------------

/// The newest audit entry.
async fn last_audit(app: &TestApp, admin: &str) -> Value {
    app.get_json(admin, "/api/v1/audit?limit=1").await["data"][0].clone()
}

#[actix_web::test]
async fn changes_to_a_conversation_are_published_and_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, _) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let mut watcher = app.websocket(&admin, None).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    watcher.next_of("message.created").await;

    // Each accepted change answers the new state, is published, and is audited.
    let mut expect = async |token: &str, action: &str, body: Value, audit: &str| -> Value {
        let answer = change(&app, token, &id, action, body.clone()).await;
        let event = watcher.next_of("conversation.updated").await;
        let published = &event["data"]["conversation"];
        assert_eq!(published["id"], id.as_str());
        for field in [
            "status",
            "priority",
            "assignee_id",
            "snoozed_until",
            "resolved_at",
        ] {
            assert_eq!(
                published[field], answer[field],
                "{action} {body}: event and answer agree on {field}"
            );
        }
        let entry = last_audit(&app, &admin).await;
        assert_eq!(entry["action"], audit, "audit of {action} {body}: {entry}");
        assert_eq!(entry["target_type"], "conversation");
        assert_eq!(entry["target_id"], id.as_str());
        answer
    };

    let answer = expect(
        &admin,
        "assign",
        json!({"assignee_id": ada}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], ada.as_str());
    let answer = expect(
        &ada_token,
        "assign",
        json!({"assignee_id": null}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], Value::Null);
    let answer = expect(
        &ada_token,
        "assign",
        json!({"assignee_id": "me"}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], ada.as_str());
    let entry = last_audit(&app, &admin).await;
    assert_eq!(entry["details"]["assignee_id"], ada.as_str());
    assert_eq!(entry["actor_id"], ada.as_str());

    // Refused changes change nothing (the next event is the next accepted change).
    let path = conversation_path(&id);
    for (action, body, status, code) in [
        (
            "assign",
            json!({"assignee_id": bob}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({"assignee_id": "someone"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({"assignee_id": "999999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({}),
            StatusCode::BAD_REQUEST,
            "nothing_to_change",
        ),
        (
            "assign",
            json!({"team_id": "999999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "snoozed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "open", "snoozed_until": "2099-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "done"}),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "priority",
            json!({"priority": "extreme"}),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ] {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("{path}/{action}"),
                Some(body.clone()),
            )
            .await;
        let answer = assert_error(response, status, code).await;
        if code == "invalid_input" {
            assert!(answer["error"]["message"].as_str().is_some(), "{body}");
        }
    }
    let bob_refusal = app
        .api(
            &admin,
            Method::POST,
            &format!("{path}/assign"),
            Some(json!({"assignee_id": bob})),
        )
        .await;
    let refusal = assert_error(
        bob_refusal,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("member")),
        "says why: {refusal}"
    );
    let labels_path = format!("{path}/labels");
    let fifty_one: Vec<String> = (0..51).map(|i| format!("l{i}")).collect();
    for labels in [
        json!(["bad/label"]),
        json!([""]),
        json!(["x".repeat(51)]),
        json!(fifty_one),
    ] {
        let response = app
            .api(
                &admin,
                Method::PUT,
                &labels_path,
                Some(json!({ "labels": labels })),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }

    let answer = expect(
        &admin,
        "status",
        json!({"status": "pending"}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "pending");
    assert_eq!(
        answer["assignee_id"],
        ada.as_str(),
        "refusals changed nothing"
    );
    let until = chrono::DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 3 * 3600, 0)
        .expect("timestamp");
    let answer = expect(
        &admin,
        "status",
        json!({"status": "snoozed", "snoozed_until": until.to_rfc3339()}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "snoozed");
    let snoozed: chrono::DateTime<Utc> =
        serde_json::from_value(answer["snoozed_until"].clone()).expect("snoozed_until");
    assert_eq!(snoozed, until);
    assert_eq!(answer["resolved_at"], Value::Null);
    let answer = expect(
        &admin,
        "status",
        json!({"status": "resolved"}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "resolved");
    assert!(
        answer["resolved_at"].is_string(),
        "resolved_at set: {answer}"
    );
    assert_eq!(answer["snoozed_until"], Value::Null);
    let answer = expect(
        &admin,
        "status",
        json!({"status": "open"}),
        "conversation.status",
    )
    .await;
    assert_eq!(
        answer["resolved_at"],
        Value::Null,
        "reopening clears resolved_at"
    );
    let answer = expect(
        &admin,
        "status",
        json!({"status": "closed"}),
        "conversation.status",
    )
    .await;
    assert!(answer["resolved_at"].is_string());
    expect(
        &admin,
        "status",
        json!({"status": "open"}),
        "conversation.status",
    )
    .await;

    let answer = expect(
        &admin,
        "priority",
        json!({"priority": "urgent"}),
        "conversation.priority",
    )
    .await;
    assert_eq!(answer["priority"], "urgent");
    assert_eq!(
        last_audit(&app, &admin).await["details"]["priority"],
        "urgent"
    );

    let answer = expect(
        &ada_token,
        "labels",
        json!({"labels": [" VIP", "vip", "Billing", "billing ", "needs-reply"]}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!(["billing", "needs-reply", "vip"]));
    assert_eq!(
        last_audit(&app, &admin).await["details"]["labels"],
        json!(["vip", "billing", "needs-reply"])
    );
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["labels"], json!(["billing", "needs-reply", "vip"]));
    let answer = expect(
        &admin,
        "labels",
        json!({"labels": ["vip"]}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!(["vip"]));
    let answer = expect(
        &admin,
        "labels",
        json!({"labels": []}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!([]));

    // The whole history, oldest first, as the audit log keeps it.
    let actions = app.audit_actions(&admin, 13).await;
    let mut expected = vec!["conversation.assign"; 3];
    expected.extend(["conversation.status"; 6]);
    expected.push("conversation.priority");
    expected.extend(["conversation.labels"; 3]);
    expected.reverse();
    assert_eq!(actions, expected);
}

// ---------------------------------------------------------------------------------------
// 7. Unread counts
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn unread_counts_follow_inbound_messages_and_read_marks_never_go_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "one")).await;
    let path = conversation_path(&id);
    let unread = async |token: &str| -> (i64, i64) {
        let shown = app.get_json(token, &path).await;
        let listed = app.get_json(token, "/api/v1/conversations").await;
        assert_eq!(listed["data"][0]["id"], id.as_str());
        assert_eq!(
            listed["data"][0]["unread_count"], shown["unread_count"],
            "list and detail agree"
        );
        (
            shown["unread_count"].as_i64().expect("unread_count"),
            shown["last_seq"].as_i64().expect("last_seq"),
        )
    };
    assert_eq!(unread(&ada_token).await, (1, 1));
    app.inbound(&inbox, "m-2", "cust-1", "two").await;
    app.inbound(&inbox, "m-3", "cust-1", "three").await;
    assert_eq!(unread(&ada_token).await, (3, 3));

    let read = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, json!({"last_read_seq": 3, "unread_count": 0}));
    assert_eq!(unread(&ada_token).await, (0, 3));
    // Per agent: the admin has read nothing.
    assert_eq!(unread(&admin).await, (3, 3));

    app.inbound(&inbox, "m-4", "cust-1", "four").await;
    assert_eq!(unread(&ada_token).await, (1, 4));
    let back = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        Some(json!({"seq": 1})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        back,
        json!({"last_read_seq": 3, "unread_count": 1}),
        "a read mark never moves back"
    );
    assert_eq!(unread(&ada_token).await, (1, 4));

    // Agents' own notes are not unread messages.
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{path}/messages"),
        Some(json!({"content": "internal note", "private": true})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(unread(&ada_token).await, (1, 5));
    let read = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        Some(json!({"seq": 4})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, json!({"last_read_seq": 4, "unread_count": 0}));

    for seq in [-1, 6, 100] {
        let response = app
            .api(
                &ada_token,
                Method::POST,
                &format!("{path}/read"),
                Some(json!({ "seq": seq })),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
    assert_eq!(unread(&ada_token).await, (0, 5));

    // Counted per conversation in one list: another customer's two messages.
    let other = post_message(&app, &inbox, &message_event("o-1", "cust-2", "hi")).await;
    app.inbound(&inbox, "o-2", "cust-2", "again").await;
    let listed = app.get_json(&ada_token, "/api/v1/conversations").await;
    let counts: std::collections::HashMap<String, i64> = listed["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["unread_count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(counts.get(&other), Some(&2), "{listed}");
    assert_eq!(counts.get(&id), Some(&0), "{listed}");
}

// ---------------------------------------------------------------------------------------
// 8. Contacts
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn contacts_are_searched_shown_updated_and_merged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let web = app.create_api_inbox(&admin, None).await;
    let chat = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &web.id, &ada).await;

    let first = post_message(
        &app,
        &web,
        &event_from(
            "w-1",
            "cust-1",
            "Ann Original",
            "ann@example.com",
            "hi from the web",
        ),
    )
    .await;
    let second = post_message(
        &app,
        &chat,
        &json!({
            "type": "message", "external_id": "c-1", "content": "hi from chat",
            "contact": {"identifier": "ann-chat", "name": "Annie Dup", "phone": "+43 660 1234"},
        }),
    )
    .await;
    let contact_of = async |conversation: &str| -> String {
        app.get_json(&admin, &conversation_path(conversation)).await["contact_id"]
            .as_str()
            .expect("contact")
            .to_owned()
    };
    let original = contact_of(&first).await;
    let duplicate = contact_of(&second).await;
    assert_ne!(original, duplicate);

    // List and search.
    let all = app.get_json(&admin, "/api/v1/contacts").await;
    assert_eq!(
        ids(&all),
        vec![duplicate.clone(), original.clone()],
        "newest first"
    );
    for (q, expected) in [
        ("ORIGINAL", vec![original.clone()]),
        ("ann", vec![duplicate.clone(), original.clone()]),
        ("example.com", vec![original.clone()]),
        ("660", vec![duplicate.clone()]),
        ("ANN-CHAT", vec![duplicate.clone()]),
        ("%", vec![]),
        ("_", vec![]),
    ] {
        let found = app
            .get_json(&admin, &format!("/api/v1/contacts?q={}", urlencode(q)))
            .await;
        assert_eq!(ids(&found), expected, "contacts?q={q}");
    }
    let page = app.get_json(&admin, "/api/v1/contacts?limit=1").await;
    assert_eq!(ids(&page), vec![duplicate.clone()]);
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get_json(&admin, &format!("/api/v1/contacts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest), vec![original.clone()]);
    let response = app
        .api(&admin, Method::GET, "/api/v1/contacts?cursor=abc", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    // Agents see the contacts of their inboxes.
    assert_eq!(
        ids(&app.get_json(&ada_token, "/api/v1/contacts").await),
        vec![original.clone()]
    );

    // Detail: identities and conversations.
    let detail = app
        .get_json(&admin, &format!("/api/v1/contacts/{original}"))
        .await;
    assert_eq!(detail["contact"]["name"], "Ann Original");
    assert_eq!(detail["contact"]["email"], "ann@example.com");
    let identities = detail["contact"]["identities"]
        .as_array()
        .expect("identities");
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["identifier"], "cust-1");
    assert_eq!(identities[0]["inbox_id"], web.id.as_str());
    assert_eq!(identities[0]["channel_type"], "api");
    assert_eq!(
        ids(&json!({"data": detail["conversations"]})),
        vec![first.clone()]
    );

    // Update: validated, audited.
    let path = format!("/api/v1/contacts/{original}");
    for body in [
        json!({"email": "not an email"}),
        json!({"email": "a@"}),
        json!({"name": "x".repeat(201)}),
    ] {
        let response = app.api(&admin, Method::PATCH, &path, Some(body)).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
    let response = app.api(&admin, Method::PATCH, &path, Some(json!({}))).await;
    assert_error(response, StatusCode::BAD_REQUEST, "nothing_to_change").await;
    let updated = call_ok(
        &app,
        &ada_token,
        Method::PATCH,
        &path,
        Some(json!({"email": " Ann.Smith@Example.COM ", "language": "de", "attributes": {"plan": "pro"}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["email"], "ann.smith@example.com");
    assert_eq!(updated["language"], "de");
    assert_eq!(updated["attributes"], json!({"plan": "pro"}));
    assert_eq!(updated["name"], "Ann Original", "untouched fields stay");
    assert_eq!(last_audit(&app, &admin).await["action"], "contact.update");

    // Merge the duplicate into the original.
    let merge = format!("{path}/merge");
    let response = app
        .api(
            &admin,
            Method::POST,
            &merge,
            Some(json!({"contact_id": original})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            &merge,
            Some(json!({"contact_id": "999999"})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    // An agent cannot merge in a contact she cannot see.
    let response = app
        .api(
            &ada_token,
            Method::POST,
            &merge,
            Some(json!({"contact_id": duplicate})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert_eq!(
        app.get_json(&admin, &format!("/api/v1/contacts/{duplicate}"))
            .await["contact"]["id"],
        duplicate.as_str()
    );

    let mut watcher = app.websocket(&admin, None).await;
    let merged = call_ok(
        &app,
        &admin,
        Method::POST,
        &merge,
        Some(json!({"contact_id": duplicate})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(merged["id"], original.as_str());
    assert_eq!(merged["name"], "Ann Original");
    assert_eq!(
        merged["phone"], "+43 660 1234",
        "empty fields filled from the duplicate"
    );
    let identifiers: Vec<&str> = merged["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["identifier"].as_str().expect("identifier"))
        .collect();
    assert_eq!(identifiers, ["cust-1", "ann-chat"]);
    let moved = watcher.next_of("conversation.updated").await;
    assert_eq!(moved["data"]["conversation"]["id"], second.as_str());
    assert_eq!(
        moved["data"]["conversation"]["contact_id"],
        original.as_str()
    );

    let response = app
        .api(
            &admin,
            Method::GET,
            &format!("/api/v1/contacts/{duplicate}"),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let detail = app.get_json(&admin, &path).await;
    assert_eq!(
        sorted(ids(&json!({"data": detail["conversations"]}))),
        sorted(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        app.get_json(&admin, &conversation_path(&second)).await["contact_id"],
        original.as_str()
    );
    let entry = last_audit(&app, &admin).await;
    assert_eq!(entry["action"], "contact.merge");
    assert_eq!(entry["target_id"], original.as_str());
    assert_eq!(entry["details"]["merged_contact_id"], duplicate.as_str());
    assert_eq!(entry["details"]["conversations_moved"], json!([second]));
    // The moved identity keeps working: the next chat message joins the same conversation.
    let again = post_message(
        &app,
        &chat,
        &json!({"type": "message", "external_id": "c-2", "content": "me again",
                "contact": {"identifier": "ann-chat"}}),
    )
    .await;
    assert_eq!(again, second);
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/contacts").await),
        vec![original.clone()]
    );
    // An agent sees only the identities and conversations of her inboxes.
    let seen_by_ada = app.get_json(&ada_token, &path).await;
    assert_eq!(
        seen_by_ada["contact"]["identities"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        ids(&json!({"data": seen_by_ada["conversations"]})),
        vec![first.clone()]
    );
}

/// The answer to a merge shows only identities in inboxes the caller belongs to, like
/// the contact's own page.
#[actix_web::test]
async fn a_merge_answer_hides_identities_of_other_inboxes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let web = app.create_api_inbox(&admin, None).await;
    let chat = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &web.id, &ada).await;
    let contact_of = async |inbox: &ApiInbox, event: Value| -> String {
        let conversation = post_message(&app, inbox, &event).await;
        app.get_json(&admin, &conversation_path(&conversation))
            .await["contact_id"]
            .as_str()
            .expect("contact id")
            .to_owned()
    };
    let ann = contact_of(&web, message_event("w-1", "ann-web", "hi")).await;
    let ann_chat = contact_of(&chat, message_event("c-1", "ann-chat", "hi")).await;
    let ann_again = contact_of(&web, message_event("w-2", "ann-web-2", "hi")).await;
    // The admin joins Ann's chat identity to her contact; ada cannot see that inbox.
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/contacts/{ann}/merge"),
        Some(json!({"contact_id": ann_chat})),
        StatusCode::OK,
    )
    .await;
    let merged = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("/api/v1/contacts/{ann}/merge"),
        Some(json!({"contact_id": ann_again})),
        StatusCode::OK,
    )
    .await;
    let identifiers: Vec<&str> = merged["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["identifier"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(identifiers, ["ann-web", "ann-web-2"], "{merged}");
}

/// Percent-encodes a query value (only what these tests use needs it).
fn urlencode(text: &str) -> String {
    text.replace('%', "%25")
        .replace(' ', "%20")
        .replace('+', "%2B")
}

// ---------------------------------------------------------------------------------------
// 9. Router
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// 10. Deleting inboxes
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn an_inbox_with_history_cannot_be_deleted_an_empty_one_can() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let used = app.create_api_inbox(&admin, None).await;
    let empty = app.create_api_inbox(&admin, None).await;
    let (ada, _) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &empty.id, &ada).await;
    app.inbound(&used, "m-1", "cust-1", "hello").await;

    let used_path = format!("/api/v1/inboxes/{}", used.id);
    let response = app.api(&admin, Method::DELETE, &used_path, None).await;
    assert_error(response, StatusCode::CONFLICT, "inbox_has_history").await;
    app.get_json(&admin, &used_path).await;
    // Refusing the delete left the channel running.
    app.inbound(&used, "m-2", "cust-1", "still here").await;
    assert_eq!(
        app.get_json(&admin, "/api/v1/conversations").await["data"][0]["last_seq"],
        2
    );

    let empty_path = format!("/api/v1/inboxes/{}", empty.id);
    let response = app.api(&admin, Method::DELETE, &empty_path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.audit_actions(&admin, 1).await, ["inbox.delete"]);
    let response = app.api(&admin, Method::GET, &empty_path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.api(&admin, Method::DELETE, &empty_path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post_signed(&empty, "", &message_event("m-1", "cust-1", "anyone?"))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/inboxes").await),
        vec![used.id.clone()]
    );
}

#[actix_web::test]
async fn the_list_shows_who_wrote_and_the_latest_message() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    // message_event names the contact "Ann".
    post_message(&app, &inbox, &message_event("m-1", "cust-1", "first")).await;
    let long = "x".repeat(500);
    app.inbound(&inbox, "m-2", "cust-1", &long).await;
    let list = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations?inbox_id={}", inbox.id),
        )
        .await;
    let row = &list["data"][0];
    assert_eq!(row["contact_name"], "Ann");
    assert_eq!(row["last_message"]["direction"], "inbound");
    assert_eq!(
        row["last_message"]["content"]
            .as_str()
            .map(|c| c.chars().count()),
        Some(140)
    );
}
