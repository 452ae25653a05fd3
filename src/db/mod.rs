//! Storage: one schema, two backends, query code written once.
//!
//! # Approach
//! A connection is the enum [`DbConn`] over diesel-async's `AsyncPgConnection` and
//! `SyncConnectionWrapper<SqliteConnection>` (each from its own deadpool pool), and the
//! [`db_run!`](crate::db_run) macro expands one block of query code once per variant. Each
//! expansion is type-checked and compiled against its own backend, so a query is written
//! once yet runs natively on both: PostgreSQL stays truly async, SQLite runs on tokio's
//! blocking pool.
//!
//! Why not diesel's `MultiConnection`: it is sync-only, so PostgreSQL would lose its async
//! driver and every query would need `spawn_blocking`; and its `MultiBackend` restricts the
//! SQL types and query forms we may use. The enum keeps each backend's full feature set
//! (`RETURNING`, upserts, `FOR UPDATE SKIP LOCKED` on PostgreSQL later) at the cost of a
//! macro at each call site.
//!
//! # SQLite specifics
//! WAL, `synchronous=FULL` (a commit is durable before we acknowledge anything), foreign
//! keys on and a busy timeout, set on every connection. SQLite has one writer at a time and
//! a deferred transaction that first reads and then writes fails with `SQLITE_BUSY` instead
//! of waiting, so writes go through a separate pool of exactly one connection
//! ([`Database::writer`]) and the reader pool is opened `query_only`. On PostgreSQL both
//! names hand out connections from the same pool.
//!
//! # Never cut a SQLite query off
//! diesel-async runs each SQLite query on tokio's blocking pool; if the query's future is
//! dropped before it finishes, the wrapper blocks the current thread until it does, which
//! panics on actix's single-threaded workers. So request handling is never cancelled
//! mid-query: requests run to completion in their own task (the HTTP layer's
//! `run_to_completion` middleware), and extractors that query the database do it in a
//! spawned task. Do not put a timeout or `select!` around a store
//! call; bound the work inside it instead.

pub(crate) mod leases;
pub mod schema;
pub mod types;

use std::path::Path;
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::SimpleAsyncConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::config::{DatabaseSettings, DatabaseUrl};
use prometheus_client::metrics::counter::Counter;

/// The async SQLite connection type.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database connection available: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

impl StoreError {
    /// True when a unique constraint refused the write (duplicate email, name, ...).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
}

/// A pooled connection of either backend. Use it through [`db_run!`](crate::db_run).
// One lives briefly on the stack per request; boxing the larger variant would only add an
// allocation per checkout.
#[allow(clippy::large_enum_variant)]
pub enum DbConn {
    Sqlite(Object<SqliteConn>),
    Postgres(Object<AsyncPgConnection>),
}

/// Runs one block of query code against whichever backend `$conn` holds.
///
/// `db_run!(conn, c => users::table.load::<User>(c).await)` with `conn: &mut DbConn`: inside the block `c` is a
/// `&mut` concrete connection (`SqliteConn` or `AsyncPgConnection`), so all of diesel's and
/// diesel-async's API is available; the block is compiled once per backend.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, $c:ident => $body:expr) => {
        match &mut *$conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut $crate::db::SqliteConn = &mut **pooled;
                $body
            }
            $crate::db::DbConn::Postgres(pooled) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **pooled;
                $body
            }
        }
    };
}

/// Opens a transaction on a pooled connection, for work that spans several store calls
/// (each call's own transaction then nests as a savepoint). Pair with [`commit`] or
/// [`rollback`].
pub async fn begin(conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(db_run!(conn, c => begin_on(c).await)?)
}

/// Commits the transaction [`begin`] opened.
pub async fn commit(conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(db_run!(conn, c => commit_on(c).await)?)
}

/// Rolls back the transaction [`begin`] opened.
pub async fn rollback(conn: &mut DbConn) -> Result<(), StoreError> {
    Ok(db_run!(conn, c => rollback_on(c).await)?)
}

async fn begin_on<C: diesel_async::AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    C::TransactionManager::begin_transaction(c).await
}

async fn commit_on<C: diesel_async::AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    C::TransactionManager::commit_transaction(c).await
}

async fn rollback_on<C: diesel_async::AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    C::TransactionManager::rollback_transaction(c).await
}

#[derive(Clone)]
enum Pools {
    Sqlite {
        readers: Pool<SqliteConn>,
        writer: Pool<SqliteConn>,
    },
    Postgres(Pool<AsyncPgConnection>),
}

/// The hub's database: cheap to clone, shared by every request and actor.
#[derive(Clone)]
pub struct Database {
    pools: Pools,
    url: DatabaseUrl,
    /// Statements sent on the pools' connections (`switchboard_db_statements_total`): round
    /// trips per message are what ingest on PostgreSQL spends (issue #23).
    statements: Counter,
}

/// Counts every statement a connection finishes (transaction statements included).
struct CountStatements(Counter);

