//! WhatsApp inboxes end to end against the adapter's fake Graph API: the token check on
//! create, the subscription handshake, signed webhooks of every kind through the one door,
//! media downloads, replies, reactions, number changes, forward-only statuses, the 24-hour
//! window with templates, mark-as-read and a refused token.

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fake_graph::{
    Answer, FakeGraph, PHONE_ID, Route, SECOND_PHONE_ID, TOKEN, VERSION, WABA_ID,
};
use crate::helpers::{TestApp, assert_error, spawn_app};

pub(crate) const APP_SECRET: &str = "wa-app-secret-for-tests";
const CUSTOMER: &str = "16315551181";

/// A WhatsApp inbox as its creator saw it.
pub(crate) struct WhatsApp {
    pub(crate) id: String,
    pub(crate) webhook_url: String,
    pub(crate) verify_token: String,
}

fn settings(fake: &FakeGraph) -> Value {
    json!({
        "phone_number_id": PHONE_ID,
        "waba_id": WABA_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "api_url": fake.url.as_str(),
        "api_version": VERSION,
    })
}

pub(crate) async fn create_inbox(app: &TestApp, admin: &str, fake: &FakeGraph) -> WhatsApp {
    let response = app
        .api(
            admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(
                json!({"name": "WhatsApp", "channel_type": "whatsapp", "settings": settings(fake)}),
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create inbox");
    let body: Value = response.json().await.expect("inbox body");
    WhatsApp {
        id: body["id"].as_str().expect("id").to_owned(),
        webhook_url: body["webhook_url"].as_str().expect("url").to_owned(),
        verify_token: body["settings"]["verify_token"]
            .as_str()
            .expect("verify token")
            .to_owned(),
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's envelope around one change's `value`.
pub(crate) fn envelope(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    })
}

pub(crate) fn metadata() -> Value {
    json!({"display_phone_number": "15550100199", "phone_number_id": PHONE_ID})
}

fn now_secs() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// A `messages` change with these messages from [`CUSTOMER`].
fn messages(list: Vec<Value>) -> Value {
    envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}],
        "messages": list,
    }))
}

fn text(id: &str, body: &str) -> Value {
    json!({"from": CUSTOMER, "id": id, "timestamp": now_secs(), "type": "text", "text": {"body": body}})
}

fn statuses(list: Vec<Value>) -> Value {
    envelope(json!({"messaging_product": "whatsapp", "metadata": metadata(), "statuses": list}))
}

fn status(id: &str, state: &str) -> Value {
    json!({"id": id, "status": state, "timestamp": now_secs(), "recipient_id": CUSTOMER})
}

impl WhatsApp {
    async fn post_raw(
        &self,
        app: &TestApp,
        raw: Vec<u8>,
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut request = app
            .client
            .post(&self.webhook_url)
            .header("Content-Type", "application/json");
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.body(raw).send().await.expect("webhook request")
    }

    /// Posts a signed webhook and asserts 200; answers the stored entries.
    pub(crate) async fn post(&self, app: &TestApp, body: &Value) -> Value {
        let raw = serde_json::to_vec(body).expect("json");
        let signature = sign(&raw);
        let response = self.post_raw(app, raw, Some(signature)).await;
        assert_eq!(response.status(), StatusCode::OK, "webhook accepted");
        response.json().await.expect("webhook answer")
    }
}

async fn conversation_of(app: &TestApp, admin: &str, answer: &Value) -> String {
    let id = answer["stored"][0]["conversation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a conversation in {answer}"))
        .to_owned();
    let _ = app
        .get_json(admin, &format!("/api/v1/conversations/{id}"))
        .await;
    id
}

