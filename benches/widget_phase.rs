//! Phase w of the hub benchmark (issue #5): web chat widget sockets.
//!
//! 1. Idle capacity: opens `--widget-sockets` visitor websockets (each its own visitor, after
//!    `hello`/`ready`), lets them sit idle, and reports the hub's RSS growth per socket.
//! 2. Round trip: a visitor sends a message, an "agent" (this process, on the agents'
//!    websocket) answers through the REST API as soon as `message.created` arrives, and the
//!    visitor's socket receives the reply: visitor → agent → visitor, one at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The page origin the benchmark's widget allows.
const ORIGIN: &str = "http://bench.example";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What phase w measured.
pub struct WidgetResult {
    pub sockets_wanted: usize,
    pub sockets_open: usize,
    pub open_secs: f64,
    pub rss_before_kb: u64,
    pub rss_idle_kb: u64,
    pub still_open_after_idle: usize,
    pub round_trips: Vec<Duration>,
    pub round_trip_errors: usize,
}

impl WidgetResult {
    pub fn per_socket_kb(&self) -> f64 {
        if self.sockets_open == 0 {
            return 0.0;
        }
        self.rss_idle_kb.saturating_sub(self.rss_before_kb) as f64 / self.sockets_open as f64
    }
}

/// Raises the open-file limit of a process (root may; otherwise the limit stays).
pub fn raise_nofile(pid: u32, limit: u64) {
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("note: could not raise the open-file limit of pid {pid} to {limit}");
    }
}

async fn json_of(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{what}: HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))
}

async fn visitor_token(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> Result<String, String> {
    // Each visitor comes from its own address, as on the web, so the per-address session
    // limit applies as it would there.
    let response = client
        .post(format!("{base}/widget/api/session?key={key}"))
        .header("Origin", ORIGIN)
        .header("X-Forwarded-For", address(n))
        .json(&json!({"token": null}))
        .send()
        .await
        .map_err(|e| format!("session: {e}"))?;
    Ok(json_of(response, "session").await?["token"]
        .as_str()
        .ok_or("session answer without token")?
        .to_owned())
}

/// A made-up client address for visitor `n` (the hub trusts X-Forwarded-For in this run).
fn address(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

async fn open_visitor(base: &str, key: &str, token: &str, n: usize) -> Result<Socket, String> {
    let url = format!("{}/widget/ws?key={key}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Origin", ORIGIN.parse().map_err(|_| "origin header")?);
    request.headers_mut().insert(
        "X-Forwarded-For",
        address(n).parse().map_err(|_| "address header")?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("visitor socket: {e}"))?;
    socket
        .send(Message::Text(
            json!({"type": "hello", "token": token, "last_seq": null})
                .to_string()
                .into(),
        ))
        .await
        .map_err(|e| format!("hello: {e}"))?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .map_err(|_| "no ready frame within 30 s")?;
        match frame {
            Some(Ok(Message::Text(text))) if text.contains("\"type\":\"ready\"") => {
                return Ok(socket);
            }
            Some(Ok(_)) => {}
            other => return Err(format!("expected ready, got {other:?}")),
        }
    }
}

/// Runs phase w against a hub whose admin token is `token`.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    sockets_wanted: usize,
    round_trips: usize,
    server_rss_kb: impl Fn() -> u64,
) -> Result<WidgetResult, String> {
    let inbox = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&json!({"name": "Bench widget", "channel_type": "widget",
                      "settings": {"allowed_origins": [ORIGIN]}}))
        .send()
        .await
        .map_err(|e| format!("create widget: {e}"))?;
    let inbox = json_of(inbox, "create widget").await?;
    let key = inbox["settings"]["public_key"]
        .as_str()
        .ok_or("widget without public key")?
        .to_owned();

    // Settle, then the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before_kb = server_rss_kb();
    let started = Instant::now();
    let mut sockets: Vec<Socket> = Vec::with_capacity(sockets_wanted);
    let mut opening = futures_util::stream::iter(0..sockets_wanted)
        .map(|n| {
            let key = key.clone();
            async move {
                let token = visitor_token(client, base, &key, n).await?;
                open_visitor(base, &key, &token, n).await
            }
        })
        .buffer_unordered(128);
    let mut failures = 0usize;
    let mut first_error = None;
    while let Some(opened) = opening.next().await {
        match opened {
            Ok(socket) => sockets.push(socket),
            Err(error) => {
                failures += 1;
                first_error.get_or_insert(error);
            }
        }
        if (sockets.len() + failures).is_multiple_of(5_000) {
            println!("   {} sockets open ...", sockets.len());
        }
    }
    drop(opening);
    let open_secs = started.elapsed().as_secs_f64();
    if let Some(error) = first_error {
        eprintln!("   {failures} sockets failed to open; first error: {error}");
    }
    // Idle: nothing is sent; the hub pings every 30 s and the client answers.
    println!("   {} sockets open; idle for 35 s ...", sockets.len());
    let idle_until = Instant::now() + Duration::from_secs(35);
    let sockets = Arc::new(Mutex::new(sockets));
    let keepalive = {
        let sockets = sockets.clone();
        tokio::spawn(async move {
            while Instant::now() < idle_until {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let mut sockets = sockets.lock().await;
            // Read what arrived (pings, presence), which answers the pings.
            let mut open = 0;
            for socket in sockets.iter_mut() {
                let mut alive = true;
                while let Ok(Some(frame)) =
                    tokio::time::timeout(Duration::from_millis(0), socket.next()).await
                {
                    if !matches!(
                        frame,
                        Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))
                    ) {
                        alive = false;
                        break;
                    }
                }
                if alive {
                    open += 1;
                }
            }
            open
        })
    };
    let still_open_after_idle = keepalive.await.map_err(|e| e.to_string())?;
    let rss_idle_kb = server_rss_kb();
    let sockets_open = sockets.lock().await.len();

    // Round trips with a responding agent.
    let (trips, errors) = round_trip(client, base, token, &key, round_trips).await?;
    drop(sockets);
    Ok(WidgetResult {
        sockets_wanted,
        sockets_open,
        open_secs,
        rss_before_kb,
        rss_idle_kb,
        still_open_after_idle,
        round_trips: trips,
        round_trip_errors: errors,
    })
}

