//! Visitor context in headless Chromium (issue #18 item 3): a visitor on a shop's page writes
//! from the widget; the agent sees their generated name on the row and, beside the
//! conversation, the page they are on, where they came from, their browser, time zone and
//! language; the visitor moves to another page and the agent's card follows live; after a
//! reload the name is the same (desktop and phone width).

use reqwest::Method;
use serde_json::{Value, json};

use crate::chrome::{Chrome, Site};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, eventually, spawn_app};
use crate::inbox_browser::{click, sign_in, visit};
use crate::widget::{Widget, create_widget};
use crate::widget_browser::{open_widget, type_and_send};

fn shop_page(title: &str, embed: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>\
         <meta name=viewport content='width=device-width, initial-scale=1'></head>\
         <body><main><h1>{title}</h1></main>{embed}</body></html>"
    )
}

/// The widget inbox's open conversation (one) and its contact, as the API shows them.
async fn the_conversation(app: &TestApp, widget: &Widget) -> (String, Value) {
    let list = eventually(
        app,
        &widget.admin,
        &format!("/api/v1/conversations?inbox_id={}&status=open", widget.id),
        |l| l["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;
    let id = list["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let contact_id = list["data"][0]["contact_id"].as_str().unwrap_or_default();
    let contact = app
        .get_json(&widget.admin, &format!("/api/v1/contacts/{contact_id}"))
        .await;
    (id, contact["contact"].clone())
}

#[actix_web::test]
async fn the_agent_sees_where_the_visitor_is_and_the_same_name_after_a_reload() {
    let app = spawn_app().await;
    let site = Site::start().await;
    let widget = create_widget(&app, json!({"allowed_origins": [site.origin]})).await;

    for (width, height, name) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        site.set_page(shop_page("Running shoes", &widget.embed));
        let visitor = Chrome::start(width, height).await;
        visitor
            .client
            .goto(&format!("{}/shoes", site.origin))
            .await
            .expect("open the shop");
        open_widget(&visitor).await;
        type_and_send(&visitor, "Do these run small?").await;
        let (conversation, contact) = the_conversation(&app, &widget).await;
        assert_eq!(
            contact["name"],
            Value::Null,
            "no name of their own: {contact}"
        );
        let generated = contact["identities"][0]["profile"]["visitor"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            generated.split(' ').count(),
            2,
            "a generated name: {contact}"
        );

        let agent = Chrome::start(width, height).await;
        sign_in(&agent, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        agent
            .wait_until(
                "the visitor's generated name on the row",
                &format!(
                    "const r = document.querySelector('[data-testid=conversation-row][data-id=\"{conversation}\"]'); \
                     return !!r && r.querySelector('.row-name').textContent === {generated:?};"
                ),
            )
            .await;
        visit(
            &agent,
            &app,
            &format!("/conversations/{conversation}"),
            "composer",
        )
        .await;
        if name == "phone" {
            click(&agent, ".details-toggle").await;
        }
        agent
            .wait_until(
                "the visitor's page, browser and zone",
                "const v = document.querySelector('[data-testid=visitor]'); if (!v) return false; \
                 const page = v.querySelector('[data-testid=visitor-page] a'); \
                 return !!page && page.textContent === 'Running shoes' && page.href.endsWith('/shoes') \
                   && v.querySelector('[data-testid=visitor-browser]').textContent.startsWith('Chrome') \
                   && !!v.querySelector('[data-testid=visitor-time-zone]') \
                   && !!v.querySelector('[data-testid=visitor-language]');",
            )
            .await;
        agent.screenshot(&format!("visitor-context-{name}")).await;

        // The visitor opens another page (a reload of the script): the agent's card follows,
        // and the name stays.
        site.set_page(shop_page("Checkout", &widget.embed));
        visitor
            .client
            .goto(&format!("{}/checkout", site.origin))
            .await
            .expect("open the checkout");
        open_widget(&visitor).await;
        agent
            .wait_until(
                "the new page, live",
                "const a = document.querySelector('[data-testid=visitor-page] a'); \
                 return !!a && a.textContent === 'Checkout';",
            )
            .await;
        let pages = agent
            .js("return Array.from(document.querySelectorAll('[data-testid=visitor-pages] li')).length;")
            .await;
        assert_eq!(pages, json!(2), "the visit's two pages");
        type_and_send(&visitor, "Ordering now").await;
        let (_, again) = the_conversation(&app, &widget).await;
        assert_eq!(
            again["identities"][0]["profile"]["visitor"]["name"],
            generated.as_str(),
            "the same name after a reload"
        );
        agent.close().await;
        visitor.close().await;

        // The next round starts with a new conversation from a new visitor.
        let (status, _) = crate::conversation_helpers::call(
            &app,
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
        assert!(status.is_success());
    }
}
