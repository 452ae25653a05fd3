//! Agents, their login sessions and personal API tokens.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent, now};
use crate::db::schema::{agents, api_tokens, sessions};
use crate::db::types::{Availability, Role};
use crate::db::{DbConn, StoreError};
use crate::domain::{DisplayName, EmailAddress};
use crate::{audit, db_run};

/// An agent (or admin) of the hub.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agents)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Agent {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub availability: Availability,
    pub capacity: Option<i64>,
    pub active: bool,
    pub last_login_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What is needed to create an agent; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub email: EmailAddress,
    pub name: DisplayName,
    pub role: Role,
    pub password_hash: String,
    pub capacity: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = agents)]
struct AgentRow<'a> {
    email: &'a str,
    name: &'a str,
    password_hash: &'a str,
    role: Role,
    availability: Availability,
    capacity: Option<i64>,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = agents)]
pub struct AgentChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub availability: Option<Availability>,
    /// `Some(None)` clears the limit.
    pub capacity: Option<Option<i64>>,
    pub active: Option<bool>,
}

/// Why an agent change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AgentChangeError {
    #[error("no agent with that id")]
    NotFound,
    #[error("this would leave the hub without an active admin")]
    LastAdmin,
    #[error("an agent with that email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for AgentChangeError {
    fn from(e: diesel::result::Error) -> Self {
        match StoreError::from(e) {
            StoreError::Conflict(_) => Self::EmailTaken,
            other => Self::Store(other),
        }
    }
}

pub async fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(db_run!(conn, c => agents::table.count().get_result(c).await)?)
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Agent>, StoreError> {
    Ok(db_run!(conn, c => agents::table
        .find(id)
        .select(Agent::as_select())
        .first(c)
        .await
        .optional())?)
}

pub async fn find_by_email(
    conn: &mut DbConn,
    email: &EmailAddress,
) -> Result<Option<Agent>, StoreError> {
    let email = email.as_str();
    Ok(db_run!(conn, c => agents::table
        .filter(agents::email.eq(email))
        .select(Agent::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Agents by id, ascending, after the cursor.
pub async fn list(
    conn: &mut DbConn,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Agent>, StoreError> {
    let after = after.unwrap_or(0);
    Ok(db_run!(conn, c => agents::table
        .filter(agents::id.gt(after))
        .order(agents::id)
        .limit(limit)
        .select(Agent::as_select())
        .load(c)
        .await)?)
}

/// Creates an agent; `StoreError::Conflict` when the email is taken.
pub async fn create(conn: &mut DbConn, new: &NewAgent, actor: &Actor) -> Result<Agent, StoreError> {
    let at = now();
    let row = AgentRow {
        email: new.email.as_str(),
        name: new.name.as_str(),
        password_hash: &new.password_hash,
        role: new.role,
        availability: Availability::Online,
        capacity: new.capacity,
        active: true,
        created_at: at,
        updated_at: at,
    };
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let agent = diesel::insert_into(agents::table)
            .values(&row)
            .returning(Agent::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("agent.create", "agent", agent.id)
            .with_details(json!({"email": agent.email, "role": agent.role}));
        audit!(c, actor, event).await?;
        Ok(agent)
    }).await)
}

/// Creates the first admin only while no agent exists; `None` when one already does.
/// Two nodes starting at once on PostgreSQL may both count zero: the loser's insert hits
/// the unique email and is treated as "already exists", not as a failed start.
pub async fn create_first_admin(
    conn: &mut DbConn,
    new: &NewAgent,
    actor: &Actor,
) -> Result<Option<Agent>, StoreError> {
    match insert_first_admin(conn, new, actor).await {
        Err(StoreError::Conflict(_)) => Ok(None),
        other => other,
    }
}

async fn insert_first_admin(
    conn: &mut DbConn,
    new: &NewAgent,
    actor: &Actor,
) -> Result<Option<Agent>, StoreError> {
    let at = now();
    let row = AgentRow {
        email: new.email.as_str(),
        name: new.name.as_str(),
        password_hash: &new.password_hash,
        role: Role::Admin,
        availability: Availability::Online,
        capacity: None,
        active: true,
        created_at: at,
        updated_at: at,
    };
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let existing: i64 = agents::table.count().get_result(c).await?;
        if existing > 0 {
            return Ok(None);
        }
        let agent = diesel::insert_into(agents::table)
            .values(&row)
            .returning(Agent::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("agent.create_first_admin", "agent", agent.id)
            .with_details(json!({"email": agent.email}));
        audit!(c, actor, event).await?;
        Ok(Some(agent))
    }).await)
}

/// Applies `changes`, refusing to remove the last active admin. Deactivation also ends
/// the agent's sessions and revokes its tokens.
pub async fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &AgentChanges,
    actor: &Actor,
) -> Result<Agent, AgentChangeError> {
    db_run!(conn, c => c.transaction::<_, AgentChangeError, _>(async |c| {
        let before: Agent = agents::table
            .find(id)
            .select(Agent::as_select())
            .first(c)
            .await
            .optional()?
            .ok_or(AgentChangeError::NotFound)?;
        let stays_admin = changes.role.unwrap_or(before.role) == Role::Admin
            && changes.active.unwrap_or(before.active);
        if before.role == Role::Admin && before.active && !stays_admin {
            // Lock every active admin row first (a no-op update): on PostgreSQL two admins
            // demoting each other at once would otherwise each count the other and both
            // commit. SQLite's single writer serialises this anyway.
            diesel::update(
                agents::table
                    .filter(agents::role.eq(Role::Admin))
                    .filter(agents::active.eq(true)),
            )
            .set(agents::updated_at.eq(agents::updated_at))
            .execute(c)
            .await?;
            let other_admins: i64 = agents::table
                .filter(agents::role.eq(Role::Admin))
                .filter(agents::active.eq(true))
                .filter(agents::id.ne(id))
                .count()
                .get_result(c)
                .await?;
            if other_admins == 0 {
                return Err(AgentChangeError::LastAdmin);
            }
        }
        let after = diesel::update(agents::table.find(id))
            .set((changes, agents::updated_at.eq(now())))
            .returning(Agent::as_returning())
            .get_result(c)
            .await?;
        if before.active && !after.active {
            diesel::delete(sessions::table.filter(sessions::agent_id.eq(id))).execute(c).await?;
            diesel::delete(api_tokens::table.filter(api_tokens::agent_id.eq(id))).execute(c).await?;
        }
        let action = if before.active && !after.active { "agent.deactivate" } else { "agent.update" };
        let event = AuditEvent::new(action, "agent", id).with_details(json!({
            "email": changes.email,
            "name": changes.name,
            "role": changes.role,
            "availability": changes.availability,
            "capacity": changes.capacity,
            "active": changes.active,
        }));
        audit!(c, actor, event).await?;
        Ok(after)
    }).await)
}

