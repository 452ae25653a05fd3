//! The visitor's side of a conversation's life in headless Chromium (issue #18 item 8): read
//! ticks that survive a reload, a resolved conversation shown as ended with "Start a new
//! conversation" (which closes it and starts afresh), a reopened one shown open again, and the
//! conversation mailed to the visitor on request (desktop and phone width).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::a11y_browser::no_violations;
use crate::chrome::Site;
use crate::conversation_helpers::call_ok;
use crate::helpers::{eventually, spawn_app};
use crate::smtp_sink::SmtpSink;
use crate::widget::create_widget;
use crate::widget_browser::{open_shop, open_widget, shop_page, type_and_send};

const ROOT: &str = "const root = document.getElementById('switchboard-widget')?.shadowRoot;";

/// Whether the "resolved" notice is shown (and the composer hidden with it).
fn resolved_shown(on: bool) -> String {
    format!(
        "{ROOT} if (!root) return false; const r = root.querySelector('[data-testid=resolved]'); \
         const c = root.querySelector('[data-testid=composer]').closest('form'); \
         return !!r && r.hidden === {hidden} && c.hidden === {on};",
        hidden = !on
    )
}

/// Sets a conversation's status as an agent does (`path`: the conversation's API path).
async fn set_status(app: &crate::helpers::TestApp, token: &str, path: &str, status: &str) {
    call_ok(
        app,
        token,
        Method::POST,
        &format!("{path}/status"),
        Some(json!({ "status": status })),
        StatusCode::OK,
    )
    .await;
}

/// The visitor's bubbles as `state:text`.
fn visitor_states() -> String {
    format!(
        "{ROOT} return Array.from(root.querySelectorAll('[data-testid=message][data-from=visitor]')) \
         .map(b => b.dataset.state + ':' + b.textContent.split('\\n')[0]);"
    )
}

