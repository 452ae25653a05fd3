//! The hub's actors and the handle request handlers use to reach them.
//!
//! ```text
//!  webhook, polling, widget ─► Inbound (the door) ─► InboundWriter (group commit)
//!                                   │ statuses               │ after commit
//!                                   ▼                        ├─► EventHub ─► agent sockets, visitors
//!  agent API ─► Conversations ─► ConversationActor ─────────►├─► Router (assignment)
//!                                   │ reply stored + outbox
//!                                   ▼
//!              ChannelSupervisor ─► ChannelActor (outbox drain, rate limit) ─► DeliveryTracker
//! ```
//!
//! Who writes what: a conversation's agent-side changes (replies, assignment, status) go
//! through its ConversationActor, one at a time; inbound messages of all conversations go
//! through the InboundWriter so concurrent webhooks share one durable commit (DESIGN.md,
//! group commit); every delivery status goes through the DeliveryTracker. Messages take
//! the conversation's next seq inside their transaction, so the database keeps seqs
//! strictly increasing. Store calls run in detached tasks ([`detached`]): stopping an actor
//! never cuts a query off half-way.

pub(crate) mod channel;
pub(crate) mod delivery;
pub(crate) mod presence;
pub(crate) mod router;
pub(crate) mod thumbnails;

use std::future::Future;

/// Runs a future to completion in its own task and waits for it; if the waiter is
/// dropped (an actor stopped, a client left), the work still finishes.
pub(crate) async fn detached<T: 'static>(
    work: impl Future<Output = T> + 'static,
) -> Result<T, crate::db::StoreError> {
    use tracing::Instrument;
    actix_web::rt::spawn(work.in_current_span())
        .await
        .map_err(|e| crate::db::StoreError::Unavailable(format!("task failed: {e}")))
}
