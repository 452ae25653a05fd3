//! An SMTP receiver per test: aiosmtpd (from the virtual environment `.ci/run` makes under
//! `target/venv`) running `smtp_sink.py` (beside this file, embedded in the test), writing
//! every accepted mail into a temp folder. `temp-fail@…` recipients get 451, `reject@…`
//! get 550. Shared with the hub's tests through `#[path]`: std, serde_json and tokio only.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "mailer";
const PASSWORD: &str = "smtp-secret";

/// One mail the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO) it accepted.
    pub recipients: Vec<String>,
    /// The message as sent.
    pub raw: Vec<u8>,
}

/// A running receiver; stopped (and its folder removed) on drop.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl SmtpSink {
    /// Starts the receiver with `python` (the venv's python3 with aiosmtpd installed).
    pub fn start(python: &Path) -> Self {
        let ready = python.exists()
            && Command::new(python)
                .args(["-c", "import aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ready,
            "aiosmtpd is missing: python3 -m venv target/venv && target/venv/bin/pip install aiosmtpd (.ci/run does)"
        );
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchboard-smtp-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("sink folder");
        // The script travels inside the test binary: this file is compiled from the email
        // crate and from the hub (through `#[path]`), each with its own manifest dir.
        let script = dir.join("smtp_sink.py");
        std::fs::write(&script, include_str!("smtp_sink.py")).expect("sink script");
        let log = dir.join("smtp_sink.log");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&dir)
            .arg(USER)
            .arg(PASSWORD)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sink log"))
            .spawn()
            .expect("aiosmtpd starts");
        let mut sink = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = sink.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the SMTP sink did not listen on {port} ({}): {}",
                exited.map_or_else(|| "timed out".to_owned(), |status| status.to_string()),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// The port on 127.0.0.1 (plain text; AUTH allowed without TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login the sink accepts.
    pub fn user(&self) -> &'static str {
        USER
    }

    /// Its password.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// Every mail accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut found = Vec::new();
        for n in 1.. {
            let eml = self.dir.join(format!("{n}.eml"));
            let Ok(raw) = std::fs::read(&eml) else { break };
            let envelope: serde_json::Value = std::fs::read(self.dir.join(format!("{n}.json")))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
            found.push(Received {
                from: text(&envelope["from"]),
                recipients: envelope["recipients"]
                    .as_array()
                    .map(|list| list.iter().map(text).collect())
                    .unwrap_or_default(),
                raw,
            });
        }
        found
    }

    /// Waits until `n` mails arrived (panics after `timeout`). Async, so a hub running on
    /// the test's own runtime keeps sending meanwhile.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink got {} mails, expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
