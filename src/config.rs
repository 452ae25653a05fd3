//! Typed, layered configuration.
//!
//! Layers, later ones win: `config/default.toml` (compiled in, so the binary runs from any
//! directory), `config/local.toml` when present, then `SWITCHBOARD_*` environment variables.
//! Everything is parsed into typed values at start-up; a bad value stops the hub with a
//! message that names the setting and its environment variable, never later at first use.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::domain::{DisplayName, EmailAddress, Password};

/// The defaults, documented setting by setting; kept in the repository as the reference.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Environment variable naming the folder that holds `local.toml`.
pub const CONFIG_DIR_ENV: &str = "SWITCHBOARD_CONFIG_DIR";

/// All settings of the hub, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder for the SQLite database, the generated secret key and later attachments.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    /// The first admin to create while no agent exists (both variables given).
    pub admin: Option<FirstAdmin>,
    pub inbound: InboundSettings,
    pub outbound: OutboundSettings,
    pub realtime: RealtimeSettings,
    pub notifications: NotificationSettings,
    pub storage: StorageSettings,
    pub attachments: AttachmentSettings,
    pub reports: ReportSettings,
    /// Several nodes on one database (`None`: a single node, no NATS at run time).
    pub cluster: Option<ClusterSettings>,
}

/// How the nodes of one hub share realtime events, presence and viewers: through a NATS
/// server with JetStream, whose stream numbers every event once for all nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `nats://host:4222` (several comma-separated servers of one NATS cluster are fine).
    pub nats_url: String,
    /// Names the JetStream stream and the subjects; every node of one hub uses the same.
    pub name: String,
    /// This node's name in logs and presence (unique per running process).
    pub node: String,
}

/// Who besides admins reads reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentReports {
    /// Agents read their own figures only (the default).
    Own,
    /// Agents read every report, as admins do.
    All,
    /// Only admins read reports.
    None,
}

/// The reports' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub agents: AgentReports,
}

/// Where attachment bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    pub backend: StorageBackend,
}

/// The blob store behind attachments and thumbnails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// Files under `root` (`<data_dir>/attachments`).
    Filesystem { root: PathBuf },
    /// An S3-compatible object store (AWS S3, MinIO, Ceph, R2, ...).
    S3(S3Settings),
}

impl StorageBackend {
    /// "filesystem" or "s3", for logs and `/ready`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Filesystem { .. } => "filesystem",
            Self::S3(_) => "s3",
        }
    }
}

/// Connection to an S3-compatible bucket. `Debug` never prints the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Base URL of the S3 API without the bucket (`http://127.0.0.1:9000`); `None` means
    /// AWS itself for `region`.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Static credentials; both empty means the standard AWS credential chain (AWS_*
    /// variables, web identity, container or instance role).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `http://host/bucket/key` instead of `http://bucket.host/key`.
    pub path_style: bool,
    /// Downloads answer with a redirect to a presigned URL instead of streaming the bytes
    /// through the hub.
    pub redirect_downloads: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.secret_access_key.is_empty() {
            ""
        } else {
            "***"
        };
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &secret)
            .field("path_style", &self.path_style)
            .field("redirect_downloads", &self.redirect_downloads)
            .finish()
    }
}

/// Limits on uploaded attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSettings {
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Largest single image (images are decoded for thumbnails, so they get a lower limit).
    pub max_image_bytes: u64,
    /// Largest total of all attachments of one message.
    pub max_message_bytes: u64,
    /// Largest width or height of an image, in pixels (decompression bombs).
    pub max_image_dimension: u32,
    /// Lifetime of signed download URLs.
    pub url_ttl: Duration,
    /// Whether channels' media may be fetched from loopback, private and link-local
    /// addresses (off: a webhook must not make the hub probe its own network).
    pub fetch_private_addresses: bool,
    /// Bytes one widget visitor may upload in 24 hours (rolling); 0 = unlimited. Anonymous
    /// uploads are the one way strangers can fill the hub's storage.
    pub visitor_daily_bytes: u64,
    /// Bytes all visitors of one widget inbox may upload in 24 hours (rolling); 0 = unlimited.
    /// Bounds what many fresh visitor sessions can store together.
    pub inbox_daily_bytes: u64,
    /// Free space the filesystem blob store keeps: below it uploads are refused (507), so
    /// the database and the logs on that disk can still write. 0 = no floor; not used on S3.
    pub min_free_disk_bytes: u64,
}

/// The inbound batching writer (group commit, see DESIGN.md).
#[derive(Debug, Clone)]
pub struct InboundSettings {
    /// Most events written in one transaction.
    pub batch_max_events: usize,
    /// How long the writer waits for more events after the first of a batch.
    pub batch_wait: Duration,
    /// Writers committing in parallel on PostgreSQL (SQLite has one writer connection, so
    /// one writer). Events of one contact always go to the same writer, keeping their order.
    pub writers: usize,
}

/// Sending replies through channels.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// Attempts before a reply that keeps failing transiently is marked failed.
    pub max_attempts: u32,
    pub send_timeout: Duration,
    /// First retry delay; doubled per attempt (with jitter) up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Sends in flight per channel.
    pub concurrency: usize,
    /// Sends per second per channel (the provider's limit).
    pub rate_per_second: NonZeroU32,
}

/// Notifications by email (the bell needs no settings).
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// The SMTP server and sender; `None`: no notification email.
    pub email: Option<NotificationEmail>,
    /// How long a notification may stay unread before an online or busy agent gets it
    /// by email.
    pub email_after: Duration,
    /// The least time between two digests to one agent.
    pub email_digest: Duration,
    /// How often the mailer looks for notifications to send.
    pub email_check: Duration,
}

/// Where notification mail goes out.
#[derive(Clone)]
pub struct NotificationEmail {
    pub host: String,
    pub port: u16,
    pub tls: switchboard_email::Tls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From address.
    pub from: String,
}

