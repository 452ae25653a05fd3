//! The polling loop of a channel that pulls its updates (a Telegram bot without a public
//! https URL). It runs inside the channel's actor and ends with it.
//!
//! Each round asks for the updates after the saved cursor, stores each through the same
//! intake as webhooks, and saves the new cursor only once they are stored: a crash in
//! between fetches them again, and the inbound dedupe (external ids) keeps them single.
//! An update that keeps failing does not block the ones behind it for ever: see
//! [`store_update`].

use std::sync::Arc;
use std::time::Duration;

use switchboard_channel::{ChannelError, InboundEvent, Poller};

use super::Inbound;
use crate::channels::ChannelEntry;
use crate::db::Database;
use crate::db::leases::Leases;
use crate::store::cursors;

/// Longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Polls while this node holds the inbox's polling lease, until the future is dropped (the
/// actor stopped or was reconfigured). One node polls a bot or a mailbox (Telegram refuses a
/// second getUpdates; two IMAP pollers would fetch every mail twice); when the holder dies,
/// another node takes the lease and goes on from the saved cursor.
pub(crate) async fn run_leased(
    leases: Arc<Leases>,
    poller: Arc<dyn Poller>,
    entry: Arc<ChannelEntry>,
    db: Database,
    inbound: Inbound,
) {
    let key = format!("poll:{}", entry.inbox_id);
    loop {
        let lease = leases.hold(&key).await;
        tokio::select! {
            () = run(poller.clone(), entry.clone(), db.clone(), inbound.clone()) => {}
            () = leases.lost(&lease) => {}
        }
    }
}

