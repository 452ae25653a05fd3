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

/// The `src` of each `<script>` of a page (all of them modules) and the `href` of its links.
fn page_assets(html: &str) -> (Vec<String>, Vec<String>) {
    let tags = |name: &str| -> Vec<String> {
        html.split(&format!("<{name} "))
            .skip(1)
            .map(|rest| rest[..rest.find('>').expect("a closed tag")].to_owned())
            .collect()
    };
    let scripts = tags("script")
        .iter()
        .map(|tag| {
            assert!(tag.contains(r#"type="module""#), "a classic script: {tag}");
            attribute(tag, "src").expect("a script's src")
        })
        .collect();
    let styles = tags("link")
        .iter()
        .filter(|tag| tag.contains(r#"rel="stylesheet""#))
        .map(|tag| attribute(tag, "href").expect("a stylesheet's href"))
        .collect();
    (scripts, styles)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_owned())
}

/// What a module's static imports name: `import { a } from './x.js';` (on one line or
/// several) and `import './y.js';`.
fn imports(source: &str) -> Vec<String> {
    let mut specifiers = Vec::new();
    let mut in_import = false;
    for line in source.lines().map(str::trim) {
        in_import |= line.starts_with("import ");
        if !in_import {
            continue;
        }
        let quoted = ["from '", "from \"", "import '", "import \""]
            .iter()
            .find_map(|start| line.find(start).map(|at| &line[at + start.len()..]));
        if let Some(rest) = quoted {
            let end = rest.find(['\'', '"']).expect("a closing quote");
            specifiers.push(rest[..end].to_owned());
            in_import = false;
        } else if line.ends_with(';') {
            in_import = false;
        }
    }
    specifiers
}

/// Fetches an asset as a browser would, checks its headers and that it is revalidated with
/// a 304; returns its text.
async fn fetch_asset(client: &reqwest::Client, url: &str, content_type: &str) -> String {
    let response = client.get(url).send().await.expect("asset");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"],
        format!("{content_type}; charset=utf-8").as_str(),
        "{url}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff", "{url}");
    assert_eq!(headers["cache-control"], "no-cache", "{url}");
    let etag = headers["etag"].to_str().expect("etag").to_owned();
    let again = client
        .get(url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("revalidation");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
    response.text().await.expect("asset text")
}

#[actix_web::test]
async fn every_module_the_pages_import_is_served_as_javascript() {
    let app = spawn_app().await;
    let admin = app.browser(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let anonymous = client();
    let mut pages = Vec::new();
    for (client, path) in [(&admin.client, "/"), (&anonymous, "/login")] {
        let page = client.get(app.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        pages.push(page.text().await.expect("html"));
    }

    let mut queue = Vec::new();
    for html in &pages {
        let (scripts, styles) = page_assets(html);
        assert!(!scripts.is_empty(), "no module script in {html}");
        queue.extend(scripts);
        for href in styles {
            fetch_asset(&admin.client, &app.url(&href), "text/css").await;
        }
    }
    let mut served = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !served.insert(path.clone()) {
            continue;
        }
        let url = app.url(&path);
        let source = fetch_asset(&admin.client, &url, "text/javascript").await;
        let base = url::Url::parse(&url).expect("module URL");
        for specifier in imports(&source) {
            let target = base.join(&specifier).expect("an import resolves");
            assert_eq!(target.origin(), base.origin(), "{path} imports {specifier}");
            assert!(
                target.path().starts_with("/assets/"),
                "{path} imports {specifier}"
            );
            queue.push(target.path().to_owned());
        }
    }
    // The walk reached the shared layer and the modules of both pages.
    for path in [
        "/assets/main.js",
        "/assets/core.js",
        "/assets/shared.js",
        "/assets/login.js",
        "/assets/inbox/keyboard.js",
        "/assets/inbox/composer.js",
        "/assets/admin/audit.js",
    ] {
        assert!(served.contains(path), "{path} is not imported: {served:?}");
    }
}

/// Sends `GET path` as written (clients resolve `..` and `%2e%2e` before sending); returns
/// the status line and the whole answer.
async fn raw_get(app: &crate::helpers::TestApp, path: &str) -> (String, String) {
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut sent = 0;
    while sent < request.len() {
        stream.writable().await.expect("writable");
        match stream.try_write(&request.as_bytes()[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("write: {e}"),
        }
    }
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        stream.readable().await.expect("readable");
        match stream.try_read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, answer)
}

#[actix_web::test]
async fn unknown_and_traversing_asset_paths_answer_404() {
    let app = spawn_app().await;
    let anonymous = client();
    // The scripts of before the modules, and names that are not files of the app.
    for path in [
        "/assets/inbox.js",
        "/assets/admin.js",
        "/assets/inbox/",
        "/assets/inbox",
        "/assets/app/core.js",
        "/assets/core.js/x",
        "/assets/widget.js",
        "/assets/app.html",
    ] {
        assert_error(
            anonymous.get(app.url(path)).send().await.expect("asset"),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/assets/inbox/../../Cargo.toml",
        "/assets/inbox/../core.js",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
    ] {
        let (status, answer) = raw_get(&app, path).await;
        assert!(status.starts_with("HTTP/1.1 404"), "{path}: {status}");
        assert!(answer.contains(r#""code":"not_found""#), "{path}: {answer}");
    }
}

#[actix_web::test]
async fn the_favicon_is_served_where_browsers_look() {
    let app = spawn_app().await;
    let login = client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    assert!(login.contains(r#"<link rel="icon" type="image/svg+xml" href="/assets/favicon.svg">"#));
    for path in ["/assets/favicon.svg", "/favicon.ico"] {
        let response = client().get(app.url(path)).send().await.expect("favicon");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let kind = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("content type")
            .to_owned();
        assert!(kind.starts_with("image/svg+xml"), "{path}: {kind}");
        assert!(response.text().await.expect("svg").starts_with("<svg"));
    }
}
