//! Load benchmark for the whole hub (issue #3, section 9), driven over HTTP against the
//! real release binary running as its own process (so its RSS and CPU are its own).
//!
//! ```text
//! cargo bench --bench hub -- [--backend sqlite|postgres|both] [--duration-secs N] [--rate R]
//! ```
//!
//! Per backend it starts a fresh hub (SQLite in a temporary folder on disk, or a fresh
//! PostgreSQL database created and dropped with `psql`), signs in, creates a personal API
//! token and an API-channel inbox whose callback points at a local callback server run by
//! this process, opens agent websockets, and then measures:
//!
//! a) sustained inbound messages/s: many contacts posting signed single-message webhooks
//!    with many requests in flight (closed loop), and that every stored message reached
//!    the websockets as `message.created`;
//! b) latency at a fixed rate (open loop: sends are scheduled on a clock, not after the
//!    previous answer) from the webhook POST to the websocket's `message.created`, and
//!    the HTTP answer latency;
//! c) outbound: agent replies posted with many requests in flight, replies accepted/s and
//!    callback deliveries (sends)/s until every reply arrived;
//! d) peak (VmHWM) and final RSS of the server process;
//! w) web chat widget (issue #5): idle visitor websockets the hub holds and the RSS per
//!    socket, and the round trip visitor → agent → visitor (see widget_phase.rs);
//! x) WhatsApp (issue #14): signed Cloud API webhooks of 1 and of 100 messages each, durable
//!    messages/s and the answer time per webhook (see whatsapp_phase.rs);
//! m) email (issue #15): raw MIME mails posted to an email inbox's webhook as an MTA's pipe
//!    does, durable mails/s and the answer time per mail (see email_phase.rs);
//! s) SLA (issue #16): many open conversations with running SLA clocks, then a restart:
//!    the time to reload the timers and the supervisor's memory (see sla_phase.rs);
//! r) reports (issue #19): 1,000,000 messages in 100,000 conversations written into the
//!    database, the rollups rebuilt, and every report's answer time (see reports_phase.rs);
//! n) nodes (issue #20, PostgreSQL only, run only when asked: `--phases n`): hubs of 1, 2
//!    and 3 processes on one database and one NATS server, aggregate inbound msg/s and the
//!    webhook -> websocket latency across nodes (see nodes_phase.rs).
//!
//! More options: `--help`. Server settings can be changed with `--server-env KEY=VALUE`
//! (e.g. `SWITCHBOARD_INBOUND_BATCH_WAIT_MS=0`) to compare configurations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard_api_channel::{SIGNATURE_HEADER, sign};
use tokio::task::JoinSet;

#[path = "email_phase.rs"]
mod email_phase;
#[path = "nodes_phase.rs"]
mod nodes_phase;
#[path = "reports_phase.rs"]
mod reports_phase;
#[path = "sla_phase.rs"]
mod sla_phase;
#[path = "whatsapp_phase.rs"]
mod whatsapp_phase;
#[path = "widget_phase.rs"]
mod widget_phase;

const ADMIN_EMAIL: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench correct horse battery staple";
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Issue #14: batched WhatsApp webhooks on SQLite, durable messages per second.
const TARGET_WHATSAPP_BATCHED: u64 = 5_000;
/// Targets from issue #5: idle widget sockets and RSS per idle socket.
const TARGET_WIDGET_SOCKETS: usize = 20_000;
const TARGET_WIDGET_KB_PER_SOCKET: f64 = 20.0;

/// Targets from issue #3 on the 2-core machine.
const TARGET_INBOUND_SQLITE: f64 = 5_000.0;
const TARGET_P99_MS: f64 = 20.0;

/// Outbound limits for phase c: the defaults (8 in flight, 50 sends/s per channel) are a
/// politeness limit towards providers and would make phase c measure the limiter only.
const OUTBOUND_CONCURRENCY: &str = "64";
const OUTBOUND_RATE: &str = "1000000";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Clone, Debug)]
struct Options {
    backends: Vec<Backend>,
    duration: Duration,
    rate: u64,
    concurrency: usize,
    contacts: u64,
    sockets: usize,
    conversations: usize,
    reply_concurrency: usize,
    widget_sockets: usize,
    round_trips: usize,
    wa_concurrency: usize,
    mail_concurrency: usize,
    sla_conversations: u64,
    report_conversations: u64,
    phases: String,
    pg_url: String,
    /// NATS (with JetStream) for phase n's clusters.
    nats_url: String,
    server_env: Vec<(String, String)>,
    server_log: Option<PathBuf>,
    /// Another build of the hub to measure (an older commit, side by side).
    server_binary: Option<PathBuf>,
    quiet_wait: Duration,
}

const USAGE: &str = "\
cargo bench --bench hub -- [options]
  --backend sqlite|postgres|both   backends to measure (default both)
  --duration-secs N                length of phases a, b and c (default 10)
  --rate R                         open-loop rate of phase b, messages/s (default 1000)
  --concurrency C                  webhooks in flight in phase a (default 256)
  --contacts N                     distinct contacts posting in phases a and b (default 2000)
  --sockets K                      agent websockets subscribed (default 4)
  --conversations M                conversations replied to in phase c (default 1000)
  --reply-concurrency C            replies in flight in phase c (default 64)
  --widget-sockets N               idle visitor websockets in phase w (default 20000)
  --round-trips N                  visitor -> agent -> visitor round trips in phase w (default 200)
  --wa-concurrency C               WhatsApp webhooks in flight in phase x (default 64)
  --mail-concurrency C             raw MIME mails in flight in phase m (default 64)
  --sla-conversations N            open conversations with SLA clocks in phase s (default 100000)
  --report-conversations N         conversations of 10 messages seeded in phase r (default 100000)
  --phases abcxmwrsn               which phases to run (default abcxmwrs; n, hubs of 1-3 nodes,
                                   runs on PostgreSQL only and only when asked)
  --pg-url URL                     PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
  --nats-url URL                   NATS server with JetStream for phase n (default nats://127.0.0.1:4222)
  --server-env KEY=VALUE           extra environment for the hub (repeatable)
  --server-log PREFIX              keep the hub's log as PREFIX-<backend>.log
  --server-binary PATH             measure this switchboard binary instead (an older build)
  --quiet-wait-secs N              before each phase, wait up to N s (default 300) for other
                                   processes to use less than 25% of one core";

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        duration: Duration::from_secs(10),
        rate: 1_000,
        concurrency: 256,
        contacts: 2_000,
        sockets: 4,
        conversations: 1_000,
        reply_concurrency: 64,
        widget_sockets: TARGET_WIDGET_SOCKETS,
        round_trips: 200,
        wa_concurrency: 64,
        mail_concurrency: 64,
        phases: "abcxmwrs".into(),
        sla_conversations: 100_000,
        report_conversations: 100_000,
        pg_url: DEFAULT_PG_URL.into(),
        nats_url: DEFAULT_NATS_URL.into(),
        server_env: Vec::new(),
        server_log: None,
        server_binary: None,
        quiet_wait: Duration::from_secs(300),
    };
    let mut args = std::env::args().skip(1);
    fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a valid number"))
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--backend" => {
                o.backends = match args.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") | Some("pg") => vec![Backend::Postgres],
                    Some("both") => vec![Backend::Sqlite, Backend::Postgres],
                    other => return Err(format!("--backend: unknown value {other:?}")),
                }
            }
            "--duration-secs" => o.duration = Duration::from_secs(number(&arg, args.next())?),
            "--rate" => o.rate = number(&arg, args.next())?,
            "--concurrency" => o.concurrency = number(&arg, args.next())?,
            "--contacts" => o.contacts = number(&arg, args.next())?,
            "--sockets" => o.sockets = number(&arg, args.next())?,
            "--conversations" => o.conversations = number(&arg, args.next())?,
            "--reply-concurrency" => o.reply_concurrency = number(&arg, args.next())?,
            "--widget-sockets" => o.widget_sockets = number(&arg, args.next())?,
            "--round-trips" => o.round_trips = number(&arg, args.next())?,
            "--wa-concurrency" => o.wa_concurrency = number(&arg, args.next())?,
            "--mail-concurrency" => o.mail_concurrency = number(&arg, args.next())?,
            "--sla-conversations" => o.sla_conversations = number(&arg, args.next())?,
            "--report-conversations" => {
                o.report_conversations = number::<u64>(&arg, args.next())?.max(10)
            }
            "--phases" => o.phases = args.next().ok_or("--phases needs a value")?,
            "--pg-url" => o.pg_url = args.next().ok_or("--pg-url needs a value")?,
            "--nats-url" => o.nats_url = args.next().ok_or("--nats-url needs a value")?,
            "--server-env" => {
                let kv = args.next().ok_or("--server-env needs KEY=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--server-env: `{kv}` is not KEY=VALUE"))?;
                o.server_env.push((k.to_owned(), v.to_owned()));
            }
            "--quiet-wait-secs" => o.quiet_wait = Duration::from_secs(number(&arg, args.next())?),
            "--server-log" => {
                o.server_log = Some(
                    args.next()
                        .ok_or("--server-log needs a file prefix")?
                        .into(),
                )
            }
            "--server-binary" => {
                o.server_binary = Some(
                    args.next()
                        .ok_or("--server-binary needs the path of a switchboard binary")?
                        .into(),
                )
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if o.duration.is_zero()
        || o.rate == 0
        || o.concurrency == 0
        || o.contacts == 0
        || o.sockets == 0
        || o.conversations == 0
        || o.reply_concurrency == 0
    {
        return Err("durations, rates, counts and concurrencies must be at least 1".into());
    }
    Ok(o)
}

