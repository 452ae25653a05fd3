//! Attachments end to end through the real server: uploads (multipart), sending them with
//! a reply through the API channel, inbound files fetched from an integration, thumbnails
//! (sizes, EXIF orientation) arriving as `message.updated`, signed download URLs (expired,
//! forged), permissions, and every bad file refused with nothing stored. The blob backend
//! is the filesystem here; `s3.rs` runs the same round trip on a real S3-compatible server.

use std::collections::HashMap;
use std::io::Cursor;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ApiInbox, CallbackServer, TestApp, assert_error, eventually, message_event, spawn_app_with,
};

// ---------------------------------------------------------------------------------------
// Fixtures, made in memory
// ---------------------------------------------------------------------------------------

/// A PNG of `width`×`height` with a colour gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// A JPEG of `width`×`height` stored pixels whose EXIF says "rotate 90° clockwise" (6).
fn jpeg_rotated(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    let jpeg = out.into_inner();
    // APP1 "Exif\0\0" + little-endian TIFF with one IFD entry: Orientation (0x0112) = 6.
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0];
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let length = (app1.len() + 2) as u16;
    let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_exif.extend_from_slice(&length.to_be_bytes());
    with_exif.extend_from_slice(&app1);
    with_exif.extend_from_slice(&jpeg[2..]);
    with_exif
}

/// A minimal PDF padded to `size` bytes.
fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    bytes.resize(size.max(bytes.len()), b' ');
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

/// A PNG header claiming 20000×20000 pixels (a decompression bomb), with a tiny IDAT.
fn png_bomb() -> Vec<u8> {
    png_without_pixels(20_000, 20_000)
}

/// A PNG whose header is valid but whose pixel data is missing (an empty zlib stream).
fn png_without_pixels(width: u32, height: u32) -> Vec<u8> {
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(chunk(b"IHDR", &ihdr));
    bytes.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    bytes.extend(chunk(b"IEND", &[]));
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A Windows executable's first bytes.
fn exe() -> Vec<u8> {
    let mut bytes = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    bytes.resize(4096, 0);
    bytes
}

// ---------------------------------------------------------------------------------------
// Helpers of this file
// ---------------------------------------------------------------------------------------

/// Where a test hub keeps its files.
#[derive(Debug, Clone, Copy)]
enum Storage {
    Disk,
    /// A fresh bucket on the moto S3 server (see `s3.rs`).
    S3,
}

/// A hub on the given storage, with `adjust` applied to its environment.
async fn hub_on(storage: Storage, adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let bucket = match storage {
        Storage::Disk => None,
        Storage::S3 => Some(crate::s3::moto().fresh_bucket().await),
    };
    let app = spawn_app_with(|env| {
        if let Some(bucket) = &bucket {
            env.extend(crate::s3::storage_env(bucket));
        }
        adjust(env);
    })
    .await;
    let expected = match storage {
        Storage::Disk => "filesystem",
        Storage::S3 => "s3",
    };
    assert_eq!(app.state.hub.files.blobs().backend_name(), expected);
    app
}

/// Runs each scenario on both blob backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_disk {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Storage::Disk).await
                }
            )*
        }
        mod on_s3 {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Storage::S3).await
                }
            )*
        }
    };
}

on_both_backends!(
    an_agent_sends_an_image_and_a_pdf_and_thumbnails_follow_live,
    exif_orientation_is_applied_and_small_images_are_not_upscaled,
    every_bad_file_is_refused_clearly_and_stores_nothing,
    signed_urls_expire_and_cannot_be_forged_or_reused_for_another_file,
    an_agent_of_another_inbox_cannot_see_upload_or_send_the_files,
    inbound_files_from_the_api_channel_are_fetched_checked_and_thumbnailed,
);

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A hub with an API inbox (calling `callback` back when given) and a conversation.
async fn hub_with_conversation(
    app: &TestApp,
    callback: Option<&CallbackServer>,
) -> (String, ApiInbox, String) {
    let admin = app.admin_token().await;
    let inbox = app
        .create_api_inbox(&admin, callback.map(|c| c.url.as_str()))
        .await;
    if let Some(callback) = callback {
        callback.expect_secret(&inbox.secret);
    }
    let answer = app.inbound(&inbox, "m-1", "cust-42", "Hello").await;
    let conversation_id = answer["stored"][0]["conversation_id"]
        .as_str()
        .expect("conversation id")
        .to_owned();
    (admin, inbox, conversation_id)
}

