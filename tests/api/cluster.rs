//! Several nodes on one PostgreSQL database and one NATS server (issue #20): what one node
//! stores reaches agents and visitors on the others, a client resumes on any node, and
//! presence and viewers add up across nodes and expire with a node. PostgreSQL only (an
//! SQLite hub is one node); NATS at `SWITCHBOARD_TEST_NATS_URL` (default
//! nats://127.0.0.1:4222, which `.ci/run` starts). Each test has a JetStream stream of its
//! own, deleted afterwards.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AgentSocket, PG_ENV, TestApp, spawn_app_with};
use crate::widget::{VisitorSocket, create_widget};

pub const NATS_ENV: &str = "SWITCHBOARD_TEST_NATS_URL";

pub fn nats_url() -> String {
    std::env::var(NATS_ENV).unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// One hub's cluster settings for a test: its own stream (deleted on drop) and secret key.
pub struct TestCluster {
    pub name: String,
    secret: String,
}

impl TestCluster {
    /// `None` on SQLite: several nodes need PostgreSQL.
    pub fn new() -> Option<Self> {
        std::env::var(PG_ENV).ok()?;
        Some(Self {
            name: format!(
                "sbtest_{}",
                hex::encode(switchboard::auth::random_bytes::<6>())
            ),
            secret: hex::encode(switchboard::auth::random_bytes::<32>()),
        })
    }

    /// The settings every node of this hub starts with.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SWITCHBOARD_CLUSTER_NATS_URL".into(), nats_url()),
            ("SWITCHBOARD_CLUSTER_NAME".into(), self.name.clone()),
            ("SWITCHBOARD_SECRET_KEY".into(), self.secret.clone()),
        ]
    }

    /// The first node (it creates the database).
    pub async fn first_node(&self) -> TestApp {
        let env = self.env();
        spawn_app_with(move |e| e.extend(env)).await
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A plain thread with its own runtime: the test's may be gone or busy.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&name)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Frames of one type, until `count` of them came (10 s each at most).
async fn frames_of(socket: &mut AgentSocket, kind: &str, count: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    while frames.len() < count {
        frames.push(socket.next_of(kind).await);
    }
    frames
}

/// Everything a socket receives until it is quiet for `quiet`.
async fn drain(socket: &mut AgentSocket, quiet: Duration) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(frame) = socket.next_within(quiet).await {
        frames.push(frame);
    }
    frames
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"].as_u64().expect("an event has a seq")
}

