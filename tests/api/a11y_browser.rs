//! Accessibility in headless Chromium (issue #18 item 10): axe-core's WCAG 2.1 A and AA rules
//! (contrast included) find nothing on the sign-in page, the first-run guide, the inbox with a
//! conversation open (desktop and phone), the profile and every admin page; the keyboard
//! reaches the controls in order with a visible focus ring; a new message is announced.

use serde_json::json;

use crate::chrome::Chrome;
use crate::conversation_helpers::{change, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, message_event, spawn_app};
use crate::inbox_browser::{shown, sign_in, visit};

/// Fails with every violation axe found on the page, named.
pub(crate) async fn no_violations(chrome: &Chrome, page: &str) {
    let found = chrome.axe().await;
    assert!(
        found.is_empty(),
        "axe found {} problem(s) on {page}:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Waits until nothing on the page is a loading placeholder any more.
async fn settled(chrome: &Chrome, what: &str) {
    chrome
        .wait_until(
            what,
            "return document.querySelectorAll('[data-testid=skeleton]').length === 0;",
        )
        .await;
}

#[actix_web::test]
async fn every_page_passes_axe_and_the_keyboard_reaches_every_control() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    // Signed out, then the first run (no inbox yet).
    let chrome = Chrome::start(1400, 900).await;
    visit(&chrome, &app, "/login", "login-email").await;
    no_violations(&chrome, "/login").await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    chrome.wait_until("the guide", &shown("first-run")).await;
    no_violations(&chrome, "the first-run guide").await;

    // A working inbox: labels, a team, priorities, an open conversation.
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let event = message_event(
            &format!("a-{n}"),
            &format!("cust-{n}"),
            "Where is my order?",
        );
        ids.push(post_message(&app, &inbox, &event).await);
    }
    change(
        &app,
        &admin,
        &ids[0],
        "priority",
        json!({"priority": "urgent"}),
    )
    .await;
    change(
        &app,
        &admin,
        &ids[1],
        "labels",
        json!({"labels": ["vip", "refund"]}),
    )
    .await;
    visit(
        &chrome,
        &app,
        &format!("/conversations/{}", ids[0]),
        "composer",
    )
    .await;
    settled(&chrome, "the conversation loaded").await;
    no_violations(&chrome, "the inbox with a conversation open").await;

    // A message arriving is said once by the announcer.
    post_message(
        &app,
        &inbox,
        &message_event("a-9", "cust-2", "Any news about the refund?"),
    )
    .await;
    chrome
        .wait_until(
            "the announcement",
            "const a = document.querySelector('[data-testid=announcer]'); \
             return !!a && a.getAttribute('aria-live') === 'polite' \
               && a.textContent.includes('Any news about the refund?');",
        )
        .await;

    // The keyboard: no positive tabindex; Tab walks from the top bar through the filters,
    // each stop visibly focused.
    let positive = chrome
        .js("return Array.from(document.querySelectorAll('[tabindex]')).filter(e => e.tabIndex > 0).length;")
        .await;
    assert_eq!(positive, json!(0), "no tabindex above 0");
    chrome
        .js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return true;")
        .await;
    let mut stops = Vec::new();
    for _ in 0..12 {
        chrome.press_tab().await;
        let stop = chrome
            .js(
                "const e = document.activeElement; if (!e || e === document.body) return null; \
                 const s = getComputedStyle(e); \
                 const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; \
                 return [e.tagName + (e.dataset.testid ? '[' + e.dataset.testid + ']' : '') + ':' + (e.getAttribute('aria-label') || e.textContent.trim().slice(0, 20)), ring];",
            )
            .await;
        stops.push(stop);
    }
    let reached: Vec<&serde_json::Value> = stops.iter().filter(|s| !s.is_null()).collect();
    assert!(reached.len() >= 10, "Tab reaches controls: {stops:?}");
    for stop in &reached {
        assert_eq!(stop[1], json!(true), "a visible focus ring on {}", stop[0]);
    }
    let names: Vec<String> = reached.iter().map(|s| s[0].to_string()).collect();
    assert!(
        names.iter().any(|n| n.contains("filter-mine")),
        "the filters are on the way: {names:?}"
    );

    // Every other page.
    for (path, testid) in [
        ("/profile", "token-name"),
        ("/admin/inboxes", "inbox-row"),
        (&*format!("/admin/inboxes/{}", inbox.id), "inbox-rotate"),
        ("/admin/agents", "agent-row"),
        ("/admin/teams", "team-name"),
        ("/admin/labels", "label-row"),
        ("/admin/sla", "hours-name"),
        ("/admin/canned", "canned-search"),
        ("/admin/audit", "audit-row"),
    ] {
        visit(&chrome, &app, path, testid).await;
        settled(&chrome, path).await;
        no_violations(&chrome, path).await;
    }
    chrome.close().await;

    // The inbox at phone width.
    let phone = Chrome::start(390, 844).await;
    sign_in(&phone, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    phone
        .wait_until("the list", &shown("conversation-row"))
        .await;
    settled(&phone, "the list loaded").await;
    no_violations(&phone, "the inbox at phone width").await;
    phone.close().await;
}

#[actix_web::test]
async fn the_widget_passes_axe_closed_open_and_with_messages() {
    let app = spawn_app().await;
    let site = crate::chrome::Site::start().await;
    let widget = crate::widget::create_widget(
        &app,
        json!({"allowed_origins": [site.origin], "title": "Acme support",
               "greeting": "Hi! Ask us anything."}),
    )
    .await;
    site.set_page(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Acme shop</title>\
         <meta name=viewport content='width=device-width, initial-scale=1'></head>\
         <body><main><h1>Acme shop</h1><p>Our products.</p></main>{}</body></html>",
        widget.embed
    ));
    for (width, height, name) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        chrome
            .client
            .goto(&site.origin)
            .await
            .expect("open the shop");
        chrome
            .wait_until(
                "the widget to load",
                "return window.Switchboard && window.Switchboard.ready === true;",
            )
            .await;
        no_violations(&chrome, &format!("the closed widget ({name})")).await;
        crate::widget_browser::open_widget(&chrome).await;
        crate::widget_browser::type_and_send(&chrome, "Where is my order?").await;
        chrome
            .wait_until(
                "the visitor's message shown",
                "const r = document.getElementById('switchboard-widget').shadowRoot; \
                 return Array.from(r.querySelectorAll('[data-testid=message]')).some(b => b.textContent.includes('Where is my order?'));",
            )
            .await;
        no_violations(&chrome, &format!("the open widget ({name})")).await;
        chrome.close().await;
    }
}
