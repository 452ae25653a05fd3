//! The `switchboard` binary itself: start-up errors, serving, signals and subcommands.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::db::Database;

use crate::helpers::{TestDatabase, test_env};

/// The binary with a clean, test-owned configuration (no developer local.toml).
fn switchboard(dir: &Path, db: &TestDatabase) -> Command {
    // SWITCHBOARD_CONFIG_DIR below requires a local.toml; tests may write their own.
    let local = dir.join("local.toml");
    if !local.exists() {
        std::fs::write(&local, "# test overrides\n").unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
        command.env_remove(key);
    }
    command
        .env("SWITCHBOARD_CONFIG_DIR", dir)
        .env("SWITCHBOARD_DATA_DIR", dir.join("data"))
        .env("SWITCHBOARD_LISTEN", "127.0.0.1:0")
        .env("SWITCHBOARD_WORKERS", "1")
        .env("SWITCHBOARD_LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .stdin(Stdio::null());
    if !db.url.is_empty() {
        command.env("SWITCHBOARD_DATABASE_URL", &db.url);
    }
    command
}

fn run(mut command: Command) -> (Output, String, String) {
    let output = command.output().expect("run switchboard");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Runs the command with `input` on its standard input.
fn run_with_stdin(mut command: Command, input: &str) -> (Output, String, String) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run switchboard");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for switchboard");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Starts `serve`; once it listens, returns the child, its base URL, the output lines so
/// far and the receiver of the lines still to come.
// The child is handed to the caller, who waits for it.
#[allow(clippy::zombie_processes)]
fn start(mut command: Command) -> (Child, String, Vec<String>, mpsc::Receiver<String>) {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let (tx, rx) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the hub did not start within 60 s; output: {seen:#?}");
        };
        // Pretty logs say `url=http://…`; JSON logs say `"url":"http://…"`.
        let addr = line
            .split("url=http://")
            .nth(1)
            .or_else(|| line.split("\"url\":\"http://").nth(1))
            .filter(|_| line.contains("switchboard is listening"))
            .and_then(|rest| rest.split([' ', '"']).next())
            .map(str::to_owned);
        if let Some(addr) = addr {
            seen.push(line);
            return (child, format!("http://{addr}"), seen, rx);
        }
        seen.push(line);
    }
}

#[actix_web::test]
async fn a_bad_config_value_stops_start_up_with_a_message() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = switchboard(dir.path(), &db);
    command.env("SWITCHBOARD_LISTEN", "localhost-ish");
    let (output, _, stderr) = run(command);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("server.listen") && stderr.contains("SWITCHBOARD_LISTEN"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");

    std::fs::write(
        dir.path().join("local.toml"),
        "[database]\nmax_connections = \"eight\"\n",
    )
    .unwrap();
    let (output, _, stderr) = run(switchboard(dir.path(), &db));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max_connections"), "{stderr}");
}

#[actix_web::test]
async fn serve_creates_the_env_admin_and_stops_gracefully_on_sigterm() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = switchboard(dir.path(), &db);
    command
        .env("SWITCHBOARD_ADMIN_EMAIL", "boss@example.com")
        .env("SWITCHBOARD_ADMIN_PASSWORD", "a long admin passphrase");
    let (mut child, base, _, _) = start(command);

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "boss@example.com", "password": "a long admin passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["agent"]["role"], "admin");
    let ready = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "graceful exit on SIGTERM"
    );
}

