//! Canned responses: every agent may read, add, change and remove them (each change is in
//! the audit log); the composer completes `/short_code` from `?q=`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ApiError;
use super::extract::Auth;
use super::{PublicId, id_string, no_content, utc};
use crate::db::StoreError;
use crate::state::AppState;
use crate::store::canned::{self, Canned, CannedChanges};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/canned-responses", web::get().to(list))
        .route("/canned-responses", web::post().to(create))
        .route("/canned-responses/{id}", web::get().to(show))
        .route("/canned-responses/{id}", web::patch().to(update))
        .route("/canned-responses/{id}", web::delete().to(delete));
}

/// Longest canned text (a reply, not a document).
const MAX_CONTENT: usize = 5_000;
/// Longest short code.
const MAX_CODE: usize = 50;

#[derive(Serialize)]
struct CannedView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    short_code: String,
    content: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Canned> for CannedView {
    fn from(c: &Canned) -> Self {
        Self {
            id: c.id,
            short_code: c.short_code.clone(),
            content: c.content.clone(),
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
        }
    }
}

/// A short code: what follows `/` in the composer, so letters, digits, `-` and `_` only.
fn short_code(text: &str) -> Result<String, ApiError> {
    let code = text.trim().to_lowercase();
    let ok = !code.is_empty()
        && code.chars().count() <= MAX_CODE
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(code)
    } else {
        Err(ApiError::invalid(
            "short_code",
            format!("must be 1 to {MAX_CODE} characters of a-z, 0-9, - and _"),
        ))
    }
}

fn content(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("content", "must not be empty"));
    }
    if text.chars().count() > MAX_CONTENT {
        return Err(ApiError::invalid(
            "content",
            format!("must be at most {MAX_CONTENT} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn code_taken(e: StoreError) -> ApiError {
    if e.is_conflict() {
        ApiError::conflict(
            "short_code_taken",
            "a canned response with that short code already exists",
        )
    } else {
        e.into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Short-code prefix or text to look for.
    q: Option<String>,
    limit: Option<i64>,
    /// The last short code of the previous page.
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    _caller: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let search = query
        .q
        .as_deref()
        .map(|q| q.trim().trim_start_matches('/'))
        .filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::invalid("q", "must be at most 200 characters"));
    }
    let rows = canned::list(
        &mut state.db.reader().await?,
        search,
        query.cursor.clone(),
        limit,
    )
    .await?;
    // A search answers one page (code matches first); plain lists page by code.
    let next_cursor = (search.is_none() && rows.len() as i64 == limit)
        .then(|| rows.last().map(|c| c.short_code.clone()))
        .flatten();
    let data: Vec<CannedView> = rows.iter().map(CannedView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": data, "next_cursor": next_cursor})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCanned {
    short_code: String,
    content: String,
}

async fn create(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<CreateCanned>,
) -> Result<HttpResponse, ApiError> {
    let code = short_code(&body.short_code)?;
    let text = content(&body.content)?;
    let canned = canned::create(&mut state.db.writer().await?, &code, &text, &caller.actor())
        .await
        .map_err(code_taken)?;
    Ok(HttpResponse::Created().json(CannedView::from(&canned)))
}

async fn show(
    state: web::Data<AppState>,
    _caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let canned = canned::find(&mut state.db.reader().await?, id.0)
        .await?
        .ok_or_else(|| ApiError::not_found("no canned response with that id"))?;
    Ok(HttpResponse::Ok().json(CannedView::from(&canned)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCanned {
    short_code: Option<String>,
    content: Option<String>,
}

async fn update(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<UpdateCanned>,
) -> Result<HttpResponse, ApiError> {
    let changes = CannedChanges {
        short_code: body.short_code.as_deref().map(short_code).transpose()?,
        content: body.content.as_deref().map(content).transpose()?,
    };
    if changes.short_code.is_none() && changes.content.is_none() {
        return Err(ApiError::invalid(
            "body",
            "give short_code, content or both",
        ));
    }
    let canned = canned::update(
        &mut state.db.writer().await?,
        id.0,
        &changes,
        &caller.actor(),
    )
    .await
    .map_err(code_taken)?
    .ok_or_else(|| ApiError::not_found("no canned response with that id"))?;
    Ok(HttpResponse::Ok().json(CannedView::from(&canned)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    if canned::delete(&mut state.db.writer().await?, id.0, &caller.actor()).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("no canned response with that id"))
    }
}
