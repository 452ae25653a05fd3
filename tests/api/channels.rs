//! The API channel end to end, through the real server: signed inbound webhooks (dedupe,
//! batches, refusals), realtime fan-out, replies through the callback with their delivery
//! statuses, retries (transient, Retry-After, permanent, agent retry), the outbox across a
//! restart, idempotent sends, inbox membership and live inbox reconfiguration.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    AgentSocket, Answer, ApiInbox, CallbackServer, TestApp, assert_error, eventually,
    message_event, spawn_app, spawn_app_with,
};

// ---------------------------------------------------------------------------------------
// Helpers of this file
// ---------------------------------------------------------------------------------------

/// Retries after ~25-50 ms (the channel's 1 s timer then decides when they go out).
fn fast_retries(env: &mut HashMap<String, String>) {
    env.insert("SWITCHBOARD_OUTBOUND_RETRY_BASE_MS".into(), "50".into());
}

/// A hub with fast retries, an admin token and an API inbox that calls `callback` back.
async fn hub_with_callback(callback: &CallbackServer) -> (TestApp, String, ApiInbox) {
    let app = spawn_app_with(fast_retries).await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, Some(&callback.url)).await;
    callback.expect_secret(&inbox.secret);
    (app, admin, inbox)
}

/// The id of the `index`th stored entry of a webhook answer.
fn stored_id(answer: &Value, index: usize, field: &str) -> String {
    answer["stored"][index][field]
        .as_str()
        .unwrap_or_else(|| panic!("stored[{index}].{field} in {answer}"))
        .to_owned()
}

/// A customer writes: returns the conversation id of the new message.
async fn customer_writes(app: &TestApp, inbox: &ApiInbox, external_id: &str) -> String {
    let answer = app.inbound(inbox, external_id, "cust-42", "Hello").await;
    stored_id(&answer, 0, "conversation_id")
}

/// Posts raw bytes to a webhook URL with an optional signature header.
async fn post_raw(app: &TestApp, url: &str, body: &[u8], signature: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(switchboard_api_channel::SIGNATURE_HEADER, signature);
    }
    request.send().await.expect("webhook request")
}

/// `POST /api/v1/conversations/{id}/messages`, optionally with an `Idempotency-Key`.
async fn send_reply(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    body: Value,
    idempotency_key: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{conversation_id}/messages")))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("reply request")
}

/// An agent's public reply, asserting 201; returns the message view.
async fn reply(app: &TestApp, token: &str, conversation_id: &str, content: &str) -> Value {
    let response = send_reply(
        app,
        token,
        conversation_id,
        json!({"content": content, "private": false}),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "reply is stored");
    let message: Value = response.json().await.expect("message view");
    assert_eq!(
        message["status"], "queued",
        "a new reply is queued: {message}"
    );
    message
}

fn id_of(message: &Value) -> String {
    message["id"]
        .as_str()
        .unwrap_or_else(|| panic!("message id in {message}"))
        .to_owned()
}

/// All messages of a conversation, oldest first.
async fn messages(app: &TestApp, token: &str, conversation_id: &str) -> Vec<Value> {
    app.get_json(
        token,
        &format!("/api/v1/conversations/{conversation_id}/messages?limit=200"),
    )
    .await["data"]
        .as_array()
        .expect("message list")
        .clone()
}

/// The conversations the caller sees.
async fn conversations(app: &TestApp, token: &str) -> Vec<Value> {
    app.get_json(token, "/api/v1/conversations").await["data"]
        .as_array()
        .expect("conversation list")
        .clone()
}

/// Polls the message list until `message_id` has `status`; returns that message.
async fn wait_for_status(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    message_id: &str,
    status: &str,
) -> Value {
    let path = format!("/api/v1/conversations/{conversation_id}/messages?limit=200");
    let find = |list: &Value| -> Option<Value> {
        list["data"]
            .as_array()?
            .iter()
            .find(|m| m["id"] == message_id)
            .cloned()
    };
    let list = eventually(app, token, &path, |list| {
        find(list).is_some_and(|m| m["status"] == status)
    })
    .await;
    find(&list).expect("message in list")
}

/// The stored message `message_id`, as the REST API shows it now.
async fn message_now(app: &TestApp, token: &str, conversation_id: &str, message_id: &str) -> Value {
    messages(app, token, conversation_id)
        .await
        .into_iter()
        .find(|m| m["id"] == message_id)
        .unwrap_or_else(|| panic!("message {message_id} in conversation {conversation_id}"))
}

/// Reads frames until `accept` takes one, failing with `what` after 10 s.
async fn frame_where(
    socket: &mut AgentSocket,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match socket.next_within(left).await {
            Some(frame) if accept(&frame) => return frame,
            Some(_) => continue,
            None => panic!("no websocket frame with {what} within 10 s"),
        }
    }
}

/// Reads `message.updated` frames of one message until one has `status`; returns the
/// message views of all of them, in order.
async fn updates_until(socket: &mut AgentSocket, message_id: &str, status: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = frame_where(
            socket,
            &format!("message.updated of {message_id} (waiting for {status}; saw {seen:?})"),
            |f| f["type"] == "message.updated" && f["data"]["message"]["id"] == message_id,
        )
        .await;
        let message = frame["data"]["message"].clone();
        let done = message["status"] == status;
        seen.push(message);
        if done {
            return seen;
        }
    }
}

/// Every frame that arrives within `wait`.
async fn frames_within(socket: &mut AgentSocket, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return frames;
        }
        match socket.next_within(left).await {
            Some(frame) => frames.push(frame),
            None => return frames,
        }
    }
}

/// The raw delivery-status reports kept for an inbox, oldest first:
/// `(status, message id, payload)`. There is no API for them, so this reads the store.
async fn status_events(app: &TestApp, inbox_id: &str) -> Vec<(String, Option<i64>, Value)> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use switchboard::db::schema::provider_status_events as events;
    let inbox_id: i64 = inbox_id.parse().expect("numeric inbox id");
    let conn = &mut app.state.db.reader().await.expect("reader");
    let rows: Vec<(String, Option<i64>, String)> = switchboard::db_run!(conn, c => events::table
        .filter(events::inbox_id.eq(inbox_id))
        .order(events::id)
        .select((events::status, events::message_id, events::payload))
        .load(c)
        .await)
    .expect("status events");
    rows.into_iter()
        .map(|(status, message_id, payload)| {
            let payload = serde_json::from_str(&payload).expect("payload is the JSON sent");
            (status, message_id, payload)
        })
        .collect()
}

