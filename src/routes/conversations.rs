//! Conversations and messages for agents: lists with filters, the message stream by seq,
//! replies and notes, assignment, status, priority, labels, read marks, retries.
//!
//! Agents see the conversations of inboxes they belong to; admins see all. A conversation
//! the caller may not see answers 404, exactly like one that does not exist.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Auth;
use super::{ApiError, PublicId, utc};
use crate::actors::delivery::AgentRead;
use crate::conversations::rules::{Assignment, ReplyDraft};
use crate::db::types::{ConversationStatus, Priority, Role};
use crate::domain::{AgentId, ConversationId, MessageId};
use crate::realtime::{Event, Scope};
use crate::state::AppState;
use crate::store::conversations::{
    self as conv, AssigneeFilter, Conversation, ConversationFilter, ListOrder, ListPosition,
    ReplyOutcome,
};
use crate::store::inboxes;
use crate::views::{ConversationView, MessageView};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations", web::get().to(list))
        .route("/conversations/bulk", web::post().to(bulk))
        .route("/conversations/{id}", web::get().to(show))
        .route("/conversations/{id}/messages", web::get().to(messages))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route(
            "/conversations/{id}/messages/{message_id}/retry",
            web::post().to(retry),
        )
        .route(
            "/conversations/{id}/messages/{message_id}/edits",
            web::get().to(edits),
        )
        .route("/conversations/{id}/assign", web::post().to(assign))
        .route("/conversations/{id}/status", web::post().to(status))
        .route("/conversations/{id}/priority", web::post().to(priority))
        .route("/conversations/{id}/labels", web::put().to(labels))
        .route("/conversations/{id}/read", web::post().to(read))
        .route("/conversations/{id}/typing", web::post().to(typing))
        .route(
            "/conversations/{id}/activity",
            web::get().to(super::activity::activity),
        );
}

/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The inboxes a caller may see; `None` means all (admins).
pub(crate) async fn visible_inboxes(
    state: &AppState,
    caller: &Auth,
) -> Result<Option<Vec<i64>>, ApiError> {
    if caller.agent.role == Role::Admin {
        return Ok(None);
    }
    Ok(Some(
        inboxes::ids_of_member(&mut state.db.reader().await?, caller.agent.id).await?,
    ))
}

