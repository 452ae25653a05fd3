//! The outbox: replies waiting to be sent, written with the message in one transaction
//! (see [`super::conversations::store_reply`]) and drained by the inbox's channel actor.
//!
//! A job is claimed (`in_flight`) before it is sent, so two drains — two hub nodes on
//! PostgreSQL (`FOR UPDATE SKIP LOCKED`), or a drain racing a retry — never send it twice.
//! A job left `in_flight` by a crash is handed out again after `stale_after`: delivery is
//! at least once, and receivers dedupe by message id.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::conversations::{Message, MessageDetails};
use super::{Actor, AuditEvent, now};
use crate::db::schema::{contact_identities, contacts, conversations, messages, outbox};
use crate::db::types::{DeliveryStatus, Direction, OutboxState};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// A claimed send, with everything the channel needs.
#[derive(Debug, Clone)]
pub struct Job {
    pub outbox_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub message: Message,
    pub recipient: Recipient,
    pub reply_to_external_id: Option<String>,
    /// The provider's sub-thread to answer in (a forum topic): the one of the message being
    /// answered, else of the customer's latest message.
    pub thread_id: Option<String>,
}

/// Who a reply goes to, as the channel knows them.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub identifier: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Since when the customer has blocked the channel: the send fails at once, no retry.
    pub blocked_at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Claims up to `limit` due jobs of an inbox (and stale in-flight ones).
pub async fn claim_due(
    conn: &mut DbConn,
    inbox_id: i64,
    limit: i64,
    stale_after: chrono::Duration,
) -> Result<Vec<Job>, StoreError> {
    let at = now();
    let stale = at - stale_after;
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => {
            let claimed: Vec<ClaimedId> = diesel::sql_query(
                "UPDATE outbox SET state = 'in_flight', updated_at = $1 WHERE id IN ( \
                   SELECT id FROM outbox WHERE inbox_id = $2 AND ( \
                     (state = 'pending' AND next_attempt_at <= $1) \
                     OR (state = 'in_flight' AND updated_at < $3)) \
                   ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id",
            )
            .bind::<diesel::sql_types::Timestamp, _>(at)
            .bind::<diesel::sql_types::BigInt, _>(inbox_id)
            .bind::<diesel::sql_types::Timestamp, _>(stale)
            .bind::<diesel::sql_types::BigInt, _>(limit)
            .load(&mut **c)
            .await?;
            claimed.into_iter().map(|r| r.id).collect()
        }
        DbConn::Sqlite(c) => {
            // One writer connection: select-then-update inside a transaction cannot race.
            c.transaction::<_, StoreError, _>(async |c| {
                let ids: Vec<i64> = outbox::table
                    .filter(outbox::inbox_id.eq(inbox_id))
                    .filter(
                        outbox::state
                            .eq(OutboxState::Pending)
                            .and(outbox::next_attempt_at.le(at))
                            .or(outbox::state
                                .eq(OutboxState::InFlight)
                                .and(outbox::updated_at.lt(stale))),
                    )
                    .order(outbox::next_attempt_at)
                    .limit(limit)
                    .select(outbox::id)
                    .load(c)
                    .await?;
                diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
                    .set((
                        outbox::state.eq(OutboxState::InFlight),
                        outbox::updated_at.eq(at),
                    ))
                    .execute(c)
                    .await?;
                Ok(ids)
            })
            .await?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, i64, Message, Option<i64>)> = db_run!(conn, c => outbox::table
        .inner_join(messages::table.inner_join(conversations::table))
        .filter(outbox::id.eq_any(&ids))
        .order(outbox::next_attempt_at)
        .select((outbox::id, outbox::attempts, Message::as_select(), conversations::contact_id))
        .load(c)
        .await)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for (outbox_id, attempts, message, contact_id) in rows {
        let mut recipient = Recipient::default();
        if let Some(contact_id) = contact_id {
            let identity: Option<(String, Option<NaiveDateTime>)> = db_run!(conn, c => contact_identities::table
                .filter(contact_identities::inbox_id.eq(inbox_id))
                .filter(contact_identities::contact_id.eq(contact_id))
                .order(contact_identities::id)
                .select((contact_identities::identifier, contact_identities::blocked_at))
                .first(c)
                .await
                .optional())?;
            let profile: Option<(Option<String>, Option<String>, Option<String>)> = db_run!(conn, c => contacts::table
                    .find(contact_id)
                    .select((contacts::name, contacts::email, contacts::phone))
                    .first(c)
                    .await
                    .optional())?;
            if let Some((identifier, blocked_at)) = identity {
                recipient.identifier = identifier;
                recipient.blocked_at = blocked_at;
            }
            if let Some((name, email, phone)) = profile {
                recipient.name = name;
                recipient.email = email;
                recipient.phone = phone;
            }
        }
        // The answered message: the customer's message id (or the provider's id of one of
        // ours) and its details (its forum topic); else the customer's latest message's.
        type Answered = (Option<String>, Option<String>, Option<String>);
        let answered: Option<Answered> = match message.reply_to_id {
            Some(id) => db_run!(conn, c => messages::table
                .find(id)
                .select((
                    messages::external_id,
                    messages::provider_message_id,
                    messages::details,
                ))
                .first(c)
                .await
                .optional())?,
            None => None,
        };
        let reply_to_external_id = answered
            .as_ref()
            .and_then(|(external, provider, _)| external.clone().or_else(|| provider.clone()));
        let details: Option<Option<String>> = match answered {
            Some((_, _, details)) => Some(details),
            None => db_run!(conn, c => messages::table
                .filter(messages::conversation_id.eq(message.conversation_id))
                .filter(messages::direction.eq(Direction::Inbound))
                .order(messages::id.desc())
                .select(messages::details)
                .first(c)
                .await
                .optional())?,
        };
        let thread_id = MessageDetails::parse(details.flatten().as_deref()).thread_id;
        jobs.push(Job {
            outbox_id,
            attempts,
            message,
            recipient,
            reply_to_external_id,
            thread_id,
        });
    }
    Ok(jobs)
}

