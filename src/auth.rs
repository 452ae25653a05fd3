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

/// Name of the session cookie over plain http.
pub const SESSION_COOKIE: &str = "sb_session";
/// Name over https: the `__Host-` prefix makes browsers refuse it from sibling subdomains.
pub const SECURE_SESSION_COOKIE: &str = "__Host-sb_session";

/// The session cookie's name for this hub.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.settings.server.cookies_secure() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}
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

/// The last `n` characters of a secret, all a masked display shows of it.
pub fn last_chars(secret: &str, n: usize) -> &str {
    let start = secret
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(at, _)| at);
    if n == 0 { "" } else { &secret[start..] }
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
/// login takes as long whether or not the account exists. Made once, at start-up
/// ([`crate::startup::Application::build`]), on a blocking thread.
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

/// At most this many argon2 computations at once per core: each takes ~19 MiB and real
/// CPU, so a flood of logins must queue, not exhaust memory.
const HASHES_PER_CORE: usize = 2;

/// Bounds concurrent password hashing; a request that waits too long gets 503 + Retry-After.
pub struct HashGate {
    permits: tokio::sync::Semaphore,
    wait: Duration,
}

impl Default for HashGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores * HASHES_PER_CORE, Duration::from_secs(5))
    }
}

impl HashGate {
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: tokio::sync::Semaphore::new(permits),
            wait,
        }
    }

    /// Runs argon2 work on the blocking pool once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| ApiError::busy("too many sign-ins at once; try again in a moment"))?
            .map_err(ApiError::internal)?;
        blocking(work).await
    }
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
                .check_key(&limiter_key(ip))
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

/// One IPv6 user usually holds a whole /64, so addresses are limited per /64.
fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The client's address: the TCP peer, or, behind one trusted reverse proxy, the last
/// `X-Forwarded-For` entry (the one that proxy appended). Entries further left and the
/// `Forwarded` header are written by the client and never trusted.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
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

/// The signed-in agent of a page request (session cookie or token); `None` when signed out.
pub async fn session_agent(req: &HttpRequest, state: &AppState) -> Option<Agent> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter_key(a), limiter_key(b));
        assert_ne!(limiter_key(a), limiter_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limiter_key(v4), v4);
    }

    #[actix_web::test]
    async fn the_hash_gate_turns_a_flood_into_503s_not_memory() {
        let gate = std::sync::Arc::new(HashGate::new(1, Duration::from_millis(50)));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = gate.clone();
        let holder = actix_web::rt::spawn(async move {
            busy.run(move || {
                let _ = hold.recv();
            })
            .await
        });
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        let refused = gate.run(|| ()).await.expect_err("the only slot is taken");
        assert_eq!(refused.code(), "busy");
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert!(gate.run(|| ()).await.is_ok(), "free again");
    }
}
