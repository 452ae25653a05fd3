//! Test harness: each test gets its own hub on a random port with its own database.
//!
//! Backend: SQLite in a temp folder by default; when `SWITCHBOARD_TEST_DATABASE_URL`
//! is a `postgres://` URL (e.g. postgres://postgres@127.0.0.1:5432/postgres), each test
//! creates a fresh PostgreSQL database there and drops it when done.

use std::collections::HashMap;

use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::startup::Application;
use switchboard::state::AppState;
use tempfile::TempDir;

/// The variable that switches the suite to PostgreSQL.
pub const PG_ENV: &str = "SWITCHBOARD_TEST_DATABASE_URL";

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A database that exists for one test.
pub struct TestDatabase {
    /// What to put in `SWITCHBOARD_DATABASE_URL` (empty: SQLite in the data dir).
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            return Self {
                url: String::new(),
                pg: None,
            };
        };
        let name = format!(
            "sbtest_{}",
            hex::encode(switchboard::auth::random_bytes::<8>())
        );
        let mut conn = AsyncPgConnection::establish(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV}={admin_url} is not reachable: {e}"));
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("postgres URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            pg: Some((admin_url, name)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// How many migrations the hub embeds for this backend (one folder each).
    pub fn migration_count(&self) -> usize {
        let backend = if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter(|entry| entry.as_ref().is_ok_and(|e| e.path().is_dir()))
            .count()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // A plain thread: the wrapper brings its own runtime, the test's is busy.
            let _ = std::thread::spawn(move || {
                if let Ok(mut conn) =
                    <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&admin_url)
                {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn);
                }
            })
            .join();
        }
    }
}

/// The environment a test hub starts with (before per-test changes).
pub fn test_env(data_dir: &TempDir, db: &TestDatabase) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        (
            "SWITCHBOARD_DATA_DIR",
            data_dir.path().to_string_lossy().into_owned(),
        ),
        ("SWITCHBOARD_LISTEN", "127.0.0.1:0".into()),
        ("SWITCHBOARD_WORKERS", "1".into()),
        ("SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS", "1".into()),
        ("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "4".into()),
        ("SWITCHBOARD_ADMIN_EMAIL", ADMIN_EMAIL.into()),
        ("SWITCHBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("SWITCHBOARD_LOG_LEVEL", "warn".into()),
        // The free-disk floor (1 GiB by default) would make uploads depend on the disk of
        // whatever machine runs the tests; the floor's own test sets it.
        ("SWITCHBOARD_ATTACHMENTS_MIN_FREE_DISK_MB", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if !db.url.is_empty() {
        env.insert("SWITCHBOARD_DATABASE_URL".into(), db.url.clone());
    }
    env
}

/// A running hub and a cookie-keeping client for it.
pub struct TestApp {
    pub address: String,
    /// The environment it was started with (a restart reuses it).
    pub env: HashMap<String, String>,
    pub handle: actix_web::dev::ServerHandle,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    /// The hub's data directory (SQLite file, secret key), removed after the test.
    pub data_dir: TempDir,
    pub db: TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a hub after `adjust` has changed the environment it reads its settings from.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        switchboard::telemetry::init(&switchboard::config::LogSettings {
            level: "info".into(),
            format: switchboard::config::LogFormat::Pretty,
        });
    }
    let db = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut env = test_env(&data_dir, &db);
    adjust(&mut env);
    start(env, data_dir, db).await
}

async fn start(env: HashMap<String, String>, data_dir: TempDir, db: TestDatabase) -> TestApp {
    let settings = Settings::from_layers(None, &env).expect("valid test settings");
    let app = Application::build(settings).await.expect("hub starts");
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        env,
        handle,
        client: client(),
        state,
        data_dir,
        db,
    }
}

impl TestApp {
    /// Starts another hub on the same PostgreSQL database (its own data directory and
    /// port), as a second node behind a load balancer would run. The first keeps the
    /// database; this one never drops it.
    pub async fn second_node(&self) -> TestApp {
        assert!(
            self.db.is_postgres(),
            "several nodes share a PostgreSQL database"
        );
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut env = self.env.clone();
        env.insert(
            "SWITCHBOARD_DATA_DIR".into(),
            data_dir.path().to_string_lossy().into_owned(),
        );
        let db = TestDatabase {
            url: self.db.url.clone(),
            pg: None,
        };
        start(env, data_dir, db).await
    }

    /// The `/metrics` page (Prometheus text).
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Stops this hub (server and actors) and starts a new one on the same data
    /// directory and database, as after a restart of the process.
    pub async fn restart(self) -> TestApp {
        self.handle.stop(true).await;
        self.state.hub.shutdown().await;
        let TestApp {
            env, data_dir, db, ..
        } = self;
        start(env, data_dir, db).await
    }
}

