//! The Telegram channel end to end: the hub's real teloxide client against a local fake Bot
//! API (fake_telegram.rs) that answers as the Bot API documentation shows, and Telegram's
//! webhook requests as Telegram sends them.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fake_telegram::FakeBotApi;
use crate::helpers::{TestApp, assert_error, eventually, spawn_app_with};

pub const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// The customer's Telegram user id (a private chat has the same id).
pub const USER: i64 = 1_111_111;

/// A hub whose outbox retries quickly.
async fn hub() -> TestApp {
    spawn_app_with(|env| {
        env.insert("SWITCHBOARD_OUTBOUND_RETRY_BASE_MS".into(), "50".into());
    })
    .await
}

/// A Telegram inbox as the admin who created it saw it.
struct Bot {
    id: String,
    secret: String,
    webhook_url: String,
    admin: String,
}

async fn create_inbox(app: &TestApp, fake: &FakeBotApi, settings: Value) -> Bot {
    let admin = app.admin_token().await;
    let mut settings = settings;
    settings["bot_token"] = json!(fake.token);
    settings["api_url"] = json!(fake.url);
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "Telegram", "channel_type": "telegram", "settings": settings})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("inbox JSON");
    Bot {
        id: body["id"].as_str().expect("id").to_owned(),
        secret: body["secret"].as_str().expect("secret").to_owned(),
        webhook_url: body["webhook_url"]
            .as_str()
            .expect("webhook url")
            .to_owned(),
        admin,
    }
}

async fn webhook_bot(app: &TestApp, fake: &FakeBotApi) -> Bot {
    create_inbox(app, fake, json!({"mode": "webhook"})).await
}

/// Posts one update the way Telegram does.
async fn deliver(app: &TestApp, bot: &Bot, update: &Value) -> reqwest::Response {
    app.client
        .post(&bot.webhook_url)
        .header(SECRET_HEADER, &bot.secret)
        .json(update)
        .send()
        .await
        .expect("webhook request")
}

async fn deliver_ok(app: &TestApp, bot: &Bot, update: &Value) -> Value {
    let response = deliver(app, bot, update).await;
    let status = response.status();
    let body: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, StatusCode::OK, "webhook answer {body}");
    body
}

/// The Bot API's `User` of the customer.
pub fn customer() -> Value {
    json!({"id": USER, "is_bot": false, "first_name": "Ann", "last_name": "Lee",
           "username": "annlee", "language_code": "de"})
}

pub fn private_chat() -> Value {
    json!({"id": USER, "type": "private", "first_name": "Ann", "last_name": "Lee",
           "username": "annlee"})
}

/// An update with a message in the customer's private chat; `fields` are the content
/// (`text`, `photo`, `document`…).
pub fn message_update(update_id: i64, message_id: i64, fields: Value) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "from": customer(),
        "chat": private_chat(),
        "date": 1_764_230_400,
    });
    if let (Some(target), Value::Object(fields)) = (message.as_object_mut(), fields) {
        target.extend(fields);
    }
    json!({"update_id": update_id, "message": message})
}

pub fn text_update(update_id: i64, message_id: i64, text: &str) -> Value {
    message_update(update_id, message_id, json!({"text": text}))
}

async fn conversations(app: &TestApp, token: &str, inbox_id: &str) -> Vec<Value> {
    let list = app
        .get_json(token, &format!("/api/v1/conversations?inbox_id={inbox_id}&status=open,pending,snoozed,resolved,closed"))
        .await;
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn messages(app: &TestApp, token: &str, conversation_id: &str) -> Vec<Value> {
    let page = app
        .get_json(
            token,
            &format!("/api/v1/conversations/{conversation_id}/messages?limit=200"),
        )
        .await;
    page["data"].as_array().cloned().unwrap_or_default()
}

/// The only conversation of the inbox and its messages.
async fn the_conversation(app: &TestApp, bot: &Bot) -> (String, Vec<Value>) {
    let list = conversations(app, &bot.admin, &bot.id).await;
    assert_eq!(list.len(), 1, "one conversation: {list:?}");
    let id = list[0]["id"].as_str().expect("id").to_owned();
    let messages = messages(app, &bot.admin, &id).await;
    (id, messages)
}

/// A message's edit history (`GET …/messages/{id}/edits`).
async fn edit_history(app: &TestApp, bot: &Bot, conversation_id: &str, message: &Value) -> Value {
    let id = message["id"].as_str().expect("message id");
    app.get_json(
        &bot.admin,
        &format!("/api/v1/conversations/{conversation_id}/messages/{id}/edits"),
    )
    .await
}

async fn reply(app: &TestApp, bot: &Bot, conversation_id: &str, body: Value) -> Value {
    let response = app
        .api(
            &bot.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("message JSON")
}

async fn wait_for_status(
    app: &TestApp,
    bot: &Bot,
    conversation_id: &str,
    message_id: &str,
    status: &str,
) -> Value {
    let path = format!("/api/v1/conversations/{conversation_id}/messages?limit=200");
    let page = eventually(app, &bot.admin, &path, |page| {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["id"] == message_id && m["status"] == status)
    })
    .await;
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == message_id)
        .cloned()
        .unwrap_or_default()
}

