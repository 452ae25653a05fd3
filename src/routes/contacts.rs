//! Contacts: the customers, with their identities on every channel. Agents see contacts
//! who wrote to one of their inboxes; admins see all. Merging joins two records of one
//! person (identities and conversations move) and is written to the audit log.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::conversations::visible_inboxes;
use super::extract::Auth;
use super::{ApiError, PublicId};
use crate::db::types::Role;
use crate::domain::{AttributeKind, ContactId, EmailAddress};
use crate::state::AppState;
use crate::store::MAX_PAGE;
use crate::store::contacts::{self, Contact, ContactChanges, ContactOrder, NamePosition};
use crate::store::conversations::{self as conv, ConversationFilter};
use crate::views::{ContactView, ConversationView, IdentityView, utc};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/contacts", web::get().to(list))
        .route("/contacts/{id}", web::get().to(show))
        .route("/contacts/{id}", web::patch().to(update))
        .route("/contacts/{id}/merge", web::post().to(merge))
        .route("/contacts/{id}/notes", web::post().to(add_note))
        .route(
            "/contacts/{id}/notes/{note_id}",
            web::delete().to(delete_note),
        );
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
    /// `newest` (the default), `oldest` or `name`.
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned")
}

/// The list's order from `sort` and `cursor`. A by-name cursor is `ID.1NAME` (`ID.0`: past
/// the named contacts); the others are a contact id.
fn contact_order(sort: Option<&str>, cursor: Option<&str>) -> Result<ContactOrder, ApiError> {
    let id = |text: &str| text.parse::<i64>().map_err(|_| bad_cursor());
    match sort.unwrap_or("newest") {
        "newest" => Ok(ContactOrder::Newest(cursor.map(id).transpose()?)),
        "oldest" => Ok(ContactOrder::Oldest(cursor.map(id).transpose()?)),
        "name" => Ok(ContactOrder::Name(
            cursor
                .map(|c| {
                    let (at, rest) = c.split_once('.').ok_or_else(bad_cursor)?;
                    let name = match rest.split_at_checked(1) {
                        Some(("1", name)) => Some(name.to_owned()),
                        Some(("0", "")) => None,
                        _ => return Err(bad_cursor()),
                    };
                    Ok(NamePosition { name, id: id(at)? })
                })
                .transpose()?,
        )),
        _ => Err(ApiError::invalid("sort", "must be newest, oldest or name")),
    }
}

/// The cursor that continues a page in `order` after `last`.
fn next_cursor(order: &ContactOrder, last: &Contact) -> String {
    match order {
        ContactOrder::Name(_) => match &last.name {
            Some(name) => format!("{}.1{name}", last.id),
            None => format!("{}.0", last.id),
        },
        _ => last.id.to_string(),
    }
}