/// Uploads files (name, bytes) in one multipart request.
async fn upload(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                // A declared type that lies: the hub must sniff the bytes instead.
                .mime_str("image/png")
                .expect("mime"),
        );
    }
    app.client
        .post(app.url(&format!(
            "/api/v1/conversations/{conversation_id}/attachments"
        )))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload request")
}

/// Posts a reply (or note) to a conversation.
async fn send(app: &TestApp, token: &str, conversation_id: &str, body: Value) -> reqwest::Response {
    app.api(
        token,
        Method::POST,
        &format!("/api/v1/conversations/{conversation_id}/messages"),
        Some(body),
    )
    .await
}

/// Uploads one file and returns its attachment view.
pub(crate) async fn upload_one(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Value {
    let response = upload(app, token, conversation_id, vec![(name, bytes)]).await;
    assert_eq!(response.status(), StatusCode::CREATED, "upload {name}");
    let body: Value = response.json().await.expect("upload answer");
    body["data"][0].clone()
}

/// GETs a hub path or absolute URL with a token, following redirects; returns the bytes.
async fn fetch(app: &TestApp, token: Option<&str>, url: &str) -> (StatusCode, Vec<u8>, Value) {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        app.url(url)
    };
    // The test app's client does not follow redirects; this one does (like a browser).
    let mut request = reqwest::Client::new().get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("download");
    let status = response.status();
    let headers: HashMap<String, String> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, bytes, json!(headers))
}

/// The message with this id in a message list.
fn message_in(list: &Value, message_id: &str) -> Value {
    list["data"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == message_id))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until the message's first attachment has thumbnails; returns the message.
async fn with_thumbnail(
    app: &TestApp,
    token: &str,
    conversation_id: &str,
    message_id: &str,
) -> Value {
    let path = format!("/api/v1/conversations/{conversation_id}/messages?limit=200");
    let list = eventually(app, token, &path, |list| {
        message_in(list, message_id)["attachments"][0]["thumbnail_url"].is_string()
    })
    .await;
    let message = message_in(&list, message_id);
    assert!(
        message["attachments"][0]["thumbnail_url"].is_string(),
        "no thumbnails were made: {message}"
    );
    message
}

fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("a decodable image");
    (image.width(), image.height())
}

/// Rows in the attachments table and files under the blob root (and temp folder).
async fn stored_files(app: &TestApp) -> (i64, usize) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use switchboard::db::schema::attachments;
    let mut conn = app.state.db.reader().await.expect("db");
    let rows: i64 = switchboard::db_run!(&mut conn, c => attachments::table
        .count()
        .get_result(c)
        .await)
    .expect("count");
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    let data = app.data_dir.path();
    let local = count(&data.join("attachments")) + count(&data.join("tmp"));
    let in_bucket = match app.env.get("SWITCHBOARD_STORAGE_S3_BUCKET") {
        // moto lists a bucket's objects at GET /<bucket> (ListObjects, path style).
        Some(bucket) => {
            let listing = reqwest::get(format!("{}/{bucket}", crate::s3::moto().endpoint()))
                .await
                .expect("list bucket")
                .text()
                .await
                .expect("listing");
            listing.matches("<Key>").count()
        }
        None => 0,
    };
    (rows, local + in_bucket)
}

/// A local web server that serves fixed files, like an integration's file host.
struct FileHost {
    url: String,
    _handle: actix_web::dev::ServerHandle,
}

