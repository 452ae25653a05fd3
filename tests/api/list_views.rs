//! The conversation list's orders (newest, waiting longest, priority), label colours and
//! saved views (issue #18 item 5).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{
    agent, call, call_ok, change, conversation_path, ids, post_message,
};
use crate::helpers::run_sql as execute;
use crate::helpers::{TestApp, message_event, spawn_app};

/// Every id of a sorted list, page by page (`limit` per page), failing on a repeat.
async fn walk(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/conversations?limit={limit}&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get_json(token, &path).await;
        for id in ids(&page) {
            assert!(!all.contains(&id), "{id} listed twice in {query}: {all:?}");
            all.push(id);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
    panic!("more than 100 pages for {query}");
}

async fn reply(app: &TestApp, token: &str, id: &str, private: bool) {
    call_ok(
        app,
        token,
        Method::POST,
        &format!("{}/messages", conversation_path(id)),
        Some(json!({"content": "on it", "private": private})),
        StatusCode::CREATED,
    )
    .await;
}

async fn waiting_since(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_json(token, &conversation_path(id)).await["waiting_since"].clone()
}

#[actix_web::test]
async fn waiting_longest_first_then_the_rest_newest_first_across_pages() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut c = Vec::new();
    for n in 0..5 {
        let event = message_event(&format!("w-{n}"), &format!("cust-{n}"), "hello");
        c.push(post_message(&app, &inbox, &event).await);
    }
    // c0..c4 wait since their first message. A reply answers c1; a note leaves c2 waiting;
    // c0 writes again and still waits since its first message.
    let c0_since = waiting_since(&app, &admin, &c[0]).await;
    assert!(c0_since.is_string(), "{c0_since}");
    reply(&app, &admin, &c[1], false).await;
    assert_eq!(waiting_since(&app, &admin, &c[1]).await, Value::Null);
    reply(&app, &admin, &c[2], true).await;
    assert!(waiting_since(&app, &admin, &c[2]).await.is_string());
    post_message(
        &app,
        &inbox,
        &message_event("w-0b", "cust-0", "still there?"),
    )
    .await;
    assert_eq!(waiting_since(&app, &admin, &c[0]).await, c0_since);
    // c3 is resolved (nobody waits on a resolved conversation), then its customer writes
    // again: they wait from that message, not from the first one.
    change(&app, &admin, &c[3], "status", json!({"status": "resolved"})).await;
    assert_eq!(waiting_since(&app, &admin, &c[3]).await, Value::Null);
    let old = waiting_since(&app, &admin, &c[4]).await;
    post_message(&app, &inbox, &message_event("w-3b", "cust-3", "back again")).await;
    let reopened = waiting_since(&app, &admin, &c[3]).await;
    assert!(reopened.as_str() > old.as_str(), "{reopened} after {old}");

    let expected = vec![
        c[0].clone(),
        c[2].clone(),
        c[4].clone(),
        c[3].clone(),
        // The answered one last (the only one not waiting).
        c[1].clone(),
    ];
    for limit in [1, 2, 3, 10] {
        assert_eq!(
            walk(&app, &admin, "status=open&sort=waiting", limit).await,
            expected,
            "limit {limit}"
        );
    }
}

