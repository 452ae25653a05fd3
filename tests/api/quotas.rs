//! Storage limits of uploads (issue #17, "anonymous storage exhaustion"): widget visitors'
//! daily quotas per visitor and per inbox (429 `storage_quota_exceeded` with Retry-After,
//! nothing stored), the free-disk floor of the filesystem blob store (507
//! `insufficient_storage` for visitors' and agents' uploads), and their metrics.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};
use crate::widget::{SITE, Widget, create_widget};

const KIB: usize = 1024;

/// A minimal PDF padded to `size` bytes (an allowed type, no image decoding).
fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    bytes.resize(size.saturating_sub(7).max(bytes.len()), b' ');
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

async fn new_widget(app: &TestApp) -> Widget {
    create_widget(app, json!({"allowed_origins": [SITE]})).await
}

/// A new visitor's token.
async fn new_visitor(app: &TestApp, widget: &Widget) -> String {
    let response = app
        .client
        .post(app.url(&format!("/widget/api/session?key={}", widget.key)))
        .header("Origin", SITE)
        .json(&json!({"token": null}))
        .send()
        .await
        .expect("session");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("session JSON");
    body["token"].as_str().expect("token").to_owned()
}

/// How a visitor's file goes up: with a Content-Length (the hub sees the size first) or
/// chunked (it learns it while reading).
#[derive(Clone, Copy)]
enum Body {
    Sized,
    Chunked,
}

/// A visitor's message with one file (or none), as widget.js posts it.
async fn send(
    app: &TestApp,
    widget: &Widget,
    token: &str,
    client_id: &str,
    file: Option<(Vec<u8>, Body)>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .text("client_id", client_id.to_owned())
        .text("content", "here is the file");
    if let Some((bytes, body)) = file {
        let part = match body {
            Body::Sized => reqwest::multipart::Part::bytes(bytes),
            Body::Chunked => {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    bytes.chunks(16 * KIB).map(|c| Ok(c.to_vec())).collect();
                reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(
                    futures_util::stream::iter(chunks),
                ))
            }
        };
        form = form.part("file", part.file_name("report.pdf"));
    }
    app.client
        .post(app.url(&format!("/widget/api/messages?key={}", widget.key)))
        .header("Origin", SITE)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("widget upload")
}

/// Rows in the attachments table and files under the blob root and the temporary folder.
async fn stored(app: &TestApp) -> (i64, usize) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use switchboard::db::schema::attachments;
    let mut conn = app.state.db.reader().await.expect("db");
    let rows: i64 = switchboard::db_run!(&mut conn, c => attachments::table
        .count()
        .get_result(c)
        .await)
    .expect("count");
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    let data = app.data_dir.path();
    (
        rows,
        count(&data.join("attachments")) + count(&data.join("tmp")),
    )
}

/// Asserts a quota refusal: 429 with the code, a readable message, a Retry-After the widget
/// may read (CORS), and returns (Retry-After seconds, message).
async fn assert_quota_refusal(response: reqwest::Response) -> (u64, String) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a Retry-After in seconds");
    assert_eq!(
        response
            .headers()
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok()),
        Some("Retry-After")
    );
    let body = assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "storage_quota_exceeded",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
    (retry_after, message)
}

