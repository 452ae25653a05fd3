//! Every fixture under `tests/fixtures` (listed in its README), read field by field.

use crate::inbound::{
    Classification, DAMAGED_PART_NOTE, Mailbox, ParseOptions, ParsedMail, PlusToken,
    STRUCTURE_NOTE, SYNTHETIC_ID_DOMAIN, TRUNCATED_NOTE, UNREADABLE_NOTE, WINMAIL_NOTE, parse,
    parse_inner,
};
use crate::outbound::verify_message_id;
use crate::{html, quotes};

/// The key the fixtures' Message-IDs were signed with (`tests/fixtures/README.md`).
const FIXTURE_KEY: &[u8] = b"switchboard fixture key";
const OUR_DOMAIN: &str = "acme.example";

fn fixtures_dir() -> String {
    format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/{name}", fixtures_dir());
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".eml"))
        .collect();
    names.sort();
    names
}

fn parse_fixture(name: &str) -> ParsedMail {
    parse_inner(&load(name), &ParseOptions::default())
}

fn mailbox(address: &str, name: Option<&str>) -> Mailbox {
    Mailbox {
        address: address.to_owned(),
        name: name.map(str::to_owned),
    }
}

/// The hub's message id behind one of our signed Message-IDs.
fn ours(id: &str) -> Option<String> {
    verify_message_id(FIXTURE_KEY, id, OUR_DOMAIN)
}

fn our_token() -> Vec<PlusToken> {
    vec![PlusToken {
        token: "c0ffee1234".to_owned(),
        local: "support".to_owned(),
        domain: "reply.acme.example".to_owned(),
    }]
}

/// The bytes of a fixture with every header line starting with `name:` removed.
fn without_header(raw: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{}:", name.to_lowercase());
    text.split_inclusive('\n')
        .filter(|line| !line.to_lowercase().starts_with(&prefix))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn never_panics_on_any_prefix_of_any_fixture() {
    for name in fixture_names() {
        let raw = load(&name);
        for cut in (0..=raw.len()).step_by(97) {
            // parse_inner: no panic guard, so a panic fails this test instead of being caught.
            let mail = parse_inner(&raw[..cut], &ParseOptions::default());
            assert!(!mail.message_id.is_empty(), "{name} cut at {cut}");
        }
        let mail = parse_inner(&raw, &ParseOptions::default());
        assert!(!mail.notes.contains(&UNREADABLE_NOTE.to_owned()), "{name}");
    }
}

/// A `message/rfc822` part holding only another, empty one: mail-parser's debug builds stop
/// on a `debug_assert!` there (release builds recover). Either way the headers survive.
#[test]
fn a_structure_mail_parser_gives_up_on_keeps_the_headers() {
    let raw =
        b"From: Jane <jane@example.com>\r\nSubject: nested\r\nMessage-ID: <n-1@example.com>\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
Content-Type: message/rfc822\r\n\r\n\r\n--b--\r\n";
    let mail = parse_inner(raw, &ParseOptions::default());
    assert_eq!(mail.message_id, "n-1@example.com");
    assert_eq!(mail.subject, "nested");
    assert_eq!(mail.from, vec![mailbox("jane@example.com", Some("Jane"))]);
    if cfg!(debug_assertions) {
        assert!(
            mail.notes.contains(&STRUCTURE_NOTE.to_owned()),
            "{:?}",
            mail.notes
        );
        assert!(mail.full_text.starts_with("--b"), "{:?}", mail.full_text);
    }
}

#[test]
fn readme_lists_every_fixture() {
    let readme = String::from_utf8(load("README.md")).expect("README is UTF-8");
    for name in fixture_names() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README misses {name}"
        );
    }
}

#[test]
fn parse_guards_and_matches_the_unguarded_parse() {
    let raw = load("gmail_reply.eml");
    assert_eq!(
        parse(&raw, &ParseOptions::default()),
        parse_inner(&raw, &ParseOptions::default())
    );
}

