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
use switchboard::startup::{AppState, Application};
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
    let settings = Settings::from_layers(None, &env).expect("valid test settings");
    let app = Application::build(settings).await.expect("hub starts");
    let port = app.port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: client(),
        state,
        data_dir,
        db,
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
