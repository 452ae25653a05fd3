//! Three hub processes (the real binary) on one PostgreSQL database and one NATS server,
//! one of them killed with SIGKILL mid-load and started again (issue #20). Webhooks go
//! round-robin to all nodes (a refused one is retried on the next node, as a provider
//! retries); agents and widget visitors are connected to different nodes and reconnect to
//! another node when theirs dies, resuming from the last event they saw. Afterwards: every
//! acknowledged message is stored once, every client received every event once, no reply
//! went out twice, and Telegram polling moved to a live node.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::TestCluster;
use crate::fake_telegram::FakeBotApi;
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, CallbackServer, Polled, TestDatabase, agent_socket, message_event,
};
use crate::widget::VisitorSocket;

/// Webhooks sent during the load.
const MESSAGES: usize = 240;
/// Telegram updates: half before the kill, half after.
const UPDATES: i64 = 20;

/// One hub process.
struct Node {
    port: u16,
    data_dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self, env: &[(String, String)], config_dir: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
            command.env_remove(key);
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("SWITCHBOARD_CONFIG_DIR", config_dir)
            .env("SWITCHBOARD_DATA_DIR", self.data_dir.path())
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{}", self.port))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(command.spawn().expect("start a node"));
    }

    /// SIGKILL: no shutdown, no goodbye to the others.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..300 {
            if let Ok(response) = client.get(format!("{}/ready", self.address())).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "node on port {} not ready within 30 s; log:\n{}",
            self.port,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Polling leases this node holds (from its `/metrics`).
    async fn leases_held(&self, client: &reqwest::Client) -> Option<u64> {
        let text = client
            .get(format!("{}/metrics", self.address()))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("switchboard_leases_held{job=\"poll\"} "))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What one client (agent or visitor) received over all its connections.
#[derive(Default)]
struct Seen {
    frames: Vec<Value>,
    connections: usize,
    resyncs: usize,
}

/// An agent's browser: follows the stream on one node and, when that node dies, resumes
/// on the next one from the last event it saw.
async fn follow_agent(
    nodes: Vec<String>,
    first: usize,
    token: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut node = first;
    let mut resume: Option<(String, u64)> = None;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let mut socket = match tokio::time::timeout(
            Duration::from_secs(5),
            agent_socket(
                &nodes[node],
                &token,
                resume.as_ref().map(|(e, s)| (e.as_str(), *s)),
            ),
        )
        .await
        {
            Ok(socket) => socket,
            Err(_) => {
                node = (node + 1) % nodes.len();
                continue;
            }
        };
        {
            let mut seen = seen.lock().unwrap();
            seen.connections += 1;
            if socket.hello["data"]["start"] == "resync" {
                seen.resyncs += 1;
            }
        }
        let epoch = socket.epoch();
        if resume.is_none() {
            let seq = socket.hello["data"]["seq"].as_u64().unwrap_or(0);
            resume = Some((epoch.clone(), seq));
        }
        loop {
            match socket.poll(Duration::from_millis(300)).await {
                Polled::Frame(frame) => {
                    if let Some(seq) = frame["seq"].as_u64() {
                        resume = Some((epoch.clone(), seq));
                        seen.lock().unwrap().frames.push(frame);
                    }
                }
                Polled::Quiet => {
                    if stop.load(std::sync::atomic::Ordering::Acquire) {
                        return;
                    }
                    socket.send(&json!({"type": "ping"})).await;
                }
                Polled::Closed => break,
            }
        }
        node = (node + 1) % nodes.len();
    }
}

