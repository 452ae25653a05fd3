//! Service levels in headless Chromium: an admin sets business hours and an SLA policy on
//! the admin page (a bad time zone is refused next to the form), then the inbox shows the
//! SLA badge of a waiting conversation counting down, turning to overdue live when the
//! target passes, and the "Breaching soon" filter lists it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, spawn_app};
use crate::inbox_browser::{click, fill, shown, sign_in, visit};

async fn badge(chrome: &Chrome) -> Value {
    chrome
        .js("const b = document.querySelector('[data-testid=conversation-row] [data-testid=sla-badge]'); \
             return b ? {state: b.dataset.state, text: b.textContent} : null;")
        .await
}

async fn set_up_on_the_admin_page(chrome: &Chrome, app: &TestApp) {
    visit(chrome, app, "/admin/sla", "hours-new").await;
    click(chrome, "[data-testid=hours-new]").await;
    // The forms come with the page's first load (inboxes and teams fill their choices).
    chrome
        .wait_until("the business hours form", &shown("hours-name"))
        .await;
    fill(chrome, "hours-name", "Office").await;
    fill(chrome, "hours-time-zone", "Europe/Atlantis").await;
    click(chrome, "[data-testid=hours-save]").await;
    chrome
        .wait_until(
            "the time zone refused",
            "const e = document.querySelector('[data-testid=hours-error]'); \
             const zone = document.querySelector('[data-testid=hours-time-zone]'); \
             return !!e && e.textContent.startsWith('Time zone: ') \
               && !!zone.parentNode.querySelector('[data-testid=field-error]');",
        )
        .await;
    chrome.screenshot("sla-admin-refused").await;
    // Every day, all day: the badge then counts plain minutes, whatever the day of the run.
    fill(chrome, "hours-time-zone", "UTC").await;
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        fill(chrome, &format!("hours-{day}"), "00:00-24:00").await;
    }
    click(chrome, "[data-testid=hours-save]").await;
    chrome
        .wait_until("the hours listed", &shown("hours-row"))
        .await;
    // The inbox keeps them.
    chrome
        .wait_until(
            "the schedule offered for the inbox",
            "const s = document.querySelector('[data-testid=inbox-hours]'); \
             return !!s && s.options.length === 2;",
        )
        .await;
    chrome
        .js("const s = document.querySelector('[data-testid=inbox-hours]'); \
             s.value = s.options[1].value; s.dispatchEvent(new Event('change', {bubbles: true})); return true;")
        .await;

    click(chrome, "[data-testid=policy-new]").await;
    chrome
        .wait_until("the policy form", &shown("policy-name"))
        .await;
    fill(chrome, "policy-name", "Standard").await;
    fill(chrome, "policy-first", "60").await;
    fill(chrome, "policy-breach-priority", "urgent").await;
    click(chrome, "[data-testid=policy-save]").await;
    chrome
        .wait_until("the policy listed", &shown("policy-row"))
        .await;
    chrome.screenshot("sla-admin").await;
}

#[actix_web::test]
async fn an_admin_sets_a_policy_and_the_inbox_shows_the_sla_live() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    chrome
        .wait_until("the inbox", &shown("conversation-list"))
        .await;
    set_up_on_the_admin_page(&chrome, &app).await;

    // What the page stored, read back through the API.
    let policies = app.get_json(&admin, "/api/v1/sla-policies").await;
    let policy = &policies["data"][0];
    assert_eq!(policy["first_response_secs"], 3600, "{policies}");
    assert_eq!(
        policy["actions"],
        json!([{"on": "breach", "do": "raise_priority", "priority": "urgent"}])
    );
    let hours = app
        .get_json(
            &admin,
            &format!("/api/v1/inboxes/{}/business-hours", inbox.id),
        )
        .await;
    assert!(hours["business_hours_id"].is_string(), "{hours}");
    assert_eq!(hours["open_now"], true);

    // A customer writes: the row shows an hour to go.
    visit(&chrome, &app, "/", "conversation-list").await;
    app.inbound(&inbox, "m-1", "cust-1", "Is anyone there?")
        .await;
    chrome
        .wait_until(
            "the SLA badge",
            "return !!document.querySelector('[data-testid=conversation-row] [data-testid=sla-badge]');",
        )
        .await;
    let shown_badge = badge(&chrome).await;
    assert_eq!(shown_badge["state"], "ok", "{shown_badge}");
    assert!(
        shown_badge["text"]
            .as_str()
            .is_some_and(|t| t == "SLA 1h" || t == "SLA 59m"),
        "{shown_badge}"
    );
    chrome.screenshot("sla-inbox").await;

    // The hour passes on the hub's clock: overdue and urgent, live.
    app.state
        .hub
        .sla
        .clock
        .advance(Duration::from_secs(61 * 60));
    chrome
        .wait_until(
            "the priority raised",
            "const r = document.querySelector('[data-testid=conversation-row]'); \
             return !!r && !!r.querySelector('.prio-urgent');",
        )
        .await;
    chrome
        .wait_until(
            "the breach shown",
            "const b = document.querySelector('[data-testid=conversation-row] [data-testid=sla-badge]'); \
             return !!b && b.dataset.state === 'breached';",
        )
        .await;
    // The browser's own clock did not move: the badge trusts the hub's state.
    fill(&chrome, "filter-sla", "at_risk").await;
    chrome
        .wait_until(
            "the breaching filter",
            "return document.querySelectorAll('[data-testid=conversation-row]').length === 1;",
        )
        .await;
    chrome.screenshot("sla-inbox-breached").await;
    chrome.close().await;

    let phone = Chrome::start(390, 844).await;
    sign_in(&phone, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    phone
        .wait_until("the inbox on a phone", &shown("conversation-list"))
        .await;
    visit(&phone, &app, "/admin/sla", "policy-row").await;
    phone.screenshot("sla-admin-phone").await;
    visit(&phone, &app, "/", "conversation-list").await;
    phone
        .wait_until(
            "the SLA badge on a phone",
            "return !!document.querySelector('[data-testid=sla-badge]');",
        )
        .await;
    phone.screenshot("sla-inbox-phone").await;
    phone.close().await;
}
