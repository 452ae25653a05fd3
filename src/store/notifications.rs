//! Agents' notifications: written in batches by the notifier, read and marked by their
//! agent only.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::schema::notifications;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// A stored notification.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Notification {
    pub id: i64,
    pub agent_id: i64,
    pub kind: String,
    pub conversation_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// One to write.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = notifications)]
pub struct NewNotification {
    pub agent_id: i64,
    pub kind: &'static str,
    pub conversation_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub body: String,
}

/// Writes a batch in one transaction; answers the stored rows.
pub async fn insert(
    conn: &mut DbConn,
    batch: &[NewNotification],
) -> Result<Vec<Notification>, StoreError> {
    let at = super::now();
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        let mut stored = Vec::with_capacity(batch.len());
        for n in batch {
            let row = diesel::insert_into(notifications::table)
                .values((n, notifications::created_at.eq(at)))
                .returning(Notification::as_returning())
                .get_result(c)
                .await?;
            stored.push(row);
        }
        Ok(stored)
    }).await)
}

/// An agent's notifications, newest first; `before` is the id cursor.
pub async fn list(
    conn: &mut DbConn,
    agent_id: i64,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let before = before.unwrap_or(i64::MAX);
    Ok(db_run!(conn, c => {
        let mut q = notifications::table
            .filter(notifications::agent_id.eq(agent_id))
            .filter(notifications::id.lt(before))
            .order(notifications::id.desc())
            .limit(limit)
            .select(Notification::as_select())
            .into_boxed();
        if unread_only {
            q = q.filter(notifications::read_at.is_null());
        }
        q.load(c).await
    })?)
}

/// How many of an agent's notifications are unread.
pub async fn unread_count(conn: &mut DbConn, agent_id: i64) -> Result<i64, StoreError> {
    Ok(db_run!(conn, c => notifications::table
        .filter(notifications::agent_id.eq(agent_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(c)
        .await)?)
}

/// Marks one (`Some(id)`) or all of an agent's notifications read; answers how many
/// changed. Another agent's notification is never touched.
pub async fn mark_read(
    conn: &mut DbConn,
    agent_id: i64,
    id: Option<i64>,
) -> Result<usize, StoreError> {
    let at = super::now();
    Ok(db_run!(conn, c => {
        let mut q = diesel::update(notifications::table)
            .filter(notifications::agent_id.eq(agent_id))
            .filter(notifications::read_at.is_null())
            .into_boxed();
        if let Some(id) = id {
            q = q.filter(notifications::id.eq(id));
        }
        q.set(notifications::read_at.eq(at)).execute(c).await
    })?)
}

/// Whether the notification exists and is the agent's.
pub async fn owned(conn: &mut DbConn, agent_id: i64, id: i64) -> Result<bool, StoreError> {
    let found: i64 = db_run!(conn, c => notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::agent_id.eq(agent_id))
        .count()
        .get_result(c)
        .await)?;
    Ok(found > 0)
}

/// The kinds of notification, as stored; the settings' email kinds are a subset.
pub const KINDS: [&str; 6] = [
    "assigned",
    "mention",
    "message",
    "sla_warning",
    "sla_breach",
    "inbox_conversation",
];

/// An agent's notification settings; [`settings`] answers the defaults for an agent who
/// never saved any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Whether unread notifications are mailed at all.
    pub email_enabled: bool,
    /// Which kinds are mailed.
    pub email_kinds: Vec<String>,
    /// Quiet hours as minutes of the day (start, end) in `time_zone`; the window may wrap
    /// midnight. No mail goes out inside it.
    pub quiet: Option<(i64, i64)>,
    /// An IANA zone name, checked by the route.
    pub time_zone: String,
    /// When the last digest went out (digests are spaced by the configured interval).
    pub last_emailed_at: Option<NaiveDateTime>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            email_enabled: true,
            email_kinds: KINDS.iter().map(|k| (*k).to_owned()).collect(),
            quiet: None,
            time_zone: "UTC".to_owned(),
            last_emailed_at: None,
        }
    }
}

type SettingsRow = (
    i64,
    bool,
    String,
    Option<i64>,
    Option<i64>,
    String,
    Option<NaiveDateTime>,
);

