//! The conversation list: filters, cursors (newest activity first) and what a row shows.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::conversation_helpers::{
    agent, call_ok, change, conversation_path, event_from, ids, listed, post_message, sorted,
};
use crate::helpers::{TestApp, assert_error, message_event, spawn_app};

/// Follows `next_cursor` from the first page to the last; returns every id in order.
async fn walk(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_activity: Option<String> = None;
    for _ in 0..100 {
        let path = match &cursor {
            None => format!("/api/v1/conversations?limit={limit}&{query}"),
            Some(c) => format!("/api/v1/conversations?limit={limit}&{query}&cursor={c}"),
        };
        let page = app.get_json(token, &path).await;
        let items = page["data"].as_array().expect("data");
        assert!(items.len() <= limit, "page longer than limit: {page}");
        for item in items {
            let at = item["last_activity_at"]
                .as_str()
                .expect("activity")
                .to_owned();
            let at_parsed = chrono::DateTime::parse_from_rfc3339(&at).expect("timestamp");
            if let Some(previous) = &last_activity {
                let previous = chrono::DateTime::parse_from_rfc3339(previous).expect("ts");
                assert!(
                    at_parsed <= previous,
                    "newest activity first: {at} after {previous}"
                );
            }
            last_activity = Some(at);
        }
        all.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a cursor only after a full page");
                cursor = Some(next.to_owned());
            }
            None => return all,
        }
    }
    panic!("more than 100 pages for {query}");
}

