//! Email inboxes end to end with real servers: dovecot (IMAP) and aiosmtpd (SMTP), each
//! started per test. The server checks on create, the raw-MIME webhook, threading (signed
//! reply address, our signed Message-IDs, stored ids, `[#n]`), auto-replies and bounces that
//! start no conversation, replies over SMTP with their threading headers, retries and
//! failures, attachments with inline images, and a customer's answer to an agent's mail
//! arriving through IMAP into the same conversation.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dovecot::Dovecot;
use crate::helpers::{TestApp, assert_error, eventually, spawn_app, spawn_app_with};
use crate::smtp_sink::SmtpSink;

const ADDRESS: &str = "support@acme.example";
const REPLY_DOMAIN: &str = "reply.acme.example";

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3")
}

/// An email inbox as its creator saw it.
struct EmailInbox {
    id: String,
    secret: String,
    webhook_url: String,
}

fn smtp_settings(sink: &SmtpSink) -> Value {
    json!({
        "host": "127.0.0.1", "port": sink.port(), "tls": "none",
        "username": sink.user(), "password": sink.password(),
    })
}

fn imap_settings(dovecot: &Dovecot) -> Value {
    json!({
        "host": "127.0.0.1", "port": dovecot.port(), "tls": "none",
        "username": crate::dovecot::USER, "password": crate::dovecot::PASSWORD,
        "folder": "INBOX", "poll_secs": 5,
    })
}

async fn create(app: &TestApp, admin: &str, settings: Value) -> reqwest::Response {
    app.api(
        admin,
        Method::POST,
        "/api/v1/inboxes",
        Some(json!({"name": "Support mail", "channel_type": "email", "settings": settings})),
    )
    .await
}

async fn create_inbox(app: &TestApp, admin: &str, settings: Value) -> EmailInbox {
    let response = create(app, admin, settings).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create email inbox");
    let body: Value = response.json().await.expect("inbox body");
    EmailInbox {
        id: body["id"].as_str().expect("id").to_owned(),
        secret: body["secret"].as_str().expect("secret").to_owned(),
        webhook_url: body["webhook_url"].as_str().expect("url").to_owned(),
    }
}

async fn post_mail(app: &TestApp, inbox: &EmailInbox, raw: &[u8]) -> reqwest::Response {
    app.client
        .post(&inbox.webhook_url)
        .header("Content-Type", "message/rfc822")
        .bearer_auth(&inbox.secret)
        .body(raw.to_vec())
        .send()
        .await
        .expect("webhook request")
}

/// Posts a mail and answers the webhook's one stored entry.
async fn deliver(app: &TestApp, inbox: &EmailInbox, raw: &[u8]) -> Value {
    let response = post_mail(app, inbox, raw).await;
    assert_eq!(response.status(), StatusCode::OK, "mail accepted");
    let body: Value = response.json().await.expect("answer");
    body["stored"][0].clone()
}