impl FileHost {
    async fn start(files: Vec<(&'static str, Vec<u8>)>) -> Self {
        let files: std::sync::Arc<HashMap<String, Vec<u8>>> = std::sync::Arc::new(
            files
                .into_iter()
                .map(|(name, bytes)| (format!("/{name}"), bytes))
                .collect(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = actix_web::HttpServer::new(move || {
            let files = files.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest| {
                    let files = files.clone();
                    async move {
                        match files.get(req.path()) {
                            Some(bytes) => actix_web::HttpResponse::Ok()
                                .content_type("application/octet-stream")
                                .body(bytes.clone()),
                            None => actix_web::HttpResponse::NotFound().finish(),
                        }
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            _handle: handle,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

async fn an_agent_sends_an_image_and_a_pdf_and_thumbnails_follow_live(storage: Storage) {
    let callback = CallbackServer::start().await;
    let app = hub_on(storage, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, Some(&callback)).await;
    let mut socket = app.websocket(&admin, None).await;

    let original = png(1600, 900);
    let image = upload_one(
        &app,
        &admin,
        &conversation_id,
        "screen shot.png",
        original.clone(),
    )
    .await;
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["file_name"], "screen shot.png");
    assert_eq!(image["byte_size"], original.len());
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(1600), Some(900))
    );
    // A PDF declared as image/png and named .png: typed by its bytes, renamed to match.
    let document = upload_one(&app, &admin, &conversation_id, "invoice.png", pdf(5000)).await;
    assert_eq!(document["content_type"], "application/pdf");
    assert_eq!(document["file_name"], "invoice.pdf");

    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"content": "Here you go", "attachment_ids": [image["id"], document["id"]]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.expect("message");
    let message_id = message["id"].as_str().expect("id").to_owned();
    let names: Vec<&str> = message["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| a["file_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["screen shot.png", "invoice.pdf"]);

    // The integration gets signed, absolute URLs it can download without a session.
    let delivered = callback.wait_for(1).await;
    assert!(delivered[0].signature_valid);
    let files = delivered[0].body["message"]["attachments"]
        .as_array()
        .expect("callback attachments")
        .clone();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0]["width"], 1600);
    let url = files[0]["url"].as_str().expect("url");
    assert!(url.starts_with(&app.address), "absolute URL: {url}");
    let (status, bytes, headers) = fetch(&app, None, url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, original, "the same bytes come back");
    assert_eq!(headers["content-type"], "image/png");
    let (status, bytes, headers_pdf) = fetch(&app, None, files[1]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, pdf(5000));
    assert_eq!(headers_pdf["content-type"], "application/pdf");
    if let Storage::Disk = storage {
        // Served by the hub itself (S3 serves its own headers after the redirect).
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers_pdf["content-disposition"]
                .as_str()
                .is_some_and(|d| d.contains("invoice.pdf")),
            "{headers_pdf}"
        );
    }

    // Thumbnails arrive as message.updated, then show in the REST API.
    let update = loop {
        let frame = socket.next_of("message.updated").await;
        if frame["data"]["message"]["id"] == message_id.as_str()
            && frame["data"]["message"]["attachments"][0]["thumbnail_url"].is_string()
        {
            break frame;
        }
    };
    assert!(update["data"]["message"]["attachments"][1]["thumbnail_url"].is_null());
    let now = with_thumbnail(&app, &admin, &conversation_id, &message_id).await;
    let small = now["attachments"][0]["thumbnail_url"]
        .as_str()
        .expect("small");
    let large = now["attachments"][0]["thumbnail_large_url"]
        .as_str()
        .expect("large");
    let (status, bytes, headers) = fetch(&app, Some(&admin), small).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    let (w, h) = dimensions(&bytes);
    assert!(w == 200 && (112..=113).contains(&h), "small is {w}x{h}");
    let (_, bytes, _) = fetch(&app, Some(&admin), large).await;
    assert_eq!(dimensions(&bytes), (800, 450));

    // The stable link redirects to a short-lived signed URL.
    let response = no_redirects()
        .get(app.url(now["attachments"][0]["url"].as_str().unwrap()))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("link");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/files/"), "{location}");
    assert!(location.contains("signature="), "{location}");
}

async fn exif_orientation_is_applied_and_small_images_are_not_upscaled(storage: Storage) {
    let app = hub_on(storage, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    // Stored 300 wide, 100 high, EXIF "rotate 90°": shown 100 wide, 300 high.
    let rotated = upload_one(
        &app,
        &admin,
        &conversation_id,
        "phone.jpg",
        jpeg_rotated(300, 100),
    )
    .await;
    assert_eq!(rotated["content_type"], "image/jpeg");
    assert_eq!(
        (rotated["width"].as_i64(), rotated["height"].as_i64()),
        (Some(100), Some(300))
    );
    let tiny = upload_one(&app, &admin, &conversation_id, "icon.png", png(100, 50)).await;
    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"attachment_ids": [rotated["id"], tiny["id"]]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "files without text");
    let message: Value = response.json().await.expect("message");
    let message_id = message["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    let list = eventually(&app, &admin, &path, |list| {
        let m = message_in(list, &message_id);
        m["attachments"][0]["thumbnail_url"].is_string()
            && m["attachments"][1]["thumbnail_url"].is_string()
    })
    .await;
    assert!(
        message_in(&list, &message_id)["attachments"][1]["thumbnail_url"].is_string(),
        "both thumbnails: {list}"
    );
    let (_, bytes, _) = fetch(
        &app,
        Some(&admin),
        &format!(
            "/api/v1/attachments/{}/thumbnail?size=large",
            rotated["id"].as_str().unwrap()
        ),
    )
    .await;
    let (w, h) = dimensions(&bytes);
    assert_eq!((w, h), (100, 300), "portrait after orientation");
    let (_, bytes, _) = fetch(
        &app,
        Some(&admin),
        &format!(
            "/api/v1/attachments/{}/thumbnail?size=small",
            tiny["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(dimensions(&bytes), (100, 50), "never upscaled");
}

async fn every_bad_file_is_refused_clearly_and_stores_nothing(storage: Storage) {
    let app = hub_on(storage, |env| {
        env.insert("SWITCHBOARD_ATTACHMENTS_MAX_FILE_MB".into(), "2".into());
        env.insert("SWITCHBOARD_ATTACHMENTS_MAX_IMAGE_MB".into(), "1".into());
        env.insert("SWITCHBOARD_ATTACHMENTS_MAX_MESSAGE_MB".into(), "3".into());
    })
    .await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    // A real PNG with 1 MiB of trailing bytes: over the 1 MiB image limit, under 2 MiB.
    let mut big_png = png(400, 400);
    big_png.resize(big_png.len() + 1024 * 1024, 0);
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "big.pdf",
            pdf(2 * 1024 * 1024 + 1),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "big.png",
            big_png,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "tool.elf",
            b"\x7fELF\x02\x01\x01\x00"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, 512))
                .collect(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "cat.png",
            exe(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "page.html",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "broken.png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDRgarbage-garbage-garbage".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "bomb.png",
            png_bomb(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "empty.pdf",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (name, bytes, status, code) in cases {
        let response = upload(&app, &admin, &conversation_id, vec![(name, bytes)]).await;
        let body = assert_error(response, status, code).await;
        println!("{name}: {}", body["error"]["message"]);
        assert_eq!(
            stored_files(&app).await,
            (0, 0),
            "{name} left nothing behind"
        );
    }
    // A good file followed by a bad one in the same request: neither is kept.
    let response = upload(
        &app,
        &admin,
        &conversation_id,
        vec![("ok.png", png(10, 10)), ("cat.png", exe())],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(stored_files(&app).await, (0, 0));
    // Two files that together exceed the per-message limit.
    let first = upload_one(&app, &admin, &conversation_id, "a.pdf", pdf(1_900_000)).await;
    let second = upload_one(&app, &admin, &conversation_id, "b.pdf", pdf(1_900_000)).await;
    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"content": "both", "attachment_ids": [first["id"], second["id"]]}),
    )
    .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // An id that is not an upload of this conversation.
    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"content": "x", "attachment_ids": ["999999"]}),
    )
    .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    // No message was stored by the refused sends.
    let list = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "only the customer's"
    );
}

