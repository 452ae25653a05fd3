//! The thin Graph API client around [`crate::inbound`], [`crate::outbound`] and
//! [`crate::templates`], implementing [`switchboard_channel::Channel`].
//!
//! Every call sends the inbox's access token as a bearer token, and the token never reaches
//! logs or error texts. Sends are paced twice: the number's own throughput
//! (`messages_per_second`, waited for) and Meta's pair rate limit per customer (about one
//! message every 6 seconds after a burst, *not* waited for: the send fails as transient with
//! the wait, so the outbox moves on to other customers).
//!
//! One reply can take several Graph calls (a long text in pieces, or a satisfaction survey as
//! one interactive message in place of the text, then its files, each uploaded first). A
//! customer gets one reply at a time (`RecipientLocks`), so pieces of two replies never
//! interleave, and each part that went out is remembered (`Progress`), so a retry after a
//! failure half-way sends only what is missing.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::lock::{Mutex as AsyncMutex, OwnedMutexGuard};
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_channel::{
    AttachmentRef, BoxFuture, Capabilities, Channel, ChannelError, Handshake, InboundError,
    InboundEvent, InboundRequest, MediaDownload, MessageTemplate, OutboundAttachment,
    OutboundMessage, Progress, SendReceipt, SurveyRequest, TemplateMessage, delivered_note,
    error_chain, parse_retry_after, split_text,
};
use url::Url;

use crate::outbound::{self, MediaKind};
use crate::templates;

/// The Graph API base used when an inbox sets no `api_url`.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com/";
/// The Graph API version used when an inbox sets no `api_version`.
pub const DEFAULT_API_VERSION: &str = "v23.0";

/// What WhatsApp supports.
pub const CAPABILITIES: Capabilities = Capabilities {
    receipts: true,
    typing: false,
    edits: false,
    media: true,
    uploads_files: true,
    notes_refused_files: true,
    reply_window_secs: Some(24 * 60 * 60),
    templates: true,
    reactions: true,
    marks_read: true,
    threads_by_reference: false,
    // Asked as an interactive message (reply buttons or a list), answered by a tap.
    surveys: switchboard_channel::SurveyDelivery::Message,
};

/// One WhatsApp inbox's settings as the hub stores them.
#[derive(Clone)]
pub struct WhatsAppSettings {
    /// The business phone number's id (not the number itself).
    pub phone_number_id: String,
    /// The WhatsApp Business Account id, for templates.
    pub waba_id: Option<String>,
    /// A system-user access token with `whatsapp_business_messaging` (and management).
    pub access_token: String,
    /// The Meta app's secret: webhooks are signed with it.
    pub app_secret: String,
    /// What Meta echoes in the subscription check.
    pub verify_token: String,
    /// Graph API base (a test double's URL in tests).
    pub api_url: Url,
    /// Graph API version path segment, e.g. `v23.0`.
    pub api_version: String,
    /// Messages per second this number may send (Meta: 80 by default).
    pub messages_per_second: u32,
    /// Longest wait for one Graph API call.
    pub timeout: Duration,
}

/// What Debug output shows in place of a secret.
const REDACTED: &str = "<redacted>";

/// Secrets never reach logs: the access token, the app secret and the verify token are
/// printed as `<redacted>`, and the API URL without credentials.
impl fmt::Debug for WhatsAppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppSettings")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .field("access_token", &REDACTED)
            .field("app_secret", &REDACTED)
            .field("verify_token", &REDACTED)
            .field("api_url", &without_credentials(&self.api_url))
            .field("api_version", &self.api_version)
            .field("messages_per_second", &self.messages_per_second)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A URL as it may be logged: without a user name or password in it.
fn without_credentials(url: &Url) -> String {
    let mut shown = url.clone();
    // Both only fail for URLs that cannot have credentials anyway.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.into()
}

/// Why a channel cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is unusable (not a URL, empty).
    #[error("{0}")]
    Invalid(String),
}

/// What `GET /{phone_number_id}` tells about the number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneNumberInfo {
    /// The number's id.
    pub id: String,
    /// The number as customers see it (`+1 555-0100`).
    pub display_phone_number: Option<String>,
    /// The business name Meta verified for it.
    pub verified_name: Option<String>,
    /// Meta's quality rating (`GREEN`, `YELLOW`, `RED`).
    pub quality_rating: Option<String>,
}

/// Keyed limiters keep a cell per customer; past this many, idle ones are dropped.
const LIMITER_KEYS_KEPT: usize = 10_000;

/// Meta's pair rate limit: one message to a customer every 6 seconds on average, after a
/// burst of about ten.
const PAIR_PERIOD: Duration = Duration::from_secs(6);
const PAIR_BURST: u32 = 10;

/// How many template pages are read at most (100 templates each).
const MAX_TEMPLATE_PAGES: usize = 50;

