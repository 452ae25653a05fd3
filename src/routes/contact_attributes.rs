//! Custom contact attributes: every agent reads the definitions (the contact page draws a field
//! per definition); only admins create, relabel and delete them. Contacts' values are checked
//! against them when written (see `contacts::checked_attributes`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{Admin, Auth};
use super::{ApiError, PublicId, id_string, no_content, utc};
use crate::domain::AttributeKind;
use crate::domain::attributes::is_attribute_key;
use crate::state::AppState;
use crate::store::contact_attributes::{self as store, AttributeDefinition, CreateRefusal};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/contact-attributes", web::get().to(list))
        .route("/contact-attributes", web::post().to(create))
        .route("/contact-attributes/{id}", web::patch().to(update))
        .route("/contact-attributes/{id}", web::delete().to(delete));
}

#[derive(Serialize)]
struct DefinitionView {
    #[serde(serialize_with = "id_string")]
    id: i64,
    key: String,
    label: String,
    kind: String,
    options: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<AttributeDefinition> for DefinitionView {
    fn from(d: AttributeDefinition) -> Self {
        Self {
            id: d.id,
            options: serde_json::from_str(&d.options).unwrap_or_default(),
            key: d.key,
            label: d.label,
            kind: d.kind,
            created_at: utc(d.created_at),
        }
    }
}

/// All definitions at once (at most [`store::MAX_DEFINITIONS`]), in the order they were made.
async fn list(state: web::Data<AppState>, _caller: Auth) -> Result<HttpResponse, ApiError> {
    let rows = store::list(&mut state.db.reader().await?).await?;
    let views: Vec<DefinitionView> = rows.into_iter().map(DefinitionView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": views })))
}

fn label(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 60 || text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "label",
            "give a label of 1 to 60 characters",
        ));
    }
    Ok(text.to_owned())
}

/// A list's choices: 1 to 50, each 1 to 60 characters, no repeats (trimmed).
fn options(choices: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut kept: Vec<String> = Vec::new();
    for choice in choices {
        let choice = choice.trim().to_owned();
        if choice.is_empty() || choice.chars().count() > 60 || choice.chars().any(char::is_control)
        {
            return Err(ApiError::invalid(
                "options",
                "each choice must be 1 to 60 characters",
            ));
        }
        if kept.contains(&choice) {
            return Err(ApiError::invalid(
                "options",
                format!("{choice:?} is listed twice"),
            ));
        }
        kept.push(choice);
    }
    if kept.is_empty() || kept.len() > 50 {
        return Err(ApiError::invalid("options", "a list needs 1 to 50 choices"));
    }
    Ok(kept)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDefinition {
    key: String,
    label: String,
    kind: String,
    #[serde(default)]
    options: Vec<String>,
}

async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<CreateDefinition>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key = body.key.trim();
    if !is_attribute_key(key) {
        return Err(ApiError::invalid(
            "key",
            "must start with a lower-case letter, then up to 39 lower-case letters, digits or _",
        ));
    }
    let label = label(&body.label)?;
    let kind = AttributeKind::parse(body.kind.trim()).ok_or_else(|| {
        ApiError::invalid("kind", "must be text, number, date, checkbox, list or link")
    })?;
    let choices = match kind {
        AttributeKind::List => options(body.options)?,
        _ if body.options.is_empty() => Vec::new(),
        _ => {
            return Err(ApiError::invalid(
                "options",
                "only a list attribute has choices",
            ));
        }
    };
    let made = store::create(
        &mut state.db.writer().await?,
        key,
        &label,
        kind.as_str(),
        &choices,
        &admin.actor(),
    )
    .await?;
    match made {
        Ok(definition) => Ok(HttpResponse::Created().json(DefinitionView::from(definition))),
        Err(CreateRefusal::KeyTaken) => Err(ApiError::conflict(
            "key_taken",
            "an attribute with that key already exists",
        )),
        Err(CreateRefusal::TooMany) => Err(ApiError::conflict(
            "too_many_attributes",
            format!(
                "there are already {} attributes; delete one first",
                store::MAX_DEFINITIONS
            ),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateDefinition {
    label: Option<String>,
    options: Option<Vec<String>>,
}

/// The label, and a list's choices; the key and kind stay (stored values were written for them).
async fn update(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
    body: web::Json<UpdateDefinition>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.label.is_none() && body.options.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give a label or options to change",
        ));
    }
    let label = body.label.as_deref().map(label).transpose()?;
    let choices = body.options.map(options).transpose()?;
    let conn = &mut state.db.writer().await?;
    if choices.is_some() {
        let current = store::list(conn).await?;
        let is_list = current
            .iter()
            .find(|d| d.id == id.0)
            .is_some_and(|d| d.kind == AttributeKind::List.as_str());
        if !is_list && current.iter().any(|d| d.id == id.0) {
            return Err(ApiError::invalid(
                "options",
                "only a list attribute has choices",
            ));
        }
    }
    let definition = store::update(
        conn,
        id.0,
        label.as_deref(),
        choices.as_deref(),
        &admin.actor(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no attribute with that id"))?;
    Ok(HttpResponse::Ok().json(DefinitionView::from(definition)))
}

/// Contacts keep their values under the key (shown as other attributes).
async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    store::delete(&mut state.db.writer().await?, id.0, &admin.actor())
        .await?
        .ok_or_else(|| ApiError::not_found("no attribute with that id"))?;
    Ok(no_content())
}
