//! Conversations and their messages: queries, agent-side changes and unread counts.
//!
//! Sequence numbers: every append does `UPDATE conversations SET last_seq = last_seq + 1
//! ... RETURNING` and inserts the message with that seq in the same transaction, so the
//! row lock (PostgreSQL) or the single writer (SQLite) makes seqs strictly increasing
//! whoever appends: the inbound batch writer or a conversation actor.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent, now};
use crate::db::schema::{
    contact_identities, contacts, conversation_labels, conversation_participants, conversations,
    labels, messages, outbox, sla_clocks,
};
use crate::db::types::{
    ConversationKind, ConversationStatus, DeliveryStatus, Direction, OutboxState, Priority,
    SenderType,
};
use crate::db::{DbConn, StoreError};
use crate::{audit, db_run};

diesel::define_sql_function! {
    /// Lower-case text, for case-insensitive search on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// The first time that is not NULL (here: a customer keeps waiting since their first
    /// unanswered message).
    #[sql_name = "coalesce"]
    fn coalesce_time(
        x: diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
        y: diesel::sql_types::Timestamp,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Timestamp>;
}

diesel::define_sql_function! {
    /// The first value that is not NULL (here: how far an agent read, else 0).
    fn coalesce(
        x: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        y: diesel::sql_types::BigInt,
    ) -> diesel::sql_types::BigInt;
}

/// A stored conversation.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Conversation {
    pub id: i64,
    pub kind: ConversationKind,
    pub inbox_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub subject: Option<String>,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub snoozed_until: Option<NaiveDateTime>,
    pub first_response_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub ticket_number: Option<i64>,
    pub linked_conversation_id: Option<i64>,
    pub last_seq: i64,
    pub last_activity_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the customer's oldest unanswered message came (`None` once answered).
    pub waiting_since: Option<NaiveDateTime>,
}

impl Conversation {
    /// Open, pending and snoozed conversations still need an agent; resolved and closed not.
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            ConversationStatus::Open | ConversationStatus::Pending | ConversationStatus::Snoozed
        )
    }
}

/// A stored message (serialized only between nodes, for visitors' sockets).
#[derive(
    Debug,
    Clone,
    Queryable,
    QueryableByName,
    Selectable,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub inbox_id: Option<i64>,
    pub seq: i64,
    pub direction: Direction,
    pub sender_type: SenderType,
    pub sender_id: Option<i64>,
    pub content: String,
    pub content_type: String,
    pub private: bool,
    pub reply_to_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub external_id: Option<String>,
    pub delivery_status: Option<DeliveryStatus>,
    pub error_code: Option<String>,
    pub error_reason: Option<String>,
    pub provider_at: Option<NaiveDateTime>,
    pub edited_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// JSON array of [`crate::store::attachments::AttachmentMeta`]: what the message shows
    /// of its files, kept on the row so every read and event carries it.
    pub attachments: String,
    /// The provider's id of an outbound message (its send receipt); statuses refer to it.
    /// Kept apart from `external_id` (inbound), which dedupes customer messages.
    pub provider_message_id: Option<String>,
    /// Who in a group wrote an inbound message (the conversation's contact is the group).
    pub author: Option<String>,
    /// JSON of [`MessageDetails`]; `None` when the channel told nothing beyond the text.
    pub details: Option<String>,
}

/// What a channel told about an inbound message beyond its text and files: the message it
/// quotes, where a forward came from, the forum topic, the group author's stable id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageDetails {
    /// The quoted message as the customer saw it (kept even when the hub never stored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<switchboard_channel::Quote>,
    /// The origin of a forwarded message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<switchboard_channel::Forward>,
    /// The provider's sub-thread (a Telegram forum topic); replies go back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// The provider's id of the group author (display names change and collide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    /// Provider facts kept with the message (a WhatsApp ad referral, an order's items).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The customer's reactions to this message, one per reacting identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<StoredReaction>,
    /// The approved template a reply was sent as (its text is the message's content), so a
    /// retry sends the same template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<switchboard_channel::TemplateMessage>,
    /// A mail's subject, copies, full text and sanitized HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<switchboard_channel::MailDetails>,
    /// Why a machine wrote this message (an out-of-office reply): shown as automatic,
    /// never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<String>,
    /// The satisfaction survey this message puts to the customer (its links are signed
    /// afresh at each send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<switchboard_channel::SurveyRequest>,
}

/// One reaction on a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredReaction {
    /// The emoji.
    pub emoji: String,
    /// Who reacted: the channel identifier of the customer.
    pub by: String,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

impl MessageDetails {
    /// The details of an inbound message, as stored (`None`: nothing to store).
    pub(crate) fn of(message: &switchboard_channel::InboundMessage) -> Option<String> {
        let details = Self {
            quote: message.quote.clone(),
            forwarded: message.forwarded.clone(),
            thread_id: message.thread_id.clone(),
            author_id: message.author_id.clone(),
            extra: message.extra.clone(),
            mail: message.mail.clone(),
            automatic: message.automatic.clone(),
            ..Self::default()
        };
        if details == Self::default() {
            return None;
        }
        serde_json::to_string(&details).ok()
    }