/// `switchboard_uploads_refused_total` for `reason` (0 when never counted).
async fn refused(app: &TestApp, reason: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let series = format!("switchboard_uploads_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_visitor_over_quota_is_refused_and_others_upload_until_the_inbox_quota() {
    let app = spawn_app_with(|env| {
        env.insert(
            "SWITCHBOARD_ATTACHMENTS_VISITOR_DAILY_MB".into(),
            "1".into(),
        );
        env.insert("SWITCHBOARD_ATTACHMENTS_INBOX_DAILY_MB".into(), "2".into());
    })
    .await;
    let widget = new_widget(&app).await;
    let file = || pdf(400 * KIB);

    // Visitor A: two files fit in 1 MiB; the third would not, whether its size is declared
    // (refused before the body is read) or learnt while streaming.
    let alice = new_visitor(&app, &widget).await;
    for (n, body) in [(1, Body::Sized), (2, Body::Chunked)] {
        let response = send(
            &app,
            &widget,
            &alice,
            &format!("alice-file-{n}"),
            Some((file(), body)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "file {n} of A");
    }
    let before = stored(&app).await;
    assert_eq!(before.0, 2);
    for (n, body) in [(3, Body::Sized), (4, Body::Chunked)] {
        let response = send(
            &app,
            &widget,
            &alice,
            &format!("alice-file-{n}"),
            Some((file(), body)),
        )
        .await;
        let (retry_after, message) = assert_quota_refusal(response).await;
        // The oldest file must age out of the 24-hour window first.
        assert!(
            (86_000..=86_400).contains(&retry_after),
            "Retry-After {retry_after}"
        );
        assert!(
            message.contains("1 MB") && message.contains("24 hours"),
            "{message}"
        );
        assert_eq!(stored(&app).await, before, "nothing stored for file {n}");
    }
    assert_eq!(refused(&app, "visitor_quota").await, 2);
    // Words cost no storage: A may still write.
    let response = send(&app, &widget, &alice, "alice-text-1", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The refused messages were not stored either.
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    let conversation_id = list["data"][0]["id"].as_str().expect("conversation");
    let messages = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    assert_eq!(messages["data"].as_array().map(Vec::len), Some(3));

    // Visitor B has a quota of its own: two files (the inbox holds 1.6 MB now).
    let bob = new_visitor(&app, &widget).await;
    for n in 1..=2 {
        let response = send(
            &app,
            &widget,
            &bob,
            &format!("bob-file-{n}"),
            Some((file(), Body::Sized)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "file {n} of B");
    }
    // Visitor C fits one more under the inbox's 2 MiB; the next would pass it.
    let carol = new_visitor(&app, &widget).await;
    let response = send(
        &app,
        &widget,
        &carol,
        "carol-file-1",
        Some((file(), Body::Sized)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let before = stored(&app).await;
    assert_eq!(before.0, 5);
    for (n, body) in [(2, Body::Sized), (3, Body::Chunked)] {
        let response = send(
            &app,
            &widget,
            &carol,
            &format!("carol-file-{n}"),
            Some((file(), body)),
        )
        .await;
        let (retry_after, message) = assert_quota_refusal(response).await;
        assert!(
            (86_000..=86_400).contains(&retry_after),
            "Retry-After {retry_after}"
        );
        assert!(
            message.contains("2 MB") && message.contains("together"),
            "{message}"
        );
        assert_eq!(stored(&app).await, before, "nothing stored");
    }
    assert_eq!(refused(&app, "inbox_quota").await, 2);

    // Another widget inbox is not held to this one's quota.
    let other = new_widget(&app).await;
    let dave = new_visitor(&app, &other).await;
    let response = send(
        &app,
        &other,
        &dave,
        "dave-file-1",
        Some((file(), Body::Chunked)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn zero_means_no_quota() {
    let app = spawn_app_with(|env| {
        env.insert(
            "SWITCHBOARD_ATTACHMENTS_VISITOR_DAILY_MB".into(),
            "0".into(),
        );
        env.insert("SWITCHBOARD_ATTACHMENTS_INBOX_DAILY_MB".into(), "0".into());
    })
    .await;
    let widget = new_widget(&app).await;
    let visitor = new_visitor(&app, &widget).await;
    // 3 × 2 MiB, over the small quotas of the test above, beside the default 50 MB.
    for n in 1..=3 {
        let response = send(
            &app,
            &widget,
            &visitor,
            &format!("big-file-{n}"),
            Some((pdf(2048 * KIB), Body::Sized)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED, "file {n}");
    }
}

#[actix_web::test]
async fn below_the_free_disk_floor_uploads_are_refused_with_507() {
    // No disk has 100 TB free: every upload meets the floor.
    let app = spawn_app_with(|env| {
        env.insert(
            "SWITCHBOARD_ATTACHMENTS_MIN_FREE_DISK_MB".into(),
            "100000000".into(),
        );
    })
    .await;
    let widget = new_widget(&app).await;
    let visitor = new_visitor(&app, &widget).await;
    // A visitor's text still arrives (it needs no file storage).
    let response = send(&app, &widget, &visitor, "text-only-1", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let before = stored(&app).await;

    for (n, body) in [(1, Body::Sized), (2, Body::Chunked)] {
        let response = send(
            &app,
            &widget,
            &visitor,
            &format!("floor-file-{n}"),
            Some((pdf(300 * KIB), body)),
        )
        .await;
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(SITE)
        );
        assert_error(
            response,
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
        )
        .await;
        assert_eq!(stored(&app).await, before, "nothing stored");
    }

    // An agent's upload to the visitor's conversation meets the same floor.
    let list = app
        .get_json(
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}", widget.id),
        )
        .await;
    let conversation_id = list["data"][0]["id"].as_str().expect("conversation");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(pdf(64 * KIB)).file_name("answer.pdf"),
    );
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/conversations/{conversation_id}/attachments"
        )))
        .bearer_auth(&widget.admin)
        .multipart(form)
        .send()
        .await
        .expect("agent upload");
    let body = assert_error(
        response,
        StatusCode::INSUFFICIENT_STORAGE,
        "insufficient_storage",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("storage")),
        "{body}"
    );
    assert_eq!(stored(&app).await, before, "nothing stored");

    // Counted, and the free space is exposed.
    assert_eq!(refused(&app, "disk_floor").await, 3);
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let free: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_blob_store_free_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no free-disk gauge in {text}"));
    assert!(free > 0);

    // The API token's agent view of the conversation is unchanged (one text message).
    let messages = app
        .api(
            &widget.admin,
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            None,
        )
        .await
        .json::<Value>()
        .await
        .expect("messages");
    assert_eq!(messages["data"].as_array().map(Vec::len), Some(1));
}
