//! The real [`WhatsAppChannel`] against a fake Graph API on 127.0.0.1: every request it
//! makes, every answer it reads, every error it classifies.

mod fake_graph;

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use fake_graph::{Answer, FakeGraph, PAGE_2_CURSOR, PHONE_ID, Route, TOKEN, VERSION, WABA_ID};
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use switchboard_channel::{
    AttachmentRef, Channel, ChannelError, ContactProfile, OutboundAttachment, OutboundMessage,
    SurveyRequest, SurveyScale, TemplateButtonValue, TemplateMessage, TemplateParameter,
};
use switchboard_whatsapp::{WhatsAppChannel, WhatsAppSettings};
use url::Url;

const CUSTOMER: &str = "16505551234";

fn settings(api_url: Url, token: &str) -> WhatsAppSettings {
    WhatsAppSettings {
        phone_number_id: PHONE_ID.into(),
        waba_id: Some(WABA_ID.into()),
        access_token: token.into(),
        app_secret: "app-secret".into(),
        verify_token: "verify-token".into(),
        api_url,
        api_version: VERSION.into(),
        messages_per_second: 1000,
        timeout: Duration::from_secs(5),
    }
}

fn channel(fake: &FakeGraph) -> WhatsAppChannel {
    WhatsAppChannel::new(settings(fake.url.clone(), TOKEN)).expect("channel")
}

fn message(id: &str, content: &str) -> OutboundMessage {
    OutboundMessage {
        mail_thread: None,
        survey: None,
        message_id: id.into(),
        conversation_id: "c1".into(),
        content: content.into(),
        private: false,
        attachments: Vec::new(),
        recipient: ContactProfile::new(CUSTOMER),
        reply_to_external_id: None,
        thread_id: None,
        template: None,
    }
}

fn file(name: &str, content_type: &str, data: Vec<u8>) -> OutboundAttachment {
    OutboundAttachment {
        id: name.into(),
        file_name: name.into(),
        content_type: content_type.into(),
        byte_size: data.len() as u64,
        url: "https://hub.example/never-used".into(),
        width: None,
        height: None,
        thumbnail_url: None,
        data: Some(Bytes::from(data)),
    }
}

/// The error's reason never shows the token.
fn reason_of(error: &ChannelError) -> String {
    let reason = error.to_string();
    assert!(!reason.contains(TOKEN), "token leaked: {reason}");
    assert!(!reason.contains("EAAGwrong"), "token leaked: {reason}");
    reason
}

