//! Contacts (the customers) and their identities on each channel.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::conversations::lower;
use super::{Actor, AuditEvent, now};
use crate::db::schema::{contact_identities, contacts, conversations};
use crate::db::types::{ChannelType, Verification};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Contact {
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub avatar_url: Option<String>,
    pub attributes: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contact_identities)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Identity {
    pub id: i64,
    pub contact_id: i64,
    pub inbox_id: i64,
    pub channel_type: ChannelType,
    pub identifier: String,
    pub verification: Verification,
    pub profile: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Since when the customer has blocked the channel (replies fail at once); `None`: reachable.
    pub blocked_at: Option<NaiveDateTime>,
}

/// Fields to change; `Some(None)` clears a field.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = contacts)]
pub struct ContactChanges {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub language: Option<Option<String>>,
    pub attributes: Option<String>,
}

/// Contacts by id, newest first. `visible_inboxes` (agents) limits the list to contacts
/// with an identity in those inboxes; `text` matches name, email, phone or an identifier.
pub async fn list(
    conn: &mut DbConn,
    visible_inboxes: Option<&[i64]>,
    text: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Contact>, StoreError> {
    let pattern = text.map(|t| {
        let t = t
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{t}%")
    });
    Ok(db_run!(conn, c => {
        let mut q = contacts::table
            .filter(contacts::id.lt(before.unwrap_or(i64::MAX)))
            .order(contacts::id.desc())
            .limit(limit)
            .select(Contact::as_select())
            .into_boxed();
        if let Some(visible) = visible_inboxes {
            q = q.filter(contacts::id.eq_any(
                contact_identities::table
                    .filter(contact_identities::inbox_id.eq_any(visible.to_vec()))
                    .select(contact_identities::contact_id),
            ));
        }
        if let Some(p) = &pattern {
            q = q.filter(
                lower(contacts::name.assume_not_null()).like(p.clone()).escape('\\')
                    .or(lower(contacts::email.assume_not_null()).like(p.clone()).escape('\\'))
                    .or(lower(contacts::phone.assume_not_null()).like(p.clone()).escape('\\'))
                    .or(contacts::id.eq_any(
                        contact_identities::table
                            .filter(lower(contact_identities::identifier).like(p.clone()).escape('\\'))
                            .select(contact_identities::contact_id),
                    )),
            );
        }
        q.load(c).await
    })?)
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Contact>, StoreError> {
    Ok(db_run!(conn, c => contacts::table
        .find(id)
        .select(Contact::as_select())
        .first(c)
        .await
        .optional())?)
}

pub async fn identities(conn: &mut DbConn, contact_id: i64) -> Result<Vec<Identity>, StoreError> {
    Ok(db_run!(conn, c => contact_identities::table
        .filter(contact_identities::contact_id.eq(contact_id))
        .order(contact_identities::id)
        .select(Identity::as_select())
        .load(c)
        .await)?)
}

pub async fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &ContactChanges,
    actor: &Actor,
) -> Result<Option<Contact>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let contact = diesel::update(contacts::table.find(id))
            .set((changes, contacts::updated_at.eq(now())))
            .returning(Contact::as_returning())
            .get_result(c)
            .await
            .optional()?;
        if contact.is_some() {
            let event = AuditEvent::new("contact.update", "contact", id).with_details(json!({
                "name": changes.name, "email": changes.email, "phone": changes.phone,
                "language": changes.language,
            }));
            audit!(c, actor, event).await?;
        }
        Ok(contact)
    }).await)
}

/// Merges `source` into `target`: identities and conversations move, empty profile fields
/// are filled from the source, the source is deleted. Returns the moved conversation ids.
pub async fn merge(
    conn: &mut DbConn,
    target: i64,
    source: i64,
    actor: &Actor,
) -> Result<Option<(Contact, Vec<i64>)>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let both: Vec<Contact> = contacts::table
            .filter(contacts::id.eq_any([target, source]))
            .select(Contact::as_select())
            .load(c)
            .await?;
        let (Some(t), Some(s)) = (
            both.iter().find(|x| x.id == target),
            both.iter().find(|x| x.id == source),
        ) else {
            return Ok(None);
        };
        let moved_identities = diesel::update(contact_identities::table.filter(contact_identities::contact_id.eq(source)))
            .set(contact_identities::contact_id.eq(target))
            .execute(c)
            .await?;
        let moved: Vec<i64> = diesel::update(conversations::table.filter(conversations::contact_id.eq(source)))
            .set(conversations::contact_id.eq(target))
            .returning(conversations::id)
            .get_results(c)
            .await?;
        let contact = diesel::update(contacts::table.find(target))
            .set((
                contacts::name.eq(t.name.clone().or(s.name.clone())),
                contacts::email.eq(t.email.clone().or(s.email.clone())),
                contacts::phone.eq(t.phone.clone().or(s.phone.clone())),
                contacts::language.eq(t.language.clone().or(s.language.clone())),
                contacts::avatar_url.eq(t.avatar_url.clone().or(s.avatar_url.clone())),
                contacts::updated_at.eq(now()),
            ))
            .returning(Contact::as_returning())
            .get_result(c)
            .await?;
        diesel::delete(contacts::table.find(source)).execute(c).await?;
        let event = AuditEvent::new("contact.merge", "contact", target).with_details(json!({
            "merged_contact_id": source.to_string(),
            "merged_name": s.name,
            "identities_moved": moved_identities,
            "conversations_moved": moved.iter().map(i64::to_string).collect::<Vec<_>>(),
        }));
        audit!(c, actor, event).await?;
        Ok(Some((contact, moved)))
    }).await)
}

/// Whether an agent may see a contact: it has an identity in one of the given inboxes.
pub async fn visible_in(
    conn: &mut DbConn,
    contact_id: i64,
    inboxes: &[i64],
) -> Result<bool, StoreError> {
    let n: i64 = db_run!(conn, c => contact_identities::table
        .filter(contact_identities::contact_id.eq(contact_id))
        .filter(contact_identities::inbox_id.eq_any(inboxes))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// When the contact last wrote to this inbox (through any of their identities there), for
/// channels that only deliver free-form replies within a window of it.
pub async fn last_inbound_at(
    conn: &mut DbConn,
    inbox_id: i64,
    contact_id: i64,
) -> Result<Option<NaiveDateTime>, StoreError> {
    let last: Option<Option<NaiveDateTime>> = db_run!(conn, c => contact_identities::table
        .filter(contact_identities::inbox_id.eq(inbox_id))
        .filter(contact_identities::contact_id.eq(contact_id))
        .select(diesel::dsl::max(contact_identities::last_inbound_at))
        .first(c)
        .await
        .optional())?;
    Ok(last.flatten())
}

/// Marks the reply window of a customer closed because the provider said so (WhatsApp error
/// 131047), whatever the hub's own clock thought: the inbox then offers templates only.
pub async fn close_reply_window(
    conn: &mut DbConn,
    inbox_id: i64,
    identifier: &str,
    window: chrono::TimeDelta,
) -> Result<(), StoreError> {
    let closed_at = super::now() - window - chrono::TimeDelta::seconds(1);
    db_run!(conn, c => diesel::update(
        contact_identities::table
            .filter(contact_identities::inbox_id.eq(inbox_id))
            .filter(contact_identities::identifier.eq(identifier))
            .filter(contact_identities::last_inbound_at.gt(closed_at)),
    )
    .set(contact_identities::last_inbound_at.eq(closed_at))
    .execute(c)
    .await)?;
    Ok(())
}
