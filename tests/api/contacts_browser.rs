//! Contacts in headless Chromium (issue #18 item 2): an admin defines a custom attribute, an
//! agent finds a customer in the contacts list (search, sort, paging), opens their page
//! (identities, conversations with their last message), edits them with the attribute, writes
//! a note and merges a duplicate; desktop and phone width, checked with axe-core.

use serde_json::{Value, json};

use crate::a11y_browser::no_violations;
use crate::chrome::Chrome;
use crate::conversation_helpers::{conversation_path, post_message};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use crate::inbox_browser::{click, fill, shown, sign_in, visit};

/// Whether the sign-in went through (the app replaced the sign-in page).
const SIGNED_IN: &str =
    "return location.pathname !== '/login' && !!document.querySelector('nav.topnav');";

/// The names in the contacts list, top to bottom.
const ROW_NAMES: &str = "return Array.from(document.querySelectorAll('[data-testid=contact-link]')).map(a => a.textContent);";

fn rows_are(names: &[&str]) -> String {
    let want = serde_json::to_string(names).unwrap_or_default();
    format!(
        "const got = Array.from(document.querySelectorAll('[data-testid=contact-link]')).map(a => a.textContent); \
         return JSON.stringify(got) === {want:?};"
    )
}

#[actix_web::test]
async fn contacts_are_listed_searched_edited_noted_and_merged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let inbox = app.create_api_inbox(&admin, None).await;

    for (width, height, device) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome.wait_until("signed in", SIGNED_IN).await;
        chrome.wait_until("signed in", SIGNED_IN).await;

        // The admin defines "Plan" (a list) on the attributes page.
        let key = format!("plan_{device}");
        visit(&chrome, &app, "/admin/attributes", "attribute-new-label").await;
        fill(&chrome, "attribute-new-label", &format!("Plan {device}")).await;
        assert_eq!(
            chrome
                .js("return document.querySelector('[data-testid=attribute-new-key]').value;")
                .await,
            json!(key),
            "the key follows the label"
        );
        fill(&chrome, "attribute-new-kind", "list").await;
        fill(&chrome, "attribute-new-choices", "free\npro\nenterprise").await;
        click(&chrome, "[data-testid=attribute-create]").await;
        chrome
            .wait_until(
                "the attribute row",
                &format!("return !!document.querySelector('[data-testid=attribute-row][data-key={key}]');"),
            )
            .await;
        chrome
            .screenshot(&format!("contacts-attributes-{device}"))
            .await;
        no_violations(&chrome, &format!("/admin/attributes ({device})")).await;

        // Three customers; Alice wrote twice, once as "Anne" (a duplicate contact).
        let mut conversations = Vec::new();
        for (id, name, email, text) in [
            (
                "ann",
                "Alice Original",
                "alice@example.com",
                "My order is late",
            ),
            ("bob", "Bob Builder", "bob@example.com", "Invoice please"),
            ("annie", "Anne Dup", "", "Me again, about the order"),
        ] {
            let mut contact =
                json!({"identifier": format!("{device}-{id}"), "name": format!("{name} {device}")});
            if !email.is_empty() {
                contact["email"] = json!(format!("{device}.{email}"));
            }
            let event = json!({"type": "message", "external_id": format!("{device}-{id}"),
                "content": text, "contact": contact});
            conversations.push(post_message(&app, &inbox, &event).await);
        }
        let ann = app
            .get_json(&admin, &conversation_path(&conversations[0]))
            .await["contact_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();

        // The list: search, sort by name.
        visit(&chrome, &app, "/contacts", "contact-row").await;
        fill(&chrome, "contacts-search", device).await;
        let wanted = [
            format!("Anne Dup {device}"),
            format!("Bob Builder {device}"),
            format!("Alice Original {device}"),
        ];
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        chrome.wait_until("newest first", &rows_are(&wanted)).await;
        fill(&chrome, "contacts-sort", "name").await;
        let by_name = [wanted[2], wanted[0], wanted[1]];
        chrome.wait_until("by name", &rows_are(&by_name)).await;
        fill(
            &chrome,
            "contacts-search",
            &format!("alice original {device}"),
        )
        .await;
        chrome
            .wait_until("one match", &rows_are(&[wanted[2]]))
            .await;
        assert!(
            chrome
                .js("return location.search;")
                .await
                .as_str()
                .is_some_and(|s| s.contains("sort=name")),
            "the sort is in the address"
        );
        fill(&chrome, "contacts-search", "nobody like this").await;
        chrome
            .wait_until("the empty state", &shown("contacts-clear"))
            .await;
        fill(&chrome, "contacts-search", device).await;
        chrome
            .wait_until("by name again", &rows_are(&by_name))
            .await;
        chrome.screenshot(&format!("contacts-list-{device}")).await;
        no_violations(&chrome, &format!("/contacts ({device})")).await;

        // Ann's page: identities, conversation with its last message.
        click(
            &chrome,
            &format!("[data-testid=contact-row][data-id='{ann}'] a"),
        )
        .await;
        chrome
            .wait_until("the conversation", &shown("contact-conversation"))
            .await;
        let preview = chrome
            .js("return document.querySelector('[data-testid=contact-conversation]').textContent;")
            .await;
        assert!(
            preview
                .as_str()
                .is_some_and(|t| t.contains("My order is late")),
            "{preview}"
        );

        // Edit: name and the new attribute.
        click(&chrome, "[data-testid=contact-edit]").await;
        chrome
            .wait_until("the edit form", &shown(&format!("attr-{key}")))
            .await;
        fill(&chrome, "contact-name", &format!("Alice Smith {device}")).await;
        fill(&chrome, &format!("attr-{key}"), "pro").await;
        fill(&chrome, "contact-phone", "+43 1 234").await;
        click(&chrome, "[data-testid=contact-save]").await;
        chrome
            .wait_until(
                "the new name",
                &format!(
                    "const e = document.querySelector('[data-testid=contact-title]'); \
                     return !!e && e.textContent === 'Alice Smith {device}';"
                ),
            )
            .await;
        chrome
            .wait_until(
                "the attribute value",
                &format!(
                    "const e = document.querySelector('[data-testid=attr-value][data-key={key}]'); \
                     return !!e && e.textContent === 'pro';"
                ),
            )
            .await;
        // A refused value is named in words next to its field, and nothing is stored.
        click(&chrome, "[data-testid=contact-edit]").await;
        chrome
            .wait_until("the edit form", &shown("contact-email"))
            .await;
        fill(&chrome, "contact-email", "not an email").await;
        click(&chrome, "[data-testid=contact-save]").await;
        chrome
            .wait_until(
                "the field error",
                "const e = document.querySelector('[data-testid=contact-error]'); \
                 return !!e && e.textContent.startsWith('Email:');",
            )
            .await;
        let stored = app
            .get_json(&admin, &format!("/api/v1/contacts/{ann}"))
            .await;
        assert_eq!(
            stored["contact"]["email"],
            format!("{device}.alice@example.com")
        );
        assert_eq!(stored["contact"]["attributes"][&key], "pro");
        click(&chrome, "[data-testid=contact-edit]").await;

        // A note.
        fill(&chrome, "note-text", "Prefers email. Calls on Fridays.").await;
        click(&chrome, "[data-testid=note-add]").await;
        chrome
            .wait_until(
                "the note",
                "return Array.from(document.querySelectorAll('[data-testid=contact-note]')).some(n => n.textContent.includes('Calls on Fridays'));",
            )
            .await;

        // Merge Anne (the duplicate) into Alice.
        chrome.js("window.confirm = () => true; return true;").await;
        click(&chrome, "[data-testid=contact-merge]").await;
        chrome
            .wait_until("the merge search", &shown("merge-search"))
            .await;
        fill(&chrome, "merge-search", &format!("Anne Dup {device}")).await;
        chrome.wait_until("a match", &shown("merge-pick")).await;
        click(&chrome, "[data-testid=merge-pick]").await;
        chrome
            .wait_until(
                "two conversations",
                "return document.querySelectorAll('[data-testid=contact-conversation]').length === 2;",
            )
            .await;
        chrome
            .wait_until(
                "two identities",
                "return document.querySelectorAll('[data-testid=identities] li.identity').length === 2;",
            )
            .await;
        chrome
            .screenshot(&format!("contacts-contact-{device}"))
            .await;
        no_violations(&chrome, &format!("/contacts/{{id}} ({device})")).await;
        let stored = app
            .get_json(&admin, &format!("/api/v1/contacts/{ann}"))
            .await;
        assert_eq!(stored["conversations"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            stored["notes"][0]["body"],
            "Prefers email. Calls on Fridays."
        );

        // The contact's conversation opens in the inbox, and its card links back here.
        click(&chrome, "[data-testid=contact-conversation] a").await;
        // (At phone width the card is behind the details button; the link is there all the same.)
        chrome
            .wait_until(
                "the inbox contact card",
                "return !!document.querySelector('[data-testid=open-contact]');",
            )
            .await;
        click(&chrome, "[data-testid=open-contact]").await;
        chrome
            .wait_until("the contact page again", &shown("contact-notes"))
            .await;
        let names = chrome.js(ROW_NAMES).await;
        assert_eq!(
            names,
            Value::Array(vec![]),
            "no list rows on a contact page"
        );
        chrome.close().await;
    }

    // Paging: "Show more" brings the rest, 50 at a time.
    for n in 0..55 {
        let event = json!({"type": "message", "external_id": format!("p-{n}"), "content": "hi",
            "contact": {"identifier": format!("page-{n}"), "name": format!("Paged {n:02}")}});
        post_message(&app, &inbox, &event).await;
    }
    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    chrome.wait_until("signed in", SIGNED_IN).await;
    visit(&chrome, &app, "/contacts?q=paged&sort=name", "contact-row").await;
    chrome
        .wait_until(
            "the first page",
            "return document.querySelectorAll('[data-testid=contact-row]').length === 50;",
        )
        .await;
    click(&chrome, "[data-testid=contacts-more]").await;
    chrome
        .wait_until(
            "every contact",
            "return document.querySelectorAll('[data-testid=contact-row]').length === 55 && \
             document.querySelector('[data-testid=contacts-more]').hidden;",
        )
        .await;
    let names = chrome.js(ROW_NAMES).await;
    let expected: Vec<String> = (0..55).map(|n| format!("Paged {n:02}")).collect();
    assert_eq!(names, json!(expected));
    chrome.close().await;

    // An agent without the inbox sees no one.
    let (_, password) = app.create_agent(&admin, "eve@example.com", "agent").await;
    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, "eve@example.com", &password).await;
    chrome.wait_until("signed in", SIGNED_IN).await;
    visit(&chrome, &app, "/contacts", "contacts-empty").await;
    chrome.close().await;
}
