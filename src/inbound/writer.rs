//! The inbound batching writer: group commit for webhooks (DESIGN.md, "Durability and
//! group commit").
//!
//! The door hands its events over and waits. The writer takes whatever
//! has queued up (at most `batch_max_events`, waiting at most `batch_wait` after the first
//! job), stores it in one transaction, and only after that commit is durable answers each
//! waiting handler, publishes the events and asks the router to assign new conversations.
//! If the batch transaction fails, each job is retried in its own transaction, so one bad
//! job (say, its inbox was deleted meanwhile) cannot fail the others.

use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use diesel_async::AsyncConnection;
use switchboard_channel::InboundEvent;
use tokio::sync::{mpsc, oneshot};

use super::store::{self as inbound, ConversationStart, Outcome, Source};
use crate::actors::router::{Route, Router};
use crate::actors::thumbnails::{ThumbnailJob, Thumbnailer};
use crate::config::InboundSettings;
use crate::db::{Database, DbConn, StoreError};
use crate::realtime::{Event, EventHub, Scope};
use crate::store::attachments::NewAttachment;

/// Jobs that may wait for the writer before handlers are pushed back on.
const QUEUE: usize = 16_384;

struct Job {
    source: Source,
    /// Shared so a SQLite batch can move it into its blocking call without copying.
    events: Arc<Vec<InboundEvent>>,
    /// Files fetched for each event (aligned with `events`; empty for most).
    media: Arc<Vec<Vec<NewAttachment>>>,
    done: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
    queued_at: Instant,
}

/// Handle to the writer tasks.
#[derive(Clone)]
pub(crate) struct InboundWriter {
    /// One queue per writer. A job goes to the writer its contact hashes to, so one
    /// contact's events are stored in arrival order and never race each other.
    writers: Arc<[mpsc::Sender<Job>]>,
}

impl InboundWriter {
    /// Starts the writers on the current actix arbiter: `settings.writers` on PostgreSQL,
    /// one on SQLite (it has a single writer connection).
    pub(crate) fn start(
        db: Database,
        events: Arc<EventHub>,
        router: Addr<Router>,
        thumbnails: Thumbnailer,
        notifier: Addr<crate::notify::Notifier>,
        settings: InboundSettings,
    ) -> Self {
        let after = AfterCommit {
            events,
            router,
            thumbnails,
            notifier,
        };
        let count = if db.concurrent_writers() {
            settings.writers.max(1)
        } else {
            1
        };
        let writers = (0..count)
            .map(|_| {
                let (jobs, queue) = mpsc::channel(QUEUE / count);
                actix_web::rt::spawn(run(db.clone(), after.clone(), settings.clone(), queue));
                jobs
            })
            .collect();
        Self { writers }
    }

    /// The writer for a job: by the inbox and the first event's contact.
    fn writer_for(&self, source: &Source, events: &[InboundEvent]) -> &mpsc::Sender<Job> {
        let index = if self.writers.len() == 1 {
            0
        } else {
            let key = match events.first() {
                Some(InboundEvent::Message(m)) => m.sender.identifier.as_str(),
                Some(InboundEvent::Edit(e)) => e.sender.identifier.as_str(),
                Some(InboundEvent::Typing(t)) => t.sender.identifier.as_str(),
                Some(InboundEvent::Reachability(r)) => r.sender.identifier.as_str(),
                Some(InboundEvent::Reaction(r)) => r.sender.identifier.as_str(),
                Some(InboundEvent::IdentityChange(change)) => change.old_identifier.as_str(),
                Some(InboundEvent::SurveyAnswer(answer)) => answer.sender.identifier.as_str(),
                Some(
                    InboundEvent::Status(_)
                    | InboundEvent::Skipped { .. }
                    | InboundEvent::Unreadable { .. },
                )
                | None => "",
            };
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&(source.inbox_id, key), &mut hasher);
            (std::hash::Hasher::finish(&hasher) % self.writers.len() as u64) as usize
        };
        &self.writers[index]
    }

    /// Stores events and returns what each did, once they are durably committed.
    pub(crate) async fn store(
        &self,
        source: Source,
        events: Vec<InboundEvent>,
        media: Vec<Vec<NewAttachment>>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let (done, answer) = oneshot::channel();
        let writer = self.writer_for(&source, &events).clone();
        let job = Job {
            source,
            events: Arc::new(events),
            media: Arc::new(media),
            done,
            queued_at: Instant::now(),
        };
        writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the inbound writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the inbound writer has stopped".into()))?
    }
}

/// Who hears about stored events, once they are committed.
#[derive(Clone)]
struct AfterCommit {
    events: Arc<EventHub>,
    router: Addr<Router>,
    thumbnails: Thumbnailer,
    /// Told of customers' messages in assigned conversations.
    notifier: Addr<crate::notify::Notifier>,
}