#[test]
fn gmail_reply() {
    let mail = parse_fixture("gmail_reply.eml");
    assert_eq!(
        mail.message_id,
        "CAKx8Lq3=oT2bX5p9W1vQm+u0sX4nC6yH7d2eF1gR8aB9cD0eFg@mail.gmail.com"
    );
    assert!(!mail.message_id_synthetic);
    assert_eq!(
        mail.from,
        vec![mailbox("jane.doe@gmail.com", Some("Jane Doe"))]
    );
    assert_eq!(
        mail.contact,
        Some(mailbox("jane.doe@gmail.com", Some("Jane Doe")))
    );
    let profile = mail.contact_profile().expect("a contact");
    assert_eq!(profile.identifier, "jane.doe@gmail.com");
    assert_eq!(profile.email.as_deref(), Some("jane.doe@gmail.com"));
    assert_eq!(profile.name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        mail.cc,
        vec![mailbox("max@example.com", Some("Max Mustermann"))]
    );
    assert_eq!(
        mail.delivered_to,
        vec![mailbox("support+c0ffee1234@reply.acme.example", None)]
    );
    assert_eq!(mail.plus_tokens, our_token());
    assert_eq!(mail.subject, "Re: Router keeps rebooting [#1001]");
    assert_eq!(mail.subject_number, Some(1001));
    assert_eq!(
        mail.date.map(|date| date.to_rfc3339()).as_deref(),
        Some("2024-03-05T10:12:55+00:00")
    );
    assert_eq!(mail.in_reply_to.len(), 1);
    assert_eq!(ours(&mail.in_reply_to[0]).as_deref(), Some("1001"));
    assert_eq!(ours(&mail.references[0]).as_deref(), Some("1001"));
    assert_eq!(
        mail.text,
        "Thanks, that fixed it! The router has been up since this morning.\n\nJane"
    );
    assert!(mail.full_text.contains("> please hold the reset button"));
    let html = mail.html.as_deref().expect("html");
    assert!(html.contains("<blockquote"), "{html}");
    assert!(!html.contains("class="), "{html}");
    // The HTML read as text strips the same way: the blockquote becomes `>` lines.
    assert_eq!(quotes::strip(&html::to_text(html)), mail.text);
    assert!(mail.attachments.is_empty() && mail.notes.is_empty());
    assert_eq!(mail.classification, Classification::Normal);
}

#[test]
fn outlook_reply() {
    let mail = parse_fixture("outlook_reply.eml");
    assert_eq!(
        mail.from,
        vec![mailbox(
            "thomas.meier@contoso.example",
            Some("Meier, Thomas")
        )]
    );
    assert_eq!(mail.subject, "RE: Invoice 2024-117 missing VAT number");
    assert_eq!(ours(&mail.in_reply_to[0]).as_deref(), Some("1002"));
    assert_eq!(mail.plus_tokens, our_token());
    let expected = "Hello,\n\nour VAT number is DE123456789. Please send a corrected invoice.\n\nKind regards\nThomas Meier";
    assert_eq!(mail.text, expected);
    assert!(
        mail.full_text
            .contains("Sent: Monday, March 4, 2024 4:02 PM")
    );
    let html = mail.html.as_deref().expect("html");
    assert!(
        !html.contains("<style") && !html.contains("MsoNormal"),
        "{html}"
    );
    assert_eq!(quotes::strip(&html::to_text(html)), expected);
    assert_eq!(mail.classification, Classification::Normal);
}

#[test]
fn apple_mail() {
    let mail = parse_fixture("apple_mail.eml");
    assert_eq!(
        mail.message_id,
        "8E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B@example.com"
    );
    assert_eq!(ours(&mail.in_reply_to[0]).as_deref(), Some("1001"));
    assert_eq!(
        mail.text,
        "It still reboots every night at 3 a.m. Is that the automatic update?\n\nJane"
    );
    assert!(
        mail.full_text
            .contains("> On 5. Mar 2024, at 09:41, Acme Support")
    );
    let html = mail.html.as_deref().expect("html");
    assert_eq!(quotes::strip(&html::to_text(html)), mail.text);
}

#[test]
fn thunderbird() {
    let mail = parse_fixture("thunderbird.eml");
    assert_eq!(
        mail.from,
        vec![mailbox(
            "j.mueller@mueller-gmbh.example",
            Some("Jürgen Müller")
        )]
    );
    assert_eq!(mail.subject, "Re: Lieferung verspätet");
    assert_eq!(ours(&mail.in_reply_to[0]).as_deref(), Some("1003"));
    assert_eq!(
        mail.text,
        "Hallo,\n\ndie Lieferung ist heute angekommen, vielen Dank für die schnelle Hilfe.\n\nGrüße\nJürgen"
    );
    assert!(mail.full_text.contains("-- \nJürgen Müller"));
    assert!(
        mail.full_text
            .contains("Am 04.03.24 um 16:02 schrieb Acme Support:")
    );
}

