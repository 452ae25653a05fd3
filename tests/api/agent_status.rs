//! Agents' own availability (online, busy, away) as routing, the widget and colleagues see
//! it; notification email (digests, quiet hours, preferences) through a real SMTP server;
//! watched inboxes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, call, call_ok, conversation_path, post_message};
use crate::helpers::{AgentSocket, TestApp, eventually, message_event, spawn_app, spawn_app_with};
use crate::smtp_sink::{Received, SmtpSink};
use crate::widget::{SITE, create_widget};

/// Waits on `socket` for the `presence` event of `agent_id`; answers its status.
async fn presence_of(socket: &mut AgentSocket, agent_id: &str) -> String {
    loop {
        let event = socket.next_of("presence").await;
        if event["data"]["agent_id"] == agent_id {
            return event["data"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
    }
}

/// The agent behind `token` chooses an availability, as the top bar's control does.
pub(crate) async fn choose(app: &TestApp, token: &str, availability: &str) -> Value {
    call_ok(
        app,
        token,
        Method::PUT,
        "/api/v1/me/availability",
        Some(json!({ "availability": availability })),
        StatusCode::OK,
    )
    .await
}

async fn assignee_of(app: &TestApp, token: &str, conversation: &str) -> Value {
    eventually(app, token, &conversation_path(conversation), |c| {
        !c["assignee_id"].is_null()
    })
    .await["assignee_id"]
        .clone()
}

async fn widget_online(app: &TestApp, key: &str) -> bool {
    let config: Value = app
        .client
        .get(app.url(&format!("/widget/api/config?key={key}")))
        .header("Origin", SITE)
        .send()
        .await
        .expect("widget config")
        .json()
        .await
        .expect("config JSON");
    config["agents_online"] == true
}

#[actix_web::test]
async fn agents_choose_busy_or_away_and_routing_the_widget_and_admins_follow() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let widget = create_widget(&app, json!({"allowed_origins": [SITE]})).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    for id in [&ada, &bob] {
        app.add_member(&admin, &inbox.id, id).await;
    }
    app.add_member(&admin, &widget.id, &ada).await;
    let mut watcher = app.websocket(&admin, None).await;
    let _bob_socket = app.websocket(&bob_token, None).await;
    assert_eq!(presence_of(&mut watcher, &bob).await, "online");
    let _ada_socket = app.websocket(&ada_token, None).await;
    assert_eq!(presence_of(&mut watcher, &ada).await, "online");
    assert!(widget_online(&app, &widget.key).await);

    // Busy: colleagues see it at once, the router passes her by, the widget says away.
    let me = choose(&app, &ada_token, "busy").await;
    assert_eq!(me["availability"], "busy");
    assert_eq!(me["status"], "busy");
    assert_eq!(presence_of(&mut watcher, &ada).await, "busy");
    let agents = app.get_json(&admin, "/api/v1/agents").await;
    let row = |id: &str| {
        agents["data"]
            .as_array()
            .and_then(|list| list.iter().find(|a| a["id"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(row(&ada)["status"], "busy", "{agents}");
    assert_eq!(row(&bob)["status"], "online", "{agents}");
    assert!(!widget_online(&app, &widget.key).await);
    let first = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hi")).await;
    assert_eq!(assignee_of(&app, &admin, &first).await, bob.as_str());

    // Away: the same for routing; the choice is stored, so a new tab keeps it.
    choose(&app, &ada_token, "away").await;
    assert_eq!(presence_of(&mut watcher, &ada).await, "away");
    let second = post_message(&app, &inbox, &message_event("m-2", "cust-2", "hi")).await;
    assert_eq!(assignee_of(&app, &admin, &second).await, bob.as_str());
    let _second_tab = app.websocket(&ada_token, None).await;
    let me = app.get_json(&ada_token, "/api/v1/me").await;
    assert_eq!(me["agent"]["availability"], "away");
    assert_eq!(me["agent"]["status"], "away");

    // Offline is not a choice, nor is anything else; nothing changes.
    for (body, field) in [
        (json!({"availability": "offline"}), "availability"),
        (json!({"availability": "lunch"}), ""),
        (json!({}), ""),
    ] {
        let (status, error) = call(
            &app,
            &ada_token,
            Method::PUT,
            "/api/v1/me/availability",
            Some(body.clone()),
        )
        .await;
        assert!(status.is_client_error(), "{body}: {status}");
        if !field.is_empty() {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
            let message = error["error"]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(&format!("{field}: ")), "{error}");
        }
    }
    let me = app.get_json(&ada_token, "/api/v1/me").await;
    assert_eq!(me["agent"]["availability"], "away");

    // An admin puts her back online: she takes the next conversation and the widget
    // shows someone is there.
    call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/agents/{ada}"),
        Some(json!({"availability": "online"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(presence_of(&mut watcher, &ada).await, "online");
    assert!(widget_online(&app, &widget.key).await);
    let third = post_message(&app, &inbox, &message_event("m-3", "cust-3", "hi")).await;
    assert_eq!(assignee_of(&app, &admin, &third).await, ada.as_str());
}

fn python() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3")
}

/// A hub that mails notifications through `sink`, looking every second (email after 10
/// minutes for agents who are online, the default), with no spacing between digests so
/// each pass may mail what is due.
async fn mailing_app(sink: &SmtpSink) -> TestApp {
    mailing_app_with(sink, 0).await
}

/// The same with `digest_minutes` between two digests to one agent.
async fn mailing_app_with(sink: &SmtpSink, digest_minutes: u32) -> TestApp {
    let port = sink.port().to_string();
    let (user, password) = (sink.user().to_owned(), sink.password().to_owned());
    spawn_app_with(move |env| {
        for (key, value) in [
            (
                "SWITCHBOARD_NOTIFICATIONS_SMTP_HOST",
                "127.0.0.1".to_owned(),
            ),
            ("SWITCHBOARD_NOTIFICATIONS_SMTP_PORT", port),
            ("SWITCHBOARD_NOTIFICATIONS_SMTP_TLS", "none".to_owned()),
            ("SWITCHBOARD_NOTIFICATIONS_SMTP_USERNAME", user),
            ("SWITCHBOARD_NOTIFICATIONS_SMTP_PASSWORD", password),
            (
                "SWITCHBOARD_NOTIFICATIONS_EMAIL_FROM",
                "hub@switchboard.example".to_owned(),
            ),
            ("SWITCHBOARD_NOTIFICATIONS_EMAIL_CHECK_SECS", "1".to_owned()),
            (
                "SWITCHBOARD_NOTIFICATIONS_EMAIL_DIGEST_MINUTES",
                digest_minutes.to_string(),
            ),
        ] {
            env.insert(key.to_owned(), value);
        }
    })
    .await
}

fn mails_to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails
        .iter()
        .filter(|m| m.recipients.iter().any(|r| r == address))
        .collect()
}

fn text_of(mail: &Received) -> String {
    String::from_utf8_lossy(&mail.raw).replace("=\r\n", "")
}

async fn note(app: &TestApp, token: &str, conversation: &str, text: &str) {
    call_ok(
        app,
        token,
        Method::POST,
        &format!("{}/messages", conversation_path(conversation)),
        Some(json!({"content": text, "private": true})),
        StatusCode::CREATED,
    )
    .await;
}

async fn settings(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        token,
        Method::PUT,
        "/api/v1/me/notification-settings",
        Some(body),
    )
    .await
}

#[actix_web::test]
async fn unread_notifications_reach_absent_agents_by_email_outside_their_quiet_hours() {
    let sink = SmtpSink::start(&python());
    let app = mailing_app(&sink).await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    for id in [&ada, &bob] {
        app.add_member(&admin, &inbox.id, id).await;
    }
    let conversation = post_message(&app, &inbox, &message_event("m-1", "c-1", "hi")).await;

    // Ada sleeps: quiet hours around the present hour, in her zone.
    let hour = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%H")
        .to_string();
    let hour: u32 = hour.parse().unwrap_or(0);
    let quiet = json!({"start": format!("{:02}:00", (hour + 23) % 24), "end": format!("{:02}:00", (hour + 2) % 24)});
    let saved = settings(
        &app,
        &ada_token,
        json!({"email": {"quiet_hours": quiet, "time_zone": "Asia/Tokyo"}}),
    )
    .await;
    assert_eq!(saved.0, StatusCode::OK, "{}", saved.1);
    assert_eq!(saved.1["email"]["quiet_hours"], quiet);
    assert_eq!(saved.1["email_configured"], true);

    // Bob is online with the inbox open: his notification waits the configured minutes.
    let _bob_socket = app.websocket(&bob_token, None).await;
    note(&app, &admin, &conversation, "@bob can you look?").await;
    eventually(&app, &bob_token, "/api/v1/notifications", |l| {
        l["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n["kind"] == "mention"))
    })
    .await;
    // Ada has no connection (offline): her mention is due at once, but she is in her
    // quiet hours.
    note(&app, &admin, &conversation, "@ada and you too, please").await;
    eventually(&app, &ada_token, "/api/v1/notifications", |l| {
        l["unread_count"] == 1
    })
    .await;
    // Three passes of the mailer.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(sink.messages().is_empty(), "nothing mailed yet");

    // Her quiet hours end: one digest, with the words and the link, and only once.
    let saved = settings(&app, &ada_token, json!({"email": {"quiet_hours": null}})).await;
    assert_eq!(saved.0, StatusCode::OK, "{}", saved.1);
    let mails = sink.wait_for(1, Duration::from_secs(15)).await;
    let to_ada = mails_to(&mails, "ada@example.com");
    assert_eq!(to_ada.len(), 1, "{} mails", mails.len());
    let text = text_of(to_ada[0]);
    assert!(text.contains("and you too, please"), "{text}");
    assert!(
        text.contains(&format!("{}/conversations/{conversation}", app.address)),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted"), "{text}");
    assert_eq!(to_ada[0].from, "hub@switchboard.example");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mails = sink.messages();
    assert_eq!(mails_to(&mails, "ada@example.com").len(), 1, "mailed once");
    assert!(
        mails_to(&mails, "bob@example.com").is_empty(),
        "online Bob waits for the delay"
    );

    // Kinds she switched off are not mailed; a read notification never is.
    let saved = settings(
        &app,
        &ada_token,
        json!({"email": {"kinds": ["assigned"]}, "watched_inbox_ids": []}),
    )
    .await;
    assert_eq!(saved.0, StatusCode::OK, "{}", saved.1);
    note(&app, &admin, &conversation, "@ada one more").await;
    eventually(&app, &ada_token, "/api/v1/notifications", |l| {
        l["unread_count"] == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(mails_to(&sink.messages(), "ada@example.com").len(), 1);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("switchboard_notification_emails_sent_total 1"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn watched_inboxes_notify_new_conversations_and_settings_refuse_bad_input() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let other = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    for id in [&ada, &bob] {
        app.add_member(&admin, &inbox.id, id).await;
    }

    let defaults = app
        .get_json(&ada_token, "/api/v1/me/notification-settings")
        .await;
    assert_eq!(defaults["email"]["enabled"], true);
    assert_eq!(defaults["email"]["quiet_hours"], Value::Null);
    assert_eq!(defaults["email"]["time_zone"], "UTC");
    assert_eq!(defaults["email_configured"], false);
    assert_eq!(defaults["watched_inbox_ids"], json!([]));

    // Every bad field is named, and nothing is stored.
    for (body, field) in [
        (json!({"email": {"kinds": ["everything"]}}), "email.kinds"),
        (
            json!({"email": {"time_zone": "Mars/Olympus"}}),
            "email.time_zone",
        ),
        (
            json!({"email": {"quiet_hours": {"start": "25:00", "end": "07:00"}}}),
            "email.quiet_hours.start",
        ),
        (
            json!({"email": {"quiet_hours": {"start": "07:00", "end": "07:00"}}}),
            "email.quiet_hours.end",
        ),
        (
            json!({"watched_inbox_ids": [other.id]}),
            "watched_inbox_ids",
        ),
        (
            json!({"watched_inbox_ids": ["999999"]}),
            "watched_inbox_ids",
        ),
    ] {
        let (status, error) = settings(&app, &ada_token, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {error}"
        );
    }
    let (status, _) = settings(&app, &ada_token, json!({"email": {"sms": true}})).await;
    assert!(status.is_client_error());
    assert_eq!(
        app.get_json(&ada_token, "/api/v1/me/notification-settings")
            .await,
        defaults
    );

    // Ada watches the inbox: a customer's new conversation tells her, not Bob.
    let (status, saved) = settings(
        &app,
        &ada_token,
        json!({"watched_inbox_ids": [inbox.id], "email": {"quiet_hours": {"start": "22:30", "end": "06:45"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["watched_inbox_ids"], json!([inbox.id]));
    assert_eq!(
        saved["email"]["quiet_hours"],
        json!({"start": "22:30", "end": "06:45"})
    );
    let mut ada_socket = app.websocket(&ada_token, None).await;
    let conversation = post_message(
        &app,
        &inbox,
        &message_event("w-1", "cust-9", "My order never came"),
    )
    .await;
    let event = ada_socket.next_of("notification.created").await;
    let n = &event["data"]["notification"];
    assert_eq!(n["kind"], "inbox_conversation", "{n}");
    assert_eq!(n["conversation_id"], conversation.as_str());
    assert!(
        n["body"]
            .as_str()
            .is_some_and(|b| b.contains("My order never came")),
        "{n}"
    );
    // A second message in the same conversation is no new conversation.
    post_message(&app, &inbox, &message_event("w-2", "cust-9", "Hello?")).await;
    // Bob hears nothing of it (he watches nothing and nothing is assigned to him offline).
    let bobs = app.get_json(&bob_token, "/api/v1/notifications").await;
    assert!(
        bobs["data"]
            .as_array()
            .is_some_and(|l| l.iter().all(|n| n["kind"] != "inbox_conversation")),
        "{bobs}"
    );
    let adas = eventually(&app, &ada_token, "/api/v1/notifications", |l| {
        l["unread_count"].as_i64() >= Some(1)
    })
    .await;
    let watched: Vec<&Value> = adas["data"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|n| n["kind"] == "inbox_conversation")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(watched.len(), 1, "{adas}");

    // Removed from the inbox, she hears nothing of it even while still watching.
    call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/inboxes/{}/members/{ada}", inbox.id),
        None,
    )
    .await;
    let second = post_message(&app, &inbox, &message_event("w-3", "cust-10", "Hi")).await;
    // A later watched event in another inbox she may see proves the notifier moved on.
    app.add_member(&admin, &other.id, &ada).await;
    settings(&app, &ada_token, json!({"watched_inbox_ids": [other.id]})).await;
    post_message(&app, &other, &message_event("w-4", "cust-11", "Hi there")).await;
    let adas = eventually(&app, &ada_token, "/api/v1/notifications", |l| {
        l["data"].as_array().is_some_and(|l| {
            l.iter()
                .filter(|n| n["kind"] == "inbox_conversation")
                .count()
                == 2
        })
    })
    .await;
    assert!(
        adas["data"]
            .as_array()
            .is_some_and(|l| l.iter().all(|n| n["conversation_id"] != second.as_str())),
        "{adas}"
    );
}

#[actix_web::test]
async fn a_refused_digest_is_retried_at_the_next_pass_not_after_the_digest_interval() {
    let sink = SmtpSink::start(&python());
    // Digests 15 minutes apart: only a refused one may be tried again sooner.
    let app = mailing_app_with(&sink, 15).await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    // The test SMTP server answers 451 (try later) for temp-fail@ recipients.
    let (unlucky, unlucky_token) = agent(&app, &admin, "temp-fail@example.com").await;
    app.add_member(&admin, &inbox.id, &unlucky).await;
    let conversation = post_message(&app, &inbox, &message_event("m-1", "c-1", "hi")).await;
    note(&app, &admin, &conversation, "@temp-fail please look").await;
    eventually(&app, &unlucky_token, "/api/v1/notifications", |l| {
        l["unread_count"] == 1
    })
    .await;
    let mut failed = 0.0;
    for _ in 0..100 {
        failed = app
            .metrics_text()
            .await
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_notification_emails_failed_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if failed >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failed >= 2.0, "tried {failed} times");
    assert!(sink.messages().is_empty());
}