/// A conversation the caller may see, else 404.
pub(crate) async fn visible_conversation(
    state: &AppState,
    caller: &Auth,
    id: i64,
) -> Result<Conversation, ApiError> {
    let conn = &mut state.db.reader().await?;
    let found = conv::find(conn, id).await?;
    match found {
        Some(c) if caller.agent.role == Role::Admin => Ok(c),
        Some(c) => match c.inbox_id {
            Some(inbox_id) if inboxes::is_member(conn, inbox_id, caller.agent.id).await? => Ok(c),
            _ => Err(not_found()),
        },
        None => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("no conversation with that id")
}

async fn with_details(
    state: &AppState,
    caller: &Auth,
    conversations: &[Conversation],
) -> Result<Vec<ConversationView>, ApiError> {
    let ids: Vec<i64> = conversations.iter().map(|c| c.id).collect();
    let conn = &mut state.db.reader().await?;
    let mut labels = conv::labels_of(conn, &ids).await?;
    let unread = conv::unread_counts(conn, caller.agent.id, &ids).await?;
    let contact_ids: Vec<i64> = conversations.iter().filter_map(|c| c.contact_id).collect();
    let names = conv::contact_names(conn, &contact_ids).await?;
    let latest: Vec<(i64, i64)> = conversations
        .iter()
        .filter(|c| c.last_seq > 0)
        .map(|c| (c.id, c.last_seq))
        .collect();
    let mut last = conv::last_messages(conn, &latest).await?;
    let clocks = crate::store::sla::active_clocks(conn, &ids).await?;
    let mut answers = crate::store::csat::latest_answers(conn, &ids).await?;
    Ok(conversations
        .iter()
        .map(|c| {
            let mut view = ConversationView::from(c);
            view.labels = Some(labels.remove(&c.id).unwrap_or_default());
            view.unread_count = Some(unread.get(&c.id).copied().unwrap_or(0));
            view.contact_name = c.contact_id.and_then(|id| names.get(&id).cloned());
            view.last_message = last.remove(&c.id).map(|m| crate::views::LastMessageView {
                content: m.content.chars().take(140).collect(),
                direction: m.direction,
                private: m.private,
                created_at: utc(m.created_at),
            });
            let mine: Vec<_> = clocks
                .iter()
                .filter(|k| k.conversation_id == c.id)
                .cloned()
                .collect();
            view.sla = state.hub.sla.badge(c.inbox_id, &mine);
            view.csat = answers
                .remove(&c.id)
                .map(|s| crate::views::CsatView::from(&s));
            view
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    inbox_id: Option<PublicId>,
    /// One status or several, comma-separated (`open,pending`).
    status: Option<String>,
    /// `me`, `unassigned` or an agent id.
    assignee: Option<String>,
    team_id: Option<PublicId>,
    label: Option<String>,
    priority: Option<Priority>,
    /// Text search over the contact and the messages.
    q: Option<String>,
    contact_id: Option<PublicId>,
    /// `at_risk`: an SLA target past its warning share or breached.
    sla: Option<String>,
    /// `newest` (newest activity first, the default; also `activity`), `waiting` (customers
    /// waiting longest first, then the rest newest first), `priority` (urgent first, newest
    /// first within each) or `sla_due` (conversations with a running SLA target, the soonest
    /// due first).
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn parse_time(micros: &str) -> Option<NaiveDateTime> {
    Some(DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?.naive_utc())
}

/// `<micros>.<id>`, after a segment prefix in the sorts that have segments (`w.`, `r.`,
/// `p-high.`).
fn parse_keyset(text: &str) -> Option<(NaiveDateTime, i64)> {
    let (micros, id) = text.split_once('.')?;
    Some((parse_time(micros)?, id.parse().ok()?))
}

fn parse_cursor(cursor: &str) -> Option<ListPosition> {
    if let Some(rest) = cursor.strip_prefix("w.") {
        let (at, id) = parse_keyset(rest)?;
        return Some(ListPosition::Waiting(at, id));
    }
    if let Some(rest) = cursor.strip_prefix("r.") {
        let (at, id) = parse_keyset(rest)?;
        return Some(ListPosition::NotWaiting(at, id));
    }
    if let Some(rest) = cursor.strip_prefix("p-") {
        let (priority, keyset) = rest.split_once('.')?;
        let (at, id) = parse_keyset(keyset)?;
        return Some(ListPosition::Priority(priority.parse().ok()?, at, id));
    }
    let (at, id) = parse_keyset(cursor)?;
    Some(ListPosition::Activity(at, id))
}

fn make_cursor(position: ListPosition) -> String {
    match position {
        ListPosition::Activity(at, id) => format!("{}.{id}", at.and_utc().timestamp_micros()),
        ListPosition::Waiting(at, id) => format!("w.{}.{id}", at.and_utc().timestamp_micros()),
        ListPosition::NotWaiting(at, id) => {
            format!("r.{}.{id}", at.and_utc().timestamp_micros())
        }
        ListPosition::Priority(p, at, id) => {
            format!("p-{}.{}.{id}", p.as_str(), at.and_utc().timestamp_micros())
        }
    }
}

async fn list(
    state: web::Data<AppState>,
    caller: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = super::page_limit(q.limit)?;
    let statuses = match &q.status {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<ConversationStatus>()
                    .map_err(|e| ApiError::invalid("status", e))
            })
            .collect::<Result<_, _>>()?,
    };
    let assignee = match q.assignee.as_deref() {
        None | Some("all") => None,
        Some("me") => Some(AssigneeFilter::Agent(caller.agent.id)),
        Some("unassigned") => Some(AssigneeFilter::Unassigned),
        Some(id) => Some(AssigneeFilter::Agent(
            id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
                ApiError::invalid("assignee", "must be me, unassigned, all or an agent id")
            })?,
        )),
    };
    // `None`: by SLA due time (a list of its own, with its own cursor).
    let order = match q.sort.as_deref() {
        None | Some("activity") | Some("newest") => Some(ListOrder::Activity),
        Some("waiting") => Some(ListOrder::Waiting),
        Some("priority") => Some(ListOrder::Priority),
        Some("sla_due") => None,
        Some(_) => {
            return Err(ApiError::invalid(
                "sort",
                "must be newest, waiting, priority or sla_due",
            ));
        }
    };
    let bad_cursor =
        || ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned");
    let from = q
        .cursor
        .as_deref()
        .map(|c| parse_cursor(c).ok_or_else(bad_cursor))
        .transpose()?;
    let text =
        q.q.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::invalid("q", "is longer than 200 characters"));
    }
    if text
        .as_ref()
        .is_some_and(|t| t.chars().any(char::is_control))
        || q.label.as_ref().is_some_and(|l| l.contains('\0'))
    {
        return Err(ApiError::invalid(
            "q",
            "must not contain control characters",
        ));
    }
    let filter = ConversationFilter {
        visible_inboxes: visible_inboxes(&state, &caller).await?,
        inbox_id: q.inbox_id.map(|i| i.0),
        statuses,
        assignee,
        team_id: q.team_id.map(|t| t.0),
        // Stored labels are normalized (trimmed, lower-case); so is the filter.
        label: q.label.map(|l| l.trim().to_lowercase()),
        priority: q.priority,
        text,
        contact_id: q.contact_id.map(|c| c.0),
        sla_at_risk: match q.sla.as_deref() {
            None => None,
            Some("at_risk") => Some(state.hub.sla.clock.now().naive_utc()),
            Some(_) => return Err(ApiError::invalid("sla", "must be at_risk")),
        },
        before: None,
        waiting: None,
        limit,
    };
    let Some(order) = order else {
        let after = match from {
            None => None,
            Some(ListPosition::Activity(at, id)) => Some((at, id)),
            Some(_) => return Err(bad_cursor()),
        };
        let conn = &mut state.db.reader().await?;
        let rows = conv::list_by_sla_due(conn, &filter, after).await?;
        let next_cursor = rows
            .last()
            .filter(|_| rows.len() as i64 == limit)
            .map(|(c, due)| format!("{}.{}", due.and_utc().timestamp_micros(), c.id));
        let conversations: Vec<_> = rows.into_iter().map(|(c, _)| c).collect();
        let views = with_details(&state, &caller, &conversations).await?;
        return Ok(HttpResponse::Ok().json(json!({ "data": views, "next_cursor": next_cursor })));
    };
    // A cursor from another order would skip or repeat rows.
    let fits = matches!(
        (order, from),
        (_, None)
            | (ListOrder::Activity, Some(ListPosition::Activity(..)))
            | (
                ListOrder::Waiting,
                Some(ListPosition::Waiting(..) | ListPosition::NotWaiting(..))
            )
            | (ListOrder::Priority, Some(ListPosition::Priority(..)))
    );
    if !fits {
        return Err(bad_cursor());
    }
    let (rows, next) = conv::list_page(&mut state.db.reader().await?, &filter, order, from).await?;
    let views = with_details(&state, &caller, &rows).await?;
    let next_cursor = next.map(make_cursor);
    Ok(HttpResponse::Ok().json(json!({ "data": views, "next_cursor": next_cursor })))
}

