//! Where a polling channel has read up to (Telegram's getUpdates offset). Saved only after
//! the updates before it are stored, so a restart may fetch some again (the inbound dedupe
//! drops them) but never skips one.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::now;
use crate::db::schema::channel_cursors;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// The saved position of an inbox's poller, if it ever saved one.
pub async fn get(conn: &mut DbConn, inbox_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(db_run!(conn, c => channel_cursors::table
        .find(inbox_id)
        .select(channel_cursors::position)
        .first(c)
        .await
        .optional())?)
}

/// Saves the position (insert or replace).
pub async fn set(conn: &mut DbConn, inbox_id: i64, position: i64) -> Result<(), StoreError> {
    let at = now();
    db_run!(conn, c => diesel::insert_into(channel_cursors::table)
        .values((
            channel_cursors::inbox_id.eq(inbox_id),
            channel_cursors::position.eq(position),
            channel_cursors::updated_at.eq(at),
        ))
        .on_conflict(channel_cursors::inbox_id)
        .do_update()
        .set((
            channel_cursors::position.eq(position),
            channel_cursors::updated_at.eq(at),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Forgets the position (the inbox now polls another bot, whose update ids start anew).
pub async fn delete(conn: &mut DbConn, inbox_id: i64) -> Result<(), StoreError> {
    db_run!(conn, c => diesel::delete(channel_cursors::table.find(inbox_id))
        .execute(c)
        .await)?;
    Ok(())
}
