//! Channel webhooks: `POST /webhooks/{channel_type}/{inbox_id}[/{route}]`.
//!
//! The inbox's channel adapter verifies the signature and parses the body; nothing is
//! stored unless all of it is valid. The answer (200) comes only after every event of the
//! body is durably stored, so a provider that gets no 200 retries, and the dedupe on
//! (inbox, external id) makes the retry harmless.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use switchboard_channel::{InboundError, InboundEvent, InboundMessage, InboundRequest};

use super::attachments::{MAX_FILES, file_error};
use crate::store::attachments::NewAttachment;

use crate::actors::delivery::ApplyStatuses;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::delivery::StatusApplied;
use crate::store::inbound::Outcome;

/// Largest webhook body accepted.
const MAX_BODY: usize = 2 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/webhooks")
            .route("/{channel_type}/{inbox_id}", web::post().to(receive))
            .route(
                "/{channel_type}/{inbox_id}/{route}",
                web::post().to(receive),
            ),
    );
}

#[derive(Serialize)]
struct Stored {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let channel_type = req.match_info().get("channel_type").unwrap_or_default();
    let route = req.match_info().get("route").unwrap_or_default();
    let inbox_id = req
        .match_info()
        .get("inbox_id")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0);
    let entry = inbox_id
        .and_then(|id| state.hub.channels.get(id))
        .filter(|e| e.channel_type.as_str() == channel_type)
        .ok_or_else(|| ApiError::not_found("no enabled inbox of that channel type with that id"))?;
    let body = read_body(payload).await?;
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let request = InboundRequest {
        route,
        headers,
        body: &body,
    };
    let events = entry.adapter.parse_inbound(&request).map_err(|e| match e {
        InboundError::Unauthorized(reason) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "webhook refused");
            ApiError::unauthorized("invalid_signature", reason)
        }
        InboundError::Malformed(reason) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "malformed webhook");
            ApiError::bad_request("malformed_payload", reason)
        }
    })?;
    let count = events.len();
    let stored: Vec<Stored> = if route == "status" {
        let updates = events
            .into_iter()
            .filter_map(|e| match e {
                InboundEvent::Status(s) => Some(s),
                _ => None,
            })
            .collect();
        let applied = state
            .hub
            .delivery
            .send(ApplyStatuses {
                inbox_id: entry.inbox_id,
                updates,
            })
            .await
            .map_err(|e| ApiError::unavailable(format!("delivery tracker: {e}")))??;
        applied.iter().map(status_view).collect()
    } else {
        let media = fetch_media(&state, entry.inbox_id, &events).await?;
        let stored = state
            .hub
            .inbound
            .store(entry.source, events, media.clone())
            .await;
        let outcomes = match stored {
            Ok(outcomes) => outcomes,
            Err(error) => {
                discard_all(&state, &media).await;
                return Err(error.into());
            }
        };
        // A duplicate (a concurrent retry, the same id twice in one body) took no files.
        for (outcome, files) in outcomes.iter().zip(&media) {
            if !files.is_empty() && !matches!(outcome, Outcome::Created { .. }) {
                state.hub.files.discard(files).await;
            }
        }
        outcomes.iter().map(outcome_view).collect()
    };
    state
        .metrics
        .inbound_events(entry.channel_type.as_str(), count);
    Ok(HttpResponse::Ok().json(json!({ "stored": stored })))
}

fn status_view(applied: &StatusApplied) -> Stored {
    let (message_id, status) = match applied {
        StatusApplied::Advanced(m) => (Some(m.id.to_string()), "applied"),
        StatusApplied::Stale { message_id } => {
            (Some(message_id.to_string()), "ignored_not_forward")
        }
        StatusApplied::Unmatched => (None, "kept_unmatched"),
    };
    Stored {
        kind: "status",
        message_id,
        conversation_id: None,
        duplicate: false,
        status: Some(status),
    }
}

fn outcome_view(outcome: &Outcome) -> Stored {
    let blank = |kind| Stored {
        kind,
        message_id: None,
        conversation_id: None,
        duplicate: false,
        status: None,
    };
    match outcome {
        Outcome::Created { message, .. } => Stored {
            message_id: Some(message.id.to_string()),
            conversation_id: Some(message.conversation_id.to_string()),
            ..blank("message")
        },
        Outcome::Duplicate { message_id } => Stored {
            message_id: Some(message_id.to_string()),
            duplicate: true,
            ..blank("message")
        },
        Outcome::Edited { message } => Stored {
            message_id: Some(message.id.to_string()),
            conversation_id: Some(message.conversation_id.to_string()),
            ..blank("edit")
        },
        Outcome::Ignored { .. } => Stored {
            status: Some("ignored"),
            ..blank("ignored")
        },
        Outcome::Status(applied) => status_view(applied),
        Outcome::Typing {
            conversation_id, ..
        } => Stored {
            conversation_id: Some(conversation_id.to_string()),
            ..blank("typing")
        },
    }
}

/// Fetches the files of every message event before anything is stored, so a message
/// appears with its files or (a file refused, or unreachable) the webhook is refused
/// whole and the provider can retry. Messages already stored (a retried webhook) are not
/// fetched again. Aligned with `events`.
async fn fetch_media(
    state: &AppState,
    inbox_id: i64,
    events: &[InboundEvent],
) -> Result<Vec<Vec<NewAttachment>>, ApiError> {
    let files = &state.hub.files;
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
        let conn = &mut state.db.reader().await?;
        crate::store::inbound::known_external_ids(conn, inbox_id, &ids).await?
    };
    let mut media: Vec<Vec<NewAttachment>> = Vec::with_capacity(events.len());
    for event in events {
        let mut fetched = Vec::new();
        if let InboundEvent::Message(m) = event
            && !known.contains(&m.external_id)
        {
            let mut budget = files.limits().max_message_bytes;
            for reference in &m.attachments {
                match files.fetch(files.http(), reference, budget).await {
                    Ok(file) => {
                        budget = budget
                            .saturating_sub(u64::try_from(file.byte_size).unwrap_or(u64::MAX));
                        fetched.push(file);
                    }
                    Err(error) => {
                        files.discard(&fetched).await;
                        discard_all(state, &media).await;
                        tracing::info!(%error, external_id = %m.external_id, "inbound file refused");
                        return Err(file_error(error));
                    }
                }
            }
        }
        media.push(fetched);
    }
    Ok(media)
}

/// Removes fetched files that no stored message took.
async fn discard_all(state: &AppState, media: &[Vec<NewAttachment>]) {
    for files in media {
        state.hub.files.discard(files).await;
    }
}

/// Reads the body up to [`MAX_BODY`], answering 413 (as JSON) beyond it.
async fn read_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::payload_too_large(format!(
                "the body is larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
