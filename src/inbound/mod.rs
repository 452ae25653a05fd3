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
//!
//! Nothing is dropped silently: every update is counted in
//! `switchboard_channel_updates_total{channel,outcome}` as stored, ignored (on purpose) or
//! unreadable, and an unreadable one is kept raw (`unreadable_events`) for an admin to see
//! and replay with [`Inbound::replay`].

mod error;
mod fetch;
mod polling;
mod scrub;
mod store;
mod writer;

use std::sync::Arc;

use actix::Addr;
use switchboard_channel::{InboundEvent, InboundMessage, StatusUpdate, SurveyAnswer};

use crate::metrics::ChannelUpdates;
use crate::store::unreadable;

pub(crate) use self::error::InboundError;
pub(crate) use self::polling::run_leased as poll;
pub(crate) use self::store::{Outcome, Source};
pub(crate) use self::writer::InboundWriter;
use crate::actors::delivery::{ApplyStatuses, DeliveryTracker};
use crate::channels::ChannelEntry;
use crate::db::Database;
use crate::files::{Files, StagedFiles};
use crate::realtime::EventHub;

/// Handle to the door, cheap to clone.
#[derive(Clone)]
pub(crate) struct Inbound {
    db: Database,
    files: Arc<Files>,
    writer: InboundWriter,
    delivery: Addr<DeliveryTracker>,
    updates: ChannelUpdates,
    /// Agents hear about survey answers (the door takes those itself).
    events: Arc<EventHub>,
}

