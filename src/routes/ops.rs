//! Operations endpoints: health, readiness, metrics.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::ApiError;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

/// Liveness: the process answers.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers and every embedded migration is applied.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend_name();
    if let Err(error) = state.db.ping().await {
        tracing::warn!(%error, "not ready: database unreachable");
        return Err(ApiError::unavailable(format!(
            "{backend} database unreachable"
        )));
    }
    let pending = state.db.pending_migrations().await?;
    if !pending.is_empty() {
        return Err(ApiError::unavailable(format!(
            "migrations not applied: {}; run `switchboard migrate`",
            pending.join(", ")
        )));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": backend})))
}

/// Prometheus text exposition.
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Read now, so the free-disk gauge is fresh at every scrape, not only after uploads.
    let _ = state.hub.files.free_disk_bytes();
    let body = state.metrics.encode().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body))
}
