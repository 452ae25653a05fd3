//! Channel webhooks: `POST /webhooks/{channel_type}/{inbox_id}[/{route}]`, and the
//! `GET` subscription check of providers that make one (WhatsApp).
//!
//! The inbox's channel adapter verifies the signature and parses the body; nothing is
//! stored unless all of it is valid. The events go through the inbound door, which answers
//! only after every one is durably stored, so a provider that gets no 200 retries, and the
//! dedupe on (inbox, external id) makes the retry harmless.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use switchboard_channel::{Handshake, InboundError, InboundRequest};

use super::ApiError;
use crate::channels::ChannelEntry;
use crate::inbound::Outcome;
use crate::state::AppState;
use crate::store::delivery::StatusApplied;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/webhooks")
            .route("/{channel_type}/{inbox_id}", web::post().to(receive))
            .route("/{channel_type}/{inbox_id}", web::get().to(handshake))
            .route(
                "/{channel_type}/{inbox_id}/{route}",
                web::post().to(receive),
            ),
    );
}

#[derive(Serialize)]
pub(super) struct Stored {
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
    /// Why an update was ignored or could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The kept unreadable update, for `GET /api/v1/inboxes/{id}/unreadable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable_id: Option<String>,
}

/// A provider's subscription check (WhatsApp: `GET ?hub.mode=subscribe&hub.verify_token=…
/// &hub.challenge=…`), answered with the raw challenge as plain text.
async fn handshake(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let entry = entry_of(&state, &req)?;
    match entry.adapter.handshake(req.query_string()) {
        Handshake::Accepted(challenge) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(challenge)),
        Handshake::Refused(reason) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "webhook subscription check refused");
            Err(ApiError::forbidden("verification_failed", reason))
        }
        Handshake::Unsupported => Err(ApiError::method_not_allowed(
            "this channel's webhook only accepts POST",
        )),
    }
}

/// The running channel a webhook path names, if its type matches.
fn entry_of(state: &AppState, req: &HttpRequest) -> Result<Arc<ChannelEntry>, ApiError> {
    let channel_type = req.match_info().get("channel_type").unwrap_or_default();
    let inbox_id = req
        .match_info()
        .get("inbox_id")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0);
    inbox_id
        .and_then(|id| state.hub.channels.get(id))
        .filter(|e| e.channel_type.as_str() == channel_type)
        .ok_or_else(|| ApiError::not_found("no enabled inbox of that channel type with that id"))
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let route = req.match_info().get("route").unwrap_or_default();
    let entry = entry_of(&state, &req)?;
    let limit = crate::channels::kind(entry.channel_type).map_or(2 * 1024 * 1024, |kind| {
        kind.max_webhook_bytes(&state.settings)
    });
    let body = read_body(payload, limit).await?;
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
    let own = match entry.adapter.parse_inbound(&request) {
        Ok(events) => Some(events),
        // Perhaps for another inbox of the same provider app: looked for below.
        Err(InboundError::UnknownAccount(reason)) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "webhook for another account");
            None
        }
        Err(error) => return Err(refusal(&entry, error)),
    };
    // Meta posts every number of an app to one callback URL: the changes for the app's
    // other numbers go to their own inboxes (each verifies the body with its own secret).
    let own_account = entry.adapter.account();
    let siblings: Vec<Arc<ChannelEntry>> = entry
        .adapter
        .accounts_in(&request)
        .into_iter()
        .filter(|account| own_account.as_ref() != Some(account))
        .filter_map(|account| {
            state.hub.channels.find(|e| {
                e.channel_type == entry.channel_type
                    && e.inbox_id != entry.inbox_id
                    && e.adapter.account().as_ref() == Some(&account)
            })
        })
        .collect();
    if own.is_none() && siblings.is_empty() {
        return Err(ApiError::not_found_code(
            "unknown_account",
            "the webhook is for an account no enabled inbox here has",
        ));
    }
    let mut stored: Vec<Stored> = Vec::new();
    if let Some(events) = own {
        stored.extend(take_in(&state, &entry, events).await?);
    }
    for sibling in siblings {
        match sibling.adapter.parse_inbound(&request) {
            Ok(events) => stored.extend(take_in(&state, &sibling, events).await?),
            Err(error) => tracing::info!(
                inbox_id = sibling.inbox_id,
                %error,
                "webhook names this inbox's account but does not pass its check"
            ),
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "stored": stored })))
}

/// Stores one inbox's events through the inbound door and answers what each did.
async fn take_in(
    state: &AppState,
    entry: &ChannelEntry,
    events: Vec<switchboard_channel::InboundEvent>,
) -> Result<Vec<Stored>, ApiError> {
    let count = events.len();
    let outcomes = state.hub.inbound.take_in(entry, events).await?;
    state
        .metrics
        .inbound_events(entry.channel_type.as_str(), count);
    Ok(outcomes.iter().map(outcome_view).collect())
}

/// How a refused webhook is answered.
fn refusal(entry: &ChannelEntry, error: InboundError) -> ApiError {
    match error {
        InboundError::Unauthorized(reason) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "webhook refused");
            ApiError::unauthorized("invalid_signature", reason)
        }
        InboundError::Malformed(reason) => {
            tracing::info!(inbox_id = entry.inbox_id, %reason, "malformed webhook");
            ApiError::bad_request("malformed_payload", reason)
        }
        InboundError::UnknownAccount(reason) => ApiError::not_found_code("unknown_account", reason),
    }
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
        reason: None,
        unreadable_id: None,
    }
}

/// What one stored event did, as webhook answers and replays show it.
pub(super) fn outcome_view(outcome: &Outcome) -> Stored {
    let blank = |kind| Stored {
        kind,
        message_id: None,
        conversation_id: None,
        duplicate: false,
        status: None,
        reason: None,
        unreadable_id: None,
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
        Outcome::Skipped { reason } => Stored {
            status: Some("ignored"),
            reason: Some(reason.clone()),
            ..blank("ignored")
        },
        Outcome::Unreadable { id, reason } => Stored {
            status: Some("kept_unreadable"),
            reason: Some(reason.clone()),
            unreadable_id: Some(id.to_string()),
            ..blank("unreadable")
        },
        Outcome::Reacted { message } => Stored {
            message_id: Some(message.id.to_string()),
            conversation_id: Some(message.conversation_id.to_string()),
            ..blank("reaction")
        },
        Outcome::IdentityMoved { .. } => Stored {
            status: Some("moved"),
            ..blank("identity")
        },
        Outcome::Reachability { blocked, .. } => Stored {
            status: Some(if *blocked { "blocked" } else { "unblocked" }),
            ..blank("reachability")
        },
        Outcome::SurveyAnswered {
            conversation_id, ..
        } => Stored {
            conversation_id: Some(conversation_id.to_string()),
            status: Some("answered"),
            ..blank("csat")
        },
        Outcome::SurveyRefused { reason } => Stored {
            status: Some("refused"),
            reason: Some((*reason).to_owned()),
            ..blank("csat")
        },
    }
}

/// Reads the body up to `limit` bytes (the channel type's), answering 413 (as JSON) beyond it.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(format!(
                "the body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
