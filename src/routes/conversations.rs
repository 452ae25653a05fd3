//! Conversations and messages for agents: lists with filters, the message stream by seq,
//! replies and notes, assignment, status, priority, labels, read marks, retries.
//!
//! Agents see the conversations of inboxes they belong to; admins see all. A conversation
//! the caller may not see answers 404, exactly like one that does not exist.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PublicId, utc};
use crate::actors::conversation::{Command, CommandError, ForConversation, Output};
use crate::auth::Auth;
use crate::db::types::{ConversationStatus, Priority, Role};
use crate::error::ApiError;
use crate::realtime::{Event, Scope};
use crate::startup::AppState;
use crate::store::conversations::{
    self as conv, AssigneeFilter, Conversation, ConversationChange, ConversationFilter, NewReply,
    ReplyOutcome,
};
use crate::store::{inboxes, teams};
use crate::views::{ConversationView, MessageView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations", web::get().to(list))
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
        .route("/conversations/{id}/typing", web::post().to(typing));
}

/// Longest reply or note.
const MAX_CONTENT_BYTES: usize = 65_536;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The inboxes a caller may see; `None` means all (admins).
pub async fn visible_inboxes(
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
pub async fn visible_conversation(
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
    limit: Option<i64>,
    cursor: Option<String>,
}

fn parse_cursor(cursor: &str) -> Option<(NaiveDateTime, i64)> {
    let (micros, id) = cursor.split_once('.')?;
    let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    Some((at, id.parse().ok()?))
}

fn make_cursor(c: &ConversationView) -> String {
    format!("{}.{}", c.last_activity_at.timestamp_micros(), c.id)
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
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            parse_cursor(c).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned")
            })
        })
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
        before,
        limit,
    };
    let rows = conv::list(&mut state.db.reader().await?, &filter).await?;
    let views = with_details(&state, &caller, &rows).await?;
    let full = views.len() as i64 == limit;
    let next_cursor = views.last().filter(|_| full).map(make_cursor);
    Ok(HttpResponse::Ok().json(json!({ "data": views, "next_cursor": next_cursor })))
}