#[actix_web::test]
async fn an_admin_connects_a_bot_by_webhook_and_the_token_is_checked() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    assert!(bot.secret.starts_with("sbwh_"));
    assert_eq!(
        bot.webhook_url,
        app.url(&format!("/webhooks/telegram/{}", bot.id))
    );
    assert_eq!(fake.calls_to("getMe").len(), 1);
    let set = fake.calls_to("setWebhook");
    assert_eq!(set.len(), 1);
    assert_eq!(
        set[0].field("url").as_deref(),
        Some(bot.webhook_url.as_str())
    );
    assert_eq!(
        set[0].field("secret_token").as_deref(),
        Some(bot.secret.as_str())
    );
    // One connection: Telegram delivers the bot's updates in order, so an edit never
    // overtakes its message.
    assert_eq!(set[0].field("max_connections").as_deref(), Some("1"));

    // Admins see the bot and a masked token; the capabilities say there are no receipts.
    let shown = app
        .get_json(&bot.admin, &format!("/api/v1/inboxes/{}", bot.id))
        .await;
    assert_eq!(shown["settings"]["bot_username"], "switchboard_test_bot");
    assert_eq!(shown["settings"]["bot_token"], "123456789:…Dsaw");
    assert!(!shown.to_string().contains(TOKEN));
    assert!(!shown.to_string().contains(&bot.secret));
    assert_eq!(shown["capabilities"]["receipts"], false);

    // A token Telegram refuses creates nothing.
    let before = app.get_json(&bot.admin, "/api/v1/inboxes").await["data"]
        .as_array()
        .map_or(0, Vec::len);
    let response = app
        .api(
            &bot.admin,
            Method::POST,
            "/api/v1/inboxes",
            Some(
                json!({"name": "Bad", "channel_type": "telegram", "settings": {
                "bot_token": "999:wrong", "api_url": fake.url, "mode": "webhook"}}),
            ),
        )
        .await;
    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert!(body.to_string().contains("Invalid bot token"), "{body}");
    let after = app.get_json(&bot.admin, "/api/v1/inboxes").await["data"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(before, after);

    // Settings that are not Telegram's, and a token missing, are refused clearly.
    for settings in [
        json!({"api_url": fake.url}),
        json!({"bot_token": TOKEN, "mode": "push"}),
        json!({"bot_token": TOKEN, "callback_url": "http://x"}),
    ] {
        let response = app
            .api(
                &bot.admin,
                Method::POST,
                "/api/v1/inboxes",
                Some(json!({"name": "X", "channel_type": "telegram", "settings": settings})),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
}

#[actix_web::test]
async fn a_wrong_secret_token_is_refused_and_nothing_is_stored() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let update = text_update(1, 10, "hello");
    for secret in [
        None,
        Some("wrong"),
        Some(&bot.secret[..bot.secret.len() - 1]),
    ] {
        let mut request = app.client.post(&bot.webhook_url).json(&update);
        if let Some(secret) = secret {
            request = request.header(SECRET_HEADER, secret);
        }
        let response = request.send().await.expect("request");
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    assert!(conversations(&app, &bot.admin, &bot.id).await.is_empty());
}

#[actix_web::test]
async fn the_same_update_twice_stores_one_message_and_unknown_kinds_are_skipped() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let update = text_update(7, 42, "Where is my order?");
    let first = deliver_ok(&app, &bot, &update).await;
    let second = deliver_ok(&app, &bot, &update).await;
    assert_eq!(
        first["stored"][0]["message_id"],
        second["stored"][0]["message_id"]
    );
    assert_eq!(second["stored"][0]["duplicate"], true);

    // Kinds the hub does not handle answer 200 (Telegram must not retry them) and store
    // nothing: a callback query, a future kind, a channel post.
    for update in [
        json!({"update_id": 8, "callback_query": {"id": "4382bfdwdsb323b2d9", "from": customer(),
            "chat_instance": "42a", "data": "Data from button callback"}}),
        json!({"update_id": 9, "some_future_kind": {"x": 1}}),
        json!({"update_id": 10, "channel_post": {"message_id": 5, "date": 1_764_230_400,
            "chat": {"id": -1_001_234, "type": "channel", "title": "News"}, "text": "hi"}}),
    ] {
        let body = deliver_ok(&app, &bot, &update).await;
        assert_eq!(body["stored"][0]["type"], "ignored", "{update}");
        assert!(body["stored"][0]["reason"].is_string(), "{body}");
    }
    // A body that is no update at all is refused as such.
    let response = app
        .client
        .post(&bot.webhook_url)
        .header(SECRET_HEADER, &bot.secret)
        .body("{\"message\": 1}")
        .send()
        .await
        .expect("request");
    assert_error(response, StatusCode::BAD_REQUEST, "malformed_payload").await;

    let (_, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "Where is my order?");
    assert_eq!(messages[0]["external_id"], format!("{USER}:42"));

    // The contact carries Telegram's identity details.
    let contact_id = conversations(&app, &bot.admin, &bot.id).await[0]["contact_id"]
        .as_str()
        .expect("contact")
        .to_owned();
    let shown = app
        .get_json(&bot.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    let contact = &shown["contact"];
    assert_eq!(contact["name"], "Ann Lee");
    assert_eq!(contact["language"], "de");
    let identity = &contact["identities"][0];
    assert_eq!(identity["identifier"], USER.to_string());
    assert_eq!(identity["verification"], "provider");
    assert_eq!(identity["profile"]["username"], "annlee");
}

#[actix_web::test]
async fn every_message_kind_becomes_a_message_with_its_file() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let jpeg = crate::attachments::png(64, 48);
    fake.add_file("photo-big", "photos/file_1.png", jpeg.clone());
    fake.add_file(
        "doc-1",
        "documents/file_2.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n".to_vec(),
    );
    fake.add_file("voice-1", "voice/file_3.oga", ogg());
    fake.add_file("sticker-1", "stickers/file_4.webp", webp());

    let updates = [
        message_update(100, 1, json!({"text": "plain text"})),
        message_update(
            101,
            2,
            json!({
            "photo": [
                {"file_id": "photo-small", "file_unique_id": "s1", "width": 90, "height": 67, "file_size": 1200},
                {"file_id": "photo-big", "file_unique_id": "b1", "width": 64, "height": 48, "file_size": jpeg.len()}
            ],
            "caption": "my broken part"}),
        ),
        message_update(
            102,
            3,
            json!({"document": {"file_id": "doc-1", "file_unique_id": "d1",
            "file_name": "invoice.pdf", "mime_type": "application/pdf", "file_size": 60}}),
        ),
        message_update(
            103,
            4,
            json!({"voice": {"file_id": "voice-1", "file_unique_id": "v1",
            "duration": 2, "mime_type": "audio/ogg", "file_size": 60}}),
        ),
        message_update(
            104,
            5,
            json!({"sticker": {"file_id": "sticker-1", "file_unique_id": "st1",
            "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false,
            "emoji": "👍", "file_size": 60}}),
        ),
        message_update(
            105,
            6,
            json!({"location": {"latitude": 52.520008, "longitude": 13.404954}}),
        ),
        message_update(
            106,
            7,
            json!({"venue": {"location": {"latitude": 48.8584, "longitude": 2.2945},
            "title": "Eiffel Tower", "address": "Champ de Mars, Paris"}, "location": {"latitude": 48.8584, "longitude": 2.2945}}),
        ),
        message_update(
            107,
            8,
            json!({"contact": {"phone_number": "+4915112345678", "first_name": "Bob",
            "last_name": "Smith", "user_id": 2_222_222}}),
        ),
        message_update(
            108,
            9,
            json!({"text": "about that photo", "reply_to_message": {
            "message_id": 2, "from": customer(), "chat": private_chat(), "date": 1_764_230_400,
            "caption": "my broken part", "photo": [{"file_id": "photo-big", "file_unique_id": "b1",
            "width": 64, "height": 48}]}}),
        ),
        message_update(
            109,
            10,
            json!({"document": {"file_id": "too-big", "file_unique_id": "tb",
            "file_name": "video.mov", "mime_type": "video/quicktime", "file_size": 47_400_000}}),
        ),
    ];
    for update in &updates {
        deliver_ok(&app, &bot, update).await;
    }
    let (_, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), updates.len());
    let by_ext = |n: i64| {
        messages
            .iter()
            .find(|m| m["external_id"] == format!("{USER}:{n}"))
            .cloned()
            .unwrap_or_else(|| panic!("message {n} in {messages:?}"))
    };
    assert_eq!(by_ext(1)["content"], "plain text");
    let photo = by_ext(2);
    assert_eq!(photo["content"], "my broken part");
    assert_eq!(photo["attachments"][0]["content_type"], "image/png");
    assert_eq!(photo["attachments"][0]["width"], 64);
    let document = by_ext(3);
    assert_eq!(document["attachments"][0]["file_name"], "invoice.pdf");
    assert_eq!(
        document["attachments"][0]["content_type"],
        "application/pdf"
    );
    assert_eq!(by_ext(4)["attachments"][0]["content_type"], "audio/ogg");
    let sticker = by_ext(5);
    assert!(
        sticker["content"]
            .as_str()
            .is_some_and(|c| c.contains('👍'))
    );
    assert_eq!(sticker["attachments"][0]["content_type"], "image/webp");
    assert!(
        by_ext(6)["content"]
            .as_str()
            .is_some_and(|c| c.contains("52.520008"))
    );
    assert!(
        by_ext(7)["content"]
            .as_str()
            .is_some_and(|c| c.contains("Eiffel Tower"))
    );
    assert!(
        by_ext(8)["content"]
            .as_str()
            .is_some_and(|c| c.contains("+4915112345678"))
    );
    assert_eq!(by_ext(9)["reply_to_id"], photo["id"]);
    let too_big = by_ext(10);
    assert_eq!(too_big["attachments"], json!([]));
    let note = too_big["content"].as_str().unwrap_or_default();
    assert!(
        note.contains("video.mov") && note.contains("20 MB"),
        "{note}"
    );
    // The large photo was downloaded, not the thumbnail; the big file never was.
    let files: Vec<String> = fake
        .calls_to("getFile")
        .iter()
        .filter_map(|c| c.field("file_id"))
        .collect();
    assert!(files.contains(&"photo-big".to_owned()));
    assert!(!files.iter().any(|f| f == "photo-small" || f == "too-big"));
}

