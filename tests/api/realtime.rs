//! Agents' realtime socket: resuming after a drop replays exactly the missed events (or
//! asks for a resync), open sockets follow role changes and deactivation, and a slow client
//! is told to resync without holding up the others.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{
    agent, call_ok, conversation_path, is_presence, post_message, read_until, summary,
};
use crate::helpers::{assert_error, message_event, spawn_app, spawn_app_with};

fn is_message(frame: &Value, content: &str) -> bool {
    frame["type"] == "message.created" && frame["data"]["message"]["content"] == content
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("frame without seq: {frame}"))
}

/// The inbox an event frame belongs to (`None` for presence and typing).
fn inbox_of(frame: &Value) -> Option<&str> {
    let data = &frame["data"];
    data["message"]["inbox_id"]
        .as_str()
        .or_else(|| data["conversation"]["inbox_id"].as_str())
}

// ---------------------------------------------------------------------------------------
// Resume
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

    // The watcher's stream is the reference: it sees everything but other agents' own
    // notifications (the notifier publishes them within a quarter second, so whether the
    // assignment's falls inside this window varies), so after ada left it skips exactly
    // the ones ada got.
    let notes: Vec<u64> = got
        .iter()
        .filter(|f| f["type"] == "notification.created")
        .map(seq_of)
        .collect();
    let all: Vec<u64> = watched.iter().map(seq_of).collect();
    assert!(
        all.windows(2)
            .all(|w| w[1] > w[0] && (w[0] + 1..w[1]).all(|s| s <= last_seen || notes.contains(&s))),
        "the admin's stream has gaps or repeats: {:?} (ada's notifications {notes:?})",
        summary(&watched)
    );
    let got: Vec<Value> = got
        .into_iter()
        .filter(|f| f["type"] != "notification.created")
        .collect();
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
// Slow clients
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