/// Posts one status report and returns what the hub did with it
/// (`applied`, `ignored_not_forward` or `kept_unmatched`).
async fn report(app: &TestApp, inbox: &ApiInbox, external_id: &str, status: &str) -> String {
    let response = app
        .post_signed(
            inbox,
            "status",
            &json!({"external_id": external_id, "status": status}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "status {status} accepted"
    );
    let answer: Value = response.json().await.expect("status answer");
    answer["stored"][0]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("stored[0].status in {answer}"))
        .to_owned()
}

/// The message ids the callback received, in order.
fn callback_ids(callback: &CallbackServer) -> Vec<String> {
    callback
        .requests()
        .iter()
        .map(|r| r.body["message"]["id"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Sets a conversation's status as `token`, asserting 200.
async fn set_status(app: &TestApp, token: &str, conversation_id: &str, status: &str) {
    let response = app
        .api(
            token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/status"),
            Some(json!({ "status": status })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "set status {status}");
}

/// A conversation's status as the API shows it.
async fn status_of(app: &TestApp, token: &str, conversation_id: &str) -> Value {
    app.get_json(token, &format!("/api/v1/conversations/{conversation_id}"))
        .await["status"]
        .clone()
}

/// Turns off reopening resolved conversations for the inbox.
async fn keep_resolved_closed(app: &TestApp, token: &str, inbox: &ApiInbox) {
    let response = app
        .api(
            token,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"reopen_resolved": false}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "settings changed");
}

/// A message event whose contact carries `name`.
fn named_event(external_id: &str, identifier: &str, content: &str, name: &str) -> Value {
    let mut event = message_event(external_id, identifier, content);
    event["contact"]["name"] = json!(name);
    event
}

// ---------------------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn an_inbound_message_reaches_the_agent_websocket_after_it_is_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut socket = app.websocket(&admin, None).await;
    assert_eq!(socket.hello["data"]["start"], "fresh");

    let stored = app.inbound(&inbox, "m-1", "cust-42", "Hello").await;
    assert_eq!(stored["stored"][0]["type"], "message", "{stored}");
    assert!(stored["stored"][0].get("duplicate").is_none(), "{stored}");
    let message_id = stored_id(&stored, 0, "message_id");
    let conversation_id = stored_id(&stored, 0, "conversation_id");

    // The new conversation is announced first, then its message.
    let opened = socket.next_of("conversation.created").await;
    assert_eq!(
        opened["data"]["conversation"]["id"],
        conversation_id.as_str()
    );
    assert_eq!(opened["data"]["conversation"]["status"], "open");
    let created = socket.next_of("message.created").await;
    let message = &created["data"]["message"];
    assert_eq!(message["id"], message_id.as_str());
    assert_eq!(message["conversation_id"], conversation_id.as_str());
    assert_eq!(message["inbox_id"], inbox.id.as_str());
    assert_eq!(message["content"], "Hello");
    assert_eq!(message["direction"], "inbound");
    assert_eq!(message["sender_type"], "contact");
    assert_eq!(message["external_id"], "m-1");
    assert_eq!(message["seq"], 1);
    assert!(
        created["seq"].as_u64() > opened["seq"].as_u64(),
        "stream seqs increase: {opened} then {created}"
    );

    // What the socket announced is what the store holds.
    let stored = messages(&app, &admin, &conversation_id).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], message_id.as_str());
    assert_eq!(stored[0]["content"], "Hello");
}

#[actix_web::test]
async fn the_same_external_id_posted_20_times_at_once_is_stored_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let event = message_event("retried-1", "cust-42", "Hello once");

    let responses =
        futures_util::future::join_all((0..20).map(|_| app.post_signed(&inbox, "", &event))).await;
    let mut answers = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK, "every retry gets a 200");
        answers.push(response.json::<Value>().await.expect("webhook answer"));
    }

    let entries: Vec<&Value> = answers.iter().map(|a| &a["stored"][0]).collect();
    let duplicates = entries.iter().filter(|e| e["duplicate"] == true).count();
    assert_eq!(duplicates, 19, "19 answers say duplicate: {answers:?}");
    let message_ids: std::collections::HashSet<&str> = entries
        .iter()
        .map(|e| {
            e["message_id"]
                .as_str()
                .expect("message_id in every answer")
        })
        .collect();
    assert_eq!(
        message_ids.len(),
        1,
        "every answer names the same message: {answers:?}"
    );
    let first = entries
        .iter()
        .find(|e| e.get("duplicate").is_none())
        .expect("one answer stored it");
    let conversation_id = first["conversation_id"].as_str().expect("conversation_id");

    let stored = messages(&app, &admin, conversation_id).await;
    assert_eq!(stored.len(), 1, "exactly one message: {stored:?}");
    assert_eq!(stored[0]["external_id"], "retried-1");
    assert_eq!(
        conversations(&app, &admin).await.len(),
        1,
        "exactly one conversation"
    );

    // A later retry of the same event is a duplicate too.
    let again = app
        .inbound(&inbox, "retried-1", "cust-42", "Hello once")
        .await;
    assert_eq!(again["stored"][0]["duplicate"], true, "{again}");
    assert_eq!(messages(&app, &admin, conversation_id).await.len(), 1);
}

