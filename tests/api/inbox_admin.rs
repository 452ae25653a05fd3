//! Managing inboxes: only admins do, secrets are shown once, and only an inbox without
//! history can be deleted.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, call_ok, conversation_path, ids};
use crate::helpers::{ApiInbox, assert_error, message_event, spawn_app};

#[actix_web::test]
async fn only_admins_manage_inboxes_and_secrets_are_shown_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let path = format!("/api/v1/inboxes/{}", inbox.id);

    for (method, target, body) in [
        (
            Method::POST,
            "/api/v1/inboxes".to_owned(),
            Some(json!({"name": "Mine", "channel_type": "api"})),
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (
            Method::POST,
            format!("{path}/members"),
            Some(json!({"agent_id": ada})),
        ),
        (Method::DELETE, format!("{path}/members/{ada}"), None),
    ] {
        let response = app.api(&ada_token, method, &target, body).await;
        assert_error(response, StatusCode::FORBIDDEN, "admin_required").await;
    }
    let audit = app.audit_actions(&admin, 5).await;
    assert!(
        !audit
            .iter()
            .any(|a| a == "inbox.update" || a == "inbox.delete"),
        "refused actions changed nothing: {audit:?}"
    );

    // Reads mask the secret: a recognisable prefix and its last four characters only.
    let tail = &inbox.secret[inbox.secret.len() - 4..];
    let check_masked = |shown: &Value| {
        let masked = shown["secret"].as_str().expect("secret field");
        assert_ne!(masked, inbox.secret, "secret shown in full");
        assert!(
            masked.starts_with("sbwh_") && masked.ends_with(tail),
            "masked secret {masked}"
        );
        assert!(masked.chars().count() < 12, "masked secret {masked}");
    };
    check_masked(&app.get_json(&admin, &path).await);
    // Members who are not admins see the inbox, not its wiring (secret, settings).
    let as_member = app.get_json(&ada_token, &path).await;
    assert!(as_member["secret"].is_null(), "{as_member}");
    assert_eq!(as_member["settings"], json!({}), "{as_member}");
    let list = app.get_json(&admin, "/api/v1/inboxes").await;
    check_masked(&list["data"][0]);
    let renamed = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"name": "Renamed"})),
        StatusCode::OK,
    )
    .await;
    check_masked(&renamed);
    assert_eq!(renamed["name"], "Renamed");

    // Rotating reveals the new secret once; the old one stops working at once.
    let rotated = call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{path}/rotate-secret"),
        None,
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    assert!(new_secret.starts_with("sbwh_") && new_secret.len() > 20);
    assert_ne!(new_secret, inbox.secret);
    let response = app
        .post_signed(&inbox, "", &message_event("m-1", "cust-1", "old key"))
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let rotated_inbox = ApiInbox {
        secret: new_secret.clone(),
        ..inbox.clone()
    };
    app.inbound(&rotated_inbox, "m-1", "cust-1", "new key")
        .await;
    let shown = app.get_json(&admin, &path).await;
    assert_ne!(shown["secret"], new_secret.as_str());
    assert!(
        shown["secret"]
            .as_str()
            .is_some_and(|s| s.ends_with(&new_secret[new_secret.len() - 4..]))
    );
    let list = app.get_json(&admin, "/api/v1/conversations").await;
    let contents: Vec<Value> = app
        .get_json(
            &admin,
            &format!("{}/messages", conversation_path(&ids(&list)[0])),
        )
        .await["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        [json!("new key")],
        "the refused webhook stored nothing"
    );
    assert_eq!(app.audit_actions(&admin, 1).await, ["inbox.rotate_secret"]);
}

// ---------------------------------------------------------------------------------------
// Deleting inboxes
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn an_inbox_with_history_cannot_be_deleted_an_empty_one_can() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let used = app.create_api_inbox(&admin, None).await;
    let empty = app.create_api_inbox(&admin, None).await;
    let (ada, _) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &empty.id, &ada).await;
    app.inbound(&used, "m-1", "cust-1", "hello").await;

    let used_path = format!("/api/v1/inboxes/{}", used.id);
    let response = app.api(&admin, Method::DELETE, &used_path, None).await;
    assert_error(response, StatusCode::CONFLICT, "inbox_has_history").await;
    app.get_json(&admin, &used_path).await;
    // Refusing the delete left the channel running.
    app.inbound(&used, "m-2", "cust-1", "still here").await;
    assert_eq!(
        app.get_json(&admin, "/api/v1/conversations").await["data"][0]["last_seq"],
        2
    );

    let empty_path = format!("/api/v1/inboxes/{}", empty.id);
    let response = app.api(&admin, Method::DELETE, &empty_path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.audit_actions(&admin, 1).await, ["inbox.delete"]);
    let response = app.api(&admin, Method::GET, &empty_path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.api(&admin, Method::DELETE, &empty_path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post_signed(&empty, "", &message_event("m-1", "cust-1", "anyone?"))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/inboxes").await),
        vec![used.id.clone()]
    );
}