    /// The stored form (`None`: nothing to store).
    pub(crate) fn to_stored(&self) -> Option<String> {
        if *self == Self::default() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// Applies `by`'s reaction (`None` takes it back); answers whether anything changed.
    pub(crate) fn react(
        &mut self,
        by: &str,
        emoji: Option<&str>,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> bool {
        let before = self.reactions.clone();
        self.reactions.retain(|r| r.by != by);
        if let Some(emoji) = emoji {
            self.reactions.push(StoredReaction {
                emoji: emoji.to_owned(),
                by: by.to_owned(),
                at,
            });
        }
        self.reactions != before
    }

    /// Reads stored details; unreadable JSON (never written by the hub) reads as none.
    pub fn parse(stored: Option<&str>) -> Self {
        stored
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }
}

/// Who a conversation list is for and what it is filtered by.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// `None` for admins (every inbox); else the inboxes the agent belongs to.
    pub visible_inboxes: Option<Vec<i64>>,
    pub inbox_id: Option<i64>,
    pub statuses: Vec<ConversationStatus>,
    pub assignee: Option<AssigneeFilter>,
    pub team_id: Option<i64>,
    pub label: Option<String>,
    pub priority: Option<Priority>,
    /// Case-insensitive match on the contact's name, email or phone, or a message's text.
    pub text: Option<String>,
    pub contact_id: Option<i64>,
    /// Only conversations with an SLA clock past its warning share or breached at this
    /// instant.
    pub sla_at_risk: Option<NaiveDateTime>,
    /// Keyset cursor: (last_activity_at, id) of the previous page's last item.
    pub before: Option<(NaiveDateTime, i64)>,
    /// `Some(true)`: only conversations whose customer waits for an answer; `Some(false)`:
    /// only the others.
    pub waiting: Option<bool>,
    pub limit: i64,
}

/// The order of the conversation list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// Newest activity first.
    Activity,
    /// Customers waiting longest for an answer first, then the rest by newest activity.
    Waiting,
    /// Urgent first, down to no priority; by newest activity within each.
    Priority,
}

/// Where the next page of an ordered list starts (after the previous page's last row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPosition {
    /// After (last_activity_at, id), newest first.
    Activity(NaiveDateTime, i64),
    /// After (waiting_since, id) among waiting conversations, oldest first.
    Waiting(NaiveDateTime, i64),
    /// After (last_activity_at, id) among the conversations nobody waits on, which the
    /// waiting order lists after the waiting ones.
    NotWaiting(NaiveDateTime, i64),
    /// After (last_activity_at, id) within the conversations of that priority.
    Priority(Priority, NaiveDateTime, i64),
}

/// `assignee=` of the conversation list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    Agent(i64),
}