/// On PostgreSQL several writers commit in parallel (one contact always maps to the same
/// one); batch bodies naming several contacts cross writers. Every contact must still end
/// up with exactly one conversation whose messages have gap-free sequence numbers.
#[actix_web::test]
async fn concurrent_messages_of_each_contact_share_one_conversation_with_gap_free_seq() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    const CONTACTS: usize = 6;
    const SINGLES: usize = 8;
    let mut bodies = Vec::new();
    for contact in 0..CONTACTS {
        for n in 0..SINGLES {
            bodies.push(message_event(
                &format!("c{contact}-m{n}"),
                &format!("cust-{contact}"),
                "single",
            ));
        }
    }
    // Each batch names every contact, starting at a different one (so different writers).
    for batch in 0..CONTACTS {
        let events: Vec<Value> = (0..CONTACTS)
            .map(|i| {
                let contact = (batch + i) % CONTACTS;
                message_event(
                    &format!("b{batch}-c{contact}"),
                    &format!("cust-{contact}"),
                    "batch",
                )
            })
            .collect();
        bodies.push(json!({ "events": events }));
    }

    let responses =
        futures_util::future::join_all(bodies.iter().map(|body| app.post_signed(&inbox, "", body)))
            .await;
    for response in responses {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let listed = conversations(&app, &admin).await;
    assert_eq!(
        listed.len(),
        CONTACTS,
        "one conversation per contact: {listed:?}"
    );
    for conversation in &listed {
        let id = conversation["id"].as_str().expect("conversation id");
        let stored = messages(&app, &admin, id).await;
        let mut seqs: Vec<i64> = stored
            .iter()
            .map(|m| m["seq"].as_i64().expect("seq"))
            .collect();
        seqs.sort_unstable();
        let expected: Vec<i64> = (1..=(SINGLES + CONTACTS) as i64).collect();
        assert_eq!(seqs, expected, "conversation {id}: {stored:?}");
        let senders: std::collections::HashSet<&Value> =
            stored.iter().map(|m| &m["sender_id"]).collect();
        assert_eq!(senders.len(), 1, "one contact per conversation: {stored:?}");
    }
}

#[actix_web::test]
async fn a_batch_stores_every_event_and_separates_contacts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;

    let batch: Vec<Value> = (1..=5)
        .map(|i| message_event(&format!("b-{i}"), "cust-42", &format!("part {i}")))
        .collect();
    let response = app
        .post_signed(&inbox, "", &json!({ "events": batch }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("webhook answer");
    let stored = answer["stored"].as_array().expect("stored list");
    assert_eq!(stored.len(), 5, "one entry per event: {answer}");
    assert!(
        stored
            .iter()
            .all(|e| e["type"] == "message" && e.get("duplicate").is_none()),
        "all five are new messages: {answer}"
    );
    let conversation_id = stored_id(&answer, 0, "conversation_id");
    assert!(
        stored
            .iter()
            .all(|e| e["conversation_id"] == conversation_id.as_str()),
        "one contact, one conversation: {answer}"
    );

    let list = messages(&app, &admin, &conversation_id).await;
    let contents: Vec<&str> = list
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["part 1", "part 2", "part 3", "part 4", "part 5"],
        "all five, in batch order"
    );
    let seqs: Vec<i64> = list.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    // Several contacts in one batch, and an event repeated inside the batch.
    let mixed = json!({"events": [
        message_event("c-1", "cust-a", "from a"),
        message_event("c-2", "cust-b", "from b"),
        message_event("c-3", "cust-a", "a again"),
        message_event("c-2", "cust-b", "from b"),
    ]});
    let response = app.post_signed(&inbox, "", &mixed).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("webhook answer");
    let conv_a = stored_id(&answer, 0, "conversation_id");
    let conv_b = stored_id(&answer, 1, "conversation_id");
    assert_ne!(conv_a, conv_b, "two contacts, two conversations: {answer}");
    assert_ne!(conv_a, conversation_id);
    assert_ne!(conv_b, conversation_id);
    assert_eq!(stored_id(&answer, 2, "conversation_id"), conv_a, "{answer}");
    assert_eq!(answer["stored"][3]["duplicate"], true, "{answer}");
    assert_eq!(
        answer["stored"][3]["message_id"], answer["stored"][1]["message_id"],
        "{answer}"
    );

    let a: Vec<Value> = messages(&app, &admin, &conv_a).await;
    assert_eq!(
        a.iter().map(|m| m["content"].clone()).collect::<Vec<_>>(),
        [json!("from a"), json!("a again")]
    );
    assert_eq!(messages(&app, &admin, &conv_b).await.len(), 1);
    assert_eq!(conversations(&app, &admin).await.len(), 3);
}

/// One body holding what the set-based write path (PostgreSQL) must treat exactly like the
/// one-by-one path: a resolved conversation reopened by two messages, a pending one that
/// stays pending, a new contact renamed by its second message, a quote (which takes the
/// one-by-one path) between plain messages, and a repeat of an id stored before.
#[actix_web::test]
async fn a_mixed_batch_keeps_order_status_and_profiles() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let first = app.inbound(&inbox, "r-1", "cust-r", "first").await;
    let resolved = stored_id(&first, 0, "conversation_id");
    set_status(&app, &admin, &resolved, "resolved").await;
    let other = app.inbound(&inbox, "p-1", "cust-p", "waiting").await;
    let pending = stored_id(&other, 0, "conversation_id");
    set_status(&app, &admin, &pending, "pending").await;

    let mut quoting = message_event("r-4", "cust-r", "quoting the first");
    quoting["reply_to"] = json!("r-1");
    let body = json!({"events": [
        message_event("r-2", "cust-r", "back again"),
        named_event("n-1", "cust-n", "Nina", "Nina"),
        message_event("r-3", "cust-r", "second"),
        message_event("p-2", "cust-p", "still there"),
        named_event("n-2", "cust-n", "Nina K", "Nina K"),
        quoting,
        message_event("r-5", "cust-r", "after the quote"),
        message_event("r-1", "cust-r", "first"),
    ]});
    let response = app.post_signed(&inbox, "", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("webhook answer");
    for index in [0, 2, 5, 6] {
        assert_eq!(
            stored_id(&answer, index, "conversation_id"),
            resolved,
            "{answer}"
        );
    }
    assert_eq!(
        stored_id(&answer, 3, "conversation_id"),
        pending,
        "{answer}"
    );
    assert_eq!(answer["stored"][7]["duplicate"], true, "{answer}");
    assert_eq!(
        answer["stored"][7]["message_id"], first["stored"][0]["message_id"],
        "{answer}"
    );

    let thread = messages(&app, &admin, &resolved).await;
    let read: Vec<(i64, &str)> = thread
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        read,
        [
            (1, "first"),
            (2, "back again"),
            (3, "second"),
            (4, "quoting the first"),
            (5, "after the quote"),
        ]
    );
    assert_eq!(thread[3]["reply_to_id"], thread[0]["id"], "{thread:?}");
    assert_eq!(status_of(&app, &admin, &resolved).await, "open", "reopened");
    assert_eq!(
        status_of(&app, &admin, &pending).await,
        "pending",
        "a customer writing keeps pending"
    );

    let nina = stored_id(&answer, 1, "conversation_id");
    assert_eq!(stored_id(&answer, 4, "conversation_id"), nina);
    let nina_thread = messages(&app, &admin, &nina).await;
    assert_eq!(nina_thread.len(), 2);
    let contact_id = nina_thread[0]["sender_id"].as_str().expect("sender id");
    let contact = app
        .get_json(&admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    assert_eq!(
        contact["contact"]["name"], "Nina K",
        "the later profile wins"
    );
    assert_eq!(conversations(&app, &admin).await.len(), 3);
}

