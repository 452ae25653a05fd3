//! Receiving and handing out attachment files: one path for agents' uploads and channels'
//! inbound media. Bytes are streamed to a temporary file (never held whole in memory),
//! counted against the limits as they arrive, typed by sniffing the first bytes (never by
//! name or declared type), checked (image dimensions: decompression bombs), then moved into
//! the blob store. Downloads go through short-lived signed URLs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobError, BlobStore};
use crate::config::{AttachmentSettings, Settings};
use crate::media::{self, ImageLimits, MediaError, MediaKind};
use crate::metrics::UploadMetrics;
use crate::secrets::SecretKey;
use crate::store::attachments::NewAttachment;

/// Most files on one message (and in one upload request).
pub(crate) const MAX_FILES: usize = 10;

/// Files already in the blob store that no row refers to yet: a request's uploads, a
/// message's fetched media. [`StagedFiles::keep`] hands them over once a stored row refers
/// to them; [`StagedFiles::discard`] removes them before a refusal is answered; and a guard
/// dropped any other way (an early return, a panic) removes them in the background, so no
/// path leaves a file behind.
pub(crate) struct StagedFiles {
    blobs: BlobStore,
    files: Vec<NewAttachment>,
}

impl StagedFiles {
    /// Adds a file just stored.
    pub(crate) fn push(&mut self, file: NewAttachment) {
        self.files.push(file);
    }

    /// The files, to record them.
    pub(crate) fn files(&self) -> &[NewAttachment] {
        &self.files
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes of all the files, for the per-message budget.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| u64::try_from(f.byte_size).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add)
    }

    /// Stored rows refer to the files now: they stay.
    pub(crate) fn keep(mut self) {
        self.files.clear();
    }

    /// Removes the files now, before answering, so the caller's answer means they are gone.
    pub(crate) async fn discard(mut self) {
        for file in self.files.drain(..) {
            if let Err(error) = self.blobs.delete(&file.storage_key).await {
                tracing::warn!(%error, key = %file.storage_key, "cannot remove a refused file");
            }
        }
    }
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        if self.files.is_empty() {
            return;
        }
        let keys: Vec<String> = self.files.drain(..).map(|f| f.storage_key).collect();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // The hub drops guards on its runtime; outside one (a program ending) the files
            // stay, and that is said rather than blocking here.
            tracing::warn!(?keys, "files left in the blob store");
            return;
        };
        let blobs = self.blobs.clone();
        runtime.spawn(async move {
            for key in &keys {
                if let Err(error) = blobs.delete(key).await {
                    tracing::warn!(%error, key, "cannot remove a file no message took");
                }
            }
        });
    }
}

/// Which bytes of an attachment a signed URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Small,
    Large,
}

impl Variant {
    /// Its name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Small => "small",
            Self::Large => "large",
        }
    }

    /// Parses a URL segment.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "original" => Some(Self::Original),
            "small" => Some(Self::Small),
            "large" => Some(Self::Large),
            _ => None,
        }
    }
}

/// Why a file was refused or could not be stored. The messages are shown to API users.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("the file is larger than the limit of {} ({limit} bytes){what}", mebibytes(*limit))]
    TooLarge { limit: u64, what: &'static str },
    #[error("the upload was interrupted: {0}")]
    Upload(String),
    /// The file cannot be had from there (bad URL, 4xx, a private address): 422.
    #[error("cannot fetch the file: {0}")]
    Fetch(String),
    /// The file host is down or slow (timeout, connection, 5xx, 429): worth retrying later.
    #[error("cannot fetch the file right now: {0}")]
    FetchUnavailable(String),
    #[error("storage error: {0}")]
    Storage(#[from] BlobError),
    #[error("temporary file error: {0}")]
    Io(#[from] std::io::Error),
    /// Refused for where it would be stored, not for what it is (quota, disk floor).
    #[error(transparent)]
    Refused(#[from] StorageRefusal),
}

/// Why an upload was refused for storage: a widget quota or the free-disk floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StorageRefusal {
    #[error("this visitor's daily upload quota is used up")]
    VisitorQuota,
    #[error("this widget's daily upload quota is used up")]
    InboxQuota,
    #[error(
        "the hub's storage is nearly full, so uploads are refused until space is freed; tell the hub's administrator"
    )]
    DiskFloor,
}

impl StorageRefusal {
    /// Its `reason` label in `switchboard_uploads_refused_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::VisitorQuota => "visitor_quota",
            Self::InboxQuota => "inbox_quota",
            Self::DiskFloor => "disk_floor",
        }
    }
}

