//! Who is calling: passwords, session cookies, personal API tokens, CSRF and roles.
//!
//! One extractor, [`Auth`], authenticates every API request (Bearer token or session
//! cookie), enforces CSRF on cookie-authenticated mutations and checks the role its type
//! parameter asks for, so no handler can forget a check.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::db::types::Role;
use crate::domain::Password;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{self, Actor, agents::Agent};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sb_session";
/// Header carrying the CSRF token on cookie-authenticated mutations.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Prefix of personal API tokens, so leaked ones are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "sb_pat_";

/// Cryptographically random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A random URL-safe secret of 32 bytes, with an optional recognisable prefix.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// How session and API tokens are stored: SHA-256, hex. The tokens carry 256 random bits,
/// so a fast hash is enough (unlike passwords).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with argon2id (OWASP's recommended parameters, the crate defaults).
/// CPU-heavy: call it on a blocking thread.
pub fn hash_password(password: &Password) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against a stored hash. CPU-heavy: call it on a blocking thread.
pub fn verify_password(stored_hash: &str, candidate: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|hash| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the email is unknown so a failed
/// login takes as long whether or not the account exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(&random_bytes::<16>(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Runs CPU-heavy work (argon2) off the async workers.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work).await.map_err(ApiError::internal)
}

/// Login attempt limits, per client address and per account.
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    /// `per_ip` and `per_account` attempts per minute, each with a burst of that size.
    pub fn new(per_ip: NonZeroU32, per_account: NonZeroU32) -> Self {
        Self {
            per_ip: RateLimiter::keyed(Quota::per_minute(per_ip)),
            per_account: RateLimiter::keyed(Quota::per_minute(per_account)),
        }
    }

    /// Counts one attempt; `Err(wait)` when the address or the account is over its limit.
    pub fn check(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&ip)
                .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        }
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    /// Forgets keys whose limits have fully recovered, bounding memory under attack.
    pub fn shrink(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}

/// The client's address: the peer, or the proxy's `X-Forwarded-For` when configured.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers {
        let info = req.connection_info();
        if let Some(addr) = info.realip_remote_addr() {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                return Some(ip);
            }
            if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
                return Some(sock.ip());
            }
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The CSRF token of a session: derived from its cookie value with the hub's key, so it
/// needs no storage and dies with the session.
pub fn csrf_token(state: &AppState, session_token: &str) -> String {
    hex::encode(state.secret.sign("csrf", session_token.as_bytes()))
}

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    /// A browser session; the raw cookie value is kept to derive the CSRF token.
    Session { session_id: i64, token: String },
    /// A personal API token.
    Token { token_id: i64 },
}

/// A role an endpoint requires.
pub trait RoleRequirement {
    fn allows(role: Role) -> bool;
}

/// Any active agent, admin or not.
pub struct AnyAgent;
/// Admins only.
pub struct AdminOnly;

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
pub struct Auth<R: RoleRequirement = AnyAgent> {
    pub agent: Agent,
    pub method: AuthMethod,
    pub ip: Option<IpAddr>,
    _role: PhantomData<R>,
}

/// Shorthand for endpoints that only admins may call.
pub type Admin = Auth<AdminOnly>;

impl<R: RoleRequirement> Auth<R> {
    /// The caller as the actor of an audited change.
    pub fn actor(&self) -> Actor {
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

    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
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
