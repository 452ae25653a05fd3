//! The notifier: turns what happened into agents' notifications (the bell in the inbox).
//!
//! Producers (the conversation actors, the inbound writer) hand it [`Intent`]s after their
//! commit with `try_send`; it gathers them for a quarter second, drops what nobody needs to
//! hear (your own actions; a second "new message" for the same conversation in one batch),
//! writes the rest in one transaction and publishes each to its agent's sockets as
//! `notification.created`. Notifications are derived data: one lost in a crash between a
//! commit and the next flush is not refetched (the conversation itself is safe).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::db::types::Role;
use crate::db::{Database, StoreError};
use crate::realtime::EventHub;
use crate::store::notifications::{self as store, NewNotification};

mod email;
pub(crate) use email::{Mailer, MailerMetrics, StopMailer, start as start_mailer};

/// How long intents gather before one write.
const FLUSH: Duration = Duration::from_millis(250);
/// Most intents kept waiting; beyond that new ones are dropped (and logged).
const MAX_PENDING: usize = 10_000;
/// Characters of a message or note quoted in a notification.
const EXCERPT: usize = 140;

/// Something an agent should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Intent {
    /// `agent_id` was given the conversation (by `actor_id`, or by the router).
    Assigned {
        agent_id: i64,
        conversation_id: i64,
        actor_id: Option<i64>,
    },
    /// A private note by `actor_id`; whoever it @mentions is told.
    Note {
        conversation_id: i64,
        inbox_id: Option<i64>,
        actor_id: i64,
        content: String,
    },
    /// A customer wrote in a conversation assigned to `agent_id`.
    Message {
        agent_id: i64,
        conversation_id: i64,
        content: String,
    },
    /// A customer started a conversation; the agents who watch its inbox are told.
    NewConversation {
        conversation_id: i64,
        inbox_id: i64,
        content: String,
    },
    /// An SLA warning or breach, for whom the policy names (by default its assignee, or
    /// every admin when nobody has it).
    Sla {
        assignee_id: Option<i64>,
        inbox_id: Option<i64>,
        team_id: Option<i64>,
        to: crate::sla::policy::NotifyTargets,
        conversation_id: i64,
        breach: bool,
        line: String,
    },
}

/// Intents to record (sent after a commit).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Notify(pub(crate) Vec<Intent>);

#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

#[derive(Message)]
#[rtype(result = "()")]
struct Done;

/// The notifier actor.
pub(crate) struct Notifier {
    db: Database,
    events: Arc<EventHub>,
    pending: Vec<Intent>,
    busy: bool,
}

impl Notifier {
    pub(crate) fn new(db: Database, events: Arc<EventHub>) -> Self {
        Self {
            db,
            events,
            pending: Vec::new(),
            busy: false,
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(FLUSH, |_, ctx| ctx.notify(Flush));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if !self.pending.is_empty() {
            tracing::debug!(
                dropped = self.pending.len(),
                "notifier stopped with intents pending"
            );
        }
    }
}

impl Handler<Notify> for Notifier {
    type Result = ();
    fn handle(&mut self, msg: Notify, _: &mut Self::Context) {
        let _span = tracing::trace_span!("notify", intents = msg.0.len()).entered();
        if self.pending.len() + msg.0.len() > MAX_PENDING {
            tracing::warn!(
                dropped = msg.0.len(),
                "notifier backlog full; notifications dropped"
            );
            return;
        }
        self.pending.extend(msg.0);
    }
}

impl Handler<Flush> for Notifier {
    type Result = ();
    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) {
        if self.busy || self.pending.is_empty() {
            return;
        }
        self.busy = true;
        let intents = std::mem::take(&mut self.pending);
        let (db, events) = (self.db.clone(), self.events.clone());
        let addr = ctx.address();
        let span = tracing::debug_span!("notify_flush", intents = intents.len());
        actix_web::rt::spawn(async move {
            use tracing::Instrument;
            if let Err(error) = flush(&db, &events, intents).instrument(span).await {
                tracing::warn!(%error, "notifications not written");
            }
            addr.do_send(Done);
        });
    }
}

impl Handler<Done> for Notifier {
    type Result = ();
    fn handle(&mut self, _: Done, _: &mut Self::Context) {
        self.busy = false;
    }
}