fn permanent(error: ChannelError) -> (String, String) {
    let reason = reason_of(&error);
    match error {
        ChannelError::Permanent { code, .. } => (code.unwrap_or_default(), reason),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

fn transient(error: ChannelError) -> (Option<Duration>, String) {
    let reason = reason_of(&error);
    match error {
        ChannelError::Transient { retry_after, .. } => (retry_after, reason),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn phone_number_is_read_with_the_bearer_token() {
    let fake = FakeGraph::start().await;
    let info = channel(&fake).phone_number().await.expect("number");
    assert_eq!(info.id, PHONE_ID);
    assert_eq!(
        info.display_phone_number.as_deref(),
        Some("+1 555-010-0199")
    );
    assert_eq!(info.verified_name.as_deref(), Some("Switchboard Test"));
    assert_eq!(info.quality_rating.as_deref(), Some("GREEN"));
    let request = &fake.requests_to(Route::Phone)[0];
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        request.query("fields"),
        Some("id,display_phone_number,verified_name,quality_rating")
    );
}

#[tokio::test]
async fn a_wrong_token_is_permanent_and_never_shown() {
    let fake = FakeGraph::start().await;
    let wrong =
        WhatsAppChannel::new(settings(fake.url.clone(), "EAAGwrongTOKEN42")).expect("channel");
    let (code, reason) = permanent(wrong.phone_number().await.expect_err("refused"));
    assert_eq!(code, "190");
    assert!(reason.contains("needs a new token"), "{reason}");
    let (code, _) = permanent(
        wrong
            .send(&message("m1", "Hello"))
            .await
            .expect_err("refused"),
    );
    assert_eq!(code, "190");
}

#[tokio::test]
async fn an_unreachable_or_failing_graph_is_transient() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("address").port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let nowhere = WhatsAppChannel::new(settings(url, TOKEN)).expect("channel");
    let (_, reason) = transient(nowhere.phone_number().await.expect_err("unreachable"));
    assert!(reason.contains("could not reach the Graph API"), "{reason}");

    let fake = FakeGraph::start().await;
    fake.script(
        Route::Phone,
        Some(Answer::raw(502, "<html>Bad Gateway</html>")),
    );
    transient(channel(&fake).phone_number().await.expect_err("502"));
}

#[tokio::test]
async fn a_graph_that_does_not_answer_times_out_as_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut s = settings(
        Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
        TOKEN,
    );
    s.timeout = Duration::from_millis(300);
    let silent = WhatsAppChannel::new(s).expect("channel");
    let (_, reason) = transient(
        silent
            .send(&message("m1", "Hi"))
            .await
            .expect_err("timeout"),
    );
    assert!(reason.contains("did not answer in time"), "{reason}");
}

#[tokio::test]
async fn a_text_goes_out_with_the_reply_context() {
    let fake = FakeGraph::start().await;
    let mut reply = message("m1", "Hi! Details: https://example.com/help");
    reply.reply_to_external_id = Some("wamid.CUSTOMER1".into());
    let receipt = channel(&fake).send(&reply).await.expect("sent");
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST1"));
    assert_eq!(
        fake.messages(),
        vec![json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": CUSTOMER,
            "type": "text",
            "text": { "body": "Hi! Details: https://example.com/help", "preview_url": true },
            "context": { "message_id": "wamid.CUSTOMER1" },
        })]
    );
    let request = &fake.requests_to(Route::Messages)[0];
    assert_eq!(request.path, format!("/{VERSION}/{PHONE_ID}/messages"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_long_text_is_split_and_only_the_first_part_quotes() {
    let fake = FakeGraph::start().await;
    let text = "All good here.\n".repeat(400);
    let mut reply = message("m1", &text);
    reply.reply_to_external_id = Some("wamid.CUSTOMER1".into());
    let receipt = channel(&fake).send(&reply).await.expect("sent");
    let sent = fake.messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["context"]["message_id"], "wamid.CUSTOMER1");
    assert!(sent[1].get("context").is_none());
    let bodies: Vec<&str> = sent
        .iter()
        .map(|m| m["text"]["body"].as_str().expect("body"))
        .collect();
    assert!(bodies.iter().all(|b| b.chars().count() <= 4096));
    assert_eq!(bodies.concat(), text);
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST1"));
}

#[tokio::test]
async fn a_file_is_uploaded_then_sent_by_id_with_the_text_as_caption() {
    let fake = FakeGraph::start().await;
    let photo = b"\xff\xd8\xff\xe0 pretend JPEG bytes \x00\x01".to_vec();
    let mut reply = message("m1", "Here is the photo");
    reply.attachments = vec![file("photo.jpg", "image/jpeg", photo.clone())];
    reply.reply_to_external_id = Some("wamid.CUSTOMER1".into());
    let receipt = channel(&fake).send(&reply).await.expect("sent");

    let upload = &fake.requests_to(Route::Upload)[0];
    assert_eq!(upload.path, format!("/{VERSION}/{PHONE_ID}/media"));
    assert!(
        upload
            .header("content-type")
            .is_some_and(|v| v.starts_with("multipart/form-data")),
    );
    assert!(
        upload.body.windows(photo.len()).any(|w| w == photo),
        "the upload carries the file bytes"
    );
    let form = String::from_utf8_lossy(&upload.body);
    assert!(form.contains("filename=\"photo.jpg\""), "{form}");
    assert!(form.contains("Content-Type: image/jpeg"), "{form}");
    assert!(form.contains("name=\"type\"\r\n\r\nimage/jpeg"), "{form}");

    let sent = fake.messages();
    assert_eq!(sent.len(), 1, "the caption carries the text");
    assert_eq!(sent[0]["type"], "image");
    assert_eq!(
        sent[0]["image"],
        json!({ "id": "900001", "caption": "Here is the photo" })
    );
    assert_eq!(sent[0]["context"]["message_id"], "wamid.CUSTOMER1");
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST2"));
}

#[tokio::test]
async fn documents_keep_their_name_and_big_images_go_as_documents() {
    let fake = FakeGraph::start().await;
    let mut reply = message("m1", "");
    reply.attachments = vec![
        file("invoice.pdf", "application/pdf", b"%PDF-1.7 tiny".to_vec()),
        file("huge.png", "image/png", vec![7u8; 5_000_001]),
        file("note.ogg", "audio/ogg", b"OggS".to_vec()),
    ];
    channel(&fake).send(&reply).await.expect("sent");
    let sent = fake.messages();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0]["document"]["filename"], "invoice.pdf");
    assert!(sent[0]["document"].get("caption").is_none());
    assert_eq!(sent[1]["type"], "document");
    assert_eq!(sent[1]["document"]["filename"], "huge.png");
    assert_eq!(sent[2]["type"], "audio");
    assert_eq!(fake.requests_to(Route::Upload).len(), 3);
}

