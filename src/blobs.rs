//! Blob storage for attachments and thumbnails: a folder on the local filesystem (the
//! default) or a bucket of an S3-compatible object store.
//!
//! Keys are relative, slash-separated paths such as `ab/cd/<sha256 hex>` or
//! `thumbs/<hex>-200.jpg`, made of `[A-Za-z0-9._/-]` only, with no empty segment and no
//! segment starting with a dot; anything else is refused before it reaches a backend, so a
//! key can never name a file outside the storage root. Files are streamed in and out in
//! chunks; nothing here holds a whole attachment in memory.

use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, RetryConfig, WriteMultipart,
};
use url::Url;

use crate::config::{S3Settings, StorageBackend, StorageSettings};

/// Size of one S3 multipart part; files up to this size go up in one PUT. S3 wants parts
/// of at least 5 MiB (except the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded at once (memory bound: about this many parts plus one being read).
const PART_CONCURRENCY: usize = 2;
/// Chunk size of streamed reads from the filesystem.
const READ_CHUNK: usize = 256 * 1024;
/// Longest key accepted (S3 allows 1024 bytes).
const MAX_KEY_LEN: usize = 512;

/// Credential-related AWS variables honoured when no static keys are configured, so the
/// hub can use the usual AWS credential chain (session credentials, web identity on EKS,
/// the container role on ECS; without any of them, the EC2 instance role).
const AWS_CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// Where attachment bytes live. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Backend,
}

#[derive(Clone)]
enum Backend {
    Filesystem {
        root: Arc<PathBuf>,
    },
    S3 {
        store: Arc<AmazonS3>,
        redirect: bool,
    },
}

/// Why a blob operation failed. Messages never include credentials.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("blob storage i/o error: {0}")]
    Io(String),
    #[error("blob storage error: {0}")]
    Backend(String),
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Backend::Filesystem { root } => f
                .debug_struct("BlobStore::Filesystem")
                .field("root", root)
                .finish(),
            // AmazonS3's Display is `AmazonS3(bucket)`; its Debug is not printed because it
            // holds the credential provider.
            Backend::S3 { store, redirect } => f
                .debug_struct("BlobStore::S3")
                .field("store", &store.to_string())
                .field("redirect", redirect)
                .finish(),
        }
    }
}

impl BlobStore {
    /// Opens the configured backend. Filesystem: creates the root folder (mode 0700 on
    /// unix). S3: builds the client; no request is made, so an unreachable server or a
    /// missing bucket shows at first use.
    pub async fn open(settings: &StorageSettings) -> Result<Self, BlobError> {
        let inner = match &settings.backend {
            StorageBackend::Filesystem { root } => {
                let root = root.clone();
                let created = root.clone();
                blocking(move || create_private_dir(&created))
                    .await
                    .map_err(|e| io_error(&format!("create {}", root.display()), &e))?;
                Backend::Filesystem {
                    root: Arc::new(root),
                }
            }
            StorageBackend::S3(s3) => Backend::S3 {
                store: Arc::new(build_s3(s3)?),
                redirect: s3.redirect_downloads,
            },
        };
        Ok(Self { inner })
    }

