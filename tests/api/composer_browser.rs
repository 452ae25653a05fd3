//! The composer in headless Chromium (issue #18 item 7): a canned response's variables filled
//! in its preview and in the text (contact, agent, conversation, a custom attribute, a
//! fallback; an unknown one left as typed), the emoji picker, quote-reply (the reply answers the
//! quoted message), and snoozing until a picked date and time (desktop and phone width).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chrome::Chrome;
use crate::conversation_helpers::{call_ok, conversation_path, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in, visit};

/// Types `text` into the composer (as input events do) with the caret at its end.
fn type_in(text: &str) -> String {
    format!(
        "const c = document.querySelector('[data-testid=composer]'); c.focus(); c.value = {text:?}; \
         c.setSelectionRange(c.value.length, c.value.length); \
         c.dispatchEvent(new Event('input', {{bubbles: true}})); return true;"
    )
}

const COMPOSER_VALUE: &str = "return document.querySelector('[data-testid=composer]').value;";

#[actix_web::test]
async fn canned_variables_emoji_quotes_and_a_picked_snooze() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/canned-responses",
        Some(json!({"short_code": "thanks", "content":
            "Hi {{contact.first_name | there}}, {{agent.name}} here about #{{conversation.id}} \
             ({{contact.attributes.plan | no plan}}, {{contact.attributes.tier | no tier}}) {{contact.nope}}"})),
        StatusCode::CREATED,
    )
    .await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let event = message_event(
            &format!("{name}-1"),
            &format!("{name}-cust"),
            "Where is my parcel?",
        );
        let conversation = post_message(&app, &inbox, &event).await;
        let shown_conversation = app
            .get_json(&admin, &conversation_path(&conversation))
            .await;
        let contact = shown_conversation["contact_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        call_ok(
            &app,
            &admin,
            Method::PATCH,
            &format!("/api/v1/contacts/{contact}"),
            Some(json!({"name": "Ann Smith", "attributes": {"plan": "Pro"}})),
            StatusCode::OK,
        )
        .await;
        let messages = app
            .get_json(
                &admin,
                &format!("{}/messages", conversation_path(&conversation)),
            )
            .await;
        let customer_message = messages["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();

        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until("the list", &shown("conversation-list"))
            .await;
        visit(
            &chrome,
            &app,
            &format!("/conversations/{conversation}"),
            "composer",
        )
        .await;
        chrome
            .wait_until(
                "the contact loaded",
                "return !!document.querySelector('.contact-head h3');",
            )
            .await;

        // The canned response, filled in its preview and in the text.
        let filled = format!(
            "Hi Ann, Administrator here about #{conversation} (Pro, no tier) {{{{contact.nope}}}}"
        );
        chrome.js(&type_in("/thanks")).await;
        chrome
            .wait_until(
                "the filled preview",
                &format!(
                    "const p = document.querySelector('[data-testid=canned-preview]'); \
                     return !!p && p.textContent.startsWith({filled:?}) && p.textContent.includes('empty here: contact.nope');"
                ),
            )
            .await;
        chrome.screenshot(&format!("composer-canned-{name}")).await;
        click(&chrome, "[data-testid=canned-option]").await;
        assert_eq!(chrome.js(COMPOSER_VALUE).await, json!(filled));

        // An emoji at the caret.
        chrome.js(&type_in("Thanks ")).await;
        click(&chrome, "[data-testid=emoji-open]").await;
        chrome
            .wait_until(
                "the picker open, its first emoji focused",
                "const p = document.querySelector('[data-testid=emoji-picker]'); \
                 return !p.hidden && p.contains(document.activeElement);",
            )
            .await;
        chrome.screenshot(&format!("composer-emoji-{name}")).await;
        click(&chrome, "[data-testid=emoji-picker] [data-emoji='👍']").await;
        assert_eq!(chrome.js(COMPOSER_VALUE).await, json!("Thanks 👍"));
        let closed = chrome
            .js("return document.querySelector('[data-testid=emoji-picker]').hidden;")
            .await;
        assert_eq!(closed, json!(true));

        // Quote the customer's message: the reply answers it and shows the quote.
        click(&chrome, "[data-testid=quote-reply]").await;
        chrome
            .wait_until(
                "the quote above the text",
                "const q = document.querySelector('[data-testid=composer-quote]'); \
                 return !q.hidden && q.textContent.includes('Where is my parcel?');",
            )
            .await;
        click(&chrome, "[data-testid=send]").await;
        let replied = eventually(
            &app,
            &admin,
            &format!("{}/messages", conversation_path(&conversation)),
            |page| page["data"].as_array().is_some_and(|d| d.len() == 2),
        )
        .await;
        let reply: &Value = &replied["data"][1];
        assert_eq!(reply["content"], "Thanks 👍");
        assert_eq!(reply["reply_to_id"], customer_message.as_str(), "{reply}");
        chrome
            .wait_until(
                "the quote in the thread, the composer clear",
                "return document.querySelectorAll('[data-testid=quote]').length === 1 \
                   && document.querySelector('[data-testid=composer-quote]').hidden;",
            )
            .await;

        // Snoozed until a picked date and time (the details pane; behind a button on phones).
        if name == "phone" {
            click(&chrome, ".details-toggle").await;
        }
        let picked = chrome
            .js(
                "const s = document.querySelector('[data-testid=snooze-for]'); s.value = 'custom'; \
                 s.dispatchEvent(new Event('change', {bubbles: true})); \
                 const at = document.querySelector('[data-testid=snooze-at]'); \
                 const d = new Date(Date.now() + 3 * 86400e3); d.setHours(14, 30, 0, 0); \
                 const pad = n => String(n).padStart(2, '0'); \
                 at.value = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T14:30'; \
                 at.dispatchEvent(new Event('change', {bubbles: true})); \
                 document.querySelector('[data-testid=snooze]').click(); return d.toISOString();",
            )
            .await;
        let picked = picked.as_str().unwrap_or_default().to_owned();
        let snoozed = eventually(&app, &admin, &conversation_path(&conversation), |c| {
            c["status"] == "snoozed"
        })
        .await;
        let until = snoozed["snoozed_until"].as_str().unwrap_or_default();
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(until).ok(),
            chrono::DateTime::parse_from_rfc3339(&picked).ok(),
            "snoozed until the picked time: {snoozed}"
        );
        chrome.screenshot(&format!("composer-snoozed-{name}")).await;
        chrome.close().await;
    }
}
