//! Inboxes (one configured channel each: an API integration, a bot, a mailbox, a website)
//! and which agents belong to them. Membership is the door agents pass to see conversations.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::{Value, json};

use super::{Actor, AuditEvent, now};
use crate::db::schema::{agents, inbox_members, inboxes};
use crate::db::types::ChannelType;
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// A stored inbox. `settings` and `secrets` are JSON objects; secrets never leave the hub
/// except once, in the answer that created or rotated them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inboxes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Inbox {
    pub id: i64,
    pub name: String,
    pub channel_type: ChannelType,
    pub settings: String,
    pub secrets: String,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// An agent's reply to an unassigned conversation assigns it to them.
    pub assign_on_reply: bool,
}

impl Inbox {
    /// The settings document (an empty object if the stored text is damaged).
    pub fn settings_json(&self) -> Value {
        serde_json::from_str(&self.settings).unwrap_or_else(|_| json!({}))
    }

    /// One secret by name, e.g. `"secret"` (the API channel's HMAC key).
    pub fn secret(&self, name: &str) -> Option<String> {
        serde_json::from_str::<Value>(&self.secrets)
            .ok()?
            .get(name)?
            .as_str()
            .map(str::to_owned)
    }

    /// Whether a message on a resolved conversation reopens it (the default) or starts a
    /// new conversation.
    pub fn reopens_resolved(&self) -> bool {
        self.settings_json()
            .get("reopen_resolved")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
}

/// What is needed to create an inbox; settings were validated by the caller.
#[derive(Debug, Clone)]
pub struct NewInbox {
    pub name: String,
    pub channel_type: ChannelType,
    pub settings: Value,
    pub secrets: Value,
    pub enabled: bool,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct InboxChanges {
    pub name: Option<String>,
    pub settings: Option<Value>,
    /// A new secrets document (a replaced bot token); never written to the audit log.
    pub secrets: Option<Value>,
    pub enabled: Option<bool>,
    pub assign_on_reply: Option<bool>,
}

pub async fn create(conn: &mut DbConn, new: &NewInbox, actor: &Actor) -> Result<Inbox, StoreError> {
    let at = now();
    let settings = new.settings.to_string();
    let secrets = new.secrets.to_string();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let inbox = diesel::insert_into(inboxes::table)
            .values((
                inboxes::name.eq(&new.name),
                inboxes::channel_type.eq(new.channel_type),
                inboxes::settings.eq(&settings),
                inboxes::secrets.eq(&secrets),
                inboxes::enabled.eq(new.enabled),
                inboxes::created_at.eq(at),
                inboxes::updated_at.eq(at),
            ))
            .returning(Inbox::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("inbox.create", "inbox", inbox.id).with_details(json!({
            "name": inbox.name, "channel_type": inbox.channel_type, "settings": new.settings,
        }));
        audit!(c, actor, event).await?;
        Ok(inbox)
    }).await)
}

