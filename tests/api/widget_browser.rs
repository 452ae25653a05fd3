//! The widget end to end in headless Chromium: a customer's page on its own origin embeds
//! the snippet, a visitor chats with an agent, reloads, loses the connection and comes back.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::chrome::{Chrome, Site};
use crate::helpers::{TestApp, eventually, spawn_app};
use crate::widget::{Widget, create_widget};

/// JavaScript: the widget's shadow root.
const ROOT: &str = "const root = document.getElementById('switchboard-widget')?.shadowRoot;";

fn page(embed: &str, extra: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Acme shop</title>\
         <meta name=viewport content='width=device-width, initial-scale=1'>\
         <style>body {{ font: 16px serif; color: #333; }} button {{ background: red !important; }} \
         div {{ border: 3px dashed green; }}</style></head>\
         <body><h1>Acme shop</h1><p>Our products.</p>{embed}<script>{extra}</script></body></html>"
    )
}

async fn visitor_messages(app: &TestApp, widget: &Widget) -> Vec<String> {
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    let Some(id) = list["data"][0]["id"].as_str() else {
        return Vec::new();
    };
    let messages = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations/{id}/messages?limit=200"),
        )
        .await;
    messages["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["direction"] == "inbound")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

/// Types into the composer and presses Enter, as a visitor does.
pub(crate) async fn type_and_send(chrome: &Chrome, text: &str) {
    let script = format!(
        "{ROOT} const box = root.querySelector('[data-testid=composer]'); box.focus(); \
         box.value = {text}; box.dispatchEvent(new Event('input', {{bubbles: true}})); \
         box.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true}})); \
         return true;",
        text = Value::String(text.to_owned())
    );
    chrome.js(&script).await;
}

/// The bubbles in the panel: (from, state, text).
async fn bubbles(chrome: &Chrome) -> Vec<(String, String, String)> {
    let script = format!(
        "{ROOT} return Array.from(root.querySelectorAll('[data-testid=message]')).map(b => \
         [b.dataset.from || '', b.dataset.state || '', b.textContent]);"
    );
    chrome
        .js(&script)
        .await
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let part = |i: usize| b[i].as_str().unwrap_or_default().to_owned();
            (part(0), part(1), part(2))
        })
        .collect()
}

/// A plain shop page embedding the widget (with `lang`, so axe judges only the widget).
pub(crate) fn shop_page(embed: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Acme shop</title>\
         <meta name=viewport content='width=device-width, initial-scale=1'></head>\
         <body><h1>Acme shop</h1>{embed}</body></html>"
    )
}

/// A browser of `width`×`height` on the shop at `origin`, its widget open and connected.
pub(crate) async fn open_shop(origin: &str, width: u32, height: u32) -> Chrome {
    let chrome = Chrome::start(width, height).await;
    chrome.client.goto(origin).await.expect("open the shop");
    open_widget(&chrome).await;
    chrome
}

pub(crate) async fn open_widget(chrome: &Chrome) {
    chrome
        .wait_until(
            "the widget to load",
            "return window.Switchboard && window.Switchboard.ready === true;",
        )
        .await;
    let open = format!(
        "{ROOT} const panel = root.querySelector('[data-testid=panel]'); \
         if (!panel || panel.hidden || getComputedStyle(panel).display === 'none') \
         root.querySelector('[data-testid=launcher]').click(); return true;"
    );
    chrome.js(&open).await;
    chrome
        .wait_until(
            "the panel to open and connect",
            &format!(
                "{ROOT} const c = root.querySelector('[data-testid=connection]'); \
                 return !!c && c.dataset.state === 'connected';"
            ),
        )
        .await;
}