/// Resolves intents into notifications, writes them and tells each agent.
async fn flush(db: &Database, events: &EventHub, intents: Vec<Intent>) -> Result<(), StoreError> {
    let batch = {
        let conn = &mut db.reader().await?;
        resolve(conn, intents).await?
    };
    if batch.is_empty() {
        return Ok(());
    }
    let stored = {
        let conn = &mut db.writer().await?;
        store::insert(conn, &batch).await?
    };
    for notification in &stored {
        events.notification(notification);
    }
    Ok(())
}

async fn resolve(
    conn: &mut crate::db::DbConn,
    intents: Vec<Intent>,
) -> Result<Vec<NewNotification>, StoreError> {
    let mut out: Vec<NewNotification> = Vec::new();
    let mut agents_cache: Option<Vec<crate::store::agents::Agent>> = None;
    let mut messages_seen: HashSet<(i64, i64)> = HashSet::new();
    // Per inbox: its watchers, its members and its name.
    let mut inboxes_cache: std::collections::HashMap<i64, (Vec<i64>, Vec<i64>, String)> =
        std::collections::HashMap::new();
    // Newest first, so the latest message of a conversation is the one kept.
    for intent in intents.into_iter().rev() {
        match intent {
            Intent::Assigned {
                agent_id,
                conversation_id,
                actor_id,
            } => {
                if actor_id == Some(agent_id) {
                    continue;
                }
                let body = match actor_id {
                    Some(actor) => format!(
                        "{} assigned you conversation #{conversation_id}",
                        name_of(conn, &mut agents_cache, actor).await?
                    ),
                    None => format!("Conversation #{conversation_id} was assigned to you"),
                };
                out.push(NewNotification {
                    agent_id,
                    kind: "assigned",
                    conversation_id: Some(conversation_id),
                    actor_id,
                    body,
                });
            }
            Intent::Note {
                conversation_id,
                inbox_id,
                actor_id,
                content,
            } => {
                let handles = mention_handles(&content);
                if handles.is_empty() {
                    continue;
                }
                let members = match inbox_id {
                    Some(inbox) => crate::store::inboxes::member_ids(conn, inbox).await?,
                    None => Vec::new(),
                };
                let author = name_of(conn, &mut agents_cache, actor_id).await?;
                for agent in all_agents(conn, &mut agents_cache).await? {
                    let may_see = agent.role == Role::Admin || members.contains(&agent.id);
                    if agent.id == actor_id || !agent.active || !may_see {
                        continue;
                    }
                    if handles.iter().any(|h| answers_to(agent, h)) {
                        out.push(NewNotification {
                            agent_id: agent.id,
                            kind: "mention",
                            conversation_id: Some(conversation_id),
                            actor_id: Some(actor_id),
                            body: format!("{author} mentioned you: {}", excerpt(&content)),
                        });
                    }
                }
            }
            Intent::Message {
                agent_id,
                conversation_id,
                content,
            } => {
                if !messages_seen.insert((agent_id, conversation_id)) {
                    continue;
                }
                out.push(NewNotification {
                    agent_id,
                    kind: "message",
                    conversation_id: Some(conversation_id),
                    actor_id: None,
                    body: format!(
                        "New message in conversation #{conversation_id}: {}",
                        excerpt(&content)
                    ),
                });
            }
            Intent::NewConversation {
                conversation_id,
                inbox_id,
                content,
            } => {
                // One read per inbox per flush, however many conversations it opened.
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    inboxes_cache.entry(inbox_id)
                {
                    let watchers = store::watchers(conn, inbox_id).await?;
                    let (members, name) = if watchers.is_empty() {
                        (Vec::new(), String::new())
                    } else {
                        let members = crate::store::inboxes::member_ids(conn, inbox_id).await?;
                        let name = crate::store::inboxes::find(conn, inbox_id)
                            .await?
                            .map_or_else(|| "an inbox".to_owned(), |i| i.name);
                        (members, name)
                    };
                    slot.insert((watchers, members, name));
                }
                let Some((watchers, members, inbox)) = inboxes_cache.get(&inbox_id).cloned() else {
                    continue;
                };
                if watchers.is_empty() {
                    continue;
                }
                for agent in all_agents(conn, &mut agents_cache).await? {
                    let may_see = agent.role == Role::Admin || members.contains(&agent.id);
                    if !watchers.contains(&agent.id) || !agent.active || !may_see {
                        continue;
                    }
                    out.push(NewNotification {
                        agent_id: agent.id,
                        kind: "inbox_conversation",
                        conversation_id: Some(conversation_id),
                        actor_id: None,
                        body: format!("New conversation in {inbox}: {}", excerpt(&content)),
                    });
                }
            }
            Intent::Sla {
                assignee_id,
                inbox_id,
                team_id,
                to,
                conversation_id,
                breach,
                line,
            } => {
                let mut heard: Vec<i64> = Vec::new();
                if to.assignee {
                    heard.extend(assignee_id);
                }
                if to.team
                    && let Some(team) = team_id
                {
                    // Only those who may see the conversation: admins and the inbox's
                    // members (a team can span inboxes).
                    let members = match inbox_id {
                        Some(inbox) => crate::store::inboxes::member_ids(conn, inbox).await?,
                        None => Vec::new(),
                    };
                    for member in crate::store::teams::members(conn, team).await? {
                        let may_see = member.role == Role::Admin || members.contains(&member.id);
                        if member.active && may_see && !heard.contains(&member.id) {
                            heard.push(member.id);
                        }
                    }
                }
                // The admins when asked, and when the default finds nobody to tell.
                if to.admins || heard.is_empty() {
                    for admin in all_agents(conn, &mut agents_cache)
                        .await?
                        .iter()
                        .filter(|a| a.active && a.role == Role::Admin)
                    {
                        if !heard.contains(&admin.id) {
                            heard.push(admin.id);
                        }
                    }
                }
                for agent_id in heard {
                    out.push(NewNotification {
                        agent_id,
                        kind: if breach { "sla_breach" } else { "sla_warning" },
                        conversation_id: Some(conversation_id),
                        actor_id: None,
                        body: format!("Conversation #{conversation_id}: {line}"),
                    });
                }
            }
        }
    }
    out.reverse();
    Ok(out)
}

