//! HTTP routes: operations endpoints, the landing page and the JSON API under `/api/v1`.
//!
//! Conventions: ids are integers inside and strings outside (`"id": "42"`); lists use
//! cursor pagination (`?limit=&cursor=` → `{"data": [...], "next_cursor": ...}`); every
//! error is `{"error": {"code", "message"}}` (see [`error`]: every error becomes an answer there).

mod activity;
mod agents;
mod assets;
mod attachments;
mod audit;
mod auth;
mod canned;
mod contact_attributes;
mod contacts;
mod conversations;
pub(crate) mod error;
pub(crate) mod extract;
mod inboxes;
mod labels;
mod me;
mod notifications;
mod ops;
mod pages;
mod reports;
mod sla;
mod surveys;
mod teams;
mod views;
mod webhooks;
mod widget;
mod ws;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub(crate) use self::error::ApiError;
use crate::config::Settings;
use crate::db::types::{Availability, Role};
pub(crate) use crate::domain::PublicId;
use crate::store::MAX_PAGE;
use crate::store::agents::Agent;
pub(crate) use crate::views::{id_string, utc};

/// Registers every route and the extractor error handlers.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(settings.server.max_json_bytes)
            .error_handler(|err, _req| {
                use actix_web::error::JsonPayloadError as E;
                match &err {
                    E::ContentType => ApiError::unsupported_media_type(
                        "the body must be JSON with Content-Type: application/json",
                    ),
                    E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
                        ApiError::payload_too_large(format!(
                            "the body is larger than {limit} bytes"
                        ))
                    }
                    E::Deserialize(e) if e.is_eof() && e.line() == 1 && e.column() == 0 => {
                        ApiError::bad_request(
                            "empty_body",
                            "the request has no body: send a JSON object",
                        )
                    }
                    // serde's own words ("missing field `name` at line 1 column 2"),
                    // without actix's "Json deserialize error:" in front.
                    E::Deserialize(e) => {
                        ApiError::bad_request("malformed_json", format!("malformed JSON body: {e}"))
                    }
                    other => ApiError::bad_request(
                        "malformed_json",
                        format!("malformed JSON body: {other}"),
                    ),
                }
                .into()
            }),
    )
    .app_data(web::PathConfig::default().error_handler(|_err, req| {
        ApiError::not_found(format!("nothing at {}", req.path())).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request("invalid_query", format!("bad query string: {err}")).into()
    }))
    .configure(ops::configure)
    .configure(pages::configure)
    .configure(assets::configure)
    .configure(webhooks::configure)
    .configure(widget::configure)
    .configure(surveys::configure)
    .configure(attachments::configure_downloads)
    .service(
        web::scope("/api/v1")
            // Inside the headers below, so its refusals carry them too.
            .wrap(actix_web::middleware::from_fn(require_credentials))
            // Responses carry CSRF tokens, API tokens and generated passwords.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
            )
            .configure(auth::configure)
            .configure(me::configure)
            .configure(agents::configure)
            .configure(teams::configure)
            .configure(labels::configure)
            .configure(contact_attributes::configure)
            .configure(views::configure)
            .configure(canned::configure)
            .configure(audit::configure)
            .configure(inboxes::configure)
            .configure(sla::configure)
            .configure(notifications::configure)
            .configure(conversations::configure)
            .configure(attachments::configure)
            .configure(contacts::configure)
            .configure(reports::configure)
            .configure(ws::configure)
            .default_service(web::to(api_not_found)),
    )
    .default_service(web::to(api_not_found));
}

/// Middleware: runs the rest of the request to completion even if the client goes away.
///
/// Actix drops a handler's future when its client disconnects. On SQLite, dropping a query
/// future mid-flight makes diesel-async block the thread (`block_in_place`), which panics
/// on actix's single-threaded workers; a half-run handler would also leave work undone.
/// So every request runs in its own task, and only the wait for it is cancelled.
pub(crate) async fn run_to_completion(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    // With several nodes, a change is answered once its events are on the cluster's
    // stream: a client that hears "done" and then sees this node die still gets every
    // event of the change from another node.
    let events = (!matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ))
    .then(|| req.app_data::<web::Data<crate::state::AppState>>())
    .flatten()
    .map(|state| state.hub.events.clone())
    .filter(|events| events.link().is_some());
    let response = actix_web::rt::spawn(next.call(req).instrument(tracing::Span::current()))
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))??;
    if let Some(published) = events.and_then(|events| events.published())
        && response.status().is_success()
    {
        published.await;
    }
    Ok(response)
}

/// Middleware: counts and times each request by route pattern and logs it.
pub(crate) async fn observe(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<crate::state::AppState>>().cloned();
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
    // Tenths of a millisecond: enough for people, short in the log line.
    let millis = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
    if matches!(route.as_str(), "/health" | "/ready" | "/metrics") {
        tracing::debug!(method, route, status, millis, "request");
    } else {
        tracing::info!(method, path = request.path(), status, millis, "request");
    }
    Ok(response)
}

