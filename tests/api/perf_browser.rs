//! The inbox under a large load, in headless Chromium (issue #18, performance): 10,000
//! conversations and one of 2,000 messages. Prints how long the list takes to show its first
//! rows and the long conversation to open (in the browser, from `performance.now()`), and
//! checks only what the pages show, never a timing (speed is read from the figures, per the
//! project's rule).

use serde_json::{Value, json};

use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, spawn_app};
use crate::inbox_browser::{shown, sign_in};

const CONVERSATIONS: usize = 10_000;
const LONG: usize = 2_000;
/// Events per signed webhook (the API channel takes up to 500 in one `{"events": [...]}`).
const BATCH: usize = 500;

async fn post_batches(app: &TestApp, inbox: &crate::helpers::ApiInbox, events: Vec<Value>) {
    for chunk in events.chunks(BATCH) {
        let response = app
            .post_signed(inbox, "", &json!({ "events": chunk }))
            .await;
        assert!(response.status().is_success(), "batch stored");
    }
}

/// Resolves with `performance.now()` once `selector` matches `count` elements (checked every
/// animation frame, so the figure is when the browser could first paint them).
fn when_shown(selector: &str, count: usize, since: &str) -> String {
    format!(
        "const t0 = {since}; return new Promise(done => {{ const check = () => \
         document.querySelectorAll({selector:?}).length >= {count} ? done(Math.round(performance.now() - t0)) \
         : requestAnimationFrame(check); check(); }});"
    )
}

#[actix_web::test]
async fn ten_thousand_conversations_and_a_long_one_stay_quick() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let seeded = std::time::Instant::now();
    let many: Vec<Value> = (0..CONVERSATIONS)
        .map(|n| {
            json!({"type": "message", "external_id": format!("many-{n}"),
                   "contact": {"identifier": format!("cust-{n}"), "name": format!("Customer {n}")},
                   "content": format!("Question number {n} about an order")})
        })
        .collect();
    post_batches(&app, &inbox, many).await;
    let long: Vec<Value> = (0..LONG)
        .map(|n| {
            json!({"type": "message", "external_id": format!("long-{n}"),
                   "contact": {"identifier": "long-talker", "name": "Long Talker"},
                   "content": format!("Message {n} of a long conversation, with a few words more")})
        })
        .collect();
    post_batches(&app, &inbox, long).await;
    let seeding = seeded.elapsed();
    let list = app
        .get_json(&admin, "/api/v1/conversations?limit=1&q=Long%20Talker")
        .await;
    let long_id = list["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome
            .wait_until("the list", &shown("conversation-row"))
            .await;
        // A fresh load of the inbox: from navigation start to the first page of rows.
        chrome
            .client
            .goto(&app.url("/"))
            .await
            .expect("open the inbox");
        let list_ms = chrome
            .js(&when_shown("[data-testid=conversation-row]", 50, "0"))
            .await;
        // Opening the long conversation from the list (an in-page navigation).
        let open_ms = chrome
            .js(&format!(
                "const row = document.querySelector('[data-testid=conversation-row][data-id=\"{long_id}\"]'); \
                 if (!row) return -1; const t0 = performance.now(); row.click(); \
                 return new Promise(done => {{ const check = () => \
                 document.querySelectorAll('[data-testid=message]').length >= 50 \
                 ? done(Math.round(performance.now() - t0)) : requestAnimationFrame(check); check(); }});"
            ))
            .await;
        // A fresh load straight into the long conversation.
        chrome
            .client
            .goto(&app.url(&format!("/conversations/{long_id}")))
            .await
            .expect("open the conversation");
        let direct_ms = chrome
            .js(&when_shown("[data-testid=message]", 50, "0"))
            .await;
        // The list beside the thread loads on its own (after the thread, on a busy machine;
        // on a phone it is there but hidden behind the thread).
        chrome
            .wait_until(
                "the list beside the thread",
                "return document.querySelectorAll('[data-testid=conversation-row]').length > 0;",
            )
            .await;
        let shown_messages = chrome
            .js("return document.querySelectorAll('[data-testid=message]').length;")
            .await;
        let rows = chrome
            .js("return document.querySelectorAll('[data-testid=conversation-row]').length;")
            .await;
        println!(
            "perf ({name}, {width}x{height}): {CONVERSATIONS} conversations + one of {LONG} messages \
             seeded in {:.1} s; inbox first rows {list_ms} ms after navigation; the long \
             conversation open from the list {open_ms} ms, loaded directly {direct_ms} ms; \
             {rows} rows and {shown_messages} messages in the page",
            seeding.as_secs_f64()
        );
        assert!(
            open_ms.as_i64().is_some_and(|ms| ms >= 0),
            "the long conversation is a row"
        );
        // Pages of the list and of the thread, not everything: the DOM stays small.
        assert!(
            rows.as_u64().is_some_and(|n| (50..=100).contains(&n)),
            "{rows} rows"
        );
        assert!(
            shown_messages
                .as_u64()
                .is_some_and(|n| (50..=200).contains(&n)),
            "{shown_messages} messages"
        );
        chrome
            .screenshot(&format!("perf-long-conversation-{name}"))
            .await;
        chrome.close().await;
    }
}
