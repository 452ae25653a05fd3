//! Who sees which conversations: agents only those of their inboxes, admins all.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::conversation_helpers::{agent, conversation_path, ids, listed, post_message, sorted};
use crate::helpers::{assert_error, message_event, spawn_app};

#[actix_web::test]
async fn agents_see_only_their_inboxes_and_admins_see_everything() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mine = app.create_api_inbox(&admin, None).await;
    let theirs = app.create_api_inbox(&admin, None).await;
    let (ada, ada_token) = agent(&app, &admin, "ada@example.com").await;
    let (_, outsider) = agent(&app, &admin, "out@example.com").await;
    app.add_member(&admin, &mine.id, &ada).await;

    let visible = post_message(&app, &mine, &message_event("m-1", "cust-1", "hello")).await;
    let invisible = post_message(&app, &theirs, &message_event("t-1", "cust-2", "psst")).await;
    let contact_of = |id: &str| {
        let path = conversation_path(id);
        let app = &app;
        let admin = &admin;
        async move {
            app.get_json(admin, &path).await["contact_id"]
                .as_str()
                .expect("contact id")
                .to_owned()
        }
    };
    let visible_contact = contact_of(&visible).await;
    let invisible_contact = contact_of(&invisible).await;

    // Admins see all.
    assert_eq!(
        listed(&app, &admin, "").await,
        sorted(vec![visible.clone(), invisible.clone()])
    );
    // A member sees the inbox she belongs to, and nothing else.
    assert_eq!(listed(&app, &ada_token, "").await, vec![visible.clone()]);
    assert_eq!(
        listed(&app, &ada_token, &format!("inbox_id={}", theirs.id)).await,
        Vec::<String>::new(),
        "filtering by another inbox does not open it"
    );
    // An agent in no inbox sees nothing.
    assert_eq!(listed(&app, &outsider, "").await, Vec::<String>::new());
    let contacts = app.get_json(&outsider, "/api/v1/contacts").await;
    assert_eq!(ids(&contacts), Vec::<String>::new());

    for (token, conversation, contact) in [
        (&outsider, &visible, &visible_contact),
        (&ada_token, &invisible, &invisible_contact),
    ] {
        let path = conversation_path(conversation);
        for sub in ["", "/messages"] {
            let response = app
                .api(token, Method::GET, &format!("{path}{sub}"), None)
                .await;
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        for (action, body) in [
            ("assign", json!({"assignee_id": "me"})),
            ("status", json!({"status": "resolved"})),
            ("priority", json!({"priority": "high"})),
            ("read", json!({})),
            ("typing", json!({"on": true})),
        ] {
            let response = app
                .api(token, Method::POST, &format!("{path}/{action}"), Some(body))
                .await;
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        let response = app
            .api(
                token,
                Method::PUT,
                &format!("{path}/labels"),
                Some(json!({"labels": ["x"]})),
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app
            .api(
                token,
                Method::GET,
                &format!("/api/v1/contacts/{contact}"),
                None,
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let shown = app.get_json(&ada_token, &conversation_path(&visible)).await;
    assert_eq!(shown["id"], visible.as_str());
    let messages = app
        .get_json(
            &ada_token,
            &format!("{}/messages", conversation_path(&visible)),
        )
        .await;
    assert_eq!(messages["data"][0]["content"], "hello");
    app.get_json(&admin, &conversation_path(&invisible)).await;
    app.get_json(&admin, &format!("/api/v1/contacts/{invisible_contact}"))
        .await;

    // Inboxes: an agent lists and reads only hers.
    assert_eq!(
        ids(&app.get_json(&ada_token, "/api/v1/inboxes").await),
        vec![mine.id.clone()]
    );
    assert_eq!(
        ids(&app.get_json(&outsider, "/api/v1/inboxes").await),
        Vec::<String>::new()
    );
    let response = app
        .api(
            &ada_token,
            Method::GET,
            &format!("/api/v1/inboxes/{}", theirs.id),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        sorted(ids(&app.get_json(&admin, "/api/v1/inboxes").await)),
        sorted(vec![mine.id.clone(), theirs.id.clone()])
    );
}
