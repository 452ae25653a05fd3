//! Property-based fuzzing of the hub over HTTP (issue #17): generated and mutated signed
//! API-channel webhooks, multipart uploads with random parts, random JSON to the JSON routes
//! and random widget frames over the visitor socket, each against one running hub per
//! property; and random TOML text and environment values through the config loader. The
//! property everywhere: no 5xx, no panic, and the hub stays healthy (`/health` and `/ready`
//! answer 200 afterwards).
//!
//! Each property's hub runs on a thread of its own (its own actix System) so the cases can be
//! driven by proptest's synchronous runner, with shrinking and persisted failures
//! (`tests/api/proptest-regressions/fuzz.txt`). Generated bodies never make the hub reach
//! beyond this machine: every URL in them points at 127.0.0.1 (which the hub refuses to fetch
//! from), and no inbox of a channel that calls its provider is created.
//!
//! `PROPTEST_CASES` raises (or lowers) every property's case count for a longer run.

#[path = "../../adapters/channel/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use switchboard::config::Settings;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::spawn_app_with;
use fuzz_support::{
    arbitrary_bytes, byte_edit, config, corpus_keys, edited_bytes, json_value, leak_keys,
    load_corpus, mutated, nasty_number, nasty_string, text_edited,
};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/proptest-regressions/fuzz.txt"
);

/// Where every URL in a generated body points: loopback, which the hub does not fetch from
/// (and port 9, where nothing listens, should it ever try).
const LOOPBACK_URL: &str = "http://127.0.0.1:9/file.png";

/// The page origin the fuzzed widget allows.
const SITE: &str = "http://shop.example";

// ---------------------------------------------------------------------------------------
// A hub on its own thread
// ---------------------------------------------------------------------------------------