/// A client with its own cookie jar (one per simulated browser).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A signed-in browser: its client holds the session cookie.
pub struct Browser {
    pub client: reqwest::Client,
    pub csrf: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// POSTs a JSON login with the given client.
    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> Response {
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    /// Logs in a fresh browser, asserting success.
    pub async fn browser(&self, email: &str, password: &str) -> Browser {
        let client = client();
        let response = self.login_with(&client, email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.expect("login body");
        Browser {
            client,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
        }
    }

    /// A personal API token of `email`.
    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let browser = self.browser(email, password).await;
        let response = browser
            .client
            .post(self.url("/api/v1/me/tokens"))
            .header("X-CSRF-Token", &browser.csrf)
            .json(&json!({"name": "tests"}))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("token body");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_for(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Sends `method path` with a Bearer token and an optional JSON body.
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("api request")
    }

    /// GETs `path` with a Bearer token, asserting 200, and returns the JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.api(token, reqwest::Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// The actions of the newest `limit` audit entries, newest first.
    pub async fn audit_actions(&self, admin_token: &str, limit: u32) -> Vec<String> {
        let log = self
            .get_json(admin_token, &format!("/api/v1/audit?limit={limit}"))
            .await;
        log["data"]
            .as_array()
            .expect("audit data")
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_owned())
            .collect()
    }

    /// Creates an agent (as admin) and returns its id and password.
    pub async fn create_agent(
        &self,
        admin_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let password = "agent password 123";
        let response = self
            .api(
                admin_token,
                reqwest::Method::POST,
                "/api/v1/agents",
                Some(json!({"email": email, "name": "Test Agent", "role": role, "password": password})),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create agent {email}"
        );
        let body: Value = response.json().await.expect("agent body");
        (
            body["id"].as_str().expect("id").to_owned(),
            password.to_owned(),
        )
    }
}

/// Asserts the status and the `{"error": {"code", "message"}}` shape; returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message in {body}"
    );
    body
}

/// An API-channel inbox as its creator saw it.
#[derive(Debug, Clone)]
pub struct ApiInbox {
    pub id: String,
    pub secret: String,
    pub webhook_url: String,
}

impl TestApp {
    /// Creates an API-channel inbox (as admin) with an optional callback URL.
    pub async fn create_api_inbox(
        &self,
        admin_token: &str,
        callback_url: Option<&str>,
    ) -> ApiInbox {
        let mut settings = json!({});
        if let Some(url) = callback_url {
            settings["callback_url"] = json!(url);
        }
        let response = self
            .api(
                admin_token,
                reqwest::Method::POST,
                "/api/v1/inboxes",
                Some(json!({"name": "API inbox", "channel_type": "api", "settings": settings})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create inbox");
        let body: Value = response.json().await.expect("inbox body");
        ApiInbox {
            id: body["id"].as_str().expect("id").to_owned(),
            secret: body["secret"].as_str().expect("secret").to_owned(),
            webhook_url: body["webhook_url"]
                .as_str()
                .expect("webhook_url")
                .to_owned(),
        }
    }

    /// Posts a body to an inbox's webhook (`route` "" or "status"), signed with `secret`.
    pub async fn post_signed(&self, inbox: &ApiInbox, route: &str, body: &Value) -> Response {
        let raw = serde_json::to_vec(body).expect("json");
        let signature = switchboard_api_channel::sign(inbox.secret.as_bytes(), &raw);
        let url = if route.is_empty() {
            inbox.webhook_url.clone()
        } else {
            format!("{}/{route}", inbox.webhook_url)
        };
        self.client
            .post(url)
            .header("Content-Type", "application/json")
            .header(switchboard_api_channel::SIGNATURE_HEADER, signature)
            .body(raw)
            .send()
            .await
            .expect("webhook request")
    }

    /// Posts one inbound message event and asserts 200; returns the stored entries.
    pub async fn inbound(
        &self,
        inbox: &ApiInbox,
        external_id: &str,
        identifier: &str,
        content: &str,
    ) -> Value {
        let response = self
            .post_signed(inbox, "", &message_event(external_id, identifier, content))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "webhook accepted");
        response.json().await.expect("webhook answer")
    }

    /// Adds an agent to an inbox (as admin).
    pub async fn add_member(&self, admin_token: &str, inbox_id: &str, agent_id: &str) {
        let response = self
            .api(
                admin_token,
                reqwest::Method::POST,
                &format!("/api/v1/inboxes/{inbox_id}/members"),
                Some(json!({"agent_id": agent_id})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "add member");
    }

    /// Opens the agent websocket with a token, optionally resuming after `(epoch, seq)`.
    pub async fn websocket(&self, token: &str, resume: Option<(&str, u64)>) -> AgentSocket {
        agent_socket(&self.address, token, resume).await
    }
}

/// Opens an agent websocket on the hub at `address` (any node of a cluster).
pub async fn agent_socket(address: &str, token: &str, resume: Option<(&str, u64)>) -> AgentSocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut url = format!("{}/api/v1/ws", address.replacen("http", "ws", 1));
    if let Some((epoch, seq)) = resume {
        url.push_str(&format!("?epoch={epoch}&since={seq}"));
    }
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    let mut socket = AgentSocket {
        stream,
        hello: Value::Null,
    };
    socket.hello = socket.next().await;
    assert_eq!(socket.hello["type"], "hello", "first frame is hello");
    socket
}

/// What a socket gave within a wait.
#[derive(Debug)]
pub enum Polled {
    Frame(Value),
    Quiet,
    Closed,
}

/// A message event as an integration posts it.
pub fn message_event(external_id: &str, identifier: &str, content: &str) -> Value {
    json!({
        "type": "message",
        "external_id": external_id,
        "contact": {"identifier": identifier, "name": "Ann", "email": "ann@example.com"},
        "content": content,
        "timestamp": "2026-11-23T10:00:00Z",
    })
}

/// An agent's realtime connection.
pub struct AgentSocket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// The first frame: `{"type":"hello","data":{"epoch","seq","start"}}`.
    pub hello: Value,
}

