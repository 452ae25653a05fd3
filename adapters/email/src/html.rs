//! HTML from customers' mail: sanitized for the inbox, and read as text for display.
//!
//! Mail HTML is hostile by default: scripts, event handlers, forms and frames are removed by
//! [ammonia]'s allow-list, and remote images are not loaded (an image URL is how senders
//! learn that, when and where a mail was opened): their `src` is removed and the URL listed in
//! [`Sanitized::remote_images`], so the inbox can offer to load them on demand. `cid:`
//! references stay, so the hub can show inline images from the mail's own parts.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ammonia::{Builder, UrlRelative};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// CSS properties kept in `style` attributes: mail layout relies on inline styles, and none
/// of these can load anything or lay content over the inbox (no `background`, no `position`).
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-size",
    "font-family",
    "text-decoration",
    "text-align",
    "vertical-align",
    "line-height",
    "white-space",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-collapse",
    "width",
    "max-width",
    "height",
];

/// Sanitized HTML and what was taken out of it on the way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sanitized {
    /// Safe to show in the inbox: no script, handler, form, frame or remote load.
    pub html: String,
    /// URLs of remote images whose `src` was removed, in document order, each once.
    pub remote_images: Vec<String>,
}

/// Sanitizes a mail's HTML for showing in the inbox.
pub fn sanitize(html: &str) -> Sanitized {
    let remote: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&remote);
    let mut builder = Builder::default();
    builder
        .add_url_schemes(["cid"])
        // Their text is not content: a document title, a form's controls.
        .add_clean_content_tags(["title", "form", "select", "textarea", "button"])
        // A relative URL in a mail resolves against the inbox's own origin: never useful,
        // possibly a request to the hub itself.
        .url_relative(UrlRelative::Deny)
        .add_generic_attributes(["style"])
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect::<HashSet<_>>())
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let trimmed = value.trim();
                if has_scheme(trimmed, "cid") {
                    return Some(Cow::Borrowed(value));
                }
                if let Ok(mut list) = seen.lock()
                    && !list.iter().any(|url| url == trimmed)
                {
                    list.push(trimmed.to_owned());
                }
                return None;
            }
            Some(Cow::Borrowed(value))
        });
    let html = builder.clean(html).to_string().trim().to_owned();
    drop(builder);
    let remote_images = match Arc::try_unwrap(remote) {
        Ok(list) => list.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|list| list.clone()).unwrap_or_default(),
    };
    Sanitized {
        html,
        remote_images,
    }
}

/// Whether `url` starts with `scheme:`, ignoring ASCII case.
fn has_scheme(url: &str, scheme: &str) -> bool {
    url.len() > scheme.len()
        && url.is_char_boundary(scheme.len())
        && url[..scheme.len()].eq_ignore_ascii_case(scheme)
        && url[scheme.len()..].starts_with(':')
}

/// Collects the tokenizer's output; `RefCell` because html5ever's sink takes `&self`.
struct Collect(RefCell<Vec<Token>>);

impl TokenSink for Collect {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        self.0.borrow_mut().push(token);
        TokenSinkResult::Continue
    }
}

/// Elements that start and end a line of their own.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "center"
            | "dd"
            | "details"
            | "div"
            | "dl"
            | "dt"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "li"
            | "nav"
            | "ol"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Elements separated from what surrounds them by an empty line.
fn is_paragraph(name: &str) -> bool {
    matches!(
        name,
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" | "blockquote" | "hr"
    )
}

/// Builds text line by line, so a `blockquote`'s lines get their `> ` prefix.
#[derive(Default)]
struct TextWriter {
    out: String,
    /// The current line, without its quote prefix.
    line: String,
    /// The quote depth of the current line, fixed once it has text.
    line_depth: usize,
    /// The quote depth of the last line written.
    last_depth: usize,
    depth: usize,
    pending_space: bool,
    /// Empty lines wanted before the next text (1: a line break, 2: a paragraph break).
    pending_breaks: usize,
    pre: usize,
    /// `href` of the open links, to add after their text when it differs.
    links: Vec<Option<String>>,
    link_text: Vec<String>,
}

