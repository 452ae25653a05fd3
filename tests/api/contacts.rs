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

/// The texts of a contact's notes, newest first.
async fn note_bodies(app: &crate::helpers::TestApp, token: &str, contact: &str) -> Vec<String> {
    app.get_json(token, &format!("/api/v1/contacts/{contact}"))
        .await["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A contact made by a message from `identifier` with `name` (none: nameless) in `inbox`.
async fn contact_named(
    app: &crate::helpers::TestApp,
    admin: &str,
    inbox: &ApiInbox,
    identifier: &str,
    name: Option<&str>,
) -> String {
    let mut contact = json!({"identifier": identifier});
    if let Some(name) = name {
        contact["name"] = json!(name);
    }
    let event = json!({
        "type": "message", "external_id": format!("m-{identifier}"), "content": "hello",
        "contact": contact,
    });
    let conversation = post_message(app, inbox, &event).await;
    app.get_json(admin, &conversation_path(&conversation)).await["contact_id"]
        .as_str()
        .expect("contact id")
        .to_owned()
}

/// Sorted by name (case folded, nameless last), oldest first, newest first: each paged one
/// contact at a time through its cursors; list rows carry channels, conversations and activity.
#[actix_web::test]
async fn contacts_sort_by_name_and_age_and_page_through_every_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let bea = contact_named(&app, &admin, &inbox, "b", Some("bea")).await;
    let nameless = contact_named(&app, &admin, &inbox, "n", None).await;
    let ann = contact_named(&app, &admin, &inbox, "a", Some("Ann")).await;
    let carl = contact_named(&app, &admin, &inbox, "c", Some("Carl")).await;
    let nameless_too = contact_named(&app, &admin, &inbox, "z", None).await;

    let walk = async |sort: &str| -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let path = match &cursor {
                Some(c) => format!(
                    "/api/v1/contacts?sort={sort}&limit=1&cursor={}",
                    urlencode(c)
                ),
                None => format!("/api/v1/contacts?sort={sort}&limit=1"),
            };
            let page = app.get_json(&admin, &path).await;
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        seen
    };
    let by_name = vec![
        ann.clone(),
        bea.clone(),
        carl.clone(),
        nameless.clone(),
        nameless_too.clone(),
    ];
    assert_eq!(walk("name").await, by_name);
    let oldest = vec![
        bea.clone(),
        nameless.clone(),
        ann.clone(),
        carl.clone(),
        nameless_too.clone(),
    ];
    assert_eq!(walk("oldest").await, oldest);
    let newest: Vec<String> = oldest.iter().rev().cloned().collect();
    assert_eq!(walk("newest").await, newest);
    // A whole page in one call is the same order.
    let all = app.get_json(&admin, "/api/v1/contacts?sort=name").await;
    assert_eq!(ids(&all), by_name);
    let row = &all["data"][0];
    assert_eq!(row["channels"], json!(["api"]), "{row}");
    assert_eq!(row["conversations_count"], 1, "{row}");
    assert!(row["last_activity_at"].is_string(), "{row}");

    for (path, status, code) in [
        (
            "/api/v1/contacts?sort=city",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "/api/v1/contacts?sort=name&cursor=12",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "/api/v1/contacts?sort=name&cursor=x.1Ann",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "/api/v1/contacts?sort=name&cursor=3.2",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "/api/v1/contacts?sort=oldest&cursor=3.1Ann",
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
    ] {
        let response = app.api(&admin, Method::GET, path, None).await;
        assert_error(response, status, code).await;
    }
}

/// Admins define custom attributes; contacts' values are checked against them (the refusal
/// names the attribute by its label and changes nothing); undefined keys are kept, `null`
/// removes a key; deleting a definition keeps the values.
#[actix_web::test]
async fn custom_attributes_are_defined_by_admins_and_checked_on_contacts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let contact = contact_named(&app, &admin, &inbox, "ann", Some("Ann")).await;
    let defs = "/api/v1/contact-attributes";

    let mut made = Vec::new();
    for body in [
        json!({"key": "plan", "label": "Plan", "kind": "list", "options": ["free", " pro "]}),
        json!({"key": "renewal", "label": "Renewal date", "kind": "date"}),
        json!({"key": "seats", "label": "Seats", "kind": "number"}),
        json!({"key": "crm", "label": "CRM record", "kind": "link"}),
        json!({"key": "vip", "label": "VIP", "kind": "checkbox"}),
    ] {
        made.push(
            call_ok(
                &app,
                &admin,
                Method::POST,
                defs,
                Some(body),
                StatusCode::CREATED,
            )
            .await,
        );
    }
    assert_eq!(
        made[0]["options"],
        json!(["free", "pro"]),
        "choices trimmed"
    );
    assert_eq!(
        last_audit(&app, &admin).await["action"],
        "contact_attribute.create"
    );
    let refused = [
        json!({"key": "Plan2", "label": "x", "kind": "text"}),
        json!({"key": "colour", "label": "Colour", "kind": "colour"}),
        json!({"key": "tier", "label": "Tier", "kind": "list"}),
        json!({"key": "tier", "label": "Tier", "kind": "list", "options": ["a", "a"]}),
        json!({"key": "city", "label": "City", "kind": "text", "options": ["x"]}),
        json!({"key": "city", "label": " ", "kind": "text"}),
    ];
    let invalid = |body: Value| (body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    for (body, status, code) in refused.into_iter().map(invalid).chain([(
        json!({"key": "plan", "label": "Plan again", "kind": "text"}),
        StatusCode::CONFLICT,
        "key_taken",
    )]) {
        let response = app.api(&admin, Method::POST, defs, Some(body)).await;
        assert_error(response, status, code).await;
    }
    let response = app
        .api(
            &ada_token,
            Method::POST,
            defs,
            Some(json!({"key": "x", "label": "X", "kind": "text"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let listed = app.get_json(&ada_token, defs).await;
    let keys: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(keys, ["plan", "renewal", "seats", "crm", "vip"]);

    let plan_id = made[0]["id"].as_str().expect("id").to_owned();
    let seats_id = made[2]["id"].as_str().expect("id").to_owned();
    let relabelled = call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("{defs}/{plan_id}"),
        Some(json!({"label": "Subscription", "options": ["free", "pro", "enterprise"]})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(relabelled["label"], "Subscription");
    assert_eq!(relabelled["kind"], "list");
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("{defs}/{seats_id}"),
            Some(json!({"options": ["1"]})),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("{defs}/999999"),
            Some(json!({"label": "x"})),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;

    // Values on a contact, by an agent of the inbox.
    let path = format!("/api/v1/contacts/{contact}");
    let good = json!({
        "plan": "enterprise", "renewal": "2027-03-01", "seats": 12, "crm": "https://crm.example/a/1",
        "vip": true, "favourite_colour": "green", "gone": null,
    });
    let saved = call_ok(
        &app,
        &ada_token,
        Method::PATCH,
        &path,
        Some(json!({"attributes": good})),
        StatusCode::OK,
    )
    .await;
    let kept = json!({
        "plan": "enterprise", "renewal": "2027-03-01", "seats": 12, "crm": "https://crm.example/a/1",
        "vip": true, "favourite_colour": "green",
    });
    assert_eq!(saved["attributes"], kept);
    for (bad, label) in [
        (json!({"plan": "gold"}), "Subscription"),
        (json!({"renewal": "2027-02-30"}), "Renewal date"),
        (json!({"seats": "twelve"}), "Seats"),
        (json!({"crm": "javascript:alert(1)"}), "CRM record"),
        (json!({"vip": "yes"}), "VIP"),
    ] {
        let response = app
            .api(
                &ada_token,
                Method::PATCH,
                &path,
                Some(json!({"attributes": bad, "name": "Changed"})),
            )
            .await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(label), "{message}");
    }
    let now = app.get_json(&admin, &path).await;
    assert_eq!(
        now["contact"]["attributes"], kept,
        "refused writes change nothing"
    );
    assert_eq!(now["contact"]["name"], "Ann");

    // Deleting a definition keeps the values.
    let response = app
        .api(&admin, Method::DELETE, &format!("{defs}/{plan_id}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .api(&admin, Method::DELETE, &format!("{defs}/{plan_id}"), None)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.get_json(&admin, &path).await["contact"]["attributes"]["plan"],
        "enterprise"
    );
    // With no definition a key takes any value again.
    call_ok(
        &app,
        &ada_token,
        Method::PATCH,
        &path,
        Some(json!({"attributes": {"plan": 3}})),
        StatusCode::OK,
    )
    .await;
}

/// Notes: written by agents who see the contact, deleted by their author or an admin, listed
/// newest first with the author; they move with a merge, which also fills missing attributes.
#[actix_web::test]
async fn contact_notes_are_written_deleted_and_merged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let other = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (bob, bob_token) = agent(&app, &admin, "bob@example.com").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    app.add_member(&admin, &inbox.id, &bob).await;
    let ann = contact_named(&app, &admin, &inbox, "ann", Some("Ann")).await;
    let hidden = contact_named(&app, &admin, &other, "zed", Some("Zed")).await;
    let notes = format!("/api/v1/contacts/{ann}/notes");

    for (body, code) in [
        (json!({"body": "  "}), "invalid_input"),
        (json!({"body": "x".repeat(5_001)}), "invalid_input"),
    ] {
        let response = app.api(&ada_token, Method::POST, &notes, Some(body)).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let first = call_ok(
        &app,
        &ada_token,
        Method::POST,
        &notes,
        Some(json!({"body": " Prefers email.\nCalls on Fridays. "})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["body"], "Prefers email.\nCalls on Fridays.");
    assert_eq!(first["author_id"], ada.as_str());
    assert_eq!(first["author_name"], "Test Agent");
    assert_eq!(
        last_audit(&app, &admin).await["action"],
        "contact.note.create"
    );
    let second = call_ok(
        &app,
        &bob_token,
        Method::POST,
        &notes,
        Some(json!({"body": "Renewal in March"})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(second["author_id"], bob.as_str());
    assert_eq!(
        note_bodies(&app, &admin, &ann).await,
        ["Renewal in March", "Prefers email.\nCalls on Fridays."]
    );

    // Bob cannot delete Ada's note; Ada can; then it is gone.
    let first_path = format!("{notes}/{}", first["id"].as_str().expect("id"));
    let response = app.api(&bob_token, Method::DELETE, &first_path, None).await;
    assert_error(response, StatusCode::FORBIDDEN, "not_author").await;
    let response = app.api(&ada_token, Method::DELETE, &first_path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.api(&ada_token, Method::DELETE, &first_path, None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        last_audit(&app, &admin).await["action"],
        "contact.note.delete"
    );
    // A note id of another contact is not found through this one.
    let hidden_note = call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/contacts/{hidden}/notes"),
        Some(json!({"body": "VIP"})),
        StatusCode::CREATED,
    )
    .await;
    let response = app
        .api(
            &admin,
            Method::DELETE,
            &format!("{notes}/{}", hidden_note["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // Agents outside the contact's inboxes neither write nor see its notes.
    let response = app
        .api(
            &ada_token,
            Method::POST,
            &format!("/api/v1/contacts/{hidden}/notes"),
            Some(json!({"body": "hi"})),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;

    // A merge moves the notes and fills attributes the kept contact lacks.
    call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/contacts/{ann}"),
        Some(json!({"attributes": {"plan": "pro"}})),
        StatusCode::OK,
    )
    .await;
    call_ok(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/contacts/{hidden}"),
        Some(json!({"attributes": {"plan": "free", "city": "Graz"}})),
        StatusCode::OK,
    )
    .await;
    let merged = call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/contacts/{ann}/merge"),
        Some(json!({"contact_id": hidden})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(merged["attributes"], json!({"plan": "pro", "city": "Graz"}));
    assert_eq!(
        note_bodies(&app, &admin, &ann).await,
        ["VIP", "Renewal in March"]
    );
}
