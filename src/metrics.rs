//! Prometheus metrics (`GET /metrics`, text exposition format). The HTTP layer's
//! middleware (`routes::observe`) records each request here.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/api/v1/agents/{id}`), never the raw path, to bound cardinality.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpdateLabels {
    /// The channel type (`telegram`, `whatsapp`, `api`, `widget`): a fixed set, never an inbox id.
    channel: &'static str,
    outcome: UpdateOutcome,
}

/// What became of one provider update, as counted by `switchboard_channel_updates_total`.
#[derive(
    Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue,
)]
#[allow(non_camel_case_types)]
pub(crate) enum UpdateOutcome {
    /// A message, edit, block or typing event was stored (or was already).
    stored,
    /// Deliberately not handled (another update kind, an ignored group).
    ignored,
    /// Could not be read; kept raw for an admin to replay.
    unreadable,
}

/// The counter of provider updates by channel and outcome, shared with the inbound door
/// (which the polling loop uses too, outside any request).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChannelUpdates(Family<UpdateLabels, Counter>);

impl ChannelUpdates {
    pub(crate) fn count(&self, channel: &'static str, outcome: UpdateOutcome) {
        self.0
            .get_or_create(&UpdateLabels { channel, outcome })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    /// `visitor_quota`, `inbox_quota` or `disk_floor`: a fixed set, never an inbox or visitor.
    reason: &'static str,
}

/// Uploads refused for storage (widget quotas, the free-disk floor) and the blob store's
/// free disk space; made with the files, before the hub starts.
#[derive(Clone, Debug)]
pub(crate) struct UploadMetrics {
    refused: Family<RefusalLabels, Counter>,
    free_disk: Gauge,
    /// Whether the blob store is on this machine's disk (no free-space gauge on S3).
    on_disk: bool,
}

impl UploadMetrics {
    pub(crate) fn new(on_disk: bool) -> Self {
        Self {
            refused: Family::default(),
            free_disk: Gauge::default(),
            on_disk,
        }
    }

    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&RefusalLabels { reason }).inc();
    }

    pub(crate) fn set_free_disk(&self, bytes: u64) {
        self.free_disk.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    backend: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The hub's metrics; one registry per application instance.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteLabels>,
    logins: Family<OutcomeLabels, Counter>,
    inbound: Family<ChannelLabels, Counter>,
}

/// Result of a login attempt, as counted by `switchboard_login_attempts_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LoginOutcome {
    Success,
    Failure,
    RateLimited,
}

impl Metrics {
    /// The metrics, counting provider updates into `updates`, uploads' refusals into
    /// `uploads` and the database's statements into `statements` (all made before the hub
    /// starts), with the running hub's own counters.
    pub(crate) fn new(
        backend: &'static str,
        updates: &ChannelUpdates,
        uploads: &UploadMetrics,
        statements: &Counter,
        hub: &crate::hub::Hub,
    ) -> Self {
        let (sla, mail, leases_held) = (&hub.sla.metrics, &hub.mailer_metrics, hub.leases.held());
        let cluster_lost = hub.events.link().map(|link| &link.lost);
        let mut registry = Registry::with_prefix("switchboard");
        if let Some(lost) = cluster_lost {
            registry.register(
                "cluster_events_lost",
                "Realtime events this node could not hand to the cluster's stream (NATS unreachable for long); clients that missed them reload",
                lost.clone(),
            );
        }
        registry.register(
            "leases_held",
            "Exactly-one jobs this node runs now, by job (poll: an inbox's polling; sla and housekeeping with several nodes); the other nodes wait for a node's lease to end",
            leases_held.clone(),
        );
        registry.register(
            "sla_synced",
            "Conversations whose SLA clocks the escalation supervisor wrote",
            sla.synced.clone(),
        );
        registry.register(
            "sla_fired",
            "SLA warnings and breaches recorded (and their actions run) by this node",
            sla.fired.clone(),
        );
        registry.register(
            "sla_start_pass_milliseconds",
            "How long the supervisor's first pass after start took: timers reloaded, missed changes synced, due clocks fired",
            sla.start_pass_ms.clone(),
        );
        registry.register(
            "sla_full_pass_milliseconds",
            "How long the latest full pass (every 30 s: stale conversations, due clocks) took",
            sla.full_pass_ms.clone(),
        );
        registry.register(
            "notification_emails_sent",
            "Notification digests handed to the SMTP server",
            mail.sent.clone(),
        );
        registry.register(
            "notification_emails_failed",
            "Notification digests the SMTP server refused or could not take (retried next pass)",
            mail.failed.clone(),
        );
        registry.register(
            "db_statements",
            "Statements sent to the database (transaction statements included)",
            statements.clone(),
        );
        registry.register(
            "channel_updates",
            "Provider updates by channel and outcome (stored, ignored, unreadable)",
            updates.0.clone(),
        );
        registry.register(
            "uploads_refused",
            "Uploads refused for storage, by reason (visitor_quota, inbox_quota, disk_floor)",
            uploads.refused.clone(),
        );
        if uploads.on_disk {
            registry.register(
                "blob_store_free_bytes",
                "Free bytes on the filesystem blob store's disk (as of the last upload or scrape)",
                uploads.free_disk.clone(),
            );
        }
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response",
            durations.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "login_attempts",
            "Login attempts by outcome",
            logins.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                backend,
            })
            .set(1);
        registry.register(
            "build_info",
            "Version and storage backend of this hub",
            build,
        );
        let inbound = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "inbound_events",
            "Inbound channel events accepted (stored, deduplicated or applied)",
            inbound.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            logins,
            inbound,
        }
    }

    pub(crate) fn login(&self, outcome: LoginOutcome) {
        let outcome = match outcome {
            LoginOutcome::Success => "success",
            LoginOutcome::Failure => "failure",
            LoginOutcome::RateLimited => "rate_limited",
        };
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts events of an accepted webhook.
    pub(crate) fn inbound_events(&self, channel_type: &str, count: usize) {
        self.inbound
            .get_or_create(&ChannelLabels {
                channel_type: channel_type.to_owned(),
            })
            .inc_by(count as u64);
    }

    /// The registry in Prometheus text format.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Records one answered request. Every label comes from a closed set (a method nobody
    /// defined is `OTHER`, a path no route matched is `unmatched`), so made-up requests
    /// cannot grow the registry without bound.
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = known_method(method);
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}

/// The HTTP method as a metric label: one of the standard ones, else `OTHER`.
fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}