impl Inbound {
    pub(crate) fn new(
        db: Database,
        files: Arc<Files>,
        writer: InboundWriter,
        delivery: Addr<DeliveryTracker>,
        updates: ChannelUpdates,
        events: Arc<EventHub>,
    ) -> Self {
        Self {
            db,
            files,
            writer,
            delivery,
            updates,
            events,
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
        let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(events.len());
        let mut events = events;
        events.iter_mut().for_each(scrub::event);
        for (index, event) in events.into_iter().enumerate() {
            match event {
                InboundEvent::Status(update) => statuses.push((index, update)),
                InboundEvent::Skipped { reason } => {
                    outcomes.push((index, Outcome::Skipped { reason }));
                }
                InboundEvent::Unreadable { reason, raw } => {
                    let id = {
                        let conn = &mut self.db.writer().await?;
                        unreadable::keep(conn, entry.inbox_id, &reason, &raw).await?
                    };
                    tracing::warn!(
                        inbox_id = entry.inbox_id,
                        unreadable_id = id,
                        %reason,
                        "inbound update could not be read; kept for replay"
                    );
                    outcomes.push((index, Outcome::Unreadable { id, reason }));
                }
                // Rare and small: answered here, one at a time, not in the group commit.
                InboundEvent::SurveyAnswer(answer) => {
                    outcomes.push((index, self.survey_answer(entry, answer).await?));
                }
                other => others.push((index, other)),
            }
        }
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
        let channel = entry.source.channel_type.as_str();
        for (_, outcome) in &outcomes {
            self.updates.count(channel, outcome.counted_as());
        }
        Ok(outcomes.into_iter().map(|(_, outcome)| outcome).collect())
    }

    /// Takes a customer's answer to a survey asked on this channel, if the survey is theirs
    /// and still open, and tells them (on channels that confirm) whether it was taken.
    async fn survey_answer(
        &self,
        entry: &ChannelEntry,
        answer: SurveyAnswer,
    ) -> Result<Outcome, InboundError> {
        // Detached: the polling loop that brought a tap may be cut off (a reconfigured
        // inbox), and a store call must never be.
        let db = self.db.clone();
        let inbox_id = entry.inbox_id;
        let given = answer.clone();
        let stored = crate::actors::detached(async move {
            let Some(survey_id) = given.survey_id.parse::<i64>().ok() else {
                return Ok(Err(crate::store::csat::AnswerRefusal::Unknown));
            };
            let conversation_id = {
                let conn = &mut db.reader().await?;
                crate::store::csat::owned_by(conn, survey_id, inbox_id, &given.sender.identifier)
                    .await?
            };
            let Some(conversation_id) = conversation_id else {
                return Ok(Err(crate::store::csat::AnswerRefusal::Unknown));
            };
            let now = crate::store::now();
            let answered = {
                let conn = &mut db.writer().await?;
                // A tap is the customer writing to the channel: WhatsApp's reply window
                // opens again with it.
                crate::store::contacts::saw_inbound(conn, inbox_id, &given.sender.identifier, now)
                    .await?;
                crate::store::csat::answer(
                    conn,
                    conversation_id,
                    survey_id,
                    given.rating,
                    match given.comment.as_deref() {
                        Some(text) => crate::store::csat::Comment::Given(Some(text)),
                        None => crate::store::csat::Comment::Unchanged,
                    },
                    now,
                    given.at.map(|at| at.naive_utc()),
                    &crate::store::Actor::system(),
                )
                .await?
            };
            let Ok(survey) = answered else {
                return Ok(answered.map(|survey| (survey, None)));
            };
            let conn = &mut db.reader().await?;
            let conversation = crate::store::conversations::find(conn, conversation_id).await?;
            Ok::<_, crate::db::StoreError>(Ok((survey, conversation)))
        })
        .await??;
        let taken = stored.map(|(survey, conversation)| {
            // Agents see the answer at once (the thread's activity follows the update).
            if let Some(conversation) = &conversation {
                self.events.conversation(conversation, false);
            }
            (survey.conversation_id, survey)
        });
        let (outcome, confirmation) = match taken {
            Ok((conversation_id, survey)) => {
                // Agents see the answer at once (the thread's activity follows the update).
                let conn = &mut self.db.reader().await?;
                if let Some(conversation) =
                    crate::store::conversations::find(conn, conversation_id).await?
                {
                    self.events.conversation(&conversation, false);
                }
                let scale =
                    crate::domain::csat::CsatScale::parse(&survey.scale).unwrap_or_default();
                // What is stored: a late, older answer changed nothing.
                let told = scale
                    .choice(survey.rating.unwrap_or(answer.rating))
                    .map(|c| format!("Thank you! You answered: {} {}", c.emoji, c.label))
                    .unwrap_or_else(|| "Thank you for your answer!".to_owned());
                (Outcome::SurveyAnswered { conversation_id }, told)
            }
            Err(refusal) => {
                tracing::info!(
                    inbox_id = entry.inbox_id,
                    survey_id = %answer.survey_id,
                    reason = refusal.describe(),
                    "survey answer not taken"
                );
                let reason = refusal.describe();
                (
                    Outcome::SurveyRefused { reason },
                    format!("Sorry, your answer was not taken: {reason}."),
                )
            }
        };
        if let Some(handle) = answer.confirm {
            // Best effort, in the background: the provider's answer must not wait for it.
            let adapter = entry.adapter.clone();
            actix_web::rt::spawn(async move {
                if let Err(error) = adapter.confirm_answer(&handle, &confirmation).await {
                    tracing::info!(%error, "cannot confirm a survey answer to the customer");
                }
            });
        }
        Ok(outcome)
    }

    /// Reads a kept unreadable update again with the inbox's current parser and stores what
    /// it yields now. Refused (422) while it still cannot be read, (409) once replayed.
    pub(crate) async fn replay(
        &self,
        entry: &ChannelEntry,
        event_id: i64,
    ) -> Result<Vec<Outcome>, InboundError> {
        let kept = {
            let conn = &mut self.db.reader().await?;
            unreadable::find(conn, entry.inbox_id, event_id).await?
        }
        .ok_or(InboundError::NotFound(event_id))?;
        if kept.replayed_at.is_some() {
            return Err(InboundError::Replay {
                code: "already_replayed",
                reason: format!("update {event_id} was replayed before"),
            });
        }
        let raw: serde_json::Value =
            serde_json::from_str(&kept.payload).map_err(|e| InboundError::Replay {
                code: "unreadable",
                reason: format!("the kept update is not JSON: {e}"),
            })?;
        let events = entry
            .adapter
            .reparse(&raw)
            .map_err(|e| InboundError::Replay {
                code: "unreadable",
                reason: e.to_string(),
            })?;
        if let Some(reason) = events.iter().find_map(|event| match event {
            InboundEvent::Unreadable { reason, .. } => Some(reason.clone()),
            _ => None,
        }) {
            return Err(InboundError::Replay {
                code: "unreadable",
                reason: format!("still unreadable: {reason}"),
            });
        }
        let outcomes = self.take_in(entry, events).await?;
        let conn = &mut self.db.writer().await?;
        unreadable::mark_replayed(conn, event_id).await?;
        Ok(outcomes)
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
        let mut message = message;
        scrub::message(&mut message);
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