/// A contact an admin merged has two identifiers; messages of both in one body update it in
/// arrival order (the later name wins), and an inbox that does not reopen resolved
/// conversations starts a new one for a batch, too.
#[actix_web::test]
async fn a_batch_updates_a_merged_contact_in_order_and_keeps_the_reopen_policy() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let sender_of = async |answer: &Value| {
        let conversation_id = stored_id(answer, 0, "conversation_id");
        let thread = messages(&app, &admin, &conversation_id).await;
        thread[0]["sender_id"]
            .as_str()
            .expect("sender id")
            .to_owned()
    };
    let first = app.inbound(&inbox, "a-1", "cust-a", "from a").await;
    let second = app.inbound(&inbox, "b-1", "cust-b", "from b").await;
    let (kept, other) = (sender_of(&first).await, sender_of(&second).await);
    let response = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/contacts/{kept}/merge"),
            Some(json!({ "contact_id": other })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "merged");

    let body = json!({"events": [named_event("b-2", "cust-b", "Bea", "Bea"), named_event("a-2", "cust-a", "Ann", "Ann")]});
    let response = app.post_signed(&inbox, "", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let contact = app
        .get_json(&admin, &format!("/api/v1/contacts/{kept}"))
        .await;
    assert_eq!(
        contact["contact"]["name"], "Ann",
        "the later message's name wins"
    );

    keep_resolved_closed(&app, &admin, &inbox).await;
    let resolved = stored_id(&first, 0, "conversation_id");
    set_status(&app, &admin, &resolved, "resolved").await;
    let body = json!({"events": [
        message_event("a-3", "cust-a", "new question"),
        message_event("a-4", "cust-a", "and more"),
    ]});
    let response = app.post_signed(&inbox, "", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("webhook answer");
    let fresh = stored_id(&answer, 0, "conversation_id");
    assert_ne!(fresh, resolved, "a new conversation: {answer}");
    assert_eq!(stored_id(&answer, 1, "conversation_id"), fresh, "{answer}");
    assert_eq!(
        status_of(&app, &admin, &resolved).await,
        "resolved",
        "the old one stays resolved"
    );
}

#[actix_web::test]
async fn refused_webhooks_store_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let body = serde_json::to_vec(&message_event("x-1", "cust-42", "Hello")).unwrap();

    // Signature refusals: 401.
    let wrong_secret = switchboard_api_channel::sign(b"not the inbox secret", &body);
    let tampered = {
        let other = serde_json::to_vec(&message_event("x-1", "cust-42", "Hellx")).unwrap();
        switchboard_api_channel::sign(inbox.secret.as_bytes(), &other)
    };
    let cases: [(&str, Option<&str>); 4] = [
        ("missing signature", None),
        ("signed with another secret", Some(&wrong_secret)),
        ("signature of another body", Some(&tampered)),
        ("not a signature", Some("sha256=zz")),
    ];
    for (case, signature) in cases {
        let response = post_raw(&app, &inbox.webhook_url, &body, signature).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    let status_url = format!("{}/status", inbox.webhook_url);
    let unsigned_status =
        serde_json::to_vec(&json!({"external_id": "x", "status": "read"})).unwrap();
    assert_error(
        post_raw(&app, &status_url, &unsigned_status, None).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;

    // Malformed bodies, correctly signed: 400, and not even the valid part is stored.
    let mut no_identifier = message_event("x-2", "cust-42", "Hello");
    no_identifier["contact"]
        .as_object_mut()
        .unwrap()
        .remove("identifier");
    let mut unknown_type = message_event("x-3", "cust-42", "Hello");
    unknown_type["type"] = json!("sticker");
    let mut second_bad = message_event("x-5", "cust-42", "bad");
    second_bad["external_id"] = json!("");
    let cases = [
        ("missing contact.identifier", no_identifier, "identifier"),
        ("unknown type", unknown_type, "sticker"),
        (
            "second event of a batch bad",
            json!({"events": [message_event("x-4", "cust-42", "valid"), second_bad]}),
            "events[1]",
        ),
        ("empty batch", json!({"events": []}), "events"),
    ];
    for (case, body, named) in cases {
        let response = app.post_signed(&inbox, "", &body).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "malformed_payload").await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(named),
            "{case}: the message names {named:?}: {message}"
        );
    }
    let not_json = b"{\"type\": \"message\",";
    let signature = switchboard_api_channel::sign(inbox.secret.as_bytes(), not_json);
    assert_error(
        post_raw(&app, &inbox.webhook_url, not_json, Some(&signature)).await,
        StatusCode::BAD_REQUEST,
        "malformed_payload",
    )
    .await;

    assert!(
        conversations(&app, &admin).await.is_empty(),
        "nothing was stored by refused webhooks"
    );
    // Not even the dedupe record of the valid first event of the refused batch: posted
    // alone now, it is new, as are the bodies refused for their signature.
    for external_id in ["x-4", "x-1"] {
        let answer = app.inbound(&inbox, external_id, "cust-42", "Hello").await;
        assert!(
            answer["stored"][0].get("duplicate").is_none(),
            "{external_id} was never stored before: {answer}"
        );
    }
    let list = conversations(&app, &admin).await;
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(messages(&app, &admin, id).await.len(), 2);
}

