//! DeliveryTracker: the one path of every delivery status. It applies send outcomes (from
//! channel actors), provider status reports (from the inbound door: status webhooks and
//! statuses inside event batches), widget visitors' receipts (delivered, read) and agents'
//! read marks (which widget visitors see as read ticks), and publishes the changes.
//!
//! The store enforces "statuses only move forward" in each UPDATE. Outcomes are stored
//! concurrently, so two changes of one message may commit in one order and finish in the
//! other; the tracker remembers the last status it published per message and never
//! publishes an older one after a newer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use switchboard_channel::{ChannelError, SendReceipt, StatusUpdate};

use super::detached;
use crate::config::OutboundSettings;
use crate::db::types::DeliveryStatus;
use crate::db::{Database, StoreError};
use crate::realtime::EventHub;
use crate::realtime::visitors::VisitorEvent;
use crate::store::conversations::{self as conv, Message};
use crate::store::delivery::{self, StatusApplied};
use crate::store::outbox::{self, Job};

/// Messages whose last published status is remembered.
const REMEMBERED: usize = 100_000;

pub(crate) struct DeliveryTracker {
    db: Database,
    events: Arc<EventHub>,
    published: HashMap<i64, u8>,
}

impl DeliveryTracker {
    pub(crate) fn new(db: Database, events: Arc<EventHub>) -> Self {
        Self {
            db,
            events,
            published: HashMap::new(),
        }
    }

    fn publish(&mut self, message: &Message) {
        let rank = message.delivery_status.map_or(0, |s| s.rank());
        if self.published.len() > REMEMBERED {
            self.published.clear();
        }
        let last = self.published.entry(message.id).or_insert(0);
        // Equal rank still publishes: a retry's new error text, say.
        if rank >= *last {
            *last = rank;
            self.events.message(message, false);
        }
    }
}

impl Actor for DeliveryTracker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// The result of one send attempt of an outbox job.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub(crate) struct SendOutcome {
    pub(crate) inbox_id: i64,
    pub(crate) job: Job,
    pub(crate) result: Result<SendReceipt, ChannelError>,
    pub(crate) policy: OutboundSettings,
}

/// An agent queued a failed reply again (already stored): its statuses start over, so the
/// `failed` published before must not hold back the ones that follow.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Requeued(pub(crate) Message);

impl Handler<Requeued> for DeliveryTracker {
    type Result = ();

    fn handle(&mut self, Requeued(message): Requeued, _: &mut Self::Context) {
        self.published.remove(&message.id);
        self.publish(&message);
    }
}

/// Status reports of one inbox, already verified and parsed.
#[derive(Message)]
#[rtype(result = "Result<Vec<StatusApplied>, StoreError>")]
pub(crate) struct ApplyStatuses {
    pub(crate) inbox_id: i64,
    pub(crate) updates: Vec<StatusUpdate>,
}

/// A widget visitor's browser received (`Delivered`) or showed (`Read`) the replies of its
/// conversation up to a seq.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub(crate) struct VisitorReceipt {
    pub(crate) conversation_id: i64,
    pub(crate) up_to: i64,
    pub(crate) status: DeliveryStatus,
}

/// An agent read a conversation up to a seq; answers the agent's read mark as stored (it
/// never moves back). A widget visitor sees their messages read.
#[derive(Message)]
#[rtype(result = "Result<i64, StoreError>")]
pub(crate) struct AgentRead {
    pub(crate) conversation_id: i64,
    pub(crate) agent_id: i64,
    pub(crate) seq: i64,
}

impl Handler<VisitorReceipt> for DeliveryTracker {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    fn handle(&mut self, msg: VisitorReceipt, _: &mut Self::Context) -> Self::Result {
        let span = tracing::debug_span!(
            "visitor_receipt",
            conversation_id = msg.conversation_id,
            up_to = msg.up_to
        );
        let db = self.db.clone();
        let work = detached(tracing::Instrument::instrument(
            async move {
                let conn = &mut db.writer().await?;
                crate::store::widget::advance_replies(
                    conn,
                    msg.conversation_id,
                    msg.up_to,
                    msg.status,
                )
                .await
            },
            span,
        ));
        Box::pin(work.into_actor(self).map(|result, act, _| {
            for message in &result?? {
                act.publish(message);
            }
            Ok(())
        }))
    }
}

impl Handler<AgentRead> for DeliveryTracker {
    type Result = ResponseActFuture<Self, Result<i64, StoreError>>;

    fn handle(&mut self, msg: AgentRead, _: &mut Self::Context) -> Self::Result {
        let span = tracing::debug_span!(
            "agent_read",
            conversation_id = msg.conversation_id,
            agent_id = msg.agent_id
        );
        let db = self.db.clone();
        let conversation_id = msg.conversation_id;
        let work = detached(tracing::Instrument::instrument(
            async move {
                let conn = &mut db.writer().await?;
                conv::mark_read(conn, msg.conversation_id, msg.agent_id, msg.seq).await
            },
            span,
        ));
        Box::pin(work.into_actor(self).map(move |result, act, _| {
            let read = result??;
            act.events
                .visitors
                .to_conversation(conversation_id, VisitorEvent::Read { up_to: read });
            Ok(read)
        }))
    }
}