fn mail(from: &str, subject: &str, message_id: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Acme Support <{ADDRESS}>\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn conversations(app: &TestApp, admin: &str, inbox: &EmailInbox) -> Vec<Value> {
    let list = app
        .get_json(
            admin,
            &format!(
                "/api/v1/conversations?inbox_id={}&status=open,pending,snoozed,resolved,closed",
                inbox.id
            ),
        )
        .await;
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn messages(app: &TestApp, admin: &str, conversation: &str) -> Vec<Value> {
    let list = app
        .get_json(
            admin,
            &format!("/api/v1/conversations/{conversation}/messages"),
        )
        .await;
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn reply(app: &TestApp, admin: &str, conversation: &str, content: &str) -> String {
    let response = app
        .api(
            admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": content})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "reply accepted");
    let body: Value = response.json().await.expect("reply body");
    body["id"].as_str().expect("message id").to_owned()
}

/// Waits until the conversation holds the mail `external_id` (it arrives by polling) and
/// answers the conversation's messages.
async fn arrived(app: &TestApp, admin: &str, conversation: &str, external_id: &str) -> Vec<Value> {
    let list = eventually(
        app,
        admin,
        &format!("/api/v1/conversations/{conversation}/messages"),
        |m| {
            m["data"]
                .as_array()
                .is_some_and(|l| l.iter().any(|m| m["external_id"] == external_id))
        },
    )
    .await;
    list["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until the reply left (or failed), so a failure shows the hub's reason.
async fn sent_or_failed(app: &TestApp, admin: &str, conversation: &str, id: &str) -> Value {
    let list = eventually(
        app,
        admin,
        &format!("/api/v1/conversations/{conversation}/messages"),
        |m| {
            m["data"].as_array().is_some_and(|list| {
                list.iter().any(|m| {
                    m["id"] == id
                        && (m["status"] == "sent"
                            || m["status"] == "failed"
                            || m["error"].is_object())
                })
            })
        },
    )
    .await;
    list["data"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["id"] == id).cloned())
        .unwrap_or_default()
}

/// A header of a raw mail (unfolded), for asserting what went out.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ");
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[actix_web::test]
async fn create_checks_the_servers_and_masks_passwords() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let dovecot = Dovecot::start();

    // A wrong SMTP password: 422 with the server's words, nothing stored.
    let mut smtp = smtp_settings(&sink);
    smtp["password"] = json!("wrong");
    let response = create(&app, &admin, json!({"address": ADDRESS, "smtp": smtp})).await;
    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("settings.smtp: "), "{error}");
    assert!(message.contains("535"), "the server's words: {error}");
    // A wrong IMAP password: 422 naming imap.
    let mut imap = imap_settings(&dovecot);
    imap["password"] = json!("wrong");
    let response = create(
        &app,
        &admin,
        json!({"address": ADDRESS, "smtp": smtp_settings(&sink), "imap": imap}),
    )
    .await;
    let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("settings.imap: "), "{error}");
    // Nobody listening: 503.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut smtp = smtp_settings(&sink);
    smtp["port"] = json!(port);
    let response = create(&app, &admin, json!({"address": ADDRESS, "smtp": smtp})).await;
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // Bad settings are refused before any server is asked.
    for (settings, field) in [
        (json!({"smtp": smtp_settings(&sink)}), "settings.address"),
        (json!({"address": ADDRESS}), "settings.smtp"),
        (
            json!({"address": "support", "smtp": smtp_settings(&sink)}),
            "settings.address",
        ),
        (
            json!({"address": ADDRESS, "smtp": {"host": "x", "tls": "ssl"}}),
            "settings.smtp.tls",
        ),
    ] {
        let response = create(&app, &admin, settings).await;
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{field}: {error}"
        );
    }
    let listed = app.get_json(&admin, "/api/v1/inboxes").await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );

    // Both servers accept: created, passwords masked on every read.
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "display_name": "Acme Support", "reply_domain": REPLY_DOMAIN,
               "smtp": smtp_settings(&sink), "imap": imap_settings(&dovecot)}),
    )
    .await;
    let shown = app
        .get_json(&admin, &format!("/api/v1/inboxes/{}", inbox.id))
        .await;
    let text = shown.to_string();
    assert!(!text.contains(sink.password()), "{text}");
    assert!(!text.contains(crate::dovecot::PASSWORD), "{text}");
    assert!(
        shown["settings"]["smtp"]["password"]
            .as_str()
            .is_some_and(|p| p.starts_with('…'))
    );
    assert_eq!(
        shown["capabilities"]["threads_by_reference"], true,
        "{shown}"
    );
    // Sending the masked password back keeps the real one (the check still passes).
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"smtp": shown["settings"]["smtp"].clone()}})),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "patch with the masked password"
    ); // The mailbox can be let go: mail then arrives by the webhook only.
    let response = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"imap": null}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "imap removed");
    let shown: Value = response.json().await.expect("inbox");
    assert!(shown["settings"].get("imap").is_none(), "{shown}");
}