/// A tiny Ogg stream (its capture pattern is what type sniffing looks at).
fn ogg() -> Vec<u8> {
    let mut page = b"OggS\x00\x02".to_vec();
    page.extend_from_slice(&[0; 20]);
    page.extend_from_slice(b"\x01\x1e\x01vorbis");
    page.resize(60, 0);
    page
}

/// A 1×1 WebP image.
fn webp() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbaImage::from_pixel(1, 1, image::Rgba([0, 128, 255, 255]))
        .write_to(&mut out, image::ImageFormat::WebP)
        .expect("encode webp");
    out.into_inner()
}

#[actix_web::test]
async fn an_album_is_one_conversation_with_one_message_per_item() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let image = crate::attachments::png(8, 8);
    let mut updates = Vec::new();
    for i in 0..4 {
        let file_id = format!("album-{i}");
        fake.add_file(&file_id, &format!("photos/album_{i}.png"), image.clone());
        updates.push(message_update(
            200 + i,
            50 + i,
            json!({
                "media_group_id": "13758049238712345",
                "photo": [{"file_id": file_id, "file_unique_id": format!("u{i}"), "width": 8,
                           "height": 8, "file_size": image.len()}],
            }),
        ));
    }
    // Telegram delivers the album's updates over parallel connections.
    let answers =
        futures_util::future::join_all(updates.iter().map(|u| deliver(&app, &bot, u))).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let (_, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), 4);
    assert!(
        messages
            .iter()
            .all(|m| m["attachments"].as_array().map_or(0, Vec::len) == 1)
    );
}

#[actix_web::test]
async fn an_edit_keeps_the_earlier_text_in_the_history() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 77, "My order 1234 is late")).await;
    let mut edited = text_update(2, 77, "My order 1243 is late");
    edited["edited_message"] = edited["message"].take();
    edited["edited_message"]["edit_date"] = json!(1_764_230_460);
    edited.as_object_mut().map(|u| u.remove("message"));
    deliver_ok(&app, &bot, &edited).await;
    // Telegram retrying the edit changes nothing more.
    deliver_ok(&app, &bot, &edited).await;

    let (conversation_id, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "My order 1243 is late");
    assert!(messages[0]["edited_at"].is_string());
    let history = edit_history(&app, &bot, &conversation_id, &messages[0]).await;
    assert_eq!(
        history["data"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
    assert_eq!(history["data"][0]["content"], "My order 1234 is late");
}

/// An `edited_message` update: the customer's message `message_id` now reads `text`.
fn edit_update(update_id: i64, message_id: i64, text: &str, edit_date: i64) -> Value {
    let mut update = text_update(update_id, message_id, text);
    update["edited_message"] = update["message"].take();
    update["edited_message"]["edit_date"] = json!(edit_date);
    update.as_object_mut().map(|u| u.remove("message"));
    update
}

#[actix_web::test]
async fn edits_handled_out_of_order_end_with_the_newest_text() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 78, "Order 1234, size S")).await;
    let first_edit = edit_update(2, 78, "Order 1234, size M", 1_764_230_460);
    let second_edit = edit_update(3, 78, "Order 1234, size L", 1_764_230_520);
    // The later edit is handled first, then the earlier one, then the earlier one again.
    deliver_ok(&app, &bot, &second_edit).await;
    deliver_ok(&app, &bot, &first_edit).await;
    deliver_ok(&app, &bot, &first_edit).await;

    let (conversation_id, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], "Order 1234, size L");
    let history = edit_history(&app, &bot, &conversation_id, &messages[0]).await;
    assert_eq!(history["current"]["content"], "Order 1234, size L");
    let earlier: Vec<(&str, &str)> = history["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["content"].as_str().unwrap_or_default(),
                e["replaced_at"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    // Each text with the time it was replaced: the original by the first edit, the first
    // edit's text by the second.
    assert_eq!(earlier.len(), 2, "{history}");
    assert_eq!(earlier[0].0, "Order 1234, size S");
    assert!(earlier[0].1.starts_with("2025-11-27T08:01:00"), "{history}");
    assert_eq!(earlier[1].0, "Order 1234, size M");
    assert!(earlier[1].1.starts_with("2025-11-27T08:02:00"), "{history}");
}

#[actix_web::test]
async fn group_chats_are_ignored_or_one_conversation_with_each_senders_name() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let group_message = |update_id: i64, message_id: i64, from: Value, text: &str| {
        json!({"update_id": update_id, "message": {"message_id": message_id, "from": from,
            "chat": {"id": -1_001_987_654, "type": "supergroup", "title": "Acme buyers"},
            "date": 1_764_230_400, "text": text}})
    };
    let bob = json!({"id": 3_333_333, "is_bot": false, "first_name": "Bob"});

    let ignoring = webhook_bot(&app, &fake).await;
    let body = deliver_ok(&app, &ignoring, &group_message(1, 1, customer(), "hi all")).await;
    assert_eq!(body["stored"][0]["type"], "ignored");
    assert_eq!(
        body["stored"][0]["reason"],
        "group chats are ignored by this inbox"
    );
    assert!(
        conversations(&app, &ignoring.admin, &ignoring.id)
            .await
            .is_empty()
    );

    let grouping = create_inbox(
        &app,
        &fake,
        json!({"mode": "webhook", "groups": "conversation"}),
    )
    .await;
    deliver_ok(&app, &grouping, &group_message(2, 1, customer(), "hi all")).await;
    deliver_ok(
        &app,
        &grouping,
        &group_message(3, 2, bob, "same problem here"),
    )
    .await;
    let (conversation_id, messages) = the_conversation(&app, &grouping).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["author"], "Ann Lee");
    assert_eq!(messages[1]["author"], "Bob");

    // A reply goes to the group.
    let sent = reply(
        &app,
        &grouping,
        &conversation_id,
        json!({"content": "Looking into it"}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id");
    wait_for_status(&app, &grouping, &conversation_id, sent_id, "sent").await;
    assert_eq!(fake.sent_chat_ids(), vec!["-1001987654".to_owned()]);
}

#[actix_web::test]
async fn replies_are_escaped_split_and_photos_uploaded_as_multipart_replies() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 500, "Can you send the label?")).await;
    let (conversation_id, messages) = the_conversation(&app, &bot).await;
    let customer_message = messages[0]["id"].as_str().expect("id").to_owned();

    // Text with HTML-significant characters, answering the customer's message.
    let sent = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "Use <b> & \"quotes\" as you like", "reply_to_id": customer_message}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let message = wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let call = &fake.wait_for("sendMessage", 1).await[0];
    assert_eq!(
        call.field("chat_id").as_deref(),
        Some(USER.to_string().as_str())
    );
    assert_eq!(call.field("parse_mode").as_deref(), Some("HTML"));
    assert_eq!(
        call.field("text").as_deref(),
        Some("Use &lt;b&gt; &amp; &quot;quotes&quot; as you like")
    );
    assert!(
        call.body["reply_parameters"]["message_id"] == 500,
        "{:?}",
        call.body
    );
    // Sent is as far as a bot can know: no delivered or read ticks, ever.
    assert_eq!(message["status"], "sent");
    assert_eq!(message["external_id"], format!("{USER}:1000"));

    // A photo with a caption goes up as multipart, never as a URL.
    let image = crate::attachments::png(40, 30);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(image.clone()).file_name("label.png"),
    );
    let uploaded: Value = app
        .client
        .post(app.url(&format!(
            "/api/v1/conversations/{conversation_id}/attachments"
        )))
        .bearer_auth(&bot.admin)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("upload JSON");
    let sent = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "Here it is",
        "attachment_ids": [uploaded["data"][0]["id"]], "reply_to_id": customer_message}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let photo = &fake.wait_for("sendPhoto", 1).await[0];
    assert!(photo.multipart);
    assert_eq!(photo.files.len(), 1);
    assert_eq!(photo.files[0].bytes, image);
    assert_eq!(photo.field("caption").as_deref(), Some("Here it is"));
    assert!(
        photo
            .field("reply_parameters")
            .is_some_and(|r| r.contains("500"))
    );
    assert!(
        !photo.body.to_string().contains("http"),
        "no URL is sent: {:?}",
        photo.body
    );

    // A text over 4096 characters arrives in pieces, in order, none longer than the limit.
    let long: String = (0..1000).map(|i| format!("line {i:03}\n")).collect();
    assert!(long.chars().count() > 8192);
    let sent = reply(&app, &bot, &conversation_id, json!({"content": long})).await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let pieces: Vec<String> = fake.calls_to("sendMessage")[1..]
        .iter()
        .filter_map(|c| c.field("text"))
        .collect();
    assert_eq!(pieces.len(), 3);
    assert!(pieces.iter().all(|p| p.encode_utf16().count() <= 4096));
    // One message a second per chat (the Bot API's limit), enforced before each call.
    let times: Vec<_> = fake.calls_to("sendMessage")[1..]
        .iter()
        .map(|c| c.at)
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(900),
            "sends to one chat {gap:?} apart"
        );
    }
    // The hub stores replies without trailing whitespace; nothing else is lost or reordered.
    assert!(
        pieces.concat() == long.trim_end(),
        "the pieces reassemble the text"
    );
}