impl Handler<SendOutcome> for DeliveryTracker {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    fn handle(&mut self, msg: SendOutcome, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!("send_outcome", message_id = msg.job.message.id);
        let db = self.db.clone();
        let work = detached(tracing::Instrument::instrument(record(db, msg), span));
        Box::pin(work.into_actor(self).map(|result, act, _| {
            let changed = result??;
            for message in &changed {
                act.publish(message);
            }
            Ok(())
        }))
    }
}

impl Handler<ApplyStatuses> for DeliveryTracker {
    type Result = ResponseActFuture<Self, Result<Vec<StatusApplied>, StoreError>>;

    fn handle(&mut self, msg: ApplyStatuses, _: &mut Self::Context) -> Self::Result {
        let span = tracing::info_span!(
            "apply_statuses",
            inbox_id = msg.inbox_id,
            n = msg.updates.len()
        );
        let db = self.db.clone();
        let work = detached(tracing::Instrument::instrument(
            async move {
                let conn = &mut db.writer().await?;
                delivery::apply(conn, msg.inbox_id, &msg.updates).await
            },
            span,
        ));
        Box::pin(work.into_actor(self).map(|result, act, _| {
            let applied = result??;
            for outcome in &applied {
                if let StatusApplied::Advanced(message) = outcome {
                    act.publish(message);
                }
            }
            Ok(applied)
        }))
    }
}

/// Stores one send outcome; returns the message's states to publish, in order.
async fn record(db: Database, msg: SendOutcome) -> Result<Vec<Message>, StoreError> {
    let conn = &mut db.writer().await?;
    let SendOutcome {
        inbox_id,
        job,
        result,
        policy,
    } = msg;
    match result {
        Ok(receipt) => {
            // Without a provider id, statuses refer to the message by the hub's id.
            let external_id = receipt
                .external_id
                .unwrap_or_else(|| format!("sb:{}", job.message.id));
            let (message, recorded) = outbox::record_sent(conn, &job, &external_id).await?;
            if !recorded {
                tracing::warn!(%external_id, "another message of this inbox has that external id; not recorded");
                return Ok(vec![message]);
            }
            let mut changed = vec![message];
            if let Some(later) =
                delivery::apply_early_reports(conn, inbox_id, job.message.id, &external_id).await?
            {
                changed.push(later);
            }
            Ok(changed)
        }
        Err(ChannelError::Transient {
            reason,
            retry_after,
        }) => {
            let attempts = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
            if attempts >= policy.max_attempts {
                let reason = format!("gave up after {attempts} attempts: {reason}");
                return Ok(vec![
                    outbox::record_failed(conn, &job, Some("retries_exhausted"), &reason).await?,
                ]);
            }
            let delay = backoff(&policy, attempts, retry_after);
            let next = crate::store::now()
                + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            tracing::info!(%reason, attempts, delay_ms = delay.as_millis() as u64, "send failed; will retry");
            Ok(vec![outbox::record_retry(conn, &job, next, &reason).await?])
        }
        Err(ChannelError::Permanent { code, reason }) => {
            tracing::info!(?code, %reason, "send refused for good");
            Ok(vec![
                outbox::record_failed(conn, &job, code.as_deref(), &reason).await?,
            ])
        }
    }
}

/// Exponential backoff with full jitter in its upper half, never sooner than the
/// provider's Retry-After.
pub(crate) fn backoff(
    policy: &OutboundSettings,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = policy
        .retry_base
        .saturating_mul(
            1u32.checked_shl(attempts.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        )
        .min(policy.retry_max);
    let jitter = u64::from(u16::from_le_bytes(crate::auth::random_bytes::<2>()));
    let half = exp / 2;
    let jittered = half + half.mul_f64(jitter as f64 / f64::from(u16::MAX));
    match retry_after {
        Some(wait) if wait > jittered => wait,
        _ => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutboundSettings {
        OutboundSettings {
            max_attempts: 5,
            send_timeout: Duration::from_secs(1),
            retry_base: Duration::from_millis(1000),
            retry_max: Duration::from_secs(60),
            concurrency: 1,
            rate_per_second: std::num::NonZeroU32::MIN,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_caps_and_honours_retry_after() {
        let p = policy();
        for attempt in 1..=10u32 {
            let d = backoff(&p, attempt, None);
            let full = Duration::from_millis(1000 * (1u64 << (attempt - 1))).min(p.retry_max);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        assert_eq!(
            backoff(&p, 1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert!(backoff(&p, 1, Some(Duration::from_millis(1))) >= Duration::from_millis(500));
    }
}