#[actix_web::test]
async fn raw_mime_webhook_threads_dedupes_and_keeps_machines_out() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "reply_domain": REPLY_DOMAIN, "smtp": smtp_settings(&sink)}),
    )
    .await;

    // The door checks the inbox secret, as bearer or basic password.
    let first = mail(
        "Ann Example <Ann@Example.com>",
        "Printer on fire",
        "a1@example.com",
        "",
        "Help!",
    );
    let response = app
        .client
        .post(&inbox.webhook_url)
        .bearer_auth("sbwh_wrong")
        .body(first.clone())
        .send()
        .await
        .expect("request");
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let response = app
        .client
        .post(&inbox.webhook_url)
        .bearer_auth(&inbox.secret)
        .body("")
        .send()
        .await
        .expect("request");
    assert_error(response, StatusCode::BAD_REQUEST, "malformed_payload").await;

    let stored = {
        let response = app
            .client
            .post(&inbox.webhook_url)
            .basic_auth("postfix", Some(&inbox.secret))
            .body(first.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("answer");
        body["stored"][0].clone()
    };
    let conversation = stored["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    // The same mail again (an MTA retry, a second delivery): kept once.
    let again = deliver(&app, &inbox, &first).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let shown = app
        .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(shown["subject"], "Printer on fire", "{shown}");

    // A reply to the customer's mail (In-Reply-To its Message-ID) from a colleague in Cc
    // joins the thread; Cc is kept.
    let cc_reply = mail(
        "Bob <bob@example.com>",
        "Re: Printer on fire",
        "b1@example.com",
        "In-Reply-To: <a1@example.com>\r\nReferences: <a1@example.com>\r\nCc: Ann Example <ann@example.com>, Carol <carol@example.com>\r\n",
        "Same here.",
    );
    let joined = deliver(&app, &inbox, &cc_reply).await;
    assert_eq!(joined["conversation_id"], conversation, "{joined}");

    // `[#n]` from the same customer threads; from someone else it starts a new conversation.
    let numbered = mail(
        "ann@example.com",
        &format!("Still burning [#{conversation}]"),
        "a2@example.com",
        "",
        "Any news?",
    );
    assert_eq!(
        deliver(&app, &inbox, &numbered).await["conversation_id"],
        conversation
    );
    let stranger = mail(
        "mallory@example.net",
        &format!("Re: Printer [#{conversation}]"),
        "m1@example.net",
        "",
        "Let me in",
    );
    let apart = deliver(&app, &inbox, &stranger).await;
    assert_ne!(apart["conversation_id"], conversation, "{apart}");
    // A Message-ID in our domain we did not sign is somebody else's: no threading on it.
    let forged = mail(
        "mallory@example.net",
        "Re: hello",
        "m2@example.net",
        "In-Reply-To: <3132.00112233445566778899aabbccddeeff@acme.example>\r\n",
        "Forged",
    );
    let forged = deliver(&app, &inbox, &forged).await;
    assert_ne!(forged["conversation_id"], conversation, "{forged}");

    // An agent replies: the mail carries a signed Message-ID and a reply address.
    let sent_id = reply(&app, &admin, &conversation, "We are on it.").await;
    let shown = sent_or_failed(&app, &admin, &conversation, &sent_id).await;
    assert_eq!(shown["status"], "sent", "{shown}");
    let sent = sink.wait_for(1, Duration::from_secs(10)).await;
    let raw = &sent[0].raw;
    let our_id = header(raw, "Message-ID").expect("Message-ID");
    assert_eq!(
        header(raw, "In-Reply-To").as_deref(),
        Some("<a2@example.com>")
    );
    let references = header(raw, "References").expect("References");
    assert!(references.contains("<a1@example.com>") && references.contains("<b1@example.com>"));
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some(format!("Re: Printer on fire [#{conversation}]").as_str())
    );
    let reply_to = header(raw, "Reply-To").expect("Reply-To");
    assert!(reply_to.contains(&format!("@{REPLY_DOMAIN}")), "{reply_to}");
    let cc = header(raw, "Cc").unwrap_or_default();
    assert!(
        cc.contains("bob@example.com") && cc.contains("carol@example.com"),
        "{cc}"
    );
    let mut envelope = sent[0].recipients.clone();
    envelope.sort();
    assert_eq!(
        envelope,
        ["ann@example.com", "bob@example.com", "carol@example.com"]
    );

    // The customer answers through the reply address only (a client that drops
    // In-Reply-To): the signed token threads it.
    let token_reply = format!(
        "From: ann@example.com\r\nTo: {reply_to}\r\nSubject: thanks\r\nMessage-ID: <a3@example.com>\r\n\r\nThanks!\r\n"
    );
    assert_eq!(
        deliver(&app, &inbox, token_reply.as_bytes()).await["conversation_id"],
        conversation
    );
    // ...or with our Message-ID in In-Reply-To.
    let id_reply = mail(
        "ann@example.com",
        "Re: whatever",
        "a4@example.com",
        &format!("In-Reply-To: {our_id}\r\n"),
        "Works now.\r\n\r\nOn Sun, 6 Dec 2026 at 10:00, Acme Support <support@acme.example> wrote:\r\n> We are on it.",
    );
    let threaded = deliver(&app, &inbox, &id_reply).await;
    assert_eq!(threaded["conversation_id"], conversation);
    let list = messages(&app, &admin, &conversation).await;
    let last = list
        .iter()
        .find(|m| m["external_id"] == "a4@example.com")
        .expect("stored");
    assert_eq!(last["content"], "Works now.", "quote stripped: {last}");
    assert!(
        last["mail"]["full_text"]
            .as_str()
            .unwrap_or_default()
            .contains("We are on it.")
    );

    // Machines: a vacation reply to nothing here starts nothing; one in the thread is kept
    // as automatic and does not reopen the resolved conversation.
    let before = conversations(&app, &admin, &inbox).await.len();
    let vacation = mail(
        "zed@example.org",
        "Out of office",
        "v1@example.org",
        "Auto-Submitted: auto-replied\r\n",
        "Away.",
    );
    let skipped = deliver(&app, &inbox, &vacation).await;
    assert_eq!(skipped["status"], "ignored", "{skipped}");
    assert_eq!(conversations(&app, &admin, &inbox).await.len(), before);
    let response = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let ooo = mail(
        "ann@example.com",
        "Automatic reply: Re: Printer on fire",
        "v2@example.com",
        &format!("In-Reply-To: {our_id}\r\nAuto-Submitted: auto-replied\r\n"),
        "I am away.",
    );
    let kept = deliver(&app, &inbox, &ooo).await;
    assert_eq!(kept["conversation_id"], conversation, "{kept}");
    let shown = app
        .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(
        shown["status"], "resolved",
        "an auto-reply does not reopen: {shown}"
    );
    let list = messages(&app, &admin, &conversation).await;
    let auto = list
        .iter()
        .find(|m| m["external_id"] == "v2@example.com")
        .expect("kept");
    assert!(auto["automatic"].is_string(), "{auto}");

    // A bounce of our reply marks it failed and starts no conversation.
    let bounce = format!(
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\nTo: {ADDRESS}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: text/plain\r\n\r\nI could not deliver your mail.\r\n\
         --R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
         Final-Recipient: rfc822; ann@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n\r\n\
         --R\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {our_id}\r\nSubject: Re: Printer on fire\r\n\r\n--R--\r\n"
    );
    let before = conversations(&app, &admin, &inbox).await.len();
    let applied = deliver(&app, &inbox, bounce.as_bytes()).await;
    assert_eq!(applied["status"], "applied", "{applied}");
    assert_eq!(conversations(&app, &admin, &inbox).await.len(), before);
    let list = messages(&app, &admin, &conversation).await;
    let failed = list
        .iter()
        .find(|m| m["id"] == sent_id.as_str())
        .expect("reply");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("mailbox unavailable")
    );
}

