//! Satisfaction surveys (issue #19): one per resolution of a conversation whose inbox asks
//! (scheduled in the resolving transaction, see `conversations::change`), handed to the
//! customer's channel once due, answered (and re-answered within a week) by the customer.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;

use super::{Actor, AuditEvent};
use crate::db::schema::{conversations, csat_surveys};
use crate::db::types::ConversationStatus;
use crate::db::{DbConn, StoreError};
use crate::domain::csat::CsatScale;
use crate::{audit, db_run};

/// How long after it was asked an answer may still change.
pub const ANSWER_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

#[derive(Debug, Clone, Queryable, Selectable)]
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

/// Marks every survey due by `now` as sent and returns them (a statement per survey claims
/// it, so two nodes never hand one out twice), oldest first, at most `limit`.
pub async fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Survey>, StoreError> {
    db_run!(conn, c => {
        let due: Vec<(i64, NaiveDateTime, ConversationStatus, Option<NaiveDateTime>)> = csat_surveys::table
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
            ))
            .load(c)
            .await?;
        // A conversation reopened (or resolved again) before its survey came due: that
        // resolution is not asked about; its survey goes.
        let (current, stale): (Vec<_>, Vec<_>) = due.into_iter().partition(|(_, at, status, resolved)| {
            *status == ConversationStatus::Resolved && *resolved == Some(*at)
        });
        let stale: Vec<i64> = stale.into_iter().map(|(id, ..)| id).collect();
        if !stale.is_empty() {
            diesel::delete(
                csat_surveys::table
                    .filter(csat_surveys::id.eq_any(&stale))
                    .filter(csat_surveys::sent_at.is_null()),
            )
            .execute(c)
            .await?;
        }
        let mut claimed = Vec::with_capacity(current.len());
        for (id, ..) in current {
            let survey = diesel::update(
                csat_surveys::table
                    .find(id)
                    .filter(csat_surveys::sent_at.is_null()),
            )
            .set(csat_surveys::sent_at.eq(now))
            .returning(Survey::as_returning())
            .get_result(c)
            .await
            .optional()?;
            claimed.extend(survey);
        }
        Ok::<_, StoreError>(claimed)
    })
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

/// Records (or changes) the customer's answer, checked against the survey's scale and window,
/// and audits it on the conversation.
pub async fn answer(
    conn: &mut DbConn,
    conversation_id: i64,
    survey_id: i64,
    rating: i64,
    comment: Option<&str>,
    now: NaiveDateTime,
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
        // The same answer again changes nothing (and adds no line to the thread).
        if survey.rating == Some(rating) && survey.comment.as_deref() == comment {
            return Ok(Ok(survey));
        }
        let saved = diesel::update(csat_surveys::table.find(survey_id))
            .set((
                csat_surveys::rating.eq(Some(rating)),
                csat_surveys::comment.eq(comment),
                csat_surveys::answered_at.eq(Some(now)),
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