/// Stores a new password hash, ends every session but `keep_session` and revokes every
/// API token of the agent.
pub async fn set_password(
    conn: &mut DbConn,
    agent_id: i64,
    password_hash: &str,
    keep_session: Option<i64>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let keep = keep_session.unwrap_or(0);
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::update(agents::table.find(agent_id))
            .set((agents::password_hash.eq(password_hash), agents::updated_at.eq(now())))
            .execute(c)
            .await?;
        diesel::delete(
            sessions::table
                .filter(sessions::agent_id.eq(agent_id))
                .filter(sessions::id.ne(keep)),
        )
        .execute(c)
        .await?;
        diesel::delete(api_tokens::table.filter(api_tokens::agent_id.eq(agent_id)))
            .execute(c)
            .await?;
        audit!(c, actor, AuditEvent::new("agent.password_change", "agent", agent_id)).await?;
        Ok(())
    }).await)
}

/// A login session; the cookie holds the token, the row only its SHA-256.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Session {
    pub id: i64,
    pub agent_id: i64,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Records a successful login: a new session, the agent's last login time, an audit entry,
/// and the agent's expired sessions cleared away.
pub async fn start_session(
    conn: &mut DbConn,
    agent_id: i64,
    token_hash: &str,
    expires_at: NaiveDateTime,
    actor: &Actor,
) -> Result<Session, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::delete(
            sessions::table
                .filter(sessions::agent_id.eq(agent_id))
                .filter(sessions::expires_at.le(at)),
        )
        .execute(c)
        .await?;
        let session = diesel::insert_into(sessions::table)
            .values((
                sessions::agent_id.eq(agent_id),
                sessions::token_hash.eq(token_hash),
                sessions::created_at.eq(at),
                sessions::expires_at.eq(expires_at),
            ))
            .returning(Session::as_returning())
            .get_result(c)
            .await?;
        diesel::update(agents::table.find(agent_id))
            .set(agents::last_login_at.eq(Some(at)))
            .execute(c)
            .await?;
        audit!(c, actor, AuditEvent::new("auth.login", "agent", agent_id)).await?;
        Ok(session)
    }).await)
}

/// Deletes every expired session (housekeeping); returns how many.
pub async fn delete_expired_sessions(conn: &mut DbConn) -> Result<usize, StoreError> {
    let at = now();
    Ok(
        db_run!(conn, c => diesel::delete(sessions::table.filter(sessions::expires_at.le(at)))
        .execute(c)
        .await)?,
    )
}

/// The live session with that token hash and its active agent.
pub async fn find_session(
    conn: &mut DbConn,
    token_hash: &str,
) -> Result<Option<(Session, Agent)>, StoreError> {
    let at = now();
    Ok(db_run!(conn, c => sessions::table
        .inner_join(agents::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(at))
        .filter(agents::active.eq(true))
        .select((Session::as_select(), Agent::as_select()))
        .first(c)
        .await
        .optional())?)
}

