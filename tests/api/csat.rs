//! Satisfaction surveys on the API channel and the public rating page (issue #19): the
//! integrator gets a `csat_request` callback and answers with a signed `csat` event; the
//! request's links open the hub's rating page, which records an answer only when the
//! customer sends it. (Telegram, WhatsApp and email have their tests beside their channel's;
//! the widget's are in widget.rs.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{CallbackServer, assert_error, eventually, run_sql, spawn_app};

fn csat(identifier: &str, survey: &str, rating: Value) -> Value {
    json!({"type": "csat", "contact": {"identifier": identifier}, "survey_id": survey,
           "rating": rating, "comment": "  Quick and kind  "})
}

#[actix_web::test]
async fn an_integration_is_asked_by_callback_and_answers_with_an_event_or_the_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let callback = CallbackServer::start().await;
    let inbox = app.create_api_inbox(&admin, Some(&callback.url)).await;
    callback.expect_secret(&inbox.secret);
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
    let resolved = app
        .api(
            &admin,
            Method::POST,
            &format!("{path}/status"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::OK);

    // The integrator is asked once, with everything it needs to ask the customer.
    let received = callback.wait_for(1).await;
    assert!(received[0].signature_valid);
    let request = &received[0].body["csat_request"];
    assert_eq!(request["question"], "How did we do?", "{request}");
    assert_eq!(request["scale"], "five");
    assert_eq!(request["conversation_id"], conversation.as_str());
    assert_eq!(request["contact"]["identifier"], "cust-42");
    assert_eq!(
        request["choices"][0],
        json!({"rating": 5, "label": "Very satisfied"})
    );
    let survey = request["survey_id"].as_str().expect("survey id").to_owned();
    let links = request["links"].as_array().cloned().unwrap_or_default();
    assert_eq!(links.len(), 5, "{request}");
    let page = links[1]["url"].as_str().expect("url").to_owned();
    assert_eq!(links[1]["rating"], 4);
    assert!(page.ends_with("?rating=4"), "{page}");
    // The thread shows the survey, delivered like a reply (the callback's 2xx).
    let thread = eventually(&app, &admin, &format!("{path}/messages"), |page| {
        page["data"].as_array().is_some_and(|list| {
            list.iter()
                .any(|m| m["content_type"] == "survey" && m["status"] != "queued")
        })
    })
    .await;
    let asked = thread["data"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["content_type"] == "survey"))
        .cloned()
        .expect("survey message");
    assert_eq!(asked["id"], request["id"], "{asked}");
    assert_eq!(asked["content"], "How did we do?");

    // Answers: another contact's, one off the scale and a malformed one change nothing.
    let other = app
        .post_signed(&inbox, "", &csat("cust-43", &survey, json!(4)))
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    let other: Value = other.json().await.expect("answer");
    assert_eq!(
        other["stored"][0],
        json!({"type": "csat", "status": "refused", "reason": "no such survey"}),
        "{other}"
    );
    let malformed = app
        .post_signed(&inbox, "", &csat("cust-42", &survey, json!(9)))
        .await;
    let error = assert_error(malformed, StatusCode::BAD_REQUEST, "malformed_payload").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("rating:")),
        "{error}"
    );
    assert_eq!(app.get_json(&admin, &path).await["csat"], Value::Null);

    // The customer's answer through the integration.
    let answered = app
        .post_signed(&inbox, "", &csat("cust-42", &survey, json!(3)))
        .await;
    let answered: Value = answered.json().await.expect("answer");
    assert_eq!(answered["stored"][0]["status"], "answered", "{answered}");
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(shown["csat"]["rating"], 3, "{shown}");
    assert_eq!(shown["csat"]["comment"], "Quick and kind", "{shown}");
    assert_eq!(shown["status"], "resolved", "{shown}");

    // The rating page: opening it records nothing (mail scanners open links); it shows
    // the preselected answer and the comment so far.
    let opened = app.client.get(&page).send().await.expect("page");
    assert_eq!(opened.status(), StatusCode::OK);
    assert_eq!(
        opened
            .headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    let html = opened.text().await.expect("html");
    assert!(html.contains("How did we do?"), "{html}");
    assert!(
        html.contains("value=\"4\" data-testid=\"survey-rating-4\" required checked"),
        "{html}"
    );
    assert!(html.contains(">Quick and kind</textarea>"), "{html}");
    assert_eq!(app.get_json(&admin, &path).await["csat"]["rating"], 3);
    // Sent: off the scale is shown again with what to change; a good answer is taken.
    let form = page.split('?').next().expect("path").to_owned();
    let send = |body: &'static str| {
        let client = app.client.clone();
        let form = form.clone();
        async move {
            client
                .post(form)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("post")
        }
    };
    let refused = send("rating=7&comment=%3Cb%3Ehi%3C%2Fb%3E").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("Choose one of the answers."), "{html}");
    assert!(html.contains("&lt;b&gt;hi&lt;/b&gt;"), "escaped: {html}");
    let taken = send("rating=5&comment=Great+service").await;
    assert_eq!(taken.status(), StatusCode::OK);
    let html = taken.text().await.expect("html");
    assert!(
        html.contains("Your answer: <strong>😀 Very satisfied</strong>"),
        "{html}"
    );
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(
        (&shown["csat"]["rating"], &shown["csat"]["comment"]),
        (&json!(5), &json!("Great service")),
        "{shown}"
    );

    // An answer that carries no comment (a tap, an event without one) keeps the comment.
    let event = json!({"type": "csat", "contact": {"identifier": "cust-42"},
                       "survey_id": survey, "rating": 4});
    let kept: Value = app
        .post_signed(&inbox, "", &event)
        .await
        .json()
        .await
        .expect("answer");
    assert_eq!(kept["stored"][0]["status"], "answered", "{kept}");
    let shown = app.get_json(&admin, &path).await;
    assert_eq!(
        (&shown["csat"]["rating"], &shown["csat"]["comment"]),
        (&json!(4), &json!("Great service")),
        "{shown}"
    );

    // A forged token opens nothing; a survey asked over a week ago is closed.
    let (base, _) = form.rsplit_once('/').expect("token");
    let forged = app
        .client
        .get(format!("{base}/{survey}.{}", "0".repeat(32)))
        .send()
        .await
        .expect("page");
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
    run_sql(
        &app,
        "UPDATE csat_surveys SET sent_at = '2020-01-01 00:00:00'",
    )
    .await;
    let closed = app.client.get(&page).send().await.expect("page");
    assert_eq!(closed.status(), StatusCode::GONE);
    assert_eq!(send("rating=1").await.status(), StatusCode::GONE);
    assert_eq!(app.get_json(&admin, &path).await["csat"]["rating"], 4);

    // Reports count the survey as sent and answered, and not as an agent's message.
    let report = app.get_json(&admin, "/api/v1/reports/summary").await;
    let figures = &report["figures"];
    assert_eq!(figures["messages_out"], 0, "{report}");
    assert_eq!(figures["messages_in"], 1, "{report}");
}