/// Counts an upload's bytes as they arrive, so a quota can refuse it half-way, before
/// anything is stored.
pub(crate) trait Meter {
    fn count(&mut self, bytes: u64) -> Result<(), StorageRefusal>;
}

/// An upload no quota counts (agents').
pub(crate) struct Unmetered;

impl Meter for Unmetered {
    fn count(&mut self, _bytes: u64) -> Result<(), StorageRefusal> {
        Ok(())
    }
}

/// How long a free-space reading is trusted: uploads check it per chunk, and a syscall
/// per chunk would cost more than a second's staleness risks.
const FREE_SPACE_TTL: Duration = Duration::from_secs(1);

/// The filesystem blob store's free-disk floor (nothing on S3, whose space is not ours to
/// watch), with the last reading cached.
struct DiskFloor {
    floor: u64,
    /// The blob root and the temporary folder (uploads land there first); the lower free
    /// space counts. Empty on S3.
    paths: Vec<PathBuf>,
    last: Mutex<Option<(Instant, Option<u64>)>>,
}

impl DiskFloor {
    /// Free bytes for unprivileged writers on the fullest of the paths, read at most once
    /// a second; None on S3 or when the disk cannot be asked.
    fn free_bytes(&self, metrics: &UploadMetrics) -> Option<u64> {
        if self.paths.is_empty() {
            return None;
        }
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, free)) = *last
            && at.elapsed() < FREE_SPACE_TTL
        {
            return free;
        }
        let mut free: Option<u64> = None;
        for path in &self.paths {
            match rustix::fs::statvfs(path) {
                Ok(stat) => {
                    let bytes = stat.f_bavail.saturating_mul(stat.f_frsize);
                    free = Some(free.map_or(bytes, |f| f.min(bytes)));
                }
                // Not knowing is no reason to refuse; a full disk still fails the write.
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "cannot read free disk space");
                }
            }
        }
        if let Some(bytes) = free {
            metrics.set_free_disk(bytes);
        }
        *last = Some((Instant::now(), free));
        free
    }

    fn check(&self, metrics: &UploadMetrics) -> Result<(), StorageRefusal> {
        if self.floor == 0 {
            return Ok(());
        }
        match self.free_bytes(metrics) {
            Some(free) if free < self.floor => Err(StorageRefusal::DiskFloor),
            _ => Ok(()),
        }
    }
}

impl FileError {
    /// True when the file itself is at fault (the caller answers 4xx, not 5xx).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Media(_) | Self::TooLarge { .. } | Self::Upload(_)
        )
    }
}

/// Why a signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("this download link has expired; ask for a new one")]
    Expired,
    #[error("this download link is not valid")]
    Forged,
}

const URL_PURPOSE: &str = "attachment-url";

/// Attachment files: limits, temporary files, the blob store and URL signing.
pub struct Files {
    blobs: BlobStore,
    limits: AttachmentSettings,
    tmp_dir: PathBuf,
    secret: SecretKey,
    /// The hub's public URL without a trailing slash, for absolute links (callbacks).
    public_base: String,
    /// For fetching channels' media.
    http: reqwest::Client,
    floor: DiskFloor,
    metrics: UploadMetrics,
}

