use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn admin_manages_teams_and_members() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (ann, _) = app.create_agent(&admin, "ann@example.com", "agent").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Billing", "description": "Invoices"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let team: Value = response.json().await.unwrap();
    let team_path = format!("/api/v1/teams/{}", team["id"].as_str().unwrap());

    let added = app
        .api(
            &admin,
            Method::POST,
            &format!("{team_path}/members"),
            Some(json!({"agent_id": ann})),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let again = app
        .api(
            &admin,
            Method::POST,
            &format!("{team_path}/members"),
            Some(json!({"agent_id": ann})),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK, "adding twice is harmless");
    let members: Value = app.get_json(&admin, &format!("{team_path}/members")).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);
    assert_eq!(members["data"][0]["email"], "ann@example.com");

    let renamed: Value = app
        .api(
            &admin,
            Method::PATCH,
            &team_path,
            Some(json!({"name": "Billing & Payments"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Billing & Payments");
    assert_eq!(renamed["description"], "Invoices");

    let removed = app
        .api(
            &admin,
            Method::DELETE,
            &format!("{team_path}/members/{ann}"),
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let removed = app
        .api(
            &admin,
            Method::DELETE,
            &format!("{team_path}/members/{ann}"),
            None,
        )
        .await;
    assert_error(removed, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(
        app.api(&admin, Method::DELETE, &team_path, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.api(&admin, Method::GET, &team_path, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Every change above is in the audit log, once; the refused second removal is not.
    assert_eq!(
        app.audit_actions(&admin, 6).await,
        [
            "team.delete",
            "team.member_remove",
            "team.update",
            "team.member_add",
            "team.create",
            "agent.create"
        ]
    );
}

#[actix_web::test]
async fn team_names_are_unique_and_validated() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let create = |name: &str| {
        app.api(
            &admin,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": name})),
        )
    };
    assert_eq!(create("Sales").await.status(), StatusCode::CREATED);
    assert_error(create("Sales").await, StatusCode::CONFLICT, "name_taken").await;
    assert_error(
        create("").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "Long", "description": "x".repeat(1001)})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            "/api/v1/teams/999/members",
            Some(json!({"agent_id": "1"})),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn agents_read_teams_but_cannot_change_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.api(
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Support"})),
    )
    .await;
    app.create_agent(&admin, "ann@example.com", "agent").await;
    let ann = app.token_for("ann@example.com", "agent password 123").await;
    let teams: Value = app.get_json(&ann, "/api/v1/teams").await;
    assert_eq!(teams["data"][0]["name"], "Support");
    let id = teams["data"][0]["id"].as_str().unwrap();
    let response = app
        .api(
            &ann,
            Method::PATCH,
            &format!("/api/v1/teams/{id}"),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
    let response = app
        .api(&ann, Method::DELETE, &format!("/api/v1/teams/{id}"), None)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
}
