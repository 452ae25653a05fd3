//! The thin I/O part: one bot's [`teloxide::Bot`] client behind the [`Channel`] contract, with
//! the Bot API's rate limits (governor) applied before every call.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle_eq::constant_time_eq;
use switchboard_channel::{
    AttachmentRef, BoxFuture, Capabilities, Channel, ChannelError, InboundError, InboundEvent,
    InboundRequest, MediaDownload, OutboundAttachment, OutboundMessage, PolledUpdate, Poller,
    SendReceipt,
};
use teloxide::net::Download;
use teloxide::payloads::{
    GetUpdatesSetters, SendDocumentSetters, SendMessageSetters, SendPhotoSetters, SetWebhookSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, ChatId, FileId, InputFile, Me, MessageId, ParseMode, ReplyParameters, Update,
};
use teloxide::{Bot, RequestError};
use url::Url;

use crate::inbound::{self, GroupPolicy, MAX_BOT_DOWNLOAD_BYTES, ParseOptions};
use crate::outbound::{self, UploadKind};

/// The header Telegram sends with every webhook request when `setWebhook` got a secret token.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// The public Bot API, used when an inbox names no `api_url`.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// The update kinds the hub asks for; everything else would only be skipped.
const ALLOWED_UPDATES: [AllowedUpdate; 2] = [AllowedUpdate::Message, AllowedUpdate::EditedMessage];

/// How one inbox talks to its bot.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// The token from @BotFather; it is also the Bot API's credential, so it never reaches
    /// logs or error messages.
    pub bot_token: String,
    /// The Bot API base URL (a local Bot API server, or a test double); `None` is Telegram's.
    pub api_url: Option<Url>,
    /// The `secret_token` given to `setWebhook`; `None` in polling mode, where every webhook
    /// request is refused.
    pub webhook_secret: Option<String>,
    /// What to do with group chats.
    pub groups: GroupPolicy,
    /// Longest wait for one Bot API call (uploads included).
    pub timeout: Duration,
}

/// The Bot API's limits for bots (core.telegram.org/bots/faq#broadcasting-to-users): about
/// 30 messages a second overall, one a second per chat, twenty a minute per group.
struct Limits {
    bot: DefaultDirectRateLimiter,
    chats: DefaultKeyedRateLimiter<i64>,
    groups: DefaultKeyedRateLimiter<i64>,
}

/// Keyed limiters keep a cell per chat; past this many, idle ones are dropped.
const LIMITER_KEYS_KEPT: usize = 10_000;

impl Limits {
    fn new() -> Self {
        let per_second = |n: u32| Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            bot: RateLimiter::direct(per_second(30)),
            chats: RateLimiter::keyed(per_second(1)),
            groups: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            )),
        }
    }

    /// Waits until one more message may go to `chat_id`.
    async fn until_ready(&self, chat_id: i64) {
        if chat_id < 0 {
            self.groups.until_key_ready(&chat_id).await;
        }
        self.chats.until_key_ready(&chat_id).await;
        self.bot.until_ready().await;
        if self.chats.len() > LIMITER_KEYS_KEPT {
            self.chats.retain_recent();
            self.groups.retain_recent();
        }
    }
}

/// One bot: parses its webhook requests and sends through the Bot API.
pub struct TelegramChannel {
    bot: Bot,
    webhook_secret: Option<String>,
    parse: ParseOptions,
    limits: Limits,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("api_url", &self.bot.api_url().as_str())
            .field("webhook", &self.webhook_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a bot cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The settings themselves are wrong (a bad `api_url`, an empty token).
    #[error("{0}")]
    Invalid(String),
    /// The Bot API refused or could not be reached; the text is Telegram's, token-free.
    #[error("{0}")]
    Api(ChannelError),
}

impl TelegramChannel {
    /// Builds the client; no network call yet.
    pub fn new(settings: TelegramSettings) -> Result<Self, SetupError> {
        let token = settings.bot_token.trim();
        if !valid_token(token) {
            return Err(SetupError::Invalid(
                "bot_token must look like 123456789:AAE… (the token @BotFather gave)".into(),
            ));
        }
        let api_url = match settings.api_url {
            Some(url) => check_api_url(url)?,
            None => Url::parse(DEFAULT_API_URL)
                .map_err(|e| SetupError::Invalid(format!("default API URL: {e}")))?,
        };
        // Long polling holds a request open for up to POLL_TIMEOUT: the client waits longer.
        let timeout = settings
            .timeout
            .max(Duration::from_secs(u64::from(POLL_TIMEOUT_SECS) + 10));
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SetupError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        let bot = Bot::with_client(token, client).set_api_url(api_url);
        Ok(Self {
            bot,
            webhook_secret: settings.webhook_secret.filter(|s| !s.is_empty()),
            parse: ParseOptions {
                groups: settings.groups,
                max_download_bytes: MAX_BOT_DOWNLOAD_BYTES,
            },
            limits: Limits::new(),
        })
    }

