//! Phase x of the hub benchmark (issue #14): WhatsApp webhooks, signed as Meta signs them,
//! carrying 1 and then 100 text messages each (Meta batches up to 1,000 updates per POST).
//! Closed loop: `--wa-concurrency` posts in flight for `--duration-secs` per batch size;
//! every 200 means all of its messages are durably stored. Reports durable messages per
//! second and the answer time per webhook.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinSet;

/// The business number's id the benchmark's inbox uses (the fake Graph API accepts any).
pub const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "bench-app-secret";

/// What one batch size measured.
pub struct WhatsAppResult {
    pub batch: usize,
    pub stored: u64,
    pub webhooks: u64,
    pub failed: u64,
    pub first_problem: Option<String>,
    pub elapsed: Duration,
    /// Answer time of every accepted webhook, sorted.
    pub answers: Vec<Duration>,
}

impl WhatsAppResult {
    pub fn per_second(&self) -> f64 {
        self.stored as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The Graph API's answer to the number check when the inbox is created.
pub fn phone_number() -> Value {
    json!({
        "id": PHONE_NUMBER_ID,
        "display_phone_number": "+1 555-010-0199",
        "verified_name": "Switchboard Bench",
        "quality_rating": "GREEN",
    })
}

/// Creates the WhatsApp inbox (its token is checked against `graph_url`), then runs each
/// batch size.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    graph_url: &str,
    duration: Duration,
    concurrency: usize,
    contacts: u64,
    nonce: &str,
) -> Result<Vec<WhatsAppResult>, String> {
    let created = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&json!({
            "name": "Bench WhatsApp",
            "channel_type": "whatsapp",
            "settings": {
                "phone_number_id": PHONE_NUMBER_ID,
                "access_token": "bench-token",
                "app_secret": APP_SECRET,
                "api_url": graph_url,
            },
        }))
        .send()
        .await
        .map_err(|e| format!("create WhatsApp inbox: {e}"))?;
    let status = created.status();
    let inbox: Value = created
        .json()
        .await
        .map_err(|e| format!("create WhatsApp inbox: {e}"))?;
    if !status.is_success() {
        return Err(format!("create WhatsApp inbox: HTTP {status}: {inbox}"));
    }
    let url = inbox["webhook_url"]
        .as_str()
        .ok_or_else(|| format!("inbox answer without webhook_url: {inbox}"))?
        .to_owned();
    let mut results = Vec::new();
    for batch in [1usize, 100] {
        results.push(run_batch(client, &url, batch, duration, concurrency, contacts, nonce).await);
    }
    Ok(results)
}

async fn run_batch(
    client: &reqwest::Client,
    url: &str,
    batch: usize,
    duration: Duration,
    concurrency: usize,
    contacts: u64,
    nonce: &str,
) -> WhatsAppResult {
    let start = Instant::now();
    let deadline = start + duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let next = next.clone();
        let nonce = nonce.to_owned();
        workers.spawn(async move {
            let mut answers = Vec::new();
            let (mut stored, mut failed, mut problem) = (0u64, 0u64, None::<String>);
            let mut last = start;
            while Instant::now() < deadline {
                let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                let body = webhook(&nonce, first, batch, contacts);
                let signature = sign(body.as_bytes());
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("X-Hub-Signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                let outcome = match response {
                    Ok(r) if r.status().is_success() => match r.text().await {
                        Ok(text) if text.matches("\"type\":\"message\"").count() == batch => Ok(()),
                        Ok(text) => Err(format!("unexpected answer: {text}")),
                        Err(e) => Err(e.to_string()),
                    },
                    Ok(r) => Err(format!(
                        "HTTP {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Err(e.to_string()),
                };
                last = Instant::now();
                match outcome {
                    Ok(()) => {
                        stored += batch as u64;
                        answers.push(last - sent);
                    }
                    Err(e) => {
                        failed += 1;
                        problem.get_or_insert(e);
                    }
                }
            }
            (stored, failed, problem, answers, last)
        });
    }
    let mut result = WhatsAppResult {
        batch,
        stored: 0,
        webhooks: 0,
        failed: 0,
        first_problem: None,
        elapsed: Duration::ZERO,
        answers: Vec::new(),
    };
    let mut end = start;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((stored, failed, problem, answers, last)) => {
                result.stored += stored;
                result.failed += failed;
                result.webhooks += answers.len() as u64;
                result.answers.extend(answers);
                if result.first_problem.is_none() {
                    result.first_problem = problem;
                }
                end = end.max(last);
            }
            Err(e) => {
                result.failed += 1;
                result
                    .first_problem
                    .get_or_insert_with(|| format!("worker: {e}"));
            }
        }
    }
    result.elapsed = end - start;
    result.answers.sort();
    result
}

/// One webhook body of `batch` text messages, numbered from `first`, from distinct
/// customers, as Meta sends it.
fn webhook(nonce: &str, first: u64, batch: usize, contacts: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut messages = Vec::with_capacity(batch);
    let mut people = Vec::with_capacity(batch);
    for n in first..first + batch as u64 {
        let wa_id = format!("1555{:07}", n % contacts);
        people.push(
            json!({"profile": {"name": format!("Customer {}", n % contacts)}, "wa_id": wa_id}),
        );
        messages.push(json!({
            "from": wa_id,
            "id": format!("wamid.bench-{nonce}-{n}"),
            "timestamp": now.to_string(),
            "type": "text",
            "text": {"body": format!("X.{n}")},
        }));
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100199", "phone_number_id": PHONE_NUMBER_ID},
                    "contacts": people,
                    "messages": messages,
                },
            }],
        }],
    })
    .to_string()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
