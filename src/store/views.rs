//! Saved views: an agent's named filter sets for the conversation list, private to them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::now;
use crate::db::schema::{agents, saved_views};
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// At most this many views per agent: a picker, not a database.
pub const MAX_VIEWS: i64 = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = saved_views)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SavedView {
    pub id: i64,
    pub agent_id: i64,
    pub name: String,
    /// The list's query parameters as a JSON object (checked by the route).
    pub filters: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Why a view was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("you already have a view with that name")]
    NameTaken,
    #[error("at most {MAX_VIEWS} saved views per agent")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ViewError {
    fn from(e: diesel::result::Error) -> Self {
        let e = StoreError::from(e);
        if e.is_conflict() {
            ViewError::NameTaken
        } else {
            ViewError::Store(e)
        }
    }
}

/// An agent's views by name.
pub async fn list(conn: &mut DbConn, agent_id: i64) -> Result<Vec<SavedView>, StoreError> {
    Ok(db_run!(conn, c => saved_views::table
        .filter(saved_views::agent_id.eq(agent_id))
        .order((saved_views::name, saved_views::id))
        .select(SavedView::as_select())
        .load(c)
        .await)?)
}

pub async fn create(
    conn: &mut DbConn,
    agent_id: i64,
    name: &str,
    filters: &str,
) -> Result<SavedView, ViewError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, ViewError, _>(async |c| {
        // The agent's row locked (a no-op update) so two saves at once cannot both pass
        // the count; SQLite's single writer serialises them anyway.
        diesel::update(agents::table.find(agent_id))
            .set(agents::id.eq(agents::id))
            .execute(c)
            .await?;
        let have: i64 = saved_views::table
            .filter(saved_views::agent_id.eq(agent_id))
            .count()
            .get_result(c)
            .await?;
        if have >= MAX_VIEWS {
            return Err(ViewError::TooMany);
        }
        Ok(diesel::insert_into(saved_views::table)
            .values((
                saved_views::agent_id.eq(agent_id),
                saved_views::name.eq(name),
                saved_views::filters.eq(filters),
                saved_views::created_at.eq(at),
                saved_views::updated_at.eq(at),
            ))
            .returning(SavedView::as_returning())
            .get_result(c)
            .await?)
    }).await)
}

/// Renames a view and/or replaces its filters; `Ok(None)` when the agent has no such view.
pub async fn update(
    conn: &mut DbConn,
    agent_id: i64,
    id: i64,
    name: Option<&str>,
    filters: Option<&str>,
) -> Result<Option<SavedView>, ViewError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, ViewError, _>(async |c| {
        let target = saved_views::table
            .filter(saved_views::id.eq(id))
            .filter(saved_views::agent_id.eq(agent_id));
        if let Some(name) = name {
            diesel::update(target)
                .set(saved_views::name.eq(name))
                .execute(c)
                .await?;
        }
        if let Some(filters) = filters {
            diesel::update(target)
                .set(saved_views::filters.eq(filters))
                .execute(c)
                .await?;
        }
        Ok(diesel::update(target)
            .set(saved_views::updated_at.eq(at))
            .returning(SavedView::as_returning())
            .get_result(c)
            .await
            .optional()?)
    }).await)
}

/// False when the agent has no such view.
pub async fn delete(conn: &mut DbConn, agent_id: i64, id: i64) -> Result<bool, StoreError> {
    let removed = db_run!(conn, c => diesel::delete(
        saved_views::table
            .filter(saved_views::id.eq(id))
            .filter(saved_views::agent_id.eq(agent_id)),
    )
    .execute(c)
    .await)?;
    Ok(removed > 0)
}