#[actix_web::test]
async fn serve_on_an_empty_hub_says_how_to_create_the_first_admin_and_logs_json() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = switchboard(dir.path(), &db);
    command.env("SWITCHBOARD_LOG_FORMAT", "json");
    let (mut child, base, mut output, rest) = start(command);
    let listening: Value = serde_json::from_str(output.last().unwrap()).expect("JSON log line");
    assert_eq!(listening["fields"]["message"], "switchboard is listening");
    assert_eq!(listening["level"], "INFO");
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let _ = child.kill();
    let _ = child.wait();
    output.extend(rest.iter());
    let hints: Vec<&String> = output
        .iter()
        .filter(|l| l.contains("switchboard admin create"))
        .collect();
    assert_eq!(hints.len(), 1, "exactly one hint line in {output:#?}");
    assert!(hints[0].contains("SWITCHBOARD_ADMIN_EMAIL"));
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[actix_web::test]
async fn admin_create_takes_a_password_or_generates_one() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();

    let mut command = switchboard(dir.path(), &db);
    command.args([
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--name",
        "Ops",
        "--password-stdin",
    ]);
    let (output, stdout, stderr) = run_with_stdin(command, "typed in on stdin\n");
    assert!(output.status.success(), "{stdout} {stderr}");
    assert!(stdout.contains("Created admin ops@example.com"), "{stdout}");
    assert!(!stdout.contains("typed in on stdin"));

    let mut again = switchboard(dir.path(), &db);
    again.args([
        "admin",
        "create",
        "--email",
        "OPS@example.com",
        "--name",
        "Ops",
    ]);
    let (output, _, stderr) = run(again);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("already exists"), "{stderr}");

    let mut generated = switchboard(dir.path(), &db);
    generated.args([
        "admin",
        "create",
        "--email",
        "second@example.com",
        "--name",
        "Second",
    ]);
    let (output, stdout, _) = run(generated);
    assert!(output.status.success());
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Password (shown once): "))
        .expect("generated password printed")
        .to_owned();

    let mut bad = switchboard(dir.path(), &db);
    bad.args(["admin", "create", "--email", "not-an-email", "--name", "X"]);
    let (output, _, stderr) = run(bad);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("--email"), "{stderr}");

    let mut reset = switchboard(dir.path(), &db);
    reset.args([
        "admin",
        "reset-password",
        "--email",
        "ops@example.com",
        "--password-stdin",
    ]);
    let (output, _, stderr) = run_with_stdin(reset, "reset on the command line\n");
    assert!(output.status.success(), "{stderr}");

    let mut unknown = switchboard(dir.path(), &db);
    unknown.args(["admin", "reset-password", "--email", "ghost@example.com"]);
    let (output, _, stderr) = run(unknown);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no agent with email ghost@example.com"),
        "{stderr}"
    );

    // Both admins exist with working passwords.
    let settings = Settings::from_layers(None, &test_env(&dir, &db)).unwrap();
    let mut settings = settings;
    settings.database.url = match db.url.as_str() {
        "" => switchboard::config::DatabaseUrl::Sqlite(dir.path().join("data/switchboard.db")),
        url => switchboard::config::DatabaseUrl::parse(url).unwrap(),
    };
    let database = Database::connect(&settings.database).await.unwrap();
    for (email, pw) in [
        ("ops@example.com", "reset on the command line"),
        ("second@example.com", password.as_str()),
    ] {
        let email = switchboard::domain::EmailAddress::parse(email).unwrap();
        let agent = switchboard::store::agents::find_by_email(
            &mut database.reader().await.unwrap(),
            &email,
        )
        .await
        .unwrap()
        .expect("created");
        assert_eq!(agent.role, switchboard::db::types::Role::Admin);
        assert!(switchboard::auth::verify_password(&agent.password_hash, pw));
        assert!(
            !switchboard::auth::verify_password(&agent.password_hash, "typed in on stdin"),
            "the reset replaced the first password"
        );
    }
}

#[actix_web::test]
async fn migrate_applies_once_then_reports_up_to_date() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = switchboard(dir.path(), &db);
    first.arg("migrate");
    let (output, stdout, stderr) = run(first);
    assert!(output.status.success(), "{stderr}");
    let applied = format!("applied {} migration(s)", db.migration_count());
    assert!(stdout.contains(&applied), "{stdout}");
    let mut second = switchboard(dir.path(), &db);
    second.arg("migrate");
    let (output, stdout, _) = run(second);
    assert!(output.status.success());
    assert!(stdout.contains("up to date"), "{stdout}");
}

