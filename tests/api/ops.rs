use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn ready_reports_the_backend_once_migrations_are_applied() {
    let app = spawn_app().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = if app.db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(body["database"], expected);
}

#[actix_web::test]
async fn ready_fails_with_503_when_migrations_are_missing() {
    let app = spawn_app().await;
    app.state.db.revert_all_migrations().await.expect("revert");
    let body = assert_error(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switchboard migrate")
    );
    app.state.db.migrate().await.expect("migrate again");
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    app.get("/health").await;
    app.get("/api/v1/agents/12345").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"switchboard_http_requests_total{method="GET",route="/health",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/agents/{id}",status="401""#),
        "{text}"
    );
    assert!(text.contains("switchboard_build_info"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

/// The database's statements are counted (issue #23 measures round trips per message with
/// it). Background actors use the database too, so only growth is checked.
#[actix_web::test]
async fn metrics_count_database_statements() {
    let app = spawn_app().await;
    let statements = async || -> u64 {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("switchboard_db_statements_total "))
            .unwrap_or_else(|| panic!("no statement counter in\n{text}"))
            .trim()
            .parse()
            .expect("a count")
    };
    let before = statements().await;
    assert!(
        before > 0,
        "start-up (migrations check, first admin) used the database"
    );
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    let after = statements().await;
    assert!(
        after > before,
        "/ready checks the database: {before} -> {after}"
    );
}

/// Made-up methods and paths must not grow the registry (issue #17, item 2): every label
/// comes from a closed set.
#[actix_web::test]
async fn made_up_methods_and_paths_share_one_series() {
    let app = spawn_app().await;
    for i in 0..40 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        app.client
            .request(method, app.url(&format!("/no/such/path/{i}")))
            .send()
            .await
            .unwrap();
        app.get(&format!("/made-up-{i}")).await;
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("BREW"), "{text}");
    assert!(!text.contains("made-up"), "{text}");
    let other = text
        .lines()
        .filter(|l| l.starts_with("switchboard_http_requests_total{method=\"OTHER\""))
        .collect::<Vec<_>>();
    assert!(!other.is_empty(), "{text}");
    let series = text
        .lines()
        .filter(|l| l.starts_with("switchboard_http_requests_total{"))
        .count();
    assert!(series < 10, "{series} series:\n{text}");
}

#[actix_web::test]
async fn unknown_paths_get_a_json_404() {
    let app = spawn_app().await;
    // Anonymous callers learn nothing about which API paths exist.
    assert_error(
        app.get("/api/v1/nothing-here").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let token = app.admin_token().await;
    let response = app
        .api(&token, reqwest::Method::GET, "/api/v1/nothing-here", None)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.get("/no/such/page").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn a_request_whose_client_hangs_up_mid_query_still_completes() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let app = spawn_app().await;
    if app.db.is_postgres() {
        return; // The hazard is specific to SQLite's blocking wrapper.
    }
    let token = app.admin_token().await;
    // Hold SQLite's write lock so the next write is stuck inside its query.
    let path = app.data_dir.path().join("switchboard.db");
    let mut blocker = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    blocker.batch_execute("BEGIN IMMEDIATE").unwrap();

    // Send a write by hand, wait until the hub is stuck in it, then reset the connection
    // (SO_LINGER 0 sends RST), which makes actix drop the request's future.
    let body = r#"{"name": "Abandoned"}"#;
    let request = format!(
        "POST /api/v1/teams HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.writable().await.unwrap();
    stream.try_write(request.as_bytes()).unwrap();
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    socket2::SockRef::from(&stream)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(stream);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    blocker.batch_execute("ROLLBACK").unwrap();

    // The single worker survived, and the abandoned request ran to completion.
    let mut names = Vec::new();
    for _ in 0..50 {
        let teams: Value = app.get_json(&token, "/api/v1/teams").await;
        names = teams["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].clone())
            .collect();
        if !names.is_empty() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(names, ["Abandoned"]);
}

/// After a restart the first signed webhook is stored, never answered 404 while the
/// inboxes load (issue #17, item 4): channels are up before the server accepts requests.
#[actix_web::test]
async fn webhooks_are_served_from_the_first_request_after_a_restart() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let app = app.restart().await;
    let inbox = crate::helpers::ApiInbox {
        webhook_url: format!("{}/webhooks/api/{}", app.address, inbox.id),
        ..inbox
    };
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    let response = app
        .post_signed(
            &inbox,
            "",
            &crate::helpers::message_event("after-restart", "cust-1", "hello again"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// NUL characters: the agents' JSON inputs refuse them with 422 and store nothing
/// (PostgreSQL cannot store them; it answered 500), never a 500 (issue #17, item 6).
#[actix_web::test]
async fn nul_characters_in_inputs_are_refused_clearly() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (path, body) in [
        (
            "/api/v1/canned-responses",
            serde_json::json!({"short_code": "nul", "content": "a\u{0}b"}),
        ),
        (
            "/api/v1/teams",
            serde_json::json!({"name": "Night shift", "description": "x\u{0}y"}),
        ),
    ] {
        let response = app
            .api(&admin, reqwest::Method::POST, path, Some(body))
            .await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("NUL")),
            "{error}"
        );
    }
    let canned = app.get_json(&admin, "/api/v1/canned-responses").await;
    assert_eq!(canned["data"].as_array().map(Vec::len), Some(0), "{canned}");
    // The literal characters backslash-u-0-0-0-0 are ordinary text.
    let literal = app
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v1/canned-responses",
            Some(serde_json::json!({"short_code": "lit", "content": "type \\u0000 here"})),
        )
        .await;
    assert_eq!(literal.status(), StatusCode::CREATED);

    // The API channel's integrator gets a clear 400 naming the field, and can fix and resend.
    let inbox = app.create_api_inbox(&admin, None).await;
    let response = app
        .post_signed(
            &inbox,
            "",
            &crate::helpers::message_event("nul-1", "cust-1", "hel\u{0}lo"),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "malformed_payload").await;
}