async fn thread(app: &TestApp, admin: &str, conversation: &str) -> Vec<Value> {
    app.get_json(
        admin,
        &format!("/api/v1/conversations/{conversation}/messages"),
    )
    .await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn reply(app: &TestApp, admin: &str, conversation: &str, body: Value) -> reqwest::Response {
    app.api(
        admin,
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(body),
    )
    .await
}

#[actix_web::test]
async fn create_checks_the_token_and_masks_secrets() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;

    // Meta refuses the token: 422 naming it, nothing stored.
    fake.script(
        Route::Phone,
        Some(Answer::graph_error(
            401,
            190,
            "Invalid OAuth access token.",
            "",
        )),
    );
    let refused = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "WA", "channel_type": "whatsapp", "settings": settings(&fake)})),
        )
        .await;
    let error = assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("access_token"),
        "{error}"
    );
    // Unreachable Graph API: 503.
    let mut offline = settings(&fake);
    offline["api_url"] = json!("http://127.0.0.1:9/");
    let unreachable = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "WA", "channel_type": "whatsapp", "settings": offline})),
        )
        .await;
    assert_eq!(unreachable.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Missing settings are named.
    let missing = app
        .api(&admin, Method::POST, "/api/v1/inboxes",
            Some(json!({"name": "WA", "channel_type": "whatsapp", "settings": {"phone_number_id": PHONE_ID}})))
        .await;
    let error = assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("access_token"),
        "{error}"
    );
    let listed = app.get_json(&admin, "/api/v1/inboxes").await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(0),
        "nothing stored: {listed}"
    );

    let inbox = create_inbox(&app, &admin, &fake).await;
    let shown = app
        .get_json(&admin, &format!("/api/v1/inboxes/{}", inbox.id))
        .await;
    let settings = &shown["settings"];
    assert_eq!(settings["display_phone_number"], "+1 555-010-0199");
    assert_eq!(settings["verified_name"], "Switchboard Test");
    assert!(
        inbox.verify_token.starts_with("sbwa_"),
        "generated: {}",
        inbox.verify_token
    );
    let text = shown.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(APP_SECRET),
        "secrets masked: {text}"
    );
    assert!(
        settings["access_token"]
            .as_str()
            .unwrap_or_default()
            .starts_with('…'),
        "{settings}"
    );
    assert_eq!(shown["capabilities"]["reply_window_secs"], 86400);
}

#[actix_web::test]
async fn handshake_signature_and_bad_input() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;

    let get = |query: String| {
        let url = format!("{}?{query}", inbox.webhook_url);
        let client = app.client.clone();
        async move { client.get(url).send().await.expect("handshake") }
    };
    let ok = get(format!(
        "hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
        inbox.verify_token
    ))
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    let wrong = get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1".into()).await;
    assert_error(wrong, StatusCode::FORBIDDEN, "verification_failed").await;
    let mode = get(format!(
        "hub.mode=unsubscribe&hub.verify_token={}&hub.challenge=1",
        inbox.verify_token
    ))
    .await;
    assert_eq!(mode.status(), StatusCode::FORBIDDEN);

    let body = serde_json::to_vec(&messages(vec![text("wamid.BAD1", "hello")])).expect("json");
    // Wrong and missing signatures: 401.
    let forged = inbox
        .post_raw(
            &app,
            body.clone(),
            Some(format!("sha256={}", "0".repeat(64))),
        )
        .await;
    assert_error(forged, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let unsigned = inbox.post_raw(&app, body.clone(), None).await;
    assert_error(unsigned, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    // Signed but not JSON: 400.
    let garbage = b"{not json".to_vec();
    let malformed = inbox
        .post_raw(&app, garbage.clone(), Some(sign(&garbage)))
        .await;
    assert_error(malformed, StatusCode::BAD_REQUEST, "malformed_payload").await;
    // Signed, for another number: 404.
    let mut other = messages(vec![text("wamid.BAD2", "hello")]);
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999999999");
    let raw = serde_json::to_vec(&other).expect("json");
    let elsewhere = inbox.post_raw(&app, raw.clone(), Some(sign(&raw))).await;
    assert_error(elsewhere, StatusCode::NOT_FOUND, "unknown_account").await;
    let listed = app.get_json(&admin, "/api/v1/conversations").await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(0),
        "nothing stored: {listed}"
    );
}