impl Files {
    /// Opens the blob store and prepares the temporary folder under the data directory.
    pub async fn open(settings: &Settings, secret: SecretKey) -> Result<Self, FileError> {
        let blobs = BlobStore::open(&settings.storage).await?;
        let tmp_dir = settings.data_dir.join("tmp");
        // Uploads a crash interrupted (a dropped TempFile removes its own otherwise).
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir)?;
        }
        std::fs::create_dir_all(&tmp_dir)?;
        let floor = DiskFloor {
            floor: settings.attachments.min_free_disk_bytes,
            paths: match &settings.storage.backend {
                crate::config::StorageBackend::Filesystem { root } => {
                    vec![root.clone(), tmp_dir.clone()]
                }
                crate::config::StorageBackend::S3(_) => Vec::new(),
            },
            last: Mutex::new(None),
        };
        let metrics = UploadMetrics::new(!floor.paths.is_empty());
        Ok(Self {
            floor,
            metrics,
            blobs,
            limits: settings.attachments.clone(),
            tmp_dir,
            secret,
            public_base: settings
                .server
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            http: fetch_client(settings.attachments.fetch_private_addresses)?,
        })
    }

    /// The HTTP client that fetches channels' media.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The blob store (downloads, thumbnails).
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The configured limits.
    pub fn limits(&self) -> &AttachmentSettings {
        &self.limits
    }

    /// The uploads' metrics (refusals, free disk), registered with the hub's others.
    pub(crate) fn upload_metrics(&self) -> &UploadMetrics {
        &self.metrics
    }

    /// Free bytes on the filesystem blob store's disk (read at most once a second; None on
    /// S3); refreshes the free-disk gauge.
    pub(crate) fn free_disk_bytes(&self) -> Option<u64> {
        self.floor.free_bytes(&self.metrics)
    }

    /// Whether the disk is above its floor, so an upload may start (see
    /// `attachments.min_free_disk_mb`).
    pub(crate) fn check_free_space(&self) -> Result<(), StorageRefusal> {
        self.floor.check(&self.metrics)
    }

    /// Counts a refused upload in `switchboard_uploads_refused_total`; a full disk is
    /// logged too, since someone has to free space.
    pub(crate) fn count_refusal(&self, refusal: StorageRefusal) {
        self.metrics.refused(refusal.label());
        match refusal {
            StorageRefusal::DiskFloor => tracing::warn!(
                free_bytes = self.free_disk_bytes(),
                floor_bytes = self.floor.floor,
                "upload refused: the blob store's disk is below attachments.min_free_disk_mb"
            ),
            _ => tracing::info!(reason = refusal.label(), "upload refused over a quota"),
        }
    }

    /// Limits for decoding untrusted images.
    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_dimension: self.limits.max_image_dimension,
            ..ImageLimits::default()
        }
    }

    /// Streams one file in, checks it and stores it. `budget` is what is left of the
    /// per-message limit. Nothing stays behind when it is refused.
    pub async fn receive<S, E>(
        &self,
        file_name: Option<&str>,
        body: S,
        budget: u64,
    ) -> Result<NewAttachment, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.receive_counted(file_name, body, budget, None).await
    }

    /// Receives a person's upload (an agent's or a widget visitor's) like [`Files::receive`],
    /// refused half-way once the disk reaches its floor or `quota` says no. Channels' media
    /// are not held to the floor: refusing them would lose a customer's message.
    pub(crate) async fn receive_upload<S, E>(
        &self,
        file_name: Option<&str>,
        body: S,
        budget: u64,
        quota: &mut (dyn Meter + Send),
    ) -> Result<NewAttachment, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.receive_counted(file_name, body, budget, Some(quota))
            .await
    }

    async fn receive_counted<S, E>(
        &self,
        file_name: Option<&str>,
        mut body: S,
        budget: u64,
        mut quota: Option<&mut (dyn Meter + Send)>,
    ) -> Result<NewAttachment, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let temp = TempFile::new(&self.tmp_dir);
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        let mut sniffed = None;
        let mut limit = self.limits.max_file_bytes.min(budget);
        let mut size: u64 = 0;
        let mut pending: Vec<u8> = Vec::new();
        let mut file = None;
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => Some(chunk),
                Some(Err(error)) => return Err(FileError::Upload(error.to_string())),
                None => None,
            };
            if let Some(chunk) = &chunk {
                if let Some(quota) = quota.as_mut() {
                    self.floor.check(&self.metrics)?;
                    quota.count(chunk.len() as u64)?;
                }
                size += chunk.len() as u64;
                hasher.update(chunk);
                if sniffed.is_none() {
                    head.extend_from_slice(chunk);
                }
            }
            if sniffed.is_none() && (head.len() >= media::SNIFF_BYTES || chunk.is_none()) {
                let found = media::sniff(&head)?;
                if found.kind == MediaKind::Image {
                    limit = limit.min(self.limits.max_image_bytes);
                }
                sniffed = Some(found);
                pending = std::mem::take(&mut head);
            } else if let (Some(_), Some(chunk)) = (&sniffed, &chunk) {
                pending.extend_from_slice(chunk);
            }
            if size > limit {
                return Err(self.too_large(limit, sniffed.map(|s| s.kind)));
            }
            if pending.len() >= 1 << 20 || (chunk.is_none() && !pending.is_empty()) {
                let data = std::mem::take(&mut pending);
                file = Some(temp.append(file.take(), data).await?);
            }
            if chunk.is_none() {
                break;
            }
        }
        let Some(sniffed) = sniffed else {
            return Err(MediaError::Empty.into());
        };
        if let Some(file) = file.take() {
            TempFile::finish(file).await?;
        }
        let (width, height) = if sniffed.kind == MediaKind::Image {
            let path = temp.path.clone();
            let limits = self.image_limits();
            let dimensions = tokio::task::spawn_blocking(move || {
                let bytes = std::fs::read(&path).map_err(FileError::Io)?;
                media::image_dimensions(&bytes, limits).map_err(FileError::Media)
            })
            .await
            .map_err(|e| FileError::Io(std::io::Error::other(format!("image check: {e}"))))??;
            (Some(i64::from(dimensions.0)), Some(i64::from(dimensions.1)))
        } else {
            (None, None)
        };
        let file_name = media::sanitize_file_name(file_name, &sniffed);
        let storage_key = new_key(&file_name);
        self.blobs
            .put_file(&storage_key, &temp.path, sniffed.mime)
            .await?;
        Ok(NewAttachment {
            file_name,
            content_type: sniffed.mime.to_owned(),
            byte_size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: hex::encode(hasher.finalize()),
            storage_key,
            width,
            height,
            visitor: None,
        })
    }

    /// Downloads a channel's media (the API channel gives URLs) through the same checks.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        reference: &switchboard_channel::AttachmentRef,
        budget: u64,
    ) -> Result<NewAttachment, FileError> {
        let url = url::Url::parse(&reference.source)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                FileError::Fetch(format!("{:?} is not an http(s) URL", reference.source))
            })?;
        // Host names are checked by the client's resolver; literal addresses here.
        if !self.limits.fetch_private_addresses && !allowed_literal_host(&url) {
            return Err(FileError::Fetch(format!(
                "{url}: private, loopback and link-local addresses are not fetched"
            )));
        }
        let limit = self.limits.max_file_bytes.min(budget);
        if let Some(claimed) = reference.byte_size
            && claimed > limit
        {
            return Err(self.too_large(limit, None));
        }
        let response = client
            .get(url.clone())
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| {
                let reason = format!("{url}: {}", root_cause(&e));
                if e.is_redirect() || e.is_builder() || root_cause(&e).contains(PRIVATE_ONLY) {
                    FileError::Fetch(reason)
                } else {
                    FileError::FetchUnavailable(reason)
                }
            })?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(FileError::FetchUnavailable(format!(
                "{url} answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(FileError::Fetch(format!("{url} answered {status}")));
        }
        if let Some(length) = response.content_length()
            && length > limit
        {
            return Err(self.too_large(limit, None));
        }
        let name = reference.file_name.clone().or_else(|| {
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .map(str::to_owned)
        });
        let stream = response
            .bytes_stream()
            .map(|r| r.map_err(|e| root_cause(&e)));
        self.receive(name.as_deref(), Box::pin(stream), budget)
            .await
            .map_err(|e| match e {
                FileError::Upload(reason) => {
                    FileError::FetchUnavailable(format!("{url}: {reason}"))
                }
                other => other,
            })
    }

    /// Stores a file the channel downloads itself ([`switchboard_channel::Channel::open_media`])
    /// through the same checks as [`Files::fetch`].
    pub async fn receive_download(
        &self,
        reference: &switchboard_channel::AttachmentRef,
        download: switchboard_channel::MediaDownload,
        budget: u64,
    ) -> Result<NewAttachment, FileError> {
        let limit = self.limits.max_file_bytes.min(budget);
        if let Some(claimed) = download.byte_size.or(reference.byte_size)
            && claimed > limit
        {
            return Err(self.too_large(limit, None));
        }
        let name = reference.file_name.clone().or(download.file_name);
        self.receive(name.as_deref(), download.body, budget)
            .await
            .map_err(|e| match e {
                // A download broken off half-way is worth another try.
                FileError::Upload(reason) => FileError::FetchUnavailable(reason),
                other => other,
            })
    }

    fn too_large(&self, limit: u64, kind: Option<MediaKind>) -> FileError {
        let what = if limit == self.limits.max_image_bytes && kind == Some(MediaKind::Image) {
            " for images"
        } else if limit < self.limits.max_file_bytes.min(self.limits.max_image_bytes) {
            " left for this message"
        } else {
            ""
        };
        FileError::TooLarge { limit, what }
    }

    /// An empty guard for files about to be received (see [`StagedFiles`]).
    pub(crate) fn stage(&self) -> StagedFiles {
        StagedFiles {
            blobs: self.blobs.clone(),
            files: Vec::new(),
        }
    }

    /// A signed download path (`/files/...`), valid for the configured lifetime.
    pub fn signed_path(&self, attachment_id: i64, variant: Variant) -> (String, u64) {
        let expires = unix_now() + self.limits.url_ttl.as_secs().max(1);
        self.signed_path_until(attachment_id, variant, expires)
    }

    /// The same, absolute (for integrations that download from outside).
    pub fn signed_url(&self, attachment_id: i64, variant: Variant, ttl: Duration) -> String {
        let expires = unix_now() + ttl.as_secs().max(1);
        let (path, _) = self.signed_path_until(attachment_id, variant, expires);
        format!("{}{path}", self.public_base)
    }

    /// Signs the public rating pages of satisfaction surveys, under the same key and public
    /// URL as the files' links.
    pub(crate) fn survey_pages(&self) -> crate::conversations::surveys::PageLinks {
        crate::conversations::surveys::PageLinks::new(self.secret.clone(), &self.public_base)
    }

    /// A signed download path valid until `expires` (Unix seconds).
    pub fn signed_path_until(&self, id: i64, variant: Variant, expires: u64) -> (String, u64) {
        let signature = hex::encode(
            self.secret
                .sign(URL_PURPOSE, &payload(id, variant, expires)),
        );
        (
            format!(
                "/files/{id}/{}?expires={expires}&signature={signature}",
                variant.as_str()
            ),
            expires,
        )
    }

    /// Checks a signed URL's parts.
    pub fn verify(
        &self,
        attachment_id: i64,
        variant: Variant,
        expires: u64,
        signature: &str,
    ) -> Result<(), SignatureError> {
        let signature = hex::decode(signature).map_err(|_| SignatureError::Forged)?;
        if !self.secret.verify(
            URL_PURPOSE,
            &payload(attachment_id, variant, expires),
            &signature,
        ) {
            return Err(SignatureError::Forged);
        }
        if expires < unix_now() {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// `25 MB`, `1.5 MB`: limits as people configure them (MiB).
fn mebibytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if (mb - mb.round()).abs() < 0.05 {
        format!("{} MB", mb.round())
    } else {
        format!("{mb:.1} MB")
    }
}

fn payload(id: i64, variant: Variant, expires: u64) -> Vec<u8> {
    format!("{id}:{}:{expires}", variant.as_str()).into_bytes()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh, unguessable storage key; files are never overwritten or shared between rows.
/// It ends in the file's name (reduced to safe characters), so a download redirected to
/// S3, which cannot carry our Content-Disposition, still saves under a sensible name.
fn new_key(file_name: &str) -> String {
    let now = chrono::Utc::now();
    format!(
        "files/{}/{}/{}",
        now.format("%Y/%m"),
        hex::encode(crate::auth::random_bytes::<16>()),
        key_segment(file_name)
    )
}

/// `Screen shot (2).png` → `Screen_shot_2.png`: only characters every blob store and URL
/// take, at most 100 bytes, keeping the extension, never starting with a dot.
fn key_segment(file_name: &str) -> String {
    let slug = |text: &str| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            };
            if !(c == '_' && out.ends_with('_')) {
                out.push(c);
            }
        }
        out.trim_matches(['.', '_']).to_owned()
    };
    let (stem, extension) = match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (slug(stem), slug(extension)),
        _ => (slug(file_name), String::new()),
    };
    let mut stem = if stem.is_empty() {
        "file".to_owned()
    } else {
        stem
    };
    // ASCII only by now, so any byte index is a character boundary.
    stem.truncate(100usize.saturating_sub(extension.len() + 1).max(1));
    if extension.is_empty() {
        stem
    } else {
        format!("{stem}.{extension}")
    }
}

