//! The web chat widget's doors: `/widget.js`, the visitor API under `/widget/api` and the
//! visitor socket `/widget/ws` (its session actor is `channels::widget::session`).
//!
//! Every request names the inbox by its public key (`?key=`) and must come from one of the
//! inbox's allowed origins (the browser's `Origin` header); others get 403 before anything
//! else happens. Visitors prove who they are with the signed token from `/widget/api/session`
//! (`Authorization: Bearer`), never with cookies, so no other site can act as them.

use std::sync::Arc;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use switchboard_channel::{ContactProfile, InboundMessage};

use super::ApiError;
use crate::channels::ChannelEntry;
use crate::channels::widget::quota::Upload;
use crate::channels::widget::{Ask, WidgetConfig};
use crate::files::{FileError, MAX_FILES, StagedFiles, StorageRefusal};
use crate::inbound::Outcome;
use crate::realtime::visitors::VisitorEvent;
use crate::state::AppState;

/// The embeddable script (templates/widget.js), served as is.
static SCRIPT: super::assets::File = super::assets::template!("widget.js", super::assets::JS);

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/widget.js", web::get().to(script)).service(
        web::scope("/widget")
            .route("/ws", web::get().to(socket))
            .route("/api/config", web::get().to(config))
            .route("/api/session", web::post().to(session))
            .route("/api/identify", web::post().to(identify))
            .route("/api/transcript", web::post().to(transcript))
            .route("/api/messages", web::post().to(message))
            .route(
                "/api/{path:.*}",
                web::method(actix_web::http::Method::OPTIONS).to(preflight),
            ),
    );
}