#[actix_web::test]
async fn a_batch_is_stored_once_with_media_reactions_and_number_changes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    let photo = include_bytes!("../../templates/app/favicon.svg");
    fake.add_media("1047683225", photo, "image/svg+xml");
    fake.add_media("2047683225", b"%PDF-1.4 a tiny pdf", "application/pdf");
    fake.expire_next_download();

    let batch = messages(vec![
        text("wamid.A1", "Hi, my order is late"),
        json!({"from": CUSTOMER, "id": "wamid.A2", "timestamp": now_secs(), "type": "document",
               "document": {"caption": "the invoice", "filename": "invoice.pdf", "mime_type": "application/pdf",
                            "sha256": "ignored-when-not-a-hash", "id": "2047683225"}}),
        json!({"from": CUSTOMER, "id": "wamid.A3", "timestamp": now_secs(), "type": "location",
               "location": {"latitude": 52.52, "longitude": 13.405, "name": "Shop", "address": "Main St 1"}}),
    ]);
    let answer = inbox.post(&app, &batch).await;
    let stored = answer["stored"].as_array().cloned().unwrap_or_default();
    assert_eq!(stored.len(), 3, "{answer}");
    assert!(
        stored
            .iter()
            .all(|s| s["type"] == "message" && s["duplicate"].is_null()),
        "{answer}"
    );
    let conversation = conversation_of(&app, &admin, &answer).await;
    // Redelivered by Meta: nothing new.
    let again = inbox.post(&app, &batch).await;
    assert!(
        again["stored"]
            .as_array()
            .is_some_and(|s| s.iter().all(|e| e["duplicate"] == true)),
        "{again}"
    );
    let list = thread(&app, &admin, &conversation).await;
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["content"], "Hi, my order is late");
    let files = list[1]["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        files.len(),
        1,
        "the document was downloaded (after one expired URL): {}",
        list[1]
    );
    assert_eq!(files[0]["file_name"], "invoice.pdf");
    assert!(
        list[2]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Shop"),
        "{}",
        list[2]
    );
    // Every media download carried the bearer token (the fake refuses others).
    assert!(
        fake.requests_to(Route::Download).len() >= 2,
        "refetched after 404"
    );

    // A reaction to the customer's first message, then its removal.
    let react = |emoji: &str| {
        messages(vec![
            json!({"from": CUSTOMER, "id": format!("wamid.R{emoji}"), "timestamp": now_secs(),
            "type": "reaction", "reaction": {"message_id": "wamid.A1", "emoji": emoji}}),
        ])
    };
    let reacted = inbox.post(&app, &react("👍")).await;
    assert_eq!(reacted["stored"][0]["type"], "reaction", "{reacted}");
    let list = thread(&app, &admin, &conversation).await;
    assert_eq!(list[0]["reactions"][0]["emoji"], "👍", "{}", list[0]);
    inbox.post(&app, &react("")).await;
    let list = thread(&app, &admin, &conversation).await;
    assert!(
        list[0]["reactions"].as_array().is_none_or(Vec::is_empty),
        "{}",
        list[0]
    );

    // The customer changes number: the next message from the new one joins the same thread.
    let changed = messages(vec![
        json!({"from": CUSTOMER, "id": "wamid.SYS1", "timestamp": now_secs(),
        "type": "system", "system": {"body": "Sheena changed from 16315551181 to 16315551999",
        "wa_id": "16315551999", "type": "user_changed_number"}}),
    ]);
    let answer = inbox.post(&app, &changed).await;
    assert_eq!(answer["stored"][0]["type"], "identity", "{answer}");
    let mut next = messages(vec![text("wamid.N1", "it's me on my new number")]);
    next["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = json!("16315551999");
    next["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = json!("16315551999");
    let answer = inbox.post(&app, &next).await;
    assert_eq!(
        answer["stored"][0]["conversation_id"],
        conversation.as_str(),
        "{answer}"
    );
}

#[actix_web::test]
async fn replies_statuses_window_templates_and_read_marks() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    let answer = inbox
        .post(
            &app,
            &messages(vec![text("wamid.IN1", "Where is my parcel?")]),
        )
        .await;
    let conversation = conversation_of(&app, &admin, &answer).await;
    let first = answer["stored"][0]["message_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let shown = app
        .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(shown["reply_window"]["open"], true, "{shown}");
    assert_eq!(shown["reply_window"]["limit_secs"], 86400);

    // A reply to the customer's message goes out with its context.
    let sent = reply(
        &app,
        &admin,
        &conversation,
        json!({"content": "It ships today.", "reply_to_id": first}),
    )
    .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let reply_id = sent.json::<Value>().await.expect("message")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_until("the text was sent", || async {
        !fake.messages().is_empty()
    })
    .await;
    let body = &fake.messages()[0];
    assert_eq!(body["to"], CUSTOMER);
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"]["body"], "It ships today.");
    assert_eq!(body["context"]["message_id"], "wamid.IN1");
    let wamid = eventually_status(&app, &admin, &conversation, &reply_id, "sent").await;

    // Statuses out of order: read before delivered, and delivered after read changes nothing.
    inbox
        .post(
            &app,
            &statuses(vec![status(&wamid, "read"), status(&wamid, "delivered")]),
        )
        .await;
    eventually_status(&app, &admin, &conversation, &reply_id, "read").await;
    // Meta retries the webhook: the repeated report changes nothing.
    let again = inbox
        .post(&app, &statuses(vec![status(&wamid, "read")]))
        .await;
    assert_eq!(
        again["stored"][0]["status"], "ignored_not_forward",
        "{again}"
    );

    // An agent reads the conversation: the customer's message is marked read at Meta.
    let read = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/read"),
            None,
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    wait_until("a read receipt went to Meta", || async {
        fake.messages()
            .iter()
            .any(|m| m["status"] == "read" && m["message_id"] == "wamid.IN1")
    })
    .await;

    // Meta says the 24-hour window is closed (131047): the next free-form reply is refused
    // before calling Meta, and a template still goes.
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            400,
            131047,
            "Re-engagement message",
            "More than 24 hours have passed since the recipient last replied to the sender number.",
        )),
    );
    let late = reply(&app, &admin, &conversation, json!({"content": "Any news?"})).await;
    assert_eq!(late.status(), StatusCode::CREATED);
    let late_id = late.json::<Value>().await.expect("message")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    eventually_status(&app, &admin, &conversation, &late_id, "failed").await;
    let shown = app
        .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(shown["reply_window"]["open"], false, "{shown}");
    let calls = fake.messages().len();
    let refused = reply(&app, &admin, &conversation, json!({"content": "Hello?"})).await;
    assert_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reply_window_closed",
    )
    .await;
    assert_eq!(fake.messages().len(), calls, "nothing sent to Meta");

    let templates = app
        .get_json(&admin, &format!("/api/v1/inboxes/{}/templates", inbox.id))
        .await;
    let names: Vec<&str> = templates["data"]
        .as_array()
        .map(|l| l.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"shipping_update") && names.contains(&"hello_world"),
        "both pages: {templates}"
    );
    // Fetching from Meta is a change of the inbox's stored copy: audited.
    let actions = app.audit_actions(&admin, 20).await;
    assert!(
        actions.iter().any(|a| a == "inbox.templates_fetch"),
        "{actions:?}"
    );
    // A parameter missing: refused with its name.
    let incomplete = reply(
        &app,
        &admin,
        &conversation,
        json!({"template": {"name": "shipping_update", "language": "en_US",
        "header": [{"text": "#4821"}], "body": [{"text": "Sheena"}]}}),
    )
    .await;
    assert_error(
        incomplete,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    let sent = reply(
        &app,
        &admin,
        &conversation,
        json!({"template": {"name": "shipping_update", "language": "en_US",
        "header": [{"text": "#4821"}], "body": [{"text": "Sheena"}, {"text": "Monday"}],
        "buttons": [{"index": 1, "text": "4821"}]}}),
    )
    .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let message: Value = sent.json().await.expect("message");
    let content = message["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("Order #4821 has shipped")
            && content.contains("Hi Sheena, your parcel arrives on Monday"),
        "{content}"
    );
    wait_until("the template was sent", || async {
        fake.messages()
            .iter()
            .any(|m| m["type"] == "template" && m["template"]["name"] == "shipping_update")
    })
    .await;
    let template = fake
        .messages()
        .into_iter()
        .find(|m| m["type"] == "template")
        .expect("template");
    assert_eq!(template["template"]["language"]["code"], "en_US");
    assert!(template.to_string().contains("Monday"), "{template}");
    // Unknown template: refused.
    let unknown = reply(
        &app,
        &admin,
        &conversation,
        json!({"template": {"name": "nope", "language": "en_US"}}),
    )
    .await;
    assert_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    // A template with a location header cannot be sent yet: refused, not failed at Meta.
    let located = reply(
        &app,
        &admin,
        &conversation,
        json!({"template": {"name": "order_delivery_update", "language": "en_US",
            "body": [{"text": "Sheena"}, {"text": "4821"}]}}),
    )
    .await;
    let error = assert_error(located, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert!(error.to_string().contains("location header"), "{error}");
    // The customer writes again: the window opens.
    inbox
        .post(&app, &messages(vec![text("wamid.IN2", "thanks!")]))
        .await;
    let shown = app
        .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(shown["reply_window"]["open"], true, "{shown}");
}

#[actix_web::test]
async fn a_refused_token_is_shown_to_admins_until_checked_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    let answer = inbox
        .post(&app, &messages(vec![text("wamid.T1", "hi")]))
        .await;
    let conversation = conversation_of(&app, &admin, &answer).await;
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            401,
            190,
            "Error validating access token: Session has expired",
            "",
        )),
    );
    let sent = reply(&app, &admin, &conversation, json!({"content": "hello"})).await;
    let id = sent.json::<Value>().await.expect("message")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    eventually_status(&app, &admin, &conversation, &id, "failed").await;
    let path = format!("/api/v1/inboxes/{}", inbox.id);
    wait_until("the inbox is flagged", || async {
        app.get_json(&admin, &path).await["settings"]["token_refused_at"].is_string()
    })
    .await;
    let checked = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/inboxes/{}/check", inbox.id),
            None,
        )
        .await;
    assert_eq!(checked.status(), StatusCode::OK);
    let shown: Value = checked.json().await.expect("inbox");
    assert!(shown["settings"]["token_refused_at"].is_null(), "{shown}");
}