/// The key of a thumbnail of the file stored under `key`.
pub fn thumbnail_key(key: &str, variant: Variant) -> String {
    format!("thumbs/{key}-{}.jpg", variant.as_str())
}

/// Part of the resolver's error, so a refused host is told apart from an unreachable one.
const PRIVATE_ONLY: &str = "resolves only to private, loopback or link-local addresses";

/// The client that fetches channels' media: bounded redirects, and unless private addresses
/// are allowed, a resolver and a redirect policy that never connect to the hub's own network.
fn fetch_client(private_allowed: bool) -> Result<reqwest::Client, FileError> {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if private_allowed {
        builder = builder.redirect(reqwest::redirect::Policy::limited(3));
    } else {
        builder = builder
            .dns_resolver(std::sync::Arc::new(PublicOnly))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if !allowed_literal_host(attempt.url()) {
                    attempt.error("redirect to a private, loopback or link-local address")
                } else {
                    attempt.follow()
                }
            }));
    }
    builder
        .build()
        .map_err(|e| FileError::Io(std::io::Error::other(format!("HTTP client: {e}"))))
}

/// False for a URL whose host is a literal non-public address (names go to [`PublicOnly`]).
fn allowed_literal_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// Addresses a webhook may make the hub connect to: public unicast only. Everything in
/// IANA's special-purpose registries is refused, and IPv6 forms that carry an IPv4 address
/// (mapped, compatible, NAT64, 6to4) are judged by that address, so `::127.0.0.1` or
/// `64:ff9b::a9fe:a9fe` cannot reach loopback or a cloud metadata service.
fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 0.0.0.0/8 "this network"; 100.64.0.0/10 carrier-grade NAT
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                // 192.0.0.0/24 IETF protocol assignments; 192.88.99.0/24 6to4 relay
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                // 198.18.0.0/15 benchmarking; 240.0.0.0/4 reserved
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [h1, h2] = high.to_be_bytes();
                let [l1, l2] = low.to_be_bytes();
                Ipv4Addr::new(h1, h2, l1, l2)
            };
            if v6.is_loopback() || v6.is_unspecified() {
                return false;
            }
            // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
            if let Some(v4) = v6.to_ipv4() {
                return is_public(IpAddr::V4(v4));
            }
            // 64:ff9b::/96 NAT64 well-known prefix
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(IpAddr::V4(embedded(s[6], s[7])));
            }
            // 2002::/16 6to4: the IPv4 address is in the next 32 bits
            if s[0] == 0x2002 {
                return is_public(IpAddr::V4(embedded(s[1], s[2])));
            }
            let first = s[0];
            !(v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site local fec0::/10 (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b) // 64:ff9b:1::/48 local-use NAT64
                || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // 100::/64 discard
                || (s[0] == 0x2001 && s[1] < 0x200) // 2001::/23 IETF protocol assignments (Teredo, ORCHID…)
                || (s[0] == 0x2001 && s[1] == 0xdb8)) // 2001:db8::/32 documentation
        }
    }
}

