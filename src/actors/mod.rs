//! The hub's actors and the handle request handlers use to reach them.
//!
//! ```text
//!  webhook ─ Channels (adapters of the ChannelActors) ─ parse ─► InboundWriter (group commit)
//!                                                                    │ after commit
//!  agent API ─► ConversationRegistry ─► ConversationActor ──────────►├─► EventHub ─► agent sockets
//!                                           │ reply stored + outbox  └─► Router (assignment)
//!                                           ▼
//!              ChannelSupervisor ─► ChannelActor (outbox drain, rate limit) ─► DeliveryTracker
//! ```
//!
//! Who writes what: a conversation's agent-side changes (replies, assignment, status) go
//! through its ConversationActor, one at a time; inbound messages of all conversations go
//! through the InboundWriter so concurrent webhooks share one durable commit (DESIGN.md,
//! group commit). Both take the conversation's next seq inside their transaction, so the
//! database keeps seqs strictly increasing. Store calls run in detached tasks
//! ([`detached`]): stopping an actor never cuts a query off half-way.

pub mod channel;
pub mod conversation;
pub mod delivery;
pub mod ingest;
pub mod polling;
pub mod presence;
pub mod router;
pub mod thumbnails;

use std::future::Future;
use std::sync::Arc;

use actix::{Actor, Addr};

use crate::config::Settings;
use crate::db::Database;
use crate::realtime::EventHub;

/// Addresses of the running actors.
#[derive(Clone)]
pub struct Hub {
    pub events: Arc<EventHub>,
    pub presence: Arc<presence::Presence>,
    pub channels: channel::Channels,
    pub inbound: ingest::InboundWriter,
    pub conversations: Addr<conversation::ConversationRegistry>,
    pub supervisor: Addr<channel::ChannelSupervisor>,
    pub router: Addr<router::Router>,
    pub delivery: Addr<delivery::DeliveryTracker>,
    /// Attachment files: limits, blob store, signed URLs.
    pub files: Arc<crate::files::Files>,
    pub thumbnails: thumbnails::Thumbnailer,
    /// Widget visitors' rate limits.
    pub widget_limits: Arc<crate::widget::VisitorLimits>,
}

impl Hub {
    /// Starts every actor on the current actix system and the channel actors of all
    /// enabled inboxes.
    pub async fn start(
        db: Database,
        settings: Arc<Settings>,
        files: Arc<crate::files::Files>,
    ) -> Result<Self, crate::db::StoreError> {
        let events = Arc::new(EventHub::new(
            settings.realtime.replay_events,
            settings.realtime.client_buffer,
        ));
        let presence = Arc::new(presence::Presence::new(events.clone()));
        let channels = channel::Channels::default();
        let delivery = delivery::DeliveryTracker::new(db.clone(), events.clone()).start();
        let router = router::Router::new(db.clone(), presence.clone()).start();
        let thumbnails = thumbnails::Thumbnailer::start(db.clone(), events.clone(), files.clone());
        let inbound = ingest::InboundWriter::start(
            db.clone(),
            events.clone(),
            router.clone(),
            thumbnails.clone(),
            settings.inbound.clone(),
        );
        let supervisor = channel::ChannelSupervisor::new(
            db.clone(),
            settings.clone(),
            channels.clone(),
            delivery.clone(),
            files.clone(),
            inbound.clone(),
        )
        .start();
        let conversations = conversation::ConversationRegistry::new(
            db.clone(),
            events.clone(),
            supervisor.clone(),
            router.clone(),
            delivery.clone(),
            settings.realtime.conversation_idle,
        )
        .start();
        router.do_send(router::Attach {
            conversations: conversations.clone(),
        });
        actix_web::rt::spawn(crate::widget::watch_presence(
            events.clone(),
            presence.clone(),
            db.clone(),
        ));
        let conn = &mut db.reader().await?;
        for inbox in crate::store::inboxes::enabled(conn).await? {
            supervisor.do_send(channel::Configure(inbox));
        }
        Ok(Self {
            events,
            presence,
            channels,
            inbound,
            conversations,
            supervisor,
            router,
            delivery,
            files,
            thumbnails,
            widget_limits: Arc::default(),
        })
    }
}

impl Hub {
    /// Stops the actors (channels first, so nothing new is sent). Work already started
    /// finishes in its own task; the outbox and the store keep everything else.
    pub async fn shutdown(&self) {
        let _ = self.supervisor.send(channel::Shutdown).await;
        let _ = self.conversations.send(conversation::Shutdown).await;
        let _ = self.router.send(router::Shutdown).await;
    }
}

/// Runs a future to completion in its own task and waits for it; if the waiter is
/// dropped (an actor stopped, a client left), the work still finishes.
pub async fn detached<T: 'static>(
    work: impl Future<Output = T> + 'static,
) -> Result<T, crate::db::StoreError> {
    use tracing::Instrument;
    actix_web::rt::spawn(work.in_current_span())
        .await
        .map_err(|e| crate::db::StoreError::Unavailable(format!("task failed: {e}")))
}
