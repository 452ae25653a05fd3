//! Logging set-up: short human-readable lines by default, JSON lines (with every span field)
//! for log collectors.
//!
//! The pretty format leaves out the request span's dozen fields (user agent, scheme, host…):
//! they made every access line about 450 characters. It keeps what a person reads: time,
//! level, where, the message with its fields, and the request id to find the JSON record.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the configured level.
/// Calling it twice is harmless (the second call does nothing), which tests rely on.
pub fn init(settings: &LogSettings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stdout().is_terminal())
            .event_format(Short)
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// `2026-12-06T01:37:50.939Z  INFO routes: request method="POST" path="/api/v1/auth/login"
/// status=401 millis=80.1 request_id=68caeb50`.
struct Short;

impl<S, N> FormatEvent<S, N> for Short
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let target = meta.target();
        let target = target.strip_prefix("switchboard::").unwrap_or(target);
        write!(
            writer,
            "{} {:>5} {target}: ",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            meta.level()
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        if let Some(id) = request_id(ctx) {
            write!(writer, " request_id={id}")?;
        }
        writeln!(writer)
    }
}

/// The first part of the enclosing request's id (tracing-actix-web's span field), enough
/// to find the request in JSON logs.
fn request_id<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let scope = ctx.event_scope()?;
    for span in scope.from_root() {
        let extensions = span.extensions();
        let Some(fields) = extensions.get::<FormattedFields<N>>() else {
            continue;
        };
        if let Some(rest) = fields.fields.split("request_id").nth(1) {
            // On a terminal the field name and `=` come wrapped in colour codes.
            let rest = without_colours(rest);
            let id: String = rest
                .trim_start_matches('=')
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .take(8)
                .collect();
            if !id.is_empty() {
                return Some(id);
            }
        }
    }
    None
}

/// The text without ANSI colour sequences (`ESC [ … m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_sequence = false;
    for c in text.chars() {
        match c {
            '\u{1b}' => in_sequence = true,
            'm' if in_sequence => in_sequence = false,
            _ if in_sequence => {}
            _ => out.push(c),
        }
    }
    out
}

/// Request spans as tracing-actix-web makes them, except for websocket upgrades: a span lives
/// as long as its response, and an upgraded response lives as long as the socket, so every idle
/// socket kept a span (~0.9 KB: registry slot, extensions, formatted fields; issue #23). Each
/// frame a socket receives gets its own span in its actor instead (`agent_frame`,
/// `visitor_frame`).
pub struct RequestSpans;

impl tracing_actix_web::RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let upgrade = request
            .headers()
            .get(actix_web::http::header::UPGRADE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        if upgrade {
            tracing::Span::none()
        } else {
            tracing_actix_web::root_span!(request)
        }
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::without_colours;

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(
            without_colours("\u{1b}[3mrequest_id\u{1b}[0m\u{1b}[2m=\u{1b}[0m68caeb50-72"),
            "request_id=68caeb50-72"
        );
        assert_eq!(without_colours("plain=1"), "plain=1");
    }
}