impl fmt::Debug for NotificationEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationEmail")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The agents' realtime stream.
#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// Events kept for clients that reconnect.
    pub replay_events: usize,
    /// Events buffered per connection before a slow client is told to resync.
    pub client_buffer: usize,
    /// A conversation actor stops after this long without work.
    pub conversation_idle: Duration,
    /// How often an open agent socket re-checks its sign-in (logout, revoked token,
    /// deactivation and role changes reach open sockets within this time).
    pub recheck: Duration,
    /// Open widget visitor sockets one client address (an IPv6 /64) may hold.
    pub visitor_sockets_per_address: usize,
    /// Open widget visitor sockets in all; `0`: derived from the process's open-file limit,
    /// keeping a fifth of it (at least 256) for webhooks, agents and the database.
    pub max_visitor_sockets: usize,
}

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Always ends with `/`.
    pub public_url: Url,
    /// True when not configured: derived from the bound address at start-up.
    pub public_url_derived: bool,
    /// 0 means one worker per core.
    pub workers: usize,
    pub shutdown_timeout: Duration,
    pub trust_proxy_headers: bool,
    pub max_json_bytes: usize,
}

/// `http://<address>/` for a listen address; a wildcard address becomes 127.0.0.1 (the
/// caller warns that the real public URL should be configured).
pub fn derived_public_url(addr: SocketAddr) -> Url {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Url::parse(&format!("http://{host}:{}/", addr.port()))
        .unwrap_or_else(|_| unreachable!("an IP and a port always make a valid URL"))
}

impl ServerSettings {
    /// Session cookies must be `Secure` exactly when users reach the hub over https.
    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: usize,
    pub acquire_timeout: Duration,
    pub busy_timeout: Duration,
}

/// Which backend to use and where it is; parsed once so the rest of the code matches on it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Path of the SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A `postgres://` connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` or `postgres://...`/`postgresql://...`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if let Some(path) = value.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "sqlite:// needs a file path, e.g. sqlite://data/switchboard.db".into(),
                );
            }
            if path.contains(":memory:") || path.starts_with("file:") {
                return Err(
                    "in-memory SQLite is not supported: the hub needs a durable file".into(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let url = Url::parse(value).map_err(|e| format!("not a valid URL: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("the PostgreSQL URL needs a host".into());
            }
            return Ok(Self::Postgres(value.to_owned()));
        }
        Err("must start with sqlite:// or postgres://".into())
    }

    /// Short backend name for logs, metrics and `/ready`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Never prints a PostgreSQL password into logs or error messages.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(raw) => match Url::parse(raw) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    if url.query_pairs().any(|(k, _)| k == "password") {
                        let pairs: Vec<(String, String)> = url
                            .query_pairs()
                            .map(|(k, v)| {
                                let v = if k == "password" {
                                    "***".into()
                                } else {
                                    v.into_owned()
                                };
                                (k.into_owned(), v)
                            })
                            .collect();
                        url.query_pairs_mut().clear().extend_pairs(pairs);
                    }
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("postgres://(unparsable)"),
            },
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A `tracing` filter directive, already checked to parse.
    pub level: String,
    pub format: LogFormat,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Authentication settings.
#[derive(Clone)]
pub struct AuthSettings {
    /// Configured signing key; `None` means generate and keep one in the data directory.
    pub secret_key: Option<String>,
    pub session_ttl: Duration,
    pub login_attempts_per_ip: NonZeroU32,
    pub login_attempts_per_account: NonZeroU32,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("session_ttl", &self.session_ttl)
            .field("login_attempts_per_ip", &self.login_attempts_per_ip)
            .field(
                "login_attempts_per_account",
                &self.login_attempts_per_account,
            )
            .finish()
    }
}

/// The admin created on first start from `SWITCHBOARD_ADMIN_EMAIL`/`_PASSWORD`.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: EmailAddress,
    pub password: Password,
    pub name: DisplayName,
}

/// Why configuration could not be loaded; the message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("configuration: {0}")]
    Shape(String),
    #[error("invalid setting `{setting}` (env {env}): {reason}")]
    Invalid {
        setting: &'static str,
        env: &'static str,
        reason: String,
    },
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
}

