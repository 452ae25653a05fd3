//! Satisfaction surveys (issue #19): one per resolution of a conversation whose inbox asks
//! (scheduled in the resolving transaction, see `conversations::change`), handed to the
//! customer's channel once due, answered (and re-answered within a week) by the customer.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent};
use crate::db::schema::{conversations, csat_surveys, inboxes};
use crate::db::types::{ChannelType, ConversationStatus};
use crate::db::{DbConn, StoreError};
use crate::domain::csat::CsatScale;
use crate::{audit, db_run};

/// How long after it was asked an answer may still change.
pub const ANSWER_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = csat_surveys)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Survey {
    pub id: i64,
    pub conversation_id: i64,
    pub inbox_id: i64,
    pub resolved_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    /// When it went to the customer (`None`: not due yet).
    pub sent_at: Option<NaiveDateTime>,
    pub question: String,
    /// `five` or `thumbs` ([`crate::domain::csat::CsatScale`]).
    pub scale: String,
    /// 1 to 5 (thumbs: 1 or 5); `None` until answered.
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub answered_at: Option<NaiveDateTime>,
    /// When the customer gave the stored answer by their channel's clock (see [`answer`]).
    pub given_at: Option<NaiveDateTime>,
}

impl Survey {
    /// Whether the customer may (still) answer it at `now`.
    pub fn open_at(&self, now: NaiveDateTime) -> bool {
        self.sent_at.is_some_and(|sent| now <= sent + ANSWER_WINDOW)
    }
}

/// Whether any survey is due by `now` and not yet handed out (read before claiming, so an
/// installation without surveys never takes the writer for them).
pub async fn any_due(conn: &mut DbConn, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n: i64 = db_run!(conn, c => csat_surveys::table
        .filter(csat_surveys::sent_at.is_null())
        .filter(csat_surveys::due_at.le(now))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// How an inbox's channel puts a survey to the customer, as the caller knows it from the
/// channel's capabilities (the store does not know channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskedOn {
    pub delivery: switchboard_channel::SurveyDelivery,
    /// The channel delivers free-form messages only this long after the customer's last one.
    pub reply_window_secs: Option<u64>,
}

/// What happened to a survey that came due.
// Short-lived, moved once to its publisher; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Asked {
    /// The channel shows it itself (the widget): hand it to the customer's sockets.
    Live,
    /// Queued as a message in the outbox (publish it, wake the channel).
    Message {
        message: super::conversations::Message,
        conversation: super::conversations::Conversation,
    },
    /// Not put to the customer (their reply window is closed, the channel cannot ask): the
    /// survey is gone, the thread may say why.
    NotAsked {
        note: Option<super::conversations::Message>,
    },
}

/// A survey claimed for asking.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub survey: Survey,
    pub asked: Asked,
}