async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let order = contact_order(query.sort.as_deref(), query.cursor.as_deref())?;
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
    let conn = &mut state.db.reader().await?;
    let rows = contacts::list(conn, visible.as_deref(), text, &order, limit).await?;
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let mut summaries = contacts::summaries(conn, &ids, visible.as_deref()).await?;
    let next = rows
        .last()
        .filter(|_| rows.len() as i64 == limit)
        .map(|c| next_cursor(&order, c));
    let views: Vec<ContactView> = rows
        .iter()
        .map(|contact| {
            let summary = summaries.remove(&contact.id).unwrap_or_default();
            let mut view = ContactView::from(contact);
            view.channels = Some(summary.channels);
            view.conversations_count = Some(summary.conversations);
            view.last_activity_at = summary.last_activity_at.map(utc);
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": views, "next_cursor": next })))
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

#[derive(Serialize)]
struct NoteView {
    #[serde(serialize_with = "crate::views::id_string")]
    id: i64,
    body: String,
    #[serde(serialize_with = "crate::views::opt_id_string")]
    author_id: Option<i64>,
    /// The author's name (`None`: the agent was deleted).
    author_name: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl NoteView {
    fn new(note: contacts::ContactNote, author_name: Option<String>) -> Self {
        Self {
            id: note.id,
            body: note.body,
            author_id: note.author_id,
            author_name,
            created_at: utc(note.created_at),
        }
    }
}

/// The contact, its identities, notes and conversations across every channel the caller sees
/// (the inbox prefetches this per row, so it stays a few indexed reads; the contact page pages
/// the conversations with their last messages through `GET /conversations?contact_id=`).
async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let contact = visible_contact(&state, &caller, id.0).await?;
    let visible = visible_inboxes(&state, &caller).await?;
    let (view, notes, threads) = {
        let conn = &mut state.db.reader().await?;
        let mut view = ContactView::from(&contact);
        view.identities = Some(visible_identities(conn, contact.id, visible.as_deref()).await?);
        let notes: Vec<NoteView> = contacts::notes(conn, contact.id)
            .await?
            .into_iter()
            .map(|(note, author)| NoteView::new(note, author))
            .collect();
        let filter = ConversationFilter {
            visible_inboxes: visible,
            contact_id: Some(contact.id),
            limit: MAX_PAGE,
            ..ConversationFilter::default()
        };
        let threads: Vec<ConversationView> = conv::list(conn, &filter)
            .await?
            .iter()
            .map(ConversationView::from)
            .collect();
        (view, notes, threads)
    };
    Ok(HttpResponse::Ok()
        .json(json!({ "contact": view, "notes": notes, "conversations": threads })))
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

/// A contact's new attributes: keys an admin defined must hold their kind of value (the error
/// names the attribute by its label), `null` removes a key, other keys are kept as given.
async fn checked_attributes(
    state: &AppState,
    mut fields: serde_json::Map<String, serde_json::Value>,
) -> Result<String, ApiError> {
    fields.retain(|_, value| !value.is_null());
    let definitions = crate::store::contact_attributes::list(&mut state.db.reader().await?).await?;
    for definition in &definitions {
        let (Some(value), Some(kind)) = (
            fields.get(&definition.key),
            AttributeKind::parse(&definition.kind),
        ) else {
            continue;
        };
        let options: Vec<String> = serde_json::from_str(&definition.options).unwrap_or_default();
        kind.check(value, &options).map_err(|reason| {
            ApiError::invalid(
                &format!("attributes.{}", definition.key),
                format!("{} {reason}", definition.label),
            )
        })?;
    }
    let text = serde_json::Value::Object(fields).to_string();
    if text.len() > contacts::MAX_ATTRIBUTES_BYTES {
        return Err(ApiError::invalid(
            "attributes",
            "must be an object of at most 16 KiB",
        ));
    }
    Ok(text)
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
        Some(serde_json::Value::Object(fields)) => Some(checked_attributes(&state, fields).await?),
        Some(_) => return Err(ApiError::invalid("attributes", "must be an object")),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    body: String,
}

/// Longest note, in characters.
const MAX_NOTE_CHARS: usize = 5_000;

async fn add_note(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let contact = visible_contact(&state, &caller, id.0).await?;
    let text = body.body.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("body", "write something in the note"));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::invalid(
            "body",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let note = contacts::add_note(
        &mut state.db.writer().await?,
        contact.id,
        Some(caller.agent.id),
        text,
        &caller.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(NoteView::new(note, Some(caller.agent.name.clone()))))
}

/// Authors delete their own notes; admins any.
async fn delete_note(
    state: web::Data<AppState>,
    caller: Auth,
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (contact_id, note_id) = (path.0.0, path.1.0);
    let contact = visible_contact(&state, &caller, contact_id).await?;
    let gone = || ApiError::not_found("no note with that id on this contact");
    let note = contacts::find_note(&mut state.db.reader().await?, contact.id, note_id)
        .await?
        .ok_or_else(gone)?;
    if caller.agent.role != Role::Admin && note.author_id != Some(caller.agent.id) {
        return Err(ApiError::forbidden(
            "not_author",
            "only the note's author or an admin may delete it",
        ));
    }
    if !contacts::delete_note(
        &mut state.db.writer().await?,
        contact.id,
        note_id,
        &caller.actor(),
    )
    .await?
    {
        return Err(gone());
    }
    Ok(super::no_content())
}
