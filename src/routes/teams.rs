//! Teams: every agent may read them; only admins change them.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::{Admin, Auth};
use super::{AgentView, Page, PageQuery, PublicId, id_string, no_content, utc};
use crate::db::StoreError;
use crate::domain::DisplayName;
use crate::state::AppState;
use crate::store::{
    self,
    teams::{Team, TeamChanges},
};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::get().to(list))
        .route("/teams", web::post().to(create))
        .route("/teams/{id}", web::get().to(show))
        .route("/teams/{id}", web::patch().to(update))
        .route("/teams/{id}", web::delete().to(delete))
        .route("/teams/{id}/members", web::get().to(members))
        .route("/teams/{id}/members", web::post().to(add_member))
        .route(
            "/teams/{id}/members/{agent_id}",
            web::delete().to(remove_member),
        );
}

#[derive(Serialize)]
struct TeamView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    name: String,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            created_at: utc(t.created_at),
            updated_at: utc(t.updated_at),
        }
    }
}

const MAX_DESCRIPTION: usize = 1000;

fn description(text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::invalid(
            "description",
            format!("is longer than {MAX_DESCRIPTION} characters"),
        )),
        other => Ok(other.map(|d| d.trim().to_owned())),
    }
}

fn name_taken(e: StoreError) -> ApiError {
    if e.is_conflict() {
        ApiError::conflict("name_taken", "a team with that name already exists")
    } else {
        e.into()
    }
}

async fn find_team(state: &AppState, id: i64) -> Result<Team, ApiError> {
    store::teams::find(&mut state.db.reader().await?, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no team with that id"))
}

async fn list(
    state: web::Data<AppState>,
    _caller: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = query.parse()?;
    let teams = store::teams::list(&mut state.db.reader().await?, after, limit).await?;
    let views = teams.iter().map(TeamView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |t: &TeamView| t.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTeam {
    name: String,
    description: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<CreateTeam>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = DisplayName::parse(&body.name).map_err(|r| ApiError::invalid("name", r))?;
    let description = description(body.description)?.unwrap_or_default();
    let team = store::teams::create(
        &mut state.db.writer().await?,
        &name,
        &description,
        &admin.actor(),
    )
    .await
    .map_err(name_taken)?;
    Ok(HttpResponse::Created().json(TeamView::from(&team)))
}

async fn show(
    state: web::Data<AppState>,
    _caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let team = find_team(&state, id.0).await?;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTeam {
    name: Option<String>,
    description: Option<String>,
}

async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<UpdateTeam>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let changes = TeamChanges {
        name: body
            .name
            .map(|n| DisplayName::parse(&n).map(|n| n.as_str().to_owned()))
            .transpose()
            .map_err(|r| ApiError::invalid("name", r))?,
        description: description(body.description)?,
    };
    let team = store::teams::update(
        &mut state.db.writer().await?,
        id.0,
        &changes,
        &admin.actor(),
    )
    .await
    .map_err(name_taken)?
    .ok_or_else(|| ApiError::not_found("no team with that id"))?;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}

async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    if store::teams::delete(&mut state.db.writer().await?, id.0, &admin.actor()).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("no team with that id"))
    }
}

async fn members(
    state: web::Data<AppState>,
    _caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let team = find_team(&state, id.0).await?;
    let agents = store::teams::members(&mut state.db.reader().await?, team.id).await?;
    let data: Vec<AgentView> = agents.iter().map(AgentView::from).collect();
    Ok(HttpResponse::Ok().json(Page {
        data,
        next_cursor: None,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    agent_id: PublicId,
}

/// Adds an agent; 201 when added, 200 when it already was a member.
async fn add_member(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let team = find_team(&state, id.0).await?;
    let agent = store::agents::find(&mut state.db.reader().await?, body.agent_id.0)
        .await?
        .ok_or_else(|| ApiError::invalid("agent_id", "no agent with that id"))?;
    let added = store::teams::add_member(
        &mut state.db.writer().await?,
        team.id,
        agent.id,
        &admin.actor(),
    )
    .await?;
    let view = AgentView::from(&agent);
    Ok(if added {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

async fn remove_member(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (team_id, agent_id) = path.into_inner();
    if store::teams::remove_member(
        &mut state.db.writer().await?,
        team_id.0,
        agent_id.0,
        &admin.actor(),
    )
    .await?
    {
        Ok(no_content())
    } else {
        Err(ApiError::not_found(
            "that agent is not a member of that team",
        ))
    }
}