fn main() -> std::process::ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    // One thread for the whole load generator: on a 2-core machine it leaves the other
    // core to the hub (the callback server runs on its own small thread).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = runtime.block_on(async move {
        tokio::select! {
            ok = run(options) => ok,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping the hub and cleaning up");
                false
            }
        }
    });
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn run(options: Options) -> bool {
    print_machine_info(&options);
    let binary = match options.server_binary.clone().map_or_else(server_binary, Ok) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot find or build the server binary: {e}");
            return false;
        }
    };
    println!("server binary: {}", binary.display());
    let callback = match CallbackServer::start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start the callback server: {e}");
            return false;
        }
    };
    let mut all_ok = true;
    let mut reports = Vec::new();
    // Phase n starts hubs of its own: the single hub runs only for the other phases.
    let single_hub = options.phases.chars().any(|c| c != 'n');
    for backend in options.backends.clone() {
        println!("\n=== {} ===", backend.name());
        if single_hub {
            callback.reset();
            match run_backend(backend, &options, &binary, &callback).await {
                Ok(report) => {
                    report.print(&options);
                    reports.push(report);
                }
                Err(e) => {
                    all_ok = false;
                    eprintln!("{} run failed: {e}", backend.name());
                }
            }
        }
        if options.phases.contains('n') {
            if backend == Backend::Postgres {
                callback.reset();
                if let Err(e) = nodes_phase::run(&options, &binary, &callback).await {
                    all_ok = false;
                    eprintln!("phase n failed: {e}");
                }
            } else {
                println!("n) skipped: several nodes share a PostgreSQL database, not SQLite");
            }
        }
    }
    if reports.len() > 1 {
        print_summary(&reports, &options);
    }
    all_ok
}

// ---------------------------------------------------------------------------------------
// Machine, binary, processes

fn print_machine_info(options: &Options) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_owned();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!("Switchboard hub benchmark");
    println!(
        "machine: {nproc} CPU(s), {model}, {:.1} GiB RAM, kernel {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "note: the load generator (1 thread) and the callback server (1 worker thread) run on \
         the same {nproc} core(s) as the hub, so client CPU is taken from the server; figures \
         are a lower bound for a hub with the machine to itself."
    );
    println!(
        "settings: duration {}s per phase, phase a {} in flight over {} contacts, phase b {} msg/s \
         open loop, phase c {} conversations with {} replies in flight, {} agent websocket(s)",
        options.duration.as_secs(),
        options.concurrency,
        options.contacts,
        options.rate,
        options.conversations,
        options.reply_concurrency,
        options.sockets,
    );
}

/// The server binary: Cargo builds it for bench targets (with the bench profile, which has
/// the `dist` settings of Cargo.toml) and says where; without that,
/// `target/release/switchboard`, built here when missing.
fn server_binary() -> Result<PathBuf, String> {
    if let Some(path) = option_env!("CARGO_BIN_EXE_switchboard")
        && Path::new(path).exists()
    {
        return Ok(PathBuf::from(path));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("release").join("switchboard");
    if !binary.exists() {
        println!(
            "{} is missing: running `cargo build --release --bin switchboard`",
            binary.display()
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "switchboard"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build failed: {status}"));
        }
    }
    Ok(binary)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with the state (field 3).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A value (in kB for memory) from `/proc/<pid>/status`.
fn proc_status(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Busy ticks of the whole machine (all cores) from `/proc/stat`.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let total: u64 = fields.iter().take(8).sum();
    Some(total - fields.get(3)? - fields.get(4)?)
}

/// CPU ticks of every `postgres` process (the hub's PostgreSQL backends run there).
fn postgres_ticks() -> u64 {
    ticks_of_command("postgres")
}

/// CPU ticks of the NATS server (`nats-server`, which carries a cluster's events).
fn nats_ticks() -> u64 {
    ticks_of_command("nats-server")
}

/// CPU ticks of every process whose command name is `command`.
fn ticks_of_command(command: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == command)
        })
        .filter_map(|pid| cpu_ticks(&pid))
        .sum()
}

/// Waits (up to `limit`) until processes other than the hub's, this benchmark,
/// PostgreSQL and NATS use less than a quarter of one core, so other work on a shared
/// machine does not end up in the figures. Returns the load that was left.
async fn wait_for_quiet(server_pids: &[u32], limit: Duration, ticks_per_second: f64) -> f64 {
    let start = Instant::now();
    let mut told = false;
    loop {
        let meter = CpuMeter::start(server_pids);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let other = meter.stop(ticks_per_second).other;
        if other < 25.0 || start.elapsed() >= limit {
            if told {
                println!(
                    "   (waited {:.0} s for other processes; they now use {other:.0}% of a core)",
                    start.elapsed().as_secs_f64()
                );
            }
            return other;
        }
        if !told {
            println!(
                "   other processes use {other:.0}% of a core; waiting up to {} s for a quiet machine ...",
                limit.as_secs()
            );
            let _ = std::io::stdout().flush();
            told = true;
        }
    }
}

/// CPU used over a phase by the hub (all its processes), this process, PostgreSQL, NATS
/// and the whole machine.
struct CpuMeter {
    server_pids: Vec<String>,
    start: Instant,
    server: u64,
    client: u64,
    postgres: u64,
    nats: u64,
    machine: u64,
}

/// Percent of one core (the machine's total is 100% per core).
#[derive(Clone, Copy, Default, Debug)]
struct CpuUse {
    server: f64,
    client: f64,
    postgres: f64,
    /// The NATS server (busy only in cluster mode).
    nats: f64,
    /// Everything else running on the machine (other users' builds, ...).
    other: f64,
}

impl CpuUse {
    fn describe(&self) -> String {
        let nats = if self.nats >= 0.5 {
            format!(" | nats {:.0}%", self.nats)
        } else {
            String::new()
        };
        format!(
            "hub {:.0}% | bench {:.0}% | postgres {:.0}%{nats} | other {:.0}%",
            self.server, self.client, self.postgres, self.other
        )
    }
}

impl CpuMeter {
    fn start(server_pids: &[u32]) -> Self {
        let server_pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
        Self {
            server: Self::server_ticks(&server_pids),
            client: cpu_ticks("self").unwrap_or(0),
            postgres: postgres_ticks(),
            nats: nats_ticks(),
            machine: machine_busy_ticks().unwrap_or(0),
            server_pids,
            start: Instant::now(),
        }
    }

    /// Ticks of the hub's processes together (one that exited counts 0 from then on).
    fn server_ticks(pids: &[String]) -> u64 {
        pids.iter().filter_map(|pid| cpu_ticks(pid)).sum()
    }

    fn stop(&self, ticks_per_second: f64) -> CpuUse {
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
        let percent = |ticks: u64| ticks as f64 / ticks_per_second / elapsed * 100.0;
        let server = percent(Self::server_ticks(&self.server_pids).saturating_sub(self.server));
        let client = percent(cpu_ticks("self").unwrap_or(self.client) - self.client);
        let postgres = percent(postgres_ticks().saturating_sub(self.postgres));
        let nats = percent(nats_ticks().saturating_sub(self.nats));
        let machine = percent(machine_busy_ticks().unwrap_or(self.machine) - self.machine);
        CpuUse {
            server,
            client,
            postgres,
            nats,
            other: (machine - server - client - postgres - nats).max(0.0),
        }
    }
}

/// The hub process; stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    /// When the process was spawned: exec -> ready is timed from here.
    spawned_at: Instant,
}

impl Server {
    fn start(binary: &Path, env: &[(String, String)], dir: &Path) -> Result<Self, String> {
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("server log: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("server log: {e}"))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            // No config/local.toml from the repository: only the compiled-in defaults
            // and the environment below.
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("SWITCHBOARD_") || k == "RUST_LOG")
            {
                command.env_remove(key);
            }
        }
        let listen = env
            .iter()
            .find(|(k, _)| k == "SWITCHBOARD_LISTEN")
            .map(|(_, v)| v.clone())
            .ok_or("SWITCHBOARD_LISTEN missing")?;
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Self {
            child,
            base: format!("http://{listen}"),
            log,
            spawned_at,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn memory_kb(&self, key: &str) -> Option<u64> {
        proc_status(&self.pid().to_string(), key)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |t| t.lines().count())
    }

