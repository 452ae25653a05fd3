//! The HTML a site owner pastes into their pages to load the widget.

/// The two script tags of the embed code, for the inbox settings page: a stub that queues
/// `Switchboard(…)` calls made before the script loads, and the async script itself.
/// `hub_base_url` is the hub's public origin (a trailing `/` is dropped); both values are
/// escaped for an HTML attribute, so a strange configuration cannot break out of the tag.
pub fn snippet(hub_base_url: &str, public_key: &str) -> String {
    let src = format!("{}/widget.js", hub_base_url.trim_end_matches('/'));
    format!(
        "<script>window.Switchboard=window.Switchboard||function(){{(Switchboard.q=Switchboard.q||[]).push(arguments)}};</script>\n\
         <script async src=\"{}\" data-key=\"{}\"></script>",
        escape_attribute(&src),
        escape_attribute(public_key)
    )
}

/// Escapes the characters that are special in a quoted HTML attribute value (and `<`, `>` so
/// the result is safe in text too).
fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUB: &str = "<script>window.Switchboard=window.Switchboard||function(){(Switchboard.q=Switchboard.q||[]).push(arguments)};</script>";

    #[test]
    fn matches_the_spec() {
        assert_eq!(
            snippet("https://hub.example.com", "sbwk_abc123"),
            format!(
                "{STUB}\n<script async src=\"https://hub.example.com/widget.js\" data-key=\"sbwk_abc123\"></script>"
            )
        );
    }

    #[test]
    fn trailing_slashes_are_dropped() {
        for base in ["https://hub.example.com/", "https://hub.example.com//"] {
            assert!(
                snippet(base, "k").contains("src=\"https://hub.example.com/widget.js\""),
                "{base}"
            );
        }
        assert!(
            snippet("https://example.com/support/", "k")
                .contains("src=\"https://example.com/support/widget.js\"")
        );
    }

    #[test]
    fn values_are_attribute_escaped() {
        let html = snippet(
            "https://hub.example.com/?a=1&b=\"2\"",
            "sbwk_\"><script>alert('x')</script>",
        );
        assert_eq!(
            html,
            format!(
                "{STUB}\n<script async src=\"https://hub.example.com/?a=1&amp;b=&quot;2&quot;/widget.js\" \
                 data-key=\"sbwk_&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\"></script>"
            )
        );
        assert_eq!(html.matches("<script").count(), 2);
    }
}