#[actix_web::test]
async fn fixtures_from_real_clients_store_text_and_files_and_machines_start_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "smtp": smtp_settings(&sink)}),
    )
    .await;
    let fixture = |name: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("adapters/email/tests/fixtures")
                .join(name),
        )
        .expect("fixture")
    };
    // (fixture, starts a conversation, text shown contains, files kept)
    let cases: [(&str, bool, &str, usize); 14] = [
        ("gmail_reply.eml", true, "", 0),
        ("outlook_reply.eml", true, "", 0),
        ("apple_mail.eml", true, "", 0),
        ("thunderbird.eml", true, "", 0),
        ("iphone.eml", true, "", 0),
        ("iso_8859_1.eml", true, "", 0),
        ("windows_1252.eml", true, "€", 0),
        ("iso_2022_jp.eml", true, "", 0),
        ("inline_cid_image.eml", true, "", 1),
        ("winmail_dat.eml", true, "winmail.dat", 0),
        ("broken_boundary.eml", true, "", 0),
        ("gmail_vacation.eml", false, "", 0),
        ("exchange_ooo.eml", false, "", 0),
        ("mailing_list.eml", false, "", 0),
    ];
    for (name, starts, shows, files) in cases {
        let stored = deliver(&app, &inbox, &fixture(name)).await;
        if !starts {
            assert_eq!(stored["status"], "ignored", "{name}: {stored}");
            continue;
        }
        let conversation = stored["conversation_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {stored}"));
        let list = messages(&app, &admin, conversation).await;
        let message = list.last().expect("message");
        let content = message["content"].as_str().unwrap_or_default();
        assert!(
            !content.trim().is_empty() || files > 0,
            "{name}: empty text"
        );
        assert!(content.contains(shows), "{name}: {content}");
        assert!(!content.contains("\n>"), "{name}: quote left in {content}");
        let kept = message["attachments"].as_array().map_or(0, Vec::len);
        assert!(kept >= files, "{name}: {kept} files, {message}");
    }
    // Bounces of mail this inbox never sent start nothing either.
    for name in [
        "dsn_bounce.eml",
        "gmail_bounce_no_dsn.eml",
        "office365_ndr.eml",
    ] {
        let stored = deliver(&app, &inbox, &fixture(name)).await;
        assert_eq!(stored["status"], "ignored", "{name}: {stored}");
    }
    // The inline image is a file of the message, named by its Content-ID for the HTML view.
    let stored = deliver(&app, &inbox, &fixture("inline_cid_image.eml")).await;
    assert_eq!(stored["duplicate"], true);
    // HTML with scripts and trackers: sanitized, remote images listed, not loaded.
    let stored = deliver(&app, &inbox, &fixture("html_script_tracking.eml")).await;
    let conversation = stored["conversation_id"].as_str().expect("conversation");
    let list = messages(&app, &admin, conversation).await;
    let html = list[0]["mail"]["html"].as_str().unwrap_or_default();
    assert!(
        !html.contains("<script") && !html.contains("onload"),
        "{html}"
    );
    assert!(
        list[0]["mail"]["remote_images"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
}

#[actix_web::test]
async fn oversized_parts_are_noted_and_cid_images_kept() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "smtp": smtp_settings(&sink)}),
    )
    .await;
    // 26 MB of attachment (beyond the 25 MiB file limit) next to an inline PNG.
    let png: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0,
        0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    use base64::Engine;
    let b64 = |data: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(data);
        text.as_bytes()
            .chunks(76)
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let big = vec![b'x'; 26 * 1024 * 1024];
    let raw = format!(
        "From: ann@example.com\r\nTo: {ADDRESS}\r\nSubject: Logs\r\nMessage-ID: <big@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
         --M\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src=\"cid:shot@x\"> and the log.</p>\r\n\
         --R\r\nContent-Type: image/png\r\nContent-ID: <shot@x>\r\nContent-Disposition: inline; filename=\"shot.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--R--\r\n\
         --M\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"huge.log\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--M--\r\n",
        b64(png),
        b64(&big)
    );
    let stored = deliver(&app, &inbox, raw.as_bytes()).await;
    let conversation = stored["conversation_id"].as_str().expect("conversation");
    let list = messages(&app, &admin, conversation).await;
    let message = &list[0];
    let content = message["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("huge.log") && content.contains("not stored"),
        "{content}"
    );
    let files = message["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(files.len(), 1, "{message}");
    assert_eq!(
        message["mail"]["content_ids"],
        json!(["shot@x"]),
        "{message}"
    );
}