async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let mut views = with_details(&state, &caller, std::slice::from_ref(&conversation)).await?;
    let mut shown = serde_json::to_value(views.remove(0)).map_err(ApiError::internal)?;
    if let (Some(window), Some(map)) = (
        reply_window(&state, &conversation).await?,
        shown.as_object_mut(),
    ) {
        map.insert(
            "reply_window".into(),
            serde_json::to_value(window).map_err(ApiError::internal)?,
        );
    }
    Ok(HttpResponse::Ok().json(shown))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    after: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn messages(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let limit = super::page_limit(query.limit)?;
    if query.after.is_some() && query.before.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "give either after or before, not both",
        ));
    }
    if query.after.is_some_and(|s| s < 0) || query.before.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid(
            "after",
            "sequence numbers are not negative",
        ));
    }
    let rows = conv::messages(
        &mut state.db.reader().await?,
        conversation.id,
        query.after,
        query.before,
        limit,
    )
    .await?;
    let views: Vec<MessageView> = rows.iter().map(MessageView::from).collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": views,
        "last_seq": conversation.last_seq,
    })))
}

/// Tells the customer's channel that their messages up to `seq` were read (WhatsApp's blue
/// ticks), in the background: the agent's read mark never waits on the provider, and a
/// failure only costs the customer a tick.
async fn mark_read_at_provider(state: &AppState, conversation: &Conversation, seq: i64) {
    let Some(entry) = conversation
        .inbox_id
        .and_then(|id| state.hub.channels.get(id))
        .filter(|e| e.adapter.capabilities().marks_read)
    else {
        return;
    };
    let external_id = match state.db.reader().await {
        Ok(mut conn) => conv::last_inbound_external_id(&mut conn, conversation.id, seq).await,
        Err(error) => Err(error),
    };
    let external_id = match external_id {
        Ok(Some(id)) => id,
        Ok(None) => return,
        Err(error) => {
            tracing::info!(%error, "cannot look up the message to mark read");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        if let Err(error) = entry.adapter.mark_read(&external_id).await {
            tracing::info!(%error, inbox_id = entry.inbox_id, "cannot mark the customer's message read");
        }
    });
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    #[serde(default)]
    content: String,
    #[serde(default)]
    private: bool,
    reply_to_id: Option<MessageId>,
    /// Uploads of this conversation (`POST .../attachments`) to send with the message.
    #[serde(default)]
    attachment_ids: Vec<PublicId>,
    /// Send an approved template of the channel (WhatsApp) instead of free text; the stored
    /// message shows its text as the customer reads it.
    template: Option<switchboard_channel::TemplateMessage>,
}

