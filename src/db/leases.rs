//! Leases: work that must run on exactly one node at a time (a Telegram bot's getUpdates
//! loop, which Telegram refuses to serve twice; an IMAP mailbox's polling) runs on the node
//! that holds the job's lease (issue #20, item 4).
//!
//! On PostgreSQL a lease is a session advisory lock taken on one connection of the node's
//! own, outside the pool: the lock lives exactly as long as that session. When a node dies
//! (or its session is cut), PostgreSQL ends the session and frees its locks, and another
//! node's next try, within [`RETRY`], takes the lease; it starts the job after a grace
//! period, by which time a holder that only lost its session (its process alive) has noticed
//! at its check and stopped. On SQLite there is one node by design: every lease is granted
//! at once and never lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::{Database, StoreError};
use crate::config::DatabaseUrl;

/// How often a node waiting for a lease tries again.
pub(crate) const RETRY: Duration = Duration::from_secs(2);

/// How often a holder checks that its session (and so its locks) is alive.
const CHECK: Duration = Duration::from_secs(1);

/// How long a node that has just taken a lease waits before it starts the job: a holder whose
/// session was cut while its process lives on notices within [`CHECK`] and stops (its last
/// long poll ending with it), so the two never run the job at once. A dead node's jobs move
/// within [`RETRY`] + `GRACE`.
const GRACE: Duration = Duration::from_secs(3);

/// The node's leases. Cheap to share (`Arc`).
pub(crate) struct Leases {
    /// `None` on SQLite: one node, every lease granted.
    pg: Option<PgLeases>,
    /// Leases held now per job (`poll`, `sla`, `housekeeping`), for `/metrics`
    /// (`switchboard_leases_held{job}`).
    held: Family<JobLabel, Gauge>,
}

/// The job of a lease: its key up to the first `:` (`poll:12` → `poll`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct JobLabel {
    job: String,
}

impl JobLabel {
    fn of(key: &str) -> Self {
        Self {
            job: key.split(':').next().unwrap_or(key).to_owned(),
        }
    }
}

struct PgLeases {
    url: String,
    session: tokio::sync::Mutex<Session>,
}

/// The lease connection and what it holds. A new connection is a new generation: leases of
/// an earlier one are lost with it.
#[derive(Default)]
struct Session {
    conn: Option<AsyncPgConnection>,
    /// Holders per key on this node (a reconfigured channel takes its lease again before the
    /// old holder lets go): the advisory lock is taken once and released with the last.
    holders: HashMap<String, usize>,
    generation: u64,
}

impl Session {
    /// Forgets the connection and everything it held (its locks died with it).
    fn reset(&mut self) {
        self.conn = None;
        self.holders.clear();
        self.generation += 1;
    }
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    taken: bool,
}

/// A held lease; dropping it lets the job go (another node may take it).
pub(crate) struct Lease {
    leases: Arc<Leases>,
    key: String,
    generation: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases
            .held
            .get_or_create(&JobLabel::of(&self.key))
            .dec();
        if self.leases.pg.is_none() {
            return;
        }
        let leases = self.leases.clone();
        let key = std::mem::take(&mut self.key);
        let generation = self.generation;
        // Dropped inside an actor or task: the unlock runs beside it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { leases.release(&key, generation).await });
        }
    }
}

impl Leases {
    /// The leases of a node on `db`.
    pub(crate) fn new(db: &Database) -> Arc<Self> {
        let pg = match &db.url {
            DatabaseUrl::Postgres(url) => Some(PgLeases {
                url: url.clone(),
                session: tokio::sync::Mutex::new(Session::default()),
            }),
            DatabaseUrl::Sqlite(_) => None,
        };
        Arc::new(Self {
            pg,
            held: Family::default(),
        })
    }

    /// Leases this node holds now (shared with the metrics registry).
    pub(crate) fn held(&self) -> &Family<JobLabel, Gauge> {
        &self.held
    }

