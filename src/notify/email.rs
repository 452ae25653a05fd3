//! Notification email: unread notifications reach agents who are not looking.
//!
//! Every `notifications.email_check_secs` the mailer reads the unread, unmailed
//! notifications of the last day and, per agent, mails those that are due: all of them when
//! the agent is away or offline, otherwise those unread for `email_after_minutes`. One
//! digest per agent per `email_digest_minutes`, never inside the agent's quiet hours, only
//! the kinds they chose. A notification is claimed (`emailed_at`) in the same statement
//! that checks nobody claimed it first, so two nodes never mail it twice; a failed send
//! gives the claim back and the next pass retries it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{NaiveDateTime, TimeZone, Timelike};
use prometheus_client::metrics::counter::Counter;
use switchboard_email::Mailbox;
use switchboard_email::outbound::{ReplyMail, render_reply};
use switchboard_email::smtp::{SmtpSender, SmtpSettings};
use url::Url;

use crate::actors::presence::Presence;
use crate::config::{NotificationEmail, NotificationSettings};
use crate::db::types::Availability;
use crate::db::{Database, StoreError};
use crate::store::notifications::{self as store, Notification, Settings};

/// Notifications older than this are never mailed (someone who was away for a week does
/// not want a week of them).
const MAX_AGE: chrono::Duration = chrono::Duration::hours(24);
/// Notifications read per query; a pass pages through all that may be due.
const PAGE: i64 = 1_000;
/// Most notifications one pass considers (then the rest waits for the next pass).
const PASS_LIMIT: usize = 50_000;
/// Lines listed in one digest; the rest are counted.
const DIGEST_LINES: usize = 25;

/// Counts of notification mail, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct MailerMetrics {
    pub(crate) sent: Counter,
    pub(crate) failed: Counter,
}

/// The mailer actor (started only when `notifications.smtp_host` is set).
pub(crate) struct Mailer {
    work: Arc<Work>,
    busy: bool,
}

struct Work {
    db: Database,
    presence: Arc<Presence>,
    sender: SmtpSender,
    from: String,
    public_url: Url,
    after: chrono::Duration,
    digest: chrono::Duration,
    metrics: Arc<MailerMetrics>,
}

impl Mailer {
    /// The mailer for `settings`; `None` when no SMTP server is configured.
    pub(crate) fn new(
        db: Database,
        presence: Arc<Presence>,
        settings: &NotificationSettings,
        public_url: Url,
        metrics: Arc<MailerMetrics>,
    ) -> Result<Option<(Self, Duration)>, String> {
        let Some(email) = &settings.email else {
            return Ok(None);
        };
        let sender = SmtpSender::new(smtp_settings(email))?;
        let work = Work {
            db,
            presence,
            sender,
            from: email.from.clone(),
            public_url,
            after: chrono::Duration::from_std(settings.email_after).unwrap_or(MAX_AGE),
            digest: chrono::Duration::from_std(settings.email_digest).unwrap_or(MAX_AGE),
            metrics,
        };
        Ok(Some((
            Self {
                work: Arc::new(work),
                busy: false,
            },
            settings.email_check,
        )))
    }
}

fn smtp_settings(email: &NotificationEmail) -> SmtpSettings {
    SmtpSettings {
        host: email.host.clone(),
        port: email.port,
        tls: email.tls,
        username: email.username.clone(),
        password: email.password.clone(),
        hello_name: None,
    }
}

