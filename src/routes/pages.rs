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
        .route("/contacts", web::get().to(app))
        .route("/contacts/{id}", web::get().to(app))
        .route("/reports", web::get().to(app))
        .route("/admin/canned", web::get().to(app))
        .route("/admin", web::get().to(app))
        .route("/admin/{page}", web::get().to(admin))
        .route("/admin/{page}/{id}", web::get().to(admin));
}

/// Same-origin scripts and styles only; images may come from object storage (https).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// An HTML page with the app's security headers (no framing, no caching, same-origin only).
pub(super) fn html(
    status: actix_web::http::StatusCode,
    body: impl actix_web::body::MessageBody + 'static,
) -> HttpResponse {
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
