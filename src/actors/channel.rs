//! ChannelSupervisor and ChannelActor: one actor per enabled inbox owns the channel's
//! adapter, its send rate limit (governor) and the draining of its outbox.
//!
//! The supervisor starts an actor per enabled inbox at boot, and reconfigures, starts or
//! stops it when an admin changes the inbox. An inbox whose adapter cannot be built, or
//! whose actor fails repeatedly, is restarted with exponential backoff. The adapter is
//! built by the inbox's channel home (`crate::channels`); webhook handlers parse through
//! the same adapter via the shared [`Channels`] map, so inbound traffic never queues behind
//! a channel's outbound work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use switchboard_channel::{ContactProfile, OutboundMessage};

use super::delivery::{DeliveryTracker, SendOutcome};
use crate::channels::{ChannelEntry, Channels, build_entry};
use crate::config::Settings;
use crate::db::leases::Leases;
use crate::db::{Database, StoreError};
use crate::files::{Files, Variant};
use crate::inbound::Inbound;
use crate::store::inboxes::{self, Inbox};
use crate::store::outbox;

/// How often an idle channel looks for due retries.
const TICK: Duration = Duration::from_secs(1);
/// Jobs claimed per round of a drain.
const CLAIM: i64 = 64;
/// Consecutive failed drains before the actor is restarted by its supervisor.
const FAILURES_BEFORE_RESTART: u32 = 5;
/// Longest wait between restarts of a failing channel.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);

/// Starts, reconfigures, restarts and stops channel actors.
pub(crate) struct ChannelSupervisor {
    db: Database,
    settings: Arc<Settings>,
    channels: Channels,
    delivery: Addr<DeliveryTracker>,
    files: Arc<Files>,
    inbound: Inbound,
    leases: Arc<Leases>,
    actors: HashMap<i64, Addr<ChannelActor>>,
    /// Consecutive failures per inbox, for the restart backoff.
    failures: HashMap<i64, u32>,
}

impl ChannelSupervisor {
    pub(crate) fn new(
        db: Database,
        settings: Arc<Settings>,
        channels: Channels,
        delivery: Addr<DeliveryTracker>,
        files: Arc<Files>,
        inbound: Inbound,
        leases: Arc<Leases>,
    ) -> Self {
        Self {
            db,
            settings,
            channels,
            delivery,
            files,
            inbound,
            leases,
            actors: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    fn stop(&mut self, inbox_id: i64) {
        self.channels.remove(inbox_id);
        if let Some(addr) = self.actors.remove(&inbox_id) {
            addr.do_send(StopChannel);
        }
    }

    /// Schedules a fresh start of an inbox's channel from the stored inbox.
    fn restart_later(&mut self, inbox_id: i64, ctx: &mut Context<Self>) {
        let failures = self.failures.entry(inbox_id).or_insert(0);
        *failures += 1;
        let delay = Duration::from_secs(1u64 << (*failures).min(9)).min(MAX_RESTART_DELAY);
        tracing::warn!(
            inbox_id,
            failures = *failures,
            delay_secs = delay.as_secs(),
            "channel will restart"
        );
        let db = self.db.clone();
        ctx.run_later(delay, move |_, ctx| {
            let addr = ctx.address();
            actix_web::rt::spawn(async move {
                let inbox = async {
                    let conn = &mut db.reader().await?;
                    inboxes::find(conn, inbox_id).await
                };
                match inbox.await {
                    Ok(Some(inbox)) => addr.do_send(Configure(inbox)),
                    Ok(None) => addr.do_send(Remove(inbox_id)),
                    Err(error) => {
                        tracing::warn!(%error, inbox_id, "cannot reload the inbox");
                        addr.do_send(Failed { inbox_id });
                    }
                }
            });
        });
    }
}

impl Actor for ChannelSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (inbox_id, addr) in self.actors.drain() {
            self.channels.remove(inbox_id);
            addr.do_send(StopChannel);
        }
    }
}

/// Start, reconfigure or stop (when disabled) the channel of this inbox.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Configure(pub(crate) Inbox);

/// Stops every channel (the hub is shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

