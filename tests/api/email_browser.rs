//! Email in headless Chromium: an admin creates an email inbox through the form (the hub
//! logs in to a real SMTP receiver before saving) and sees the Postfix snippet; an agent
//! reads an HTML mail with a script, a tracking pixel and an inline `cid:` image: the text
//! shows quote-stripped, the full text one click away, the HTML in a frame without scripts
//! with the inline image from the stored file, remote images only on request.

use std::path::PathBuf;

use serde_json::json;

use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use crate::inbox_browser::{click, shown, visit};
use crate::smtp_sink::SmtpSink;
use crate::whatsapp_browser::{fill, sign_in};

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3")
}

/// An HTML mail with an inline PNG by Content-ID, a remote tracking pixel and a script.
fn html_mail() -> String {
    // A 1×1 PNG.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    format!(
        "From: Jane Doe <jane@example.com>\r\nTo: support@acme.example\r\nCc: Bob <bob@example.com>\r\n\
         Subject: Screenshot of the error\r\nMessage-ID: <html1@example.com>\r\n\
         Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/related; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
         --A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The app shows this error.\r\n\r\nOn Sat, 5 Dec 2026 at 09:00, Acme Support <support@acme.example> wrote:\r\n> Please send a screenshot.\r\n\
         --A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><p>The app shows <b>this error</b>:</p><img src=\"cid:shot@example.com\" alt=\"screenshot\">\
         <img src=\"https://tracker.example/pixel.gif\" width=1 height=1><script>alert('x')</script>\
         <p onclick=\"steal()\">Thanks</p></body></html>\r\n--A--\r\n\
         --R\r\nContent-Type: image/png; name=\"shot.png\"\r\nContent-ID: <shot@example.com>\r\n\
         Content-Disposition: inline; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--R--\r\n"
    )
}

