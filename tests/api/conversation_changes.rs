//! Agent-side changes to a conversation (assignment, status, priority, labels): published
//! on the stream and audited.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, change, conversation_path, last_audit, post_message};
use crate::helpers::{assert_error, message_event, spawn_app};

#[actix_web::test]
async fn changes_to_a_conversation_are_published_and_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, _) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let mut watcher = app.websocket(&admin, None).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    watcher.next_of("message.created").await;

    // Each accepted change answers the new state, is published, and is audited.
    let mut expect = async |token: &str, action: &str, body: Value, audit: &str| -> Value {
        let answer = change(&app, token, &id, action, body.clone()).await;
        let event = watcher.next_of("conversation.updated").await;
        let published = &event["data"]["conversation"];
        assert_eq!(published["id"], id.as_str());
        for field in [
            "status",
            "priority",
            "assignee_id",
            "snoozed_until",
            "resolved_at",
        ] {
            assert_eq!(
                published[field], answer[field],
                "{action} {body}: event and answer agree on {field}"
            );
        }
        let entry = last_audit(&app, &admin).await;
        assert_eq!(entry["action"], audit, "audit of {action} {body}: {entry}");
        assert_eq!(entry["target_type"], "conversation");
        assert_eq!(entry["target_id"], id.as_str());
        answer
    };

    let answer = expect(
        &admin,
        "assign",
        json!({"assignee_id": ada}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], ada.as_str());
    let answer = expect(
        &ada_token,
        "assign",
        json!({"assignee_id": null}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], Value::Null);
    let answer = expect(
        &ada_token,
        "assign",
        json!({"assignee_id": "me"}),
        "conversation.assign",
    )
    .await;
    assert_eq!(answer["assignee_id"], ada.as_str());
    let entry = last_audit(&app, &admin).await;
    assert_eq!(entry["details"]["assignee_id"], ada.as_str());
    assert_eq!(entry["actor_id"], ada.as_str());

    // Refused changes change nothing (the next event is the next accepted change).
    let path = conversation_path(&id);
    for (action, body, status, code) in [
        (
            "assign",
            json!({"assignee_id": bob}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({"assignee_id": "someone"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({"assignee_id": "999999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assign",
            json!({}),
            StatusCode::BAD_REQUEST,
            "nothing_to_change",
        ),
        (
            "assign",
            json!({"team_id": "999999"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "snoozed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "open", "snoozed_until": "2099-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status",
            json!({"status": "done"}),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "priority",
            json!({"priority": "extreme"}),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ] {
        let response = app
            .api(
                &admin,
                Method::POST,
                &format!("{path}/{action}"),
                Some(body.clone()),
            )
            .await;
        let answer = assert_error(response, status, code).await;
        if code == "invalid_input" {
            assert!(answer["error"]["message"].as_str().is_some(), "{body}");
        }
    }
    let bob_refusal = app
        .api(
            &admin,
            Method::POST,
            &format!("{path}/assign"),
            Some(json!({"assignee_id": bob})),
        )
        .await;
    let refusal = assert_error(
        bob_refusal,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert!(
        refusal["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("member")),
        "says why: {refusal}"
    );
    let labels_path = format!("{path}/labels");
    let fifty_one: Vec<String> = (0..51).map(|i| format!("l{i}")).collect();
    for labels in [
        json!(["bad/label"]),
        json!([""]),
        json!(["x".repeat(51)]),
        json!(fifty_one),
    ] {
        let response = app
            .api(
                &admin,
                Method::PUT,
                &labels_path,
                Some(json!({ "labels": labels })),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }

    let answer = expect(
        &admin,
        "status",
        json!({"status": "pending"}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "pending");
    assert_eq!(
        answer["assignee_id"],
        ada.as_str(),
        "refusals changed nothing"
    );
    let until = chrono::DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 3 * 3600, 0)
        .expect("timestamp");
    let answer = expect(
        &admin,
        "status",
        json!({"status": "snoozed", "snoozed_until": until.to_rfc3339()}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "snoozed");
    let snoozed: chrono::DateTime<Utc> =
        serde_json::from_value(answer["snoozed_until"].clone()).expect("snoozed_until");
    assert_eq!(snoozed, until);
    assert_eq!(answer["resolved_at"], Value::Null);
    let answer = expect(
        &admin,
        "status",
        json!({"status": "resolved"}),
        "conversation.status",
    )
    .await;
    assert_eq!(answer["status"], "resolved");
    assert!(
        answer["resolved_at"].is_string(),
        "resolved_at set: {answer}"
    );
    assert_eq!(answer["snoozed_until"], Value::Null);
    let answer = expect(
        &admin,
        "status",
        json!({"status": "open"}),
        "conversation.status",
    )
    .await;
    assert_eq!(
        answer["resolved_at"],
        Value::Null,
        "reopening clears resolved_at"
    );
    let answer = expect(
        &admin,
        "status",
        json!({"status": "closed"}),
        "conversation.status",
    )
    .await;
    assert!(answer["resolved_at"].is_string());
    expect(
        &admin,
        "status",
        json!({"status": "open"}),
        "conversation.status",
    )
    .await;

    let answer = expect(
        &admin,
        "priority",
        json!({"priority": "urgent"}),
        "conversation.priority",
    )
    .await;
    assert_eq!(answer["priority"], "urgent");
    assert_eq!(
        last_audit(&app, &admin).await["details"]["priority"],
        "urgent"
    );

    let answer = expect(
        &ada_token,
        "labels",
        json!({"labels": [" VIP", "vip", "Billing", "billing ", "needs-reply"]}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!(["billing", "needs-reply", "vip"]));
    assert_eq!(
        last_audit(&app, &admin).await["details"]["labels"],
        json!(["vip", "billing", "needs-reply"])
    );
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["labels"], json!(["billing", "needs-reply", "vip"]));
    let answer = expect(
        &admin,
        "labels",
        json!({"labels": ["vip"]}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!(["vip"]));
    let answer = expect(
        &admin,
        "labels",
        json!({"labels": []}),
        "conversation.labels",
    )
    .await;
    assert_eq!(answer["labels"], json!([]));

    // The whole history, oldest first, as the audit log keeps it.
    let actions = app.audit_actions(&admin, 13).await;
    let mut expected = vec!["conversation.assign"; 3];
    expected.extend(["conversation.status"; 6]);
    expected.push("conversation.priority");
    expected.extend(["conversation.labels"; 3]);
    expected.reverse();
    assert_eq!(actions, expected);
}

#[actix_web::test]
async fn the_activity_of_a_conversation_reads_as_sentences_from_the_audit_trail() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let other = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    app.add_member(&admin, &other.id, &bob).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;

    change(&app, &admin, &id, "assign", json!({"assignee_id": ada})).await;
    change(
        &app,
        &ada_token,
        &id,
        "priority",
        json!({"priority": "high"}),
    )
    .await;
    change(&app, &ada_token, &id, "labels", json!({"labels": ["vip"]})).await;
    change(
        &app,
        &ada_token,
        &id,
        "status",
        json!({"status": "resolved"}),
    )
    .await;
    change(&app, &admin, &id, "status", json!({"status": "open"})).await;
    change(
        &app,
        &ada_token,
        &id,
        "assign",
        json!({"assignee_id": null}),
    )
    .await;

    let path = format!("{}/activity", conversation_path(&id));
    let texts = async |token: &str| -> Vec<String> {
        let lines = app.get_json(token, &path).await;
        lines["data"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|a| a["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // An admin sees every name; an agent sees the inbox's members and "An admin" for an
    // admin who is not one (as nowhere else shows agents outside their inboxes).
    assert_eq!(
        texts(&admin).await,
        vec![
            "Administrator assigned this to Test Agent",
            "Test Agent set the priority to high",
            "Test Agent set the labels: vip",
            "Test Agent resolved this",
            "Administrator reopened this",
            "Test Agent unassigned this",
        ]
    );
    assert_eq!(
        texts(&ada_token).await,
        vec![
            "An admin assigned this to Test Agent",
            "Test Agent set the priority to high",
            "Test Agent set the labels: vip",
            "Test Agent resolved this",
            "An admin reopened this",
            "Test Agent unassigned this",
        ]
    );
    let lines = app.get_json(&ada_token, &path).await;
    assert_eq!(lines["data"][0]["action"], "conversation.assign");
    assert!(lines["data"][0]["created_at"].is_string());
    // Only those who may see the conversation read its activity.
    let response = app.api(&bob_token, Method::GET, &path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let _ = bob;
}

#[actix_web::test]
async fn a_reply_to_an_unassigned_conversation_assigns_it_unless_the_inbox_says_not_to() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    app.add_member(&admin, &inbox.id, &bob).await;
    let first = post_message(&app, &inbox, &message_event("m-1", "cust-1", "hello")).await;
    let second = post_message(&app, &inbox, &message_event("m-2", "cust-2", "hi")).await;
    let send = async |token: &str, id: &str, body: Value| {
        let response = app
            .api(
                token,
                Method::POST,
                &format!("{}/messages", conversation_path(id)),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    };
    let assignee =
        async |id: &str| app.get_json(&admin, &conversation_path(id)).await["assignee_id"].clone();

    // A note takes nothing; a reply takes the conversation, audited as the agent's own.
    send(
        &bob_token,
        &first,
        json!({"content": "looking", "private": true}),
    )
    .await;
    assert_eq!(assignee(&first).await, Value::Null);
    send(&ada_token, &first, json!({"content": "On it!"})).await;
    assert_eq!(assignee(&first).await, ada.as_str());
    let entry = last_audit(&app, &admin).await;
    assert_eq!(entry["action"], "conversation.assign", "{entry}");
    assert_eq!(entry["actor_id"], ada.as_str());
    // Someone else's reply does not take it from her.
    send(&bob_token, &first, json!({"content": "Adding a detail"})).await;
    assert_eq!(assignee(&first).await, ada.as_str());

    // The inbox can say no.
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"assign_on_reply": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let shown: Value = response.json().await.unwrap_or_default();
    assert_eq!(shown["assign_on_reply"], false);
    send(&bob_token, &second, json!({"content": "Hello!"})).await;
    assert_eq!(assignee(&second).await, Value::Null);
    let _ = bob;
}
