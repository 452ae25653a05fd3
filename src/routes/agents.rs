//! Agent administration (admins only).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::extract::Admin;
use super::{AgentView, Page, PageQuery, PublicId, double_option, no_content};
use crate::auth;
use crate::db::types::{Availability, Role};
use crate::domain::{DisplayName, EmailAddress, Password};
use crate::state::AppState;
use crate::store::{
    self,
    agents::{AgentChanges, NewAgent},
};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents", web::get().to(list))
        .route("/agents", web::post().to(create))
        .route("/agents/{id}", web::get().to(show))
        .route("/agents/{id}", web::patch().to(update))
        .route("/agents/{id}", web::delete().to(deactivate));
}

async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = query.parse()?;
    let agents = store::agents::list(&mut state.db.reader().await?, after, limit).await?;
    let views = agents
        .iter()
        .map(|a| AgentView::from(a).live(&state.hub.presence))
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |a: &AgentView| a.id)))
}

fn check_capacity(capacity: Option<i64>) -> Result<Option<i64>, ApiError> {
    match capacity {
        Some(c) if !(0..=10_000).contains(&c) => Err(ApiError::invalid(
            "capacity",
            "must be between 0 and 10000 (or null for no limit)",
        )),
        other => Ok(other),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    email: String,
    name: String,
    #[serde(default = "default_role")]
    role: Role,
    /// Omitted: a password is generated and returned once in the response.
    password: Option<String>,
    capacity: Option<i64>,
}

fn default_role() -> Role {
    Role::Agent
}

async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<CreateAgent>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = EmailAddress::parse(&body.email).map_err(|r| ApiError::invalid("email", r))?;
    let name = DisplayName::parse(&body.name).map_err(|r| ApiError::invalid("name", r))?;
    let capacity = check_capacity(body.capacity)?;
    let (password, generated) = match body.password {
        Some(p) => (
            Password::parse(&p).map_err(|r| ApiError::invalid("password", r))?,
            false,
        ),
        None => (
            Password::parse(&auth::new_secret("")).map_err(ApiError::internal)?,
            true,
        ),
    };
    let to_hash = password.clone();
    let password_hash = state
        .hash_gate
        .run(move || auth::hash_password(&to_hash))
        .await??;
    let new = NewAgent {
        email,
        name,
        role: body.role,
        password_hash,
        capacity,
    };
    let agent = store::agents::create(&mut state.db.writer().await?, &new, &admin.actor())
        .await
        .map_err(|e| {
            if e.is_conflict() {
                ApiError::conflict("email_taken", "an agent with that email already exists")
            } else {
                e.into()
            }
        })?;
    let mut out = serde_json::to_value(AgentView::from(&agent).live(&state.hub.presence))
        .map_err(ApiError::internal)?;
    if generated {
        out["password"] = json!(password.expose());
    }
    Ok(HttpResponse::Created().json(out))
}

async fn show(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let agent = store::agents::find(&mut state.db.reader().await?, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no agent with that id"))?;
    Ok(HttpResponse::Ok().json(AgentView::from(&agent).live(&state.hub.presence)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAgent {
    email: Option<String>,
    name: Option<String>,
    role: Option<Role>,
    availability: Option<Availability>,
    #[serde(default, deserialize_with = "double_option")]
    capacity: Option<Option<i64>>,
    active: Option<bool>,
}

async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<UpdateAgent>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let changes = AgentChanges {
        email: body
            .email
            .map(|e| EmailAddress::parse(&e).map(|e| e.as_str().to_owned()))
            .transpose()
            .map_err(|r| ApiError::invalid("email", r))?,
        name: body
            .name
            .map(|n| DisplayName::parse(&n).map(|n| n.as_str().to_owned()))
            .transpose()
            .map_err(|r| ApiError::invalid("name", r))?,
        role: body.role,
        availability: body.availability.map(chosen_availability).transpose()?,
        capacity: body.capacity.map(check_capacity).transpose()?,
        active: body.active,
    };
    let agent = store::agents::update(
        &mut state.db.writer().await?,
        id.0,
        &changes,
        &admin.actor(),
    )
    .await?;
    if let Some(availability) = changes.availability {
        show_choice(&state, agent.id, availability);
    }
    Ok(HttpResponse::Ok().json(AgentView::from(&agent).live(&state.hub.presence)))
}

/// Refuses "offline": it is what presence shows without a connection, not a choice.
pub(crate) fn chosen_availability(a: Availability) -> Result<Availability, ApiError> {
    match a {
        Availability::Offline => Err(ApiError::invalid(
            "availability",
            "choose online, busy or away; offline is shown while an agent has no connection",
        )),
        chosen => Ok(chosen),
    }
}

/// Shows a stored choice to colleagues at once, and offers the router an agent who just
/// became online.
pub(crate) fn show_choice(state: &AppState, agent_id: i64, availability: Availability) {
    if state.hub.presence.chose(agent_id, availability) == Some(Availability::Online) {
        let _ = state
            .hub
            .router
            .try_send(crate::actors::router::AgentAvailable { agent_id });
    }
}

/// Deactivates (agents are never deleted: their messages and audit entries keep them).
async fn deactivate(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let changes = AgentChanges {
        active: Some(false),
        ..AgentChanges::default()
    };
    store::agents::update(
        &mut state.db.writer().await?,
        id.0,
        &changes,
        &admin.actor(),
    )
    .await?;
    Ok(no_content())
}
