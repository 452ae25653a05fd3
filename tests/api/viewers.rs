//! Collision detection: agents see who else has a conversation open.

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn agents_see_who_else_views_a_conversation_and_outsiders_learn_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let stored = app.inbound(&inbox, "m-1", "cust-1", "Hello").await;
    let conversation_id = stored["stored"][0]["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    let (ada, ada_password) = app.create_agent(&admin, "ada@example.com", "agent").await;
    app.add_member(&admin, &inbox.id, &ada).await;
    let ada_token = app.token_for("ada@example.com", &ada_password).await;
    let (_, eve_password) = app.create_agent(&admin, "eve@example.com", "agent").await;
    let eve_token = app.token_for("eve@example.com", &eve_password).await;
    let me = app.get_json(&admin, "/api/v1/me").await;
    let admin_id = me["agent"]["id"].as_str().expect("admin id").to_owned();

    let mut admin_socket = app.websocket(&admin, None).await;
    let mut ada_socket = app.websocket(&ada_token, None).await;
    let mut eve_socket = app.websocket(&eve_token, None).await;

    ada_socket
        .send(&json!({"type": "viewing", "conversation_id": conversation_id}))
        .await;
    let seen = admin_socket.next_of("viewers").await;
    assert_eq!(seen["data"]["conversation_id"], conversation_id);
    assert_eq!(seen["data"]["agent_ids"], json!([ada]));

    admin_socket
        .send(&json!({"type": "viewing", "conversation_id": conversation_id}))
        .await;
    // Ada first hears of her own viewing, then of both.
    let mut both = ada_socket.next_of("viewers").await;
    while both["data"]["agent_ids"].as_array().map_or(0, Vec::len) < 2 {
        both = ada_socket.next_of("viewers").await;
    }
    let mut ids: Vec<String> = both["data"]["agent_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    let mut expected = vec![admin_id.clone(), ada.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // Eve is no member of the inbox: she may not view it, and hears nothing of it.
    eve_socket
        .send(&json!({"type": "viewing", "conversation_id": conversation_id}))
        .await;
    let refused = eve_socket.next_of("error").await;
    assert!(
        refused["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no conversation"))
    );
    let nothing = eve_socket
        .next_within(std::time::Duration::from_millis(300))
        .await;
    assert!(
        nothing.as_ref().is_none_or(|f| f["type"] != "viewers"),
        "{nothing:?}"
    );

    // Ada leaves (closes the socket): the admin sees only himself.
    ada_socket.close().await;
    let mut left = admin_socket.next_of("viewers").await;
    while left["data"]["agent_ids"].as_array().map_or(0, Vec::len) != 1 {
        left = admin_socket.next_of("viewers").await;
    }
    assert_eq!(left["data"]["agent_ids"], json!([admin_id]));
    // Looking away (null) clears it.
    admin_socket
        .send(&json!({"type": "viewing", "conversation_id": null}))
        .await;
    let cleared = admin_socket.next_of("viewers").await;
    assert_eq!(cleared["data"]["agent_ids"], json!([]));
    // Frames the socket does not know are refused clearly.
    admin_socket.send(&json!({"type": "shout"})).await;
    assert_eq!(admin_socket.next_of("error").await["type"], "error");
}
