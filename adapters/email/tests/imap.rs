//! The IMAP poller against a real dovecot (tests/servers/dovecot.rs): the login check, unseen
//! mail first, `\Seen` only after the cursor shows the mail stored, IDLE waking on new mail,
//! batches, restarts that neither lose nor repeat, a renumbered folder, and a server that
//! goes away and comes back.

#[path = "servers/dovecot.rs"]
mod dovecot;

use std::time::{Duration, Instant};

use dovecot::{Dovecot, PASSWORD, USER};
use switchboard_email::imap::{
    FetchedMail, ImapPoller, ImapSettings, MailError, Tls, check, split_cursor,
};

fn settings(port: u16, idle_secs: u64) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        username: USER.into(),
        password: PASSWORD.into(),
        folder: "INBOX".into(),
        idle_secs,
    }
}

fn in_folder(port: u16, folder: &str) -> ImapSettings {
    ImapSettings {
        folder: folder.into(),
        ..settings(port, 1)
    }
}

/// A plain customer mail, as an MTA would deliver it.
fn mail(n: u32) -> Vec<u8> {
    format!(
        "Return-Path: <customer{n}@example.com>\r\n\
         From: Customer {n} <customer{n}@example.com>\r\n\
         To: Support <{USER}>\r\n\
         Subject: Order {n} has not arrived\r\n\
         Date: Sat, 05 Dec 2026 10:{n:02}:00 +0000\r\n\
         Message-ID: <order-{n}@example.com>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello, my order {n} is late. Où est-il ?\r\n"
    )
    .into_bytes()
}

/// A multipart mail with an attachment, to see the whole MIME come back byte for byte.
fn mail_with_attachment() -> Vec<u8> {
    b"From: Ana <ana@example.com>\r\n\
      To: support@example.test\r\n\
      Subject: Invoice\r\n\
      Message-ID: <invoice@example.com>\r\n\
      MIME-Version: 1.0\r\n\
      Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
      \r\n\
      --b1\r\n\
      Content-Type: text/plain; charset=us-ascii\r\n\
      \r\n\
      The invoice is attached.\r\n\
      --b1\r\n\
      Content-Type: application/pdf; name=\"invoice.pdf\"\r\n\
      Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
      Content-Transfer-Encoding: base64\r\n\
      \r\n\
      JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n\
      --b1--\r\n"
        .to_vec()
}

