//! The conversation list in headless Chromium (issue #18 item 5): avatars, coloured labels
//! and the team on rows, sort and team filter, a saved view, and an admin colouring a label
//! (desktop and phone width).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chrome::Chrome;
use crate::conversation_helpers::{call_ok, change, conversation_path, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, message_event, spawn_app};
use crate::inbox_browser::{click, shown, sign_in, visit};

/// The ids of the rows, top to bottom.
const ROW_IDS: &str = "return Array.from(document.querySelectorAll('[data-testid=conversation-row]')).map(r => r.dataset.id);";

/// Sets a select and tells the page.
fn choose(testid: &str, value: &str) -> String {
    format!(
        "const s = document.querySelector('[data-testid={testid}]'); if (!s) return false; \
         s.value = {value:?}; s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value === {value:?};"
    )
}

/// Whether the rows are exactly these conversations, in this order.
fn rows_are(ids: &[&String]) -> String {
    let want = serde_json::to_string(ids).unwrap_or_default();
    format!(
        "const got = Array.from(document.querySelectorAll('[data-testid=conversation-row]')).map(r => r.dataset.id); \
         return JSON.stringify(got) === {want:?};"
    )
}

#[actix_web::test]
async fn rows_show_labels_team_and_avatar_sorts_filters_and_views_work() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let team = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Billing"})),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/labels",
        Some(json!({"name": "vip", "color": "#cf222e"})),
        StatusCode::CREATED,
    )
    .await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        // c0 waits longest; c1 is answered; c2 is urgent, Billing's and VIP.
        let mut c = Vec::new();
        for n in 0..3 {
            let event = message_event(&format!("{name}-{n}"), &format!("{name}-cust-{n}"), "hello");
            c.push(post_message(&app, &inbox, &event).await);
        }
        call_ok(
            &app,
            &admin,
            Method::POST,
            &format!("{}/messages", conversation_path(&c[1])),
            Some(json!({"content": "Hi, on it"})),
            StatusCode::CREATED,
        )
        .await;
        change(
            &app,
            &admin,
            &c[2],
            "priority",
            json!({"priority": "urgent"}),
        )
        .await;
        change(&app, &admin, &c[2], "assign", json!({"team_id": team})).await;
        change(&app, &admin, &c[2], "labels", json!({"labels": ["vip"]})).await;

        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until("the list", &shown("conversation-list"))
            .await;
        // Newest first: c1 (the reply moved it up), c2, c0.
        chrome
            .wait_until("newest first", &rows_are(&[&c[1], &c[2], &c[0]]))
            .await;
        // The urgent row: its label with the admin's colour, the team, initials.
        let row = format!(
            "document.querySelector('[data-testid=conversation-row][data-id=\"{}\"]')",
            c[2]
        );
        chrome
            .wait_until(
                "label colour, team and avatar on the row",
                &format!(
                    "const r = {row}; if (!r) return false; \
                     const dot = r.querySelector('[data-label=vip] .label-dot'); \
                     const team = r.querySelector('[data-testid=row-team]'); \
                     const avatar = r.querySelector('.initials'); \
                     return !!dot && getComputedStyle(dot).backgroundColor === 'rgb(207, 34, 46)' \
                       && !!team && team.textContent === 'Billing' && !!avatar && avatar.textContent === 'A';"
                ),
            )
            .await;
        // Two customers wait (c0, c2), c1 was answered.
        let waiting = chrome
            .js("return document.querySelectorAll('[data-testid=row-waiting]').length;")
            .await;
        assert_eq!(waiting, json!(2));
        chrome.screenshot(&format!("list-rows-{name}")).await;

        assert_eq!(
            chrome.js(&choose("filter-sort", "priority")).await,
            json!(true)
        );
        chrome
            .wait_until("urgent first", &rows_are(&[&c[2], &c[1], &c[0]]))
            .await;
        assert_eq!(
            chrome.js(&choose("filter-sort", "waiting")).await,
            json!(true)
        );
        chrome
            .wait_until(
                "waiting longest first, the answered last",
                &rows_are(&[&c[0], &c[2], &c[1]]),
            )
            .await;
        chrome
            .wait_until("the Billing team picked", &choose("filter-team", &team))
            .await;
        chrome
            .wait_until("Billing's only", &rows_are(&[&c[2]]))
            .await;

        // Saved as a view, left, and opened again.
        click(&chrome, "[data-testid=save-view]").await;
        chrome
            .js(
                "const i = document.querySelector('[data-testid=view-name]'); i.value = 'Billing queue'; \
                 i.dispatchEvent(new Event('input', {bubbles: true})); \
                 document.querySelector('[data-testid=view-save-submit]').click(); return true;",
            )
            .await;
        chrome
            .wait_until(
                "the view picked",
                "const s = document.querySelector('[data-testid=saved-views]'); \
                 return !!s && s.selectedIndex > 0 && s.options[s.selectedIndex].text === 'Billing queue';",
            )
            .await;
        chrome.screenshot(&format!("list-view-saved-{name}")).await;
        assert_eq!(chrome.js(&choose("filter-team", "")).await, json!(true));
        assert_eq!(
            chrome.js(&choose("filter-sort", "newest")).await,
            json!(true)
        );
        chrome
            .wait_until("all three again", &rows_are(&[&c[1], &c[2], &c[0]]))
            .await;
        let view_id = chrome
            .js(
                "const s = document.querySelector('[data-testid=saved-views]'); \
                 const o = Array.from(s.options).find(o => o.text === 'Billing queue'); return o ? o.value : null;",
            )
            .await;
        let view_id = view_id.as_str().unwrap_or_default().to_owned();
        chrome
            .wait_until("the view picked again", &choose("saved-views", &view_id))
            .await;
        chrome
            .wait_until("the view's list", &rows_are(&[&c[2]]))
            .await;
        let filters = chrome
            .js(
                "return [document.querySelector('[data-testid=filter-team]').value, \
                 document.querySelector('[data-testid=filter-sort]').value];",
            )
            .await;
        assert_eq!(filters, json!([team, "waiting"]));
        let views = app.get_json(&admin, "/api/v1/me/views").await;
        let saved: Vec<&Value> = views["data"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|v| v["name"] == "Billing queue")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(saved.len(), 1, "{views}");
        assert_eq!(
            saved[0]["filters"],
            json!({"team_id": team, "status": "open", "sort": "waiting"})
        );
        let rows = chrome.js(ROW_IDS).await;
        assert_eq!(rows, json!([c[2]]));

        // The admin page colours the label; the list shows the new colour.
        visit(&chrome, &app, "/admin/labels", "label-row").await;
        chrome
            .js(
                "const i = document.querySelector('[data-testid=label-row][data-name=vip] [data-testid=label-color]'); \
                 i.value = '#1a7f37'; i.dispatchEvent(new Event('input', {bubbles: true})); \
                 document.querySelector('[data-testid=label-row][data-name=vip] [data-testid=label-save]').click(); return true;",
            )
            .await;
        chrome
            .wait_until(
                "the colour saved",
                "const b = document.querySelector('[data-testid=label-row][data-name=vip] [data-testid=label-save]'); \
                 return !!b && b.disabled && b.getAttribute('aria-busy') === null;",
            )
            .await;
        chrome.screenshot(&format!("admin-labels-{name}")).await;
        let labels = app.get_json(&admin, "/api/v1/labels").await;
        let vip = labels["data"]
            .as_array()
            .and_then(|all| all.iter().find(|l| l["name"] == "vip").cloned())
            .unwrap_or_default();
        assert_eq!(vip["color"], "#1a7f37", "{labels}");
        // Back to the original colour and the next round's fresh rows.
        call_ok(
            &app,
            &admin,
            Method::PATCH,
            &format!("/api/v1/labels/{}", vip["id"].as_str().unwrap_or_default()),
            Some(json!({"color": "#cf222e"})),
            StatusCode::OK,
        )
        .await;
        call_ok(
            &app,
            &admin,
            Method::DELETE,
            &format!("/api/v1/me/views/{view_id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
        call_ok(
            &app,
            &admin,
            Method::POST,
            "/api/v1/conversations/bulk",
            Some(json!({"conversation_ids": c, "status": "resolved"})),
            StatusCode::OK,
        )
        .await;
        chrome.close().await;
    }
}