/// Every environment variable the hub reads, and the setting it overrides.
/// These names are a contract with operators' scripts: rename none of them.
const ENV_OVERRIDES: &[(&str, &str, Kind)] = &[
    ("SWITCHBOARD_DATA_DIR", "data_dir", Kind::Text),
    ("SWITCHBOARD_LISTEN", "server.listen", Kind::Text),
    ("SWITCHBOARD_PUBLIC_URL", "server.public_url", Kind::Text),
    ("SWITCHBOARD_WORKERS", "server.workers", Kind::Integer),
    (
        "SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS",
        "server.shutdown_timeout_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_TRUST_PROXY_HEADERS",
        "server.trust_proxy_headers",
        Kind::Boolean,
    ),
    (
        "SWITCHBOARD_MAX_JSON_BYTES",
        "server.max_json_bytes",
        Kind::Integer,
    ),
    ("SWITCHBOARD_DATABASE_URL", "database.url", Kind::Text),
    (
        "SWITCHBOARD_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS",
        "database.acquire_timeout_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_DATABASE_BUSY_TIMEOUT_MS",
        "database.busy_timeout_ms",
        Kind::Integer,
    ),
    ("SWITCHBOARD_LOG_LEVEL", "log.level", Kind::Text),
    ("SWITCHBOARD_LOG_FORMAT", "log.format", Kind::Text),
    ("SWITCHBOARD_REPORTS_AGENTS", "reports.agents", Kind::Text),
    ("SWITCHBOARD_SECRET_KEY", "auth.secret_key", Kind::Text),
    (
        "SWITCHBOARD_SESSION_TTL_HOURS",
        "auth.session_ttl_hours",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_LOGIN_ATTEMPTS_PER_IP",
        "auth.login_attempts_per_ip",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT",
        "auth.login_attempts_per_account",
        Kind::Integer,
    ),
    ("SWITCHBOARD_ADMIN_EMAIL", "admin.email", Kind::Text),
    ("SWITCHBOARD_ADMIN_PASSWORD", "admin.password", Kind::Text),
    ("SWITCHBOARD_ADMIN_NAME", "admin.name", Kind::Text),
    (
        "SWITCHBOARD_INBOUND_BATCH_MAX_EVENTS",
        "inbound.batch_max_events",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_INBOUND_BATCH_WAIT_MS",
        "inbound.batch_wait_ms",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_INBOUND_WRITERS",
        "inbound.writers",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_MAX_ATTEMPTS",
        "outbound.max_attempts",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_SEND_TIMEOUT_SECS",
        "outbound.send_timeout_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_RETRY_BASE_MS",
        "outbound.retry_base_ms",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_RETRY_MAX_SECS",
        "outbound.retry_max_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_CONCURRENCY",
        "outbound.concurrency",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_OUTBOUND_RATE_PER_SECOND",
        "outbound.rate_per_second",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_REPLAY_EVENTS",
        "realtime.replay_events",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_CLIENT_BUFFER",
        "realtime.client_buffer",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_CONVERSATION_IDLE_SECS",
        "realtime.conversation_idle_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_RECHECK_SECS",
        "realtime.recheck_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_VISITOR_SOCKETS_PER_ADDRESS",
        "realtime.visitor_sockets_per_address",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_REALTIME_MAX_VISITOR_SOCKETS",
        "realtime.max_visitor_sockets",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_CLUSTER_NATS_URL",
        "cluster.nats_url",
        Kind::Text,
    ),
    ("SWITCHBOARD_CLUSTER_NAME", "cluster.name", Kind::Text),
    ("SWITCHBOARD_CLUSTER_NODE", "cluster.node", Kind::Text),
    ("SWITCHBOARD_STORAGE_BACKEND", "storage.backend", Kind::Text),
    (
        "SWITCHBOARD_STORAGE_S3_ENDPOINT",
        "storage.s3_endpoint",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_BUCKET",
        "storage.s3_bucket",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_REGION",
        "storage.s3_region",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_ACCESS_KEY_ID",
        "storage.s3_access_key_id",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_SECRET_ACCESS_KEY",
        "storage.s3_secret_access_key",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_PATH_STYLE",
        "storage.s3_path_style",
        Kind::Boolean,
    ),
    (
        "SWITCHBOARD_STORAGE_S3_REDIRECT_DOWNLOADS",
        "storage.s3_redirect_downloads",
        Kind::Boolean,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB",
        "attachments.max_file_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB",
        "attachments.max_image_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_MAX_MESSAGE_MB",
        "attachments.max_message_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_DIMENSION",
        "attachments.max_image_dimension",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS",
        "attachments.url_ttl_secs",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_FETCH_PRIVATE_ADDRESSES",
        "attachments.fetch_private_addresses",
        Kind::Boolean,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_VISITOR_DAILY_MB",
        "attachments.visitor_daily_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_INBOX_DAILY_MB",
        "attachments.inbox_daily_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_ATTACHMENTS_MIN_FREE_DISK_MB",
        "attachments.min_free_disk_mb",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_SMTP_HOST",
        "notifications.smtp_host",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_SMTP_PORT",
        "notifications.smtp_port",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_SMTP_TLS",
        "notifications.smtp_tls",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_SMTP_USERNAME",
        "notifications.smtp_username",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_SMTP_PASSWORD",
        "notifications.smtp_password",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_EMAIL_FROM",
        "notifications.email_from",
        Kind::Text,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_EMAIL_AFTER_MINUTES",
        "notifications.email_after_minutes",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_EMAIL_DIGEST_MINUTES",
        "notifications.email_digest_minutes",
        Kind::Integer,
    ),
    (
        "SWITCHBOARD_NOTIFICATIONS_EMAIL_CHECK_SECS",
        "notifications.email_check_secs",
        Kind::Integer,
    ),
];

/// The environment variable of a setting, for error messages.
fn env_of(setting: &str) -> &'static str {
    ENV_OVERRIDES
        .iter()
        .find(|(_, path, _)| *path == setting)
        .map_or("-", |(env, _, _)| env)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    data_dir: String,
    server: RawServer,
    database: RawDatabase,
    log: RawLog,
    auth: RawAuth,
    admin: RawAdmin,
    inbound: RawInbound,
    outbound: RawOutbound,
    realtime: RawRealtime,
    storage: RawStorage,
    attachments: RawAttachments,
    notifications: RawNotifications,
    reports: RawReports,
    cluster: RawCluster,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    nats_url: String,
    name: String,
    node: String,
}