/// Sets one setting of an inbox on the hub's own account (a provider refused its token), so
/// admins see it; `Value::Null` clears it. Not audited: no one changed the configuration.
pub async fn mark(conn: &mut DbConn, id: i64, key: &str, value: Value) -> Result<(), StoreError> {
    let Some(inbox) = find(conn, id).await? else {
        return Ok(());
    };
    let mut settings = inbox.settings_json();
    let Some(map) = settings.as_object_mut() else {
        return Ok(());
    };
    if map.get(key) == Some(&value) {
        return Ok(());
    }
    map.insert(key.to_owned(), value);
    let text = settings.to_string();
    db_run!(conn, c => diesel::update(inboxes::table.find(id))
        .set((inboxes::settings.eq(&text), inboxes::updated_at.eq(now())))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Inbox>, StoreError> {
    Ok(db_run!(conn, c => inboxes::table
        .find(id)
        .select(Inbox::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Inboxes by id; `member` limits the list to one agent's inboxes.
pub async fn list(
    conn: &mut DbConn,
    member: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Inbox>, StoreError> {
    Ok(db_run!(conn, c => {
        let mut query = inboxes::table
            .filter(inboxes::id.gt(after.unwrap_or(0)))
            .order(inboxes::id)
            .limit(limit)
            .select(Inbox::as_select())
            .into_boxed();
        if let Some(agent_id) = member {
            query = query.filter(
                inboxes::id.eq_any(
                    inbox_members::table
                        .filter(inbox_members::agent_id.eq(agent_id))
                        .select(inbox_members::inbox_id),
                ),
            );
        }
        query.load(c).await
    })?)
}

/// Every enabled inbox, for the channel supervisor at start-up.
pub async fn enabled(conn: &mut DbConn) -> Result<Vec<Inbox>, StoreError> {
    Ok(db_run!(conn, c => inboxes::table
        .filter(inboxes::enabled.eq(true))
        .order(inboxes::id)
        .select(Inbox::as_select())
        .load(c)
        .await)?)
}

/// Applies changes; `Ok(None)` when there is no such inbox.
pub async fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &InboxChanges,
    actor: &Actor,
) -> Result<Option<Inbox>, StoreError> {
    let settings = changes.settings.as_ref().map(Value::to_string);
    let secrets = changes.secrets.as_ref().map(Value::to_string);
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let inbox = diesel::update(inboxes::table.find(id))
            .set((
                changes.name.as_ref().map(|n| inboxes::name.eq(n)),
                settings.as_ref().map(|s| inboxes::settings.eq(s)),
                secrets.as_ref().map(|s| inboxes::secrets.eq(s)),
                changes.enabled.map(|e| inboxes::enabled.eq(e)),
                changes.assign_on_reply.map(|a| inboxes::assign_on_reply.eq(a)),
                inboxes::updated_at.eq(now()),
            ))
            .returning(Inbox::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if inbox.is_some() {
            let event = AuditEvent::new("inbox.update", "inbox", id).with_details(json!({
                "name": changes.name, "settings": changes.settings, "enabled": changes.enabled,
                "assign_on_reply": changes.assign_on_reply,
                "secrets_replaced": changes.secrets.is_some(),
            }));
            audit!(c, actor, event).await?;
        }
        Ok(inbox)
    }).await)
}

/// Replaces the secrets document (rotation); `Ok(None)` when there is no such inbox.
pub async fn replace_secrets(
    conn: &mut DbConn,
    id: i64,
    secrets: &Value,
    actor: &Actor,
) -> Result<Option<Inbox>, StoreError> {
    let secrets = secrets.to_string();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let inbox = diesel::update(inboxes::table.find(id))
            .set((inboxes::secrets.eq(&secrets), inboxes::updated_at.eq(now())))
            .returning(Inbox::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if inbox.is_some() {
            audit!(c, actor, AuditEvent::new("inbox.rotate_secret", "inbox", id)).await?;
        }
        Ok(inbox)
    }).await)
}

/// Why an inbox could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteInboxError {
    #[error("no inbox with that id")]
    NotFound,
    #[error("the inbox has conversations; disable it instead to keep their history")]
    HasHistory,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for DeleteInboxError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Deletes an inbox that never received anything (history is protected by foreign keys).
pub async fn delete(conn: &mut DbConn, id: i64, actor: &Actor) -> Result<(), DeleteInboxError> {
    let result = db_run!(conn, c => c.transaction::<_, DeleteInboxError, _>(async |c| {
        let removed = diesel::delete(inboxes::table.find(id))
            .execute(c)
            .await
            .map_err(StoreError::from)?;
        if removed == 0 {
            return Err(DeleteInboxError::NotFound);
        }
        audit!(c, actor, AuditEvent::new("inbox.delete", "inbox", id))
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }).await);
    match result {
        Err(DeleteInboxError::Store(StoreError::Query(diesel::result::Error::DatabaseError(
            kind,
            info,
        )))) if is_foreign_key_violation(kind, info.message()) => Err(DeleteInboxError::HasHistory),
        other => other,
    }
}

/// PostgreSQL reports a refused parent delete as a foreign key violation; SQLite (through
/// diesel) reports it as an unknown constraint error, recognisable only by its fixed message.
fn is_foreign_key_violation(kind: diesel::result::DatabaseErrorKind, message: &str) -> bool {
    matches!(kind, diesel::result::DatabaseErrorKind::ForeignKeyViolation)
        || message.starts_with("FOREIGN KEY constraint failed")
}

/// Whether the agent belongs to the inbox.
pub async fn is_member(
    conn: &mut DbConn,
    inbox_id: i64,
    agent_id: i64,
) -> Result<bool, StoreError> {
    let n: i64 = db_run!(conn, c => inbox_members::table
        .filter(inbox_members::inbox_id.eq(inbox_id))
        .filter(inbox_members::agent_id.eq(agent_id))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// The ids of the inboxes an agent belongs to.
pub async fn ids_of_member(conn: &mut DbConn, agent_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(db_run!(conn, c => inbox_members::table
        .filter(inbox_members::agent_id.eq(agent_id))
        .select(inbox_members::inbox_id)
        .load(c)
        .await)?)
}

/// The ids of an inbox's active members, for routing.
pub async fn member_ids(conn: &mut DbConn, inbox_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(db_run!(conn, c => inbox_members::table
        .inner_join(agents::table)
        .filter(inbox_members::inbox_id.eq(inbox_id))
        .filter(agents::active.eq(true))
        .order(agents::id)
        .select(agents::id)
        .load(c)
        .await)?)
}

/// Adds an agent to an inbox; false when already a member.
pub async fn add_member(
    conn: &mut DbConn,
    inbox_id: i64,
    agent_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let added = diesel::insert_into(inbox_members::table)
            .values((
                inbox_members::inbox_id.eq(inbox_id),
                inbox_members::agent_id.eq(agent_id),
                inbox_members::created_at.eq(now()),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?;
        if added > 0 {
            let event = AuditEvent::new("inbox.member_add", "inbox", inbox_id)
                .with_details(json!({"agent_id": agent_id.to_string()}));
            audit!(c, actor, event).await?;
        }
        Ok(added > 0)
    }).await)
}

/// Removes an agent from an inbox; false when not a member.
pub async fn remove_member(
    conn: &mut DbConn,
    inbox_id: i64,
    agent_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(
            inbox_members::table
                .filter(inbox_members::inbox_id.eq(inbox_id))
                .filter(inbox_members::agent_id.eq(agent_id)),
        )
        .execute(c)
        .await?;
        if removed > 0 {
            let event = AuditEvent::new("inbox.member_remove", "inbox", inbox_id)
                .with_details(json!({"agent_id": agent_id.to_string()}));
            audit!(c, actor, event).await?;
        }
        Ok(removed > 0)
    }).await)
}