async fn script(req: HttpRequest) -> HttpResponse {
    // Pages of other sites load it: it may be cached a while, revalidated by ETag.
    SCRIPT.respond(&req, "public, max-age=300").await
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

/// The widget inbox of `?key=`, if the request's origin may use it.
fn widget(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
) -> Result<(Arc<ChannelEntry>, Arc<WidgetConfig>), ApiError> {
    let (entry, config) =
        crate::channels::widget::find(&state.hub.channels, key).ok_or_else(|| {
            ApiError::not_found_code("unknown_widget", "no enabled widget has that key")
        })?;
    if !config.allows(origin(req)) {
        return Err(ApiError::forbidden(
            "origin_not_allowed",
            "this page's origin may not use this widget (see the inbox's allowed_origins)",
        ));
    }
    Ok((entry, config))
}

fn origin(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// CORS for an allowed origin: the answer may be read by that page, and only by it.
fn cors(req: &HttpRequest, response: &mut HttpResponse) {
    if let Some(origin) = origin(req).and_then(|o| header::HeaderValue::from_str(o).ok()) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, header::HeaderValue::from_static("Origin"));
        // widget.js waits as long as a 429 or 503 asks.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("Retry-After"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
}

/// Answers with CORS headers, errors included (so the widget can read them).
fn answer(req: &HttpRequest, result: Result<HttpResponse, ApiError>) -> HttpResponse {
    let mut response = match result {
        Ok(response) => response,
        Err(error) => actix_web::ResponseError::error_response(&error),
    };
    cors(req, &mut response);
    response
}

async fn preflight(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
) -> HttpResponse {
    let result = widget(&state, &req, &query.key).map(|_| {
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .finish()
    });
    answer(&req, result)
}

async fn config(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
) -> HttpResponse {
    let result = async {
        let (_, config) = widget(&state, &req, &query.key)?;
        let online = crate::channels::widget::agents_online(&state, config.inbox_id).await?;
        Ok(HttpResponse::Ok().json(json!({
            "inbox_id": config.inbox_id.to_string(),
            "title": config.title,
            "greeting": config.greeting,
            "colour": config.colour,
            "position": config.position,
            "avatar_url": config.avatar_url,
            "prechat": {"name": config.prechat_name, "email": config.prechat_email},
            "away_message": config.away_message,
            "agents_online": online,
            "verification": config.verification,
            "transcript": config.transcript_inbox_id.is_some(),
            "max_message_chars": switchboard_widget::Limits::default().max_message_chars,
            "max_file_bytes": state.hub.files.limits().max_file_bytes,
        })))
    }
    .await;
    answer(&req, result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    #[serde(default)]
    token: Option<String>,
}

async fn session(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
    body: web::Json<SessionBody>,
) -> HttpResponse {
    let result = (|| {
        let (_, config) = widget(&state, &req, &query.key)?;
        let key = crate::channels::widget::token_key(&state);
        if let Some(token) = &body.token
            && let Ok(known) = switchboard_widget::verify_visitor_token(&key, token)
            && known.inbox_id == config.inbox_id
        {
            return Ok(
                HttpResponse::Ok().json(json!({"token": token, "visitor_id": known.visitor_id}))
            );
        }
        if !state.hub.widget_limits.session(&client_ip(&state, &req)) {
            return Err(ApiError::rate_limited(60));
        }
        let visitor_id = switchboard_widget::new_visitor_id(crate::auth::random_bytes::<16>());
        let token = switchboard_widget::sign_visitor_token(&key, config.inbox_id, &visitor_id);
        Ok(HttpResponse::Ok().json(json!({"token": token, "visitor_id": visitor_id})))
    })();
    answer(&req, result)
}

fn client_ip(state: &AppState, req: &HttpRequest) -> String {
    super::extract::client_ip(req, state.settings.server.trust_proxy_headers)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The visitor of the request's `Authorization: Bearer <token>`, for this inbox.
fn visitor(state: &AppState, req: &HttpRequest, config: &WidgetConfig) -> Result<String, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("unauthorized", "a visitor token is required"))?;
    match switchboard_widget::verify_visitor_token(
        &crate::channels::widget::token_key(state),
        token.trim(),
    ) {
        Ok(token) if token.inbox_id == config.inbox_id => Ok(token.visitor_id),
        _ => Err(ApiError::unauthorized(
            "unauthorized",
            "the visitor token is not valid here; start a new session",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentifyBody {
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    identifier_hash: Option<String>,
}

async fn identify(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
    body: web::Json<IdentifyBody>,
) -> HttpResponse {
    let result = async {
        let (_, config) = widget(&state, &req, &query.key)?;
        if !state.hub.widget_limits.identify(&client_ip(&state, &req)) {
            return Err(ApiError::rate_limited(60));
        }
        let visitor_id = visitor(&state, &req, &config)?;
        let body = body.into_inner();
        let name = body
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| crate::domain::DisplayName::parse(n).map_err(|r| ApiError::invalid("name", r)))
            .transpose()?
            .map(|n| n.as_str().to_owned());
        let email = body
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                crate::domain::EmailAddress::parse(e)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|r| ApiError::invalid("email", r))
            })
            .transpose()?;
        let identifier = body
            .identifier
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty());
        if identifier.is_some_and(|i| i.chars().count() > 255) {
            return Err(ApiError::invalid("identifier", "must be at most 255 characters"));
        }
        let verified = match (identifier, body.identifier_hash.as_deref()) {
            (Some(identifier), Some(hash)) => {
                if !switchboard_widget::verify_identifier(config.secret.as_bytes(), identifier, hash) {
                    tracing::info!(inbox_id = config.inbox_id, "widget identity with a wrong hash refused");
                    return Err(ApiError::unauthorized(
                        "identity_unverified",
                        "identifier_hash does not match the identifier",
                    ));
                }
                Some(identifier.to_owned())
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid("identifier", "is required with identifier_hash"));
            }
            _ if config.verification == Ask::Required => {
                return Err(ApiError::unauthorized(
                    "identity_unverified",
                    "this widget requires identifier and identifier_hash (HMAC-SHA256 of the identifier with the inbox secret)",
                ));
            }
            // Without a hash an identifier is only a claim: it never joins a contact.
            _ => None,
        };
        let who = crate::store::widget::Identification {
            verified_identifier: verified.clone(),
            name,
            email,
        };
        let visitor_identifier = switchboard_widget::visitor_identifier(&visitor_id);
        let contact_id = crate::store::widget::identify(
            &mut state.db.writer().await?,
            config.inbox_id,
            &visitor_identifier,
            &who,
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "identity_changed",
                "this browser belongs to another user; start a new visitor session",
            )
        })?;
        // Open sockets of this visitor reconnect: they may continue another conversation now.
        state.hub.events.visitors.to_visitor(
            &(config.inbox_id, visitor_id.clone()),
            VisitorEvent::Resume,
        );
        tracing::debug!(contact_id, verified = verified.is_some(), "widget visitor identified");
        Ok(HttpResponse::Ok().json(json!({"verified": verified.is_some()})))
    }
    .await;
    answer(&req, result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptBody {
    email: String,
}

/// Mails the visitor's conversation to the address they give ("Email me this conversation").
async fn transcript(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
    body: web::Json<TranscriptBody>,
) -> HttpResponse {
    use crate::channels::widget::transcript::{self, TranscriptError};
    let result = async {
        let (_, config) = widget(&state, &req, &query.key)?;
        let visitor_id = visitor(&state, &req, &config)?;
        let email = crate::domain::EmailAddress::parse(&body.email)
            .map_err(|r| ApiError::invalid("email", r))?;
        let ip = client_ip(&state, &req);
        transcript::send(&state, &config, &visitor_id, email.as_str(), Some(ip))
            .await
            .map_err(|error| match error {
                TranscriptError::Unavailable(reason) => {
                    tracing::warn!(inbox_id = config.inbox_id, %reason, "widget transcript unavailable");
                    ApiError::conflict(
                        "transcript_unavailable",
                        "this chat does not send transcripts by email",
                    )
                }
                TranscriptError::RateLimited => ApiError::rate_limited(600),
                TranscriptError::NoConversation => ApiError::conflict(
                    "no_conversation",
                    "there is no conversation to send yet; write a message first",
                ),
                TranscriptError::Failed(reason) => {
                    tracing::warn!(inbox_id = config.inbox_id, %reason, "widget transcript not sent");
                    ApiError::upstream(
                        "transcript_failed",
                        "the transcript could not be sent just now; try again in a few minutes",
                    )
                }
                TranscriptError::Store(error) => error.into(),
            })?;
        Ok(HttpResponse::Ok().json(json!({"sent": true, "email": email.as_str()})))
    }
    .await;
    answer(&req, result)
}

/// A visitor message with files (multipart: `client_id`, `content`, `file` parts).
async fn message(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
    form: Multipart,
) -> HttpResponse {
    let result = receive_message(&state, &req, &query.key, form).await;
    answer(&req, result)
}

async fn receive_message(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (entry, config) = widget(state, req, key)?;
    let visitor_id = visitor(state, req, &config)?;
    // Counted before the body is read, so a flood of uploads costs nothing.
    if !state
        .hub
        .widget_limits
        .message(&visitor_id, &client_ip(state, req))
    {
        return Err(ApiError::rate_limited(10));
    }
    // Storage: a body that declares files is refused before a byte of it is read when the
    // disk is at its floor or the files cannot fit a quota; the rest is counted as it comes.
    let declared = declared_file_bytes(req);
    if declared > 0
        && let Err(refusal) = state.hub.files.check_free_space()
    {
        state.hub.files.count_refusal(refusal);
        return Err(refusal.into());
    }
    let mut upload = state
        .hub
        .widget_quotas
        .begin(&state.db, config.inbox_id, &visitor_id)
        .await?;
    if let Err(refusal) = upload.admit(declared) {
        return Err(storage_refused(state, &upload, refusal).await);
    }
    let mut staged = state.hub.files.stage();
    let parts = match read_message_form(state, form, &mut staged, &mut upload).await {
        Ok(parts) => parts,
        Err(error) => {
            staged.discard().await;
            return Err(error);
        }
    };
    if !staged.is_empty() {
        let refused = match upload.confirm(&state.db).await {
            Ok(Ok(())) => None,
            Ok(Err(refusal)) => Some(storage_refused(state, &upload, refusal).await),
            Err(error) => Some(error.into()),
        };
        if let Some(error) = refused {
            staged.discard().await;
            return Err(error);
        }
    }
    let event = match checked_message(&visitor_id, parts, staged.is_empty()) {
        Ok(event) => event,
        Err(error) => {
            staged.discard().await;
            return Err(error);
        }
    };
    let outcome = state
        .hub
        .inbound
        .take_in_received(entry.source, event, staged)
        .await;
    // Counted in flight until now: the stored rows count from here on.
    drop(upload);
    let outcome = outcome?;
    let (message, created) = match outcome {
        Outcome::Created { message, .. } => (message, true),
        Outcome::Duplicate { message_id } => {
            let conn = &mut state.db.reader().await?;
            let message = crate::store::conversations::find_message(conn, message_id)
                .await?
                .ok_or_else(|| ApiError::internal("a stored message vanished"))?;
            (message, false)
        }
        _ => return Err(ApiError::internal("the message was not stored")),
    };
    let visitor_key = (config.inbox_id, visitor_id.clone());
    let visitors = &state.hub.events.visitors;
    visitors.bind(&visitor_key, message.conversation_id);
    visitors.to_visitor(
        &visitor_key,
        VisitorEvent::Conversation {
            conversation_id: message.conversation_id,
            resolved: false,
        },
    );
    // Open tabs of this visitor show it too (the first message of a new conversation was
    // published before any of them was bound to it).
    visitors.to_visitor(
        &visitor_key,
        VisitorEvent::Message {
            message: std::sync::Arc::new(message.clone()),
            created: true,
        },
    );
    let frame =
        crate::channels::widget::session::message_frame(state, &visitor_id, &message).await?;
    let body = json!({ "message": frame });
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Bytes of files a message's body may hold by its Content-Length: all but room for its
/// two text parts (a frame each at most) and the form's boundaries and part headers. So an
/// upload that cannot fit is refused before it is read; 0 when no length is declared.
fn declared_file_bytes(req: &HttpRequest) -> u64 {
    let frame = switchboard_widget::Limits::default().max_frame_bytes as u64;
    let room = 2 * frame + 16 * 1024;
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |length| length.saturating_sub(room))
}

/// The answer to an upload refused for storage, counted in the metrics; a quota's says
/// (and its Retry-After gives) when enough of the 24-hour window will have aged out.
async fn storage_refused(state: &AppState, upload: &Upload, refusal: StorageRefusal) -> ApiError {
    state.hub.files.count_refusal(refusal);
    if refusal == StorageRefusal::DiskFloor {
        return refusal.into();
    }
    let exceeded = match upload.exceeded(&state.db, refusal).await {
        Ok(exceeded) => exceeded,
        Err(error) => {
            tracing::warn!(%error, "cannot compute an upload quota's Retry-After");
            return refusal.into();
        }
    };
    let whose = match refusal {
        StorageRefusal::VisitorQuota => "you may upload",
        _ => "this chat's visitors may upload together",
    };
    let secs = exceeded.retry_after_secs;
    ApiError::storage_quota_exceeded(
        format!(
            "upload quota used up: {whose} {} MB a day (rolling 24 hours); try again in {}",
            exceeded.limit / (1024 * 1024),
            if secs >= 3600 {
                format!("{} h {} min", secs / 3600, secs % 3600 / 60)
            } else if secs >= 60 {
                format!("{} min", secs.div_ceil(60))
            } else {
                format!("{secs} s")
            }
        ),
        secs,
    )
}

/// The text parts of a visitor's message form, as sent.
#[derive(Default)]
struct MessageParts {
    client_id: Option<String>,
    content: String,
}

/// Reads a visitor message form (`client_id`, `content`, `file` parts); its files are
/// received into `staged`, each through the usual checks, within the message budget and
/// counted by `upload` against the visitor's and the inbox's quotas.
async fn read_message_form(
    state: &AppState,
    mut form: Multipart,
    staged: &mut StagedFiles,
    upload: &mut Upload,
) -> Result<MessageParts, ApiError> {
    let files = &state.hub.files;
    let limits = switchboard_widget::Limits::default();
    let mut parts = MessageParts::default();
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|e| ApiError::bad_request("malformed_multipart", e.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "client_id" | "content" => {
                let mut text = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk
                        .map_err(|e| ApiError::bad_request("malformed_multipart", e.to_string()))?;
                    if text.len() + chunk.len() > limits.max_frame_bytes {
                        return Err(ApiError::invalid(&name, "is too long"));
                    }
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text)
                    .map_err(|_| ApiError::invalid(&name, "must be UTF-8 text"))?;
                if name == "client_id" {
                    parts.client_id = Some(text);
                } else {
                    parts.content = text;
                }
            }
            "file" => {
                if staged.len() == MAX_FILES {
                    return Err(ApiError::invalid(
                        "file",
                        format!("at most {MAX_FILES} files per message"),
                    ));
                }
                let file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .map(str::to_owned);
                let budget = files
                    .limits()
                    .max_message_bytes
                    .saturating_sub(staged.total_bytes());
                let mut file = match files
                    .receive_upload(file_name.as_deref(), field, budget, upload)
                    .await
                {
                    Ok(file) => file,
                    Err(FileError::Refused(refusal)) => {
                        return Err(storage_refused(state, upload, refusal).await);
                    }
                    Err(error) => return Err(error.into()),
                };
                upload.tag(&mut file);
                staged.push(file);
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "is not a field of a widget message (client_id, content, file)",
                ));
            }
        }
    }
    Ok(parts)
}

