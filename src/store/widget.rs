//! What the web chat widget reads and writes besides inbound messages: the visitor's
//! conversation, the history a visitor may see (never private notes), visitors' receipts
//! on agents' replies, and joining a verified identity to its contact.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::conversations::Message;
use super::locks::WriterLocks;
use super::locks::contact_lock_key;
use super::{Actor, AuditEvent, now};
use crate::db::schema::{agents, contact_identities, contacts, conversations, messages};
use crate::db::types::{
    ChannelType, ConversationKind, ConversationStatus, DeliveryStatus, Direction, Verification,
};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// The visitor's contact and their newest conversation in the inbox unless it is closed, if
/// they ever wrote.
pub async fn visitor_conversation(
    conn: &mut DbConn,
    inbox_id: i64,
    identifier: &str,
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    db_run!(conn, c => {
        let contact: Option<i64> = contact_identities::table
            .filter(contact_identities::inbox_id.eq(inbox_id))
            .filter(contact_identities::identifier.eq(identifier))
            .select(contact_identities::contact_id)
            .first(c)
            .await
            .optional()?;
        let Some(contact_id) = contact else {
            return Ok(None);
        };
        // The newest one; closed (the visitor started afresh, or support closed it) is none,
        // so an older resolved conversation never comes back.
        let newest: Option<(i64, ConversationStatus)> = conversations::table
            .filter(conversations::inbox_id.eq(inbox_id))
            .filter(conversations::contact_id.eq(contact_id))
            .filter(conversations::kind.eq(ConversationKind::Support))
            .order(conversations::id.desc())
            .select((conversations::id, conversations::status))
            .first(c)
            .await
            .optional()?;
        let conversation = newest
            .filter(|(_, status)| *status != ConversationStatus::Closed)
            .map(|(id, _)| id);
        Ok(Some((contact_id, conversation)))
    })
}

/// What the widget shows of a conversation besides its messages: whether it is resolved (or
/// closed), and how far agents have read it (the highest seq any agent read), so the visitor's
/// read ticks are right after a reload too.
pub async fn conversation_state(
    conn: &mut DbConn,
    conversation_id: i64,
) -> Result<(bool, i64), StoreError> {
    use crate::db::schema::conversation_participants;
    db_run!(conn, c => {
        let status: Option<ConversationStatus> = conversations::table
            .find(conversation_id)
            .select(conversations::status)
            .first(c)
            .await
            .optional()?;
        let read: Option<i64> = conversation_participants::table
            .filter(conversation_participants::conversation_id.eq(conversation_id))
            .select(diesel::dsl::max(conversation_participants::last_read_seq))
            .first(c)
            .await?;
        let resolved = matches!(
            status,
            Some(ConversationStatus::Resolved | ConversationStatus::Closed)
        );
        Ok::<_, StoreError>((resolved, read.unwrap_or(0)))
    })
}

/// Messages a visitor may see (no private notes, nothing internal), oldest first: those
/// after `after` (up to `limit`), or the latest `limit` when `after` is `None`.
pub async fn visible_messages(
    conn: &mut DbConn,
    conversation_id: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    let mut rows: Vec<Message> = db_run!(conn, c => {
        let query = messages::table
            .filter(messages::conversation_id.eq(conversation_id))
            .filter(messages::private.eq(false))
            .filter(messages::direction.ne(Direction::Internal))
            .select(Message::as_select())
            .limit(limit)
            .into_boxed();
        match after {
            Some(seq) => query.filter(messages::seq.gt(seq)).order(messages::seq.asc()).load(c).await,
            None => query.order(messages::seq.desc()).load(c).await,
        }
    })?;
    if after.is_none() {
        rows.reverse();
    }
    Ok(rows)
}

/// Display names of agents, for the author line of replies.
pub async fn agent_names(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    let rows: Vec<(i64, String)> = db_run!(conn, c => agents::table
        .filter(agents::id.eq_any(ids))
        .select((agents::id, agents::name))
        .load(c)
        .await)?;
    Ok(rows.into_iter().collect())
}

/// A visitor's browser received (`Delivered`) or showed (`Read`) the replies up to `up_to`:
/// each reply moves forward to that status, never back. Returns the messages that moved.
pub async fn advance_replies(
    conn: &mut DbConn,
    conversation_id: i64,
    up_to: i64,
    status: DeliveryStatus,
) -> Result<Vec<Message>, StoreError> {
    let from = super::delivery::predecessors(status);
    Ok(db_run!(conn, c => diesel::update(
        messages::table
            .filter(messages::conversation_id.eq(conversation_id))
            .filter(messages::direction.eq(Direction::Outbound))
            .filter(messages::private.eq(false))
            .filter(messages::seq.le(up_to))
            .filter(messages::delivery_status.eq_any(from)),
    )
    .set(messages::delivery_status.eq(status))
    .returning(Message::as_returning())
    .get_results(c)
    .await)?)
}

