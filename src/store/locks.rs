//! Locks that serialize the transactions of parallel writers (or nodes) that touch the
//! same contact, message or status, on PostgreSQL; SQLite has one writer connection, so
//! nothing to lock there. Keys are texts, hashed to advisory lock ids and taken sorted, in
//! one round trip, so transactions that share keys queue and none can deadlock.

use diesel_async::RunQueryDsl;

use crate::db::StoreError;

/// The advisory lock key of a contact identity.
pub(crate) fn contact_lock_key(inbox_id: i64, identifier: &str) -> String {
    format!("contact:{inbox_id}:{identifier}")
}

/// The advisory lock key of an outbound message's external id.
pub(crate) fn status_lock_key(inbox_id: i64, external_id: &str) -> String {
    format!("status:{inbox_id}:{external_id}")
}

/// The advisory lock key of an inbound message's edits.
pub(crate) fn edit_lock_key(inbox_id: i64, external_id: &str) -> String {
    format!("edit:{inbox_id}:{external_id}")
}

/// Takes transaction-scoped advisory locks on `keys`, sorted by their hash, in one round trip.
pub(crate) async fn advisory_locks_pg(
    c: &mut diesel_async::AsyncPgConnection,
    keys: Vec<String>,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(h) FROM \
         (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS s",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(keys)
    .execute(c)
    .await?;
    Ok(())
}

/// Advisory locks that serialize the transactions of parallel writers (or nodes) that touch
/// the same keys, on PostgreSQL; on SQLite there is one writer connection, so nothing to do.
/// Query code written once for both backends calls it inside its transaction.
pub(crate) trait WriterLocks {
    /// Locks `keys` until the transaction ends.
    async fn lock_keys(&mut self, keys: Vec<String>) -> Result<(), crate::db::StoreError>;
}

impl WriterLocks for crate::db::SqliteConn {
    async fn lock_keys(&mut self, _keys: Vec<String>) -> Result<(), crate::db::StoreError> {
        Ok(())
    }
}

impl WriterLocks for diesel_async::AsyncPgConnection {
    async fn lock_keys(&mut self, keys: Vec<String>) -> Result<(), crate::db::StoreError> {
        advisory_locks_pg(self, keys).await
    }
}