#[actix_web::test]
async fn an_admin_creates_an_email_inbox_and_an_agent_reads_an_html_mail_safely() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let chrome = Chrome::start(1280, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The form: address, then the SMTP server the hub checks before saving.
    visit(&chrome, &app, "/admin/inboxes/new", "inbox-name").await;
    fill(&chrome, "[data-testid=inbox-name]", "Support mail").await;
    fill(&chrome, "[data-testid=inbox-type]", "email").await;
    chrome
        .wait_until("the email fields", &shown("setting-address"))
        .await;
    fill(
        &chrome,
        "[data-testid=setting-address]",
        "support@acme.example",
    )
    .await;
    fill(
        &chrome,
        "[data-testid=setting-display_name]",
        "Acme Support",
    )
    .await;
    fill(&chrome, "[data-testid=setting-smtp-host]", "127.0.0.1").await;
    fill(&chrome, "[data-testid=setting-smtp-tls]", "none").await;
    fill(
        &chrome,
        "[data-testid=setting-smtp-port]",
        &sink.port().to_string(),
    )
    .await;
    fill(&chrome, "[data-testid=setting-smtp-username]", sink.user()).await;
    // A wrong password first: the server's words show, nothing is created.
    fill(&chrome, "[data-testid=setting-smtp-password]", "wrong").await;
    click(&chrome, "[data-testid=inbox-create]").await;
    chrome
        .wait_until(
            "the SMTP refusal",
            "const e = document.querySelector('[data-testid=inbox-error]'); return !!e && e.textContent.includes('535');",
        )
        .await;
    chrome.screenshot("email-admin-refused").await;
    fill(
        &chrome,
        "[data-testid=setting-smtp-password]",
        sink.password(),
    )
    .await;
    click(&chrome, "[data-testid=inbox-create]").await;
    chrome
        .wait_until("the created inbox", &shown("inbox-created"))
        .await;
    chrome
        .wait_until("the Postfix snippet", &shown("email-postfix"))
        .await;
    let secret = chrome
        .js("return document.querySelector('[data-testid=inbox-secret]').textContent;")
        .await;
    let secret = secret.as_str().unwrap_or_default().trim().to_owned();
    let postfix = chrome
        .js("return document.querySelector('[data-testid=email-postfix]').textContent;")
        .await;
    assert!(
        postfix.as_str().unwrap_or_default().contains(&secret),
        "{postfix}"
    );
    chrome.screenshot("email-admin-created").await;
    let id = chrome
        .js("return document.querySelector('[data-testid=inbox-created]').dataset.id;")
        .await;
    let id = id.as_str().expect("inbox id").to_owned();
    let inbox = app.get_json(&admin, &format!("/api/v1/inboxes/{id}")).await;
    assert_eq!(inbox["settings"]["smtp"]["host"], "127.0.0.1", "{inbox}");
    assert!(
        !inbox.to_string().contains(sink.password()),
        "password masked: {inbox}"
    );

    // A customer's HTML mail arrives by the raw-MIME webhook.
    let response = app
        .client
        .post(inbox["webhook_url"].as_str().expect("url"))
        .bearer_auth(&secret)
        .body(html_mail())
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 200);

    visit(&chrome, &app, "/", "conversation-row").await;
    click(&chrome, "[data-testid=conversation-row]").await;
    chrome
        .wait_until(
            "the mail",
            "return Array.from(document.querySelectorAll('[data-testid=message]')).some(m => m.textContent.includes('The app shows this error.'));",
        )
        .await;
    let subject = chrome
        .js("const e = document.querySelector('[data-testid=conv-subject]'); return e ? e.textContent : null;")
        .await;
    assert_eq!(subject, json!("Screenshot of the error"));
    let content = chrome
        .js("return document.querySelector('[data-testid=message] .content').textContent;")
        .await;
    assert_eq!(
        content,
        json!("The app shows this error."),
        "quote stripped"
    );
    let addressees = chrome
        .js("return document.querySelector('[data-testid=mail-addressees]').textContent;")
        .await;
    assert!(
        addressees
            .as_str()
            .unwrap_or_default()
            .contains("bob@example.com"),
        "{addressees}"
    );
    let mail_to = chrome
        .js("const e = document.querySelector('[data-testid=mail-to]'); return e && !e.hidden ? e.textContent : null;")
        .await;
    assert!(
        mail_to
            .as_str()
            .unwrap_or_default()
            .contains("Cc Bob <bob@example.com>"),
        "{mail_to}"
    );

    // The full text, one click away.
    click(&chrome, "[data-testid=mail-full-toggle]").await;
    let full = chrome
        .js("return document.querySelector('[data-testid=message] .content').textContent;")
        .await;
    assert!(
        full.as_str()
            .unwrap_or_default()
            .contains("Please send a screenshot."),
        "{full}"
    );

    // The HTML: a frame without scripts, the inline image from the stored file, no remote load.
    click(&chrome, "[data-testid=mail-html-toggle]").await;
    chrome
        .wait_until("the HTML frame", &shown("mail-html"))
        .await;
    let frame = chrome
        .js(
            "const f = document.querySelector('[data-testid=mail-html]'); \
             return {sandbox: f.getAttribute('sandbox'), doc: f.srcdoc};",
        )
        .await;
    let sandbox = frame["sandbox"].as_str().expect("a sandboxed frame");
    assert!(
        !sandbox.contains("allow-scripts") && !sandbox.contains("allow-forms"),
        "{frame}"
    );
    // The inline image loaded from the stored file.
    chrome
        .wait_until(
            "the inline image",
            "const d = document.querySelector('[data-testid=mail-html]').contentDocument;              const i = d && d.querySelector('img'); return !!i && i.complete && i.naturalWidth > 0;",
        )
        .await;
    let doc = frame["doc"].as_str().unwrap_or_default();
    assert!(
        !doc.contains("<script") && !doc.contains("onclick"),
        "{doc}"
    );
    assert!(
        !doc.contains("tracker.example"),
        "remote image left out: {doc}"
    );
    assert!(!doc.contains("cid:"), "cid replaced: {doc}");
    let list = app
        .get_json(&admin, &format!("/api/v1/conversations?inbox_id={id}"))
        .await;
    let conversation = list["data"][0]["id"].as_str().expect("conversation");
    let messages = app
        .get_json(
            &admin,
            &format!("/api/v1/conversations/{conversation}/messages"),
        )
        .await;
    let url = messages["data"][0]["attachments"][0]["url"]
        .as_str()
        .expect("the inline image is stored");
    let path = url.split('?').next().unwrap_or(url);
    assert!(
        doc.contains(path),
        "the inline image is the stored file {path}: {doc}"
    );
    let remote_before = chrome
        .js("return document.querySelectorAll('img.remote-image').length;")
        .await;
    assert_eq!(remote_before, json!(0), "nothing remote before the click");
    chrome
        .js("document.querySelector('[data-testid=mail-html]').scrollIntoView({block: 'center'}); return true;")
        .await;
    chrome.screenshot("email-agent-html").await;
    click(&chrome, "[data-testid=remote-images-load]").await;
    let remote_after = chrome
        .js("return Array.from(document.querySelectorAll('img.remote-image')).map(i => i.getAttribute('src'));")
        .await;
    assert_eq!(remote_after, json!(["https://tracker.example/pixel.gif"]));

    // Phone width.
    chrome
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone window");
    chrome.screenshot("email-agent-phone").await;
    chrome.close().await;
}
