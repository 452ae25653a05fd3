//! The web chat widget's HTTP API and visitor socket, driven the way widget.js drives them
//! (browser tests are in widget_browser.rs).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, assert_error, eventually, spawn_app};

/// The page origin the test widgets allow.
pub const SITE: &str = "http://shop.example";

/// A widget inbox as its admin saw it.
pub struct Widget {
    pub id: String,
    pub key: String,
    pub secret: String,
    pub admin: String,
    pub embed: String,
}

pub async fn create_widget(app: &TestApp, settings: Value) -> Widget {
    let admin = app.admin_token().await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "Website", "channel_type": "widget", "settings": settings})),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.expect("inbox JSON");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Widget {
        id: body["id"].as_str().expect("id").to_owned(),
        key: body["settings"]["public_key"]
            .as_str()
            .expect("public key")
            .to_owned(),
        secret: body["secret"].as_str().expect("secret").to_owned(),
        embed: body["embed"].as_str().expect("embed").to_owned(),
        admin,
    }
}

async fn widget(app: &TestApp) -> Widget {
    create_widget(app, json!({"allowed_origins": [SITE]})).await
}

/// A visitor's HTTP call, from the site's origin.
async fn visitor_call(
    app: &TestApp,
    method: Method,
    path: &str,
    origin: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("Origin", origin);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("widget request")
}

/// A visitor's identify call from the site's page.
async fn identify(app: &TestApp, key: &str, token: &str, body: Value) -> reqwest::Response {
    visitor_call(
        app,
        Method::POST,
        &format!("/widget/api/identify?key={key}"),
        SITE,
        Some(token),
        Some(body),
    )
    .await
}

pub async fn new_visitor(app: &TestApp, widget: &Widget) -> String {
    let response = visitor_call(
        app,
        Method::POST,
        &format!("/widget/api/session?key={}", widget.key),
        SITE,
        None,
        Some(json!({"token": null})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(SITE)
    );
    let body: Value = response.json().await.expect("session JSON");
    body["token"].as_str().expect("token").to_owned()
}

/// A visitor's socket after `hello`: the `ready` frame and what followed it.
/// The browser the test visitors' sockets say they are.
const FIREFOX_ON_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

pub struct VisitorSocket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub ready: Value,
}

impl VisitorSocket {
    pub async fn open(app: &TestApp, key: &str, token: &str, last_seq: Option<i64>) -> Self {
        Self::open_at(&app.address, key, token, last_seq).await
    }

    /// Opens a visitor's socket on the hub at `address` (any node of a cluster).
    pub async fn open_at(address: &str, key: &str, token: &str, last_seq: Option<i64>) -> Self {
        let url = format!("{}/widget/ws?key={key}", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Origin", SITE.parse().expect("origin"));
        request
            .headers_mut()
            .insert("User-Agent", FIREFOX_ON_LINUX.parse().expect("user agent"));
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("visitor socket connects");
        let mut socket = Self {
            stream,
            ready: Value::Null,
        };
        socket
            .send(json!({"type": "hello", "token": token, "last_seq": last_seq}))
            .await;
        socket.ready = socket.next().await;
        assert_eq!(socket.ready["type"], "ready", "{}", socket.ready);
        socket
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Frame::Text(frame.to_string().into()))
            .await
            .expect("send frame");
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(wait, self.stream.next())
                .await
                .ok()??;
            match frame.ok()? {
                Frame::Text(text) => return serde_json::from_str(&text).ok(),
                Frame::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next frame, telling a quiet socket (nothing within `wait`) from a closed one.
    pub async fn poll(&mut self, wait: Duration) -> crate::helpers::Polled {
        use crate::helpers::Polled;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Polled::Quiet,
                Ok(None | Some(Err(_)) | Some(Ok(Frame::Close(_)))) => return Polled::Closed,
                Ok(Some(Ok(Frame::Text(text)))) => match serde_json::from_str(&text) {
                    Ok(value) => return Polled::Frame(value),
                    Err(_) => return Polled::Closed,
                },
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame of a type, skipping others (typing, presence).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    pub async fn say(&mut self, client_id: &str, content: &str) -> Value {
        self.send(json!({"type": "message", "client_id": client_id, "content": content}))
            .await;
        self.next_of("ack").await
    }
}

async fn reply(app: &TestApp, token: &str, conversation_id: &str, content: &str) -> Value {
    let response = app
        .api(
            token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(json!({"content": content})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("message JSON")
}

#[actix_web::test]
async fn an_admin_creates_a_widget_with_its_snippet_and_doors_check_the_origin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "Site", "channel_type": "widget", "settings": {}})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "Site", "channel_type": "widget",
                "settings": {"allowed_origins": ["https://shop.example/path"]}})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;

    let widget = create_widget(
        &app,
        json!({"allowed_origins": [SITE], "colour": "#0a7f3f", "title": "Acme help",
               "prechat_email": "required", "greeting": "Hello <there>"}),
    )
    .await;
    assert!(widget.key.starts_with("sbwk_"));
    assert!(widget.embed.contains(&format!("{}/widget.js", app.address)));
    assert!(widget.embed.contains(&widget.key));