impl RawCluster {
    fn validate(&self) -> Result<Option<ClusterSettings>, ConfigError> {
        let nats_url = self.nats_url.trim();
        if nats_url.is_empty() {
            return Ok(None);
        }
        for server in nats_url.split(',') {
            let parsed = Url::parse(server.trim())
                .map_err(|e| invalid("cluster.nats_url", format!("{server:?}: {e}")))?;
            if !matches!(parsed.scheme(), "nats" | "tls") || parsed.host_str().is_none() {
                return Err(invalid(
                    "cluster.nats_url",
                    format!("{server:?} is not nats://host:port"),
                ));
            }
        }
        let name = self.name.trim();
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !valid_name(name) {
            return Err(invalid(
                "cluster.name",
                "1 to 64 letters, digits, '-' or '_' (it names a JetStream stream)",
            ));
        }
        let node = match self.node.trim() {
            "" => format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
                hex::encode(crate::auth::random_bytes::<4>())
            ),
            node => node.to_owned(),
        };
        Ok(Some(ClusterSettings {
            nats_url: nats_url.to_owned(),
            name: name.to_owned(),
            node,
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    agents: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifications {
    smtp_host: String,
    smtp_port: i64,
    smtp_tls: String,
    smtp_username: String,
    smtp_password: String,
    email_from: String,
    email_after_minutes: i64,
    email_digest_minutes: i64,
    email_check_secs: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    backend: String,
    s3_endpoint: String,
    s3_bucket: String,
    s3_region: String,
    s3_access_key_id: String,
    s3_secret_access_key: String,
    s3_path_style: bool,
    s3_redirect_downloads: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttachments {
    max_file_mb: i64,
    max_image_mb: i64,
    max_message_mb: i64,
    max_image_dimension: i64,
    url_ttl_secs: i64,
    fetch_private_addresses: bool,
    visitor_daily_mb: i64,
    inbox_daily_mb: i64,
    min_free_disk_mb: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInbound {
    batch_max_events: i64,
    batch_wait_ms: i64,
    writers: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    max_attempts: i64,
    send_timeout_secs: i64,
    retry_base_ms: i64,
    retry_max_secs: i64,
    concurrency: i64,
    rate_per_second: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealtime {
    replay_events: i64,
    client_buffer: i64,
    conversation_idle_secs: i64,
    recheck_secs: i64,
    visitor_sockets_per_address: i64,
    max_visitor_sockets: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    public_url: String,
    workers: i64,
    shutdown_timeout_secs: i64,
    trust_proxy_headers: bool,
    max_json_bytes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
    max_connections: i64,
    acquire_timeout_secs: i64,
    busy_timeout_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: String,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    secret_key: String,
    session_ttl_hours: i64,
    login_attempts_per_ip: i64,
    login_attempts_per_account: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    email: String,
    password: String,
    name: String,
}

impl Settings {
    /// Loads the settings the way the binary does: defaults, `config/local.toml` (or
    /// `$SWITCHBOARD_CONFIG_DIR/local.toml`, which must then exist), then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut env = HashMap::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().filter(|k| k.starts_with("SWITCHBOARD_")) else {
                continue;
            };
            let value = value
                .into_string()
                .map_err(|_| ConfigError::Shape(format!("{key} is not valid UTF-8")))?;
            env.insert(key.to_owned(), value);
        }
        match env.get(CONFIG_DIR_ENV) {
            Some(dir) => Self::load_from(Path::new(dir), true, &env),
            None => Self::load_from(Path::new("config"), false, &env),
        }
    }

    /// Loads from a config folder and an environment, so tests need not touch the process
    /// environment. With `required`, a missing `local.toml` is an error: a folder named on
    /// purpose without its file is a mistake, not a reason to run on defaults.
    pub fn load_from(
        config_dir: &Path,
        required: bool,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let local_path = config_dir.join("local.toml");
        let local = match std::fs::read_to_string(&local_path) {
            Ok(text) => Some((local_path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: local_path,
                    source,
                });
            }
        };
        let local = local.as_ref().map(|(p, t)| (p.as_path(), t.as_str()));
        Self::from_layers(local, env)
    }

    /// Builds settings from the compiled-in defaults, an optional local file's text and
    /// an environment.
    pub fn from_layers(
        local: Option<(&Path, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut table = parse_table("config/default.toml", DEFAULT_TOML)?;
        if let Some((path, text)) = local {
            let overlay = parse_table(&path.display().to_string(), text)?;
            merge(&mut table, overlay);
        }
        for (var, setting, kind) in ENV_OVERRIDES {
            if let Some(text) = env.get(*var) {
                if text.trim().is_empty() {
                    // e.g. `${DATABASE_URL}` of an unset variable in a compose file: running
                    // on a fresh default database instead would be a silent disaster.
                    return Err(ConfigError::Invalid {
                        setting,
                        env: var,
                        reason: "is set but empty; unset it to use the default".into(),
                    });
                }
                let value = env_value(text, *kind).map_err(|reason| ConfigError::Invalid {
                    setting,
                    env: var,
                    reason,
                })?;
                set_path(&mut table, setting, value);
            }
        }
        let raw: RawSettings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let setting = e.path().to_string();
                let reason = e.into_inner().message().trim().to_owned();
                ConfigError::Shape(format!("`{setting}`: {reason}"))
            })?;
        raw.validate()
    }
}

fn parse_table(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
}

/// Deep-merges `overlay` into `base`: tables merge key by key, other values replace.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((section, key)) => {
            let entry = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                inner.insert(key.to_owned(), value);
            }
        }
        None => {
            table.insert(path.to_owned(), value);
        }
    }
}

fn env_value(text: &str, kind: Kind) -> Result<toml::Value, String> {
    match kind {
        Kind::Text => Ok(toml::Value::String(text.to_owned())),
        Kind::Integer => text
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        env: env_of(setting),
        reason: reason.into(),
    }
}

fn in_range(setting: &'static str, value: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            setting,
            format!("{value} is outside the allowed range {min}..={max}"),
        ))
    }
}

fn non_zero(setting: &'static str, value: i64) -> Result<NonZeroU32, ConfigError> {
    let value = in_range(setting, value, 1, 1_000_000)?;
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| invalid(setting, "must be at least 1"))
}