/// The number's throughput and the per-customer pair limit.
struct Limits {
    number: DefaultDirectRateLimiter,
    recipients: DefaultKeyedRateLimiter<String>,
}

impl Limits {
    fn new(messages_per_second: u32) -> Self {
        let burst = NonZeroU32::new(PAIR_BURST).unwrap_or(NonZeroU32::MIN);
        let pair = Quota::with_period(PAIR_PERIOD)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            number: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(messages_per_second).unwrap_or(NonZeroU32::MIN),
            )),
            recipients: RateLimiter::keyed(pair),
        }
    }

    /// Takes one message of `to`'s pair allowance, or says how long until there is one.
    fn recipient_ready(&self, to: &str) -> Result<(), Duration> {
        let key = to.to_owned();
        let checked = self.recipients.check_key(&key);
        if self.recipients.len() > LIMITER_KEYS_KEPT {
            self.recipients.retain_recent();
        }
        checked.map_err(|not_until| not_until.wait_time_from(self.recipients.clock().now()))
    }
}

/// Past this many per-customer locks, idle ones left behind by cancelled sends are swept out.
const RECIPIENT_LOCKS_SWEEP: usize = 1_024;

/// One reply at a time per customer: the outbox sends several jobs at once, and without this
/// the pieces of two long replies to one customer would interleave.
#[derive(Default)]
struct RecipientLocks {
    held: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// A customer's turn; the next reply to them may go once it is dropped.
struct Turn<'a> {
    locks: &'a RecipientLocks,
    to: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl RecipientLocks {
    fn held(&self) -> MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other reply is being sent to `to`.
    async fn turn(&self, to: &str) -> Turn<'_> {
        let lock = {
            let mut held = self.held();
            if held.len() >= RECIPIENT_LOCKS_SWEEP {
                held.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            held.entry(to.to_owned()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        Turn {
            locks: self,
            to: to.to_owned(),
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Nobody else holds or waits for this customer's lock (every clone is made under the
        // map's lock): drop the idle entry.
        let mut held = self.locks.held();
        if held
            .get(&self.to)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            held.remove(&self.to);
        }
    }
}

/// One part of a reply: a piece of its text, one of its files (with the text as caption when
/// it fits), an approved template, or a satisfaction survey (asked with its buttons in place
/// of the text).
enum Part<'a> {
    Text(String),
    Survey {
        survey: &'a SurveyRequest,
        question: &'a str,
    },
    Media {
        file: &'a OutboundAttachment,
        data: Bytes,
        kind: MediaKind,
        caption: Option<&'a str>,
    },
    Template(&'a TemplateMessage),
}

/// The parts of a reply, in sending order: a template alone; else the survey (whose question
/// is the content) or the text pieces first, then files. Fails before anything is sent when a
/// file cannot go (not loaded, over 100 MB) or a survey's answers could not come back.
fn parts(message: &OutboundMessage) -> Result<Vec<Part<'_>>, ChannelError> {
    if let Some(template) = &message.template {
        return Ok(vec![Part::Template(template)]);
    }
    if let Some(survey) = &message.survey {
        outbound::check_survey(survey, &message.content)?;
    }
    let mut files = Vec::new();
    for file in &message.attachments {
        let data = file.data.clone().ok_or_else(|| ChannelError::Permanent {
            code: Some("file_unavailable".into()),
            reason: format!("the file {:?} could not be read for upload", file.file_name),
        })?;
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let kind = outbound::media_kind(&file.content_type, size).map_err(|error| match error {
            ChannelError::Permanent { code, reason } => ChannelError::Permanent {
                code,
                reason: format!("{:?}: {reason}", file.file_name),
            },
            transient => transient,
        })?;
        files.push((file, data, kind));
    }
    let text = message.content.as_str();
    let captionable = files.iter().filter(|(_, _, k)| k.takes_caption()).count();
    let as_caption = message.survey.is_none()
        && !text.trim().is_empty()
        && captionable == 1
        && text.chars().count() <= outbound::MAX_CAPTION_CHARS;
    let mut parts: Vec<Part<'_>> = Vec::new();
    if let Some(survey) = &message.survey {
        parts.push(Part::Survey {
            survey,
            question: text,
        });
    } else if !as_caption {
        parts.extend(
            split_text(text, outbound::MAX_TEXT_CHARS, |_| 1)
                .into_iter()
                .filter(|piece| !piece.trim().is_empty())
                .map(Part::Text),
        );
    }
    parts.extend(files.into_iter().map(|(file, data, kind)| Part::Media {
        file,
        data,
        kind,
        caption: (as_caption && kind.takes_caption()).then_some(text),
    }));
    Ok(parts)
}

/// One WhatsApp number's channel.
pub struct WhatsAppChannel {
    settings: WhatsAppSettings,
    client: reqwest::Client,
    /// `{api_url}{api_version}/`: every Graph path is joined onto it.
    base: Url,
    /// `Bearer {access_token}`, marked sensitive so it is never printed.
    authorization: HeaderValue,
    limits: Limits,
    progress: Mutex<Progress<Option<String>>>,
    recipients: RecipientLocks,
}

impl fmt::Debug for WhatsAppChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppChannel")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The Graph API base must be an http(s) URL with a host and without query or fragment; a
/// missing final `/` is added, so the version and paths are joined below it, not beside it.
fn check_api_url(mut url: Url) -> Result<Url, SetupError> {
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.cannot_be_a_base()
    {
        return Err(SetupError::Invalid(
            "api_url must be an http:// or https:// URL with a host".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SetupError::Invalid(
            "api_url must not have a query or fragment".into(),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Whether `segment` can be put in a Graph URL path as it is (ids, `v23.0`): no slashes, no
/// dot segments, nothing to escape.
fn path_safe(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A network-level failure (no answer, timeout, broken body) as a transient error naming
/// `what` was being done; reqwest's URL is left out (media links carry a signature).
fn network_error(error: reqwest::Error, what: &str) -> ChannelError {
    let error = error.without_url();
    let summary = if error.is_timeout() {
        "the Graph API did not answer in time"
    } else if error.is_connect() {
        "could not reach the Graph API"
    } else {
        "the connection to the Graph API failed"
    };
    ChannelError::Transient {
        reason: format!("{summary} while {what}: {}", error_chain(&error)),
        retry_after: None,
    }
}

/// The `Retry-After` of an answer, if readable.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

/// A Graph media id and the checksum the webhook gave for it, read from
/// [`AttachmentRef::source`]: `{media_id}` or `{media_id}?sha256={hex or base64}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaSource {
    media_id: String,
    sha256: Option<[u8; 32]>,
}

fn parse_media_source(source: &str) -> Option<MediaSource> {
    let (id, query) = match source.trim().split_once('?') {
        Some((id, query)) => (id, Some(query)),
        None => (source.trim(), None),
    };
    if !path_safe(id) || id.contains('.') {
        return None;
    }
    let sha256 = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "sha256")
        .and_then(|(_, value)| {
            let decoded = percent_decode(value);
            let digest = decode_sha256(&decoded);
            if digest.is_none() {
                tracing::warn!(value = %decoded, "unreadable sha256 in a WhatsApp media source: not checked against it");
            }
            digest
        });
    Some(MediaSource {
        media_id: id.to_owned(),
        sha256,
    })
}

/// Undoes `%XX` escapes; a space (a `+` decoded as a form would) becomes `+` again, which is
/// what it was in a base64 value.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| value.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(if byte == b' ' { b'+' } else { byte });
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A SHA-256 digest written as 64 hex digits or as base64 (standard or URL-safe, padded or
/// not): Meta uses both.
fn decode_sha256(value: &str) -> Option<[u8; 32]> {
    let value = value.trim();
    if value.len() == 64
        && let Ok(bytes) = hex::decode(value)
    {
        return bytes.try_into().ok();
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .and_then(|bytes| bytes.try_into().ok())
}

/// What `GET /{media_id}` tells about an inbound file.
struct MediaInfo {
    url: Url,
    file_size: Option<u64>,
    sha256: Option<[u8; 32]>,
}

/// Streams `body`, hashing it; the last item is an error when the digest is not `expected`.
fn checked_stream(
    response: reqwest::Response,
    expected: Option<[u8; 32]>,
) -> impl futures_util::Stream<Item = Result<Bytes, String>> + Send + 'static {
    let inner = response.bytes_stream();
    futures_util::stream::unfold(
        (Box::pin(inner), Some(Sha256::new())),
        move |(mut inner, hasher)| async move {
            let mut hasher = hasher?;
            match inner.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    Some((Ok(chunk), (inner, Some(hasher))))
                }
                Some(Err(error)) => Some((
                    Err(format!(
                        "the WhatsApp media download broke off: {}",
                        error_chain(&error.without_url())
                    )),
                    (inner, None),
                )),
                None => {
                    let digest: [u8; 32] = hasher.finalize().into();
                    match expected {
                        Some(expected) if expected != digest => Some((
                            Err(format!(
                                "the downloaded WhatsApp media does not match its checksum \
                                 (sha256 {} expected, {} received)",
                                hex::encode(expected),
                                hex::encode(digest)
                            )),
                            (inner, None),
                        )),
                        _ => None,
                    }
                }
            }
        },
    )
}

impl WhatsAppChannel {
    /// Builds the client (no network call).
    pub fn new(settings: WhatsAppSettings) -> Result<Self, SetupError> {
        let api_url = check_api_url(settings.api_url.clone())?;
        if !path_safe(&settings.api_version) {
            return Err(SetupError::Invalid(format!(
                "api_version {:?} must look like {DEFAULT_API_VERSION}",
                settings.api_version
            )));
        }
        if !path_safe(&settings.phone_number_id) {
            return Err(SetupError::Invalid(
                "phone_number_id must be the number's id from Meta (digits), not empty".into(),
            ));
        }
        if let Some(waba_id) = &settings.waba_id
            && !path_safe(waba_id)
        {
            return Err(SetupError::Invalid(
                "waba_id must be the WhatsApp Business Account id from Meta (digits)".into(),
            ));
        }
        let token = settings.access_token.trim();
        if token.is_empty() {
            return Err(SetupError::Invalid("access_token must not be empty".into()));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                SetupError::Invalid(
                    "access_token contains characters an HTTP header cannot carry".into(),
                )
            })?;
        authorization.set_sensitive(true);
        let base = api_url
            .join(&format!("{}/", settings.api_version))
            .map_err(|e| SetupError::Invalid(format!("api_url and api_version: {e}")))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(settings.timeout))
            .timeout(settings.timeout.max(Duration::from_millis(100)))
            .user_agent(concat!("switchboard-whatsapp/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SetupError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self {
            limits: Limits::new(settings.messages_per_second),
            settings,
            client,
            base,
            authorization,
            progress: Mutex::new(Progress::default()),
            recipients: RecipientLocks::default(),
        })
    }

    fn progress(&self) -> MutexGuard<'_, Progress<Option<String>>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `{api_url}{api_version}/{path}`; `path` is made of checked segments only.
    fn endpoint(&self, path: &str) -> Result<Url, ChannelError> {
        self.base.join(path).map_err(|e| ChannelError::Permanent {
            code: None,
            reason: format!("cannot build the Graph API URL for {path:?}: {e}"),
        })
    }

    /// Removes the access token from a text coming from elsewhere (Graph echoing a request).
    fn scrub(&self, text: String) -> String {
        let token = self.settings.access_token.trim();
        if token.len() >= 8 && text.contains(token) {
            text.replace(token, REDACTED)
        } else {
            text
        }
    }

    fn scrub_error(&self, error: ChannelError) -> ChannelError {
        match error {
            ChannelError::Transient {
                reason,
                retry_after,
            } => ChannelError::Transient {
                reason: self.scrub(reason),
                retry_after,
            },
            ChannelError::Permanent { code, reason } => ChannelError::Permanent {
                code,
                reason: self.scrub(reason),
            },
        }
    }

    /// Sends `request` with the bearer token; a success gives the body, anything else the
    /// classified error.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Bytes, ChannelError> {
        let response = request
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| network_error(e, what))?;
        let status = response.status();
        let wait = retry_after(&response);
        let body = response.bytes().await.map_err(|e| network_error(e, what))?;
        if status.is_success() {
            return Ok(body);
        }
        let error = self.scrub_error(outbound::classify_error(status.as_u16(), &body, wait));
        let trace = outbound::parse_graph_error(&body).and_then(|e| e.fbtrace_id);
        tracing::warn!(
            status = status.as_u16(),
            fbtrace_id = trace.as_deref().unwrap_or(""),
            %error,
            "WhatsApp Graph API refused {what}"
        );
        Err(error)
    }

    /// [`Self::call`] for answers that must be JSON.
    async fn call_json(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, ChannelError> {
        let body = self.call(request, what).await?;
        serde_json::from_slice(&body).map_err(|e| ChannelError::Transient {
            reason: format!("the Graph API answered {what} with unreadable JSON: {e}"),
            retry_after: None,
        })
    }

    /// Checks the token against the number: `GET /{version}/{phone_number_id}`.
    pub async fn phone_number(&self) -> Result<PhoneNumberInfo, ChannelError> {
        let mut url = self.endpoint(&self.settings.phone_number_id)?;
        url.query_pairs_mut().append_pair(
            "fields",
            "id,display_phone_number,verified_name,quality_rating",
        );
        let answer = self
            .call_json(self.client.get(url), "reading the phone number")
            .await?;
        let text = |key: &str| {
            answer
                .get(key)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Ok(PhoneNumberInfo {
            id: answer
                .get("id")
                .and_then(outbound::graph_id)
                .unwrap_or_else(|| self.settings.phone_number_id.clone()),
            display_phone_number: text("display_phone_number"),
            verified_name: text("verified_name"),
            quality_rating: text("quality_rating"),
        })
    }

    /// `POST /{phone_number_id}/messages`; gives Meta's id of the accepted message.
    async fn post_message(&self, body: &Value, what: &str) -> Result<Option<String>, ChannelError> {
        let url = self.endpoint(&format!("{}/messages", self.settings.phone_number_id))?;
        let answer = self.call(self.client.post(url).json(body), what).await?;
        let id = serde_json::from_slice::<Value>(&answer)
            .ok()
            .as_ref()
            .and_then(outbound::sent_message_id);
        if id.is_none() {
            // Accepted all the same: sending again would deliver it twice.
            tracing::warn!("WhatsApp accepted a message without giving its id");
        }
        Ok(id)
    }

    /// `POST /{phone_number_id}/media`: uploads one file, giving its media id.
    async fn upload(&self, file: &OutboundAttachment, data: Bytes) -> Result<String, ChannelError> {
        let what = format!("uploading {:?}", file.file_name);
        let mime = outbound::essence(&file.content_type);
        let length = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let part = reqwest::multipart::Part::stream_with_length(data, length)
            .file_name(file.file_name.clone());
        let part = match part.mime_str(&mime) {
            Ok(part) => part,
            Err(_) => {
                return Err(ChannelError::Permanent {
                    code: Some("bad_content_type".into()),
                    reason: format!(
                        "{:?} has the content type {:?}, which WhatsApp cannot take",
                        file.file_name, file.content_type
                    ),
                });
            }
        };
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime)
            .part("file", part);
        let url = self.endpoint(&format!("{}/media", self.settings.phone_number_id))?;
        let answer = self
            .call_json(self.client.post(url).multipart(form), &what)
            .await?;
        outbound::uploaded_media_id(&answer).ok_or_else(|| ChannelError::Transient {
            reason: format!("the Graph API gave no media id after {what}"),
            retry_after: None,
        })
    }

    /// Sends one part, after taking the customer's pair allowance (refusing at once when it is
    /// used up) and waiting for the number's throughput.
    async fn send_part(
        &self,
        to: &str,
        part: &Part<'_>,
        reply_to: Option<&str>,
    ) -> Result<Option<String>, ChannelError> {
        if let Err(wait) = self.limits.recipient_ready(to) {
            return Err(ChannelError::Transient {
                reason: format!(
                    "WhatsApp allows about one message every {} s to one customer (pair rate \
                     limit): next one in {} ms",
                    PAIR_PERIOD.as_secs(),
                    wait.as_millis()
                ),
                retry_after: Some(wait),
            });
        }
        let body = match part {
            Part::Text(piece) => outbound::text_message(to, piece, reply_to),
            Part::Survey { survey, question } => {
                outbound::survey_message(to, survey, question, reply_to)
            }
            Part::Media {
                file,
                data,
                kind,
                caption,
            } => {
                let media_id = self.upload(file, data.clone()).await?;
                outbound::media_message(
                    to,
                    *kind,
                    &media_id,
                    *caption,
                    Some(&file.file_name),
                    reply_to,
                )
            }
            Part::Template(template) => outbound::template_message(to, template),
        };
        self.limits.number.until_ready().await;
        let what = match part {
            Part::Text(_) => "sending a text",
            Part::Survey { .. } => "sending a survey",
            Part::Media { .. } => "sending a file",
            Part::Template(_) => "sending a template",
        };
        self.post_message(&body, what).await
    }

    /// Sends one reply, resuming after the parts an earlier attempt already delivered.
    async fn deliver(&self, message: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let to = message.recipient.identifier.trim();
        if to.is_empty() {
            return Err(ChannelError::Permanent {
                code: None,
                reason: "the contact has no WhatsApp id to send to".into(),
            });
        }
        let parts = parts(message)?;
        // Before anything else awaits, so replies to one customer take their turns in the
        // order the outbox started them.
        let _turn = self.recipients.turn(to).await;
        let total = parts.len();
        let job = message.message_id.as_str();
        let mut sent = self.progress().sent(job, total);
        if !sent.is_empty() {
            tracing::info!(
                message_id = job,
                note = %delivered_note(sent.keys().copied(), total),
                "resuming a partly delivered WhatsApp reply"
            );
        }
        let reply_to = message.reply_to_external_id.as_deref();
        for (index, part) in parts.iter().enumerate() {
            if sent.contains_key(&index) {
                continue;
            }
            // The first part answers the customer's message; the rest follow it.
            let quote = if index == 0 { reply_to } else { None };
            match self.send_part(to, part, quote).await {
                Ok(id) => {
                    // Recorded at once: a send cut off later still knows this part went out.
                    self.progress().record(job, total, index, id.clone());
                    sent.insert(index, id);
                }
                Err(error) => return Err(error.with_delivered_parts(sent.into_keys(), total)),
            }
        }
        self.progress().forget(job);
        Ok(SendReceipt {
            external_id: sent.into_values().next().flatten(),
        })
    }

    /// `GET /{media_id}`: where an inbound file can be downloaded (for 5 minutes).
    async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ChannelError> {
        let mut url = self.endpoint(media_id)?;
        url.query_pairs_mut()
            .append_pair("phone_number_id", &self.settings.phone_number_id);
        let answer = self
            .call_json(self.client.get(url), "looking up a media file")
            .await?;
        let link = answer
            .get("url")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ChannelError::Transient {
                reason: "the Graph API gave no download URL for the media file".into(),
                retry_after: None,
            })?;
        let file_size = match answer.get("file_size") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Ok(MediaInfo {
            url: link,
            file_size,
            sha256: answer
                .get("sha256")
                .and_then(Value::as_str)
                .and_then(decode_sha256),
        })
    }

    /// Downloads an inbound file: looks up its URL, fetches it with the token (once more with
    /// a fresh URL when the first has expired), and checks its SHA-256 while streaming.
    async fn download(&self, reference: &AttachmentRef) -> Result<MediaDownload, ChannelError> {
        let source =
            parse_media_source(&reference.source).ok_or_else(|| ChannelError::Permanent {
                code: Some("bad_media_source".into()),
                reason: format!(
                    "{:?} is not a WhatsApp media reference (expected `<media id>` or \
                 `<media id>?sha256=<digest>`)",
                    reference.source
                ),
            })?;
        let mut info = self.media_info(&source.media_id).await?;
        let mut refetched = false;
        let response = loop {
            let response = self
                .client
                .get(info.url.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .send()
                .await
                .map_err(|e| network_error(e, "downloading a media file"))?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                break response;
            }
            if matches!(status, 403 | 404 | 410) && !refetched {
                // Download URLs live 5 minutes: ask for a fresh one, once.
                tracing::info!(status, "WhatsApp media URL expired; fetching a new one");
                refetched = true;
                info = self.media_info(&source.media_id).await?;
                continue;
            }
            let wait = retry_after(&response);
            let body = response.bytes().await.unwrap_or_default();
            return Err(self.scrub_error(outbound::classify_error(status, &body, wait)));
        };
        let expected = source.sha256.or(info.sha256);
        Ok(MediaDownload {
            file_name: None,
            byte_size: info.file_size,
            body: Box::pin(checked_stream(response, expected)),
        })
    }

    /// All approved (and pending, rejected…) templates of the account, following `after`
    /// cursors on the configured API URL only.
    async fn list_templates(&self) -> Result<Vec<MessageTemplate>, ChannelError> {
        let Some(waba_id) = self.settings.waba_id.as_deref() else {
            return Err(ChannelError::Permanent {
                code: Some("waba_id_missing".into()),
                reason: "listing templates needs the WhatsApp Business Account id (waba_id) in \
                         the inbox settings"
                    .into(),
            });
        };
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = HashSet::new();
        for _ in 0..MAX_TEMPLATE_PAGES {
            let mut url = self.endpoint(&format!("{waba_id}/message_templates"))?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", "100");
                if let Some(cursor) = &after {
                    query.append_pair("after", cursor);
                }
            }
            let answer = self
                .call_json(self.client.get(url), "listing templates")
                .await?;
            let page = templates::parse_page(&answer);
            if page.skipped > 0 {
                tracing::warn!(
                    skipped = page.skipped,
                    "WhatsApp templates skipped: a name, language, status or body was missing"
                );
            }
            all.extend(page.templates);
            match page.after {
                Some(next) if seen.insert(next.clone()) => after = Some(next),
                _ => return Ok(all),
            }
        }
        tracing::warn!(
            pages = MAX_TEMPLATE_PAGES,
            "stopped listing WhatsApp templates after the page limit"
        );
        Ok(all)
    }
}