async fn show(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let mut views = with_details(&state, &caller, std::slice::from_ref(&conversation)).await?;
    Ok(HttpResponse::Ok().json(views.remove(0)))
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

async fn run(state: &AppState, conversation_id: i64, command: Command) -> Result<Output, ApiError> {
    state
        .hub
        .conversations
        .send(ForConversation {
            conversation_id,
            command,
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("conversation service: {e}")))?
        .map_err(|e| match e {
            CommandError::NotFound => not_found(),
            CommandError::Refused(reason) => ApiError::conflict("not_allowed", reason),
            CommandError::Invalid(reason) => ApiError::invalid("message", reason),
            CommandError::Lost => {
                ApiError::conflict("conflict", "the conversation changed meanwhile; reload it")
            }
            CommandError::Store(e) => e.into(),
            CommandError::Unavailable(reason) => ApiError::unavailable(reason),
        })
}

fn conversation_answer(output: Output) -> Result<HttpResponse, ApiError> {
    match output {
        Output::Conversation(c) => Ok(HttpResponse::Ok().json(ConversationView::from(&c))),
        _ => Err(ApiError::internal("unexpected command output")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    #[serde(default)]
    content: String,
    #[serde(default)]
    private: bool,
    reply_to_id: Option<PublicId>,
    /// Uploads of this conversation (`POST .../attachments`) to send with the message.
    #[serde(default)]
    attachment_ids: Vec<PublicId>,
}

async fn reply(
    state: web::Data<AppState>,
    caller: Auth,
    req: HttpRequest,
    id: web::Path<PublicId>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let body = body.into_inner();
    let content = body.content.trim_end().to_owned();
    let mut seen = std::collections::HashSet::new();
    let attachment_ids: Vec<i64> = body
        .attachment_ids
        .iter()
        .map(|a| a.0)
        .filter(|id| seen.insert(*id))
        .collect();
    if content.trim().is_empty() && attachment_ids.is_empty() {
        return Err(ApiError::invalid(
            "content",
            "must not be empty unless the message has attachments",
        ));
    }
    if attachment_ids.len() > super::attachments::MAX_FILES {
        return Err(ApiError::invalid(
            "attachment_ids",
            format!(
                "at most {} files per message",
                super::attachments::MAX_FILES
            ),
        ));
    }

    // Newlines and tabs are text; NUL is not (and PostgreSQL cannot store it).
    if content.contains('\0') {
        return Err(ApiError::invalid(
            "content",
            "must not contain NUL characters",
        ));
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::invalid(
            "content",
            format!("is longer than {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    let idempotency_key = match req.headers().get("Idempotency-Key") {
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
    // A repeated request (same Idempotency-Key) is answered with the first message, which
    // took these files; only a new message has its files checked.
    let replay = match &idempotency_key {
        Some(key) => {
            let conn = &mut state.db.reader().await?;
            conv::idempotency_key_used(conn, conversation.id, key).await?
        }
        None => false,
    };
    if !replay {
        check_attachments(&state, conversation.id, &attachment_ids).await?;
    }
    let command = Command::Reply {
        reply: NewReply {
            conversation_id: conversation.id,
            agent_id: caller.agent.id,
            content,
            private: body.private,
            idempotency_key,
            reply_to_id: body.reply_to_id.map(|r| r.0),
            attachment_ids,
        },
        actor: caller.actor(),
    };
    match run(&state, conversation.id, command).await? {
        Output::Reply(ReplyOutcome::Created { message, .. }) => {
            Ok(HttpResponse::Created().json(MessageView::from(&message)))
        }
        // The same request again: the first answer, not a second message.
        Output::Reply(ReplyOutcome::Replayed(message)) => Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(MessageView::from(&message))),
        _ => Err(ApiError::internal("unexpected command output")),
    }
}

/// Refuses attachments that are not unsent uploads of this conversation, or that together
/// exceed the per-message limit, with a message naming the problem (the store checks the
/// first part again atomically when the message is stored).
async fn check_attachments(
    state: &AppState,
    conversation_id: i64,
    ids: &[i64],
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let conn = &mut state.db.reader().await?;
    let mut total: u64 = 0;
    for id in ids {
        match crate::store::attachments::find(conn, *id).await? {
            Some((a, _)) if a.conversation_id == conversation_id && a.message_id.is_none() => {
                total += u64::try_from(a.byte_size).unwrap_or(u64::MAX);
            }
            Some((a, _)) if a.conversation_id == conversation_id => {
                return Err(ApiError::invalid(
                    "attachment_ids",
                    format!(
                        "attachment {id} was already sent with message {}",
                        a.message_id.unwrap_or_default()
                    ),
                ));
            }
            _ => {
                return Err(ApiError::invalid(
                    "attachment_ids",
                    format!("no upload {id} in this conversation"),
                ));
            }
        }
    }
    let limit = state.hub.files.limits().max_message_bytes;
    if total > limit {
        return Err(ApiError::payload_too_large(format!(
            "the attachments total {total} bytes, over the limit of {limit} bytes per message"
        )));
    }
    Ok(())
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
    path: web::Path<(PublicId, PublicId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message_id) = path.into_inner();
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let command = Command::Retry {
        message_id: message_id.0,
        actor: caller.actor(),
    };
    match run(&state, conversation.id, command).await? {
        Output::Message(message) => Ok(HttpResponse::Ok().json(MessageView::from(&message))),
        _ => Err(ApiError::internal("unexpected command output")),
    }
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
    id: web::Path<PublicId>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let body = body.into_inner();
    if body.assignee_id.is_none() && body.team_id.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "give assignee_id and/or team_id",
        ));
    }
    // Everything is checked before anything changes: a bad assignee must not leave the
    // team change applied.
    if let Some(Some(team)) = &body.team_id {
        teams::find(&mut state.db.reader().await?, team.0)
            .await?
            .ok_or_else(|| ApiError::invalid("team_id", "no team with that id"))?;
    }
    let assignee = match &body.assignee_id {
        None => None,
        Some(assignee) => Some(match assignee.as_deref() {
            None => None,
            Some("me") => Some(caller.agent.id),
            Some(text) => Some(text.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
                ApiError::invalid("assignee_id", "must be an agent id, \"me\" or null")
            })?),
        }),
    };
    if let (Some(Some(agent_id)), Some(inbox_id)) = (assignee, conversation.inbox_id) {
        // Only someone who can see the conversation can be given it.
        let conn = &mut state.db.reader().await?;
        let agent = crate::store::agents::find(conn, agent_id)
            .await?
            .filter(|a| a.active)
            .ok_or_else(|| ApiError::invalid("assignee_id", "no active agent with that id"))?;
        if agent.role != Role::Admin && !inboxes::is_member(conn, inbox_id, agent_id).await? {
            return Err(ApiError::invalid(
                "assignee_id",
                "that agent is not a member of this inbox",
            ));
        }
    }
    let mut last = None;
    if let Some(team) = body.team_id {
        let command = Command::Change {
            change: ConversationChange::Team(team.map(|t| t.0)),
            actor: caller.actor(),
        };
        last = Some(run(&state, conversation.id, command).await?);
    }
    if let Some(agent_id) = assignee {
        let command = Command::Change {
            change: ConversationChange::Assign {
                agent_id,
                only_if_unassigned: false,
            },
            actor: caller.actor(),
        };
        last = Some(run(&state, conversation.id, command).await?);
    }
    conversation_answer(last.ok_or_else(|| ApiError::internal("no change made"))?)
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
    id: web::Path<PublicId>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let body = body.into_inner();
    let snoozed_until = match (body.status, body.snoozed_until) {
        (ConversationStatus::Snoozed, Some(at)) if at > Utc::now() => Some(at.naive_utc()),
        (ConversationStatus::Snoozed, Some(_)) => {
            return Err(ApiError::invalid("snoozed_until", "must be in the future"));
        }
        (ConversationStatus::Snoozed, None) => {
            return Err(ApiError::invalid("snoozed_until", "is required to snooze"));
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "snoozed_until",
                "only goes with status snoozed",
            ));
        }
        (_, None) => None,
    };
    let command = Command::Change {
        change: ConversationChange::Status {
            status: body.status,
            snoozed_until,
        },
        actor: caller.actor(),
    };
    conversation_answer(run(&state, conversation.id, command).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: Priority,
}