    /// The parse rules of this inbox, for updates that come by polling.
    pub fn parse_options(&self) -> &ParseOptions {
        &self.parse
    }

    /// Checks the token (getMe) and tells who the bot is.
    pub async fn get_me(&self) -> Result<Me, ChannelError> {
        self.bot.get_me().await.map_err(|e| describe(&e))
    }

    /// Points the bot's updates at `url`, signed with `secret` (webhook mode).
    pub async fn set_webhook(&self, url: Url, secret: &str) -> Result<(), ChannelError> {
        self.bot
            .set_webhook(url)
            .secret_token(secret)
            .allowed_updates(ALLOWED_UPDATES)
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }

    /// Stops webhook delivery, so getUpdates works (polling mode). Pending updates are kept.
    pub async fn delete_webhook(&self) -> Result<(), ChannelError> {
        self.bot
            .delete_webhook()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }

    /// One long poll: updates from `offset` on, waiting up to [`POLL_TIMEOUT_SECS`] for some.
    /// Asking with a higher offset confirms (and drops at Telegram) everything before it.
    pub async fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Update>, ChannelError> {
        let mut request = self
            .bot
            .get_updates()
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(ALLOWED_UPDATES);
        if let Some(offset) = offset {
            // Update ids are 32-bit at Telegram; a stored offset outside that is corrupt.
            let offset = i32::try_from(offset).map_err(|_| ChannelError::Permanent {
                code: None,
                reason: format!("stored polling offset {offset} is out of range"),
            })?;
            request = request.offset(offset);
        }
        request.await.map_err(|e| describe(&e))
    }

    async fn send_text(
        &self,
        chat_id: i64,
        text: &str,
        reply: Option<&ReplyParameters>,
    ) -> Result<i32, ChannelError> {
        self.limits.until_ready(chat_id).await;
        let mut request = self
            .bot
            .send_message(ChatId(chat_id), outbound::escape_html(text))
            .parse_mode(ParseMode::Html);
        if let Some(reply) = reply {
            request = request.reply_parameters(reply.clone());
        }
        let sent = request.await.map_err(|e| describe(&e))?;
        Ok(sent.id.0)
    }