/// The reply window of a channel that has one (WhatsApp: free-form replies only within 24
/// hours of the customer's last message), as the inbox shows it.
#[derive(Debug, serde::Serialize)]
struct ReplyWindow {
    /// How long the window lasts after each customer message.
    limit_secs: u64,
    last_inbound_at: Option<DateTime<Utc>>,
    /// When free-form replies stop being accepted; `None`: the customer never wrote.
    closes_at: Option<DateTime<Utc>>,
    open: bool,
}

/// The conversation's reply window, when its channel has one.
async fn reply_window(
    state: &AppState,
    conversation: &Conversation,
) -> Result<Option<ReplyWindow>, ApiError> {
    let (Some(inbox_id), Some(contact_id)) = (conversation.inbox_id, conversation.contact_id)
    else {
        return Ok(None);
    };
    let conn = &mut state.db.reader().await?;
    let Some(inbox) = inboxes::find(conn, inbox_id).await? else {
        return Ok(None);
    };
    let Some(limit_secs) =
        crate::channels::kind(inbox.channel_type).and_then(|k| k.capabilities().reply_window_secs)
    else {
        return Ok(None);
    };
    let last = crate::store::contacts::last_inbound_at(conn, inbox_id, contact_id).await?;
    let limit = chrono::TimeDelta::seconds(i64::try_from(limit_secs).unwrap_or(i64::MAX / 1000));
    let closes_at = last.map(|l| utc(l + limit));
    Ok(Some(ReplyWindow {
        limit_secs,
        last_inbound_at: last.map(utc),
        open: closes_at.is_some_and(|c| c > Utc::now()),
        closes_at,
    }))
}

