//! A private dovecot IMAP server per test: its own config, Maildir, users and port under a
//! temp folder, started as a child process and stopped when dropped. Debian's
//! `dovecot-imapd` provides the binaries (`.ci/run` installs it). Shared with the hub's
//! tests through `#[path]`, so it uses std only.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test mailbox's login.
pub const USER: &str = "support@example.test";
/// Its password.
pub const PASSWORD: &str = "secret-pass";

/// A private dovecot; stopped (and its folder removed) on drop.
pub struct Dovecot {
    /// The server process, `None` while stopped.
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} did not run: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Dovecot {
    /// Starts a dovecot with [`USER`] and returns once it accepts connections.
    pub fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/dovecot").exists(),
            "dovecot is not installed: apt-get install dovecot-imapd (.ci/run does)"
        );
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = format!(
            "switchboard-dovecot-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(unique);
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(sub)).expect("dovecot folders");
        }
        // Dovecot refuses uid 0 for mail and root for its login processes: as root (CI), mail
        // and logins run as nobody, so the folders must be open to it.
        let uid = run(Command::new("id").arg("-u")).trim().to_owned();
        let root = uid == "0";
        let (user, group, mail_uid, mail_gid) = if root {
            (
                "nobody".to_owned(),
                "nogroup".to_owned(),
                "65534".to_owned(),
                "65534".to_owned(),
            )
        } else {
            (
                run(Command::new("id").arg("-un")).trim().to_owned(),
                run(Command::new("id").arg("-gn")).trim().to_owned(),
                uid.clone(),
                run(Command::new("id").arg("-g")).trim().to_owned(),
            )
        };
        set_mode(&dir, 0o755);
        set_mode(&dir.join("home"), 0o777);
        let port = free_port();
        let d = dir.display();
        // IDLE keepalives ("* OK Still here") every 2 s instead of 2 min, so tests see a
        // client keep its own IDLE deadline through them.
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\ndefault_internal_user = {user}\n\
             default_internal_group = {group}\ndefault_login_user = {user}\n\
             first_valid_uid = 1\nmail_location = maildir:~/Maildir\n\
             imap_idle_notify_interval = 2 secs\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={d}/home/%u\n}}\n"
        );
        std::fs::write(dir.join("dovecot.conf"), config).expect("dovecot.conf");
        std::fs::write(dir.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).expect("users");
        let mut dovecot = Self {
            child: None,
            dir,
            port,
        };
        dovecot.spawn();
        dovecot
    }

    /// Starts the server process and waits until it accepts connections.
    fn spawn(&mut self) {
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            // Its own process group, so stop() reaches every process it forks.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen on {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (its open connections close); [`Dovecot::restart`] brings it back.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The master leaves its imap processes serving their connections when it ends, so
        // the whole group gets the signal: SIGTERM (their clients read BYE), then SIGKILL for
        // any straggler. std has no signal API; the shell's kill builtin does.
        let group = format!("-{}", child.id());
        let signal = |name: &str| {
            let _ = Command::new("sh")
                .args(["-c", r#"kill -s "$0" -- "$1""#, name, &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("KILL");
        let _ = child.wait();
    }

    /// Stops the server and starts it again on the same port with the same mail: for a
    /// client's reconnect after the server went away.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The IMAP port on 127.0.0.1 (plain text, no TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn doveadm(&self) -> Command {
        let mut command = Command::new("doveadm");
        command.arg("-c").arg(self.dir.join("dovecot.conf"));
        command
    }

    /// Delivers a raw mail into `user`'s INBOX and answers its UID.
    pub fn append(&self, user: &str, raw: &[u8]) -> u32 {
        self.append_to(user, "INBOX", raw)
    }

    /// Delivers a raw mail into `user`'s `folder` (created when missing) and answers its UID.
    pub fn append_to(&self, user: &str, folder: &str, raw: &[u8]) -> u32 {
        if folder != "INBOX" && !self.folder_exists(user, folder) {
            run(self
                .doveadm()
                .args(["mailbox", "create", "-u", user, folder]));
        }
        let before = self.uids_in(user, folder);
        let mut child = self
            .doveadm()
            .args(["save", "-u", user, "-m", folder])
            .stdin(Stdio::piped())
            .spawn()
            .expect("doveadm save");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(raw)
            .expect("mail written");
        assert!(
            child.wait().expect("doveadm").success(),
            "doveadm save failed"
        );
        self.uids_in(user, folder)
            .into_iter()
            .find(|uid| !before.contains(uid))
            .expect("the saved mail's uid")
    }

    fn folder_exists(&self, user: &str, folder: &str) -> bool {
        run(self.doveadm().args(["mailbox", "list", "-u", user]))
            .lines()
            .any(|line| line.trim() == folder)
    }

    /// The UIDs in `user`'s `folder`.
    pub fn uids_in(&self, user: &str, folder: &str) -> Vec<u32> {
        let out = run(self
            .doveadm()
            .args(["fetch", "-u", user, "uid", "mailbox", folder]));
        out.lines()
            .filter_map(|line| line.strip_prefix("uid: "))
            .filter_map(|uid| uid.trim().parse().ok())
            .collect()
    }

    /// The flags of mail `uid` in `user`'s INBOX (`\Seen \Recent`...).
    pub fn flags(&self, user: &str, uid: u32) -> String {
        self.flags_in(user, "INBOX", uid)
    }

    /// The flags of mail `uid` in `user`'s `folder`.
    pub fn flags_in(&self, user: &str, folder: &str, uid: u32) -> String {
        let uid = uid.to_string();
        let out = run(self
            .doveadm()
            .args(["fetch", "-u", user, "flags", "mailbox", folder, "uid", &uid]));
        out.lines()
            .filter_map(|line| line.strip_prefix("flags: "))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Marks mail `uid` of `user`'s INBOX read, as a person reading it in a mail client would.
    pub fn mark_seen(&self, user: &str, uid: u32) {
        let uid = uid.to_string();
        run(self.doveadm().args([
            "flags", "add", "-u", user, "\\Seen", "mailbox", "INBOX", "uid", &uid,
        ]));
    }

    /// Deletes and recreates `user`'s `folder` (not INBOX, which cannot be deleted): the
    /// server gives it a new UIDVALIDITY.
    pub fn recreate_folder(&self, user: &str, folder: &str) {
        run(self
            .doveadm()
            .args(["mailbox", "delete", "-u", user, folder]));
        run(self
            .doveadm()
            .args(["mailbox", "create", "-u", user, folder]));
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