#[actix_web::test]
async fn a_rate_limited_send_waits_for_retry_after_and_a_blocked_bot_fails_with_the_reason() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 1, "hi")).await;
    let (conversation_id, _) = the_conversation(&app, &bot).await;

    fake.script(
        "sendMessage",
        [(
            429,
            json!({"ok": false, "error_code": 429,
        "description": "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}}),
        )],
    );
    let sent = reply(&app, &bot, &conversation_id, json!({"content": "first"})).await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let calls = fake.calls_to("sendMessage");
    assert_eq!(calls.len(), 2);
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(
        waited >= Duration::from_millis(1950),
        "retried after {waited:?}"
    );

    fake.script(
        "sendMessage",
        [(
            403,
            json!({"ok": false, "error_code": 403,
        "description": "Forbidden: bot was blocked by the user"}),
        )],
    );
    let sent = reply(&app, &bot, &conversation_id, json!({"content": "second"})).await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let failed = wait_for_status(&app, &bot, &conversation_id, &sent_id, "failed").await;
    assert_eq!(
        failed["error"]["reason"],
        "Forbidden: bot was blocked by the user"
    );
    // Failed for good: not tried again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.calls_to("sendMessage").len(), 3);
}

/// A reply long enough for `pieces` messages of at most 4096 characters, each line naming
/// `word`.
fn long_text(word: &str, pieces: usize) -> String {
    let line = format!("{word} 0000\n");
    let lines = (4096 * (pieces - 1)) / line.len() + 20;
    (0..lines).map(|i| format!("{word} {i:04}\n")).collect()
}

/// The texts of the successful sendMessage calls, in order.
fn delivered_texts(fake: &FakeBotApi) -> Vec<String> {
    fake.succeeded("sendMessage")
        .iter()
        .filter_map(|c| c.field("text"))
        .collect()
}

#[actix_web::test]
async fn a_reply_cut_off_half_way_sends_only_the_missing_pieces() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 1, "hi")).await;
    let (conversation_id, _) = the_conversation(&app, &bot).await;

    // The second of three pieces is rate limited: the retry sends pieces 2 and 3 only.
    let long = long_text("alpha", 3);
    fake.script(
        "sendMessage",
        [
            (0, Value::Null),
            (
                429,
                json!({"ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
            ),
        ],
    );
    let sent = reply(&app, &bot, &conversation_id, json!({"content": long})).await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let message = wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let pieces = delivered_texts(&fake);
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    assert_eq!(fake.calls_to("sendMessage").len(), 4);
    assert!(
        pieces[0] != pieces[1] && pieces[1] != pieces[2],
        "no piece twice"
    );
    assert!(pieces.concat() == long.trim_end(), "the pieces in order");
    // The receipt names the first piece.
    assert_eq!(message["external_id"], format!("{USER}:1000"));

    // Blocked after the first piece: failed, saying what the customer already has; an agent's
    // retry then sends only the rest.
    let long = long_text("bravo", 3);
    fake.script(
        "sendMessage",
        [
            (0, Value::Null),
            (
                403,
                json!({"ok": false, "error_code": 403,
                "description": "Forbidden: bot was blocked by the user"}),
            ),
        ],
    );
    let sent = reply(&app, &bot, &conversation_id, json!({"content": long})).await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let failed = wait_for_status(&app, &bot, &conversation_id, &sent_id, "failed").await;
    assert_eq!(
        failed["error"]["reason"],
        "Forbidden: bot was blocked by the user (part 1 of 3 was delivered)"
    );
    let response = app
        .api(
            &bot.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages/{sent_id}/retry"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let message = wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    let pieces: Vec<String> = delivered_texts(&fake)[3..].to_vec();
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    assert!(
        pieces.concat() == long.trim_end(),
        "each piece once, in order"
    );
    assert_eq!(message["external_id"], format!("{USER}:1003"));
}

#[actix_web::test]
async fn replies_to_one_chat_go_one_at_a_time() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    deliver_ok(&app, &bot, &text_update(1, 1, "hi")).await;
    let (conversation_id, _) = the_conversation(&app, &bot).await;

    // A first reply held up at Telegram, so the next two wait and are sent together; the first
    // piece of the first of them is slow too, long enough for another send to overtake it.
    fake.delay("sendMessage", Duration::from_millis(1500));
    fake.delay("sendMessage", Duration::from_millis(1500));
    let held = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "One moment"}),
    )
    .await;
    fake.wait_for("sendMessage", 1).await;
    let (first, second) = (long_text("alpha", 2), long_text("bravo", 2));
    let a = reply(&app, &bot, &conversation_id, json!({"content": first})).await;
    let b = reply(&app, &bot, &conversation_id, json!({"content": second})).await;
    for sent in [&held, &a, &b] {
        let id = sent["id"].as_str().expect("id");
        wait_for_status(&app, &bot, &conversation_id, id, "sent").await;
    }
    let order: Vec<&str> = delivered_texts(&fake)[1..]
        .iter()
        .map(|text| if text.contains("alpha") { "A" } else { "B" })
        .collect();
    assert_eq!(order, ["A", "A", "B", "B"]);
}

