//! [`ApiChannel`]: the pure protocol functions wired to one inbox's secret and HTTP client.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use switchboard_channel::{
    BoxFuture, Capabilities, Channel, ChannelError, InboundError, InboundEvent, InboundRequest,
    OutboundMessage, SendReceipt,
};
use url::Url;

use crate::outbound::MAX_RESPONSE_BYTES;
use crate::{SIGNATURE_HEADER, parse_events, parse_send_response, parse_status, sign, verify};

/// Sent on every callback so integrators can recognise (and allow-list) the hub.
const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// What the API channel can do: the integrator reports delivery and read statuses, typing
/// and edits, and files travel by URL both ways. The hub reads this one declaration.
pub const CAPABILITIES: Capabilities = Capabilities {
    receipts: true,
    typing: true,
    edits: true,
    media: true,
    uploads_files: false,
    notes_refused_files: false,
    reply_window_secs: None,
    templates: false,
    reactions: false,
    marks_read: false,
    threads_by_reference: false,
    surveys: switchboard_channel::SurveyDelivery::Message,
};

/// One API inbox's settings, as an admin configures them.
#[derive(Clone)]
pub struct ApiChannelSettings {
    /// Shared HMAC secret that signs webhooks in both directions.
    pub secret: String,
    /// Where agent replies are posted; `None` for inbound-only inboxes.
    pub callback_url: Option<Url>,
    /// Budget for one whole callback (connect, send, answer), so a slow integrator cannot stall
    /// the outbox.
    pub timeout: Duration,
}

impl fmt::Debug for ApiChannelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiChannelSettings")
            .field("secret", &"<redacted>")
            .field("callback_url", &self.callback_url.as_ref().map(redacted))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why an API inbox's settings cannot be used; shown to the admin who saved them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An empty secret would let anyone forge valid signatures.
    #[error("secret must not be empty")]
    EmptySecret,
    /// Callbacks are plain HTTP(S) POSTs; other schemes cannot work.
    #[error("callback_url must use http or https, not {0:?}")]
    UnsupportedScheme(String),
    /// A zero timeout would fail every callback.
    #[error("timeout must be greater than zero")]
    ZeroTimeout,
    /// The HTTP client could not be built (e.g. TLS roots unavailable).
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// The generic signed API channel for one inbox. Holds one pooled HTTP client, so build it once
/// per inbox and share it (`Arc<dyn Channel>`).
pub struct ApiChannel {
    secret: String,
    callback_url: Option<Url>,
    timeout: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for ApiChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiChannel")
            .field("secret", &"<redacted>")
            .field("callback_url", &self.callback_url.as_ref().map(redacted))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiChannel {
    /// Checks the settings and builds the HTTP client: redirects are never followed (a redirect
    /// could carry the signed body somewhere unexpected) and every request is bounded by
    /// `settings.timeout`.
    pub fn new(settings: ApiChannelSettings) -> Result<Self, ConfigError> {
        if settings.secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        if let Some(url) = &settings.callback_url
            && !matches!(url.scheme(), "http" | "https")
        {
            return Err(ConfigError::UnsupportedScheme(url.scheme().to_owned()));
        }
        if settings.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|err| ConfigError::HttpClient(root_cause(&err)))?;
        Ok(Self {
            secret: settings.secret,
            callback_url: settings.callback_url,
            timeout: settings.timeout,
            client,
        })
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let Some(url) = &self.callback_url else {
            return Err(ChannelError::Permanent {
                code: Some("no_callback_url".to_owned()),
                reason: "this inbox has no callback_url; set one in its settings".to_owned(),
            });
        };
        let body = crate::render_outbound(message);
        let signature = sign(self.secret.as_bytes(), &body);
        let mut response = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|err| self.transport_error(err))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // The status line is authoritative: once the integrator has answered 2xx the message is
        // delivered, so a body that breaks off mid-way must not turn into a retry (a duplicate).
        let mut answer = Vec::new();
        while answer.len() < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES - answer.len();
                    answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        parse_send_response(status, retry_after.as_deref(), &answer, Utc::now())
    }

    /// Network-level failures are always worth retrying. The URL is stripped from the error (it
    /// may carry credentials) and the secret never reaches the client's errors.
    fn transport_error(&self, err: reqwest::Error) -> ChannelError {
        let err = err.without_url();
        let reason = if err.is_timeout() {
            format!(
                "callback did not answer within {} ms",
                self.timeout.as_millis()
            )
        } else if err.is_connect() {
            format!("could not connect to the callback: {}", root_cause(&err))
        } else {
            format!("callback request failed: {}", root_cause(&err))
        };
        ChannelError::Transient {
            reason,
            retry_after: None,
        }
    }
}

