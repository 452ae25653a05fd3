//! The escalation supervisor: keeps every conversation's SLA clocks in step with the
//! conversation and fires them when due (see the module above for the picture).
//!
//! One pass at a time: a pass reloads policies and schedules when asked, syncs the
//! touched (or, on a full pass, all stale) conversations, fires what is due, and ends by
//! reading the earliest `fire_at`; the supervisor then sleeps until that instant on the
//! SLA clock. State lives in the database, so a restart loses nothing: the first pass
//! after start is a full one, and due clocks fire then.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, NaiveDateTime, Utc};

use super::{Config, Sla, policy, track};
use crate::conversations::Conversations;
use crate::db::{Database, StoreError};
use crate::domain::ConversationId;
use crate::realtime::EventHub;
use crate::store::sla as store;

/// How often touched conversations are synced.
const TICK: Duration = Duration::from_millis(200);
/// How often a full pass looks for conversations whose notice was lost, and rereads
/// policies and schedules (another node may have changed them).
const FULL_PASS: Duration = Duration::from_secs(30);
/// Conversations per sync transaction.
const BATCH: i64 = 200;

/// The escalation supervisor actor.
pub(crate) struct Escalation {
    db: Database,
    sla: Arc<Sla>,
    events: Arc<EventHub>,
    conversations: Option<Conversations>,
    /// Whether this node fires due clocks and walks all conversations (with several nodes,
    /// the holder of the `sla` lease; a single node always). Every node syncs what it touched.
    leader: Arc<std::sync::atomic::AtomicBool>,
    /// The leader flag at the last tick: a node that just became leader makes a full pass.
    was_leader: bool,
    busy: bool,
    /// Until the first pass after start has run (its time is the timers' reload time).
    first: bool,
    /// What the next pass must do besides the touched conversations.
    pending: Pass,
    wake: Option<(DateTime<Utc>, SpawnHandle)>,
}

/// The parts of a pass.
#[derive(Debug, Clone, Copy, Default)]
struct Pass {
    reload: bool,
    resync_all: bool,
    full: bool,
    fire: bool,
}

impl Pass {
    fn merge(&mut self, other: Pass) {
        self.reload |= other.reload;
        self.resync_all |= other.resync_all;
        self.full |= other.full;
        self.fire |= other.fire;
    }
}

impl Escalation {
    pub(crate) fn new(
        db: Database,
        sla: Arc<Sla>,
        events: Arc<EventHub>,
        leader: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        Self {
            db,
            sla,
            events,
            was_leader: leader.load(std::sync::atomic::Ordering::Acquire),
            leader,
            conversations: None,
            busy: false,
            first: true,
            pending: Pass {
                reload: true,
                full: true,
                fire: true,
                resync_all: false,
            },
            wake: None,
        }
    }
}

impl Actor for Escalation {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        ctx.run_interval(TICK, |this, ctx| {
            let leader = this.leader.load(std::sync::atomic::Ordering::Acquire);
            if leader && !this.was_leader {
                // Another node's clocks are this node's now: a full pass fires what is due.
                tracing::info!("this node fires SLA clocks now");
                ctx.notify(Run(Pass {
                    reload: true,
                    full: true,
                    fire: true,
                    resync_all: false,
                }));
            }
            this.was_leader = leader;
            if !this.busy && this.sla.has_touched() {
                ctx.notify(Run(Pass::default()));
            }
        });
        ctx.run_interval(FULL_PASS, |_, ctx| {
            ctx.notify(Run(Pass {
                reload: true,
                full: true,
                fire: true,
                resync_all: false,
            }));
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!("escalation supervisor stopped");
    }
}

/// Gives the supervisor the conversations (their actors fire the clocks).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    pub(crate) conversations: Conversations,
}

/// Policies, schedules or an inbox's schedule changed: reread them and recompute every
/// active conversation's clocks.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Reload;

/// Stops the supervisor (the hub is shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

#[derive(Message)]
#[rtype(result = "()")]
struct Run(Pass);

#[derive(Message)]
#[rtype(result = "()")]
struct Done(Option<NaiveDateTime>);

impl Handler<Attach> for Escalation {
    type Result = ();
    fn handle(&mut self, msg: Attach, ctx: &mut Self::Context) {
        self.conversations = Some(msg.conversations);
        ctx.notify(Run(Pass::default()));
    }
}

