//! The SMTP sender against a real receiver (aiosmtpd, tests/servers/smtp_sink.py): the
//! login check, a rendered reply delivered byte for byte with its envelope, and 4xx/5xx
//! answers, dead servers and TLS mismatches told apart with the server's words.

#[path = "servers/smtp_sink.rs"]
mod smtp_sink;

use std::path::PathBuf;
use std::time::Duration;

use smtp_sink::SmtpSink;
use switchboard_email::inbound::Mailbox;
use switchboard_email::outbound::{ReplyMail, message_id, render_reply};
use switchboard_email::smtp::{CheckError, SendError, SmtpSender, SmtpSettings, Tls, check};

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/python3")
}

fn settings(sink: &SmtpSink) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls: Tls::None,
        username: Some(sink.user().into()),
        password: Some(sink.password().into()),
        hello_name: None,
    }
}

fn reply_id() -> String {
    message_id(b"key", "7", "acme.example")
}

fn reply(to: &str) -> Vec<u8> {
    render_reply(&ReplyMail {
        from: Mailbox {
            address: "support@acme.example".into(),
            name: Some("Acme Support".into()),
        },
        to: vec![Mailbox {
            address: to.into(),
            name: None,
        }],
        subject: "Printer on fire".into(),
        subject_number: Some(42),
        text: "We are on it.".into(),
        in_reply_to: Some("a1@example.com".into()),
        references: vec!["a1@example.com".into()],
        message_id: reply_id(),
        ..ReplyMail::default()
    })
    .expect("renders")
}

#[tokio::test(flavor = "multi_thread")]
async fn check_tells_a_refused_login_from_no_server() {
    let sink = SmtpSink::start(&python());
    check(&settings(&sink)).await.expect("logs in");
    let mut wrong = settings(&sink);
    wrong.password = Some("nope".into());
    match check(&wrong).await {
        Err(CheckError::Refused(words)) => assert!(words.contains("535"), "{words}"),
        other => panic!("{other:?}"),
    }
    let mut gone = settings(&sink);
    gone.port = closed_port();
    assert!(matches!(
        check(&gone).await,
        Err(CheckError::Unreachable(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_tells_a_missing_starttls_from_a_tls_mismatch() {
    let sink = SmtpSink::start(&python());
    // The sink speaks plain text only: STARTTLS is a setting to change...
    let mut starttls = settings(&sink);
    starttls.tls = Tls::StartTls;
    match check(&starttls).await {
        Err(CheckError::Refused(words)) => assert!(words.contains("STARTTLS"), "{words}"),
        other => panic!("{other:?}"),
    }
    // ...while a TLS handshake with a plain-text greeting is no server to talk to.
    let mut implicit = settings(&sink);
    implicit.tls = Tls::Implicit;
    assert!(matches!(
        check(&implicit).await,
        Err(CheckError::Unreachable(_))
    ));
}

/// A port nothing listens on (freed just before use).
fn closed_port() -> u16 {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    closed.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_arrives_as_rendered_and_refusals_say_whether_to_retry() {
    let sink = SmtpSink::start(&python());
    let sender = SmtpSender::new(settings(&sink)).expect("sender");
    let raw = reply("ann@example.com");
    sender
        .send(
            "support@acme.example",
            &["ann@example.com".into(), "bob@example.com".into()],
            &raw,
        )
        .await
        .expect("sent");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].from, "support@acme.example");
    assert_eq!(got[0].recipients, ["ann@example.com", "bob@example.com"]);
    let text = String::from_utf8_lossy(&got[0].raw);
    assert!(
        text.contains(&format!("Message-ID: {}", reply_id())),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <a1@example.com>"), "{text}");
    assert!(
        text.contains("Subject: Re: Printer on fire [#42]"),
        "{text}"
    );
    // The bytes as rendered (SMTP ends the data with a line break if it had none).
    assert!(
        got[0].raw.starts_with(raw.trim_ascii_end()),
        "the bytes as rendered"
    );

    match sender
        .send(
            "support@acme.example",
            &["temp-fail@example.com".into()],
            &raw,
        )
        .await
    {
        Err(SendError::Transient { code, reason }) => {
            assert_eq!(code, Some(451));
            assert!(reason.contains("try again later"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match sender
        .send("support@acme.example", &["reject@example.com".into()], &raw)
        .await
    {
        Err(SendError::Permanent { code, reason }) => {
            assert_eq!(code, Some(550));
            assert!(reason.contains("user unknown"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // An internationalized address goes out with SMTPUTF8, which the sink offers.
    sender
        .send("support@acme.example", &["jörg@example.com".into()], &raw)
        .await
        .expect("sent with SMTPUTF8");
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].recipients, ["jörg@example.com"]);

    // Refused before asking: the sink has no STARTTLS, and retrying will not give it one.
    let mut starttls = settings(&sink);
    starttls.tls = Tls::StartTls;
    match SmtpSender::new(starttls)
        .expect("sender")
        .send("support@acme.example", &["ann@example.com".into()], &raw)
        .await
    {
        Err(SendError::Permanent { code: None, reason }) => {
            assert!(reason.contains("STARTTLS"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let mut gone = settings(&sink);
    gone.port = closed_port();
    let mut mismatch = settings(&sink);
    mismatch.tls = Tls::Implicit;
    for unreachable in [gone, mismatch] {
        let sender = SmtpSender::new(unreachable).expect("sender");
        assert!(matches!(
            sender
                .send("support@acme.example", &["ann@example.com".into()], &raw)
                .await,
            Err(SendError::Transient { code: None, .. })
        ));
    }
}
