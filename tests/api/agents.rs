use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, assert_error, client, spawn_app};

#[actix_web::test]
async fn admin_creates_an_agent_who_can_log_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/agents",
            Some(json!({"email": " Bob@Example.com ", "name": "Bob"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let bob: Value = response.json().await.unwrap();
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["role"], "agent");
    assert!(bob["id"].is_string(), "ids are strings outside: {bob}");
    let password = bob["password"]
        .as_str()
        .expect("a generated password is returned once");
    let login = app.login_with(&client(), "bob@example.com", password).await;
    assert_eq!(login.status(), StatusCode::OK);
    let bob_path = format!("/api/v1/agents/{}", bob["id"].as_str().unwrap());
    let shown = app.get_json(&admin, &bob_path).await;
    assert!(shown.get("password").is_none());
}

#[actix_web::test]
async fn an_agent_calling_admin_endpoints_gets_403() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_agent(&admin, "ann@example.com", "agent").await;
    let ann = app.token_for("ann@example.com", "agent password 123").await;
    let calls = [
        (Method::GET, "/api/v1/agents", None),
        (
            Method::POST,
            "/api/v1/agents",
            Some(json!({"email": "x@example.com", "name": "X"})),
        ),
        (
            Method::PATCH,
            "/api/v1/agents/1",
            Some(json!({"role": "agent"})),
        ),
        (Method::DELETE, "/api/v1/agents/1", None),
        (
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Sneaky"})),
        ),
        (Method::GET, "/api/v1/audit", None),
    ];
    for (method, path, body) in calls {
        let response = app.api(&ann, method.clone(), path, body).await;
        assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
    }
    let agents: Value = app.get_json(&admin, "/api/v1/agents").await;
    assert_eq!(
        agents["data"].as_array().unwrap().len(),
        2,
        "nothing was created"
    );
    let admin_row = &agents["data"][0];
    assert_eq!(admin_row["role"], "admin", "the admin was not demoted");
}

#[actix_web::test]
async fn bad_agent_input_is_refused_with_the_field_named() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({"email": "nope", "name": "X"}), "email"),
        (json!({"email": "x@example.com", "name": ""}), "name"),
        (
            json!({"email": "x@example.com", "name": "X", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "capacity": -1}),
            "capacity",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .api(&admin, Method::POST, "/api/v1/agents", Some(body))
            .await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{error}"
        );
    }
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/agents",
            Some(json!({"email": "x@example.com", "name": "X", "role": "owner"})),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/agents",
            Some(json!({"email": ADMIN_EMAIL, "name": "Again"})),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "email_taken").await;
}

#[actix_web::test]
async fn admin_updates_role_capacity_and_availability() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, _) = app.create_agent(&admin, "ann@example.com", "agent").await;
    let path = format!("/api/v1/agents/{id}");
    let updated: Value = app
        .api(
            &admin,
            Method::PATCH,
            &path,
            Some(
                json!({"role": "admin", "capacity": 5, "availability": "online", "name": "Ann A."}),
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["capacity"], 5);
    assert_eq!(updated["availability"], "online");
    assert_eq!(updated["name"], "Ann A.");
    let cleared: Value = app
        .api(
            &admin,
            Method::PATCH,
            &path,
            Some(json!({"capacity": null})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["capacity"], Value::Null);
    assert_eq!(cleared["role"], "admin", "absent fields are unchanged");
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &path,
            Some(json!({"email": ADMIN_EMAIL})),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "email_taken").await;
}

