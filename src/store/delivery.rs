//! Delivery statuses reported by providers. Every raw report is kept; a report only changes
//! the message when it moves it forward (queued → sent → delivered → read, or to failed
//! from queued/sent), enforced in the UPDATE's WHERE clause so concurrent reports cannot
//! race a message backwards.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use switchboard_channel::{DeliveryState, StatusUpdate};

use super::conversations::Message;
use super::locks::WriterLocks;
use super::locks::status_lock_key;
use crate::db::schema::{messages, provider_status_events};
use crate::db::types::{DeliveryStatus, Direction};
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// What one status report did.
// Short-lived results moved once; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StatusApplied {
    /// The message moved forward; here it is as stored now.
    Advanced(Message),
    /// Kept, but the message is already at or past this status (or failed).
    Stale { message_id: i64 },
    /// Kept; no message has this external id (yet). It is applied when the send that
    /// returns this id is recorded.
    Unmatched,
}

/// The statuses a message may be in for `next` to move it forward.
pub fn predecessors(next: DeliveryStatus) -> &'static [DeliveryStatus] {
    use DeliveryStatus::*;
    match next {
        Queued => &[],
        Sent => &[Queued],
        Delivered => &[Queued, Sent],
        Read => &[Queued, Sent, Delivered],
        Failed => &[Queued, Sent],
    }
}

/// The stored status for a channel's normalized one.
pub fn from_channel(state: DeliveryState) -> DeliveryStatus {
    match state {
        DeliveryState::Sent => DeliveryStatus::Sent,
        DeliveryState::Delivered => DeliveryStatus::Delivered,
        DeliveryState::Read => DeliveryStatus::Read,
        DeliveryState::Failed => DeliveryStatus::Failed,
    }
}

/// Applies a batch of reports of one inbox in one transaction.
pub async fn apply(
    conn: &mut DbConn,
    inbox_id: i64,
    updates: &[StatusUpdate],
) -> Result<Vec<StatusApplied>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        c.lock_keys(
            updates
                .iter()
                .map(|u| status_lock_key(inbox_id, &u.external_id))
                .collect(),
        )
        .await?;
        let mut applied = Vec::with_capacity(updates.len());
        for update in updates {
            let status = from_channel(update.status);
            let error = update.error.as_ref().filter(|_| status == DeliveryStatus::Failed);
            let message_id: Option<i64> = messages::table
                .filter(messages::inbox_id.eq(inbox_id))
                .filter(messages::provider_message_id.eq(&update.external_id))
                .filter(messages::direction.eq(Direction::Outbound))
                .select(messages::id)
                .first(c)
                .await
                .optional()?;
            // A provider redelivering the same report (a retried webhook: same id, status
            // and body) changes nothing and is kept once; distinct reports are all kept.
            let raw = update.raw.to_string();
            let seen: i64 = provider_status_events::table
                .filter(provider_status_events::inbox_id.eq(inbox_id))
                .filter(provider_status_events::external_id.eq(&update.external_id))
                .filter(provider_status_events::status.eq(status.as_str()))
                .filter(provider_status_events::payload.eq(&raw))
                .count()
                .get_result(c)
                .await?;
            if seen > 0 {
                applied.push(match message_id {
                    Some(message_id) => StatusApplied::Stale { message_id },
                    None => StatusApplied::Unmatched,
                });
                continue;
            }
            diesel::insert_into(provider_status_events::table)
                .values((
                    provider_status_events::inbox_id.eq(inbox_id),
                    provider_status_events::message_id.eq(message_id),
                    provider_status_events::external_id.eq(&update.external_id),
                    provider_status_events::status.eq(status.as_str()),
                    provider_status_events::payload.eq(&raw),
                    provider_status_events::received_at.eq(crate::store::now()),
                    provider_status_events::error_code.eq(error.and_then(|e| e.code.clone())),
                    provider_status_events::error_reason.eq(error.map(|e| e.reason.clone())),
                ))
                .execute(c)
                .await?;
            let Some(id) = message_id else {
                applied.push(StatusApplied::Unmatched);
                continue;
            };
            // Forward only: the WHERE clause refuses any status at or past this one.
            let advanced: Option<Message> = diesel::update(
                messages::table
                    .filter(messages::id.eq(id))
                    .filter(messages::delivery_status.eq_any(predecessors(status))),
            )
            .set((
                messages::delivery_status.eq(status),
                messages::error_code.eq(error.and_then(|e| e.code.clone())),
                messages::error_reason.eq(error.map(|e| e.reason.clone())),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await
            .optional()?;
            applied.push(match advanced {
                Some(message) => StatusApplied::Advanced(message),
                None => StatusApplied::Stale { message_id: id },
            });
        }
        Ok(applied)
    }).await)
}

/// Reports that arrived before the send that returned their external id was recorded:
/// applied in arrival order once the id is known. Returns the message as it ends up.
pub async fn apply_early_reports(
    conn: &mut DbConn,
    inbox_id: i64,
    message_id: i64,
    external_id: &str,
) -> Result<Option<Message>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        // A report being stored right now, unmatched, is waited for (PostgreSQL).
        c.lock_keys(vec![status_lock_key(inbox_id, external_id)]).await?;
        type Early = (i64, String, Option<String>, Option<String>);
        let early: Vec<Early> = provider_status_events::table
            .filter(provider_status_events::inbox_id.eq(inbox_id))
            .filter(provider_status_events::external_id.eq(external_id))
            .filter(provider_status_events::message_id.is_null())
            .order(provider_status_events::id)
            .select((
                provider_status_events::id,
                provider_status_events::status,
                provider_status_events::error_code,
                provider_status_events::error_reason,
            ))
            .load(c)
            .await?;
        let mut last = None;
        for (event_id, status, error_code, error_reason) in early {
            diesel::update(provider_status_events::table.find(event_id))
                .set(provider_status_events::message_id.eq(message_id))
                .execute(c)
                .await?;
            let Ok(status) = status.parse::<DeliveryStatus>() else { continue };
            let failed = status == DeliveryStatus::Failed;
            let advanced = diesel::update(
                messages::table
                    .filter(messages::id.eq(message_id))
                    .filter(messages::direction.eq(Direction::Outbound))
                    .filter(messages::delivery_status.eq_any(predecessors(status))),
            )
            .set((
                messages::delivery_status.eq(status),
                messages::error_code.eq(error_code.filter(|_| failed)),
                messages::error_reason.eq(error_reason.filter(|_| failed)),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await
            .optional()?;
            if advanced.is_some() {
                last = advanced;
            }
        }
        Ok(last)
    }).await)
}
