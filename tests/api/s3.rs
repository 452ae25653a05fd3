//! The S3 blob backend against a real S3-compatible server: moto's standalone server
//! (`.ci/run` installs it into a virtual environment at `target/venv`; see [`python`]).
//!
//! One moto server is started per test process, on first use ([`moto`]); every test gets
//! its own bucket ([`Moto::fresh_bucket`]). To run the whole hub on S3 in a test:
//!
//! ```ignore
//! let bucket = s3::moto().fresh_bucket().await;
//! let app = spawn_app_with(|env| env.extend(s3::storage_env(&bucket))).await;
//! ```
//!
//! moto accepts any request credentials and, as of moto 5.2, does not verify presigned
//! URLs' signatures or expiry (any URL with a `Signature=` parameter is let through), so
//! tampered or expired URLs cannot be tested against it; an unsigned request for a
//! private object is refused, which is what the presigned URL test relies on.

use std::io::{Read, Seek, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use switchboard::blobs::{BlobError, BlobStore};
use switchboard::config::{S3Settings, Settings, StorageBackend, StorageSettings};

/// Credentials the tests sign with; moto accepts anything. The secret is distinctive so
/// tests can check that it never shows up in errors, URLs or debug output.
pub const ACCESS_KEY_ID: &str = "AKIASWITCHBOARDTEST";
pub const SECRET_ACCESS_KEY: &str = "sb-test-secret-never-shown";

/// Python that runs moto's server and exits as soon as its standard input closes, i.e.
/// when the test process that holds the other end is gone (however it ended), so no
/// server outlives the test run.
const MOTO_LAUNCHER: &str = r#"
import os, sys, threading
from moto.server import main

def exit_with_parent():
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=exit_with_parent, daemon=True).start()
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

