//! One path from a channel's parsed events to stored messages, shared by webhooks (the
//! provider pushes) and polling (the hub pulls): files first, then one durable store.
//!
//! Files of every message are fetched before anything is stored, so a message appears with
//! its files or not at all. Where the provider cannot change a refused file (Telegram), the
//! message is stored with a note in place of the file; elsewhere the whole request is
//! refused so the integrator can fix it. Messages already stored (a retried webhook, an
//! update polled twice) are not fetched again.

use switchboard_channel::{AttachmentRef, ChannelError, InboundEvent, InboundMessage};

use crate::actors::channel::ChannelEntry;
use crate::actors::ingest::InboundWriter;
use crate::db::Database;
use crate::error::ApiError;
use crate::files::{FileError, Files};
use crate::routes::attachments::{MAX_FILES, file_error};
use crate::store::attachments::NewAttachment;
use crate::store::inbound::Outcome;

/// Fetches the events' files and stores everything in one durable write. On error nothing
/// is stored and no fetched file is left behind.
pub async fn take_in(
    db: &Database,
    files: &Files,
    inbound: &InboundWriter,
    entry: &ChannelEntry,
    mut events: Vec<InboundEvent>,
) -> Result<Vec<Outcome>, ApiError> {
    if events.is_empty() {
        // A skipped update (an unknown kind, a group the inbox ignores): nothing to store.
        return Ok(Vec::new());
    }
    let media = fetch_media(db, files, entry, &mut events).await?;
    let outcomes = match inbound.store(entry.source, events, media.clone()).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            discard_all(files, &media).await;
            return Err(error.into());
        }
    };
    // A duplicate (a concurrent retry, the same id twice in one body) took no files.
    for (outcome, fetched) in outcomes.iter().zip(&media) {
        if !fetched.is_empty() && !matches!(outcome, Outcome::Created { .. }) {
            files.discard(fetched).await;
        }
    }
    Ok(outcomes)
}

/// The files of each event, aligned with `events`.
async fn fetch_media(
    db: &Database,
    files: &Files,
    entry: &ChannelEntry,
    events: &mut [InboundEvent],
) -> Result<Vec<Vec<NewAttachment>>, ApiError> {
    let with_files: Vec<&InboundMessage> = events
        .iter()
        .filter_map(|e| match e {
            InboundEvent::Message(m) if !m.attachments.is_empty() => Some(m),
            _ => None,
        })
        .collect();
    if with_files.is_empty() {
        return Ok(vec![Vec::new(); events.len()]);
    }
    if let Some(m) = with_files.iter().find(|m| m.attachments.len() > MAX_FILES) {
        return Err(ApiError::invalid(
            "attachments",
            format!(
                "message {}: at most {MAX_FILES} files per message",
                m.external_id
            ),
        ));
    }
    let known = {
        let ids: Vec<&str> = with_files.iter().map(|m| m.external_id.as_str()).collect();
        let conn = &mut db.reader().await?;
        crate::store::inbound::known_external_ids(conn, entry.inbox_id, &ids).await?
    };
    let notes_refused = entry.adapter.capabilities().notes_refused_files;
    let mut media: Vec<Vec<NewAttachment>> = Vec::with_capacity(events.len());
    for event in events.iter_mut() {
        let mut fetched = Vec::new();
        if let InboundEvent::Message(m) = event
            && !known.contains(&m.external_id)
        {
            let mut budget = files.limits().max_message_bytes;
            let mut notes = Vec::new();
            for reference in &m.attachments {
                match fetch_one(files, entry, reference, budget).await {
                    Ok(file) => {
                        budget = budget
                            .saturating_sub(u64::try_from(file.byte_size).unwrap_or(u64::MAX));
                        fetched.push(file);
                    }
                    Err(error) if notes_refused && refused_for_good(&error) => {
                        tracing::info!(%error, external_id = %m.external_id, "inbound file refused; noted in the message");
                        notes.push(refusal_note(reference, &error));
                    }
                    Err(error) => {
                        files.discard(&fetched).await;
                        discard_all(files, &media).await;
                        tracing::info!(%error, external_id = %m.external_id, "inbound file refused");
                        return Err(file_error(error));
                    }
                }
            }
            if !notes.is_empty() {
                m.attachments.clear();
                for note in notes {
                    if !m.content.is_empty() {
                        m.content.push('\n');
                    }
                    m.content.push_str(&note);
                }
            }
        }
        media.push(fetched);
    }
    Ok(media)
}

/// One file: opened by the channel when it needs its own API call (Telegram's getFile),
/// else fetched from the URL the provider gave.
async fn fetch_one(
    files: &Files,
    entry: &ChannelEntry,
    reference: &AttachmentRef,
    budget: u64,
) -> Result<NewAttachment, FileError> {
    match entry.adapter.open_media(reference).await {
        Ok(Some(download)) => files.receive_download(reference, download, budget).await,
        Ok(None) => files.fetch(files.http(), reference, budget).await,
        Err(ChannelError::Transient { reason, .. }) => Err(FileError::FetchUnavailable(reason)),
        Err(ChannelError::Permanent { reason, .. }) => Err(FileError::Fetch(reason)),
    }
}

/// Whether fetching again cannot help: the file itself is refused, or the provider will not
/// hand it out.
fn refused_for_good(error: &FileError) -> bool {
    error.is_bad_input() || matches!(error, FileError::Fetch(_))
}

/// What the agent reads in place of a file the hub did not keep.
fn refusal_note(reference: &AttachmentRef, error: &FileError) -> String {
    let name = reference.file_name.as_deref().unwrap_or("a file");
    format!("[The customer sent “{name}”, which was not stored: {error}.]")
}

/// Removes fetched files that no stored message took.
async fn discard_all(files: &Files, media: &[Vec<NewAttachment>]) {
    for fetched in media {
        files.discard(fetched).await;
    }
}
