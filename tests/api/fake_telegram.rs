//! A local fake of the Telegram Bot API (<https://core.telegram.org/bots/api>).
//!
//! The hub's `teloxide::Bot` is pointed at [`FakeBotApi::url`] with `set_api_url`; the fake
//! records every request made with its token as a [`Call`] (requests with another token get
//! 401 and are not recorded) and answers the way the Bot API documents it:
//! `{"ok":true,"result":...}` on success, `{"ok":false,"error_code":..,"description":..}` on
//! failure. Tests can script answers per method (a scripted status of 0 lets that call get
//! its usual answer), hold answers back ([`FakeBotApi::delay`]), queue updates for
//! `getUpdates` and serve files through `getFile` and the file download URL. Files the bot
//! sends are stored too, so `getFile` and downloads know them. Each recorded call keeps the
//! status it was answered with.
//!
//! As on Telegram, `getUpdates` answers 409 while a webhook is set; its long poll is held at
//! most 2 s of real time. Methods the fake does not implement answer 404 "Not Found: method
//! not found", like unknown ones; [`FakeBotApi::script`] can supply an answer for them.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

/// The fake bot's user id (`getMe` and the `from` of every message it sends).
pub const BOT_ID: i64 = 123456789;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "switchboard_test_bot";
/// The `message_id` of the first message the fake sends.
pub const FIRST_MESSAGE_ID: i64 = 1000;

/// Longest real time a `getUpdates` long poll is held open, whatever its `timeout`.
const MAX_LONG_POLL: Duration = Duration::from_secs(2);
/// How long [`FakeBotApi::wait_for`] waits.
const WAIT_FOR: Duration = Duration::from_secs(15);
/// How often [`FakeBotApi::wait_for`] looks.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Largest multipart part the fake reads (the Bot API allows 50 MB uploads).
const MAX_PART: usize = 64 * 1024 * 1024;
/// Id the fake gives a channel addressed as `@username`.
const CHANNEL_ID: i64 = -1001000000001;

/// The bot as a `User` (the `from` of the messages it sends).
pub fn bot_user() -> Value {
    json!({
        "id": BOT_ID,
        "is_bot": true,
        "first_name": "Support",
        "username": BOT_USERNAME,
    })
}

/// The `getMe` result.
pub fn me() -> Value {
    json!({
        "id": BOT_ID,
        "is_bot": true,
        "first_name": "Support",
        "username": BOT_USERNAME,
        "can_join_groups": true,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
        "can_connect_to_business": false,
        "has_main_web_app": false,
    })
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method name as sent (`sendMessage`), or `download:{file_path}` for a file download.
    pub method: String,
    /// The JSON body (merged with query parameters), or for form and multipart bodies an
    /// object of their text fields (values as JSON strings).
    pub body: Value,
    /// The file parts of a multipart body.
    pub files: Vec<UploadedFile>,
    /// Whether the body was multipart/form-data.
    pub multipart: bool,
    /// When the request arrived.
    pub at: Instant,
    /// The HTTP status it was answered with (0 while it is not answered yet).
    pub status: u16,
}

impl Call {
    /// A body field in string form: a JSON string as is, other values via `to_string()`
    /// (`None` when absent or null).
    pub fn field(&self, name: &str) -> Option<String> {
        value_string(self.body.get(name)?)
    }

    /// A body field as JSON: JSON-serialized string fields (as multipart sends
    /// `reply_markup` or `media`) are parsed, other values are returned as they are.
    pub fn json_field(&self, name: &str) -> Option<Value> {
        json_value(self.body.get(name)?)
    }

    /// The uploaded file for a parameter: the part that `attach://<name>` in that field
    /// points to, or a file part named like the parameter itself.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        let value = self.field(name);
        let part = value
            .as_deref()
            .and_then(|v| v.strip_prefix("attach://"))
            .unwrap_or(name);
        self.files.iter().find(|f| f.field == part)
    }
}

/// A file part of a multipart request.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// The part's name (teloxide uses a random id referenced as `attach://<id>`).
    pub field: String,
    /// The `filename` of its Content-Disposition (may be empty).
    pub file_name: Option<String>,
    /// Its Content-Type, if it had one.
    pub content_type: Option<String>,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// A running fake Bot API server; stopped when dropped.
pub struct FakeBotApi {
    /// Base URL with a trailing slash (`http://127.0.0.1:PORT/`), for `Bot::set_api_url`.
    pub url: String,
    /// The only bot token the fake accepts.
    pub token: String,
    /// The server's handle.
    pub handle: actix_web::dev::ServerHandle,
    state: web::Data<State>,
}

struct State {
    token: String,
    inner: Mutex<Inner>,
    /// Wakes `getUpdates` long polls when an update is pushed.
    pushed: tokio::sync::Notify,
}

