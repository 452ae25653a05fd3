//! The IMAP side of a mailbox: the hub's polling loop asks [`ImapPoller::poll`] for the
//! mails after its saved cursor and saves the cursor of the last one only once they are
//! stored, so a restart neither loses nor repeats mail.
//!
//! The cursor is `UIDVALIDITY << 32 | UID` ([`cursor`]): UIDs only mean something within one
//! UIDVALIDITY, and when the server renumbers a mailbox the poller starts again from its
//! unseen mail (the hub dedupes by Message-ID, so that repeats nothing). Mails are fetched
//! with `BODY.PEEK[]`, which leaves them unread; `\Seen` is set on the next poll, once the
//! cursor passed in proves they were stored. With nothing new the poll waits in IDLE (or
//! sleeps, on servers without it) so mail shows up in seconds without hammering the server.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::types::UnsolicitedResponse;
use futures_util::{Stream, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

pub use crate::Tls;

/// How long connecting, or waiting for the next piece of one answer, may take before the
/// server counts as unreachable. Per piece rather than per command, so a batch of large
/// mails on a slow link is not cut off while it is still arriving.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Most mails one poll hands out: the hub stores them in one go, and a mailbox of
/// thousands of unread mails is taken in steps, each step's cursor saved.
const BATCH: usize = 50;

/// Longest pause between polls on a server without IDLE: there the pause is the only way
/// news arrives, so a long `idle_secs` would only delay mail.
const MAX_PLAIN_WAIT: Duration = Duration::from_secs(60);

/// Where the mailbox is and how to log in.
#[derive(Clone)]
pub struct ImapSettings {
    /// The server's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: Tls,
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The folder customers' mail arrives in (`INBOX`).
    pub folder: String,
    /// How long one IDLE waits for news (and, without IDLE, the pause between polls):
    /// servers drop IDLE connections silent for about 30 minutes, so keep it well below.
    pub idle_secs: u64,
}

/// Leaves the password out, so settings can be logged.
impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .field("idle_secs", &self.idle_secs)
            .finish_non_exhaustive()
    }
}

/// Why the mailbox could not be read, split by what the admin or the hub can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server answered NO or BAD (a wrong password, a missing folder), in its own
    /// words: only the admin can fix these, so they are shown as they are.
    #[error("{0}")]
    Refused(String),
    /// No server answered, or the connection broke (DNS, connect, TLS, timeout): worth
    /// retrying later.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered something the client could not read.
    #[error("{0}")]
    Protocol(String),
}

impl From<ImapError> for MailError {
    fn from(error: ImapError) -> Self {
        match error {
            ImapError::No(words) | ImapError::Bad(words) => Self::Refused(words.trim().to_owned()),
            ImapError::Io(e) => Self::Unreachable(e.to_string()),
            ImapError::ConnectionLost => Self::Unreachable("the connection was lost".to_owned()),
            other => Self::Protocol(other.to_string()),
        }
    }
}

/// One mail as the server holds it, with the cursor to save once it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMail {
    /// Its UID in the folder.
    pub uid: u32,
    /// [`cursor`] of this mail: what the hub saves once the mail is stored.
    pub cursor: i64,
    /// The whole mail (RFC 5322 bytes), however large: the hub decides what to keep.
    pub raw: Vec<u8>,
}

/// The cursor of mail `uid` under `uid_validity`: one number the hub can store, that
/// grows with the UID and changes whenever the server renumbers the folder.
pub fn cursor(uid_validity: u32, uid: u32) -> i64 {
    (i64::from(uid_validity) << 32) | i64::from(uid)
}

/// The UIDVALIDITY and UID a [`cursor`] holds.
pub fn split_cursor(cursor: i64) -> (u32, u32) {
    // Both halves were u32s: the casts only take them apart again.
    ((cursor >> 32) as u32, (cursor & 0xffff_ffff) as u32)
}

/// A connection, plain or TLS, as one type for the IMAP client.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Transport>;
type Client = async_imap::Client<Transport>;

/// Runs `future` within [`TIMEOUT`], a stall counting as an unreachable server.
async fn timed<T, E: Into<MailError>>(
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, MailError> {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(MailError::Unreachable(format!(
            "{what}: no answer within {} s",
            TIMEOUT.as_secs()
        ))),
    }
}

