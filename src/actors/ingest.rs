//! The inbound batching writer: group commit for webhooks (DESIGN.md, "Durability and
//! group commit").
//!
//! Webhook handlers hand their parsed events over and wait. The writer takes whatever
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

use super::router::{Route, Router};
use crate::config::InboundSettings;
use crate::db::{Database, DbConn, StoreError};
use crate::realtime::{Event, EventHub, Scope};
use crate::store::delivery::StatusApplied;
use crate::store::inbound::{self, ConversationStart, Outcome, Source};

/// Jobs that may wait for the writer before handlers are pushed back on.
const QUEUE: usize = 16_384;

struct Job {
    source: Source,
    events: Vec<InboundEvent>,
    done: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
    queued_at: Instant,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct InboundWriter {
    jobs: mpsc::Sender<Job>,
}

impl InboundWriter {
    /// Starts the writer on the current actix arbiter.
    pub fn start(
        db: Database,
        events: Arc<EventHub>,
        router: Addr<Router>,
        settings: InboundSettings,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        actix_web::rt::spawn(run(db, events, router, settings, queue));
        Self { jobs }
    }

    /// Stores events and returns what each did, once they are durably committed.
    pub async fn store(
        &self,
        source: Source,
        events: Vec<InboundEvent>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            source,
            events,
            done,
            queued_at: Instant::now(),
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the inbound writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the inbound writer has stopped".into()))?
    }
}

async fn run(
    db: Database,
    events: Arc<EventHub>,
    router: Addr<Router>,
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
        let _guard = span.enter();
        let results = write(&db, &batch).await;
        for (job, result) in batch.into_iter().zip(results) {
            if let Ok(outcomes) = &result {
                fan_out(&events, &router, job.source.inbox_id, outcomes);
            }
            tracing::trace!(
                wait_us = job.queued_at.elapsed().as_micros() as u64,
                "inbound job stored"
            );
            // The handler may have gone (client hung up); the events are stored anyway.
            let _ = job.done.send(result);
        }
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
            // A lone job that conflicted with another node's write is retried once: the
            // second time its dedupe check sees the other write.
            if matches!(error, StoreError::Conflict(_)) {
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
                if matches!(one, Err(StoreError::Conflict(_))) {
                    one = transaction(&mut conn, &[job]).await;
                }
                results.push(one.map(|mut v| v.remove(0)));
            }
            results
        }
    }
}

async fn transaction(conn: &mut DbConn, jobs: &[&Job]) -> Result<Vec<Vec<Outcome>>, StoreError> {
    match conn {
        DbConn::Sqlite(c) => {
            c.transaction::<_, StoreError, _>(async |c| {
                let mut all = Vec::new();
                for job in jobs {
                    all.push(inbound::ingest_sqlite(c, &job.source, &job.events).await?);
                }
                Ok(all)
            })
            .await
        }
        DbConn::Postgres(c) => {
            c.transaction::<_, StoreError, _>(async |c| {
                let mut all = Vec::new();
                for job in jobs {
                    all.push(inbound::ingest_pg(c, &job.source, &job.events).await?);
                }
                Ok(all)
            })
            .await
        }
    }
}

/// After the commit: realtime events and routing.
fn fan_out(events: &EventHub, router: &Addr<Router>, inbox_id: i64, outcomes: &[Outcome]) {
    for outcome in outcomes {
        match outcome {
            Outcome::Created {
                message,
                conversation,
                conversation_change,
            } => {
                events.conversation(
                    conversation,
                    *conversation_change == Some(ConversationStart::Created),
                );
                events.message(message, true);
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
            Outcome::Edited { message } => events.message(message, false),
            Outcome::Status(StatusApplied::Advanced(message)) => events.message(message, false),
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
            Outcome::Ignored { reason } => tracing::info!(reason, "inbound event skipped"),
            Outcome::Duplicate { .. } | Outcome::Status(_) => {}
        }
    }
}
