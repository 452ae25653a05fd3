//! Canned responses: the API the composer's `/short_code` completion and the admin page use.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn agents_keep_canned_responses_and_find_them_by_short_code() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, password) = app.create_agent(&admin, "ada@example.com", "agent").await;
    let agent = app.token_for("ada@example.com", &password).await;

    let create = |code: &str, text: &str| json!({"short_code": code, "content": text});
    let mut ids = Vec::new();
    for (code, text) in [
        (
            "refund",
            "Your refund is on its way; it takes 3-5 business days.",
        ),
        ("Shipping-Times", "We ship within 24 hours."),
        ("hello", "Hi! How can I help you today?"),
        ("apology", "Sorry it did not ship on time."),
    ] {
        let response = app
            .api(
                &agent,
                Method::POST,
                "/api/v1/canned-responses",
                Some(create(code, text)),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    // Codes are stored in lowercase; the list is ordered by code.
    let all = app.get_json(&agent, "/api/v1/canned-responses").await;
    let codes: Vec<&str> = all["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["short_code"].as_str())
        .collect();
    assert_eq!(codes, ["apology", "hello", "refund", "shipping-times"]);
    // `/ship` offers the code that starts with it first, then texts that mention it.
    let ship = app
        .get_json(&agent, "/api/v1/canned-responses?q=/ship")
        .await;
    let order: Vec<&str> = ship["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["short_code"].as_str())
        .collect();
    assert_eq!(order, ["shipping-times", "apology"]);

    // `/re` completes by prefix; a word from the text finds it too; `%` is no wildcard.
    let found = app.get_json(&agent, "/api/v1/canned-responses?q=/re").await;
    assert_eq!(found["data"][0]["short_code"], "refund");
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));
    let found = app
        .get_json(&agent, "/api/v1/canned-responses?q=24%20hours")
        .await;
    assert_eq!(found["data"][0]["short_code"], "shipping-times");
    let none = app.get_json(&agent, "/api/v1/canned-responses?q=%25").await;
    assert_eq!(none["data"], json!([]));
    // Pages follow the short code.
    let first = app
        .get_json(&agent, "/api/v1/canned-responses?limit=2")
        .await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let second = app
        .get_json(
            &agent,
            &format!("/api/v1/canned-responses?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(second["data"][0]["short_code"], "refund");

    // Change, refuse bad input and a taken code, delete.
    let path = format!("/api/v1/canned-responses/{}", ids[0]);
    let response = app
        .api(
            &agent,
            Method::PATCH,
            &path,
            Some(json!({"content": "Refunds take 3 days."})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for (body, status, code) in [
        (
            json!({"short_code": "hello"}),
            StatusCode::CONFLICT,
            "short_code_taken",
        ),
        (
            json!({"short_code": "two words"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"content": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (
            json!({"content": "x".repeat(5001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ] {
        let response = app.api(&agent, Method::PATCH, &path, Some(body)).await;
        assert_error(response, status, code).await;
    }
    let shown = app.get_json(&agent, &path).await;
    assert_eq!(shown["content"], "Refunds take 3 days.");
    assert_eq!(shown["short_code"], "refund");
    let response = app
        .api(
            &agent,
            Method::POST,
            "/api/v1/canned-responses",
            Some(create("hello", "again")),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "short_code_taken").await;
    let response = app.api(&agent, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.api(&agent, Method::DELETE, &path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;

    // Every change is audited; nobody signed out may read them.
    let actions = app.audit_actions(&admin, 50).await;
    for action in [
        "canned_response.create",
        "canned_response.update",
        "canned_response.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let anonymous = app
        .client
        .get(app.url("/api/v1/canned-responses"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