    /// Waits until this node holds the lease `key` (trying every [`RETRY`]).
    pub(crate) async fn hold(self: &Arc<Self>, key: &str) -> Lease {
        let mut told = false;
        loop {
            match self.try_take(key).await {
                Ok(Some((generation, fresh))) => {
                    // Held from here: dropped during the grace period, it is let go.
                    self.held.get_or_create(&JobLabel::of(key)).inc();
                    let lease = Lease {
                        leases: self.clone(),
                        key: key.to_owned(),
                        generation,
                    };
                    if fresh {
                        tokio::time::sleep(GRACE).await;
                    }
                    tracing::info!(lease = key, "lease taken: this node runs the job");
                    return lease;
                }
                Ok(None) if !told => {
                    told = true;
                    tracing::info!(lease = key, "another node holds the lease; waiting");
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, lease = key, "cannot take a lease"),
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Returns once `lease` is lost (its session ended); never on SQLite.
    pub(crate) async fn lost(&self, lease: &Lease) {
        let Some(pg) = &self.pg else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(CHECK).await;
            let mut session = pg.session.lock().await;
            if session.generation != lease.generation {
                return;
            }
            let alive = match session.conn.as_mut() {
                Some(conn) => diesel::sql_query("SELECT 1").execute(conn).await.is_ok(),
                None => false,
            };
            if !alive {
                tracing::warn!(
                    lease = lease.key,
                    "the lease session ended; the job stops here until the lease is taken again"
                );
                session.reset();
                return;
            }
        }
    }

    /// Takes `key` if free (or already held here); answers the session's generation and
    /// whether the lock was taken now (not already held on this node).
    async fn try_take(&self, key: &str) -> Result<Option<(u64, bool)>, StoreError> {
        let Some(pg) = &self.pg else {
            return Ok(Some((0, false)));
        };
        let mut session = pg.session.lock().await;
        if let Some(holders) = session.holders.get_mut(key) {
            *holders += 1;
            return Ok(Some((session.generation, false)));
        }
        let conn = match session.conn.as_mut() {
            Some(conn) => conn,
            None => {
                let conn = AsyncPgConnection::establish(&pg.url)
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("lease connection: {e}")))?;
                session.conn.insert(conn)
            }
        };
        let taken =
            diesel::sql_query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken")
                .bind::<diesel::sql_types::Text, _>(key)
                .get_result::<Taken>(conn)
                .await;
        match taken {
            Ok(Taken { taken: true }) => {
                session.holders.insert(key.to_owned(), 1);
                Ok(Some((session.generation, true)))
            }
            Ok(Taken { taken: false }) => Ok(None),
            Err(error) => {
                session.reset();
                Err(error.into())
            }
        }
    }

    /// One holder of `key` lets go; the lock is released with the last.
    async fn release(&self, key: &str, generation: u64) {
        let Some(pg) = &self.pg else {
            return;
        };
        let mut session = pg.session.lock().await;
        if session.generation != generation {
            return;
        }
        let last = match session.holders.get_mut(key) {
            Some(holders) if *holders > 1 => {
                *holders -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if !last {
            return;
        }
        session.holders.remove(key);
        let released = match session.conn.as_mut() {
            Some(conn) => diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(key)
                .execute(conn)
                .await
                .is_ok(),
            None => true,
        };
        if !released {
            // The lock is gone with the session either way.
            session.reset();
        }
    }

    /// Lets every lease go at once (a node shutting down), so other nodes take the jobs over
    /// at their next try instead of waiting for this process to end.
    /// A flag that is true while this node holds `key` (a job that runs on one node, checked
    /// before each round: the SLA supervisor's firing, housekeeping). A task keeps taking the
    /// lease again after a loss.
    pub(crate) fn follow(self: &Arc<Self>, key: &'static str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(self.pg.is_none()));
        if self.pg.is_some() {
            let (leases, held) = (self.clone(), flag.clone());
            tokio::spawn(async move {
                loop {
                    let lease = leases.hold(key).await;
                    held.store(true, Ordering::Release);
                    leases.lost(&lease).await;
                    held.store(false, Ordering::Release);
                }
            });
        }
        flag
    }

    pub(crate) async fn release_all(&self) {
        if let Some(pg) = &self.pg {
            pg.session.lock().await.reset();
        }
    }
}