impl Handler<Shutdown> for ChannelSupervisor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The inbox was deleted.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Remove(pub(crate) i64);

/// An outbox entry of this inbox may be due now.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Wake {
    pub(crate) inbox_id: i64,
}

/// A channel actor gave up; restart it with backoff.
#[derive(Message)]
#[rtype(result = "()")]
struct Failed {
    inbox_id: i64,
}

impl Handler<Configure> for ChannelSupervisor {
    type Result = ();

    fn handle(&mut self, Configure(inbox): Configure, ctx: &mut Self::Context) {
        let _span = tracing::info_span!("configure_channel", inbox_id = inbox.id).entered();
        if !inbox.enabled {
            tracing::info!("inbox disabled; channel stopped");
            self.failures.remove(&inbox.id);
            self.stop(inbox.id);
            return;
        }
        match build_entry(&inbox, &self.settings) {
            Ok(entry) => {
                let entry = Arc::new(entry);
                self.channels.set(entry.clone());
                match self.actors.get(&inbox.id).filter(|a| a.connected()) {
                    Some(addr) => addr.do_send(Reconfigure(entry)),
                    None => {
                        let actor = ChannelActor {
                            entry,
                            db: self.db.clone(),
                            delivery: self.delivery.clone(),
                            files: self.files.clone(),
                            inbound: self.inbound.clone(),
                            leases: self.leases.clone(),
                            polling: None,
                            supervisor: ctx.address(),
                            policy: self.settings.outbound.clone(),
                            limiter: Arc::new(RateLimiter::direct(Quota::per_second(
                                self.settings.outbound.rate_per_second,
                            ))),
                            draining: false,
                            again: false,
                            failures: 0,
                            stopping: false,
                        };
                        self.actors.insert(inbox.id, actor.start());
                    }
                }
                tracing::info!(channel_type = %inbox.channel_type, "channel running");
            }
            Err(reason) => {
                tracing::warn!(%reason, "channel cannot start");
                self.stop(inbox.id);
                self.restart_later(inbox.id, ctx);
            }
        }
    }
}

impl Handler<Remove> for ChannelSupervisor {
    type Result = ();
    fn handle(&mut self, Remove(inbox_id): Remove, _: &mut Self::Context) {
        self.failures.remove(&inbox_id);
        self.stop(inbox_id);
    }
}

impl Handler<Wake> for ChannelSupervisor {
    type Result = ();
    fn handle(&mut self, msg: Wake, _: &mut Self::Context) {
        if let Some(addr) = self.actors.get(&msg.inbox_id) {
            // A full mailbox already holds a wake-up; the timer covers the rest.
            let _ = addr.try_send(Drain);
        }
    }
}

impl Handler<Failed> for ChannelSupervisor {
    type Result = ();
    fn handle(&mut self, msg: Failed, ctx: &mut Self::Context) {
        self.stop(msg.inbox_id);
        self.restart_later(msg.inbox_id, ctx);
    }
}

/// One enabled inbox's channel.
pub(crate) struct ChannelActor {
    entry: Arc<ChannelEntry>,
    db: Database,
    delivery: Addr<DeliveryTracker>,
    /// Signs the download URLs of a reply's files for the provider or integration.
    files: Arc<Files>,
    /// Where polled updates are stored.
    inbound: Inbound,
    /// Polling runs on one node at a time: the one holding the inbox's lease.
    leases: Arc<Leases>,
    /// The running polling loop, for channels that poll.
    polling: Option<SpawnHandle>,
    supervisor: Addr<ChannelSupervisor>,
    policy: crate::config::OutboundSettings,
    limiter: Arc<DefaultDirectRateLimiter>,
    draining: bool,
    again: bool,
    failures: u32,
    stopping: bool,
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
        ctx.notify(Drain);
        ctx.run_interval(TICK, |_, ctx| ctx.notify(Drain));
        self.start_polling(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // A drain still running finishes in its own task; its jobs are recorded normally.
        tracing::info!(inbox_id = self.entry.inbox_id, "channel actor stopped");
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Drain;

#[derive(Message)]
#[rtype(result = "()")]
struct Reconfigure(Arc<ChannelEntry>);

#[derive(Message)]
#[rtype(result = "()")]
struct StopChannel;

#[derive(Message)]
#[rtype(result = "()")]
struct Drained(Result<usize, StoreError>);

impl ChannelActor {
    /// (Re)starts the polling loop when the channel polls; the loop ends with the actor.
    fn start_polling(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.polling.take() {
            ctx.cancel_future(handle);
        }
        let Some(poller) = self.entry.poller.clone() else {
            return;
        };
        let span = tracing::info_span!("poll_updates", inbox_id = self.entry.inbox_id);
        let work = crate::inbound::poll(
            self.leases.clone(),
            poller,
            self.entry.clone(),
            self.db.clone(),
            self.inbound.clone(),
        );
        let work = tracing::Instrument::instrument(work, span);
        self.polling = Some(ctx.spawn(actix::fut::wrap_future(work)));
    }
}

impl Handler<Reconfigure> for ChannelActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Self::Context) {
        self.entry = msg.0;
        self.start_polling(ctx);
    }
}