impl AgentSocket {
    /// The next JSON frame, failing the test after 10 s.
    pub async fn next(&mut self) -> Value {
        self.next_within(std::time::Duration::from_secs(10))
            .await
            .expect("a websocket frame within 10 s")
    }

    /// The next JSON frame, or `None` if none comes within `wait`.
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match frame.expect("websocket frame") {
                Message::Text(text) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next JSON frame, telling a quiet socket (nothing within `wait`) from a closed one.
    pub async fn poll(&mut self, wait: std::time::Duration) -> Polled {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Polled::Quiet,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return Polled::Closed,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Polled::Frame(serde_json::from_str(&text).expect("JSON frame"));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Skips frames until one of type `kind` (e.g. `message.created`) arrives.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a JSON frame (a ping, the conversation the agent views).
    pub async fn send(&mut self, frame: &Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                frame.to_string().into(),
            ))
            .await
            .expect("send a frame");
    }

    /// The epoch of this connection's stream.
    pub fn epoch(&self) -> String {
        self.hello["data"]["epoch"]
            .as_str()
            .expect("epoch")
            .to_owned()
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// What the callback server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub signature_valid: bool,
    pub at: std::time::Instant,
}

/// A scripted answer of the callback server.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn ok(external_id: &str) -> Self {
        Self {
            status: 200,
            headers: vec![],
            body: json!({"external_id": external_id}).to_string(),
        }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.to_owned(),
        }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A local integration endpoint the hub posts replies to: it checks each request's
/// signature, records it, and answers from a script (then `200 {"external_id":"ext-<id>"}`).
pub struct CallbackServer {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Answer>>>,
    secret: std::sync::Arc<std::sync::Mutex<String>>,
    pub handle: actix_web::dev::ServerHandle,
}

impl CallbackServer {
    pub async fn start() -> Self {
        use std::sync::{Arc, Mutex};
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<std::collections::VecDeque<Answer>>> = Arc::default();
        let secret: Arc<Mutex<String>> = Arc::default();
        let (r, sc, se) = (received.clone(), script.clone(), secret.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind callback");
        let port = listener.local_addr().expect("addr").port();
        let server = actix_web::HttpServer::new(move || {
            let (r, sc, se) = (r.clone(), sc.clone(), se.clone());
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let (r, sc, se) = (r.clone(), sc.clone(), se.clone());
                    async move {
                        let header = req
                            .headers()
                            .get(switchboard_api_channel::SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok());
                        let secret = se.lock().unwrap().clone();
                        let signature_valid =
                            switchboard_api_channel::verify(secret.as_bytes(), &body, header)
                                .is_ok();
                        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let id = json["message"]["id"].as_str().unwrap_or("?").to_owned();
                        r.lock().unwrap().push(Received {
                            body: json,
                            signature_valid,
                            at: std::time::Instant::now(),
                        });
                        let answer = sc
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or_else(|| Answer::ok(&format!("ext-{id}")));
                        let mut response = actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(answer.status).expect("status"),
                        );
                        for (name, value) in &answer.headers {
                            response.insert_header((name.as_str(), value.as_str()));
                        }
                        response.content_type("application/json").body(answer.body)
                    }
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/callback"),
            received,
            script,
            secret,
            handle,
        }
    }

    /// The inbox secret requests must be signed with.
    pub fn expect_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    /// Queues answers for the next requests.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to 15 s until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "callback got {} requests, expected {n}",
            self.requests().len()
        );
    }
}

/// Polls `GET path` (Bearer) until `check` accepts the JSON, up to 15 s.
pub async fn eventually(
    app: &TestApp,
    token: &str,
    path: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = app.get_json(token, path).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("GET {path} never matched; last answer {last}");
}

/// Runs `sql` on the hub's database (either backend): for seeding rows the API cannot write
/// (old times, another conversation kind).
pub async fn run_sql(app: &TestApp, sql: &str) {
    use diesel_async::RunQueryDsl;
    use switchboard::db::DbConn;
    let conn = &mut app.state.db.writer().await.expect("writer");
    let done = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).execute(&mut **c).await,
        DbConn::Postgres(c) => diesel::sql_query(sql).execute(&mut **c).await,
    };
    done.unwrap_or_else(|e| panic!("{sql}: {e}"));
}
