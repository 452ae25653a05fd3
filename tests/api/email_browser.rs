//! Email in headless Chromium: an admin creates an email inbox through the form (the hub
//! logs in to a real SMTP receiver before saving; a wrong password shows the server's words
//! next to the SMTP section) and finds the Postfix snippet, the settings with the password
//! masked, and edits them; an agent reads an HTML mail with a script, a tracking pixel and
//! an inline `cid:` image: the text shows quote-stripped, the full text one click away, the
//! HTML in a frame without scripts under its own policy, with the inline image from the
//! stored file and its inline styles, remote images only on request (a listener counts
//! every attempt to fetch one); an out-of-office reply shows as automatic; the line above the
//! composer names who a reply goes to, and the reply the SMTP receiver gets goes there.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use crate::inbox_browser::{click, shown, visit};
use crate::smtp_sink::SmtpSink;
use crate::whatsapp_browser::{fill, sign_in};

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3")
}

/// A "remote image server": counts every connection (the browser would speak TLS to it;
/// reaching it at all is what a tracking pixel needs).
struct Tracker {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Tracker {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tracker port");
        let port = listener.local_addr().expect("tracker address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, hits }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/pixel.gif", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An HTML mail with an inline PNG by Content-ID, a remote tracking pixel, a script and
/// inline styles.
fn html_mail(tracker: &str) -> String {
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
         <html><body><p>The app shows <b>this error</b>:</p><img src=\"cid:shot@example.com\" alt=\"screenshot\" width=\"40\" height=\"40\">\
         <img src=\"{tracker}\" width=1 height=1><script>alert('x')</script>\
         <p style=\"color: rgb(200, 0, 0)\" onclick=\"steal()\">Thanks</p></body></html>\r\n--A--\r\n\
         --R\r\nContent-Type: image/png; name=\"shot.png\"\r\nContent-ID: <shot@example.com>\r\n\
         Content-Disposition: inline; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--R--\r\n"
    )
}

/// Bob's out-of-office reply to the customer's mail (it threads by In-Reply-To).
fn out_of_office() -> &'static str {
    "From: Bob <bob@example.com>\r\nTo: support@acme.example\r\n\
     Subject: Out of office: Screenshot of the error\r\nMessage-ID: <ooo1@example.com>\r\n\
     In-Reply-To: <html1@example.com>\r\nReferences: <html1@example.com>\r\n\
     Auto-Submitted: auto-replied\r\nDate: Sun, 06 Dec 2026 10:01:00 +0000\r\n\
     Content-Type: text/plain; charset=utf-8\r\n\r\nI am away until Monday.\r\n"
}

async fn text(chrome: &Chrome, script: &str) -> String {
    chrome
        .js(script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn an_admin_creates_an_email_inbox_and_an_agent_reads_an_html_mail_safely() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let sink = SmtpSink::start(&python());
    let tracker = Tracker::start();
    let chrome = Chrome::start(1280, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The form: address, then the SMTP server the hub checks before saving; IMAP stays off.
    visit(&chrome, &app, "/admin/inboxes/new", "inbox-name").await;
    fill(&chrome, "[data-testid=inbox-name]", "Support mail").await;
    fill(&chrome, "[data-testid=inbox-type]", "email").await;
    chrome
        .wait_until("the email fields", &shown("setting-address"))
        .await;
    assert_eq!(
        chrome
            .js("return document.querySelector('[data-testid=setting-smtp-port]').value;")
            .await,
        json!("587"),
        "STARTTLS's port prefilled"
    );
    assert_eq!(
        chrome.js(&shown("setting-imap-host")).await,
        json!(false),
        "IMAP is optional and off"
    );
    click(&chrome, "[data-testid=setting-imap-enabled]").await;
    assert_eq!(
        chrome
            .js("return document.querySelector('[data-testid=setting-imap-port]').value;")
            .await,
        json!("993"),
        "IMAP over TLS's port prefilled"
    );
    click(&chrome, "[data-testid=setting-imap-enabled]").await;
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
    assert_eq!(
        chrome
            .js("return document.querySelector('[data-testid=setting-smtp-port]').value;")
            .await,
        json!("25"),
        "the port follows the encryption"
    );
    fill(
        &chrome,
        "[data-testid=setting-smtp-port]",
        &sink.port().to_string(),
    )
    .await;
    fill(&chrome, "[data-testid=setting-smtp-username]", sink.user()).await;
    // A wrong password first: the server's words show next to the SMTP section, nothing is
    // created.
    fill(&chrome, "[data-testid=setting-smtp-password]", "wrong").await;
    click(&chrome, "[data-testid=inbox-create]").await;
    chrome
        .wait_until(
            "the SMTP refusal",
            "const e = document.querySelector('[data-testid=setting-smtp-error]'); return !!e && e.textContent.includes('535');",
        )
        .await;
    let refusal = text(
        &chrome,
        "return document.querySelector('[data-testid=inbox-error]').textContent;",
    )
    .await;
    // In plain words: the section's name, not the API's field path.
    assert!(refusal.starts_with("SMTP server: "), "{refusal}");
    assert_eq!(
        text(
            &chrome,
            "return document.querySelector('[data-testid=setting-imap-error]').textContent;"
        )
        .await,
        "",
        "nothing next to IMAP"
    );
    chrome
        .js("document.querySelector('[data-testid=server-smtp]').scrollIntoView({block: 'center'}); return true;")
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
    let secret = text(
        &chrome,
        "return document.querySelector('[data-testid=inbox-secret]').textContent;",
    )
    .await
    .trim()
    .to_owned();
    let postfix = text(
        &chrome,
        "return document.querySelector('[data-testid=email-postfix]').textContent;",
    )
    .await;
    assert!(
        postfix.contains(&format!("-H 'Authorization: Bearer {secret}'"))
            && postfix.contains("--data-binary @-")
            && postfix.contains("|| exit 75")
            && postfix.contains("support@acme.example switchboard:"),
        "{postfix}"
    );
    chrome.screenshot("email-admin-created").await;
    let id = chrome
        .js("return document.querySelector('[data-testid=inbox-created]').dataset.id;")
        .await;
    let id = id.as_str().expect("inbox id").to_owned();
    let inbox = app.get_json(&admin, &format!("/api/v1/inboxes/{id}")).await;
    assert_eq!(inbox["settings"]["smtp"]["host"], "127.0.0.1", "{inbox}");
    assert!(inbox["settings"].get("imap").is_none(), "{inbox}");
    assert!(
        !inbox.to_string().contains(sink.password()),
        "password masked: {inbox}"
    );
    let webhook = inbox["webhook_url"].as_str().expect("url").to_owned();
    assert!(postfix.contains(&webhook), "{postfix}");

    // The inbox's page: the settings with the password masked, the webhook, and an edit
    // that keeps the stored password (the hub logs in again with it).
    visit(&chrome, &app, &format!("/admin/inboxes/{id}"), "email-smtp").await;
    chrome.screenshot("email-admin-inbox").await;
    let smtp = text(
        &chrome,
        "return document.querySelector('[data-testid=email-smtp]').textContent;",
    )
    .await;
    assert!(
        smtp.contains(&format!("127.0.0.1:{}", sink.port())) && smtp.contains("…"),
        "{smtp}"
    );
    assert!(!smtp.contains(sink.password()), "{smtp}");
    assert!(
        text(
            &chrome,
            "return document.querySelector('[data-testid=email-postfix]').textContent;"
        )
        .await
        .contains("PASTE-THE-INBOX-SECRET"),
        "the secret is not shown again"
    );
    assert_eq!(
        chrome
            .js("return document.querySelector('[data-testid=setting-smtp-password]').value;")
            .await,
        json!(""),
    );
    fill(
        &chrome,
        "[data-testid=setting-display_name]",
        "Acme Customer Care",
    )
    .await;
    // Another host name for the same server: the SMTP object changes, so the hub logs in
    // again, with the stored password (the field stays empty).
    fill(&chrome, "[data-testid=setting-smtp-host]", "localhost").await;
    click(&chrome, "[data-testid=inbox-save]").await;
    chrome
        .wait_until(
            "the saved settings",
            "const e = document.querySelector('[data-testid=email-address]'); return !!e && e.textContent.includes('Acme Customer Care');",
        )
        .await;
    let inbox = app.get_json(&admin, &format!("/api/v1/inboxes/{id}")).await;
    assert_eq!(inbox["settings"]["display_name"], "Acme Customer Care");
    assert_eq!(inbox["settings"]["smtp"]["host"], "localhost", "{inbox}");
    assert_eq!(inbox["settings"]["smtp"]["port"], json!(sink.port()));
    chrome
        .js("document.querySelector('[data-testid=email-mta]').scrollIntoView({block: 'start'}); return true;")
        .await;
    chrome.screenshot("email-admin-postfix").await;

    // A customer's HTML mail arrives by the raw-MIME webhook, then Bob's out-of-office.
    for mail in [html_mail(&tracker.url()), out_of_office().to_owned()] {
        let response = app
            .client
            .post(&webhook)
            .bearer_auth(&secret)
            .body(mail)
            .send()
            .await
            .expect("webhook");
        assert_eq!(response.status(), 200);
    }

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
    let addressees = text(
        &chrome,
        "return document.querySelector('[data-testid=mail-addressees]').textContent;",
    )
    .await;
    assert_eq!(addressees, "Cc: Bob <bob@example.com>");

    // The out-of-office reply: muted, badged, its reason as the tooltip.
    chrome
        .wait_until("the automatic reply", &shown("automatic-badge"))
        .await;
    let automatic = chrome
        .js(
            "const m = document.querySelector('[data-testid=message][data-automatic=true]'); \
             return {text: m.querySelector('.content').textContent, \
                     sender: m.querySelector('.sender').textContent, \
                     title: m.querySelector('[data-testid=automatic-badge]').title};",
        )
        .await;
    assert_eq!(automatic["text"], "I am away until Monday.", "{automatic}");
    assert_eq!(automatic["sender"], "Bob", "the mail's writer: {automatic}");
    assert!(
        automatic["title"]
            .as_str()
            .unwrap_or_default()
            .contains("auto-replied"),
        "{automatic}"
    );

    // Who a reply goes to.
    chrome
        .wait_until("the recipients line", &shown("mail-to"))
        .await;
    let to = text(
        &chrome,
        "return document.querySelector('[data-testid=mail-to-to]').textContent;",
    )
    .await;
    assert!(to.contains("jane@example.com"), "{to}");
    let cc = text(
        &chrome,
        "return document.querySelector('[data-testid=mail-to-cc]').textContent;",
    )
    .await;
    assert_eq!(cc, "Bob <bob@example.com>");

    // The full text, one click away.
    click(&chrome, "[data-testid=mail-full-toggle]").await;
    let full = text(
        &chrome,
        "return document.querySelector('[data-testid=message] .content').textContent;",
    )
    .await;
    assert!(full.contains("Please send a screenshot."), "{full}");

    // The HTML: a frame without scripts under its own policy, the inline image from the
    // stored file, no remote load.
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
    chrome
        .wait_until(
            "the inline image",
            "const d = document.querySelector('[data-testid=mail-html]').contentDocument; \
             const i = d && d.querySelector('img'); return !!i && i.complete && i.naturalWidth > 0;",
        )
        .await;
    let doc = frame["doc"].as_str().unwrap_or_default();
    assert!(
        !doc.contains("<script") && !doc.contains("onclick"),
        "{doc}"
    );
    assert!(!doc.contains("pixel.gif"), "remote image left out: {doc}");
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
    let url = messages["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|m| m["attachments"][0]["url"].as_str())
        .expect("the inline image is stored");
    let path = url.split('?').next().unwrap_or(url);
    assert!(
        doc.contains(&format!("src=\"{url}\"")),
        "the inline image is the stored file {url}: {doc}"
    );
    // The frame's own policy: nothing but that file and data: images, inline styles.
    let policy = chrome
        .js(
            "const d = document.querySelector('[data-testid=mail-html]').contentDocument; \
             return d.querySelector('meta[http-equiv=Content-Security-Policy]').content;",
        )
        .await;
    let origin = app.url("");
    let origin = origin.trim_end_matches('/');
    assert_eq!(
        policy,
        json!(format!(
            "default-src 'none'; img-src {origin}{path} data:; style-src 'unsafe-inline'"
        ))
    );
    // The mail's inline styles apply (through the CSSOM: the page's policy would block
    // them as markup), and nothing in the frame could run.
    let styled = chrome
        .js(
            "const d = document.querySelector('[data-testid=mail-html]').contentDocument; \
             const p = Array.from(d.querySelectorAll('p')).find(p => p.textContent === 'Thanks'); \
             return d.defaultView.getComputedStyle(p).color;",
        )
        .await;
    assert_eq!(styled, json!("rgb(200, 0, 0)"));
    let height = chrome
        .js("return document.querySelector('[data-testid=mail-html]').getBoundingClientRect().height;")
        .await;
    assert!(
        height.as_f64().is_some_and(|h| h < 300.0),
        "the frame fits the short mail: {height}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tracker.hits(), 0, "nothing remote before the click");
    let remote_before = chrome
        .js("return document.querySelectorAll('[data-testid=remote-image]').length;")
        .await;
    assert_eq!(remote_before, json!(0));
    let offer = text(
        &chrome,
        "return document.querySelector('[data-testid=remote-images-load]').textContent;",
    )
    .await;
    assert_eq!(offer, "Load 1 remote image");
    chrome
        .js("document.querySelector('[data-testid=mail-html]').scrollIntoView({block: 'center'}); return true;")
        .await;
    chrome.screenshot("email-agent-html").await;
    click(&chrome, "[data-testid=remote-images-load]").await;
    let remote_after = chrome
        .js("return Array.from(document.querySelectorAll('[data-testid=remote-image]')).map(i => i.getAttribute('src'));")
        .await;
    assert_eq!(remote_after, json!([tracker.url()]));
    for _ in 0..100 {
        if tracker.hits() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tracker.hits() > 0, "the click loads the remote image");

    // Phone width.
    chrome
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone window");
    chrome
        .js("document.querySelector('[data-testid=mail-html]').scrollIntoView({block: 'start'}); return true;")
        .await;
    chrome.screenshot("email-agent-phone").await;

    // A reply goes where the line said: to the customer, Bob copied.
    chrome
        .client
        .set_window_size(1280, 900)
        .await
        .expect("desktop window");
    chrome
        .js("const box = document.querySelector('[data-testid=composer]'); box.focus(); \
             box.value = 'Thanks, we are on it.'; box.dispatchEvent(new Event('input', {bubbles: true})); \
             return true;")
        .await;
    click(&chrome, "[data-testid=send]").await;
    let sent = sink.wait_for(1, Duration::from_secs(20)).await;
    let mut recipients = sent[0].recipients.clone();
    recipients.sort();
    assert_eq!(recipients, ["bob@example.com", "jane@example.com"]);
    chrome.close().await;
}