/// Reads a command's answers to the end, each within [`TIMEOUT`] of the one before.
async fn collect_timed<T>(
    what: &str,
    answers: impl Stream<Item = Result<T, ImapError>>,
) -> Result<Vec<T>, MailError> {
    let mut answers = pin!(answers);
    let mut all = Vec::new();
    while let Some(answer) = timed(what, answers.try_next()).await? {
        all.push(answer);
    }
    Ok(all)
}

/// Wraps `tcp` in TLS for `host`, checked against the Mozilla roots webpki-roots carries
/// (no system store: the hub runs in slim containers without one).
async fn tls(host: &str, tcp: TcpStream) -> Result<Transport, MailError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| MailError::Refused(format!("{host} is not a host name: {e}")))?;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // ring, explicitly: the provider reqwest already brings, whatever else is compiled in.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MailError::Protocol(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = timed("TLS handshake", async {
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| MailError::Unreachable(format!("TLS with {host}: {e}")))
    })
    .await?;
    Ok(Transport::Tls(Box::new(stream)))
}

/// Connects as configured and reads the greeting (STARTTLS done where asked).
async fn client(settings: &ImapSettings) -> Result<Client, MailError> {
    let address = (settings.host.as_str(), settings.port);
    let tcp = timed("connect", async {
        TcpStream::connect(address).await.map_err(|e| {
            MailError::Unreachable(format!("{}:{}: {e}", settings.host, settings.port))
        })
    })
    .await?;
    let stream = match settings.tls {
        Tls::Implicit => tls(&settings.host, tcp).await?,
        Tls::None | Tls::StartTls => Transport::Plain(tcp),
    };
    let mut client = Client::new(stream);
    let greeting = timed("greeting", async {
        client.read_response().await.map_err(ImapError::from)
    })
    .await?;
    if greeting.is_none() {
        return Err(MailError::Unreachable(
            "the server closed the connection before greeting".to_owned(),
        ));
    }
    if settings.tls != Tls::StartTls {
        return Ok(client);
    }
    // A server without STARTTLS answers BAD: Refused, never a fallback to plain text.
    timed(
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await?;
    let Transport::Plain(tcp) = client.into_inner() else {
        return Err(MailError::Protocol(
            "STARTTLS on a TLS connection".to_owned(),
        ));
    };
    Ok(Client::new(tls(&settings.host, tcp).await?))
}

/// Connects and logs in; also answers whether the server offers IDLE.
async fn login(settings: &ImapSettings) -> Result<(Session, bool), MailError> {
    let client = client(settings).await?;
    let (mut session, capabilities) = timed("LOGIN", async {
        client
            .login_with_capabilities(&settings.username, &settings.password)
            .await
            .map_err(|(error, _)| MailError::from(error))
    })
    .await?;
    // Most servers list their capabilities in the LOGIN answer; ask only the others.
    let capabilities = match capabilities {
        Some(capabilities) => capabilities,
        None => timed("CAPABILITY", session.capabilities()).await?,
    };
    Ok((session, capabilities.has_str("IDLE")))
}

/// Logs in and opens the folder read-only, then logs out: the check an admin's "save"
/// makes, so a typo shows at once and not as a silent empty inbox.
pub async fn check(settings: &ImapSettings) -> Result<(), MailError> {
    let (mut session, _) = login(settings).await?;
    timed("EXAMINE", session.examine(&settings.folder))
        .await
        .map_err(|error| match error {
            MailError::Refused(words) => {
                MailError::Refused(format!("folder {:?}: {words}", settings.folder))
            }
            other => other,
        })?;
    // The verdict is in; a failed goodbye changes nothing.
    let _ = timed("LOGOUT", session.logout()).await;
    Ok(())
}

/// What the poller keeps between polls.
#[derive(Default)]
struct State {
    /// The open connection, `None` after an error (the next poll connects again).
    session: Option<Session>,
    /// Whether the server offers IDLE.
    idle: bool,
    /// The UIDVALIDITY of [`State::handed_out`].
    validity: u32,
    /// UIDs handed out but not yet marked `\Seen`, waiting for a cursor that shows them
    /// stored.
    handed_out: BTreeSet<u32>,
}

/// Reads one mailbox for the hub's polling loop, over one connection kept between polls
/// (a login per poll would cost a round of TLS and auth every few seconds).
pub struct ImapPoller {
    settings: ImapSettings,
    state: Mutex<State>,
}

impl fmt::Debug for ImapPoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapPoller")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ImapPoller {
    /// A poller for `settings`; it connects on the first poll, so creating one never fails.
    pub fn new(settings: ImapSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    /// The mails after `cursor`, oldest first, at most a batch; with nothing new, waits
    /// (IDLE) up to `idle_secs` and answers an empty list. `None`, or a cursor of another
    /// UIDVALIDITY, starts from the folder's unseen mail. Mails earlier polls handed out up
    /// to `cursor` are marked `\Seen` first: the cursor proves the hub stored them.
    ///
    /// A failure drops the connection and the next poll connects again; so does dropping
    /// the future mid-poll, so callers may race it against a shutdown signal. Concurrent
    /// polls take turns on the one connection.
    pub async fn poll(&self, cursor: Option<i64>) -> Result<Vec<FetchedMail>, MailError> {
        let mut state = self.state.lock().await;
        let mut session = match state.session.take() {
            Some(session) => session,
            None => {
                let (session, idle) = login(&self.settings).await?;
                state.idle = idle;
                session
            }
        };
        let mails = self.new_mail(&mut session, &mut state, cursor).await?;
        // Mail announced while we fetched is fetched by the next poll, without waiting.
        if mails.is_empty() && !news(&session) {
            session = self.wait(session, state.idle).await?;
        }
        state.session = Some(session);
        Ok(mails)
    }

    /// Marks what the hub stored `\Seen`, then fetches the next batch.
    async fn new_mail(
        &self,
        session: &mut Session,
        state: &mut State,
        cursor: Option<i64>,
    ) -> Result<Vec<FetchedMail>, MailError> {
        // SELECT every round: it reports a renumbered folder (UIDVALIDITY) and its UIDNEXT.
        let mailbox = timed("SELECT", session.select(&self.settings.folder)).await?;
        // RFC 3501 requires UIDVALIDITY; a server without one gets a constant, so its
        // cursors still order by UID.
        let validity = mailbox.uid_validity.unwrap_or(0);
        // What was queued before SELECT is old news: SELECT has just counted it.
        news(session);
        if state.validity != validity {
            // Those UIDs name other mails now: marking them would mark the wrong mails.
            state.handed_out.clear();
            state.validity = validity;
        }
        let after = cursor
            .map(split_cursor)
            .filter(|(cursor_validity, _)| *cursor_validity == validity)
            .map(|(_, uid)| uid);
        if let Some(last) = after {
            mark_seen(session, state, last).await?;
        }
        let new: BTreeSet<u32> = match after {
            // Nothing new when the next UID to come is the one after the cursor.
            Some(last)
                if mailbox
                    .uid_next
                    .is_some_and(|next| next <= last.saturating_add(1)) =>
            {
                BTreeSet::new()
            }
            // `N:*` always matches the highest UID, even below N: hence the filter.
            Some(last) => {
                let query = format!("UID {}:*", last.saturating_add(1));
                let found = timed("UID SEARCH", session.uid_search(&query)).await?;
                found.into_iter().filter(|uid| *uid > last).collect()
            }
            None => timed("UID SEARCH UNSEEN", session.uid_search("UNSEEN"))
                .await?
                .into_iter()
                .collect(),
        };
        let batch: Vec<u32> = new.into_iter().take(BATCH).collect();
        let mails = fetch(session, validity, &batch).await?;
        state.handed_out.extend(mails.iter().map(|mail| mail.uid));
        Ok(mails)
    }

    /// Waits for news: IDLE up to `idle_secs` where the server has it, else a pause.
    /// IDLE ends with DONE either way, so the session is ready for the next poll.
    async fn wait(&self, session: Session, idle: bool) -> Result<Session, MailError> {
        let wait = Duration::from_secs(self.settings.idle_secs.max(1));
        if !idle {
            tokio::time::sleep(wait.min(MAX_PLAIN_WAIT)).await;
            return Ok(session);
        }
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        let (waiting, _interrupt) = handle.wait_with_timeout(wait);
        // The library's own timeout restarts with every keepalive the server sends (dovecot:
        // every 2 minutes), so the deadline is kept here. News, the deadline or a silent
        // server all end in DONE, whose answer (or its timeout) tells a live server from a
        // dead one.
        if let Ok(Err(error)) = tokio::time::timeout(wait, waiting).await {
            return Err(error.into());
        }
        timed("DONE", handle.done()).await
    }
}

/// Marks `\Seen` the handed-out mails up to `last`, which the hub has stored.
async fn mark_seen(session: &mut Session, state: &mut State, last: u32) -> Result<(), MailError> {
    let stored: Vec<u32> = state.handed_out.range(..=last).copied().collect();
    if stored.is_empty() {
        return Ok(());
    }
    let set = uid_set(&stored);
    let answers = timed(
        "UID STORE",
        session.uid_store(&set, "+FLAGS.SILENT (\\Seen)"),
    )
    .await?;
    collect_timed("UID STORE", answers).await?;
    state.handed_out.retain(|uid| *uid > last);
    Ok(())
}

/// Fetches the mails `uids` (sorted) whole, without marking them read, oldest first.
async fn fetch(
    session: &mut Session,
    validity: u32,
    uids: &[u32],
) -> Result<Vec<FetchedMail>, MailError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let answers = timed("UID FETCH", session.uid_fetch(&set, "(UID BODY.PEEK[])")).await?;
    // By UID, which also orders them and keeps one copy if the server sends a mail twice.
    let mut raws = BTreeMap::new();
    for fetch in collect_timed("UID FETCH", answers).await? {
        // Answers without a body (expunged meanwhile, or a flag update the server slipped
        // in) or for a mail not asked for are skipped: nothing to hand out.
        if let (Some(uid), Some(raw)) = (fetch.uid, fetch.body())
            && uids.binary_search(&uid).is_ok()
        {
            raws.insert(uid, raw.to_vec());
        }
    }
    Ok(raws
        .into_iter()
        .map(|(uid, raw)| FetchedMail {
            uid,
            cursor: cursor(validity, uid),
            raw,
        })
        .collect())
}

