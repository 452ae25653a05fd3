//! What every request handler and background task shares: the database, the settings, the
//! hub's running actors and the HTTP layer's limiters. Built once by
//! [`Application::build`](crate::startup::Application::build).

use std::sync::Arc;

use crate::auth::{HashGate, LoginLimiter};
use crate::config::Settings;
use crate::db::Database;
use crate::metrics::Metrics;
use crate::secrets::SecretKey;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    /// The store (SQLite or PostgreSQL).
    pub db: Database,
    /// The checked settings, with the public URL the hub was bound to.
    pub settings: Arc<Settings>,
    /// Signs CSRF tokens, visitor tokens and download links.
    pub(crate) secret: SecretKey,
    /// Sign-in attempts per address and per account.
    pub(crate) login_limiter: LoginLimiter,
    /// Bounds concurrent argon2 work.
    pub(crate) hash_gate: HashGate,
    /// Prometheus counters and histograms.
    pub(crate) metrics: Metrics,
    /// The running actors (channels, conversations, routing, delivery, realtime).
    pub hub: crate::hub::Hub,
    /// Keeps the report rollups current.
    pub reports: crate::reports::Refresher,
}
