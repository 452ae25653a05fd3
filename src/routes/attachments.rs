//! Attachments: agents' uploads (multipart), stable authenticated links that redirect to
//! short-lived signed URLs, and the signed download endpoint itself.
//!
//! - `POST /api/v1/conversations/{id}/attachments` (multipart, one or more files): stores
//!   them as uploads waiting for a message; send them with
//!   `POST /api/v1/conversations/{id}/messages {"attachment_ids": [...]}`.
//! - `GET /api/v1/attachments/{id}`: the file's details and fresh signed download URLs.
//! - `GET /api/v1/attachments/{id}/download`, `.../thumbnail?size=small|large`: 302 to a
//!   signed URL (what message views link to, so a link in an old event never expires).
//! - `GET /files/{id}/{original|small|large}?expires=&signature=`: the bytes, for whoever
//!   holds a valid signature (a browser tag, an integration); no session needed.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::conversations::visible_conversation;
use super::extract::Auth;
use super::{ApiError, PublicId, utc};
use crate::files::{FileError, MAX_FILES, SignatureError, StagedFiles, Unmetered, Variant};
use crate::state::AppState;
use crate::store::attachments::{self, Attachment};
use crate::views::AttachmentView;

/// Routes under `/api/v1`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/attachments", web::post().to(upload))
        .route("/attachments/{id}", web::get().to(show))
        .route("/attachments/{id}/download", web::get().to(download_link))
        .route("/attachments/{id}/thumbnail", web::get().to(thumbnail_link));
}

/// The signed download route, outside `/api/v1` (no session: the signature is the key).
pub(crate) fn configure_downloads(cfg: &mut web::ServiceConfig) {
    cfg.route("/files/{id}/{variant}", web::get().to(download));
}

async fn upload(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    // Refused before the body is read while the disk is at its floor.
    if let Err(refusal) = state.hub.files.check_free_space() {
        state.hub.files.count_refusal(refusal);
        return Err(refusal.into());
    }
    let mut staged = state.hub.files.stage();
    if let Err(error) = receive_files(&state, form, &mut staged).await {
        staged.discard().await;
        return Err(error);
    }
    if staged.is_empty() {
        return Err(ApiError::invalid(
            "file",
            "no file in the body (send multipart/form-data with a file part)",
        ));
    }
    let inserted = match state.db.writer().await {
        Ok(mut conn) => {
            attachments::insert_pending(&mut conn, conversation.id, staged.files(), &caller.actor())
                .await
        }
        Err(error) => Err(error),
    };
    let rows: Vec<Attachment> = match inserted {
        Ok(rows) => {
            staged.keep();
            rows
        }
        Err(error) => {
            staged.discard().await;
            return Err(error.into());
        }
    };
    for row in &rows {
        if row.content_type.starts_with("image/") {
            state
                .hub
                .thumbnails
                .queue(crate::actors::thumbnails::ThumbnailJob {
                    attachment_id: row.id,
                    storage_key: row.storage_key.clone(),
                });
        }
    }
    let views: Vec<AttachmentView> = rows
        .iter()
        .map(|a| AttachmentView::from(&attachments::AttachmentMeta::from(a)))
        .collect();
    Ok(HttpResponse::Created().json(json!({ "data": views })))
}

/// The attachment, if the caller may see its conversation (else 404, like a missing one).
async fn visible_attachment(
    state: &AppState,
    caller: &Auth,
    id: i64,
) -> Result<Attachment, ApiError> {
    let found = {
        let conn = &mut state.db.reader().await?;
        attachments::find(conn, id).await?
    };
    let Some((attachment, _inbox)) = found else {
        return Err(ApiError::not_found("no attachment with that id"));
    };
    visible_conversation(state, caller, attachment.conversation_id)
        .await
        .map_err(|e| match e.code() {
            "not_found" => ApiError::not_found("no attachment with that id"),
            _ => e,
        })?;
    Ok(attachment)
}

/// Receives the file parts of an upload into `staged`, each through the usual checks and
/// within the per-message budget; plain form fields are skipped.
async fn receive_files(
    state: &AppState,
    mut form: Multipart,
    staged: &mut StagedFiles,
) -> Result<(), ApiError> {
    let files = &state.hub.files;
    while let Some(field) = form.next().await {
        let field = field.map_err(|error| {
            ApiError::bad_request(
                "malformed_multipart",
                format!("malformed multipart body: {error}"),
            )
        })?;
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let Some(file_name) = file_name else {
            // A plain form field; uploads only take files.
            continue;
        };
        if staged.len() == MAX_FILES {
            return Err(ApiError::invalid(
                "file",
                format!("at most {MAX_FILES} files per upload"),
            ));
        }
        let budget = files
            .limits()
            .max_message_bytes
            .saturating_sub(staged.total_bytes());
        match files
            .receive_upload(Some(&file_name), field, budget, &mut Unmetered)
            .await
        {
            Ok(file) => staged.push(file),
            Err(FileError::Refused(refusal)) => {
                files.count_refusal(refusal);
                return Err(refusal.into());
            }
            Err(error) => {
                tracing::info!(%error, file_name, "upload refused");
                return Err(error.into());
            }
        }
    }
    Ok(())
}