impl TextWriter {
    fn push_text(&mut self, text: &str) {
        for ch in text.chars() {
            if self.pre > 0 {
                if ch == '\n' {
                    self.end_line();
                } else if ch != '\r' {
                    self.put(ch);
                }
            } else if ch.is_whitespace() {
                if !self.line.is_empty() {
                    self.pending_space = true;
                }
            } else {
                if std::mem::take(&mut self.pending_space)
                    && self.pending_breaks == 0
                    && !self.line.is_empty()
                {
                    self.put(' ');
                }
                self.put(ch);
            }
        }
    }

    fn put(&mut self, ch: char) {
        if self.pending_breaks > 0 {
            self.flush_breaks();
        }
        if self.line.is_empty() {
            self.line_depth = self.depth;
        }
        self.line.push(ch);
        for text in &mut self.link_text {
            text.push(ch);
        }
    }

    fn flush_breaks(&mut self) {
        let breaks = std::mem::take(&mut self.pending_breaks);
        if !self.line.is_empty() {
            self.end_line();
        }
        if breaks >= 2 && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            // An empty separator line inside a quote keeps its `>`.
            self.write_prefix(self.depth.min(self.last_depth));
            self.out.push('\n');
        }
    }

    fn write_prefix(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push('>');
        }
    }

    fn end_line(&mut self) {
        let depth = if self.line.is_empty() {
            self.depth
        } else {
            self.line_depth
        };
        self.last_depth = depth;
        if depth > 0 {
            self.write_prefix(depth);
            if !self.line.is_empty() {
                self.out.push(' ');
            }
        }
        self.out.push_str(self.line.trim_end());
        self.out.push('\n');
        self.line.clear();
        self.pending_space = false;
    }

    fn line_break(&mut self) {
        self.pending_space = false;
        if self.pending_breaks > 0 {
            self.flush_breaks();
        }
        self.end_line();
    }

    fn want_breaks(&mut self, breaks: usize) {
        self.pending_space = false;
        if self.line.is_empty() && self.out.is_empty() {
            return;
        }
        self.pending_breaks = self.pending_breaks.max(breaks);
    }

    fn finish(mut self) -> String {
        if !self.line.is_empty() {
            self.end_line();
        }
        tidy(&self.out)
    }
}

/// Trims trailing spaces, collapses runs of empty lines and trims the ends.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut empty = 0usize;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim_start_matches('>').trim().is_empty() && !line.starts_with('>') {
            empty += 1;
            if empty > 1 {
                continue;
            }
        } else {
            empty = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_matches('\n').to_owned()
}

