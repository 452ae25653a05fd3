//! Prometheus metrics (`GET /metrics`, text exposition format) and the per-request
//! middleware that records them and writes one access-log line per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::startup::AppState;

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
struct BuildLabels {
    version: &'static str,
    backend: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The hub's metrics; one registry per application instance.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteLabels>,
    logins: Family<OutcomeLabels, Counter>,
    inbound: Family<ChannelLabels, Counter>,
}

/// Result of a login attempt, as counted by `switchboard_login_attempts_total`.
#[derive(Clone, Copy, Debug)]
pub enum LoginOutcome {
    Success,
    Failure,
    RateLimited,
}

impl Metrics {
    pub fn new(backend: &'static str) -> Self {
        let mut registry = Registry::with_prefix("switchboard");
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

    pub fn login(&self, outcome: LoginOutcome) {
        let outcome = match outcome {
            LoginOutcome::Success => "success",
            LoginOutcome::Failure => "failure",
            LoginOutcome::RateLimited => "rate_limited",
        };
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts events of an accepted webhook.
    pub fn inbound_events(&self, channel_type: &str, count: usize) {
        self.inbound
            .get_or_create(&ChannelLabels {
                channel_type: channel_type.to_owned(),
            })
            .inc_by(count as u64);
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
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

/// Middleware: counts and times each request by route pattern and logs it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(req).await?;
    let elapsed = started.elapsed();
    let request = response.request();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str();
    let status = response.status().as_u16();
    if let Some(state) = state {
        state
            .metrics
            .observe(method, &route, status, elapsed.as_secs_f64());
    }
    let millis = elapsed.as_secs_f64() * 1000.0;
    if matches!(route.as_str(), "/health" | "/ready" | "/metrics") {
        tracing::debug!(method, route, status, millis, "request");
    } else {
        tracing::info!(method, path = request.path(), status, millis, "request");
    }
    Ok(response)
}
