//! The bell in headless Chromium: a colleague assigns a conversation to the signed-in
//! admin, the count appears live in the bell, the tab title and the favicon; the panel
//! lists it, and opening it goes to the conversation and clears the count.

use reqwest::Method;
use serde_json::json;

use crate::chrome::Chrome;
use crate::conversation_helpers::{agent, change, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in};

#[actix_web::test]
async fn the_bell_counts_live_and_opens_the_conversation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &bob).await;
    let me = app.get_json(&admin, "/api/v1/me").await;
    let admin_id = me["agent"]["id"].as_str().unwrap_or_default().to_owned();
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until("the inbox", &shown("conversation-list"))
            .await;
        chrome
            .wait_until(
                "the socket up",
                "return document.documentElement.dataset.socket === 'connected';",
            )
            .await;
        let before = chrome
            .js("return document.querySelector('[data-testid=bell-count]').hidden;")
            .await;
        assert_eq!(before, json!(true), "no count before");

        change(
            &app,
            &bob_token,
            &id,
            "assign",
            json!({"assignee_id": admin_id}),
        )
        .await;
        chrome
            .wait_until(
                "the count in the bell",
                "const c = document.querySelector('[data-testid=bell-count]'); \
                 return !!c && !c.hidden && c.textContent === '1';",
            )
            .await;
        let title = chrome.js("return document.title;").await;
        assert!(
            title.as_str().is_some_and(|t| t.starts_with("(1) ")),
            "{title}"
        );
        let icon = chrome
            .js("return document.querySelector('link[rel=icon]').getAttribute('href');")
            .await;
        assert!(
            icon.as_str()
                .is_some_and(|i| i.starts_with("data:image/svg+xml")),
            "{icon}"
        );

        click(&chrome, "[data-testid=bell]").await;
        chrome
            .wait_until(
                "the notification listed",
                "const i = document.querySelector('[data-testid=bell-item]'); \
                 return !!i && i.dataset.kind === 'assigned' && i.classList.contains('unread');",
            )
            .await;
        chrome.screenshot(&format!("bell-{name}")).await;
        click(&chrome, "[data-testid=bell-item]").await;
        chrome
            .wait_until(
                "the conversation open and the count gone",
                &format!(
                    "return location.pathname === '/conversations/{id}' && \
                     document.querySelector('[data-testid=bell-count]').hidden && \
                     !document.title.startsWith('(');"
                ),
            )
            .await;
        chrome.close().await;
        // The next round starts unassigned and unread again.
        change(&app, &admin, &id, "assign", json!({"assignee_id": null})).await;
        let response = app
            .api(&admin, Method::POST, "/api/v1/notifications/read-all", None)
            .await;
        assert!(response.status().is_success());
    }
}

#[actix_web::test]
async fn a_note_mentions_a_member_picked_from_the_suggestions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let priya_token = crate::notifications::priya(&app, &admin, &inbox.id).await;
    post_message(
        &app,
        &inbox,
        &message_event("m-1", "cust-1", "refund please"),
    )
    .await;

    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    chrome
        .wait_until("the conversation row", &shown("conversation-row"))
        .await;
    click(&chrome, "[data-testid=conversation-row]").await;
    chrome.wait_until("the composer", &shown("composer")).await;
    click(&chrome, "[data-testid=mode-note]").await;
    chrome
        .js(
            "const t = document.querySelector('[data-testid=composer]'); t.focus(); \
             t.value = 'Please check the refund @pr'; \
             t.setSelectionRange(t.value.length, t.value.length); \
             t.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        )
        .await;
    chrome
        .wait_until(
            "the member suggested",
            "const o = document.querySelector('[data-testid=mention-option]'); \
             return !!o && o.dataset.handle === 'priya';",
        )
        .await;
    chrome.screenshot("mention-suggestions").await;
    let enter = "const t = document.querySelector('[data-testid=composer]'); \
                 t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true})); \
                 return t.value;";
    let picked = chrome.js(enter).await;
    assert_eq!(picked, json!("Please check the refund @priya "));
    chrome.js(enter).await;
    chrome
        .wait_until(
            "the mention set apart in the note",
            "return Array.from(document.querySelectorAll('[data-testid=message][data-private=true] [data-testid=mention]')) \
             .some(m => m.textContent === '@priya');",
        )
        .await;
    let mentioned = crate::helpers::eventually(&app, &priya_token, "/api/v1/notifications", |l| {
        l["data"][0]["kind"] == "mention"
    })
    .await;
    assert!(
        mentioned["data"][0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("@priya")),
        "{mentioned}"
    );
    chrome.close().await;
}