#[test]
fn iphone() {
    let mail = parse_fixture("iphone.eml");
    assert_eq!(mail.text, "Yes please, go ahead and replace it.");
    assert!(mail.full_text.contains("Sent from my iPhone"));
    assert_eq!(mail.plus_tokens, our_token());
    assert_eq!(mail.html, None);
}

#[test]
fn yahoo_reply() {
    let mail = parse_fixture("yahoo_reply.eml");
    assert_eq!(mail.text, "Which reset button, the one on the back?");
    assert!(mail.full_text.contains("please hold the reset button"));
    let html = mail.html.as_deref().expect("html");
    assert_eq!(quotes::strip(&html::to_text(html)), mail.text);
}

#[test]
fn forwarded_mail_keeps_the_forwarded_part() {
    let mail = parse_fixture("forwarded.eml");
    assert!(mail.forwarded);
    assert_eq!(mail.subject, "Fwd: Your order 55-1234 has shipped");
    assert_eq!(mail.text, mail.full_text);
    assert!(
        mail.text
            .starts_with("The tracking link below does not work, can you check?")
    );
    assert!(
        mail.text
            .contains("From: Acme Shop <noreply@shop.acme.example>")
    );
    assert!(
        mail.text
            .ends_with("Track it at https://track.acme.example/55-1234")
    );
    assert_eq!(mail.classification, Classification::Normal);
}

#[test]
fn eight_bit_body() {
    let mail = parse_fixture("eight_bit.eml");
    assert_eq!(mail.subject, "Bestellung Nr. 88 — Größe ändern");
    assert_eq!(
        mail.text,
        "Bitte Größe von M auf L ändern. Danke! 👍\nCafé „Zur Mühle“ — 3 × Kaffee, 12,50 €"
    );
    assert_eq!(mail.to, vec![mailbox("support@acme.example", None)]);
    assert!(mail.notes.is_empty());
}

#[test]
fn iso_8859_1() {
    let mail = parse_fixture("iso_8859_1.eml");
    assert_eq!(
        mail.from,
        vec![mailbox("helene@example.fr", Some("Hélène Dupré"))]
    );
    assert_eq!(mail.subject, "Commande non reçue");
    assert_eq!(
        mail.text,
        "Bonjour,\n\nje n'ai pas reçu ma commande. Où est-elle ?\nMerci beaucoup, Hélène\n\nGrüße aus Köln - naïve façade, ß"
    );
    assert!(mail.notes.is_empty());
}

#[test]
fn windows_1252() {
    let mail = parse_fixture("windows_1252.eml");
    assert_eq!(
        mail.text,
        "Hi,\n\nthe invoice says \u{201c}paid\u{201d} but I was charged €49.99 twice \u{2013} please refund one.\n\nThanks, Bob"
    );
    assert_eq!(
        mail.message_id,
        "000001da6f1c$2b3c4d50$81a2b3c4$@example.com"
    );
}

#[test]
fn iso_2022_jp() {
    let mail = parse_fixture("iso_2022_jp.eml");
    assert_eq!(mail.subject, "注文について");
    assert_eq!(
        mail.from,
        vec![mailbox("taro.yamada@example.jp", Some("山田太郎"))]
    );
    assert_eq!(
        mail.text,
        "お世話になっております。\n注文した商品がまだ届いていません。\n確認をお願いします。\n\n山田太郎"
    );
    assert_eq!(
        mail.date.map(|date| date.to_rfc3339()).as_deref(),
        Some("2024-03-06T00:00:00+00:00")
    );
}

#[test]
fn encoded_word_subject() {
    let mail = parse_fixture("encoded_subject.eml");
    assert_eq!(mail.subject, "¿Cómo cambio la contraseña? — cuenta nº 7");
    assert_eq!(
        mail.from,
        vec![mailbox("alvaro@example.es", Some("Álvaro Gómez"))]
    );
    assert_eq!(mail.text, "No encuentro la opción.");
}