/// Narrows a boxed conversation query by everything in a [`ConversationFilter`] but its
/// order and cursor (shared by both orders of the list).
macro_rules! narrowed {
    ($q:expr, $filter:expr, $pattern:expr) => {{
        let filter: &ConversationFilter = $filter;
        let pattern: &Option<String> = $pattern;
        let mut q = $q;
        if let Some(visible) = &filter.visible_inboxes {
            q = q.filter(conversations::inbox_id.eq_any(visible.clone()));
        }
        if let Some(inbox_id) = filter.inbox_id {
            q = q.filter(conversations::inbox_id.eq(inbox_id));
        }
        if !filter.statuses.is_empty() {
            q = q.filter(conversations::status.eq_any(filter.statuses.clone()));
        }
        match filter.assignee {
            Some(AssigneeFilter::Unassigned) => q = q.filter(conversations::assignee_id.is_null()),
            Some(AssigneeFilter::Agent(id)) => q = q.filter(conversations::assignee_id.eq(id)),
            None => {}
        }
        if let Some(team_id) = filter.team_id {
            q = q.filter(conversations::team_id.eq(team_id));
        }
        if let Some(priority) = filter.priority {
            q = q.filter(conversations::priority.eq(priority));
        }
        if let Some(contact_id) = filter.contact_id {
            q = q.filter(conversations::contact_id.eq(contact_id));
        }
        match filter.waiting {
            Some(true) => {
                q = q.filter(
                    conversations::waiting_since
                        .is_not_null()
                        .and(conversations::status.eq_any(ACTIVE_STATUSES)),
                )
            }
            Some(false) => {
                q = q.filter(
                    conversations::waiting_since
                        .is_null()
                        .or(conversations::status.ne_all(ACTIVE_STATUSES)),
                )
            }
            None => {}
        }
        if let Some(at) = filter.sla_at_risk {
            q = q.filter(
                conversations::id.eq_any(
                    sla_clocks::table
                        .filter(sla_clocks::ended_at.is_null())
                        .filter(
                            sla_clocks::warned_at
                                .is_not_null()
                                .or(sla_clocks::warn_at.le(at)),
                        )
                        .select(sla_clocks::conversation_id),
                ),
            );
        }
        if let Some(label) = &filter.label {
            q = q.filter(
                conversations::id.eq_any(
                    conversation_labels::table
                        .inner_join(labels::table)
                        .filter(labels::name.eq(label.clone()))
                        .select(conversation_labels::conversation_id),
                ),
            );
        }
        if let Some(pattern) = &pattern {
            let by_contact = contacts::table
                .filter(
                    lower(contacts::name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\')
                        .or(lower(contacts::email.assume_not_null())
                            .like(pattern.clone())
                            .escape('\\'))
                        .or(lower(contacts::phone.assume_not_null())
                            .like(pattern.clone())
                            .escape('\\')),
                )
                .select(contacts::id.nullable());
            let by_message = messages::table
                .filter(lower(messages::content).like(pattern.clone()).escape('\\'))
                .select(messages::conversation_id);
            q = q.filter(
                conversations::contact_id
                    .eq_any(by_contact)
                    .or(conversations::id.eq_any(by_message)),
            );
        }
        q
    }};
}

/// Newest activity first, by keyset cursor.
pub async fn list(
    conn: &mut DbConn,
    filter: &ConversationFilter,
) -> Result<Vec<Conversation>, StoreError> {
    let pattern = like_pattern(filter);
    Ok(db_run!(conn, c => {
        let q = conversations::table
            .select(Conversation::as_select())
            .order((conversations::last_activity_at.desc(), conversations::id.desc()))
            .limit(filter.limit)
            .into_boxed();
        let mut q = narrowed!(q, filter, &pattern);
        if let Some((at, id)) = filter.before {
            q = q.filter(
                conversations::last_activity_at
                    .lt(at)
                    .or(conversations::last_activity_at.eq(at).and(conversations::id.lt(id))),
            );
        }
        q.load(c).await
    })?)
}

/// Priorities in the order the priority sort lists them.
const PRIORITY_ORDER: [Priority; 5] = [
    Priority::Urgent,
    Priority::High,
    Priority::Medium,
    Priority::Low,
    Priority::None,
];

/// Statuses in which a customer can be waiting.
const ACTIVE_STATUSES: [ConversationStatus; 3] = [
    ConversationStatus::Open,
    ConversationStatus::Pending,
    ConversationStatus::Snoozed,
];

/// One page of the list in `order`, starting after `from`; with the position after its last
/// row when the page is full. Orders that are not a single keyset walk their segments (the
/// waiting, then the rest; each priority) one after the other, each by an indexed keyset.
pub async fn list_page(
    conn: &mut DbConn,
    filter: &ConversationFilter,
    order: ListOrder,
    from: Option<ListPosition>,
) -> Result<(Vec<Conversation>, Option<ListPosition>), StoreError> {
    let limit = filter.limit;
    let by_activity = |rows: &[Conversation]| {
        rows.last()
            .map(|c| ListPosition::Activity(c.last_activity_at, c.id))
    };
    match order {
        ListOrder::Activity => {
            let before = match from {
                Some(ListPosition::Activity(at, id)) => Some((at, id)),
                _ => None,
            };
            let rows = list(
                conn,
                &ConversationFilter {
                    before,
                    ..filter.clone()
                },
            )
            .await?;
            let next = if rows.len() as i64 == limit {
                by_activity(&rows)
            } else {
                None
            };
            Ok((rows, next))
        }
        ListOrder::Waiting => {
            let mut rows = Vec::new();
            if !matches!(from, Some(ListPosition::NotWaiting(..))) {
                let after = match from {
                    Some(ListPosition::Waiting(at, id)) => Some((at, id)),
                    _ => None,
                };
                rows = list_waiting(conn, filter, after).await?;
                if rows.len() as i64 == limit {
                    let next = rows
                        .last()
                        .and_then(|c| c.waiting_since.map(|at| ListPosition::Waiting(at, c.id)));
                    return Ok((rows, next));
                }
            }
            let before = match from {
                Some(ListPosition::NotWaiting(at, id)) => Some((at, id)),
                _ => None,
            };
            let rest_limit = limit - rows.len() as i64;
            let rest = list(
                conn,
                &ConversationFilter {
                    before,
                    waiting: Some(false),
                    limit: rest_limit,
                    ..filter.clone()
                },
            )
            .await?;
            let next = rest
                .last()
                .filter(|_| rest.len() as i64 == rest_limit)
                .map(|c| ListPosition::NotWaiting(c.last_activity_at, c.id));
            rows.extend(rest);
            Ok((rows, next))
        }
        ListOrder::Priority => {
            let start = match from {
                Some(ListPosition::Priority(p, ..)) => {
                    PRIORITY_ORDER.iter().position(|x| *x == p).unwrap_or(0)
                }
                _ => 0,
            };
            let mut rows: Vec<Conversation> = Vec::new();
            for &priority in &PRIORITY_ORDER[start..] {
                if filter.priority.is_some_and(|only| only != priority) {
                    continue;
                }
                let before = match from {
                    Some(ListPosition::Priority(p, at, id)) if p == priority => Some((at, id)),
                    _ => None,
                };
                let wanted = limit - rows.len() as i64;
                let part = list(
                    conn,
                    &ConversationFilter {
                        before,
                        priority: Some(priority),
                        limit: wanted,
                        ..filter.clone()
                    },
                )
                .await?;
                let full = part.len() as i64 == wanted;
                let next = part
                    .last()
                    .map(|c| ListPosition::Priority(priority, c.last_activity_at, c.id));
                rows.extend(part);
                if full {
                    return Ok((rows, next));
                }
            }
            Ok((rows, None))
        }
    }
}

/// Conversations whose customer waits, the longest waiting first; `after` is the
/// (waiting_since, id) of the previous page's last item.
async fn list_waiting(
    conn: &mut DbConn,
    filter: &ConversationFilter,
    after: Option<(NaiveDateTime, i64)>,
) -> Result<Vec<Conversation>, StoreError> {
    let pattern = like_pattern(filter);
    let filter = &ConversationFilter {
        waiting: Some(true),
        ..filter.clone()
    };
    Ok(db_run!(conn, c => {
        let q = conversations::table
            .select(Conversation::as_select())
            .order((conversations::waiting_since.asc(), conversations::id.asc()))
            .limit(filter.limit)
            .into_boxed();
        let mut q = narrowed!(q, filter, &pattern);
        if let Some((at, id)) = after {
            q = q.filter(
                conversations::waiting_since
                    .gt(at)
                    .or(conversations::waiting_since.eq(at).and(conversations::id.gt(id))),
            );
        }
        q.load(c).await
    })?)
}

/// Conversations with a running SLA target, the soonest due first (overdue ones first of
/// all), with that due time; `after` is the (due, id) of the previous page's last item.
pub async fn list_by_sla_due(
    conn: &mut DbConn,
    filter: &ConversationFilter,
    after: Option<(NaiveDateTime, i64)>,
) -> Result<Vec<(Conversation, NaiveDateTime)>, StoreError> {
    use crate::db::schema::sla_states;
    let pattern = like_pattern(filter);
    let rows: Vec<(Conversation, Option<NaiveDateTime>)> = db_run!(conn, c => {
        let q = conversations::table
            .inner_join(sla_states::table)
            .filter(sla_states::due_at.is_not_null())
            .select((Conversation::as_select(), sla_states::due_at))
            .order((sla_states::due_at.asc(), conversations::id.asc()))
            .limit(filter.limit)
            .into_boxed();
        let mut q = narrowed!(q, filter, &pattern);
        if let Some((at, id)) = after {
            q = q.filter(
                sla_states::due_at
                    .gt(at)
                    .or(sla_states::due_at.eq(at).and(conversations::id.gt(id))),
            );
        }
        q.load(c).await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, due)| due.map(|d| (c, d)))
        .collect())
}

