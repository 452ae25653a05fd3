//! WhatsApp in headless Chromium, against the adapter's fake Graph API: an admin connects a
//! number through the form and sees the setup values, the templates and a refused token; an
//! agent sees the 24-hour reply window, a customer's reaction and ad referral live, and once
//! Meta closed the window sends a template through the picker.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chrome::Chrome;
use crate::fake_graph::{Answer, FakeGraph, PHONE_ID, Route, TOKEN, VERSION, WABA_ID};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, spawn_app};
use crate::inbox_browser::{click, shown, visit};
use crate::whatsapp::{APP_SECRET, WhatsApp, create_inbox, envelope, metadata};

const CUSTOMER: &str = "4915112345678";

/// Posts one `messages` change from [`CUSTOMER`], signed with the app secret as Meta does.
async fn webhook(app: &TestApp, inbox: &WhatsApp, messages: Vec<Value>) {
    let body = envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(),
        "contacts": [{"profile": {"name": "Ann Lee"}, "wa_id": CUSTOMER}],
        "messages": messages,
    }));
    inbox.post(app, &body).await;
}

/// A text message of the customer, received now.
fn text(id: &str, body: &str) -> Value {
    json!({"from": CUSTOMER, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(),
           "type": "text", "text": {"body": body}})
}

/// Signs in through the sign-in page and waits for the app.
pub(crate) async fn sign_in(chrome: &Chrome, app: &TestApp, email: &str, password: &str) {
    crate::inbox_browser::sign_in(chrome, app, email, password).await;
    chrome
        .wait_until("the app", "return !!document.querySelector('nav.topnav');")
        .await;
}

fn hidden(testid: &str) -> String {
    format!(
        "const e = document.querySelector('[data-testid={testid}]'); return !e || e.offsetParent === null;"
    )
}

/// Sets a field (by CSS selector) and tells the page it changed.
pub(crate) async fn fill(chrome: &Chrome, selector: &str, value: &str) {
    let script = format!(
        "const e = document.querySelector({selector:?}); if (!e) return false; \
         e.value = {value:?}; e.dispatchEvent(new Event('input', {{bubbles: true}})); \
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"
    );
    assert_eq!(
        chrome.js(&script).await,
        Value::Bool(true),
        "no field {selector}"
    );
}