#[test]
fn html_with_script_and_tracking_pixel() {
    let mail = parse_fixture("html_script_tracking.eml");
    let html = mail.html.as_deref().expect("html");
    for banned in [
        "<script",
        "document.cookie",
        "onload",
        "onclick",
        "<form",
        "<input",
        "password",
        "<iframe",
        "javascript:",
        "<style",
        "t.vendor.example",
        "cdn.vendor.example",
        "position",
        "<title",
    ] {
        assert!(!html.contains(banned), "{banned} in {html}");
    }
    assert!(
        html.contains(r#"<p style="color:#333333;font-size:14px">Hello team,</p>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="https://vendor.example/offer""#),
        "{html}"
    );
    assert_eq!(
        mail.remote_images,
        vec![
            "https://cdn.vendor.example/logo.png".to_owned(),
            "https://t.vendor.example/open.gif?id=8f3a".to_owned()
        ]
    );
    // No text/plain part: the text is read from the sanitized HTML.
    assert_eq!(
        mail.text,
        "[Vendor logo]\n\nHello team,\n\nWe would like to partner with you. See the offer <https://vendor.example/offer>.\n\nClick"
    );
}

#[test]
fn inline_cid_image() {
    let mail = parse_fixture("inline_cid_image.eml");
    let html = mail.html.as_deref().expect("html");
    assert!(
        html.contains(r#"src="cid:image001.png@01DA6F1C.2B3C4D50""#),
        "{html}"
    );
    assert!(mail.remote_images.is_empty());
    assert_eq!(mail.attachments.len(), 1);
    let image = &mail.attachments[0];
    assert_eq!(image.file_name.as_deref(), Some("image001.png"));
    assert_eq!(image.content_type, "image/png");
    assert_eq!(
        image.content_id.as_deref(),
        Some("image001.png@01DA6F1C.2B3C4D50")
    );
    assert!(image.inline);
    assert!(
        image.data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "decoded bytes"
    );
    assert_eq!(image.data.len(), 70);
}

#[test]
fn winmail_dat_is_noted_and_kept() {
    let mail = parse_fixture("winmail_dat.eml");
    assert_eq!(mail.text, "Please find the contract draft attached.");
    assert_eq!(mail.notes, vec![WINMAIL_NOTE.to_owned()]);
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].content_type, "application/ms-tnef");
    assert_eq!(
        mail.attachments[0].file_name.as_deref(),
        Some("winmail.dat")
    );
    assert!(!mail.attachments[0].inline);
    assert_eq!(
        mail.content(),
        format!("Please find the contract draft attached.\n\n{WINMAIL_NOTE}")
    );
}

#[test]
fn broken_boundary_keeps_what_arrived_with_notes() {
    let mail = parse_fixture("broken_boundary.eml");
    assert_eq!(mail.text, "Here is the log file you asked for.");
    assert!(
        mail.notes.contains(&TRUNCATED_NOTE.to_owned()),
        "{:?}",
        mail.notes
    );
    assert!(
        mail.notes.contains(&DAMAGED_PART_NOTE.to_owned()),
        "{:?}",
        mail.notes
    );
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].file_name.as_deref(), Some("router.log"));
    assert!(!mail.attachments[0].data.is_empty());
}

#[test]
fn missing_headers() {
    let raw = load("missing_headers.eml");
    let mail = parse_inner(&raw, &ParseOptions::default());
    assert!(mail.message_id_synthetic);
    assert!(
        mail.message_id
            .ends_with(&format!("@{SYNTHETIC_ID_DOMAIN}"))
    );
    assert_eq!(mail.from, Vec::new());
    assert_eq!(mail.contact, None);
    assert_eq!(mail.date, None);
    assert_eq!(mail.subject, "help");
    assert_eq!(mail.text, "my account is locked, please help");
    assert_eq!(
        mail.notes,
        vec!["[This mail has no sender (From header)]".to_owned()]
    );
    assert_eq!(mail.classification, Classification::Normal);
}

