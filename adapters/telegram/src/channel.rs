//! The thin I/O part: one bot's [`teloxide::Bot`] client behind the [`Channel`] contract, with
//! the Bot API's rate limits (governor) applied before every call.
//!
//! One reply can take several Bot API calls (a long text in pieces, then its files). Two things
//! keep that safe: a chat gets one reply at a time ([`ChatLocks`]), so pieces of two replies
//! never interleave, and each part that went out is remembered ([`Progress`]), so a retry after
//! a failure half-way sends only what is missing instead of repeating the first pieces.
//!
//! A satisfaction survey ([`OutboundMessage::survey`]) is one `sendMessage` with an inline
//! keyboard; the customer's tap comes back as a `callback_query` ([`inbound`] reads it), and
//! [`Channel::confirm_answer`] answers that query so the button shows the answer was taken.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use subtle_eq::constant_time_eq;
use switchboard_channel::{
    AttachmentRef, BoxFuture, Capabilities, Channel, ChannelError, InboundError, InboundEvent,
    InboundRequest, MediaDownload, OutboundAttachment, OutboundMessage, PolledUpdate, Poller,
    Progress, SendReceipt, delivered_note, split_text,
};
use teloxide::net::Download;
use teloxide::payloads::{
    AnswerCallbackQuery, GetFile, GetMe, GetUpdates, SendDocument, SendMessage, SendPhoto,
    SetWebhookSetters,
};
use teloxide::prelude::Requester;
use teloxide::requests::{JsonRequest, MultipartRequest};
use teloxide::types::{
    AllowedUpdate, CallbackQueryId, ChatId, FileId, InputFile, MessageId, ParseMode, ReplyMarkup,
    ReplyParameters, ThreadId,
};
use teloxide::{Bot, RequestError};
use url::Url;

use crate::inbound::{self, GroupPolicy, MAX_BOT_DOWNLOAD_BYTES, ParseOptions, ParsedUpdate};
use crate::lenient::{BotInfo, FileInfo, Lenient, SentMessage};
use crate::outbound::{self, UploadKind};

/// The header Telegram sends with every webhook request when `setWebhook` got a secret token.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// The public Bot API, used when an inbox names no `api_url`.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// The update kinds the hub asks for; everything else would only be skipped.
/// `my_chat_member` tells when a customer blocks (or unblocks) the bot; `callback_query`
/// brings the taps on a survey's buttons.
const ALLOWED_UPDATES: [AllowedUpdate; 4] = [
    AllowedUpdate::Message,
    AllowedUpdate::EditedMessage,
    AllowedUpdate::MyChatMember,
    AllowedUpdate::CallbackQuery,
];

/// What a Telegram bot can do. The hub reads this one declaration.
pub const CAPABILITIES: Capabilities = Capabilities {
    // Bots get no delivered/read receipts from Telegram: `sent` is as far as it goes.
    receipts: false,
    typing: false,
    edits: true,
    media: true,
    // Telegram cannot fetch from a hub behind a firewall: replies' files are uploaded.
    uploads_files: true,
    // Telegram cannot change a file the hub refuses: a note replaces it.
    notes_refused_files: true,
    reply_window_secs: None,
    templates: false,
    reactions: false,
    marks_read: false,
    threads_by_reference: false,
    surveys: switchboard_channel::SurveyDelivery::Message,
};

/// How one inbox talks to its bot.
#[derive(Clone)]
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

/// Secrets never reach logs: the token and the webhook secret are printed as `<redacted>`.
impl fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("bot_token", &REDACTED)
            .field("api_url", &self.api_url.as_ref().map(without_credentials))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| REDACTED),
            )
            .field("groups", &self.groups)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What Debug output shows in place of a secret.
const REDACTED: &str = "<redacted>";