fn uids(mails: &[FetchedMail]) -> Vec<u32> {
    mails.iter().map(|m| m.uid).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_tells_a_wrong_password_a_missing_folder_tls_and_no_server_apart() {
    let server = Dovecot::start();
    check(&settings(server.port(), 1)).await.expect("logs in");
    let wrong = ImapSettings {
        password: "nope".into(),
        ..settings(server.port(), 1)
    };
    match check(&wrong).await {
        Err(MailError::Refused(words)) => {
            assert!(words.contains("Authentication failed"), "{words}")
        }
        other => panic!("{other:?}"),
    }
    match check(&in_folder(server.port(), "Nowhere")).await {
        Err(MailError::Refused(words)) => assert!(words.contains("Nowhere"), "{words}"),
        other => panic!("{other:?}"),
    }
    // The test server has no TLS: STARTTLS is refused in its words (never a silent fallback
    // to plain text), and a TLS handshake with it fails as an unreachable server.
    let starttls = ImapSettings {
        tls: Tls::StartTls,
        ..settings(server.port(), 1)
    };
    match check(&starttls).await {
        Err(MailError::Refused(words)) => assert!(words.contains("TLS"), "{words}"),
        other => panic!("{other:?}"),
    }
    let implicit = ImapSettings {
        tls: Tls::Implicit,
        ..settings(server.port(), 1)
    };
    let outcome = check(&implicit).await;
    assert!(
        matches!(outcome, Err(MailError::Unreachable(_))),
        "{outcome:?}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    assert!(matches!(
        check(&settings(port, 1)).await,
        Err(MailError::Unreachable(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn unseen_mail_first_then_seen_only_after_the_cursor_comes_back() {
    let server = Dovecot::start();
    // A mail someone already read stays out of the first round.
    let read = server.append(USER, &mail(1));
    server.mark_seen(USER, read);
    let first = server.append(USER, &mail(2));
    let second = server.append(USER, &mail_with_attachment());
    let poller = ImapPoller::new(settings(server.port(), 1));
    let mails = poller.poll(None).await.expect("first poll");
    assert_eq!(uids(&mails), [first, second], "unseen, oldest first");
    assert_eq!(mails[0].raw, mail(2));
    assert_eq!(mails[1].raw, mail_with_attachment());
    for uid in [first, second] {
        assert!(
            !server.flags(USER, uid).contains("\\Seen"),
            "not yet stored"
        );
    }
    let (validity, uid) = split_cursor(mails[1].cursor);
    assert_eq!(uid, second);
    assert_eq!(split_cursor(mails[0].cursor), (validity, first));
    // The hub stored only the first: only that one is marked, and the second comes again.
    let again = poller.poll(Some(mails[0].cursor)).await.expect("poll");
    assert_eq!(uids(&again), [second]);
    assert!(server.flags(USER, first).contains("\\Seen"));
    assert!(!server.flags(USER, second).contains("\\Seen"));
    // Then both: the next poll marks the second and, with nothing new, idles its second.
    let started = Instant::now();
    assert!(
        poller
            .poll(Some(mails[1].cursor))
            .await
            .expect("poll")
            .is_empty()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle lasts idle_secs: {:?}",
        started.elapsed()
    );
    assert!(server.flags(USER, second).contains("\\Seen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn new_mail_wakes_the_idle_poll() {
    let server = Dovecot::start();
    let probe = server.append(USER, &mail(1));
    let poller = ImapPoller::new(settings(server.port(), 20));
    let seen = poller.poll(None).await.expect("first poll");
    assert_eq!(uids(&seen), [probe]);
    let at = seen[0].cursor;
    let started = Instant::now();
    let append = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // doveadm blocks this task for a moment; the poll's IDLE waits on its socket meanwhile.
        server.append(USER, &mail(2))
    };
    let (polled, uid) = tokio::join!(poller.poll(Some(at)), append);
    let mut mails = polled.expect("poll");
    if mails.is_empty() {
        // The IDLE ended with the news; the hub polls again at once and gets the mail.
        mails = poller.poll(Some(at)).await.expect("poll");
    }
    assert_eq!(uids(&mails), [uid]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken early, not after idle_secs: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_ends_after_idle_secs_despite_the_servers_keepalives() {
    // The test server says "still here" every 2 s, more often than this IDLE lasts.
    let server = Dovecot::start();
    let poller = ImapPoller::new(settings(server.port(), 5));
    for _ in 0..2 {
        let started = Instant::now();
        assert!(poller.poll(None).await.expect("poll").is_empty());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(5) && took < Duration::from_secs(15),
            "{took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_mailbox_comes_in_batches_of_fifty() {
    let server = Dovecot::start();
    let all: Vec<u32> = (1..=53).map(|n| server.append(USER, &mail(n))).collect();
    let poller = ImapPoller::new(settings(server.port(), 1));
    let first = poller.poll(None).await.expect("poll");
    assert_eq!(uids(&first), all[..50]);
    let rest = poller
        .poll(first.last().map(|m| m.cursor))
        .await
        .expect("poll");
    assert_eq!(uids(&rest), all[50..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_neither_lose_nor_repeat() {
    let server = Dovecot::start();
    let folder = "Support";
    let all: Vec<u32> = (1..=3)
        .map(|n| server.append_to(USER, folder, &mail(n)))
        .collect();
    let poller = ImapPoller::new(in_folder(server.port(), folder));
    let mails = poller.poll(None).await.expect("poll");
    assert_eq!(uids(&mails), all);
    // The hub stored only the first before it stopped: a new poller gets the other two.
    let restarted = ImapPoller::new(in_folder(server.port(), folder));
    let again = restarted.poll(Some(mails[0].cursor)).await.expect("poll");
    assert_eq!(uids(&again), all[1..]);
    // With the last cursor: nothing, then only the one new mail after it.
    let last = mails[2].cursor;
    let fresh = ImapPoller::new(in_folder(server.port(), folder));
    assert!(fresh.poll(Some(last)).await.expect("poll").is_empty());
    let fourth = server.append_to(USER, folder, &mail(4));
    assert_eq!(uids(&fresh.poll(Some(last)).await.expect("poll")), [fourth]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renumbered_folder_starts_over_from_its_unseen_mail() {
    let server = Dovecot::start();
    let folder = "Support";
    let old = server.append_to(USER, folder, &mail(1));
    let poller = ImapPoller::new(in_folder(server.port(), folder));
    let mails = poller.poll(None).await.expect("poll");
    assert_eq!(uids(&mails), [old]);
    // The folder is recreated (new UIDVALIDITY); its new mails reuse the old UIDs.
    server.recreate_folder(USER, folder);
    let reused = server.append_to(USER, folder, &mail(2));
    let other = server.append_to(USER, folder, &mail(3));
    assert_eq!(reused, old, "the server starts the new folder's UIDs over");
    // The hub passes the old cursor: the poller starts over from the unseen mail, and
    // leaves the new mail that has the old one's UID unread (the old cursor proves
    // nothing about it).
    let again = poller.poll(Some(mails[0].cursor)).await.expect("poll");
    assert_eq!(uids(&again), [reused, other]);
    assert_eq!(again[0].raw, mail(2));
    assert_ne!(
        split_cursor(again[0].cursor).0,
        split_cursor(mails[0].cursor).0
    );
    assert!(!server.flags_in(USER, folder, reused).contains("\\Seen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_goes_away_is_unreachable_then_polled_again_when_back() {
    let mut server = Dovecot::start();
    let poller = ImapPoller::new(settings(server.port(), 1));
    let first = server.append(USER, &mail(1));
    let mails = poller.poll(None).await.expect("poll");
    assert_eq!(uids(&mails), [first]);
    let at = mails[0].cursor;
    server.stop();
    // The open connection is closed and no new one is taken: Unreachable, twice, no hang.
    for _ in 0..2 {
        let started = Instant::now();
        let outcome = poller.poll(Some(at)).await;
        assert!(
            matches!(outcome, Err(MailError::Unreachable(_))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // Back on the same port: the poller logs in again and carries on from the cursor.
    server.restart();
    let second = server.append(USER, &mail(2));
    let mails = poller.poll(Some(at)).await.expect("poll");
    assert_eq!(uids(&mails), [second]);
    let at = mails[0].cursor;
    // A restart between two polls: the first may find the old connection dead.
    server.restart();
    let third = server.append(USER, &mail(3));
    let next = match poller.poll(Some(at)).await {
        Err(MailError::Unreachable(_)) => poller.poll(Some(at)).await,
        other => other,
    };
    assert_eq!(uids(&next.expect("poll")), [third]);
}