// ---------------------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_reply_is_signed_to_the_callback_and_its_statuses_reach_the_websocket() {
    let callback = CallbackServer::start().await;
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let mut socket = app.websocket(&admin, None).await;

    let sent = reply(&app, &admin, &conversation_id, "Hi Ann, how can I help?").await;
    let id = id_of(&sent);
    assert_eq!(sent["direction"], "outbound");
    assert_eq!(sent["private"], false);
    assert_eq!(sent["error"], Value::Null);
    assert_eq!(sent["seq"], 2);

    let request = &callback.wait_for(1).await[0];
    assert!(
        request.signature_valid,
        "the callback is signed with the inbox secret"
    );
    let body = &request.body["message"];
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["conversation_id"], conversation_id.as_str());
    assert_eq!(body["content"], "Hi Ann, how can I help?");
    assert_eq!(body["private"], false);
    assert_eq!(body["attachments"], json!([]));
    assert_eq!(body["contact"]["identifier"], "cust-42");
    assert_eq!(body["contact"]["name"], "Ann");
    assert_eq!(body["contact"]["email"], "ann@example.com");

    let created = socket.next_of("message.created").await;
    assert_eq!(created["data"]["message"]["id"], id.as_str());
    assert_eq!(created["data"]["message"]["status"], "queued");

    // The callback answered {"external_id": "ext-<id>"}: the message is sent under it.
    let external_id = format!("ext-{id}");
    let seen = updates_until(&mut socket, &id, "sent").await;
    assert_eq!(seen.len(), 1, "one update to sent: {seen:?}");
    assert_eq!(seen[0]["external_id"], external_id.as_str());
    let now = wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(now["external_id"], external_id.as_str());
    assert_eq!(now["error"], Value::Null);

    assert_eq!(
        report(&app, &inbox, &external_id, "delivered").await,
        "applied"
    );
    let seen = updates_until(&mut socket, &id, "delivered").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        message_now(&app, &admin, &conversation_id, &id).await["status"],
        "delivered"
    );

    assert_eq!(report(&app, &inbox, &external_id, "read").await, "applied");
    let seen = updates_until(&mut socket, &id, "read").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        message_now(&app, &admin, &conversation_id, &id).await["status"],
        "read"
    );

    // Every raw report is kept, tied to its message.
    let kept = status_events(&app, &inbox.id).await;
    let message_id: i64 = id.parse().unwrap();
    assert_eq!(
        kept.iter()
            .map(|(s, m, _)| (s.as_str(), *m))
            .collect::<Vec<_>>(),
        [("delivered", Some(message_id)), ("read", Some(message_id))]
    );
    assert_eq!(
        kept[1].2,
        json!({"external_id": external_id, "status": "read"}),
        "the raw report is kept as sent"
    );

    // An answer without an external id: statuses then use "sb:<message id>".
    callback.script([Answer::status(200, "{}")]);
    let second = id_of(&reply(&app, &admin, &conversation_id, "Anything else?").await);
    let now = wait_for_status(&app, &admin, &conversation_id, &second, "sent").await;
    let hub_id = format!("sb:{second}");
    assert_eq!(now["external_id"], hub_id.as_str());
    assert_eq!(report(&app, &inbox, &hub_id, "delivered").await, "applied");
    assert_eq!(
        message_now(&app, &admin, &conversation_id, &second).await["status"],
        "delivered"
    );
    assert_eq!(
        callback_ids(&callback),
        [id, second],
        "one request per reply"
    );
}