#[actix_web::test]
async fn backup_copies_sqlite_and_points_postgres_to_pg_dump() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.db");
    if !db.is_postgres() {
        // No database yet: refuse rather than back up a freshly created empty one.
        let mut early = switchboard(dir.path(), &db);
        early.arg("backup").arg(&target);
        let (output, _, stderr) = run(early);
        assert_eq!(output.status.code(), Some(1));
        assert!(stderr.contains("no database at"), "{stderr}");
        assert!(!target.exists() && !dir.path().join("data/switchboard.db").exists());
    }
    let mut migrate = switchboard(dir.path(), &db);
    migrate.arg("migrate");
    assert!(run(migrate).0.status.success());

    let mut backup = switchboard(dir.path(), &db);
    backup.arg("backup").arg(&target);
    let (output, stdout, stderr) = run(backup);
    if db.is_postgres() {
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr.contains("pg_dump"), "{stderr}");
        return;
    }
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("Backup written"), "{stdout}");
    // It holds password hashes and secrets: readable by its owner only (issue #17, item 10).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "backup mode {mode:o}");
    }
    let copy = Database::connect(&switchboard::config::DatabaseSettings {
        url: switchboard::config::DatabaseUrl::Sqlite(target.clone()),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        busy_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    assert!(
        copy.pending_migrations().await.unwrap().is_empty(),
        "the copy is a complete database"
    );

    let mut again = switchboard(dir.path(), &db);
    again.arg("backup").arg(&target);
    let (output, _, stderr) = run(again);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("exists already"), "{stderr}");
}

#[actix_web::test]
async fn token_create_prints_a_working_token_once() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut admin = switchboard(dir.path(), &db);
    admin.args([
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--name",
        "Ops",
    ]);
    let (output, _, stderr) = run_with_stdin(admin, "");
    assert!(output.status.success(), "{stderr}");

    let mut create = switchboard(dir.path(), &db);
    create.args([
        "token",
        "create",
        "--email",
        "ops@example.com",
        "--name",
        "deploy script",
    ]);
    let (output, stdout, stderr) = run(create);
    assert!(output.status.success(), "{stderr}");
    // Only the token on standard output, so `TOKEN=$(switchboard token create …)` works.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("sb_pat_"), "{stdout}");
    assert!(stderr.contains("\"deploy script\""), "{stderr}");
    assert!(!stderr.contains(&token), "shown once, on stdout only");

    let mut unknown = switchboard(dir.path(), &db);
    unknown.args([
        "token",
        "create",
        "--email",
        "ghost@example.com",
        "--name",
        "x",
    ]);
    let (output, _, stderr) = run(unknown);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no agent with email ghost@example.com"),
        "{stderr}"
    );
    let mut unnamed = switchboard(dir.path(), &db);
    unnamed.args([
        "token",
        "create",
        "--email",
        "ops@example.com",
        "--name",
        " ",
    ]);
    let (output, _, stderr) = run(unnamed);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("--name"), "{stderr}");

    // The hub accepts it; admin variables given to a hub that has agents are ignored, and
    // the log says so.
    let mut command = switchboard(dir.path(), &db);
    command
        .env("SWITCHBOARD_ADMIN_EMAIL", "boss@example.com")
        .env("SWITCHBOARD_ADMIN_PASSWORD", "a long admin passphrase");
    let (mut child, base, lines, _) = start(command);
    let me: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["agent"]["email"], "ops@example.com");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("SWITCHBOARD_ADMIN_PASSWORD were ignored")),
        "{lines:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn every_command_and_flag_is_described_in_help() {
    for args in [
        vec!["--help"],
        vec!["admin", "create", "--help"],
        vec!["admin", "reset-password", "--help"],
        vec!["token", "create", "--help"],
        vec!["backup", "--help"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(&args)
            .output()
            .expect("run switchboard --help");
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        // clap lists an undescribed flag as its bare name at the end of a line.
        for line in help.lines() {
            let trimmed = line.trim();
            let bare = trimmed.starts_with("--") && !trimmed.contains("  ");
            assert!(!bare, "{args:?}: `{trimmed}` has no description\n{help}");
        }
    }
    let help = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["backup", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("SQLite only"));
}
