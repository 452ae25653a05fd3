//! The caller's own account: profile, password and personal API tokens.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiError;
use super::extract::{self, Auth, AuthMethod};
use super::{AgentView, PublicId, id_string, no_content, utc};
use crate::auth::{self, MAX_API_TOKENS, NewApiToken};
use crate::db::types::Availability;
use crate::domain::{DisplayName, Password};
use crate::state::AppState;
use crate::store::{self, agents::ApiToken};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/me/password", web::put().to(change_password))
        .route("/me/availability", web::put().to(set_availability))
        .route("/me/tokens", web::get().to(list_tokens))
        .route("/me/tokens", web::post().to(create_token))
        .route("/me/tokens/{id}", web::delete().to(delete_token));
}

/// The caller, for a browser session the CSRF token its mutations must send, and which
/// reports they read (`all`, `own` or `none`: the web app shows the Reports tab by it).
async fn me(state: web::Data<AppState>, caller: Auth) -> HttpResponse {
    let reports = match (caller.agent.role, state.settings.reports.agents) {
        (crate::db::types::Role::Admin, _) | (_, crate::config::AgentReports::All) => "all",
        (_, crate::config::AgentReports::Own) => "own",
        (_, crate::config::AgentReports::None) => "none",
    };
    let csrf = match &caller.method {
        AuthMethod::Session { token, .. } => Some(extract::csrf_token(&state, token)),
        AuthMethod::Token { .. } => None,
    };
    let agent = AgentView::from(&caller.agent).live(&state.hub.presence);
    HttpResponse::Ok().json(json!({"agent": agent, "csrf_token": csrf, "reports": reports}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityChoice {
    availability: Availability,
}

/// The caller chooses online, busy or away: stored (it outlives the session), shown to
/// colleagues at once and honoured by routing and the widget.
async fn set_availability(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<AvailabilityChoice>,
) -> Result<HttpResponse, ApiError> {
    let availability = super::agents::chosen_availability(body.availability)?;
    let changes = store::agents::AgentChanges {
        availability: Some(availability),
        ..store::agents::AgentChanges::default()
    };
    let agent = store::agents::update(
        &mut state.db.writer().await?,
        caller.agent.id,
        &changes,
        &caller.actor(),
    )
    .await?;
    super::agents::show_choice(&state, agent.id, availability);
    Ok(HttpResponse::Ok().json(AgentView::from(&agent).live(&state.hub.presence)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password, ends its other sessions and revokes its API tokens
/// (a changed password means "sign out everywhere": a thief may have minted tokens).
async fn change_password(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    // Guessing the current password through a stolen session counts as login attempts.
    if let Err(wait) = state
        .login_limiter
        .check(caller.ip, &caller.agent.email, None)
    {
        return Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64));
    }
    let new_password =
        Password::parse(&body.new_password).map_err(|r| ApiError::invalid("new_password", r))?;
    let stored = caller.agent.password_hash.clone();
    let current = body.into_inner().current_password;
    let hash = state
        .hash_gate
        .run(move || {
            if auth::verify_password(&stored, &current) {
                auth::hash_password(&new_password).map(Some)
            } else {
                Ok(None)
            }
        })
        .await??
        .ok_or_else(|| ApiError::invalid("current_password", "does not match"))?;
    let keep = match caller.method {
        AuthMethod::Session { session_id, .. } => Some(session_id),
        AuthMethod::Token { .. } => None,
    };
    store::agents::set_password(
        &mut state.db.writer().await?,
        caller.agent.id,
        &hash,
        keep,
        &caller.actor(),
    )
    .await?;
    Ok(no_content())
}

#[derive(Serialize)]
struct TokenView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    /// The first characters of the token, to recognise it in a list.
    prefix: String,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.token_prefix.clone(),
            last_used_at: t.last_used_at.map(utc),
            created_at: utc(t.created_at),
        }
    }
}

async fn list_tokens(state: web::Data<AppState>, caller: Auth) -> Result<HttpResponse, ApiError> {
    let tokens = store::agents::list_tokens(&mut state.db.reader().await?, caller.agent.id).await?;
    let data: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
    Ok(HttpResponse::Ok().json(json!({"data": data, "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
}

/// Creates a personal API token; the secret is in this response only. Only a signed-in
/// browser session may create one, so a leaked token cannot mint more tokens.
async fn create_token(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    if let AuthMethod::Token { .. } = caller.method {
        return Err(ApiError::forbidden(
            "session_required",
            "API tokens are created from a signed-in session, not with another token",
        ));
    }
    let name = DisplayName::parse(&body.name).map_err(|r| ApiError::invalid("name", r))?;
    let minted = NewApiToken::generate();
    let token = store::agents::create_token(
        &mut state.db.writer().await?,
        caller.agent.id,
        &name,
        &minted.prefix,
        &minted.hash,
        MAX_API_TOKENS,
        &caller.actor(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "too_many_tokens",
            format!("you have {MAX_API_TOKENS} tokens; revoke one first"),
        )
    })?;
    let mut body = serde_json::to_value(TokenView::from(&token)).map_err(ApiError::internal)?;
    body["token"] = json!(minted.secret);
    Ok(HttpResponse::Created().json(body))
}

/// Revokes one of the caller's tokens at once (the next request with it gets 401).
async fn delete_token(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let removed = store::agents::delete_token(
        &mut state.db.writer().await?,
        caller.agent.id,
        id.0,
        &caller.actor(),
    )
    .await?;
    if removed {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("you have no token with that id"))
    }
}
