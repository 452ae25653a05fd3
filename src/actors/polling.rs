//! The polling loop of a channel that pulls its updates (a Telegram bot without a public
//! https URL). It runs inside the channel's actor and ends with it.
//!
//! Each round asks for the updates after the saved cursor, stores each through the same
//! intake as webhooks, and saves the new cursor only once they are stored: a crash in
//! between fetches them again, and the inbound dedupe (external ids) keeps them single.

use std::sync::Arc;
use std::time::Duration;

use switchboard_channel::{ChannelError, Poller};

use super::channel::ChannelEntry;
use super::ingest::InboundWriter;
use crate::db::Database;
use crate::files::Files;
use crate::store::cursors;

/// Longest pause after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Polls until the future is dropped (the actor stopped or was reconfigured).
pub async fn run(
    poller: Arc<dyn Poller>,
    entry: Arc<ChannelEntry>,
    db: Database,
    files: Arc<Files>,
    inbound: InboundWriter,
) {
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
            let mut attempts: u32 = 0;
            loop {
                attempts += 1;
                let events = update.events.clone();
                match crate::intake::take_in(&db, &files, &inbound, &entry, events).await {
                    Ok(_) => break,
                    // Refused for good (a malformed file list): skipping it is the only way
                    // past it; the log keeps the reason.
                    Err(error) if !error.status().is_server_error() => {
                        tracing::warn!(%error, cursor = update.next_cursor, "polled update refused; skipped");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, attempts, "cannot store a polled update; retrying");
                        tokio::time::sleep(backoff(attempts)).await;
                    }
                }
            }
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
