//! Thumbnails, made off the request path: a message with an image appears at once; its
//! thumbnails follow as a `message.updated` event. One worker task per node decodes one
//! image at a time on a blocking thread (decoding is CPU-heavy and bounded by the image
//! limits), so a burst of uploads cannot starve the request handlers.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::db::Database;
use crate::files::{self, Files, Variant};
use crate::media;
use crate::realtime::EventHub;
use crate::store::attachments;

/// Images waiting for thumbnails before new ones are only picked up by the start-up sweep.
const QUEUE: usize = 4096;

/// An image to make thumbnails of.
#[derive(Debug, Clone)]
pub(crate) struct ThumbnailJob {
    pub attachment_id: i64,
    pub storage_key: String,
}

/// Handle to the worker.
#[derive(Clone)]
pub(crate) struct Thumbnailer {
    jobs: mpsc::Sender<ThumbnailJob>,
}

impl Thumbnailer {
    /// Starts the worker and queues the images a previous run left without thumbnails.
    pub(crate) fn start(db: Database, events: Arc<EventHub>, files: Arc<Files>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let this = Self { jobs };
        actix_web::rt::spawn(run(db.clone(), events, files, queue));
        let sweep = this.clone();
        actix_web::rt::spawn(async move {
            let missing = match db.reader().await {
                Ok(mut conn) => attachments::images_without_thumbnails(&mut conn, 1000).await,
                Err(error) => Err(error),
            };
            match missing {
                Ok(list) => {
                    for (attachment_id, storage_key) in list {
                        sweep.queue(ThumbnailJob {
                            attachment_id,
                            storage_key,
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot look for images without thumbnails"),
            }
        });
        this
    }

    /// Queues an image; when the queue is full it is logged and made at the next start.
    pub(crate) fn queue(&self, job: ThumbnailJob) {
        if let Err(error) = self.jobs.try_send(job) {
            tracing::warn!(%error, "thumbnail queue full; the thumbnail is made at the next start");
        }
    }
}

async fn run(
    db: Database,
    events: Arc<EventHub>,
    files: Arc<Files>,
    mut queue: mpsc::Receiver<ThumbnailJob>,
) {
    while let Some(job) = queue.recv().await {
        let span = tracing::info_span!("thumbnails", attachment_id = job.attachment_id);
        let handled = async {
            match make(&db, &events, &files, &job).await {
                Ok(()) => {}
                // The original stays downloadable; the message simply shows no preview.
                Err(Failure::Image(reason)) => {
                    tracing::warn!(%reason, "this image cannot be thumbnailed");
                    let recorded = match db.writer().await {
                        Ok(mut conn) => {
                            attachments::set_thumbnail_error(&mut conn, job.attachment_id, &reason)
                                .await
                        }
                        Err(error) => Err(error),
                    };
                    if let Err(error) = recorded {
                        tracing::warn!(%error, "cannot record the thumbnail failure");
                    }
                }
                // Storage or database trouble: tried again at the next start.
                Err(Failure::Other(reason)) => tracing::warn!(%reason, "no thumbnails for now"),
            }
        };
        tracing::Instrument::instrument(handled, span).await;
    }
}

/// Why a job made no thumbnails.
enum Failure {
    /// The image itself: permanent.
    Image(String),
    /// Storage or database: may work later.
    Other(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Self::Other(reason)
    }
}

async fn make(
    db: &Database,
    events: &EventHub,
    files: &Files,
    job: &ThumbnailJob,
) -> Result<(), Failure> {
    let (size, mut stream) = files
        .blobs()
        .get(&job.storage_key)
        .await
        .map_err(|e| e.to_string())?;
    if size > files.limits().max_image_bytes {
        return Err(Failure::Image(format!(
            "{size} bytes is over the image limit"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    let limits = files.image_limits();
    let thumbs = tokio::task::spawn_blocking(move || media::thumbnails(&bytes, limits))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| Failure::Image(e.to_string()))?;
    let small_key = files::thumbnail_key(&job.storage_key, Variant::Small);
    let large_key = files::thumbnail_key(&job.storage_key, Variant::Large);
    files
        .blobs()
        .put_bytes(&small_key, Bytes::from(thumbs.small), media::THUMB_MIME)
        .await
        .map_err(|e| e.to_string())?;
    files
        .blobs()
        .put_bytes(&large_key, Bytes::from(thumbs.large), media::THUMB_MIME)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = db.writer().await.map_err(|e| e.to_string())?;
    let recorded = attachments::set_thumbnails(
        &mut conn,
        job.attachment_id,
        &small_key,
        &large_key,
        i64::from(thumbs.width),
        i64::from(thumbs.height),
    )
    .await
    .map_err(|e| e.to_string())?;
    match recorded {
        attachments::Thumbnailed::OnMessage(message) => events.message(&message, false),
        attachments::Thumbnailed::Pending => {}
        attachments::Thumbnailed::Gone => {
            // Removed while we worked (an abandoned upload): leave nothing behind.
            for key in [&small_key, &large_key] {
                if let Err(error) = files.blobs().delete(key).await {
                    tracing::warn!(%error, key, "cannot remove a thumbnail of a removed upload");
                }
            }
        }
    }
    Ok(())
}