impl Handler<StopChannel> for ChannelActor {
    type Result = ();
    fn handle(&mut self, _: StopChannel, ctx: &mut Self::Context) {
        self.stopping = true;
        ctx.stop();
    }
}

impl Handler<Drain> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) {
        if self.stopping {
            return;
        }
        if self.draining {
            self.again = true;
            return;
        }
        self.draining = true;
        let span = tracing::debug_span!("drain_outbox", inbox_id = self.entry.inbox_id);
        let work = drain(
            self.entry.clone(),
            self.db.clone(),
            self.delivery.clone(),
            self.files.clone(),
            self.limiter.clone(),
            self.policy.clone(),
        );
        let addr = ctx.address();
        // Its own task: stopping the actor must not cut a store call off half-way.
        actix_web::rt::spawn(async move {
            let result = tracing::Instrument::instrument(work, span).await;
            addr.do_send(Drained(result));
        });
    }
}

impl Handler<Drained> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Drained, ctx: &mut Self::Context) {
        self.draining = false;
        match msg.0 {
            Ok(sent) => {
                self.failures = 0;
                if sent > 0 || std::mem::take(&mut self.again) {
                    ctx.notify(Drain);
                }
            }
            Err(error) => {
                self.failures += 1;
                tracing::warn!(%error, failures = self.failures, inbox_id = self.entry.inbox_id, "outbox drain failed");
                if self.failures >= FAILURES_BEFORE_RESTART {
                    self.stopping = true;
                    self.supervisor.do_send(Failed {
                        inbox_id: self.entry.inbox_id,
                    });
                    ctx.stop();
                }
            }
        }
    }
}

/// How long a provider or integration may take to fetch a reply's file: sends are retried
/// for a while, and each attempt signs fresh URLs, so an hour is plenty.
const OUTBOUND_URL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A reply's files as the channel offers them: absolute, signed download URLs.
fn outbound_attachments(
    files: &Files,
    message: &crate::store::conversations::Message,
) -> Vec<switchboard_channel::OutboundAttachment> {
    crate::store::attachments::parse_meta(&message.attachments)
        .into_iter()
        .map(|a| switchboard_channel::OutboundAttachment {
            id: a.id.to_string(),
            url: files.signed_url(a.id, Variant::Original, OUTBOUND_URL_TTL),
            width: a.width.and_then(|w| u32::try_from(w).ok()),
            height: a.height.and_then(|h| u32::try_from(h).ok()),
            thumbnail_url: a
                .thumbnail
                .then(|| files.signed_url(a.id, Variant::Small, OUTBOUND_URL_TTL)),
            file_name: a.file_name,
            content_type: a.content_type,
            byte_size: u64::try_from(a.byte_size).unwrap_or(0),
            data: None,
        })
        .collect()
}

/// The satisfaction survey a message puts to the customer, with its rating pages signed now.
fn survey_request(
    files: &Files,
    message: &crate::store::conversations::Message,
) -> Option<switchboard_channel::SurveyRequest> {
    let mut survey =
        crate::store::conversations::MessageDetails::parse(message.details.as_deref()).survey?;
    if let Ok(id) = survey.survey_id.parse::<i64>() {
        survey.links = files.survey_pages().links(id, survey.scale);
    }
    Some(survey)
}

