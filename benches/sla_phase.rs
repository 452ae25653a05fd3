//! Phase s of the hub benchmark (issue #16): SLA clocks for many open conversations.
//!
//! An SLA policy is created first, then `--sla-conversations` contacts each open a
//! conversation with one signed webhook (closed loop, `--concurrency` in flight), so every
//! conversation gets a first-response and a resolution clock from the escalation
//! supervisor. Reported: the seeding rate with the supervisor at work, how long after the
//! last webhook every conversation had its clocks (`switchboard_sla_synced_total`), the
//! hub's RSS before and after, and then, after a restart (SIGTERM, start again on the same
//! data), the time to ready, how long the supervisor's first pass took to reload the timers
//! (`switchboard_sla_start_pass_milliseconds`) and the idle RSS with all of them running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::{Hub, Posted, post_message};

/// What the phase measured before the restart.
pub struct SlaResult {
    pub conversations: u64,
    pub failed: u64,
    pub first_problem: Option<String>,
    pub seed_elapsed: Duration,
    /// From the last webhook's answer until every conversation had its clocks.
    pub caught_up_after: Option<Duration>,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    /// Filled in after the restart.
    pub restart_ready: Option<Duration>,
    pub start_pass_ms: Option<f64>,
    pub restart_idle_rss_kb: u64,
}

impl SlaResult {
    pub fn seed_rate(&self) -> f64 {
        self.conversations as f64 / self.seed_elapsed.as_secs_f64().max(1e-9)
    }
}

/// A metric's value from `/metrics` (the first sample with that name).
pub async fn metric(hub: &Hub, base: &str, name: &str) -> Option<f64> {
    let text = hub
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))?
        .trim()
        .parse()
        .ok()
}

/// Creates the policy, opens `count` conversations and waits until all have clocks.
pub async fn seed(
    hub: &Hub,
    count: u64,
    concurrency: usize,
    nonce: &str,
    rss: impl Fn() -> u64,
) -> Result<SlaResult, String> {
    let policy = hub
        .client
        .post(format!("{}/api/v1/sla-policies", hub.base))
        .bearer_auth(&hub.token)
        .json(&json!({
            "name": format!("Bench {nonce}"),
            "first_response_secs": 8 * 3600,
            "resolution_secs": 24 * 3600,
            "actions": [{"on": "breach", "do": "raise_priority", "priority": "urgent"}],
        }))
        .send()
        .await
        .map_err(|e| format!("create policy: {e}"))?;
    if !policy.status().is_success() {
        return Err(format!("create policy: {}", policy.status()));
    }
    let synced_before = metric(hub, &hub.base, "switchboard_sla_synced_total")
        .await
        .unwrap_or(0.0);
    let rss_before_kb = rss();
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let problem = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, secret) = (
            hub.client.clone(),
            hub.webhook_url.clone(),
            hub.secret.clone(),
        );
        let (next, failed, problem, nonce) = (
            next.clone(),
            failed.clone(),
            problem.clone(),
            nonce.to_owned(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let posted = post_message(
                    &client,
                    &url,
                    &secret,
                    &format!("sla-{nonce}-{i}"),
                    &format!("sla-contact-{nonce}-{i}"),
                    "Where is my order?",
                    false,
                )
                .await;
                match posted {
                    Posted::Stored { .. } | Posted::Duplicate => {}
                    Posted::Refused(status, text) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut p = problem.lock().unwrap_or_else(|e| e.into_inner());
                        p.get_or_insert(format!("{status} {text}"));
                    }
                    Posted::Failed(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut p = problem.lock().unwrap_or_else(|e| e.into_inner());
                        p.get_or_insert(e);
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let seed_elapsed = start.elapsed();
    let failed = failed.load(Ordering::Relaxed);
    let stored = count.saturating_sub(failed);
    let seeded = Instant::now();
    let mut caught_up_after = None;
    while seeded.elapsed() < Duration::from_secs(600) {
        let synced = metric(hub, &hub.base, "switchboard_sla_synced_total")
            .await
            .unwrap_or(0.0);
        if synced - synced_before >= stored as f64 {
            caught_up_after = Some(seeded.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_problem = problem.lock().unwrap_or_else(|e| e.into_inner()).take();
    Ok(SlaResult {
        conversations: stored,
        failed,
        first_problem,
        seed_elapsed,
        caught_up_after,
        rss_before_kb,
        rss_after_kb: rss(),
        restart_ready: None,
        start_pass_ms: None,
        restart_idle_rss_kb: 0,
    })
}

/// After a restart: waits for the supervisor's first pass and reads how long it took.
pub async fn start_pass(hub: &Hub, base: &str) -> Option<f64> {
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(300) {
        if let Some(ms) = metric(hub, base, "switchboard_sla_start_pass_milliseconds").await
            && ms > 0.0
        {
            return Some(ms);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