/// Empties the queue of unsolicited responses and tells whether new mail was announced
/// (EXISTS or RECENT). The client queues them for callers that care, but drops new ones
/// once the queue is full, so it is kept empty.
fn news(session: &Session) -> bool {
    let mut news = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        news |= matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    news
}

/// The UIDs as an IMAP sequence set, runs of consecutive UIDs as ranges (`1:3,7`) so a
/// batch stays one short command line.
fn uid_set(sorted: &[u32]) -> String {
    let mut set = String::new();
    let mut uids = sorted.iter().copied().peekable();
    while let Some(first) = uids.next() {
        let mut last = first;
        while let Some(next) = uids.next_if(|uid| Some(*uid) == last.checked_add(1)) {
            last = next;
        }
        if !set.is_empty() {
            set.push(',');
        }
        if last == first {
            set.push_str(&first.to_string());
        } else {
            set.push_str(&format!("{first}:{last}"));
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_hold_uidvalidity_and_uid() {
        for (validity, uid) in [(0, 0), (1, 1), (1_733_000_000, 42), (u32::MAX, u32::MAX)] {
            assert_eq!(split_cursor(cursor(validity, uid)), (validity, uid));
        }
        // Within one UIDVALIDITY the cursor orders like the UID, and it stays positive for
        // every UIDVALIDITY a server picks from the clock (below 2^31).
        assert!(cursor(7, 2) > cursor(7, 1));
        assert!(cursor(i32::MAX as u32, u32::MAX) > 0);
        assert_eq!(cursor(1, 5), (1 << 32) + 5);
    }

    #[test]
    fn tls_modes_read_their_stored_spelling() {
        for mode in [Tls::Implicit, Tls::StartTls, Tls::None] {
            assert_eq!(Tls::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Tls::parse("STARTTLS"), None);
        assert_eq!(Tls::parse(""), None);
    }

    #[test]
    fn uid_sets_join_runs_into_ranges() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }

    fn example_settings() -> ImapSettings {
        ImapSettings {
            host: "imap.example.com".into(),
            port: 993,
            tls: Tls::Implicit,
            username: "support".into(),
            password: "hunter2".into(),
            folder: "INBOX".into(),
            idle_secs: 60,
        }
    }

    #[test]
    fn the_poller_can_be_shared_and_polled_from_spawned_tasks() {
        fn shared<T: Send + Sync>() {}
        fn spawnable<T: Send>(_: &T) {}
        shared::<ImapPoller>();
        let poller = ImapPoller::new(example_settings());
        spawnable(&poller.poll(None));
        spawnable(&check(&poller.settings));
    }

    #[test]
    fn settings_never_print_the_password() {
        let settings = example_settings();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
