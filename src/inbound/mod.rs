//! The one inbound door: every customer event, whatever brought it (a provider's webhook,
//! the polling loop, a widget visitor's socket or upload), passes [`Inbound`].
//!
//! ```text
//!  webhook ─┐                       ┌─ statuses ──────────────► DeliveryTracker (forward only)
//!  polling ─┼─► Inbound::take_in ───┤
//!  widget  ─┘   (files fetched      └─ messages, edits, typing ─► InboundWriter (group commit)
//!                within budget)                                      │ after the commit
//!                                                                    ├─► EventHub, visitors
//!                                                                    └─► Router (assignment)
//! ```
//!
//! An answer comes only after everything is durably stored, so a provider that gets no 200
//! retries, and the dedupe on (inbox, external id) makes the retry harmless. Files are
//! staged before the write and kept only by the messages that were created.

mod error;
mod fetch;
mod polling;
mod store;
mod writer;

use std::sync::Arc;

use actix::Addr;
use switchboard_channel::{InboundEvent, InboundMessage, StatusUpdate};

pub(crate) use self::error::InboundError;
pub(crate) use self::polling::run as poll;
pub(crate) use self::store::{Outcome, Source};
pub(crate) use self::writer::InboundWriter;
use crate::actors::delivery::{ApplyStatuses, DeliveryTracker};
use crate::channels::ChannelEntry;
use crate::db::Database;
use crate::files::{Files, StagedFiles};

/// Handle to the door, cheap to clone.
#[derive(Clone)]
pub(crate) struct Inbound {
    db: Database,
    files: Arc<Files>,
    writer: InboundWriter,
    delivery: Addr<DeliveryTracker>,
}

impl Inbound {
    pub(crate) fn new(
        db: Database,
        files: Arc<Files>,
        writer: InboundWriter,
        delivery: Addr<DeliveryTracker>,
    ) -> Self {
        Self {
            db,
            files,
            writer,
            delivery,
        }
    }

    /// Stores a channel's parsed events and answers what each did, in their order: status
    /// reports through the DeliveryTracker, everything else (with its files fetched first)
    /// in one durable write. On error nothing of the events' messages is stored and no
    /// fetched file is left behind.
    pub(crate) async fn take_in(
        &self,
        entry: &ChannelEntry,
        events: Vec<InboundEvent>,
    ) -> Result<Vec<Outcome>, InboundError> {
        let mut statuses: Vec<(usize, StatusUpdate)> = Vec::new();
        let mut others: Vec<(usize, InboundEvent)> = Vec::new();
        for (index, event) in events.into_iter().enumerate() {
            match event {
                InboundEvent::Status(update) => statuses.push((index, update)),
                other => others.push((index, other)),
            }
        }
        let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(statuses.len() + others.len());
        if !others.is_empty() {
            let (positions, events): (Vec<usize>, Vec<InboundEvent>) = others.into_iter().unzip();
            let stored = self.store_with_files(entry, events).await?;
            outcomes.extend(positions.into_iter().zip(stored));
        }
        if !statuses.is_empty() {
            let (positions, updates): (Vec<usize>, Vec<StatusUpdate>) =
                statuses.into_iter().unzip();
            let applied = self
                .delivery
                .send(ApplyStatuses {
                    inbox_id: entry.inbox_id,
                    updates,
                })
                .await
                .map_err(|e| InboundError::Unavailable(format!("delivery tracker: {e}")))??;
            outcomes.extend(
                positions
                    .into_iter()
                    .zip(applied.into_iter().map(Outcome::Status)),
            );
        }
        outcomes.sort_by_key(|(index, _)| *index);
        Ok(outcomes.into_iter().map(|(_, outcome)| outcome).collect())
    }

    /// Stores a message whose files the hub already received (a visitor's upload); they are
    /// kept only if the message is new.
    pub(crate) async fn take_in_received(
        &self,
        source: Source,
        message: InboundMessage,
        files: StagedFiles,
    ) -> Result<Outcome, InboundError> {
        let media = vec![files];
        let mut outcomes = self
            .store(source, vec![InboundEvent::Message(message)], media)
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| InboundError::Unavailable("the writer answered nothing".into()))
    }

    /// Fetches the events' files, then stores everything in one durable write.
    async fn store_with_files(
        &self,
        entry: &ChannelEntry,
        mut events: Vec<InboundEvent>,
    ) -> Result<Vec<Outcome>, InboundError> {
        let mut media = Vec::with_capacity(events.len());
        if let Err(error) =
            fetch::fetch_media(&self.db, &self.files, entry, &mut events, &mut media).await
        {
            discard(media).await;
            return Err(error);
        }
        self.store(entry.source, events, media).await
    }

    /// One durable write; each created message keeps its files, the rest are removed.
    async fn store(
        &self,
        source: Source,
        events: Vec<InboundEvent>,
        media: Vec<StagedFiles>,
    ) -> Result<Vec<Outcome>, InboundError> {
        let files = media.iter().map(|m| m.files().to_vec()).collect();
        let outcomes = match self.writer.store(source, events, files).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                discard(media).await;
                return Err(error.into());
            }
        };
        // A duplicate (a concurrent retry, the same id twice in one body) took no files.
        for (outcome, staged) in outcomes.iter().zip(media) {
            if matches!(outcome, Outcome::Created { .. }) {
                staged.keep();
            } else {
                staged.discard().await;
            }
        }
        Ok(outcomes)
    }
}

async fn discard(media: Vec<StagedFiles>) {
    for staged in media {
        staged.discard().await;
    }
}
