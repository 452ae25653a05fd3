//! A small fake of the Graph API endpoints the WhatsApp channel calls, on 127.0.0.1, so the
//! real client is tested over real HTTP.
//!
//! It speaks just enough HTTP/1.1 (one request per connection, `Connection: close`), checks
//! the bearer token on every request like Graph does, records every request, and answers
//! from a per-route script when a test queued an answer (errors), else like Graph would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// The token the fake accepts.
pub const TOKEN: &str = "EAAGtestTOKENforTheFakeGraph";
/// The business number's id the fake knows.
pub const PHONE_ID: &str = "106540352242922";
/// A second number of the same business account (one Meta app serves both).
pub const SECOND_PHONE_ID: &str = "106540352242999";
/// The business account's id the fake knows.
pub const WABA_ID: &str = "102290129340398";
/// The version the tests configure.
pub const VERSION: &str = "v23.0";
/// The `after` cursor of the first template page (see the fixture).
pub const PAGE_2_CURSOR: &str = "QVFIUmlUSnlTNW1Sdw";

/// The endpoints the fake serves, to script answers and filter recorded requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Phone,
    Upload,
    Messages,
    MediaInfo,
    Download,
    Templates,
    Unknown,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub route: Route,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Graph's error body, as documented for the Cloud API.
    pub fn graph_error(status: u16, code: i64, message: &str, details: &str) -> Self {
        Self::json(
            status,
            json!({
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "error_data": { "messaging_product": "whatsapp", "details": details },
                    "fbtrace_id": "AazKTtWzLhA2JO0R0Wk5p-7",
                }
            }),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    scripts: HashMap<Route, VecDeque<Option<Answer>>>,
    media: HashMap<String, (Vec<u8>, String)>,
    next_id: u64,
    expire_next_download: bool,
    corrupt_downloads: bool,
}

/// A running fake; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeGraph {
    pub url: Url,
    state: Arc<Mutex<State>>,
}