/// A running hub driven synchronously: requests go out on this side's own runtime.
struct Hub {
    address: String,
    admin: String,
    /// The webhook URL of a WhatsApp inbox talking to a fake Graph API on loopback, when
    /// the hub was started with one.
    whatsapp: Option<String>,
    /// An email inbox's webhook URL and secret, when the hub was started with one.
    email: Option<(String, String)>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hub {
    fn start() -> Self {
        Self::start_with(false, false)
    }

    /// A hub, with a WhatsApp inbox on a fake Graph API (both on this thread) if `whatsapp`,
    /// and an email inbox (its SMTP server a real aiosmtpd) if `email`.
    fn start_with(whatsapp: bool, email: bool) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = spawn_app_with(|_| {}).await;
                let admin = app.admin_token().await;
                let mut fake = None;
                let mut webhook = None;
                if whatsapp {
                    let graph = crate::fake_graph::FakeGraph::start().await;
                    let inbox = crate::whatsapp::create_inbox(&app, &admin, &graph).await;
                    webhook = Some(inbox.webhook_url);
                    fake = Some(graph);
                }
                let mut mailbox = None;
                let mut sink = None;
                if email {
                    let smtp = crate::smtp_sink::SmtpSink::start(
                        &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3"),
                    );
                    let settings = json!({"address": "support@acme.example", "smtp": {
                        "host": "127.0.0.1", "port": smtp.port(), "tls": "none",
                        "username": smtp.user(), "password": smtp.password()}});
                    let response = app
                        .api(
                            &admin,
                            reqwest::Method::POST,
                            "/api/v1/inboxes",
                            Some(json!({
                            "name": "Mail", "channel_type": "email", "settings": settings})),
                        )
                        .await;
                    let inbox: Value = response.json().await.expect("email inbox");
                    mailbox = Some((
                        inbox["webhook_url"].as_str().expect("url").to_owned(),
                        inbox["secret"].as_str().expect("secret").to_owned(),
                    ));
                    sink = Some(smtp);
                }
                ready_tx
                    .send((app.address.clone(), admin, webhook, mailbox))
                    .expect("the test waits for the hub");
                let _ = stop_rx.await;
                app.handle.stop(true).await;
                app.state.hub.shutdown().await;
                drop(app);
                drop(fake);
                drop(sink);
            });
        });
        let (address, admin, whatsapp, email) = ready_rx.recv().expect("the hub starts");
        Self {
            address,
            admin,
            whatsapp,
            email,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// `method path` with the admin token and a JSON body, answering status and JSON.
    fn admin_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.block_on(async {
            let mut request = self
                .client
                .request(method, self.url(path))
                .bearer_auth(&self.admin);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("admin request");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// Whether the hub still answers `/health` and `/ready` with 200.
    fn healthy(&self) -> Result<(), String> {
        self.block_on(async {
            for path in ["/health", "/ready"] {
                let status = self
                    .client
                    .get(self.url(path))
                    .send()
                    .await
                    .map_err(|e| format!("GET {path}: {e}"))?
                    .status();
                if status != reqwest::StatusCode::OK {
                    return Err(format!("GET {path} answered {status}"));
                }
            }
            Ok(())
        })
    }

    /// An API inbox: `(id, secret, webhook_url)`.
    fn api_inbox(&self) -> (String, String, String) {
        let (status, body) = self.admin_call(
            reqwest::Method::POST,
            "/api/v1/inboxes",
            Some(json!({"name": "Fuzzed API inbox", "channel_type": "api", "settings": {}})),
        );
        assert_eq!(status, 201, "create an API inbox: {body}");
        let text = |key: &str| body[key].as_str().expect(key).to_owned();
        (text("id"), text("secret"), text("webhook_url"))
    }

    /// A conversation (and its contact) on a new API inbox: `(conversation_id, contact_id)`.
    fn conversation(&self) -> (String, String) {
        let (_, secret, webhook_url) = self.api_inbox();
        let body = serde_json::to_vec(&json!({
            "type": "message", "external_id": "seed-1",
            "contact": {"identifier": "cust-1", "name": "Ann"}, "content": "Hello",
        }))
        .expect("JSON");
        let (status, _) = self.post_webhook(&webhook_url, &body, Some(&secret));
        assert_eq!(status, 200, "seed message");
        let (_, list) = self.admin_call(reqwest::Method::GET, "/api/v1/conversations", None);
        let conversation = &list["data"][0];
        let id = conversation["id"]
            .as_str()
            .expect("conversation id")
            .to_owned();
        let (_, shown) = self.admin_call(
            reqwest::Method::GET,
            &format!("/api/v1/conversations/{id}"),
            None,
        );
        let contact = shown["contact"]["id"]
            .as_str()
            .or_else(|| shown["contact_id"].as_str())
            .or_else(|| conversation["contact"]["id"].as_str())
            .unwrap_or("1")
            .to_owned();
        (id, contact)
    }

    /// Posts a webhook body, signed with `secret` when given; answers status and body text.
    fn post_webhook(&self, url: &str, body: &[u8], secret: Option<&str>) -> (u16, String) {
        self.block_on(async {
            let mut request = self
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_vec());
            if let Some(secret) = secret {
                request = request.header(
                    switchboard_api_channel::SIGNATURE_HEADER,
                    switchboard_api_channel::sign(secret.as_bytes(), body),
                );
            }
            let response = request.send().await.expect("webhook request");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs one property against `hub`: `cases` cases (or `PROPTEST_CASES`), failing the test
/// with proptest's minimal input; the hub must be healthy after every 25th case and at the
/// end.
fn check<S: Strategy>(
    name: &str,
    hub: &Hub,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut config = config(cases, REGRESSIONS);
    config.source_file = Some(file!());
    let count = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        test(value)?;
        count.set(count.get() + 1);
        if count.get().is_multiple_of(25) {
            hub.healthy().map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    if let Err(error) = hub.healthy() {
        panic!("{name}: the hub is not healthy after the fuzzing: {error}");
    }
}

fn assert_not_5xx(status: u16, what: &str, answer: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{} answered {}: {}", what, status, answer);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keeping generated bodies on this machine
// ---------------------------------------------------------------------------------------

/// A URL with a host other than a loopback address, which the hub might fetch.
fn reaches_out(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text.trim()) else {
        return false;
    };
    match url.host() {
        None => false,
        Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
        Some(url::Host::Domain(_)) => true,
    }
}

/// Points every URL in `value` at loopback.
fn defang(value: &mut Value) {
    match value {
        Value::String(text) if reaches_out(text) => *text = LOOPBACK_URL.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(defang),
        Value::Object(fields) => fields.values_mut().for_each(defang),
        _ => {}
    }
}

fn defanged(mut value: Value) -> Value {
    defang(&mut value);
    value
}

/// Whether a raw body (after byte edits) names a URL off this machine; such cases are
/// skipped rather than sent.
fn body_reaches_out(body: &[u8]) -> bool {
    fn any(value: &Value) -> bool {
        match value {
            Value::String(text) => reaches_out(text),
            Value::Array(items) => items.iter().any(any),
            Value::Object(fields) => fields.iter().any(|(k, v)| reaches_out(k) || any(v)),
            _ => false,
        }
    }
    serde_json::from_slice::<Value>(body).is_ok_and(|value| any(&value))
}

/// Appends `-{n}` to every string under `key`, so a case's messages are new to the hub
/// (stored, not answered as duplicates of an earlier case's).
fn freshened(mut value: Value, key: &str, n: u32) -> Value {
    fn walk(value: &mut Value, key: &str, n: u32) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, key, n)),
            Value::Object(fields) => {
                for (name, item) in fields.iter_mut() {
                    match item {
                        Value::String(text) if name == key => text.push_str(&format!("-{n}")),
                        other => walk(other, key, n),
                    }
                }
            }
            _ => {}
        }
    }
    walk(&mut value, key, n);
    value
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON serializes")
}

// ---------------------------------------------------------------------------------------
// Signed API-channel webhooks
// ---------------------------------------------------------------------------------------

/// The API channel's corpus (its fuzz seeds), with every URL pointing at loopback.
fn api_corpus() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/api/tests/fixtures");
    load_corpus(&dir)
        .into_iter()
        .map(|(name, value)| (name, defanged(value)))
        .collect()
}

fn api_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(|| leak_keys(corpus_keys(&api_corpus())))
}

/// Strings the API channel dispatches on, kept when only texts are fuzzed.
const API_KEEP: &[&str] = &["type", "status", "timestamp", "email", "url", "avatar_url"];