#[actix_web::test]
async fn deactivation_revokes_sessions_and_tokens_and_blocks_login() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, password) = app.create_agent(&admin, "ann@example.com", "agent").await;
    let ann_token = app.token_for("ann@example.com", &password).await;
    let ann_browser = app.browser("ann@example.com", &password).await;
    let response = app
        .api(
            &admin,
            Method::DELETE,
            &format!("/api/v1/agents/{id}"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.api(&ann_token, Method::GET, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let me = ann_browser
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let login = app
        .login_with(&client(), "ann@example.com", &password)
        .await;
    // Answered like a wrong password, so it does not confirm the old password.
    assert_error(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let shown: Value = app.get_json(&admin, &format!("/api/v1/agents/{id}")).await;
    assert_eq!(shown["active"], false);
}

#[actix_web::test]
async fn the_last_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get_json(&admin, "/api/v1/me").await;
    let path = format!("/api/v1/agents/{}", me["agent"]["id"].as_str().unwrap());
    let response = app
        .api(&admin, Method::PATCH, &path, Some(json!({"role": "agent"})))
        .await;
    assert_error(response, StatusCode::CONFLICT, "last_admin").await;
    let response = app.api(&admin, Method::DELETE, &path, None).await;
    assert_error(response, StatusCode::CONFLICT, "last_admin").await;
    // With a second admin, the first may step down.
    app.create_agent(&admin, "second@example.com", "admin")
        .await;
    let response = app
        .api(&admin, Method::PATCH, &path, Some(json!({"role": "agent"})))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn unknown_and_malformed_ids_get_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for path in [
        "/api/v1/agents/999999",
        "/api/v1/agents/abc",
        "/api/v1/agents/-1",
        "/api/v1/agents/0",
    ] {
        let response = app.api(&admin, Method::GET, path, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app
        .api(
            &admin,
            Method::PATCH,
            "/api/v1/agents/999999",
            Some(json!({"name": "X"})),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn agent_lists_page_with_cursors() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..4 {
        app.create_agent(&admin, &format!("a{i}@example.com"), "agent")
            .await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/agents?limit=2".to_owned();
    loop {
        let page: Value = app.get_json(&admin, &path).await;
        for agent in page["data"].as_array().unwrap() {
            seen.push(agent["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/agents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5, "no duplicates across pages");
    let response = app
        .api(&admin, Method::GET, "/api/v1/agents?limit=0", None)
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(&admin, Method::GET, "/api/v1/agents?cursor=xyz", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
}

#[actix_web::test]
async fn every_mutation_is_in_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, _) = app.create_agent(&admin, "ann@example.com", "agent").await;
    app.api(
        &admin,
        Method::PATCH,
        &format!("/api/v1/agents/{id}"),
        Some(json!({"capacity": 3})),
    )
    .await;
    assert_eq!(
        app.audit_actions(&admin, 200).await,
        [
            "agent.update",
            "agent.create",
            "token.create",
            "auth.login",
            "agent.create_first_admin"
        ],
        "newest first"
    );
    let log = app.get_json(&admin, "/api/v1/audit?limit=5").await;
    let update = &log["data"][0];
    assert_eq!(update["actor_type"], "agent");
    assert_eq!(update["target_id"], id);
    assert_eq!(update["details"]["capacity"], 3);
    assert_eq!(update["ip"], "127.0.0.1");
    assert_eq!(log["data"][4]["actor_type"], "system");
}

#[actix_web::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let first = app.admin_token().await;
    let (second_id, second_pw) = app
        .create_agent(&first, "second@example.com", "admin")
        .await;
    let second = app.token_for("second@example.com", &second_pw).await;
    let first_id = app.get_json(&first, "/api/v1/me").await["agent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for round in 0..10 {
        let (path_a, path_b) = (
            format!("/api/v1/agents/{second_id}"),
            format!("/api/v1/agents/{first_id}"),
        );
        let body = || Some(json!({"role": "agent"}));
        let (a, b) = tokio::join!(
            app.api(&first, Method::PATCH, &path_a, body()),
            app.api(&second, Method::PATCH, &path_b, body())
        );
        let statuses = [a.status(), b.status()];
        let conn = &mut app.state.db.reader().await.unwrap();
        let agents = switchboard::store::agents::list(conn, None, 10)
            .await
            .unwrap();
        let admins = agents
            .iter()
            .filter(|a| a.active && a.role == switchboard::db::types::Role::Admin)
            .count();
        assert_eq!(admins, 1, "round {round}: statuses {statuses:?}");
        // Whoever is still admin promotes the other back for the next round.
        let (token, id) = if a.status() == StatusCode::OK {
            (&first, &second_id)
        } else {
            (&second, &first_id)
        };
        let promoted = app
            .api(
                token,
                Method::PATCH,
                &format!("/api/v1/agents/{id}"),
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_eq!(promoted.status(), StatusCode::OK);
    }
}
