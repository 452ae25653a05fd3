//! Phase n of the hub benchmark (issue #20): one hub of 1, 2 and 3 `switchboard` processes
//! on one PostgreSQL database and one NATS server with JetStream.
//!
//! For each number of nodes the phase makes a fresh database and a JetStream stream of its
//! own, starts the first node alone (it creates the admin), then the others, and measures:
//!
//! 1. aggregate durable inbound messages/s: `--concurrency` signed API-channel webhooks in
//!    flight, round-robin to every node, for `--duration-secs` (phase a's loop), with the
//!    CPU of the nodes together, of PostgreSQL and of NATS, and the machine's load average;
//! 2. the webhook -> agent latency across nodes: one agent websocket on the last node,
//!    webhooks at `--rate` (open loop, phase b's loop) round-robin to the other nodes (with
//!    one node, to that node), from the POST to the socket's `message.created`.
//!
//! Afterwards the nodes are stopped, the stream deleted and the database dropped.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::{
    CallbackServer, Hub, InboundResult, LatencyResult, Options, PgDatabase, Posted, Server,
    SocketStats, clock_ticks_per_second, free_port, grouped, hub_env, load_client, ms, open_socket,
    percentile, phase_inbound, phase_latency, post_message, print_env, set_up_hub, sla_phase,
    unique_suffix, wait_for_quiet,
};

/// Hubs of 1 up to this many nodes are measured.
const MAX_NODES: usize = 3;

/// What one hub of `nodes` nodes measured.
pub struct NodesResult {
    pub nodes: usize,
    /// Exec -> ready of each node (the first one alone, the others after it).
    pub ready: Vec<Duration>,
    pub inbound: InboundResult,
    pub latency: LatencyResult,
    /// `/proc/loadavg` (1, 5, 15 minutes) right after part 1.
    pub load_average: String,
}

