//! Contacts (the customers) and their identities on each channel.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::conversations::lower;
use super::{Actor, AuditEvent, now};
use crate::db::schema::{agents, contact_identities, contact_notes, contacts, conversations};
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

/// The order of the contacts list and where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactOrder {
    /// Newest first, after the contact with this id.
    Newest(Option<i64>),
    /// Oldest first, after the contact with this id.
    Oldest(Option<i64>),
    /// By name (case folded by the database; contacts without a name last, by id), after
    /// this position.
    Name(Option<NamePosition>),
}

/// A place in the by-name order: the contact's name (`None`: nameless) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePosition {
    pub name: Option<String>,
    pub id: i64,
}

/// A page of contacts in `order`. `visible_inboxes` (agents) limits the list to contacts
/// with an identity in those inboxes; `text` matches name, email, phone or an identifier.
pub async fn list(
    conn: &mut DbConn,
    visible_inboxes: Option<&[i64]>,
    text: Option<&str>,
    order: &ContactOrder,
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
            .limit(limit)
            .select(Contact::as_select())
            .into_boxed();
        q = match order {
            ContactOrder::Newest(after) => q
                .filter(contacts::id.lt(after.unwrap_or(i64::MAX)))
                .order(contacts::id.desc()),
            ContactOrder::Oldest(after) => q
                .filter(contacts::id.gt(after.unwrap_or(0)))
                .order(contacts::id.asc()),
            ContactOrder::Name(after) => {
                let q = q.order((
                    contacts::name.is_null().asc(),
                    lower(contacts::name.assume_not_null()).asc(),
                    contacts::id.asc(),
                ));
                let folded = lower(contacts::name.assume_not_null());
                match after {
                    None => q,
                    Some(NamePosition { name: Some(name), id }) => q.filter(
                        contacts::name.is_null().or(folded.gt(lower(name.clone())).or(
                            folded.eq(lower(name.clone())).and(contacts::id.gt(*id)),
                        )),
                    ),
                    Some(NamePosition { name: None, id }) => {
                        q.filter(contacts::name.is_null().and(contacts::id.gt(*id)))
                    }
                }
            }
        };
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

/// The target's attributes with the source's keys it lacks (the kept contact's values win);
/// the target's alone when both together would pass the 16 KiB a contact's attributes may
/// hold (the contact must stay editable).
fn merged_attributes(target: &str, source: &str) -> String {
    let read = |text: &str| match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    let mut fields = read(target);
    for (key, value) in read(source) {
        fields.entry(key).or_insert(value);
    }
    let merged = serde_json::Value::Object(fields).to_string();
    if merged.len() > MAX_ATTRIBUTES_BYTES {
        target.to_owned()
    } else {
        merged
    }
}

/// Largest JSON text of a contact's attributes.
pub const MAX_ATTRIBUTES_BYTES: usize = 16_384;

/// Merges `source` into `target`: identities, conversations and notes move, empty profile
/// fields and missing attributes are filled from the source, the source is deleted. Returns
/// the moved conversation ids.
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
        let moved_notes = diesel::update(contact_notes::table.filter(contact_notes::contact_id.eq(source)))
            .set(contact_notes::contact_id.eq(target))
            .execute(c)
            .await?;
        let contact = diesel::update(contacts::table.find(target))
            .set((
                contacts::attributes.eq(merged_attributes(&t.attributes, &s.attributes)),
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
            "notes_moved": moved_notes,
            "conversations_moved": moved.iter().map(i64::to_string).collect::<Vec<_>>(),
        }));
        audit!(c, actor, event).await?;
        Ok(Some((contact, moved)))
    }).await)
}

/// What the contacts list shows of each contact besides its fields, counted over the inboxes
/// the caller sees.
#[derive(Debug, Clone, Default)]
pub struct ContactSummary {
    /// The channels the contact has written on, each once.
    pub channels: Vec<ChannelType>,
    /// Their support conversations.
    pub conversations: i64,
    /// The latest activity in any of them.
    pub last_activity_at: Option<NaiveDateTime>,
}