/// Polls until the future is dropped.
async fn run(poller: Arc<dyn Poller>, entry: Arc<ChannelEntry>, db: Database, inbound: Inbound) {
    let mut failures: u32 = 0;
    let mut cursor = loop {
        match load_cursor(&db, entry.inbox_id).await {
            Ok(cursor) => break cursor,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "cannot read the polling cursor");
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    };
    failures = 0;
    tracing::info!(?cursor, "polling for updates");
    loop {
        let updates = match poller.poll(cursor).await {
            Ok(updates) => updates,
            Err(error) => {
                failures += 1;
                let wait = match &error {
                    ChannelError::Transient {
                        retry_after: Some(after),
                        ..
                    } => *after,
                    _ => backoff(failures),
                };
                tracing::warn!(%error, failures, wait_secs = wait.as_secs(), "polling failed");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        failures = 0;
        let Some(last) = updates.last().map(|u| u.next_cursor) else {
            continue;
        };
        for update in updates {
            if update.events.is_empty() {
                continue;
            }
            store_update(&inbound, &entry, update.events, update.next_cursor).await;
        }
        let mut attempts: u32 = 0;
        while let Err(error) = save_cursor(&db, entry.inbox_id, last).await {
            attempts += 1;
            tracing::warn!(%error, attempts, "cannot save the polling cursor; retrying");
            tokio::time::sleep(backoff(attempts)).await;
        }
        cursor = Some(last);
    }
}

/// Attempts at storing an update (with its files) before the files are given up.
const MAX_ATTEMPTS: u32 = 5;

/// Stores one polled update's events, retrying what may pass later.
///
/// What may pass later (a file Telegram cannot hand out right now, the database away, a
/// write that raced another) is retried with backoff, up to [`MAX_ATTEMPTS`].
/// After that, if the events carry files, they are stored once more without them and with a
/// note for the agent: one file that never downloads must not block the inbox. If even that
/// fails with a server error, or the events carry no files, the store itself is failing and
/// nothing behind this update could pass either: it keeps retrying with backoff (trying the
/// files again first, so an outage of the database does not cost them). Any other refusal
/// cannot change: the update is logged and skipped, the only way past it.
async fn store_update(
    inbound: &Inbound,
    entry: &ChannelEntry,
    events: Vec<InboundEvent>,
    cursor: i64,
) {
    let has_files = events.iter().any(|e| match e {
        InboundEvent::Message(m) => !m.attachments.is_empty(),
        InboundEvent::Edit(edit) => edit
            .as_message
            .as_ref()
            .is_some_and(|m| !m.attachments.is_empty()),
        _ => false,
    });
    // Failures in a row, for the backoff; attempts with the files since they were last tried.
    let mut failures: u32 = 0;
    let mut with_files: u32 = 0;
    let mut last_reason = String::new();
    loop {
        let without_files = has_files && with_files >= MAX_ATTEMPTS;
        let attempt = if without_files {
            files_noted(&events, &last_reason)
        } else {
            events.clone()
        };
        let error = match inbound.take_in(entry, attempt).await {
            Ok(_) => {
                if without_files {
                    tracing::warn!(cursor, reason = %last_reason, "polled update stored without its files");
                }
                return;
            }
            Err(error) => error,
        };
        if !error.is_retryable() {
            tracing::warn!(%error, cursor, "polled update refused; skipped");
            return;
        }
        failures += 1;
        if without_files {
            // Not even the text could be stored: the store is failing, not (only) the files.
            with_files = 0;
        } else {
            with_files += 1;
            last_reason = error.to_string();
            if has_files && with_files >= MAX_ATTEMPTS {
                tracing::warn!(%error, failures, "cannot store a polled update with its files; storing it without them");
                continue;
            }
        }
        tracing::warn!(%error, failures, "cannot store a polled update; retrying");
        tokio::time::sleep(backoff(failures)).await;
    }
}

/// The events with their files left out and a note in their place.
fn files_noted(events: &[InboundEvent], reason: &str) -> Vec<InboundEvent> {
    let mut events = events.to_vec();
    for event in &mut events {
        let message = match event {
            InboundEvent::Message(m) => Some(m),
            InboundEvent::Edit(e) => e.as_message.as_deref_mut(),
            _ => None,
        };
        if let Some(m) = message
            && !m.attachments.is_empty()
        {
            let count = m.attachments.len();
            m.attachments.clear();
            if !m.content.is_empty() {
                m.content.push('\n');
            }
            m.content.push_str(&files_note(count, reason));
        }
    }
    events
}

/// What the agent reads in place of files that could not be downloaded.
fn files_note(count: usize, reason: &str) -> String {
    let files = if count == 1 { "file" } else { "files" };
    let reason = reason.trim_end_matches('.');
    format!("[The customer sent {count} {files} that could not be downloaded: {reason}.]")
}

async fn load_cursor(db: &Database, inbox_id: i64) -> Result<Option<i64>, crate::db::StoreError> {
    let conn = &mut db.reader().await?;
    cursors::get(conn, inbox_id).await
}

async fn save_cursor(
    db: &Database,
    inbox_id: i64,
    position: i64,
) -> Result<(), crate::db::StoreError> {
    let conn = &mut db.writer().await?;
    cursors::set(conn, inbox_id, position).await
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use switchboard_channel::{AttachmentRef, ContactProfile, InboundMessage, MessageEdit};

    use super::*;

    fn message(content: &str, files: usize) -> InboundEvent {
        InboundEvent::Message(InboundMessage {
            external_id: "1:2".into(),
            sender: ContactProfile::default(),
            content: content.into(),
            attachments: (0..files)
                .map(|i| AttachmentRef {
                    source: format!("file-{i}"),
                    file_name: None,
                    content_type: None,
                    byte_size: None,
                    content_id: None,
                    data: None,
                })
                .collect(),
            ..InboundMessage::default()
        })
    }

    fn content(event: &InboundEvent) -> (&str, usize) {
        match event {
            InboundEvent::Message(m) => (m.content.as_str(), m.attachments.len()),
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn files_that_never_download_become_a_note() {
        let reason = "cannot fetch the file right now: HTTP status server error (500)";
        let edit = InboundEvent::Edit(MessageEdit {
            external_id: "1:1".into(),
            sender: ContactProfile::default(),
            content: "x".into(),
            edited_at: None,
            as_message: None,
        });
        let noted = files_noted(&[message("Look", 2), message("", 1), edit.clone()], reason);
        assert_eq!(
            content(&noted[0]),
            (
                "Look\n[The customer sent 2 files that could not be downloaded: cannot fetch \
                 the file right now: HTTP status server error (500).]",
                0
            )
        );
        assert_eq!(
            content(&noted[1]),
            (
                "[The customer sent 1 file that could not be downloaded: cannot fetch the file \
                 right now: HTTP status server error (500).]",
                0
            )
        );
        assert_eq!(noted[2], edit);
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