impl diesel::connection::Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::FinishQuery { .. } = event {
            self.0.inc();
        }
    }
}

impl Database {
    /// Opens the pools (connections are made lazily, except one checked now) and, for
    /// SQLite, creates the file and its folder when missing.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let statements = Counter::default();
        let pools = match &settings.url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                let path = path.to_str().ok_or_else(|| {
                    StoreError::Unavailable("the SQLite path is not UTF-8".into())
                })?;
                Pools::Sqlite {
                    readers: sqlite_pool(path, settings, true, &statements)?,
                    writer: sqlite_pool(path, settings, false, &statements)?,
                }
            }
            DatabaseUrl::Postgres(url) => Pools::Postgres(pg_pool(url, settings, &statements)?),
        };
        let db = Self {
            pools,
            url: settings.url.clone(),
            statements,
        };
        // Fail at start-up, not at the first request, when the database is unreachable.
        db.ping().await?;
        Ok(db)
    }

    /// The count of statements sent, for the metrics registry.
    pub(crate) fn statements(&self) -> &Counter {
        &self.statements
    }

    /// Which backend this is ("sqlite" or "postgres").
    pub fn backend_name(&self) -> &'static str {
        self.url.backend_name()
    }

    /// True when several connections may write at once (PostgreSQL); SQLite has one writer.
    pub fn concurrent_writers(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }

    /// A connection for reads. On SQLite it cannot write (`query_only`).
    pub async fn reader(&self) -> Result<DbConn, StoreError> {
        match &self.pools {
            Pools::Sqlite { readers, .. } => readers.get().await.map(DbConn::Sqlite),
            Pools::Postgres(pool) => pool.get().await.map(DbConn::Postgres),
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// A connection for writes. On SQLite there is exactly one, so writers queue here
    /// instead of failing with `SQLITE_BUSY`.
    pub async fn writer(&self) -> Result<DbConn, StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => writer.get().await.map(DbConn::Sqlite),
            Pools::Postgres(pool) => pool.get().await.map(DbConn::Postgres),
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        let conn = &mut self.reader().await?;
        db_run!(conn, c => diesel::sql_query("SELECT 1").execute(c).await)?;
        Ok(())
    }

    /// Versions of the embedded migrations that are not applied yet (empty when ready).
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        use diesel_async::RunQueryDsl;
        use schema::__diesel_schema_migrations::dsl as m;
        let conn = &mut self.reader().await?;
        let applied: Vec<String> = db_run!(conn, c => m::__diesel_schema_migrations
            .select(m::version)
            .load(c)
            .await)
        .or_else(|e| match e {
            // No bookkeeping table yet: nothing is applied.
            diesel::result::Error::DatabaseError(..) => Ok(Vec::new()),
            other => Err(other),
        })?;
        Ok(embedded_versions(self.migrations())
            .into_iter()
            .filter(|v| !applied.contains(v))
            .collect())
    }

    fn migrations(&self) -> EmbeddedMigrations {
        match self.pools {
            Pools::Sqlite { .. } => SQLITE_MIGRATIONS,
            Pools::Postgres(_) => POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations and returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.with_sync_connection(Harness::run_pending).await
    }

    /// Reverts every migration (used by tests to prove the down migrations work).
    pub async fn revert_all_migrations(&self) -> Result<Vec<String>, StoreError> {
        self.with_sync_connection(Harness::revert_all).await
    }

    /// Reverts the newest migration; with [`migrate`](Self::migrate) after it, tests run a
    /// migration's backfill over data the hub stored.
    pub async fn revert_last_migration(&self) -> Result<Vec<String>, StoreError> {
        self.with_sync_connection(Harness::revert_last).await
    }

    /// Copies a consistent snapshot of a SQLite database to `target` (`VACUUM INTO`).
    pub async fn backup_sqlite(&self, target: &Path) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        let target = target
            .to_str()
            .ok_or_else(|| StoreError::Unavailable("the backup path is not UTF-8".into()))?
            .to_owned();
        let mut conn = self.writer().await?;
        match &mut conn {
            DbConn::Sqlite(c) => {
                // The copy holds password hashes and inbox secrets: it is created empty and
                // private (0600) first, and VACUUM INTO fills the empty file, so it is never
                // readable by others, not even for a moment.
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                options
                    .open(&target)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {target}: {e}")))?;
                let copied = diesel::sql_query("VACUUM INTO ?")
                    .bind::<diesel::sql_types::Text, _>(target.clone())
                    .execute(&mut **c)
                    .await;
                if let Err(error) = copied {
                    let _ = std::fs::remove_file(&target);
                    return Err(error.into());
                }
                Ok(())
            }
            DbConn::Postgres(_) => Err(StoreError::Unavailable(
                "backups of PostgreSQL are made with pg_dump".into(),
            )),
        }
    }

    /// Migrations need diesel's sync `MigrationHarness`: run it on a blocking thread with
    /// a dedicated connection (plain SQLite, or the async PostgreSQL driver wrapped as
    /// sync), never on the async workers.
    async fn with_sync_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Harness) -> diesel::migration::Result<T> + Send + 'static,
    {
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut harness = match &url {
                DatabaseUrl::Sqlite(path) => {
                    let path = path.to_string_lossy();
                    let mut conn = SqliteConnection::establish(&path)
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    diesel::connection::SimpleConnection::batch_execute(
                        &mut conn,
                        "PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = OFF;",
                    )?;
                    Harness::Sqlite(conn)
                }
                DatabaseUrl::Postgres(url) => Harness::Postgres(
                    AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                ),
            };
            work(&mut harness).map_err(|e| StoreError::Migration(e.to_string()))
        })
        .await
        .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
    }
}

