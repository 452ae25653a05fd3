//! A satisfaction survey in headless Chromium (issue #19, the widget's part): an admin switches
//! it on in the widget inbox's form, an agent resolves the visitor's conversation, the widget
//! asks, the visitor picks a rating and adds words, changes their mind, and the agent reads the
//! answer on the contact page (desktop and phone width). And the public rating page that mail
//! links to.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::a11y_browser::no_violations;
use crate::chrome::{Chrome, Site};
use crate::conversation_helpers::call_ok;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, eventually, spawn_app};
use crate::inbox_browser::{click, fill, sign_in, visit};
use crate::widget::create_widget;
use crate::widget_browser::{open_shop, shop_page, type_and_send};

const ROOT: &str = "const root = document.getElementById('switchboard-widget')?.shadowRoot;";

/// Runs `script` in the widget's shadow root.
fn in_widget(script: &str) -> String {
    format!("{ROOT} if (!root) return false; {script}")
}

#[actix_web::test]
async fn a_visitor_rates_the_help_and_the_agent_reads_it() {
    let app = spawn_app().await;
    let site = Site::start().await;
    let widget = create_widget(&app, json!({"allowed_origins": [site.origin]})).await;
    site.set_page(shop_page(&widget.embed));

    // The admin switches the survey on in the inbox's form.
    let admin_browser = Chrome::start(1400, 900).await;
    sign_in(&admin_browser, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    admin_browser
        .wait_until("signed in", "return location.pathname !== '/login';")
        .await;
    visit(
        &admin_browser,
        &app,
        &format!("/admin/inboxes/{}", widget.id),
        "setting-csat_enabled",
    )
    .await;
    click(&admin_browser, "[data-testid=setting-csat_enabled]").await;
    fill(&admin_browser, "setting-csat_question", "Did we help?").await;
    click(&admin_browser, "[data-testid=inbox-save]").await;
    let settings = format!("/api/v1/inboxes/{}", widget.id);
    eventually(&app, &widget.admin, &settings, |inbox| {
        inbox["settings"]["csat_enabled"] == true
            && inbox["settings"]["csat_question"] == "Did we help?"
    })
    .await;
    admin_browser.close().await;

    for (width, height, device) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        let chrome = open_shop(&site.origin, width, height).await;
        let text = format!("The zip is broken ({device})");
        type_and_send(&chrome, &text).await;
        let list = eventually(
            &app,
            &widget.admin,
            &format!("/api/v1/conversations?inbox_id={}&status=open", widget.id),
            |l| l["data"].as_array().is_some_and(|d| !d.is_empty()),
        )
        .await;
        let conversation = list["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let contact = list["data"][0]["contact_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        call_ok(
            &app,
            &widget.admin,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/status"),
            Some(json!({"status": "resolved"})),
            StatusCode::OK,
        )
        .await;

        // The widget asks; the visitor picks 4 and says why.
        chrome
            .wait_until(
                "the survey",
                &in_widget(
                    "const q = root.querySelector('[data-testid=csat]'); \
                     return !!q && !q.hidden && q.textContent.includes('Did we help?') && \
                     root.querySelectorAll('[data-testid=csat-rate]').length === 5;",
                ),
            )
            .await;
        chrome.screenshot(&format!("csat-asked-{device}")).await;
        no_violations(&chrome, &format!("the survey ({device})")).await;
        chrome
            .js(&in_widget(
                "root.querySelector('[data-testid=csat-rate][data-rating=\"4\"]').click(); \
                 const t = root.querySelector('[data-testid=csat-comment]'); t.value = 'Fast, thanks'; \
                 root.querySelector('[data-testid=csat-send]').click(); return true;",
            ))
            .await;
        chrome
            .wait_until(
                "the thanks",
                &in_widget(
                    "const a = root.querySelector('[data-testid=csat-answer]'); \
                     return !!a && a.offsetParent !== null && a.textContent === 'You rated 4 of 5 (Happy): “Fast, thanks”';",
                ),
            )
            .await;
        // A change of mind (the form keeps the words given): 2, without them.
        let changed = chrome
            .js(&in_widget(
                "root.querySelector('[data-testid=csat-change]').click(); \
                 const t = root.querySelector('[data-testid=csat-comment]'); \
                 if (t.value !== 'Fast, thanks') return false; t.value = ''; \
                 root.querySelector('[data-testid=csat-rate][data-rating=\"2\"]').click(); \
                 root.querySelector('[data-testid=csat-send]').click(); return true;",
            ))
            .await;
        assert_eq!(changed, json!(true), "the form held the earlier words");
        chrome
            .wait_until(
                "the changed answer",
                &in_widget(
                    "const a = root.querySelector('[data-testid=csat-answer]'); \
                     return !!a && a.textContent === 'You rated 2 of 5 (Unhappy).';",
                ),
            )
            .await;
        chrome.screenshot(&format!("csat-answered-{device}")).await;
        chrome.close().await;

        // The agent reads it beside the conversation on the contact page.
        let agent = Chrome::start(width, height).await;
        sign_in(&agent, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        agent
            .wait_until("signed in", "return location.pathname !== '/login';")
            .await;
        visit(
            &agent,
            &app,
            &format!("/contacts/{contact}"),
            "contact-conversation",
        )
        .await;
        agent
            .wait_until(
                "the rating",
                "const b = document.querySelector('[data-testid=csat-badge]'); \
                 return !!b && b.textContent === '★ 2/5';",
            )
            .await;
        agent.close().await;
    }
}

/// The public rating page in headless Chromium at phone width (where mail links are opened
/// most): the link from the survey opens the page with its answer chosen, axe finds nothing,
/// the customer picks another answer, adds words and sends; the conversation shows it.
#[actix_web::test]
async fn a_customer_answers_on_the_rating_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let callback = crate::helpers::CallbackServer::start().await;
    let inbox = app.create_api_inbox(&admin, Some(&callback.url)).await;
    let patched = app
        .api(
            &admin,
            Method::PATCH,
            &format!("/api/v1/inboxes/{}", inbox.id),
            Some(json!({"settings": {"csat_enabled": true, "csat_question": "How did we do?"}})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let stored = app
        .inbound(&inbox, "m-1", "cust-42", "Where is my parcel?")
        .await;
    let conversation = stored["stored"][0]["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    let path = format!("/api/v1/conversations/{conversation}");
    call_ok(
        &app,
        &admin,
        Method::POST,
        &format!("{path}/status"),
        Some(json!({"status": "resolved"})),
        StatusCode::OK,
    )
    .await;
    let received = callback.wait_for(1).await;
    let link = received[0].body["csat_request"]["links"][0]["url"]
        .as_str()
        .expect("a link")
        .to_owned();

    let chrome = Chrome::start(390, 844).await;
    chrome.client.goto(&link).await.expect("open the page");
    chrome
        .wait_until(
            "the question",
            "return document.querySelector('[data-testid=survey-question]')?.textContent === 'How did we do?';",
        )
        .await;
    assert_eq!(
        chrome
            .js("return document.querySelector('[data-testid=survey-rating-5]').checked;")
            .await,
        json!(true),
        "the link's answer is chosen"
    );
    no_violations(&chrome, "the rating page").await;
    click(&chrome, "[data-testid=survey-rating-2]").await;
    fill(&chrome, "survey-comment", "It took three days").await;
    click(&chrome, "[data-testid=survey-send]").await;
    chrome
        .wait_until(
            "the thanks",
            "return document.querySelector('[data-testid=survey-thanks]')?.textContent.includes('Dissatisfied') === true;",
        )
        .await;
    no_violations(&chrome, "the thanks page").await;
    let shown = eventually(&app, &admin, &path, |c| c["csat"]["rating"] == 2).await;
    assert_eq!(shown["csat"]["comment"], "It took three days", "{shown}");
    chrome.close().await;
}