/// What a reply becomes on its channel: a template's rendered text (checked against the
/// inbox's approved templates), or free text refused when the channel's reply window is
/// closed, before anything is stored or sent.
async fn check_channel_rules(
    state: &AppState,
    conversation: &Conversation,
    body: &mut ReplyBody,
) -> Result<Option<String>, ApiError> {
    let Some(template) = body.template.take() else {
        if body.private {
            return Ok(None);
        }
        return match reply_window(state, conversation).await? {
            Some(window) if !window.open => Err(ApiError::unprocessable(
                "reply_window_closed",
                match window.last_inbound_at {
                    Some(last) => format!(
                        "this channel delivers free-form replies only within {} hours of the \
                         customer's last message ({}); send an approved template instead",
                        window.limit_secs / 3600,
                        last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                    None => "the customer has not written on this channel yet; send an \
                             approved template instead"
                        .to_owned(),
                },
            )),
            _ => Ok(None),
        };
    };
    if body.private {
        return Err(ApiError::invalid(
            "template",
            "a private note cannot be a template",
        ));
    }
    if !body.content.trim().is_empty() || !body.attachment_ids.is_empty() {
        return Err(ApiError::invalid(
            "template",
            "send either a template or content and files, not both",
        ));
    }
    let inbox = match conversation.inbox_id {
        Some(id) => inboxes::find(&mut state.db.reader().await?, id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::invalid("template", "the conversation has no channel"))?;
    if !crate::channels::kind(inbox.channel_type).is_some_and(|k| k.capabilities().templates) {
        return Err(ApiError::invalid(
            "template",
            format!("{} inboxes have no message templates", inbox.channel_type),
        ));
    }
    let known = crate::store::templates::get(&mut state.db.reader().await?, inbox.id)
        .await?
        .map(|(list, _)| list)
        .unwrap_or_default();
    let approved = known
        .iter()
        .find(|t| t.name == template.name && t.language == template.language)
        .ok_or_else(|| {
            ApiError::invalid(
                "template",
                format!(
                    "no template {:?} in {:?} is known for this inbox; refresh the templates",
                    template.name, template.language
                ),
            )
        })?;
    if !approved.status.eq_ignore_ascii_case("APPROVED") {
        return Err(ApiError::invalid(
            "template",
            format!(
                "template {:?} is {}, not approved",
                approved.name, approved.status
            ),
        ));
    }
    if let Some(format) = approved
        .header_format
        .as_deref()
        .filter(|f| !f.eq_ignore_ascii_case("TEXT"))
    {
        return Err(ApiError::invalid(
            "template",
            format!(
                "template {:?} has a {} header, which the hub cannot send yet",
                approved.name,
                format.to_lowercase()
            ),
        ));
    }
    body.content = switchboard_whatsapp::templates::render(approved, &template)
        .map_err(|reason| ApiError::invalid("template", reason))?;
    let details = conv::MessageDetails {
        template: Some(template),
        ..conv::MessageDetails::default()
    };
    Ok(details.to_stored())
}

async fn reply(
    state: web::Data<AppState>,
    caller: Auth,
    req: HttpRequest,
    id: web::Path<ConversationId>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let mut body = body.into_inner();
    let details = check_channel_rules(&state, &conversation, &mut body).await?;
    let attachment_ids: Vec<i64> = body.attachment_ids.iter().map(|a| a.0).collect();
    let mut draft = ReplyDraft::parse(
        &body.content,
        body.private,
        body.reply_to_id,
        &attachment_ids,
    )?;
    draft.details = details;
    draft.idempotency_key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                    )
                })?;
            Some(key.to_owned())
        }
    };
    let outcome = state
        .hub
        .conversations
        .reply(
            ConversationId(conversation.id),
            AgentId(caller.agent.id),
            draft,
            caller.actor(),
        )
        .await?;
    Ok(match outcome {
        ReplyOutcome::Created { message, .. } => {
            HttpResponse::Created().json(MessageView::from(&message))
        }
        // The same request again: the first answer, not a second message.
        ReplyOutcome::Replayed(message) => HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(MessageView::from(&message)),
    })
}