/// A sync connection that diesel's migration harness can drive (made once per migrate).
#[allow(clippy::large_enum_variant)]
enum Harness {
    Sqlite(SqliteConnection),
    Postgres(AsyncConnectionWrapper<AsyncPgConnection>),
}

/// Key of the PostgreSQL advisory lock that keeps two nodes from migrating at once.
const MIGRATION_LOCK_KEY: i64 = 0x5357_4954_4348; // "SWITCH"

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl Harness {
    fn run_pending(&mut self) -> diesel::migration::Result<Vec<String>> {
        self.guarded(|h| match h {
            Self::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(names),
            Self::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(names),
        })
    }

    fn revert_all(&mut self) -> diesel::migration::Result<Vec<String>> {
        self.guarded(|h| match h {
            Self::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(names),
            Self::Postgres(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS).map(names),
        })
    }

    fn revert_last(&mut self) -> diesel::migration::Result<Vec<String>> {
        self.guarded(|h| {
            match h {
                Self::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
                Self::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS),
            }
            .map(|version| vec![version.to_string()])
        })
    }

    /// PostgreSQL: one node migrates at a time (session advisory lock).
    /// SQLite: migrations run with foreign keys off (set when connecting), because a table
    /// rebuild (the SQLite way to change a CHECK) would otherwise cascade-delete the rows
    /// that reference it; afterwards every reference must still resolve.
    fn guarded(
        &mut self,
        work: impl FnOnce(&mut Self) -> diesel::migration::Result<Vec<String>>,
    ) -> diesel::migration::Result<Vec<String>> {
        use diesel::RunQueryDsl;
        if let Self::Postgres(c) = self {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(c)?;
        }
        let outcome = work(self);
        match self {
            Self::Postgres(c) => {
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                    .execute(c)?;
            }
            Self::Sqlite(c) => {
                let broken =
                    diesel::sql_query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
                        .get_result::<Count>(c)?
                        .n;
                if broken > 0 {
                    return Err(format!(
                        "migrations left {broken} rows with dangling foreign keys"
                    )
                    .into());
                }
            }
        }
        outcome
    }
}

fn names(done: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    done.iter().map(ToString::to_string).collect()
}

fn embedded_versions(migrations: EmbeddedMigrations) -> Vec<String> {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations)
        .map(|list| {
            list.iter()
                .map(|m| m.name().version().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn pg_pool(
    url: &str,
    settings: &DatabaseSettings,
    statements: &Counter,
) -> Result<Pool<AsyncPgConnection>, StoreError> {
    let statements = statements.clone();
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Verified;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let statements = statements.clone();
        async move {
            use diesel_async::AsyncConnection;
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.set_instrumentation(CountStatements(statements));
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, config);
    build_pool(manager, settings, settings.max_connections)
}

fn sqlite_pool(
    path: &str,
    settings: &DatabaseSettings,
    read_only: bool,
    statements: &Counter,
) -> Result<Pool<SqliteConn>, StoreError> {
    let statements = statements.clone();
    let busy_ms = settings.busy_timeout.as_millis();
    let mut config = ManagerConfig::<SqliteConn>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let statements = statements.clone();
        async move {
            use diesel_async::AsyncConnection;
            let mut conn = SqliteConn::establish(&url).await?;
            conn.set_instrumentation(CountStatements(statements));
            // busy_timeout first, so even switching to WAL waits for other processes.
            let pragmas = format!(
                "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA query_only = {};",
                if read_only { "ON" } else { "OFF" }
            );
            conn.batch_execute(&pragmas)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path, config);
    let size = if read_only {
        settings.max_connections
    } else {
        1
    };
    build_pool(manager, settings, size)
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    settings: &DatabaseSettings,
    size: usize,
) -> Result<Pool<C>, StoreError>
where
    C: diesel_async::pooled_connection::PoolableConnection + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    let cancel_safe = matches!(settings.url, DatabaseUrl::Postgres(_));
    let mut builder = Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(settings.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1);
    // Creating or recycling a SQLite connection runs blocking work that must not be cut
    // off (see the module docs); only PostgreSQL's may time out.
    if cancel_safe {
        builder = builder
            .create_timeout(Some(settings.acquire_timeout))
            .recycle_timeout(Some(Duration::from_secs(5)));
    }
    builder
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}
