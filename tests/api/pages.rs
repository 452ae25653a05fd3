//! The web app's doors: who may open which page (the pages themselves are tested in a
//! browser, inbox_browser.rs).

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, assert_error, client, spawn_app};

#[actix_web::test]
async fn pages_send_signed_out_visitors_to_sign_in_and_agents_away_from_admin_pages() {
    let app = spawn_app().await;
    let anonymous = client();
    for path in ["/", "/conversations/7", "/profile", "/admin/inboxes"] {
        let response = anonymous.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()["location"].to_str().expect("location");
        assert!(
            location.starts_with("/login?next=%2F"),
            "{path} → {location}"
        );
    }
    let login = anonymous
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(login.status(), StatusCode::OK);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        login
            .text()
            .await
            .expect("html")
            .contains("/assets/login.js")
    );

    let script = anonymous
        .get(app.url("/assets/core.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    assert_error(
        anonymous
            .get(app.url("/assets/secret.key"))
            .send()
            .await
            .expect("asset"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let admin = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_token = app.admin_token().await;
    let (_, password) = app
        .create_agent(&admin_token, "ada@example.com", "agent")
        .await;
    let agent = app.browser("ada@example.com", &password).await;
    for path in [
        "/admin/inboxes",
        "/admin/agents",
        "/admin/inboxes/1",
        "/admin/audit",
    ] {
        let as_admin = admin.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(as_admin.status(), StatusCode::OK, "{path}");
        let as_agent = agent.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(as_agent.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            as_agent
                .text()
                .await
                .expect("html")
                .contains("This page is for admins")
        );
    }
    for path in ["/", "/profile", "/admin/canned", "/conversations/1"] {
        let page = agent.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
    }
    // Signed in, the sign-in page leads to the inbox.
    let login = agent
        .client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers()["location"], "/");
}