async fn all_agents<'a>(
    conn: &mut crate::db::DbConn,
    cache: &'a mut Option<Vec<crate::store::agents::Agent>>,
) -> Result<&'a [crate::store::agents::Agent], StoreError> {
    if cache.is_none() {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = crate::store::agents::list(conn, after, 200).await?;
            let Some(last) = page.last().map(|a| a.id) else {
                break;
            };
            after = Some(last);
            all.extend(page);
        }
        *cache = Some(all);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

async fn name_of(
    conn: &mut crate::db::DbConn,
    cache: &mut Option<Vec<crate::store::agents::Agent>>,
    id: i64,
) -> Result<String, StoreError> {
    Ok(all_agents(conn, cache)
        .await?
        .iter()
        .find(|a| a.id == id)
        .map_or_else(|| "An agent".to_owned(), |a| a.name.clone()))
}

/// The `@handles` of a note, lower-cased: letters, digits, `.`, `_` and `-` after an `@`
/// that starts a word (so an email address in the text is no mention).
pub(crate) fn mention_handles(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut previous: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts_word = previous.is_none_or(|p| p.is_whitespace() || "([{,;:".contains(p));
        previous = Some(c);
        if c != '@' || !starts_word {
            continue;
        }
        let rest = &text[i + 1..];
        let handle: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        let handle = handle.trim_end_matches(['.', '-', '_']).to_lowercase();
        if !handle.is_empty() && !out.contains(&handle) {
            out.push(handle);
        }
    }
    out
}

/// Whether an agent answers to `@handle`: their first name, their name without spaces, or
/// their email's local part.
fn answers_to(agent: &crate::store::agents::Agent, handle: &str) -> bool {
    let name = agent.name.to_lowercase();
    let first = name.split_whitespace().next().unwrap_or_default();
    let joined: String = name.split_whitespace().collect();
    let local = agent
        .email
        .split('@')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    handle == first || handle == joined || handle == local
}

fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > EXCERPT {
        let cut: String = flat.chars().take(EXCERPT).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::mention_handles;

    #[test]
    fn mentions_start_a_word_and_emails_are_not_mentions() {
        assert_eq!(
            mention_handles(
                "Hey @Priya, can you check? cc @bob.smith. Mail ann@example.com (@Ann-Marie)"
            ),
            vec!["priya", "bob.smith", "ann-marie"]
        );
        assert!(mention_handles("no one here @ all").is_empty());
        assert_eq!(mention_handles("@priya @PRIYA"), vec!["priya"]);
    }
}