#[actix_web::test]
async fn a_late_delivered_after_read_never_moves_the_message_back() {
    let callback = CallbackServer::start().await;
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let mut socket = app.websocket(&admin, None).await;
    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    // The socket has shown `sent` (it is published just after the commit REST sees).
    updates_until(&mut socket, &id, "sent").await;
    let external_id = format!("ext-{id}");

    assert_eq!(report(&app, &inbox, &external_id, "read").await, "applied");
    let seen = updates_until(&mut socket, &id, "read").await;
    assert_eq!(seen.len(), 1, "{seen:?}");

    for late in ["delivered", "sent", "read", "failed"] {
        assert_eq!(
            report(&app, &inbox, &external_id, late).await,
            "ignored_not_forward",
            "{late} after read"
        );
    }
    let now = message_now(&app, &admin, &conversation_id, &id).await;
    assert_eq!(now["status"], "read", "still read: {now}");
    assert_eq!(
        now["error"],
        Value::Null,
        "a late failure left no error: {now}"
    );

    let regressions: Vec<Value> = frames_within(&mut socket, Duration::from_millis(600))
        .await
        .into_iter()
        .filter(|f| f["type"] == "message.updated" && f["data"]["message"]["id"] == id.as_str())
        .collect();
    assert!(
        regressions.is_empty(),
        "no message.updated after read: {regressions:?}"
    );

    // The late reports are kept all the same; the second `read`, identical to the first,
    // is a redelivery and kept once.
    let kept: Vec<String> = status_events(&app, &inbox.id)
        .await
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    assert_eq!(kept, ["read", "delivered", "sent", "failed"]);

    // A `read` that arrives before the hub has even recorded the send (the integration
    // reports faster than the hub stores): kept, then applied when the send is recorded.
    callback.script([Answer::ok("early-ext")]);
    assert_eq!(
        report(&app, &inbox, "early-ext", "read").await,
        "kept_unmatched"
    );
    let early = id_of(&reply(&app, &admin, &conversation_id, "Again").await);
    let seen = updates_until(&mut socket, &early, "read").await;
    let statuses: Vec<&Value> = seen.iter().map(|m| &m["status"]).collect();
    assert_eq!(statuses, [&json!("sent"), &json!("read")], "{seen:?}");
    assert_eq!(
        report(&app, &inbox, "early-ext", "delivered").await,
        "ignored_not_forward"
    );
    let now = message_now(&app, &admin, &conversation_id, &early).await;
    assert_eq!(now["status"], "read", "{now}");
    assert_eq!(now["external_id"], "early-ext");
    let early_events: Vec<Option<i64>> = status_events(&app, &inbox.id)
        .await
        .into_iter()
        .filter(|(_, _, raw)| raw["external_id"] == "early-ext")
        .map(|(_, message, _)| message)
        .collect();
    let early_id: i64 = early.parse().unwrap();
    assert_eq!(
        early_events,
        [Some(early_id), Some(early_id)],
        "both reports are kept and tied to the message"
    );

    // An early `failed` keeps its reason until the send is recorded, then shows it.
    callback.script([Answer::ok("early-fail")]);
    let response = app
        .post_signed(
            &inbox,
            "status",
            &json!({"external_id": "early-fail", "status": "failed",
                    "error": {"code": "blocked", "reason": "the customer blocked this number"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("status answer");
    assert_eq!(answer["stored"][0]["status"], "kept_unmatched", "{answer}");
    let doomed = id_of(&reply(&app, &admin, &conversation_id, "Third").await);
    updates_until(&mut socket, &doomed, "failed").await;
    let now = message_now(&app, &admin, &conversation_id, &doomed).await;
    assert_eq!(now["status"], "failed", "{now}");
    assert_eq!(
        now["error"],
        json!({"code": "blocked", "reason": "the customer blocked this number"}),
        "{now}"
    );
}

/// An integrator may number its receipts and its customers' messages from separate
/// sequences: our reply's id "42" must never make the customer's message "42" a "duplicate"
/// (it would be lost), nor the other way round leave the reply's statuses unmatched.
#[actix_web::test]
async fn reply_ids_and_customer_message_ids_never_collide() {
    let callback = CallbackServer::start().await;
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "1").await;

    // Reply first: the integrator calls it 42...
    callback.script([Answer::ok("42")]);
    let ours = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    let sent = wait_for_status(&app, &admin, &conversation_id, &ours, "sent").await;
    assert_eq!(sent["external_id"], "42");
    // ...then the customer's message 42 arrives: a new message, not a retry.
    let answer = app.inbound(&inbox, "42", "cust-42", "a new question").await;
    assert!(answer["stored"][0].get("duplicate").is_none(), "{answer}");
    // A status for 42 is about our reply.
    assert_eq!(report(&app, &inbox, "42", "delivered").await, "applied");

    // Customer's message 77 first, then a reply the integrator also calls 77.
    app.inbound(&inbox, "77", "cust-42", "another").await;
    callback.script([Answer::ok("77")]);
    let second = id_of(&reply(&app, &admin, &conversation_id, "Again").await);
    wait_for_status(&app, &admin, &conversation_id, &second, "sent").await;
    assert_eq!(report(&app, &inbox, "77", "read").await, "applied");
    let now = message_now(&app, &admin, &conversation_id, &second).await;
    assert_eq!(now["status"], "read", "{now}");
    assert_eq!(now["external_id"], "77");
    let stored = messages(&app, &admin, &conversation_id).await;
    assert_eq!(
        stored.len(),
        5,
        "three customer messages and two replies: {stored:?}"
    );
}

#[actix_web::test]
async fn a_callback_500_then_200_delivers_exactly_once() {
    let callback = CallbackServer::start().await;
    callback.script([Answer::status(
        500,
        r#"{"error":{"code":"oops","message":"database down"}}"#,
    )]);
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let mut socket = app.websocket(&admin, None).await;

    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    let seen = updates_until(&mut socket, &id, "sent").await;
    let waiting = &seen[0];
    assert_eq!(
        waiting["status"], "queued",
        "waiting for the retry: {seen:?}"
    );
    assert_eq!(waiting["error"]["code"], "retrying", "{seen:?}");
    let reason = waiting["error"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("500") && reason.contains("database down"),
        "the agent sees why: {reason}"
    );
    let done = seen.last().unwrap();
    assert_eq!(done["error"], Value::Null, "the error is gone once sent");

    let now = wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(now["external_id"], format!("ext-{id}").as_str());
    assert_eq!(now["error"], Value::Null);

    // Two attempts (500, then the only 200), and nothing more after a drain tick.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let requests = callback.requests();
    assert_eq!(
        requests.len(),
        2,
        "one failed and one successful request: {:?}",
        callback_ids(&callback)
    );
    assert!(requests.iter().all(|r| r.signature_valid));
    assert_eq!(callback_ids(&callback), [id.clone(), id]);
}

#[actix_web::test]
async fn a_429_retry_after_is_honoured() {
    let callback = CallbackServer::start().await;
    callback.script([Answer::status(429, "").with_header("Retry-After", "2")]);
    // Retries after ~50 ms: only Retry-After can hold the second attempt back 2 s.
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;

    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    callback.wait_for(1).await;
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    let waiting = eventually(&app, &admin, &path, |list| {
        list["data"][1]["error"]["code"] == "retrying"
    })
    .await;
    let reason = waiting["data"][1]["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("429"), "{reason}");

    let requests = callback.wait_for(2).await;
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "the retry came {gap:?} after the 429, before its Retry-After of 2 s"
    );
    assert!(
        gap < Duration::from_millis(4500),
        "the retry came {gap:?} after the 429; Retry-After asked for 2 s"
    );
    wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(callback.requests().len(), 2);
}

#[actix_web::test]
async fn the_outbox_survives_a_restart() {
    let callback = CallbackServer::start().await;
    // The integration is down for the first two attempts.
    callback.script([Answer::status(503, "down"), Answer::status(503, "down")]);
    // First retry 300-600 ms after a failure: far enough to stop the hub before it.
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_OUTBOUND_RETRY_BASE_MS".into(), "600".into());
    })
    .await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, Some(&callback.url)).await;
    callback.expect_secret(&inbox.secret);
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);

    // The first attempt failed and its retry is recorded...
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    eventually(&app, &admin, &path, |list| {
        list["data"][1]["error"]["code"] == "retrying"
    })
    .await;

    // ...then the hub stops, channels first. Its retry was due within 600 ms and its
    // outbox timer ticks every second: a hub still sending would send it in this pause.
    app.state.hub.shutdown().await;
    app.handle.stop(true).await;
    let at_stop = callback.requests().len();
    assert!(
        (1..=2).contains(&at_stop),
        "the stopped hub never got a 2xx: {at_stop} requests"
    );
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        callback.requests().len(),
        at_stop,
        "the stopped hub sent nothing after its stop"
    );

    let app = app.restart().await;
    let now = wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(now["external_id"], format!("ext-{id}").as_str());
    let requests = callback.requests();
    assert_eq!(
        requests.len(),
        3,
        "two failed attempts across the restart, then one success: {:?}",
        callback_ids(&callback)
    );
    assert!(requests.iter().all(|r| r.signature_valid));
    assert!(callback_ids(&callback).iter().all(|m| *m == id));
}

