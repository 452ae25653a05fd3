//! Fetching the files of inbound messages before anything is stored, so a message appears
//! with its files or not at all.
//!
//! Where the provider cannot change a refused file (Telegram), the message is stored with a
//! note in place of the file; elsewhere the whole request is refused so the integrator can
//! fix it. Messages already stored (a retried webhook, an update polled twice) are not
//! fetched again.

use switchboard_channel::{AttachmentRef, ChannelError, InboundEvent, InboundMessage};

use super::InboundError;
use crate::channels::ChannelEntry;
use crate::db::Database;
use crate::files::{FileError, Files, MAX_FILES, StagedFiles};
use crate::store::attachments::NewAttachment;

/// Fetches the files of each event into `media` (aligned with `events`). On error, what
/// was fetched so far is in `media` for the caller to discard.
pub(super) async fn fetch_media(
    db: &Database,
    files: &Files,
    entry: &ChannelEntry,
    events: &mut [InboundEvent],
    media: &mut Vec<StagedFiles>,
) -> Result<(), InboundError> {
    let with_files: Vec<&InboundMessage> = events
        .iter()
        .filter_map(message_of)
        .filter(|m| !m.attachments.is_empty())
        .collect();
    if with_files.is_empty() {
        media.extend(events.iter().map(|_| files.stage()));
        return Ok(());
    }
    if let Some(m) = with_files.iter().find(|m| m.attachments.len() > MAX_FILES) {
        return Err(InboundError::TooManyFiles {
            external_id: m.external_id.clone(),
        });
    }
    let known = {
        let ids: Vec<&str> = with_files.iter().map(|m| m.external_id.as_str()).collect();
        let conn = &mut db.reader().await?;
        super::store::known_external_ids(conn, entry.inbox_id, &ids).await?
    };
    let notes_refused = entry.adapter.capabilities().notes_refused_files;
    // Webhooks cannot wait for a provider's next retry to try a file again; the polling
    // loop can, and does (with backoff) before it notes the file.
    let notes_unavailable = notes_refused && entry.poller.is_none();
    for event in events.iter_mut() {
        let mut fetched = files.stage();
        let result = match message_of_mut(event) {
            Some(m) if !known.contains(&m.external_id) => {
                let policy = NotePolicy {
                    refused: notes_refused,
                    unavailable: notes_unavailable,
                };
                fetch_message(files, entry, m, policy, &mut fetched).await
            }
            _ => Ok(()),
        };
        media.push(fetched);
        result?;
    }
    Ok(())
}

/// The message an event may store: a new message, or an edit's whole message (stored when
/// the original never arrived, so its files are fetched unless the original is known).
fn message_of(event: &InboundEvent) -> Option<&InboundMessage> {
    match event {
        InboundEvent::Message(m) => Some(m),
        InboundEvent::Edit(e) => e.as_message.as_deref(),
        _ => None,
    }
}

fn message_of_mut(event: &mut InboundEvent) -> Option<&mut InboundMessage> {
    match event {
        InboundEvent::Message(m) => Some(m),
        InboundEvent::Edit(e) => e.as_message.as_deref_mut(),
        _ => None,
    }
}

/// The files of one message, within the per-message budget; refused ones become notes in
/// its text where the channel asks for that.
async fn fetch_message(
    files: &Files,
    entry: &ChannelEntry,
    m: &mut InboundMessage,
    policy: NotePolicy,
    fetched: &mut StagedFiles,
) -> Result<(), InboundError> {
    let mut notes = Vec::new();
    let mut content_ids = Vec::new();
    for reference in &m.attachments {
        let budget = files
            .limits()
            .max_message_bytes
            .saturating_sub(fetched.total_bytes());
        let mut result = fetch_one(files, entry, reference, budget).await;
        // A webhook channel that notes refused files gets a few quick tries at a passing
        // outage, then a note: a provider that retries its webhook for days must not hold up, or
        // in the end lose, the customer's words for one file.
        for pause in NOTED_FILE_RETRIES {
            match &result {
                Err(error) if policy.unavailable && !refused_for_good(error) => {
                    tokio::time::sleep(pause).await;
                    result = fetch_one(files, entry, reference, budget).await;
                }
                _ => break,
            }
        }
        match result {
            Ok(file) => {
                fetched.push(file);
                content_ids.push(reference.content_id.clone());
            }
            Err(error) if (policy.refused && refused_for_good(&error)) || policy.unavailable => {
                tracing::info!(%error, external_id = %m.external_id, "inbound file refused; noted in the message");
                notes.push(refusal_note(reference, &error));
            }
            Err(error) => {
                tracing::info!(%error, external_id = %m.external_id, "inbound file refused");
                return Err(InboundError::File(error));
            }
        }
    }
    // A mail's HTML shows inline parts by Content-ID: the inbox finds them by file order.
    if let Some(mail) = m.mail.as_mut()
        && content_ids.iter().any(Option::is_some)
    {
        mail.content_ids = content_ids;
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
    Ok(())
}

/// One file: opened by the channel when it needs its own API call (Telegram's getFile),
/// else fetched from the URL the provider gave.
async fn fetch_one(
    files: &Files,
    entry: &ChannelEntry,
    reference: &AttachmentRef,
    budget: u64,
) -> Result<NewAttachment, FileError> {
    if let Some(data) = reference.data.clone() {
        // The content came inside the message (a mail's part): the same checks, no fetch.
        let download = switchboard_channel::MediaDownload {
            file_name: None,
            byte_size: u64::try_from(data.len()).ok(),
            body: Box::pin(futures_util::stream::iter([Ok(data)])),
        };
        return files.receive_download(reference, download, budget).await;
    }
    match entry.adapter.open_media(reference).await {
        Ok(Some(download)) => files.receive_download(reference, download, budget).await,
        Ok(None) => files.fetch(files.http(), reference, budget).await,
        Err(ChannelError::Transient { reason, .. }) => Err(FileError::FetchUnavailable(reason)),
        Err(ChannelError::Permanent { reason, .. }) => Err(FileError::Fetch(reason)),
    }
}

/// Which files that cannot be kept become a note in the message instead of failing it.
#[derive(Clone, Copy)]
struct NotePolicy {
    /// Files refused for good (too large, a provider that will not hand them out).
    refused: bool,
    /// Files a passing outage keeps out, after a few quick tries.
    unavailable: bool,
}

/// Pauses before the extra tries at a file that a passing outage kept from being fetched.
const NOTED_FILE_RETRIES: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(250),
    std::time::Duration::from_secs(1),
];

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
