//! The web app's static files: its scripts (native ES modules, which import each other by
//! relative URL) and its stylesheet, served at `/assets/{name}` from `templates/app/`; and
//! the [`File`] type that `/widget.js` is served with too.
//!
//! Only the names in [`ASSETS`] are served: the name of a request is looked up in that table,
//! never joined onto a path, so no other file can be reached (`/assets/../x` is just an
//! unknown name).
//!
//! Release builds compile every file into the binary. Debug builds read it from this
//! checkout's `templates/` on each request, so a change to a script or the stylesheet shows
//! on reload, without rebuilding the hub.

#[cfg(not(debug_assertions))]
use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::ApiError;

pub(crate) const JS: &str = "text/javascript";
pub(crate) const CSS: &str = "text/css";
pub(crate) const SVG: &str = "image/svg+xml";

/// A file of `templates/`: compiled in (release) or read from disk (debug). Made by
/// [`template!`], which picks the one or the other.
pub(crate) struct File {
    /// Its path under `templates/` (for tests, and for debug builds' errors).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    path: &'static str,
    content_type: &'static str,
    #[cfg(not(debug_assertions))]
    body: &'static str,
    /// The ETag of `body`, computed on first use.
    #[cfg(not(debug_assertions))]
    etag: OnceLock<String>,
    /// Its absolute path in this checkout.
    #[cfg(debug_assertions)]
    disk: &'static str,
}

impl File {
    #[cfg(not(debug_assertions))]
    pub(crate) const fn compiled(
        path: &'static str,
        content_type: &'static str,
        body: &'static str,
    ) -> Self {
        Self {
            path,
            content_type,
            body,
            etag: OnceLock::new(),
        }
    }

    #[cfg(debug_assertions)]
    pub(crate) const fn on_disk(
        path: &'static str,
        content_type: &'static str,
        disk: &'static str,
    ) -> Self {
        Self {
            path,
            content_type,
            disk,
        }
    }

    /// The file, or 304 when the request's `If-None-Match` names its current content: its
    /// hash is a stable validator, so browsers revalidate and get 304 until it changes (in
    /// release builds: until the hub is upgraded).
    pub(crate) async fn respond(
        &self,
        req: &HttpRequest,
        cache_control: &'static str,
    ) -> HttpResponse {
        #[cfg(not(debug_assertions))]
        {
            let etag = self.etag.get_or_init(|| etag_of(self.body));
            respond(req, self.body, etag, self.content_type, cache_control)
        }
        #[cfg(debug_assertions)]
        {
            let disk = self.disk;
            let read = web::block(move || std::fs::read_to_string(disk)).await;
            let body = match read
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                Ok(body) => body,
                Err(e) => return internal(format!("templates/{}: {e}", self.path)),
            };
            let etag = etag_of(&body);
            respond(req, body, &etag, self.content_type, cache_control)
        }
    }
}

/// `template!("app/core.js", JS)`: the [`File`] at that path under `templates/`.
#[cfg(not(debug_assertions))]
macro_rules! template {
    ($path:literal, $content_type:expr) => {
        $crate::routes::assets::File::compiled(
            $path,
            $content_type,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path)),
        )
    };
}
#[cfg(debug_assertions)]
macro_rules! template {
    ($path:literal, $content_type:expr) => {
        $crate::routes::assets::File::on_disk(
            $path,
            $content_type,
            concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path),
        )
    };
}
pub(crate) use template;