/// A visitor's browser: the same, resuming from the last message seq it saw.
async fn follow_visitor(
    nodes: Vec<String>,
    first: usize,
    key: String,
    token: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut node = first;
    let mut last_seq: Option<i64> = None;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let opened = tokio::time::timeout(
            Duration::from_secs(5),
            VisitorSocket::open_at(&nodes[node], &key, &token, last_seq),
        )
        .await;
        let Ok(mut socket) = opened else {
            node = (node + 1) % nodes.len();
            continue;
        };
        seen.lock().unwrap().connections += 1;
        loop {
            match socket.poll(Duration::from_millis(300)).await {
                Polled::Frame(frame) => {
                    if frame["type"] == "message" {
                        if let Some(seq) = frame["message"]["seq"].as_i64() {
                            last_seq = Some(last_seq.map_or(seq, |s| s.max(seq)));
                        }
                        seen.lock().unwrap().frames.push(frame);
                    }
                }
                Polled::Quiet => {
                    if stop.load(std::sync::atomic::Ordering::Acquire) {
                        return;
                    }
                }
                Polled::Closed => break,
            }
        }
        node = (node + 1) % nodes.len();
    }
}

/// Posts a signed webhook to one node after another until one acknowledges it.
async fn deliver(
    client: &reqwest::Client,
    nodes: &[String],
    start: usize,
    path: &str,
    secret: &str,
    body: &Value,
) -> Value {
    let raw = serde_json::to_vec(body).expect("json");
    let signature = switchboard_api_channel::sign(secret.as_bytes(), &raw);
    for attempt in 0..30 {
        let node = &nodes[(start + attempt) % nodes.len()];
        let sent = client
            .post(format!("{node}{path}"))
            .header("Content-Type", "application/json")
            .header(switchboard_api_channel::SIGNATURE_HEADER, &signature)
            .body(raw.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(response) = sent
            && response.status() == StatusCode::OK
        {
            return response.json().await.expect("webhook answer");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node acknowledged {body}");
}

/// An agent's reply through one node after another (the same Idempotency-Key each time).
async fn reply(
    client: &reqwest::Client,
    nodes: &[String],
    start: usize,
    token: &str,
    conversation_id: &str,
    content: &str,
) -> String {
    for attempt in 0..30 {
        let node = &nodes[(start + attempt) % nodes.len()];
        let sent = client
            .post(format!(
                "{node}/api/v1/conversations/{conversation_id}/messages"
            ))
            .bearer_auth(token)
            .header("Idempotency-Key", content)
            .json(&json!({"content": content}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(response) = sent
            && response.status().is_success()
        {
            let body: Value = response.json().await.expect("reply body");
            return body["id"].as_str().expect("reply id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node took the reply {content}");
}

/// Agents' replies to the API conversations and the visitors' conversations.
struct Round<'a> {
    client: &'a reqwest::Client,
    nodes: &'a [String],
    token: &'a str,
    api: &'a [String],
    visitors: &'a [String],
}

impl Round<'_> {
    /// One reply to each conversation, spread over the nodes from `offset`; answers the API
    /// replies' ids (the ones the callback server receives).
    async fn reply_to_all(&self, phase: &str, offset: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for (n, conversation) in self.api.iter().enumerate() {
            let content = format!("{phase} {n}");
            ids.push(
                reply(
                    self.client,
                    self.nodes,
                    n + offset,
                    self.token,
                    conversation,
                    &content,
                )
                .await,
            );
        }
        for (n, conversation) in self.visitors.iter().enumerate() {
            let content = format!("visitor {phase} {n}");
            reply(
                self.client,
                self.nodes,
                n + offset,
                self.token,
                conversation,
                &content,
            )
            .await;
        }
        ids
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

async fn column(url: &str, sql: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url).await.expect("database");
    diesel_async::RunQueryDsl::load::<Row>(diesel::sql_query(sql), &mut conn)
        .await
        .expect("query")
        .into_iter()
        .map(|r| r.value)
        .collect()
}

async fn create_inbox(client: &reqwest::Client, node: &str, token: &str, body: Value) -> Value {
    let response = client
        .post(format!("{node}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create inbox");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("inbox")
}

fn path_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("webhook URL");
    parsed.path().to_owned()
}

#[actix_web::test]
async fn three_nodes_lose_nothing_when_one_is_killed_mid_load() {
    let Some(cluster) = TestCluster::new() else {
        return;
    };
    let db = TestDatabase::create().await;
    let config_dir = tempfile::tempdir().expect("config dir");
    std::fs::write(config_dir.path().join("local.toml"), "# test\n").expect("local.toml");
    let logs = tempfile::tempdir().expect("log dir");
    let mut env = cluster.env();
    env.extend(
        [
            ("SWITCHBOARD_DATABASE_URL", db.url.as_str()),
            ("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "6"),
            ("SWITCHBOARD_WORKERS", "1"),
            ("SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS", "1"),
            ("SWITCHBOARD_LOG_LEVEL", "warn"),
            ("SWITCHBOARD_ADMIN_EMAIL", ADMIN_EMAIL),
            ("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("SWITCHBOARD_ATTACHMENTS_MIN_FREE_DISK_MB", "0"),
            ("SWITCHBOARD_OUTBOUND_RETRY_BASE_MS", "50"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node {
            port: free_port(),
            data_dir: tempfile::tempdir().expect("data dir"),
            log: logs.path().join(format!("node{i}.log")),
            child: None,
        })
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    // The first creates the database's first admin; the others join it.
    nodes[0].start(&env, config_dir.path());
    nodes[0].wait_ready(&client).await;
    for node in &mut nodes[1..] {
        node.start(&env, config_dir.path());
    }
    for node in &nodes[1..] {
        node.wait_ready(&client).await;
    }
    let addresses: Vec<String> = nodes.iter().map(Node::address).collect();

    // An admin's token (the CLI on the same database).
    let token_out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("SWITCHBOARD_CONFIG_DIR", config_dir.path())
        .env("SWITCHBOARD_DATA_DIR", nodes[0].data_dir.path())
        .args([
            "token",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "harness",
        ])
        .output()
        .expect("token create");
    assert!(token_out.status.success(), "{token_out:?}");
    let token = String::from_utf8_lossy(&token_out.stdout).trim().to_owned();
    // A second agent, Ada, who will be connected to the killed node only.
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("SWITCHBOARD_CONFIG_DIR", config_dir.path())
            .env("SWITCHBOARD_DATA_DIR", nodes[0].data_dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("switchboard CLI");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    cli(&[
        "admin",
        "create",
        "--email",
        "ada@example.com",
        "--name",
        "Ada",
    ]);
    let ada_token = cli(&[
        "token",
        "create",
        "--email",
        "ada@example.com",
        "--name",
        "harness",
    ]);
    let ada_id = client
        .get(format!("{}/api/v1/me", addresses[0]))
        .bearer_auth(&ada_token)
        .send()
        .await
        .expect("me")
        .json::<Value>()
        .await
        .expect("me JSON")["agent"]["id"]
        .as_str()
        .expect("Ada's id")
        .to_owned();

    // An API inbox whose replies go to a callback server, a polling Telegram bot, a widget.
    let callback = CallbackServer::start().await;
    let api = create_inbox(
        &client,
        &addresses[0],
        &token,
        json!({"name": "API", "channel_type": "api", "settings": {"callback_url": callback.url}}),
    )
    .await;
    let api_id = api["id"].as_str().expect("id").to_owned();
    let api_secret = api["secret"].as_str().expect("secret").to_owned();
    callback.expect_secret(&api_secret);
    let api_path = path_of(api["webhook_url"].as_str().expect("webhook url"));
    let fake = FakeBotApi::start(crate::telegram::TOKEN).await;
    let bot = create_inbox(
        &client,
        &addresses[1],
        &token,
        json!({"name": "Telegram", "channel_type": "telegram",
               "settings": {"mode": "polling", "bot_token": fake.token, "api_url": fake.url}}),
    )
    .await;
    let bot_id = bot["id"].as_str().expect("id").to_owned();
    let widget = create_inbox(
        &client,
        &addresses[2],
        &token,
        json!({"name": "Website", "channel_type": "widget",
               "settings": {"allowed_origins": [crate::widget::SITE]}}),
    )
    .await;
    let widget_key = widget["settings"]["public_key"]
        .as_str()
        .expect("key")
        .to_owned();

    // The node that polls the bot is the one to kill.
    fake.push_update(crate::telegram::text_update(1, 1, "update 1"));
    let mut victim = None;
    for _ in 0..100 {
        for (i, node) in nodes.iter().enumerate() {
            if node.leases_held(&client).await == Some(1) {
                victim = Some(i);
            }
        }
        if victim.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim = victim.expect("a node took the polling lease");

    // Agents on every node, and two visitors: one on the victim, one elsewhere.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut agents = Vec::new();
    for first in 0..3 {
        let seen = Arc::new(Mutex::new(Seen::default()));
        actix_web::rt::spawn(follow_agent(
            addresses.clone(),
            first,
            token.clone(),
            seen.clone(),
            stop.clone(),
        ));
        agents.push(seen);
    }
    let mut visitors = Vec::new();
    for first in [victim, (victim + 1) % 3] {
        // A node hears of the new widget from the creating node's notice within
        // milliseconds; until then it answers 404.
        let mut session = None;
        for _ in 0..100 {
            let answer = client
                .post(format!(
                    "{}/widget/api/session?key={widget_key}",
                    addresses[first]
                ))
                .header("Origin", crate::widget::SITE)
                .json(&json!({"token": null}))
                .send()
                .await
                .expect("visitor session");
            if answer.status() == StatusCode::OK {
                session = Some(answer);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let session = session.expect("every node knows the widget");
        let body: Value = session.json().await.expect("session");
        let visitor_token = body["token"].as_str().expect("token").to_owned();
        // The visitor opens the conversation with a first message.
        let mut socket =
            VisitorSocket::open_at(&addresses[first], &widget_key, &visitor_token, None).await;
        let hello = format!("Hello from the visitor on node {first}");
        socket.say(&format!("c-visitor-{first}-01"), &hello).await;
        drop(socket);
        let conversation_id = column(
            &db.url,
            &format!(
                "SELECT conversation_id::text AS value FROM messages WHERE content = '{hello}'"
            ),
        )
        .await
        .pop()
        .expect("the visitor's conversation");
        let seen = Arc::new(Mutex::new(Seen::default()));
        actix_web::rt::spawn(follow_visitor(
            addresses.clone(),
            first,
            widget_key.clone(),
            visitor_token,
            seen.clone(),
            stop.clone(),
        ));
        visitors.push((conversation_id, seen));
    }
    let ada_socket = agent_socket(&addresses[victim], &ada_token, None).await;
    let ada_last = |seen: &Seen| {
        seen.frames
            .iter()
            .filter(|f| f["type"] == "presence" && f["data"]["agent_id"] == ada_id)
            .filter_map(|f| f["data"]["status"].as_str().map(str::to_owned))
            .next_back()
    };
    // Every agent client sees Ada come online (through the keeper, whichever node it is).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !agents
        .iter()
        .all(|seen| ada_last(&seen.lock().unwrap()).as_deref() == Some("online"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Ada's presence did not reach every node within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every client follows from here: what is stored from now on must reach each once.
    let baseline: i64 = column(
        &db.url,
        "SELECT coalesce(max(id), 0)::text AS value FROM messages",
    )
    .await
    .pop()
    .and_then(|v| v.parse().ok())
    .unwrap_or(0);

    // The load: webhooks round-robin from 6 senders, Telegram updates, replies.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for sender in 0..6 {
        let (client, addresses, api_path, api_secret, sent) = (
            client.clone(),
            addresses.clone(),
            api_path.clone(),
            api_secret.clone(),
            sent.clone(),
        );
        senders.push(actix_web::rt::spawn(async move {
            let mut i = sender;
            while i < MESSAGES {
                let body = message_event(
                    &format!("k-{i}"),
                    &format!("cust-{}", i % 12),
                    &format!("load {i}"),
                );
                deliver(&client, &addresses, i, &api_path, &api_secret, &body).await;
                sent.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                i += 6;
            }
        }));
    }
    for update in 2..=UPDATES / 2 {
        fake.push_update(crate::telegram::text_update(
            update,
            update,
            &format!("update {update}"),
        ));
    }
    // Replies before the kill: to the visitors and to API conversations.
    let mut replies = Vec::new();
    while sent.load(std::sync::atomic::Ordering::Acquire) < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let api_conversations = column(
        &db.url,
        &format!(
            "SELECT id::text AS value FROM conversations WHERE inbox_id = {api_id} ORDER BY id LIMIT 4"
        ),
    )
    .await;
    let visitor_conversations: Vec<String> = visitors.iter().map(|(c, _)| c.clone()).collect();
    let round = Round {
        client: &client,
        nodes: &addresses,
        token: &token,
        api: &api_conversations,
        visitors: &visitor_conversations,
    };
    replies.extend(round.reply_to_all("before", 0).await);
    // Delivered before the kill, so none is in flight when the node dies.
    callback.wait_for(replies.len()).await;

    while sent.load(std::sync::atomic::Ordering::Acquire) < MESSAGES / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[victim].kill();
    for update in UPDATES / 2 + 1..=UPDATES {
        fake.push_update(crate::telegram::text_update(
            update,
            update,
            &format!("update {update}"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    nodes[victim].start(&env, config_dir.path());
    nodes[victim].wait_ready(&client).await;
    for sender in senders {
        sender.await.expect("sender");
    }
    replies.extend(round.reply_to_all("after", 1).await);

    // Everything stored once.
    let stored = |inbox: &str| {
        format!(
            "SELECT external_id AS value FROM messages WHERE inbox_id = {inbox} \
             AND direction = 'inbound' AND external_id IS NOT NULL"
        )
    };
    let mut api_ids = Vec::new();
    let mut bot_ids = Vec::new();
    for _ in 0..300 {
        api_ids = column(&db.url, &stored(&api_id)).await;
        bot_ids = column(&db.url, &stored(&bot_id)).await;
        if api_ids.len() >= MESSAGES && bot_ids.len() >= UPDATES as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let api_unique: HashSet<&String> = api_ids.iter().collect();
    assert_eq!(
        api_ids.len(),
        MESSAGES,
        "each acknowledged webhook stored once"
    );
    assert_eq!(api_unique.len(), MESSAGES);
    let bot_unique: HashSet<&String> = bot_ids.iter().collect();
    assert_eq!(
        (bot_ids.len(), bot_unique.len()),
        (UPDATES as usize, UPDATES as usize),
        "every Telegram update stored once, those after the kill by a live node"
    );
    assert_eq!(
        fake.most_polls_at_once(),
        1,
        "never two nodes polling at once"
    );

    // Every reply sent once.
    let delivered = callback.wait_for(replies.len()).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let delivered: Vec<String> = callback
        .requests()
        .iter()
        .chain(delivered.iter().take(0))
        .filter_map(|r| r.body["message"]["id"].as_str().map(str::to_owned))
        .collect();
    let mut sent_replies = delivered.clone();
    sent_replies.sort();
    let mut expected = replies.clone();
    expected.sort();
    assert_eq!(sent_replies, expected, "each reply sent exactly once");

    // Every client got every event once: all messages of the hub, in order, no duplicate.
    let all_messages: HashSet<String> = column(
        &db.url,
        &format!("SELECT id::text AS value FROM messages WHERE id > {baseline}"),
    )
    .await
    .into_iter()
    .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ada_gone = agents
            .iter()
            .all(|seen| ada_last(&seen.lock().unwrap()).as_deref() == Some("offline"));
        let complete = ada_gone
            && agents.iter().all(|seen| {
                let seen = seen.lock().unwrap();
                let got: HashSet<&str> = seen
                    .frames
                    .iter()
                    .filter(|f| f["type"] == "message.created")
                    .filter_map(|f| f["data"]["message"]["id"].as_str())
                    .collect();
                all_messages.iter().all(|id| got.contains(id.as_str()))
            });
        if complete || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (n, seen) in agents.iter().enumerate() {
        let seen = {
            let seen = seen.lock().unwrap();
            Seen {
                frames: seen.frames.clone(),
                connections: seen.connections,
                resyncs: seen.resyncs,
            }
        };
        assert_eq!(seen.resyncs, 0, "agent {n} resumed without reloading");
        let seqs: Vec<u64> = seen
            .frames
            .iter()
            .filter_map(|f| f["seq"].as_u64())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "agent {n}: events in order, none twice: {seqs:?}"
        );
        let mut created: HashMap<&str, usize> = HashMap::new();
        for frame in seen
            .frames
            .iter()
            .filter(|f| f["type"] == "message.created")
        {
            if let Some(id) = frame["data"]["message"]["id"].as_str() {
                *created.entry(id).or_default() += 1;
            }
        }
        let missing: Vec<&String> = all_messages
            .iter()
            .filter(|id| !created.contains_key(id.as_str()))
            .collect();
        if !missing.is_empty() {
            let ids: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            let rows = column(
                &db.url,
                &format!(
                    "SELECT concat_ws(' ', id, inbox_id, direction, sender_type, content_type, \
                     external_id, content, created_at) AS value FROM messages WHERE id IN ({})",
                    ids.join(",")
                ),
            )
            .await;
            panic!(
                "agent {n} (victim {victim}) missed messages {rows:#?}; logs: {}",
                (0..3)
                    .map(
                        |i| std::fs::read_to_string(logs.path().join(format!("node{i}.log")))
                            .unwrap_or_default()
                    )
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            );
        }
        assert!(
            created.values().all(|c| *c == 1),
            "agent {n} got a message twice"
        );
        if n == victim {
            assert!(
                seen.connections >= 2,
                "the victim's agent moved to another node"
            );
        }
        // Ada was online through the killed node only: she went offline with it.
        assert_eq!(
            ada_last(&seen).as_deref(),
            Some("offline"),
            "agent {n} on Ada"
        );
    }
    for (n, (conversation, seen)) in visitors.iter().enumerate() {
        let seen = {
            let seen = seen.lock().unwrap();
            Seen {
                frames: seen.frames.clone(),
                connections: seen.connections,
                resyncs: seen.resyncs,
            }
        };
        // A message comes once as it is stored, then again for each status change (`sent`).
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut states = HashSet::new();
        for frame in &seen.frames {
            if let Some(id) = frame["message"]["id"].as_str() {
                assert!(
                    states.insert((id, frame["message"]["status"].to_string())),
                    "visitor {n} got {id} twice in one state: {:#?}",
                    seen.frames
                );
                if frame["message"]["status"].is_null() {
                    *by_id.entry(id).or_default() += 1;
                }
            }
        }
        let theirs: HashSet<String> = column(
            &db.url,
            &format!(
                "SELECT id::text AS value FROM messages WHERE conversation_id = {conversation} \
                 AND direction = 'outbound' AND NOT private"
            ),
        )
        .await
        .into_iter()
        .collect();
        assert_eq!(theirs.len(), 2, "two replies to visitor {n}");
        for id in &theirs {
            assert_eq!(
                by_id.get(id.as_str()),
                Some(&1),
                "visitor {n} got reply {id} once ({} connections): {:#?}",
                seen.connections,
                seen.frames
            );
        }
    }
    drop(ada_socket);
    // Polling is held by exactly one live node.
    let mut held = 0;
    for node in &nodes {
        held += node.leases_held(&client).await.unwrap_or(0);
    }
    assert_eq!(held, 1, "one node polls");
}