/// A resolver that drops non-public addresses, so neither a host name pointing inside nor a
/// redirect to one reaches the hub's network (checked at connect time: no DNS rebinding).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> =
                found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} {PRIVATE_ONLY}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A temporary upload file, removed when dropped (after the blob store moved it, the
/// removal finds nothing).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(dir: &Path) -> Self {
        let name = format!("upload-{}", hex::encode(crate::auth::random_bytes::<12>()));
        Self {
            path: dir.join(name),
        }
    }

    /// Appends `data` off the async threads; opens the file on first use.
    async fn append(
        &self,
        file: Option<std::fs::File>,
        data: Vec<u8>,
    ) -> Result<std::fs::File, FileError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut file = match file {
                Some(file) => file,
                None => std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?,
            };
            file.write_all(&data)?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| FileError::Io(std::io::Error::other(format!("writing the upload: {e}"))))?
        .map_err(FileError::Io)
    }

    async fn finish(file: std::fs::File) -> Result<(), FileError> {
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| FileError::Io(std::io::Error::other(format!("writing the upload: {e}"))))?
            .map_err(FileError::Io)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(%error, path = %self.path.display(), "cannot remove a temporary upload")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_are_safe_and_keep_the_extension() {
        assert_eq!(key_segment("Screen shot (2).png"), "Screen_shot_2.png");
        assert_eq!(key_segment("Привет.pdf"), "file.pdf");
        assert_eq!(key_segment("report"), "report");
        assert_eq!(key_segment(""), "file");
        let long = format!("{}.docx", "a".repeat(300));
        let segment = key_segment(&long);
        assert!(
            segment.len() <= 100 && segment.ends_with(".docx"),
            "{segment}"
        );
        for name in ["a/b.png", "..png", "x y.jpg", "naïve.txt"] {
            let key = new_key(name);
            assert!(crate::blobs::is_valid_key(&key), "{key}");
        }
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            // IPv4 inside IPv6: compatible, NAT64, 6to4
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            // the rest of the special-purpose registries
            "192.0.0.8",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "fec0::1",
            "100::1",
            "2001::1",
            "2001:10::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "1.1.1.1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
            "2a00:1450:4001::1",
            "198.20.0.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