struct Inner {
    calls: Vec<Call>,
    /// Scripted answers by lower-case method name.
    scripts: HashMap<String, VecDeque<(u16, Value)>>,
    /// How long to hold back the next answers, by lower-case method name.
    delays: HashMap<String, VecDeque<Duration>>,
    /// Updates not yet confirmed by a `getUpdates` offset.
    updates: VecDeque<Value>,
    /// Files by file_id.
    files: HashMap<String, StoredFile>,
    webhook: Webhook,
    next_message_id: i64,
    next_file: u64,
    /// Messages the fake knows by (chat id, message id): those it sent and those in pushed
    /// updates (for `reply_to_message`, edits and deletes).
    messages: HashMap<(i64, i64), Value>,
    /// `getUpdates` calls being answered now, and the most there were at once (Telegram
    /// serves one at a time: a second one ends the first with 409 Conflict).
    polls: usize,
    most_polls: usize,
}

#[derive(Default)]
struct Webhook {
    url: String,
    has_custom_certificate: bool,
    max_connections: Option<u64>,
    ip_address: Option<String>,
    allowed_updates: Option<Value>,
}

struct StoredFile {
    unique_id: String,
    path: String,
    bytes: Vec<u8>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FakeBotApi {
    /// Starts a fake that accepts `token` on a random local port.
    pub async fn start(token: &str) -> Self {
        let state = web::Data::new(State {
            token: token.to_owned(),
            inner: Mutex::new(Inner {
                calls: Vec::new(),
                scripts: HashMap::new(),
                delays: HashMap::new(),
                updates: VecDeque::new(),
                files: HashMap::new(),
                webhook: Webhook::default(),
                next_message_id: FIRST_MESSAGE_ID,
                next_file: 1,
                messages: HashMap::new(),
                polls: 0,
                most_polls: 0,
            }),
            pushed: tokio::sync::Notify::new(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Bot API");
        let port = listener.local_addr().expect("addr").port();
        let data = state.clone();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .default_service(web::to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/"),
            token: token.to_owned(),
            handle,
            state,
        }
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().calls.clone()
    }

    /// The calls of one method (case-insensitive, as the Bot API), in arrival order.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.state
            .lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Waits (up to 15 s) until `method` has been called at least `n` times and returns its
    /// calls; panics with the calls seen otherwise.
    pub async fn wait_for(&self, method: &str, n: usize) -> Vec<Call> {
        let deadline = Instant::now() + WAIT_FOR;
        loop {
            let calls = self.calls_to(method);
            if calls.len() >= n {
                return calls;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| {
                        let files: Vec<String> = c
                            .files
                            .iter()
                            .map(|f| {
                                format!("{}={:?} ({} bytes)", f.field, f.file_name, f.bytes.len())
                            })
                            .collect();
                        format!("{} {} {}", c.method, c.body, files.join(", "))
                    })
                    .collect();
                panic!(
                    "fake Bot API: expected {n} {method} call(s) within {WAIT_FOR:?}, got {}; calls seen:\n{}",
                    calls.len(),
                    seen.join("\n")
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The calls of one method that were answered with 200, in arrival order.
    pub fn succeeded(&self, method: &str) -> Vec<Call> {
        self.calls_to(method)
            .into_iter()
            .filter(|c| c.status == 200)
            .collect()
    }

    /// The next call of `method` is answered only after `delay` (other requests are served
    /// meanwhile).
    pub fn delay(&self, method: &str, delay: Duration) {
        self.state
            .lock()
            .delays
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(delay);
    }

    /// The next calls of `method` get these `(status, body)` answers verbatim, in order;
    /// afterwards the defaults apply again. A status of 0 stands for the usual answer, to
    /// script a later call only.
    pub fn script(&self, method: &str, answers: impl IntoIterator<Item = (u16, Value)>) {
        self.state
            .lock()
            .scripts
            .entry(method.to_ascii_lowercase())
            .or_default()
            .extend(answers);
    }

    /// Queues an update for `getUpdates` (it must carry `update_id`) and wakes long polls.
    /// The most `getUpdates` calls that were in flight at once.
    pub fn most_polls_at_once(&self) -> usize {
        self.state.lock().most_polls
    }

    pub fn push_update(&self, update: Value) {
        assert!(
            update.get("update_id").and_then(Value::as_i64).is_some(),
            "an Update needs a numeric update_id: {update}"
        );
        {
            let mut inner = self.state.lock();
            for key in [
                "message",
                "edited_message",
                "channel_post",
                "edited_channel_post",
                "business_message",
                "edited_business_message",
            ] {
                if let Some(message) = update.get(key) {
                    remember(&mut inner, message);
                }
            }
            inner.updates.push_back(update);
        }
        self.state.pushed.notify_waiters();
    }

    /// Makes a file known to `getFile` (under `file_id`) and to the download URL (under
    /// `file_path`).
    pub fn add_file(&self, file_id: &str, file_path: &str, bytes: Vec<u8>) {
        self.state.lock().files.insert(
            file_id.to_owned(),
            StoredFile {
                unique_id: format!("unique-{file_id}"),
                path: file_path.to_owned(),
                bytes,
            },
        );
    }

    /// The `chat_id` field of every `send*` call, in order.
    pub fn sent_chat_ids(&self) -> Vec<String> {
        self.state
            .lock()
            .calls
            .iter()
            .filter(|c| c.method.to_ascii_lowercase().starts_with("send"))
            .filter_map(|c| c.field("chat_id"))
            .collect()
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        // `stop` sends the command right away; its future only waits for the shutdown.
        let stopped = self.handle.stop(false);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(stopped);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling

type Answer = (u16, Value);

fn ok(result: Value) -> Answer {
    (200, json!({ "ok": true, "result": result }))
}

fn error(code: u16, description: &str) -> Answer {
    (
        code,
        json!({ "ok": false, "error_code": code, "description": description }),
    )
}

fn bad_request(description: &str) -> Answer {
    error(400, &format!("Bad Request: {description}"))
}

fn respond((status, body): Answer) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .body(body.to_string())
}

async fn serve(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    let segments: Vec<String> = req
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let bot = format!("bot{}", state.token);
    if segments.len() >= 2 && segments[0] == "file" {
        if segments[1] != bot {
            return respond(error(401, "Unauthorized"));
        }
        return download(&state, &segments[2..].join("/"));
    }
    if segments[0] != bot {
        return respond(error(401, "Unauthorized"));
    }
    let method = match &segments[1..] {
        [method] if !method.is_empty() => method.clone(),
        _ => return respond(error(404, "Not Found: method not found")),
    };
    let call = match read_call(&req, payload, method).await {
        Ok(call) => call,
        Err(description) => return respond(bad_request(&description)),
    };
    let lower = call.method.to_ascii_lowercase();
    let (index, scripted, delay) = {
        let mut inner = state.lock();
        inner.calls.push(call.clone());
        let index = inner.calls.len() - 1;
        let scripted = inner
            .scripts
            .get_mut(&lower)
            .and_then(VecDeque::pop_front)
            .filter(|(status, _)| *status != 0);
        let delay = inner.delays.get_mut(&lower).and_then(VecDeque::pop_front);
        (index, scripted, delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let answer = match scripted {
        Some(answer) => answer,
        None if lower == "getupdates" => get_updates(&state, &call).await,
        None => default_answer(&mut state.lock(), &lower, &call),
    };
    answered(&state, index, answer.0);
    respond(answer)
}

/// Notes the status a recorded call was answered with.
fn answered(state: &State, index: usize, status: u16) {
    if let Some(call) = state.lock().calls.get_mut(index) {
        call.status = status;
    }
}

/// Reads a method call's parameters from the query string and the body.
async fn read_call(
    req: &HttpRequest,
    mut payload: web::Payload,
    method: String,
) -> Result<Call, String> {
    let at = Instant::now();
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Map::new();
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        body.insert(name.into_owned(), Value::String(value.into_owned()));
    }
    let mut files = Vec::new();
    let multipart = content_type.starts_with("multipart/form-data");
    if multipart {
        let mut parts = actix_multipart::Multipart::new(req.headers(), payload);
        while let Some(part) = parts.next().await {
            let mut part = part.map_err(|e| format!("can't parse multipart body: {e}"))?;
            let name = part.name().unwrap_or_default().to_owned();
            let file_name = part
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
            let part_type = part.content_type().map(|m| m.to_string());
            let bytes = match part.bytes(MAX_PART).await {
                Ok(Ok(bytes)) => bytes.to_vec(),
                Ok(Err(e)) => return Err(format!("can't read multipart part {name}: {e}")),
                Err(_) => return Err("Request Entity Too Large".to_owned()),
            };
            if file_name.is_some() {
                files.push(UploadedFile {
                    field: name,
                    file_name,
                    content_type: part_type,
                    bytes,
                });
            } else {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                body.insert(name, Value::String(text));
            }
        }
    } else {
        let mut bytes = Vec::new();
        while let Some(chunk) = payload.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            for (name, value) in url::form_urlencoded::parse(&bytes) {
                body.insert(name.into_owned(), Value::String(value.into_owned()));
            }
        } else if !bytes.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(fields)) => body.extend(fields),
                Ok(_) => return Err("parameters must be a JSON object".to_owned()),
                Err(e) => return Err(format!("can't parse JSON body: {e}")),
            }
        }
    }
    Ok(Call {
        method,
        body: Value::Object(body),
        files,
        multipart,
        at,
        status: 0,
    })
}

/// `GET file/bot<token>/<file_path>`.
fn download(state: &State, path: &str) -> HttpResponse {
    let method = format!("download:{path}");
    let mut inner = state.lock();
    let scripted = inner
        .scripts
        .get_mut(&method.to_ascii_lowercase())
        .and_then(VecDeque::pop_front)
        .filter(|(status, _)| *status != 0);
    let found = inner.files.values().find(|f| f.path == path);
    let status = match (&scripted, found) {
        (Some((status, _)), _) => *status,
        (None, Some(_)) => 200,
        (None, None) => 404,
    };
    let response = match (scripted, found) {
        (Some(answer), _) => respond(answer),
        (None, Some(file)) => HttpResponse::Ok()
            .content_type(mime_for(path).unwrap_or("application/octet-stream"))
            .body(file.bytes.clone()),
        (None, None) => respond(error(404, "Not Found")),
    };
    inner.calls.push(Call {
        method,
        body: json!({}),
        files: Vec::new(),
        multipart: false,
        at: Instant::now(),
        status,
    });
    response
}

/// The default answer of every method but `getUpdates`.
fn default_answer(inner: &mut Inner, method: &str, call: &Call) -> Answer {
    match method {
        "getme" => ok(me()),
        "logout" | "close" => ok(json!(true)),
        "setwebhook" => set_webhook(inner, call),
        "deletewebhook" => {
            inner.webhook = Webhook::default();
            if call.field("drop_pending_updates").as_deref() == Some("true") {
                inner.updates.clear();
            }
            (
                200,
                json!({ "ok": true, "result": true, "description": "Webhook was deleted" }),
            )
        }
        "getwebhookinfo" => ok(webhook_info(inner)),
        "getfile" => {
            let id = call.field("file_id").unwrap_or_default();
            match inner.files.get(&id) {
                Some(file) => ok(json!({
                    "file_id": id,
                    "file_unique_id": file.unique_id,
                    "file_size": file.bytes.len(),
                    "file_path": file.path,
                })),
                None => bad_request("invalid file_id"),
            }
        }
        "sendchataction" => {
            if let Err(e) = chat_of(call) {
                return e;
            }
            if call.field("action").is_none_or(|a| a.is_empty()) {
                return bad_request("action is empty");
            }
            ok(json!(true))
        }
        "sendmediagroup" => send_media_group(inner, call),
        "copymessage" => {
            if let Err(e) = chat_of(call) {
                return e;
            }
            let id = inner.next_message_id;
            inner.next_message_id += 1;
            ok(json!({ "message_id": id }))
        }
        "editmessagetext" | "editmessagecaption" | "editmessagereplymarkup" => {
            edit_message(inner, method, call)
        }
        "deletemessage" => {
            let chat = match chat_of(call) {
                Ok((chat, _)) => chat,
                Err(e) => return e,
            };
            let id = call.field("message_id").and_then(|m| m.parse::<i64>().ok());
            match id.and_then(|id| inner.messages.remove(&(chat, id))) {
                Some(_) => ok(json!(true)),
                None => bad_request("message to delete not found"),
            }
        }
        "deletemessages"
        | "answercallbackquery"
        | "setmycommands"
        | "deletemycommands"
        | "setmyname"
        | "setmydescription"
        | "setmyshortdescription"
        | "setchatmenubutton"
        | "setmessagereaction"
        | "pinchatmessage"
        | "unpinchatmessage"
        | "unpinallchatmessages"
        | "leavechat" => ok(json!(true)),
        "getmycommands" => ok(json!([])),
        "getmyname" => ok(json!({ "name": "Support" })),
        "getmydescription" => ok(json!({ "description": "" })),
        "getmyshortdescription" => ok(json!({ "short_description": "" })),
        "getchatmenubutton" => ok(json!({ "type": "default" })),
        "getuserprofilephotos" => ok(json!({ "total_count": 0, "photos": [] })),
        _ if method.starts_with("send") => send(inner, method, call),
        _ => error(404, "Not Found: method not found"),
    }
}

fn set_webhook(inner: &mut Inner, call: &Call) -> Answer {
    let url = call.field("url").unwrap_or_default();
    if url.is_empty() {
        inner.webhook = Webhook::default();
        return (
            200,
            json!({ "ok": true, "result": true, "description": "Webhook was deleted" }),
        );
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return bad_request("bad webhook: An HTTPS URL must be provided for webhook");
    }
    inner.webhook = Webhook {
        url,
        has_custom_certificate: call.file("certificate").is_some(),
        max_connections: call.field("max_connections").and_then(|m| m.parse().ok()),
        ip_address: call.field("ip_address"),
        allowed_updates: call
            .json_field("allowed_updates")
            .filter(|a| a.as_array().is_some_and(|a| !a.is_empty())),
    };
    if call.field("drop_pending_updates").as_deref() == Some("true") {
        inner.updates.clear();
    }
    (
        200,
        json!({ "ok": true, "result": true, "description": "Webhook was set" }),
    )
}

fn webhook_info(inner: &Inner) -> Value {
    let hook = &inner.webhook;
    let mut info = json!({
        "url": hook.url,
        "has_custom_certificate": hook.has_custom_certificate,
        "pending_update_count": inner.updates.len(),
    });
    if !hook.url.is_empty() {
        info["max_connections"] = json!(hook.max_connections.unwrap_or(40));
        if let Some(ip) = &hook.ip_address {
            info["ip_address"] = json!(ip);
        }
        if let Some(allowed) = &hook.allowed_updates {
            info["allowed_updates"] = allowed.clone();
        }
    }
    info
}

/// `getUpdates`: confirms updates below `offset`, returns up to `limit` from the queue,
/// long-polling up to `timeout` seconds (at most [`MAX_LONG_POLL`]) while it is empty.
async fn get_updates(state: &State, call: &Call) -> Answer {
    /// Counts this call as in flight until it is answered.
    struct InFlight<'a>(&'a State);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            let mut inner = self.0.lock();
            inner.polls = inner.polls.saturating_sub(1);
        }
    }
    let _in_flight = {
        let mut inner = state.lock();
        inner.polls += 1;
        inner.most_polls = inner.most_polls.max(inner.polls);
        InFlight(state)
    };
    let number = |name: &str| call.field(name).and_then(|v| v.trim().parse::<f64>().ok());
    let offset = number("offset").unwrap_or(0.0) as i64;
    let limit = number("limit").unwrap_or(100.0).clamp(1.0, 100.0) as usize;
    // A long poll is held at most MAX_LONG_POLL of real time, to keep tests fast.
    let timeout = number("timeout").unwrap_or(0.0);
    let wait = if timeout > 0.0 {
        Duration::from_secs_f64(timeout.min(MAX_LONG_POLL.as_secs_f64()))
    } else {
        Duration::ZERO
    };
    let deadline = Instant::now() + wait;
    {
        let mut inner = state.lock();
        if !inner.webhook.url.is_empty() {
            return error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
        }
        if offset > 0 {
            inner.updates.retain(|u| update_id(u) >= offset);
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            let len = inner.updates.len();
            inner.updates.drain(..len.saturating_sub(keep));
        }
    }
    loop {
        // Created before looking, so a push between the look and the wait still wakes us.
        let pushed = state.pushed.notified();
        {
            let inner = state.lock();
            let batch: Vec<Value> = inner
                .updates
                .iter()
                .filter(|u| offset <= 0 || update_id(u) >= offset)
                .take(limit)
                .cloned()
                .collect();
            let now = Instant::now();
            if !batch.is_empty() || now >= deadline {
                return ok(Value::Array(batch));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, pushed).await;
    }
}

fn update_id(update: &Value) -> i64 {
    update
        .get("update_id")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN)
}

// ---------------------------------------------------------------------------------------------
// Messages

/// Keeps a message (without its own `reply_to_message`) for replies, edits and deletes.
fn remember(inner: &mut Inner, message: &Value) {
    let chat = message.pointer("/chat/id").and_then(Value::as_i64);
    let id = message.get("message_id").and_then(Value::as_i64);
    if let (Some(chat), Some(id)) = (chat, id) {
        let mut stored = message.clone();
        if let Some(fields) = stored.as_object_mut() {
            fields.remove("reply_to_message");
        }
        inner.messages.insert((chat, id), stored);
    }
}

/// The `chat_id` parameter as a chat id and a `Chat` object.
fn chat_of(call: &Call) -> Result<(i64, Value), Answer> {
    let Some(chat_id) = call.field("chat_id").filter(|c| !c.trim().is_empty()) else {
        return Err(bad_request("chat_id is empty"));
    };
    let chat_id = chat_id.trim();
    if let Ok(id) = chat_id.parse::<i64>() {
        let chat = if id > 0 {
            json!({ "id": id, "type": "private", "first_name": "Customer" })
        } else if id <= -1_000_000_000_000 {
            json!({ "id": id, "type": "supergroup", "title": "Group" })
        } else {
            json!({ "id": id, "type": "group", "title": "Group" })
        };
        return Ok((id, chat));
    }
    match chat_id.strip_prefix('@') {
        Some(username) if !username.is_empty() => Ok((
            CHANNEL_ID,
            json!({ "id": CHANNEL_ID, "type": "channel", "title": "Channel", "username": username }),
        )),
        _ => Err(bad_request("chat not found")),
    }
}

/// A new message from the bot in the call's chat, with `content` (text or media fields).
fn new_message(
    inner: &mut Inner,
    call: &Call,
    (chat_id, chat): (i64, Value),
    content: Map<String, Value>,
) -> Value {
    let id = inner.next_message_id;
    inner.next_message_id += 1;
    let mut message = Map::new();
    message.insert("message_id".into(), json!(id));
    message.insert("from".into(), bot_user());
    message.insert("chat".into(), chat);
    message.insert("date".into(), json!(chrono::Utc::now().timestamp()));
    if let Some(reply) = reply_target(inner, call, chat_id) {
        message.insert("reply_to_message".into(), reply);
    }
    if let Some(markup) = inline_markup(call) {
        message.insert("reply_markup".into(), markup);
    }
    message.extend(content);
    let message = Value::Object(message);
    remember(inner, &message);
    message
}

/// The message a call replies to, when the fake knows it.
fn reply_target(inner: &Inner, call: &Call, chat_id: i64) -> Option<Value> {
    let (chat, id) = match call.json_field("reply_parameters") {
        Some(params) => (
            params
                .get("chat_id")
                .and_then(Value::as_i64)
                .unwrap_or(chat_id),
            params.get("message_id")?.as_i64()?,
        ),
        None => (chat_id, call.field("reply_to_message_id")?.parse().ok()?),
    };
    inner.messages.get(&(chat, id)).cloned()
}

/// The call's `reply_markup` when it is an inline keyboard (the only kind a Message echoes).
fn inline_markup(call: &Call) -> Option<Value> {
    call.json_field("reply_markup")
        .filter(|m| m.get("inline_keyboard").is_some_and(Value::is_array))
}

fn send(inner: &mut Inner, method: &str, call: &Call) -> Answer {
    let chat = match chat_of(call) {
        Ok(chat) => chat,
        Err(e) => return e,
    };
    let params = call.body.as_object().cloned().unwrap_or_default();
    let mut content = Map::new();
    let kind = match method {
        "sendmessage" => {
            let text = call.field("text").unwrap_or_default();
            if text.trim().is_empty() {
                return bad_request("message text is empty");
            }
            if call.field("parse_mode").is_none() && text.encode_utf16().count() > 4096 {
                return bad_request("message is too long");
            }
            content.insert("text".into(), json!(text));
            None
        }
        "sendphoto" => Some(Kind::Photo),
        "senddocument" => Some(Kind::Document),
        "sendaudio" => Some(Kind::Audio),
        "sendvideo" => Some(Kind::Video),
        "sendanimation" => Some(Kind::Animation),
        "sendvoice" => Some(Kind::Voice),
        "sendvideonote" => Some(Kind::VideoNote),
        "sendsticker" => Some(Kind::Sticker),
        "sendlocation" => {
            content.insert("location".into(), location(&params));
            None
        }
        "sendvenue" => {
            content.insert(
                "venue".into(),
                json!({
                    "location": location(&params),
                    "title": param(&params, "title").unwrap_or_default(),
                    "address": param(&params, "address").unwrap_or_default(),
                }),
            );
            content.insert("location".into(), location(&params));
            None
        }
        "sendcontact" => {
            let mut contact = json!({
                "phone_number": param(&params, "phone_number").unwrap_or_default(),
                "first_name": param(&params, "first_name").unwrap_or_default(),
            });
            if let Some(last) = param(&params, "last_name") {
                contact["last_name"] = json!(last);
            }
            content.insert("contact".into(), contact);
            None
        }
        "senddice" => {
            let emoji = param(&params, "emoji").unwrap_or_else(|| "🎲".into());
            let value = inner.next_message_id % 5 + 1;
            content.insert("dice".into(), json!({ "emoji": emoji, "value": value }));
            None
        }
        _ => {
            if let Some(text) = call.field("text") {
                content.insert("text".into(), json!(text));
            }
            None
        }
    };
    if let Some(kind) = kind {
        let reference = param(&params, kind.param());
        let media = match resolve_media(inner, call, kind.param(), reference.as_deref(), kind) {
            Ok(media) => media,
            Err(e) => return e,
        };
        if let Err(e) = media_content(inner, kind, &media, &params, &mut content) {
            return e;
        }
    }
    ok(new_message(inner, call, chat, content))
}

fn send_media_group(inner: &mut Inner, call: &Call) -> Answer {
    let chat = match chat_of(call) {
        Ok(chat) => chat,
        Err(e) => return e,
    };
    let items = match call.json_field("media") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return bad_request("parameter \"media\" is required"),
    };
    let group_id = format!("{}", 13_000_000_000_000_000i64 + inner.next_message_id);
    let mut contents = Vec::new();
    for item in &items {
        let params = item.as_object().cloned().unwrap_or_default();
        let kind = match param(&params, "type").as_deref() {
            Some("photo") => Kind::Photo,
            Some("video") => Kind::Video,
            Some("audio") => Kind::Audio,
            Some("document") => Kind::Document,
            _ => return bad_request("unsupported media type in the media group"),
        };
        let reference = param(&params, "media");
        let media = match resolve_media(inner, call, "media", reference.as_deref(), kind) {
            Ok(media) => media,
            Err(e) => return e,
        };
        let mut content = Map::new();
        if let Err(e) = media_content(inner, kind, &media, &params, &mut content) {
            return e;
        }
        content.insert("media_group_id".into(), json!(group_id));
        contents.push(content);
    }
    let messages: Vec<Value> = contents
        .into_iter()
        .map(|content| new_message(inner, call, chat.clone(), content))
        .collect();
    ok(Value::Array(messages))
}

fn edit_message(inner: &mut Inner, method: &str, call: &Call) -> Answer {
    if call.field("inline_message_id").is_some() {
        return ok(json!(true));
    }
    let chat = match chat_of(call) {
        Ok((chat, _)) => chat,
        Err(e) => return e,
    };
    let id = call.field("message_id").and_then(|m| m.parse::<i64>().ok());
    let Some(message) = id.and_then(|id| inner.messages.get(&(chat, id))) else {
        return bad_request("message to edit not found");
    };
    let mut edited = message.clone();
    match method {
        "editmessagetext" => {
            let text = call.field("text").unwrap_or_default();
            if text.trim().is_empty() {
                return bad_request("message text is empty");
            }
            edited["text"] = json!(text);
        }
        "editmessagecaption" => match call.field("caption") {
            Some(caption) => edited["caption"] = json!(caption),
            None => {
                if let Some(fields) = edited.as_object_mut() {
                    fields.remove("caption");
                }
            }
        },
        _ => {}
    }
    let fields = edited
        .as_object_mut()
        .expect("a stored message is an object");
    match inline_markup(call) {
        Some(markup) => {
            fields.insert("reply_markup".into(), markup);
        }
        None => {
            fields.remove("reply_markup");
        }
    }
    fields.remove("edit_date");
    let mut before = message.clone();
    if let Some(before) = before.as_object_mut() {
        before.remove("edit_date");
    }
    if before == edited {
        return bad_request(
            "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
    }
    edited["edit_date"] = json!(chrono::Utc::now().timestamp());
    remember(inner, &edited);
    ok(edited)
}

fn location(params: &Map<String, Value>) -> Value {
    let coordinate = |name: &str| {
        param(params, name)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    json!({ "latitude": coordinate("latitude"), "longitude": coordinate("longitude") })
}

// ---------------------------------------------------------------------------------------------
// Files and media

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Photo,
    Document,
    Audio,
    Video,
    Animation,
    Voice,
    VideoNote,
    Sticker,
}

impl Kind {
    /// The send method's file parameter (and the Message field).
    fn param(self) -> &'static str {
        match self {
            Kind::Photo => "photo",
            Kind::Document => "document",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Animation => "animation",
            Kind::Voice => "voice",
            Kind::VideoNote => "video_note",
            Kind::Sticker => "sticker",
        }
    }

    /// The folder of its `file_path`, as Telegram names them.
    fn folder(self) -> &'static str {
        match self {
            Kind::Photo => "photos",
            Kind::Document => "documents",
            Kind::Audio => "music",
            Kind::Video => "videos",
            Kind::Animation => "animations",
            Kind::Voice => "voice",
            Kind::VideoNote => "video_notes",
            Kind::Sticker => "stickers",
        }
    }