    /// Time from exec to the first 200 from `/ready` (polled every 2 ms: issue #23 asks for
    /// at most 100 ms on SQLite).
    async fn wait_ready(&mut self, client: &reqwest::Client) -> Result<Duration, String> {
        let start = self.spawned_at;
        while start.elapsed() < Duration::from_secs(90) {
            if !self.running() {
                return Err(format!(
                    "the hub exited during start-up:\n{}",
                    self.log_tail()
                ));
            }
            if let Ok(r) = client.get(format!("{}/ready", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err(format!(
            "the hub was not ready after 90 s:\n{}",
            self.log_tail()
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        println!("stopping the hub (pid {})", self.pid());
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL database that exists for one run; dropped (with `psql`) when dropped.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl PgDatabase {
    fn create(admin_url: &str) -> Result<Self, String> {
        let name = format!("sbbench_{}_{}", std::process::id(), unique_suffix());
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let authority_end = base.find("://").map_or(0, |i| i + 3);
        let prefix = match base[authority_end..].find('/') {
            Some(slash) => &base[..authority_end + slash],
            None => base,
        };
        let url = format!("{prefix}/{name}{query}");
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        match psql(&self.admin_url, &sql) {
            Ok(()) => println!("dropped PostgreSQL database {}", self.name),
            Err(e) => eprintln!("could not drop PostgreSQL database {}: {e}", self.name),
        }
    }
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

// ---------------------------------------------------------------------------------------
// Callback server: the integration endpoint the hub delivers replies to

struct CallbackStats {
    base: Instant,
    received: AtomicU64,
    bad_signature: AtomicU64,
    /// Nanoseconds after `base` (+1; 0 means none yet).
    first: AtomicU64,
    last: AtomicU64,
    secret: Mutex<Vec<u8>>,
}

impl CallbackStats {
    fn nanos(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }
    fn instant(&self, nanos: u64) -> Option<Instant> {
        (nanos > 0).then(|| self.base + Duration::from_nanos(nanos - 1))
    }
}

struct CallbackServer {
    url: String,
    stats: Arc<CallbackStats>,
}

impl CallbackServer {
    /// Runs on its own thread (an actix system with one worker) for the whole benchmark.
    fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let stats = Arc::new(CallbackStats {
            base: Instant::now(),
            received: AtomicU64::new(0),
            bad_signature: AtomicU64::new(0),
            first: AtomicU64::new(0),
            last: AtomicU64::new(0),
            secret: Mutex::new(Vec::new()),
        });
        let shared = stats.clone();
        let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
        std::thread::Builder::new()
            .name("bench-callback".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                let started = system.block_on(async move {
                    let server = actix_web::HttpServer::new(move || {
                        let stats = shared.clone();
                        actix_web::App::new().default_service(actix_web::web::to(
                            move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                                let stats = stats.clone();
                                async move { callback(&stats, &req, &body) }
                            },
                        ))
                    })
                    .workers(1)
                    .backlog(4096)
                    .max_connections(100_000)
                    .disable_signals()
                    .listen(listener)
                    .map_err(|e| e.to_string())?
                    .run();
                    actix_web::rt::spawn(server);
                    Ok(())
                });
                let ok = started.is_ok();
                let _ = tx.send(started);
                if ok {
                    let _ = system.run();
                }
            })
            .map_err(|e| format!("thread: {e}"))?;
        rx.recv()
            .map_err(|_| "callback thread ended".to_owned())??;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/callback"),
            stats,
        })
    }

    fn reset(&self) {
        self.stats.received.store(0, Ordering::SeqCst);
        self.stats.bad_signature.store(0, Ordering::SeqCst);
        self.stats.first.store(0, Ordering::SeqCst);
        self.stats.last.store(0, Ordering::SeqCst);
    }

    fn set_secret(&self, secret: &str) {
        *self.stats.secret.lock().expect("secret lock") = secret.as_bytes().to_vec();
    }

    fn received(&self) -> u64 {
        self.stats.received.load(Ordering::SeqCst)
    }
}

fn callback(
    stats: &CallbackStats,
    req: &actix_web::HttpRequest,
    body: &[u8],
) -> actix_web::HttpResponse {
    // Phase x's inbox checks its token against the number: this server plays the Graph API.
    if req.method() == actix_web::http::Method::GET {
        return actix_web::HttpResponse::Ok()
            .content_type("application/json")
            .body(whatsapp_phase::phone_number().to_string());
    }
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let valid = {
        let secret = stats.secret.lock().expect("secret lock");
        switchboard_api_channel::verify(&secret, body, header).is_ok()
    };
    if !valid {
        stats.bad_signature.fetch_add(1, Ordering::Relaxed);
    }
    let id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"]["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let now = stats.nanos();
    let _ = stats
        .first
        .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    stats.last.fetch_max(now, Ordering::SeqCst);
    stats.received.fetch_add(1, Ordering::SeqCst);
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({ "external_id": format!("cb-{id}") }).to_string())
}

// ---------------------------------------------------------------------------------------
// Agent websockets

/// What one agent socket saw.
struct SocketStats {
    base: Instant,
    /// `message.created` per phase marker (first character of the content).
    created_a: AtomicU64,
    created_b: AtomicU64,
    created_c: AtomicU64,
    created_replies: AtomicU64,
    other_events: AtomicU64,
    resyncs: AtomicU64,
    closed: AtomicBool,
    /// Socket 0 only: when `B.<n>` arrived (nanoseconds after `base`, +1).
    b_arrivals: Option<Vec<AtomicU64>>,
}

impl SocketStats {
    /// A socket's counters; with `arrivals`, it records when each of that many `B.<n>` came.
    fn new(base: Instant, arrivals: Option<usize>) -> Self {
        Self {
            base,
            created_a: AtomicU64::new(0),
            created_b: AtomicU64::new(0),
            created_c: AtomicU64::new(0),
            created_replies: AtomicU64::new(0),
            other_events: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            b_arrivals: arrivals.map(|n| (0..n).map(|_| AtomicU64::new(0)).collect()),
        }
    }
}

async fn open_socket(
    base_url: &str,
    token: &str,
    stats: Arc<SocketStats>,
    tasks: &mut JoinSet<()>,
) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/v1/ws", base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "bad token header")?,
    );
    let (mut stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("websocket connect: {e}"))?;
    let hello = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .map_err(|_| "no hello frame within 10 s")?;
    match hello {
        Some(Ok(Message::Text(text))) if text.contains("\"hello\"") => {}
        other => return Err(format!("expected a hello frame, got {other:?}")),
    }
    tasks.spawn(async move {
        while let Some(frame) = stream.next().await {
            let Ok(frame) = frame else { break };
            let Message::Text(text) = frame else { continue };
            record_frame(&stats, text.as_str());
        }
        stats.closed.store(true, Ordering::SeqCst);
    });
    Ok(())
}