    /// "filesystem" or "s3", for logs and `/ready`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner {
            Backend::Filesystem { .. } => "filesystem",
            Backend::S3 { .. } => "s3",
        }
    }

    /// Stores a finished local (temporary) file under `key`, streaming: the filesystem
    /// backend renames it into place (copying when it lies on another device), S3 uploads
    /// it in one PUT up to 8 MiB and as a multipart upload of 8 MiB parts above that, with
    /// `content_type` as the object's Content-Type. An existing blob under `key` is
    /// replaced.
    ///
    /// The file is consumed on success (moved, or deleted after the upload); on error it
    /// is left where it was, for the caller to remove.
    pub async fn put_file(
        &self,
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<(), BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { root } => {
                let dest = root.join(key);
                let src = file.to_path_buf();
                tokio::task::spawn_blocking(move || fs_move_into_place(&src, &dest))
                    .await
                    .unwrap_or_else(|e| Err(BlobError::Io(format!("blocking task failed: {e}"))))
            }
            Backend::S3 { store, .. } => {
                s3_put_file(store, object_path(key)?, file, content_type).await?;
                let src = file.to_path_buf();
                match blocking(move || std::fs::remove_file(src)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(
                        file = %file.display(),
                        error = %e,
                        "uploaded file could not be removed"
                    ),
                }
                Ok(())
            }
        }
    }

    /// Stores small in-memory bytes (thumbnails) under `key`, replacing any blob there.
    /// On the filesystem the bytes go to a temporary file in the same folder, which is
    /// synced and then renamed into place.
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { root } => {
                let dest = root.join(key);
                blocking(move || fs_write_bytes(&dest, &bytes))
                    .await
                    .map_err(|e| io_error("write blob", &e))
            }
            Backend::S3 { store, .. } => {
                let opts = PutOptions::from(content_type_attributes(content_type));
                store
                    .put_opts(&object_path(key)?, PutPayload::from(bytes), opts)
                    .await
                    .map(drop)
                    .map_err(s3_write_error)
            }
        }
    }

    /// Streams the blob under `key`: its size and its bytes in chunks. `NotFound` when
    /// there is none.
    pub async fn get(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, BlobError>>), BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { root } => {
                let path = root.join(key);
                let (file, size) = blocking(move || {
                    let file = File::open(&path)?;
                    let meta = file.metadata()?;
                    if !meta.is_file() {
                        return Err(ErrorKind::NotFound.into());
                    }
                    Ok((file, meta.len()))
                })
                .await
                .map_err(|e| match e.kind() {
                    ErrorKind::NotFound => BlobError::NotFound,
                    _ => io_error("open blob", &e),
                })?;
                Ok((size, file_stream(file, size)))
            }
            Backend::S3 { store, .. } => {
                let result = store.get(&object_path(key)?).await.map_err(s3_error)?;
                let size = result.meta.size;
                Ok((size, result.into_stream().map_err(s3_error).boxed()))
            }
        }
    }

    /// Whether a blob exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { root } => {
                let path = root.join(key);
                match blocking(move || std::fs::metadata(path)).await {
                    Ok(meta) => Ok(meta.is_file()),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io_error("stat blob", &e)),
                }
            }
            Backend::S3 { store, .. } => match store.head(&object_path(key)?).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(s3_error(e)),
            },
        }
    }

    /// Deletes the blob under `key`; a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { root } => {
                let path = root.join(key);
                match blocking(move || std::fs::remove_file(path)).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io_error("delete blob", &e)),
                }
            }
            Backend::S3 { store, .. } => match store.delete(&object_path(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(e)),
            },
        }
    }

    /// For the S3 backend with `redirect_downloads`: a presigned GET URL for `key`, valid
    /// for `ttl`, that a browser can be redirected to. `None` for the filesystem backend
    /// and when redirects are off (the download then streams through the hub).
    ///
    /// object_store's signer cannot sign extra query parameters, so the URL carries no
    /// `response-content-disposition`/`response-content-type`: the object's stored
    /// Content-Type (set at upload) is served, and no download file name is suggested.
    /// Nothing is checked against the server: a URL for a missing key is refused by S3
    /// when used.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<Url>, BlobError> {
        let key = checked_key(key)?;
        match &self.inner {
            Backend::Filesystem { .. }
            | Backend::S3 {
                redirect: false, ..
            } => Ok(None),
            Backend::S3 {
                store,
                redirect: true,
            } => store
                .signed_url(reqwest::Method::GET, &object_path(key)?, ttl)
                .await
                .map(Some)
                .map_err(s3_error),
        }
    }
}

/// Whether `key` is a safe relative blob key (see the module documentation).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
}

fn checked_key(key: &str) -> Result<&str, BlobError> {
    if is_valid_key(key) {
        Ok(key)
    } else {
        Err(BlobError::Backend("invalid key".into()))
    }
}

fn object_path(key: &str) -> Result<ObjectPath, BlobError> {
    ObjectPath::parse(key).map_err(|_| BlobError::Backend("invalid key".into()))
}

fn io_error(context: &str, error: &std::io::Error) -> BlobError {
    BlobError::Io(format!("{context}: {error}"))
}

/// For writes, a 404 means a missing bucket, not a missing blob.
fn s3_write_error(error: object_store::Error) -> BlobError {
    BlobError::Backend(error.to_string())
}

fn s3_error(error: object_store::Error) -> BlobError {
    match error {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        // object_store's messages name the operation, URL path and HTTP status; requests
        // are signed in headers, so neither the secret nor a signature appears in them.
        other => BlobError::Backend(other.to_string()),
    }
}

/// Runs blocking file I/O off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("blocking task failed: {e}"))))
}

// ---------------------------------------------------------------------------------------
// Filesystem backend