/// visitor → agent → visitor, `n` times in a row on one visitor socket.
async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    n: usize,
) -> Result<(Vec<Duration>, usize), String> {
    // The agent: answers every "RT <i>" message as soon as it sees it.
    let url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "token header")?,
    );
    let (mut agent, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("agent socket: {e}"))?;
    let responder = {
        let client = client.clone();
        let base = base.to_owned();
        let token = token.to_owned();
        tokio::spawn(async move {
            let mut answered: HashMap<String, ()> = HashMap::new();
            while let Some(Ok(frame)) = agent.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(event) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let message = &event["data"]["message"];
                let content = message["content"].as_str().unwrap_or_default();
                if event["type"] != "message.created"
                    || message["direction"] != "inbound"
                    || !content.starts_with("RT ")
                {
                    continue;
                }
                let Some(conversation) = message["conversation_id"].as_str() else {
                    continue;
                };
                if answered.insert(content.to_owned(), ()).is_some() {
                    continue;
                }
                let _ = client
                    .post(format!(
                        "{base}/api/v1/conversations/{conversation}/messages"
                    ))
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("re: {content}")}))
                    .send()
                    .await;
            }
        })
    };
    let mut trips = Vec::with_capacity(n);
    let mut errors = 0;
    let mut socket: Option<Socket> = None;
    for i in 0..n {
        // A visitor may send 10 messages in a burst: a new visitor every 8 round trips.
        if i.is_multiple_of(8) {
            let who = (1 << 23) + i / 8;
            let visitor = visitor_token(client, base, key, who).await?;
            socket = Some(open_visitor(base, key, &visitor, who).await?);
        }
        let Some(socket) = socket.as_mut() else {
            break;
        };
        let content = format!("RT {i}");
        let sent = Instant::now();
        socket
            .send(Message::Text(
                json!({"type": "message", "client_id": format!("rt-{i:08}"), "content": content})
                    .to_string()
                    .into(),
            ))
            .await
            .map_err(|e| format!("send: {e}"))?;
        let wanted = format!("re: {content}");
        let deadline = sent + Duration::from_secs(10);
        let mut got = false;
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout_at(deadline.into(), socket.next()).await
        {
            if let Message::Text(text) = frame
                && text.contains("\"type\":\"message\"")
                && text.contains(&format!("\"content\":\"{wanted}\""))
            {
                got = true;
                break;
            }
        }
        if got {
            trips.push(sent.elapsed());
        } else {
            errors += 1;
        }
    }
    responder.abort();
    Ok((trips, errors))
}