    let config = visitor_call(
        &app,
        Method::GET,
        &format!("/widget/api/config?key={}", widget.key),
        SITE,
        None,
        None,
    )
    .await;
    assert_eq!(config.status(), StatusCode::OK);
    let config: Value = config.json().await.expect("config");
    assert_eq!(config["colour"], "#0a7f3f");
    assert_eq!(config["title"], "Acme help");
    assert_eq!(config["prechat"]["email"], "required");
    assert_eq!(config["greeting"], "Hello <there>");
    assert_eq!(config["agents_online"], false);

    // Another origin, no origin, an unknown key: refused before anything happens.
    for (origin, key, status) in [
        (
            "https://evil.example",
            widget.key.as_str(),
            StatusCode::FORBIDDEN,
        ),
        (
            "http://shop.example:8080",
            widget.key.as_str(),
            StatusCode::FORBIDDEN,
        ),
        (SITE, "sbwk_unknown", StatusCode::NOT_FOUND),
    ] {
        let response = visitor_call(
            &app,
            Method::POST,
            &format!("/widget/api/session?key={key}"),
            origin,
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(response.status(), status, "{origin} {key}");
    }
    let url = format!(
        "{}/widget/ws?key={}",
        app.address.replacen("http", "ws", 1),
        widget.key
    );
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().expect("origin"));
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err(), "a foreign page cannot open the socket");

    // The script itself is public and cacheable.
    let script = app
        .client
        .get(app.url("/widget.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/javascript"))
    );
}

