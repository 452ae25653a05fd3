//! Delivery statuses reported by providers. Every raw report is kept; a report only changes
//! the message when it moves it forward (queued → sent → delivered → read, or to failed
//! from queued/sent), enforced in the UPDATE's WHERE clause so concurrent reports cannot
//! race a message backwards.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use switchboard_channel::{DeliveryState, StatusUpdate};

use super::WriterLocks;
use super::conversations::Message;
use super::inbound::status_lock_key;
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

/// Applies one report on a concrete connection inside the caller's transaction.
macro_rules! delivery_apply {
    ([$($aw:tt)*] $c:expr, $inbox_id:expr, $update:expr) => {{
        let c = &mut *$c;
        let inbox_id: i64 = $inbox_id;
        let update: &::switchboard_channel::StatusUpdate = $update;
        let status = $crate::store::delivery::from_channel(update.status);
        let error = update
            .error
            .as_ref()
            .filter(|_| status == $crate::db::types::DeliveryStatus::Failed);
        let message_id: Option<i64> = $crate::db::schema::messages::table
            .filter($crate::db::schema::messages::inbox_id.eq(inbox_id))
            .filter($crate::db::schema::messages::provider_message_id.eq(&update.external_id))
            .filter(
                $crate::db::schema::messages::direction.eq($crate::db::types::Direction::Outbound),
            )
            .select($crate::db::schema::messages::id)
            .first(c)
            $($aw)*
            .optional()?;
        diesel::insert_into($crate::db::schema::provider_status_events::table)
            .values((
                $crate::db::schema::provider_status_events::inbox_id.eq(inbox_id),
                $crate::db::schema::provider_status_events::message_id.eq(message_id),
                $crate::db::schema::provider_status_events::external_id.eq(&update.external_id),
                $crate::db::schema::provider_status_events::status.eq(status.as_str()),
                $crate::db::schema::provider_status_events::payload.eq(update.raw.to_string()),
                $crate::db::schema::provider_status_events::received_at.eq($crate::store::now()),
                $crate::db::schema::provider_status_events::error_code
                    .eq(error.and_then(|e| e.code.clone())),
                $crate::db::schema::provider_status_events::error_reason
                    .eq(error.map(|e| e.reason.clone())),
            ))
            .execute(c)
            $($aw)*?;
        match message_id {
            None => $crate::store::delivery::StatusApplied::Unmatched,
            Some(id) => {
                let advanced: Option<$crate::store::conversations::Message> = diesel::update(
                    $crate::db::schema::messages::table
                        .filter($crate::db::schema::messages::id.eq(id))
                        .filter(
                            $crate::db::schema::messages::delivery_status
                                .eq_any($crate::store::delivery::predecessors(status)),
                        ),
                )
                .set((
                    $crate::db::schema::messages::delivery_status.eq(status),
                    $crate::db::schema::messages::error_code.eq(error.and_then(|e| e.code.clone())),
                    $crate::db::schema::messages::error_reason.eq(error.map(|e| e.reason.clone())),
                ))
                .returning($crate::store::conversations::Message::as_returning())
                .get_result(c)
                $($aw)*
                .optional()?;
                match advanced {
                    Some(message) => $crate::store::delivery::StatusApplied::Advanced(message),
                    None => $crate::store::delivery::StatusApplied::Stale { message_id: id },
                }
            }
        }
    }};
}
pub(crate) use delivery_apply;

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
            applied.push(delivery_apply!([.await] c, inbox_id, update));
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
