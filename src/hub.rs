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
    /// Whether this node runs the hub's shared housekeeping (with several nodes, the
    /// holder of the `housekeeping` lease).
    pub(crate) housekeeper: Arc<std::sync::atomic::AtomicBool>,
}

impl Hub {
    /// Starts every actor on the current actix system and the channel actors of all
    /// enabled inboxes.
    pub(crate) async fn start(
        db: Database,
        settings: Arc<Settings>,
        files: Arc<crate::files::Files>,
        updates: &crate::metrics::ChannelUpdates,
        cluster: Option<crate::realtime::cluster::Joined>,
    ) -> Result<Self, crate::db::StoreError> {
        let (replay, buffer) = (
            settings.realtime.replay_events,
            settings.realtime.client_buffer,
        );
        let events = Arc::new(match &cluster {
            Some(joined) => EventHub::clustered(replay, buffer, joined),
            None => EventHub::new(replay, buffer),
        });
        let presence = Arc::new(presence::Presence::new(events.clone()));
        let notices = cluster.map(|joined| {
            let local = Arc::new(presence::NodeState {
                presence: presence.clone(),
            });
            joined.run(events.clone(), local, presence.clone())
        });
        let leases = crate::db::leases::Leases::new(&db);
        // With several nodes, one fires SLA clocks and keeps house at a time (leases); a
        // single node does both itself.
        let leader = |key| match &events.link() {
            Some(_) => leases.follow(key),
            None => Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let sla_leader = leader("sla");
        let housekeeper = leader("housekeeping");
        let sla = Arc::new(crate::sla::Sla::new(Arc::default()));
        events.watch_sla(sla.clone());
        let escalation =
            crate::sla::Escalation::new(db.clone(), sla.clone(), events.clone(), sla_leader)
                .start();
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
        if let Some(notices) = notices {
            actix_web::rt::spawn(follow_notices(
                notices,
                db.clone(),
                events.clone(),
                supervisor.clone(),
                escalation.clone(),
                router.clone(),
            ));
        }
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
            housekeeper,
        })
    }
}

/// Acts on what an admin changed through another node: this node's channel actors, open
/// sockets' inboxes and SLA policies follow.
async fn follow_notices(
    mut notices: tokio::sync::mpsc::Receiver<crate::realtime::cluster::Notice>,
    db: Database,
    events: Arc<EventHub>,
    supervisor: Addr<channel::ChannelSupervisor>,
    escalation: Addr<crate::sla::Escalation>,
    router: Addr<router::Router>,
) {
    use crate::realtime::cluster::Notice;
    while let Some(notice) = notices.recv().await {
        let span = tracing::debug_span!("cluster_notice", ?notice);
        let outcome: Result<(), crate::db::StoreError> = tracing::Instrument::instrument(
            async {
                match notice {
                    Notice::Inbox(id) => {
                        let found =
                            crate::store::inboxes::find(&mut db.reader().await?, id).await?;
                        match found {
                            Some(inbox) => {
                                let _ = supervisor.send(channel::Configure(inbox)).await;
                            }
                            None => {
                                let _ = supervisor.send(channel::Remove(id)).await;
                            }
                        }
                    }
                    Notice::Memberships(agent_id) => {
                        let ids =
                            crate::store::inboxes::ids_of_member(&mut db.reader().await?, agent_id)
                                .await?;
                        events.set_inboxes(agent_id, &ids.into_iter().collect());
                        let _ = router.try_send(router::AgentAvailable { agent_id });
                    }
                    Notice::Sla => {
                        let _ = escalation.try_send(crate::sla::Reload);
                    }
                }
                Ok(())
            },
            span,
        )
        .await;
        if let Err(error) = outcome {
            // The periodic passes and the next start reread everything anyway.
            tracing::warn!(%error, "cannot follow another node's change");
        }
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
        // And forget its agents and viewers now rather than after the expiry.
        if let Some(link) = self.events.link() {
            link.leave().await;
        }
    }
}