#[actix_web::test]
async fn a_visitor_chats_live_and_resumes_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    assert_eq!(socket.ready["conversation_id"], Value::Null);

    let ack = socket
        .say("c-first-0001", "  Hello, is anyone there?  ")
        .await;
    assert_eq!(ack["duplicate"], false);
    assert_eq!(ack["message"]["content"], "Hello, is anyone there?");
    assert_eq!(ack["message"]["client_id"], "c-first-0001");
    assert_eq!(ack["message"]["from"], "visitor");
    let seq1 = ack["message"]["seq"].as_i64().expect("seq");

    // The agent sees it in the widget inbox and answers.
    let list = eventually(
        &app,
        &widget.admin,
        &format!("/api/v1/conversations?inbox_id={}", widget.id),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let conversation_id = list["data"][0]["id"].as_str().expect("id").to_owned();
    reply(
        &app,
        &widget.admin,
        &conversation_id,
        "Hi! <b>Yes</b>, how can I help?",
    )
    .await;
    let pushed = socket.next_of("message").await;
    assert_eq!(pushed["message"]["from"], "agent");
    assert_eq!(
        pushed["message"]["content"],
        "Hi! <b>Yes</b>, how can I help?"
    );
    assert_eq!(pushed["message"]["author"], "Administrator");
    let seq2 = pushed["message"]["seq"].as_i64().expect("seq");
    assert!(seq2 > seq1);

    // A private note never reaches the visitor.
    let note = app
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(json!({"content": "internal: VIP customer", "private": true})),
        )
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);

    // The same client_id again (an offline queue resending) is acknowledged, not stored.
    let again = socket.say("c-first-0001", "Hello, is anyone there?").await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["message"]["id"], ack["message"]["id"]);

    // While the socket is gone the agent answers twice; the resume brings exactly those.
    drop(socket);
    reply(
        &app,
        &widget.admin,
        &conversation_id,
        "Are you still there?",
    )
    .await;
    reply(
        &app,
        &widget.admin,
        &conversation_id,
        "I'll close this soon.",
    )
    .await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, Some(seq2)).await;
    assert_eq!(socket.ready["conversation_id"], conversation_id);
    let first = socket.next_of("message").await;
    let second = socket.next_of("message").await;
    assert_eq!(first["message"]["content"], "Are you still there?");
    assert_eq!(second["message"]["content"], "I'll close this soon.");
    // Afterwards only status changes of replies the visitor has (moving to sent) may follow:
    // no note, no duplicate, nothing new. On a busy machine the first reply's own `sent`
    // can come after the resume too.
    let known = [
        pushed["message"]["id"].clone(),
        first["message"]["id"].clone(),
        second["message"]["id"].clone(),
    ];
    while let Some(frame) = socket.next_within(Duration::from_millis(300)).await {
        // The conversation's state follows the history (open: the widget shows its composer).
        if frame["type"] == "conversation" {
            assert_eq!(frame["conversation_id"], conversation_id, "{frame}");
            assert_eq!(frame["resolved"], false, "{frame}");
            continue;
        }
        assert_eq!(frame["type"], "message", "{frame}");
        assert!(known.contains(&frame["message"]["id"]), "{frame}");
        assert_eq!(frame["message"]["status"], "sent", "{frame}");
    }

    // A new page load (no resume point) gets the history without the note.
    let mut fresh = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let mut contents = Vec::new();
    let mut ids = Vec::new();
    while let Some(frame) = fresh.next_within(Duration::from_millis(300)).await {
        if frame["type"] != "message" {
            continue; // the conversation's state, the agents' read position
        }
        if ids.contains(&frame["message"]["id"]) {
            continue; // a status change of one already shown
        }
        ids.push(frame["message"]["id"].clone());
        contents.push(
            frame["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(
        contents,
        [
            "Hello, is anyone there?",
            "Hi! <b>Yes</b>, how can I help?",
            "Are you still there?",
            "I'll close this soon."
        ]
    );

    // Only one message from the visitor was stored.
    let messages = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    let from_visitor = messages["data"].as_array().map_or(0, |m| {
        m.iter().filter(|m| m["direction"] == "inbound").count()
    });
    assert_eq!(from_visitor, 1);
}

#[actix_web::test]
async fn receipts_typing_and_bad_frames() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let ack = socket.say("c-receipt-01", "hi").await;
    assert_eq!(ack["duplicate"], false);
    let list = eventually(
        &app,
        &widget.admin,
        &format!("/api/v1/conversations?inbox_id={}", widget.id),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let conversation_id = list["data"][0]["id"].as_str().expect("id").to_owned();

    // Agent typing shows up for the visitor with the agent's name.
    let typing = app
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/typing"),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(typing.status(), StatusCode::NO_CONTENT);
    let frame = socket.next_of("typing").await;
    assert_eq!(frame["on"], true);
    assert_eq!(frame["author"], "Administrator");

    // The visitor reads the reply: its status moves to delivered, then read.
    let sent = reply(&app, &widget.admin, &conversation_id, "Here is the answer").await;
    let pushed = socket.next_of("message").await;
    let seq = pushed["message"]["seq"].as_i64().expect("seq");
    socket
        .send(json!({"type": "delivered", "up_to": seq}))
        .await;
    socket.send(json!({"type": "read", "up_to": seq})).await;
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    eventually(&app, &widget.admin, &path, |page| {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["id"] == sent["id"] && m["status"] == "read")
    })
    .await;
    // A late "delivered" never moves it back.
    socket
        .send(json!({"type": "delivered", "up_to": seq}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = app.get_json(&widget.admin, &path).await;
    let status = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == sent["id"])
        .map(|m| m["status"].clone());
    assert_eq!(status, Some(json!("read")));

    // The agent reads the conversation: the visitor sees their message read.
    let read = app
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/read"),
            None,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let status = socket.next_of("status").await;
    assert_eq!(status["status"], "read");
    assert!(status["up_to"].as_i64().is_some_and(|s| s >= seq));

    // Bad frames get precise errors and leave the socket usable.
    let too_long = "x".repeat(4001);
    socket
        .send(json!({"type": "message", "client_id": "c-too-long-1", "content": too_long}))
        .await;
    let error = socket.next_of("error").await;
    assert_eq!(error["code"], "too_long");
    assert_eq!(error["client_id"], "c-too-long-1");
    socket.send(json!({"type": "shout"})).await;
    assert_eq!(socket.next_of("error").await["code"], "invalid_frame");
    socket
        .send(json!({"type": "message", "client_id": "x", "content": "hi"}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "invalid_frame");
    let ok = socket.say("c-after-errors", "still here").await;
    assert_eq!(ok["duplicate"], false);

    // Flooding is stopped per visitor.
    let mut limited = false;
    for i in 0..15 {
        socket
            .send(json!({"type": "message", "client_id": format!("c-flood-{i:04}"), "content": "spam"}))
            .await;
        let frame = loop {
            let frame = socket.next().await;
            if frame["type"] == "ack" || frame["type"] == "error" {
                break frame;
            }
        };
        if frame["type"] == "error" {
            assert_eq!(frame["code"], "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited, "a burst of messages is rate limited");

    // A token of another inbox (or a forged one) is refused and the socket closed.
    let other = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let other_token = new_visitor(&app, &other).await;
    let url = format!(
        "{}/widget/ws?key={}",
        app.address.replacen("http", "ws", 1),
        widget.key
    );
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Origin", SITE.parse().expect("origin"));
    let (mut stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    stream
        .send(Frame::Text(
            json!({"type": "hello", "token": other_token})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let frame = stream.next().await.expect("frame").expect("ok");
    let frame: Value = serde_json::from_str(frame.to_text().expect("text")).expect("json");
    assert_eq!(frame["code"], "unauthorized");
}

#[actix_web::test]
async fn identify_verifies_the_hash_and_joins_the_known_contact() {
    let app = spawn_app().await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let hash = |identifier: &str| {
        switchboard_widget::identifier_hash(widget.secret.as_bytes(), identifier)
    };
    // Laptop: a visitor writes, then the site tells who they are.
    let laptop = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &laptop, None).await;
    socket.say("c-laptop-001", "My order is late").await;
    let forged = identify(
        &app,
        &widget.key,
        &laptop,
        json!({"identifier": "user-42", "identifier_hash": hash("user-43")}),
    )
    .await;
    assert_error(forged, StatusCode::UNAUTHORIZED, "identity_unverified").await;
    let verified = identify(&app, &widget.key, &laptop,
        json!({"identifier": "user-42", "identifier_hash": hash("user-42"), "name": "Ann", "email": "ann@example.com"}),
    )
    .await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        verified.json::<Value>().await.expect("json")["verified"],
        true
    );

    // Phone: a new browser, the same person: their contact joins the known one, and the
    // phone continues the laptop's conversation.
    let phone = new_visitor(&app, &widget).await;
    let response = identify(
        &app,
        &widget.key,
        &phone,
        json!({"identifier": "user-42", "identifier_hash": hash("user-42")}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let mut phone_socket = VisitorSocket::open(&app, &widget.key, &phone, None).await;
    assert_eq!(phone_socket.ready["conversation_id"], list["data"][0]["id"]);
    let history = phone_socket.next_of("message").await;
    assert_eq!(history["message"]["content"], "My order is late");
    let contact_id = list["data"][0]["contact_id"].as_str().expect("contact");
    let contact = app
        .get_json(&widget.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    assert_eq!(contact["contact"]["name"], "Ann");
    assert_eq!(contact["contact"]["email"], "ann@example.com");
    let identities = contact["contact"]["identities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        identities
            .iter()
            .any(|i| i["identifier"] == "user-42" && i["verification"] == "hmac")
    );
    assert_eq!(
        identities
            .iter()
            .filter(|i| i["verification"] == "unverified")
            .count(),
        2,
        "both browsers' visitor identities: {identities:?}"
    );

    // An inbox that requires verification refuses an unverified identify.
    let strict = create_widget(
        &app,
        json!({"allowed_origins": [SITE], "verification": "required"}),
    )
    .await;
    let visitor = new_visitor(&app, &strict).await;
    let response = identify(
        &app,
        &strict.key,
        &visitor,
        json!({"identifier": "user-1", "name": "Eve"}),
    )
    .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "identity_unverified").await;
}

#[actix_web::test]
async fn a_visitor_sends_a_file_and_the_agent_and_other_tabs_see_it() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let token = new_visitor(&app, &widget).await;
    let mut tab_a = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let mut tab_b = VisitorSocket::open(&app, &widget.key, &token, None).await;
    tab_a.say("c-tab-a-0001", "first from tab A").await;
    // The other tab learns the conversation and the message.
    let seen = tab_b.next_of("message").await;
    assert_eq!(seen["message"]["content"], "first from tab A");

    let image = crate::attachments::png(30, 20);
    let form = reqwest::multipart::Form::new()
        .text("client_id", "c-file-00001")
        .text("content", "see screenshot")
        .part(
            "file",
            reqwest::multipart::Part::bytes(image).file_name("screen.png"),
        );
    let response = app
        .client
        .post(app.url(&format!("/widget/api/messages?key={}", widget.key)))
        .header("Origin", SITE)
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let attachment = &body["message"]["attachments"][0];
    assert_eq!(attachment["content_type"], "image/png");
    assert_eq!(attachment["width"], 30);
    assert!(
        attachment["url"]
            .as_str()
            .is_some_and(|u| u.contains("/files/"))
    );
    // Both tabs get it live.
    assert_eq!(
        tab_a.next_of("message").await["message"]["client_id"],
        "c-file-00001"
    );
    assert_eq!(
        tab_b.next_of("message").await["message"]["client_id"],
        "c-file-00001"
    );

    // A disallowed file is refused clearly and stores nothing.
    let form = reqwest::multipart::Form::new()
        .text("client_id", "c-file-00002")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"MZ\x90\x00 not a program".to_vec())
                .file_name("setup.exe"),
        );
    let response = app
        .client
        .post(app.url(&format!("/widget/api/messages?key={}", widget.key)))
        .header("Origin", SITE)
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert!(response.status().is_client_error(), "{}", response.status());
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    let conversation_id = list["data"][0]["id"].as_str().expect("id");
    let messages = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    assert_eq!(messages["data"].as_array().map(Vec::len), Some(2));
}

#[actix_web::test]
async fn doors_refuse_missing_or_null_origins_forged_tokens_and_a_second_identity() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let config = format!("/widget/api/config?key={}", widget.key);
    let missing = app
        .client
        .get(app.url(&config))
        .send()
        .await
        .expect("request");
    assert_error(missing, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    let null = visitor_call(&app, Method::GET, &config, "null", None, None).await;
    assert_error(null, StatusCode::FORBIDDEN, "origin_not_allowed").await;

    let token = new_visitor(&app, &widget).await;
    let forged = format!("{}x", &token[..token.len() - 1]);
    let response = identify(&app, &widget.key, &forged, json!({"name": "Mallory"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A browser identified as one user cannot become another (a shared computer).
    let hash = |id: &str| switchboard_widget::identifier_hash(widget.secret.as_bytes(), id);
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    socket.say("c-shared-0001", "I am user A").await;
    // Its first message started a conversation: the widget is told which, and that it is open.
    let started = socket.next_of("conversation").await;
    assert_eq!(started["resolved"], false, "{started}");
    let as_a = identify(
        &app,
        &widget.key,
        &token,
        json!({"identifier": "user-a", "identifier_hash": hash("user-a")}),
    )
    .await;
    assert_eq!(as_a.status(), StatusCode::OK);
    // The open socket is told to reconnect (its contact may have changed).
    assert!(socket.next_within(Duration::from_secs(5)).await.is_none());
    let as_b = identify(
        &app,
        &widget.key,
        &token,
        json!({"identifier": "user-b", "identifier_hash": hash("user-b")}),
    )
    .await;
    assert_error(as_b, StatusCode::CONFLICT, "identity_changed").await;
}

#[actix_web::test]
async fn two_tabs_of_a_new_visitor_writing_at_once_both_see_both_messages() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let token = new_visitor(&app, &widget).await;
    let mut tab_a = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let mut tab_b = VisitorSocket::open(&app, &widget.key, &token, None).await;
    tab_a
        .send(json!({"type": "message", "client_id": "c-tab-a-0001", "content": "from A"}))
        .await;
    tab_b
        .send(json!({"type": "message", "client_id": "c-tab-b-0001", "content": "from B"}))
        .await;
    for tab in [&mut tab_a, &mut tab_b] {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(frame) = tab.next_within(Duration::from_millis(700)).await {
            if frame["type"] == "message" || frame["type"] == "ack" {
                seen.insert(
                    frame["message"]["content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            ["from A", "from B"],
            "each tab shows both messages"
        );
    }
}

/// Identify checks an HMAC and writes the contact: one address gets 30 a minute, like new
/// sessions (issue #17, item 7).
#[actix_web::test]
async fn identify_is_rate_limited_per_address() {
    let app = spawn_app().await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let visitor = new_visitor(&app, &widget).await;
    let mut limited = None;
    for i in 0..40 {
        let response = identify(
            &app,
            &widget.key,
            &visitor,
            json!({"name": format!("Ann {i}")}),
        )
        .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, response));
            break;
        }
        assert_eq!(response.status(), StatusCode::OK, "call {i}");
    }
    let (at, response) = limited.expect("identify is limited");
    assert_eq!(at, 30, "the 31st call is refused");
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// A socket that never says hello is closed after 10 s, and one address holds a bounded
/// number of sockets, so idle connections cannot exhaust the hub (issue #17, item 3).
#[actix_web::test]
async fn silent_sockets_are_closed_and_sockets_per_address_are_capped() {
    let app = crate::helpers::spawn_app_with(|env| {
        env.insert(
            "SWITCHBOARD_REALTIME_VISITOR_SOCKETS_PER_ADDRESS".into(),
            "3".into(),
        );
    })
    .await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let connect = || {
        let url = format!(
            "{}/widget/ws?key={}",
            app.address.replacen("http", "ws", 1),
            widget.key
        );
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Origin", SITE.parse().expect("origin"));
        request
            .headers_mut()
            .insert("User-Agent", FIREFOX_ON_LINUX.parse().expect("user agent"));
        tokio_tungstenite::connect_async(request)
    };
    let (mut silent, _) = connect().await.expect("first socket");
    let (_second, _) = connect().await.expect("second socket");
    let (_third, _) = connect().await.expect("third socket");
    match connect().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        other => panic!("a fourth socket from one address must be refused: {other:?}"),
    }

    // The silent one is told why and closed; its slot is free again.
    let started = std::time::Instant::now();
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(15), silent.next()).await {
        match frame {
            Ok(Frame::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the silent socket was not closed");
    assert!(started.elapsed() < Duration::from_secs(14));
    let mut again = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = connect().await {
            again = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the freed slot is usable again");
}

/// A visitor's NUL character is kept visible as U+FFFD, never a 500 (PostgreSQL cannot store
/// NUL) that the widget would retry forever (issue #17, item 6).
#[actix_web::test]
async fn a_visitor_message_with_a_nul_character_is_stored_with_a_replacement() {
    let app = spawn_app().await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let visitor = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &visitor, None).await;
    let ack = socket.say("c-nul-0001", "hel\u{0}lo").await;
    assert_eq!(ack["message"]["content"], "hel\u{FFFD}lo", "{ack}");
}

/// The contact of the widget inbox's only conversation, as agents see it.
async fn only_contact(app: &TestApp, widget: &Widget) -> Value {
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    let contact_id = list["data"][0]["contact_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a conversation in {list}"))
        .to_owned();
    app.get_json(&widget.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await["contact"]
        .clone()
}

fn visitor_of(contact: &Value) -> Value {
    contact["identities"][0]["profile"]["visitor"].clone()
}

#[actix_web::test]
async fn agents_see_where_a_visitor_is_and_a_name_that_stays() {
    let app = spawn_app().await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let visitor_id = socket.ready["visitor_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    socket
        .send(json!({"type": "context", "url": "https://shop.example/cart?step=2",
            "title": "Your cart", "referrer": "https://search.example/?q=shoes",
            "time_zone": "Europe/Berlin", "language": "de-DE",
            "pages": [{"url": "https://shop.example/", "title": "Shop", "at": "2026-12-07T10:00:00Z"},
                      {"url": "https://shop.example/cart?step=2", "title": "Your cart"}]}))
        .await;
    socket.say("c-context-01", "Is shipping free?").await;

    // The first message carries where they are (addresses without query or fragment) and a
    // generated name, shown while the contact has none of its own (never stored as one).
    let contact = only_contact(&app, &widget).await;
    let name = switchboard_widget::visitor_name(&visitor_id);
    assert_eq!(contact["name"], Value::Null, "{contact}");
    let visitor = visitor_of(&contact);
    assert_eq!(visitor["name"], name.as_str(), "{contact}");
    assert_eq!(
        visitor["page_url"], "https://shop.example/cart",
        "{contact}"
    );
    assert_eq!(visitor["page_title"], "Your cart");
    assert_eq!(visitor["referrer"], "https://search.example/");
    assert_eq!(visitor["browser"], "Firefox 133");
    assert_eq!(visitor["os"], "Linux");
    assert_eq!(visitor["time_zone"], "Europe/Berlin");
    assert_eq!(visitor["language"], "de-DE");
    assert_eq!(visitor["pages"].as_array().map(Vec::len), Some(2));

    // The next page (a new socket, as a page load opens one): agents hear it live.
    let mut agent = app.websocket(&widget.admin, None).await;
    let mut next_page = VisitorSocket::open(&app, &widget.key, &token, None).await;
    next_page
        .send(
            json!({"type": "context", "url": "https://shop.example/checkout", "title": "Checkout",
            "pages": [{"url": "https://shop.example/"}, {"url": "https://shop.example/cart?step=2"},
                      {"url": "https://shop.example/checkout", "title": "Checkout"}]}),
        )
        .await;
    let event = agent.next_of("contact.updated").await;
    assert_eq!(event["data"]["contact_id"], contact["id"]);
    let contact = only_contact(&app, &widget).await;
    assert_eq!(
        visitor_of(&contact)["page_url"],
        "https://shop.example/checkout"
    );
    assert_eq!(
        visitor_of(&contact)["pages"].as_array().map(Vec::len),
        Some(3)
    );

    // A name they give wins, and later messages do not bring the generated one back.
    let named = identify(&app, &widget.key, &token, json!({"name": "Ann"})).await;
    assert_eq!(named.status(), StatusCode::OK);
    let mut again = VisitorSocket::open(&app, &widget.key, &token, None).await;
    again.say("c-context-02", "Thanks!").await;
    assert_eq!(only_contact(&app, &widget).await["name"], "Ann");

    // Odd context is cut or dropped, never a reason to refuse the socket.
    again
        .send(json!({"type": "context", "url": 42, "title": "t".repeat(5000), "pages": "none"}))
        .await;
    again.say("c-context-03", "Still here").await;
}

/// "Email me this conversation": offered only when the widget names an email inbox; the
/// visitor's conversation as they saw it (no private notes) goes out through that inbox's SMTP
/// server, recorded on the conversation; bad addresses, no conversation, another inbox kind and
/// a fourth request in the hour are refused with nothing sent.
#[actix_web::test]
async fn a_visitor_has_the_transcript_emailed_through_the_chosen_email_inbox() {
    use crate::smtp_sink::SmtpSink;
    let app = spawn_app().await;
    let sink = SmtpSink::start(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3"),
    );
    let widget = widget(&app).await;
    let admin = &widget.admin;
    let mail = app
        .api(
            admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(
                json!({"name": "Mail", "channel_type": "email", "settings": {
                "address": "support@acme.example", "display_name": "Acme Support",
                "smtp": {"host": "127.0.0.1", "port": sink.port(), "tls": "none",
                         "username": sink.user(), "password": sink.password()}}}),
            ),
        )
        .await;
    assert_eq!(mail.status(), StatusCode::CREATED);
    let mail: Value = mail.json().await.expect("inbox");
    let mail_id = mail["id"].as_str().expect("id").to_owned();
    let settings = format!("/api/v1/inboxes/{}", widget.id);
    let config_path = format!("/widget/api/config?key={}", widget.key);
    let path = format!("/widget/api/transcript?key={}", widget.key);
    let token = new_visitor(&app, &widget).await;
    let ask = async |email: &str| {
        visitor_call(
            &app,
            Method::POST,
            &path,
            SITE,
            Some(&token),
            Some(json!({"email": email})),
        )
        .await
    };

    // Not offered until the admin picks an inbox.
    let config: Value = visitor_call(&app, Method::GET, &config_path, SITE, None, None)
        .await
        .json()
        .await
        .expect("config");
    assert_eq!(config["transcript"], false);
    assert_error(
        ask("ann@example.com").await,
        StatusCode::CONFLICT,
        "transcript_unavailable",
    )
    .await;
    for bad in [json!("12x"), json!(7), json!("0")] {
        let response = app
            .api(
                admin,
                Method::PATCH,
                &settings,
                Some(json!({"settings": {"transcript_inbox_id": bad}})),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
    // An inbox that is not an email inbox cannot send.
    let response = app
        .api(
            admin,
            Method::PATCH,
            &settings,
            Some(json!({"settings": {"transcript_inbox_id": widget.id}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        ask("ann@example.com").await,
        StatusCode::CONFLICT,
        "transcript_unavailable",
    )
    .await;
    let response = app
        .api(
            admin,
            Method::PATCH,
            &settings,
            Some(json!({"settings": {"transcript_inbox_id": mail_id}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let config: Value = visitor_call(&app, Method::GET, &config_path, SITE, None, None)
        .await
        .json()
        .await
        .expect("config");
    assert_eq!(config["transcript"], true);

    // Nothing to send before the first message; a bad address is refused.
    assert_error(
        ask("ann@example.com").await,
        StatusCode::CONFLICT,
        "no_conversation",
    )
    .await;
    assert_error(
        ask("not an address").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    let response = visitor_call(
        &app,
        Method::POST,
        &path,
        SITE,
        None,
        Some(json!({"email": "a@b.example"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    socket.say("c-transcript-1", "Where is my order?").await;
    let conversation = app
        .get_json(
            admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await["data"][0]["id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    reply(&app, admin, &conversation, "It ships today.").await;
    let note = app
        .api(
            admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": "internal: VIP customer", "private": true})),
        )
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);

    let response = ask(" Ann@Example.com ").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("answer");
    assert_eq!(body, json!({"sent": true, "email": "ann@example.com"}));
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recipients, ["ann@example.com"]);
    assert_eq!(got[0].from, "support@acme.example");
    let parsed = switchboard_email::inbound::parse(
        &got[0].raw,
        &switchboard_email::inbound::ParseOptions::default(),
    );
    assert_eq!(parsed.subject, "Your conversation with Website");
    let text = parsed.full_text;
    assert!(text.contains("You · "), "{text}");
    assert!(text.contains("Where is my order?"), "{text}");
    assert!(text.contains("It ships today."), "{text}");
    assert!(
        !text.contains("VIP"),
        "no private note in a transcript: {text}"
    );
    // Recorded on the conversation.
    let activity = app
        .get_json(
            admin,
            &format!("/api/v1/conversations/{conversation}/activity"),
        )
        .await;
    assert!(
        activity
            .to_string()
            .contains("The customer had the transcript emailed to ann@example.com"),
        "{activity}"
    );

    // Three an hour per visitor.
    for _ in 0..2 {
        assert_eq!(ask("ann@example.com").await.status(), StatusCode::OK);
    }
    let limited = ask("ann@example.com").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 3, "nothing sent for the refused one");
}

/// `new_conversation` closes the visitor's conversation only while it is resolved (the socket
/// then reconnects to none, and the thread says why); on an open one nothing changes and the
/// visitor is told it is open.
#[actix_web::test]
async fn a_visitor_leaves_a_resolved_conversation_but_never_an_open_one() {
    let app = spawn_app().await;
    let widget = widget(&app).await;
    let admin = &widget.admin;
    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    socket.say("c-restart-01", "Hello").await;
    let started = socket.next_of("conversation").await;
    assert_eq!(started["resolved"], false);
    let conversation = started["conversation_id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/conversations/{conversation}");

    // Open: refused quietly, the conversation stays open.
    socket.send(json!({"type": "new_conversation"})).await;
    let answer = socket.next_of("conversation").await;
    assert_eq!(answer["resolved"], false, "{answer}");
    assert_eq!(app.get_json(admin, &path).await["status"], "open");

    // Resolved: the visitor hears it live, then leaves it.
    let resolved = app
        .api(
            admin,
            Method::POST,
            &format!("{path}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);
    let ended = socket.next_of("conversation").await;
    assert_eq!(ended["resolved"], true, "{ended}");
    socket.send(json!({"type": "new_conversation"})).await;
    while socket.next_within(Duration::from_secs(5)).await.is_some() {}
    assert_eq!(app.get_json(admin, &path).await["status"], "closed");
    let activity = app.get_json(admin, &format!("{path}/activity")).await;
    assert!(
        activity
            .to_string()
            .contains("Closed: the customer started a new conversation"),
        "{activity}"
    );
    // The reconnect finds no conversation; the next message starts another.
    let mut again = VisitorSocket::open(&app, &widget.key, &token, None).await;
    assert_eq!(
        again.ready["conversation_id"],
        Value::Null,
        "{}",
        again.ready
    );
    again.say("c-restart-02", "A new question").await;
    let fresh = again.next_of("conversation").await;
    assert_ne!(fresh["conversation_id"], conversation.as_str());
    assert_eq!(fresh["resolved"], false);
}

/// Satisfaction surveys in the widget (issue #19, the widget's part): settings checked, a survey per resolution handed to the visitor's socket, answered and
/// changed, refused off its scale or for a survey that is not theirs, shown on the conversation
/// (its `csat` and an activity line) and again after a reconnect.
#[actix_web::test]
async fn a_resolved_conversation_asks_the_visitor_how_it_went() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Every channel type may ask (each its own way); bad values are named.
    let api_inbox = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(
                json!({"name": "Api", "channel_type": "api", "settings": {"csat_scale": "stars"}}),
            ),
        )
        .await;
    assert_error(api_inbox, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let widget = create_widget(
        &app,
        json!({"allowed_origins": [SITE], "csat_enabled": true, "csat_question": "Happy with us?"}),
    )
    .await;
    let settings = format!("/api/v1/inboxes/{}", widget.id);
    for bad in [
        json!({"csat_scale": "stars"}),
        json!({"csat_delay_secs": 86_401}),
        json!({"csat_enabled": "yes"}),
    ] {
        let response = app
            .api(
                &admin,
                Method::PATCH,
                &settings,
                Some(json!({ "settings": bad })),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }

    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    socket.say("c-csat-0001", "My parcel is lost").await;
    let conversation = socket.next_of("conversation").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/conversations/{conversation}");
    let set_status = async |status: &str| {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("{path}/status"),
                Some(json!({ "status": status })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
    };
    set_status("resolved").await;
    let asked = socket.next_of("csat").await;
    assert_eq!(asked["question"], "Happy with us?", "{asked}");
    assert_eq!(asked["scale"], "five");
    assert_eq!(asked["rating"], Value::Null);
    let survey = asked["survey_id"].as_str().expect("survey").to_owned();

    // Answers: one off the scale's range and one for another survey are refused.
    socket
        .send(json!({"type": "csat", "survey_id": survey, "rating": 7}))
        .await;
    assert_eq!(socket.next_of("error").await["code"], "invalid_frame");
    socket
        .send(json!({"type": "csat", "survey_id": "999999", "rating": 3}))
        .await;
    assert_eq!(socket.next_of("error").await["message"], "no such survey");
    socket
        .send(json!({"type": "csat", "survey_id": survey, "rating": 4, "comment": " Quick and kind "}))
        .await;
    let answered = socket.next_of("csat").await;
    assert_eq!(answered["rating"], 4, "{answered}");
    assert_eq!(answered["comment"], "Quick and kind");
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["csat"]["rating"], 4, "{shown}");
    assert_eq!(shown["csat"]["comment"], "Quick and kind");
    // Changed within the week: the latest answer counts, the thread says both.
    socket
        .send(json!({"type": "csat", "survey_id": survey, "rating": 2}))
        .await;
    assert_eq!(socket.next_of("csat").await["rating"], 2);
    assert_eq!(app.get_json(&admin, &path).await["csat"]["rating"], 2);
    let activity = app
        .get_json(&admin, &format!("{path}/activity"))
        .await
        .to_string();
    assert!(
        activity.contains("The customer rated this 4 of 5"),
        "{activity}"
    );
    assert!(
        activity.contains("The customer changed their answer and rated this 2 of 5"),
        "{activity}"
    );

    // A reconnect shows the survey with the answer so far.
    let mut again = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let restored = again.next_of("csat").await;
    assert_eq!(
        (restored["survey_id"].as_str(), &restored["rating"]),
        (Some(survey.as_str()), &json!(2))
    );

    // Resolving what is resolved is no new resolution: nobody is asked again.
    set_status("resolved").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    while let Some(frame) = again.next_within(Duration::from_millis(300)).await {
        assert_ne!(frame["type"], "csat", "asked again: {frame}");
    }

    // Another visitor's survey is not this visitor's to answer.
    let other = new_visitor(&app, &widget).await;
    let mut theirs = VisitorSocket::open(&app, &widget.key, &other, None).await;
    theirs.say("c-csat-0002", "Me too").await;
    let their_conversation = theirs.next_of("conversation").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/conversations/{their_conversation}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let their_survey = theirs.next_of("csat").await["survey_id"].clone();
    again
        .send(json!({"type": "csat", "survey_id": their_survey, "rating": 1}))
        .await;
    assert_eq!(again.next_of("error").await["message"], "no such survey");

    // Thumbs from the next resolution on: 3 is off the scale.
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &settings,
            Some(json!({"settings": {"csat_scale": "thumbs"}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    set_status("open").await;
    set_status("resolved").await;
    let second = again.next_of("csat").await;
    assert_ne!(second["survey_id"], survey.as_str(), "{second}");
    assert_eq!(second["rating"], Value::Null);
    assert_eq!(second["scale"], "thumbs");
    again
        .send(json!({"type": "csat", "survey_id": second["survey_id"], "rating": 3}))
        .await;
    assert_eq!(
        again.next_of("error").await["message"],
        "that rating is not on this survey's scale"
    );
    again
        .send(json!({"type": "csat", "survey_id": second["survey_id"], "rating": 5}))
        .await;
    assert_eq!(again.next_of("csat").await["rating"], 5);
    let activity = app
        .get_json(&admin, &format!("{path}/activity"))
        .await
        .to_string();
    assert!(activity.contains("gave this a thumbs up"), "{activity}");
}

/// A survey asked after a delay: one for a conversation reopened before it came due is never
/// asked (the next resolution's is), and a visitor who connects afterwards still gets it.
#[actix_web::test]
async fn a_delayed_survey_asks_only_about_the_current_resolution() {
    let app = spawn_app().await;
    let widget = create_widget(
        &app,
        json!({"allowed_origins": [SITE], "csat_enabled": true, "csat_delay_secs": 3}),
    )
    .await;
    let admin = &widget.admin;
    let token = new_visitor(&app, &widget).await;
    let mut socket = VisitorSocket::open(&app, &widget.key, &token, None).await;
    socket.say("c-delay-0001", "Help").await;
    let conversation = socket.next_of("conversation").await["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = format!("/api/v1/conversations/{conversation}/status");
    for s in ["resolved", "open", "resolved"] {
        let response = app
            .api(admin, Method::POST, &status, Some(json!({ "status": s })))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{s}");
    }
    drop(socket);
    // Due in 3 s, handed out within 2 s after; then a new page load finds it.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let mut later = VisitorSocket::open(&app, &widget.key, &token, None).await;
    let asked = later.next_of("csat").await;
    let mut seen = vec![asked["survey_id"].clone()];
    while let Some(frame) = later.next_within(Duration::from_millis(500)).await {
        if frame["type"] == "csat" {
            seen.push(frame["survey_id"].clone());
        }
    }
    assert_eq!(
        seen.len(),
        1,
        "one survey, for the current resolution: {seen:?}"
    );
    // Answering it works (it is the current resolution's).
    later
        .send(json!({"type": "csat", "survey_id": asked["survey_id"], "rating": 3}))
        .await;
    assert_eq!(later.next_of("csat").await["rating"], 3);
}