/// Loads the content of a reply's files for channels that upload them (Telegram): a file
/// that cannot be read now is a transient failure, retried like a provider outage.
async fn attach_data(
    db: &Database,
    files: &Files,
    message_id: i64,
    attachments: &mut [switchboard_channel::OutboundAttachment],
) -> Result<(), switchboard_channel::ChannelError> {
    use futures_util::TryStreamExt;
    let unavailable = |reason: String| switchboard_channel::ChannelError::Transient {
        reason,
        retry_after: None,
    };
    let stored = {
        let conn = &mut db.reader().await.map_err(|e| unavailable(e.to_string()))?;
        crate::store::attachments::of_message(conn, message_id)
            .await
            .map_err(|e| unavailable(e.to_string()))?
    };
    for attachment in attachments.iter_mut() {
        let key = stored
            .iter()
            .find(|a| a.id.to_string() == attachment.id)
            .map(|a| a.storage_key.clone())
            .ok_or_else(|| switchboard_channel::ChannelError::Permanent {
                code: None,
                reason: format!("file {} of the message is not stored", attachment.id),
            })?;
        let (size, body) = files.blobs().get(&key).await.map_err(|e| match e {
            crate::blobs::BlobError::NotFound => switchboard_channel::ChannelError::Permanent {
                code: None,
                reason: format!("file {} is missing from storage", attachment.id),
            },
            other => unavailable(format!("cannot read file {}: {other}", attachment.id)),
        })?;
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let chunks: Vec<bytes::Bytes> = body
            .try_collect()
            .await
            .map_err(|e| unavailable(format!("cannot read file {}: {e}", attachment.id)))?;
        for chunk in chunks {
            data.extend_from_slice(&chunk);
        }
        attachment.data = Some(data.into());
    }
    Ok(())
}

/// The conversation's mail thread for a reply by email; unreadable now is a transient
/// failure, retried like a provider outage.
async fn mail_thread(
    db: &Database,
    conversation_id: i64,
) -> Result<switchboard_channel::MailThread, switchboard_channel::ChannelError> {
    let unavailable = |e: StoreError| switchboard_channel::ChannelError::Transient {
        reason: e.to_string(),
        retry_after: None,
    };
    let conn = &mut db.reader().await.map_err(unavailable)?;
    crate::store::mail::thread(conn, conversation_id)
        .await
        .map_err(unavailable)
}