#[actix_web::test]
async fn priority_order_walks_urgent_to_none_newest_first_within_each() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let priorities = ["urgent", "low", "high", "none", "high", "urgent"];
    let mut c = Vec::new();
    for (n, p) in priorities.iter().enumerate() {
        let event = message_event(&format!("p-{n}"), &format!("cust-{n}"), "hello");
        let id = post_message(&app, &inbox, &event).await;
        if *p != "none" {
            change(&app, &admin, &id, "priority", json!({"priority": p})).await;
        }
        c.push(id);
    }
    // Newest activity first within a priority: c5 wrote after c0, c4 after c2.
    let expected = vec![
        c[5].clone(),
        c[0].clone(),
        c[4].clone(),
        c[2].clone(),
        c[1].clone(),
        c[3].clone(),
    ];
    for limit in [1, 2, 4, 50] {
        assert_eq!(
            walk(&app, &admin, "sort=priority", limit).await,
            expected,
            "limit {limit}"
        );
    }
    assert_eq!(
        walk(&app, &admin, "sort=priority&priority=high", 1).await,
        vec![c[4].clone(), c[2].clone()]
    );
    // The default order is newest activity first, also by its name.
    let newest = walk(&app, &admin, "sort=newest", 4).await;
    assert_eq!(newest, c.iter().rev().cloned().collect::<Vec<_>>());

    // A sort the API does not know, and a cursor from another order, are refused in words.
    let (status, body) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/conversations?sort=oldest",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sort"),
        "{body}"
    );
    let page = app
        .get_json(&admin, "/api/v1/conversations?limit=1&sort=priority")
        .await;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(cursor.starts_with("p-urgent."), "{cursor}");
    let (status, body) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/conversations?limit=1&sort=newest&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_cursor");
    // A newest-first cursor in the waiting order would skip the waiting ones.
    let page = app.get_json(&admin, "/api/v1/conversations?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (status, _) = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/conversations?limit=1&sort=waiting&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn admins_colour_and_delete_labels_agents_read_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let id = post_message(&app, &inbox, &message_event("l-1", "cust-1", "hello")).await;
    // A label made by use gets the default colour.
    change(
        &app,
        &ada_token,
        &id,
        "labels",
        json!({"labels": ["Refund"]}),
    )
    .await;

    let created = call_ok(
        &app,
        &admin,
        Method::POST,
        "/api/v1/labels",
        Some(json!({"name": " VIP ", "color": "#D4A72C"})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["name"], "vip");
    assert_eq!(created["color"], "#d4a72c");
    let vip = created["id"].as_str().unwrap_or_default().to_owned();
    for (body, status, field) in [
        (json!({"name": "vip"}), StatusCode::CONFLICT, ""),
        (
            json!({"name": "x", "color": "gold"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "color",
        ),
        (
            json!({"name": "a/b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
    ] {
        let (got, answer) = call(&app, &admin, Method::POST, "/api/v1/labels", Some(body)).await;
        assert_eq!(got, status, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{answer}"
        );
    }
    change(
        &app,
        &ada_token,
        &id,
        "labels",
        json!({"labels": ["refund", "vip"]}),
    )
    .await;

    // Agents read names and colours; only admins how many conversations (of every inbox)
    // carry each.
    let agents_list = app.get_json(&ada_token, "/api/v1/labels").await;
    assert!(
        agents_list["data"].as_array().is_some_and(
            |all| all.len() == 2 && all.iter().all(|l| l.get("conversations").is_none())
        ),
        "{agents_list}"
    );
    let list = app.get_json(&admin, "/api/v1/labels").await;
    let by_name = |name: &str| -> Value {
        list["data"]
            .as_array()
            .and_then(|all| all.iter().find(|l| l["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} in {list}"))
    };
    assert_eq!(by_name("refund")["color"], "#888888");
    assert_eq!(by_name("refund")["conversations"], 1);
    assert_eq!(by_name("vip")["conversations"], 1);

    let refund = by_name("refund")["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let recoloured = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/labels/{refund}"),
        Some(json!({"color": "#cf222e"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(recoloured["color"], "#cf222e");
    let (status, _) = call(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/labels/999999",
        Some(json!({"color": "#cf222e"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting takes it off the conversation; each change is audited.
    call_ok(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/labels/{vip}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let shown = app.get_json(&admin, &conversation_path(&id)).await;
    assert_eq!(shown["labels"], json!(["refund"]), "{shown}");
    let actions = app.audit_actions(&admin, 50).await;
    // Taken off as an agent's change is: audited on the conversation (and published).
    assert_eq!(actions.first().map(String::as_str), Some("label.delete"));
    assert_eq!(
        actions.get(1).map(String::as_str),
        Some("conversation.labels")
    );
    for action in ["label.create", "label.update", "label.delete"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let (status, _) = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/labels/{vip}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn saved_views_are_checked_private_and_limited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, ada) = agent(&app, &admin, "ada@example.com").await;
    let (_, bob) = agent(&app, &admin, "bob@example.com").await;
    let views = "/api/v1/me/views";

    let created = call_ok(
        &app,
        &ada,
        Method::POST,
        views,
        Some(json!({"name": "Urgent mine", "filters": {
            "assignee": "me", "priority": "urgent", "status": "open,pending",
            "label": " VIP ", "q": "", "sort": "waiting"}})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        created["filters"],
        json!({"assignee": "me", "priority": "urgent", "status": "open,pending",
               "label": "vip", "sort": "waiting"})
    );
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    call_ok(
        &app,
        &ada,
        Method::POST,
        views,
        Some(json!({"name": "All open", "filters": {"status": "open"}})),
        StatusCode::CREATED,
    )
    .await;

    // Refusals name what is wrong and change nothing.
    for (body, status, words) in [
        (
            json!({"name": "Urgent mine", "filters": {}}),
            StatusCode::CONFLICT,
            "already",
        ),
        (
            json!({"name": "x", "filters": {"sort": "oldest"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "filters.sort",
        ),
        (
            json!({"name": "x", "filters": {"inbox_id": "abc"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "filters.inbox_id",
        ),
        (
            json!({"name": " ", "filters": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "x", "filters": {"colour": "red"}}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
    ] {
        let (got, answer) = call(&app, &ada, Method::POST, views, Some(body)).await;
        assert_eq!(got, status, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{words} in {answer}"
        );
    }
    let mine = app.get_json(&ada, views).await;
    let names: Vec<&str> = mine["data"]
        .as_array()
        .map(|all| all.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["All open", "Urgent mine"], "by name: {mine}");

    // Another agent neither sees nor changes them.
    assert_eq!(app.get_json(&bob, views).await["data"], json!([]));
    let path = format!("{views}/{id}");
    for method in [Method::PATCH, Method::DELETE] {
        let (status, _) = call(&app, &bob, method, &path, Some(json!({"name": "Mine now"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let renamed = call_ok(
        &app,
        &ada,
        Method::PATCH,
        &path,
        Some(json!({"name": "Urgent", "filters": {"priority": "urgent"}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "Urgent");
    assert_eq!(renamed["filters"], json!({"priority": "urgent"}));
    let (status, _) = call(&app, &ada, Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // At most 50 per agent.
    for n in 2..50 {
        call_ok(
            &app,
            &ada,
            Method::POST,
            views,
            Some(json!({"name": format!("View {n}"), "filters": {}})),
            StatusCode::CREATED,
        )
        .await;
    }
    let (status, answer) = call(
        &app,
        &ada,
        Method::POST,
        views,
        Some(json!({"name": "One too many", "filters": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "too_many_views");

    call_ok(
        &app,
        &ada,
        Method::DELETE,
        &path,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (status, _) = call(&app, &ada, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_migration_backfills_who_waits_as_the_hub_keeps_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut c = Vec::new();
    for n in 0..5 {
        let event = message_event(&format!("b-{n}"), &format!("cust-{n}"), "hello");
        c.push(post_message(&app, &inbox, &event).await);
    }
    // c0 waits; c1 answered; c2 answered then wrote twice (waits since the first of those);
    // c3 resolved unanswered (nobody waits, not even when an agent reopens it, until the
    // customer writes); c4 answered, then an out-of-office reply (marked automatic below)
    // that is no one waiting.
    reply(&app, &admin, &c[1], false).await;
    reply(&app, &admin, &c[2], false).await;
    post_message(&app, &inbox, &message_event("b-2b", "cust-2", "one more")).await;
    post_message(
        &app,
        &inbox,
        &message_event("b-2c", "cust-2", "and another"),
    )
    .await;
    change(&app, &admin, &c[3], "status", json!({"status": "resolved"})).await;
    change(&app, &admin, &c[3], "status", json!({"status": "open"})).await;
    assert_eq!(
        waiting_since(&app, &admin, &c[3]).await,
        Value::Null,
        "an agent's reopen"
    );
    reply(&app, &admin, &c[4], false).await;
    post_message(&app, &inbox, &message_event("b-4b", "cust-4", "I am away")).await;
    let mut live = Vec::new();
    for id in &c {
        live.push(waiting_since(&app, &admin, id).await);
    }
    assert!(live[0].is_string() && live[2].is_string(), "{live:?}");
    assert_eq!([&live[1], &live[3]], [&Value::Null, &Value::Null]);

    // Down to before this migration (and those after it, if any), then up again.
    for _ in 0..20 {
        let reverted = app.state.db.revert_last_migration().await.expect("down");
        if reverted.iter().any(|v| v == "20261207000005") {
            break;
        }
    }
    execute(
        &app,
        &format!(
            "UPDATE messages SET details = '{{\"automatic\":\"auto-replied\"}}' \
             WHERE external_id = 'b-4b' AND conversation_id = {}",
            c[4]
        ),
    )
    .await;
    app.state.db.migrate().await.expect("up again");
    let mut backfilled = Vec::new();
    for id in &c {
        backfilled.push(waiting_since(&app, &admin, id).await);
    }
    let mut expected = live.clone();
    expected[4] = Value::Null;
    // The backfill cannot see that c3 was resolved and reopened by an agent (that is in the
    // audit trail, not in the messages): it finds an unanswered customer, waiting.
    assert!(backfilled[3].is_string(), "{backfilled:?}");
    expected[3] = backfilled[3].clone();
    assert_eq!(backfilled, expected);
}