/// Webhook routes and bodies: a seed of the corpus with arbitrary texts (stored, mostly),
/// mutated or edited byte-wise, posted to its own route (statuses to `/status`) mostly;
/// random JSON and random bytes anywhere.
fn webhook() -> BoxedStrategy<(String, Vec<u8>)> {
    let corpus = api_corpus();
    let from_seed = (0..corpus.len())
        .prop_flat_map(move |index| {
            let (name, _) = &corpus[index];
            let own = if name.starts_with("status_") {
                "status"
            } else {
                ""
            };
            let seed = vec![corpus[index].clone()];
            (
                prop_oneof![
                    4 => (text_edited(seed.clone(), API_KEEP), any::<u32>()).prop_map(
                        |((_, value), n)| to_bytes(&defanged(freshened(value, "external_id", n)))
                    ),
                    4 => mutated(seed.clone(), api_keys())
                        .prop_map(|(_, value)| to_bytes(&defanged(value))),
                    2 => edited_bytes(seed).prop_map(|(_, body)| body),
                ],
                prop_oneof![9 => Just(own.to_owned()), 1 => route()],
            )
        })
        .prop_map(|(body, route)| (route, body));
    prop_oneof![
        8 => from_seed,
        1 => (route(), json_value(api_keys(), 4, 32))
            .prop_map(|(route, value)| (route, to_bytes(&defanged(value)))),
        1 => (route(), arbitrary_bytes()),
    ]
    .boxed()
}

fn route() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        3 => Just("status".to_owned()),
        1 => "[a-z/%.]{1,12}",
    ]
}