/// Starts the mailer when email is configured.
pub(crate) fn start(
    db: Database,
    presence: Arc<Presence>,
    settings: &NotificationSettings,
    public_url: Url,
    metrics: Arc<MailerMetrics>,
) -> Option<Addr<Mailer>> {
    match Mailer::new(db, presence, settings, public_url, metrics) {
        Ok(Some((mailer, every))) => Some(Mailer::create(move |ctx| {
            ctx.run_interval(every, |_, ctx| ctx.notify(Pass));
            mailer
        })),
        Ok(None) => None,
        Err(error) => {
            tracing::error!(%error, "notification email is off: the SMTP settings cannot work");
            None
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pass;

#[derive(Message)]
#[rtype(result = "()")]
struct PassDone;

/// Stops the mailer (the hub's shutdown); a pass in flight finishes in its task.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopMailer;

impl Handler<StopMailer> for Mailer {
    type Result = ();
    fn handle(&mut self, _: StopMailer, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Actor for Mailer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!("notification mailer stopped");
    }
}

impl Handler<Pass> for Mailer {
    type Result = ();
    fn handle(&mut self, _: Pass, ctx: &mut Self::Context) {
        if self.busy {
            return;
        }
        self.busy = true;
        let work = self.work.clone();
        let addr = ctx.address();
        let span = tracing::debug_span!("notification_mail_pass");
        actix_web::rt::spawn(async move {
            use tracing::Instrument;
            if let Err(error) = work.pass().instrument(span).await {
                tracing::warn!(%error, "notification mail pass failed");
            }
            addr.do_send(PassDone);
        });
    }
}

impl Handler<PassDone> for Mailer {
    type Result = ();
    fn handle(&mut self, _: PassDone, _: &mut Self::Context) {
        self.busy = false;
    }
}

impl Work {
    async fn pass(&self) -> Result<(), StoreError> {
        let now = crate::store::now();
        let (pending, settings, agents) = {
            let conn = &mut self.db.reader().await?;
            let mut by_agent: BTreeMap<i64, Vec<Notification>> = BTreeMap::new();
            let (mut after, mut read) = (0, 0);
            loop {
                let page = store::unmailed(conn, now - MAX_AGE, after, PAGE).await?;
                let full = page.len() as i64 == PAGE;
                read += page.len();
                for n in page {
                    after = n.id;
                    by_agent.entry(n.agent_id).or_default().push(n);
                }
                if !full {
                    break;
                }
                if read >= PASS_LIMIT {
                    tracing::warn!(
                        read,
                        "notification mail backlog; the rest waits for the next pass"
                    );
                    break;
                }
            }
            if by_agent.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = by_agent.keys().copied().collect();
            let settings = store::settings_of_agents(conn, &ids).await?;
            let mut agents = BTreeMap::new();
            for id in &ids {
                if let Some(agent) = crate::store::agents::find(conn, *id).await? {
                    agents.insert(*id, agent);
                }
            }
            (by_agent, settings, agents)
        };
        for (agent_id, notifications) in pending {
            let (Some(agent), Some(prefs)) = (agents.get(&agent_id), settings.get(&agent_id))
            else {
                continue;
            };
            if !agent.active {
                continue;
            }
            let status = self.presence.status(agent_id);
            let due = due(&notifications, prefs, status, now, self.after, self.digest);
            if due.is_empty() {
                continue;
            }
            self.send(agent, due, now).await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        agent: &crate::store::agents::Agent,
        due: Vec<&Notification>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let ids: Vec<i64> = due.iter().map(|n| n.id).collect();
        let claim = {
            let conn = &mut self.db.writer().await?;
            store::claim_for_email(conn, agent.id, &ids, now, self.digest).await?
        };
        let due: Vec<&Notification> = due
            .into_iter()
            .filter(|n| claim.ids.contains(&n.id))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let raw = match render_reply(&self.digest_mail(agent, &due, now)) {
            Ok(raw) => raw,
            Err(error) => {
                // An agent's address lettre cannot take: retrying will not help.
                tracing::warn!(agent_id = agent.id, %error, "notification digest not rendered");
                self.metrics.failed.inc();
                return Ok(());
            }
        };
        let recipients = [agent.email.clone()];
        match self.sender.send(&self.from, &recipients, &raw).await {
            Ok(()) => {
                self.metrics.sent.inc();
                tracing::debug!(
                    agent_id = agent.id,
                    notifications = due.len(),
                    "digest sent"
                );
            }
            Err(error) => {
                self.metrics.failed.inc();
                tracing::warn!(agent_id = agent.id, %error, "notification digest not sent; retried next pass");
                let conn = &mut self.db.writer().await?;
                store::unclaim(conn, agent.id, &claim, now).await?;
            }
        }
        Ok(())
    }

    fn digest_mail(
        &self,
        agent: &crate::store::agents::Agent,
        due: &[&Notification],
        now: NaiveDateTime,
    ) -> ReplyMail {
        let subject = match due {
            [one] => one.body.chars().take(120).collect(),
            many => format!("{} new notifications in Switchboard", many.len()),
        };
        let mut text = format!("Hello {},\n\n", agent.name);
        for n in due.iter().take(DIGEST_LINES) {
            text.push_str(&format!("- {}\n", n.body));
            if let Some(conversation_id) = n.conversation_id {
                text.push_str(&format!("  {}\n", self.link(conversation_id)));
            }
        }
        if due.len() > DIGEST_LINES {
            text.push_str(&format!(
                "- and {} more in your inbox\n",
                due.len() - DIGEST_LINES
            ));
        }
        text.push_str(&format!(
            "\nYou get this mail because these are unread. Choose what is mailed, and your quiet \
             hours, on your profile: {}\n",
            self.public_url
                .join("profile")
                .map_or_else(|_| self.public_url.to_string(), |u| u.to_string())
        ));
        let domain = self.from.rsplit('@').next().unwrap_or("localhost");
        ReplyMail {
            from: Mailbox {
                address: self.from.clone(),
                name: Some("Switchboard".to_owned()),
            },
            to: vec![Mailbox {
                address: agent.email.clone(),
                name: Some(agent.name.clone()),
            }],
            subject,
            text,
            message_id: format!(
                "<notifications-{}-{}@{domain}>",
                agent.id,
                now.and_utc().timestamp_millis()
            ),
            automatic: true,
            ..ReplyMail::default()
        }
    }

    fn link(&self, conversation_id: i64) -> String {
        self.public_url
            .join(&format!("conversations/{conversation_id}"))
            .map_or_else(|_| self.public_url.to_string(), |u| u.to_string())
    }
}

/// The notifications to mail to one agent now: none inside their quiet hours or before the
/// digest interval since the last mail, else the chosen kinds that are due (all of them
/// when the agent is away or offline, those unread for `after` otherwise).
fn due<'a>(
    notifications: &'a [Notification],
    prefs: &Settings,
    status: Availability,
    now: NaiveDateTime,
    after: chrono::Duration,
    digest: chrono::Duration,
) -> Vec<&'a Notification> {
    if !prefs.email_enabled || in_quiet_hours(prefs, now) {
        return Vec::new();
    }
    if prefs
        .last_emailed_at
        .is_some_and(|last| now < last + digest)
    {
        return Vec::new();
    }
    let absent = matches!(status, Availability::Away | Availability::Offline);
    notifications
        .iter()
        .filter(|n| prefs.email_kinds.contains(&n.kind))
        .filter(|n| absent || n.created_at + after <= now)
        .collect()
}

/// Whether `now` (UTC) falls in the agent's quiet hours in their zone; an unknown zone
/// counts as UTC.
fn in_quiet_hours(prefs: &Settings, now: NaiveDateTime) -> bool {
    let Some((start, end)) = prefs.quiet else {
        return false;
    };
    let zone: chrono_tz::Tz = prefs.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let local = zone.from_utc_datetime(&now);
    let minute = i64::from(local.hour() * 60 + local.minute());
    match start.cmp(&end) {
        std::cmp::Ordering::Less => start <= minute && minute < end,
        // A window that wraps midnight (22:00-07:00).
        std::cmp::Ordering::Greater => minute >= start || minute < end,
        std::cmp::Ordering::Equal => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn notification(id: i64, kind: &str, created: &str) -> Notification {
        Notification {
            id,
            agent_id: 1,
            kind: kind.to_owned(),
            conversation_id: Some(7),
            actor_id: None,
            body: format!("n{id}"),
            created_at: at(created),
            read_at: None,
        }
    }

    fn ids(list: Vec<&Notification>) -> Vec<i64> {
        list.into_iter().map(|n| n.id).collect()
    }

    #[test]
    fn online_agents_get_mail_after_the_delay_absent_ones_at_once() {
        let list = [
            notification(1, "assigned", "2026-12-07 10:00"),
            notification(2, "mention", "2026-12-07 10:08"),
        ];
        let prefs = Settings::default();
        let now = at("2026-12-07 10:10");
        let ten = chrono::Duration::minutes(10);
        let after = |status| ids(due(&list, &prefs, status, now, ten, ten));
        assert_eq!(after(Availability::Online), vec![1]);
        assert_eq!(after(Availability::Busy), vec![1]);
        assert_eq!(after(Availability::Away), vec![1, 2]);
        assert_eq!(after(Availability::Offline), vec![1, 2]);
    }

    #[test]
    fn kinds_switches_and_the_digest_interval_hold_mail_back() {
        let list = [
            notification(1, "message", "2026-12-07 09:00"),
            notification(2, "sla_breach", "2026-12-07 09:00"),
        ];
        let now = at("2026-12-07 10:00");
        let ten = chrono::Duration::minutes(10);
        let mut prefs = Settings {
            email_kinds: vec!["sla_breach".into()],
            ..Settings::default()
        };
        assert_eq!(
            ids(due(&list, &prefs, Availability::Away, now, ten, ten)),
            vec![2]
        );
        prefs.last_emailed_at = Some(at("2026-12-07 09:55"));
        assert!(due(&list, &prefs, Availability::Away, now, ten, ten).is_empty());
        prefs.last_emailed_at = Some(at("2026-12-07 09:50"));
        assert_eq!(
            ids(due(&list, &prefs, Availability::Away, now, ten, ten)),
            vec![2]
        );
        prefs.email_enabled = false;
        assert!(due(&list, &prefs, Availability::Away, now, ten, ten).is_empty());
    }

    #[test]
    fn quiet_hours_are_local_and_may_wrap_midnight() {
        // 22:00-07:00 in Berlin (UTC+1 in December).
        let prefs = Settings {
            quiet: Some((22 * 60, 7 * 60)),
            time_zone: "Europe/Berlin".into(),
            ..Settings::default()
        };
        assert!(in_quiet_hours(&prefs, at("2026-12-07 21:30"))); // 22:30 local
        assert!(in_quiet_hours(&prefs, at("2026-12-07 05:59"))); // 06:59 local
        assert!(!in_quiet_hours(&prefs, at("2026-12-07 06:00"))); // 07:00 local
        assert!(!in_quiet_hours(&prefs, at("2026-12-07 20:59"))); // 21:59 local
        // 12:00-13:00 New York (UTC-5).
        let lunch = Settings {
            quiet: Some((12 * 60, 13 * 60)),
            time_zone: "America/New_York".into(),
            ..Settings::default()
        };
        assert!(in_quiet_hours(&lunch, at("2026-12-07 17:30")));
        assert!(!in_quiet_hours(&lunch, at("2026-12-07 12:30")));
        assert!(!in_quiet_hours(
            &Settings::default(),
            at("2026-12-07 03:00")
        ));
    }
}