async fn signed_urls_expire_and_cannot_be_forged_or_reused_for_another_file(storage: Storage) {
    let app = hub_on(storage, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    let first = upload_one(&app, &admin, &conversation_id, "a.pdf", pdf(100)).await;
    let second = upload_one(&app, &admin, &conversation_id, "b.pdf", pdf(200)).await;
    let details = app
        .get_json(
            &admin,
            &format!("/api/v1/attachments/{}", first["id"].as_str().unwrap()),
        )
        .await;
    let url = details["download_url"]
        .as_str()
        .expect("download_url")
        .to_owned();
    let (status, bytes, _) = fetch(&app, None, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, pdf(100));

    // Tampering with any part of it breaks the signature.
    let second_id = second["id"].as_str().unwrap();
    let first_id = first["id"].as_str().unwrap();
    let other_file = url.replace(
        &format!("/files/{first_id}/"),
        &format!("/files/{second_id}/"),
    );
    let flipped = {
        let (head, signature) = url.split_once("signature=").unwrap();
        let mut sig: Vec<char> = signature.chars().collect();
        sig[0] = if sig[0] == '0' { '1' } else { '0' };
        format!("{head}signature={}", sig.into_iter().collect::<String>())
    };
    let longer = {
        let (head, tail) = url.split_once("expires=").unwrap();
        let (expires, rest) = tail.split_once('&').unwrap();
        let later: u64 = expires.parse::<u64>().unwrap() + 3600;
        format!("{head}expires={later}&{rest}")
    };
    let unsigned = url.split_once('?').unwrap().0.to_owned();
    for forged in [other_file, flipped, longer, unsigned] {
        let response = app.client.get(app.url(&forged)).send().await.expect("get");
        assert_error(response, StatusCode::FORBIDDEN, "invalid_signature").await;
    }
    // A link signed correctly but past its time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (expired, _) = app.state.hub.files.signed_path_until(
        first_id.parse().unwrap(),
        switchboard::files::Variant::Original,
        now - 1,
    );
    let response = app.client.get(app.url(&expired)).send().await.expect("get");
    let body = assert_error(response, StatusCode::FORBIDDEN, "link_expired").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The same moment, a little later, is fine: only the time decides.
    let (fresh, _) = app.state.hub.files.signed_path_until(
        first_id.parse().unwrap(),
        switchboard::files::Variant::Original,
        now + 60,
    );
    let response = app.client.get(app.url(&fresh)).send().await.expect("get");
    // The bytes, or (S3) a redirect to them.
    assert!(
        matches!(response.status(), StatusCode::OK | StatusCode::FOUND),
        "{}",
        response.status()
    );
}

