//! The first run in headless Chromium (issue #18 item 1): an admin with no inbox gets the
//! guide to a first conversation, picks a channel and lands on its create form; an agent with
//! no inbox is told who adds them; a filtered empty list offers to clear the filters; loading
//! shows placeholders, not a bare "Loading…" (desktop and phone width).

use serde_json::json;

use crate::chrome::Chrome;
use crate::conversation_helpers::post_message;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in, visit};

#[actix_web::test]
async fn an_admin_without_inboxes_is_guided_to_the_first_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, agent_password) = app.create_agent(&admin, "ada@example.com", "agent").await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome.wait_until("the guide", &shown("first-run")).await;
        // Every channel is offered; at phone width the guide takes the list's place.
        for channel in ["api", "widget", "email", "telegram", "whatsapp"] {
            chrome
                .wait_until(channel, &shown(&format!("first-run-{channel}")))
                .await;
        }
        chrome.screenshot(&format!("first-run-{name}")).await;
        click(&chrome, "[data-testid=first-run-widget]").await;
        chrome
            .wait_until(
                "the create form with the web chat picked",
                "const t = document.querySelector('[data-testid=inbox-type]'); \
                 return location.pathname === '/admin/inboxes/new' && !!t && t.value === 'widget' \
                   && document.activeElement === document.querySelector('[data-testid=inbox-name]');",
            )
            .await;
        chrome.close().await;

        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, "ada@example.com", &agent_password).await;
        chrome
            .wait_until("the agent's note", &shown("no-inbox"))
            .await;
        let guide = chrome
            .js("return !!document.querySelector('[data-testid=first-run]');")
            .await;
        assert_eq!(guide, json!(false), "agents are not sent to admin pages");
        chrome.screenshot(&format!("first-run-agent-{name}")).await;
        chrome.close().await;
    }

    // Once an inbox exists: a filtered empty list offers to clear the filters.
    let inbox = app.create_api_inbox(&admin, None).await;
    post_message(&app, &inbox, &message_event("f-1", "cust-1", "hello")).await;
    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    chrome.wait_until("a row", &shown("conversation-row")).await;
    let guide = chrome
        .js("return !!document.querySelector('[data-testid=first-run]');")
        .await;
    assert_eq!(guide, json!(false));
    chrome
        .js(
            "const s = document.querySelector('[data-testid=filter-priority]'); s.value = 'urgent'; \
             s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
        )
        .await;
    chrome
        .wait_until("the empty list", &shown("clear-filters"))
        .await;
    chrome.screenshot("list-filtered-empty").await;
    click(&chrome, "[data-testid=clear-filters]").await;
    chrome
        .wait_until(
            "the row back and the filter cleared",
            "return !!document.querySelector('[data-testid=conversation-row]') && \
             document.querySelector('[data-testid=filter-priority]').value === '';",
        )
        .await;
    // Admin tables show placeholder rows until their data comes (then none is left).
    visit(&chrome, &app, "/admin/teams", "admin-nav").await;
    chrome
        .wait_until(
            "no placeholder left",
            "return document.querySelectorAll('.skeleton-row').length === 0 && \
             !!document.querySelector('.empty:not([hidden])');",
        )
        .await;
    chrome.close().await;
}
