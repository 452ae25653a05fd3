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

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

pub use crate::Tls;

/// How long connecting or one command may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Most mails one poll hands out: the hub stores them in one go, and a mailbox of
/// thousands of unread mails is taken in steps, each step's cursor saved.
const BATCH: usize = 50;

/// Longest pause between polls on a server without IDLE.
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
    /// How long one IDLE waits for news (and, without IDLE, the pause between polls).
    pub idle_secs: u64,
}

impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// Why the mailbox could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server answered NO or BAD (a wrong password, a missing folder): in its words.
    #[error("{0}")]
    Refused(String),
    /// No server answered, or the connection broke (DNS, connect, TLS, timeout).
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
    /// [`cursor`] of this mail.
    pub cursor: i64,
    /// The whole mail (RFC 5322 bytes).
    pub raw: Vec<u8>,
}

/// The cursor of mail `uid` under `uid_validity`.
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
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
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

impl AsyncWrite for Stream {
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

type Session = async_imap::Session<Stream>;
type Client = async_imap::Client<Stream>;

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

fn tls_connector() -> tokio_rustls::TlsConnector {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(config) => tokio_rustls::TlsConnector::from(Arc::new(config)),
        // ring supports every default protocol version; this cannot fail in practice.
        Err(_) => tokio_rustls::TlsConnector::from(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
}

async fn tls(host: &str, tcp: TcpStream) -> Result<Stream, MailError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| MailError::Refused(format!("{host} is not a host name: {e}")))?;
    let stream = timed("TLS handshake", async {
        tls_connector()
            .connect(name, tcp)
            .await
            .map_err(|e| MailError::Unreachable(format!("TLS with {host}: {e}")))
    })
    .await?;
    Ok(Stream::Tls(Box::new(stream)))
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
        Tls::None | Tls::StartTls => Stream::Plain(tcp),
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
    timed(
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await?;
    let Stream::Plain(tcp) = client.into_inner() else {
        return Err(MailError::Protocol(
            "STARTTLS on a TLS connection".to_owned(),
        ));
    };
    Ok(Client::new(tls(&settings.host, tcp).await?))
}

/// Connects and logs in.
async fn login(settings: &ImapSettings) -> Result<Session, MailError> {
    let client = client(settings).await?;
    timed("LOGIN", async {
        client
            .login(&settings.username, &settings.password)
            .await
            .map_err(|(error, _)| MailError::from(error))
    })
    .await
}

/// Logs in and opens the folder read-only, then logs out: the check an admin's "save" makes.
pub async fn check(settings: &ImapSettings) -> Result<(), MailError> {
    let mut session = login(settings).await?;
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
    session: Option<Session>,
    idle: bool,
    /// Mails handed out but not yet marked `\Seen`: (UIDVALIDITY, UID).
    unseen: BTreeSet<(u32, u32)>,
}

/// Reads one mailbox for the hub's polling loop, over one connection kept between polls.
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
    /// A poller for `settings`; it connects on the first poll.
    pub fn new(settings: ImapSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    /// The mails after `cursor`, oldest first, at most a batch; with nothing new, waits (IDLE)
    /// up to `idle_secs` and answers an empty list. `None`, or a cursor of another
    /// UIDVALIDITY, starts from the folder's unseen mail. A failure drops the connection;
    /// the next poll connects again.
    pub async fn poll(&self, cursor: Option<i64>) -> Result<Vec<FetchedMail>, MailError> {
        let mut state = self.state.lock().await;
        let result = self.poll_in(&mut state, cursor).await;
        if result.is_err() {
            state.session = None;
        }
        result
    }

    async fn poll_in(
        &self,
        state: &mut State,
        cursor: Option<i64>,
    ) -> Result<Vec<FetchedMail>, MailError> {
        let mut session = match state.session.take() {
            Some(session) => session,
            None => {
                let mut session = login(&self.settings).await?;
                let capabilities = timed("CAPABILITY", session.capabilities()).await?;
                state.idle = capabilities.has_str("IDLE");
                session
            }
        };
        // SELECT every round: it reports a renumbered folder (UIDVALIDITY) and its UIDNEXT.
        let mailbox = timed("SELECT", session.select(&self.settings.folder)).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        drain_unsolicited(&session);
        self.mark_seen(&mut session, state, cursor).await?;
        let after = cursor
            .map(split_cursor)
            .filter(|(cursor_validity, _)| *cursor_validity == validity)
            .map(|(_, uid)| uid);
        let uids = match after {
            // Nothing new when the next UID to come is the one after the cursor.
            Some(last)
                if mailbox
                    .uid_next
                    .is_some_and(|next| next <= last.saturating_add(1)) =>
            {
                Vec::new()
            }
            Some(last) => {
                let query = format!("UID {}:*", last.saturating_add(1));
                let found = timed("UID SEARCH", session.uid_search(&query)).await?;
                let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > last).collect();
                uids.sort_unstable();
                uids
            }
            None => {
                let found = timed("UID SEARCH UNSEEN", session.uid_search("UNSEEN")).await?;
                let mut uids: Vec<u32> = found.into_iter().collect();
                uids.sort_unstable();
                uids
            }
        };
        let mut mails = Vec::new();
        if !uids.is_empty() {
            let set = uids
                .iter()
                .take(BATCH)
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let fetched: Vec<async_imap::types::Fetch> = timed("UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            for fetch in fetched {
                let (Some(uid), Some(raw)) = (fetch.uid, fetch.body()) else {
                    // A message without its body (expunged meanwhile): nothing to hand out.
                    continue;
                };
                mails.push(FetchedMail {
                    uid,
                    cursor: cursor_of(validity, uid),
                    raw: raw.to_vec(),
                });
            }
            mails.sort_by_key(|mail| mail.uid);
            state
                .unseen
                .extend(mails.iter().map(|mail| (validity, mail.uid)));
        }
        drain_unsolicited(&session);
        if mails.is_empty() {
            session = self.wait(session, state.idle).await?;
        }
        state.session = Some(session);
        Ok(mails)
    }