/// Every file of the web app, by its name under `/assets/` (its path under `templates/app/`,
/// so the modules' relative imports resolve to names of this table).
static ASSETS: [(&str, File); 52] = [
    ("app.css", template!("app/app.css", CSS)),
    ("favicon.svg", template!("app/favicon.svg", SVG)),
    ("login.js", template!("app/login.js", JS)),
    ("bell.js", template!("app/bell.js", JS)),
    ("status.js", template!("app/status.js", JS)),
    ("main.js", template!("app/main.js", JS)),
    ("core.js", template!("app/core.js", JS)),
    ("shared.js", template!("app/shared.js", JS)),
    ("inbox/index.js", template!("app/inbox/index.js", JS)),
    ("inbox/state.js", template!("app/inbox/state.js", JS)),
    ("inbox/helpers.js", template!("app/inbox/helpers.js", JS)),
    (
        "inbox/directories.js",
        template!("app/inbox/directories.js", JS),
    ),
    ("inbox/viewing.js", template!("app/inbox/viewing.js", JS)),
    ("inbox/page.js", template!("app/inbox/page.js", JS)),
    ("inbox/list.js", template!("app/inbox/list.js", JS)),
    ("inbox/bulk.js", template!("app/inbox/bulk.js", JS)),
    ("inbox/select.js", template!("app/inbox/select.js", JS)),
    ("inbox/pane.js", template!("app/inbox/pane.js", JS)),
    ("inbox/messages.js", template!("app/inbox/messages.js", JS)),
    ("inbox/composer.js", template!("app/inbox/composer.js", JS)),
    ("inbox/details.js", template!("app/inbox/details.js", JS)),
    ("inbox/realtime.js", template!("app/inbox/realtime.js", JS)),
    ("inbox/keyboard.js", template!("app/inbox/keyboard.js", JS)),
    ("inbox/window.js", template!("app/inbox/window.js", JS)),
    ("inbox/mail.js", template!("app/inbox/mail.js", JS)),
    ("inbox/views.js", template!("app/inbox/views.js", JS)),
    ("inbox/welcome.js", template!("app/inbox/welcome.js", JS)),
    (
        "inbox/variables.js",
        template!("app/inbox/variables.js", JS),
    ),
    (
        "inbox/templates.js",
        template!("app/inbox/templates.js", JS),
    ),
    ("admin/index.js", template!("app/admin/index.js", JS)),
    ("admin/ui.js", template!("app/admin/ui.js", JS)),
    ("admin/frame.js", template!("app/admin/frame.js", JS)),
    ("admin/profile.js", template!("app/admin/profile.js", JS)),
    ("admin/channels.js", template!("app/admin/channels.js", JS)),
    ("admin/inboxes.js", template!("app/admin/inboxes.js", JS)),
    ("admin/inbox.js", template!("app/admin/inbox.js", JS)),
    ("admin/members.js", template!("app/admin/members.js", JS)),
    (
        "admin/unreadable.js",
        template!("app/admin/unreadable.js", JS),
    ),
    ("admin/agents.js", template!("app/admin/agents.js", JS)),
    ("admin/teams.js", template!("app/admin/teams.js", JS)),
    ("admin/labels.js", template!("app/admin/labels.js", JS)),
    (
        "admin/attributes.js",
        template!("app/admin/attributes.js", JS),
    ),
    ("contacts/index.js", template!("app/contacts/index.js", JS)),
    ("contacts/list.js", template!("app/contacts/list.js", JS)),
    (
        "contacts/contact.js",
        template!("app/contacts/contact.js", JS),
    ),
    ("admin/canned.js", template!("app/admin/canned.js", JS)),
    ("admin/audit.js", template!("app/admin/audit.js", JS)),
    ("admin/sla.js", template!("app/admin/sla.js", JS)),
    ("admin/whatsapp.js", template!("app/admin/whatsapp.js", JS)),
    ("admin/email.js", template!("app/admin/email.js", JS)),
    ("reports/index.js", template!("app/reports/index.js", JS)),
    ("reports/chart.js", template!("app/reports/chart.js", JS)),
];

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // `.*`: module names have folders (`inbox/list.js`).
    cfg.route("/assets/{name:.*}", web::get().to(asset))
        // Browsers ask for it on their own, whatever the pages link.
        .route("/favicon.ico", web::get().to(favicon));
}

async fn favicon(req: HttpRequest) -> HttpResponse {
    match ASSETS.iter().find(|(known, _)| *known == "favicon.svg") {
        Some((_, file)) => file.respond(&req, "max-age=86400").await,
        None => actix_web::ResponseError::error_response(&ApiError::not_found("no favicon")),
    }
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(known, _)| *known == name.as_str()) {
        Some((_, file)) => file.respond(&req, "no-cache").await,
        None => actix_web::ResponseError::error_response(&ApiError::not_found("no such asset")),
    }
}

fn etag_of(body: &str) -> String {
    format!("\"{}\"", &crate::auth::token_hash(body)[..16])
}

fn respond(
    req: &HttpRequest,
    body: impl MessageBody + 'static,
    etag: &str,
    content_type: &str,
    cache_control: &'static str,
) -> HttpResponse {
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag)
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

#[cfg(debug_assertions)]
fn internal(message: String) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::internal(message))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::ASSETS;

    fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read templates/app") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).expect("under templates/");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// Every file of templates/app/ is served, under its path there, and nothing else is.
    #[test]
    fn the_table_lists_every_file_of_the_app() {
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk = BTreeSet::new();
        files_under(&templates.join("app"), &templates, &mut on_disk);
        let listed: BTreeSet<String> = ASSETS.iter().map(|(_, f)| f.path.to_owned()).collect();
        assert_eq!(listed, on_disk);
        for (name, file) in &ASSETS {
            assert_eq!(file.path, format!("app/{name}"), "{name}");
        }
    }
}