/// A moto S3 server running for this test process.
pub struct Moto {
    port: u16,
    /// Kept so the server's standard input stays open (see `MOTO_LAUNCHER`).
    _child: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The Python that has moto: `SWITCHBOARD_TEST_PYTHON`, else the project's virtual
/// environment `target/venv` (Debian's own Python refuses a global `pip install`), else
/// `python3` from the PATH.
fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("SWITCHBOARD_TEST_PYTHON") {
        return python.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

/// The moto server of this test process, started on first use. Panics with instructions
/// when moto is not installed.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Self {
        let python = python();
        let installed = Command::new(&python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "moto's S3 server is not installed ({} -c 'import moto.server' failed): run \
             .ci/run, or: python3 -m venv target/venv && target/venv/bin/pip install 'moto[server]'",
            python.display()
        );
        let mut last_log = String::new();
        // A port picked by binding :0 may be taken again before moto binds it; retry.
        for _ in 0..3 {
            let port = free_port();
            let mut log = tempfile::tempfile().expect("temp file for moto's log");
            let mut child = Command::new(&python)
                .args(["-c", MOTO_LAUNCHER, &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(log.try_clone().expect("clone log handle"))
                .spawn()
                .expect("start python3 for moto");
            if wait_until_answering(port, &mut child) {
                return Self {
                    port,
                    _child: Mutex::new(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log.clear();
            let _ = log.rewind();
            let _ = log.read_to_string(&mut last_log);
        }
        panic!("moto's S3 server did not start; its output:\n{last_log}");
    }

    /// Base URL of the S3 API, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a new, empty bucket with a unique name and returns the name.
    pub async fn fresh_bucket(&self) -> String {
        let name = format!(
            "sb-test-{}",
            hex::encode(switchboard::auth::random_bytes::<8>())
        );
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .expect("moto answers");
        assert!(
            response.status().is_success(),
            "create bucket {name}: {}",
            response.status()
        );
        name
    }
}

/// S3 settings for `bucket` on the moto server (path-style, redirects on).
pub fn s3_settings(bucket: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(moto().endpoint()),
        bucket: bucket.to_owned(),
        region: "us-east-1".into(),
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET_ACCESS_KEY.into(),
        path_style: true,
        redirect_downloads: true,
    }
}

/// The `SWITCHBOARD_STORAGE_*` variables that put a hub's attachments in `bucket` on the
/// moto server; add them to a test's environment (`spawn_app_with`).
pub fn storage_env(bucket: &str) -> Vec<(String, String)> {
    [
        ("SWITCHBOARD_STORAGE_BACKEND", "s3".to_owned()),
        ("SWITCHBOARD_STORAGE_S3_ENDPOINT", moto().endpoint()),
        ("SWITCHBOARD_STORAGE_S3_BUCKET", bucket.to_owned()),
        ("SWITCHBOARD_STORAGE_S3_REGION", "us-east-1".to_owned()),
        (
            "SWITCHBOARD_STORAGE_S3_ACCESS_KEY_ID",
            ACCESS_KEY_ID.to_owned(),
        ),
        (
            "SWITCHBOARD_STORAGE_S3_SECRET_ACCESS_KEY",
            SECRET_ACCESS_KEY.to_owned(),
        ),
        ("SWITCHBOARD_STORAGE_S3_PATH_STYLE", "true".to_owned()),
        (
            "SWITCHBOARD_STORAGE_S3_REDIRECT_DOWNLOADS",
            "true".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A blob store on a fresh bucket of the moto server.
pub async fn s3_store() -> (BlobStore, String) {
    let bucket = moto().fresh_bucket().await;
    let settings = StorageSettings {
        backend: StorageBackend::S3(s3_settings(&bucket)),
    };
    let store = BlobStore::open(&settings).await.expect("open S3 store");
    (store, bucket)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits up to 30 s for an HTTP answer on `port`; false when the server exits or never
/// answers.
fn wait_until_answering(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut answer = [0u8; 8];
            if stream
                .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .and_then(|()| stream.read_exact(&mut answer))
                .is_ok()
                && answer.starts_with(b"HTTP/")
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `len` reproducible pseudo-random bytes (incompressible, unlike zeros).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Writes `data` to a new file in `dir`.
fn local_file(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("write temp file");
    path
}

/// Reads a blob back through the store's stream: (announced size, sha256, chunk count).
async fn fetch(store: &BlobStore, key: &str) -> (u64, String, usize) {
    let (size, stream) = store.get(key).await.expect("get");
    let chunks: Vec<Bytes> = stream.try_collect().await.expect("stream");
    let mut hasher = Sha256::new();
    for chunk in &chunks {
        hasher.update(chunk);
    }
    (size, hex::encode(hasher.finalize()), chunks.len())
}

#[tokio::test]
async fn s3_put_file_streams_large_files_as_multipart_and_small_ones_in_one_put() {
    let (store, _bucket) = s3_store().await;
    assert_eq!(store.backend_name(), "s3");
    let dir = tempfile::tempdir().unwrap();

    // 20 MiB: three parts of 8 MiB, 8 MiB and 4 MiB.
    let big = noise(20 * 1024 * 1024 + 17, 42);
    let big_key = format!(
        "{}/{}/{}",
        &sha256_hex(&big)[..2],
        &sha256_hex(&big)[2..4],
        sha256_hex(&big)
    );
    let big_path = local_file(&dir, "big.upload", &big);
    store
        .put_file(&big_key, &big_path, "application/pdf")
        .await
        .expect("multipart upload");
    assert!(!big_path.exists(), "the uploaded file is consumed");
    let (size, digest, chunks) = fetch(&store, &big_key).await;
    assert_eq!(size, big.len() as u64);
    assert_eq!(digest, sha256_hex(&big));
    assert!(chunks > 1, "the download streams in chunks, got {chunks}");

    let small = noise(1000, 7);
    let small_path = local_file(&dir, "small.upload", &small);
    store
        .put_file("ab/cd/small", &small_path, "text/plain")
        .await
        .expect("single put");
    let (size, digest, _) = fetch(&store, "ab/cd/small").await;
    assert_eq!((size, digest), (1000, sha256_hex(&small)));

    // How each went up shows in the ETag: a multipart object's is `"<md5>-<parts>"`. The
    // stored Content-Type is what S3 serves.
    let client = reqwest::Client::new();
    for (key, parts, content_type) in [
        (big_key.as_str(), Some("-3\""), "application/pdf"),
        ("ab/cd/small", None, "text/plain"),
    ] {
        let url = store
            .presigned_get(key, Duration::from_secs(60))
            .await
            .unwrap()
            .expect("redirects are on");
        let response = client
            .get(url)
            .header("range", "bytes=0-0")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{key}");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        match parts {
            Some(suffix) => assert!(etag.ends_with(suffix), "{key}: {etag}"),
            None => assert!(!etag.contains('-'), "{key}: {etag}"),
        }
        assert_eq!(response.headers()["content-type"], content_type, "{key}");
    }

    // An empty file is a valid blob too.
    let empty = local_file(&dir, "empty.upload", b"");
    store.put_file("empty", &empty, "text/plain").await.unwrap();
    assert_eq!(fetch(&store, "empty").await.0, 0);
}

#[tokio::test]
async fn s3_exists_delete_and_not_found() {
    let (store, _bucket) = s3_store().await;
    let key = "thumbs/abcdef-200.jpg";
    assert!(!store.exists(key).await.unwrap());
    assert!(matches!(store.get(key).await, Err(BlobError::NotFound)));

    store
        .put_bytes(key, Bytes::from_static(b"\xff\xd8thumbnail"), "image/jpeg")
        .await
        .unwrap();
    assert!(store.exists(key).await.unwrap());
    let (size, digest, _) = fetch(&store, key).await;
    assert_eq!((size, digest), (11, sha256_hex(b"\xff\xd8thumbnail")));

    // Replacing keeps one object with the new bytes.
    store
        .put_bytes(key, Bytes::from_static(b"new"), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(fetch(&store, key).await.1, sha256_hex(b"new"));

    store.delete(key).await.unwrap();
    assert!(!store.exists(key).await.unwrap());
    assert!(matches!(store.get(key).await, Err(BlobError::NotFound)));
    store
        .delete(key)
        .await
        .expect("deleting a missing blob is fine");

    // Keys are checked before any request.
    for bad in ["../x", "/abs", "a//b", ".tmp"] {
        assert!(
            matches!(store.exists(bad).await, Err(BlobError::Backend(m)) if m == "invalid key"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn s3_presigned_urls_download_the_same_bytes_and_unsigned_requests_do_not() {
    let (store, bucket) = s3_store().await;
    let data = noise(300_000, 99);
    store
        .put_bytes("ab/cd/file", Bytes::from(data.clone()), "image/png")
        .await
        .unwrap();

    let url = store
        .presigned_get("ab/cd/file", Duration::from_secs(120))
        .await
        .unwrap()
        .expect("redirects are on");
    assert_eq!(url.path(), format!("/{bucket}/ab/cd/file"));
    assert!(url.as_str().starts_with(&moto().endpoint()), "{url}");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing from {url}"))
    };
    assert_eq!(param("X-Amz-Expires"), "120");
    assert!(param("X-Amz-Credential").starts_with(ACCESS_KEY_ID));
    assert_eq!(param("X-Amz-Signature").len(), 64);
    assert!(!url.as_str().contains(SECRET_ACCESS_KEY), "{url}");

    let client = reqwest::Client::new();
    let response = client.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let body = response.bytes().await.unwrap();
    assert_eq!(sha256_hex(&body), sha256_hex(&data));

    // The object is private: without the signature the same URL is refused.
    let mut unsigned = url.clone();
    unsigned.set_query(None);
    let response = client.get(unsigned).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Without redirects, downloads stream through the hub: no URL.
    let mut settings = s3_settings(&bucket);
    settings.redirect_downloads = false;
    let streaming = BlobStore::open(&StorageSettings {
        backend: StorageBackend::S3(settings),
    })
    .await
    .unwrap();
    assert!(
        streaming
            .presigned_get("ab/cd/file", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(fetch(&streaming, "ab/cd/file").await.1, sha256_hex(&data));
}

#[tokio::test]
async fn s3_errors_name_the_problem_but_never_the_secret() {
    let missing_bucket = format!(
        "sb-missing-{}",
        hex::encode(switchboard::auth::random_bytes::<4>())
    );
    let store = BlobStore::open(&StorageSettings {
        backend: StorageBackend::S3(s3_settings(&missing_bucket)),
    })
    .await
    .expect("opening makes no request");
    assert!(!format!("{store:?}").contains(SECRET_ACCESS_KEY));
    let err = store
        .put_bytes("ab/cd/x", Bytes::from_static(b"x"), "text/plain")
        .await
        .expect_err("no such bucket");
    let message = err.to_string();
    assert!(matches!(err, BlobError::Backend(_)), "{err:?}");
    assert!(!message.contains(SECRET_ACCESS_KEY), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let path = local_file(&dir, "kept.upload", &noise(9 * 1024 * 1024, 5));
    let err = store
        .put_file("ab/cd/big", &path, "application/octet-stream")
        .await
        .expect_err("no such bucket");
    assert!(!err.to_string().contains(SECRET_ACCESS_KEY), "{err}");
    assert!(
        path.exists(),
        "a failed upload leaves the file to the caller"
    );
}

#[tokio::test]
async fn storage_env_configures_the_hub_for_the_moto_bucket() {
    let bucket = moto().fresh_bucket().await;
    let env = storage_env(&bucket).into_iter().collect();
    let settings = Settings::from_layers(None, &env).expect("valid settings");
    assert_eq!(
        settings.storage.backend,
        StorageBackend::S3(s3_settings(&bucket))
    );
    assert!(!format!("{settings:?}").contains(SECRET_ACCESS_KEY));
}