/// A message's edit history: each earlier text and when it was replaced.
async fn edits(
    state: web::Data<AppState>,
    caller: Auth,
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message_id) = path.into_inner();
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let conn = &mut state.db.reader().await?;
    let message = conv::find_message(conn, message_id.0)
        .await?
        .filter(|m| m.conversation_id == conversation.id)
        .ok_or_else(|| ApiError::not_found("no message with that id in this conversation"))?;
    let history: Vec<Value> = conv::message_edits(conn, message.id)
        .await?
        .into_iter()
        .map(|(content, replaced_at)| json!({"content": content, "replaced_at": utc(replaced_at)}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data": history,
        "current": MessageView::from(&message),
    })))
}

async fn retry(
    state: web::Data<AppState>,
    caller: Auth,
    path: web::Path<(ConversationId, MessageId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message_id) = path.into_inner();
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let message = state
        .hub
        .conversations
        .retry(ConversationId(conversation.id), message_id, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(MessageView::from(&message)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    /// An agent id, `"me"`, or null to unassign.
    #[serde(default, deserialize_with = "super::double_option")]
    assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    team_id: Option<Option<PublicId>>,
}

async fn assign(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ConversationId>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let body = body.into_inner();
    let assignment = Assignment::parse(
        body.assignee_id.as_ref().map(Option::as_deref),
        body.team_id.map(|t| t.map(|t| t.0)),
        AgentId(caller.agent.id),
    )?;
    let changed = state
        .hub
        .conversations
        .assign(ConversationId(conversation.id), assignment, caller.actor())
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed)))
}

/// Most conversations one bulk action changes.
const MAX_BULK: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    conversation_ids: Vec<PublicId>,
    /// An agent id, `"me"`, or null to unassign.
    #[serde(default, deserialize_with = "super::double_option")]
    assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    team_id: Option<Option<PublicId>>,
    status: Option<ConversationStatus>,
    snoozed_until: Option<DateTime<Utc>>,
    priority: Option<Priority>,
    #[serde(default)]
    add_labels: Vec<String>,
    #[serde(default)]
    remove_labels: Vec<String>,
}

/// The same changes to many conversations at once: every one must be visible to the caller
/// and every change allowed for each, or nothing is changed (one transaction, each change
/// audited as if made one by one, each conversation published after the commit).
async fn bulk(
    state: web::Data<AppState>,
    caller: Auth,
    body: web::Json<BulkBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.conversation_ids.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "conversation_ids",
            format!("give 1 to {MAX_BULK} conversations"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<i64> = body
        .conversation_ids
        .iter()
        .map(|id| id.0)
        .filter(|id| seen.insert(*id))
        .collect();
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "conversation_ids",
            format!("give 1 to {MAX_BULK} conversations"),
        ));
    }
    let assignment = if body.assignee_id.is_some() || body.team_id.is_some() {
        Some(Assignment::parse(
            body.assignee_id.as_ref().map(Option::as_deref),
            body.team_id.map(|t| t.map(|t| t.0)),
            AgentId(caller.agent.id),
        )?)
    } else {
        None
    };
    let status = match body.status {
        Some(status) => Some((
            status,
            crate::conversations::rules::status_change(status, body.snoozed_until, Utc::now())?,
        )),
        None if body.snoozed_until.is_some() => {
            return Err(ApiError::invalid(
                "snoozed_until",
                "only goes with status snoozed",
            ));
        }
        None => None,
    };
    let labels = |field: &str, raw: Vec<String>| {
        crate::conversations::rules::labels(raw).map_err(|e| match e {
            crate::conversations::ConversationError::Invalid { field: f, reason } => {
                ApiError::invalid(&f.replacen("labels", field, 1), reason)
            }
            other => other.into(),
        })
    };
    let change = crate::conversations::BulkChange {
        assignment,
        status,
        priority: body.priority,
        add_labels: labels("add_labels", body.add_labels)?,
        remove_labels: labels("remove_labels", body.remove_labels)?,
    };
    if change.assignment.is_none()
        && change.status.is_none()
        && change.priority.is_none()
        && change.add_labels.is_empty()
        && change.remove_labels.is_empty()
    {
        return Err(crate::conversations::ConversationError::NothingToChange(
            "give assignee_id, team_id, status, priority, add_labels or remove_labels",
        )
        .into());
    }
    // Every one visible first: a conversation the caller may not see answers 404 as if it
    // did not exist, and nothing is changed.
    for id in &ids {
        visible_conversation(&state, &caller, *id).await?;
    }
    let changed = state
        .hub
        .conversations
        .bulk(ids, change, caller.actor())
        .await?;
    let views = with_details(&state, &caller, &changed).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: ConversationStatus,
    snoozed_until: Option<DateTime<Utc>>,
}