#[actix_web::test]
async fn a_permanent_failure_shows_the_reason_and_an_agent_retry_sends_it() {
    let callback = CallbackServer::start().await;
    callback.script([Answer::status(
        422,
        r#"{"error":{"code":"blocked","message":"user blocked"}}"#,
    )]);
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let mut socket = app.websocket(&admin, None).await;

    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    let seen = updates_until(&mut socket, &id, "failed").await;
    assert_eq!(seen.len(), 1, "failed at once, no retries: {seen:?}");
    let failed = wait_for_status(&app, &admin, &conversation_id, &id, "failed").await;
    assert_eq!(failed["error"]["code"], "blocked", "{failed}");
    let reason = failed["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("user blocked"), "{reason}");
    assert_eq!(
        seen[0]["error"], failed["error"],
        "the socket showed it too"
    );
    assert_eq!(
        callback.requests().len(),
        1,
        "a permanent failure is not retried"
    );

    let retry_path = format!("/api/v1/conversations/{conversation_id}/messages/{id}/retry");
    let response = app.api(&admin, Method::POST, &retry_path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "retry accepted");
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["error"], Value::Null);
    let sent = wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(sent["external_id"], format!("ext-{id}").as_str());
    assert_eq!(sent["error"], Value::Null);
    assert_eq!(callback_ids(&callback), [id.clone(), id.clone()]);
    // The agent watches it go out again.
    let seen = updates_until(&mut socket, &id, "sent").await;
    assert_eq!(
        seen[0]["status"], "queued",
        "back to queued first: {seen:?}"
    );
    assert_eq!(seen.last().unwrap()["error"], Value::Null);
    assert!(
        app.audit_actions(&admin, 5)
            .await
            .contains(&"message.retry".to_owned()),
        "the retry is audited"
    );

    // Only failed replies can be retried.
    assert_error(
        app.api(&admin, Method::POST, &retry_path, None).await,
        StatusCode::CONFLICT,
        "not_allowed",
    )
    .await;
    let inbound_id = messages(&app, &admin, &conversation_id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inbound_retry =
        format!("/api/v1/conversations/{conversation_id}/messages/{inbound_id}/retry");
    assert_error(
        app.api(&admin, Method::POST, &inbound_retry, None).await,
        StatusCode::CONFLICT,
        "not_allowed",
    )
    .await;
    let unknown = format!("/api/v1/conversations/{conversation_id}/messages/999999/retry");
    assert_error(
        app.api(&admin, Method::POST, &unknown, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(callback.requests().len(), 2, "refused retries send nothing");

    // A failure the integration reports later (after a 2xx) is shown the same way, and
    // retried the same way.
    let later = id_of(&reply(&app, &admin, &conversation_id, "Are you there?").await);
    wait_for_status(&app, &admin, &conversation_id, &later, "sent").await;
    let response = app
        .post_signed(
            &inbox,
            "status",
            &json!({"external_id": format!("ext-{later}"), "status": "failed",
                    "error": {"code": "undeliverable", "reason": "phone switched off"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = updates_until(&mut socket, &later, "failed").await;
    let shown = &seen.last().unwrap()["error"];
    assert_eq!(
        shown,
        &json!({"code": "undeliverable", "reason": "phone switched off"})
    );
    let retry_later = format!("/api/v1/conversations/{conversation_id}/messages/{later}/retry");
    let response = app.api(&admin, Method::POST, &retry_later, None).await;
    assert_eq!(response.status(), StatusCode::OK, "retry accepted");
    let seen = updates_until(&mut socket, &later, "sent").await;
    assert_eq!(seen.last().unwrap()["error"], Value::Null, "{seen:?}");
    assert_eq!(
        callback_ids(&callback),
        [id.clone(), id, later.clone(), later]
    );
}

#[actix_web::test]
async fn a_reused_idempotency_key_sends_one_message() {
    let callback = CallbackServer::start().await;
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let body = || json!({"content": "Your order shipped", "private": false});

    // Sequential: a double click.
    let first = send_reply(&app, &admin, &conversation_id, body(), Some("click-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send_reply(&app, &admin, &conversation_id, body(), Some("click-1")).await;
    assert_eq!(again.status(), StatusCode::OK, "a replay is not a creation");
    assert_eq!(
        again
            .headers()
            .get("Idempotent-Replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the same message");

    // Concurrent: two tabs at once with the same key.
    let (a, b) = tokio::join!(
        send_reply(&app, &admin, &conversation_id, body(), Some("click-2")),
        send_reply(&app, &admin, &conversation_id, body(), Some("click-2")),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "one creates, one replays"
    );
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"], "both answers are the same message");
    assert_ne!(a["id"], first["id"], "another key, another message");

    let list = messages(&app, &admin, &conversation_id).await;
    assert_eq!(
        list.len(),
        3,
        "the inbound message and two replies: {list:?}"
    );
    let first_id = id_of(&first);
    let second_id = id_of(&a);
    wait_for_status(&app, &admin, &conversation_id, &first_id, "sent").await;
    wait_for_status(&app, &admin, &conversation_id, &second_id, "sent").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut sent = callback_ids(&callback);
    sent.sort();
    let mut expected = vec![first_id, second_id];
    expected.sort();
    assert_eq!(sent, expected, "one callback request per message");
}

#[actix_web::test]
async fn a_private_note_is_never_sent() {
    let callback = CallbackServer::start().await;
    let (app, admin, inbox) = hub_with_callback(&callback).await;
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;

    let response = send_reply(
        &app,
        &admin,
        &conversation_id,
        json!({"content": "VIP customer, be nice", "private": true}),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["private"], true);
    assert_eq!(note["direction"], "internal");
    assert_eq!(note["status"], Value::Null, "a note has no delivery status");
    assert_eq!(note["error"], Value::Null);

    // A public reply after it goes out alone.
    let public = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);
    wait_for_status(&app, &admin, &conversation_id, &public, "sent").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        callback_ids(&callback),
        [public],
        "only the public reply reached the callback"
    );
    let stored = message_now(&app, &admin, &conversation_id, &id_of(&note)).await;
    assert_eq!(stored["status"], Value::Null);
    assert_eq!(stored["direction"], "internal");
}

// ---------------------------------------------------------------------------------------
// Membership and inbox settings
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn an_agent_outside_the_inbox_sees_nothing_of_it_until_added() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (agent_id, password) = app
        .create_agent(&admin, "outsider@example.com", "agent")
        .await;
    let agent = app.token_for("outsider@example.com", &password).await;
    let mut agent_socket = app.websocket(&agent, None).await;
    let mut admin_socket = app.websocket(&admin, None).await;

    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let base = format!("/api/v1/conversations/{conversation_id}");
    // The admin's socket shows the event went out...
    admin_socket.next_of("message.created").await;
    // ...but not to the outsider.
    let leaked: Vec<Value> = frames_within(&mut agent_socket, Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|f| {
            f["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("message.") || t.starts_with("conversation."))
        })
        .collect();
    assert!(leaked.is_empty(), "the outsider got {leaked:?}");

    assert_error(
        app.api(&agent, Method::GET, &base, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.api(&agent, Method::GET, &format!("{base}/messages"), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.api(
            &agent,
            Method::POST,
            &format!("{base}/messages"),
            Some(json!({"content": "sneaky", "private": false})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(conversations(&app, &agent).await.is_empty());
    assert_eq!(
        messages(&app, &admin, &conversation_id).await.len(),
        1,
        "the refused reply stored nothing"
    );

    // Once a member, the agent sees new events live and can read the conversation.
    app.add_member(&admin, &inbox.id, &agent_id).await;
    let answer = app.inbound(&inbox, "m-2", "cust-42", "Still there?").await;
    let message_id = stored_id(&answer, 0, "message_id");
    let created = frame_where(&mut agent_socket, "message.created of m-2", |f| {
        f["type"] == "message.created"
    })
    .await;
    assert_eq!(created["data"]["message"]["id"], message_id.as_str());
    assert_eq!(messages(&app, &agent, &conversation_id).await.len(), 2);
    assert_eq!(conversations(&app, &agent).await.len(), 1);
}

#[actix_web::test]
async fn a_message_on_a_resolved_conversation_reopens_it_unless_the_inbox_says_otherwise() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let resolve = async |conversation_id: &str| {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("/api/v1/conversations/{conversation_id}/status"),
                Some(json!({"status": "resolved"})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "resolve");
        let conversation: Value = response.json().await.unwrap();
        assert_eq!(conversation["status"], "resolved");
    };
    let first = customer_writes(&app, &inbox, "m-1").await;
    resolve(&first).await;
    let again = customer_writes(&app, &inbox, "m-2").await;
    assert_eq!(again, first, "the same conversation continues");
    assert_eq!(
        status_of(&app, &admin, &first).await,
        "open",
        "and it is open again"
    );
    assert_eq!(messages(&app, &admin, &first).await.len(), 2);

    keep_resolved_closed(&app, &admin, &inbox).await;
    resolve(&first).await;
    let next = customer_writes(&app, &inbox, "m-3").await;
    assert_ne!(next, first, "a new conversation starts");
    assert_eq!(
        status_of(&app, &admin, &first).await,
        "resolved",
        "the old one stays resolved"
    );
    assert_eq!(status_of(&app, &admin, &next).await, "open");
    assert_eq!(messages(&app, &admin, &first).await.len(), 2);
    assert_eq!(messages(&app, &admin, &next).await.len(), 1);
}

#[actix_web::test]
async fn a_disabled_inbox_refuses_webhooks_until_enabled_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let set_enabled = async |enabled: bool| {
        let response = app
            .api(
                &admin,
                Method::PATCH,
                &format!("/api/v1/inboxes/{}", inbox.id),
                Some(json!({ "enabled": enabled })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "enabled: {enabled}");
    };

    set_enabled(false).await;
    let response = app
        .post_signed(&inbox, "", &message_event("m-1", "cust-42", "Hello?"))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post_signed(
            &inbox,
            "status",
            &json!({"external_id": "x", "status": "read"}),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        conversations(&app, &admin).await.is_empty(),
        "nothing stored for a disabled inbox"
    );

    set_enabled(true).await;
    let answer = app.inbound(&inbox, "m-1", "cust-42", "Hello?").await;
    assert!(
        answer["stored"][0].get("duplicate").is_none(),
        "the refused event was never stored: {answer}"
    );
    assert_eq!(conversations(&app, &admin).await.len(), 1);
}

#[actix_web::test]
async fn an_unreachable_callback_is_retried_and_a_new_callback_url_applies_live() {
    // An integration endpoint that is down: its port refuses connections.
    let gone = CallbackServer::start().await;
    gone.handle.stop(true).await;
    let live = CallbackServer::start().await;
    let app = spawn_app_with(fast_retries).await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, Some(&gone.url)).await;
    live.expect_secret(&inbox.secret);
    let conversation_id = customer_writes(&app, &inbox, "m-1").await;
    let id = id_of(&reply(&app, &admin, &conversation_id, "Hi").await);

    // A network failure is transient: the reply waits for a retry and says why.
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    let waiting = eventually(&app, &admin, &path, |list| {
        list["data"][1]["error"]["code"] == "retrying"
    })
    .await;
    let message = &waiting["data"][1];
    assert_eq!(message["status"], "queued", "{message}");
    let reason = message["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("could not connect"), "{reason}");

    // The admin points the inbox at a working endpoint; the running channel picks it up.
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"callback_url": live.url}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "callback_url changed");
    let sent = wait_for_status(&app, &admin, &conversation_id, &id, "sent").await;
    assert_eq!(sent["error"], Value::Null);
    assert_eq!(callback_ids(&live), [id], "the retry went to the new URL");
    assert!(live.requests()[0].signature_valid);
    assert!(gone.requests().is_empty());
}