#[test]
fn no_message_id_gets_a_stable_synthetic_one() {
    let raw = load("no_message_id.eml");
    let first = parse_inner(&raw, &ParseOptions::default());
    assert!(first.message_id_synthetic);
    let (hash, domain) = first.message_id.split_once('@').expect("an id");
    assert_eq!(domain, SYNTHETIC_ID_DOMAIN);
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // Redelivered: the same id, whatever happens to the body.
    let mut redelivered = raw.clone();
    redelivered.extend_from_slice(b"\r\n-- appended by a relay\r\n");
    assert_eq!(
        parse_inner(&redelivered, &ParseOptions::default()).message_id,
        first.message_id
    );
    // Another mail: another id.
    let other = String::from_utf8_lossy(&raw).replace("terminal 7", "terminal 8");
    assert_ne!(
        parse_inner(other.as_bytes(), &ParseOptions::default()).message_id,
        first.message_id
    );
    assert_eq!(first.text, "Terminal 7 reports a paper jam.");
}

#[test]
fn dsn_bounce() {
    let mail = parse_fixture("dsn_bounce.eml");
    let Classification::Bounce {
        original_message_id,
        recipient,
        reason,
    } = &mail.classification
    else {
        panic!("not a bounce: {:?}", mail.classification);
    };
    assert_eq!(
        ours(original_message_id.as_deref().unwrap_or_default()).as_deref(),
        Some("1001")
    );
    assert_eq!(recipient.as_deref(), Some("nobody@example.com"));
    assert_eq!(
        reason,
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
    );
}

#[test]
fn gmail_bounce_without_dsn() {
    let raw = load("gmail_bounce_no_dsn.eml");
    let expected = |mail: &ParsedMail| {
        let Classification::Bounce {
            original_message_id,
            recipient,
            reason,
        } = &mail.classification
        else {
            panic!("not a bounce: {:?}", mail.classification);
        };
        assert_eq!(
            ours(original_message_id.as_deref().unwrap_or_default()).as_deref(),
            Some("1002")
        );
        assert_eq!(recipient.as_deref(), Some("gone.away@gmail.com"));
        assert!(
            reason.starts_with("550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking"),
            "{reason}"
        );
    };
    expected(&parse_inner(&raw, &ParseOptions::default()));
    // The recipient is found in the text too, without X-Failed-Recipients.
    expected(&parse_inner(
        &without_header(&raw, "X-Failed-Recipients"),
        &ParseOptions::default(),
    ));
    // `Return-Path: <>` with a failure subject is a bounce even from an unknown sender.
    let relabelled = String::from_utf8_lossy(&raw).replace(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "From: Mail Service <notifications@mail.example.net>",
    );
    expected(&parse_inner(
        relabelled.as_bytes(),
        &ParseOptions::default(),
    ));
}

#[test]
fn office365_ndr() {
    let mail = parse_fixture("office365_ndr.eml");
    let Classification::Bounce {
        original_message_id,
        recipient,
        reason,
    } = &mail.classification
    else {
        panic!("not a bounce: {:?}", mail.classification);
    };
    assert_eq!(
        ours(original_message_id.as_deref().unwrap_or_default()).as_deref(),
        Some("1003")
    );
    assert_eq!(recipient.as_deref(), Some("jane.roe@fabrikam.example"));
    assert_eq!(
        reason,
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    );
    // Its In-Reply-To is ours too, but a bounce must never thread as a customer reply: the
    // classification is what the hub looks at first.
    assert_eq!(ours(&mail.in_reply_to[0]).as_deref(), Some("1003"));
}

#[test]
fn exchange_out_of_office() {
    let raw = load("exchange_ooo.eml");
    let mail = parse_inner(&raw, &ParseOptions::default());
    assert_eq!(
        mail.classification,
        Classification::AutoReply {
            reason: "Auto-Submitted: auto-generated".to_owned()
        }
    );
    assert_eq!(mail.plus_tokens, our_token());
    // Older Exchange servers send no Auto-Submitted: X-Auto-Response-Suppress with an
    // "Automatic reply" subject still tells.
    let older = parse_inner(
        &without_header(&raw, "Auto-Submitted"),
        &ParseOptions::default(),
    );
    assert_eq!(
        older.classification,
        Classification::AutoReply {
            reason: "out-of-office reply: Automatic reply: Invoice 2024-117 missing VAT number"
                .to_owned()
        }
    );
    // The header alone is not enough: Outlook puts it on ordinary mail too.
    let ordinary = String::from_utf8_lossy(&without_header(&raw, "Auto-Submitted"))
        .replace("Subject: Automatic reply: ", "Subject: RE: ");
    assert_eq!(
        parse_inner(ordinary.as_bytes(), &ParseOptions::default()).classification,
        Classification::Normal
    );
}

