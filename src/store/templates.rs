//! A channel's approved message templates (WhatsApp), as last fetched from the provider:
//! agents pick from this copy, so the composer never waits on Meta, and admins refresh it
//! when they approve a new one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use switchboard_channel::MessageTemplate;

use super::{Actor, AuditEvent, now};
use crate::db::schema::channel_templates;
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

/// The stored templates of an inbox and when they were fetched; `None` before the first fetch.
pub async fn get(
    conn: &mut DbConn,
    inbox_id: i64,
) -> Result<Option<(Vec<MessageTemplate>, NaiveDateTime)>, StoreError> {
    let row: Option<(String, NaiveDateTime)> = db_run!(conn, c => channel_templates::table
        .find(inbox_id)
        .select((channel_templates::templates, channel_templates::fetched_at))
        .first(c)
        .await
        .optional())?;
    // Written by the hub from parsed templates; a damaged copy reads as "fetch again".
    Ok(row.and_then(|(text, at)| Some((serde_json::from_str(&text).ok()?, at))))
}

/// Replaces the stored templates of an inbox, audited as who fetched them.
pub async fn put(
    conn: &mut DbConn,
    inbox_id: i64,
    templates: &[MessageTemplate],
    actor: &Actor,
) -> Result<NaiveDateTime, StoreError> {
    // Plain structs of strings always serialize.
    let text = serde_json::to_string(templates).unwrap_or_else(|_| "[]".to_owned());
    let at = now();
    let event = AuditEvent::new("inbox.templates_fetch", "inbox", inbox_id)
        .with_details(serde_json::json!({ "templates": templates.len() }));
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::insert_into(channel_templates::table)
            .values((
                channel_templates::inbox_id.eq(inbox_id),
                channel_templates::templates.eq(&text),
                channel_templates::fetched_at.eq(at),
            ))
            .on_conflict(channel_templates::inbox_id)
            .do_update()
            .set((
                channel_templates::templates.eq(&text),
                channel_templates::fetched_at.eq(at),
            ))
            .execute(c)
            .await?;
        audit!(c, actor, event).await?;
        Ok(())
    }).await)?;
    Ok(at)
}
