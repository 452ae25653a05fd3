//! Labels: created on first use by a conversation, coloured and pruned by admins.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent, now};
use crate::db::schema::{conversation_labels, labels};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = labels)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Label {
    pub id: i64,
    pub name: String,
    pub color: String,
    pub created_at: NaiveDateTime,
}

/// Labels after id `after`, with how many conversations carry each.
pub async fn list(
    conn: &mut DbConn,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<(Label, i64)>, StoreError> {
    let after = after.unwrap_or(0);
    db_run!(conn, c => {
        let rows: Vec<Label> = labels::table
            .filter(labels::id.gt(after))
            .order(labels::id)
            .limit(limit)
            .select(Label::as_select())
            .load(c)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|l| l.id).collect();
        let counts: HashMap<i64, i64> = conversation_labels::table
            .filter(conversation_labels::label_id.eq_any(&ids))
            .group_by(conversation_labels::label_id)
            .select((conversation_labels::label_id, diesel::dsl::count_star()))
            .load::<(i64, i64)>(c)
            .await?
            .into_iter()
            .collect();
        Ok::<_, StoreError>(
            rows.into_iter()
                .map(|l| {
                    let n = counts.get(&l.id).copied().unwrap_or(0);
                    (l, n)
                })
                .collect(),
        )
    })
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Label>, StoreError> {
    Ok(db_run!(conn, c => labels::table
        .find(id)
        .select(Label::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The conversations that carry a label, by id.
pub async fn carriers(conn: &mut DbConn, label_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(db_run!(conn, c => conversation_labels::table
        .filter(conversation_labels::label_id.eq(label_id))
        .order(conversation_labels::conversation_id)
        .select(conversation_labels::conversation_id)
        .load(c)
        .await)?)
}

/// Creates a label ahead of its first use; `StoreError::Conflict` when the name exists.
pub async fn create(
    conn: &mut DbConn,
    name: &str,
    color: &str,
    actor: &Actor,
) -> Result<Label, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let label = diesel::insert_into(labels::table)
            .values((
                labels::name.eq(name),
                labels::color.eq(color),
                labels::created_at.eq(at),
            ))
            .returning(Label::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("label.create", "label", label.id)
            .with_details(json!({"name": label.name, "color": label.color}));
        audit!(c, actor, event).await?;
        Ok(label)
    }).await)
}

/// Sets a label's colour; `Ok(None)` when there is no such label.
pub async fn set_color(
    conn: &mut DbConn,
    id: i64,
    color: &str,
    actor: &Actor,
) -> Result<Option<Label>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let label = diesel::update(labels::table.find(id))
            .set(labels::color.eq(color))
            .returning(Label::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if let Some(label) = &label {
            let event = AuditEvent::new("label.update", "label", id)
                .with_details(json!({"name": label.name, "color": color}));
            audit!(c, actor, event).await?;
        }
        Ok(label)
    }).await)
}

/// Deletes a label and takes it off every conversation still carrying it (callers take it
/// off through the conversations first, so those changes are audited and published); the
/// number of conversations it was taken off here, `None` when there is no such label.
pub async fn delete(conn: &mut DbConn, id: i64, actor: &Actor) -> Result<Option<i64>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let Some(label) = labels::table
            .find(id)
            .select(Label::as_select())
            .first(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let carried = diesel::delete(
            conversation_labels::table.filter(conversation_labels::label_id.eq(id)),
        )
        .execute(c)
        .await? as i64;
        diesel::delete(labels::table.find(id)).execute(c).await?;
        let event = AuditEvent::new("label.delete", "label", id)
            .with_details(json!({"name": label.name, "conversations": carried}));
        audit!(c, actor, event).await?;
        Ok(Some(carried))
    }).await)
}
