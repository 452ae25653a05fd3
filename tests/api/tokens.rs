use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, assert_error, spawn_app};

#[actix_web::test]
async fn token_authenticates_without_csrf_and_is_listed_without_its_secret() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert!(token.starts_with("sb_pat_"));
    let me: Value = app.get_json(&token, "/api/v1/me").await;
    assert_eq!(me["agent"]["email"], ADMIN_EMAIL);
    assert_eq!(me["csrf_token"], Value::Null);
    // A mutation with a token needs no CSRF header.
    let response = app
        .api(
            &token,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Billing"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let list: Value = app.get_json(&token, "/api/v1/me/tokens").await;
    let listed = &list["data"][0];
    assert_eq!(listed["name"], "tests");
    assert!(token.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(listed.get("token").is_none());
    assert!(
        listed["last_used_at"].is_string(),
        "use is recorded: {listed}"
    );
    assert!(
        !list.to_string().contains(&token),
        "the secret is never shown again"
    );
}

#[actix_web::test]
async fn revoked_token_stops_working_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let list: Value = app.get_json(&token, "/api/v1/me/tokens").await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .api(
            &token,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.api(&token, Method::GET, "/api/v1/me", None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn an_agent_cannot_revoke_someone_elses_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_agent(&admin, "ann@example.com", "agent").await;
    let ann = app.token_for("ann@example.com", "agent password 123").await;
    let list: Value = app.get_json(&admin, "/api/v1/me/tokens").await;
    let admin_token_id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .api(
            &ann,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{admin_token_id}"),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.api(&admin, Method::GET, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn bad_authorization_headers_get_401() {
    let app = spawn_app().await;
    for header in ["Bearer sb_pat_made_up", "Basic YWRtaW46cGFzcw==", "Bearer "] {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[actix_web::test]
async fn token_names_are_validated() {
    let app = spawn_app().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let response = browser
        .client
        .post(app.url("/api/v1/me/tokens"))
        .header("X-CSRF-Token", &browser.csrf)
        .json(&json!({"name": "   "}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
}

#[actix_web::test]
async fn a_token_cannot_mint_more_tokens() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .api(
            &token,
            Method::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "sneaky"})),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "session_required").await;
    let list = app.get_json(&token, "/api/v1/me/tokens").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

/// 80 creations at once leave exactly the cap of 50 (issue #17, item 8): the count and the
/// insert are one locked transaction.
#[actix_web::test]
async fn concurrent_token_creations_cannot_pass_the_cap() {
    let app = spawn_app().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let create = |i: usize| {
        browser
            .client
            .post(app.url("/api/v1/me/tokens"))
            .header("X-CSRF-Token", &browser.csrf)
            .json(&json!({"name": format!("burst {i}")}))
            .send()
    };
    let answers = futures_util::future::join_all((0..80).map(create)).await;
    let mut created = 0;
    let mut refused = 0;
    for answer in answers {
        match answer.expect("answer").status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, refused), (50, 30));
    let list = browser
        .client
        .get(app.url("/api/v1/me/tokens"))
        .send()
        .await
        .expect("list")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(50), "{list}");
}