#[actix_web::test]
async fn agents_see_what_another_node_stored_and_resume_on_any_node() {
    let Some(cluster) = TestCluster::new() else {
        return;
    };
    let a = cluster.first_node().await;
    let b = a.second_node().await;
    let c = a.second_node().await;
    let admin = a.admin_token().await;
    let inbox = a.create_api_inbox(&admin, None).await;

    let mut on_a = a.websocket(&admin, None).await;
    let on_b = b.websocket(&admin, None).await;
    assert_eq!(on_a.epoch(), on_b.epoch(), "one stream, one epoch");
    on_b.close().await;

    // Webhooks stored by b and c reach the agent on a, in order, each once.
    for (i, node) in [&b, &c, &b].into_iter().enumerate() {
        node.inbound(&inbox, &format!("m-{i}"), "cust-1", &format!("hello {i}"))
            .await;
    }
    let created = frames_of(&mut on_a, "message.created", 3).await;
    let contents: Vec<&str> = created
        .iter()
        .map(|f| f["data"]["message"]["content"].as_str().expect("content"))
        .collect();
    assert_eq!(contents, ["hello 0", "hello 1", "hello 2"]);
    let rest = drain(&mut on_a, Duration::from_millis(700)).await;
    let last = rest.iter().chain(&created).map(seq_of).max().unwrap_or(0);
    let epoch = on_a.epoch();
    on_a.close().await;

    // While the agent is away, messages come through every node; it resumes on c, where
    // the backlog holds exactly what it missed.
    for (i, node) in [&a, &b, &c].into_iter().enumerate() {
        node.inbound(
            &inbox,
            &format!("n-{i}"),
            "cust-2",
            &format!("while away {i}"),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut on_c = c.websocket(&admin, Some((&epoch, last))).await;
    assert_eq!(on_c.hello["data"]["start"], "resumed", "{}", on_c.hello);
    a.inbound(&inbox, "n-3", "cust-2", "after the resume").await;
    let mut after = Vec::new();
    loop {
        let frame = on_c.next().await;
        let done = frame["type"] == "message.created"
            && frame["data"]["message"]["content"] == "after the resume";
        after.push(frame);
        if done {
            break;
        }
    }
    let seqs: Vec<u64> = after.iter().map(seq_of).collect();
    assert!(
        seqs.iter().all(|s| *s > last),
        "nothing before the resume point: {seqs:?}"
    );
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, each once: {seqs:?}"
    );
    let resumed: Vec<&str> = after
        .iter()
        .filter(|f| f["type"] == "message.created")
        .map(|f| f["data"]["message"]["content"].as_str().expect("content"))
        .collect();
    assert_eq!(
        resumed,
        [
            "while away 0",
            "while away 1",
            "while away 2",
            "after the resume"
        ]
    );

    // A point from another stream, or far ahead of it, is told to reload.
    let other = c.websocket(&admin, Some(("elsewhere-1", last))).await;
    assert_eq!(other.hello["data"]["start"], "resync");
    let ahead = c.websocket(&admin, Some((&epoch, last + 10_000_000))).await;
    assert_eq!(ahead.hello["data"]["start"], "resync");
}

#[actix_web::test]
async fn a_visitor_on_one_node_chats_with_an_agent_on_another() {
    let Some(cluster) = TestCluster::new() else {
        return;
    };
    let a = cluster.first_node().await;
    let b = a.second_node().await;
    let widget = create_widget(&a, json!({"allowed_origins": [crate::widget::SITE]})).await;
    // Node b hears of the new widget from a's notice within milliseconds.
    for _ in 0..100 {
        let known = b
            .client
            .post(b.url(&format!("/widget/api/session?key={}", widget.key)))
            .header("Origin", crate::widget::SITE)
            .json(&json!({"token": null}))
            .send()
            .await
            .expect("session");
        if known.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = crate::widget::new_visitor(&b, &widget).await;
    let mut visitor = VisitorSocket::open(&b, &widget.key, &token, None).await;
    let mut agent = a.websocket(&widget.admin, None).await;

    // The visitor writes through b; the agent on a sees it.
    visitor.say("c-cluster-0001", "Hello from node b").await;
    let created = agent.next_of("message.created").await;
    assert_eq!(created["data"]["message"]["content"], "Hello from node b");
    let conversation_id = created["data"]["message"]["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();

    // The agent types and answers through a; the visitor on b sees both.
    let typing = a
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/typing"),
            Some(json!({"on": true})),
        )
        .await;
    assert!(typing.status().is_success(), "{}", typing.status());
    let typed = visitor.next_of("typing").await;
    assert_eq!(typed["on"], true, "{typed}");
    let reply = a
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            Some(json!({"content": "Hi from node a"})),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let pushed = visitor.next_of("message").await;
    assert_eq!(pushed["message"]["content"], "Hi from node a");
    assert_eq!(pushed["message"]["from"], "agent");

    // Resolving on a closes the chat on b's socket.
    let resolved = a
        .api(
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert!(resolved.status().is_success(), "{}", resolved.status());
    let ended = visitor.next_of("conversation").await;
    assert_eq!(ended["resolved"], true, "{ended}");
}

/// The presence events about `agent_id` that a socket receives until it is quiet.
fn statuses_of(frames: &[Value], agent_id: &str) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "presence" && f["data"]["agent_id"] == agent_id)
        .map(|f| f["data"]["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Waits (up to 15 s) for a frame matching `wanted`, keeping what came before it.
async fn until(socket: &mut AgentSocket, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        if let Some(frame) = socket.next_within(Duration::from_millis(500)).await {
            let hit = wanted(&frame);
            seen.push(frame);
            if hit {
                return seen;
            }
        }
    }
    panic!("no matching frame within 15 s; saw {seen:#?}");
}

#[actix_web::test]
async fn presence_and_viewers_add_up_across_nodes_and_go_with_a_node() {
    let Some(cluster) = TestCluster::new() else {
        return;
    };
    let a = cluster.first_node().await;
    let b = a.second_node().await;
    let admin = a.admin_token().await;
    let inbox = a.create_api_inbox(&admin, None).await;
    let stored = a.inbound(&inbox, "m-1", "cust-1", "Hello").await;
    let conversation_id = stored["stored"][0]["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    let (ada, password) = a.create_agent(&admin, "ada@example.com", "agent").await;
    a.add_member(&admin, &inbox.id, &ada).await;
    let ada_token = a.token_for("ada@example.com", &password).await;
    let me = a.get_json(&admin, "/api/v1/me").await;
    let admin_id = me["agent"]["id"].as_str().expect("admin id").to_owned();

    let mut admin_on_a = a.websocket(&admin, None).await;
    // Ada connects to b: the admin on a sees her come online, once.
    let mut ada_on_b = b.websocket(&ada_token, None).await;
    until(&mut admin_on_a, |f| {
        f["type"] == "presence" && f["data"]["agent_id"] == ada && f["data"]["status"] == "online"
    })
    .await;
    // A second socket of hers on a changes nothing.
    let ada_on_a = a.websocket(&ada_token, None).await;
    let quiet = drain(&mut admin_on_a, Duration::from_millis(2_500)).await;
    assert!(statuses_of(&quiet, &ada).is_empty(), "{quiet:#?}");
    // Both nodes agree: the agents' list shows her online wherever it is asked.
    for node in [&a, &b] {
        let agents = node.get_json(&admin, "/api/v1/agents").await;
        let status = agents["data"]
            .as_array()
            .and_then(|list| list.iter().find(|x| x["id"] == ada))
            .map(|x| x["status"].clone());
        assert_eq!(status, Some(json!("online")), "{agents}");
    }

    // Viewers: ada views the conversation on b, the admin on a; each sees both.
    ada_on_b
        .send(&json!({"type": "viewing", "conversation_id": conversation_id}))
        .await;
    until(&mut admin_on_a, |f| {
        f["type"] == "viewers" && f["data"]["agent_ids"] == json!([ada])
    })
    .await;
    admin_on_a
        .send(&json!({"type": "viewing", "conversation_id": conversation_id}))
        .await;
    let mut both: Vec<&str> = vec![&admin_id, &ada];
    both.sort_by_key(|id| id.parse::<i64>().unwrap_or(0));
    until(&mut ada_on_b, |f| {
        f["type"] == "viewers" && f["data"]["agent_ids"] == json!(both)
    })
    .await;

    // Ada's socket on a closes: she is still online through b.
    ada_on_a.close().await;
    let quiet = drain(&mut admin_on_a, Duration::from_millis(2_500)).await;
    assert!(statuses_of(&quiet, &ada).is_empty(), "{quiet:#?}");

    // Node b stops: her presence and her viewing go with it.
    b.handle.stop(true).await;
    b.state.hub.shutdown().await;
    drop(ada_on_b);
    let seen = until(&mut admin_on_a, |f| {
        f["type"] == "presence" && f["data"]["agent_id"] == ada && f["data"]["status"] == "offline"
    })
    .await;
    let mut seen = seen;
    if !seen
        .iter()
        .any(|f| f["type"] == "viewers" && f["data"]["agent_ids"] == json!([admin_id]))
    {
        seen = until(&mut admin_on_a, |f| {
            f["type"] == "viewers" && f["data"]["agent_ids"] == json!([admin_id])
        })
        .await;
    }
    assert!(!seen.is_empty());
    let ids: HashSet<u64> = seen.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(ids.len(), seen.len(), "no event twice");
}
