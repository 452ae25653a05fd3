use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, assert_error, client, spawn_app, spawn_app_with,
};

#[actix_web::test]
async fn first_admin_from_env_logs_in_and_reads_me() {
    let app = spawn_app().await;
    let response = app
        .login_with(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sb_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["agent"]["role"], "admin");
    assert!(body["agent"].get("password_hash").is_none());

    let me: Value = app.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["agent"]["email"], ADMIN_EMAIL);
    assert_eq!(me["csrf_token"], body["csrf_token"]);
    // The login's own answer already shows this login.
    assert!(body["agent"]["last_login_at"].is_string(), "{body}");
    assert_eq!(me["agent"]["last_login_at"], body["agent"]["last_login_at"]);
}

#[actix_web::test]
async fn https_public_url_makes_the_cookie_secure_and_host_only() {
    let app = spawn_app_with(|env| {
        env.insert(
            "SWITCHBOARD_PUBLIC_URL".into(),
            "https://support.example.com".into(),
        );
    })
    .await;
    let response = app
        .login_with(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-sb_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[actix_web::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    let wrong = app
        .login_with(&app.client, ADMIN_EMAIL, "not the password")
        .await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app
        .login_with(&app.client, "nobody@example.com", "not the password")
        .await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn malformed_and_mistyped_bodies_get_400_with_an_error_body() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/login");
    let cases = [
        ("application/json", "{\"email\": "),
        ("application/json", "[1, 2, 3]"),
        ("application/json", r#"{"email": "a@example.com"}"#),
        (
            "application/json",
            r#"{"email": "a@example.com", "password": "x", "extra": 1}"#,
        ),
    ];
    for (content_type, body) in cases {
        let response = app
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let body = assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Json deserialize error"), "{message}");
    }
    // No body at all: said in words.
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let body = assert_error(response, StatusCode::BAD_REQUEST, "empty_body").await;
    assert_eq!(
        body["error"]["message"],
        "the request has no body: send a JSON object"
    );
    let response = app
        .login_with(&app.client, "not-an-email", "whatever")
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
}

#[actix_web::test]
async fn login_is_rate_limited_per_account() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT".into(), "3".into());
    })
    .await;
    for _ in 0..3 {
        let response = app
            .login_with(&app.client, ADMIN_EMAIL, "wrong password!")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused until the limit recovers.
    let response = app
        .login_with(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Case and spaces do not make a new account key.
    let response = app
        .login_with(&app.client, " ADMIN@example.com ", ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Strangers guessing the password do not lock the owner out: a browser that signed in to
/// the account before carries a device cookie and is limited on its own (issue #17, item 9).
#[actix_web::test]
async fn a_known_browser_is_not_locked_out_by_strangers() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT".into(), "3".into());
    })
    .await;
    let owner = crate::helpers::client();
    let first = app.login_with(&owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(first.status(), StatusCode::OK);
    let device = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sb_device="))
        .expect("device cookie");
    assert!(device.contains("HttpOnly"), "{device}");
    assert!(device.contains("Path=/api/v1/auth"), "{device}");

    // The owner's sign-in counted too: two wrong guesses use up the account's three.
    let stranger = crate::helpers::client();
    for _ in 0..2 {
        let response = app
            .login_with(&stranger, ADMIN_EMAIL, "wrong password!")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = app.login_with(&stranger, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner's browser still signs in.
    let again = app.login_with(&owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(again.status(), StatusCode::OK);
    // A forged device cookie is just no device cookie.
    let forger = reqwest::Client::new();
    let forged = forger
        .post(app.url("/api/v1/auth/login"))
        .header(
            "Cookie",
            "sb_device=00112233445566778899aabbccddeeff.deadbeef",
        )
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    // The device has its own limit: guessing from it locks that device.
    for _ in 0..2 {
        let response = app.login_with(&owner, ADMIN_EMAIL, "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login_with(&owner, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn login_is_rate_limited_per_ip() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_IP".into(), "4".into());
    })
    .await;
    for i in 0..4 {
        let response = app
            .login_with(&app.client, &format!("user{i}@example.com"), "whatever pw")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .login_with(&app.client, "fresh@example.com", "whatever pw")
        .await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"switchboard_login_attempts_total{outcome="rate_limited"} 1"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn cookie_mutations_need_the_csrf_token() {
    let app = spawn_app().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let url = app.url("/api/v1/teams");
    let response = browser
        .client
        .post(&url)
        .json(&json!({"name": "Support"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    let response = browser
        .client
        .post(&url)
        .header("X-CSRF-Token", "00ff")
        .json(&json!({"name": "Support"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    let teams: Value = browser
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(teams["data"], json!([]), "refused requests stored nothing");

    let response = browser
        .client
        .post(&url)
        .header("X-CSRF-Token", &browser.csrf)
        .json(&json!({"name": "Support"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let me = app.url("/api/v1/me");
    assert_eq!(
        browser.client.get(&me).send().await.unwrap().status(),
        StatusCode::OK
    );
    let response = browser
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("X-CSRF-Token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = browser.client.get(&me).send().await.unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[actix_web::test]
async fn stolen_cookie_is_useless_after_logout() {
    let app = spawn_app().await;
    let response = app.login_with(&client(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain = reqwest::Client::new();
    let me = app.url("/api/v1/me");
    assert_eq!(
        plain
            .get(&me)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    plain
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    let response = plain
        .get(&me)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
}

#[actix_web::test]
async fn password_change_checks_the_current_one_and_ends_other_sessions() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT".into(), "50".into());
    })
    .await;
    let first = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let second = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let url = app.url("/api/v1/me/password");
    let send = |body: Value| {
        first
            .client
            .put(&url)
            .header("X-CSRF-Token", &first.csrf)
            .json(&body)
            .send()
    };
    let response =
        send(json!({"current_password": "wrong one!", "new_password": "a brand new passphrase"}))
            .await
            .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = send(json!({"current_password": ADMIN_PASSWORD, "new_password": "short"}))
        .await
        .unwrap();
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response =
        send(json!({"current_password": ADMIN_PASSWORD, "new_password": "a brand new passphrase"}))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let me = app.url("/api/v1/me");
    assert_eq!(
        first.client.get(&me).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        second.client.get(&me).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let old = app.login_with(&client(), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app
        .login_with(&client(), ADMIN_EMAIL, "a brand new passphrase")
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[actix_web::test]
async fn expired_sessions_are_refused_and_cleaned_away() {
    let app = spawn_app().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_id: i64 = browser_agent_id(&app, &browser).await;
    // A session whose time is up, as if created long ago.
    let token = "expired-session-token-for-the-test";
    let past = switchboard::store::now() - chrono::TimeDelta::hours(1);
    let conn = &mut app.state.db.writer().await.unwrap();
    let actor = switchboard::store::Actor::system();
    switchboard::store::agents::start_session(
        conn,
        admin_id,
        &switchboard::auth::token_hash(token),
        past,
        &actor,
    )
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", format!("sb_session={token}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
    let deleted = switchboard::store::agents::delete_expired_sessions(conn)
        .await
        .unwrap();
    assert_eq!(deleted, 1, "only the expired session goes");
    let me = browser
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "live sessions stay");
}

async fn browser_agent_id(app: &crate::helpers::TestApp, browser: &crate::helpers::Browser) -> i64 {
    let me: Value = browser
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["agent"]["id"].as_str().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn wrong_content_type_gets_415_and_oversize_bodies_413() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_MAX_JSON_BYTES".into(), "2048".into());
    })
    .await;
    let url = app.url("/api/v1/auth/login");
    let response = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"email": "a@example.com", "password": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(5000)});
    let response = app.client.post(&url).json(&big).send().await.unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn api_answers_carry_the_right_headers_and_statuses() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/me").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"switchboard\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // A known caller learns which methods a path takes.
    let token = app.admin_token().await;
    let response = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[actix_web::test]
async fn behind_a_trusted_proxy_only_its_own_forwarded_entry_counts() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_TRUST_PROXY_HEADERS".into(), "true".into());
        env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_IP".into(), "2".into());
    })
    .await;
    let attempt = |forwarded_for: &'static str, forwarded: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", forwarded_for)
            .header("forwarded", forwarded)
            .json(&json!({"email": "someone@example.com", "password": "wrong password"}))
            .send()
    };
    // The client forges the left part and the Forwarded header; the proxy appends 203.0.113.7.
    let first = attempt("1.1.1.1, 203.0.113.7", "for=9.9.9.1")
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let second = attempt("2.2.2.2, 203.0.113.7", "for=9.9.9.2")
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    let third = attempt("3.3.3.3, 203.0.113.7", "for=9.9.9.3")
        .await
        .unwrap();
    assert_error(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another real client behind the same proxy has its own budget.
    let other = attempt("203.0.113.8", "for=9.9.9.4").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_password_change_revokes_api_tokens() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let browser = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let response = browser
        .client
        .put(app.url("/api/v1/me/password"))
        .header("X-CSRF-Token", &browser.csrf)
        .json(
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "another long passphrase"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .api(&token, reqwest::Method::GET, "/api/v1/me", None)
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
