//! Provider updates that could not be read at all (no chat, no message id): kept as they
//! arrived, listed for admins, and replayed once the parser reads them, so an update the
//! hub answered 200 for is never simply gone.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::now;
use crate::db::schema::unreadable_events;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// One kept update.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = unreadable_events)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct UnreadableEvent {
    pub id: i64,
    pub inbox_id: i64,
    /// Why the parser could not read it.
    pub reason: String,
    /// The update exactly as received (JSON).
    pub payload: String,
    pub received_at: NaiveDateTime,
    /// When an admin replayed it successfully; `None` while it is still unread.
    pub replayed_at: Option<NaiveDateTime>,
}

/// Keeps an update; returns its id. The same update delivered again (a provider retry) is
/// kept once.
pub async fn keep(
    conn: &mut DbConn,
    inbox_id: i64,
    reason: &str,
    payload: &serde_json::Value,
) -> Result<i64, StoreError> {
    let payload = payload.to_string();
    let earlier: Option<i64> = db_run!(conn, c => unreadable_events::table
        .filter(unreadable_events::inbox_id.eq(inbox_id))
        .filter(unreadable_events::payload.eq(&payload))
        .filter(unreadable_events::replayed_at.is_null())
        .select(unreadable_events::id)
        .first(c)
        .await
        .optional())?;
    if let Some(id) = earlier {
        return Ok(id);
    }
    let at = now();
    Ok(
        db_run!(conn, c => diesel::insert_into(unreadable_events::table)
        .values((
            unreadable_events::inbox_id.eq(inbox_id),
            unreadable_events::reason.eq(reason),
            unreadable_events::payload.eq(&payload),
            unreadable_events::received_at.eq(at),
        ))
        .returning(unreadable_events::id)
        .get_result(c)
        .await)?,
    )
}

/// An inbox's kept updates, newest first, `limit` of them before `before` (an id).
pub async fn list(
    conn: &mut DbConn,
    inbox_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<UnreadableEvent>, StoreError> {
    Ok(db_run!(conn, c => {
        let mut query = unreadable_events::table
            .filter(unreadable_events::inbox_id.eq(inbox_id))
            .order(unreadable_events::id.desc())
            .limit(limit)
            .select(UnreadableEvent::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(unreadable_events::id.lt(before));
        }
        query.load(c).await
    })?)
}

/// One kept update of an inbox.
pub async fn find(
    conn: &mut DbConn,
    inbox_id: i64,
    id: i64,
) -> Result<Option<UnreadableEvent>, StoreError> {
    Ok(db_run!(conn, c => unreadable_events::table
        .filter(unreadable_events::inbox_id.eq(inbox_id))
        .filter(unreadable_events::id.eq(id))
        .select(UnreadableEvent::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Marks an update replayed (its events are stored now).
pub async fn mark_replayed(conn: &mut DbConn, id: i64) -> Result<NaiveDateTime, StoreError> {
    let at = now();
    db_run!(conn, c => diesel::update(unreadable_events::table.find(id))
        .set(unreadable_events::replayed_at.eq(at))
        .execute(c)
        .await)?;
    Ok(at)
}