#[actix_web::test]
async fn replies_retry_on_4xx_and_fail_on_5xx_with_the_servers_words() {
    let app = spawn_app_with(|env| {
        env.insert("SWITCHBOARD_OUTBOUND_RETRY_BASE_MS".into(), "100".into());
    })
    .await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "smtp": smtp_settings(&sink)}),
    )
    .await;
    for (customer, expected) in [
        ("reject@example.com", "failed"),
        ("temp-fail@example.com", "queued"),
    ] {
        let stored = deliver(
            &app,
            &inbox,
            &mail(customer, "hi", &format!("{customer}.1"), "", "hello"),
        )
        .await;
        let conversation = stored["conversation_id"]
            .as_str()
            .expect("conversation")
            .to_owned();
        let sent = reply(&app, &admin, &conversation, "Answer").await;
        let list = eventually(
            &app,
            &admin,
            &format!("/api/v1/conversations/{conversation}/messages"),
            |m| {
                m["data"].as_array().is_some_and(|list| {
                    list.iter().any(|m| {
                        m["id"] == sent.as_str()
                            && m["status"] == expected
                            && m["error"].is_object()
                    })
                })
            },
        )
        .await;
        let message = list["data"]
            .as_array()
            .and_then(|l| l.iter().find(|m| m["id"] == sent.as_str()).cloned())
            .expect("reply");
        let reason = message["error"]["reason"].as_str().unwrap_or_default();
        if expected == "failed" {
            assert!(reason.contains("user unknown"), "{message}");
            assert_eq!(message["error"]["code"], "550", "{message}");
        } else {
            assert!(reason.contains("try again later"), "{message}");
        }
    }
}