/// Claims every survey due by `now` (oldest first, at most `limit`) and asks it the way its
/// inbox's channel does (`asked_on`): each in its own transaction, a guarded UPDATE of
/// `sent_at` (so two nodes never ask one twice) together with its outgoing message and
/// outbox entry (so a crash never leaves a survey marked sent but never queued).
pub async fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
    asked_on: impl Fn(ChannelType) -> AskedOn,
) -> Result<Vec<Claimed>, StoreError> {
    let due: Vec<(
        i64,
        NaiveDateTime,
        ConversationStatus,
        Option<NaiveDateTime>,
        i64,
    )> = db_run!(conn, c => csat_surveys::table
            .inner_join(conversations::table)
            .filter(csat_surveys::sent_at.is_null())
            .filter(csat_surveys::due_at.le(now))
            .order(csat_surveys::due_at)
            .limit(limit)
            .select((
                csat_surveys::id,
                csat_surveys::resolved_at,
                conversations::status,
                conversations::resolved_at,
                csat_surveys::inbox_id,
            ))
            .load(c)
            .await)?;
    // A conversation reopened (or resolved again) before its survey came due: that
    // resolution is not asked about; its survey goes.
    let (current, stale): (Vec<_>, Vec<_>) =
        due.into_iter().partition(|(_, at, status, resolved, _)| {
            *status == ConversationStatus::Resolved && *resolved == Some(*at)
        });
    let stale: Vec<i64> = stale.into_iter().map(|(id, ..)| id).collect();
    if !stale.is_empty() {
        db_run!(conn, c => diesel::delete(
            csat_surveys::table
                .filter(csat_surveys::id.eq_any(&stale))
                .filter(csat_surveys::sent_at.is_null()),
        )
        .execute(c)
        .await)?;
    }
    let inbox_ids: Vec<i64> = current.iter().map(|(.., inbox_id)| *inbox_id).collect();
    let types: HashMap<i64, ChannelType> = db_run!(conn, c => inboxes::table
        .filter(inboxes::id.eq_any(&inbox_ids))
        .select((inboxes::id, inboxes::channel_type))
        .load::<(i64, ChannelType)>(c)
        .await)?
    .into_iter()
    .collect();
    let mut claimed = Vec::with_capacity(current.len());
    for (id, .., inbox_id) in current {
        let how = types.get(&inbox_id).copied().map(&asked_on);
        crate::db::begin(conn).await?;
        let done = match ask(conn, id, now, how).await {
            Ok(done) => crate::db::commit(conn).await.map(|()| done),
            Err(error) => Err(error),
        };
        match done {
            Ok(done) => claimed.extend(done),
            // One survey that cannot be asked now does not hold up the others (nor hide
            // the ones already committed from their publisher); it is tried next round.
            Err(error) => {
                let _ = crate::db::rollback(conn).await;
                tracing::warn!(%error, survey_id = id, "cannot ask a due satisfaction survey");
            }
        }
    }
    Ok(claimed)
}

/// What a survey says when its channel's reply window has closed.
const WINDOW_CLOSED_NOTE: &str = "No satisfaction survey was sent: this channel delivers it only \
    within its reply window after the customer's last message, and that window had closed.";

/// Claims one due survey and asks it, inside the caller's transaction; `None` when another
/// node claimed it first.
async fn ask(
    conn: &mut DbConn,
    survey_id: i64,
    now: NaiveDateTime,
    how: Option<AskedOn>,
) -> Result<Option<Claimed>, StoreError> {
    let survey: Option<Survey> = db_run!(conn, c => diesel::update(
        csat_surveys::table
            .find(survey_id)
            .filter(csat_surveys::sent_at.is_null()),
    )
    .set(csat_surveys::sent_at.eq(now))
    .returning(Survey::as_returning())
    .get_result(c)
    .await
    .optional())?;
    let Some(survey) = survey else {
        return Ok(None);
    };
    let drop_survey = async |conn: &mut DbConn| -> Result<(), StoreError> {
        db_run!(conn, c => diesel::delete(csat_surveys::table.find(survey_id)).execute(c).await)?;
        Ok(())
    };
    // Still the resolution it asks about, under the conversation's lock (an agent or the
    // customer reopening it meanwhile waits, or has already won: nothing is asked then).
    super::conversations::lock(conn, survey.conversation_id).await?;
    let conversation = super::conversations::find(conn, survey.conversation_id).await?;
    let current = conversation.as_ref().is_some_and(|c| {
        c.status == ConversationStatus::Resolved && c.resolved_at == Some(survey.resolved_at)
    });
    if !current {
        drop_survey(conn).await?;
        return Ok(Some(Claimed {
            survey,
            asked: Asked::NotAsked { note: None },
        }));
    }
    use switchboard_channel::SurveyDelivery;
    let asked = match how.map(|h| (h.delivery, h.reply_window_secs)) {
        Some((SurveyDelivery::Live, _)) => Asked::Live,
        // The inbox is gone or its type cannot ask (its settings were written before).
        None | Some((SurveyDelivery::None, _)) => {
            drop_survey(conn).await?;
            Asked::NotAsked { note: None }
        }
        // Nobody to send it to: it would only fail in the outbox.
        Some((SurveyDelivery::Message, _))
            if conversation.as_ref().and_then(|c| c.contact_id).is_none() =>
        {
            drop_survey(conn).await?;
            Asked::NotAsked { note: None }
        }
        Some((SurveyDelivery::Message, window)) => {
            let closed = match (window, conversation.as_ref().and_then(|c| c.contact_id)) {
                (Some(secs), Some(contact_id)) => {
                    let last =
                        super::contacts::last_inbound_at(conn, survey.inbox_id, contact_id).await?;
                    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 1000);
                    last.is_none_or(|l| l + chrono::TimeDelta::seconds(secs) <= now)
                }
                _ => false,
            };
            if closed {
                drop_survey(conn).await?;
                let note = super::conversations::store_activity(
                    conn,
                    survey.conversation_id,
                    WINDOW_CLOSED_NOTE,
                )
                .await?;
                Asked::NotAsked { note }
            } else {
                let request = switchboard_channel::SurveyRequest {
                    survey_id: survey.id.to_string(),
                    question: survey.question.clone(),
                    scale: CsatScale::parse(&survey.scale).unwrap_or_default(),
                    links: Vec::new(),
                };
                match super::conversations::store_survey_message(
                    conn,
                    survey.conversation_id,
                    &request,
                )
                .await?
                {
                    Some((message, conversation)) => Asked::Message {
                        message,
                        conversation,
                    },
                    None => {
                        drop_survey(conn).await?;
                        Asked::NotAsked { note: None }
                    }
                }
            }
        }
    };
    Ok(Some(Claimed { survey, asked }))
}