/// Claims due jobs and sends them, `concurrency` at a time, within the rate limit.
async fn drain(
    entry: Arc<ChannelEntry>,
    db: Database,
    delivery: Addr<DeliveryTracker>,
    files: Arc<Files>,
    limiter: Arc<DefaultDirectRateLimiter>,
    policy: crate::config::OutboundSettings,
) -> Result<usize, StoreError> {
    let stale_after =
        chrono::Duration::from_std(policy.send_timeout * 4).unwrap_or(chrono::Duration::minutes(5));
    let jobs = {
        let conn = &mut db.writer().await?;
        // No more than can be in flight at once: a claimed job must start at once, so it
        // finishes (send_timeout) long before another drain may take it as stale.
        let claim = i64::try_from(policy.concurrency)
            .unwrap_or(CLAIM)
            .clamp(1, CLAIM);
        outbox::claim_due(conn, entry.inbox_id, claim, stale_after).await?
    };
    let count = jobs.len();
    futures_util::stream::iter(jobs)
        .for_each_concurrent(policy.concurrency, |job| {
            let entry = entry.clone();
            let delivery = delivery.clone();
            let limiter = limiter.clone();
            let policy = policy.clone();
            let files = files.clone();
            let db = db.clone();
            async move {
                limiter.until_ready().await;
                let message = OutboundMessage {
                    message_id: job.message.id.to_string(),
                    conversation_id: job.message.conversation_id.to_string(),
                    content: job.message.content.clone(),
                    private: job.message.private,
                    attachments: outbound_attachments(&files, &job.message),
                    recipient: ContactProfile {
                        identifier: job.recipient.identifier.clone(),
                        name: job.recipient.name.clone(),
                        email: job.recipient.email.clone(),
                        phone: job.recipient.phone.clone(),
                        language: None,
                        avatar_url: None,
                        details: serde_json::Map::new(),
                    },
                    reply_to_external_id: job.reply_to_external_id.clone(),
                    thread_id: job.thread_id.clone(),
                    template: crate::store::conversations::MessageDetails::parse(
                        job.message.details.as_deref(),
                    )
                    .template,
                    mail_thread: None,
                    survey: survey_request(&files, &job.message),
                };
                let mut message = message;
                let threaded = if entry.adapter.capabilities().threads_by_reference {
                    mail_thread(&db, job.message.conversation_id)
                        .await
                        .map(|thread| message.mail_thread = Some(thread))
                } else {
                    Ok(())
                };
                let loaded = if threaded.is_err() {
                    threaded
                } else if entry.adapter.capabilities().uploads_files
                    && !message.attachments.is_empty()
                {
                    attach_data(&db, &files, job.message.id, &mut message.attachments).await
                } else {
                    Ok(())
                };
                // A send must end well before the job counts as stale (`stale_after`), or
                // another drain (another node) could take it and send it again.
                let limit = policy.send_timeout * 3;
                let result = match loaded {
                    // The provider would refuse it anyway; no retries against a block.
                    Ok(()) if job.recipient.blocked_at.is_some() => {
                        Err(switchboard_channel::ChannelError::Permanent {
                            code: Some("blocked".into()),
                            reason: "the customer has blocked this channel (they stopped the \
                                     bot); replies reach them again once they unblock it"
                                .into(),
                        })
                    }
                    Ok(()) => tokio::time::timeout(limit, entry.adapter.send(&message))
                        .await
                        .unwrap_or_else(|_| {
                            Err(switchboard_channel::ChannelError::Transient {
                                reason: format!("the send took longer than {} s", limit.as_secs()),
                                retry_after: None,
                            })
                        }),
                    Err(error) => Err(error),
                };
                if let Err(switchboard_channel::ChannelError::Permanent {
                    code: Some(code), ..
                }) = &result
                {
                    note_refusal(&db, &entry, &job.recipient.identifier, code).await;
                }
                let outcome = SendOutcome {
                    inbox_id: entry.inbox_id,
                    job,
                    result,
                    policy,
                };
                match delivery.send(outcome).await {
                    Ok(Ok(())) => {}
                    // The job stays in flight and is handed out again after `stale_after`.
                    Ok(Err(error)) => tracing::warn!(%error, "cannot record a send outcome"),
                    Err(error) => tracing::warn!(%error, "delivery tracker unavailable"),
                }
            }
        })
        .await;
    Ok(count)
}

/// Remembers what a provider's refusal says about more than this one message: WhatsApp's
/// 131047 closes the customer's reply window (the inbox offers templates only), and 190 says
/// the inbox's token is dead (admins see it on the inbox). Best effort: the failure itself is
/// recorded on the message either way.
async fn note_refusal(db: &Database, entry: &ChannelEntry, recipient: &str, code: &str) {
    let result = match code {
        "131047" => {
            let Some(window) = entry
                .adapter
                .capabilities()
                .reply_window_secs
                .and_then(|secs| i64::try_from(secs).ok())
            else {
                return;
            };
            match db.writer().await {
                Ok(mut conn) => {
                    crate::store::contacts::close_reply_window(
                        &mut conn,
                        entry.inbox_id,
                        recipient,
                        chrono::TimeDelta::seconds(window),
                    )
                    .await
                }
                Err(error) => Err(error),
            }
        }
        "190" => match db.writer().await {
            Ok(mut conn) => {
                crate::store::inboxes::mark(
                    &mut conn,
                    entry.inbox_id,
                    crate::channels::whatsapp::TOKEN_REFUSED,
                    serde_json::Value::String(chrono::Utc::now().to_rfc3339()),
                )
                .await
            }
            Err(error) => Err(error),
        },
        _ => return,
    };
    if let Err(error) = result {
        tracing::warn!(%error, inbox_id = entry.inbox_id, code, "cannot record what a refusal means");
    }
}
