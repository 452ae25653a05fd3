//! Attachments: files of a conversation, uploaded by agents (pending until sent with a
//! message) or fetched from a channel with an inbound message. The bytes live in the blob
//! store ([`crate::blobs`]); a row holds where, what type (sniffed from the bytes), and the
//! thumbnails once they are made. Each message also keeps a JSON summary of its files
//! ([`AttachmentMeta`]) so reads and realtime events carry them without a join.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::conversations::Message;
use super::locks::WriterLocks;
use super::now;
use super::{Actor, AuditEvent};
use crate::audit;
use crate::db::schema::{attachments, conversations, messages};
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// A stored file.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = attachments)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Attachment {
    pub id: i64,
    pub conversation_id: i64,
    pub message_id: Option<i64>,
    pub file_name: String,
    pub content_type: String,
    pub byte_size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumb_small_key: Option<String>,
    pub thumb_large_key: Option<String>,
    pub created_at: NaiveDateTime,
    /// Why no thumbnails could be made (the image does not decode); not tried again.
    pub thumbnail_error: Option<String>,
}

/// A file already in the blob store, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub file_name: String,
    pub content_type: String,
    pub byte_size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Set on a widget visitor's upload, so the storage quotas can count it.
    pub visitor: Option<VisitorUpload>,
}

/// The widget inbox and visitor an anonymous upload came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorUpload {
    pub inbox_id: i64,
    pub visitor_id: String,
}

/// What a message shows of one of its files (kept as JSON on the message row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: i64,
    pub file_name: String,
    pub content_type: String,
    pub byte_size: i64,
    #[serde(default)]
    pub width: Option<i64>,
    #[serde(default)]
    pub height: Option<i64>,
    /// Thumbnails are ready (images only; they are made after the message is stored).
    #[serde(default)]
    pub thumbnail: bool,
}

impl From<&Attachment> for AttachmentMeta {
    fn from(a: &Attachment) -> Self {
        Self {
            id: a.id,
            file_name: a.file_name.clone(),
            content_type: a.content_type.clone(),
            byte_size: a.byte_size,
            width: a.width,
            height: a.height,
            thumbnail: a.thumb_small_key.is_some() && a.thumb_large_key.is_some(),
        }
    }
}

/// The JSON summary kept on a message.
pub fn meta_json(files: &[Attachment]) -> String {
    let metas: Vec<AttachmentMeta> = files.iter().map(AttachmentMeta::from).collect();
    serde_json::to_string(&metas).unwrap_or_else(|_| "[]".to_owned())
}

/// Reads a message's summary back; a damaged value shows as no files (and is logged).
pub fn parse_meta(json: &str) -> Vec<AttachmentMeta> {
    match serde_json::from_str(json) {
        Ok(metas) => metas,
        Err(error) => {
            tracing::warn!(%error, "unreadable attachment summary on a message");
            Vec::new()
        }
    }
}

/// Why attachments could not be put on a message.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "attachment {0} is not an unsent upload of this conversation (upload it to this conversation first; each upload goes with one message)"
    )]
    NotClaimable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records an agent's uploads (with their audit entries) in one transaction; they wait
/// (no message) until a message claims them.
pub async fn insert_pending(
    conn: &mut DbConn,
    conversation_id: i64,
    files: &[NewAttachment],
    actor: &Actor,
) -> Result<Vec<Attachment>, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let mut rows = Vec::with_capacity(files.len());
        for file in files {
            let attachment: Attachment = diesel::insert_into(attachments::table)
                .values(row(conversation_id, None, file, at))
                .returning(Attachment::as_returning())
                .get_result(c)
                .await?;
            let event = AuditEvent::new("attachment.upload", "attachment", attachment.id)
                .with_details(serde_json::json!({
                    "conversation_id": conversation_id.to_string(),
                    "file_name": attachment.file_name,
                    "content_type": attachment.content_type,
                    "byte_size": attachment.byte_size,
                    "sha256": attachment.sha256,
                }));
            audit!(c, actor, event).await?;
            rows.push(attachment);
        }
        Ok(rows)
    }).await)
}

/// Uploads no message claimed within `older_than` (an agent attached a file and never
/// sent): their rows are deleted and their storage keys (file and thumbnails) returned so
/// the caller removes the blobs.
pub async fn delete_abandoned(
    conn: &mut DbConn,
    older_than: chrono::Duration,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let cutoff = now() - older_than;
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let ids: Vec<i64> = attachments::table
            .filter(attachments::message_id.is_null())
            .filter(attachments::created_at.lt(cutoff))
            .order(attachments::id)
            .limit(limit)
            .select(attachments::id)
            .load(c)
            .await?;
        // Only those still unclaimed (a message may have claimed one meanwhile), with the
        // keys as they are at the delete (a thumbnail may have been added meanwhile).
        let deleted: Vec<Attachment> = diesel::delete(
            attachments::table
                .filter(attachments::id.eq_any(&ids))
                .filter(attachments::message_id.is_null()),
        )
        .returning(Attachment::as_returning())
        .get_results(c)
        .await?;
        Ok(deleted
            .into_iter()
            .flat_map(|a| {
                [Some(a.storage_key), a.thumb_small_key, a.thumb_large_key]
                    .into_iter()
                    .flatten()
            })
            .collect())
    }).await)
}