/// A URL as it may be logged: without a user name or password in it.
fn without_credentials(url: &Url) -> String {
    let mut shown = url.clone();
    // Both only fail for URLs that cannot have credentials anyway.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.into()
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

/// Past this many per-chat locks, idle ones left behind by cancelled sends are swept out.
const CHAT_LOCKS_SWEEP: usize = 1_024;

/// One reply at a time per chat: the outbox sends several jobs at once, and without this the
/// pieces of two long replies to one chat would interleave. Waiters are served in the order
/// they asked (tokio's mutex is fair), which is the outbox's claim order.
#[derive(Default)]
struct ChatLocks {
    held: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// A chat's turn; the next reply to that chat may go once it is dropped.
struct ChatTurn<'a> {
    locks: &'a ChatLocks,
    chat_id: i64,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl ChatLocks {
    fn held(&self) -> MutexGuard<'_, HashMap<i64, Arc<tokio::sync::Mutex<()>>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other reply is being sent to `chat_id`.
    async fn turn(&self, chat_id: i64) -> ChatTurn<'_> {
        let lock = {
            let mut held = self.held();
            if held.len() >= CHAT_LOCKS_SWEEP {
                held.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            held.entry(chat_id).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        ChatTurn {
            locks: self,
            chat_id,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held().len()
    }
}

impl Drop for ChatTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Nobody else holds or waits for this chat's lock (every clone is made under the
        // map's lock): drop the idle entry.
        let mut held = self.locks.held();
        if held
            .get(&self.chat_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            held.remove(&self.chat_id);
        }
    }
}

/// One part of a reply: a piece of its text, or one of its files (with the text as caption
/// when it fits).
enum Part<'a> {
    Text(String),
    File {
        file: &'a OutboundAttachment,
        caption: Option<&'a str>,
    },
}

/// The parts of a reply, in sending order: text pieces first, then files.
fn parts(message: &OutboundMessage) -> Vec<Part<'_>> {
    let text = message.content.as_str();
    let caption_fits = !text.trim().is_empty()
        && !message.attachments.is_empty()
        && outbound::utf16_len(text) <= outbound::MAX_CAPTION_UTF16;
    let mut parts = Vec::new();
    if !caption_fits && !text.trim().is_empty() {
        parts.extend(
            split_text(text, outbound::MAX_TEXT_UTF16, char::len_utf16)
                .into_iter()
                .map(Part::Text),
        );
    }
    parts.extend(
        message
            .attachments
            .iter()
            .enumerate()
            .map(|(index, file)| Part::File {
                file,
                caption: (caption_fits && index == 0).then_some(text),
            }),
    );
    parts
}