async fn text_of(chrome: &Chrome, testid: &str) -> String {
    let value = chrome
        .js(&format!(
            "const e = document.querySelector('[data-testid={testid}]'); return e ? e.textContent : null;"
        ))
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn an_admin_connects_a_whatsapp_number() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;

    let chrome = Chrome::start(1280, 800).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The create form offers WhatsApp with its fields; the API address sits in a fold.
    visit(&chrome, &app, "/admin/inboxes/new", "inbox-name").await;
    fill(&chrome, "[data-testid=inbox-name]", "Shop WhatsApp").await;
    fill(&chrome, "[data-testid=inbox-type]", "whatsapp").await;
    chrome
        .wait_until("the WhatsApp fields", &shown("setting-phone_number_id"))
        .await;
    // Chromium renders a closed <details>' content invisible but laid out.
    let folded = chrome
        .js("return !document.querySelector('[data-testid=setting-api_url]').checkVisibility();")
        .await;
    assert_eq!(folded, json!(true), "the Graph API fields are folded");
    fill(&chrome, "[data-testid=setting-phone_number_id]", PHONE_ID).await;
    fill(&chrome, "[data-testid=setting-waba_id]", WABA_ID).await;
    fill(&chrome, "[data-testid=setting-access_token]", TOKEN).await;
    fill(&chrome, "[data-testid=setting-app_secret]", APP_SECRET).await;
    click(&chrome, "[data-testid=settings-advanced] summary").await;
    chrome
        .wait_until("the advanced settings", &shown("setting-api_url"))
        .await;
    fill(&chrome, "[data-testid=setting-api_url]", fake.url.as_str()).await;
    fill(&chrome, "[data-testid=setting-api_version]", VERSION).await;
    chrome
        .js("document.querySelector('[data-testid=settings-advanced]').scrollIntoView({block: 'center'}); return true;")
        .await;
    chrome.screenshot("whatsapp-admin-create").await;
    click(&chrome, "[data-testid=inbox-create]").await;
    chrome
        .wait_until("the created inbox", &shown("inbox-created"))
        .await;
    let id = chrome
        .js("return document.querySelector('[data-testid=inbox-created]').dataset.id;")
        .await;
    let id = id.as_str().expect("inbox id").to_owned();
    let inbox = app.get_json(&admin, &format!("/api/v1/inboxes/{id}")).await;
    assert_eq!(inbox["channel_type"], "whatsapp");
    let webhook_url = inbox["webhook_url"].as_str().expect("url").to_owned();
    let verify_token = inbox["settings"]["verify_token"]
        .as_str()
        .expect("verify token")
        .to_owned();

    // The inbox page: the values to paste into Meta's dashboard, the number, the templates.
    visit(&chrome, &app, &format!("/admin/inboxes/{id}"), "wa-number").await;
    assert_eq!(text_of(&chrome, "wa-callback-url").await, webhook_url);
    assert_eq!(text_of(&chrome, "wa-verify-token").await, verify_token);
    assert_eq!(text_of(&chrome, "wa-phone").await, "+1 555-010-0199");
    assert_eq!(
        text_of(&chrome, "wa-verified-name").await,
        "Switchboard Test"
    );
    let steps = text_of(&chrome, "inbox-steps").await;
    for needle in [
        "WhatsApp → Configuration",
        "messages",
        "whatsapp_business_messaging",
        "whatsapp_business_management",
    ] {
        assert!(steps.contains(needle), "{needle} in {steps}");
    }
    assert_eq!(
        chrome
            .js("return document.querySelectorAll('[data-testid=inbox-steps] button.copy').length;")
            .await,
        json!(2),
        "copy buttons for the callback URL and the verify token"
    );
    chrome
        .wait_until("no token warning", &hidden("wa-token-refused"))
        .await;
    chrome
        .wait_until(
            "the templates",
            "return document.querySelectorAll('[data-testid=wa-template-row]').length === 4;",
        )
        .await;
    let fetched = fake.requests_to(Route::Templates).len();
    click(&chrome, "[data-testid=wa-templates-refresh]").await;
    chrome
        .wait_until(
            "the refresh to finish",
            "const b = document.querySelector('[data-testid=wa-templates-refresh]'); return !!b && !b.disabled;",
        )
        .await;
    assert_eq!(
        fake.requests_to(Route::Templates).len(),
        fetched + 2,
        "refresh read both pages from Meta again"
    );
    let rows = chrome
        .js(
            "return Array.from(document.querySelectorAll('[data-testid=wa-template-row]')).map(r => r.textContent);",
        )
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    assert_eq!(rows.len(), 4, "both pages: {rows:?}");
    assert!(
        rows.iter().any(|r| r.contains("shipping_update")
            && r.contains("en_US")
            && r.contains("APPROVED")
            && r.contains("UTILITY")
            && r.contains("Hi {{1}}, your parcel arrives on {{2}}")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("order_ready_named") && r.contains("PENDING")),
        "{rows:?}"
    );
    // A tall window shows the whole page in one picture.
    chrome
        .client
        .set_window_size(1280, 2600)
        .await
        .expect("tall window");
    chrome.screenshot("whatsapp-admin").await;
    chrome
        .client
        .set_window_size(1280, 800)
        .await
        .expect("desktop window");

    // Meta refuses the token on a send (190): the page says so first; a check that passes
    // clears it.
    let inbox = WhatsApp {
        id: id.clone(),
        webhook_url: app.url(&format!("/webhooks/whatsapp/{id}")),
        verify_token: String::new(),
    };
    webhook(&app, &inbox, vec![text("wamid.ADMIN1", "Hello?")]).await;
    let list = app
        .get_json(&admin, &format!("/api/v1/conversations?inbox_id={id}"))
        .await;
    let conversation = list["data"][0]["id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            401,
            190,
            "Error validating access token: Session has expired",
            "token expired",
        )),
    );
    let reply = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": "Hi!"})),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let mut refused = false;
    for _ in 0..200 {
        let inbox = app.get_json(&admin, &format!("/api/v1/inboxes/{id}")).await;
        if inbox["settings"]["token_refused_at"].is_string() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "the refused token was recorded");
    chrome.client.refresh().await.expect("reload");
    chrome
        .wait_until("the token warning", &shown("wa-token-refused"))
        .await;
    let warning = text_of(&chrome, "wa-token-refused").await;
    assert!(
        warning.contains("Meta refused the access token on")
            && warning.contains("paste a new token"),
        "{warning}"
    );
    let first = chrome
        .js("return document.querySelector('[data-testid=page-body], .page-body').firstElementChild.dataset.testid;")
        .await;
    assert_eq!(first, json!("wa-token-refused"), "the warning comes first");
    chrome.screenshot("whatsapp-admin-token-refused").await;
    click(&chrome, "[data-testid=wa-check]").await;
    chrome
        .wait_until(
            "the check's answer",
            "const r = document.querySelector('[data-testid=wa-check-result]'); return !!r && r.textContent.includes('Connected');",
        )
        .await;
    chrome
        .wait_until("the warning to go", &hidden("wa-token-refused"))
        .await;
    chrome.close().await;
}