fn settings_of(row: SettingsRow) -> (i64, Settings) {
    let (agent_id, email_enabled, kinds, start, end, time_zone, last_emailed_at) = row;
    let email_kinds = serde_json::from_str::<Vec<String>>(&kinds)
        .unwrap_or_else(|_| Settings::default().email_kinds);
    let quiet = start.zip(end);
    (
        agent_id,
        Settings {
            email_enabled,
            email_kinds,
            quiet,
            time_zone,
            last_emailed_at,
        },
    )
}

/// The settings of the given agents; those without a row get the defaults.
pub async fn settings_of_agents(
    conn: &mut DbConn,
    agent_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Settings>, StoreError> {
    use crate::db::schema::notification_settings as ns;
    let rows: Vec<SettingsRow> = db_run!(conn, c => ns::table
        .filter(ns::agent_id.eq_any(agent_ids))
        .select((
            ns::agent_id,
            ns::email_enabled,
            ns::email_kinds,
            ns::quiet_start_minute,
            ns::quiet_end_minute,
            ns::time_zone,
            ns::last_emailed_at,
        ))
        .load(c)
        .await)?;
    let mut out: std::collections::HashMap<i64, Settings> =
        rows.into_iter().map(settings_of).collect();
    for id in agent_ids {
        out.entry(*id).or_default();
    }
    Ok(out)
}

/// One agent's settings (the defaults when never saved).
pub async fn settings(conn: &mut DbConn, agent_id: i64) -> Result<Settings, StoreError> {
    Ok(settings_of_agents(conn, &[agent_id])
        .await?
        .remove(&agent_id)
        .unwrap_or_default())
}

/// Saves an agent's settings and the inboxes they watch in one transaction (the digest
/// time is kept).
pub async fn save_settings(
    conn: &mut DbConn,
    agent_id: i64,
    settings: &Settings,
    watched: &[i64],
) -> Result<(), StoreError> {
    use crate::db::schema::inbox_watchers as w;
    use crate::db::schema::notification_settings as ns;
    let at = super::now();
    let kinds = serde_json::json!(settings.email_kinds).to_string();
    let values = (
        ns::agent_id.eq(agent_id),
        ns::email_enabled.eq(settings.email_enabled),
        ns::email_kinds.eq(&kinds),
        ns::quiet_start_minute.eq(settings.quiet.map(|q| q.0)),
        ns::quiet_end_minute.eq(settings.quiet.map(|q| q.1)),
        ns::time_zone.eq(&settings.time_zone),
        ns::updated_at.eq(at),
    );
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::insert_into(ns::table)
            .values(values)
            .on_conflict(ns::agent_id)
            .do_update()
            .set((
                ns::email_enabled.eq(settings.email_enabled),
                ns::email_kinds.eq(&kinds),
                ns::quiet_start_minute.eq(settings.quiet.map(|q| q.0)),
                ns::quiet_end_minute.eq(settings.quiet.map(|q| q.1)),
                ns::time_zone.eq(&settings.time_zone),
                ns::updated_at.eq(at),
            ))
            .execute(c)
            .await?;
        diesel::delete(w::table.filter(w::agent_id.eq(agent_id))).execute(c).await?;
        for inbox_id in watched {
            diesel::insert_into(w::table)
                .values((w::agent_id.eq(agent_id), w::inbox_id.eq(inbox_id), w::created_at.eq(at)))
                .execute(c)
                .await?;
        }
        Ok(())
    }).await)
}

/// The inboxes an agent watches.
pub async fn watched_inboxes(conn: &mut DbConn, agent_id: i64) -> Result<Vec<i64>, StoreError> {
    use crate::db::schema::inbox_watchers as w;
    Ok(db_run!(conn, c => w::table
        .filter(w::agent_id.eq(agent_id))
        .order(w::inbox_id)
        .select(w::inbox_id)
        .load(c)
        .await)?)
}

/// The agents who watch an inbox (the notifier checks they may still see it).
pub async fn watchers(conn: &mut DbConn, inbox_id: i64) -> Result<Vec<i64>, StoreError> {
    use crate::db::schema::inbox_watchers as w;
    Ok(db_run!(conn, c => w::table
        .filter(w::inbox_id.eq(inbox_id))
        .order(w::agent_id)
        .select(w::agent_id)
        .load(c)
        .await)?)
}