#[actix_web::test]
async fn the_conversation_list_filters_and_pages_by_last_activity() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let one = app.create_api_inbox(&admin, None).await;
    let two = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, _) = agent(&app, &admin, "bob@example.com").await;
    for inbox in [&one, &two] {
        for member in [&ada, &bob] {
            app.add_member(&admin, &inbox.id, member).await;
        }
    }
    let specs = [
        (
            &one,
            "alpha",
            "Zoe Alpha",
            "alpha@example.com",
            "Hello about my invoice",
        ),
        (&one, "bravo", "Bravo", "bravo@example.com", "refund please"),
        (
            &one,
            "charlie",
            "Charlie",
            "charlie@corp.test",
            "it is 100% broken",
        ),
        (
            &one,
            "delta",
            "Delta",
            "delta@example.com",
            "my_file is missing",
        ),
        (
            &two,
            "echo",
            "Echo",
            "echo@example.com",
            "Where is my ORDER?",
        ),
        (&two, "fox", "Foxtrot", "fox@example.com", "hi"),
        (&one, "golf", "Golf", "golf@example.com", "plain question"),
    ];
    let mut c = Vec::new();
    for (i, (inbox, identifier, name, email, content)) in specs.into_iter().enumerate() {
        let event = event_from(&format!("m-{i}"), identifier, name, email, content);
        c.push(post_message(&app, inbox, &event).await);
    }
    let team = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Billing"})),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .expect("team id")
        .to_owned();
    let soon = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    change(&app, &admin, &c[0], "assign", json!({"assignee_id": ada})).await;
    change(&app, &admin, &c[0], "priority", json!({"priority": "high"})).await;
    change(&app, &admin, &c[0], "labels", json!({"labels": ["vip"]})).await;
    change(&app, &admin, &c[1], "status", json!({"status": "pending"})).await;
    change(
        &app,
        &admin,
        &c[1],
        "priority",
        json!({"priority": "urgent"}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[1],
        "labels",
        json!({"labels": ["billing"]}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[1],
        "assign",
        json!({"assignee_id": bob, "team_id": team}),
    )
    .await;
    change(&app, &admin, &c[2], "status", json!({"status": "resolved"})).await;
    change(
        &app,
        &admin,
        &c[2],
        "labels",
        json!({"labels": ["vip", "billing"]}),
    )
    .await;
    change(
        &app,
        &admin,
        &c[3],
        "status",
        json!({"status": "snoozed", "snoozed_until": soon}),
    )
    .await;
    change(&app, &admin, &c[3], "assign", json!({"assignee_id": ada})).await;
    change(&app, &admin, &c[4], "priority", json!({"priority": "low"})).await;
    change(&app, &admin, &c[5], "status", json!({"status": "closed"})).await;

    let pick = |indexes: &[usize]| sorted(indexes.iter().map(|i| c[*i].clone()).collect());
    let bravo_contact = app.get_json(&admin, &conversation_path(&c[1])).await["contact_id"]
        .as_str()
        .expect("contact")
        .to_owned();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("".into(), pick(&[0, 1, 2, 3, 4, 5, 6])),
        ("status=open".into(), pick(&[0, 4, 6])),
        ("status=open,pending".into(), pick(&[0, 1, 4, 6])),
        ("status=open%2C%20pending".into(), pick(&[0, 1, 4, 6])),
        ("status=resolved".into(), pick(&[2])),
        ("status=snoozed".into(), pick(&[3])),
        ("status=closed,resolved".into(), pick(&[2, 5])),
        (format!("assignee={bob}"), pick(&[1])),
        ("assignee=unassigned".into(), pick(&[2, 4, 5, 6])),
        ("assignee=all".into(), pick(&[0, 1, 2, 3, 4, 5, 6])),
        ("label=vip".into(), pick(&[0, 2])),
        ("label=billing".into(), pick(&[1, 2])),
        ("label=VIP".into(), pick(&[0, 2])),
        ("label=nothing".into(), vec![]),
        ("label=vip&status=resolved".into(), pick(&[2])),
        ("priority=urgent".into(), pick(&[1])),
        ("priority=high".into(), pick(&[0])),
        ("priority=none".into(), pick(&[2, 3, 5, 6])),
        (format!("inbox_id={}", two.id), pick(&[4, 5])),
        (format!("inbox_id={}&status=open", one.id), pick(&[0, 6])),
        (format!("team_id={team}"), pick(&[1])),
        (format!("contact_id={bravo_contact}"), pick(&[1])),
        // Text: contact name, contact email, message text; any case; % and _ literal.
        ("q=ALPHA".into(), pick(&[0])),
        ("q=corp.test".into(), pick(&[2])),
        ("q=order".into(), pick(&[4])),
        ("q=%20Invoice%20".into(), pick(&[0])),
        ("q=100%25".into(), pick(&[2])),
        ("q=%25".into(), pick(&[2])),
        ("q=_".into(), pick(&[3])),
        ("q=my_f".into(), pick(&[3])),
        ("q=nowhere".into(), vec![]),
    ];
    for (query, expected) in &cases {
        assert_eq!(
            &listed(&app, &admin, query).await,
            expected,
            "GET /api/v1/conversations?{query}"
        );
    }
    assert_eq!(listed(&app, &ada_token, "assignee=me").await, pick(&[0, 3]));
    assert_eq!(
        listed(&app, &admin, "assignee=me").await,
        Vec::<String>::new()
    );

    // Newest activity first; changes of state are not activity.
    let newest_first: Vec<String> = c.iter().rev().cloned().collect();
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/conversations").await),
        newest_first
    );
    assert_eq!(walk(&app, &admin, "", 2).await, newest_first);
    assert_eq!(walk(&app, &admin, "", 7).await, newest_first);
    // A new message moves its conversation to the top.
    post_message(
        &app,
        &one,
        &event_from(
            "m-again",
            "alpha",
            "Zoe Alpha",
            "alpha@example.com",
            "me again",
        ),
    )
    .await;
    let mut reordered = vec![c[0].clone()];
    reordered.extend(c[1..].iter().rev().cloned());
    assert_eq!(walk(&app, &admin, "", 2).await, reordered);
    assert_eq!(walk(&app, &admin, "", 3).await, reordered);
    assert_eq!(
        walk(&app, &admin, "status=open,pending", 1).await,
        vec![c[0].clone(), c[6].clone(), c[4].clone(), c[1].clone()]
    );
    assert_eq!(
        walk(&app, &ada_token, "assignee=me", 1).await,
        vec![c[0].clone(), c[3].clone()]
    );

    // Bad input is refused with a precise answer.
    for (query, status, code) in [
        (
            "status=bogus",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "status=open,bogus",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=nobody",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "assignee=-3",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("cursor=abc", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("cursor=123", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("cursor=x.1", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (
            "limit=1000",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        ("limit=two", StatusCode::BAD_REQUEST, "invalid_query"),
        ("priority=extreme", StatusCode::BAD_REQUEST, "invalid_query"),
        ("inbox_id=abc", StatusCode::BAD_REQUEST, "invalid_query"),
        ("colour=red", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let response = app
            .api(
                &admin,
                Method::GET,
                &format!("/api/v1/conversations?{query}"),
                None,
            )
            .await;
        let body = assert_error(response, status, code).await;
        if code == "invalid_input" {
            let field = query.split('=').next().expect("field");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(field)),
                "the message names {field}: {body}"
            );
        }
    }
    let long = "x".repeat(201);
    let response = app
        .api(
            &admin,
            Method::GET,
            &format!("/api/v1/conversations?q={long}"),
            None,
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
}

#[actix_web::test]
async fn the_list_shows_who_wrote_and_the_latest_message() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    // message_event names the contact "Ann".
    post_message(&app, &inbox, &message_event("m-1", "cust-1", "first")).await;
    let long = "x".repeat(500);
    app.inbound(&inbox, "m-2", "cust-1", &long).await;
    let list = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations?inbox_id={}", inbox.id),
        )
        .await;
    let row = &list["data"][0];
    assert_eq!(row["contact_name"], "Ann");
    assert_eq!(row["last_message"]["direction"], "inbound");
    assert_eq!(
        row["last_message"]["content"]
            .as_str()
            .map(|c| c.chars().count()),
        Some(140)
    );
}
