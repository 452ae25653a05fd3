//! Helpers of the tests of the agents' side of the stream (realtime, inbox access and
//! admin, conversation lists, messages, changes, contacts, the router): API calls, lists of
//! ids, socket frames.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AgentSocket, ApiInbox, TestApp};

/// A message event from a contact with its own name and email.
pub fn event_from(
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
pub async fn call(
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
pub async fn call_ok(
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
pub async fn post_message(app: &TestApp, inbox: &ApiInbox, event: &Value) -> String {
    let response = app.post_signed(inbox, "", event).await;
    assert_eq!(response.status(), StatusCode::OK, "webhook accepted");
    let body: Value = response.json().await.expect("webhook answer");
    body["stored"][0]["conversation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no conversation id in {body}"))
        .to_owned()
}

pub fn conversation_path(id: &str) -> String {
    format!("/api/v1/conversations/{id}")
}

/// The ids of a `{"data":[...]}` answer, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array in {list}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Ids as a sorted list, to compare sets with clear failure output.
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The ids a list query returns (first page, large enough for these tests), as a set.
pub async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let page = app
        .get_json(token, &format!("/api/v1/conversations?limit=200&{query}"))
        .await;
    sorted(ids(&page))
}

/// Reads frames until one matches `stop`; returns every frame read, that one last.
pub async fn read_until(
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

pub fn is_presence(frame: &Value, agent_id: &str, status: &str) -> bool {
    frame["type"] == "presence"
        && frame["data"]["agent_id"] == agent_id
        && frame["data"]["status"] == status
}

/// `"<seq> <type>"` per frame, for failure messages.
pub fn summary(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| format!("{} {}", f["seq"], f["type"].as_str().unwrap_or("?")))
        .collect()
}

/// Creates an agent and returns its id and an API token.
pub async fn agent(app: &TestApp, admin: &str, email: &str) -> (String, String) {
    let (id, password) = app.create_agent(admin, email, "agent").await;
    let token = app.token_for(email, &password).await;
    (id, token)
}

/// Posts an agent-side change and checks it was accepted.
pub async fn change(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> Value {
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

/// The newest audit entry.
pub async fn last_audit(app: &TestApp, admin: &str) -> Value {
    app.get_json(admin, "/api/v1/audit?limit=1").await["data"][0].clone()
}
