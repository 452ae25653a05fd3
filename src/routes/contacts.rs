//! Contacts: the customers, with their identities on every channel. Agents see contacts
//! who wrote to one of their inboxes; admins see all. Merging joins two records of one
//! person (identities and conversations move) and is written to the audit log.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::conversations::visible_inboxes;
use super::extract::Auth;
use super::{ApiError, PublicId};
use crate::domain::{ContactId, EmailAddress};
use crate::state::AppState;
use crate::store::MAX_PAGE;
use crate::store::contacts::{self, Contact, ContactChanges};
use crate::store::conversations::{self as conv, ConversationFilter};
use crate::views::{ContactView, ConversationView, IdentityView};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/contacts", web::get().to(list))
        .route("/contacts/{id}", web::get().to(show))
        .route("/contacts/{id}", web::patch().to(update))
        .route("/contacts/{id}/merge", web::post().to(merge));
}

async fn visible_contact(state: &AppState, caller: &Auth, id: i64) -> Result<Contact, ApiError> {
    let visible = visible_inboxes(state, caller).await?;
    let conn = &mut state.db.reader().await?;
    let contact = contacts::find(conn, id).await?;
    match (contact, visible) {
        (Some(c), None) => Ok(c),
        (Some(c), Some(inboxes)) if contacts::visible_in(conn, id, &inboxes).await? => Ok(c),
        _ => Err(ApiError::not_found("no contact with that id")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    q: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned")
            })
        })
        .transpose()?;
    let text = query.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::invalid("q", "is longer than 200 characters"));
    }
    if text.is_some_and(|t| t.chars().any(char::is_control)) {
        return Err(ApiError::invalid(
            "q",
            "must not contain control characters",
        ));
    }
    let visible = visible_inboxes(&state, &caller).await?;
    let rows = contacts::list(
        &mut state.db.reader().await?,
        visible.as_deref(),
        text,
        before,
        limit,
    )
    .await?;
    let views: Vec<ContactView> = rows.iter().map(ContactView::from).collect();
    let next_cursor = views
        .last()
        .filter(|_| views.len() as i64 == limit)
        .map(|c| c.id.to_string());
    Ok(HttpResponse::Ok().json(json!({ "data": views, "next_cursor": next_cursor })))
}

/// The contact's identities in inboxes the caller belongs to (`None`: an admin, all).
async fn visible_identities(
    conn: &mut crate::db::DbConn,
    contact_id: i64,
    visible: Option<&[i64]>,
) -> Result<Vec<IdentityView>, ApiError> {
    Ok(contacts::identities(conn, contact_id)
        .await?
        .iter()
        .filter(|i| visible.is_none_or(|v| v.contains(&i.inbox_id)))
        .map(IdentityView::from)
        .collect())
}

/// The contact, its identities and its conversations across every channel.
async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let contact = visible_contact(&state, &caller, id.0).await?;
    let visible = visible_inboxes(&state, &caller).await?;
    let conn = &mut state.db.reader().await?;
    let mut view = ContactView::from(&contact);
    view.identities = Some(visible_identities(conn, contact.id, visible.as_deref()).await?);
    let filter = ConversationFilter {
        visible_inboxes: visible,
        contact_id: Some(contact.id),
        limit: MAX_PAGE,
        ..ConversationFilter::default()
    };
    let conversations: Vec<ConversationView> = conv::list(conn, &filter)
        .await?
        .iter()
        .map(ConversationView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "contact": view, "conversations": conversations })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateContact {
    #[serde(default, deserialize_with = "super::double_option")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    language: Option<Option<String>>,
    attributes: Option<serde_json::Value>,
}

fn short_text(
    field: &str,
    value: Option<Option<String>>,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match value {
        Some(Some(text)) => {
            let text = text.trim().to_owned();
            if text.is_empty() {
                Ok(Some(None))
            } else if text.chars().count() > max || text.chars().any(char::is_control) {
                Err(ApiError::invalid(
                    field,
                    format!("must be at most {max} characters without control characters"),
                ))
            } else {
                Ok(Some(Some(text)))
            }
        }
        other => Ok(other),
    }
}

async fn update(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<UpdateContact>,
) -> Result<HttpResponse, ApiError> {
    let contact = visible_contact(&state, &caller, id.0).await?;
    let body = body.into_inner();
    let email = match short_text("email", body.email, 254)? {
        Some(Some(text)) => Some(Some(
            EmailAddress::parse(&text)
                .map_err(|r| ApiError::invalid("email", r))?
                .as_str()
                .to_owned(),
        )),
        other => other,
    };
    let attributes = match body.attributes {
        None => None,
        Some(value @ serde_json::Value::Object(_)) if value.to_string().len() <= 16_384 => {
            Some(value.to_string())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "attributes",
                "must be an object of at most 16 KiB",
            ));
        }
    };
    let changes = ContactChanges {
        name: short_text("name", body.name, 200)?,
        email,
        phone: short_text("phone", body.phone, 50)?,
        language: short_text("language", body.language, 35)?,
        attributes,
    };
    if changes.name.is_none()
        && changes.email.is_none()
        && changes.phone.is_none()
        && changes.language.is_none()
        && changes.attributes.is_none()
    {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give at least one field to change",
        ));
    }
    let updated = contacts::update(
        &mut state.db.writer().await?,
        contact.id,
        &changes,
        &caller.actor(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no contact with that id"))?;
    Ok(HttpResponse::Ok().json(ContactView::from(&updated)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// The duplicate to merge into this contact (it is deleted).
    contact_id: ContactId,
}

async fn merge(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ContactId>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let target = visible_contact(&state, &caller, id.get()).await?;
    let source = body.contact_id;
    if source.get() != target.id {
        visible_contact(&state, &caller, source.get())
            .await
            .map_err(|_| ApiError::invalid("contact_id", "no contact with that id"))?;
    }
    let contact = state
        .hub
        .conversations
        .merge_contacts(ContactId(target.id), source, caller.actor())
        .await?
        .ok_or_else(|| ApiError::not_found("one of the contacts no longer exists"))?;
    let visible = visible_inboxes(&state, &caller).await?;
    let conn = &mut state.db.reader().await?;
    let mut view = ContactView::from(&contact);
    view.identities = Some(visible_identities(conn, contact.id, visible.as_deref()).await?);
    Ok(HttpResponse::Ok().json(view))
}