impl RawSettings {
    fn validate(self) -> Result<Settings, ConfigError> {
        let data_dir = self.data_dir.trim();
        if data_dir.is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        let data_dir = PathBuf::from(data_dir);

        let listen: SocketAddr = self.server.listen.trim().parse().map_err(|_| {
            invalid(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    self.server.listen
                ),
            )
        })?;
        let public_url_derived = self.server.public_url.trim().is_empty();
        let mut public_url = match self.server.public_url.trim() {
            "" => derived_public_url(listen),
            text => Url::parse(text)
                .map_err(|e| invalid("server.public_url", format!("{text:?} is not a URL: {e}")))?,
        };
        // A base URL without the trailing slash would lose its last segment in joins.
        if !public_url.path().ends_with('/') {
            let path = format!("{}/", public_url.path());
            public_url.set_path(&path);
        }
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host_str().is_none() {
            return Err(invalid(
                "server.public_url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        let server = ServerSettings {
            listen,
            public_url,
            public_url_derived,
            workers: in_range("server.workers", self.server.workers, 0, 1024)? as usize,
            shutdown_timeout: Duration::from_secs(in_range(
                "server.shutdown_timeout_secs",
                self.server.shutdown_timeout_secs,
                0,
                3600,
            )? as u64),
            trust_proxy_headers: self.server.trust_proxy_headers,
            max_json_bytes: in_range(
                "server.max_json_bytes",
                self.server.max_json_bytes,
                1024,
                1 << 30,
            )? as usize,
        };

        let url = if self.database.url.trim().is_empty() {
            DatabaseUrl::Sqlite(data_dir.join("switchboard.db"))
        } else {
            DatabaseUrl::parse(&self.database.url).map_err(|r| invalid("database.url", r))?
        };
        let database = DatabaseSettings {
            url,
            max_connections: in_range(
                "database.max_connections",
                self.database.max_connections,
                1,
                1000,
            )? as usize,
            acquire_timeout: Duration::from_secs(in_range(
                "database.acquire_timeout_secs",
                self.database.acquire_timeout_secs,
                1,
                600,
            )? as u64),
            busy_timeout: Duration::from_millis(in_range(
                "database.busy_timeout_ms",
                self.database.busy_timeout_ms,
                0,
                600_000,
            )? as u64),
        };

        let level = self.log.level.trim().to_owned();
        tracing_subscriber::EnvFilter::try_new(&level)
            .map_err(|e| invalid("log.level", format!("{level:?}: {e}")))?;
        let format = match self.log.format.trim() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is not \"pretty\" or \"json\""),
                ));
            }
        };

        let secret_key = match self.auth.secret_key.trim() {
            "" => None,
            key if key.chars().count() < 32 => {
                return Err(invalid(
                    "auth.secret_key",
                    "must be at least 32 characters (or empty to generate one)",
                ));
            }
            key => Some(key.to_owned()),
        };
        let auth = AuthSettings {
            secret_key,
            session_ttl: Duration::from_secs(
                in_range(
                    "auth.session_ttl_hours",
                    self.auth.session_ttl_hours,
                    1,
                    24 * 365,
                )? as u64
                    * 3600,
            ),
            login_attempts_per_ip: non_zero(
                "auth.login_attempts_per_ip",
                self.auth.login_attempts_per_ip,
            )?,
            login_attempts_per_account: non_zero(
                "auth.login_attempts_per_account",
                self.auth.login_attempts_per_account,
            )?,
        };

        let admin = match (self.admin.email.trim(), self.admin.password.as_str()) {
            ("", "") => None,
            ("", _) => {
                return Err(invalid(
                    "admin.email",
                    "is required when the admin password is set",
                ));
            }
            (_, "") => {
                return Err(invalid(
                    "admin.password",
                    "is required when the admin email is set",
                ));
            }
            (email, password) => Some(FirstAdmin {
                email: EmailAddress::parse(email).map_err(|r| invalid("admin.email", r))?,
                password: Password::parse(password).map_err(|r| invalid("admin.password", r))?,
                name: DisplayName::parse(&self.admin.name).map_err(|r| invalid("admin.name", r))?,
            }),
        };

        let inbound = InboundSettings {
            batch_max_events: in_range(
                "inbound.batch_max_events",
                self.inbound.batch_max_events,
                1,
                10_000,
            )? as usize,
            batch_wait: Duration::from_millis(in_range(
                "inbound.batch_wait_ms",
                self.inbound.batch_wait_ms,
                0,
                1000,
            )? as u64),
            writers: in_range("inbound.writers", self.inbound.writers, 1, 64)? as usize,
        };
        let o = &self.outbound;
        let outbound = OutboundSettings {
            max_attempts: in_range("outbound.max_attempts", o.max_attempts, 1, 1000)? as u32,
            send_timeout: Duration::from_secs(in_range(
                "outbound.send_timeout_secs",
                o.send_timeout_secs,
                1,
                600,
            )? as u64),
            retry_base: Duration::from_millis(in_range(
                "outbound.retry_base_ms",
                o.retry_base_ms,
                1,
                3_600_000,
            )? as u64),
            retry_max: Duration::from_secs(in_range(
                "outbound.retry_max_secs",
                o.retry_max_secs,
                1,
                86_400,
            )? as u64),
            concurrency: in_range("outbound.concurrency", o.concurrency, 1, 256)? as usize,
            rate_per_second: non_zero("outbound.rate_per_second", o.rate_per_second)?,
        };
        let r = &self.realtime;
        let realtime = RealtimeSettings {
            replay_events: in_range("realtime.replay_events", r.replay_events, 1, 10_000_000)?
                as usize,
            client_buffer: in_range("realtime.client_buffer", r.client_buffer, 1, 1_000_000)?
                as usize,
            conversation_idle: Duration::from_secs(in_range(
                "realtime.conversation_idle_secs",
                r.conversation_idle_secs,
                1,
                86_400,
            )? as u64),
            recheck: Duration::from_secs(
                in_range("realtime.recheck_secs", r.recheck_secs, 1, 3600)? as u64,
            ),
            visitor_sockets_per_address: in_range(
                "realtime.visitor_sockets_per_address",
                r.visitor_sockets_per_address,
                1,
                1_000_000,
            )? as usize,
            max_visitor_sockets: in_range(
                "realtime.max_visitor_sockets",
                r.max_visitor_sockets,
                0,
                10_000_000,
            )? as usize,
        };
        let storage = self.storage.validate(&data_dir)?;
        let attachments = self.attachments.validate()?;
        let notifications = self.notifications.validate(&server.public_url)?;
        let reports = ReportSettings {
            agents: match self.reports.agents.trim() {
                "own" => AgentReports::Own,
                "all" => AgentReports::All,
                "none" => AgentReports::None,
                other => {
                    return Err(invalid(
                        "reports.agents",
                        format!("{other:?} is not \"own\", \"all\" or \"none\""),
                    ));
                }
            },
        };
        let cluster = self.cluster.validate()?;
        Ok(Settings {
            cluster,
            data_dir,
            server,
            database,
            log: LogSettings { level, format },
            auth,
            admin,
            inbound,
            outbound,
            realtime,
            storage,
            attachments,
            notifications,
            reports,
        })
    }
}

impl RawNotifications {
    fn validate(&self, public_url: &Url) -> Result<NotificationSettings, ConfigError> {
        let host = self.smtp_host.trim();
        let email = if host.is_empty() {
            None
        } else {
            let tls = switchboard_email::Tls::parse(self.smtp_tls.trim()).ok_or_else(|| {
                invalid(
                    "notifications.smtp_tls",
                    "must be starttls, implicit or none",
                )
            })?;
            let from = match self.email_from.trim() {
                "" => format!(
                    "switchboard@{}",
                    public_url.host_str().unwrap_or("localhost")
                ),
                from => from.to_owned(),
            };
            if let Err(reason) = crate::domain::EmailAddress::parse(&from) {
                return Err(invalid(
                    "notifications.email_from",
                    format!("{from}: {reason}"),
                ));
            }
            let optional = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
            Some(NotificationEmail {
                host: host.to_owned(),
                port: in_range("notifications.smtp_port", self.smtp_port, 1, 65_535)? as u16,
                tls,
                username: optional(&self.smtp_username),
                password: optional(&self.smtp_password),
                from,
            })
        };
        // A day at most: older notifications are never mailed.
        let minutes = |setting, value| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                in_range(setting, value, 0, 24 * 60)? as u64 * 60,
            ))
        };
        Ok(NotificationSettings {
            email,
            email_after: minutes(
                "notifications.email_after_minutes",
                self.email_after_minutes,
            )?,
            email_digest: minutes(
                "notifications.email_digest_minutes",
                self.email_digest_minutes,
            )?,
            email_check: Duration::from_secs(in_range(
                "notifications.email_check_secs",
                self.email_check_secs,
                1,
                3600,
            )? as u64),
        })
    }
}

impl RawStorage {
    fn validate(self, data_dir: &Path) -> Result<StorageSettings, ConfigError> {
        let backend = match self.backend.trim() {
            "filesystem" => StorageBackend::Filesystem {
                root: data_dir.join("attachments"),
            },
            "s3" => StorageBackend::S3(self.s3()?),
            other => {
                return Err(invalid(
                    "storage.backend",
                    format!("{other:?} is not \"filesystem\" or \"s3\""),
                ));
            }
        };
        Ok(StorageSettings { backend })
    }

