//! Agents' notifications: written in batches by the notifier, read and marked by their
//! agent only.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::schema::notifications;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// A stored notification.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Notification {
    pub id: i64,
    pub agent_id: i64,
    pub kind: String,
    pub conversation_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// One to write.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = notifications)]
pub struct NewNotification {
    pub agent_id: i64,
    pub kind: &'static str,
    pub conversation_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub body: String,
}

/// Writes a batch in one transaction; answers the stored rows.
pub async fn insert(
    conn: &mut DbConn,
    batch: &[NewNotification],
) -> Result<Vec<Notification>, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let mut stored = Vec::with_capacity(batch.len());
        for n in batch {
            let row = diesel::insert_into(notifications::table)
                .values((n, notifications::created_at.eq(at)))
                .returning(Notification::as_returning())
                .get_result(c)
                .await?;
            stored.push(row);
        }
        Ok(stored)
    }).await)
}

/// An agent's notifications, newest first; `before` is the id cursor.
pub async fn list(
    conn: &mut DbConn,
    agent_id: i64,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let before = before.unwrap_or(i64::MAX);
    Ok(db_run!(conn, c => {
        let mut q = notifications::table
            .filter(notifications::agent_id.eq(agent_id))
            .filter(notifications::id.lt(before))
            .order(notifications::id.desc())
            .limit(limit)
            .select(Notification::as_select())
            .into_boxed();
        if unread_only {
            q = q.filter(notifications::read_at.is_null());
        }
        q.load(c).await
    })?)
}

/// How many of an agent's notifications are unread.
pub async fn unread_count(conn: &mut DbConn, agent_id: i64) -> Result<i64, StoreError> {
    Ok(db_run!(conn, c => notifications::table
        .filter(notifications::agent_id.eq(agent_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(c)
        .await)?)
}

/// Marks one (`Some(id)`) or all of an agent's notifications read; answers how many
/// changed. Another agent's notification is never touched.
pub async fn mark_read(
    conn: &mut DbConn,
    agent_id: i64,
    id: Option<i64>,
) -> Result<usize, StoreError> {
    let at = super::now();
    Ok(db_run!(conn, c => {
        let mut q = diesel::update(notifications::table)
            .filter(notifications::agent_id.eq(agent_id))
            .filter(notifications::read_at.is_null())
            .into_boxed();
        if let Some(id) = id {
            q = q.filter(notifications::id.eq(id));
        }
        q.set(notifications::read_at.eq(at)).execute(c).await
    })?)
}

/// Whether the notification exists and is the agent's.
pub async fn owned(conn: &mut DbConn, agent_id: i64, id: i64) -> Result<bool, StoreError> {
    let found: i64 = db_run!(conn, c => notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::agent_id.eq(agent_id))
        .count()
        .get_result(c)
        .await)?;
    Ok(found > 0)
}