#[tokio::test]
async fn a_file_that_was_not_loaded_is_permanent_and_nothing_goes_out() {
    let fake = FakeGraph::start().await;
    let mut reply = message("m1", "Text too");
    let mut missing = file("a.pdf", "application/pdf", Vec::new());
    missing.data = None;
    reply.attachments = vec![missing];
    let (code, reason) = permanent(channel(&fake).send(&reply).await.expect_err("refused"));
    assert_eq!(code, "file_unavailable");
    assert!(reason.contains("a.pdf"), "{reason}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_template_goes_out_instead_of_the_text() {
    let fake = FakeGraph::start().await;
    let mut reply = message("m1", "Order #42 has shipped\n\nHi Ada…");
    reply.template = Some(TemplateMessage {
        name: "shipping_update".into(),
        language: "en_US".into(),
        header: vec![TemplateParameter {
            name: None,
            text: "#42".into(),
        }],
        body: vec![
            TemplateParameter {
                name: Some("first_name".into()),
                text: "Ada".into(),
            },
            TemplateParameter {
                name: Some("day".into()),
                text: "Friday".into(),
            },
        ],
        buttons: vec![TemplateButtonValue {
            index: 1,
            text: "42".into(),
        }],
    });
    let receipt = channel(&fake).send(&reply).await.expect("sent");
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST1"));
    assert_eq!(
        fake.messages(),
        vec![json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": CUSTOMER,
            "type": "template",
            "template": {
                "name": "shipping_update",
                "language": { "code": "en_US" },
                "components": [
                    { "type": "header", "parameters": [{ "type": "text", "text": "#42" }] },
                    { "type": "body", "parameters": [
                        { "type": "text", "parameter_name": "first_name", "text": "Ada" },
                        { "type": "text", "parameter_name": "day", "text": "Friday" },
                    ] },
                    { "type": "button", "sub_type": "url", "index": "1",
                      "parameters": [{ "type": "text", "text": "42" }] },
                ],
            },
        })]
    );
}

#[tokio::test]
async fn a_survey_goes_out_as_an_interactive_message_instead_of_the_text() {
    let fake = FakeGraph::start().await;
    let channel = channel(&fake);
    let mut thumbs = message("m1", "Did we solve your problem?");
    thumbs.survey = Some(SurveyRequest {
        survey_id: "42".into(),
        question: "Did we solve your problem?".into(),
        scale: SurveyScale::Thumbs,
        links: Vec::new(),
    });
    let receipt = channel.send(&thumbs).await.expect("sent");
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST1"));
    let mut five = message("m2", "How satisfied are you with our help?");
    five.survey = Some(SurveyRequest {
        survey_id: "43".into(),
        question: "How satisfied are you with our help?".into(),
        scale: SurveyScale::Five,
        links: Vec::new(),
    });
    five.reply_to_external_id = Some("wamid.CUSTOMER1".into());
    let receipt = channel.send(&five).await.expect("sent");
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST2"));
    assert_eq!(
        fake.messages(),
        vec![
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": { "text": "Did we solve your problem?" },
                    "action": { "buttons": [
                        { "type": "reply", "reply": { "id": "csat:42:5", "title": "👍 Yes, thanks" } },
                        { "type": "reply", "reply": { "id": "csat:42:1", "title": "👎 Not really" } },
                    ] },
                },
            }),
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": CUSTOMER,
                "type": "interactive",
                "context": { "message_id": "wamid.CUSTOMER1" },
                "interactive": {
                    "type": "list",
                    "body": { "text": "How satisfied are you with our help?" },
                    "action": {
                        "button": "Choose a rating",
                        "sections": [{ "title": "Your rating", "rows": [
                            { "id": "csat:43:5", "title": "😀 Very satisfied" },
                            { "id": "csat:43:4", "title": "🙂 Satisfied" },
                            { "id": "csat:43:3", "title": "😐 Neutral" },
                            { "id": "csat:43:2", "title": "🙁 Dissatisfied" },
                            { "id": "csat:43:1", "title": "😞 Very dissatisfied" },
                        ] }],
                    },
                },
            }),
        ]
    );
}

