//! Builds and runs the hub: data directory, secret key, database and migrations, the
//! first admin, then the HTTP server. Tests start the same [`Application`] on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::auth::{self, HashGate, LoginLimiter};
use crate::config::Settings;
use crate::db::{Database, StoreError};
use crate::metrics::Metrics;
use crate::routes;
use crate::secrets::{SecretError, SecretKey};
use crate::state::AppState;
use crate::store::{self, Actor, agents::NewAgent};

/// How long an upload may wait for a message before housekeeping removes it.
pub const ABANDONED_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);

/// Removes uploads never sent with a message once older than `older_than` (rows and
/// files), a batch per call; housekeeping calls it every hour.
pub async fn remove_abandoned_uploads(state: &AppState, older_than: Duration) {
    let age = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::hours(24));
    let keys = match state.db.writer().await {
        Ok(mut conn) => store::attachments::delete_abandoned(&mut conn, age, 500).await,
        Err(error) => Err(error),
    };
    match keys {
        Ok(keys) => {
            for key in &keys {
                if let Err(error) = state.hub.files.blobs().delete(key).await {
                    tracing::warn!(%error, key, "cannot remove an abandoned upload");
                }
            }
            if !keys.is_empty() {
                tracing::info!(files = keys.len(), "removed uploads that were never sent");
            }
        }
        Err(error) => tracing::warn!(%error, "abandoned-upload clean-up failed"),
    }
}

/// Why the hub could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database {url}: {source}")]
    Database { url: String, source: StoreError },
    #[error("cannot listen on {addr}: {source} (change SWITCHBOARD_LISTEN)")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the first admin: {0}")]
    FirstAdmin(String),
    #[error("attachment storage: {0} (check the [storage] settings)")]
    Storage(String),
    #[error(transparent)]
    Cluster(#[from] crate::realtime::cluster::ClusterError),
    #[error(
        "several nodes (SWITCHBOARD_CLUSTER_NATS_URL) share one PostgreSQL database; \
         set SWITCHBOARD_DATABASE_URL to postgres://…"
    )]
    ClusterNeedsPostgres,
}