    async fn send_file(
        &self,
        chat_id: i64,
        file: &OutboundAttachment,
        caption: Option<&str>,
        reply: Option<&ReplyParameters>,
    ) -> Result<i32, ChannelError> {
        // Uploaded, never by URL: Telegram cannot reach a hub behind a firewall, and a
        // signed link would expire while Telegram caches it.
        let data = file.data.clone().ok_or_else(|| ChannelError::Permanent {
            code: None,
            reason: format!("the file {:?} could not be read for upload", file.file_name),
        })?;
        let input = InputFile::memory(data).file_name(file.file_name.clone());
        let caption = caption.map(outbound::escape_html);
        self.limits.until_ready(chat_id).await;
        let kind =
            outbound::upload_kind(&file.content_type, file.byte_size, file.width, file.height);
        let sent = match kind {
            UploadKind::Photo => {
                let mut request = self.bot.send_photo(ChatId(chat_id), input);
                if let Some(caption) = caption {
                    request = request.caption(caption).parse_mode(ParseMode::Html);
                }
                if let Some(reply) = reply {
                    request = request.reply_parameters(reply.clone());
                }
                request.await
            }
            UploadKind::Document => {
                let mut request = self.bot.send_document(ChatId(chat_id), input);
                if let Some(caption) = caption {
                    request = request.caption(caption).parse_mode(ParseMode::Html);
                }
                if let Some(reply) = reply {
                    request = request.reply_parameters(reply.clone());
                }
                request.await
            }
        };
        Ok(sent.map_err(|e| describe(&e))?.id.0)
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let chat_id = outbound::parse_chat_id(&message.recipient.identifier).ok_or_else(|| {
            ChannelError::Permanent {
                code: None,
                reason: format!(
                    "{:?} is not a Telegram chat id",
                    message.recipient.identifier
                ),
            }
        })?;
        let reply = message
            .reply_to_external_id
            .as_deref()
            .and_then(outbound::parse_external_id)
            .filter(|(chat, _)| *chat == chat_id)
            .map(|(_, id)| ReplyParameters::new(MessageId(id)).allow_sending_without_reply());
        let text = message.content.as_str();
        let caption_fits = !text.trim().is_empty()
            && !message.attachments.is_empty()
            && outbound::utf16_len(text) <= outbound::MAX_CAPTION_UTF16;
        let mut first: Option<i32> = None;
        if !caption_fits && !text.trim().is_empty() {
            for piece in outbound::split_text(text, outbound::MAX_TEXT_UTF16) {
                let quote = if first.is_none() {
                    reply.as_ref()
                } else {
                    None
                };
                let id = self.send_text(chat_id, &piece, quote).await?;
                first.get_or_insert(id);
            }
        }
        for (index, file) in message.attachments.iter().enumerate() {
            let caption = (caption_fits && index == 0).then_some(text);
            let quote = if first.is_none() {
                reply.as_ref()
            } else {
                None
            };
            let id = self.send_file(chat_id, file, caption, quote).await?;
            first.get_or_insert(id);
        }
        Ok(SendReceipt {
            external_id: first.map(|id| inbound::external_id(chat_id, id)),
        })
    }
}

/// How long one getUpdates call waits at Telegram for new updates.
pub const POLL_TIMEOUT_SECS: u32 = 25;

fn valid_token(token: &str) -> bool {
    match token.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    }
}

/// The Bot API base must be an http(s) URL with a host (teloxide appends path segments).
pub fn check_api_url(url: Url) -> Result<Url, SetupError> {
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
    Ok(url)
}

/// Maps a Bot API failure to retry-or-fail, with a reason free of the token.
fn describe(error: &RequestError) -> ChannelError {
    outbound::classify_error(error)
}

impl Channel for TelegramChannel {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Bots get no delivered/read receipts from Telegram: `sent` is as far as it goes.
            receipts: false,
            typing: false,
            edits: true,
            media: true,
            uploads_files: true,
            notes_refused_files: true,
        }
    }

    fn parse_inbound(
        &self,
        request: &InboundRequest<'_>,
    ) -> Result<Vec<InboundEvent>, InboundError> {
        let Some(secret) = &self.webhook_secret else {
            return Err(InboundError::Unauthorized(
                "this inbox receives updates by long polling; webhook requests are refused".into(),
            ));
        };
        let given = request.header(SECRET_HEADER).unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), secret.as_bytes()) {
            return Err(InboundError::Unauthorized(format!(
                "missing or wrong {SECRET_HEADER} header"
            )));
        }
        if !request.route.is_empty() {
            return Err(InboundError::Malformed(format!(
                "unknown webhook route {:?}",
                request.route
            )));
        }
        let parsed = inbound::parse_webhook(request.body, &self.parse)?;
        if let Some(reason) = &parsed.skipped {
            tracing::info!(update_id = parsed.update_id, %reason, "telegram update skipped");
        }
        Ok(parsed.events)
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
        Box::pin(async move {
            let file = self
                .bot
                .get_file(FileId(reference.source.clone()))
                .await
                .map_err(|e| describe(&e))?;
            // teloxide reads a missing `file_size` as u32::MAX: that means "unknown".
            let size = match file.meta.size {
                u32::MAX => 0,
                known => u64::from(known),
            };
            if size > self.parse.max_download_bytes {
                return Err(ChannelError::Permanent {
                    code: Some("file_too_big".into()),
                    reason: format!(
                        "the file is {size} bytes; bots can download at most {} from Telegram",
                        self.parse.max_download_bytes
                    ),
                });
            }
            let file_name = file
                .path
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            let body =
                futures_util::StreamExt::map(self.bot.download_file_stream(&file.path), |r| {
                    // reqwest errors name the URL, and the URL holds the token.
                    r.map_err(|e| e.without_url().to_string())
                });
            Ok(Some(MediaDownload {
                file_name,
                byte_size: (size > 0).then_some(size),
                body: Box::pin(body),
            }))
        })
    }
}