/// [`ContactSummary`] of each contact in `ids` (two grouped queries for a page).
pub async fn summaries(
    conn: &mut DbConn,
    ids: &[i64],
    visible_inboxes: Option<&[i64]>,
) -> Result<std::collections::HashMap<i64, ContactSummary>, StoreError> {
    use crate::db::types::ConversationKind;
    let mut out: std::collections::HashMap<i64, ContactSummary> = std::collections::HashMap::new();
    let (channels, counts) = db_run!(conn, c => {
        let mut identities = contact_identities::table
            .filter(contact_identities::contact_id.eq_any(ids))
            .select((contact_identities::contact_id, contact_identities::channel_type))
            .distinct()
            .into_boxed();
        let mut threads = conversations::table
            .filter(conversations::contact_id.eq_any(ids))
            .filter(conversations::kind.eq(ConversationKind::Support))
            .group_by(conversations::contact_id)
            .select((
                conversations::contact_id.assume_not_null(),
                diesel::dsl::count_star(),
                diesel::dsl::max(conversations::last_activity_at),
            ))
            .into_boxed();
        if let Some(visible) = visible_inboxes {
            identities = identities.filter(contact_identities::inbox_id.eq_any(visible));
            threads = threads.filter(conversations::inbox_id.eq_any(visible));
        }
        let channels: Vec<(i64, ChannelType)> = identities.load(c).await?;
        let counts: Vec<(i64, i64, Option<NaiveDateTime>)> = threads.load(c).await?;
        Ok::<_, StoreError>((channels, counts))
    })?;
    for (contact, channel) in channels {
        let summary = out.entry(contact).or_default();
        if !summary.channels.contains(&channel) {
            summary.channels.push(channel);
        }
    }
    for (contact, n, last) in counts {
        let summary = out.entry(contact).or_default();
        summary.conversations = n;
        summary.last_activity_at = last;
    }
    Ok(out)
}

/// An agent's note on a contact.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contact_notes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ContactNote {
    pub id: i64,
    pub contact_id: i64,
    /// Who wrote it (`None`: an agent since deleted).
    pub author_id: Option<i64>,
    pub body: String,
    pub created_at: NaiveDateTime,
}

/// Most notes a contact page shows (the newest).
pub const MAX_NOTES: i64 = 200;

/// The contact's notes, newest first, with their authors' names.
pub async fn notes(
    conn: &mut DbConn,
    contact_id: i64,
) -> Result<Vec<(ContactNote, Option<String>)>, StoreError> {
    Ok(db_run!(conn, c => contact_notes::table
        .left_join(agents::table.on(agents::id.nullable().eq(contact_notes::author_id)))
        .filter(contact_notes::contact_id.eq(contact_id))
        .order(contact_notes::id.desc())
        .limit(MAX_NOTES)
        .select((ContactNote::as_select(), agents::name.nullable()))
        .load(c)
        .await)?)
}

/// Adds a note (audited without its text: notes can hold what the customer told in confidence).
pub async fn add_note(
    conn: &mut DbConn,
    contact_id: i64,
    author_id: Option<i64>,
    body: &str,
    actor: &Actor,
) -> Result<ContactNote, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let note = diesel::insert_into(contact_notes::table)
            .values((
                contact_notes::contact_id.eq(contact_id),
                contact_notes::author_id.eq(author_id),
                contact_notes::body.eq(body),
                contact_notes::created_at.eq(at),
            ))
            .returning(ContactNote::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("contact.note.create", "contact", contact_id)
            .with_details(json!({"note_id": note.id.to_string()}));
        audit!(c, actor, event).await?;
        Ok(note)
    }).await)
}

/// One note of a contact.
pub async fn find_note(
    conn: &mut DbConn,
    contact_id: i64,
    note_id: i64,
) -> Result<Option<ContactNote>, StoreError> {
    Ok(db_run!(conn, c => contact_notes::table
        .filter(contact_notes::id.eq(note_id))
        .filter(contact_notes::contact_id.eq(contact_id))
        .select(ContactNote::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Deletes a note; `false` when it was already gone.
pub async fn delete_note(
    conn: &mut DbConn,
    contact_id: i64,
    note_id: i64,
    actor: &Actor,
) -> Result<bool, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let n = diesel::delete(
            contact_notes::table
                .filter(contact_notes::id.eq(note_id))
                .filter(contact_notes::contact_id.eq(contact_id)),
        )
        .execute(c)
        .await?;
        if n > 0 {
            let event = AuditEvent::new("contact.note.delete", "contact", contact_id)
                .with_details(json!({"note_id": note_id.to_string()}));
            audit!(c, actor, event).await?;
        }
        Ok(n > 0)
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

/// Records that the customer `identifier` wrote to the inbox at `at` without a message (a tap
/// on a survey's button), so a channel's reply window counts from it as the provider's does.
pub async fn saw_inbound(
    conn: &mut DbConn,
    inbox_id: i64,
    identifier: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    db_run!(conn, c => diesel::update(
        contact_identities::table
            .filter(contact_identities::inbox_id.eq(inbox_id))
            .filter(contact_identities::identifier.eq(identifier))
            .filter(
                contact_identities::last_inbound_at
                    .is_null()
                    .or(contact_identities::last_inbound_at.lt(at)),
            ),
    )
    .set(contact_identities::last_inbound_at.eq(at))
    .execute(c)
    .await)?;
    Ok(())
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