/// Reads HTML as plain text for display: paragraphs and line breaks kept, lists as `- `
/// items, `blockquote`s as `> ` lines (so quote stripping treats them like quoted plain
/// text), link targets after their text, images by their `alt` text. Meant for sanitized
/// HTML, but safe on any input.
pub fn to_text(html: &str) -> String {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(Collect(RefCell::new(Vec::new())), TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let tokens = tokenizer.sink.0.take();

    // Outlook writes every line as a paragraph without margins and a blank line as an
    // empty paragraph; read that way, its HTML keeps its line spacing.
    let compact_paragraphs = has_empty_paragraph(&tokens);
    let mut paragraph_mark = None;
    let mut writer = TextWriter::default();
    // Text inside these is not content (a stray `<title>` or `<style>` in unsanitized input).
    let mut hidden = 0usize;
    let mut list_numbers: Vec<Option<u32>> = Vec::new();
    let mut cells_in_row = 0usize;
    for token in tokens {
        match token {
            Token::CharacterTokens(text) if hidden == 0 => writer.push_text(&text),
            Token::TagToken(tag) => {
                let name: &str = &tag.name;
                let start = tag.kind == TagKind::StartTag;
                match name {
                    "script" | "style" | "title" | "head" | "template" | "noscript" => {
                        if start && !tag.self_closing {
                            hidden += 1;
                        } else if !start {
                            hidden = hidden.saturating_sub(1);
                        }
                    }
                    _ if hidden > 0 => {}
                    "br" => writer.line_break(),
                    "blockquote" => {
                        writer.want_breaks(2);
                        if start {
                            writer.depth += 1;
                        } else {
                            writer.flush_pending_line();
                            writer.depth = writer.depth.saturating_sub(1);
                        }
                    }
                    "pre" => {
                        writer.want_breaks(2);
                        if start {
                            writer.pre += 1;
                        } else {
                            writer.pre = writer.pre.saturating_sub(1);
                        }
                    }
                    "hr" => {
                        writer.want_breaks(2);
                    }
                    "ul" | "ol" => {
                        writer.want_breaks(1);
                        if start {
                            list_numbers.push((name == "ol").then_some(0));
                        } else {
                            list_numbers.pop();
                        }
                    }
                    "li" => {
                        writer.want_breaks(1);
                        if start {
                            let bullet = match list_numbers.last_mut() {
                                Some(Some(number)) => {
                                    *number += 1;
                                    format!("{number}. ")
                                }
                                _ => "- ".to_owned(),
                            };
                            for ch in bullet.chars() {
                                writer.put(ch);
                            }
                        }
                    }
                    "tr" => {
                        writer.want_breaks(1);
                        cells_in_row = 0;
                    }
                    "td" | "th" if start => {
                        if cells_in_row > 0 {
                            writer.pending_space = true;
                        }
                        cells_in_row += 1;
                    }
                    "a" => {
                        if start {
                            let href = tag
                                .attrs
                                .iter()
                                .find(|attr| &*attr.name.local == "href")
                                .map(|attr| attr.value.to_string());
                            writer.links.push(href);
                            writer.link_text.push(String::new());
                        } else if let (Some(Some(href)), Some(text)) =
                            (writer.links.pop(), writer.link_text.pop())
                            && shows_target(&href, &text)
                        {
                            writer.push_text(&format!(" <{href}>"));
                        }
                    }
                    "img" if start => {
                        let alt = tag
                            .attrs
                            .iter()
                            .find(|attr| &*attr.name.local == "alt")
                            .map(|attr| attr.value.trim().to_owned())
                            .unwrap_or_default();
                        if !alt.is_empty() {
                            writer.push_text(&format!("[{alt}]"));
                        }
                    }
                    "p" if compact_paragraphs => {
                        if start {
                            writer.want_breaks(1);
                            paragraph_mark = Some(writer.written());
                        } else {
                            if paragraph_mark.take() == Some(writer.written()) {
                                writer.empty_line();
                            }
                            writer.want_breaks(1);
                        }
                    }
                    _ if is_paragraph(name) => writer.want_breaks(2),
                    _ if is_block(name) => writer.want_breaks(1),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    writer.finish()
}

/// Whether the HTML has a paragraph with nothing but spaces in it (Outlook's blank line).
fn has_empty_paragraph(tokens: &[Token]) -> bool {
    let mut open = false;
    for token in tokens {
        match token {
            Token::TagToken(tag) if &*tag.name == "p" => {
                if tag.kind == TagKind::EndTag && open {
                    return true;
                }
                open = tag.kind == TagKind::StartTag;
            }
            Token::CharacterTokens(text) if text.chars().all(char::is_whitespace) => {}
            _ => open = false,
        }
    }
    false
}

impl TextWriter {
    /// How much text has been written so far, to tell whether an element added any.
    fn written(&self) -> (usize, usize) {
        (self.out.len(), self.line.len())
    }

    /// An empty line of its own (an empty paragraph in Outlook's HTML).
    fn empty_line(&mut self) {
        self.pending_space = false;
        if self.pending_breaks > 0 {
            self.flush_breaks();
        }
        if !self.line.is_empty() {
            self.end_line();
        }
        self.end_line();
    }

    /// Ends the current line before the quote depth changes, so it keeps its own prefix.
    fn flush_pending_line(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
        }
    }
}

/// Whether a link's target adds anything to its text: web and mail links whose text does
/// not already say where they go.
fn shows_target(href: &str, text: &str) -> bool {
    let href = href.trim();
    if !(has_scheme(href, "http") || has_scheme(href, "https")) {
        return false;
    }
    let text = text.trim();
    if text.is_empty() {
        return true;
    }
    let bare = |s: &str| {
        s.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    };
    bare(href) != bare(text)
}

/// Escapes text for HTML (`&`, `<`, `>`, quotes), for the HTML side of outbound mail.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_forms_and_frames_are_removed() {
        let dirty = r#"<p onclick="steal()">Hi<script>alert(1)</script></p>
            <form action="https://evil.example/"><input name="pw"><button>Go</button></form>
            <iframe src="https://evil.example/"></iframe>
            <a href="javascript:alert(1)">x</a><a href="https://ok.example/">ok</a>
            <style>body{display:none}</style>"#;
        let clean = sanitize(dirty).html;
        for banned in [
            "script",
            "onclick",
            "<form",
            "<input",
            "<iframe",
            "javascript:",
            "<style",
            "display:none",
        ] {
            assert!(!clean.contains(banned), "{banned} left in {clean}");
        }
        assert!(clean.contains(r#"href="https://ok.example/""#), "{clean}");
        assert!(clean.contains("noopener"), "{clean}");
    }

    #[test]
    fn remote_images_are_not_loaded_but_listed_and_cid_stays() {
        let dirty = r#"<img src="https://track.example/o.gif?u=1" width="1" height="1">
            <img src="cid:logo@example.com" alt="Logo">
            <img src="HTTPS://track.example/o.gif?u=1">
            <img src="data:image/png;base64,AAAA">
            <img src="relative.png">"#;
        let clean = sanitize(dirty);
        assert!(!clean.html.contains("track.example"), "{}", clean.html);
        assert!(clean.html.contains(r#"src="cid:logo@example.com""#));
        assert!(!clean.html.contains("data:"), "{}", clean.html);
        assert!(!clean.html.contains("relative.png"), "{}", clean.html);
        assert_eq!(
            clean.remote_images,
            vec![
                "https://track.example/o.gif?u=1".to_owned(),
                "HTTPS://track.example/o.gif?u=1".to_owned()
            ]
        );
    }

    #[test]
    fn styles_keep_only_safe_properties() {
        let clean = sanitize(
            r#"<p style="color: red; background: url(https://t.example/x.png); position: fixed">x</p>"#,
        )
        .html;
        assert!(clean.contains("color:red"), "{clean}");
        assert!(!clean.contains("t.example"), "{clean}");
        assert!(!clean.contains("position"), "{clean}");
    }

    #[test]
    fn text_keeps_paragraphs_lists_links_and_quotes() {
        let text = to_text(
            "<div>Hello&nbsp;there,<br>second   line</div><p>Para &amp; more</p>\
             <ul><li>one</li><li>two</li></ul><ol><li>first</li></ol>\
             <p><a href=\"https://example.com/help\">our help</a> and \
             <a href=\"https://example.com\">example.com</a></p>\
             <blockquote><p>quoted</p><p>again</p></blockquote><p>after</p>\
             <img src=\"cid:x\" alt=\"Chart\">",
        );
        assert_eq!(
            text,
            "Hello there,\nsecond line\n\nPara & more\n\n- one\n- two\n1. first\n\n\
             our help <https://example.com/help> and example.com\n\n> quoted\n>\n> again\n\n\
             after\n\n[Chart]"
        );
    }

    #[test]
    fn text_ignores_head_and_script_content() {
        assert_eq!(
            to_text("<html><head><title>T</title><style>p{}</style></head><body>Body</body>"),
            "Body"
        );
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