impl Poller for TelegramChannel {
    fn poll(&self, cursor: Option<i64>) -> BoxFuture<'_, Result<Vec<PolledUpdate>, ChannelError>> {
        Box::pin(async move {
            let updates = self.get_updates(cursor).await?;
            Ok(updates
                .iter()
                .map(|update| {
                    let parsed = inbound::parse_update(update, &self.parse);
                    if let Some(reason) = &parsed.skipped {
                        tracing::info!(update_id = parsed.update_id, %reason, "telegram update skipped");
                    }
                    PolledUpdate {
                        // Asking from the next id confirms this one at Telegram.
                        next_cursor: i64::from(parsed.update_id) + 1,
                        events: parsed.events,
                    }
                })
                .collect())
        })
    }
}

mod subtle_eq {
    /// Compares secrets without an early exit, so timing does not leak how much matched.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(token: &str) -> TelegramSettings {
        TelegramSettings {
            bot_token: token.into(),
            api_url: None,
            webhook_secret: Some("sbwh_secret".into()),
            groups: GroupPolicy::Ignore,
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn tokens_are_checked_for_shape() {
        assert!(TelegramChannel::new(settings("123456:AAE-abc_DEF")).is_ok());
        for bad in [
            "", "123456", ":abc", "abc:def", "123:", "123:a b", "123:a/b",
        ] {
            assert!(
                matches!(
                    TelegramChannel::new(settings(bad)),
                    Err(SetupError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn api_url_must_be_http_with_host() {
        for bad in [
            "ftp://example.com",
            "mailto:bot@example.com",
            "http://h/?x=1",
        ] {
            let url = Url::parse(bad).expect("parses as a URL");
            assert!(check_api_url(url).is_err(), "{bad}");
        }
        assert!(check_api_url(Url::parse("http://127.0.0.1:8081/").expect("url")).is_ok());
    }

    fn request<'a>(headers: Vec<(&'a str, &'a str)>, body: &'a [u8]) -> InboundRequest<'a> {
        InboundRequest {
            route: "",
            headers,
            body,
        }
    }

    const TEXT_UPDATE: &[u8] = br#"{"update_id": 10000, "message": {"message_id": 1365,
        "from": {"id": 1111111, "is_bot": false, "first_name": "Test", "last_name": "Lastname",
        "username": "Testusername", "language_code": "en"},
        "chat": {"id": 1111111, "type": "private", "first_name": "Test", "last_name": "Lastname",
        "username": "Testusername"}, "date": 1441645532, "text": "/start"}}"#;

    #[test]
    fn webhook_secret_is_required_and_compared() {
        let channel = TelegramChannel::new(settings("123456:AAE")).expect("channel");
        let missing = channel.parse_inbound(&request(vec![], TEXT_UPDATE));
        assert!(matches!(missing, Err(InboundError::Unauthorized(_))));
        let wrong =
            channel.parse_inbound(&request(vec![(SECRET_HEADER, "sbwh_secreT")], TEXT_UPDATE));
        assert!(matches!(wrong, Err(InboundError::Unauthorized(_))));
        let good = channel
            .parse_inbound(&request(
                vec![("x-telegram-bot-api-secret-token", "sbwh_secret")],
                TEXT_UPDATE,
            ))
            .expect("accepted");
        assert_eq!(good.len(), 1);
    }

    #[test]
    fn polling_inboxes_refuse_webhooks() {
        let mut s = settings("123456:AAE");
        s.webhook_secret = None;
        let channel = TelegramChannel::new(s).expect("channel");
        let refused = channel.parse_inbound(&request(vec![(SECRET_HEADER, "")], TEXT_UPDATE));
        assert!(matches!(refused, Err(InboundError::Unauthorized(_))));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let channel = TelegramChannel::new(settings("123456:AAEsecretpart")).expect("channel");
        assert!(!format!("{channel:?}").contains("AAEsecretpart"));
    }
}