#[actix_web::test]
async fn polling_stores_updates_once_and_its_offset_survives_a_restart() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    // No mode given and no https public URL: the bot polls.
    let bot = create_inbox(&app, &fake, json!({})).await;
    let shown = app
        .get_json(&bot.admin, &format!("/api/v1/inboxes/{}", bot.id))
        .await;
    assert_eq!(shown["settings"]["mode"], "polling");
    // Polling mode: the webhook is removed, and the webhook door refuses requests.
    assert_eq!(fake.calls_to("deleteWebhook").len(), 1);
    assert!(fake.calls_to("setWebhook").is_empty());
    let refused = deliver(&app, &bot, &text_update(1, 1, "sneaky")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    fake.push_update(text_update(500, 1, "first by polling"));
    fake.push_update(text_update(501, 2, "second by polling"));
    let path = format!(
        "/api/v1/conversations?inbox_id={}&status=open,pending,snoozed,resolved,closed",
        bot.id
    );
    eventually(&app, &bot.admin, &path, |list| {
        list["data"].as_array().is_some_and(|l| l.len() == 1)
    })
    .await;
    let (conversation_id, _) = the_conversation(&app, &bot).await;
    let messages_path = format!("/api/v1/conversations/{conversation_id}/messages");
    eventually(&app, &bot.admin, &messages_path, |page| {
        page["data"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    // The cursor is saved after the updates are stored: the next poll confirms them.
    let confirmed = |fake: &FakeBotApi| {
        fake.calls_to("getUpdates")
            .iter()
            .any(|c| c.field("offset").as_deref() == Some("502"))
    };
    for _ in 0..200 {
        if confirmed(&fake) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        confirmed(&fake),
        "getUpdates with offset 502: {:?}",
        fake.calls_to("getUpdates")
    );

    // Calls that arrive after this were made by the restarted hub.
    let restarting = Instant::now();
    let app = app.restart().await;
    fake.push_update(text_update(502, 3, "after the restart"));
    eventually(&app, &bot.admin, &messages_path, |page| {
        page["data"].as_array().is_some_and(|m| m.len() == 3)
    })
    .await;
    let first_after_restart = fake
        .calls_to("getUpdates")
        .into_iter()
        .find(|c| c.at > restarting)
        .expect("a poll after the restart");
    assert_eq!(
        first_after_restart.field("offset").as_deref(),
        Some("502"),
        "the first poll after the restart continues from the saved offset"
    );
    let contents: Vec<String> = messages(&app, &bot.admin, &conversation_id)
        .await
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        contents,
        ["first by polling", "second by polling", "after the restart"]
    );
}

#[actix_web::test]
async fn changing_the_mode_the_token_or_the_secret_reconnects_the_bot() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let path = format!("/api/v1/inboxes/{}", bot.id);

    // A token Telegram refuses changes nothing.
    let response = app
        .api(
            &bot.admin,
            Method::PATCH,
            &path,
            Some(json!({"settings": {"bot_token": "42:nope"}})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    deliver_ok(&app, &bot, &text_update(1, 1, "still connected")).await;

    // A new secret is given to Telegram before the hub expects it; the token stays.
    let response = app
        .api(
            &bot.admin,
            Method::POST,
            &format!("{path}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.expect("JSON");
    let secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(secret, bot.secret);
    let set = fake.calls_to("setWebhook");
    assert_eq!(
        set.last().and_then(|c| c.field("secret_token")),
        Some(secret.clone())
    );
    let old = deliver(&app, &bot, &text_update(2, 2, "old secret")).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let renewed = Bot { secret, ..bot };
    deliver_ok(&app, &renewed, &text_update(3, 3, "new secret")).await;

    // Switching to polling removes the webhook and closes the webhook door.
    let response = app
        .api(
            &renewed.admin,
            Method::PATCH,
            &path,
            Some(json!({"settings": {"mode": "polling"}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fake.calls_to("deleteWebhook").len(), 1);
    let closed = deliver(&app, &renewed, &text_update(4, 4, "by webhook")).await;
    assert_eq!(closed.status(), StatusCode::UNAUTHORIZED);
    fake.push_update(text_update(5, 5, "by polling"));
    let (conversation_id, _) = the_conversation(&app, &renewed).await;
    eventually(
        &app,
        &renewed.admin,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        |page| {
            page["data"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["content"] == "by polling"))
        },
    )
    .await;
    let (_, messages) = the_conversation(&app, &renewed).await;
    let contents: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["still connected", "new secret", "by polling"]);
}

#[actix_web::test]
async fn a_polled_file_that_never_downloads_becomes_a_note_and_blocks_nothing() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = create_inbox(&app, &fake, json!({})).await;
    fake.add_file(
        "doc-broken",
        "documents/broken.pdf",
        b"%PDF-1.4\n%%EOF\n".to_vec(),
    );
    let failure = (
        500,
        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
    );
    fake.script("download:documents/broken.pdf", vec![failure; 10]);
    fake.push_update(message_update(
        600,
        1,
        json!({"caption": "my invoice", "document": {"file_id": "doc-broken",
            "file_unique_id": "broken", "file_name": "invoice.pdf",
            "mime_type": "application/pdf", "file_size": 15}}),
    ));
    fake.push_update(text_update(601, 2, "did you get it?"));

    // Five tries with backoff (1 + 2 + 4 + 8 s), then the message without its file.
    let deadline = Instant::now() + Duration::from_secs(40);
    let messages = loop {
        let list = conversations(&app, &bot.admin, &bot.id).await;
        if let Some(id) = list.first().and_then(|c| c["id"].as_str()) {
            let messages = messages(&app, &bot.admin, id).await;
            if messages.len() == 2 {
                break messages;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the updates were not stored; calls: {:?}",
            fake.calls().iter().map(|c| &c.method).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let content = messages[0]["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with("my invoice\n[The customer sent 1 file that could not be downloaded: "),
        "{content}"
    );
    assert!(content.contains("500"), "{content}");
    assert!(!content.contains(TOKEN), "{content}");
    assert_eq!(messages[0]["attachments"], json!([]));
    assert_eq!(messages[1]["content"], "did you get it?");
    assert_eq!(fake.calls_to("download:documents/broken.pdf").len(), 5);
}

#[actix_web::test]
async fn switching_to_another_bot_forgets_the_old_one() {
    let app = hub().await;
    let first = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &first).await;
    let second_token = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let second = FakeBotApi::start(second_token).await;
    let response = app
        .api(
            &bot.admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", bot.id),
            Some(json!({"settings": {"bot_token": second_token, "api_url": second.url}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The new bot is checked and gets the webhook with a new secret; the old one lets go.
    assert_eq!(second.calls_to("getMe").len(), 1);
    let set = second.calls_to("setWebhook");
    assert_eq!(set.len(), 1);
    let new_secret = set[0].field("secret_token").expect("secret");
    assert_ne!(new_secret, bot.secret);
    assert_eq!(first.calls_to("deleteWebhook").len(), 1);
    // Whatever the old bot still posts with the old secret is refused.
    let old = deliver(&app, &bot, &text_update(1, 1, "from the old bot")).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let renewed = Bot {
        secret: new_secret,
        ..bot
    };
    deliver_ok(&app, &renewed, &text_update(1, 1, "from the new bot")).await;
    let shown = app
        .get_json(&renewed.admin, &format!("/api/v1/inboxes/{}", renewed.id))
        .await;
    assert_eq!(shown["settings"]["bot_token"], "987654321:…Dsaw");
}

#[actix_web::test]
async fn a_bot_switched_off_or_deleted_lets_go_of_its_webhook() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let path = format!("/api/v1/inboxes/{}", bot.id);
    let off = app
        .api(
            &bot.admin,
            Method::PATCH,
            &path,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(fake.calls_to("deleteWebhook").len(), 1);
    let refused = deliver(&app, &bot, &text_update(1, 1, "anyone?")).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    // Back on: the webhook is set again.
    let on = app
        .api(
            &bot.admin,
            Method::PATCH,
            &path,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    assert_eq!(fake.calls_to("setWebhook").len(), 2);
    // Deleted (it never received anything): the webhook goes too.
    let deleted = app.api(&bot.admin, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(fake.calls_to("deleteWebhook").len(), 2);
}

/// The value of one `switchboard_channel_updates_total` series (0 when absent).
async fn updates_counted(app: &TestApp, outcome: &str) -> u64 {
    let metrics = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    let series =
        format!("switchboard_channel_updates_total{{channel=\"telegram\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Bodies as Telegram's own documentation shows them and as Bot API servers before 3.x and
/// 4.5 sent them: no `is_bot`, no chat `type`, no `file_unique_id`, an old `getMe`.
#[actix_web::test]
async fn old_and_documented_shapes_are_stored_with_quotes_forwards_files_and_edits() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    // A self-hosted Bot API server of 2021 answers getMe without the newer fields.
    fake.script(
        "getMe",
        [(
            200,
            json!({"ok": true, "result": {"id": crate::fake_telegram::BOT_ID,
                "first_name": "Support", "username": crate::fake_telegram::BOT_USERNAME}}),
        )],
    );
    let bot = webhook_bot(&app, &fake).await;
    let shown = app
        .get_json(&bot.admin, &format!("/api/v1/inboxes/{}", bot.id))
        .await;
    assert_eq!(
        shown["settings"]["bot_username"],
        crate::fake_telegram::BOT_USERNAME
    );

    let old_user =
        json!({"id": USER, "first_name": "Ann", "last_name": "Lee", "username": "annlee"});
    let old_chat =
        json!({"id": USER, "first_name": "Ann", "last_name": "Lee", "username": "annlee"});
    let old = |update_id: i64, message_id: i64, fields: Value| {
        let mut message = json!({"message_id": message_id, "from": old_user, "chat": old_chat,
            "date": 1_441_645_532});
        if let (Some(target), Value::Object(fields)) = (message.as_object_mut(), fields) {
            target.extend(fields);
        }
        json!({"update_id": update_id, "message": message})
    };
    let png = crate::attachments::png(40, 30);
    fake.add_file("old-photo", "photos/file_9.png", png.clone());

    let before = updates_counted(&app, "stored").await;
    deliver_ok(&app, &bot, &old(1, 1365, json!({"text": "/start"}))).await;
    deliver_ok(
        &app,
        &bot,
        &old(
            2,
            1366,
            json!({"caption": "so kam es an", "photo": [
                {"file_id": "old-thumb", "file_size": 900, "width": 90, "height": 68},
                {"file_id": "old-photo", "file_size": png.len(), "width": 40, "height": 30}]}),
        ),
    )
    .await;
    // A reply to a message the hub never stored keeps what it quotes.
    deliver_ok(
        &app,
        &bot,
        &old(
            3,
            1367,
            json!({"text": "und?", "reply_to_message": {"message_id": 1200, "date": 1_441_600_000,
                "chat": old_chat, "from": old_user, "text": "Bestellung 4711 kam nie an"}}),
        ),
    )
    .await;
    deliver_ok(
        &app,
        &bot,
        &old(
            4,
            1368,
            json!({"text": "Rabatt!", "forward_date": 1_441_640_000,
                "forward_from": {"id": 222_222, "first_name": "Forward", "last_name": "Lastname"}}),
        ),
    )
    .await;
    // An edit of a message the hub never received is the message, marked edited.
    let edit = json!({"update_id": 5, "edited_message": {"message_id": 1300, "from": old_user,
        "chat": old_chat, "date": 1_441_645_000, "edit_date": 1_441_646_600, "text": "Edited text"}});
    let body = deliver_ok(&app, &bot, &edit).await;
    assert_eq!(body["stored"][0]["type"], "message", "{body}");
    let again = deliver_ok(&app, &bot, &edit).await;
    assert_eq!(again["stored"][0]["type"], "ignored", "{again}");
    assert_eq!(updates_counted(&app, "stored").await, before + 5);

    let (_, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert_eq!(messages[0]["content"], "/start");
    assert_eq!(messages[1]["content"], "so kam es an");
    assert_eq!(messages[1]["attachments"].as_array().map(Vec::len), Some(1));
    assert_eq!(messages[1]["attachments"][0]["byte_size"], png.len());
    assert_eq!(messages[2]["content"], "und?");
    assert_eq!(messages[2]["reply_to_id"], Value::Null);
    assert_eq!(messages[2]["quote"]["text"], "Bestellung 4711 kam nie an");
    assert_eq!(messages[2]["quote"]["author"], "Ann Lee");
    assert_eq!(messages[3]["forwarded"]["from"], "Forward Lastname");
    assert_eq!(messages[3]["forwarded"]["date"], "2015-09-07T15:33:20Z");
    assert_eq!(messages[4]["content"], "Edited text");
    assert_eq!(messages[4]["external_id"], format!("{USER}:1300"));
    assert_eq!(messages[4]["edited_at"], "2015-09-07T17:23:20Z");
    assert!(messages.iter().all(|m| {
        !m["content"]
            .as_str()
            .unwrap_or("")
            .contains("open Telegram")
    }));
}

/// An update without a chat cannot become a message: it is kept, listed for admins,
/// counted, and replayed once it reads.
#[actix_web::test]
async fn unreadable_updates_are_kept_listed_counted_and_replayed() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let broken = json!({"update_id": 20, "message": {"message_id": 7, "date": 1_764_230_400,
        "text": "a message without its chat"}});
    let body = deliver_ok(&app, &bot, &broken).await;
    assert_eq!(body["stored"][0]["type"], "unreadable", "{body}");
    assert_eq!(
        body["stored"][0]["reason"],
        "`message` has no `chat` object"
    );
    let kept_id = body["stored"][0]["unreadable_id"]
        .as_str()
        .expect("unreadable id")
        .to_owned();
    assert_eq!(updates_counted(&app, "unreadable").await, 1);
    // Delivered again (Telegram retries): still one kept update.
    let again = deliver_ok(&app, &bot, &broken).await;
    assert_eq!(again["stored"][0]["unreadable_id"], kept_id.as_str());
    deliver_ok(
        &app,
        &bot,
        &json!({"update_id": 21, "poll_answer": {"poll_id": "1", "option_ids": [0]}}),
    )
    .await;
    assert_eq!(updates_counted(&app, "ignored").await, 1);

    let list = app
        .get_json(
            &bot.admin,
            &format!("/api/v1/inboxes/{}/unreadable", bot.id),
        )
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    let kept = &list["data"][0];
    assert_eq!(kept["id"], kept_id);
    assert_eq!(kept["payload"], broken);
    assert_eq!(kept["replayed_at"], Value::Null);
    assert!(conversations(&app, &bot.admin, &bot.id).await.is_empty());

    // Still unreadable: refused, nothing stored.
    let replay = |id: String| {
        let app = &app;
        let path = format!("/api/v1/inboxes/{}/unreadable/{id}/replay", bot.id);
        let admin = bot.admin.clone();
        async move { app.api(&admin, Method::POST, &path, None).await }
    };
    assert_error(
        replay(kept_id.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unreadable",
    )
    .await;
    assert_error(
        replay("999999".into()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Agents may not read raw updates.
    let (_, password) = app
        .create_agent(&bot.admin, "agent@example.com", "agent")
        .await;
    let agent_token = app.token_for("agent@example.com", &password).await;
    let response = app
        .api(
            &agent_token,
            Method::GET,
            &format!("/api/v1/inboxes/{}/unreadable", bot.id),
            None,
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;

    // An update a newer parser reads (kept here through the store, as an older hub would
    // have kept it) is stored by the replay, once.
    let readable = text_update(22, 9, "kept by an older version");
    let inbox_id: i64 = bot.id.parse().expect("numeric inbox id");
    let kept_readable = {
        let conn = &mut app.state.db.writer().await.expect("writer");
        switchboard::store::unreadable::keep(conn, inbox_id, "older parser", &readable)
            .await
            .expect("kept")
    };
    let response = replay(kept_readable.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["events"][0]["type"], "message", "{body}");
    let (_, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages[0]["content"], "kept by an older version");
    assert_error(
        replay(kept_readable.to_string()).await,
        StatusCode::CONFLICT,
        "already_replayed",
    )
    .await;
}

/// `my_chat_member`: a customer who stopped the bot is shown as blocked and replies fail at
/// once, without a call to Telegram; starting it again clears it.
#[actix_web::test]
async fn a_customer_who_blocks_the_bot_gets_no_replies_until_unblocking() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    let allowed = fake.calls_to("setWebhook")[0]
        .json_field("allowed_updates")
        .expect("allowed_updates");
    assert!(
        allowed
            .as_array()
            .is_some_and(|kinds| kinds.contains(&json!("my_chat_member"))),
        "{allowed}"
    );
    deliver_ok(&app, &bot, &text_update(1, 1, "hi")).await;
    let (conversation_id, _) = the_conversation(&app, &bot).await;
    let membership = |update_id: i64, old: &str, new: &str| {
        json!({"update_id": update_id, "my_chat_member": {"chat": private_chat(), "from": customer(),
            "date": 1_764_230_500,
            "old_chat_member": {"user": crate::fake_telegram::bot_user(), "status": old},
            "new_chat_member": {"user": crate::fake_telegram::bot_user(), "status": new}}})
    };
    let body = deliver_ok(&app, &bot, &membership(2, "member", "kicked")).await;
    assert_eq!(body["stored"][0]["status"], "blocked", "{body}");

    let contact_id = conversations(&app, &bot.admin, &bot.id).await[0]["contact_id"]
        .as_str()
        .expect("contact")
        .to_owned();
    let contact_path = format!("/api/v1/contacts/{contact_id}");
    let identity =
        async || app.get_json(&bot.admin, &contact_path).await["contact"]["identities"][0].clone();
    assert_eq!(identity().await["blocked_at"], "2025-11-27T08:01:40Z");

    let sent = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "are you there?"}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let failed = wait_for_status(&app, &bot, &conversation_id, &sent_id, "failed").await;
    assert_eq!(failed["error"]["code"], "blocked", "{failed}");
    assert!(fake.calls_to("sendMessage").is_empty());

    deliver_ok(&app, &bot, &membership(3, "kicked", "member")).await;
    assert_eq!(identity().await["blocked_at"], Value::Null);
    let sent = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "welcome back"}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    assert_eq!(fake.calls_to("sendMessage").len(), 1);
}

/// A forum topic is answered in the topic; the group's authors carry their user ids; a
/// Bot API answer without `is_bot` still counts as sent (not sent twice).
#[actix_web::test]
async fn forum_topics_are_answered_in_their_topic() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = create_inbox(
        &app,
        &fake,
        json!({"mode": "webhook", "groups": "conversation"}),
    )
    .await;
    let chat = json!({"id": -1_001_234_567_890_i64, "title": "Kunden Forum", "is_forum": true,
        "type": "supergroup"});
    let jonas = json!({"id": 555_000_111, "first_name": "Jonas", "username": "jonas_w"});
    let update = json!({"update_id": 1, "message": {"message_id": 96, "message_thread_id": 90,
        "is_topic_message": true, "from": jonas, "chat": chat, "date": 1_764_230_400,
        "reply_to_message": {"message_id": 90, "from": jonas, "chat": chat, "date": 1_764_230_000,
            "forum_topic_created": {"name": "Rückgabe", "icon_color": 7_322_096}},
        "text": "Wie lange dauert die Rückerstattung?"}});
    deliver_ok(&app, &bot, &update).await;
    let (conversation_id, messages) = the_conversation(&app, &bot).await;
    assert_eq!(messages[0]["author"], "Jonas");
    assert_eq!(messages[0]["author_id"], "555000111");
    assert_eq!(messages[0]["thread_id"], "90");
    assert_eq!(messages[0]["quote"], Value::Null);

    fake.script(
        "sendMessage",
        [(
            200,
            json!({"ok": true, "result": {"message_id": 97, "date": 1_764_230_500,
                "chat": chat, "from": {"id": crate::fake_telegram::BOT_ID, "first_name": "Support"},
                "text": "Etwa fünf Tage."}}),
        )],
    );
    let sent = reply(
        &app,
        &bot,
        &conversation_id,
        json!({"content": "Etwa fünf Tage."}),
    )
    .await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    let done = wait_for_status(&app, &bot, &conversation_id, &sent_id, "sent").await;
    assert_eq!(done["external_id"], "-1001234567890:97");
    let calls = fake.calls_to("sendMessage");
    assert_eq!(calls.len(), 1, "sent once");
    assert_eq!(calls[0].field("message_thread_id").as_deref(), Some("90"));
}

/// Updates that come by polling are counted and kept the same way.
#[actix_web::test]
async fn polled_unreadable_updates_are_kept_too() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = create_inbox(&app, &fake, json!({})).await;
    fake.push_update(
        json!({"update_id": 700, "edited_message": {"date": 1_764_230_400,
        "text": "an edit without chat or id"}}),
    );
    fake.push_update(text_update(701, 5, "after the broken one"));
    let path = format!("/api/v1/inboxes/{}/unreadable", bot.id);
    let list = eventually(&app, &bot.admin, &path, |list| {
        list["data"].as_array().is_some_and(|rows| rows.len() == 1)
    })
    .await;
    assert_eq!(list["data"][0]["payload"]["update_id"], 700);
    let path = format!("/api/v1/conversations?inbox_id={}", bot.id);
    eventually(&app, &bot.admin, &path, |page| {
        page["data"].as_array().is_some_and(|rows| rows.len() == 1)
    })
    .await;
    assert_eq!(updates_counted(&app, "unreadable").await, 1);
    assert!(updates_counted(&app, "stored").await >= 1);
}

/// A tap on an inline-keyboard button, as Telegram posts it (`callback_query`), from `user` in
/// their private chat.
fn tap(update_id: i64, user: i64, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("4382bfdwdsb323b2d{update_id}"),
            "from": {"id": user, "is_bot": false, "first_name": "Ann"},
            "message": {
                "message_id": 1001,
                "from": {"id": 123456789, "is_bot": true, "first_name": "Support"},
                "chat": {"id": user, "type": "private", "first_name": "Ann"},
                "date": 1_764_230_500,
                "text": "Did we help?"
            },
            "chat_instance": "-7123456789012345678",
            "data": data
        }
    })
}

/// Satisfaction surveys on Telegram (issue #19): resolving asks with an inline keyboard once
/// (a message in the thread, delivered like a reply); a tap is taken from the survey's own
/// customer only, confirmed on the button (answerCallbackQuery) and shown on the
/// conversation; a stranger's tap, a rating off the scale and another button are not taken.
#[actix_web::test]
async fn a_resolved_chat_asks_with_buttons_and_takes_the_customers_tap() {
    let app = hub().await;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = webhook_bot(&app, &fake).await;
    // Switching surveys on registers the webhook again, now asking for taps too (a bot
    // connected by an earlier version asked Telegram for none).
    let patched = app
        .api(
            &bot.admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", bot.id),
            Some(
                json!({"settings": {"csat_enabled": true, "csat_scale": "thumbs",
                                     "csat_question": "Did we help?"}}),
            ),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let hooked = fake.wait_for("setWebhook", 2).await;
    let allowed = hooked[1].json_field("allowed_updates").expect("allowed");
    assert!(
        allowed
            .as_array()
            .is_some_and(|a| a.contains(&json!("callback_query"))),
        "{allowed}"
    );
    deliver_ok(&app, &bot, &text_update(1, 500, "My order is late")).await;
    let (conversation, _) = the_conversation(&app, &bot).await;
    let resolved = app
        .api(
            &bot.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);

    let sent = fake.wait_for("sendMessage", 1).await;
    assert_eq!(sent[0].field("text").as_deref(), Some("Did we help?"));
    assert_eq!(sent[0].field("chat_id"), Some(USER.to_string()));
    let keyboard = sent[0].json_field("reply_markup").expect("a keyboard");
    let buttons = keyboard["inline_keyboard"][0].clone();
    assert_eq!(buttons[0]["text"], "👍 Yes, thanks", "{keyboard}");
    assert_eq!(buttons[1]["text"], "👎 Not really", "{keyboard}");
    let up = buttons[0]["callback_data"]
        .as_str()
        .expect("data")
        .to_owned();
    let survey = up
        .strip_prefix("csat:")
        .and_then(|rest| rest.strip_suffix(":5"))
        .expect("csat:{survey}:5")
        .to_owned();
    assert_eq!(buttons[1]["callback_data"], format!("csat:{survey}:1"));
    // The thread shows the survey as the hub's message, sent like a reply.
    let asked = eventually(
        &app,
        &bot.admin,
        &format!("/api/v1/conversations/{conversation}/messages"),
        |page| {
            page["data"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|m| m["content_type"] == "survey" && m["status"] == "sent")
            })
        },
    )
    .await;
    let shown = asked["data"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["content_type"] == "survey"))
        .cloned()
        .expect("the survey message");
    assert_eq!(shown["sender_type"], "bot", "{shown}");
    assert_eq!(shown["survey"]["scale"], "thumbs", "{shown}");
    assert_eq!(shown["survey"]["survey_id"], survey.as_str(), "{shown}");

    // Someone else's tap on a forwarded keyboard, a rating off the thumbs and a button of
    // something else are not taken; the first two are told why on the button.
    let stranger = deliver_ok(&app, &bot, &tap(2, 2_222_222, &up)).await;
    assert_eq!(stranger["stored"][0]["type"], "csat", "{stranger}");
    assert_eq!(stranger["stored"][0]["status"], "refused", "{stranger}");
    let off_scale = deliver_ok(&app, &bot, &tap(3, USER, &format!("csat:{survey}:3"))).await;
    assert_eq!(
        off_scale["stored"][0]["reason"], "that rating is not on this survey's scale",
        "{off_scale}"
    );
    let other = deliver_ok(&app, &bot, &tap(4, USER, "yes")).await;
    assert_eq!(other["stored"][0]["status"], "ignored", "{other}");
    let answers = fake.wait_for("answerCallbackQuery", 2).await;
    assert!(
        answers.iter().all(|c| c
            .field("text")
            .is_some_and(|t| t.starts_with("Sorry, your answer was not taken"))),
        "{:?}",
        answers.iter().map(|c| &c.body).collect::<Vec<_>>()
    );
    let path = format!("/api/v1/conversations/{conversation}");
    assert_eq!(app.get_json(&bot.admin, &path).await["csat"], Value::Null);

    // The customer taps thumbs up: taken, confirmed, shown.
    let taken = deliver_ok(&app, &bot, &tap(5, USER, &up)).await;
    assert_eq!(taken["stored"][0]["status"], "answered", "{taken}");
    assert_eq!(taken["stored"][0]["conversation_id"], conversation.as_str());
    let answers = fake.wait_for("answerCallbackQuery", 3).await;
    let confirmed = answers
        .iter()
        .find(|c| c.field("callback_query_id").as_deref() == Some("4382bfdwdsb323b2d5"))
        .expect("the tap is answered");
    assert_eq!(
        confirmed.field("text").as_deref(),
        Some("Thank you! You answered: 👍 Yes, thanks")
    );
    let rated = app.get_json(&bot.admin, &path).await;
    assert_eq!(rated["csat"]["rating"], 5, "{rated}");
    assert_eq!(rated["csat"]["scale"], "thumbs", "{rated}");
    // The tap is an answer, not a message: the conversation stays resolved.
    assert_eq!(rated["status"], "resolved", "{rated}");
}

/// How many leases (exactly-one jobs) a node holds, from its `/metrics`.
async fn leases_held(app: &TestApp) -> i64 {
    app.metrics_text()
        .await
        .lines()
        .find_map(|line| line.strip_prefix("switchboard_leases_held{job=\"poll\"} "))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Waits (up to 15 s) until the nodes hold `n` leases between them; answers each one's.
async fn until_leases(nodes: &[&TestApp], n: i64) -> Vec<i64> {
    let mut held = Vec::new();
    for _ in 0..150 {
        held.clear();
        for node in nodes {
            held.push(leases_held(node).await);
        }
        if held.iter().sum::<i64>() == n {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the nodes hold {held:?} leases, expected {n} in all");
}

/// Two nodes on one PostgreSQL database run one polling bot (issue #20, item 4): only the
/// node holding the inbox's lease polls (Telegram serves one getUpdates at a time); when the
/// holder's database session dies (as when its node is killed) or its node stops, the other
/// node takes the polling over within seconds and goes on from the saved offset: every
/// update stored once. On SQLite there is one node by design.
#[actix_web::test]
async fn with_two_nodes_one_polls_and_the_other_takes_over() {
    let app = hub().await;
    if !app.db.is_postgres() {
        return;
    }
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = create_inbox(&app, &fake, json!({"mode": "polling"})).await;
    let other = app.second_node().await;
    let stored = async |count: usize| {
        eventually(
            &app,
            &bot.admin,
            &format!("/api/v1/conversations?inbox_id={}", bot.id),
            |list| {
                list["data"][0]["last_seq"]
                    .as_u64()
                    .is_some_and(|seq| seq as usize == count)
            },
        )
        .await;
    };
    fake.push_update(text_update(1, 500, "first"));
    stored(1).await;
    // Both nodes have had time to try (a try every 2 s): one holds the lease.
    tokio::time::sleep(Duration::from_secs(3)).await;
    until_leases(&[&app, &other], 1).await;
    assert_eq!(fake.most_polls_at_once(), 1, "two nodes polled at once");

    // The holder's lease session is cut (its node died): polling goes on, from one node.
    crate::helpers::run_sql(
        &app,
        &format!(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' \
             AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = \
             hashtextextended('poll:{}', 0)",
            bot.id
        ),
    )
    .await;
    fake.push_update(text_update(2, 501, "second"));
    stored(2).await;
    until_leases(&[&app, &other], 1).await;

    // The holder stops: the other node takes over and stores what comes next, once.
    let held_now = until_leases(&[&app, &other], 1).await;
    let (stopping, staying) = if held_now[0] == 1 {
        (&app, &other)
    } else {
        (&other, &app)
    };
    stopping.handle.stop(true).await;
    stopping.state.hub.shutdown().await;
    until_leases(&[staying], 1).await;
    fake.push_update(text_update(3, 502, "third"));
    eventually(
        staying,
        &bot.admin,
        &format!("/api/v1/conversations?inbox_id={}", bot.id),
        |list| list["data"][0]["last_seq"] == 3,
    )
    .await;
    let (_, messages) = the_conversation(staying, &bot).await;
    let texts: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(texts, ["first", "second", "third"], "each update once");
    assert_eq!(fake.most_polls_at_once(), 1, "two nodes polled at once");
}