/// The send succeeded: the message becomes `sent` (unless a status report already moved it
/// further) and keeps the provider's id. An id another message of the inbox already has is
/// not recorded (logged by the caller).
pub async fn record_sent(
    conn: &mut DbConn,
    job: &Job,
    external_id: &str,
) -> Result<(Message, bool), StoreError> {
    let at = now();
    let attempt = async |conn: &mut DbConn, with_id: bool| {
        db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
            diesel::update(outbox::table.find(job.outbox_id))
                .set((
                    outbox::state.eq(OutboxState::Done),
                    outbox::attempts.eq(job.attempts + 1),
                    outbox::last_error.eq(None::<String>),
                    outbox::updated_at.eq(at),
                ))
                .execute(c)
                .await?;
            if with_id {
                diesel::update(messages::table.find(job.message.id))
                    .set(messages::provider_message_id.eq(external_id))
                    .execute(c)
                    .await?;
            }
            diesel::update(
                messages::table
                    .filter(messages::id.eq(job.message.id))
                    .filter(messages::delivery_status.eq(DeliveryStatus::Queued)),
            )
            .set((
                messages::delivery_status.eq(DeliveryStatus::Sent),
                messages::error_code.eq(None::<String>),
                messages::error_reason.eq(None::<String>),
            ))
            .execute(c)
            .await?;
            Ok(messages::table
                .find(job.message.id)
                .select(Message::as_select())
                .first(c)
                .await?)
        }).await)
    };
    match attempt(conn, true).await {
        Ok(message) => Ok((message, true)),
        Err(StoreError::Conflict(_)) => Ok((attempt(conn, false).await?, false)),
        Err(other) => Err(other),
    }
}

