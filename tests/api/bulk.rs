//! Bulk actions: the same changes to many conversations in one call and one transaction,
//! all or none, each audited and published like a single change.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, call, conversation_path, post_message};
use crate::helpers::{TestApp, eventually, message_event, spawn_app};

async fn bulk(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        token,
        Method::POST,
        "/api/v1/conversations/bulk",
        Some(body),
    )
    .await
}

async fn conversation(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_json(token, &conversation_path(id)).await
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| a.as_str() == action).count()
}

#[actix_web::test]
async fn bulk_changes_apply_to_every_conversation_or_to_none() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let other = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let event = message_event(&format!("m-{n}"), &format!("cust-{n}"), "hello");
        ids.push(post_message(&app, &inbox, &event).await);
    }
    let elsewhere = post_message(&app, &other, &message_event("o-1", "cust-9", "hi")).await;
    let mut watcher = app.websocket(&admin, None).await;
    let audited = app.audit_actions(&admin, 200).await;

    // Assign, priority, status and a label for all three at once.
    let (status, answer) = bulk(
        &app,
        &admin,
        json!({"conversation_ids": ids, "assignee_id": ada, "priority": "high",
               "status": "pending", "add_labels": ["VIP", "refund"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let data = answer["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 3, "{answer}");
    for c in &data {
        assert_eq!(c["assignee_id"], ada.as_str());
        assert_eq!(c["priority"], "high");
        assert_eq!(c["status"], "pending");
        assert_eq!(c["labels"], json!(["refund", "vip"]), "{c}");
    }
    // Published like single changes, audited one by one, and the assignee is told.
    let event = watcher.next_of("conversation.updated").await;
    assert!(
        ids.contains(
            &event["data"]["conversation"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        )
    );
    let after = app.audit_actions(&admin, 200).await;
    for action in [
        "conversation.assign",
        "conversation.priority",
        "conversation.status",
        "conversation.labels",
    ] {
        assert_eq!(
            count(&after, action) - count(&audited, action),
            3,
            "{action} in {after:?}"
        );
    }
    eventually(&app, &ada_token, "/api/v1/notifications", |l| {
        l["unread_count"] == 3
    })
    .await;

    // Remove a label from two of them; the third keeps it.
    let (status, answer) = bulk(
        &app,
        &ada_token,
        json!({"conversation_ids": [ids[0], ids[1]], "remove_labels": ["refund"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        conversation(&app, &admin, &ids[0]).await["labels"],
        json!(["vip"])
    );
    assert_eq!(
        conversation(&app, &admin, &ids[2]).await["labels"],
        json!(["refund", "vip"])
    );

    // One conversation the change cannot apply to refuses them all: Ada is no member of
    // the other inbox, so nothing changes, not even the first two.
    let (status, error) = bulk(
        &app,
        &admin,
        json!({"conversation_ids": [ids[0], ids[1], elsewhere], "assignee_id": ada, "priority": "low"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("assignee_id: ")
            && message.contains(&format!("conversation {elsewhere}")),
        "{error}"
    );
    for id in &ids {
        assert_eq!(conversation(&app, &admin, id).await["priority"], "high");
    }
    // A conversation the caller cannot see answers 404, as if it did not exist.
    let (status, _) = bulk(
        &app,
        &ada_token,
        json!({"conversation_ids": [ids[0], elsewhere], "priority": "low"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        conversation(&app, &admin, &ids[0]).await["priority"],
        "high"
    );

    // Bad requests name what is wrong and store nothing.
    let many: Vec<String> = (1..=201).map(|n| n.to_string()).collect();
    for (body, want, prefix) in [
        (
            json!({"conversation_ids": [], "priority": "low"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "conversation_ids: ",
        ),
        (
            json!({"conversation_ids": many, "priority": "low"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "conversation_ids: ",
        ),
        (
            json!({"conversation_ids": [ids[0]]}),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            json!({"conversation_ids": [ids[0]], "add_labels": [" "]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "add_labels[0]: ",
        ),
        (
            json!({"conversation_ids": [ids[0]], "status": "snoozed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "snoozed_until: ",
        ),
        (
            json!({"conversation_ids": [ids[0]], "snoozed_until": "2099-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "snoozed_until: ",
        ),
        (
            json!({"conversation_ids": [ids[0]], "assignee_id": "someone"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assignee_id: ",
        ),
        (
            json!({"conversation_ids": [ids[0]], "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "",
        ),
    ] {
        let (status, error) = bulk(&app, &admin, body.clone()).await;
        assert_eq!(status, want, "{body}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(prefix) && !message.is_empty(),
            "{body}: {error}"
        );
    }
    let c = conversation(&app, &admin, &ids[0]).await;
    assert_eq!(
        (c["status"].clone(), c["priority"].clone()),
        (json!("pending"), json!("high"))
    );
    // More labels than a conversation keeps: refused by name, nothing added.
    let many_labels: Vec<String> = (1..=49).map(|n| format!("tag-{n}")).collect();
    let (status, error) = bulk(
        &app,
        &admin,
        json!({"conversation_ids": [ids[2]], "add_labels": many_labels}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("add_labels: ") && m.contains(&ids[2])),
        "{error}"
    );
    assert_eq!(
        conversation(&app, &admin, &ids[2]).await["labels"],
        json!(["refund", "vip"])
    );
    // The same id twice is one conversation.
    let (status, answer) = bulk(
        &app,
        &admin,
        json!({"conversation_ids": [ids[0], ids[0]], "priority": "medium"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"].as_array().map(Vec::len), Some(1));

    // Unassign and resolve: the conversations are free again.
    let (status, answer) = bulk(
        &app,
        &admin,
        json!({"conversation_ids": ids, "assignee_id": null, "status": "resolved"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for c in answer["data"].as_array().cloned().unwrap_or_default() {
        assert_eq!(c["assignee_id"], Value::Null);
        assert_eq!(c["status"], "resolved");
    }
}