/// One bot: parses its webhook requests and sends through the Bot API.
pub struct TelegramChannel {
    bot: Bot,
    webhook_secret: Option<String>,
    parse: ParseOptions,
    limits: Limits,
    progress: Mutex<Progress<i32>>,
    chats: ChatLocks,
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
            progress: Mutex::new(Progress::default()),
            chats: ChatLocks::default(),
        })
    }

    fn progress(&self) -> MutexGuard<'_, Progress<i32>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The parse rules of this inbox, for updates that come by polling.
    pub fn parse_options(&self) -> &ParseOptions {
        &self.parse
    }

    /// Checks the token (getMe) and tells who the bot is. Read leniently: older and
    /// self-hosted Bot API servers leave out fields teloxide's `Me` requires.
    pub async fn get_me(&self) -> Result<BotInfo, ChannelError> {
        JsonRequest::new(self.bot.clone(), Lenient::<_, BotInfo>::new(GetMe::new()))
            .await
            .map_err(|e| describe(&e))
    }

    /// Points the bot's updates at `url`, signed with `secret` (webhook mode).
    ///
    /// With `max_connections` 1, Telegram delivers this bot's updates one at a time, in order:
    /// an `edited_message` can never overtake the message it edits (which may still be
    /// downloading its photo on another connection, and whose edit would otherwise be dropped
    /// as an edit of an unknown message), and the items of an album arrive in order. One
    /// connection is plenty for support traffic.
    pub async fn set_webhook(&self, url: Url, secret: &str) -> Result<(), ChannelError> {
        self.bot
            .set_webhook(url)
            .secret_token(secret)
            // Ordered delivery: see above.
            .max_connections(1)
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
    ///
    /// The updates come back as JSON values, each read by [`inbound::parse_value`]: one update
    /// teloxide could not read would otherwise fail the whole batch.
    pub async fn get_updates(&self, offset: Option<i64>) -> Result<Vec<Value>, ChannelError> {
        let mut payload = GetUpdates::new();
        payload.timeout = Some(POLL_TIMEOUT_SECS);
        payload.allowed_updates = Some(ALLOWED_UPDATES.to_vec());
        if let Some(offset) = offset {
            // Update ids are 32-bit at Telegram; a stored offset outside that is corrupt.
            let offset = i32::try_from(offset).map_err(|_| ChannelError::Permanent {
                code: None,
                reason: format!("stored polling offset {offset} is out of range"),
            })?;
            payload.offset = Some(offset);
        }
        JsonRequest::new(self.bot.clone(), Lenient::<_, Vec<Value>>::new(payload))
            .await
            .map_err(|e| describe(&e))
    }

    async fn send_text(
        &self,
        target: &Target,
        text: &str,
        reply: Option<&ReplyParameters>,
    ) -> Result<i32, ChannelError> {
        self.send_html(target, outbound::escape_html(text), reply, None)
            .await
    }

    /// One `sendMessage` of already escaped text, with buttons when `markup` is given.
    async fn send_html(
        &self,
        target: &Target,
        html: String,
        reply: Option<&ReplyParameters>,
        markup: Option<ReplyMarkup>,
    ) -> Result<i32, ChannelError> {
        self.limits.until_ready(target.chat_id).await;
        let mut payload = SendMessage::new(ChatId(target.chat_id), html);
        payload.parse_mode = Some(ParseMode::Html);
        payload.reply_parameters = reply.cloned();
        payload.message_thread_id = target.thread;
        payload.reply_markup = markup;
        let sent = JsonRequest::new(self.bot.clone(), Lenient::<_, SentMessage>::new(payload))
            .await
            .map_err(|e| describe(&e))?;
        Ok(sent.message_id)
    }

    async fn send_file(
        &self,
        target: &Target,
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
        let parse_mode = caption.is_some().then_some(ParseMode::Html);
        self.limits.until_ready(target.chat_id).await;
        let kind =
            outbound::upload_kind(&file.content_type, file.byte_size, file.width, file.height);
        // sendPhoto and sendDocument have the same fields but are distinct types.
        macro_rules! upload {
            ($payload:ident) => {{
                let mut payload = $payload::new(ChatId(target.chat_id), input);
                payload.caption = caption;
                payload.parse_mode = parse_mode;
                payload.reply_parameters = reply.cloned();
                payload.message_thread_id = target.thread;
                MultipartRequest::new(self.bot.clone(), Lenient::<_, SentMessage>::new(payload))
                    .await
            }};
        }
        let sent = match kind {
            UploadKind::Photo => upload!(SendPhoto),
            UploadKind::Document => upload!(SendDocument),
        };
        Ok(sent.map_err(|e| describe(&e))?.message_id)
    }

    /// Sends one reply, resuming after the parts an earlier attempt already delivered.
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
        // A forum topic's id, so the reply lands in the topic the customer wrote in.
        let thread = match message.thread_id.as_deref() {
            None => None,
            Some(id) => Some(id.parse::<i32>().map_err(|_| ChannelError::Permanent {
                code: None,
                reason: format!("{id:?} is not a Telegram topic id"),
            })?),
        };
        let target = Target {
            chat_id,
            thread: thread.map(|id| ThreadId(MessageId(id))),
        };
        // Checked before waiting for the chat: a survey Telegram could not take fails at once.
        let survey = message
            .survey
            .as_ref()
            .map(|survey| outbound::survey_message(&message.content, survey))
            .transpose()?;
        // Before anything else awaits, so replies to one chat take their turns in the order
        // the outbox started them.
        let _turn = self.chats.turn(chat_id).await;
        let reply = message
            .reply_to_external_id
            .as_deref()
            .and_then(outbound::parse_external_id)
            .filter(|(chat, _)| *chat == chat_id)
            .map(|(_, id)| ReplyParameters::new(MessageId(id)).allow_sending_without_reply());
        if let Some((question, keyboard)) = survey {
            // One message, nothing to resume: the question with its buttons (in the topic
            // the customer wrote in). Files of a survey message are not sent.
            let id = self
                .send_html(&target, question, reply.as_ref(), Some(keyboard.into()))
                .await?;
            return Ok(SendReceipt {
                external_id: Some(inbound::external_id(chat_id, i64::from(id))),
            });
        }
        let parts = parts(message);
        let total = parts.len();
        let job = message.message_id.as_str();
        let mut sent = self.progress().sent(job, total);
        if !sent.is_empty() {
            tracing::info!(
                message_id = job,
                note = %delivered_note(sent.keys().copied(), total),
                "resuming a partly delivered reply"
            );
        }
        for (index, part) in parts.iter().enumerate() {
            if sent.contains_key(&index) {
                continue;
            }
            // The first part answers the customer's message; the rest follow it.
            let quote = if index == 0 { reply.as_ref() } else { None };
            let result = match part {
                Part::Text(piece) => self.send_text(&target, piece, quote).await,
                Part::File { file, caption } => {
                    self.send_file(&target, file, *caption, quote).await
                }
            };
            match result {
                Ok(id) => {
                    sent.insert(index, id);
                    // Recorded at once: a send cut off later still knows this part went out.
                    self.progress().record(job, total, index, id);
                }
                Err(error) => return Err(error.with_delivered_parts(sent.into_keys(), total)),
            }
        }
        self.progress().forget(job);
        Ok(SendReceipt {
            external_id: sent
                .first_key_value()
                .map(|(_, &id)| inbound::external_id(chat_id, i64::from(id))),
        })
    }
}