/// Creates `dir` and its missing parents, private to the hub's user on unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A unique hidden name next to `dest` (valid keys never start with a dot, so it cannot
/// collide with a blob).
fn temp_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = hex::encode(crate::auth::random_bytes::<8>());
    dest.with_file_name(format!(".{name}.{nonce}.tmp"))
}

/// Makes a rename in `dir` durable; best effort, as some filesystems refuse to sync a
/// directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn parent_of(dest: &Path) -> std::io::Result<&Path> {
    dest.parent()
        .ok_or_else(|| std::io::Error::other("blob path has no parent"))
}

fn fs_move_into_place(src: &Path, dest: &Path) -> Result<(), BlobError> {
    let parent = parent_of(dest).map_err(|e| io_error("blob path", &e))?;
    create_private_dir(parent).map_err(|e| io_error("create blob folder", &e))?;
    // The data must be on disk before the rename publishes it.
    File::open(src)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(&format!("sync {}", src.display()), &e))?;
    match std::fs::rename(src, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::CrossesDevices => {
            fs_copy_into_place(src, dest)?;
            if let Err(e) = std::fs::remove_file(src) {
                tracing::warn!(file = %src.display(), error = %e, "moved file could not be removed");
            }
        }
        Err(e) => return Err(io_error(&format!("move {}", src.display()), &e)),
    }
    sync_dir(parent);
    Ok(())
}

/// The cross-device fallback: a streamed copy to a temporary sibling, synced, renamed.
fn fs_copy_into_place(src: &Path, dest: &Path) -> Result<(), BlobError> {
    let tmp = temp_sibling(dest);
    let result = (|| {
        let mut from = File::open(src)?;
        let mut to = new_private_file(&tmp)?;
        std::io::copy(&mut from, &mut to)?;
        to.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(&format!("copy {}", src.display()), &e)
    })
}