impl Channel for WhatsAppChannel {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn parse_inbound(
        &self,
        request: &InboundRequest<'_>,
    ) -> Result<Vec<InboundEvent>, InboundError> {
        crate::inbound::verify_signature(
            &self.settings.app_secret,
            request.header(crate::inbound::SIGNATURE_HEADER),
            request.body,
        )?;
        crate::inbound::parse_webhook(request.body, &self.settings.phone_number_id)
    }

    fn send<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>> {
        Box::pin(self.deliver(message))
    }

    fn open_media<'a>(
        &'a self,
        reference: &'a AttachmentRef,
    ) -> BoxFuture<'a, Result<Option<MediaDownload>, ChannelError>> {
        Box::pin(async move { self.download(reference).await.map(Some) })
    }

    fn handshake(&self, query: &str) -> Handshake {
        crate::inbound::answer_handshake(query, &self.settings.verify_token)
    }

    fn mark_read<'a>(&'a self, external_id: &'a str) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let url = self.endpoint(&format!("{}/messages", self.settings.phone_number_id))?;
            let request = self
                .client
                .post(url)
                .json(&outbound::read_receipt(external_id));
            // Graph answers `{"success":true}`; there is nothing else to read.
            self.call(request, "marking a message read")
                .await
                .map(|_| ())
        })
    }

    fn templates(&self) -> BoxFuture<'_, Result<Vec<MessageTemplate>, ChannelError>> {
        Box::pin(self.list_templates())
    }

    fn reparse(&self, raw: &serde_json::Value) -> Result<Vec<InboundEvent>, InboundError> {
        crate::inbound::parse_value(raw, &self.settings.phone_number_id)
    }

    fn account(&self) -> Option<String> {
        Some(self.settings.phone_number_id.clone())
    }

    fn accounts_in(&self, request: &InboundRequest<'_>) -> Vec<String> {
        crate::inbound::phone_number_ids(request.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WhatsAppSettings {
        WhatsAppSettings {
            phone_number_id: "106540352242922".into(),
            waba_id: Some("102290129340398".into()),
            access_token: "EAAJBsecretTOKENvalue".into(),
            app_secret: "appsecretvalue".into(),
            verify_token: "verifytokenvalue".into(),
            api_url: Url::parse(DEFAULT_API_URL).expect("url"),
            api_version: DEFAULT_API_VERSION.into(),
            messages_per_second: 80,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn api_url_is_checked_and_gets_a_final_slash() {
        for bad in [
            "ftp://example.com/",
            "mailto:graph@example.com",
            "http://h/?x=1",
            "http://h/#top",
        ] {
            let url = Url::parse(bad).expect("parses as a URL");
            assert!(check_api_url(url).is_err(), "{bad}");
        }
        let fixed =
            check_api_url(Url::parse("http://127.0.0.1:9/graph").expect("url")).expect("accepted");
        assert_eq!(fixed.as_str(), "http://127.0.0.1:9/graph/");
        let mut s = settings();
        s.api_url = fixed;
        let channel = WhatsAppChannel::new(s).expect("channel");
        assert_eq!(channel.base.as_str(), "http://127.0.0.1:9/graph/v23.0/");
    }

    #[test]
    fn settings_are_checked() {
        let invalid = |edit: fn(&mut WhatsAppSettings)| {
            let mut s = settings();
            edit(&mut s);
            matches!(WhatsAppChannel::new(s), Err(SetupError::Invalid(_)))
        };
        assert!(invalid(|s| s.access_token = "  ".into()));
        assert!(invalid(|s| s.access_token = "bad\ntoken".into()));
        assert!(invalid(|s| s.phone_number_id = String::new()));
        assert!(invalid(|s| s.phone_number_id = "../me".into()));
        assert!(invalid(|s| s.waba_id = Some("1/2".into())));
        assert!(invalid(|s| s.api_version = "..".into()));
        assert!(invalid(|s| s.api_version = "v23.0/x".into()));
        assert!(!invalid(|s| s.messages_per_second = 0));
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let mut s = settings();
        s.api_url = Url::parse("http://user:hunter2@127.0.0.1:8081/").expect("url");
        let channel = WhatsAppChannel::new(s.clone()).expect("channel");
        for shown in [format!("{s:?}"), format!("{channel:?}"), format!("{s:#?}")] {
            for secret in [
                "EAAJBsecret",
                "appsecretvalue",
                "verifytokenvalue",
                "hunter2",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("106540352242922"), "{shown}");
            assert!(shown.contains("127.0.0.1:8081"), "{shown}");
        }
    }

    #[test]
    fn a_token_echoed_by_graph_is_scrubbed() {
        let channel = WhatsAppChannel::new(settings()).expect("channel");
        let echoed = channel.scrub_error(ChannelError::Permanent {
            code: Some("190".into()),
            reason: "Malformed access token EAAJBsecretTOKENvalue".into(),
        });
        assert_eq!(echoed.to_string(), "Malformed access token <redacted>");
    }

    #[test]
    fn media_sources_carry_an_id_and_maybe_a_checksum() {
        let digest: [u8; 32] = Sha256::digest(b"hello").into();
        let hex_form = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(
            parse_media_source("1037543291543636"),
            Some(MediaSource {
                media_id: "1037543291543636".into(),
                sha256: None
            })
        );
        for source in [
            format!("1037?sha256={hex_form}"),
            format!("1037?sha256={b64}"),
            format!(
                "1037?sha256={}",
                b64.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ),
            format!("1037?sha256={}", b64.replace('+', " ")),
            format!("1037?x=1&sha256={}", b64.trim_end_matches('=')),
            format!(
                "1037?sha256={}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
            ),
        ] {
            assert_eq!(
                parse_media_source(&source),
                Some(MediaSource {
                    media_id: "1037".into(),
                    sha256: Some(digest)
                }),
                "{source}"
            );
        }
        assert_eq!(
            parse_media_source("1037?sha256=nonsense").map(|s| s.sha256),
            Some(None)
        );
        for bad in [
            "",
            "?sha256=x",
            "../x",
            "a/b",
            "https://example.com/x",
            "1.2",
        ] {
            assert_eq!(parse_media_source(bad), None, "{bad}");
        }
    }

    fn message(content: &str, files: &[(&str, usize)]) -> OutboundMessage {
        OutboundMessage {
            mail_thread: None,
            survey: None,
            message_id: "1".into(),
            conversation_id: "1".into(),
            content: content.into(),
            private: false,
            attachments: files
                .iter()
                .enumerate()
                .map(|(i, (content_type, size))| OutboundAttachment {
                    id: i.to_string(),
                    file_name: format!("f{i}"),
                    content_type: (*content_type).into(),
                    byte_size: *size as u64,
                    url: String::new(),
                    width: None,
                    height: None,
                    thumbnail_url: None,
                    data: Some(Bytes::from(vec![0u8; *size])),
                })
                .collect(),
            recipient: switchboard_channel::ContactProfile::new("16505551234"),
            reply_to_external_id: None,
            thread_id: None,
            template: None,
        }
    }

    fn shape(parts: &[Part<'_>]) -> Vec<String> {
        parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => format!("text:{}", text.chars().count()),
                Part::Survey { survey, question } => {
                    format!("survey:{}:{question}", survey.scale.as_str())
                }
                Part::Media { kind, caption, .. } => {
                    format!("{}:{}", kind.as_str(), caption.unwrap_or("-"))
                }
                Part::Template(t) => format!("template:{}", t.name),
            })
            .collect()
    }

    #[test]
    fn parts_caption_one_captionable_file_else_text_first() {
        let captioned = message("Here", &[("image/jpeg", 10)]);
        assert_eq!(shape(&parts(&captioned).expect("parts")), ["image:Here"]);
        let with_audio = message("Here", &[("audio/ogg", 10), ("application/pdf", 10)]);
        assert_eq!(
            shape(&parts(&with_audio).expect("parts")),
            ["audio:-", "document:Here"]
        );
        let two = message("Here", &[("image/jpeg", 10), ("image/png", 10)]);
        assert_eq!(
            shape(&parts(&two).expect("parts")),
            ["text:4", "image:-", "image:-"]
        );
        let long = "word ".repeat(1000);
        let long_caption = message(&long, &[("image/jpeg", 10)]);
        assert_eq!(
            shape(&parts(&long_caption).expect("parts")),
            ["text:4095", "text:905", "image:-"]
        );
        let only_audio = message("Listen", &[("audio/ogg", 10)]);
        assert_eq!(
            shape(&parts(&only_audio).expect("parts")),
            ["text:6", "audio:-"]
        );
        assert!(parts(&message("   ", &[])).expect("parts").is_empty());
        let mut template = message("ignored", &[("image/jpeg", 10)]);
        template.template = Some(TemplateMessage {
            name: "hello_world".into(),
            ..TemplateMessage::default()
        });
        assert_eq!(
            shape(&parts(&template).expect("parts")),
            ["template:hello_world"]
        );
    }

    #[test]
    fn a_survey_goes_in_place_of_the_text() {
        let survey = switchboard_channel::SurveyRequest {
            survey_id: "42".into(),
            question: "How did we do?".into(),
            scale: switchboard_channel::SurveyScale::Five,
            links: Vec::new(),
        };
        let mut asked = message("How did we do?", &[]);
        asked.survey = Some(survey.clone());
        assert_eq!(
            shape(&parts(&asked).expect("parts")),
            ["survey:five:How did we do?"]
        );
        // A file never takes the question as its caption.
        let mut with_file = message("How did we do?", &[("image/jpeg", 10)]);
        with_file.survey = Some(survey.clone());
        assert_eq!(
            shape(&parts(&with_file).expect("parts")),
            ["survey:five:How did we do?", "image:-"]
        );
        let mut odd = message("How did we do?", &[("image/jpeg", 10)]);
        odd.survey = Some(switchboard_channel::SurveyRequest {
            survey_id: "not-digits".into(),
            ..survey
        });
        assert!(matches!(
            parts(&odd),
            Err(ChannelError::Permanent { code: Some(code), .. }) if code == "bad_survey_id"
        ));
    }

    #[test]
    fn parts_refuse_unloaded_files() {
        let mut unloaded = message("x", &[("image/jpeg", 10)]);
        unloaded.attachments[0].data = None;
        assert!(matches!(
            parts(&unloaded),
            Err(ChannelError::Permanent { code: Some(code), .. }) if code == "file_unavailable"
        ));
    }

    #[test]
    fn pair_limit_allows_a_burst_then_says_how_long() {
        let limits = Limits::new(80);
        for _ in 0..PAIR_BURST {
            assert!(limits.recipient_ready("1").is_ok());
        }
        let wait = limits.recipient_ready("1").expect_err("limited");
        assert!(
            wait > Duration::from_secs(5) && wait <= PAIR_PERIOD,
            "{wait:?}"
        );
        assert!(limits.recipient_ready("2").is_ok());
    }
}