#[actix_web::test]
async fn a_visitor_chats_with_an_agent_in_a_real_browser() {
    let app = spawn_app().await;
    let site = Site::start().await;
    let widget = create_widget(
        &app,
        json!({"allowed_origins": [site.origin], "title": "Acme support",
               "greeting": "Hi! Ask us anything.", "colour": "#0a7f3f"}),
    )
    .await;
    site.set_page(page(&widget.embed, ""));
    let chrome = Chrome::start(1280, 900).await;
    chrome
        .client
        .goto(&site.origin)
        .await
        .expect("open the shop");
    open_widget(&chrome).await;

    // The visitor writes; the agent's API sees it.
    type_and_send(&chrome, "Hello! Where is my <b>order</b>?").await;
    let stored = eventually(
        &app,
        &widget.admin,
        &format!("/api/v1/conversations?inbox_id={}", widget.id),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let conversation_id = stored["data"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        visitor_messages(&app, &widget).await,
        ["Hello! Where is my <b>order</b>?"]
    );

    // The agent answers; the widget shows it, as text (never as HTML).
    let reply = app
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(json!({"content": "It ships today <img src=x onerror=alert(1)>"})),
        )
        .await;
    assert_eq!(reply.status(), reqwest::StatusCode::CREATED);
    chrome
        .wait_until(
            "the agent's reply in the widget",
            &format!(
                "{ROOT} return Array.from(root.querySelectorAll('[data-testid=message][data-from=agent]')) \
                 .some(b => b.textContent.includes('It ships today <img src=x onerror=alert(1)>'));"
            ),
        )
        .await;
    let injected = chrome
        .js(&format!("{ROOT} return root.querySelectorAll('[data-testid=messages] img[src=x], [data-testid=messages] b').length;"))
        .await;
    assert_eq!(injected, json!(0), "content is escaped");
    chrome.screenshot("widget-open").await;

    // A reload keeps the conversation.
    chrome.client.refresh().await.expect("reload");
    open_widget(&chrome).await;
    chrome
        .wait_until(
            "the history after a reload",
            &format!(
                "{ROOT} const t = Array.from(root.querySelectorAll('[data-testid=message]')).map(b => b.textContent).join('|'); \
                 return t.includes('Where is my <b>order</b>?') && t.includes('It ships today');"
            ),
        )
        .await;

    // The connection drops; two messages wait in the browser and arrive once each later.
    chrome
        .js("Switchboard('simulateOffline', true); return true;")
        .await;
    chrome
        .wait_until(
            "the widget to notice it is offline",
            &format!(
                "{ROOT} const c = root.querySelector('[data-testid=connection]'); return !!c && c.dataset.state !== 'connected';"
            ),
        )
        .await;
    type_and_send(&chrome, "Sent while offline (1)").await;
    type_and_send(&chrome, "Sent while offline (2)").await;
    let pending: Vec<_> = bubbles(&chrome)
        .await
        .into_iter()
        .filter(|(from, state, _)| from == "visitor" && state == "pending")
        .collect();
    assert_eq!(pending.len(), 2, "both wait in the queue: {pending:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(visitor_messages(&app, &widget).await.len(), 1);
    chrome
        .js("Switchboard('simulateOffline', false); return true;")
        .await;
    chrome
        .wait_until(
            "the queued messages to be stored",
            &format!(
                "{ROOT} return root.querySelectorAll('[data-testid=message][data-from=visitor][data-state=pending]').length === 0;"
            ),
        )
        .await;
    // Give a duplicate every chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        visitor_messages(&app, &widget).await,
        [
            "Hello! Where is my <b>order</b>?",
            "Sent while offline (1)",
            "Sent while offline (2)"
        ]
    );
    let visitor_bubbles = bubbles(&chrome)
        .await
        .into_iter()
        .filter(|(from, _, _)| from == "visitor")
        .count();
    assert_eq!(visitor_bubbles, 3, "no duplicate bubbles either");

    // A forged identifier_hash is refused by the hub.
    let token_key = format!("switchboard:{}:token", widget.key);
    let status = chrome
        .client
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1]; \
                 fetch({hub:?} + '/widget/api/identify?key=' + {key:?}, {{method: 'POST', \
                   headers: {{'Content-Type': 'application/json', 'Authorization': 'Bearer ' + localStorage.getItem({token_key:?})}}, \
                   body: JSON.stringify({{identifier: 'user-7', identifier_hash: 'deadbeef'.repeat(8)}})}}) \
                 .then(r => done(r.status), e => done(String(e)));",
                hub = app.address,
                key = widget.key,
            ),
            Vec::new(),
        )
        .await
        .expect("identify from the page");
    assert_eq!(status, json!(401));
    chrome
        .js("Switchboard('identify', {identifier: 'user-7', identifier_hash: '00'}); return true;")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let contact_id = stored["data"][0]["contact_id"].as_str().expect("contact");
    let contact = app
        .get_json(&widget.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    assert!(
        !contact.to_string().contains("user-7"),
        "a forged identity is not recorded: {contact}"
    );

    // At phone width the open panel fills the screen.
    chrome
        .client
        .set_window_size(390, 800)
        .await
        .expect("phone width");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let width = chrome
        .js(&format!(
            "{ROOT} return root.querySelector('[data-testid=panel]').getBoundingClientRect().width;"
        ))
        .await;
    assert!(
        width.as_f64().is_some_and(|w| w >= 370.0),
        "panel width at phone size: {width}"
    );
    chrome.screenshot("widget-phone").await;
    chrome.close().await;
}

