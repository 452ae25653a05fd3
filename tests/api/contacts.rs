//! Contacts: searched, shown, updated and merged, each seen only through the caller's inboxes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversation_helpers::{
    agent, call_ok, conversation_path, event_from, ids, last_audit, post_message, sorted,
};
use crate::helpers::{ApiInbox, assert_error, message_event, spawn_app};

#[actix_web::test]
async fn contacts_are_searched_shown_updated_and_merged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let web = app.create_api_inbox(&admin, None).await;
    let chat = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &web.id, &ada).await;

    let first = post_message(
        &app,
        &web,
        &event_from(
            "w-1",
            "cust-1",
            "Ann Original",
            "ann@example.com",
            "hi from the web",
        ),
    )
    .await;
    let second = post_message(
        &app,
        &chat,
        &json!({
            "type": "message", "external_id": "c-1", "content": "hi from chat",
            "contact": {"identifier": "ann-chat", "name": "Annie Dup", "phone": "+43 660 1234"},
        }),
    )
    .await;
    let contact_of = async |conversation: &str| -> String {
        app.get_json(&admin, &conversation_path(conversation)).await["contact_id"]
            .as_str()
            .expect("contact")
            .to_owned()
    };
    let original = contact_of(&first).await;
    let duplicate = contact_of(&second).await;
    assert_ne!(original, duplicate);

    // List and search.
    let all = app.get_json(&admin, "/api/v1/contacts").await;
    assert_eq!(
        ids(&all),
        vec![duplicate.clone(), original.clone()],
        "newest first"
    );
    for (q, expected) in [
        ("ORIGINAL", vec![original.clone()]),
        ("ann", vec![duplicate.clone(), original.clone()]),
        ("example.com", vec![original.clone()]),
        ("660", vec![duplicate.clone()]),
        ("ANN-CHAT", vec![duplicate.clone()]),
        ("%", vec![]),
        ("_", vec![]),
    ] {
        let found = app
            .get_json(&admin, &format!("/api/v1/contacts?q={}", urlencode(q)))
            .await;
        assert_eq!(ids(&found), expected, "contacts?q={q}");
    }
    let page = app.get_json(&admin, "/api/v1/contacts?limit=1").await;
    assert_eq!(ids(&page), vec![duplicate.clone()]);
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let rest = app
        .get_json(&admin, &format!("/api/v1/contacts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest), vec![original.clone()]);
    let response = app
        .api(&admin, Method::GET, "/api/v1/contacts?cursor=abc", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    // Agents see the contacts of their inboxes.
    assert_eq!(
        ids(&app.get_json(&ada_token, "/api/v1/contacts").await),
        vec![original.clone()]
    );

    // Detail: identities and conversations.
    let detail = app
        .get_json(&admin, &format!("/api/v1/contacts/{original}"))
        .await;
    assert_eq!(detail["contact"]["name"], "Ann Original");
    assert_eq!(detail["contact"]["email"], "ann@example.com");
    let identities = detail["contact"]["identities"]
        .as_array()
        .expect("identities");
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["identifier"], "cust-1");
    assert_eq!(identities[0]["inbox_id"], web.id.as_str());
    assert_eq!(identities[0]["channel_type"], "api");
    assert_eq!(
        ids(&json!({"data": detail["conversations"]})),
        vec![first.clone()]
    );

    // Update: validated, audited.
    let path = format!("/api/v1/contacts/{original}");
    for body in [
        json!({"email": "not an email"}),
        json!({"email": "a@"}),
        json!({"name": "x".repeat(201)}),
    ] {
        let response = app.api(&admin, Method::PATCH, &path, Some(body)).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    }
    let response = app.api(&admin, Method::PATCH, &path, Some(json!({}))).await;
    assert_error(response, StatusCode::BAD_REQUEST, "nothing_to_change").await;
    let updated = call_ok(
        &app,
        &ada_token,
        Method::PATCH,
        &path,
        Some(json!({"email": " Ann.Smith@Example.COM ", "language": "de", "attributes": {"plan": "pro"}})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["email"], "ann.smith@example.com");
    assert_eq!(updated["language"], "de");
    assert_eq!(updated["attributes"], json!({"plan": "pro"}));
    assert_eq!(updated["name"], "Ann Original", "untouched fields stay");
    assert_eq!(last_audit(&app, &admin).await["action"], "contact.update");

    // Merge the duplicate into the original.
    let merge = format!("{path}/merge");
    let response = app
        .api(
            &admin,
            Method::POST,
            &merge,
            Some(json!({"contact_id": original})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(
            &admin,
            Method::POST,
            &merge,
            Some(json!({"contact_id": "999999"})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    // An agent cannot merge in a contact she cannot see.
    let response = app
        .api(
            &ada_token,
            Method::POST,
            &merge,
            Some(json!({"contact_id": duplicate})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert_eq!(
        app.get_json(&admin, &format!("/api/v1/contacts/{duplicate}"))
            .await["contact"]["id"],
        duplicate.as_str()
    );

    let mut watcher = app.websocket(&admin, None).await;
    let merged = call_ok(
        &app,
        &admin,
        Method::POST,
        &merge,
        Some(json!({"contact_id": duplicate})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(merged["id"], original.as_str());
    assert_eq!(merged["name"], "Ann Original");
    assert_eq!(
        merged["phone"], "+43 660 1234",
        "empty fields filled from the duplicate"
    );
    let identifiers: Vec<&str> = merged["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["identifier"].as_str().expect("identifier"))
        .collect();
    assert_eq!(identifiers, ["cust-1", "ann-chat"]);
    let moved = watcher.next_of("conversation.updated").await;
    assert_eq!(moved["data"]["conversation"]["id"], second.as_str());
    assert_eq!(
        moved["data"]["conversation"]["contact_id"],
        original.as_str()
    );

    let response = app
        .api(
            &admin,
            Method::GET,
            &format!("/api/v1/contacts/{duplicate}"),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let detail = app.get_json(&admin, &path).await;
    assert_eq!(
        sorted(ids(&json!({"data": detail["conversations"]}))),
        sorted(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        app.get_json(&admin, &conversation_path(&second)).await["contact_id"],
        original.as_str()
    );
    let entry = last_audit(&app, &admin).await;
    assert_eq!(entry["action"], "contact.merge");
    assert_eq!(entry["target_id"], original.as_str());
    assert_eq!(entry["details"]["merged_contact_id"], duplicate.as_str());
    assert_eq!(entry["details"]["conversations_moved"], json!([second]));
    // The moved identity keeps working: the next chat message joins the same conversation.
    let again = post_message(
        &app,
        &chat,
        &json!({"type": "message", "external_id": "c-2", "content": "me again",
                "contact": {"identifier": "ann-chat"}}),
    )
    .await;
    assert_eq!(again, second);
    assert_eq!(
        ids(&app.get_json(&admin, "/api/v1/contacts").await),
        vec![original.clone()]
    );
    // An agent sees only the identities and conversations of her inboxes.
    let seen_by_ada = app.get_json(&ada_token, &path).await;
    assert_eq!(
        seen_by_ada["contact"]["identities"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        ids(&json!({"data": seen_by_ada["conversations"]})),
        vec![first.clone()]
    );
}

/// The answer to a merge shows only identities in inboxes the caller belongs to, like
/// the contact's own page.
#[actix_web::test]
async fn a_merge_answer_hides_identities_of_other_inboxes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let web = app.create_api_inbox(&admin, None).await;
    let chat = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &web.id, &ada).await;
    let contact_of = async |inbox: &ApiInbox, event: Value| -> String {
        let conversation = post_message(&app, inbox, &event).await;
        app.get_json(&admin, &conversation_path(&conversation))
            .await["contact_id"]
            .as_str()
            .expect("contact id")
            .to_owned()
    };
    let ann = contact_of(&web, message_event("w-1", "ann-web", "hi")).await;
    let ann_chat = contact_of(&chat, message_event("c-1", "ann-chat", "hi")).await;
    let ann_again = contact_of(&web, message_event("w-2", "ann-web-2", "hi")).await;
    // The admin joins Ann's chat identity to her contact; ada cannot see that inbox.
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/contacts/{ann}/merge"),
        Some(json!({"contact_id": ann_chat})),
        StatusCode::OK,
    )
    .await;
    let merged = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &format!("/api/v1/contacts/{ann}/merge"),
        Some(json!({"contact_id": ann_again})),
        StatusCode::OK,
    )
    .await;
    let identifiers: Vec<&str> = merged["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["identifier"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(identifiers, ["ann-web", "ann-web-2"], "{merged}");
}

/// Percent-encodes a query value (only what these tests use needs it).
fn urlencode(text: &str) -> String {
    text.replace('%', "%25")
        .replace(' ', "%20")
        .replace('+', "%2B")
}
