//! Canned responses: replies agents reuse, inserted with `/short_code` in the composer.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::conversations::lower;
use super::{Actor, AuditEvent, now};
use crate::db::schema::canned_responses;
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = canned_responses)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Canned {
    pub id: i64,
    pub short_code: String,
    pub content: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = canned_responses)]
pub struct CannedChanges {
    pub short_code: Option<String>,
    pub content: Option<String>,
}

/// Canned responses by short code; `search` keeps those whose code starts with it, then
/// (after them, so `/ship` picks `shipping` before a text that mentions shipping) those whose
/// text contains it: the composer's `/` completion. A search answers one page.
pub async fn list(
    conn: &mut DbConn,
    search: Option<&str>,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Canned>, StoreError> {
    let Some(search) = search else {
        return Ok(db_run!(conn, c => {
            let mut query = canned_responses::table
                .order(canned_responses::short_code)
                .limit(limit)
                .select(Canned::as_select())
                .into_boxed();
            if let Some(after) = &after {
                query = query.filter(canned_responses::short_code.gt(after.clone()));
            }
            query.load(c).await
        })?);
    };
    // The same on both backends: codes are lowercase, text is compared lowercased.
    let search = search.to_lowercase();
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let prefix = format!("{escaped}%");
    let inside = format!("%{escaped}%");
    let mut found: Vec<Canned> = db_run!(conn, c => canned_responses::table
        .filter(canned_responses::short_code.like(&prefix).escape('\\'))
        .order(canned_responses::short_code)
        .limit(limit)
        .select(Canned::as_select())
        .load(c)
        .await)?;
    let room = limit - found.len() as i64;
    if room > 0 {
        let more: Vec<Canned> = db_run!(conn, c => canned_responses::table
            .filter(canned_responses::short_code.not_like(&prefix).escape('\\'))
            .filter(lower(canned_responses::content).like(&inside).escape('\\'))
            .order(canned_responses::short_code)
            .limit(room)
            .select(Canned::as_select())
            .load(c)
            .await)?;
        found.extend(more);
    }
    Ok(found)
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Canned>, StoreError> {
    Ok(db_run!(conn, c => canned_responses::table
        .find(id)
        .select(Canned::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Creates one; `StoreError::Conflict` when the short code is taken.
pub async fn create(
    conn: &mut DbConn,
    short_code: &str,
    content: &str,
    actor: &Actor,
) -> Result<Canned, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let canned = diesel::insert_into(canned_responses::table)
            .values((
                canned_responses::short_code.eq(short_code),
                canned_responses::content.eq(content),
                canned_responses::created_at.eq(at),
                canned_responses::updated_at.eq(at),
            ))
            .returning(Canned::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("canned_response.create", "canned_response", canned.id)
            .with_details(json!({"short_code": canned.short_code}));
        audit!(c, actor, event).await?;
        Ok(canned)
    }).await)
}

/// Changes one; `Ok(None)` when there is no such canned response.
pub async fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &CannedChanges,
    actor: &Actor,
) -> Result<Option<Canned>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let canned = diesel::update(canned_responses::table.find(id))
            .set((changes, canned_responses::updated_at.eq(now())))
            .returning(Canned::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if canned.is_some() {
            let event = AuditEvent::new("canned_response.update", "canned_response", id)
                .with_details(json!({"short_code": changes.short_code, "content_changed": changes.content.is_some()}));
            audit!(c, actor, event).await?;
        }
        Ok(canned)
    }).await)
}

/// Deletes one; false when absent.
pub async fn delete(conn: &mut DbConn, id: i64, actor: &Actor) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let removed = diesel::delete(canned_responses::table.find(id)).execute(c).await?;
        if removed > 0 {
            audit!(c, actor, AuditEvent::new("canned_response.delete", "canned_response", id)).await?;
        }
        Ok(removed > 0)
    }).await)
}