#[tokio::test]
async fn a_refused_survey_is_classified_like_any_send() {
    let fake = FakeGraph::start().await;
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            400,
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        )),
    );
    let mut asked = message("m1", "How did we do?");
    asked.survey = Some(SurveyRequest {
        survey_id: "42".into(),
        question: "How did we do?".into(),
        scale: SurveyScale::Five,
        links: Vec::new(),
    });
    let (code, _) = permanent(channel(&fake).send(&asked).await.expect_err("refused"));
    assert_eq!(code, "131047");
    // A survey whose answers could not come back is refused before anything is sent.
    let fake = FakeGraph::start().await;
    if let Some(survey) = asked.survey.as_mut() {
        survey.survey_id = "not-a-number".into();
    }
    let (code, _) = permanent(channel(&fake).send(&asked).await.expect_err("refused"));
    assert_eq!(code, "bad_survey_id");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_closed_window_is_permanent_and_says_to_use_a_template() {
    let fake = FakeGraph::start().await;
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            400,
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        )),
    );
    let (code, reason) = permanent(
        channel(&fake)
            .send(&message("m1", "Still there?"))
            .await
            .expect_err("window closed"),
    );
    assert_eq!(code, "131047");
    assert!(reason.contains("24-hour"), "{reason}");
    assert!(reason.contains("template"), "{reason}");
}

#[tokio::test]
async fn throughput_limits_wait_as_graph_asks() {
    let fake = FakeGraph::start().await;
    let limited = || {
        Answer::graph_error(
            400,
            130429,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        )
    };
    fake.script(
        Route::Messages,
        Some(limited().with_header("Retry-After", "7")),
    );
    fake.script(Route::Messages, Some(limited()));
    let channel = channel(&fake);
    let (wait, reason) = transient(
        channel
            .send(&message("m1", "one"))
            .await
            .expect_err("limited"),
    );
    assert_eq!(wait, Some(Duration::from_secs(7)));
    assert!(reason.contains("130429"), "{reason}");
    let (wait, _) = transient(
        channel
            .send(&message("m2", "two"))
            .await
            .expect_err("limited"),
    );
    assert_eq!(wait, Some(Duration::from_secs(60)));
    channel
        .send(&message("m3", "three"))
        .await
        .expect("the limit passed");
}