async fn run(
    db: Database,
    after: AfterCommit,
    settings: InboundSettings,
    mut queue: mpsc::Receiver<Job>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let mut size = batch[0].events.len();
        let deadline = tokio::time::Instant::now() + settings.batch_wait;
        while size < settings.batch_max_events {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    batch.push(job);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if settings.batch_wait.is_zero() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(job)) => {
                            size += job.events.len();
                            batch.push(job);
                        }
                        _ => break,
                    }
                }
            }
        }
        let span = tracing::debug_span!("inbound_batch", jobs = batch.len(), events = size);
        let results = tracing::Instrument::instrument(write(&db, &batch), span).await;
        let mut answers = Vec::with_capacity(batch.len());
        let mut duplicates = Vec::new();
        for (job, result) in batch.into_iter().zip(results) {
            if let Ok(outcomes) = &result {
                fan_out(&after, job.source.inbox_id, outcomes);
                duplicates.extend(outcomes.iter().filter_map(|o| match o {
                    Outcome::Duplicate { message_id } => Some(*message_id),
                    _ => None,
                }));
            }
            tracing::trace!(
                wait_us = job.queued_at.elapsed().as_micros() as u64,
                "inbound job stored"
            );
            answers.push((job.done, result));
        }
        let answer = |answers: Vec<(oneshot::Sender<_>, _)>| {
            for (done, result) in answers {
                // The handler may have gone (client hung up); the events are stored anyway.
                let _ = done.send(result);
            }
        };
        match after.events.published() {
            // Several nodes: the provider hears back once the events are in the cluster's
            // stream, so agents anywhere see what was acknowledged even if this node dies
            // now. The next batch does not wait for it.
            Some(published) => {
                let (db, events) = (db.clone(), after.events.clone());
                tokio::spawn(async move {
                    if duplicates.is_empty() {
                        published.await;
                    } else {
                        // Wait for the republished creations too, not only the batch's events.
                        republish(&db, &events, &duplicates).await;
                        if let Some(republished) = events.published() {
                            republished.await;
                        }
                    }
                    answer(answers);
                });
            }
            None => answer(answers),
        }
    }
}

