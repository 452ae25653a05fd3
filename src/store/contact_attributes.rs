//! Custom contact attributes as admins define them: the key a value has in
//! `contacts.attributes`, the label agents see and the kind of value the contact page edits.
//! Values stay in the contact's JSON, so an API caller may keep keys no one defined; deleting a
//! definition keeps the values (the contact page lists them as other attributes).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent, now};
use crate::db::schema::contact_attributes;
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// Most definitions an installation keeps (each is a field on every contact page).
pub const MAX_DEFINITIONS: i64 = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contact_attributes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AttributeDefinition {
    pub id: i64,
    pub key: String,
    pub label: String,
    /// One of [`crate::domain::AttributeKind`]'s names.
    pub kind: String,
    /// The choices of a `list` attribute, a JSON array of strings.
    pub options: String,
    pub created_at: NaiveDateTime,
}

/// Every definition, in the order they were made (the contact page's order).
pub async fn list(conn: &mut DbConn) -> Result<Vec<AttributeDefinition>, StoreError> {
    Ok(db_run!(conn, c => contact_attributes::table
        .order(contact_attributes::id)
        .select(AttributeDefinition::as_select())
        .load(c)
        .await)?)
}

/// What a create refused besides the store failing.
#[derive(Debug)]
pub enum CreateRefusal {
    /// The key is taken.
    KeyTaken,
    /// [`MAX_DEFINITIONS`] exist.
    TooMany,
}

/// Creates a definition; the count is checked in the same transaction as the insert.
pub async fn create(
    conn: &mut DbConn,
    key: &str,
    label: &str,
    kind: &str,
    options: &[String],
    actor: &Actor,
) -> Result<Result<AttributeDefinition, CreateRefusal>, StoreError> {
    let options_json = serde_json::to_string(options).unwrap_or_else(|_| "[]".into());
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let existing: i64 = contact_attributes::table.count().get_result(c).await?;
        if existing >= MAX_DEFINITIONS {
            return Ok(Err(CreateRefusal::TooMany));
        }
        let taken: i64 = contact_attributes::table
            .filter(contact_attributes::key.eq(key))
            .count()
            .get_result(c)
            .await?;
        if taken > 0 {
            return Ok(Err(CreateRefusal::KeyTaken));
        }
        let definition = diesel::insert_into(contact_attributes::table)
            .values((
                contact_attributes::key.eq(key),
                contact_attributes::label.eq(label),
                contact_attributes::kind.eq(kind),
                contact_attributes::options.eq(&options_json),
                contact_attributes::created_at.eq(at),
            ))
            .returning(AttributeDefinition::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("contact_attribute.create", "contact_attribute", definition.id)
            .with_details(json!({"key": key, "label": label, "kind": kind, "options": options}));
        audit!(c, actor, event).await?;
        Ok(Ok(definition))
    }).await)
}

/// Changes a definition's label and (for lists) options; the key and kind stay, since stored
/// values were written for them. `Ok(None)`: no such definition.
pub async fn update(
    conn: &mut DbConn,
    id: i64,
    label: Option<&str>,
    options: Option<&[String]>,
    actor: &Actor,
) -> Result<Option<AttributeDefinition>, StoreError> {
    let options_json = options.map(|o| serde_json::to_string(o).unwrap_or_else(|_| "[]".into()));
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let Some(mut definition) = contact_attributes::table
            .find(id)
            .select(AttributeDefinition::as_select())
            .first(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        if let Some(label) = label {
            definition.label = label.to_owned();
        }
        if let Some(options) = &options_json {
            definition.options = options.clone();
        }
        diesel::update(contact_attributes::table.find(id))
            .set((
                contact_attributes::label.eq(&definition.label),
                contact_attributes::options.eq(&definition.options),
            ))
            .execute(c)
            .await?;
        let event = AuditEvent::new("contact_attribute.update", "contact_attribute", id)
            .with_details(json!({"key": definition.key, "label": label, "options": options}));
        audit!(c, actor, event).await?;
        Ok(Some(definition))
    }).await)
}

/// Deletes a definition (contacts keep their values). `Ok(None)`: no such definition.
pub async fn delete(
    conn: &mut DbConn,
    id: i64,
    actor: &Actor,
) -> Result<Option<AttributeDefinition>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let definition = diesel::delete(contact_attributes::table.find(id))
            .returning(AttributeDefinition::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if let Some(d) = &definition {
            let event = AuditEvent::new("contact_attribute.delete", "contact_attribute", id)
                .with_details(json!({"key": d.key, "label": d.label}));
            audit!(c, actor, event).await?;
        }
        Ok(definition)
    }).await)
}