/// A built hub, bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares storage and binds the listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        create_private_dir(&settings.data_dir).map_err(|source| StartupError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let secret =
            SecretKey::load_or_generate(&settings.data_dir, settings.auth.secret_key.as_deref())?;
        let db_error = |source| StartupError::Database {
            url: settings.database.url.to_string(),
            source,
        };
        let db = Database::connect(&settings.database)
            .await
            .map_err(db_error)?;
        let applied = db.migrate().await.map_err(db_error)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied database migrations");
        }
        ensure_first_admin(&db, &settings).await?;
        // Made now in the background, off the async thread, so the first unknown-email login
        // is not slower; not awaited, so the hub is ready ~30 ms sooner (issue #23: exec to
        // ready). A login that comes first waits for the same hash.
        drop(actix_web::rt::task::spawn_blocking(auth::decoy_hash));

        let addr = settings.server.listen;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        let port = bound.port();
        let mut settings = settings;
        if settings.server.public_url_derived {
            settings.server.public_url = crate::config::derived_public_url(bound);
            if bound.ip().is_unspecified() {
                tracing::warn!(
                    public_url = %settings.server.public_url,
                    "SWITCHBOARD_PUBLIC_URL is not set; links and webhook URLs will use this \
                     address, which others cannot reach"
                );
            }
        }

        let settings = Arc::new(settings);
        let files = crate::files::Files::open(&settings, secret.clone())
            .await
            .map_err(|e| StartupError::Storage(e.to_string()))?;
        let updates = crate::metrics::ChannelUpdates::default();
        let uploads = files.upload_metrics().clone();
        let cluster = match &settings.cluster {
            Some(cluster) if db.backend_name() == "postgres" => Some(
                crate::realtime::cluster::join(cluster, settings.realtime.replay_events).await?,
            ),
            Some(_) => return Err(StartupError::ClusterNeedsPostgres),
            None => None,
        };
        let hub = crate::hub::Hub::start(
            db.clone(),
            settings.clone(),
            Arc::new(files),
            &updates,
            cluster,
        )
        .await
        .map_err(|source| StartupError::Database {
            url: settings.database.url.to_string(),
            source,
        })?;
        let metrics = Metrics::new(db.backend_name(), &updates, &uploads, db.statements(), &hub);
        let state = web::Data::new(AppState {
            hub,
            login_limiter: LoginLimiter::new(
                settings.auth.login_attempts_per_ip,
                settings.auth.login_attempts_per_account,
            ),
            hash_gate: HashGate::default(),
            reports: crate::reports::Refresher::default(),
            metrics,
            db,
            secret,
            settings,
        });
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(routes::refuse_nul_text))
                .wrap(from_fn(routes::run_to_completion))
                .wrap(from_fn(routes::observe))
                .wrap(TracingLogger::<crate::telemetry::RequestSpans>::new())
                .app_data(server_state.clone())
                .configure(|cfg| routes::configure(cfg, &server_state.settings))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr, source })?
        .workers(match state.settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        })
        .shutdown_timeout(state.settings.server.shutdown_timeout.as_secs())
        // Signals are handled by `serve` (graceful on SIGTERM and SIGINT alike); tests
        // start many hubs in one process and must not install handlers.
        .disable_signals()
        // Without it Nagle holds back small writes (websocket events) until the client's
        // delayed ACK, up to 40 ms per frame; actix-web leaves the OS default otherwise.
        .tcp_nodelay(true)
        .run();

        tracing::info!(
            url = %format!("http://{}:{port}", addr.ip()),
            public_url = %state.settings.server.public_url,
            database = %state.settings.database.url,
            data_dir = %std::path::absolute(&state.settings.data_dir)
                .unwrap_or_else(|_| state.settings.data_dir.clone())
                .display(),
            "switchboard is listening"
        );
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port (the real one when the configured port was 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state, for tests and background tasks.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Application::handle`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        // Keep the login limiter's memory bounded however many addresses try, and clear
        // expired sessions away.
        let housekeeping = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
            for round in 0u64.. {
                tick.tick().await;
                state.login_limiter.shrink();
                // What follows works on the shared database: one node at a time.
                if !state
                    .hub
                    .housekeeper
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    continue;
                }
                // Reports stay current without a reader waiting (the first round fills in
                // what happened before this version, or since the last run).
                if let Err(error) = state.reports.ensure_fresh(&state.db).await {
                    tracing::warn!(%error, "report rollups not refreshed");
                }
                if round % 10 == 0 {
                    match state.db.writer().await {
                        Ok(mut conn) => {
                            match store::agents::delete_expired_sessions(&mut conn).await {
                                Ok(0) => {}
                                Ok(n) => tracing::debug!(n, "deleted expired sessions"),
                                Err(error) => tracing::warn!(%error, "session clean-up failed"),
                            }
                        }
                        Err(error) => tracing::warn!(%error, "session clean-up: no connection"),
                    }
                }
                if round % 60 == 30 {
                    remove_abandoned_uploads(&state, ABANDONED_UPLOAD_AGE).await;
                }
            }
        });
        let result = self.server.await;
        housekeeping.abort();
        self.state.hub.shutdown().await;
        result
    }
}

/// Creates the data directory (and parents) readable by the hub's user only; an existing
/// directory keeps its permissions.
fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates the configured first admin while no agent exists; otherwise, on an empty hub,
/// tells the operator in one line how to create one.
async fn ensure_first_admin(db: &Database, settings: &Settings) -> Result<(), StartupError> {
    let fail = |e: &dyn std::fmt::Display| StartupError::FirstAdmin(e.to_string());
    match &settings.admin {
        Some(admin) => {
            let ignored = || {
                tracing::info!(
                    email = %admin.email,
                    "agents exist already: SWITCHBOARD_ADMIN_EMAIL and SWITCHBOARD_ADMIN_PASSWORD \
                     were ignored (sign in with an existing account, or reset a password with \
                     `switchboard admin reset-password --email …`)"
                );
            };
            // Counted first, so a restarted hub does not hash a password it will not use.
            let existing = {
                let conn = &mut db.reader().await.map_err(|e| fail(&e))?;
                store::agents::count(conn).await.map_err(|e| fail(&e))?
            };
            if existing > 0 {
                ignored();
                return Ok(());
            }
            let password = admin.password.clone();
            let password_hash =
                actix_web::rt::task::spawn_blocking(move || auth::hash_password(&password))
                    .await
                    .map_err(|e| fail(&e))?
                    .map_err(|e| fail(&e))?;
            let new = NewAgent {
                email: admin.email.clone(),
                name: admin.name.clone(),
                role: crate::db::types::Role::Admin,
                password_hash,
                capacity: None,
            };
            let conn = &mut db.writer().await.map_err(|e| fail(&e))?;
            match store::agents::create_first_admin(conn, &new, &Actor::system())
                .await
                .map_err(|e| fail(&e))?
            {
                Some(agent) => tracing::info!(email = %agent.email, "created the first admin"),
                None => ignored(),
            }
        }
        None => {
            let conn = &mut db.reader().await.map_err(|e| fail(&e))?;
            if store::agents::count(conn).await.map_err(|e| fail(&e))? == 0 {
                eprintln!(
                    "No agent exists yet. Create the first admin with \
                     `switchboard admin create --email you@example.com --name \"Your Name\"`, \
                     or start with SWITCHBOARD_ADMIN_EMAIL and SWITCHBOARD_ADMIN_PASSWORD set."
                );
            }
        }
    }
    Ok(())
}
