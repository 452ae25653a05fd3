//! Ownership in headless Chromium: taking a conversation with `a` shows an activity line
//! in the thread, and `e` resolves it and opens the next one (desktop and phone width).

use crate::chrome::Chrome;
use crate::conversation_helpers::{conversation_path, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in};

/// Sends one key to the page as a person would (outside any field).
fn key(k: &str) -> String {
    format!(
        "document.activeElement && document.activeElement.blur && document.activeElement.blur(); \
         document.dispatchEvent(new KeyboardEvent('keydown', {{key: '{k}', bubbles: true}})); return true;"
    )
}

#[actix_web::test]
async fn taking_a_conversation_shows_in_the_thread_and_e_resolves_and_opens_the_next() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let older = post_message(
            &app,
            &inbox,
            &message_event(&format!("{name}-1"), &format!("{name}-a"), "first"),
        )
        .await;
        let newer = post_message(
            &app,
            &inbox,
            &message_event(&format!("{name}-2"), &format!("{name}-b"), "second"),
        )
        .await;
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until(
                "two rows",
                "return document.querySelectorAll('[data-testid=conversation-row]').length === 2;",
            )
            .await;
        // The newest is first in the list: open it, take it with `a`.
        click(&chrome, "[data-testid=conversation-row]").await;
        chrome.wait_until("the composer", &shown("composer")).await;
        chrome
            .wait_until(
                "the thread",
                "return document.querySelectorAll('[data-testid=message]').length === 1;",
            )
            .await;
        chrome.js(&key("a")).await;
        chrome
            .wait_until(
                "the activity line",
                "const l = document.querySelector('[data-testid=activity-line]'); \
                 return !!l && l.textContent.startsWith('Administrator took this');",
            )
            .await;
        chrome.screenshot(&format!("activity-line-{name}")).await;
        // `e`: resolved, and the next conversation is open.
        chrome.js(&key("e")).await;
        chrome
            .wait_until(
                "the next conversation open",
                &format!("return location.pathname === '/conversations/{older}';"),
            )
            .await;
        let resolved = eventually(&app, &admin, &conversation_path(&newer), |c| {
            c["status"] == "resolved"
        })
        .await;
        assert!(resolved["assignee_id"].is_string(), "{resolved}");
        chrome.close().await;
        let response = app
            .api(
                &admin,
                reqwest::Method::POST,
                &format!("{}/status", conversation_path(&older)),
                Some(serde_json::json!({"status": "resolved"})),
            )
            .await;
        assert!(response.status().is_success());
    }
}
