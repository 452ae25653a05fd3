//! The audit log: who changed what, when and from where.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::db::schema::audit_log;
use crate::db::types::ActorType;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// Who performs a mutation; recorded with it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorType,
    pub agent_id: Option<i64>,
    pub ip: Option<String>,
}

impl Actor {
    /// An agent acting through the API.
    pub fn agent(agent_id: i64, ip: Option<String>) -> Self {
        Self {
            kind: ActorType::Agent,
            agent_id: Some(agent_id),
            ip,
        }
    }

    /// The hub itself (start-up tasks, timers).
    pub fn system() -> Self {
        Self {
            kind: ActorType::System,
            agent_id: None,
            ip: None,
        }
    }

    /// An operator on the server's command line.
    pub fn cli() -> Self {
        Self {
            kind: ActorType::Cli,
            agent_id: None,
            ip: None,
        }
    }
}

/// One audited change: an action name like `agent.create`, its target and details.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<i64>,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(action: &'static str, target_type: &'static str, target_id: i64) -> Self {
        Self {
            action,
            target_type: Some(target_type),
            target_id: Some(target_id),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The row to insert, stamped with the actor and the time.
    pub fn row(&self, actor: &Actor) -> NewAuditRow {
        NewAuditRow {
            actor_type: actor.kind,
            actor_id: actor.agent_id,
            action: self.action.to_owned(),
            target_type: self.target_type.map(str::to_owned),
            target_id: self.target_id,
            details: self.details.to_string(),
            ip: actor.ip.clone(),
            created_at: super::now(),
        }
    }
}

/// Insertable audit row; build it with [`AuditEvent::row`].
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow {
    actor_type: ActorType,
    actor_id: Option<i64>,
    action: String,
    target_type: Option<String>,
    target_id: Option<i64>,
    details: String,
    ip: Option<String>,
    created_at: NaiveDateTime,
}

/// Inserts an audit row on a concrete connection, inside the caller's transaction.
#[macro_export]
macro_rules! audit {
    ($c:expr, $actor:expr, $event:expr) => {
        ::diesel_async::RunQueryDsl::execute(
            ::diesel::insert_into($crate::db::schema::audit_log::table).values($event.row($actor)),
            $c,
        )
    };
}

/// Inserts an audit row inside the caller's transaction, on a pooled connection.
pub async fn record(
    conn: &mut DbConn,
    actor: &Actor,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    db_run!(conn, c => crate::audit!(c, actor, event).await)?;
    Ok(())
}

/// A stored audit entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub actor_type: ActorType,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub details: String,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Newest first; `before` is the id cursor of the previous page's last entry.
pub async fn list(
    conn: &mut DbConn,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let before = before.unwrap_or(i64::MAX);
    let rows = db_run!(conn, c => audit_log::table
        .filter(audit_log::id.lt(before))
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(c)
        .await)?;
    Ok(rows)
}

/// The entries about one target (a conversation's changes), oldest first, at most
/// `limit` of the newest; only the given actions.
pub async fn for_target(
    conn: &mut DbConn,
    target_type: &str,
    target_id: i64,
    actions: &[&str],
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    let mut rows: Vec<AuditEntry> = db_run!(conn, c => audit_log::table
        .filter(audit_log::target_type.eq(target_type))
        .filter(audit_log::target_id.eq(target_id))
        .filter(audit_log::action.eq_any(&actions))
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(c)
        .await)?;
    rows.reverse();
    Ok(rows)
}