/// Locks a conversation's row until the transaction ends (a no-op update: PostgreSQL holds
/// the row lock; SQLite's single writer serialises anyway), so a read-modify-write inside
/// the transaction is not raced by another writer of the same conversation.
pub async fn lock(conn: &mut DbConn, id: i64) -> Result<(), StoreError> {
    db_run!(conn, c => diesel::update(conversations::table.find(id))
        .set(conversations::id.eq(conversations::id))
        .execute(c)
        .await)?;
    Ok(())
}

fn like_pattern(filter: &ConversationFilter) -> Option<String> {
    filter
        .text
        .as_ref()
        .map(|t| format!("%{}%", escape_like(&t.to_lowercase())))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn find(conn: &mut DbConn, id: i64) -> Result<Option<Conversation>, StoreError> {
    Ok(db_run!(conn, c => conversations::table
        .find(id)
        .select(Conversation::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Label names per conversation.
pub async fn labels_of(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    let rows: Vec<(i64, String)> = db_run!(conn, c => conversation_labels::table
        .inner_join(labels::table)
        .filter(conversation_labels::conversation_id.eq_any(ids))
        .order(labels::name)
        .select((conversation_labels::conversation_id, labels::name))
        .load(c)
        .await)?;
    let mut map: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, name) in rows {
        map.entry(id).or_default().push(name);
    }
    Ok(map)
}

/// Inbound messages an agent has not read yet, per conversation.
pub async fn unread_counts(
    conn: &mut DbConn,
    agent_id: i64,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // One grouped query for the page: inbound messages after the agent's read mark (a
    // correlated lookup on the participants' primary key; messages are unique on
    // (conversation_id, seq), so the range is an index scan).
    let read_mark = conversation_participants::table
        .filter(conversation_participants::conversation_id.eq(messages::conversation_id))
        .filter(conversation_participants::agent_id.eq(agent_id))
        .select(conversation_participants::last_read_seq)
        .single_value();
    let counted: Vec<(i64, i64)> = db_run!(conn, c => messages::table
        .filter(messages::conversation_id.eq_any(ids))
        .filter(messages::direction.eq(Direction::Inbound))
        .filter(messages::seq.gt(coalesce(read_mark, 0i64)))
        .group_by(messages::conversation_id)
        .select((messages::conversation_id, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    let mut counts: HashMap<i64, i64> = ids.iter().map(|id| (*id, 0)).collect();
    counts.extend(counted);
    Ok(counts)
}

/// Records how far an agent has read; never moves backwards.
pub async fn mark_read(
    conn: &mut DbConn,
    conversation_id: i64,
    agent_id: i64,
    seq: i64,
) -> Result<i64, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let current: Option<i64> = conversation_participants::table
            .find((conversation_id, agent_id))
            .select(conversation_participants::last_read_seq)
            .first(c)
            .await
            .optional()?;
        match current {
            Some(old) if old >= seq => Ok(old),
            Some(_) => {
                diesel::update(conversation_participants::table.find((conversation_id, agent_id)))
                    .set((
                        conversation_participants::last_read_seq.eq(seq),
                        conversation_participants::updated_at.eq(at),
                    ))
                    .execute(c)
                    .await?;
                Ok(seq)
            }
            None => {
                diesel::insert_into(conversation_participants::table)
                    .values((
                        conversation_participants::conversation_id.eq(conversation_id),
                        conversation_participants::agent_id.eq(agent_id),
                        conversation_participants::last_read_seq.eq(seq),
                        conversation_participants::created_at.eq(at),
                        conversation_participants::updated_at.eq(at),
                    ))
                    .execute(c)
                    .await?;
                Ok(seq)
            }
        }
    }).await)
}

/// Messages of a conversation by seq: `after` gives the next ones (ascending), `before`
/// the earlier ones (still returned ascending); neither gives the latest page.
pub async fn messages(
    conn: &mut DbConn,
    conversation_id: i64,
    after: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    let mut rows = db_run!(conn, c => {
        let mut q = messages::table
            .filter(messages::conversation_id.eq(conversation_id))
            .select(Message::as_select())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(messages::seq.gt(after)).order(messages::seq.asc());
        } else {
            if let Some(before) = before {
                q = q.filter(messages::seq.lt(before));
            }
            q = q.order(messages::seq.desc());
        }
        q.load(c).await
    })?;
    if after.is_none() {
        rows.reverse();
    }
    Ok(rows)
}

/// Contacts' display names (name, else email, else phone) by contact id.
pub async fn contact_names(
    conn: &mut DbConn,
    contact_ids: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    use crate::db::schema::contacts;
    type Row = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = db_run!(conn, c => contacts::table
        .filter(contacts::id.eq_any(contact_ids))
        .select((contacts::id, contacts::name, contacts::email, contacts::phone))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, email, phone)| name.or(email).or(phone).map(|n| (id, n)))
        .collect())
}