impl FakeGraph {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("has an address").port();
        let fake = Self {
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
            state: Arc::default(),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(stream).await });
            }
        });
        fake
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Queues the answer to the next request on `route`: `None` answers normally.
    pub fn script(&self, route: Route, answer: Option<Answer>) {
        self.state()
            .scripts
            .entry(route)
            .or_default()
            .push_back(answer);
    }

    /// Makes an inbound media file known under `id`.
    pub fn add_media(&self, id: &str, bytes: &[u8], mime: &str) {
        self.state()
            .media
            .insert(id.into(), (bytes.to_vec(), mime.into()));
    }

    /// The next download answers 404, as an expired media URL does.
    pub fn expire_next_download(&self) {
        self.state().expire_next_download = true;
    }

    /// Downloads serve other bytes than the checksum says.
    pub fn corrupt_downloads(&self) {
        self.state().corrupt_downloads = true;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    pub fn requests_to(&self, route: Route) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.route == route)
            .collect()
    }

    /// The JSON bodies of every `POST /messages`, in order.
    pub fn messages(&self) -> Vec<Value> {
        self.requests_to(Route::Messages)
            .iter()
            .map(Request::json)
            .collect()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let answer = self.answer(request);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            answer.status,
            reason(answer.status),
            answer.body.len()
        );
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&answer.body).await;
        let _ = stream.shutdown().await;
    }

    fn answer(&self, mut request: Request) -> Answer {
        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        request.route = match (request.method.as_str(), segments.as_slice()) {
            ("GET", [VERSION, PHONE_ID | SECOND_PHONE_ID]) => Route::Phone,
            ("POST", [VERSION, PHONE_ID, "media"]) => Route::Upload,
            ("POST", [VERSION, PHONE_ID, "messages"]) => Route::Messages,
            ("GET", [VERSION, WABA_ID, "message_templates"]) => Route::Templates,
            ("GET", [VERSION, _]) => Route::MediaInfo,
            ("GET", ["download", _]) => Route::Download,
            _ => Route::Unknown,
        };
        let mut state = self.state();
        state.requests.push(request.clone());
        if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Answer::json(
                401,
                json!({
                    "error": {
                        "message": "Invalid OAuth access token - Cannot parse access token",
                        "type": "OAuthException",
                        "code": 190,
                        "fbtrace_id": "Aq3E1bZ0dY4mEXAMPLE",
                    }
                }),
            );
        }
        if let Some(Some(answer)) = state
            .scripts
            .get_mut(&request.route)
            .and_then(VecDeque::pop_front)
        {
            return answer;
        }
        state.next_id += 1;
        let n = state.next_id;
        match request.route {
            Route::Phone => Answer::json(
                200,
                json!({
                    "verified_name": "Switchboard Test",
                    "display_phone_number": "+1 555-010-0199",
                    "id": segments.get(1).copied().unwrap_or(PHONE_ID),
                    "quality_rating": "GREEN",
                }),
            ),
            Route::Upload => upload(&request, n),
            Route::Messages => {
                let body = request.json();
                if body["status"] == "read" {
                    Answer::json(200, json!({ "success": true }))
                } else {
                    Answer::json(
                        200,
                        json!({
                            "messaging_product": "whatsapp",
                            "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
                            "messages": [{ "id": format!("wamid.TEST{n}"), "message_status": "accepted" }],
                        }),
                    )
                }
            }
            Route::MediaInfo => {
                let id = segments[1];
                match state.media.get(id) {
                    Some((bytes, mime)) => Answer::json(
                        200,
                        json!({
                            "messaging_product": "whatsapp",
                            "url": format!("{}download/{id}?ext={n}&hash=ATt2", self.url),
                            "mime_type": mime,
                            "sha256": hex::encode(Sha256::digest(bytes)),
                            "file_size": bytes.len(),
                            "id": id,
                        }),
                    ),
                    None => Answer::json(
                        404,
                        json!({
                            "error": {
                                "message": format!("Unsupported get request. Object with ID '{id}' does not exist"),
                                "type": "GraphMethodException",
                                "code": 100,
                                "error_subcode": 33,
                                "fbtrace_id": "A4sBEXAMPLE",
                            }
                        }),
                    ),
                }
            }
            Route::Download => {
                if std::mem::take(&mut state.expire_next_download) {
                    return Answer::raw(404, "<html>URL signature expired</html>");
                }
                match state.media.get(segments[1]) {
                    Some((bytes, mime)) => {
                        let mut bytes = bytes.clone();
                        if state.corrupt_downloads
                            && let Some(first) = bytes.first_mut()
                        {
                            *first ^= 0xff;
                        }
                        Answer {
                            status: 200,
                            headers: vec![("Content-Type".into(), mime.clone())],
                            body: bytes,
                        }
                    }
                    None => Answer::raw(404, "not found"),
                }
            }
            Route::Templates => {
                let page = match request.query("after") {
                    None => fixture(include_str!("../fixtures/graph/templates_page_1.json")),
                    Some(PAGE_2_CURSOR) => {
                        fixture(include_str!("../fixtures/graph/templates_page_2.json"))
                    }
                    Some(_) => json!({ "data": [] }),
                };
                Answer::json(200, page)
            }
            Route::Unknown => Answer::graph_error(400, 100, "Unknown path", &request.path),
        }
    }
}

/// `POST /media`: checks the multipart form carries the product, the type and the file.
fn upload(request: &Request, n: u64) -> Answer {
    let body = String::from_utf8_lossy(&request.body);
    let has = |needle: &str| body.contains(needle);
    if !(has("name=\"messaging_product\"")
        && has("whatsapp")
        && has("name=\"type\"")
        && has("name=\"file\"; filename="))
    {
        return Answer::graph_error(400, 100, "(#100) Invalid parameter", "form incomplete");
    }
    Answer::json(200, json!({ "id": format!("90000{n}") }))
}

/// A recorded answer; included at compile time so the hub's tests, which share this fake,
/// find it too.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Reads one request: head up to the blank line, then a `Content-Length` or chunked body.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut body = buffer[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = Url::parse(&format!("http://fake{}", first.next()?)).ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            read_more(stream, &mut body).await?;
        }
        body.truncate(length);
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.windows(5).any(|w| w == b"0\r\n\r\n") {
            read_more(stream, &mut body).await?;
        }
        body = dechunk(&body);
    }
    Some(Request {
        route: Route::Unknown,
        method,
        path: target.path().to_owned(),
        query: target.query_pairs().into_owned().collect(),
        headers,
        body,
    })
}

/// Reads some more of the body; `None` when the connection ended.
async fn read_more(stream: &mut TcpStream, body: &mut Vec<u8>) -> Option<()> {
    let mut chunk = vec![0u8; 65536];
    let read = stream.read(&mut chunk).await.ok()?;
    (read > 0).then(|| body.extend_from_slice(&chunk[..read]))
}

/// Joins the chunks of a chunked body.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    out
}