/// A transient failure: try again at `next_attempt_at`; the message stays `queued` and
/// shows why it is waiting.
pub async fn record_retry(
    conn: &mut DbConn,
    job: &Job,
    next_attempt_at: NaiveDateTime,
    reason: &str,
) -> Result<Message, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::update(outbox::table.find(job.outbox_id))
            .set((
                outbox::state.eq(OutboxState::Pending),
                outbox::attempts.eq(job.attempts + 1),
                outbox::next_attempt_at.eq(next_attempt_at),
                outbox::last_error.eq(reason),
                outbox::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
        Ok(diesel::update(messages::table.find(job.message.id))
            .set((messages::error_code.eq("retrying"), messages::error_reason.eq(reason)))
            .returning(Message::as_returning())
            .get_result(c)
            .await?)
    }).await)
}

/// A permanent failure (or retries exhausted): the message ends `failed` with the reason.
pub async fn record_failed(
    conn: &mut DbConn,
    job: &Job,
    code: Option<&str>,
    reason: &str,
) -> Result<Message, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::update(outbox::table.find(job.outbox_id))
            .set((
                outbox::state.eq(OutboxState::Failed),
                outbox::attempts.eq(job.attempts + 1),
                outbox::last_error.eq(reason),
                outbox::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
        diesel::update(
            messages::table
                .filter(messages::id.eq(job.message.id))
                .filter(messages::delivery_status.eq(DeliveryStatus::Queued)),
        )
        .set((
            messages::delivery_status.eq(DeliveryStatus::Failed),
            messages::error_code.eq(code),
            messages::error_reason.eq(reason),
        ))
        .execute(c)
        .await?;
        Ok(messages::table
            .find(job.message.id)
            .select(Message::as_select())
            .first(c)
            .await?)
    }).await)
}

/// Why an agent's retry was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such message in this conversation")]
    NotFound,
    #[error("only a failed reply can be retried (this one is {0})")]
    NotFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RetryError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(error.into())
    }
}

/// An agent retries a failed reply: it is queued again with a fresh outbox entry state.
pub async fn retry(
    conn: &mut DbConn,
    conversation_id: i64,
    message_id: i64,
    actor: &Actor,
) -> Result<Message, RetryError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, RetryError, _>(async |c| {
        let message: Message = messages::table
            .filter(messages::id.eq(message_id))
            .filter(messages::conversation_id.eq(conversation_id))
            .select(Message::as_select())
            .first(c)
            .await
            .optional()
            .map_err(StoreError::from)?
            .ok_or(RetryError::NotFound)?;
        if message.delivery_status != Some(DeliveryStatus::Failed) {
            let now_status = message.delivery_status.map_or("not an outbound reply", |s| s.as_str());
            return Err(RetryError::NotFailed(now_status.to_owned()));
        }
        let message = diesel::update(messages::table.find(message_id))
            .set((
                messages::delivery_status.eq(DeliveryStatus::Queued),
                messages::error_code.eq(None::<String>),
                messages::error_reason.eq(None::<String>),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await
            .map_err(StoreError::from)?;
        diesel::update(outbox::table.filter(outbox::message_id.eq(message_id)))
            .set((
                outbox::state.eq(OutboxState::Pending),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(at),
                outbox::last_error.eq(None::<String>),
                outbox::updated_at.eq(at),
            ))
            .execute(c)
            .await
            .map_err(StoreError::from)?;
        let event = AuditEvent::new("message.retry", "message", message_id)
            .with_details(json!({"conversation_id": conversation_id.to_string()}));
        audit!(c, actor, event).await.map_err(StoreError::from)?;
        Ok(message)
    }).await)
}

/// When the inbox's next pending job is due, to schedule the next drain.
pub async fn next_due(
    conn: &mut DbConn,
    inbox_id: i64,
) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(db_run!(conn, c => outbox::table
        .filter(outbox::inbox_id.eq(inbox_id))
        .filter(outbox::state.eq(OutboxState::Pending))
        .select(diesel::dsl::min(outbox::next_attempt_at))
        .first(c)
        .await)?)
}
