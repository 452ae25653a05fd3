//! The running hub: every actor and shared registry, started once and reached through
//! [`Hub`]. This is the composition root: it wires the channels, the inbound door, the
//! conversations and the supervisors together (see `actors` for the picture).

use std::sync::Arc;

use actix::{Actor, Addr};

use crate::actors::{channel, delivery, presence, router, thumbnails};
use crate::channels::Channels;
use crate::channels::widget::limits::{SocketSlots, VisitorLimits};
use crate::channels::widget::quota::UploadQuotas;
use crate::config::Settings;
use crate::conversations::{ConversationRegistry, Conversations};
use crate::db::Database;
use crate::inbound::{Inbound, InboundWriter};
use crate::realtime::EventHub;

/// Addresses of the running actors.
#[derive(Clone)]
pub struct Hub {
    pub events: Arc<EventHub>,
    pub(crate) presence: Arc<presence::Presence>,
    pub(crate) channels: Channels,
    /// The one way in for customers' events.
    pub(crate) inbound: Inbound,
    pub(crate) conversations: Conversations,
    pub(crate) supervisor: Addr<channel::ChannelSupervisor>,
    pub(crate) router: Addr<router::Router>,
    pub(crate) delivery: Addr<delivery::DeliveryTracker>,
    /// SLA policies, business hours and the clock every SLA decision reads.
    pub sla: Arc<crate::sla::Sla>,
    /// The escalation supervisor (SLA clocks and their actions).
    pub(crate) escalation: Addr<crate::sla::Escalation>,
    /// Attachment files: limits, blob store, signed URLs.
    pub files: Arc<crate::files::Files>,
    pub(crate) thumbnails: thumbnails::Thumbnailer,
    /// Mails unread notifications (only when an SMTP server is configured).
    pub(crate) mailer: Option<Addr<crate::notify::Mailer>>,
    /// Its counts, for `/metrics`.
    pub(crate) mailer_metrics: Arc<crate::notify::MailerMetrics>,
    /// Widget visitors' rate limits.
    pub(crate) widget_limits: Arc<VisitorLimits>,
    /// Widget visitors' open sockets, per address and in all.
    pub(crate) visitor_sockets: Arc<SocketSlots>,
    /// Widget visitors' daily upload quotas, with the uploads in flight.
    pub(crate) widget_quotas: Arc<UploadQuotas>,
    /// Exactly-one jobs across nodes (an inbox's polling).
    pub(crate) leases: Arc<crate::db::leases::Leases>,
}

impl Hub {
    /// Starts every actor on the current actix system and the channel actors of all
    /// enabled inboxes.
    pub(crate) async fn start(
        db: Database,
        settings: Arc<Settings>,
        files: Arc<crate::files::Files>,
        updates: &crate::metrics::ChannelUpdates,
    ) -> Result<Self, crate::db::StoreError> {
        let events = Arc::new(EventHub::new(
            settings.realtime.replay_events,
            settings.realtime.client_buffer,
        ));
        let presence = Arc::new(presence::Presence::new(events.clone()));
        let sla = Arc::new(crate::sla::Sla::new(Arc::default()));
        events.watch_sla(sla.clone());
        let escalation =
            crate::sla::Escalation::new(db.clone(), sla.clone(), events.clone()).start();
        let channels = Channels::default();
        let delivery = delivery::DeliveryTracker::new(db.clone(), events.clone()).start();
        let router = router::Router::new(db.clone(), presence.clone()).start();
        let thumbnails = thumbnails::Thumbnailer::start(db.clone(), events.clone(), files.clone());
        let notifier = crate::notify::Notifier::new(db.clone(), events.clone()).start();
        let mailer_metrics = Arc::new(crate::notify::MailerMetrics::default());
        let mailer = crate::notify::start_mailer(
            db.clone(),
            presence.clone(),
            &settings.notifications,
            settings.server.public_url.clone(),
            mailer_metrics.clone(),
        );
        let writer = InboundWriter::start(
            db.clone(),
            events.clone(),
            router.clone(),
            thumbnails.clone(),
            notifier.clone(),
            settings.inbound.clone(),
        );
        let inbound = Inbound::new(
            db.clone(),
            files.clone(),
            writer,
            delivery.clone(),
            updates.clone(),
            events.clone(),
        );
        let leases = crate::db::leases::Leases::new(&db);
        let supervisor = channel::ChannelSupervisor::new(
            db.clone(),
            settings.clone(),
            channels.clone(),
            delivery.clone(),
            files.clone(),
            inbound.clone(),
            leases.clone(),
        )
        .start();
        let conversations = Conversations::new(
            ConversationRegistry::new(
                db.clone(),
                events.clone(),
                crate::conversations::Peers {
                    channels: supervisor.clone(),
                    router: router.clone(),
                    delivery: delivery.clone(),
                    notifier: notifier.clone(),
                },
                settings.realtime.conversation_idle,
                settings.attachments.max_message_bytes,
            )
            .start(),
        );
        router.do_send(router::Attach {
            conversations: conversations.registry().clone(),
        });
        escalation.do_send(crate::sla::Attach {
            conversations: conversations.clone(),
        });
        actix_web::rt::spawn(crate::conversations::surveys::hand_out(
            events.clone(),
            db.clone(),
            supervisor.clone(),
        ));
        actix_web::rt::spawn(crate::channels::widget::watch_presence(
            events.clone(),
            presence.clone(),
            sla.clone(),
            db.clone(),
        ));
        // Awaited, so every enabled inbox answers its webhooks before the server accepts
        // the first request (a retried webhook must never get 404 during a restart).
        let enabled = {
            let conn = &mut db.reader().await?;
            crate::store::inboxes::enabled(conn).await?
        };
        for inbox in enabled {
            let inbox_id = inbox.id;
            if let Err(error) = supervisor.send(channel::Configure(inbox)).await {
                tracing::warn!(inbox_id, %error, "channel supervisor unavailable at start");
            }
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
            sla,
            escalation,
            mailer,
            mailer_metrics,
            files,
            thumbnails,
            widget_limits: Arc::default(),
            visitor_sockets: Arc::new(SocketSlots::new(
                settings.realtime.visitor_sockets_per_address,
                settings.realtime.max_visitor_sockets,
            )),
            widget_quotas: Arc::new(UploadQuotas::new(&settings.attachments)),
            leases,
        })
    }
}

impl Hub {
    /// Stops the actors (channels first, so nothing new is sent). Work already started
    /// finishes in its own task; the outbox and the store keep everything else.
    pub async fn shutdown(&self) {
        let _ = self.supervisor.send(channel::Shutdown).await;
        let _ = self
            .conversations
            .registry()
            .send(crate::conversations::Shutdown)
            .await;
        let _ = self.router.send(router::Shutdown).await;
        let _ = self.escalation.send(crate::sla::Shutdown).await;
        if let Some(mailer) = &self.mailer {
            let _ = mailer.send(crate::notify::StopMailer).await;
        }
        // Other nodes take this node's jobs over at their next try.
        self.leases.release_all().await;
    }
}