#[actix_web::test]
async fn an_agent_sees_the_reply_window_and_sends_a_template() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fake = FakeGraph::start().await;
    let inbox = create_inbox(&app, &admin, &fake).await;
    let (agent, password) = app.create_agent(&admin, "ada@example.com", "agent").await;
    app.add_member(&admin, &inbox.id, &agent).await;
    webhook(&app, &inbox, vec![text("wamid.IN1", "Where is my parcel?")]).await;

    let chrome = Chrome::start(1280, 800).await;
    sign_in(&chrome, &app, "ada@example.com", &password).await;
    chrome
        .wait_until(
            "the conversation in the list",
            "return document.querySelectorAll('[data-testid=conversation-row]').length === 1;",
        )
        .await;
    click(&chrome, "[data-testid=conversation-row]").await;
    chrome
        .wait_until(
            "the customer's message",
            "return Array.from(document.querySelectorAll('[data-testid=message]')).some(m => m.textContent.includes('Where is my parcel?'));",
        )
        .await;

    // The window is open: the countdown shows, templates are a button away.
    chrome
        .wait_until(
            "the countdown",
            "const w = document.querySelector('[data-testid=reply-window]'); \
             return !!w && /^Reply window: 2[34] h \\d+ min left$/.test(w.textContent) && !w.classList.contains('warn');",
        )
        .await;
    chrome
        .wait_until("the template button", &shown("template-open"))
        .await;
    assert_eq!(
        chrome.js(&shown("composer")).await,
        json!(true),
        "free text while the window is open"
    );
    click(&chrome, "[data-testid=template-open]").await;
    chrome
        .wait_until("the picker from the toolbar", &shown("template-select"))
        .await;
    click(&chrome, "[data-testid=template-close]").await;
    chrome
        .wait_until("the text box again", &shown("composer"))
        .await;

    // The customer reacts to their message: a chip appears live.
    webhook(
        &app,
        &inbox,
        vec![json!({"from": CUSTOMER, "id": "wamid.R1",
            "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "reaction",
            "reaction": {"message_id": "wamid.IN1", "emoji": "👍"}})],
    )
    .await;
    chrome
        .wait_until(
            "the reaction chip",
            "return Array.from(document.querySelectorAll('[data-testid=message]')).some(m => \
             m.textContent.includes('Where is my parcel?') && !!m.querySelector('[data-testid=reaction][data-emoji=\"👍\"]'));",
        )
        .await;

    // A customer from an ad: the referral shows as text, never as markup.
    let mut from_ad = text("wamid.IN2", "Is this still on sale?");
    from_ad["referral"] = json!({
        "source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120226305854810726",
        "source_type": "ad", "headline": "<img src=x onerror=alert(1)>Summer sale",
        "body": "Succulents", "media_type": "image",
    });
    webhook(&app, &inbox, vec![from_ad]).await;
    chrome
        .wait_until(
            "the referral line",
            "const r = document.querySelector('[data-testid=referral]'); \
             return !!r && r.textContent.includes('Came from ad: <img src=x onerror=alert(1)>Summer sale (https://fb.me/3cr4Wqqkv)');",
        )
        .await;
    assert_eq!(
        chrome
            .js("return document.querySelectorAll('[data-testid=message-list] img').length;")
            .await,
        json!(0),
        "provider data is shown as text"
    );

    // Meta refuses a free-form reply (131047): the composer switches to templates only.
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            400,
            131047,
            "(#131047) Re-engagement message",
            "More than 24 hours have passed since the recipient last replied to the sender number.",
        )),
    );
    chrome
        .js(
            "const box = document.querySelector('[data-testid=composer]'); box.focus(); \
             box.value = 'Any news?'; box.dispatchEvent(new Event('input', {bubbles: true})); \
             document.querySelector('[data-testid=send]').click(); return true;",
        )
        .await;
    chrome
        .wait_until("templates only", &shown("window-closed"))
        .await;
    assert_eq!(
        text_of(&chrome, "reply-window").await,
        "Reply window closed"
    );
    assert_eq!(
        chrome.js(&hidden("composer")).await,
        json!(true),
        "no free text while the window is closed"
    );

    // The picker: approved templates only, a field per placeholder, a live preview.
    click(&chrome, "[data-testid=window-template]").await;
    chrome
        .wait_until("the template list", &shown("template-select"))
        .await;
    let options = chrome
        .js(
            "return Array.from(document.querySelectorAll('[data-testid=template-select] option')).map(o => o.textContent);",
        )
        .await;
    let options: Vec<String> = serde_json::from_value(options).expect("options");
    assert_eq!(options.len(), 3, "the approved ones: {options:?}");
    assert!(
        !options.iter().any(|o| o.contains("order_ready_named")),
        "a pending template is not offered: {options:?}"
    );
    chrome
        .js(
            "const s = document.querySelector('[data-testid=template-select]'); \
             s.value = Array.from(s.options).find(o => o.textContent.startsWith('shipping_update')).value; \
             s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
        )
        .await;
    chrome
        .wait_until(
            "the fields of shipping_update",
            "return document.querySelectorAll('[data-testid=template-param]').length === 4;",
        )
        .await;
    let param = |part: &str, name: &str| {
        format!("[data-testid=template-param][data-part={part}][data-name=\"{name}\"]")
    };
    fill(&chrome, &param("body", "1"), "Ann").await;
    chrome
        .wait_until(
            "the preview with one value",
            "const p = document.querySelector('[data-testid=template-preview]'); \
             return !!p && p.textContent.includes('Hi Ann, your parcel arrives on {{2}}.') \
             && p.querySelectorAll('mark').length === 3;",
        )
        .await;
    fill(&chrome, &param("header", "1"), "#1001").await;
    fill(&chrome, &param("body", "2"), "Monday").await;
    fill(&chrome, &param("button", "1"), "1001").await;
    chrome
        .wait_until(
            "the full preview",
            "const p = document.querySelector('[data-testid=template-preview]'); \
             return !!p && p.textContent.includes('Order #1001 has shipped') \
             && p.textContent.includes('Hi Ann, your parcel arrives on Monday.') \
             && p.textContent.includes('https://shop.example.com/track/1001') \
             && p.querySelectorAll('mark').length === 0;",
        )
        .await;
    chrome.screenshot("whatsapp-picker-desktop").await;
    chrome
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone width");
    chrome
        .wait_until("the picker at phone width", &shown("template-send"))
        .await;
    assert_eq!(
        chrome
            .js("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
            .await,
        json!(true),
        "no sideways scrolling at 390 px"
    );
    chrome.screenshot("whatsapp-picker-phone").await;

    // Send: the message shows the rendered text, and Meta got the template.
    click(&chrome, "[data-testid=template-send]").await;
    chrome
        .wait_until(
            "the template message",
            "return Array.from(document.querySelectorAll('[data-testid=message]')).some(m => \
             m.textContent.includes('Order #1001 has shipped') && m.textContent.includes('Hi Ann, your parcel arrives on Monday.') \
             && !!m.querySelector('[data-testid=template-badge]'));",
        )
        .await;
    chrome
        .wait_until("the picker to close", &hidden("template-picker"))
        .await;
    let mut sent = None;
    for _ in 0..200 {
        sent = fake
            .messages()
            .into_iter()
            .find(|m| m["type"] == "template");
        if sent.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sent = sent.expect("a template send at Meta");
    assert_eq!(sent["to"], CUSTOMER);
    assert_eq!(sent["template"]["name"], "shipping_update");
    assert_eq!(sent["template"]["language"]["code"], "en_US");
    let components = sent["template"]["components"].to_string();
    for value in ["#1001", "Ann", "Monday", "\"1001\""] {
        assert!(components.contains(value), "{value} in {components}");
    }
    chrome.close().await;
}