type Row<'a> = (
    diesel::dsl::Eq<attachments::conversation_id, i64>,
    diesel::dsl::Eq<attachments::message_id, Option<i64>>,
    diesel::dsl::Eq<attachments::file_name, &'a str>,
    diesel::dsl::Eq<attachments::content_type, &'a str>,
    diesel::dsl::Eq<attachments::byte_size, i64>,
    diesel::dsl::Eq<attachments::sha256, &'a str>,
    diesel::dsl::Eq<attachments::storage_key, &'a str>,
    diesel::dsl::Eq<attachments::width, Option<i64>>,
    diesel::dsl::Eq<attachments::height, Option<i64>>,
    diesel::dsl::Eq<attachments::created_at, NaiveDateTime>,
    diesel::dsl::Eq<attachments::visitor_inbox_id, Option<i64>>,
    diesel::dsl::Eq<attachments::visitor_id, Option<&'a str>>,
);

/// The insertable values of one file (shared by uploads and inbound messages).
pub fn row(
    conversation_id: i64,
    message_id: Option<i64>,
    file: &NewAttachment,
    at: NaiveDateTime,
) -> Row<'_> {
    (
        attachments::conversation_id.eq(conversation_id),
        attachments::message_id.eq(message_id),
        attachments::file_name.eq(file.file_name.as_str()),
        attachments::content_type.eq(file.content_type.as_str()),
        attachments::byte_size.eq(file.byte_size),
        attachments::sha256.eq(file.sha256.as_str()),
        attachments::storage_key.eq(file.storage_key.as_str()),
        attachments::width.eq(file.width),
        attachments::height.eq(file.height),
        attachments::created_at.eq(at),
        attachments::visitor_inbox_id.eq(file.visitor.as_ref().map(|v| v.inbox_id)),
        attachments::visitor_id.eq(file.visitor.as_ref().map(|v| v.visitor_id.as_str())),
    )
}

/// Bytes widget visitors uploaded into `inbox_id` since `since` (only `visitor_id`'s when
/// given): what the storage quotas compare with their limit.
pub async fn visitor_upload_bytes(
    conn: &mut DbConn,
    inbox_id: i64,
    visitor_id: Option<&str>,
    since: NaiveDateTime,
) -> Result<u64, StoreError> {
    // A literal sum: diesel's `sum` of a BigInt is a Numeric on PostgreSQL.
    let total: i64 = db_run!(conn, c => {
        let mut query = attachments::table
            .filter(attachments::visitor_inbox_id.eq(inbox_id))
            .filter(attachments::created_at.ge(since))
            .into_boxed();
        if let Some(visitor_id) = visitor_id {
            query = query.filter(attachments::visitor_id.eq(visitor_id));
        }
        query
            .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(byte_size), 0) AS BIGINT)",
            ))
            .get_result(c)
            .await
    })?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// The same uploads as (stored at, bytes), oldest first, at most `limit`: when each
/// leaves a rolling window, for a quota's Retry-After.
pub async fn visitor_uploads(
    conn: &mut DbConn,
    inbox_id: i64,
    visitor_id: Option<&str>,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(NaiveDateTime, i64)>, StoreError> {
    Ok(db_run!(conn, c => {
        let mut query = attachments::table
            .filter(attachments::visitor_inbox_id.eq(inbox_id))
            .filter(attachments::created_at.ge(since))
            .into_boxed();
        if let Some(visitor_id) = visitor_id {
            query = query.filter(attachments::visitor_id.eq(visitor_id));
        }
        query
            .order(attachments::created_at)
            .limit(limit)
            .select((attachments::created_at, attachments::byte_size))
            .load(c)
            .await
    })?)
}

/// Puts pending uploads on a new message inside the caller's transaction (a reply): each must
/// belong to the conversation and not be on a message yet. Returns them in the given order.
macro_rules! claim_for_message {
    ($c:expr, $conversation_id:expr, $message_id:expr, $ids:expr) => {{
        let c = &mut *$c;
        let ids: &[i64] = $ids;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let one: Option<$crate::store::attachments::Attachment> = diesel::update(
                $crate::db::schema::attachments::table
                    .filter($crate::db::schema::attachments::id.eq(*id))
                    .filter($crate::db::schema::attachments::conversation_id.eq($conversation_id))
                    .filter($crate::db::schema::attachments::message_id.is_null()),
            )
            .set($crate::db::schema::attachments::message_id.eq($message_id))
            .returning($crate::store::attachments::Attachment::as_returning())
            .get_result(c)
            .await
            .optional()
            .map_err($crate::db::StoreError::from)?;
            match one {
                Some(attachment) => claimed.push(attachment),
                None => {
                    return Err($crate::store::attachments::ClaimError::NotClaimable(
                        id.to_string(),
                    )
                    .into());
                }
            }
        }
        claimed
    }};
}
pub(crate) use claim_for_message;