    /// The extension used when the upload's name has none.
    fn default_extension(self) -> Option<&'static str> {
        match self {
            Kind::Photo => Some("jpg"),
            Kind::Document => None,
            Kind::Audio => Some("mp3"),
            Kind::Video | Kind::Animation | Kind::VideoNote => Some("mp4"),
            Kind::Voice => Some("oga"),
            Kind::Sticker => Some("webp"),
        }
    }
}

/// A file a send call refers to, as the fake stores it.
struct Media {
    file_id: String,
    unique_id: String,
    size: usize,
    file_name: Option<String>,
    mime_type: String,
}

/// The file a send call refers to: an upload (`attach://<part>` or a part named like the
/// parameter), a known file_id, or an HTTP URL.
fn resolve_media(
    inner: &mut Inner,
    call: &Call,
    param: &str,
    reference: Option<&str>,
    kind: Kind,
) -> Result<Media, Answer> {
    let upload = match reference.and_then(|r| r.strip_prefix("attach://")) {
        Some(part) => Some(
            call.files
                .iter()
                .find(|f| f.field == part)
                .ok_or_else(|| bad_request("wrong file identifier/HTTP URL specified"))?,
        ),
        None if reference.is_none() => call.files.iter().find(|f| f.field == param),
        None => None,
    };
    if let Some(upload) = upload {
        let name = upload.file_name.clone().filter(|n| !n.is_empty());
        return Ok(store(
            inner,
            kind,
            name,
            upload.content_type.clone(),
            upload.bytes.clone(),
        ));
    }
    let Some(reference) = reference.filter(|r| !r.is_empty()) else {
        return Err(bad_request(&format!("there is no {param} in the request")));
    };
    if let Some(file) = inner.files.get(reference) {
        let file_name = file.path.rsplit('/').next().map(str::to_owned);
        return Ok(Media {
            file_id: reference.to_owned(),
            unique_id: file.unique_id.clone(),
            size: file.bytes.len(),
            mime_type: mime_for(&file.path)
                .unwrap_or("application/octet-stream")
                .to_owned(),
            file_name,
        });
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        let name = reference
            .split(['?', '#'])
            .next()
            .and_then(|r| r.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        return Ok(store(inner, kind, name, None, Vec::new()));
    }
    Err(bad_request("wrong file identifier/HTTP URL specified"))
}

/// Stores a file the bot sent, so `getFile` and downloads know it.
fn store(
    inner: &mut Inner,
    kind: Kind,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
) -> Media {
    let extension = file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8)
        .or_else(|| kind.default_extension().map(str::to_owned));
    // Numbered like Telegram's paths, skipping ids and paths a test added itself.
    let (n, file_id, path) = loop {
        let n = inner.next_file;
        inner.next_file += 1;
        let file_id = format!("fake-{}-{n}", kind.param());
        let path = match &extension {
            Some(ext) => format!("{}/file_{n}.{ext}", kind.folder()),
            None => format!("{}/file_{n}", kind.folder()),
        };
        if !inner.files.contains_key(&file_id) && !inner.files.values().any(|f| f.path == path) {
            break (n, file_id, path);
        }
    };
    let mime_type = mime_for(&path)
        .map(str::to_owned)
        .or(content_type)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let unique_id = format!("unique-{n}");
    let size = bytes.len();
    inner.files.insert(
        file_id.clone(),
        StoredFile {
            unique_id: unique_id.clone(),
            path,
            bytes,
        },
    );
    Media {
        file_id,
        unique_id,
        size,
        file_name,
        mime_type,
    }
}

