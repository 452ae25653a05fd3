//! HTTP routes: operations endpoints, the landing page and the JSON API under `/api/v1`.
//!
//! Conventions: ids are integers inside and strings outside (`"id": "42"`); lists use
//! cursor pagination (`?limit=&cursor=` → `{"data": [...], "next_cursor": ...}`); every
//! error is `{"error": {"code", "message"}}` (see [`crate::error`]).

mod agents;
pub mod attachments;
mod audit;
mod auth;
mod canned;
mod contacts;
mod conversations;
mod inboxes;
mod me;
mod ops;
pub mod pages;
mod teams;
mod webhooks;
mod widget;
mod ws;

use std::fmt;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::db::types::{Availability, Role};
use crate::error::ApiError;
use crate::store::MAX_PAGE;
use crate::store::agents::Agent;

/// Registers every route and the extractor error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
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
    .configure(webhooks::configure)
    .configure(widget::configure)
    .configure(attachments::configure_downloads)
    .service(
        web::scope("/api/v1")
            // Responses carry CSRF tokens, API tokens and generated passwords.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((actix_web::http::header::CACHE_CONTROL, "no-store")),
            )
            .configure(auth::configure)
            .configure(me::configure)
            .configure(agents::configure)
            .configure(teams::configure)
            .configure(canned::configure)
            .configure(audit::configure)
            .configure(inboxes::configure)
            .configure(conversations::configure)
            .configure(attachments::configure)
            .configure(contacts::configure)
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
pub async fn run_to_completion(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    actix_web::rt::spawn(next.call(req).instrument(tracing::Span::current()))
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
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

/// An id as clients see it: a string (`"42"`); integers are accepted on input too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicId(pub i64);

impl<'de> Deserialize<'de> for PublicId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = PublicId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id such as \"42\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PublicId, E> {
                v.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(PublicId)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PublicId, E> {
                i64::try_from(v)
                    .ok()
                    .filter(|id| *id > 0)
                    .map(PublicId)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PublicId, E> {
                Some(v)
                    .filter(|id| *id > 0)
                    .map(PublicId)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// Serde helper: a stored integer id as a string.
pub fn id_string<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Serde helper for `Option<i64>` ids.
pub fn opt_id_string<S: serde::Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// Serde helper: tells "absent" (`None`) from "null" (`Some(None)`) in PATCH bodies.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Stored times are naive UTC; the API always shows them with their zone.
pub fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(at, Utc)
}

/// A list's `?limit=`: 50 when absent, refused outside 1..=MAX_PAGE.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
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
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated limit and decoded cursor.
    pub fn parse(&self) -> Result<(i64, Option<i64>), ApiError> {
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
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A full page gets a cursor (the last item's key); a short one is the end.
    pub fn new(data: Vec<T>, limit: i64, key_of_last: impl Fn(&T) -> i64) -> Self {
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
pub struct AgentView {
    #[serde(serialize_with = "id_string")]
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub availability: Availability,
    pub capacity: Option<i64>,
    pub active: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            id: a.id,
            email: a.email.clone(),
            name: a.name.clone(),
            role: a.role,
            availability: a.availability,
            capacity: a.capacity,
            active: a.active,
            last_login_at: a.last_login_at.map(utc),
            created_at: utc(a.created_at),
            updated_at: utc(a.updated_at),
        }
    }
}

/// 204 No Content.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