#[actix_web::test]
async fn a_page_of_another_origin_gets_no_widget() {
    let app = spawn_app().await;
    let allowed = Site::start().await;
    let foreign = Site::start().await;
    let widget = create_widget(&app, json!({"allowed_origins": [allowed.origin]})).await;
    foreign.set_page(page(&widget.embed, ""));
    let chrome = Chrome::start(1280, 900).await;
    chrome.client.goto(&foreign.origin).await.expect("open");
    // The foreign page tries the visitor API itself: refused by origin (a request that
    // needs a preflight does not even get that far).
    let status = chrome
        .client
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1]; \
                 fetch({hub:?} + '/widget/api/config?key=' + {key:?}) \
                 .then(r => done(r.status), e => done(String(e)));",
                hub = app.address,
                key = widget.key,
            ),
            Vec::new(),
        )
        .await
        .expect("a request from the foreign page");
    assert_eq!(status, json!(403));
    // By now the widget's own start (config) was refused the same way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = chrome
        .js(&format!(
            "{ROOT} return !!(root && root.querySelector('[data-testid=launcher]')) && window.Switchboard.ready === true;"
        ))
        .await;
    assert_eq!(
        shown,
        json!(false),
        "the widget stays off on a foreign page"
    );
    // Nothing the foreign page tried reached the inbox.
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    assert_eq!(list["data"], json!([]));
    chrome.close().await;
}

#[actix_web::test]
async fn the_pre_chat_form_and_the_away_message_follow_the_inbox_settings() {
    let app = spawn_app().await;
    let site = Site::start().await;
    let widget = create_widget(
        &app,
        json!({"allowed_origins": [site.origin], "prechat_name": "required",
               "prechat_email": "required", "away_message": "Back at 9 tomorrow.",
               "position": "left"}),
    )
    .await;
    site.set_page(page(&widget.embed, ""));
    let chrome = Chrome::start(1280, 900).await;
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
    chrome
        .js(&format!(
            "{ROOT} root.querySelector('[data-testid=launcher]').click(); return true;"
        ))
        .await;
    // Nobody of the inbox is online: the away message shows.
    chrome
        .wait_until(
            "the away message",
            &format!(
                "{ROOT} const a = root.querySelector('[data-testid=away]'); \
                 return !!a && a.offsetParent !== null && a.textContent.includes('Back at 9 tomorrow.');"
            ),
        )
        .await;
    // The form insists on both fields and a real address.
    chrome
        .wait_until(
            "the pre-chat form",
            &format!("{ROOT} const f = root.querySelector('[data-testid=prechat]'); return !!f && f.offsetParent !== null;"),
        )
        .await;
    let submit = |name: &str, email: &str| {
        format!(
            "{ROOT} const set = (id, v) => {{ const e = root.querySelector(`[data-testid=${{id}}]`); \
             e.value = v; e.dispatchEvent(new Event('input', {{bubbles: true}})); }}; \
             set('prechat-name', {name:?}); set('prechat-email', {email:?}); \
             root.querySelector('[data-testid=prechat-submit]').click(); return true;"
        )
    };
    chrome.js(&submit("Ann Lee", "not-an-address")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = chrome
        .js(&format!("{ROOT} const f = root.querySelector('[data-testid=prechat]'); return !!f && f.offsetParent !== null;"))
        .await;
    assert_eq!(still, json!(true), "a bad email keeps the form open");
    chrome.js(&submit("Ann Lee", "ann@example.com")).await;
    chrome
        .wait_until(
            "the composer after the form",
            &format!(
                "{ROOT} const f = root.querySelector('[data-testid=prechat]'); \
                 const c = root.querySelector('[data-testid=composer]'); \
                 return (!f || f.offsetParent === null) && !!c && c.offsetParent !== null;"
            ),
        )
        .await;
    type_and_send(&chrome, "Hi, it's Ann").await;
    let list = eventually(
        &app,
        &widget.admin,
        &format!("/api/v1/conversations?inbox_id={}", widget.id),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let contact_id = list["data"][0]["contact_id"].as_str().expect("contact");
    let contact = app
        .get_json(&widget.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    assert_eq!(contact["contact"]["name"], "Ann Lee");
    assert_eq!(contact["contact"]["email"], "ann@example.com");

    // An agent of the inbox comes online: the away message goes.
    let (agent_id, password) = app
        .create_agent(&widget.admin, "ada@example.com", "agent")
        .await;
    let agent_token = app.token_for("ada@example.com", &password).await;
    app.add_member(&widget.admin, &widget.id, &agent_id).await;
    let _online = app.websocket(&agent_token, None).await;
    chrome
        .wait_until(
            "the away message to go",
            &format!(
                "{ROOT} const a = root.querySelector('[data-testid=away]'); return !a || a.offsetParent === null;"
            ),
        )
        .await;
    chrome.screenshot("widget-prechat-left").await;
    chrome.close().await;
}