/// The visitor's message as the inbound door takes it: a valid client id (its idempotency
/// key), text within the limit, and text or files.
fn checked_message(
    visitor_id: &str,
    parts: MessageParts,
    no_files: bool,
) -> Result<InboundMessage, ApiError> {
    let limits = switchboard_widget::Limits::default();
    let Some(client_id) = parts
        .client_id
        .filter(|c| switchboard_widget::is_valid_client_id(c))
    else {
        return Err(ApiError::invalid(
            "client_id",
            "must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -",
        ));
    };
    let content = parts.content.trim().to_owned();
    if content.is_empty() && no_files {
        return Err(ApiError::invalid(
            "content",
            "must not be empty without files",
        ));
    }
    if content.chars().count() > limits.max_message_chars {
        return Err(ApiError::invalid(
            "content",
            format!("must be at most {} characters", limits.max_message_chars),
        ));
    }
    Ok(InboundMessage {
        external_id: switchboard_widget::client_external_id(visitor_id, &client_id),
        sender: ContactProfile::new(switchboard_widget::visitor_identifier(visitor_id)),
        content,
        attachments: Vec::new(),
        reply_to_external_id: None,
        provider_at: None,
        author: None,
        ..InboundMessage::default()
    })
}

/// `GET /widget/ws?key=`: the visitor socket (origin checked before the upgrade).
async fn socket(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<KeyQuery>,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let (entry, config) = widget(&state, &req, &query.key)?;
    actix_web_actors::ws::handshake(&req).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("websocket handshake: {e}"))
    })?;
    let ip = client_ip(&state, &req);
    // Counted before the upgrade: a refused socket costs no actor and no file descriptor.
    let slot = state.hub.visitor_sockets.take(&ip).map_err(|refused| {
        use crate::channels::widget::limits::SlotRefused;
        match refused {
            SlotRefused::Address => ApiError::rate_limited(30),
            SlotRefused::Hub => {
                ApiError::busy("the hub holds as many visitor connections as it may")
            }
        }
    })?;
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    let session = crate::channels::widget::session::VisitorSession::new(
        state.clone(),
        entry,
        config,
        ip,
        user_agent,
        slot,
    );
    actix_web_actors::ws::start(session, &req, stream)
}