/// The survey the visitor may answer now: asked about the conversation's current resolution
/// (it is resolved, at that time), and asked less than [`ANSWER_WINDOW`] ago.
pub async fn open_survey(
    conn: &mut DbConn,
    conversation_id: i64,
    now: NaiveDateTime,
) -> Result<Option<Survey>, StoreError> {
    let found: Option<Survey> = db_run!(conn, c => csat_surveys::table
        .inner_join(conversations::table)
        .filter(csat_surveys::conversation_id.eq(conversation_id))
        .filter(csat_surveys::sent_at.is_not_null())
        .filter(conversations::status.eq(ConversationStatus::Resolved))
        .filter(conversations::resolved_at.eq(csat_surveys::resolved_at.nullable()))
        .order(csat_surveys::id.desc())
        .select(Survey::as_select())
        .first(c)
        .await
        .optional())?;
    Ok(found.filter(|s| s.open_at(now)))
}

/// A survey by id.
pub async fn find(conn: &mut DbConn, survey_id: i64) -> Result<Option<Survey>, StoreError> {
    Ok(db_run!(conn, c => csat_surveys::table
        .find(survey_id)
        .select(Survey::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The newest answered survey of each conversation in `ids`.
pub async fn latest_answers(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<HashMap<i64, Survey>, StoreError> {
    let rows: Vec<Survey> = db_run!(conn, c => csat_surveys::table
        .filter(csat_surveys::conversation_id.eq_any(ids))
        .filter(csat_surveys::rating.is_not_null())
        .order(csat_surveys::id.asc())
        .select(Survey::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(|s| (s.conversation_id, s)).collect())
}

/// Why an answer was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum AnswerRefusal {
    /// No such survey for this conversation, or not asked yet.
    Unknown,
    /// Asked more than [`ANSWER_WINDOW`] ago.
    Closed,
    /// Not an answer on the survey's scale (thumbs take 1 or 5).
    OffScale,
}

impl AnswerRefusal {
    /// Why, in the customer's words.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Unknown => "no such survey",
            Self::Closed => "this survey was asked more than a week ago and is closed",
            Self::OffScale => "that rating is not on this survey's scale",
        }
    }
}

/// The conversation of survey `survey_id` if it was asked in `inbox_id` of the customer who
/// is `identifier` there: an answer from a channel is taken only from the survey's own
/// customer, whatever id a button or an integrator sent.
pub async fn owned_by(
    conn: &mut DbConn,
    survey_id: i64,
    inbox_id: i64,
    identifier: &str,
) -> Result<Option<i64>, StoreError> {
    use crate::db::schema::contact_identities;
    Ok(db_run!(conn, c => csat_surveys::table
        .inner_join(conversations::table)
        .inner_join(
            contact_identities::table.on(contact_identities::contact_id
                .nullable()
                .eq(conversations::contact_id)
                .and(contact_identities::inbox_id.eq(csat_surveys::inbox_id))),
        )
        .filter(csat_surveys::id.eq(survey_id))
        .filter(csat_surveys::inbox_id.eq(inbox_id))
        .filter(contact_identities::identifier.eq(identifier))
        .select(csat_surveys::conversation_id)
        .first::<i64>(c)
        .await
        .optional())?)
}

/// What an answer says about the customer's comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comment<'a> {
    /// The channel carries none (a tapped button): the earlier comment stays.
    Unchanged,
    /// What the customer wrote (`None`: they left the box empty).
    Given(Option<&'a str>),
}

/// Records (or changes) the customer's answer, checked against the survey's scale and window,
/// and audits it on the conversation. `given_at` is when the customer answered by the
/// channel's clock, if it says (else `now`): an answer given before the stored one (a
/// webhook redelivered late) changes nothing. `answered_at` is always the hub's `now`.
#[allow(clippy::too_many_arguments)]
pub async fn answer(
    conn: &mut DbConn,
    conversation_id: i64,
    survey_id: i64,
    rating: i64,
    comment: Comment<'_>,
    now: NaiveDateTime,
    given_at: Option<NaiveDateTime>,
    actor: &Actor,
) -> Result<Result<Survey, AnswerRefusal>, StoreError> {
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let Some(survey) = csat_surveys::table
            .find(survey_id)
            .filter(csat_surveys::conversation_id.eq(conversation_id))
            .select(Survey::as_select())
            .first(c)
            .await
            .optional()?
        else {
            return Ok(Err(AnswerRefusal::Unknown));
        };
        if survey.sent_at.is_none() {
            return Ok(Err(AnswerRefusal::Unknown));
        }
        if !survey.open_at(now) {
            return Ok(Err(AnswerRefusal::Closed));
        }
        if !CsatScale::parse(&survey.scale).unwrap_or(CsatScale::Five).accepts(rating) {
            return Ok(Err(AnswerRefusal::OffScale));
        }
        // The channel's clock (never ahead of ours): compared only with the survey's other
        // answers, which come from the same channel's clock.
        let given = given_at.map_or(now, |at| at.min(now));
        let comment = match comment {
            Comment::Unchanged => survey.comment.clone(),
            Comment::Given(text) => text.map(str::to_owned),
        };
        // The same answer again changes nothing (and adds no line to the thread), nor does
        // one given before the stored answer and delivered late.
        if (survey.rating == Some(rating) && survey.comment == comment)
            || survey.given_at.is_some_and(|earlier| earlier > given)
        {
            return Ok(Ok(survey));
        }
        let saved = diesel::update(csat_surveys::table.find(survey_id))
            .set((
                csat_surveys::rating.eq(Some(rating)),
                csat_surveys::comment.eq(&comment),
                csat_surveys::answered_at.eq(Some(now)),
                csat_surveys::given_at.eq(Some(given)),
            ))
            .returning(Survey::as_returning())
            .get_result(c)
            .await?;
        let event = AuditEvent::new("conversation.csat", "conversation", conversation_id)
            .with_details(json!({
                "survey_id": survey_id.to_string(), "rating": rating, "scale": saved.scale,
                "comment": comment, "changed": survey.rating.is_some(),
            }));
        audit!(c, actor, event).await?;
        Ok(Ok(saved))
    }).await)
}
