//! The SMTP side of a mailbox: replies out through the inbox's server with lettre's async
//! transport. Rendering happens in [`crate::outbound`]; this module only connects,
//! authenticates and hands the bytes over, and says whether a refusal is worth retrying
//! (4xx, a dead connection) or final (5xx, with the server's own words for the agent).

use std::fmt;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub use crate::Tls;

/// How long connecting, each command and the whole send may take: a dead server must not
/// hold an outbox job past its timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom replies are sent.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The server's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: Tls,
    /// Login, when the server wants one (`AUTH PLAIN`/`LOGIN`).
    pub username: Option<String>,
    /// The login's password.
    pub password: Option<String>,
    /// The name sent in `EHLO`; `[127.0.0.1]` when `None` (lettre without its `hostname`
    /// feature), which servers that check the EHLO name may refuse.
    pub hello_name: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A 4xx answer, or no answer at all (connection, TLS, timeout): retry later.
    #[error("{reason}")]
    Transient {
        /// The server's reply code, when it answered.
        code: Option<u16>,
        /// What happened, in the server's words when it gave some.
        reason: String,
    },
    /// A 5xx answer, or a mail the server cannot take (an internationalized address without
    /// SMTPUTF8, no STARTTLS): retrying will not help; the agent sees why.
    #[error("{reason}")]
    Permanent {
        /// The server's reply code; `None` when lettre refused before asking.
        code: Option<u16>,
        /// The server's words (`550 5.1.1 user unknown`), or lettre's.
        reason: String,
    },
}

/// Why the SMTP check of an admin's settings failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The server answered and refused (a wrong password, no STARTTLS): a setting must change.
    #[error("{0}")]
    Refused(String),
    /// No server answered (DNS, connect, TLS handshake, timeout).
    #[error("{0}")]
    Unreachable(String),
}

/// Sends the replies of one inbox; built once, cheap to share.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender").finish_non_exhaustive()
    }
}

/// The transport for `settings`; no network yet.
fn transport(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match settings.tls {
        Tls::None => LettreTls::None,
        Tls::Implicit | Tls::StartTls => {
            let parameters = TlsParameters::new_rustls(settings.host.clone())
                .map_err(|e| format!("TLS for {}: {e}", settings.host))?;
            if settings.tls == Tls::Implicit {
                LettreTls::Wrapper(parameters)
            } else {
                LettreTls::Required(parameters)
            }
        }
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
    if let Some(username) = settings.username.clone() {
        builder = builder.credentials(Credentials::new(
            username,
            settings.password.clone().unwrap_or_default(),
        ));
    }
    if let Some(name) = settings.hello_name.clone() {
        builder = builder.hello_name(lettre::transport::smtp::extension::ClientId::Domain(name));
    }
    Ok(builder.build())
}

/// Connects, says EHLO, starts TLS and logs in as configured, then quits: what an admin's
/// "save" checks before the inbox is stored.
pub async fn check(settings: &SmtpSettings) -> Result<(), CheckError> {
    let transport = transport(settings).map_err(CheckError::Refused)?;
    match tokio::time::timeout(TIMEOUT, transport.test_connection()).await {
        Err(_) => Err(CheckError::Unreachable(format!(
            "{}:{} did not answer within {} s",
            settings.host,
            settings.port,
            TIMEOUT.as_secs()
        ))),
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(CheckError::Unreachable(format!(
            "{}:{} closed the connection",
            settings.host, settings.port
        ))),
        Ok(Err(error)) if answered(&error) => Err(CheckError::Refused(words(&error))),
        Ok(Err(error)) => Err(CheckError::Unreachable(words(&error))),
    }
}

/// Whether a server was reached and its answer rules the settings out: a 4xx/5xx reply,
/// an unreadable reply (not an SMTP server on that port), or lettre's refusal to go on
/// with what the server offers (no STARTTLS, no common AUTH mechanism).
fn answered(error: &SmtpError) -> bool {
    error.status().is_some() || error.is_response() || error.is_client()
}

/// The server's code and words as lettre reports them (`535 5.7.8 authentication failed`);
/// lettre's own refusals without its "internal client error" prefix, which would read as
/// our bug; anything else (connect, TLS, timeout) with lettre's kind in front.
fn words(error: &SmtpError) -> String {
    let detail = std::error::Error::source(error).map(ToString::to_string);
    match (error.status(), detail) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        (None, Some(detail)) if error.is_client() => detail,
        (None, _) => error.to_string(),
    }
}

impl SmtpSender {
    /// The sender of one inbox; fails only on settings that cannot work (a bad TLS name).
    pub fn new(settings: SmtpSettings) -> Result<Self, String> {
        Ok(Self {
            transport: transport(&settings)?,
        })
    }

    /// Hands one rendered mail to the server for `recipients`, with `envelope_from` as the
    /// return path (bounces come back there).
    pub async fn send(
        &self,
        envelope_from: &str,
        recipients: &[String],
        raw_mime: &[u8],
    ) -> Result<(), SendError> {
        let refused = |reason: String| SendError::Permanent { code: None, reason };
        let from: Address = envelope_from
            .parse()
            .map_err(|e| refused(format!("{envelope_from} is not an address: {e}")))?;
        let to = recipients
            .iter()
            .map(|r| {
                r.parse::<Address>()
                    .map_err(|e| refused(format!("{r} is not an address: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(from), to)
            .map_err(|e| refused(format!("no recipient to send to: {e}")))?;
        let sent = tokio::time::timeout(TIMEOUT * 2, self.transport.send_raw(&envelope, raw_mime))
            .await
            .map_err(|_| SendError::Transient {
                code: None,
                reason: format!(
                    "the SMTP server took longer than {} s",
                    (TIMEOUT * 2).as_secs()
                ),
            })?;
        sent.map(|_| ()).map_err(|error| {
            let code = error.status().map(u16::from);
            let reason = words(&error);
            // lettre's own refusals (an internationalized address the server cannot take,
            // no STARTTLS) come out the same on every retry.
            if error.is_permanent() || error.is_client() {
                SendError::Permanent { code, reason }
            } else {
                SendError::Transient { code, reason }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_the_password() {
        let settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            tls: Tls::StartTls,
            username: Some("support".into()),
            password: Some("hunter2".into()),
            hello_name: None,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(SmtpSender::new(settings).is_ok());
    }
}