#[tokio::test]
async fn an_expired_token_and_server_errors_are_classified() {
    let fake = FakeGraph::start().await;
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            401,
            190,
            "Error validating access token: Session has expired on Friday, 01-Aug-25.",
            "",
        )),
    );
    fake.script(Route::Messages, Some(Answer::raw(500, "")));
    fake.script(
        Route::Messages,
        Some(Answer::graph_error(
            500,
            2,
            "Service temporarily unavailable",
            "",
        )),
    );
    let channel = channel(&fake);
    let (code, reason) = permanent(
        channel
            .send(&message("m1", "a"))
            .await
            .expect_err("expired"),
    );
    assert_eq!(code, "190");
    assert!(reason.contains("new token"), "{reason}");
    transient(channel.send(&message("m2", "b")).await.expect_err("500"));
    let (_, reason) = transient(channel.send(&message("m3", "c")).await.expect_err("500"));
    assert!(
        reason.contains("Service temporarily unavailable (2)"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_retry_sends_only_the_parts_not_yet_accepted() {
    let fake = FakeGraph::start().await;
    let text = "Part of a long answer. ".repeat(300);
    let mut reply = message("m1", &text);
    reply.reply_to_external_id = Some("wamid.CUSTOMER1".into());
    reply.attachments = vec![file("a.pdf", "application/pdf", b"%PDF".to_vec())];
    // The first piece goes through, the second fails.
    fake.script(Route::Messages, None);
    fake.script(Route::Messages, Some(Answer::raw(503, "")));
    let channel = channel(&fake);
    let (_, reason) = transient(channel.send(&reply).await.expect_err("503"));
    assert!(reason.ends_with("(part 1 of 3 was delivered)"), "{reason}");
    assert!(fake.requests_to(Route::Upload).is_empty());

    let receipt = channel.send(&reply).await.expect("the rest went out");
    let sent = fake.messages();
    assert_eq!(
        sent.len(),
        4,
        "1 accepted + 1 failed, then the 2 missing parts"
    );
    assert_eq!(sent[0]["context"]["message_id"], "wamid.CUSTOMER1");
    assert_eq!(sent[1]["text"], sent[2]["text"], "the failed piece again");
    assert!(sent[2].get("context").is_none());
    assert_eq!(sent[3]["type"], "document");
    assert_eq!(fake.requests_to(Route::Upload).len(), 1);
    // The receipt names the first part, accepted by the first attempt.
    assert_eq!(receipt.external_id.as_deref(), Some("wamid.TEST1"));

    // Delivered completely: sending it again starts over.
    channel.send(&reply).await.expect("sent again");
    assert_eq!(fake.messages().len(), 7);
}

#[tokio::test]
async fn the_pair_rate_limit_refuses_without_waiting() {
    let fake = FakeGraph::start().await;
    let channel = channel(&fake);
    for n in 0..10 {
        channel
            .send(&message(&format!("m{n}"), "hi"))
            .await
            .expect("within the burst");
    }
    let started = Instant::now();
    let (wait, reason) = transient(
        channel
            .send(&message("m10", "one too many"))
            .await
            .expect_err("pair limited"),
    );
    assert!(started.elapsed() < Duration::from_secs(1), "did not wait");
    let wait = wait.expect("a wait");
    assert!(
        wait > Duration::from_secs(4) && wait <= Duration::from_secs(6),
        "{wait:?}"
    );
    assert!(reason.contains("pair rate limit"), "{reason}");
    assert_eq!(fake.messages().len(), 10);
    // Another customer is not held up.
    let mut other = message("m11", "hello");
    other.recipient = ContactProfile::new("4915112345678");
    channel.send(&other).await.expect("other customer");
}

#[tokio::test]
async fn mark_read_posts_the_read_status() {
    let fake = FakeGraph::start().await;
    channel(&fake)
        .mark_read("wamid.CUSTOMER9")
        .await
        .expect("marked");
    assert_eq!(
        fake.messages(),
        vec![
            json!({ "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.CUSTOMER9" })
        ]
    );
}

async fn collect(channel: &WhatsAppChannel, source: &str) -> Result<Vec<u8>, String> {
    let reference = AttachmentRef {
        source: source.into(),
        file_name: None,
        content_type: None,
        byte_size: None,
        content_id: None,
        data: None,
    };
    let download = channel
        .open_media(&reference)
        .await
        .map_err(|e| format!("open: {e}"))?
        .expect("the channel downloads itself");
    assert_eq!(download.file_name, None);
    let mut body = download.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

const MEDIA_ID: &str = "1037543291543636";

fn media() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn media_is_streamed_with_the_token_and_checked() {
    let fake = FakeGraph::start().await;
    let bytes = media();
    fake.add_media(MEDIA_ID, &bytes, "image/jpeg");
    let digest = Sha256::digest(&bytes);
    let channel = channel(&fake);

    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let reference = AttachmentRef {
        source: format!("{MEDIA_ID}?sha256={b64}"),
        file_name: None,
        content_type: None,
        byte_size: None,
        content_id: None,
        data: None,
    };
    let download = channel
        .open_media(&reference)
        .await
        .expect("opens")
        .expect("a download");
    assert_eq!(download.byte_size, Some(bytes.len() as u64));
    drop(download);

    for source in [
        format!("{MEDIA_ID}?sha256={b64}"),
        format!("{MEDIA_ID}?sha256={}", hex::encode(digest)),
        MEDIA_ID.to_owned(),
    ] {
        assert_eq!(collect(&channel, &source).await.expect("downloads"), bytes);
    }
    let info = &fake.requests_to(Route::MediaInfo)[0];
    assert_eq!(info.path, format!("/{VERSION}/{MEDIA_ID}"));
    assert_eq!(info.query("phone_number_id"), Some(PHONE_ID));
    for download in fake.requests_to(Route::Download) {
        assert_eq!(
            download.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[tokio::test]
async fn an_expired_media_url_is_fetched_again_once() {
    let fake = FakeGraph::start().await;
    fake.add_media(MEDIA_ID, &media(), "audio/ogg");
    fake.expire_next_download();
    let channel = channel(&fake);
    assert_eq!(
        collect(&channel, MEDIA_ID).await.expect("downloads"),
        media()
    );
    assert_eq!(fake.requests_to(Route::MediaInfo).len(), 2);
    assert_eq!(fake.requests_to(Route::Download).len(), 2);
}

#[tokio::test]
async fn wrong_bytes_fail_the_checksum_at_the_end() {
    let fake = FakeGraph::start().await;
    fake.add_media(MEDIA_ID, &media(), "image/png");
    fake.corrupt_downloads();
    let channel = channel(&fake);
    let hex_digest = hex::encode(Sha256::digest(media()));
    for source in [
        format!("{MEDIA_ID}?sha256={hex_digest}"),
        MEDIA_ID.to_owned(),
    ] {
        let error = collect(&channel, &source).await.expect_err("corrupt");
        assert!(error.contains("does not match its checksum"), "{error}");
    }
}

#[tokio::test]
async fn media_errors_are_classified() {
    let fake = FakeGraph::start().await;
    let channel = channel(&fake);
    let reference = |source: &str| AttachmentRef {
        source: source.into(),
        file_name: None,
        content_type: None,
        byte_size: None,
        content_id: None,
        data: None,
    };
    let (code, _) = permanent(
        channel
            .open_media(&reference("999999"))
            .await
            .expect_err("unknown media"),
    );
    assert_eq!(code, "100");
    let (code, _) = permanent(
        channel
            .open_media(&reference("../../me"))
            .await
            .expect_err("not a media id"),
    );
    assert_eq!(code, "bad_media_source");
    fake.add_media(MEDIA_ID, &media(), "image/png");
    fake.script(
        Route::MediaInfo,
        Some(Answer::graph_error(503, 1, "An unknown error occurred", "")),
    );
    transient(
        channel
            .open_media(&reference(MEDIA_ID))
            .await
            .expect_err("503"),
    );
    fake.script(Route::Download, Some(Answer::raw(500, "")));
    transient(
        channel
            .open_media(&reference(MEDIA_ID))
            .await
            .expect_err("download 500"),
    );
}

#[tokio::test]
async fn templates_follow_cursors_on_the_configured_host_only() {
    let fake = FakeGraph::start().await;
    let templates = channel(&fake).templates().await.expect("templates");
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "order_delivery_update",
            "shipping_update",
            "order_ready_named",
            "hello_world"
        ]
    );
    // Page 1's `paging.next` points at graph.facebook.com: it was not followed, the cursor
    // was asked of the configured URL instead.
    let pages = fake.requests_to(Route::Templates);
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[0].path,
        format!("/{VERSION}/{WABA_ID}/message_templates")
    );
    assert_eq!(pages[0].query("limit"), Some("100"));
    assert_eq!(pages[0].query("after"), None);
    assert_eq!(pages[1].query("limit"), Some("100"));
    assert_eq!(pages[1].query("after"), Some(PAGE_2_CURSOR));
}

#[tokio::test]
async fn templates_need_a_waba_id() {
    let fake = FakeGraph::start().await;
    let mut s = settings(fake.url.clone(), TOKEN);
    s.waba_id = None;
    let channel = WhatsAppChannel::new(s).expect("channel");
    let (code, reason) = permanent(channel.templates().await.expect_err("no waba"));
    assert_eq!(code, "waba_id_missing");
    assert!(reason.contains("waba_id"), "{reason}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_failing_template_page_fails_the_listing() {
    let fake = FakeGraph::start().await;
    fake.script(Route::Templates, None);
    fake.script(Route::Templates, Some(Answer::raw(500, "")));
    transient(channel(&fake).templates().await.expect_err("page 2 failed"));
}
