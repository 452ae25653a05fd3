//! The web app's pages: the inbox and admin pages are one shell (templates/app.html) whose
//! scripts render each page from the JSON API; the server decides who may open a page
//! (signed in; admin pages for admins only) before any of it is sent.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::types::Role;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(app))
        .route("/login", web::get().to(login))
        .route("/conversations/{id}", web::get().to(app))
        .route("/profile", web::get().to(app))
        .route("/admin/canned", web::get().to(app))
        .route("/admin", web::get().to(app))
        .route("/admin/{page}", web::get().to(admin))
        .route("/admin/{page}/{id}", web::get().to(admin))
        .route("/assets/{name}", web::get().to(asset));
}

/// Same-origin scripts and styles only; images may come from object storage (https).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

fn html(status: actix_web::http::StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn to_login(req: &HttpRequest) -> HttpResponse {
    let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/login?next={next}")))
        .finish()
}

async fn app(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match super::extract::session_agent(&req, &state).await {
        Some(_) => html(
            actix_web::http::StatusCode::OK,
            include_str!("../../templates/app.html"),
        ),
        None => to_login(&req),
    }
}

async fn admin(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match super::extract::session_agent(&req, &state).await {
        Some(agent) if agent.role == Role::Admin => html(
            actix_web::http::StatusCode::OK,
            include_str!("../../templates/app.html"),
        ),
        Some(_) => html(
            actix_web::http::StatusCode::FORBIDDEN,
            include_str!("../../templates/forbidden.html"),
        ),
        None => to_login(&req),
    }
}

async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if super::extract::session_agent(&req, &state).await.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish();
    }
    html(
        actix_web::http::StatusCode::OK,
        include_str!("../../templates/login.html"),
    )
}

/// The app's scripts and stylesheet, compiled into the binary.
async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let (body, content_type): (&'static str, &str) = match name.as_str() {
        "core.js" => (include_str!("../../templates/core.js"), "text/javascript"),
        "inbox.js" => (include_str!("../../templates/inbox.js"), "text/javascript"),
        "admin.js" => (include_str!("../../templates/admin.js"), "text/javascript"),
        "login.js" => (include_str!("../../templates/login.js"), "text/javascript"),
        "app.css" => (include_str!("../../templates/app.css"), "text/css"),
        _ => {
            return actix_web::ResponseError::error_response(&super::ApiError::not_found(
                "no such asset",
            ));
        }
    };
    compiled_file(&req, body, content_type, "no-cache")
}

/// A file compiled into the binary: its hash is a stable validator, so browsers revalidate
/// with `If-None-Match` and get 304 until the hub is upgraded.
pub(super) fn compiled_file(
    req: &HttpRequest,
    body: &'static str,
    content_type: &str,
    cache_control: &'static str,
) -> HttpResponse {
    let etag = format!("\"{}\"", &crate::auth::token_hash(body)[..16]);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return HttpResponse::NotModified().finish();
    }
    HttpResponse::Ok()
        .content_type(format!("{content_type}; charset=utf-8"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag))
        .body(body)
}