#[test]
fn signed_api_webhooks_never_answer_5xx() {
    let hub = Hub::start();
    let (_, secret, webhook_url) = hub.api_inbox();
    let strategy = (webhook(), prop_oneof![8 => Just(true), 1 => Just(false)]);
    check(
        "signed API webhooks",
        &hub,
        250,
        strategy,
        |((route, body), signed)| {
            prop_assume!(!body_reaches_out(&body));
            let url = if route.is_empty() {
                webhook_url.clone()
            } else {
                format!("{webhook_url}/{route}")
            };
            let secret = signed.then_some(secret.as_str());
            let (status, answer) = hub.post_webhook(&url, &body, secret);
            assert_not_5xx(status, "the webhook", &answer)?;
            if !signed {
                prop_assert!(matches!(status, 401 | 404 | 405), "unsigned: {}", status);
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Signed WhatsApp webhooks
// ---------------------------------------------------------------------------------------

/// Strings the WhatsApp parser dispatches on, kept when only texts are fuzzed.
const WHATSAPP_KEEP: &[&str] = &["object", "field", "type", "status", "phone_number_id"];

/// The WhatsApp channel's recorded webhooks, with every URL pointing at loopback.
fn whatsapp_corpus() -> Vec<(String, Value)> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/whatsapp/tests/fixtures/inbound");
    load_corpus(&dir)
        .into_iter()
        .map(|(name, value)| (name, defanged(value)))
        .collect()
}

fn whatsapp_sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(crate::whatsapp::APP_SECRET.as_bytes())
            .expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's webhooks, text-edited and mutated, signed with the inbox's app secret: the hub
/// stores what the parser reads (NUL and all), downloads media from the fake Graph API and
/// never answers 5xx. (Media the fake does not know is refused as Graph refuses it.)
#[test]
fn signed_whatsapp_webhooks_never_answer_5xx() {
    let hub = Hub::start_with(true, false);
    let webhook_url = hub.whatsapp.clone().expect("a WhatsApp inbox");
    let corpus = whatsapp_corpus();
    let keys = leak_keys(corpus_keys(&corpus));
    let body = prop_oneof![
        4 => (text_edited(corpus.clone(), WHATSAPP_KEEP), any::<u32>())
            .prop_map(|((_, value), n)| to_bytes(&defanged(freshened(value, "id", n)))),
        4 => mutated(corpus.clone(), keys).prop_map(|(_, value)| to_bytes(&defanged(value))),
        1 => edited_bytes(corpus).prop_map(|(_, body)| body),
        1 => json_value(keys, 4, 32).prop_map(|value| to_bytes(&defanged(value))),
    ];
    let strategy = (body, prop_oneof![9 => Just(true), 1 => Just(false)]);
    check(
        "signed WhatsApp webhooks",
        &hub,
        150,
        strategy,
        |(body, signed)| {
            prop_assume!(!body_reaches_out(&body));
            let (status, answer) = hub.block_on(async {
                let mut request = hub
                    .client
                    .post(&webhook_url)
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                if signed {
                    request = request
                        .header(switchboard_whatsapp::SIGNATURE_HEADER, whatsapp_sign(&body));
                }
                let response = request.send().await.expect("webhook request");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            });
            assert_not_5xx(status, "the WhatsApp webhook", &answer)?;
            if !signed {
                prop_assert_eq!(status, 401, "unsigned: {}", answer);
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------
// Raw mails
// ---------------------------------------------------------------------------------------

/// The email adapter's fixtures: mails shaped after real clients, bounces and broken MIME.
fn mail_corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/email/tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("email fixtures")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).expect("fixture"))
        .collect()
}

/// A fixture with bytes overwritten, lines dropped and its end cut off.
fn mangled_mail(corpus: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = corpus.len();
    (
        0..count,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..24),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(move |(pick, edits, dropped, cut)| {
            let mut mail = corpus[pick].clone();
            for (at, byte) in edits {
                if !mail.is_empty() {
                    let at = at.index(mail.len());
                    mail[at] = byte;
                }
            }
            for line in dropped {
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(
                        mail.iter()
                            .enumerate()
                            .filter(|(_, b)| **b == b'\n')
                            .map(|(i, _)| i + 1),
                    )
                    .collect();
                let start = starts[line.index(starts.len())];
                let end = mail[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(mail.len(), |i| start + i + 1);
                mail.drain(start..end);
            }
            if let Some(cut) = cut
                && !mail.is_empty()
            {
                mail.truncate(cut.index(mail.len()).max(1));
            }
            mail
        })
}

/// Mangled mails from real clients posted to an email inbox's raw-MIME webhook, with and
/// without the inbox secret: stored, noted or refused, never a 5xx.
#[test]
fn raw_mails_never_answer_5xx() {
    let hub = Hub::start_with(false, true);
    let (url, secret) = hub.email.clone().expect("an email inbox");
    let strategy = (
        mangled_mail(mail_corpus()),
        prop_oneof![9 => Just(true), 1 => Just(false)],
    );
    check("raw mails", &hub, 120, strategy, |(mail, authorized)| {
        let (status, answer) = hub.block_on(async {
            let mut request = hub
                .client
                .post(&url)
                .header("Content-Type", "message/rfc822")
                .body(mail.clone());
            if authorized {
                request = request.bearer_auth(&secret);
            }
            let response = request.send().await.expect("webhook request");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        });
        assert_not_5xx(status, "the email webhook", &answer)?;
        if !authorized {
            prop_assert_eq!(status, 401, "no secret: {}", answer);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// Multipart uploads
// ---------------------------------------------------------------------------------------

/// One part of a generated multipart body.
#[derive(Debug, Clone)]
struct Part {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A generated multipart request: its Content-Type header and body.
#[derive(Debug, Clone)]
struct Upload {
    content_type: String,
    body: Vec<u8>,
}

fn png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| crate::attachments::png(6, 4))
}

/// File contents: real images, known headers with garbage after them, anything.
fn file_body() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop::sample::select(vec![
        b"\x89PNG\r\n\x1a\n".to_vec(),
        b"\xff\xd8\xff\xe0".to_vec(),
        b"GIF89a".to_vec(),
        b"RIFF\x00\x00\x00\x00WEBPVP8 ".to_vec(),
        b"%PDF-1.4\n".to_vec(),
        b"MZ\x90\x00".to_vec(),
        b"\x7fELF\x02\x01\x01".to_vec(),
        b"PK\x03\x04".to_vec(),
        b"<!DOCTYPE html><script>".to_vec(),
        Vec::new(),
    ]);
    prop_oneof![
        2 => Just(png().to_vec()),
        1 => (Just(png().to_vec()), byte_edit()).prop_map(|(mut bytes, edit)| {
            edit.apply(&mut bytes);
            bytes
        }),
        3 => (magic, prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(mut head, tail)| {
            head.extend(tail);
            head
        }),
        1 => arbitrary_bytes(),
        1 => Just(Vec::new()),
    ]
}

/// `filename="…"` however a client might (mis)write it.
fn disposition() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => Just("file".to_owned()),
        1 => prop::sample::select(vec!["client_id", "content", "files[]", ""]).prop_map(str::to_owned),
        1 => nasty_string(),
    ];
    let file_name = prop_oneof![
        3 => prop::sample::select(vec![
            "a.png", "photo.JPG", "..", "../../etc/passwd", "C:\\x\\y.pdf", "CON.txt",
            "invoice\u{202E}fdp.exe", ".hidden", "a.", "noext", "x.tar.gz",
        ])
        .prop_map(str::to_owned),
        2 => nasty_string(),
    ];
    (name, prop::option::of(file_name), 0u8..8).prop_map(|(name, file_name, form)| {
        let quote = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
        match (form, file_name) {
            (0 | 5..=7, Some(file)) => format!(
                "form-data; name=\"{}\"; filename=\"{}\"",
                quote(&name),
                quote(&file)
            ),
            (1, Some(file)) => format!(
                "form-data; name={name}; filename*=UTF-8''{}",
                url::form_urlencoded::byte_serialize(file.as_bytes()).collect::<String>()
            ),
            (2, Some(file)) => format!("attachment; filename={file}"),
            (3, _) => format!("form-data; name=\"{}\"", quote(&name)),
            (_, Some(file)) => {
                format!("form-data; filename=\"{file}\"; name=\"{name}\"; name=\"other\"")
            }
            (_, None) => name,
        }
    })
}

fn part() -> impl Strategy<Value = Part> {
    let extra_header = (
        prop_oneof![
            3 => prop::sample::select(vec![
                "Content-Type", "Content-Transfer-Encoding", "Content-Length", "content-disposition",
            ])
            .prop_map(str::to_owned),
            1 => "[A-Za-z-]{1,20}",
        ],
        prop_oneof![
            3 => prop::sample::select(vec![
                "image/png", "application/pdf", "text/html", "multipart/mixed; boundary=x",
                "base64", "99999999999999999999", "-1", "",
            ])
            .prop_map(str::to_owned),
            1 => nasty_string(),
        ],
    );
    (
        prop::option::weighted(0.9, disposition()),
        prop::collection::vec(extra_header, 0..3),
        file_body(),
    )
        .prop_map(|(disposition, extra, body)| {
            let mut headers = Vec::new();
            if let Some(disposition) = disposition {
                headers.push(("Content-Disposition".to_owned(), disposition));
            }
            headers.extend(extra);
            Part { headers, body }
        })
}

/// A well-formed upload as browsers send it: one or two files (any name, any bytes) and,
/// for the widget route, its `client_id` and `content` fields.
fn well_formed_upload() -> impl Strategy<Value = Upload> {
    let file = (
        prop_oneof![
            2 => prop::sample::select(vec!["a.png", "scan.pdf", "x", "photo.jpeg", "..png"])
                .prop_map(str::to_owned),
            1 => "\\PC{0,30}",
        ],
        prop::sample::select(vec![
            "image/png",
            "application/pdf",
            "application/octet-stream",
        ]),
        file_body(),
    );
    (
        "[A-Za-z0-9]{16,30}",
        prop::collection::vec(file, 1..3),
        prop::option::of("[A-Za-z0-9_-]{6,66}"),
        prop::option::of(fuzz_support::text()),
    )
        .prop_map(|(boundary, files, client_id, content)| {
            let mut body = Vec::new();
            let mut field = |disposition: String, content_type: Option<&str>, bytes: &[u8]| {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                body.extend_from_slice(
                    format!("Content-Disposition: {disposition}\r\n").as_bytes(),
                );
                if let Some(content_type) = content_type {
                    body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
                }
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            };
            if let Some(client_id) = &client_id {
                field(
                    "form-data; name=\"client_id\"".into(),
                    None,
                    client_id.as_bytes(),
                );
            }
            if let Some(content) = &content {
                field(
                    "form-data; name=\"content\"".into(),
                    None,
                    content.as_bytes(),
                );
            }
            for (name, content_type, bytes) in &files {
                let name = name.replace(['"', '\\', '\r', '\n'], "_");
                field(
                    format!("form-data; name=\"file\"; filename=\"{name}\""),
                    Some(content_type),
                    bytes,
                );
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            Upload {
                content_type: format!("multipart/form-data; boundary={boundary}"),
                body,
            }
        })
}

/// A multipart request with a mangled boundary, type, part headers, ending or bytes.
fn hostile_upload() -> impl Strategy<Value = Upload> {
    (
        prop_oneof![
            6 => "[A-Za-z0-9_-]{1,40}",
            1 => "[A-Za-z0-9'()+_,./:=?-]{1,70}",
            1 => nasty_string(),
        ],
        prop::collection::vec(part(), 0..4),
        0u8..10,
        0u8..8,
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(byte_edit(), 1..3),
        ],
    )
        .prop_map(|(boundary, parts, content_type, ending, edits)| {
            let mut body = Vec::new();
            if ending == 2 {
                body.extend_from_slice(b"preamble text\r\n");
            }
            for part in &parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                for (name, value) in &part.headers {
                    body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                }
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(&part.body);
                body.extend_from_slice(b"\r\n");
            }
            match ending {
                0 => {}
                1 => body.extend_from_slice(format!("--{boundary}").as_bytes()),
                _ => body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes()),
            }
            for edit in &edits {
                edit.apply(&mut body);
            }
            let content_type = match content_type {
                0 => format!("multipart/form-data; boundary=\"{boundary}\""),
                1 => "multipart/form-data".to_owned(),
                2 => format!("multipart/mixed; boundary={boundary}"),
                3 => "application/json".to_owned(),
                _ => format!("multipart/form-data; boundary={boundary}"),
            };
            Upload { content_type, body }
        })
}

fn send_upload(
    hub: &Hub,
    url: &str,
    token: &str,
    origin: Option<&str>,
    upload: &Upload,
) -> (u16, String) {
    hub.block_on(async {
        let mut request = hub
            .client
            .post(url)
            .bearer_auth(token)
            .body(upload.body.clone());
        // A generated Content-Type may not even be a valid header value: sent without then.
        if reqwest::header::HeaderValue::from_str(&upload.content_type).is_ok() {
            request = request.header("Content-Type", upload.content_type.as_str());
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().await.expect("upload request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

#[test]
fn multipart_uploads_never_answer_5xx() {
    let hub = Hub::start();
    let (conversation_id, _) = hub.conversation();
    let agent_url = hub.url(&format!(
        "/api/v1/conversations/{conversation_id}/attachments"
    ));
    let (key, visitor_token) = widget_visitor(&hub);
    let visitor_url = hub.url(&format!("/widget/api/messages?key={key}"));
    let strategy = (
        prop_oneof![3 => well_formed_upload(), 2 => hostile_upload()],
        prop_oneof![3 => Just(false), 1 => Just(true)],
    );
    check(
        "multipart uploads",
        &hub,
        150,
        strategy,
        |(upload, visitor)| {
            let (status, answer) = if visitor {
                send_upload(&hub, &visitor_url, &visitor_token, Some(SITE), &upload)
            } else {
                send_upload(&hub, &agent_url, &hub.admin, None, &upload)
            };
            assert_not_5xx(status, "the upload", &answer)
        },
    );
}

// ---------------------------------------------------------------------------------------
// JSON routes
// ---------------------------------------------------------------------------------------

/// A JSON route and a body it accepts, as the seed of its mutations.
fn json_routes(conversation: &str, contact: &str, inbox: &str) -> Vec<(String, String, Value)> {
    let c = |tail: &str| format!("/api/v1/conversations/{conversation}{tail}");
    vec![
        (
            "POST".into(),
            c("/messages"),
            json!({"content": "Hello there", "private": false}),
        ),
        (
            "POST".into(),
            c("/messages"),
            json!({"content": "A note", "private": true, "reply_to_id": "1", "attachment_ids": []}),
        ),
        (
            "POST".into(),
            c("/status"),
            json!({"status": "snoozed", "snoozed_until": "2030-01-01T00:00:00Z"}),
        ),
        ("POST".into(), c("/priority"), json!({"priority": "high"})),
        (
            "PUT".into(),
            c("/labels"),
            json!({"labels": ["vip", "billing"]}),
        ),
        (
            "POST".into(),
            c("/assign"),
            json!({"assignee_id": null, "team_id": null}),
        ),
        ("POST".into(), c("/read"), json!({"seq": 1})),
        ("POST".into(), c("/typing"), json!({"on": true})),
        (
            "PATCH".into(),
            format!("/api/v1/contacts/{contact}"),
            json!({"name": "Ann", "email": "ann@example.com", "phone": "+4366", "language": "de", "attributes": {"plan": "gold"}}),
        ),
        (
            "POST".into(),
            "/api/v1/canned-responses".into(),
            json!({"short_code": "hi", "content": "Hello!"}),
        ),
        (
            "POST".into(),
            "/api/v1/teams".into(),
            json!({"name": "Billing", "description": "Invoices"}),
        ),
        (
            "POST".into(),
            "/api/v1/agents".into(),
            json!({"email": "new@example.com", "name": "New Agent", "role": "agent", "capacity": 5}),
        ),
        (
            "POST".into(),
            "/api/v1/inboxes".into(),
            json!({"name": "Shop", "channel_type": "api", "settings": {"callback_url": LOOPBACK_URL}}),
        ),
        (
            "POST".into(),
            "/api/v1/inboxes".into(),
            json!({"name": "Site", "channel_type": "widget", "settings": {"allowed_origins": [SITE]}, "enabled": true}),
        ),
        (
            "PATCH".into(),
            format!("/api/v1/inboxes/{inbox}"),
            json!({"name": "Renamed", "settings": {"callback_url": LOOPBACK_URL}}),
        ),
        (
            "POST".into(),
            "/api/v1/auth/login".into(),
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        ),
    ]
}

/// Channel types whose inboxes call their provider when created (network): never sent.
fn calls_a_provider(body: &Value) -> bool {
    fn any(value: &Value) -> bool {
        match value {
            Value::String(text) => {
                let text = text.trim().to_ascii_lowercase();
                text.contains("telegram") || text.contains("whatsapp")
            }
            Value::Array(items) => items.iter().any(any),
            Value::Object(fields) => fields
                .iter()
                .any(|(k, v)| any(&Value::from(k.as_str())) || any(v)),
            _ => false,
        }
    }
    any(body)
}

#[test]
fn json_routes_never_answer_5xx() {
    let hub = Hub::start();
    let (conversation, contact) = hub.conversation();
    let (inbox, _, _) = hub.api_inbox();
    let routes = json_routes(&conversation, &contact, &inbox);
    let corpus: Vec<(String, Value)> = routes
        .iter()
        .enumerate()
        .map(|(index, (_, _, body))| (index.to_string(), body.clone()))
        .collect();
    let keys = leak_keys(corpus_keys(&corpus));
    const KEEP: &[&str] = &[
        "status",
        "priority",
        "role",
        "channel_type",
        "snoozed_until",
        "email",
        "reply_to_id",
        "assignee_id",
        "team_id",
    ];
    // A route's body grows from that route's own seed (and sometimes from anything).
    let route_and_body = (0..corpus.len()).prop_flat_map(move |route| {
        let seed = vec![corpus[route].clone()];
        prop_oneof![
            3 => text_edited(seed.clone(), KEEP).prop_map(|(_, value)| to_bytes(&defanged(value))),
            4 => mutated(seed, keys).prop_map(|(_, value)| to_bytes(&defanged(value))),
            2 => json_value(keys, 4, 24).prop_map(|value| to_bytes(&defanged(value))),
            1 => arbitrary_bytes(),
        ]
        .prop_map(move |body| (route, body))
    });
    let content_type = prop_oneof![
        8 => Just(Some("application/json")),
        1 => Just(Some("text/plain")),
        1 => Just(None),
    ];
    let strategy = (route_and_body, content_type);
    check(
        "JSON routes",
        &hub,
        250,
        strategy,
        |((route, body), content_type)| {
            prop_assume!(!body_reaches_out(&body));
            prop_assume!(
                !serde_json::from_slice::<Value>(&body).is_ok_and(|v| calls_a_provider(&v))
            );
            let (method, path, _) = &routes[route];
            let (status, answer) = hub.block_on(async {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let mut request = hub
                    .client
                    .request(method, hub.url(path))
                    .bearer_auth(&hub.admin)
                    .body(body.clone());
                if let Some(content_type) = content_type {
                    request = request.header("Content-Type", content_type);
                }
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            });
            assert_not_5xx(status, &format!("{method} {path}"), &answer)
        },
    );
}

// ---------------------------------------------------------------------------------------
// Widget frames
// ---------------------------------------------------------------------------------------

/// A widget inbox allowing [`SITE`] and a visitor of it: `(public key, visitor token)`.
fn widget_visitor(hub: &Hub) -> (String, String) {
    let (status, body) = hub.admin_call(
        reqwest::Method::POST,
        "/api/v1/inboxes",
        Some(json!({"name": "Fuzzed site", "channel_type": "widget", "settings": {"allowed_origins": [SITE]}})),
    );
    assert_eq!(status, 201, "create a widget: {body}");
    let key = body["settings"]["public_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let token = hub.block_on(async {
        let response = hub
            .client
            .post(hub.url(&format!("/widget/api/session?key={key}")))
            .header("Origin", SITE)
            .json(&json!({"token": null}))
            .send()
            .await
            .expect("session");
        let body: Value = response.json().await.expect("session JSON");
        body["token"].as_str().expect("visitor token").to_owned()
    });
    (key, token)
}

fn widget_corpus() -> Vec<(String, Value)> {
    load_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/widget/tests/fixtures"))
}

/// One frame as the browser would send it: text (JSON or not) or binary.
fn widget_frame() -> impl Strategy<Value = Frame> {
    let corpus = widget_corpus();
    let keys = leak_keys(corpus_keys(&corpus));
    prop_oneof![
        6 => mutated(corpus.clone(), keys).prop_map(|(_, value)| Frame::Text(value.to_string().into())),
        2 => json_value(keys, 4, 24).prop_map(|value| Frame::Text(value.to_string().into())),
        2 => edited_bytes(corpus)
            .prop_map(|(_, bytes)| Frame::Text(String::from_utf8_lossy(&bytes).into_owned().into())),
        1 => nasty_string().prop_map(|text| Frame::Text(text.into())),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| Frame::Binary(bytes.into())),
    ]
}

/// Opens a visitor socket from [`SITE`], says hello with `token` (unless `hello` is false)
/// and sends `frames`; answers every text frame the hub sent back and how the socket ended.
async fn visit(
    hub: &Hub,
    key: &str,
    token: &str,
    hello: bool,
    frames: &[Frame],
) -> Result<(Vec<String>, Option<u16>), String> {
    let url = format!(
        "{}/widget/ws?key={key}",
        hub.address.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Origin", SITE.parse().expect("origin"));
    let (mut stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("the visitor socket does not open: {e}"))?;
    if hello {
        let hello = json!({"type": "hello", "token": token, "last_seq": null});
        stream
            .send(Frame::Text(hello.to_string().into()))
            .await
            .map_err(|e| e.to_string())?;
    }
    for frame in frames {
        if stream.send(frame.clone()).await.is_err() {
            break;
        }
    }
    let mut texts = Vec::new();
    let mut closed = None;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_millis(150), stream.next()).await
    {
        match frame {
            Frame::Text(text) => texts.push(text.to_string()),
            Frame::Close(reason) => {
                closed = Some(reason.map_or(1005, |r| u16::from(r.code)));
                break;
            }
            _ => {}
        }
    }
    let _ = stream.close(None).await;
    Ok((texts, closed))
}

#[test]
fn widget_frames_never_break_the_hub() {
    let hub = Hub::start();
    let (key, token) = widget_visitor(&hub);
    let strategy = (
        prop_oneof![5 => Just(true), 1 => Just(false)],
        prop::collection::vec(widget_frame(), 1..5),
    );
    check("widget frames", &hub, 100, strategy, |(hello, frames)| {
        let (texts, closed) = hub
            .block_on(visit(&hub, &key, &token, hello, &frames))
            .map_err(TestCaseError::fail)?;
        for text in &texts {
            let frame: Value = serde_json::from_str(text).map_err(|e| {
                TestCaseError::fail(format!("a frame that is not JSON ({e}): {text}"))
            })?;
            prop_assert!(
                frame["type"].is_string(),
                "a frame without a type: {}",
                text
            );
            if frame["type"] == "error" {
                prop_assert!(
                    frame["code"].is_string(),
                    "an error without a code: {}",
                    text
                );
            }
        }
        // 1011 is the server's "internal error"; every other ending is a decision.
        prop_assert!(
            closed != Some(1011),
            "the socket closed with an internal error: {:?}",
            texts
        );
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------
// The config loader
// ---------------------------------------------------------------------------------------

const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Every `SWITCHBOARD_*` variable the defaults file names.
fn env_names() -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_TOML
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# Env:"))
        .flat_map(|names| names.split(','))
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("SWITCHBOARD_"))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The defaults file as JSON (sections as objects), the seed of the TOML mutations.
fn default_settings() -> Value {
    let table: toml::Table = DEFAULT_TOML.parse().expect("the defaults parse");
    serde_json::to_value(table).expect("TOML values are JSON values")
}

/// A TOML key as written: bare when it can be, else quoted.
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        key.to_owned()
    } else {
        serde_json::to_string(key).expect("a string serializes")
    }
}

/// A JSON value as an inline TOML value (nulls, which TOML lacks, as empty strings; JSON
/// string escapes are TOML's too, so odd characters make odd but honest TOML).
fn toml_value(value: &Value) -> String {
    match value {
        Value::Null => "\"\"".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => serde_json::to_string(text).expect("a string serializes"),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!("{} = {}", toml_key(key), toml_value(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A settings document as TOML text: top-level keys, then one `[section]` per object.
fn toml_text(value: &Value) -> String {
    let Value::Object(fields) = value else {
        return format!("value = {}", toml_value(value));
    };
    let mut text = String::new();
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_object()) {
        text.push_str(&format!("{} = {}\n", toml_key(key), toml_value(value)));
    }
    for (key, value) in fields {
        if let Value::Object(section) = value {
            text.push_str(&format!("[{}]\n", toml_key(key)));
            for (key, value) in section {
                text.push_str(&format!("{} = {}\n", toml_key(key), toml_value(value)));
            }
        }
    }
    text
}

/// An environment variable's text: values of the right kinds, near misses and anything.
fn env_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => nasty_string(),
        2 => nasty_number().prop_map(|n| n.to_string()),
        2 => prop::sample::select(vec![
            "true", "off", "YES", "2", "0", "-1", "1048576", "9223372036854775807",
            "127.0.0.1:0", "[::1]:8080", "0.0.0.0:99999", "http://127.0.0.1:8080/", "https://", "ftp://x",
            "sqlite://", "sqlite:///", "postgres://", "postgres://u:p@127.0.0.1:1/db", "mysql://x",
            "info,switchboard=debug", "[{", "=", "json", "pretty", "s3", "filesystem",
            "0123456789abcdef0123456789abcdef0123", "admin@example.com", "short",
        ])
        .prop_map(str::to_owned),
    ]
}

#[test]
fn config_loading_never_panics() {
    let names = env_names();
    assert!(
        names.len() >= 40,
        "the defaults name the variables: {names:?}"
    );
    let keys = {
        let seed = default_settings();
        let mut keys = corpus_keys(&[("default.toml".to_owned(), seed)]);
        keys.extend(["unknown".to_owned(), "data_dir".to_owned()]);
        leak_keys(keys)
    };
    let toml = prop_oneof![
        2 => Just(None),
        4 => mutated(vec![("default.toml".to_owned(), default_settings())], keys)
            .prop_map(|(_, value)| Some(toml_text(&value))),
        1 => json_value(keys, 3, 24).prop_map(|value| Some(toml_text(&value))),
        1 => edited_bytes(vec![("default.toml".to_owned(), Value::String(DEFAULT_TOML.to_owned()))])
            .prop_map(|(_, bytes)| {
                // The JSON string's content, edited: TOML text with bytes changed.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Some(serde_json::from_str::<String>(&text).unwrap_or(text))
            }),
        1 => nasty_string().prop_map(Some),
    ];
    let env = prop::collection::vec(
        (
            prop_oneof![
                6 => prop::sample::select(names.clone()),
                1 => "SWITCHBOARD_[A-Z_]{1,12}",
            ],
            env_text(),
        ),
        0..6,
    );
    let mut config = config(1_000, REGRESSIONS);
    config.source_file = Some(file!());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(toml, env), |(toml, env)| {
        let mut vars: HashMap<String, String> = env.into_iter().collect();
        // A data folder the loader never creates (it only names it).
        vars.entry("SWITCHBOARD_DATA_DIR".to_owned())
            .or_insert_with(|| "/nonexistent/switchboard-fuzz".to_owned());
        let local = toml
            .as_deref()
            .map(|text| (Path::new("fuzz/local.toml"), text));
        match Settings::from_layers(local, &vars) {
            Ok(settings) => {
                let base = settings.server.public_url.clone();
                prop_assert!(base.path().ends_with('/'), "public_url {}", base);
                prop_assert!(matches!(base.scheme(), "http" | "https"));
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("config loading: {error}");
    }
}

/// The default settings document round-trips through the TOML writer above, so mutations
/// start from the real defaults.
#[test]
fn config_fuzz_seed_is_the_real_defaults() {
    let text = toml_text(&default_settings());
    let mut vars = HashMap::new();
    vars.insert(
        "SWITCHBOARD_DATA_DIR".to_owned(),
        "/nonexistent/switchboard-fuzz".to_owned(),
    );
    let settings = Settings::from_layers(Some((Path::new("fuzz/local.toml"), &text)), &vars);
    assert!(settings.is_ok(), "{settings:?}\n{text}");
    let _: &Map<String, Value> = default_settings().as_object().expect("a table");
}
