//! Headless Chromium for browser tests: Debian's `chromium` driven through `chromedriver`
//! (WebDriver, via fantoccini). `.ci/run` installs both; screenshots go to
//! `target/test-artifacts/` (not committed).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Flags Chromium needs to run headless in a container without a display or sandbox.
const FLAGS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
];

fn find(names: &[&str]) -> String {
    for name in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
            let path = format!("{dir}/{name}");
            if std::path::Path::new(&path).exists() {
                return path;
            }
        }
    }
    panic!(
        "{} not found: install Debian's chromium and chromium-driver (.ci/run does)",
        names.join(" or ")
    );
}

/// axe-core's script, from the npm package `.ci/run` installs under `target/axe/` (loaded into
/// pages only by tests; the hub never serves it).
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install it with `mkdir -p target/axe && cd target/axe && \
                 npm install axe-core@4.14.1` (.ci/run does)",
                path.display()
            )
        })
    })
}

/// A browser session; the driver process ends with it.
pub struct Chrome {
    pub client: fantoccini::Client,
    driver: Child,
}

impl Chrome {
    /// Starts chromedriver on a free port and opens a session of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(find(&["chromedriver"]))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{url}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--window-size={width},{height}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": find(&["chromium", "chromium-browser"]), "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities)
        .connect(&url)
        .await
        .expect("a chromium session");
        Self { client, driver }
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns `true` (up to 15 s).
    pub async fn wait_until(&self, what: &str, script: &str) {
        for _ in 0..300 {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Presses Tab as a person does (WebDriver key actions, so the browser moves the focus
    /// and shows it as for a keyboard user).
    pub async fn press_tab(&self) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let tab = '\u{E004}';
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab });
        self.client.perform_actions(keys).await.expect("press Tab");
    }

    /// Runs axe-core (WCAG 2.1 A and AA rules) on the page as it is and returns each
    /// violation as a line: the rule, its impact, and the first elements that break it.
    pub async fn axe(&self) -> Vec<String> {
        let loaded = self.js("return typeof window.axe === 'object';").await;
        if loaded != Value::Bool(true) {
            self.js(&format!("{}\nreturn true;", axe_source())).await;
        }
        let found = self
            .js(
                "return axe.run(document, { runOnly: { type: 'tag', values: \
                   ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] }) \
                 .then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
                   v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' [' + \
                   (n.failureSummary || '').replace(/\\s+/g, ' ') + ']').join('; ')));",
            )
            .await;
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_else(|| panic!("axe answered {found}"))
    }

    /// Saves a PNG of the viewport as `target/test-artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).expect("artifact dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // A failed test still ends its driver (and the browser with it).
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A web server for a test's own pages (a customer's website embedding the widget).
pub struct Site {
    pub origin: String,
    page: std::sync::Arc<std::sync::Mutex<String>>,
    handle: actix_web::dev::ServerHandle,
}

impl Site {
    /// Serves an empty page at every path until [`Site::set_page`].
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind site");
        let port = listener.local_addr().expect("addr").port();
        let page: std::sync::Arc<std::sync::Mutex<String>> = std::sync::Arc::default();
        let served = page.clone();
        let server = actix_web::HttpServer::new(move || {
            let served = served.clone();
            actix_web::App::new().default_service(actix_web::web::to(move || {
                let html = served.lock().expect("page").clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(html)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            origin: format!("http://127.0.0.1:{port}"),
            page,
            handle,
        }
    }

    /// The HTML served from now on.
    pub fn set_page(&self, html: String) {
        *self.page.lock().expect("page") = html;
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::spawn(async move { handle.stop(false).await });
    }
}
