//! Availability and notification settings in headless Chromium: an agent picks "Busy" in
//! the top bar (at desktop and phone width) and sets email, quiet hours and watched inboxes
//! on the profile page; an admin watches who is connected on the agents page, live.

use serde_json::{Value, json};

use crate::agent_status::choose;
use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, eventually, spawn_app};
use crate::inbox_browser::{click, shown, sign_in, visit};

/// Sets a form control's value (or a checkbox) the way a person would, with the events.
async fn set(chrome: &Chrome, testid: &str, value: Value) {
    let script = format!(
        "const e = document.querySelector('[data-testid={testid}]'); if (!e) return false; \
         const v = {value}; if (e.type === 'checkbox') e.checked = v; else e.value = v; \
         e.dispatchEvent(new Event('input', {{bubbles: true}})); \
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"
    );
    assert_eq!(chrome.js(&script).await, json!(true), "no {testid}");
}

async fn status_of(app: &TestApp, admin: &str, agent_id: &str, want: &str) {
    eventually(app, admin, &format!("/api/v1/agents/{agent_id}"), |a| {
        a["status"] == want
    })
    .await;
}

#[actix_web::test]
async fn an_agent_goes_busy_and_chooses_email_quiet_hours_and_watched_inboxes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, password) = app.create_agent(&admin, "ada@example.com", "agent").await;
    app.add_member(&admin, &inbox.id, &ada).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, "ada@example.com", &password).await;
        chrome
            .wait_until(
                "the socket up",
                "return document.documentElement.dataset.socket === 'connected';",
            )
            .await;
        status_of(&app, &admin, &ada, "online").await;
        set(&chrome, "my-availability", json!("busy")).await;
        status_of(&app, &admin, &ada, "busy").await;
        chrome
            .wait_until(
                "the control showing busy",
                "const s = document.querySelector('[data-testid=my-availability]'); \
                 return s.value === 'busy' && s.classList.contains('status-busy') && !s.disabled;",
            )
            .await;
        chrome
            .screenshot(&format!("availability-busy-{name}"))
            .await;
        // Back to online for the next round; the choice is stored, so a reload keeps it.
        set(&chrome, "my-availability", json!("online")).await;
        status_of(&app, &admin, &ada, "online").await;
        chrome.close().await;
    }

    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, "ada@example.com", &password).await;
    chrome
        .wait_until("the inbox", &shown("conversation-list"))
        .await;
    visit(&chrome, &app, "/profile", "notify-save").await;
    // No SMTP server here: the page says so, and the settings are kept anyway.
    chrome
        .wait_until("the no-mail note", &shown("notify-email-off"))
        .await;
    set(&chrome, &format!("notify-watch-{}", inbox.id), json!(true)).await;
    set(&chrome, "notify-kind-message", json!(false)).await;
    set(&chrome, "notify-quiet-enabled", json!(true)).await;
    set(&chrome, "notify-quiet-start", json!("21:30")).await;
    set(&chrome, "notify-quiet-end", json!("06:15")).await;
    // A zone that does not exist is refused next to the form and nothing is stored.
    set(&chrome, "notify-time-zone", json!("Mars/Olympus")).await;
    click(&chrome, "[data-testid=notify-save]").await;
    chrome
        .wait_until(
            "the refusal",
            "const e = document.querySelector('[data-testid=notify-settings-error]'); \
             const zone = document.querySelector('[data-testid=notify-time-zone]'); \
             const next = zone && zone.parentNode.querySelector('[data-testid=field-error]'); \
             return !!e && e.textContent.startsWith('Time zone: ') && !!next \
               && zone.getAttribute('aria-invalid') === 'true' \
               && zone.getAttribute('aria-describedby').includes(next.id);",
        )
        .await;
    let ada_token = app.token_for("ada@example.com", &password).await;
    let stored = app
        .get_json(&ada_token, "/api/v1/me/notification-settings")
        .await;
    assert_eq!(stored["watched_inbox_ids"], json!([]), "{stored}");
    set(&chrome, "notify-time-zone", json!("Europe/Berlin")).await;
    click(&chrome, "[data-testid=notify-save]").await;
    let stored = eventually(&app, &ada_token, "/api/v1/me/notification-settings", |s| {
        s["email"]["time_zone"] == "Europe/Berlin"
    })
    .await;
    assert_eq!(stored["watched_inbox_ids"], json!([inbox.id]), "{stored}");
    assert_eq!(
        stored["email"]["quiet_hours"],
        json!({"start": "21:30", "end": "06:15"})
    );
    let kinds = stored["email"]["kinds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!kinds.contains(&json!("message")), "{stored}");
    assert!(kinds.contains(&json!("inbox_conversation")), "{stored}");
    chrome.screenshot("notification-settings-desktop").await;
    // A reload shows what was saved.
    visit(&chrome, &app, "/profile", "notify-save").await;
    let shown_back = chrome
        .js(&format!(
            "return [document.querySelector('[data-testid=notify-watch-{}]').checked, \
             document.querySelector('[data-testid=notify-quiet-start]').value, \
             document.querySelector('[data-testid=notify-time-zone]').value];",
            inbox.id
        ))
        .await;
    assert_eq!(shown_back, json!([true, "21:30", "Europe/Berlin"]));
    chrome.close().await;
}

#[actix_web::test]
async fn admins_see_who_is_connected_on_the_agents_page_live() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (ada, password) = app.create_agent(&admin, "ada@example.com", "agent").await;
    let ada_token = app.token_for("ada@example.com", &password).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        // No inbox here: at phone width the first-run guide stands in for the list.
        chrome
            .wait_until("the app", "return !!document.querySelector('nav.topnav');")
            .await;
        visit(&chrome, &app, "/admin/agents", "agent-row").await;
        let badge = |want: &str| {
            format!(
                "const r = document.querySelector('[data-testid=agent-row][data-id=\"{ada}\"]'); \
                 const b = r && r.querySelector('[data-testid=agent-status]'); \
                 return !!b && b.textContent === '{want}';"
            )
        };
        chrome.wait_until("Ada offline", &badge("Offline")).await;
        chrome
            .wait_until(
                "the socket up",
                "return document.documentElement.dataset.socket === 'connected';",
            )
            .await;
        let socket = app.websocket(&ada_token, None).await;
        chrome
            .wait_until("Ada online, live", &badge("Online"))
            .await;
        choose(&app, &ada_token, "busy").await;
        chrome.wait_until("Ada busy, live", &badge("Busy")).await;
        chrome.screenshot(&format!("agents-status-{name}")).await;
        socket.close().await;
        chrome
            .wait_until("Ada offline again", &badge("Offline"))
            .await;
        choose(&app, &ada_token, "online").await;
        chrome.close().await;
    }
}