async fn status(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ConversationId>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let changed = state
        .hub
        .conversations
        .set_status(
            ConversationId(conversation.id),
            body.status,
            body.snoozed_until,
            caller.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: Priority,
}

async fn priority(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ConversationId>,
    body: web::Json<PriorityBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let changed = state
        .hub
        .conversations
        .set_priority(
            ConversationId(conversation.id),
            body.priority,
            caller.actor(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversationView::from(&changed)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsBody {
    labels: Vec<String>,
}

async fn labels(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<ConversationId>,
    body: web::Json<LabelsBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.get()).await?;
    let changed = state
        .hub
        .conversations
        .set_labels(
            ConversationId(conversation.id),
            body.into_inner().labels,
            caller.actor(),
        )
        .await?;
    let mut views = with_details(&state, &caller, &[changed]).await?;
    Ok(HttpResponse::Ok().json(views.remove(0)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    /// Read up to this seq; the newest message when left out.
    seq: Option<i64>,
}

async fn read(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    // No body reads everything; a body must be a valid `{"seq": N}`.
    let requested = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: ReadBody = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request("malformed_json", format!("malformed JSON body: {e}"))
        })?;
        parsed.seq
    };
    let seq = requested.unwrap_or(conversation.last_seq);
    if !(0..=conversation.last_seq).contains(&seq) {
        return Err(ApiError::invalid(
            "seq",
            format!("must be between 0 and {}", conversation.last_seq),
        ));
    }
    // Through the delivery tracker: a widget visitor sees their messages read.
    let read = state
        .hub
        .delivery
        .send(AgentRead {
            conversation_id: conversation.id,
            agent_id: caller.agent.id,
            seq,
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("delivery tracker: {e}")))??;
    mark_read_at_provider(&state, &conversation, read).await;
    let unread = conv::unread_counts(
        &mut state.db.reader().await?,
        caller.agent.id,
        &[conversation.id],
    )
    .await?
    .get(&conversation.id)
    .copied()
    .unwrap_or(0);
    Ok(HttpResponse::Ok().json(json!({ "last_read_seq": read, "unread_count": unread })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingBody {
    #[serde(default = "yes")]
    on: bool,
}

fn yes() -> bool {
    true
}

/// An agent is typing: shown to the other agents on the conversation.
async fn typing(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<TypingBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    if let Some(inbox_id) = conversation.inbox_id {
        state.hub.events.publish(
            Scope::Inbox(inbox_id),
            &Event::Typing {
                conversation_id: conversation.id,
                sender_type: "agent",
                sender_id: caller.agent.id,
                on: body.on,
            },
        );
    }
    Ok(super::no_content())
}