/// The latest message of each conversation (`(conversation id, last seq)` pairs).
pub async fn last_messages(
    conn: &mut DbConn,
    latest: &[(i64, i64)],
) -> Result<HashMap<i64, Message>, StoreError> {
    let ids: Vec<i64> = latest.iter().map(|&(id, _)| id).collect();
    let seqs: Vec<i64> = latest.iter().map(|&(_, seq)| seq).collect();
    let rows: Vec<Message> = db_run!(conn, c => messages::table
        .filter(messages::conversation_id.eq_any(&ids))
        .filter(messages::seq.eq_any(&seqs))
        .select(Message::as_select())
        .load(c)
        .await)?;
    let wanted: HashMap<i64, i64> = latest.iter().copied().collect();
    Ok(rows
        .into_iter()
        .filter(|m| wanted.get(&m.conversation_id) == Some(&m.seq))
        .map(|m| (m.conversation_id, m))
        .collect())
}

/// The earlier texts of an edited message, oldest first: a customer's edit never erases
/// what the agent may already have read.
pub async fn message_edits(
    conn: &mut DbConn,
    message_id: i64,
) -> Result<Vec<(String, NaiveDateTime)>, StoreError> {
    use crate::db::schema::message_edits;
    Ok(db_run!(conn, c => message_edits::table
        .filter(message_edits::message_id.eq(message_id))
        .order(message_edits::id)
        .select((message_edits::previous_content, message_edits::edited_at))
        .load(c)
        .await)?)
}