    /// Marks `\Seen` what earlier polls handed out and `cursor` shows stored.
    async fn mark_seen(
        &self,
        session: &mut Session,
        state: &mut State,
        cursor: Option<i64>,
    ) -> Result<(), MailError> {
        let Some((validity, last)) = cursor.map(split_cursor) else {
            return Ok(());
        };
        let stored: Vec<u32> = state
            .unseen
            .iter()
            .filter(|(v, uid)| *v == validity && *uid <= last)
            .map(|(_, uid)| *uid)
            .collect();
        if stored.is_empty() {
            return Ok(());
        }
        let set = stored
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        timed("UID STORE", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        state
            .unseen
            .retain(|(v, uid)| !(*v == validity && *uid <= last));
        Ok(())
    }

    /// Waits for news: IDLE up to `idle_secs` where the server has it, else a pause.
    async fn wait(&self, session: Session, idle: bool) -> Result<Session, MailError> {
        let wait = Duration::from_secs(self.settings.idle_secs.max(1));
        if !idle {
            tokio::time::sleep(wait.min(MAX_PLAIN_WAIT)).await;
            return Ok(session);
        }
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        let (waiting, _stop) = handle.wait_with_timeout(wait);
        // Bounded by the timeout given; a little more for a server that answers late.
        let outcome = tokio::time::timeout(wait + TIMEOUT, waiting).await;
        match outcome {
            Ok(Ok(
                IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt,
            )) => {}
            Ok(Err(error)) => return Err(error.into()),
            Err(_) => {
                return Err(MailError::Unreachable(
                    "IDLE: the server went silent".to_owned(),
                ));
            }
        }
        let session = timed("DONE", handle.done()).await?;
        drain_unsolicited(&session);
        Ok(session)
    }
}

fn cursor_of(validity: u32, uid: u32) -> i64 {
    cursor(validity, uid)
}

/// Empties the queue of unsolicited responses (EXISTS, RECENT...): the client keeps them
/// for callers that want them, and a full queue would stall it.
fn drain_unsolicited(session: &Session) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_hold_uidvalidity_and_uid() {
        for (validity, uid) in [(0, 0), (1, 1), (1_733_000_000, 42), (u32::MAX, u32::MAX)] {
            let at = cursor(validity, uid);
            assert!(at >= 0 || validity > i32::MAX as u32);
            assert_eq!(split_cursor(at), (validity, uid));
        }
        assert!(cursor(7, 2) > cursor(7, 1));
    }

    #[test]
    fn settings_never_print_the_password() {
        let settings = ImapSettings {
            host: "imap.example.com".into(),
            port: 993,
            tls: Tls::Implicit,
            username: "support".into(),
            password: "hunter2".into(),
            folder: "INBOX".into(),
            idle_secs: 60,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