impl Channel for ApiChannel {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    /// Verifies the signature over the raw body first, so unauthenticated callers learn nothing
    /// about the payload format; then parses by route (`""` events, `"status"` statuses).
    fn parse_inbound(
        &self,
        request: &InboundRequest<'_>,
    ) -> Result<Vec<InboundEvent>, InboundError> {
        verify(
            self.secret.as_bytes(),
            request.body,
            request.header(SIGNATURE_HEADER),
        )?;
        match request.route {
            "" => parse_events(request.body),
            "status" => Ok(parse_status(request.body)?
                .into_iter()
                .map(InboundEvent::Status)
                .collect()),
            _ => Err(InboundError::Malformed("unknown webhook route".to_owned())),
        }
    }

    fn send<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>> {
        Box::pin(self.deliver(message))
    }
}

/// The innermost cause of `err` (e.g. `Connection refused (os error 111)` rather than three
/// layers of client wrapping): the part that tells an admin what to fix.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The URL without its password, for logs.
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which then have no password either.
        let _ = url.set_password(Some("redacted"));
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "inbox-secret";

    fn channel(callback_url: Option<&str>) -> ApiChannel {
        let callback_url = callback_url.map(|url| Url::parse(url).expect("test URL"));
        ApiChannel::new(ApiChannelSettings {
            secret: SECRET.to_owned(),
            callback_url,
            timeout: Duration::from_secs(5),
        })
        .expect("valid settings")
    }

    fn request<'a>(route: &'a str, body: &'a [u8], signature: &'a str) -> InboundRequest<'a> {
        InboundRequest {
            route,
            headers: vec![
                ("content-type", "application/json"),
                ("x-switchboard-signature", signature),
            ],
            body,
        }
    }

    #[test]
    fn settings_are_validated() {
        let settings = |secret: &str, url: Option<&str>, timeout_ms: u64| ApiChannelSettings {
            secret: secret.to_owned(),
            callback_url: url.map(|url| Url::parse(url).expect("test URL")),
            timeout: Duration::from_millis(timeout_ms),
        };
        assert!(ApiChannel::new(settings("s", Some("https://crm.example.com/hook"), 1000)).is_ok());
        assert!(ApiChannel::new(settings("s", Some("http://10.0.0.5:8080/hook"), 1000)).is_ok());
        assert!(ApiChannel::new(settings("s", None, 1000)).is_ok());
        assert_eq!(
            ApiChannel::new(settings("s", Some("ftp://crm.example.com/"), 1000)).err(),
            Some(ConfigError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            ApiChannel::new(settings("", None, 1000)).err(),
            Some(ConfigError::EmptySecret)
        );
        assert_eq!(
            ApiChannel::new(settings("s", None, 0)).err(),
            Some(ConfigError::ZeroTimeout)
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let settings = ApiChannelSettings {
            secret: SECRET.to_owned(),
            callback_url: Some(Url::parse("https://user:hunter2@crm.example.com/").expect("URL")),
            timeout: Duration::from_secs(1),
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
        let channel = ApiChannel::new(settings).expect("valid settings");
        let shown = format!("{channel:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn capabilities_are_all_on() {
        assert_eq!(
            channel(None).capabilities(),
            Capabilities {
                receipts: true,
                typing: true,
                edits: true,
                media: true,
                surveys: switchboard_channel::SurveyDelivery::Message,
                ..Capabilities::default()
            }
        );
    }

    #[test]
    fn parse_inbound_routes_signed_bodies() {
        let channel = channel(None);
        let body = br#"{"type":"typing","contact":{"identifier":"cust-42"}}"#;
        let signature = sign(SECRET.as_bytes(), body);
        let events = channel
            .parse_inbound(&request("", body, &signature))
            .expect("signed event parses");
        assert!(matches!(events.as_slice(), [InboundEvent::Typing(t)] if t.on));

        let body = br#"{"external_id":"out-1","status":"read"}"#;
        let signature = sign(SECRET.as_bytes(), body);
        let events = channel
            .parse_inbound(&request("status", body, &signature))
            .expect("signed status parses");
        assert!(matches!(events.as_slice(), [InboundEvent::Status(s)] if s.external_id == "out-1"));

        assert_eq!(
            channel.parse_inbound(&request("other", body, &signature)),
            Err(InboundError::Malformed("unknown webhook route".into()))
        );
    }

    #[test]
    fn parse_inbound_checks_the_signature_before_anything_else() {
        let channel = channel(None);
        let body = b"not even json";
        let wrong = sign(b"another secret", body);
        assert_eq!(
            channel.parse_inbound(&request("", body, &wrong)),
            Err(InboundError::Unauthorized(
                "signature does not match the body".into()
            ))
        );
        let unsigned = InboundRequest {
            route: "nowhere",
            headers: Vec::new(),
            body,
        };
        assert_eq!(
            channel.parse_inbound(&unsigned),
            Err(InboundError::Unauthorized(
                "missing X-Switchboard-Signature header".into()
            ))
        );
    }

    #[test]
    fn root_cause_is_the_innermost_error() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "tcp connect error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(root_cause(&err), "Connection refused");
        assert_eq!(root_cause(&err.0), "Connection refused");
    }
}