impl NodesResult {
    fn inbound_rate(&self) -> f64 {
        self.inbound.tally.ok as f64 / self.inbound.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A JetStream stream that exists for one hub; deleted when dropped.
struct Stream {
    nats_url: String,
    name: String,
}

impl Drop for Stream {
    fn drop(&mut self) {
        let (url, name) = (self.nats_url.clone(), self.name.clone());
        // A thread with a runtime of its own: the benchmark's may be busy or gone (Ctrl-C).
        let deleted = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            runtime.block_on(async {
                let delete = async {
                    let client = async_nats::connect(&url)
                        .await
                        .map_err(|e| format!("connect to {url}: {e}"))?;
                    async_nats::jetstream::new(client)
                        .delete_stream(&name)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                };
                tokio::time::timeout(Duration::from_secs(10), delete)
                    .await
                    .map_err(|_| "no answer within 10 s".to_owned())?
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => println!("deleted JetStream stream {}", self.name),
            Ok(Err(e)) => eprintln!("could not delete JetStream stream {}: {e}", self.name),
            Err(_) => eprintln!("could not delete JetStream stream {}", self.name),
        }
    }
}

/// Measures hubs of 1 to [`MAX_NODES`] nodes and prints the table (also the rows measured
/// before a failure).
pub async fn run(
    options: &Options,
    binary: &Path,
    callback: &CallbackServer,
) -> Result<(), String> {
    println!(
        "n) nodes: hubs of 1 to {MAX_NODES} processes on one PostgreSQL database and NATS at {} ...",
        options.nats_url
    );
    let mut results = Vec::new();
    let mut failure = None;
    for nodes in 1..=MAX_NODES {
        match run_hub(nodes, options, binary, callback).await {
            Ok(result) => results.push(result),
            Err(e) => {
                failure = Some(format!("{nodes} node(s): {e}"));
                break;
            }
        }
    }
    print(&results, options);
    failure.map_or(Ok(()), Err)
}

/// One hub of `count` nodes: started, measured, stopped and cleaned up.
async fn run_hub(
    count: usize,
    options: &Options,
    binary: &Path,
    callback: &CallbackServer,
) -> Result<NodesResult, String> {
    println!("\nn) {count} node(s)");
    // Declared in this order so they drop in reverse: nodes, their dirs, stream, database.
    let database = PgDatabase::create(&options.pg_url)?;
    println!("PostgreSQL database: {}", database.name);
    let stream = Stream {
        nats_url: options.nats_url.clone(),
        name: format!("sbbench_{}_{}", std::process::id(), unique_suffix()),
    };
    println!("JetStream stream: {}", stream.name);
    let secret_key = hex::encode(switchboard::auth::random_bytes::<32>());
    let mut dirs = Vec::new();
    let mut servers: Vec<Server> = Vec::new();
    let mut ready = Vec::new();
    let client = load_client();
    for i in 0..count {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-bench-node-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let cluster = vec![
            ("SWITCHBOARD_DATABASE_URL".into(), database.url.clone()),
            (
                "SWITCHBOARD_CLUSTER_NATS_URL".into(),
                options.nats_url.clone(),
            ),
            ("SWITCHBOARD_CLUSTER_NAME".into(), stream.name.clone()),
            ("SWITCHBOARD_CLUSTER_NODE".into(), format!("bench{}", i + 1)),
            ("SWITCHBOARD_SECRET_KEY".into(), secret_key.clone()),
        ];
        let env = hub_env(dir.path(), free_port()?, cluster, options);
        if i == 0 {
            print_env(&env);
        }
        let mut server = Server::start(binary, &env, dir.path())?;
        dirs.push(dir);
        // The first node alone (it creates the admin), then the others one by one.
        let after = server
            .wait_ready(&client)
            .await
            .map_err(|e| format!("node {}: {e}", i + 1))?;
        ready.push(after);
        servers.push(server);
    }
    let ready_ms: Vec<String> = ready
        .iter()
        .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
        .collect();
    println!("nodes ready after exec: {}", ready_ms.join(", "));
    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let ticks = clock_ticks_per_second();

    let hub = set_up_hub(&servers[0].base, &callback.url).await?;
    callback.set_secret(std::str::from_utf8(&hub.secret).unwrap_or_default());
    let path = url_path(&hub.webhook_url)?;
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("{}{path}", s.base))
        .collect();
    let nonce = unique_suffix();
    warm_up(&hub.client, &urls, &hub.secret, &nonce).await?;

    let total = (options.rate * options.duration.as_secs()) as usize;
    let socket = Arc::new(SocketStats::new(Instant::now(), Some(total)));
    let mut socket_tasks = JoinSet::new();
    let last = &servers[count - 1];
    open_socket(&last.base, &hub.token, socket.clone(), &mut socket_tasks).await?;

    println!(
        "   1) inbound: {} s, {} in flight round-robin to {count} node(s) ...",
        options.duration.as_secs(),
        options.concurrency
    );
    flush();
    wait_for_quiet(&pids, options.quiet_wait, ticks).await;
    let statements_before = statements(&hub, &servers).await;
    let mut inbound = phase_inbound(
        &hub,
        &urls,
        options,
        std::slice::from_ref(&socket),
        &pids,
        ticks,
        &nonce,
    )
    .await;
    if let (Some(before), Some(after)) = (statements_before, statements(&hub, &servers).await) {
        inbound.statements = Some(after.saturating_sub(before));
    }
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    check_alive(&mut servers, "part 1")?;

    // With one node the webhooks go to the socket's own node.
    let senders = if count == 1 {
        &urls[..]
    } else {
        &urls[..count - 1]
    };
    println!(
        "   2) latency: {} msg/s open loop for {} s to node(s) 1..{}, agent socket on node {count} ...",
        options.rate,
        options.duration.as_secs(),
        senders.len()
    );
    flush();
    wait_for_quiet(&pids, options.quiet_wait, ticks).await;
    let latency = phase_latency(&hub, senders, options, &socket, &pids, ticks, &nonce).await;
    check_alive(&mut servers, "part 2")?;

    for (i, server) in servers.iter().enumerate() {
        if server.log_lines() > 0 {
            println!(
                "node {} log (warnings and errors), last lines:\n{}",
                i + 1,
                server.log_tail()
            );
        }
    }
    socket_tasks.abort_all();
    if let Some(prefix) = &options.server_log {
        for (i, server) in servers.iter().enumerate() {
            let kept = format!("{}-nodes{count}-node{}.log", prefix.display(), i + 1);
            if let Err(e) = std::fs::copy(&server.log, &kept) {
                eprintln!("cannot keep the node log in {kept}: {e}");
            }
        }
    }
    drop(servers);
    drop(dirs);
    drop(stream);
    drop(database);
    Ok(NodesResult {
        nodes: count,
        ready,
        inbound,
        latency,
        load_average,
    })
}

/// Database statements of all nodes together (`switchboard_db_statements_total`).
async fn statements(hub: &Hub, servers: &[Server]) -> Option<u64> {
    let mut total = 0;
    for server in servers {
        total +=
            sla_phase::metric(hub, &server.base, "switchboard_db_statements_total").await? as u64;
    }
    Some(total)
}

fn flush() {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}

fn check_alive(servers: &mut [Server], part: &str) -> Result<(), String> {
    for (i, server) in servers.iter_mut().enumerate() {
        if !server.running() {
            return Err(format!(
                "node {} died during {part}:\n{}",
                i + 1,
                server.log_tail()
            ));
        }
    }
    Ok(())
}

/// The path of a URL (the webhook is the same path on every node).
fn url_path(url: &str) -> Result<&str, String> {
    url.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|slash| &rest[slash..]))
        .ok_or_else(|| format!("webhook URL without a path: {url}"))
}