/// Fills the Message fields for a sent file (and its caption).
fn media_content(
    inner: &mut Inner,
    kind: Kind,
    media: &Media,
    params: &Map<String, Value>,
    content: &mut Map<String, Value>,
) -> Result<(), Answer> {
    let number = |name: &str, default: u64| {
        param(params, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let mut file = json!({
        "file_id": media.file_id,
        "file_unique_id": media.unique_id,
        "file_size": media.size,
    });
    let with_name = |file: &mut Value| {
        if let Some(name) = &media.file_name {
            file["file_name"] = json!(name);
        }
        file["mime_type"] = json!(media.mime_type);
    };
    match kind {
        Kind::Photo => {
            // A second, smaller size, stored as its own file like Telegram's thumbnails.
            let bytes = inner
                .files
                .get(&media.file_id)
                .map(|f| f.bytes.clone())
                .unwrap_or_default();
            let small = store(inner, Kind::Photo, None, None, bytes);
            let small = json!({
                "file_id": small.file_id,
                "file_unique_id": small.unique_id,
                "file_size": small.size,
                "width": 90,
                "height": 68,
            });
            file["width"] = json!(800);
            file["height"] = json!(600);
            content.insert("photo".into(), json!([small, file]));
        }
        Kind::Document => {
            with_name(&mut file);
            content.insert("document".into(), file);
        }
        Kind::Audio => {
            with_name(&mut file);
            file["duration"] = json!(number("duration", 0));
            for name in ["performer", "title"] {
                if let Some(value) = param(params, name) {
                    file[name] = json!(value);
                }
            }
            content.insert("audio".into(), file);
        }
        Kind::Video | Kind::Animation => {
            with_name(&mut file);
            file["width"] = json!(number("width", 640));
            file["height"] = json!(number("height", 360));
            file["duration"] = json!(number("duration", 0));
            if kind == Kind::Animation {
                // "For backward compatibility, when this field is set, the document field
                // will also be set."
                let mut document = json!({
                    "file_id": media.file_id,
                    "file_unique_id": media.unique_id,
                    "file_size": media.size,
                });
                with_name(&mut document);
                content.insert("document".into(), document);
            }
            content.insert(kind.param().into(), file);
        }
        Kind::Voice => {
            file["duration"] = json!(number("duration", 0));
            file["mime_type"] = json!(media.mime_type);
            content.insert("voice".into(), file);
        }
        Kind::VideoNote => {
            file["length"] = json!(number("length", 240));
            file["duration"] = json!(number("duration", 0));
            content.insert("video_note".into(), file);
        }
        Kind::Sticker => {
            file["type"] = json!("regular");
            file["width"] = json!(512);
            file["height"] = json!(512);
            file["is_animated"] = json!(false);
            file["is_video"] = json!(false);
            if let Some(emoji) = param(params, "emoji") {
                file["emoji"] = json!(emoji);
            }
            content.insert("sticker".into(), file);
        }
    }
    if kind != Kind::Sticker
        && kind != Kind::VideoNote
        && let Some(caption) = param(params, "caption").filter(|c| !c.is_empty())
    {
        if param(params, "parse_mode").is_none() && caption.encode_utf16().count() > 1024 {
            return Err(bad_request("message caption is too long"));
        }
        content.insert("caption".into(), json!(caption));
    }
    Ok(())
}

/// The MIME type for a file name's extension, when it is a common one.
fn mime_for(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "zip" => "application/zip",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn value_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn json_value(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| value.clone())),
        other => Some(other.clone()),
    }
}

fn param(params: &Map<String, Value>, name: &str) -> Option<String> {
    value_string(params.get(name)?)
}

/// Decodes `%XX` escapes (a path segment teloxide pushed, like `photos%2Ffile_1.jpg`).
fn percent_decode(segment: &str) -> String {
    fn hex(digit: u8) -> Option<u8> {
        (digit as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high << 4) | low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