impl Handler<Reload> for Escalation {
    type Result = ();
    fn handle(&mut self, _: Reload, ctx: &mut Self::Context) {
        let _span = tracing::debug_span!("sla_reload").entered();
        ctx.notify(Run(Pass {
            reload: true,
            resync_all: true,
            full: true,
            fire: true,
        }));
    }
}

impl Handler<Shutdown> for Escalation {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Run> for Escalation {
    type Result = ();
    fn handle(&mut self, msg: Run, ctx: &mut Self::Context) {
        self.pending.merge(msg.0);
        if self.busy {
            return;
        }
        let Some(conversations) = self.conversations.clone() else {
            return;
        };
        let pass = std::mem::take(&mut self.pending);
        self.busy = true;
        let span = tracing::debug_span!(
            "sla_pass",
            reload = pass.reload,
            full = pass.full,
            fire = pass.fire
        );
        let (db, sla, events) = (self.db.clone(), self.sla.clone(), self.events.clone());
        let leader = self.leader.load(std::sync::atomic::Ordering::Acquire);
        let pass = Pass {
            full: pass.full && leader,
            fire: pass.fire && leader,
            ..pass
        };
        let addr = ctx.address();
        let first = std::mem::take(&mut self.first);
        actix_web::rt::spawn(async move {
            use tracing::Instrument;
            let began = std::time::Instant::now();
            let next = match run_pass(&db, &sla, &events, &conversations, pass, leader)
                .instrument(span)
                .await
            {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "SLA pass failed; the next one retries");
                    None
                }
            };
            let ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(i64::MAX);
            if pass.full {
                sla.metrics.full_pass_ms.set(ms);
            }
            if first {
                sla.metrics.start_pass_ms.set(ms.max(1));
                tracing::info!(ms, "SLA timers reloaded");
            }
            addr.do_send(Done(next));
        });
    }
}

impl Handler<Done> for Escalation {
    type Result = ();
    fn handle(&mut self, msg: Done, ctx: &mut Self::Context) {
        self.busy = false;
        if let Some(next) = msg.0 {
            // A clock still due after a pass failed to fire: retry soon, not in a loop.
            let soonest = self.sla.clock.now() + chrono::Duration::milliseconds(250);
            self.sleep_until(next.and_utc().max(soonest), ctx);
        }
        let pending = self.pending;
        if pending.reload || pending.full || pending.fire || self.sla.has_touched() {
            ctx.notify(Run(Pass::default()));
        }
    }
}

impl Escalation {
    /// Keeps one wake-up: the earliest.
    fn sleep_until(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        if let Some((current, handle)) = self.wake {
            if current <= at {
                return;
            }
            ctx.cancel_future(handle);
        }
        let clock = self.sla.clock.clone();
        let handle = ctx.spawn(
            async move { clock.sleep_until(at).await }
                .into_actor(self)
                .map(|(), this, ctx| {
                    this.wake = None;
                    ctx.notify(Run(Pass {
                        fire: true,
                        ..Pass::default()
                    }));
                }),
        );
        self.wake = Some((at, handle));
    }
}

/// One pass; answers the earliest instant a clock needs the supervisor again.
async fn run_pass(
    db: &Database,
    sla: &Sla,
    events: &EventHub,
    conversations: &Conversations,
    pass: Pass,
    leader: bool,
) -> Result<Option<NaiveDateTime>, StoreError> {
    if pass.reload {
        let conn = &mut db.reader().await?;
        let config = Config::from_rows(
            &store::policies(conn).await?,
            &store::schedules(conn).await?,
            &store::inbox_schedules(conn).await?,
        );
        sla.set_config(config);
    }
    let config = sla.config();
    if pass.resync_all {
        let conn = &mut db.writer().await?;
        store::resync_all(conn).await?;
    }
    let touched = sla.take_touched();
    for ids in touched.chunks(BATCH as usize) {
        sync(db, sla, events, &config, ids).await?;
    }
    if pass.full {
        // Without an enabled policy nothing needs a clock: only running ones are ended, and
        // the hub's conversations are not walked (at start or every 30 s).
        let any_policy = config.any_enabled();
        let mut after = 0;
        loop {
            let ids = {
                let conn = &mut db.reader().await?;
                if any_policy {
                    store::stale(conn, after, BATCH).await?
                } else {
                    store::with_running_clocks(conn, after, BATCH).await?
                }
            };
            let Some(&last) = ids.last() else { break };
            sync(db, sla, events, &config, &ids).await?;
            after = last;
        }
    }
    if leader && (pass.fire || !touched.is_empty() || pass.full) {
        fire_due(db, sla, conversations, &config).await?;
    }
    if !leader {
        return Ok(None);
    }
    let conn = &mut db.reader().await?;
    store::next_fire(conn).await
}

