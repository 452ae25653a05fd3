//! Login and logout.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::extract::{self, Auth, AuthMethod};
use super::{AgentView, utc};
use crate::auth;
use crate::domain::{EmailAddress, Password};
use crate::metrics::LoginOutcome;
use crate::state::AppState;
use crate::store::{self, Actor};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

/// The session cookie with all its attributes (the removal cookie must match them).
fn session_cookie(state: &AppState, value: String) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(extract::session_cookie_name(state), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.server.cookies_secure())
}

/// The device cookie: set when an account signs in on a browser, so that browser is not
/// locked out with strangers guessing the password (OWASP's device-cookie scheme).
const DEVICE_COOKIE: &str = "sb_device";

/// `{nonce}.{hex HMAC(hub key, email, nonce)}`: bound to the account, unforgeable.
fn device_cookie_value(state: &AppState, email: &EmailAddress, nonce: &str) -> String {
    let signed = format!("{}\n{nonce}", email.as_str());
    let mac = hex::encode(state.secret.sign("device", signed.as_bytes()));
    format!("{nonce}.{mac}")
}

/// The nonce of the request's device cookie when it is valid for this account.
fn known_device(req: &HttpRequest, state: &AppState, email: &EmailAddress) -> Option<String> {
    let cookie = req.cookie(DEVICE_COOKIE)?;
    let (nonce, mac) = cookie.value().split_once('.')?;
    let mac = hex::decode(mac).ok()?;
    let signed = format!("{}\n{nonce}", email.as_str());
    let valid = nonce.len() == 32
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
        && state.secret.verify("device", signed.as_bytes(), &mac);
    valid.then(|| nonce.to_owned())
}

fn invalid_credentials(state: &AppState) -> ApiError {
    state.metrics.login(LoginOutcome::Failure);
    ApiError::unauthorized("invalid_credentials", "wrong email or password")
}

/// Email + password → session cookie and the CSRF token for later mutations.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = extract::client_ip(&req, state.settings.server.trust_proxy_headers);
    // Parsed first so only well-formed, bounded emails become rate-limiter keys.
    let email = EmailAddress::parse(&body.email).map_err(|r| ApiError::invalid("email", r))?;
    let device = known_device(&req, &state, &email);
    if let Err(wait) = state
        .login_limiter
        .check(ip, email.as_str(), device.as_deref())
    {
        state.metrics.login(LoginOutcome::RateLimited);
        tracing::warn!(?ip, email = %email, "login rate limited");
        return Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64));
    }
    if body.password.is_empty() {
        return Err(ApiError::invalid("password", "is required"));
    }
    if body.password.chars().count() > Password::MAX_CHARS {
        return Err(invalid_credentials(&state));
    }

    let agent = store::agents::find_by_email(&mut state.db.reader().await?, &email).await?;
    let stored = agent.as_ref().map(|a| a.password_hash.clone());
    let candidate = body.into_inner().password;
    // The decoy is read on the blocking thread: right after start it may still be in the making.
    let matches = state
        .hash_gate
        .run(move || {
            let stored: &str = match &stored {
                Some(hash) => hash,
                None => auth::decoy_hash(),
            };
            auth::verify_password(stored, &candidate)
        })
        .await?;
    // A deactivated account answers like a wrong password: the response must not confirm
    // a former colleague's password.
    let agent = match agent {
        Some(agent) if matches && agent.active => agent,
        _ => {
            tracing::warn!(?ip, email = %email, "failed login");
            return Err(invalid_credentials(&state));
        }
    };

    let token = auth::new_secret("");
    let ttl = state.settings.auth.session_ttl;
    let expires_at = store::now() + TimeDelta::from_std(ttl).map_err(ApiError::internal)?;
    let actor = Actor::agent(agent.id, ip.map(|ip| ip.to_string()));
    let session = store::agents::start_session(
        &mut state.db.writer().await?,
        agent.id,
        &auth::token_hash(&token),
        expires_at,
        &actor,
    )
    .await?;
    // The answer shows this login, not the one before it.
    let agent = crate::store::agents::Agent {
        last_login_at: Some(session.created_at),
        ..agent
    };
    state.metrics.login(LoginOutcome::Success);

    let cookie = session_cookie(&state, token.clone())
        .max_age(time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish();
    let nonce = device.unwrap_or_else(|| hex::encode(auth::random_bytes::<16>()));
    let device_cookie = Cookie::build(DEVICE_COOKIE, device_cookie_value(&state, &email, &nonce))
        .path("/api/v1/auth")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.server.cookies_secure())
        .max_age(time::Duration::days(365))
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .cookie(device_cookie)
        .json(json!({
            "agent": AgentView::from(&agent),
            "csrf_token": extract::csrf_token(&state, &token),
            "expires_at": utc(expires_at),
        })))
}

/// Ends the cookie session. API tokens are revoked with `DELETE /api/v1/me/tokens/{id}`.
async fn logout(state: web::Data<AppState>, caller: Auth) -> Result<HttpResponse, ApiError> {
    let AuthMethod::Session { session_id, .. } = caller.method else {
        return Err(ApiError::bad_request(
            "not_a_session",
            "this request used an API token; revoke it with DELETE /api/v1/me/tokens/{id}",
        ));
    };
    store::agents::end_session(&mut state.db.writer().await?, session_id, &caller.actor()).await?;
    let mut removal = session_cookie(&state, String::new()).finish();
    removal.make_removal();
    Ok(HttpResponse::NoContent().cookie(removal).finish())
}
