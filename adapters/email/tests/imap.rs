//! The IMAP poller against a real dovecot (tests/servers/dovecot.rs): the login check, unseen
//! mail first, `\Seen` only after the cursor shows the mail stored, IDLE waking on new mail,
//! restarts that neither lose nor repeat, a renumbered folder, and a server that goes away.

#[path = "servers/dovecot.rs"]
mod dovecot;

use std::time::{Duration, Instant};

use dovecot::{Dovecot, PASSWORD, USER};
use switchboard_email::imap::{ImapPoller, ImapSettings, MailError, Tls, check, split_cursor};

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

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: customer{n}@example.com\r\nTo: {USER}\r\nSubject: Mail {n}\r\n\
         Message-ID: <m{n}@example.com>\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_tells_a_wrong_password_a_missing_folder_and_no_server_apart() {
    let server = Dovecot::start();
    check(&settings(server.port(), 1)).await.expect("logs in");
    let mut wrong = settings(server.port(), 1);
    wrong.password = "nope".into();
    match check(&wrong).await {
        Err(MailError::Refused(words)) => {
            assert!(words.contains("Authentication failed"), "{words}")
        }
        other => panic!("{other:?}"),
    }
    let mut folder = settings(server.port(), 1);
    folder.folder = "Nowhere".into();
    assert!(matches!(check(&folder).await, Err(MailError::Refused(_))));
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
    let second = server.append(USER, &mail(3));
    let poller = ImapPoller::new(settings(server.port(), 1));
    let mails = poller.poll(None).await.expect("first poll");
    let uids: Vec<u32> = mails.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [first, second], "unseen, oldest first");
    assert!(mails[0].raw.starts_with(b"From: customer2@example.com"));
    assert!(
        !server.flags(USER, first).contains("\\Seen"),
        "not yet stored"
    );
    let last = mails.last().map(|m| m.cursor);
    assert_eq!(split_cursor(last.expect("cursor")).1, second);
    // The hub stored them and saved the cursor: the next poll marks them and has nothing new.
    let started = Instant::now();
    assert!(poller.poll(last).await.expect("second poll").is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle lasts idle_secs"
    );
    for uid in [first, second] {
        assert!(
            server.flags(USER, uid).contains("\\Seen"),
            "{uid} marked seen"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_mail_wakes_the_idle_poll() {
    let server = Dovecot::start();
    let poller = ImapPoller::new(settings(server.port(), 20));
    // An empty folder: the first poll idles its short while and finds nothing.
    let quick = ImapPoller::new(settings(server.port(), 1));
    assert!(quick.poll(None).await.expect("empty folder").is_empty());
    let start = cursor_before_everything(&server).await;
    let started = Instant::now();
    let waiting = poller.poll(Some(start));
    let append = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.append(USER, &mail(7))
    };
    let (polled, uid) = tokio::join!(waiting, append);
    let mut mails = polled.expect("poll");
    if mails.is_empty() {
        // The IDLE ended with the news; the next poll fetches it.
        mails = poller.poll(Some(start)).await.expect("poll");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken early: {:?}",
        started.elapsed()
    );
    assert_eq!(mails.iter().map(|m| m.uid).collect::<Vec<_>>(), [uid]);
}

/// A cursor of the folder's current UIDVALIDITY before its first mail.
async fn cursor_before_everything(server: &Dovecot) -> i64 {
    let probe = server.append(USER, &mail(99));
    let poller = ImapPoller::new(settings(server.port(), 1));
    let mails = poller.poll(None).await.expect("poll");
    let (validity, _) = split_cursor(mails[0].cursor);
    server.mark_seen(USER, probe);
    switchboard_email::imap::cursor(validity, probe)
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_neither_lose_nor_repeat_and_a_renumbered_folder_starts_over() {
    let server = Dovecot::start();
    let folder = "Support";
    let uids: Vec<u32> = (1..=3)
        .map(|n| server.append_to(USER, folder, &mail(n)))
        .collect();
    let in_folder = || {
        let mut settings = settings(server.port(), 1);
        settings.folder = folder.into();
        settings
    };
    let poller = ImapPoller::new(in_folder());
    let mails = poller.poll(None).await.expect("poll");
    let after_first = mails[0].cursor;
    let after_all = mails[2].cursor;
    // A restart with the cursor of the first mail: the other two come again.
    let restarted = ImapPoller::new(in_folder());
    let again = restarted.poll(Some(after_first)).await.expect("poll");
    assert_eq!(again.iter().map(|m| m.uid).collect::<Vec<_>>(), uids[1..]);
    // With the last cursor: nothing, then the one new mail after it.
    let fresh = ImapPoller::new(in_folder());
    assert!(fresh.poll(Some(after_all)).await.expect("poll").is_empty());
    let fourth = server.append_to(USER, folder, &mail(4));
    let next = fresh.poll(Some(after_all)).await.expect("poll");
    assert_eq!(next.iter().map(|m| m.uid).collect::<Vec<_>>(), [fourth]);
    // The folder is recreated (new UIDVALIDITY): its unseen mail comes again.
    drop((poller, restarted, fresh));
    server.recreate_folder(USER, folder);
    let recreated = server.append_to(USER, folder, &mail(5));
    let poller = ImapPoller::new(in_folder());
    let mails = poller.poll(Some(next[0].cursor)).await.expect("poll");
    assert_eq!(mails.iter().map(|m| m.uid).collect::<Vec<_>>(), [recreated]);
    assert_ne!(
        split_cursor(mails[0].cursor).0,
        split_cursor(next[0].cursor).0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_goes_away_is_unreachable_not_a_hang() {
    let server = Dovecot::start();
    let poller = ImapPoller::new(settings(server.port(), 1));
    assert!(poller.poll(None).await.is_ok());
    drop(server);
    // The open connection may outlive the server by a moment; new ones are refused.
    let mut outcome = poller.poll(None).await;
    for _ in 0..20 {
        if outcome.is_err() {
            break;
        }
        outcome = poller.poll(None).await;
    }
    // (The dying server's last process may still answer, with a NO about its lost files.)
    assert!(outcome.is_err(), "{outcome:?}");
    let reconnect = poller.poll(None).await;
    assert!(
        matches!(reconnect, Err(MailError::Unreachable(_))),
        "{reconnect:?}"
    );
}