/// Brings some conversations' clocks in step and tells their inboxes.
async fn sync(
    db: &Database,
    sla: &Sla,
    events: &EventHub,
    config: &Config,
    ids: &[i64],
) -> Result<(), StoreError> {
    let now = sla.clock.now();
    let mut changed = Vec::new();
    {
        // One transaction for the batch (one fsync on SQLite); each conversation's write
        // nests as a savepoint, so one refused write leaves the others.
        let conn = &mut db.writer().await?;
        crate::db::begin(conn).await?;
        let outcome = sync_batch(conn, sla, config, ids, now, &mut changed).await;
        match outcome {
            Ok(()) => crate::db::commit(conn).await?,
            Err(error) => {
                if let Err(rollback) = crate::db::rollback(conn).await {
                    tracing::warn!(%rollback, "rollback after a failed SLA sync");
                }
                return Err(error);
            }
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    let clocks = {
        let conn = &mut db.reader().await?;
        store::active_clocks(conn, &ids).await?
    };
    for (id, inbox_id) in changed {
        let mine: Vec<_> = clocks
            .iter()
            .filter(|c| c.conversation_id == id)
            .cloned()
            .collect();
        if let Some(inbox_id) = inbox_id {
            events.sla(id, inbox_id, sla.badge(Some(inbox_id), &mine));
        }
    }
    Ok(())
}

/// Plans and writes the clocks of a batch, inside the caller's transaction; notes the
/// conversations whose clocks changed.
async fn sync_batch(
    conn: &mut crate::db::DbConn,
    sla: &Sla,
    config: &Config,
    ids: &[i64],
    now: DateTime<Utc>,
    changed: &mut Vec<(i64, Option<i64>)>,
) -> Result<(), StoreError> {
    for view in store::sync_views(conn, ids).await? {
        let facts = &view.conversation;
        let subject = policy::Subject {
            inbox_id: facts.inbox_id,
            priority: facts.priority,
            team_id: facts.team_id,
            labels: &view.labels,
        };
        let chosen = policy::choose(&config.policies, subject);
        let write = track::plan(&view, chosen, config.schedule_of(facts.inbox_id), now);
        let synced = view.state.as_ref().is_some_and(|s| {
            s.synced_at == facts.updated_at && s.policy_id == chosen.map(|p| p.id)
        });
        if synced && write.changed.is_empty() && write.started.is_empty() {
            continue;
        }
        if let Err(error) = store::save_sync(conn, &view, chosen.map(|p| p.id), &write).await {
            // Another node started the same clock (the unique index refused the second);
            // the next full pass looks again.
            tracing::debug!(conversation_id = facts.id, %error, "SLA sync not saved");
            continue;
        }
        sla.metrics.synced.inc();
        if !write.changed.is_empty() || !write.started.is_empty() {
            changed.push((facts.id, facts.inbox_id));
        }
    }
    Ok(())
}

/// Fires every clock due now, through each conversation's actor.
async fn fire_due(
    db: &Database,
    sla: &Sla,
    conversations: &Conversations,
    config: &Arc<Config>,
) -> Result<(), StoreError> {
    loop {
        let now = sla.clock.now().naive_utc();
        let due = {
            let conn = &mut db.reader().await?;
            store::due(conn, now, BATCH).await?
        };
        let count = due.len();
        for (clock_id, conversation_id) in due {
            let id = ConversationId(conversation_id);
            match conversations
                .fire_sla(id, clock_id, now, config.clone())
                .await
            {
                Ok(true) => {
                    sla.metrics.fired.inc();
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(conversation_id, clock_id, %error, "SLA clock not fired");
                    return Ok(());
                }
            }
        }
        if count < BATCH as usize {
            return Ok(());
        }
    }
}
