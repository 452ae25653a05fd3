//! Admin pages in headless Chromium (issue #18 item 9): a password shown once at the top of
//! the page, focused, with a copy button, and the create form folded away; a refused field
//! named in plain words next to the field; the Admin tab active on every admin page and the
//! Inbox tab on a conversation; tables inside their cards at phone width.

use serde_json::json;

use crate::chrome::Chrome;
use crate::conversation_helpers::post_message;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in, visit};

/// Fills an input by test id and tells the page.
fn fill(testid: &str, value: &str) -> String {
    format!(
        "const e = document.querySelector('[data-testid={testid}]'); e.value = {value:?}; \
         e.dispatchEvent(new Event('input', {{bubbles: true}})); return true;"
    )
}

const ADMIN_TAB_ACTIVE: &str = "const a = document.querySelector('nav.topnav a[href=\"/admin/inboxes\"]'); \
     return !!a && a.getAttribute('aria-current') === 'page';";

#[actix_web::test]
async fn admin_pages_show_secrets_first_errors_in_words_and_their_tab() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let conversation = post_message(&app, &inbox, &message_event("p-1", "cust-1", "hello")).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until("the list", &shown("conversation-list"))
            .await;

        visit(&chrome, &app, "/admin/agents", "agent-name").await;
        chrome.wait_until("the Admin tab", ADMIN_TAB_ACTIVE).await;
        // A refused email: said in words next to the field, the field marked and focused.
        chrome.js(&fill("agent-name", "Ada")).await;
        chrome.js(&fill("agent-email", "not an address")).await;
        click(&chrome, "[data-testid=agent-create]").await;
        chrome
            .wait_until(
                "the refusal next to the field",
                "const box = document.querySelector('[data-testid=agent-error]'); \
                 const email = document.querySelector('[data-testid=agent-email]'); \
                 const line = email.parentNode.querySelector('[data-testid=field-error]'); \
                 return box.textContent.startsWith('Email: ') && !box.textContent.includes('email:') \
                   && !!line && line.textContent.length > 3 \
                   && email.getAttribute('aria-invalid') === 'true' && document.activeElement === email;",
            )
            .await;
        chrome
            .screenshot(&format!("admin-field-error-{name}"))
            .await;
        // Created: the password first on the page, focused, with its copy button; the form
        // folds away behind "Create another agent".
        chrome
            .js(&fill("agent-email", &format!("ada-{name}@example.com")))
            .await;
        click(&chrome, "[data-testid=agent-create]").await;
        chrome
            .wait_until(
                "the password at the top, focused",
                "const body = document.querySelector('.page-body'); \
                 const card = body && body.firstElementChild; \
                 return !!card && card.dataset.testid === 'agent-created' \
                   && card.contains(document.activeElement) \
                   && !!card.querySelector('[data-testid=agent-password]') \
                   && !!card.querySelector('button.copy') \
                   && !document.querySelector('[data-testid=agent-email]').parentNode.querySelector('[data-testid=field-error]');",
            )
            .await;
        chrome
            .wait_until(
                "the form folded",
                "return document.querySelector('[data-testid=agent-name]').closest('form').hidden \
                   && !document.querySelector('[data-testid=agent-another]').hidden;",
            )
            .await;
        chrome
            .screenshot(&format!("admin-agent-created-{name}"))
            .await;
        click(&chrome, "[data-testid=agent-another]").await;
        chrome
            .wait_until(
                "the form again, focused",
                "const n = document.querySelector('[data-testid=agent-name]'); \
                 return !n.closest('form').hidden && document.activeElement === n;",
            )
            .await;

        // The Admin tab on another admin page; the tables stay inside the page.
        for (path, testid) in [
            ("/admin/labels", "label-name"),
            ("/admin/inboxes", "inbox-row"),
        ] {
            visit(&chrome, &app, path, testid).await;
            chrome.wait_until(path, ADMIN_TAB_ACTIVE).await;
        }
        let fits = chrome
            .js("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
            .await;
        assert_eq!(
            fits,
            json!(true),
            "no sideways scrolling on /admin/inboxes at {width} px"
        );
        chrome.screenshot(&format!("admin-inboxes-{name}")).await;

        // The Inbox tab while a conversation is open.
        visit(
            &chrome,
            &app,
            &format!("/conversations/{conversation}"),
            "composer",
        )
        .await;
        chrome
            .wait_until(
                "the Inbox tab",
                "const a = document.querySelector('nav.topnav a[href=\"/\"]'); \
                 return !!a && a.getAttribute('aria-current') === 'page';",
            )
            .await;
        chrome.close().await;
    }
}
