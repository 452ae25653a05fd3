//! Bulk actions in headless Chromium: rows picked by click, shift-click and `x`, then one
//! change for all of them from the bar above the list (desktop and phone width).

use serde_json::json;

use crate::chrome::Chrome;
use crate::conversation_helpers::{conversation_path, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, message_event, spawn_app};
use crate::inbox_browser::{shown, sign_in};

/// Clicks the checkbox of the `n`th row (0-based), with Shift when `shift`.
fn pick(n: usize, shift: bool) -> String {
    format!(
        "const b = document.querySelectorAll('[data-testid=row-select]')[{n}]; if (!b) return false; \
         b.dispatchEvent(new MouseEvent('click', {{bubbles: true, cancelable: true, shiftKey: {shift}}})); return true;"
    )
}

/// Whether the bar shows `n` picked rows.
fn count_is(n: usize) -> String {
    format!(
        "const c = document.querySelector('[data-testid=bulk-count]'); \
         return !!c && !document.querySelector('[data-testid=bulk-bar]').hidden && c.textContent === '{n} selected';"
    )
}

#[actix_web::test]
async fn an_agent_picks_rows_and_changes_them_all_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let mut ids = Vec::new();
        for n in 1..=3 {
            let event = message_event(&format!("{name}-{n}"), &format!("{name}-cust-{n}"), "hello");
            ids.push(post_message(&app, &inbox, &event).await);
        }
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until(
                "three rows",
                "return document.querySelectorAll('[data-testid=conversation-row]').length === 3;",
            )
            .await;
        // First and, with Shift, the last: the three of them.
        assert_eq!(chrome.js(&pick(0, false)).await, json!(true));
        chrome.wait_until("one picked", &count_is(1)).await;
        assert_eq!(chrome.js(&pick(2, true)).await, json!(true));
        chrome.wait_until("three picked", &count_is(3)).await;
        // `x` on the middle row takes it out again.
        chrome
            .js(
                "const r = document.querySelectorAll('[data-testid=conversation-row]')[1]; r.focus(); \
                 r.dispatchEvent(new KeyboardEvent('keydown', {key: 'x', bubbles: true})); return true;",
            )
            .await;
        chrome.wait_until("two picked", &count_is(2)).await;
        chrome.screenshot(&format!("bulk-bar-{name}")).await;
        let middle = chrome
            .js("return document.querySelectorAll('[data-testid=conversation-row]')[1].dataset.id;")
            .await;
        chrome
            .js(
                "const s = document.querySelector('[data-testid=bulk-priority]'); s.value = 'urgent'; \
                 s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
            )
            .await;
        chrome
            .wait_until(
                "the bar gone and two urgent rows",
                "return document.querySelector('[data-testid=bulk-bar]').hidden && \
                 document.querySelectorAll('.conv-row .prio-urgent').length === 2;",
            )
            .await;
        for id in &ids {
            let c = eventually(&app, &admin, &conversation_path(id), |_| true).await;
            let want = if middle == json!(id) {
                "none"
            } else {
                "urgent"
            };
            assert_eq!(c["priority"], want, "{id}: {c}");
        }
        chrome
            .wait_until("the list", &shown("conversation-list"))
            .await;
        chrome.close().await;
        // The next round starts with three new conversations only.
        let (status, _) = crate::conversation_helpers::call(
            &app,
            &admin,
            reqwest::Method::POST,
            "/api/v1/conversations/bulk",
            Some(json!({"conversation_ids": ids, "status": "resolved"})),
        )
        .await;
        assert!(status.is_success());
    }
}