fn new_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn fs_write_bytes(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let parent = parent_of(dest)?;
    create_private_dir(parent)?;
    let tmp = temp_sibling(dest);
    let result = (|| {
        let mut file = new_private_file(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(parent);
    Ok(())
}

/// Reads up to `max` bytes, fewer only at the end of the file.
fn read_chunk(file: &mut impl Read, max: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max);
    file.take(max as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Streams at most `size` bytes of `file` (the size announced to the caller, even if the
/// file grew since).
fn file_stream(file: File, size: u64) -> BoxStream<'static, Result<Bytes, BlobError>> {
    futures_util::stream::unfold(Some((file, size)), |state| async move {
        let (mut file, left) = state?;
        if left == 0 {
            return None;
        }
        let want = usize::try_from(left).map_or(READ_CHUNK, |left| left.min(READ_CHUNK));
        let read = blocking(move || read_chunk(&mut file, want).map(|buf| (file, buf))).await;
        match read {
            Ok((_, buf)) if buf.is_empty() => Some((
                Err(BlobError::Io("blob is shorter than its size".into())),
                None,
            )),
            Ok((file, buf)) => {
                let left = left - buf.len() as u64;
                Some((Ok(Bytes::from(buf)), Some((file, left))))
            }
            Err(e) => Some((Err(io_error("read blob", &e)), None)),
        }
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------
// S3 backend

fn build_s3(s3: &S3Settings) -> Result<AmazonS3, BlobError> {
    // Transient failures (5xx, timeouts, resets) are retried, but briefly: a download or an
    // upload waits on them, unlike object_store's default of up to three minutes.
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_retry(retry);
    if let Some(endpoint) = &s3.endpoint {
        let endpoint = if s3.path_style {
            endpoint.clone()
        } else {
            virtual_hosted_endpoint(endpoint, &s3.bucket)?
        };
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    if s3.access_key_id.is_empty() && s3.secret_access_key.is_empty() {
        for var in AWS_CREDENTIAL_VARS {
            if let Ok(value) = std::env::var(var)
                && let Ok(key) = var.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
            {
                builder = builder.with_config(key, value);
            }
        }
    } else {
        builder = builder
            .with_access_key_id(&s3.access_key_id)
            .with_secret_access_key(&s3.secret_access_key);
    }
    builder
        .build()
        .map_err(|e| BlobError::Backend(format!("S3 client: {e}")))
}

/// object_store takes a virtual-hosted endpoint with the bucket already in the host.
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> Result<String, BlobError> {
    let mut url = Url::parse(endpoint)
        .map_err(|e| BlobError::Backend(format!("S3 endpoint {endpoint:?}: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if !host.starts_with(&format!("{bucket}.")) {
        url.set_host(Some(&format!("{bucket}.{host}")))
            .map_err(|e| BlobError::Backend(format!("S3 endpoint {endpoint:?}: {e}")))?;
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn content_type_attributes(content_type: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, content_type.to_owned().into());
    attributes
}

async fn s3_put_file(
    store: &AmazonS3,
    location: ObjectPath,
    file: &Path,
    content_type: &str,
) -> Result<(), BlobError> {
    let src = file.to_path_buf();
    let context = format!("read {}", file.display());
    let (handle, size) = blocking(move || {
        let file = File::open(src)?;
        let size = file.metadata()?.len();
        Ok((file, size))
    })
    .await
    .map_err(|e| io_error(&context, &e))?;
    let attributes = content_type_attributes(content_type);

    if size <= PART_SIZE as u64 {
        let (_, data) = blocking(move || {
            let mut handle = handle;
            read_chunk(&mut handle, PART_SIZE).map(|data| (handle, data))
        })
        .await
        .map_err(|e| io_error(&context, &e))?;
        let payload = PutPayload::from(Bytes::from(data));
        return store
            .put_opts(&location, payload, PutOptions::from(attributes))
            .await
            .map(drop)
            .map_err(s3_write_error);
    }

    let opts = PutMultipartOptions::from(attributes);
    let upload = store
        .put_multipart_opts(&location, opts)
        .await
        .map_err(s3_write_error)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut handle = Some(handle);
    let outcome: Result<(), BlobError> = async {
        while let Some(mut file) = handle.take() {
            let (file, chunk) =
                blocking(move || read_chunk(&mut file, PART_SIZE).map(|c| (file, c)))
                    .await
                    .map_err(|e| io_error(&context, &e))?;
            if chunk.is_empty() {
                break;
            }
            writer
                .wait_for_capacity(PART_CONCURRENCY)
                .await
                .map_err(s3_write_error)?;
            writer.put(Bytes::from(chunk));
            handle = Some(file);
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => writer.finish().await.map(drop).map_err(s3_write_error),
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "aborting a failed multipart upload failed");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    async fn fs_store() -> (BlobStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let settings = StorageSettings {
            backend: StorageBackend::Filesystem {
                root: dir.path().join("attachments"),
            },
        };
        (BlobStore::open(&settings).await.unwrap(), dir)
    }

    async fn read_all(store: &BlobStore, key: &str) -> (u64, Vec<u8>) {
        let (size, stream) = store.get(key).await.unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        (size, chunks.concat())
    }

    fn temp_file(dir: &Path, data: &[u8]) -> PathBuf {
        let path = dir.join(format!(
            "upload-{}",
            hex::encode(crate::auth::random_bytes::<4>())
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        path
    }

    #[tokio::test]
    async fn open_creates_a_private_root() {
        let (store, dir) = fs_store().await;
        assert_eq!(store.backend_name(), "filesystem");
        let root = dir.path().join("attachments");
        assert!(root.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&root).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        assert!(
            store
                .presigned_get("a/b", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn put_file_get_exists_delete_round_trip() {
        let (store, dir) = fs_store().await;
        // Several read chunks and a ragged end.
        let data: Vec<u8> = (0..(3 * READ_CHUNK + 123))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let src = temp_file(dir.path(), &data);
        let key = "ab/cd/abcdef0123";
        assert!(!store.exists(key).await.unwrap());
        store.put_file(key, &src, "application/pdf").await.unwrap();
        assert!(!src.exists(), "the file is moved into the store");
        assert!(store.exists(key).await.unwrap());
        let (size, bytes) = read_all(&store, key).await;
        assert_eq!(size, data.len() as u64);
        assert_eq!(bytes, data);
        assert!(dir.path().join("attachments/ab/cd/abcdef0123").is_file());

        // Replacing an existing blob.
        let src = temp_file(dir.path(), b"second");
        store.put_file(key, &src, "text/plain").await.unwrap();
        assert_eq!(read_all(&store, key).await, (6, b"second".to_vec()));

        store.delete(key).await.unwrap();
        assert!(!store.exists(key).await.unwrap());
        store
            .delete(key)
            .await
            .expect("deleting a missing blob is fine");
    }

    #[tokio::test]
    async fn put_file_of_an_empty_file_and_a_missing_file() {
        let (store, dir) = fs_store().await;
        let src = temp_file(dir.path(), b"");
        store.put_file("empty", &src, "text/plain").await.unwrap();
        assert_eq!(read_all(&store, "empty").await, (0, Vec::new()));
        let err = store
            .put_file("x", &dir.path().join("nope"), "text/plain")
            .await
            .expect_err("no such file");
        assert!(matches!(err, BlobError::Io(_)), "{err:?}");
    }

    #[test]
    fn the_cross_device_fallback_copies_durably() {
        let dir = tempfile::tempdir().unwrap();
        let src = temp_file(dir.path(), b"payload");
        let dest = dir.path().join("dest");
        fs_copy_into_place(&src, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[tokio::test]
    async fn put_bytes_writes_atomically_without_leftovers() {
        let (store, dir) = fs_store().await;
        let key = "thumbs/abcdef-200.jpg";
        store
            .put_bytes(key, Bytes::from_static(b"\xff\xd8thumb"), "image/jpeg")
            .await
            .unwrap();
        assert_eq!(read_all(&store, key).await.1, b"\xff\xd8thumb");
        store
            .put_bytes(key, Bytes::from_static(b"new"), "image/jpeg")
            .await
            .unwrap();
        assert_eq!(read_all(&store, key).await.1, b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("attachments/thumbs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["abcdef-200.jpg"]);
    }

    #[tokio::test]
    async fn missing_blobs_are_not_found() {
        let (store, _dir) = fs_store().await;
        assert!(matches!(
            store.get("ab/cd/ef").await,
            Err(BlobError::NotFound)
        ));
        assert!(!store.exists("ab/cd/ef").await.unwrap());
        // A folder is not a blob.
        store
            .put_bytes("ab/cd/ef", Bytes::from_static(b"x"), "text/plain")
            .await
            .unwrap();
        assert!(matches!(store.get("ab/cd").await, Err(BlobError::NotFound)));
        assert!(!store.exists("ab").await.unwrap());
    }

    #[tokio::test]
    async fn bad_keys_are_refused_before_touching_the_disk() {
        let (store, dir) = fs_store().await;
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        let long = "a".repeat(MAX_KEY_LEN + 1);
        let bad = [
            "",
            "/etc/passwd",
            "../secret",
            "a/../../secret",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.b.tmp",
            "a\\b",
            "a b",
            "ä",
            "a%2f..",
            long.as_str(),
        ];
        for key in bad {
            assert!(!is_valid_key(key), "{key:?}");
            let refused = |r: Result<(), BlobError>| {
                assert!(
                    matches!(&r, Err(BlobError::Backend(m)) if m == "invalid key"),
                    "{key:?}: {r:?}"
                );
            };
            refused(store.get(key).await.map(drop));
            refused(store.exists(key).await.map(drop));
            refused(store.delete(key).await);
            refused(
                store
                    .put_bytes(key, Bytes::from_static(b"x"), "text/plain")
                    .await,
            );
            let src = temp_file(dir.path(), b"x");
            refused(store.put_file(key, &src, "text/plain").await);
            refused(
                store
                    .presigned_get(key, Duration::from_secs(1))
                    .await
                    .map(drop),
            );
        }
        assert_eq!(
            std::fs::read(dir.path().join("secret")).unwrap(),
            b"outside"
        );
        for good in ["ab/cd/0123abcdef", "thumbs/ab-200.jpg", "x", "A_b-c.d/e"] {
            assert!(is_valid_key(good), "{good:?}");
        }
    }

    #[tokio::test]
    async fn s3_settings_build_a_client_without_network() {
        let settings = StorageSettings {
            backend: StorageBackend::S3(S3Settings {
                endpoint: Some("http://127.0.0.1:9".into()),
                bucket: "bucket".into(),
                region: "us-east-1".into(),
                access_key_id: "AKID".into(),
                secret_access_key: "very-secret".into(),
                path_style: true,
                redirect_downloads: true,
            }),
        };
        let store = BlobStore::open(&settings).await.unwrap();
        assert_eq!(store.backend_name(), "s3");
        assert!(!format!("{store:?}").contains("very-secret"));
        let url = store
            .presigned_get("ab/cd/ef", Duration::from_secs(300))
            .await
            .unwrap()
            .expect("redirects on");
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:9/bucket/ab/cd/ef?"),
            "{url}"
        );
        assert!(!url.as_str().contains("very-secret"), "{url}");
        assert!(
            url.query_pairs()
                .any(|(k, v)| k == "X-Amz-Expires" && v == "300"),
            "{url}"
        );
        assert_eq!(
            virtual_hosted_endpoint("https://s3.example.com", "b").unwrap(),
            "https://b.s3.example.com"
        );
        assert_eq!(
            virtual_hosted_endpoint("https://b.s3.example.com/", "b").unwrap(),
            "https://b.s3.example.com"
        );
    }
}