pub async fn find_message(conn: &mut DbConn, id: i64) -> Result<Option<Message>, StoreError> {
    Ok(db_run!(conn, c => messages::table
        .find(id)
        .select(Message::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The contact's identifier in the conversation's inbox (where replies go).
pub async fn recipient_identifier(
    conn: &mut DbConn,
    inbox_id: i64,
    contact_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(db_run!(conn, c => contact_identities::table
        .filter(contact_identities::inbox_id.eq(inbox_id))
        .filter(contact_identities::contact_id.eq(contact_id))
        .order(contact_identities::id)
        .select(contact_identities::identifier)
        .first(c)
        .await
        .optional())?)
}

/// An agent's reply or private note, before it is stored.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub conversation_id: i64,
    pub agent_id: i64,
    pub content: String,
    pub private: bool,
    pub idempotency_key: Option<String>,
    pub reply_to_id: Option<i64>,
    /// Pending uploads of this conversation to send with the message.
    pub attachment_ids: Vec<i64>,
    /// Stored [`MessageDetails`] (the template a reply is sent as).
    pub details: Option<String>,
}

/// What storing a reply did.
// Short-lived results moved once; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ReplyOutcome {
    /// Stored now (with its outbox entry unless private).
    Created {
        message: Message,
        conversation: Conversation,
    },
    /// The idempotency key was used before: this is the earlier message, nothing new stored.
    Replayed(Message),
}

/// Why a reply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("no conversation with that id")]
    NotFound,
    #[error("the message replied to is not in this conversation")]
    BadReplyTo,
    #[error("this conversation has no channel to reply through")]
    NoChannel,
    #[error(transparent)]
    Attachment(#[from] crate::store::attachments::ClaimError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ReplyError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Whether a reply with this idempotency key is already stored in the conversation.
pub async fn idempotency_key_used(
    conn: &mut DbConn,
    conversation_id: i64,
    key: &str,
) -> Result<bool, StoreError> {
    let count: i64 = db_run!(conn, c => messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .filter(messages::idempotency_key.eq(key))
        .count()
        .get_result(c)
        .await)?;
    Ok(count > 0)
}

/// Stores a reply (queued, with its outbox entry) or a private note in one transaction.
pub async fn store_reply(
    conn: &mut DbConn,
    reply: &NewReply,
    actor: &Actor,
) -> Result<ReplyOutcome, ReplyError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, ReplyError, _>(async |c| {
        if let Some(key) = &reply.idempotency_key {
            let earlier = messages::table
                .filter(messages::conversation_id.eq(reply.conversation_id))
                .filter(messages::idempotency_key.eq(key))
                .select(Message::as_select())
                .first(c)
                .await
                .optional()
                .map_err(StoreError::from)?;
            if let Some(earlier) = earlier {
                return Ok(ReplyOutcome::Replayed(earlier));
            }
        }
        if let Some(reply_to) = reply.reply_to_id {
            let same: i64 = messages::table
                .filter(messages::id.eq(reply_to))
                .filter(messages::conversation_id.eq(reply.conversation_id))
                .count()
                .get_result(c)
                .await
                .map_err(StoreError::from)?;
            if same == 0 {
                return Err(ReplyError::BadReplyTo);
            }
        }
        let public = !reply.private;
        let moved_on = (
            conversations::last_seq.eq(conversations::last_seq + 1),
            conversations::last_activity_at.eq(at),
            conversations::updated_at.eq(at),
        );
        let target = conversations::table.find(reply.conversation_id);
        // A public reply answers the customer: they no longer wait; a note leaves them waiting.
        let conversation = if public {
            diesel::update(target)
                .set((moved_on, conversations::waiting_since.eq(None::<NaiveDateTime>)))
                .returning(Conversation::as_returning())
                .get_result(c)
                .await
        } else {
            diesel::update(target)
                .set(moved_on)
                .returning(Conversation::as_returning())
                .get_result(c)
                .await
        }
        .optional()
        .map_err(StoreError::from)?
        .ok_or(ReplyError::NotFound)?;
        let inbox_id = match (public, conversation.inbox_id) {
            (true, None) => return Err(ReplyError::NoChannel),
            (_, inbox_id) => inbox_id,
        };
        let conversation = if public && conversation.first_response_at.is_none() {
            diesel::update(conversations::table.find(conversation.id))
                .set(conversations::first_response_at.eq(at))
                .returning(Conversation::as_returning())
                .get_result(c)
                .await
                .map_err(StoreError::from)?
        } else {
            conversation
        };
        let message = diesel::insert_into(messages::table)
            .values((
                messages::conversation_id.eq(conversation.id),
                messages::inbox_id.eq(inbox_id),
                messages::seq.eq(conversation.last_seq),
                messages::direction.eq(if public { Direction::Outbound } else { Direction::Internal }),
                messages::sender_type.eq(SenderType::Agent),
                messages::sender_id.eq(reply.agent_id),
                messages::content.eq(&reply.content),
                messages::private.eq(reply.private),
                messages::reply_to_id.eq(reply.reply_to_id),
                messages::idempotency_key.eq(&reply.idempotency_key),
                messages::delivery_status.eq(public.then_some(DeliveryStatus::Queued)),
                messages::details.eq(&reply.details),
                messages::created_at.eq(at),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await
            .map_err(StoreError::from)?;
        let message = if reply.attachment_ids.is_empty() {
            message
        } else {
            let files = crate::store::attachments::claim_for_message!(
                c,
                conversation.id,
                message.id,
                &reply.attachment_ids
            );
            diesel::update(messages::table.find(message.id))
                .set(messages::attachments.eq(crate::store::attachments::meta_json(&files)))
                .returning(Message::as_returning())
                .get_result(c)
                .await
                .map_err(StoreError::from)?
        };
        if let (true, Some(inbox_id)) = (public, inbox_id) {
            diesel::insert_into(outbox::table)
                .values((
                    outbox::message_id.eq(message.id),
                    outbox::inbox_id.eq(inbox_id),
                    outbox::state.eq(OutboxState::Pending),
                    outbox::attempts.eq(0),
                    outbox::next_attempt_at.eq(at),
                    outbox::created_at.eq(at),
                    outbox::updated_at.eq(at),
                ))
                .execute(c)
                .await
                .map_err(StoreError::from)?;
        }
        let action = if public { "message.reply" } else { "message.note" };
        let event = AuditEvent::new(action, "message", message.id)
            .with_details(json!({"conversation_id": conversation.id.to_string()}));
        audit!(c, actor, event).await.map_err(StoreError::from)?;
        Ok(ReplyOutcome::Created { message, conversation })
    }).await)
}

/// Stores an activity line (the hub's own private note: an SLA warning, an escalation) in
/// the caller's transaction. It takes the next sequence number, so clients resume across
/// it like any message, but it does not move the conversation up the list.
pub async fn store_activity(
    conn: &mut DbConn,
    conversation_id: i64,
    content: &str,
) -> Result<Option<Message>, StoreError> {
    let at = now();
    db_run!(conn, c => {
        let Some((seq, inbox_id)) = diesel::update(conversations::table.find(conversation_id))
            .set((
                conversations::last_seq.eq(conversations::last_seq + 1),
                conversations::updated_at.eq(at),
            ))
            .returning((conversations::last_seq, conversations::inbox_id))
            .get_result::<(i64, Option<i64>)>(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let message = diesel::insert_into(messages::table)
            .values((
                messages::conversation_id.eq(conversation_id),
                messages::inbox_id.eq(inbox_id),
                messages::seq.eq(seq),
                messages::direction.eq(Direction::Internal),
                messages::sender_type.eq(SenderType::System),
                messages::content.eq(content),
                messages::private.eq(true),
                messages::created_at.eq(at),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await?;
        Ok(Some(message))
    })
}

/// The `content_type` of a satisfaction survey put to the customer as a message: the thread
/// labels it, reports do not count it as an agent's message.
pub const SURVEY_CONTENT_TYPE: &str = "survey";

/// Stores a satisfaction survey as the hub's own outgoing message (the question, with the
/// survey in its details) and queues it in the outbox, in the caller's transaction. Like an
/// activity line it takes the next sequence number without moving the conversation up the
/// list or answering the customer's wait. `None` when the conversation is gone.
pub async fn store_survey_message(
    conn: &mut DbConn,
    conversation_id: i64,
    survey: &switchboard_channel::SurveyRequest,
) -> Result<Option<(Message, Conversation)>, StoreError> {
    let at = now();
    let details = MessageDetails {
        survey: Some(survey.clone()),
        ..MessageDetails::default()
    }
    .to_stored();
    db_run!(conn, c => {
        let Some(conversation) = diesel::update(conversations::table.find(conversation_id))
            .set((
                conversations::last_seq.eq(conversations::last_seq + 1),
                conversations::updated_at.eq(at),
            ))
            .returning(Conversation::as_returning())
            .get_result(c)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let Some(inbox_id) = conversation.inbox_id else {
            return Ok(None);
        };
        let message = diesel::insert_into(messages::table)
            .values((
                messages::conversation_id.eq(conversation_id),
                messages::inbox_id.eq(inbox_id),
                messages::seq.eq(conversation.last_seq),
                messages::direction.eq(Direction::Outbound),
                messages::sender_type.eq(SenderType::Bot),
                messages::content.eq(&survey.question),
                messages::content_type.eq(SURVEY_CONTENT_TYPE),
                messages::private.eq(false),
                messages::delivery_status.eq(Some(DeliveryStatus::Queued)),
                messages::details.eq(&details),
                messages::created_at.eq(at),
            ))
            .returning(Message::as_returning())
            .get_result(c)
            .await?;
        diesel::insert_into(outbox::table)
            .values((
                outbox::message_id.eq(message.id),
                outbox::inbox_id.eq(inbox_id),
                outbox::state.eq(OutboxState::Pending),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(at),
                outbox::created_at.eq(at),
                outbox::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
        Ok(Some((message, conversation)))
    })
}

/// A change an agent (or the router) makes to a conversation's state.
#[derive(Debug, Clone)]
pub enum ConversationChange {
    /// Assign to an agent (`None` unassigns); `only_if_unassigned` makes it a claim that
    /// loses quietly against a concurrent assignment (used by the router).
    Assign {
        agent_id: Option<i64>,
        only_if_unassigned: bool,
    },
    /// Assignee and team together, in one transaction (an agent's assign request); each
    /// `Some` is changed (`Some(None)` clears it).
    AssignAndTeam {
        agent_id: Option<Option<i64>>,
        team_id: Option<Option<i64>>,
    },
    Status {
        status: ConversationStatus,
        snoozed_until: Option<NaiveDateTime>,
    },
    Priority(Priority),
    /// Replaces the labels; unknown label names are created.
    Labels(Vec<String>),
    /// Closes the conversation only while it is resolved (a widget visitor who starts a new
    /// one); loses quietly when an agent reopened it meanwhile.
    CloseResolved,
}

/// Applies a change in one audited transaction; `Ok(None)` when the conversation does not
/// exist or a conditional assignment lost.
pub async fn change(
    conn: &mut DbConn,
    conversation_id: i64,
    change: &ConversationChange,
    actor: &Actor,
) -> Result<Option<Conversation>, StoreError> {
    let at = now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let target = conversations::table.find(conversation_id);
        let (updated, action, details) = match change {
            ConversationChange::Assign { agent_id, only_if_unassigned } => {
                let updated = if *only_if_unassigned {
                    diesel::update(target.filter(conversations::assignee_id.is_null()))
                        .set((conversations::assignee_id.eq(agent_id), conversations::updated_at.eq(at)))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        .await
                        .optional()?
                } else {
                    diesel::update(target)
                        .set((conversations::assignee_id.eq(agent_id), conversations::updated_at.eq(at)))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        .await
                        .optional()?
                };
                (updated, "conversation.assign", json!({"assignee_id": agent_id.map(|a| a.to_string())}))
            }
            ConversationChange::AssignAndTeam { agent_id, team_id } => {
                let mut updated = None;
                if let Some(team_id) = team_id {
                    updated = diesel::update(target)
                        .set((conversations::team_id.eq(team_id), conversations::updated_at.eq(at)))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        .await
                        .optional()?;
                    if updated.is_none() {
                        return Ok(None);
                    }
                    let event = AuditEvent::new("conversation.team", "conversation", conversation_id)
                        .with_details(json!({"team_id": team_id.map(|t| t.to_string())}));
                    audit!(c, actor, event).await?;
                }
                match agent_id {
                    Some(agent_id) => {
                        updated = diesel::update(target)
                            .set((conversations::assignee_id.eq(agent_id), conversations::updated_at.eq(at)))
                            .returning(Conversation::as_returning())
                            .get_result(c)
                            .await
                            .optional()?;
                        (updated, "conversation.assign", json!({"assignee_id": agent_id.map(|a| a.to_string())}))
                    }
                    // The team's audit entry is written; nothing more to record.
                    None => return Ok(updated),
                }
            }
            ConversationChange::Status { status, snoozed_until } => {
                // Resolving what is already resolved (a repeated or bulk resolve) is no new
                // resolution: the customer is not asked again.
                let was_resolved = *status == ConversationStatus::Resolved
                    && conversations::table
                        .find(conversation_id)
                        .select(conversations::status)
                        .first::<ConversationStatus>(c)
                        .await
                        .optional()?
                        == Some(ConversationStatus::Resolved);
                let resolved_at = matches!(status, ConversationStatus::Resolved | ConversationStatus::Closed)
                    .then_some(at);
                let changes = (
                    conversations::status.eq(status),
                    conversations::snoozed_until.eq(snoozed_until),
                    conversations::resolved_at.eq(resolved_at),
                    conversations::updated_at.eq(at),
                );
                // Nobody waits on a resolved or closed conversation (reopened by an agent, it
                // waits again only when the customer writes).
                let updated = if resolved_at.is_some() {
                    diesel::update(target)
                        .set((changes, conversations::waiting_since.eq(None::<NaiveDateTime>)))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        .await
                        .optional()?
                } else {
                    diesel::update(target)
                        .set(changes)
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        .await
                        .optional()?
                };
                // Resolving asks the customer how it went, when the inbox surveys (once per
                // resolution: a resolve time has one survey).
                if let Some(conv) = updated
                    .as_ref()
                    .filter(|_| *status == ConversationStatus::Resolved && !was_resolved)
                    && conv.kind == ConversationKind::Support
                    && let Some(inbox_id) = conv.inbox_id
                {
                    let settings: Option<String> = crate::db::schema::inboxes::table
                        .find(inbox_id)
                        .select(crate::db::schema::inboxes::settings)
                        .first(c)
                        .await
                        .optional()?;
                    let settings = match settings.as_deref().map(serde_json::from_str) {
                        Some(Ok(serde_json::Value::Object(map))) => map,
                        _ => serde_json::Map::new(),
                    };
                    let csat = crate::domain::csat::CsatSettings::read(&settings);
                    if csat.enabled {
                        use crate::db::schema::csat_surveys as cs;
                        diesel::insert_into(cs::table)
                            .values((
                                cs::conversation_id.eq(conversation_id),
                                cs::inbox_id.eq(inbox_id),
                                cs::resolved_at.eq(at),
                                cs::due_at.eq(at + chrono::TimeDelta::seconds(csat.delay_secs)),
                                cs::question.eq(&csat.question),
                                cs::scale.eq(csat.scale.as_str()),
                            ))
                            .on_conflict_do_nothing()
                            .execute(c)
                            .await?;
                    }
                }
                (updated, "conversation.status", json!({"status": status, "snoozed_until": snoozed_until}))
            }
            ConversationChange::CloseResolved => {
                let updated = diesel::update(target.filter(conversations::status.eq(ConversationStatus::Resolved)))
                    .set((
                        conversations::status.eq(ConversationStatus::Closed),
                        conversations::snoozed_until.eq(None::<NaiveDateTime>),
                        conversations::updated_at.eq(at),
                    ))
                    .returning(Conversation::as_returning())
                    .get_result(c)
                    .await
                    .optional()?;
                let details = json!({
                    "status": ConversationStatus::Closed, "snoozed_until": null,
                    "reason": "customer_restarted",
                });
                (updated, "conversation.status", details)
            }
            ConversationChange::Priority(priority) => {
                let updated = diesel::update(target)
                    .set((conversations::priority.eq(priority), conversations::updated_at.eq(at)))
                    .returning(Conversation::as_returning())
                    .get_result(c)
                    .await
                    .optional()?;
                (updated, "conversation.priority", json!({"priority": priority}))
            }
            ConversationChange::Labels(names) => {
                let updated = diesel::update(target)
                    .set(conversations::updated_at.eq(at))
                    .returning(Conversation::as_returning())
                    .get_result(c)
                    .await
                    .optional()?;
                if updated.is_some() {
                    diesel::delete(conversation_labels::table.filter(conversation_labels::conversation_id.eq(conversation_id)))
                        .execute(c)
                        .await?;
                    for name in names {
                        diesel::insert_into(labels::table)
                            .values((labels::name.eq(name), labels::created_at.eq(at)))
                            .on_conflict(labels::name)
                            .do_nothing()
                            .execute(c)
                            .await?;
                        let label_id: i64 = labels::table
                            .filter(labels::name.eq(name))
                            .select(labels::id)
                            .first(c)
                            .await?;
                        diesel::insert_into(conversation_labels::table)
                            .values((
                                conversation_labels::conversation_id.eq(conversation_id),
                                conversation_labels::label_id.eq(label_id),
                            ))
                            .on_conflict_do_nothing()
                            .execute(c)
                            .await?;
                    }
                }
                (updated, "conversation.labels", json!({"labels": names}))
            }
        };
        if updated.is_some() {
            let event = AuditEvent::new(action, "conversation", conversation_id).with_details(details);
            audit!(c, actor, event).await?;
        }
        Ok(updated)
    }).await)
}

/// Unassigned, active support conversations of the given inboxes, oldest activity first
/// (the router's waiting queue).
pub async fn waiting(
    conn: &mut DbConn,
    inbox_ids: &[i64],
    limit: i64,
) -> Result<Vec<Conversation>, StoreError> {
    Ok(db_run!(conn, c => conversations::table
        .filter(conversations::inbox_id.eq_any(inbox_ids))
        .filter(conversations::assignee_id.is_null())
        .filter(conversations::kind.eq(ConversationKind::Support))
        .filter(conversations::status.eq_any([ConversationStatus::Open, ConversationStatus::Pending]))
        .order(conversations::last_activity_at.asc())
        .limit(limit)
        .select(Conversation::as_select())
        .load(c)
        .await)?)
}

/// Active conversations assigned to each of the given agents (capacity checks).
pub async fn open_load(
    conn: &mut DbConn,
    agent_ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    let rows: Vec<(Option<i64>, i64)> = db_run!(conn, c => conversations::table
        .filter(conversations::assignee_id.eq_any(agent_ids))
        .filter(conversations::status.eq_any([
            ConversationStatus::Open, ConversationStatus::Pending, ConversationStatus::Snoozed,
        ]))
        .group_by(conversations::assignee_id)
        .select((conversations::assignee_id, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| id.map(|id| (id, n)))
        .collect())
}

/// The provider id of the customer's latest message up to `seq`, so the channel can tell
/// the customer it was read (WhatsApp's blue ticks cover it and everything before).
pub async fn last_inbound_external_id(
    conn: &mut DbConn,
    conversation_id: i64,
    seq: i64,
) -> Result<Option<String>, StoreError> {
    let found: Option<Option<String>> = db_run!(conn, c => messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .filter(messages::seq.le(seq))
        .filter(messages::direction.eq(Direction::Inbound))
        .filter(messages::external_id.is_not_null())
        .order(messages::seq.desc())
        .select(messages::external_id)
        .first(c)
        .await
        .optional())?;
    Ok(found.flatten())
}
