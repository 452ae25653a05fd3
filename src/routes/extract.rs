//! Who is calling: the one extractor, [`Auth`], authenticates every API request (Bearer
//! token or session cookie), enforces CSRF on cookie-authenticated mutations and checks the
//! role its type parameter asks for, so no handler can forget a check.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};

use super::ApiError;
use crate::auth::token_hash;
use crate::db::types::Role;
use crate::state::AppState;
use crate::store::{self, Actor, agents::Agent};

/// Name of the session cookie over plain http.
pub(crate) const SESSION_COOKIE: &str = "sb_session";
/// Name over https: the `__Host-` prefix makes browsers refuse it from sibling subdomains.
pub(crate) const SECURE_SESSION_COOKIE: &str = "__Host-sb_session";
/// Header carrying the CSRF token on cookie-authenticated mutations.
pub(crate) const CSRF_HEADER: &str = "X-CSRF-Token";

/// The session cookie's name for this hub.
pub(crate) fn session_cookie_name(state: &AppState) -> &'static str {
    if state.settings.server.cookies_secure() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The client's address: the TCP peer, or, behind one trusted reverse proxy, the last
/// `X-Forwarded-For` entry (the one that proxy appended). Entries further left and the
/// `Forwarded` header are written by the client and never trusted.
pub(crate) fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The CSRF token of a session: derived from its cookie value with the hub's key, so it
/// needs no storage and dies with the session.
pub(crate) fn csrf_token(state: &AppState, session_token: &str) -> String {
    hex::encode(state.secret.sign("csrf", session_token.as_bytes()))
}

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub(crate) enum AuthMethod {
    /// A browser session; the raw cookie value is kept to derive the CSRF token.
    Session { session_id: i64, token: String },
    /// A personal API token.
    Token { token_id: i64 },
}

/// A role an endpoint requires.
pub(crate) trait RoleRequirement {
    fn allows(role: Role) -> bool;
}

/// Any active agent, admin or not.
pub(crate) struct AnyAgent;
/// Admins only.
pub(crate) struct AdminOnly;

impl RoleRequirement for AnyAgent {
    fn allows(_: Role) -> bool {
        true
    }
}

impl RoleRequirement for AdminOnly {
    fn allows(role: Role) -> bool {
        role == Role::Admin
    }
}

/// The authenticated caller of a request, with role `R` enforced.
pub(crate) struct Auth<R: RoleRequirement = AnyAgent> {
    pub(crate) agent: Agent,
    pub(crate) method: AuthMethod,
    pub(crate) ip: Option<IpAddr>,
    _role: PhantomData<R>,
}

/// Shorthand for endpoints that only admins may call.
pub(crate) type Admin = Auth<AdminOnly>;

impl<R: RoleRequirement> Auth<R> {
    /// The caller as the actor of an audited change.
    pub(crate) fn actor(&self) -> Actor {
        Actor::agent(self.agent.id, self.ip.map(|ip| ip.to_string()))
    }
}

impl<R: RoleRequirement + 'static> FromRequest for Auth<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("application state missing"))?
                .clone();
            // Other extractors of the same handler may fail first and drop this future;
            // the lookup runs in its own task so a SQLite query is never cut off.
            let (agent, method) = {
                let (req, state) = (req.clone(), state.clone());
                let lookup = async move { authenticate(&req, &state).await };
                actix_web::rt::spawn(tracing::Instrument::in_current_span(lookup))
                    .await
                    .map_err(ApiError::internal)??
            };
            if !R::allows(agent.role) {
                return Err(ApiError::forbidden(
                    "admin_required",
                    "this action requires the admin role",
                ));
            }
            Ok(Self {
                agent,
                method,
                ip: client_ip(&req, state.settings.server.trust_proxy_headers),
                _role: PhantomData,
            })
        })
    }
}

/// The signed-in agent of a page request (session cookie or token); `None` when signed out.
pub(crate) async fn session_agent(req: &HttpRequest, state: &AppState) -> Option<Agent> {
    authenticate(req, state).await.ok().map(|(agent, _)| agent)
}

async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(Agent, AuthMethod), ApiError> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "invalid_token",
                        "the Authorization header must be `Bearer <token>`",
                    )
                })
        })
        .transpose()?;

    if let Some(token) = bearer {
        let conn = &mut state.db.reader().await?;
        let (api_token, agent) = store::agents::find_token(conn, &token_hash(token))
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "the API token is unknown or revoked")
            })?;
        let stale = api_token
            .last_used_at
            .is_none_or(|at| store::now() - at > chrono::TimeDelta::minutes(1));
        if stale {
            let conn = &mut state.db.writer().await?;
            if let Err(error) = store::agents::touch_token(conn, api_token.id).await {
                tracing::warn!(%error, "could not record API token use");
            }
        }
        return Ok((
            agent,
            AuthMethod::Token {
                token_id: api_token.id,
            },
        ));
    }

    let Some(cookie) = req.cookie(session_cookie_name(state)) else {
        return Err(ApiError::unauthorized(
            "unauthenticated",
            "log in first, or send an API token as `Authorization: Bearer <token>`",
        ));
    };
    let token = cookie.value().to_owned();
    let conn = &mut state.db.reader().await?;
    let (session, agent) = store::agents::find_session(conn, &token_hash(&token))
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("session_expired", "the session has ended; log in again")
        })?;

    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| hex::decode(v.trim()).ok());
        let valid = sent.is_some_and(|sig| state.secret.verify("csrf", token.as_bytes(), &sig));
        if !valid {
            return Err(ApiError::forbidden(
                "csrf_failed",
                "missing or wrong X-CSRF-Token header (the token is returned by login and GET /api/v1/me)",
            ));
        }
    }
    Ok((
        agent,
        AuthMethod::Session {
            session_id: session.id,
            token,
        },
    ))
}