async fn an_agent_of_another_inbox_cannot_see_upload_or_send_the_files(storage: Storage) {
    let app = hub_on(storage, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    let file = upload_one(&app, &admin, &conversation_id, "secret.pdf", pdf(100)).await;
    let file_id = file["id"].as_str().unwrap().to_owned();
    // An agent who is a member of another inbox only.
    let other_inbox = app.create_api_inbox(&admin, None).await;
    let (agent_id, password) = app.create_agent(&admin, "other@example.com", "agent").await;
    app.add_member(&admin, &other_inbox.id, &agent_id).await;
    let agent = app.token_for("other@example.com", &password).await;
    let other_conversation =
        app.inbound(&other_inbox, "o-1", "cust-7", "Hi").await["stored"][0]["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();

    for path in [
        format!("/api/v1/attachments/{file_id}"),
        format!("/api/v1/attachments/{file_id}/download"),
        format!("/api/v1/attachments/{file_id}/thumbnail"),
    ] {
        let response = app.api(&agent, Method::GET, &path, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = upload(&app, &agent, &conversation_id, vec![("x.pdf", pdf(10))]).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // Another conversation's upload cannot be sent from the agent's own conversation.
    let response = send(
        &app,
        &agent,
        &other_conversation,
        json!({"content": "look", "attachment_ids": [file_id]}),
    )
    .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    // Nor without signing in.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/attachments/{file_id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn inbound_files_from_the_api_channel_are_fetched_checked_and_thumbnailed(storage: Storage) {
    let host = FileHost::start(vec![
        ("photo.png", png(1000, 500)),
        ("terms.pdf", pdf(3000)),
        ("setup.png", exe()),
    ])
    .await;
    // The file host is on 127.0.0.1, which the hub only fetches from when allowed.
    let app = hub_on(storage, |env| {
        env.insert(
            "SWITCHBOARD_ATTACHMENTS_FETCH_PRIVATE_ADDRESSES".into(),
            "true".into(),
        );
    })
    .await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    let mut event = message_event("in-1", "cust-9", "my photo and the terms");
    event["attachments"] = json!([
        {"url": format!("{}/photo.png", host.url)},
        {"url": format!("{}/terms.pdf", host.url), "file_name": "Terms of Service.pdf"},
    ]);
    let response = app.post_signed(&inbox, "", &event).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("answer");
    let conversation_id = answer["stored"][0]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message_id = answer["stored"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = with_thumbnail(&app, &admin, &conversation_id, &message_id).await;
    let files = message["attachments"].as_array().expect("attachments");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file_name"], "photo.png");
    assert_eq!(
        (files[0]["width"].as_i64(), files[0]["height"].as_i64()),
        (Some(1000), Some(500))
    );
    assert_eq!(files[1]["file_name"], "Terms of Service.pdf");
    assert_eq!(files[1]["content_type"], "application/pdf");
    let (_, bytes, _) = fetch(&app, Some(&admin), files[1]["url"].as_str().unwrap()).await;
    assert_eq!(bytes, pdf(3000));

    // A retry of the same webhook stores no second message.
    let response = app.post_signed(&inbox, "", &event).await;
    let again: Value = response.json().await.expect("answer");
    assert_eq!(again["stored"][0]["duplicate"], true);

    // A refused file refuses the whole webhook: no message, no file rows.
    let (rows_before, _) = stored_files(&app).await;
    let mut bad = message_event("in-2", "cust-9", "an installer");
    bad["attachments"] = json!([{"url": format!("{}/setup.png", host.url)}]);
    let response = app.post_signed(&inbox, "", &bad).await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let mut missing = message_event("in-3", "cust-9", "gone");
    missing["attachments"] = json!([{"url": format!("{}/nope.png", host.url)}]);
    let response = app.post_signed(&inbox, "", &missing).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let list = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
        )
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(stored_files(&app).await.0, rows_before);
}

#[actix_web::test]
async fn by_default_files_on_private_addresses_are_not_fetched() {
    let host = FileHost::start(vec![("photo.png", png(10, 10))]).await;
    let port = host.url.rsplit(':').next().unwrap().to_owned();
    let app = hub_on(Storage::Disk, |_| {}).await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;
    for (n, url) in [
        format!("http://127.0.0.1:{port}/photo.png"),
        format!("http://localhost:{port}/photo.png"),
        format!("http://[::1]:{port}/photo.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/photo.png".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut event = message_event(&format!("p-{n}"), "cust-1", "look");
        event["attachments"] = json!([{ "url": url }]);
        let response = app.post_signed(&inbox, "", &event).await;
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("private"),
            "{url} refused as private: {message}"
        );
    }
    assert_eq!(stored_files(&app).await, (0, 0));
    let list = app.get_json(&admin, "/api/v1/conversations").await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(0),
        "no message stored"
    );
}

#[actix_web::test]
async fn a_retried_send_with_files_and_an_idempotency_key_replays_the_first_message() {
    let app = hub_on(Storage::Disk, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    let file = upload_one(&app, &admin, &conversation_id, "a.pdf", pdf(100)).await;
    let send = || {
        app.client
            .post(app.url(&format!("/api/v1/conversations/{conversation_id}/messages")))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "send-files-1")
            // The same id twice in one request counts once.
            .json(&json!({"content": "file", "attachment_ids": [file["id"], file["id"]]}))
            .send()
    };
    let first = send().await.expect("send");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("message");
    assert_eq!(first["attachments"].as_array().map(Vec::len), Some(1));
    let again = send().await.expect("send again");
    assert_eq!(again.status(), StatusCode::OK, "replayed, not refused");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("message");
    assert_eq!(again["id"], first["id"]);
}

#[actix_web::test]
async fn an_image_that_does_not_decode_is_kept_without_thumbnails_and_not_retried() {
    let app = hub_on(Storage::Disk, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    // The header passes the upload check; the pixels are missing.
    let broken = upload_one(
        &app,
        &admin,
        &conversation_id,
        "half.png",
        png_without_pixels(50, 40),
    )
    .await;
    let fine = upload_one(&app, &admin, &conversation_id, "fine.png", png(50, 40)).await;
    let path = format!("/api/v1/attachments/{}", fine["id"].as_str().unwrap());
    eventually(&app, &admin, &path, |a| a["thumbnail_urls"].is_object()).await;
    // The worker takes jobs in order, so the broken one was tried first.
    let details = app
        .get_json(
            &admin,
            &format!("/api/v1/attachments/{}", broken["id"].as_str().unwrap()),
        )
        .await;
    assert!(details["thumbnail_urls"].is_null(), "{details}");
    let (status, bytes, _) = fetch(&app, Some(&admin), broken["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "the original stays downloadable");
    assert_eq!(bytes, png_without_pixels(50, 40));
    let mut conn = app.state.db.reader().await.expect("db");
    let pending = switchboard::store::attachments::images_without_thumbnails(&mut conn, 100)
        .await
        .expect("sweep query");
    assert!(
        pending.is_empty(),
        "not tried again at the next start: {pending:?}"
    );
}

#[actix_web::test]
async fn uploads_are_audited_and_those_never_sent_are_cleaned_up() {
    let app = hub_on(Storage::Disk, |_| {}).await;
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, None).await;
    let sent = upload_one(&app, &admin, &conversation_id, "sent.png", png(300, 200)).await;
    let unsent = upload_one(&app, &admin, &conversation_id, "unsent.png", png(300, 200)).await;
    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"attachment_ids": [sent["id"]]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let actions = app.audit_actions(&admin, 5).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "attachment.upload").count(),
        2,
        "{actions:?}"
    );
    // Wait for both thumbnails, so the clean-up has them to remove too.
    for file in [&sent, &unsent] {
        let path = format!("/api/v1/attachments/{}", file["id"].as_str().unwrap());
        eventually(&app, &admin, &path, |a| a["thumbnail_urls"].is_object()).await;
    }
    assert_eq!(stored_files(&app).await, (2, 6));

    // Too young to be removed...
    switchboard::startup::remove_abandoned_uploads(&app.state, Duration::from_secs(3600)).await;
    assert_eq!(stored_files(&app).await, (2, 6));
    // ...then old enough: the unsent upload and its thumbnails go, the sent one stays.
    switchboard::startup::remove_abandoned_uploads(&app.state, Duration::ZERO).await;
    assert_eq!(stored_files(&app).await, (1, 3));
    let response = app
        .api(
            &admin,
            Method::GET,
            &format!("/api/v1/attachments/{}", unsent["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let (status, _, _) = fetch(
        &app,
        Some(&admin),
        &format!(
            "/api/v1/attachments/{}/download",
            sent["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// The same round trip with the files in S3-compatible storage (a real moto server):
/// upload, send through the API channel, the integration downloads through the hub's
/// signed URL (checked by the hub, then redirected to a presigned S3 URL), thumbnails are
/// made from and stored in the bucket, and a forged hub URL never reaches S3.
#[actix_web::test]
async fn on_s3_files_round_trip_with_thumbnails_and_presigned_redirects() {
    let bucket = crate::s3::moto().fresh_bucket().await;
    let callback = CallbackServer::start().await;
    let app = spawn_app_with(|env| env.extend(crate::s3::storage_env(&bucket))).await;
    assert_eq!(app.state.hub.files.blobs().backend_name(), "s3");
    let (admin, _inbox, conversation_id) = hub_with_conversation(&app, Some(&callback)).await;
    let original = png(1200, 600);
    let image = upload_one(
        &app,
        &admin,
        &conversation_id,
        "chart.png",
        original.clone(),
    )
    .await;
    let document = upload_one(&app, &admin, &conversation_id, "report.pdf", pdf(70_000)).await;
    let response = send(
        &app,
        &admin,
        &conversation_id,
        json!({"content": "both", "attachment_ids": [image["id"], document["id"]]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.expect("message");
    let message_id = message["id"].as_str().unwrap().to_owned();

    let delivered = callback.wait_for(1).await;
    let url = delivered[0].body["message"]["attachments"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    // The hub checks its own signature, then hands over to S3.
    let response = no_redirects().get(&url).send().await.expect("signed url");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&crate::s3::moto().endpoint()) && location.contains("X-Amz-Signature"),
        "presigned S3 URL: {location}"
    );
    // S3 cannot send our Content-Disposition; the key ends in the file's name instead.
    assert!(
        location
            .split('?')
            .next()
            .unwrap_or_default()
            .ends_with("/chart.png"),
        "{location}"
    );
    let (status, bytes, _) = fetch(&app, None, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, original);
    let (_, bytes, _) = fetch(
        &app,
        None,
        delivered[0].body["message"]["attachments"][1]["url"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(bytes, pdf(70_000));
    let forged = format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    let response = no_redirects().get(&forged).send().await.expect("forged");
    assert_error(response, StatusCode::FORBIDDEN, "invalid_signature").await;

    let now = with_thumbnail(&app, &admin, &conversation_id, &message_id).await;
    let (status, bytes, _) = fetch(
        &app,
        Some(&admin),
        now["attachments"][0]["thumbnail_large_url"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dimensions(&bytes), (800, 400));
    // Two originals and two thumbnails, all in the bucket; no file left on local disk.
    assert_eq!(stored_files(&app).await, (2, 4));
}