#[test]
fn gmail_vacation() {
    let mail = parse_fixture("gmail_vacation.eml");
    assert_eq!(
        mail.classification,
        Classification::AutoReply {
            reason: "Auto-Submitted: auto-replied".to_owned()
        }
    );
    assert_eq!(
        mail.text,
        "I'm away until Monday and will answer your mail then."
    );
}

#[test]
fn mailing_list() {
    let mail = parse_fixture("mailing_list.eml");
    assert_eq!(
        mail.classification,
        Classification::AutoReply {
            reason: "bulk mail: List-Unsubscribe".to_owned()
        }
    );
    let precedence = String::from_utf8_lossy(&without_header(
        &load("mailing_list.eml"),
        "List-Unsubscribe",
    ))
    .replace("MIME-Version: 1.0", "Precedence: bulk\r\nMIME-Version: 1.0");
    assert_eq!(
        parse_inner(precedence.as_bytes(), &ParseOptions::default()).classification,
        Classification::AutoReply {
            reason: "Precedence: bulk".to_owned()
        }
    );
}

#[test]
fn loops_are_auto_replies() {
    let raw = load("thunderbird.eml");
    let options = ParseOptions {
        own_addresses: vec!["J.Mueller@Mueller-GmbH.example".to_owned()],
        own_message_id_domain: None,
    };
    assert_eq!(
        parse_inner(&raw, &options).classification,
        Classification::AutoReply {
            reason: "loop: sent from our own address j.mueller@mueller-gmbh.example".to_owned()
        }
    );
    let options = ParseOptions {
        own_addresses: Vec::new(),
        own_message_id_domain: Some("mueller-gmbh.example".to_owned()),
    };
    assert_eq!(
        parse_inner(&raw, &options).classification,
        Classification::AutoReply {
            reason: "loop: the mail carries one of our own Message-IDs".to_owned()
        }
    );
    // Our domain in In-Reply-To is ordinary threading, not a loop.
    let options = ParseOptions {
        own_addresses: vec!["support@acme.example".to_owned()],
        own_message_id_domain: Some(OUR_DOMAIN.to_owned()),
    };
    assert_eq!(
        parse_inner(&raw, &options).classification,
        Classification::Normal
    );
}

#[test]
fn every_fixture_has_its_expected_classification() {
    for name in fixture_names() {
        let mail = parse_fixture(&name);
        let expected = match name.as_str() {
            "dsn_bounce.eml" | "gmail_bounce_no_dsn.eml" | "office365_ndr.eml" => "bounce",
            "exchange_ooo.eml" | "gmail_vacation.eml" | "mailing_list.eml" => "auto",
            _ => "normal",
        };
        let found = match mail.classification {
            Classification::Normal => "normal",
            Classification::AutoReply { .. } => "auto",
            Classification::Bounce { .. } => "bounce",
        };
        assert_eq!(found, expected, "{name}");
    }
}

/// Random byte mutations of every fixture (a deterministic xorshift, no new dependency).
#[test]
#[ignore = "slow; by hand: MUTATIONS=4000 cargo test -p switchboard-email mutations -- --ignored"]
fn mutations() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let rounds: usize = std::env::var("MUTATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(400);
    for name in fixture_names() {
        let raw = load(&name);
        for _ in 0..rounds {
            let mut mutated = raw.clone();
            for _ in 0..(next() % 8 + 1) {
                if mutated.is_empty() {
                    break;
                }
                let at = (next() % mutated.len() as u64) as usize;
                match next() % 4 {
                    0 => mutated[at] = next() as u8,
                    1 => {
                        mutated.remove(at);
                    }
                    2 => mutated.insert(at, b"\r\n-<>=?:;\"\\"[(next() % 11) as usize]),
                    _ => {
                        let end = (at + (next() % 200) as usize).min(mutated.len());
                        let copy = mutated[at..end].to_vec();
                        let to = (next() % mutated.len() as u64) as usize;
                        mutated.splice(to..to, copy);
                    }
                }
            }
            let _ = parse_inner(&mutated, &ParseOptions::default());
        }
    }
}