/// Counts one frame without a full JSON parse (the client shares the server's cores).
fn record_frame(stats: &SocketStats, text: &str) {
    if !text.contains("\"type\":\"message.created\"") {
        if text.contains("\"type\":\"resync\"") {
            stats.resyncs.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.other_events.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let content = text
        .split_once("\"content\":\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or("");
    let counter = match content.as_bytes().first() {
        Some(b'A') => &stats.created_a,
        Some(b'B') => {
            if let Some(arrivals) = &stats.b_arrivals
                && let Some(n) = content.get(2..).and_then(|n| n.parse::<usize>().ok())
                && let Some(slot) = arrivals.get(n)
            {
                let now = stats.base.elapsed().as_nanos() as u64 + 1;
                let _ = slot.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
            }
            &stats.created_b
        }
        Some(b'C') => &stats.created_c,
        Some(b'R') => &stats.created_replies,
        _ => &stats.other_events,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Waits until `count()` reaches `target`, or stops growing for `idle`, or `limit` passes.
/// Returns the time it took and the last count.
async fn wait_for_count(
    count: impl Fn() -> u64,
    target: u64,
    idle: Duration,
    limit: Duration,
) -> (Duration, u64) {
    let start = Instant::now();
    let mut last = count();
    let mut last_change = Instant::now();
    loop {
        let now = count();
        if now >= target {
            return (start.elapsed(), now);
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if last_change.elapsed() >= idle || start.elapsed() >= limit {
            return (start.elapsed(), now);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Hub API

struct Hub {
    base: String,
    token: String,
    webhook_url: String,
    secret: Arc<Vec<u8>>,
    /// Large pool, no cookies: the load client.
    client: reqwest::Client,
}

fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("http client")
}

async fn json_of(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("{what}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{what}: HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))
}

/// Signs in, creates an API token and the API-channel inbox.
async fn set_up_hub(base: &str, callback_url: &str) -> Result<Hub, String> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .map_err(|e| e.to_string())?;
    let login = browser
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let login = json_of(login, "login").await?;
    let csrf = login["csrf_token"]
        .as_str()
        .ok_or("login answer without csrf_token")?;
    let token = browser
        .post(format!("{base}/api/v1/me/tokens"))
        .header("X-CSRF-Token", csrf)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .map_err(|e| format!("create token: {e}"))?;
    let token = json_of(token, "create token").await?["token"]
        .as_str()
        .ok_or("token answer without token")?
        .to_owned();
    let client = load_client();
    let inbox = client
        .post(format!("{base}/api/v1/inboxes"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "Bench API",
            "channel_type": "api",
            "settings": {"callback_url": callback_url},
        }))
        .send()
        .await
        .map_err(|e| format!("create inbox: {e}"))?;
    let inbox = json_of(inbox, "create inbox").await?;
    let field = |name: &str| {
        inbox[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("inbox answer without {name}: {inbox}"))
    };
    Ok(Hub {
        base: base.to_owned(),
        token,
        webhook_url: field("webhook_url")?,
        secret: Arc::new(field("secret")?.into_bytes()),
        client,
    })
}

/// Outcome of one signed webhook.
enum Posted {
    Stored { conversation_id: Option<String> },
    Duplicate,
    Refused(u16, String),
    Failed(String),
}

async fn post_message(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    external_id: &str,
    identifier: &str,
    content: &str,
    want_conversation: bool,
) -> Posted {
    let body = format!(
        r#"{{"type":"message","external_id":"{external_id}","contact":{{"identifier":"{identifier}"}},"content":"{content}"}}"#
    );
    let signature = sign(secret, body.as_bytes());
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Posted::Failed(error_chain(&e)),
    };
    let status = response.status().as_u16();
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Posted::Failed(error_chain(&e)),
    };
    if status != 200 {
        return Posted::Refused(status, text);
    }
    if text.contains("\"duplicate\":true") {
        return Posted::Duplicate;
    }
    let conversation_id = want_conversation
        .then(|| {
            serde_json::from_str::<Value>(&text)
                .ok()?
                .pointer("/stored/0/conversation_id")?
                .as_str()
                .map(str::to_owned)
        })
        .flatten();
    Posted::Stored { conversation_id }
}

/// An error with its causes ("error sending request" alone does not say what happened).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// Counts of answers, plus the first problem of each kind.
#[derive(Default)]
struct Tally {
    ok: u64,
    duplicates: u64,
    refused: u64,
    failed: u64,
    first_problem: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.duplicates += other.duplicates;
        self.refused += other.refused;
        self.failed += other.failed;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }

    fn add(&mut self, posted: &Posted) {
        match posted {
            Posted::Stored { .. } => self.ok += 1,
            Posted::Duplicate => self.duplicates += 1,
            Posted::Refused(status, body) => {
                self.refused += 1;
                self.first_problem
                    .get_or_insert_with(|| format!("HTTP {status}: {body}"));
            }
            Posted::Failed(e) => {
                self.failed += 1;
                self.first_problem.get_or_insert_with(|| e.clone());
            }
        }
    }

    fn problems(&self) -> String {
        let mut s = format!(
            "{} duplicate, {} non-200, {} transport errors",
            self.duplicates, self.refused, self.failed
        );
        if let Some(p) = &self.first_problem {
            let p: String = p.chars().take(160).collect();
            let _ = write!(s, " (first: {p})");
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// Phases

#[derive(Default)]
struct InboundResult {
    tally: Tally,
    elapsed: Duration,
    per_second: Vec<u64>,
    ws_first: u64,
    ws_min: u64,
    ws_max: u64,
    ws_wait: Duration,
    cpu: CpuUse,
    /// Database statements the hub sent during the phase (older builds do not count them).
    statements: Option<u64>,
}

/// The hub's count of database statements (`switchboard_db_statements_total`), when the
/// build measured has it.
async fn db_statements(hub: &Hub) -> Option<u64> {
    let response = hub
        .client
        .get(format!("{}/metrics", hub.base))
        .send()
        .await
        .ok()?;
    let text = response.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("switchboard_db_statements_total "))?
        .trim()
        .parse()
        .ok()
}

/// a) closed loop: `concurrency` workers post single-message webhooks for `duration`,
/// round-robin to `urls` (one per node of a hub; phase n has several).
async fn phase_inbound(
    hub: &Hub,
    urls: &[String],
    options: &Options,
    sockets: &[Arc<SocketStats>],
    server_pids: &[u32],
    ticks: f64,
    nonce: &str,
) -> InboundResult {
    let meter = CpuMeter::start(server_pids);
    let start = Instant::now();
    let deadline = start + options.duration;
    let buckets: Arc<Vec<AtomicU64>> = Arc::new(
        (0..options.duration.as_secs() + 60)
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let urls: Arc<Vec<String>> = Arc::new(urls.to_vec());
    let mut workers = JoinSet::new();
    for _ in 0..options.concurrency {
        let client = hub.client.clone();
        let urls = urls.clone();
        let secret = hub.secret.clone();
        let next = next.clone();
        let buckets = buckets.clone();
        let nonce = nonce.to_owned();
        let contacts = options.contacts;
        workers.spawn(async move {
            let mut tally = Tally::default();
            let mut last = start;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let posted = post_message(
                    &client,
                    &urls[n as usize % urls.len()],
                    &secret,
                    &format!("a-{nonce}-{n}"),
                    &format!("bench-{}", n % contacts),
                    &format!("A.{n}"),
                    false,
                )
                .await;
                last = Instant::now();
                if let Posted::Stored { .. } = posted {
                    let second = (last - start).as_secs() as usize;
                    if let Some(b) = buckets.get(second) {
                        b.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tally.add(&posted);
            }
            (tally, last)
        });
    }
    let mut result = InboundResult::default();
    let mut end = start;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((tally, last)) => {
                result.tally.merge(tally);
                end = end.max(last);
            }
            Err(e) => result
                .tally
                .add(&Posted::Failed(format!("worker task: {e}"))),
        }
    }
    result.elapsed = end - start;
    result.cpu = meter.stop(ticks);
    let full_seconds = options.duration.as_secs() as usize;
    result.per_second = buckets
        .iter()
        .take(full_seconds)
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let accepted = result.tally.ok;
    let (waited, _) = wait_for_count(
        || {
            sockets
                .iter()
                .map(|s| s.created_a.load(Ordering::Relaxed))
                .min()
                .unwrap_or(0)
        },
        accepted,
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .await;
    result.ws_wait = waited;
    let seen: Vec<u64> = sockets
        .iter()
        .map(|s| s.created_a.load(Ordering::Relaxed))
        .collect();
    result.ws_first = seen[0];
    result.ws_min = seen.iter().copied().min().unwrap_or(0);
    result.ws_max = seen.iter().copied().max().unwrap_or(0);
    result
}

/// End-to-end latency counted as a stall in phase b's report.
const SLOW_MS: u64 = 50;

#[derive(Default)]
struct LatencyResult {
    scheduled: u64,
    tally: Tally,
    send_window: Duration,
    schedule_lag_max: Duration,
    schedule_lag_p99: Duration,
    /// Microseconds, sorted.
    ws_latency: Vec<u64>,
    http_latency: Vec<u64>,
    /// Websocket arrival minus HTTP answer, microseconds (negative: the frame came first).
    ws_after_answer: Vec<i64>,
    /// Sends slower than [`SLOW_MS`] end to end, by when they were sent (ms into the phase).
    slow_sent_at_ms: Vec<u64>,
    not_seen: u64,
    cpu: CpuUse,
}

/// b) open loop at `rate`: each send is scheduled at start + n/rate, whatever the
/// answers do, round-robin to `urls`; latency is from the POST start to `message.created`
/// on `socket` (socket 0, or in phase n the socket on another node).
async fn phase_latency(
    hub: &Hub,
    urls: &[String],
    options: &Options,
    socket: &Arc<SocketStats>,
    server_pids: &[u32],
    ticks: f64,
    nonce: &str,
) -> LatencyResult {
    let total = (options.rate * options.duration.as_secs()) as usize;
    let base = socket.base;
    let nanos = move || base.elapsed().as_nanos() as u64 + 1;
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let meter = CpuMeter::start(server_pids);
    let start = Instant::now();
    let period = Duration::from_secs(1).as_secs_f64() / options.rate as f64;
    let mut tasks = JoinSet::new();
    let mut lags = Vec::with_capacity(total);
    let mut finished = Vec::with_capacity(total);
    for n in 0..total {
        let due = start + Duration::from_secs_f64(period * n as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        }
        lags.push(Instant::now().saturating_duration_since(due));
        let client = hub.client.clone();
        let url = urls[n % urls.len()].clone();
        let secret = hub.secret.clone();
        let sent_at = sent_at.clone();
        let identifier = format!("bench-{}", n as u64 % options.contacts);
        let external_id = format!("b-{nonce}-{n}");
        tasks.spawn(async move {
            let began = Instant::now();
            sent_at[n].store(nanos(), Ordering::Relaxed);
            let posted = post_message(
                &client,
                &url,
                &secret,
                &external_id,
                &identifier,
                &format!("B.{n}"),
                false,
            )
            .await;
            (n, posted, began.elapsed())
        });
        // Collect finished sends as we go so the set stays small.
        while let Some(joined) = tasks.try_join_next() {
            finished.push(joined);
        }
    }
    let send_window = start.elapsed();
    let mut result = LatencyResult {
        scheduled: total as u64,
        send_window,
        ..LatencyResult::default()
    };
    let mut stored = vec![false; total];
    let mut http_us = vec![0u64; total];
    while let Some(joined) = tasks.join_next().await {
        finished.push(joined);
    }
    for joined in finished {
        match joined {
            Ok((n, posted, http)) => {
                if let Posted::Stored { .. } = posted {
                    stored[n] = true;
                    http_us[n] = http.as_micros() as u64;
                    result.http_latency.push(http_us[n]);
                }
                result.tally.add(&posted);
            }
            Err(e) => result.tally.add(&Posted::Failed(format!("send task: {e}"))),
        }
    }
    result.cpu = meter.stop(ticks);
    let accepted = result.tally.ok;
    wait_for_count(
        || socket.created_b.load(Ordering::Relaxed),
        accepted,
        Duration::from_secs(5),
        Duration::from_secs(30),
    )
    .await;
    let arrivals = socket
        .b_arrivals
        .as_ref()
        .expect("socket 0 records arrivals");
    for (n, ok) in stored.iter().enumerate() {
        if !ok {
            continue;
        }
        let sent = sent_at[n].load(Ordering::Relaxed);
        let arrived = arrivals[n].load(Ordering::Relaxed);
        if arrived == 0 || sent == 0 {
            result.not_seen += 1;
        } else {
            let latency = arrived.saturating_sub(sent) / 1_000;
            result.ws_latency.push(latency);
            if latency > SLOW_MS * 1_000 {
                let offset = Duration::from_nanos(sent - 1).saturating_sub(start - base);
                result.slow_sent_at_ms.push(offset.as_millis() as u64);
            }
            result
                .ws_after_answer
                .push(latency as i64 - http_us[n] as i64);
        }
    }
    result.ws_latency.sort_unstable();
    result.ws_after_answer.sort_unstable();
    result.http_latency.sort_unstable();
    lags.sort_unstable();
    result.schedule_lag_max = lags.last().copied().unwrap_or_default();
    result.schedule_lag_p99 = percentile_duration(&lags, 99.0);
    result
}

#[derive(Default)]
struct OutboundResult {
    conversations: usize,
    setup: Tally,
    setup_time: Duration,
    replies: Tally,
    post_window: Duration,
    received_during_window: u64,
    received: u64,
    bad_signatures: u64,
    /// From the first reply posted to the last callback received.
    send_span: Duration,
    drain_after_window: Duration,
    ws_replies_seen: u64,
    cpu: CpuUse,
}

/// c) creates `conversations` conversations (one inbound message each), then posts
/// replies into them with `reply_concurrency` in flight for `duration` and waits until
/// the callback server got every accepted reply.
async fn phase_outbound(
    hub: &Hub,
    options: &Options,
    callback: &CallbackServer,
    socket: &Arc<SocketStats>,
    server_pid: u32,
    ticks: f64,
    nonce: &str,
) -> Result<OutboundResult, String> {
    let mut result = OutboundResult::default();
    // Conversations: one new contact each, 64 webhooks in flight.
    let setup_start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..64 {
        let client = hub.client.clone();
        let url = hub.webhook_url.clone();
        let secret = hub.secret.clone();
        let next = next.clone();
        let nonce = nonce.to_owned();
        let wanted = options.conversations as u64;
        workers.spawn(async move {
            let mut ids = Vec::new();
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= wanted {
                    break;
                }
                let posted = post_message(
                    &client,
                    &url,
                    &secret,
                    &format!("c-{nonce}-{n}"),
                    &format!("out-{nonce}-{n}"),
                    &format!("C.{n}"),
                    true,
                )
                .await;
                if let Posted::Stored {
                    conversation_id: Some(id),
                } = &posted
                {
                    ids.push(id.clone());
                }
                tally.add(&posted);
            }
            (ids, tally)
        });
    }
    let mut conversations = Vec::new();
    while let Some(joined) = workers.join_next().await {
        let (ids, tally) = joined.map_err(|e| e.to_string())?;
        conversations.extend(ids);
        result.setup.merge(tally);
    }
    result.setup_time = setup_start.elapsed();
    result.conversations = conversations.len();
    if conversations.is_empty() {
        return Err(format!(
            "no conversation could be created: {}",
            result.setup.problems()
        ));
    }
    let conversations = Arc::new(conversations);

    // Replies, closed loop.
    let before = callback.received();
    let meter = CpuMeter::start(&[server_pid]);
    let start = Instant::now();
    let deadline = start + options.duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..options.reply_concurrency {
        let client = hub.client.clone();
        let base = hub.base.clone();
        let token = hub.token.clone();
        let next = next.clone();
        let conversations = conversations.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let id = &conversations[n as usize % conversations.len()];
                let response = client
                    .post(format!("{base}/api/v1/conversations/{id}/messages"))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(format!(r#"{{"content":"R.{n}"}}"#))
                    .send()
                    .await;
                let posted = match response {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        match r.text().await {
                            Ok(_) if status == 201 => Posted::Stored {
                                conversation_id: None,
                            },
                            Ok(body) => Posted::Refused(status, body),
                            Err(e) => Posted::Failed(e.to_string()),
                        }
                    }
                    Err(e) => Posted::Failed(e.to_string()),
                };
                tally.add(&posted);
            }
            tally
        });
    }
    while let Some(joined) = workers.join_next().await {
        let tally = joined.map_err(|e| e.to_string())?;
        result.replies.merge(tally);
    }
    result.post_window = start.elapsed();
    result.received_during_window = callback.received() - before;
    let accepted = result.replies.ok;
    let (drain, _) = wait_for_count(
        || callback.received() - before,
        accepted,
        Duration::from_secs(20),
        Duration::from_secs(300),
    )
    .await;
    result.drain_after_window = drain;
    result.cpu = meter.stop(ticks);
    result.received = callback.received() - before;
    result.bad_signatures = callback.stats.bad_signature.load(Ordering::SeqCst);
    let last = callback
        .stats
        .instant(callback.stats.last.load(Ordering::SeqCst))
        .unwrap_or(start);
    result.send_span = last.saturating_duration_since(start);
    result.ws_replies_seen = socket.created_replies.load(Ordering::Relaxed);
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// One backend

struct Report {
    backend: Backend,
    ready_after: Duration,
    /// The hub's RSS 2 s after it was ready, before any load (issue #23: at most 20 MiB).
    idle_rss_kb: u64,
    data_dir: String,
    inbound: Option<InboundResult>,
    latency: Option<LatencyResult>,
    outbound: Option<OutboundResult>,
    widget: Option<widget_phase::WidgetResult>,
    whatsapp: Vec<whatsapp_phase::WhatsAppResult>,
    email: Option<email_phase::MailResult>,
    sla: Option<sla_phase::SlaResult>,
    reports: Option<reports_phase::ReportsResult>,
    rss_after: Vec<(&'static str, u64)>,
    peak_rss_kb: u64,
    final_rss_kb: u64,
    threads: u64,
    sockets: usize,
    resyncs: u64,
    sockets_closed: usize,
    server_log_lines: usize,
}

async fn run_backend(
    backend: Backend,
    options: &Options,
    binary: &Path,
    callback: &CallbackServer,
) -> Result<Report, String> {
    // Declared in this order so they drop in reverse: hub first, then its database.
    let data_dir = tempfile::Builder::new()
        .prefix("switchboard-bench-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create(&options.pg_url)?),
    };
    let mut extra = Vec::new();
    if let Some(db) = &database {
        extra.push(("SWITCHBOARD_DATABASE_URL".into(), db.url.clone()));
        println!("PostgreSQL database: {}", db.name);
    }
    let env = hub_env(data_dir.path(), free_port()?, extra, options);
    print_env(&env);
    let mut server = Server::start(binary, &env, data_dir.path())?;
    let ready_after = server.wait_ready(&load_client()).await?;
    // Idle memory once start-up work in the background (the login decoy hash) is done.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kb = server.memory_kb("VmRSS").unwrap_or(0);
    let server_pid = server.pid();
    if options.phases.contains('w') {
        // Each socket is a file descriptor on both sides.
        let limit = (options.widget_sockets as u64 + 5_000).max(20_000);
        widget_phase::raise_nofile(server_pid, limit);
        widget_phase::raise_nofile(std::process::id(), limit);
    }
    let ticks = clock_ticks_per_second();

    let hub = set_up_hub(&server.base, &callback.url).await?;
    callback.set_secret(std::str::from_utf8(&hub.secret).unwrap_or_default());

    let b_total = (options.rate * options.duration.as_secs()) as usize;
    let base = Instant::now();
    let mut socket_tasks = JoinSet::new();
    let mut sockets = Vec::new();
    for i in 0..options.sockets {
        let stats = Arc::new(SocketStats::new(base, (i == 0).then_some(b_total)));
        open_socket(&server.base, &hub.token, stats.clone(), &mut socket_tasks).await?;
        sockets.push(stats);
    }

    let nonce = unique_suffix();
    let mut report = Report {
        backend,
        ready_after,
        idle_rss_kb,
        data_dir: data_dir.path().display().to_string(),
        inbound: None,
        latency: None,
        outbound: None,
        widget: None,
        whatsapp: Vec::new(),
        email: None,
        sla: None,
        reports: None,
        rss_after: Vec::new(),
        peak_rss_kb: 0,
        final_rss_kb: 0,
        threads: 0,
        sockets: options.sockets,
        resyncs: 0,
        sockets_closed: 0,
        server_log_lines: 0,
    };
    let check_alive = |server: &mut Server, phase: &str| {
        if server.running() {
            Ok(())
        } else {
            Err(format!(
                "the hub died during {phase}:\n{}",
                server.log_tail()
            ))
        }
    };
    if options.phases.contains('a') {
        println!(
            "a) inbound throughput: {} s, {} in flight ...",
            options.duration.as_secs(),
            options.concurrency
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        let statements_before = db_statements(&hub).await;
        let mut inbound = phase_inbound(
            &hub,
            std::slice::from_ref(&hub.webhook_url),
            options,
            &sockets,
            &[server_pid],
            ticks,
            &nonce,
        )
        .await;
        if let (Some(before), Some(after)) = (statements_before, db_statements(&hub).await) {
            inbound.statements = Some(after.saturating_sub(before));
        }
        report.inbound = Some(inbound);
        check_alive(&mut server, "phase a")?;
        report
            .rss_after
            .push(("a", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('b') {
        println!(
            "b) latency at {} msg/s open loop: {} s ...",
            options.rate,
            options.duration.as_secs()
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        report.latency = Some(
            phase_latency(
                &hub,
                std::slice::from_ref(&hub.webhook_url),
                options,
                &sockets[0],
                &[server_pid],
                ticks,
                &nonce,
            )
            .await,
        );
        check_alive(&mut server, "phase b")?;
        report
            .rss_after
            .push(("b", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('c') {
        println!(
            "c) outbound: {} conversations, replies for {} s with {} in flight ...",
            options.conversations,
            options.duration.as_secs(),
            options.reply_concurrency
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        report.outbound = Some(
            phase_outbound(
                &hub,
                options,
                callback,
                &sockets[0],
                server_pid,
                ticks,
                &nonce,
            )
            .await?,
        );
        check_alive(&mut server, "phase c")?;
        report
            .rss_after
            .push(("c", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('x') {
        println!(
            "x) WhatsApp webhooks of 1 and of 100 messages: {} s each, {} in flight ...",
            options.duration.as_secs(),
            options.wa_concurrency
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        let graph_url = callback.url.replace("/callback", "/graph/");
        report.whatsapp = whatsapp_phase::run(
            &hub.client,
            &server.base,
            &hub.token,
            &graph_url,
            options.duration,
            options.wa_concurrency,
            options.contacts,
            &nonce,
        )
        .await?;
        check_alive(&mut server, "phase x")?;
        report
            .rss_after
            .push(("x", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('m') {
        println!(
            "m) raw MIME mails to an email inbox's webhook: {} s, {} in flight ...",
            options.duration.as_secs(),
            options.mail_concurrency
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        report.email = Some(
            email_phase::run(
                &hub.client,
                &server.base,
                &hub.token,
                options.duration,
                options.mail_concurrency,
                options.contacts,
                &nonce,
            )
            .await?,
        );
        check_alive(&mut server, "phase m")?;
        report
            .rss_after
            .push(("m", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('w') {
        println!(
            "w) widget: {} idle visitor sockets, then {} round trips ...",
            options.widget_sockets, options.round_trips
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        let pid = server_pid.to_string();
        report.widget = Some(
            widget_phase::run(
                &hub.client,
                &server.base,
                &hub.token,
                options.widget_sockets,
                options.round_trips,
                || proc_status(&pid, "VmRSS").unwrap_or(0),
            )
            .await?,
        );
        check_alive(&mut server, "phase w")?;
        report
            .rss_after
            .push(("w", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('r') {
        println!(
            "r) reports: {} conversations of 10 messages written into the database, rollups rebuilt, every report asked ...",
            options.report_conversations
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        let store = match &database {
            Some(db) => reports_phase::Store::Postgres(db.url.clone()),
            None => reports_phase::Store::Sqlite(data_dir.path().join("switchboard.db")),
        };
        report.reports = Some(reports_phase::run(&hub, store, options.report_conversations).await?);
        check_alive(&mut server, "phase r")?;
        report
            .rss_after
            .push(("r", server.memory_kb("VmRSS").unwrap_or(0)));
    }
    if options.phases.contains('s') {
        println!(
            "s) SLA: {} open conversations with running clocks ({} in flight), then a restart ...",
            options.sla_conversations, options.concurrency
        );
        let _ = std::io::stdout().flush();
        wait_for_quiet(&[server_pid], options.quiet_wait, ticks).await;
        let pid = server_pid.to_string();
        let mut sla = sla_phase::seed(
            &hub,
            options.sla_conversations,
            options.concurrency,
            &nonce,
            || proc_status(&pid, "VmRSS").unwrap_or(0),
        )
        .await?;
        check_alive(&mut server, "phase s")?;
        report
            .rss_after
            .push(("s", server.memory_kb("VmRSS").unwrap_or(0)));
        // The peak before the restart (the restarted process starts its own).
        report.peak_rss_kb = server.memory_kb("VmHWM").unwrap_or(0);
        socket_tasks.abort_all();
        drop(server);
        server = Server::start(binary, &env, data_dir.path())?;
        sla.restart_ready = Some(server.wait_ready(&load_client()).await?);
        sla.start_pass_ms = sla_phase::start_pass(&hub, &server.base).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        sla.restart_idle_rss_kb = server.memory_kb("VmRSS").unwrap_or(0);
        report.sla = Some(sla);
    }
    report.peak_rss_kb = report
        .peak_rss_kb
        .max(server.memory_kb("VmHWM").unwrap_or(0));
    report.final_rss_kb = server.memory_kb("VmRSS").unwrap_or(0);
    report.threads = server.memory_kb("Threads").unwrap_or(0);
    report.resyncs = sockets
        .iter()
        .map(|s| s.resyncs.load(Ordering::Relaxed))
        .sum();
    report.sockets_closed = sockets
        .iter()
        .filter(|s| s.closed.load(Ordering::Relaxed))
        .count();
    report.server_log_lines = server.log_lines();
    if report.server_log_lines > 0 {
        println!(
            "hub log (warnings and errors), last lines:\n{}",
            server.log_tail()
        );
    }
    socket_tasks.abort_all();
    let log_path = server.log.clone();
    drop(server);
    if let Some(prefix) = &options.server_log {
        let kept = PathBuf::from(format!(
            "{}-{}.log",
            prefix.display(),
            backend.name().to_lowercase()
        ));
        match std::fs::copy(&log_path, &kept) {
            Ok(_) => println!("hub log kept in {}", kept.display()),
            Err(e) => eprintln!("cannot keep the hub log in {}: {e}", kept.display()),
        }
    }
    drop(database);
    Ok(report)
}

/// The environment of one hub process: its data dir and port, then `extra` (database,
/// cluster), then `--server-env`.
fn hub_env(
    data_dir: &Path,
    port: u16,
    extra: Vec<(String, String)>,
    options: &Options,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        (
            "SWITCHBOARD_DATA_DIR".into(),
            data_dir.display().to_string(),
        ),
        ("SWITCHBOARD_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("SWITCHBOARD_ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
        ("SWITCHBOARD_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        ("SWITCHBOARD_LOG_LEVEL".into(), "warn".into()),
        // Stopping at the end (or on Ctrl-C) need not wait 30 s for open websockets.
        ("SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS".into(), "2".into()),
        (
            "SWITCHBOARD_OUTBOUND_CONCURRENCY".into(),
            OUTBOUND_CONCURRENCY.into(),
        ),
        (
            "SWITCHBOARD_OUTBOUND_RATE_PER_SECOND".into(),
            OUTBOUND_RATE.into(),
        ),
        // Phase w gives each visitor its own address (X-Forwarded-For), as on the web.
        ("SWITCHBOARD_TRUST_PROXY_HEADERS".into(), "true".into()),
        // Phase w measures memory per idle socket up to the open-file limit; a real hub keeps
        // a fifth of that limit for webhooks and agents.
        (
            "SWITCHBOARD_REALTIME_MAX_VISITOR_SOCKETS".into(),
            "19990".into(),
        ),
    ];
    env.extend(extra);
    for (k, v) in &options.server_env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Prints a hub's environment (without the password, the secret key and the data dir).
fn print_env(env: &[(String, String)]) {
    let shown: Vec<String> = env
        .iter()
        .filter(|(k, _)| {
            !k.contains("PASSWORD") && !k.contains("SECRET") && k != "SWITCHBOARD_DATA_DIR"
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("hub environment: {}", shown.join(" "));
}

// ---------------------------------------------------------------------------------------
// Output

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn percentile_duration(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

fn grouped(n: f64) -> String {
    let whole = n.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

struct Table {
    rows: Vec<(String, String, String)>,
}

impl Table {
    fn new() -> Self {
        Self { rows: Vec::new() }
    }
    fn row(
        &mut self,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
    ) {
        self.rows.push((metric.into(), value.into(), target.into()));
    }
    fn print(&self) {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0);
        for (m, v, t) in &self.rows {
            let line = format!("  {m:<w0$}  {v:<w1$}  {t}");
            println!("{}", line.trim_end());
        }
    }
}

impl Report {
    fn inbound_rate(&self) -> Option<f64> {
        self.inbound
            .as_ref()
            .map(|i| i.tally.ok as f64 / i.elapsed.as_secs_f64().max(1e-9))
    }

    fn print(&self, options: &Options) {
        let name = self.backend.name();
        println!(
            "\n--- {name} results (hub ready {:.0} ms after exec, idle RSS {}; data dir {}) ---",
            self.ready_after.as_secs_f64() * 1000.0,
            mib(self.idle_rss_kb),
            self.data_dir
        );
        let mut t = Table::new();
        t.row("metric", "result", "target (issue #3)");
        if let Some(a) = &self.inbound {
            let rate = self.inbound_rate().unwrap_or(0.0);
            let target = if self.backend == Backend::Sqlite {
                format!(
                    ">= {} msg/s on SQLite: {}",
                    grouped(TARGET_INBOUND_SQLITE),
                    verdict(rate >= TARGET_INBOUND_SQLITE)
                )
            } else {
                format!(
                    ">= {} msg/s is the SQLite target (for comparison)",
                    grouped(TARGET_INBOUND_SQLITE)
                )
            };
            t.row(
                format!(
                    "a) inbound msg/s sustained ({} in flight)",
                    options.concurrency
                ),
                grouped(rate),
                target,
            );
            if let Some(statements) = a.statements {
                t.row(
                    "   database statements per stored message",
                    format!(
                        "{:.2} ({} in all)",
                        statements as f64 / (a.tally.ok.max(1)) as f64,
                        grouped(statements as f64)
                    ),
                    "background work included (issue #23 counts round trips)",
                );
            }
            let mut per_second = a.per_second.clone();
            per_second.sort_unstable();
            t.row(
                "   per-second min / median / max",
                format!(
                    "{} / {} / {}",
                    grouped(per_second.first().copied().unwrap_or(0) as f64),
                    grouped(percentile(&per_second, 50.0) as f64),
                    grouped(per_second.last().copied().unwrap_or(0) as f64)
                ),
                "",
            );
            t.row(
                "   webhooks answered 200 (stored)",
                format!(
                    "{} in {:.2} s",
                    grouped(a.tally.ok as f64),
                    a.elapsed.as_secs_f64()
                ),
                a.tally.problems(),
            );
            let all = a.ws_min == a.tally.ok && a.ws_max == a.tally.ok;
            t.row(
                "   message.created on websocket 1",
                format!(
                    "{} of {}",
                    grouped(a.ws_first as f64),
                    grouped(a.tally.ok as f64)
                ),
                if a.ws_first == a.tally.ok {
                    "all delivered"
                } else {
                    "MISMATCH"
                },
            );
            t.row(
                format!("   ... on all {} websockets (min / max)", self.sockets),
                format!(
                    "{} / {}",
                    grouped(a.ws_min as f64),
                    grouped(a.ws_max as f64)
                ),
                format!(
                    "{}; last one {:.2} s after the final answer",
                    if all { "all delivered" } else { "MISMATCH" },
                    a.ws_wait.as_secs_f64()
                ),
            );
            t.row(
                "   CPU, % of one core",
                a.cpu.describe(),
                "200% = both cores busy",
            );
        }
        if let Some(b) = &self.latency {
            let p99 = percentile(&b.ws_latency, 99.0);
            t.row(
                format!("b) POST -> websocket latency @ {} msg/s", options.rate),
                format!(
                    "p50 {} | p90 {} | p99 {} | max {}",
                    ms(percentile(&b.ws_latency, 50.0)),
                    ms(percentile(&b.ws_latency, 90.0)),
                    ms(p99),
                    ms(b.ws_latency.last().copied().unwrap_or(0))
                ),
                format!(
                    "p99 <= {TARGET_P99_MS} ms: {}",
                    verdict((p99 as f64) / 1000.0 <= TARGET_P99_MS && !b.ws_latency.is_empty())
                ),
            );
            t.row(
                "   HTTP answer latency",
                format!(
                    "p50 {} | p99 {} | max {}",
                    ms(percentile(&b.http_latency, 50.0)),
                    ms(percentile(&b.http_latency, 99.0)),
                    ms(b.http_latency.last().copied().unwrap_or(0))
                ),
                "",
            );
            let signed_ms = |us: i64| format!("{:.2} ms", us as f64 / 1000.0);
            t.row(
                "   websocket frame after the HTTP answer",
                format!(
                    "p50 {} | p99 {} | max {}",
                    signed_ms(percentile(&b.ws_after_answer, 50.0)),
                    signed_ms(percentile(&b.ws_after_answer, 99.0)),
                    signed_ms(b.ws_after_answer.last().copied().unwrap_or(0))
                ),
                "fan-out after commit + socket + bench client",
            );
            if !b.slow_sent_at_ms.is_empty() {
                let mut seconds: Vec<u64> = b.slow_sent_at_ms.iter().map(|ms| ms / 1000).collect();
                seconds.dedup();
                let first = b.slow_sent_at_ms.iter().min().copied().unwrap_or(0);
                let last = b.slow_sent_at_ms.iter().max().copied().unwrap_or(0);
                t.row(
                    format!("   sends slower than {SLOW_MS} ms"),
                    format!(
                        "{} ({:.1}%), sent {:.2}..{:.2} s into the phase",
                        b.slow_sent_at_ms.len(),
                        b.slow_sent_at_ms.len() as f64 * 100.0 / b.ws_latency.len().max(1) as f64,
                        first as f64 / 1000.0,
                        last as f64 / 1000.0
                    ),
                    format!("in {} distinct second(s)", seconds.len()),
                );
            }
            t.row(
                "   sent / stored / seen on websocket",
                format!(
                    "{} / {} / {}",
                    grouped(b.scheduled as f64),
                    grouped(b.tally.ok as f64),
                    grouped(b.ws_latency.len() as f64)
                ),
                format!("{} not seen; {}", b.not_seen, b.tally.problems()),
            );
            t.row(
                "   achieved send rate; schedule lag p99 / max",
                format!(
                    "{} msg/s; {} / {}",
                    grouped(b.scheduled as f64 / b.send_window.as_secs_f64().max(1e-9)),
                    ms(b.schedule_lag_p99.as_micros() as u64),
                    ms(b.schedule_lag_max.as_micros() as u64)
                ),
                "open loop (sends on a clock, not after answers)",
            );
            t.row("   CPU, % of one core", b.cpu.describe(), "");
        }
        if let Some(c) = &self.outbound {
            t.row(
                format!(
                    "c) replies accepted/s ({} in flight)",
                    options.reply_concurrency
                ),
                grouped(c.replies.ok as f64 / c.post_window.as_secs_f64().max(1e-9)),
                format!(
                    "{} replies in {:.2} s over {} conversations; {}",
                    grouped(c.replies.ok as f64),
                    c.post_window.as_secs_f64(),
                    c.conversations,
                    c.replies.problems()
                ),
            );
            t.row(
                "   outbound sends/s (callback received)",
                grouped(c.received as f64 / c.send_span.as_secs_f64().max(1e-9)),
                format!(
                    "{} of {} delivered, last {:.2} s after the first reply",
                    grouped(c.received as f64),
                    grouped(c.replies.ok as f64),
                    c.send_span.as_secs_f64()
                ),
            );
            t.row(
                "   sends/s while replies were posted",
                grouped(c.received_during_window as f64 / c.post_window.as_secs_f64().max(1e-9)),
                format!(
                    "backlog drained {:.2} s after posting stopped; {} bad signatures",
                    c.drain_after_window.as_secs_f64(),
                    c.bad_signatures
                ),
            );
            t.row(
                "   conversation set-up (inbound, 64 in flight)",
                format!("{} in {:.2} s", c.conversations, c.setup_time.as_secs_f64()),
                c.setup.problems(),
            );
            t.row("   CPU (replies + drain)", c.cpu.describe(), "");
        }
        for x in &self.whatsapp {
            let answers = &x.answers;
            t.row(
                format!("x) WhatsApp webhooks of {} message(s)", x.batch),
                format!(
                    "{} durable msg/s ({} webhooks, answer p50 {:.1} / p99 {:.1} ms)",
                    grouped(x.per_second()),
                    grouped(x.webhooks as f64),
                    percentile_duration(answers, 50.0).as_secs_f64() * 1e3,
                    percentile_duration(answers, 99.0).as_secs_f64() * 1e3,
                ),
                {
                    let mut problems = format!("{} failed", x.failed);
                    if let Some(p) = &x.first_problem {
                        let p: String = p.chars().take(160).collect();
                        let _ = write!(problems, " (first: {p})");
                    }
                    if x.batch > 1 && matches!(self.backend, Backend::Sqlite) {
                        let _ = write!(
                            problems,
                            "; >= {TARGET_WHATSAPP_BATCHED} msg/s on SQLite: {}",
                            verdict(x.per_second() >= TARGET_WHATSAPP_BATCHED as f64)
                        );
                    }
                    problems
                },
            );
        }
        if let Some(r) = &self.reports {
            let slowest = r.slowest().as_secs_f64() * 1e3;
            t.row(
                "r) reports over a seeded history",
                format!(
                    "{} messages in {} conversations written in {:.1} s; rollups rebuilt in {:.1} s ({} rows); \
                     slowest report answer {:.0} ms",
                    grouped(r.messages as f64),
                    grouped(r.conversations as f64),
                    r.seed.as_secs_f64(),
                    r.rebuild.as_secs_f64(),
                    grouped(r.rollup_rows as f64),
                    slowest,
                ),
                format!(
                    "each <= {:.0} ms: {}",
                    reports_phase::TARGET_QUERY_MS,
                    verdict(slowest <= reports_phase::TARGET_QUERY_MS)
                ),
            );
            for (name, median, max) in &r.queries {
                let max_ms = max.as_secs_f64() * 1e3;
                t.row(
                    format!("   r) {name}"),
                    format!(
                        "median {:.1} ms, slowest of 5 {max_ms:.1} ms",
                        median.as_secs_f64() * 1e3
                    ),
                    verdict(max_ms <= reports_phase::TARGET_QUERY_MS).to_owned(),
                );
            }
        }
        if let Some(s) = &self.sla {
            t.row(
                "s) SLA clocks (open conversations, then a restart)",
                format!(
                    "{} conversations opened at {} msg/s with the supervisor at work, all clocked {} after the last; \
                     RSS {} -> {} MiB; after a restart ready in {} ms, timers reloaded in {}, idle RSS {} MiB",
                    grouped(s.conversations as f64),
                    grouped(s.seed_rate()),
                    s.caught_up_after
                        .map_or("never (10 min)".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
                    s.rss_before_kb / 1024,
                    s.rss_after_kb / 1024,
                    s.restart_ready.map_or(0, |d| d.as_millis()),
                    s.start_pass_ms
                        .map_or("(not reported)".to_owned(), |ms| format!("{ms:.0} ms")),
                    s.restart_idle_rss_kb / 1024,
                ),
                {
                    let mut problems = format!("{} failed", s.failed);
                    if let Some(p) = &s.first_problem {
                        let p: String = p.chars().take(160).collect();
                        let _ = write!(problems, " (first: {p})");
                    }
                    problems
                },
            );
        }
        if let Some(m) = &self.email {
            t.row(
                "m) raw MIME mails (webhook, one per POST)",
                format!(
                    "{} durable mails/s ({} B each, answer p50 {:.1} / p99 {:.1} ms)",
                    grouped(m.per_second()),
                    m.mail_bytes,
                    percentile_duration(&m.answers, 50.0).as_secs_f64() * 1e3,
                    percentile_duration(&m.answers, 99.0).as_secs_f64() * 1e3,
                ),
                {
                    let mut problems = format!("{} failed", m.failed);
                    if let Some(p) = &m.first_problem {
                        let p: String = p.chars().take(160).collect();
                        let _ = write!(problems, " (first: {p})");
                    }
                    problems
                },
            );
        }
        if let Some(w) = &self.widget {
            let per = w.per_socket_kb();
            t.row(
                "w) idle widget sockets held",
                format!(
                    "{} of {} (opened in {:.1} s; {} still open after 35 s idle)",
                    grouped(w.sockets_open as f64),
                    grouped(w.sockets_wanted as f64),
                    w.open_secs,
                    grouped(w.still_open_after_idle as f64)
                ),
                format!(
                    ">= {}: {}",
                    grouped(TARGET_WIDGET_SOCKETS as f64),
                    verdict(w.still_open_after_idle >= TARGET_WIDGET_SOCKETS)
                ),
            );
            t.row(
                "   RSS per idle widget socket",
                format!(
                    "{per:.1} KB ({} -> {})",
                    mib(w.rss_before_kb),
                    mib(w.rss_idle_kb)
                ),
                format!(
                    "<= {TARGET_WIDGET_KB_PER_SOCKET} KB: {}",
                    verdict(per <= TARGET_WIDGET_KB_PER_SOCKET)
                ),
            );
            let mut trips: Vec<Duration> = w.round_trips.clone();
            trips.sort();
            t.row(
                "   round trip visitor -> agent -> visitor",
                format!(
                    "p50 {} / p99 {} / max {} over {} ({} lost)",
                    ms(percentile_duration(&trips, 50.0).as_micros() as u64),
                    ms(percentile_duration(&trips, 99.0).as_micros() as u64),
                    ms(trips.last().copied().unwrap_or_default().as_micros() as u64),
                    trips.len(),
                    w.round_trip_errors
                ),
                "",
            );
        }
        t.row(
            "d) peak RSS of the hub (VmHWM)",
            mib(self.peak_rss_kb),
            format!(
                "RSS at end {} ({} threads)",
                mib(self.final_rss_kb),
                self.threads
            ),
        );
        if !self.rss_after.is_empty() {
            let after: Vec<String> = self
                .rss_after
                .iter()
                .map(|(phase, kb)| format!("after {phase}: {}", mib(*kb)))
                .collect();
            t.row("   RSS after each phase", after.join(", "), "");
        }
        t.row(
            "   websockets",
            format!(
                "{} open, {} closed early",
                self.sockets - self.sockets_closed,
                self.sockets_closed
            ),
            format!("{} resync frames (slow-client drops)", self.resyncs),
        );
        t.print();
    }
}

fn print_summary(reports: &[Report], options: &Options) {
    println!(
        "\n=== Summary ({} s per phase) ===",
        options.duration.as_secs()
    );
    let mut t = Table::new();
    let mut header = vec!["metric".to_owned()];
    header.extend(reports.iter().map(|r| r.backend.name().to_owned()));
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut add = |i: usize, label: &str, value: String| {
        rows.entry(i)
            .or_insert_with(|| vec![label.to_owned()])
            .push(value);
    };
    for r in reports {
        add(
            0,
            "inbound msg/s (target >= 5,000 on SQLite)",
            r.inbound_rate().map_or("-".into(), grouped),
        );
        add(
            1,
            &format!(
                "p50 / p99 POST->ws @ {}/s (target p99 <= 20 ms)",
                options.rate
            ),
            r.latency.as_ref().map_or("-".into(), |b| {
                format!(
                    "{} / {}",
                    ms(percentile(&b.ws_latency, 50.0)),
                    ms(percentile(&b.ws_latency, 99.0))
                )
            }),
        );
        add(
            2,
            "outbound sends/s",
            r.outbound.as_ref().map_or("-".into(), |c| {
                grouped(c.received as f64 / c.send_span.as_secs_f64().max(1e-9))
            }),
        );
        add(3, "peak RSS", mib(r.peak_rss_kb));
        if let Some(w) = &r.widget {
            let mut trips = w.round_trips.clone();
            trips.sort();
            add(
                4,
                "idle widget sockets / KB each (target >= 20,000 / <= 20)",
                format!(
                    "{} / {:.1}",
                    grouped(w.still_open_after_idle as f64),
                    w.per_socket_kb()
                ),
            );
            add(
                5,
                "widget round trip p50 / p99",
                format!(
                    "{} / {}",
                    ms(percentile_duration(&trips, 50.0).as_micros() as u64),
                    ms(percentile_duration(&trips, 99.0).as_micros() as u64)
                ),
            );
        }
    }
    let mut table = vec![header];
    table.extend(rows.into_values());
    for row in table {
        let mut cells = row.into_iter();
        let metric = cells.next().unwrap_or_default();
        let rest: Vec<String> = cells.collect();
        t.row(metric, rest.join("  |  "), "");
    }
    t.print();
}
