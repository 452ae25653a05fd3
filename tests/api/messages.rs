//! A conversation's messages, paged by sequence number, and unread counts with read marks
//! that never go back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{agent, call_ok, conversation_path, post_message};
use crate::helpers::{assert_error, message_event, spawn_app};

// ---------------------------------------------------------------------------------------
// Messages by seq
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn messages_page_by_sequence_number() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let events: Vec<Value> = (1..=7)
        .map(|i| message_event(&format!("m-{i}"), "cust-1", &format!("message {i}")))
        .collect();
    let id = post_message(&app, &inbox, &json!({ "events": events })).await;
    let path = format!("{}/messages", conversation_path(&id));
    let seqs_of = |page: &Value| -> Vec<i64> {
        page["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|m| m["seq"].as_i64().expect("seq"))
            .collect()
    };
    for (query, expected) in [
        ("", vec![1, 2, 3, 4, 5, 6, 7]),
        ("?limit=2", vec![6, 7]),
        ("?after=0&limit=3", vec![1, 2, 3]),
        ("?after=2&limit=3", vec![3, 4, 5]),
        ("?after=5&limit=3", vec![6, 7]),
        ("?after=7", vec![]),
        ("?before=6&limit=3", vec![3, 4, 5]),
        ("?before=3&limit=3", vec![1, 2]),
        ("?before=1", vec![]),
        ("?before=100&limit=2", vec![6, 7]),
    ] {
        let page = app.get_json(&admin, &format!("{path}{query}")).await;
        assert_eq!(seqs_of(&page), expected, "GET {path}{query}");
        assert_eq!(page["last_seq"], 7);
    }
    let page = app
        .get_json(&admin, &format!("{path}?after=3&limit=1"))
        .await;
    assert_eq!(page["data"][0]["content"], "message 4");
    assert_eq!(page["data"][0]["direction"], "inbound");
    assert_eq!(page["data"][0]["conversation_id"], id.as_str());

    // Walking forward and backward both see every message once, in order.
    let mut forward = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get_json(&admin, &format!("{path}?after={after}&limit=3"))
            .await;
        let seqs = seqs_of(&page);
        let Some(last) = seqs.last().copied() else {
            break;
        };
        forward.extend(seqs);
        after = last;
    }
    assert_eq!(forward, (1..=7).collect::<Vec<_>>());
    let mut backward = Vec::new();
    let mut before = 8;
    loop {
        let page = app
            .get_json(&admin, &format!("{path}?before={before}&limit=3"))
            .await;
        let seqs = seqs_of(&page);
        let Some(first) = seqs.first().copied() else {
            break;
        };
        backward.splice(0..0, seqs);
        before = first;
    }
    assert_eq!(backward, (1..=7).collect::<Vec<_>>());

    for (query, status, code) in [
        (
            "?after=1&before=5",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "?after=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?before=-1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "?limit=201",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("?after=first", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let response = app
            .api(&admin, Method::GET, &format!("{path}{query}"), None)
            .await;
        assert_error(response, status, code).await;
    }
    let response = app
        .api(
            &admin,
            Method::GET,
            "/api/v1/conversations/999999/messages",
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// Unread counts
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn unread_counts_follow_inbound_messages_and_read_marks_never_go_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let id = post_message(&app, &inbox, &message_event("m-1", "cust-1", "one")).await;
    let path = conversation_path(&id);
    let unread = async |token: &str| -> (i64, i64) {
        let shown = app.get_json(token, &path).await;
        let listed = app.get_json(token, "/api/v1/conversations").await;
        assert_eq!(listed["data"][0]["id"], id.as_str());
        assert_eq!(
            listed["data"][0]["unread_count"], shown["unread_count"],
            "list and detail agree"
        );
        (
            shown["unread_count"].as_i64().expect("unread_count"),
            shown["last_seq"].as_i64().expect("last_seq"),
        )
    };
    assert_eq!(unread(&ada_token).await, (1, 1));
    app.inbound(&inbox, "m-2", "cust-1", "two").await;
    app.inbound(&inbox, "m-3", "cust-1", "three").await;
    assert_eq!(unread(&ada_token).await, (3, 3));

    let read = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, json!({"last_read_seq": 3, "unread_count": 0}));
    assert_eq!(unread(&ada_token).await, (0, 3));
    // Per agent: the admin has read nothing.
    assert_eq!(unread(&admin).await, (3, 3));

    app.inbound(&inbox, "m-4", "cust-1", "four").await;
    assert_eq!(unread(&ada_token).await, (1, 4));
    let back = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        Some(json!({"seq": 1})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        back,
        json!({"last_read_seq": 3, "unread_count": 1}),
        "a read mark never moves back"
    );
    assert_eq!(unread(&ada_token).await, (1, 4));

    // Agents' own notes are not unread messages.
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{path}/messages"),
        Some(json!({"content": "internal note", "private": true})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(unread(&ada_token).await, (1, 5));
    let read = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("{path}/read"),
        Some(json!({"seq": 4})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, json!({"last_read_seq": 4, "unread_count": 0}));

    for seq in [-1, 6, 100] {
        let response = app
            .api(
                &ada_token,
                Method::POST,
                &format!("{path}/read"),
                Some(json!({ "seq": seq })),
            )
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
    assert_eq!(unread(&ada_token).await, (0, 5));

    // Counted per conversation in one list: another customer's two messages.
    let other = post_message(&app, &inbox, &message_event("o-1", "cust-2", "hi")).await;
    app.inbound(&inbox, "o-2", "cust-2", "again").await;
    let listed = app.get_json(&ada_token, "/api/v1/conversations").await;
    let counts: std::collections::HashMap<String, i64> = listed["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["unread_count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(counts.get(&other), Some(&2), "{listed}");
    assert_eq!(counts.get(&id), Some(&0), "{listed}");
}