/// Who the visitor said they are, and whether the site vouched for it.
#[derive(Debug, Clone, Default)]
pub struct Identification {
    /// The site's own user id, set only when its HMAC was verified.
    pub verified_identifier: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Records an identification for the visitor whose identity is `visitor_identifier`:
/// name and email on the contact (creating it, so the first message finds it), and, when
/// verified, the site's identifier as an `hmac` identity. If another contact of this inbox
/// already has that identifier (the same person on another device), the visitor's contact
/// joins it: the visitor continues that person's conversations. Returns the contact id, or
/// `None` when this browser already belongs to another verified user (a shared computer,
/// a logout and another login): two people's conversations must never meet, so the
/// browser has to start over as a new visitor.
pub async fn identify(
    conn: &mut DbConn,
    inbox_id: i64,
    visitor_identifier: &str,
    who: &Identification,
) -> Result<Option<i64>, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let mut keys = vec![contact_lock_key(inbox_id, visitor_identifier)];
        if let Some(identifier) = &who.verified_identifier {
            keys.push(contact_lock_key(inbox_id, identifier));
        }
        c.lock_keys(keys).await?;
        let identity_contact = async |c: &mut _, identifier: &str| -> Result<Option<i64>, StoreError> {
            Ok(contact_identities::table
                .filter(contact_identities::inbox_id.eq(inbox_id))
                .filter(contact_identities::identifier.eq(identifier))
                .select(contact_identities::contact_id)
                .first(c)
                .await
                .optional()?)
        };
        let visitor = identity_contact(&mut *c, visitor_identifier).await?;
        if let (Some(v), Some(identifier)) = (visitor, &who.verified_identifier) {
            let someone_else: i64 = contact_identities::table
                .filter(contact_identities::contact_id.eq(v))
                .filter(contact_identities::inbox_id.eq(inbox_id))
                .filter(contact_identities::verification.eq(Verification::Hmac))
                .filter(contact_identities::identifier.ne(identifier))
                .count()
                .get_result(c)
                .await?;
            if someone_else > 0 {
                return Ok(None);
            }
        }
        let known = match &who.verified_identifier {
            Some(identifier) => identity_contact(&mut *c, identifier).await?,
            None => None,
        };
        let add_identity = async |c: &mut _, contact_id: i64, identifier: &str, level: Verification| -> Result<(), StoreError> {
            diesel::insert_into(contact_identities::table)
                .values((
                    contact_identities::contact_id.eq(contact_id),
                    contact_identities::inbox_id.eq(inbox_id),
                    contact_identities::channel_type.eq(ChannelType::Widget),
                    contact_identities::identifier.eq(identifier),
                    contact_identities::verification.eq(level),
                    contact_identities::profile.eq("{}"),
                    contact_identities::created_at.eq(at),
                    contact_identities::updated_at.eq(at),
                ))
                .execute(c)
                .await?;
            Ok(())
        };
        let contact_id = match (visitor, known) {
            (Some(v), Some(k)) if v == k => k,
            (Some(v), Some(k)) => {
                // The same person, seen before: this browser's contact joins theirs.
                diesel::update(contact_identities::table.filter(contact_identities::contact_id.eq(v)))
                    .set(contact_identities::contact_id.eq(k))
                    .execute(c)
                    .await?;
                let moved: Vec<i64> = diesel::update(conversations::table.filter(conversations::contact_id.eq(v)))
                    .set(conversations::contact_id.eq(k))
                    .returning(conversations::id)
                    .get_results(c)
                    .await?;
                diesel::delete(contacts::table.find(v)).execute(c).await?;
                let event = AuditEvent::new("contact.merge", "contact", k).with_details(json!({
                    "merged_contact_id": v.to_string(),
                    "reason": "verified widget identity",
                    "conversations_moved": moved.iter().map(i64::to_string).collect::<Vec<_>>(),
                }));
                audit!(c, &Actor::system(), event).await?;
                k
            }
            (None, Some(k)) => {
                add_identity(&mut *c, k, visitor_identifier, Verification::Unverified).await?;
                k
            }
            (visitor, None) => {
                let id = match visitor {
                    Some(v) => v,
                    None => {
                        let id: i64 = diesel::insert_into(contacts::table)
                            .values((
                                contacts::attributes.eq("{}"),
                                contacts::created_at.eq(at),
                                contacts::updated_at.eq(at),
                            ))
                            .returning(contacts::id)
                            .get_result(c)
                            .await?;
                        add_identity(&mut *c, id, visitor_identifier, Verification::Unverified).await?;
                        id
                    }
                };
                if let Some(identifier) = &who.verified_identifier {
                    add_identity(&mut *c, id, identifier, Verification::Hmac).await?;
                }
                id
            }
        };
        if who.name.is_some() || who.email.is_some() {
            let (name, email): (Option<String>, Option<String>) = contacts::table
                .find(contact_id)
                .select((contacts::name, contacts::email))
                .first(c)
                .await?;
            diesel::update(contacts::table.find(contact_id))
                .set((
                    contacts::name.eq(who.name.clone().or(name)),
                    contacts::email.eq(who.email.clone().or(email)),
                    contacts::updated_at.eq(at),
                ))
                .execute(c)
                .await?;
        }
        Ok(Some(contact_id))
    }).await)
}

/// Keeps where a web visitor is (their identity's `profile`, see
/// `switchboard_widget::VisitorContext`); the contact's id when that changed something (a
/// visitor who has not written yet has no identity: their context goes with their first
/// message; the same page again writes nothing).
pub async fn save_visitor_context(
    conn: &mut DbConn,
    inbox_id: i64,
    identifier: &str,
    profile: &str,
) -> Result<Option<i64>, StoreError> {
    let at = now();
    Ok(db_run!(conn, c => diesel::update(
        contact_identities::table
            .filter(contact_identities::inbox_id.eq(inbox_id))
            .filter(contact_identities::identifier.eq(identifier))
            .filter(contact_identities::profile.ne(profile)),
    )
    .set((
        contact_identities::profile.eq(profile),
        contact_identities::updated_at.eq(at),
    ))
    .returning(contact_identities::contact_id)
    .get_result(c)
    .await
    .optional())?)
}