/// An attachment with the inbox of its conversation (for permission checks).
pub async fn find(
    conn: &mut DbConn,
    id: i64,
) -> Result<Option<(Attachment, Option<i64>)>, StoreError> {
    Ok(db_run!(conn, c => attachments::table
        .inner_join(conversations::table)
        .filter(attachments::id.eq(id))
        .select((Attachment::as_select(), conversations::inbox_id))
        .first(c)
        .await
        .optional())?)
}

/// The files of a message, in upload order.
pub async fn of_message(conn: &mut DbConn, message_id: i64) -> Result<Vec<Attachment>, StoreError> {
    Ok(db_run!(conn, c => attachments::table
        .filter(attachments::message_id.eq(message_id))
        .order(attachments::id)
        .select(Attachment::as_select())
        .load(c)
        .await)?)
}

/// Images that have no thumbnails yet (a restart interrupted the worker), oldest first.
pub async fn images_without_thumbnails(
    conn: &mut DbConn,
    limit: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(db_run!(conn, c => attachments::table
        .filter(attachments::content_type.like("image/%"))
        .filter(attachments::thumb_small_key.is_null())
        .filter(attachments::thumbnail_error.is_null())
        .order(attachments::id)
        .limit(limit)
        .select((attachments::id, attachments::storage_key))
        .load(c)
        .await)?)
}

/// Records that an image cannot be thumbnailed, so the start-up sweep skips it.
pub async fn set_thumbnail_error(
    conn: &mut DbConn,
    id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    db_run!(conn, c => diesel::update(attachments::table.find(id))
        .set(attachments::thumbnail_error.eq(reason))
        .execute(c)
        .await)?;
    Ok(())
}

/// What recording thumbnails found.
// Returned once per thumbnail job and matched at once; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Thumbnailed {
    /// The attachment is gone (an abandoned upload was removed): the caller deletes the
    /// thumbnails it stored.
    Gone,
    /// Recorded on an upload no message has claimed yet.
    Pending,
    /// Recorded; the message as it is now, to publish as updated.
    OnMessage(Message),
}

/// Records an image's thumbnails and refreshes its message's summary.
pub async fn set_thumbnails(
    conn: &mut DbConn,
    id: i64,
    small_key: &str,
    large_key: &str,
    width: i64,
    height: i64,
) -> Result<Thumbnailed, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let attachment: Option<Attachment> = diesel::update(attachments::table.find(id))
            .set((
                attachments::thumb_small_key.eq(small_key),
                attachments::thumb_large_key.eq(large_key),
                attachments::width.eq(width),
                attachments::height.eq(height),
            ))
            .returning(Attachment::as_returning())
            .get_result(c)
            .await
            .optional()?;
        let Some(attachment) = attachment else {
            return Ok(Thumbnailed::Gone);
        };
        let Some(message_id) = attachment.message_id else {
            return Ok(Thumbnailed::Pending);
        };
        // Two thumbnails of one message finishing at once on two nodes must not each write
        // a summary missing the other's (PostgreSQL; SQLite has one writer).
        c.lock_keys(vec![format!("message-attachments:{message_id}")]).await?;
        let files: Vec<Attachment> = attachments::table
            .filter(attachments::message_id.eq(message_id))
            .order(attachments::id)
            .select(Attachment::as_select())
            .load(c)
            .await?;
        let message = diesel::update(messages::table.find(message_id))
            .set(messages::attachments.eq(meta_json(&files)))
            .returning(Message::as_returning())
            .get_result(c)
            .await?;
        Ok(Thumbnailed::OnMessage(message))
    }).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip_and_damage_shows_no_files() {
        let file = Attachment {
            id: 7,
            conversation_id: 1,
            message_id: Some(2),
            file_name: "a.png".into(),
            content_type: "image/png".into(),
            byte_size: 10,
            sha256: "00".into(),
            storage_key: "k".into(),
            width: Some(4),
            height: Some(3),
            thumb_small_key: Some("s".into()),
            thumb_large_key: None,
            created_at: now(),
            thumbnail_error: None,
        };
        let json = meta_json(std::slice::from_ref(&file));
        let back = parse_meta(&json);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].id, 7);
        assert!(!back[0].thumbnail, "both thumbnails are needed");
        assert!(parse_meta("{not json").is_empty());
    }
}