async fn priority(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<PriorityBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let command = Command::Change {
        change: ConversationChange::Priority(body.priority),
        actor: caller.actor(),
    };
    conversation_answer(run(&state, conversation.id, command).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsBody {
    labels: Vec<String>,
}

async fn labels(
    state: web::Data<AppState>,
    caller: Auth,
    id: web::Path<PublicId>,
    body: web::Json<LabelsBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible_conversation(&state, &caller, id.0).await?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for (i, raw) in body.into_inner().labels.into_iter().enumerate() {
        let name = raw.trim().to_lowercase();
        let valid = !name.is_empty()
            && name.chars().count() <= 50
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_ .".contains(c));
        if !valid {
            return Err(ApiError::invalid(
                &format!("labels[{i}]"),
                "must be 1 to 50 letters, digits, spaces, '-', '_' or '.'",
            ));
        }
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    if names.len() > 50 {
        return Err(ApiError::invalid("labels", "at most 50 labels"));
    }
    let command = Command::Change {
        change: ConversationChange::Labels(names),
        actor: caller.actor(),
    };
    run(&state, conversation.id, command).await?;
    let mut views = with_details(
        &state,
        &caller,
        &[conv::find(&mut state.db.reader().await?, conversation.id)
            .await?
            .ok_or_else(not_found)?],
    )
    .await?;
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
    let read = conv::mark_read(
        &mut state.db.writer().await?,
        conversation.id,
        caller.agent.id,
        seq,
    )
    .await?;
    // A widget visitor sees that their messages were read.
    state.hub.events.visitors.to_conversation(
        conversation.id,
        crate::widget::VisitorEvent::Read { up_to: read },
    );
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
