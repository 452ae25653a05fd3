//! Teams of agents (routing and escalation target groups).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::agents::Agent;
use super::{Actor, AuditEvent, now};
use crate::db::schema::{agents, team_members, teams};
use crate::db::{DbConn, StoreError};
use crate::domain::DisplayName;
use crate::{audit, db_run};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = teams)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub async fn list(
    conn: &mut DbConn,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Team>, StoreError> {
    let after = after.unwrap_or(0);
    Ok(db_run!(conn, c => teams::table
        .filter(teams::id.gt(after))
        .order(teams::id)
        .limit(limit)
        .select(Team::as_select())
        .load(c)
        .await)?)
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Team>, StoreError> {
    Ok(db_run!(conn, c => teams::table
        .find(id)
        .select(Team::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Creates a team; `StoreError::Conflict` when the name is taken.
pub async fn create(
    conn: &mut DbConn,
    name: &DisplayName,
    description: &str,
    actor: &Actor,
) -> Result<Team, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let team = diesel::insert_into(teams::table)
            .values((
                teams::name.eq(name.as_str()),
                teams::description.eq(description),
                teams::created_at.eq(at),
                teams::updated_at.eq(at),
            ))
            .returning(Team::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("team.create", "team", team.id)
            .with_details(json!({"name": team.name}));
        audit!(c, actor, event).await?;
        Ok(team)
    }).await)
}

/// Updates a team; `Ok(None)` when there is no such team.
pub async fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &TeamChanges,
    actor: &Actor,
) -> Result<Option<Team>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let team = diesel::update(teams::table.find(id))
            .set((changes, teams::updated_at.eq(now())))
            .returning(Team::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if team.is_some() {
            let event = AuditEvent::new("team.update", "team", id)
                .with_details(json!({"name": changes.name, "description": changes.description}));
            audit!(c, actor, event).await?;
        }
        Ok(team)
    }).await)
}

/// Deletes a team (conversations keep existing, unassigned from it); false when absent.
pub async fn delete(conn: &mut DbConn, id: i64, actor: &Actor) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(teams::table.find(id)).execute(c).await?;
        if removed > 0 {
            audit!(c, actor, AuditEvent::new("team.delete", "team", id)).await?;
        }
        Ok(removed > 0)
    }).await)
}

pub async fn members(conn: &mut DbConn, team_id: i64) -> Result<Vec<Agent>, StoreError> {
    Ok(db_run!(conn, c => team_members::table
        .inner_join(agents::table)
        .filter(team_members::team_id.eq(team_id))
        .order(agents::id)
        .select(Agent::as_select())
        .load(c)
        .await)?)
}

/// Adds an agent to a team; true when added, false when it was already a member.
pub async fn add_member(
    conn: &mut DbConn,
    team_id: i64,
    agent_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let added = diesel::insert_into(team_members::table)
            .values((
                team_members::team_id.eq(team_id),
                team_members::agent_id.eq(agent_id),
                team_members::created_at.eq(at),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?;
        if added > 0 {
            let event = AuditEvent::new("team.member_add", "team", team_id)
                .with_details(json!({"agent_id": agent_id}));
            audit!(c, actor, event).await?;
        }
        Ok(added > 0)
    }).await)
}

/// Removes an agent from a team; false when it was not a member.
pub async fn remove_member(
    conn: &mut DbConn,
    team_id: i64,
    agent_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(
            team_members::table
                .filter(team_members::team_id.eq(team_id))
                .filter(team_members::agent_id.eq(agent_id)),
        )
        .execute(c)
        .await?;
        if removed > 0 {
            let event = AuditEvent::new("team.member_remove", "team", team_id)
                .with_details(json!({"agent_id": agent_id}));
            audit!(c, actor, event).await?;
        }
        Ok(removed > 0)
    }).await)
}