    /// The `s3_*` settings, checked only when the S3 backend is chosen.
    fn s3(self) -> Result<S3Settings, ConfigError> {
        let endpoint = match self.s3_endpoint.trim() {
            "" => None,
            text => {
                let url = Url::parse(text).map_err(|e| {
                    invalid("storage.s3_endpoint", format!("{text:?} is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https")
                    || url.host_str().is_none_or(str::is_empty)
                {
                    return Err(invalid(
                        "storage.s3_endpoint",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(invalid(
                        "storage.s3_endpoint",
                        "must not have a query or fragment",
                    ));
                }
                Some(text.trim_end_matches('/').to_owned())
            }
        };
        let bucket = self.s3_bucket.trim();
        if bucket.is_empty() {
            return Err(invalid(
                "storage.s3_bucket",
                "is required when storage.backend is \"s3\"",
            ));
        }
        if bucket.len() > 255
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(invalid(
                "storage.s3_bucket",
                format!("{bucket:?} is not a bucket name (letters, digits, '.', '-', '_')"),
            ));
        }
        let region = self.s3_region.trim();
        if region.is_empty() {
            return Err(invalid("storage.s3_region", "must not be empty"));
        }
        let access_key_id = self.s3_access_key_id.trim().to_owned();
        let secret_access_key = self.s3_secret_access_key.trim().to_owned();
        match (access_key_id.is_empty(), secret_access_key.is_empty()) {
            (true, false) => {
                return Err(invalid(
                    "storage.s3_access_key_id",
                    "is required when the secret access key is set",
                ));
            }
            (false, true) => {
                return Err(invalid(
                    "storage.s3_secret_access_key",
                    "is required when the access key id is set",
                ));
            }
            _ => {}
        }
        Ok(S3Settings {
            endpoint,
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            access_key_id,
            secret_access_key,
            path_style: self.s3_path_style,
            redirect_downloads: self.s3_redirect_downloads,
        })
    }
}

const MIB: u64 = 1024 * 1024;

impl RawAttachments {
    fn validate(self) -> Result<AttachmentSettings, ConfigError> {
        let file = in_range("attachments.max_file_mb", self.max_file_mb, 1, 2048)?;
        let image = in_range("attachments.max_image_mb", self.max_image_mb, 1, 2048)?;
        let message = in_range("attachments.max_message_mb", self.max_message_mb, 1, 8192)?;
        if image > file {
            return Err(invalid(
                "attachments.max_image_mb",
                format!("{image} is more than attachments.max_file_mb ({file})"),
            ));
        }
        if file > message {
            return Err(invalid(
                "attachments.max_file_mb",
                format!("{file} is more than attachments.max_message_mb ({message})"),
            ));
        }
        Ok(AttachmentSettings {
            max_file_bytes: file as u64 * MIB,
            max_image_bytes: image as u64 * MIB,
            max_message_bytes: message as u64 * MIB,
            max_image_dimension: in_range(
                "attachments.max_image_dimension",
                self.max_image_dimension,
                16,
                65_535,
            )? as u32,
            // Seven days is the longest an S3 (SigV4) presigned URL may live.
            url_ttl: Duration::from_secs(in_range(
                "attachments.url_ttl_secs",
                self.url_ttl_secs,
                10,
                604_800,
            )? as u64),
            fetch_private_addresses: self.fetch_private_addresses,
            visitor_daily_bytes: in_range(
                "attachments.visitor_daily_mb",
                self.visitor_daily_mb,
                0,
                MAX_STORAGE_MB,
            )? as u64
                * MIB,
            inbox_daily_bytes: in_range(
                "attachments.inbox_daily_mb",
                self.inbox_daily_mb,
                0,
                MAX_STORAGE_MB,
            )? as u64
                * MIB,
            min_free_disk_bytes: in_range(
                "attachments.min_free_disk_mb",
                self.min_free_disk_mb,
                0,
                MAX_STORAGE_MB,
            )? as u64
                * MIB,
        })
    }
}

/// Largest storage setting in MiB (about 1 EiB): any real disk or quota, and no overflow
/// in bytes.
const MAX_STORAGE_MB: i64 = 1 << 40;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_parse_into_the_embedded_sqlite_setup() {
        let s = Settings::from_layers(None, &env(&[])).expect("defaults are valid");
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("data/switchboard.db"))
        );
        assert!(s.admin.is_none());
        assert!(!s.server.cookies_secure());
        assert_eq!(s.server.public_url.as_str(), "http://127.0.0.1:8080/");
        assert!(s.server.public_url_derived);
    }

    #[test]
    fn local_file_overrides_defaults_and_env_overrides_both() {
        let local = "[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 3\n";
        let s = Settings::from_layers(
            Some((Path::new("local.toml"), local)),
            &env(&[
                ("SWITCHBOARD_WORKERS", "5"),
                ("SWITCHBOARD_DATA_DIR", "/srv/sb"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.server.workers, 5);
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("/srv/sb/switchboard.db"))
        );
    }

    #[test]
    fn every_documented_variable_is_applied() {
        let s = Settings::from_layers(
            None,
            &env(&[
                ("SWITCHBOARD_LISTEN", "127.0.0.1:0"),
                ("SWITCHBOARD_PUBLIC_URL", "https://support.example.com"),
                ("SWITCHBOARD_DATABASE_URL", "postgres://u:pw@db:5432/sb"),
                ("SWITCHBOARD_ADMIN_EMAIL", "Boss@Example.com"),
                ("SWITCHBOARD_ADMIN_PASSWORD", "correct horse battery"),
                ("SWITCHBOARD_LOG_FORMAT", "json"),
                ("SWITCHBOARD_TRUST_PROXY_HEADERS", "yes"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.server.listen.port(), 0);
        assert!(s.server.cookies_secure());
        assert!(s.server.trust_proxy_headers);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.database.url.backend_name(), "postgres");
        assert_eq!(s.database.url.to_string(), "postgres://u:***@db:5432/sb");
        assert_eq!(s.server.public_url.as_str(), "https://support.example.com/");
        assert!(!s.server.public_url_derived);
        let with_query = DatabaseUrl::parse("postgres://db/sb?user=u&password=hunter2").unwrap();
        assert!(!with_query.to_string().contains("hunter2"), "{with_query}");
        let admin = s.admin.expect("admin configured");
        assert_eq!(admin.email.as_str(), "boss@example.com");
    }

    #[test]
    fn bad_values_name_the_setting_and_variable() {
        let cases = [
            ("SWITCHBOARD_LISTEN", "not-an-address", "server.listen"),
            ("SWITCHBOARD_PUBLIC_URL", "ftp://x", "server.public_url"),
            ("SWITCHBOARD_WORKERS", "many", "server.workers"),
            ("SWITCHBOARD_DATABASE_URL", "mysql://x", "database.url"),
            (
                "SWITCHBOARD_DATABASE_URL",
                "sqlite://:memory:",
                "database.url",
            ),
            ("SWITCHBOARD_LOG_FORMAT", "xml", "log.format"),
            ("SWITCHBOARD_SECRET_KEY", "short", "auth.secret_key"),
            (
                "SWITCHBOARD_LOGIN_ATTEMPTS_PER_IP",
                "0",
                "auth.login_attempts_per_ip",
            ),
            (
                "SWITCHBOARD_ADMIN_EMAIL",
                "root@example.com",
                "admin.password",
            ),
            (
                "SWITCHBOARD_ADMIN_PASSWORD",
                "long enough pw",
                "admin.email",
            ),
            ("SWITCHBOARD_DATABASE_URL", "", "database.url"),
            ("SWITCHBOARD_DATA_DIR", "  ", "data_dir"),
        ];
        for (var, value, setting) in cases {
            let err = Settings::from_layers(None, &env(&[(var, value)]))
                .expect_err("must be refused")
                .to_string();
            assert!(err.contains(setting), "{var}={value}: {err}");
            assert!(err.contains("SWITCHBOARD_"), "{var}={value}: {err}");
        }
    }

    #[test]
    fn typos_and_broken_files_are_refused() {
        let err = Settings::from_layers(
            Some((Path::new("local.toml"), "[server]\nlisten_addr = \"x\"\n")),
            &env(&[]),
        )
        .expect_err("unknown key")
        .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let err = Settings::from_layers(
            Some((
                Path::new("local.toml"),
                "[database]\nmax_connections = \"eight\"\n",
            )),
            &env(&[]),
        )
        .expect_err("wrong type")
        .to_string();
        assert!(err.contains("database.max_connections"), "{err}");
        let err = Settings::from_layers(Some((Path::new("local.toml"), "[server")), &env(&[]))
            .expect_err("bad toml")
            .to_string();
        assert!(err.contains("local.toml"), "{err}");
    }

    #[test]
    fn public_url_keeps_its_path_and_wildcards_are_not_published() {
        let s = Settings::from_layers(
            None,
            &env(&[("SWITCHBOARD_PUBLIC_URL", "https://example.com/support")]),
        )
        .expect("valid");
        assert_eq!(s.server.public_url.as_str(), "https://example.com/support/");
        let wildcard = derived_public_url("0.0.0.0:9000".parse().unwrap());
        assert_eq!(wildcard.as_str(), "http://127.0.0.1:9000/");
        let v6 = derived_public_url("[::1]:9000".parse().unwrap());
        assert_eq!(v6.as_str(), "http://[::1]:9000/");
    }

    #[test]
    fn an_explicit_config_dir_must_hold_local_toml() {
        let dir = tempfile::tempdir().unwrap();
        let err = Settings::load_from(dir.path(), true, &env(&[])).expect_err("missing file");
        assert!(err.to_string().contains("local.toml"), "{err}");
        assert!(Settings::load_from(dir.path(), false, &env(&[])).is_ok());
    }

    #[test]
    fn storage_and_attachments_default_to_the_data_dir_and_documented_limits() {
        let s = Settings::from_layers(None, &env(&[("SWITCHBOARD_DATA_DIR", "/srv/sb")]))
            .expect("defaults are valid");
        assert_eq!(
            s.storage.backend,
            StorageBackend::Filesystem {
                root: PathBuf::from("/srv/sb/attachments")
            }
        );
        assert_eq!(s.storage.backend.name(), "filesystem");
        let a = &s.attachments;
        assert_eq!(a.max_file_bytes, 25 * 1024 * 1024);
        assert_eq!(a.max_image_bytes, 10 * 1024 * 1024);
        assert_eq!(a.max_message_bytes, 50 * 1024 * 1024);
        assert_eq!(a.max_image_dimension, 10_000);
        assert_eq!(a.url_ttl, Duration::from_secs(900));
        assert_eq!(a.visitor_daily_bytes, 50 * 1024 * 1024);
        assert_eq!(a.inbox_daily_bytes, 2048 * 1024 * 1024);
        assert_eq!(a.min_free_disk_bytes, 1024 * 1024 * 1024);
        // The S3 settings are only read with the S3 backend.
        let s = Settings::from_layers(
            None,
            &env(&[("SWITCHBOARD_STORAGE_S3_ENDPOINT", "not a url")]),
        )
        .expect("ignored on the filesystem backend");
        assert_eq!(s.storage.backend.name(), "filesystem");
    }

    #[test]
    fn s3_storage_is_configured_from_the_environment_and_hides_its_secret() {
        let s = Settings::from_layers(
            None,
            &env(&[
                ("SWITCHBOARD_STORAGE_BACKEND", "s3"),
                ("SWITCHBOARD_STORAGE_S3_ENDPOINT", "http://127.0.0.1:9000/"),
                ("SWITCHBOARD_STORAGE_S3_BUCKET", "sb-attachments"),
                ("SWITCHBOARD_STORAGE_S3_REGION", "eu-central-1"),
                ("SWITCHBOARD_STORAGE_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "SWITCHBOARD_STORAGE_S3_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG",
                ),
                ("SWITCHBOARD_STORAGE_S3_PATH_STYLE", "false"),
                ("SWITCHBOARD_STORAGE_S3_REDIRECT_DOWNLOADS", "no"),
                ("SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB", "100"),
                ("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB", "20"),
                ("SWITCHBOARD_ATTACHMENTS_MAX_MESSAGE_MB", "200"),
                ("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_DIMENSION", "4096"),
                ("SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS", "60"),
                ("SWITCHBOARD_ATTACHMENTS_VISITOR_DAILY_MB", "0"),
                ("SWITCHBOARD_ATTACHMENTS_INBOX_DAILY_MB", "10"),
                ("SWITCHBOARD_ATTACHMENTS_MIN_FREE_DISK_MB", "0"),
            ]),
        )
        .expect("valid");
        let StorageBackend::S3(s3) = &s.storage.backend else {
            panic!("expected S3: {:?}", s.storage);
        };
        assert_eq!(
            *s3,
            S3Settings {
                endpoint: Some("http://127.0.0.1:9000".into()),
                bucket: "sb-attachments".into(),
                region: "eu-central-1".into(),
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
                path_style: false,
                redirect_downloads: false,
            }
        );
        assert_eq!(s.storage.backend.name(), "s3");
        let debug = format!("{s:?}");
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
        assert!(debug.contains("AKIDEXAMPLE"), "{debug}");
        assert_eq!(s.attachments.max_file_bytes, 100 * 1024 * 1024);
        assert_eq!(s.attachments.max_image_bytes, 20 * 1024 * 1024);
        assert_eq!(s.attachments.max_message_bytes, 200 * 1024 * 1024);
        assert_eq!(s.attachments.max_image_dimension, 4096);
        assert_eq!(s.attachments.url_ttl, Duration::from_secs(60));
        assert_eq!(s.attachments.visitor_daily_bytes, 0);
        assert_eq!(s.attachments.inbox_daily_bytes, 10 * 1024 * 1024);
        assert_eq!(s.attachments.min_free_disk_bytes, 0);

        // No endpoint: AWS itself; no keys: the AWS credential chain.
        let s = Settings::from_layers(
            None,
            &env(&[
                ("SWITCHBOARD_STORAGE_BACKEND", "s3"),
                ("SWITCHBOARD_STORAGE_S3_BUCKET", "b"),
            ]),
        )
        .expect("valid");
        let StorageBackend::S3(s3) = s.storage.backend else {
            panic!("expected S3");
        };
        assert_eq!(s3.endpoint, None);
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.access_key_id.is_empty() && s3.secret_access_key.is_empty());
        assert!(s3.path_style && s3.redirect_downloads);
    }

    #[test]
    fn bad_storage_and_attachment_settings_name_the_setting_and_variable() {
        let s3 = ("SWITCHBOARD_STORAGE_BACKEND", "s3");
        let bucket = ("SWITCHBOARD_STORAGE_S3_BUCKET", "b");
        // (environment, setting named in the error, variable named in the error)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("SWITCHBOARD_STORAGE_BACKEND", "gcs")],
                "storage.backend",
                "SWITCHBOARD_STORAGE_BACKEND",
            ),
            (&[s3], "storage.s3_bucket", "SWITCHBOARD_STORAGE_S3_BUCKET"),
            (
                &[s3, ("SWITCHBOARD_STORAGE_S3_BUCKET", "a/b")],
                "storage.s3_bucket",
                "SWITCHBOARD_STORAGE_S3_BUCKET",
            ),
            (
                &[
                    s3,
                    bucket,
                    ("SWITCHBOARD_STORAGE_S3_ENDPOINT", "minio:9000"),
                ],
                "storage.s3_endpoint",
                "SWITCHBOARD_STORAGE_S3_ENDPOINT",
            ),
            (
                &[
                    s3,
                    bucket,
                    ("SWITCHBOARD_STORAGE_S3_ENDPOINT", "ftp://minio"),
                ],
                "storage.s3_endpoint",
                "SWITCHBOARD_STORAGE_S3_ENDPOINT",
            ),
            (
                &[s3, bucket, ("SWITCHBOARD_STORAGE_S3_ENDPOINT", "not a url")],
                "storage.s3_endpoint",
                "SWITCHBOARD_STORAGE_S3_ENDPOINT",
            ),
            (
                &[s3, bucket, ("SWITCHBOARD_STORAGE_S3_REGION", " ")],
                "storage.s3_region",
                "SWITCHBOARD_STORAGE_S3_REGION",
            ),
            (
                &[s3, bucket, ("SWITCHBOARD_STORAGE_S3_ACCESS_KEY_ID", "AKID")],
                "storage.s3_secret_access_key",
                "SWITCHBOARD_STORAGE_S3_SECRET_ACCESS_KEY",
            ),
            (
                &[
                    s3,
                    bucket,
                    ("SWITCHBOARD_STORAGE_S3_SECRET_ACCESS_KEY", "x"),
                ],
                "storage.s3_access_key_id",
                "SWITCHBOARD_STORAGE_S3_ACCESS_KEY_ID",
            ),
            (
                &[("SWITCHBOARD_STORAGE_S3_PATH_STYLE", "maybe")],
                "storage.s3_path_style",
                "SWITCHBOARD_STORAGE_S3_PATH_STYLE",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB", "0")],
                "attachments.max_file_mb",
                "SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB", "4096")],
                "attachments.max_file_mb",
                "SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB", "30")],
                "attachments.max_image_mb",
                "SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_MAX_MESSAGE_MB", "20")],
                "attachments.max_file_mb",
                "SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_DIMENSION", "100000")],
                "attachments.max_image_dimension",
                "SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_DIMENSION",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS", "604801")],
                "attachments.url_ttl_secs",
                "SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS",
            ),
            (
                &[("SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS", "")],
                "attachments.url_ttl_secs",
                "SWITCHBOARD_ATTACHMENTS_URL_TTL_SECS",
            ),
        ];
        for (pairs, setting, var) in cases {
            let err = Settings::from_layers(None, &env(pairs))
                .expect_err("must be refused")
                .to_string();
            assert!(err.contains(setting), "{pairs:?}: {err}");
            assert!(err.contains(var), "{pairs:?}: {err}");
        }
        let err = Settings::from_layers(
            Some((
                Path::new("local.toml"),
                "[storage]\ns3_bucket_name = \"b\"\n",
            )),
            &env(&[]),
        )
        .expect_err("unknown key")
        .to_string();
        assert!(err.contains("s3_bucket_name"), "{err}");
    }

    #[test]
    fn weak_admin_password_is_refused_at_start() {
        let err = Settings::from_layers(
            None,
            &env(&[
                ("SWITCHBOARD_ADMIN_EMAIL", "a@example.com"),
                ("SWITCHBOARD_ADMIN_PASSWORD", "admin"),
            ]),
        )
        .expect_err("too short")
        .to_string();
        assert!(err.contains("SWITCHBOARD_ADMIN_PASSWORD"), "{err}");
    }
}