/// Answers 401 at once to an agents'-API request that carries no credentials at all (no
/// bearer token, no session cookie), so an anonymous caller learns nothing about a route's
/// body or path format from validation errors: handlers' extractors run side by side, and a
/// malformed body would otherwise answer 400 before the caller is known. Requests with
/// credentials are checked in full by the `Auth` extractor as before.
pub(crate) async fn require_credentials(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let public = req.path() == "/api/v1/auth/login";
    let has_bearer = req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION);
    let has_session = [extract::SESSION_COOKIE, extract::SECURE_SESSION_COOKIE]
        .iter()
        .any(|name| req.cookie(name).is_some());
    if public || has_bearer || has_session {
        return next.call(req).await.map(|r| r.map_into_left_body());
    }
    let refused = ApiError::unauthorized(
        "unauthenticated",
        "log in first, or send an API token as `Authorization: Bearer <token>`",
    );
    let response = actix_web::ResponseError::error_response(&refused);
    Ok(req.into_response(response).map_into_right_body())
}

/// Refuses a JSON body that carries a NUL character (`\u0000`) with 422, before any
/// handler reads it: PostgreSQL cannot store NUL in text (it answered 500), and one place
/// checks every JSON input of the agents' API and the widget's. Customers' messages from
/// providers are not refused: the inbound door replaces NUL with U+FFFD instead.
pub(crate) async fn refuse_nul_text(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use futures_util::StreamExt;
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/json"));
    let path = req.path();
    if !json || !(path.starts_with("/api/") || path.starts_with("/widget/api/")) {
        return next.call(req).await.map(|r| r.map_into_left_body());
    }
    let limit = req
        .app_data::<web::Data<crate::state::AppState>>()
        .map_or(1 << 20, |state| state.settings.server.max_json_bytes);
    let mut payload = actix_web::HttpMessage::take_payload(&mut req);
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            let refused =
                ApiError::payload_too_large(format!("the body is larger than {limit} bytes"));
            let response = actix_web::ResponseError::error_response(&refused);
            return Ok(req.into_response(response).map_into_right_body());
        }
        body.extend_from_slice(&chunk);
    }
    if has_escaped_nul(&body) {
        let refused = ApiError::invalid("body", "text must not contain NUL characters (\\u0000)");
        let response = actix_web::ResponseError::error_response(&refused);
        return Ok(req.into_response(response).map_into_right_body());
    }
    req.set_payload(actix_web::dev::Payload::from(body.freeze()));
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// Whether JSON text holds the escape `\u0000` (and not an escaped backslash followed by
/// the letters `u0000`).
fn has_escaped_nul(body: &[u8]) -> bool {
    body.windows(6).enumerate().any(|(at, window)| {
        window == b"\\u0000"
            && body[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// 405 when the path exists with other methods, else 404; JSON either way.
async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let what = format!("{} {}", req.method(), req.path());
    if req.resource_map().has_resource(req.path()) {
        Err(ApiError::method_not_allowed(format!(
            "{what}: method not allowed here"
        )))
    } else {
        Err(ApiError::not_found(format!("no endpoint {what}")))
    }
}

/// Serde helper: tells "absent" (`None`) from "null" (`Some(None)`) in PATCH bodies.
pub(crate) fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A list's `?limit=`: 50 when absent, refused outside 1..=MAX_PAGE.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

/// `?limit=&cursor=` of list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    pub(crate) limit: Option<i64>,
    pub(crate) cursor: Option<String>,
}

impl PageQuery {
    /// The validated limit and decoded cursor.
    pub(crate) fn parse(&self) -> Result<(i64, Option<i64>), ApiError> {
        let limit = page_limit(self.limit)?;
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "the cursor is not one this API returned",
                    )
                })
            })
            .transpose()?;
        Ok((limit, cursor))
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub(crate) struct Page<T> {
    pub(crate) data: Vec<T>,
    pub(crate) next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A full page gets a cursor (the last item's key); a short one is the end.
    pub(crate) fn new(data: Vec<T>, limit: i64, key_of_last: impl Fn(&T) -> i64) -> Self {
        let full = i64::try_from(data.len()).is_ok_and(|n| n == limit);
        let next_cursor = data
            .last()
            .filter(|_| full)
            .map(|t| key_of_last(t).to_string());
        Self { data, next_cursor }
    }
}

/// An agent as the API shows it (never the password hash).
#[derive(Debug, Serialize)]
pub(crate) struct AgentView {
    #[serde(serialize_with = "id_string")]
    pub(crate) id: i64,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) role: Role,
    /// What the agent chose (online, away or busy).
    pub(crate) availability: Availability,
    /// What they show now: their choice while connected to this node, offline otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<Availability>,
    pub(crate) capacity: Option<i64>,
    pub(crate) active: bool,
    pub(crate) last_login_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl AgentView {
    /// The view with the agent's live status, for pages that show who is there.
    pub(crate) fn live(mut self, presence: &crate::actors::presence::Presence) -> Self {
        self.status = Some(presence.status(self.id));
        self
    }
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            id: a.id,
            email: a.email.clone(),
            name: a.name.clone(),
            role: a.role,
            availability: a.availability,
            status: None,
            capacity: a.capacity,
            active: a.active,
            last_login_at: a.last_login_at.map(utc),
            created_at: utc(a.created_at),
            updated_at: utc(a.updated_at),
        }
    }
}

/// 204 No Content.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_escaped_nul(br#"{"content":"a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"content":"\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"content":"a\\u0000b"}"#));
        assert!(!has_escaped_nul(br#"{"content":"\u0001"}"#));
        assert!(!has_escaped_nul(b""));
    }
}
