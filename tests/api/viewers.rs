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
    let mut eve_frames = Vec::new();
    while let Some(frame) = eve_socket
        .next_within(std::time::Duration::from_millis(500))
        .await
    {
        eve_frames.push(frame);
    }
    assert!(
        eve_frames.iter().any(|f| f["type"] == "error"),
        "refused: {eve_frames:?}"
    );
    assert!(
        !eve_frames.iter().any(|f| f["type"] == "viewers"),
        "Eve hears nothing of the conversation: {eve_frames:?}"
    );
    // Names come with the ids, for agents who may not list their colleagues.
    assert!(
        both["data"]["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "Administrator")
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
    // Eve heard nothing of any of it.
    while let Some(frame) = eve_socket
        .next_within(std::time::Duration::from_millis(300))
        .await
    {
        assert_ne!(frame["type"], "viewers", "{frame}");
    }
    // Frames the socket does not know are refused clearly.
    admin_socket.send(&json!({"type": "shout"})).await;
    assert_eq!(admin_socket.next_of("error").await["type"], "error");
}