/// One webhook to each node, retried for up to 10 s until it is stored (the inbox was made
/// on node 1), so the load starts on nodes that all know the inbox.
async fn warm_up(
    client: &reqwest::Client,
    urls: &[String],
    secret: &[u8],
    nonce: &str,
) -> Result<(), String> {
    for (i, url) in urls.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let posted = post_message(
                client,
                url,
                secret,
                &format!("w-{nonce}-{i}"),
                &format!("bench-{i}"),
                &format!("W.{i}"),
                false,
            )
            .await;
            match posted {
                Posted::Stored { .. } | Posted::Duplicate => break,
                Posted::Refused(status, body) if Instant::now() >= deadline => {
                    return Err(format!(
                        "node {} refused a webhook: HTTP {status}: {body}",
                        i + 1
                    ));
                }
                Posted::Failed(e) if Instant::now() >= deadline => {
                    return Err(format!("node {} took no webhook: {e}", i + 1));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

/// Prints one row per hub size, then what else each part saw.
fn print(results: &[NodesResult], options: &Options) {
    if results.is_empty() {
        return;
    }
    println!(
        "\n--- n) nodes (issue #20): part 1 {} in flight round-robin to every node; part 2 {} msg/s \
         open loop to the other nodes, latency POST -> message.created on the last node; {} s each ---",
        options.concurrency,
        options.rate,
        options.duration.as_secs()
    );
    let mut rows = vec![vec![
        "N nodes".to_owned(),
        "msg/s".to_owned(),
        "p50".to_owned(),
        "p99".to_owned(),
        "max".to_owned(),
        "arrived".to_owned(),
        "CPU during part 1 (% of one core)".to_owned(),
        "load avg (1/5/15 min)".to_owned(),
    ]];
    for r in results {
        let b = &r.latency;
        let cpu = &r.inbound.cpu;
        rows.push(vec![
            r.nodes.to_string(),
            grouped(r.inbound_rate()),
            ms(percentile(&b.ws_latency, 50.0)),
            ms(percentile(&b.ws_latency, 99.0)),
            ms(b.ws_latency.last().copied().unwrap_or(0)),
            format!(
                "{} of {}",
                grouped(b.ws_latency.len() as f64),
                grouped(b.tally.ok as f64)
            ),
            format!(
                "nodes {:.0} | postgres {:.0} | nats {:.0} | bench {:.0} | other {:.0}",
                cpu.server, cpu.postgres, cpu.nats, cpu.client, cpu.other
            ),
            r.load_average.clone(),
        ]);
    }
    print_columns(&rows);
    let signed_ms = |us: i64| format!("{:.2} ms", us as f64 / 1000.0);
    for r in results {
        let (a, b) = (&r.inbound, &r.latency);
        let ready: Vec<String> = r
            .ready
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect();
        println!(
            "  {} node(s), ready {} ms after exec:",
            r.nodes,
            ready.join(" / ")
        );
        let per_message = a.statements.map_or("?".to_owned(), |n| {
            format!("{:.2}", n as f64 / a.tally.ok.max(1) as f64)
        });
        println!(
            "    1) stored {} in {:.2} s ({}); {} of them reached the socket on node {}; \
             {per_message} database statements per message (all nodes)",
            grouped(a.tally.ok as f64),
            a.elapsed.as_secs_f64(),
            a.tally.problems(),
            grouped(a.ws_first as f64),
            r.nodes
        );
        println!(
            "    2) sent {} at {} msg/s, stored {}, {} not seen ({}); HTTP answer p50 {} / p99 {}; \
             frame after the answer (fan-out through NATS) p50 {} / p99 {}",
            grouped(b.scheduled as f64),
            grouped(b.scheduled as f64 / b.send_window.as_secs_f64().max(1e-9)),
            grouped(b.tally.ok as f64),
            b.not_seen,
            b.tally.problems(),
            ms(percentile(&b.http_latency, 50.0)),
            ms(percentile(&b.http_latency, 99.0)),
            signed_ms(percentile(&b.ws_after_answer, 50.0)),
            signed_ms(percentile(&b.ws_after_answer, 99.0)),
        );
        println!("       CPU during 2): {}", b.cpu.describe());
    }
}

/// Left-aligned columns, two spaces apart.
fn print_columns(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, " {cell:<width$} |");
        }
        println!("{}", line.trim_end_matches('|').trim_end());
    }
}