async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let attachment = visible_attachment(&state, &caller, id.0).await?;
    let files = &state.hub.files;
    let view = AttachmentView::from(&attachments::AttachmentMeta::from(&attachment));
    let (download, expires) = files.signed_path(attachment.id, Variant::Original);
    let thumbnails = attachment.thumb_small_key.is_some().then(|| {
        json!({
            "small": files.signed_path(attachment.id, Variant::Small).0,
            "large": files.signed_path(attachment.id, Variant::Large).0,
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "attachment": view,
        "conversation_id": attachment.conversation_id.to_string(),
        "message_id": attachment.message_id.map(|m| m.to_string()),
        "sha256": attachment.sha256,
        "created_at": utc(attachment.created_at),
        "download_url": download,
        "thumbnail_urls": thumbnails,
        "expires_at": chrono::DateTime::from_timestamp(i64::try_from(expires).unwrap_or(i64::MAX), 0),
    })))
}

async fn download_link(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let attachment = visible_attachment(&state, &caller, id.0).await?;
    let (path, _) = state
        .hub
        .files
        .signed_path(attachment.id, Variant::Original);
    Ok(redirect(&path))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThumbnailQuery {
    #[serde(default)]
    size: Option<String>,
}

async fn thumbnail_link(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    query: web::Query<ThumbnailQuery>,
) -> Result<HttpResponse, ApiError> {
    let variant = match query.size.as_deref().unwrap_or("small") {
        "small" => Variant::Small,
        "large" => Variant::Large,
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("size must be small or large, not {other:?}"),
            ));
        }
    };
    let attachment = visible_attachment(&state, &caller, id.0).await?;
    if attachment.thumb_small_key.is_none() {
        return Err(ApiError::not_found(
            "this attachment has no thumbnail (not an image, or not made yet)",
        ));
    }
    let (path, _) = state.hub.files.signed_path(attachment.id, variant);
    Ok(redirect(&path))
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Deserialize)]
struct SignedQuery {
    expires: Option<u64>,
    signature: Option<String>,
}

async fn download(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<SignedQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, variant) = path.into_inner();
    let forged = || ApiError::forbidden("invalid_signature", SignatureError::Forged.to_string());
    let id: i64 = id.parse().map_err(|_| forged())?;
    let variant = Variant::parse(&variant).ok_or_else(forged)?;
    let (Some(expires), Some(signature)) = (query.expires, query.signature.as_deref()) else {
        return Err(forged());
    };
    let files = &state.hub.files;
    files
        .verify(id, variant, expires, signature)
        .map_err(|e| match e {
            SignatureError::Expired => ApiError::forbidden("link_expired", e.to_string()),
            SignatureError::Forged => forged(),
        })?;
    let found = {
        let conn = &mut state.db.reader().await?;
        attachments::find(conn, id).await?
    };
    let Some((attachment, _)) = found else {
        return Err(ApiError::not_found("no attachment with that id"));
    };
    let (key, content_type) = match variant {
        Variant::Original => (
            Some(attachment.storage_key.clone()),
            attachment.content_type.as_str(),
        ),
        Variant::Small => (attachment.thumb_small_key.clone(), crate::media::THUMB_MIME),
        Variant::Large => (attachment.thumb_large_key.clone(), crate::media::THUMB_MIME),
    };
    let Some(key) = key else {
        return Err(ApiError::not_found("this attachment has no thumbnail yet"));
    };
    // Images and PDFs open in the browser; everything else downloads. Either way the
    // browser must not guess another type or run anything in the hub's origin.
    let inline = content_type.starts_with("image/") || content_type == "application/pdf";
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        attachment.file_name.replace(['"', '\\'], "_"),
        url::form_urlencoded::byte_serialize(attachment.file_name.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    if let Some(presigned) = files
        .blobs()
        .presigned_get(&key, std::time::Duration::from_secs(60))
        .await
        .map_err(ApiError::internal)?
    {
        return Ok(redirect(presigned.as_str()));
    }
    let (size, stream) = files.blobs().get(&key).await.map_err(|e| match e {
        crate::blobs::BlobError::NotFound => {
            ApiError::not_found("the file is missing from storage")
        }
        other => ApiError::internal(other),
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .no_chunking(size)
        .streaming(stream.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError))))
}