/// Unread notifications not yet mailed, created after `since`, of active agents who want
/// email of their kind (no settings row: every kind); oldest first, `limit` after the id
/// `after`. What the mailer considers: the rest waits only for time (delay, quiet hours,
/// the digest interval), so paging through it all is bounded by what is about to go out.
pub async fn unmailed(
    conn: &mut DbConn,
    since: NaiveDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    use crate::db::schema::agents;
    use crate::db::schema::notification_settings as ns;
    use diesel::dsl::{exists, not};
    Ok(db_run!(conn, c => notifications::table
        .filter(notifications::read_at.is_null())
        .filter(notifications::emailed_at.is_null())
        .filter(notifications::created_at.gt(since))
        .filter(notifications::id.gt(after))
        .filter(notifications::agent_id.eq_any(
            agents::table.filter(agents::active.eq(true)).select(agents::id),
        ))
        .filter(not(exists(
            ns::table
                .filter(ns::agent_id.eq(notifications::agent_id))
                .filter(
                    ns::email_enabled.eq(false).or(not(ns::email_kinds.like(
                        diesel::dsl::sql::<diesel::sql_types::Text>("'%\"'")
                            .concat(notifications::kind)
                            .concat("\"%"),
                    ))),
                ),
        )))
        .order(notifications::id)
        .limit(limit)
        .select(Notification::as_select())
        .load(c)
        .await)?)
}

/// What a claim took: the notifications to send and the agent's digest time before it
/// (put back if the send fails).
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub ids: Vec<i64>,
    pub previous_digest: Option<NaiveDateTime>,
}

/// Claims notifications for one digest, in one transaction: first the agent's digest slot
/// (`last_emailed_at` moves to `at` only if the last digest is at least `interval` old),
/// then the notifications nobody marked first (another node, a read). Answers the ids this
/// call claimed, which it must send; none when another node sent a digest meanwhile.
pub async fn claim_for_email(
    conn: &mut DbConn,
    agent_id: i64,
    ids: &[i64],
    at: NaiveDateTime,
    interval: chrono::Duration,
) -> Result<Claim, StoreError> {
    use crate::db::schema::notification_settings as ns;
    let defaults = serde_json::json!(Settings::default().email_kinds).to_string();
    let open_before = at - interval;
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::insert_into(ns::table)
            .values((
                ns::agent_id.eq(agent_id),
                ns::email_kinds.eq(&defaults),
                ns::updated_at.eq(at),
            ))
            .on_conflict(ns::agent_id)
            .do_nothing()
            .execute(c)
            .await?;
        let previous: Option<NaiveDateTime> = ns::table
            .find(agent_id)
            .select(ns::last_emailed_at)
            .first(c)
            .await?;
        let slot = diesel::update(ns::table.find(agent_id))
            .filter(
                ns::last_emailed_at
                    .is_null()
                    .or(ns::last_emailed_at.le(open_before)),
            )
            .set(ns::last_emailed_at.eq(at))
            .execute(c)
            .await?;
        if slot == 0 {
            return Ok(Claim::default());
        }
        let claimed: Vec<i64> = diesel::update(notifications::table)
            .filter(notifications::id.eq_any(ids))
            .filter(notifications::agent_id.eq(agent_id))
            .filter(notifications::read_at.is_null())
            .filter(notifications::emailed_at.is_null())
            .set(notifications::emailed_at.eq(at))
            .returning(notifications::id)
            .get_results(c)
            .await?;
        if claimed.is_empty() {
            diesel::update(ns::table.find(agent_id))
                .set(ns::last_emailed_at.eq(previous))
                .execute(c)
                .await?;
        }
        Ok(Claim { ids: claimed, previous_digest: previous })
    }).await)
}

/// Gives a claim back after a failed send, so the next pass retries it: the notifications
/// are unmarked and the agent's digest time is what it was.
pub async fn unclaim(
    conn: &mut DbConn,
    agent_id: i64,
    claim: &Claim,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    use crate::db::schema::notification_settings as ns;
    db_run!(conn, c => c.transaction::<_, StoreError, _>(async |c| {
        diesel::update(notifications::table)
            .filter(notifications::id.eq_any(&claim.ids))
            .set(notifications::emailed_at.eq(None::<NaiveDateTime>))
            .execute(c)
            .await?;
        diesel::update(ns::table.find(agent_id))
            .filter(ns::last_emailed_at.eq(at))
            .set(ns::last_emailed_at.eq(claim.previous_digest))
            .execute(c)
            .await?;
        Ok(())
    }).await)
}