/// Where a reply goes: the chat and, in a forum, the topic.
struct Target {
    chat_id: i64,
    thread: Option<ThreadId>,
}

/// Logs what an update turned into: deliberate skips at info, anything unreadable as a
/// warning with the update id, so a lost message is never silent.
fn log_parsed(parsed: &ParsedUpdate) {
    let update_id = parsed.update_id;
    if let Some(reason) = parsed.skipped() {
        tracing::info!(?update_id, %reason, "telegram update ignored");
    }
    if let Some(reason) = parsed.unreadable() {
        tracing::warn!(?update_id, %reason, "telegram update unreadable: kept for an admin to replay");
    }
    for part in &parsed.unread_parts {
        tracing::warn!(?update_id, %part, "telegram message stored with a part that could not be read");
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
        CAPABILITIES
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
        log_parsed(&parsed);
        Ok(parsed.events)
    }

    fn reparse(&self, raw: &Value) -> Result<Vec<InboundEvent>, InboundError> {
        Ok(inbound::parse_value(raw, &self.parse).events)
    }

    fn send<'a>(
        &'a self,
        message: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<SendReceipt, ChannelError>> {
        Box::pin(self.deliver(message))
    }

    /// `answerCallbackQuery`: Telegram shows `text` on the button the customer pressed (and
    /// stops its spinner). `handle` is the callback query id the answer came with.
    fn confirm_answer<'a>(
        &'a self,
        handle: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            if handle.is_empty() {
                return Err(ChannelError::Permanent {
                    code: None,
                    reason: "no callback query id to answer".to_owned(),
                });
            }
            let mut payload = AnswerCallbackQuery::new(CallbackQueryId(handle.to_owned()));
            let text = outbound::callback_answer_text(text);
            payload.text = (!text.is_empty()).then(|| text.to_owned());
            // The answer is `true`; read leniently, only success matters.
            JsonRequest::new(self.bot.clone(), Lenient::<_, Value>::new(payload))
                .await
                .map(|_| ())
                .map_err(|e| describe(&e))
        })
    }

    fn open_media<'a>(
        &'a self,
        reference: &'a AttachmentRef,
    ) -> BoxFuture<'a, Result<Option<MediaDownload>, ChannelError>> {
        Box::pin(async move {
            let request = GetFile::new(FileId(reference.source.clone()));
            let file: FileInfo =
                JsonRequest::new(self.bot.clone(), Lenient::<_, FileInfo>::new(request))
                    .await
                    .map_err(|e| describe(&e))?;
            let path = file
                .file_path
                .filter(|path| !path.is_empty())
                .ok_or_else(|| ChannelError::Permanent {
                    code: Some("file_unavailable".into()),
                    reason: "Telegram gave no download path for the file".into(),
                })?;
            let size = file.file_size.unwrap_or(0);
            if size > self.parse.max_download_bytes {
                return Err(ChannelError::Permanent {
                    code: Some("file_too_big".into()),
                    reason: format!(
                        "the file is {size} bytes; bots can download at most {} from Telegram",
                        self.parse.max_download_bytes
                    ),
                });
            }
            let file_name = path
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            let body = futures_util::StreamExt::map(self.bot.download_file_stream(&path), |r| {
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
            let mut next_cursor = cursor.unwrap_or(0);
            Ok(updates
                .iter()
                .map(|update| {
                    let parsed = inbound::parse_value(update, &self.parse);
                    log_parsed(&parsed);
                    // Asking from the next id confirms this one at Telegram; an update
                    // without an id moves nothing.
                    if let Some(id) = parsed.update_id {
                        next_cursor = next_cursor.max(i64::from(id) + 1);
                    }
                    PolledUpdate {
                        next_cursor,
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

    #[test]
    fn debug_output_of_settings_hides_the_secrets() {
        let mut s = settings("123456:AAEsecretpart");
        s.api_url = Some(Url::parse("http://user:hunter2@127.0.0.1:8081/").expect("url"));
        let shown = format!("{s:?}");
        for secret in ["AAEsecretpart", "123456:", "sbwh_secret", "hunter2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("bot_token: \"<redacted>\""), "{shown}");
        assert!(
            shown.contains("webhook_secret: Some(\"<redacted>\")"),
            "{shown}"
        );
        assert!(shown.contains("127.0.0.1:8081"), "{shown}");
        s.webhook_secret = None;
        assert!(format!("{s:?}").contains("webhook_secret: None"));
        assert!(!format!("{s:#?}").contains("AAEsecretpart"));
    }

    fn outbound_message(content: &str, files: usize) -> OutboundMessage {
        OutboundMessage {
            mail_thread: None,
            survey: None,
            message_id: "1".into(),
            conversation_id: "1".into(),
            content: content.into(),
            private: false,
            attachments: (0..files)
                .map(|i| OutboundAttachment {
                    id: i.to_string(),
                    file_name: format!("f{i}.pdf"),
                    content_type: "application/pdf".into(),
                    byte_size: 10,
                    url: String::new(),
                    width: None,
                    height: None,
                    thumbnail_url: None,
                    data: None,
                })
                .collect(),
            recipient: Default::default(),
            reply_to_external_id: None,
            thread_id: None,
            template: None,
        }
    }

    #[test]
    fn parts_are_text_pieces_then_files_with_a_fitting_caption() {
        let long = "word ".repeat(2000);
        let (text, captioned, long_with_file) = (
            outbound_message(&long, 0),
            outbound_message("Here it is", 2),
            outbound_message(&long, 1),
        );
        let only_text = parts(&text);
        assert_eq!(only_text.len(), 3);
        assert!(only_text.iter().all(|p| matches!(p, Part::Text(_))));
        let captioned = parts(&captioned);
        assert!(matches!(
            captioned[..],
            [
                Part::File {
                    caption: Some("Here it is"),
                    ..
                },
                Part::File { caption: None, .. }
            ]
        ));
        let long_with_file = parts(&long_with_file);
        assert_eq!(long_with_file.len(), 4);
        assert!(matches!(
            long_with_file[3],
            Part::File { caption: None, .. }
        ));
        assert!(parts(&outbound_message("  ", 0)).is_empty());
    }

    /// A Bot API double on a local port: answers each call with `result` and hands back what
    /// was called (method and JSON body), one connection per call.
    fn fake_bot_api(
        result: Value,
        calls: usize,
    ) -> (Url, std::thread::JoinHandle<Vec<(String, Value)>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = Url::parse(&format!(
            "http://{}/",
            listener.local_addr().expect("an address")
        ))
        .expect("url");
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..calls {
                let (stream, _) = listener.accept().expect("a call");
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("request line");
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).expect("header");
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().expect("a length");
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                let method = request_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|path| path.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                seen.push((method, serde_json::from_slice(&body).expect("a JSON body")));
                let answer = serde_json::json!({"ok": true, "result": result}).to_string();
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .expect("answer");
            }
            seen
        });
        (url, server)
    }

    fn channel_at(url: Url) -> TelegramChannel {
        let mut s = settings("123456:AAE");
        s.api_url = Some(url);
        TelegramChannel::new(s).expect("channel")
    }

    /// What setWebhook and getUpdates ask Telegram for: survey taps among them.
    #[test]
    fn allowed_updates_include_survey_taps() {
        assert_eq!(
            serde_json::to_value(ALLOWED_UPDATES).expect("serializes"),
            serde_json::json!([
                "message",
                "edited_message",
                "my_chat_member",
                "callback_query"
            ])
        );
    }

    #[tokio::test]
    async fn a_survey_is_one_message_with_its_keyboard_in_the_topic() {
        let (url, server) = fake_bot_api(
            serde_json::json!({"message_id": 77, "chat": {"id": -1_001_234_567_890_i64},
                "date": 1_718_009_000}),
            1,
        );
        let channel = channel_at(url);
        let mut message = outbound_message("Wie war <unser> Service?", 1);
        message.recipient.identifier = "-1001234567890".into();
        message.thread_id = Some("90".into());
        message.survey = Some(switchboard_channel::SurveyRequest {
            survey_id: "42".into(),
            question: "Wie war unser Service?".into(),
            scale: switchboard_channel::SurveyScale::Thumbs,
            links: Vec::new(),
        });
        let receipt = channel.send(&message).await.expect("sent");
        assert_eq!(receipt.external_id.as_deref(), Some("-1001234567890:77"));
        let calls = server.join().expect("the fake ran");
        assert_eq!(calls.len(), 1, "{calls:?}");
        let (method, body) = &calls[0];
        assert_eq!(method, "SendMessage");
        assert_eq!(body["chat_id"], -1_001_234_567_890_i64);
        assert_eq!(body["message_thread_id"], 90);
        assert_eq!(body["parse_mode"], "HTML");
        assert_eq!(body["text"], "Wie war &lt;unser&gt; Service?");
        assert_eq!(
            body["reply_markup"],
            serde_json::json!({"inline_keyboard": [[
                {"text": "👍 Yes, thanks", "callback_data": "csat:42:5"},
                {"text": "👎 Not really", "callback_data": "csat:42:1"},
            ]]})
        );
    }

    #[tokio::test]
    async fn a_survey_telegram_could_not_take_fails_before_any_call() {
        let channel = channel_at(Url::parse("http://127.0.0.1:1/").expect("url"));
        let mut message = outbound_message("How did we do?", 0);
        message.recipient.identifier = "123456789".into();
        message.survey = Some(switchboard_channel::SurveyRequest {
            survey_id: "not-a-number".into(),
            ..Default::default()
        });
        assert!(matches!(
            channel.send(&message).await,
            Err(ChannelError::Permanent { .. })
        ));
    }

    #[tokio::test]
    async fn confirming_an_answer_answers_the_callback_query() {
        let (url, server) = fake_bot_api(Value::Bool(true), 2);
        let channel = channel_at(url);
        channel
            .confirm_answer("4382bfdwdsb323b2d9", "Danke für Ihre Bewertung!")
            .await
            .expect("answered");
        let long = "ü".repeat(250);
        channel
            .confirm_answer("4382bfdwdsb323b2e1", &long)
            .await
            .expect("answered");
        let calls = server.join().expect("the fake ran");
        assert_eq!(
            calls,
            [
                (
                    "AnswerCallbackQuery".to_owned(),
                    serde_json::json!({"callback_query_id": "4382bfdwdsb323b2d9",
                        "text": "Danke für Ihre Bewertung!"})
                ),
                (
                    "AnswerCallbackQuery".to_owned(),
                    serde_json::json!({"callback_query_id": "4382bfdwdsb323b2e1",
                        "text": "ü".repeat(200)})
                ),
            ]
        );
        assert!(channel.confirm_answer("", "Danke").await.is_err());
    }

    #[tokio::test]
    async fn chat_turns_are_exclusive_and_idle_locks_are_dropped() {
        let locks = ChatLocks::default();
        let first = locks.turn(42).await;
        assert_eq!(locks.len(), 1);
        // Another chat is not held up.
        drop(locks.turn(43).await);
        assert_eq!(locks.len(), 1);
        let second = locks.turn(42);
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "the chat is busy"
        );
        drop(first);
        let second = second.await;
        assert_eq!(locks.len(), 1);
        drop(second);
        assert_eq!(locks.len(), 0);
    }
}