#[actix_web::test]
async fn a_customer_answer_to_an_agent_mail_arrives_through_imap_in_the_same_conversation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let dovecot = Dovecot::start();
    let first = mail(
        "Jane <jane@example.com>",
        "Order 1234 missing",
        "j1@example.com",
        "",
        "Where is my order?",
    );
    let uid = dovecot.append(crate::dovecot::USER, &first);
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "reply_domain": REPLY_DOMAIN,
               "smtp": smtp_settings(&sink), "imap": imap_settings(&dovecot)}),
    )
    .await;
    let list = eventually(
        &app,
        &admin,
        &format!(
            "/api/v1/conversations?inbox_id={}&status=open,pending,snoozed,resolved,closed",
            inbox.id
        ),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let conversation = list["data"][0]["id"].as_str().expect("id").to_owned();
    // Marked \Seen only after it was stored (on the next round).
    for _ in 0..200 {
        if dovecot.flags(crate::dovecot::USER, uid).contains("\\Seen") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dovecot.flags(crate::dovecot::USER, uid).contains("\\Seen"));

    let sent_id = reply(&app, &admin, &conversation, "It ships today.").await;
    let shown = sent_or_failed(&app, &admin, &conversation, &sent_id).await;
    assert_eq!(shown["status"], "sent", "{shown}");
    let sent = sink.wait_for(1, Duration::from_secs(10)).await;
    let our_id = header(&sent[0].raw, "Message-ID").expect("Message-ID");
    // Jane's client answers our mail; it lands in the mailbox the hub reads.
    let answer = mail(
        "Jane <jane@example.com>",
        "Re: Order 1234 missing",
        "j2@example.com",
        &format!("In-Reply-To: {our_id}\r\nReferences: <j1@example.com> {our_id}\r\n"),
        "Great, thanks!\r\n\r\n> It ships today.",
    );
    dovecot.append(crate::dovecot::USER, &answer);
    let list = arrived(&app, &admin, &conversation, "j2@example.com").await;
    let answered = list
        .iter()
        .find(|m| m["external_id"] == "j2@example.com")
        .expect("answer");
    assert_eq!(answered["content"], "Great, thanks!");
    let all = conversations(&app, &admin, &inbox).await;
    assert_eq!(all.len(), 1, "one conversation: {all:?}");

    // A restart neither loses nor repeats: the cursor was saved after the store.
    let app = app.restart().await;
    let admin = app.admin_token().await;
    dovecot.append(
        crate::dovecot::USER,
        &mail(
            "jane@example.com",
            "Re: Order 1234 missing",
            "j3@example.com",
            &format!("In-Reply-To: {our_id}\r\n"),
            "One more thing.",
        ),
    );
    let list = arrived(&app, &admin, &conversation, "j3@example.com").await;
    let inbound = list.iter().filter(|m| m["direction"] == "inbound").count();
    assert_eq!(inbound, 3, "each mail once: {list:?}");
}