/// Publishes the creation of messages a provider delivered again (see
/// [`EventHub::republish`]); a message that cannot be read now is left to clients' reloads.
async fn republish(db: &Database, events: &EventHub, message_ids: &[i64]) {
    let found = async {
        let conn = &mut db.reader().await?;
        let mut found = Vec::with_capacity(message_ids.len());
        for id in message_ids {
            if let Some(message) = crate::store::conversations::find_message(conn, *id).await?
                && let Some(conversation) =
                    crate::store::conversations::find(conn, message.conversation_id).await?
            {
                found.push((message, conversation));
            }
        }
        Ok::<_, StoreError>(found)
    };
    match found.await {
        Ok(found) => {
            for (message, conversation) in &found {
                events.republish(message, conversation);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot publish redelivered messages again"),
    }
}

/// Writes the whole batch in one transaction, or job by job if that fails.
async fn write(db: &Database, batch: &[Job]) -> Vec<Result<Vec<Outcome>, StoreError>> {
    let mut conn = match db.writer().await {
        Ok(conn) => conn,
        Err(e) => {
            return batch
                .iter()
                .map(|_| Err(StoreError::Unavailable(e.to_string())))
                .collect();
        }
    };
    let all: Vec<&Job> = batch.iter().collect();
    let together = transaction(&mut conn, &all).await;
    match together {
        Ok(all) => all.into_iter().map(Ok).collect(),
        Err(error) if batch.len() == 1 => {
            // A lone job that conflicted with another writer's (or node's) write is retried
            // once: the second time its dedupe check sees the other write.
            if worth_retrying(&error) {
                vec![transaction(&mut conn, &all).await.map(|mut v| v.remove(0))]
            } else {
                vec![Err(error)]
            }
        }
        Err(error) => {
            tracing::warn!(%error, jobs = batch.len(), "inbound batch failed; storing its jobs one by one");
            let mut results = Vec::with_capacity(batch.len());
            for job in batch {
                let mut one = transaction(&mut conn, &[job]).await;
                if one.as_ref().is_err_and(worth_retrying) {
                    one = transaction(&mut conn, &[job]).await;
                }
                results.push(one.map(|mut v| v.remove(0)));
            }
            results
        }
    }
}

/// Errors after which the same transaction may well succeed: a unique index refused a row
/// another writer stored first (the retry sees it and reports a duplicate), a serialization
/// failure, or a deadlock PostgreSQL broke by aborting us (diesel reports it as an unknown
/// database error). Retrying is safe: the transaction rolled back and ingest is idempotent.
fn worth_retrying(error: &StoreError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        StoreError::Conflict(_) => true,
        StoreError::Query(Error::DatabaseError(kind, _)) => matches!(
            kind,
            DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::Unknown
        ),
        _ => false,
    }
}

async fn transaction(conn: &mut DbConn, jobs: &[&Job]) -> Result<Vec<Vec<Outcome>>, StoreError> {
    match conn {
        DbConn::Sqlite(c) => {
            // The whole batch in one blocking call on the connection (see ingest_sqlite).
            type Work = (Source, Arc<Vec<InboundEvent>>, Arc<Vec<Vec<NewAttachment>>>);
            let work: Vec<Work> = jobs
                .iter()
                .map(|job| (job.source, Arc::clone(&job.events), Arc::clone(&job.media)))
                .collect();
            c.spawn_blocking(move |c| {
                Ok(c.immediate_transaction::<_, StoreError, _>(|c| {
                    work.iter()
                        .map(|(source, events, media)| {
                            inbound::ingest_sqlite(c, source, events, media)
                        })
                        .collect()
                }))
            })
            .await?
        }
        DbConn::Postgres(c) => {
            c.transaction::<_, StoreError, _>(async |c| {
                inbound::lock_pg(
                    c,
                    jobs.iter().map(|job| (&job.source, job.events.as_slice())),
                )
                .await?;
                let work: Vec<inbound::JobRef<'_>> = jobs
                    .iter()
                    .map(|job| (&job.source, job.events.as_slice(), job.media.as_slice()))
                    .collect();
                inbound::ingest_batch_pg(c, &work).await
            })
            .await
        }
    }
}

/// After the commit: realtime events and routing.
fn fan_out(after: &AfterCommit, inbox_id: i64, outcomes: &[Outcome]) {
    let (events, router) = (&after.events, &after.router);
    let mut intents = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Created {
                message,
                conversation,
                conversation_change,
                images,
            } => {
                for (attachment_id, storage_key) in images {
                    after.thumbnails.queue(ThumbnailJob {
                        attachment_id: *attachment_id,
                        storage_key: storage_key.clone(),
                    });
                }
                events.conversation(
                    conversation,
                    *conversation_change == Some(ConversationStart::Created),
                );
                events.message(message, true);
                if *conversation_change == Some(ConversationStart::Created)
                    && message.direction == crate::db::types::Direction::Inbound
                {
                    intents.push(crate::notify::Intent::NewConversation {
                        conversation_id: conversation.id,
                        inbox_id,
                        content: message.content.clone(),
                    });
                }
                if let (Some(agent_id), crate::db::types::Direction::Inbound) =
                    (conversation.assignee_id, message.direction)
                {
                    intents.push(crate::notify::Intent::Message {
                        agent_id,
                        conversation_id: conversation.id,
                        content: message.content.clone(),
                    });
                }
                if conversation_change.is_some()
                    && conversation.assignee_id.is_none()
                    && let Err(error) = router.try_send(Route {
                        conversation_id: conversation.id,
                        inbox_id,
                    })
                {
                    // The router's periodic sweep picks it up.
                    tracing::debug!(%error, "router busy");
                }
            }
            Outcome::Edited { message } | Outcome::Reacted { message } => {
                events.message(message, false)
            }
            Outcome::Typing {
                conversation_id,
                contact_id,
                on,
            } => events.publish(
                Scope::Inbox(inbox_id),
                &Event::Typing {
                    conversation_id: *conversation_id,
                    sender_type: "contact",
                    sender_id: *contact_id,
                    on: *on,
                },
            ),
            Outcome::Reachability {
                contact_id,
                blocked,
            } => events.publish(
                Scope::Inbox(inbox_id),
                &Event::Reachability {
                    contact_id: *contact_id,
                    inbox_id,
                    blocked: *blocked,
                },
            ),
            Outcome::Ignored { reason } => tracing::info!(reason, "inbound event skipped"),
            Outcome::IdentityMoved { contact_id } => {
                tracing::info!(contact_id, "contact's channel identifier changed");
            }
            Outcome::Duplicate { .. }
            | Outcome::Status(_)
            | Outcome::Skipped { .. }
            | Outcome::Unreadable { .. }
            // The door answers surveys and publishes them itself.
            | Outcome::SurveyAnswered { .. }
            | Outcome::SurveyRefused { .. } => {}
        }
    }
    if !intents.is_empty()
        && let Err(error) = after.notifier.try_send(crate::notify::Notify(intents))
    {
        tracing::warn!(%error, "notifier busy; new-message notifications dropped");
    }
}