#[actix_web::test]
async fn a_resolved_conversation_ends_in_the_widget_and_a_new_one_starts() {
    let app = spawn_app().await;
    let site = Site::start().await;
    let widget = create_widget(
        &app,
        json!({"allowed_origins": [site.origin], "title": "Acme support", "greeting": "Hi! Ask us anything."}),
    )
    .await;
    site.set_page(shop_page(&widget.embed));
    let list_path = format!("/api/v1/conversations?inbox_id={}", widget.id);
    // Transcripts go out through an email inbox's SMTP server (a real one, aiosmtpd).
    let sink = SmtpSink::start(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3"),
    );
    let mail = call_ok(
        &app,
        &widget.admin,
        Method::POST,
        "/api/v1/inboxes",
        Some(
            json!({"name": "Mail", "channel_type": "email", "settings": {
            "address": "support@acme.example",
            "smtp": {"host": "127.0.0.1", "port": sink.port(), "tls": "none",
                     "username": sink.user(), "password": sink.password()}}}),
        ),
        StatusCode::CREATED,
    )
    .await;
    call_ok(
        &app,
        &widget.admin,
        Method::PATCH,
        &format!("/api/v1/inboxes/{}", widget.id),
        Some(json!({"settings": {"transcript_inbox_id": mail["id"]}})),
        StatusCode::OK,
    )
    .await;
    let mut mailed = 0;

    for (width, height, device) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        let chrome = open_shop(&site.origin, width, height).await;
        let question = format!("Where is my order? ({device})");
        type_and_send(&chrome, &question).await;
        let listed = eventually(&app, &widget.admin, &list_path, |l| {
            l["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|c| c["status"] == "open"))
        })
        .await;
        let conversation = listed["data"]
            .as_array()
            .and_then(|d| d.iter().find(|c| c["status"] == "open"))
            .and_then(|c| c["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        let path = format!("/api/v1/conversations/{conversation}");

        // The agent reads it: two ticks, and still two after a reload.
        let read = app
            .api(&widget.admin, Method::POST, &format!("{path}/read"), None)
            .await;
        assert!(read.status().is_success(), "read: {}", read.status());
        let read_tick = format!(
            "{ROOT} const b = root.querySelector('[data-testid=message][data-from=visitor]'); \
             return !!b && b.dataset.state === 'read';"
        );
        chrome.wait_until("the read tick", &read_tick).await;
        chrome.client.refresh().await.expect("reload");
        open_widget(&chrome).await;
        chrome
            .wait_until("the read tick after a reload", &read_tick)
            .await;

        // "Email me this conversation": the visitor's address, then a note that it went out.
        let ask = format!(
            "{ROOT} root.querySelector('[data-testid=transcript]').click(); \
             const i = root.querySelector('[data-testid=transcript-email]'); i.value = 'ann.{device}@example.com'; \
             root.querySelector('[data-testid=transcript-send]').click(); return true;"
        );
        chrome
            .wait_until(
                "the transcript button",
                &format!("{ROOT} const b = root.querySelector('[data-testid=transcript]'); return !!b && !b.hidden;"),
            )
            .await;
        chrome.js(&ask).await;
        chrome
            .wait_until(
                "the transcript sent",
                &format!(
                    "{ROOT} return root.querySelector('[data-testid=transcript-note]').textContent \
                     === 'Sent to ann.{device}@example.com.';"
                ),
            )
            .await;
        mailed += 1;
        let got = sink.wait_for(mailed, Duration::from_secs(10)).await;
        assert_eq!(
            got.last().map(|m| m.recipients.clone()),
            Some(vec![format!("ann.{device}@example.com")])
        );
        chrome
            .screenshot(&format!("widget-transcript-{device}"))
            .await;

        // Resolved: the widget says so, instead of the composer; a reload keeps it so.
        set_status(&app, &widget.admin, &path, "resolved").await;
        chrome
            .wait_until("the resolved notice", &resolved_shown(true))
            .await;
        chrome
            .screenshot(&format!("widget-resolved-{device}"))
            .await;
        no_violations(&chrome, &format!("the resolved widget ({device})")).await;
        chrome.client.refresh().await.expect("reload");
        open_widget(&chrome).await;
        chrome
            .wait_until("the resolved notice after a reload", &resolved_shown(true))
            .await;

        // An agent reopens it: the composer is back, live.
        set_status(&app, &widget.admin, &path, "open").await;
        chrome
            .wait_until("the composer again", &resolved_shown(false))
            .await;
        set_status(&app, &widget.admin, &path, "resolved").await;
        chrome
            .wait_until("resolved again", &resolved_shown(true))
            .await;

        // "Start a new conversation": the old one is closed, the panel starts afresh, and the
        // next message opens another conversation.
        let click = format!(
            "{ROOT} root.querySelector('[data-testid=new-conversation]').click(); return true;"
        );
        chrome.js(&click).await;
        chrome
            .wait_until(
                "an empty conversation",
                &format!(
                    "{ROOT} return root.querySelectorAll('[data-testid=message][data-from=visitor]').length === 0 \
                     && root.querySelector('[data-testid=resolved]').hidden \
                     && root.querySelector('[data-testid=connection]').dataset.state === 'connected';"
                ),
            )
            .await;
        let old = app.get_json(&widget.admin, &path).await;
        assert_eq!(old["status"], "closed", "{old}");
        let follow_up = format!("Another question ({device})");
        type_and_send(&chrome, &follow_up).await;
        let listed = eventually(&app, &widget.admin, &list_path, |l| {
            l["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|c| c["status"] == "open"))
        })
        .await;
        let fresh = listed["data"]
            .as_array()
            .and_then(|d| d.iter().find(|c| c["status"] == "open"))
            .and_then(|c| c["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_ne!(fresh, conversation, "a new conversation");
        chrome
            .wait_until(
                "only the new message",
                &format!(
                    "{ROOT} const t = Array.from(root.querySelectorAll('[data-testid=message][data-from=visitor]')).map(b => b.textContent); \
                     return t.length === 1 && t[0].includes({follow_up:?});"
                ),
            )
            .await;
        let states = chrome.js(&visitor_states()).await;
        assert!(
            !states.to_string().contains(&question),
            "the old conversation is gone from the panel: {states}"
        );
        // The conversation this page started ends live too (no reload in between).
        set_status(
            &app,
            &widget.admin,
            &format!("/api/v1/conversations/{fresh}"),
            "resolved",
        )
        .await;
        chrome
            .wait_until("the new one resolved", &resolved_shown(true))
            .await;
        chrome.close().await;
    }
}
