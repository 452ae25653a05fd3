//! Phase m of the hub benchmark (issue #15): raw MIME mails posted to an email inbox's
//! webhook, as an MTA's pipe delivers them. Closed loop: `--mail-concurrency` posts in flight
//! for `--duration-secs`; every 200 means the mail was parsed, threaded and durably stored.
//! Reports durable mails per second and the answer time per mail.
//!
//! Creating the inbox makes the hub log in to its SMTP server, so the phase runs a minimal
//! SMTP responder of its own (it only answers the check; no mail is sent in this phase).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;

/// What the phase measured.
pub struct MailResult {
    pub stored: u64,
    pub failed: u64,
    pub first_problem: Option<String>,
    pub elapsed: Duration,
    /// Answer time of every accepted mail, sorted.
    pub answers: Vec<Duration>,
    /// Size of each posted mail.
    pub mail_bytes: usize,
}

impl MailResult {
    pub fn per_second(&self) -> f64 {
        self.stored as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Answers SMTP's greeting, EHLO, NOOP and QUIT on a local port: enough for the hub's
/// connection check when the inbox is created.
fn smtp_responder() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("smtp responder: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("smtp responder: {e}"))?
        .port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else {
                    return;
                };
                let mut out = stream;
                let _ = out.write_all(b"220 bench ESMTP\r\n");
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    let verb = line
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-bench\r\n250 8BITMIME\r\n",
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 OK\r\n",
                    };
                    if out.write_all(answer).is_err() || verb == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// Creates the email inbox, then posts mails for `duration` with `concurrency` in flight.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    duration: Duration,
    concurrency: usize,
    contacts: u64,
    nonce: &str,
) -> Result<MailResult, String> {
    let port = smtp_responder()?;
    let created = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(token)
        .json(&json!({
            "name": "Bench email",
            "channel_type": "email",
            "settings": {
                "address": "support@bench.example",
                "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
            },
        }))
        .send()
        .await
        .map_err(|e| format!("create email inbox: {e}"))?;
    let status = created.status();
    let inbox: Value = created
        .json()
        .await
        .map_err(|e| format!("create email inbox: {e}"))?;
    if !status.is_success() {
        return Err(format!("create email inbox: HTTP {status}: {inbox}"));
    }
    let url = inbox["webhook_url"]
        .as_str()
        .ok_or_else(|| format!("inbox answer without webhook_url: {inbox}"))?
        .to_owned();
    let secret = inbox["secret"]
        .as_str()
        .ok_or_else(|| format!("inbox answer without secret: {inbox}"))?
        .to_owned();

    let start = Instant::now();
    let deadline = start + duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        let secret = secret.clone();
        let next = next.clone();
        let nonce = nonce.to_owned();
        workers.spawn(async move {
            let mut answers = Vec::new();
            let (mut stored, mut failed, mut problem) = (0u64, 0u64, None::<String>);
            let mut last = start;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body = mail(&nonce, n, contacts);
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("Content-Type", "message/rfc822")
                    .bearer_auth(&secret)
                    .body(body)
                    .send()
                    .await;
                let outcome = match response {
                    Ok(r) if r.status().is_success() => match r.text().await {
                        Ok(text) if text.contains("\"type\":\"message\"") => Ok(()),
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
                        stored += 1;
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
    let mut result = MailResult {
        stored: 0,
        failed: 0,
        first_problem: None,
        elapsed: Duration::ZERO,
        answers: Vec::new(),
        mail_bytes: mail(nonce, 0, contacts).len(),
    };
    let mut end = start;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((stored, failed, problem, answers, last)) => {
                result.stored += stored;
                result.failed += failed;
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
    Ok(result)
}

/// Mail number `n`: a Gmail-shaped multipart/alternative reply with a quoted history, from
/// one of `contacts` customers; every fourth answers the previous mail of its customer (a
/// stored inbound id), so threading lookups are part of the cost.
fn mail(nonce: &str, n: u64, contacts: u64) -> String {
    let customer = n % contacts;
    let threading = if n >= contacts && n.is_multiple_of(4) {
        let previous = n - contacts;
        format!(
            "In-Reply-To: <bench-{nonce}-{previous}@mail.example.com>\r\nReferences: <bench-{nonce}-{previous}@mail.example.com>\r\n"
        )
    } else {
        String::new()
    };
    format!(
        "Delivered-To: support@bench.example\r\nMIME-Version: 1.0\r\n\
         Date: Sun, 6 Dec 2026 10:00:00 +0000\r\n{threading}\
         Message-ID: <bench-{nonce}-{n}@mail.example.com>\r\n\
         Subject: Re: Order {customer} missing\r\n\
         From: Customer {customer} <customer{customer}@mail.example.com>\r\n\
         To: Support <support@bench.example>\r\n\
         Content-Type: multipart/alternative; boundary=\"000000000000bench\"\r\n\r\n\
         --000000000000bench\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n\
         Hello, my order {customer} has still not arrived. Mail {n}.\r\n\r\n\
         On Sat, Dec 5, 2026 at 9:00 AM Support <support@bench.example> wrote:\r\n\
         > Thanks for writing, we are looking into it.\r\n> Best, Support\r\n\r\n\
         --000000000000bench\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n\r\n\
         <div dir=\"ltr\">Hello, my order {customer} has still not arrived. Mail {n}.</div><br>\
         <div class=\"gmail_quote\"><div class=\"gmail_attr\">On Sat, Dec 5, 2026 at 9:00 AM Support \
         &lt;support@bench.example&gt; wrote:<br></div><blockquote class=\"gmail_quote\">Thanks for \
         writing, we are looking into it.<br>Best, Support</blockquote></div>\r\n\
         --000000000000bench--\r\n"
    )
}