#[actix_web::test]
async fn a_reply_carries_its_files_as_mime_attachments() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "smtp": smtp_settings(&sink)}),
    )
    .await;
    let stored = deliver(
        &app,
        &inbox,
        &mail(
            "ann@example.com",
            "Invoice?",
            "inv1@example.com",
            "",
            "Send the invoice please",
        ),
    )
    .await;
    let conversation = stored["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    // With the binary comment line real PDFs start with, so the part goes out base64.
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec();
    let file =
        crate::attachments::upload_one(&app, &admin, &conversation, "invoice.pdf", pdf.clone())
            .await;
    let response = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"content": "Here it is.", "attachment_ids": [file["id"]]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("reply");
    let id = body["id"].as_str().expect("id");
    let shown = sent_or_failed(&app, &admin, &conversation, id).await;
    assert_eq!(shown["status"], "sent", "{shown}");
    let sent = sink.wait_for(1, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&sent[0].raw).replace("\r\n", "\n");
    assert!(text.contains("filename=\"invoice.pdf\""), "{text}");
    assert!(text.contains("Content-Type: application/pdf"), "{text}");
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    assert!(
        text.replace('\n', "").contains(&encoded),
        "the file's bytes, base64: {text}"
    );
    assert!(
        text.contains("multipart/alternative"),
        "text and HTML: {text}"
    );
}

/// Satisfaction surveys by email (issue #19): resolving mails the question in the
/// conversation's thread (a reply to its subject, marked automatic so out-of-office replies
/// stay quiet) with a link per answer to the hub's signed rating page; the customer's click
/// opens the page with that answer chosen, and sending it records the answer.
#[actix_web::test]
async fn a_resolved_mail_conversation_links_to_the_rating_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let inbox = create_inbox(
        &app,
        &admin,
        json!({"address": ADDRESS, "reply_domain": REPLY_DOMAIN, "smtp": smtp_settings(&sink),
               "csat_enabled": true, "csat_scale": "thumbs", "csat_question": "Did we solve it?"}),
    )
    .await;
    let stored = deliver(
        &app,
        &inbox,
        &mail(
            "Ann Example <ann@example.com>",
            "Printer jammed",
            "jam1@example.com",
            "",
            "It jams on every page.",
        ),
    )
    .await;
    let conversation = stored["conversation_id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/conversations/{conversation}");
    let resolved = app
        .api(
            &admin,
            Method::POST,
            &format!("{path}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);

    let sent = sink.wait_for(1, Duration::from_secs(15)).await;
    let raw = &sent[0].raw;
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some(format!("Re: Printer jammed [#{conversation}]").as_str())
    );
    assert_eq!(
        header(raw, "In-Reply-To").as_deref(),
        Some("<jam1@example.com>")
    );
    assert_eq!(
        header(raw, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let mail = switchboard_email::parse(raw, &switchboard_email::ParseOptions::default());
    assert!(
        mail.full_text.starts_with("Did we solve it?"),
        "{}",
        mail.full_text
    );
    let down = mail
        .full_text
        .lines()
        .find_map(|line| line.strip_prefix("👎 Not really: "))
        .expect("a link per answer")
        .trim()
        .to_owned();
    assert!(down.ends_with("?rating=1"), "{down}");
    assert!(
        mail.full_text.contains("👍 Yes, thanks: "),
        "{}",
        mail.full_text
    );
    let html = mail.html.unwrap_or_default();
    assert!(html.contains("Not really"), "{html}");

    // The customer clicks "Not really": the page opens with it chosen, nothing recorded yet.
    let opened = app.client.get(&down).send().await.expect("page");
    assert_eq!(opened.status(), StatusCode::OK);
    let page = opened.text().await.expect("html");
    assert!(page.contains("Did we solve it?"), "{page}");
    assert!(
        page.contains("value=\"1\" data-testid=\"survey-rating-1\" required checked"),
        "{page}"
    );
    assert_eq!(app.get_json(&admin, &path).await["csat"], Value::Null);
    let form = down.split('?').next().expect("page path").to_owned();
    let taken = app
        .client
        .post(&form)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("rating=1&comment=Still+jams")
        .send()
        .await
        .expect("send");
    assert_eq!(taken.status(), StatusCode::OK);
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["csat"]["rating"], 1, "{shown}");
    assert_eq!(shown["csat"]["comment"], "Still jams", "{shown}");
    let activity = app
        .get_json(&admin, &format!("{path}/activity"))
        .await
        .to_string();
    assert!(
        activity.contains("The customer gave this a thumbs down: \u{201c}Still jams\u{201d}"),
        "{activity}"
    );
}