/// Waits until the reply has `state`; answers its provider id.
async fn eventually_status(
    app: &TestApp,
    admin: &str,
    conversation: &str,
    message_id: &str,
    state: &str,
) -> String {
    let mut found = String::new();
    for _ in 0..300 {
        let list = thread(app, admin, conversation).await;
        if let Some(m) = list.iter().find(|m| m["id"] == message_id)
            && m["status"] == state
        {
            found = m["external_id"].as_str().unwrap_or_default().to_owned();
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = thread(app, admin, conversation).await;
    panic!("message {message_id} never reached {state}: {list:?} {found}");
}

/// Waits (up to 15 s) until `check` holds.
async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[actix_web::test]
async fn files_that_cannot_be_kept_become_notes() {
    let app = crate::helpers::spawn_app_with(|env| {
        env.insert("SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB".into(), "1".into());
        env.insert("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB".into(), "1".into());
    })
    .await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    fake.add_media("3000000001", &vec![b'x'; 1_600_000], "application/pdf");
    let big = messages(vec![
        json!({"from": CUSTOMER, "id": "wamid.BIG", "timestamp": now_secs(),
        "type": "document", "document": {"filename": "scan.pdf", "mime_type": "application/pdf", "id": "3000000001"}}),
    ]);
    let answer = inbox.post(&app, &big).await;
    let conversation = conversation_of(&app, &admin, &answer).await;
    // The checksum never matches: a few tries, then a note (Meta would otherwise retry for
    // days and the message be lost at the end).
    fake.add_media("3000000002", b"%PDF-1.4 fine", "application/pdf");
    fake.corrupt_downloads();
    let broken = messages(vec![
        json!({"from": CUSTOMER, "id": "wamid.BROKEN", "timestamp": now_secs(),
        "type": "document", "document": {"caption": "see attached", "filename": "terms.pdf", "mime_type": "application/pdf", "id": "3000000002"}}),
    ]);
    inbox.post(&app, &broken).await;
    let list = thread(&app, &admin, &conversation).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for (message, name) in list.iter().zip(["scan.pdf", "terms.pdf"]) {
        let content = message["content"].as_str().unwrap_or_default();
        assert!(
            content.contains(name) && content.contains("not stored"),
            "{content}"
        );
        assert!(
            message["attachments"].as_array().is_some_and(Vec::is_empty),
            "{message}"
        );
    }
    assert!(
        list[1]["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("see attached")
    );
}

#[actix_web::test]
async fn one_callback_url_serves_every_number_of_the_app() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let first = create_inbox(&app, &admin, &fake).await;
    let mut second_settings = settings(&fake);
    second_settings["phone_number_id"] = json!(SECOND_PHONE_ID);
    let created = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "WhatsApp 2", "channel_type": "whatsapp", "settings": second_settings})),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let second_id = created.json::<Value>().await.expect("inbox")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Meta posts both numbers' changes to the one callback URL of the app (the first inbox's).
    let mut both = messages(vec![text("wamid.ONE", "to the first number")]);
    let mut other = both["entry"][0]["changes"][0].clone();
    other["value"]["metadata"]["phone_number_id"] = json!(SECOND_PHONE_ID);
    other["value"]["messages"][0]["id"] = json!("wamid.TWO");
    other["value"]["messages"][0]["text"]["body"] = json!("to the second number");
    both["entry"][0]["changes"]
        .as_array_mut()
        .expect("changes")
        .push(other.clone());
    let answer = first.post(&app, &both).await;
    let created: Vec<&Value> = answer["stored"]
        .as_array()
        .map(|s| s.iter().filter(|e| e["type"] == "message").collect())
        .unwrap_or_default();
    assert_eq!(created.len(), 2, "{answer}");
    // A body only for the second number, posted to the first inbox's URL, still lands.
    let mut only_second = envelope(other["value"].clone());
    only_second["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.THREE");
    let answer = first.post(&app, &only_second).await;
    assert_eq!(answer["stored"][0]["type"], "message", "{answer}");

    let in_inbox = |inbox: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let list = app
                .get_json(admin, &format!("/api/v1/conversations?inbox_id={inbox}"))
                .await;
            let id = list["data"][0]["id"]
                .as_str()
                .expect("a conversation")
                .to_owned();
            thread(app, admin, &id)
                .await
                .iter()
                .filter_map(|m| m["content"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(in_inbox(first.id.clone()).await, ["to the first number"]);
    assert_eq!(
        in_inbox(second_id).await,
        ["to the second number", "to the second number"]
    );
}

/// The customer picks a row of the survey's list (`interactive.list_reply`), as Meta posts it.
fn list_reply(id: &str, row: &str, title: &str, sent_at: i64) -> Value {
    json!({
        "context": {"from": "15550100199", "id": "wamid.SURVEY"},
        "from": CUSTOMER, "id": id, "timestamp": sent_at.to_string(), "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row, "title": title}}
    })
}

/// Satisfaction surveys on WhatsApp (issue #19): resolving sends an interactive list (1 to 5)
/// within the 24-hour window; the customer's pick is an answer, not a message (the
/// conversation stays resolved); a pick delivered late never overwrites a newer one; once
/// the window has closed the survey is not sent and the thread says why.
#[actix_web::test]
async fn a_resolved_conversation_asks_with_a_list_within_the_window() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    let patched = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"csat_enabled": true}})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let answer = inbox
        .post(
            &app,
            &messages(vec![text("wamid.CSAT0", "Where is my parcel?")]),
        )
        .await;
    let conversation = conversation_of(&app, &admin, &answer).await;
    let status = async |status: &str| {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("/api/v1/conversations/{conversation}/status"),
                Some(json!({ "status": status })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
    };
    status("resolved").await;
    wait_until("the survey was sent", || async {
        !fake.messages().is_empty()
    })
    .await;
    let body = &fake.messages()[0];
    assert_eq!(body["to"], CUSTOMER);
    assert_eq!(body["type"], "interactive", "{body}");
    assert_eq!(body["interactive"]["type"], "list", "{body}");
    assert_eq!(
        body["interactive"]["body"]["text"],
        "How satisfied are you with the help you got?"
    );
    let rows = body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 5, "{body}");
    let best = rows[0]["id"].as_str().expect("row id").to_owned();
    let survey = best
        .strip_prefix("csat:")
        .and_then(|rest| rest.strip_suffix(":5"))
        .expect("csat:{survey}:5")
        .to_owned();

    // The customer picks "Dissatisfied", then changes to "Satisfied"; the first pick
    // redelivered afterwards changes nothing.
    let now = chrono::Utc::now().timestamp();
    let first = list_reply(
        "wamid.CSAT1",
        &format!("csat:{survey}:2"),
        "🙁 Dissatisfied",
        now - 60,
    );
    let taken = inbox.post(&app, &messages(vec![first.clone()])).await;
    assert_eq!(taken["stored"][0]["type"], "csat", "{taken}");
    assert_eq!(taken["stored"][0]["status"], "answered", "{taken}");
    let second = list_reply(
        "wamid.CSAT2",
        &format!("csat:{survey}:4"),
        "🙂 Satisfied",
        now,
    );
    inbox.post(&app, &messages(vec![second])).await;
    inbox.post(&app, &messages(vec![first])).await;
    let path = format!("/api/v1/conversations/{conversation}");
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["csat"]["rating"], 4, "{shown}");
    assert_eq!(
        shown["status"], "resolved",
        "an answer is not a message: {shown}"
    );
    // Only the survey message is in the thread besides the customer's question.
    let listed = thread(&app, &admin, &conversation).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["content_type"], "survey", "{listed:?}");

    // Reopened and resolved again a day later: the window is closed, no survey goes out.
    status("open").await;
    crate::helpers::run_sql(
        &app,
        "UPDATE contact_identities SET last_inbound_at = '2020-01-01 00:00:00'",
    )
    .await;
    status("resolved").await;
    let noted = crate::helpers::eventually(
        &app,
        &admin,
        &format!("/api/v1/conversations/{conversation}/messages"),
        |page| page.to_string().contains("No satisfaction survey was sent"),
    )
    .await;
    assert!(noted.to_string().contains("reply window"), "{noted}");
    assert_eq!(fake.messages().len(), 1, "nothing more sent to Meta");
}