pub async fn end_session(
    conn: &mut DbConn,
    session_id: i64,
    actor: &Actor,
) -> Result<(), StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(sessions::table.find(session_id)).execute(c).await?;
        if removed > 0 {
            let agent = actor.agent_id.unwrap_or_default();
            audit!(c, actor, AuditEvent::new("auth.logout", "agent", agent)).await?;
        }
        Ok(())
    }).await)
}

/// A personal API token; the secret itself is shown once and only its hash is kept.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiToken {
    pub id: i64,
    pub agent_id: i64,
    pub name: String,
    pub token_prefix: String,
    pub token_hash: String,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Creates a token unless the agent already holds `max` (`Ok(None)` then). The count and
/// the insert are one transaction holding the agent's row lock (PostgreSQL; SQLite has one
/// writer), so concurrent creations cannot pass the cap together.
pub async fn create_token(
    conn: &mut DbConn,
    agent_id: i64,
    name: &DisplayName,
    prefix: &str,
    token_hash: &str,
    max: usize,
    actor: &Actor,
) -> Result<Option<ApiToken>, StoreError> {
    let at = now();
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let lock_agent = matches!(conn, DbConn::Postgres(_));
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        if lock_agent {
            diesel::sql_query("SELECT id FROM agents WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::BigInt, _>(agent_id)
                .execute(c)
                .await?;
        }
        let held: i64 = api_tokens::table
            .filter(api_tokens::agent_id.eq(agent_id))
            .count()
            .get_result(c)
            .await?;
        if held >= max {
            return Ok(None);
        }
        let token = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::agent_id.eq(agent_id),
                api_tokens::name.eq(name.as_str()),
                api_tokens::token_prefix.eq(prefix),
                api_tokens::token_hash.eq(token_hash),
                api_tokens::created_at.eq(at),
            ))
            .returning(ApiToken::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("token.create", "api_token", token.id)
            .with_details(json!({"name": token.name}));
        audit!(c, actor, event).await?;
        Ok(Some(token))
    }).await)
}

pub async fn list_tokens(conn: &mut DbConn, agent_id: i64) -> Result<Vec<ApiToken>, StoreError> {
    Ok(db_run!(conn, c => api_tokens::table
        .filter(api_tokens::agent_id.eq(agent_id))
        .order(api_tokens::id)
        .select(ApiToken::as_select())
        .load(c)
        .await)?)
}

/// Revokes one of the agent's own tokens; false when it has no such token.
pub async fn delete_token(
    conn: &mut DbConn,
    agent_id: i64,
    token_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::agent_id.eq(agent_id)),
        )
        .execute(c)
        .await?;
        if removed > 0 {
            audit!(c, actor, AuditEvent::new("token.revoke", "api_token", token_id)).await?;
        }
        Ok(removed > 0)
    }).await)
}

/// The token with that hash and its active agent.
pub async fn find_token(
    conn: &mut DbConn,
    token_hash: &str,
) -> Result<Option<(ApiToken, Agent)>, StoreError> {
    Ok(db_run!(conn, c => api_tokens::table
        .inner_join(agents::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(agents::active.eq(true))
        .select((ApiToken::as_select(), Agent::as_select()))
        .first(c)
        .await
        .optional())?)
}

/// The agent behind a credential an open connection was authenticated with, if the
/// credential still holds (session not ended or expired, token not revoked, agent active).
/// Long-lived connections (the agent websocket) re-check with this.
pub async fn still_signed_in(
    conn: &mut DbConn,
    session_id: Option<i64>,
    token_id: Option<i64>,
) -> Result<Option<Agent>, StoreError> {
    let at = now();
    Ok(match (session_id, token_id) {
        (Some(id), _) => db_run!(conn, c => sessions::table
            .inner_join(agents::table)
            .filter(sessions::id.eq(id))
            .filter(sessions::expires_at.gt(at))
            .filter(agents::active.eq(true))
            .select(Agent::as_select())
            .first(c)
            .await
            .optional())?,
        (None, Some(id)) => db_run!(conn, c => api_tokens::table
            .inner_join(agents::table)
            .filter(api_tokens::id.eq(id))
            .filter(agents::active.eq(true))
            .select(Agent::as_select())
            .first(c)
            .await
            .optional())?,
        (None, None) => None,
    })
}

/// Notes that a token was used (callers throttle this to avoid a write per request).
pub async fn touch_token(conn: &mut DbConn, token_id: i64) -> Result<(), StoreError> {
    let at = now();
    db_run!(conn, c => diesel::update(api_tokens::table.find(token_id))
        .set(api_tokens::last_used_at.eq(Some(at)))
        .execute(c)
        .await)?;
    Ok(())
}
