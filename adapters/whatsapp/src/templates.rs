//! Approved message templates: reading `GET /{waba_id}/message_templates` pages and
//! rendering a filled template's text as the customer will read it.
//!
//! Pages are read leniently: one template in a shape the parser does not know is skipped (and
//! counted), never the reason the agent sees no templates at all.

use serde_json::Value;
use switchboard_channel::{MessageTemplate, TemplateButton, TemplateMessage, TemplateParameter};

/// One page of `GET /{waba_id}/message_templates`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplatePage {
    /// The templates that could be read, in Meta's order.
    pub templates: Vec<MessageTemplate>,
    /// The cursor of the next page (`paging.cursors.after`), only when Meta says there is one
    /// (`paging.next` present): the last page still carries an `after` cursor.
    pub after: Option<String>,
    /// How many entries were skipped because a required field (name, language, status, body
    /// text) was missing, for the log.
    pub skipped: usize,
}

/// Reads one page; anything that is not a page gives an empty one.
pub fn parse_page(page: &Value) -> TemplatePage {
    let mut parsed = TemplatePage::default();
    if let Some(data) = page.get("data").and_then(Value::as_array) {
        for entry in data {
            match parse_template(entry) {
                Some(template) => parsed.templates.push(template),
                None => parsed.skipped += 1,
            }
        }
    }
    let paging = page.get("paging");
    let has_next = paging
        .and_then(|p| p.get("next"))
        .and_then(Value::as_str)
        .is_some_and(|next| !next.is_empty());
    if has_next {
        parsed.after = paging
            .and_then(|p| p.get("cursors"))
            .and_then(|c| c.get("after"))
            .and_then(Value::as_str)
            .filter(|after| !after.is_empty())
            .map(str::to_owned);
    }
    parsed
}

/// A non-empty string field.
fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned)
}

/// Reads one template; `None` when it lacks a name, language, status or body text.
pub fn parse_template(entry: &Value) -> Option<MessageTemplate> {
    let mut template = MessageTemplate {
        id: entry.get("id").and_then(crate::outbound::graph_id),
        name: text(entry, "name")?,
        language: text(entry, "language")?,
        status: text(entry, "status")?,
        category: text(entry, "category"),
        parameter_format: text(entry, "parameter_format"),
        ..MessageTemplate::default()
    };
    let mut body = None;
    for component in entry
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = text(component, "type").unwrap_or_default();
        match kind.to_ascii_uppercase().as_str() {
            "HEADER" => {
                let format = text(component, "format").unwrap_or_else(|| "TEXT".into());
                if format.eq_ignore_ascii_case("TEXT") {
                    template.header = text(component, "text");
                } else {
                    template.header_format = Some(format);
                }
            }
            "BODY" => body = text(component, "text"),
            "FOOTER" => template.footer = text(component, "text"),
            "BUTTONS" => {
                template.buttons = component
                    .get("buttons")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|button| {
                        Some(TemplateButton {
                            kind: text(button, "type")?,
                            text: text(button, "text").unwrap_or_default(),
                            url: text(button, "url"),
                        })
                    })
                    .collect();
            }
            _ => {}
        }
    }
    template.body = body?;
    Some(template)
}

/// Whether `name` can be a placeholder: Meta's `{{1}}` or `{{first_name}}`.
fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Walks `text`, handing each literal run and each placeholder to `visit`.
fn walk<'t>(text: &'t str, mut visit: impl FnMut(Segment<'t>)) {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if is_placeholder_name(&after[..end]) => {
                visit(Segment::Literal(&rest[..start]));
                visit(Segment::Placeholder(&after[..end]));
                rest = &after[end + 2..];
            }
            _ => {
                // Not a placeholder: keep the brace as text and look again from the next one.
                visit(Segment::Literal(&rest[..=start]));
                rest = &rest[start + 1..];
            }
        }
    }
    visit(Segment::Literal(rest));
}

enum Segment<'t> {
    Literal(&'t str),
    Placeholder(&'t str),
}

/// The placeholders of a template text in order of first appearance, each once, without
/// braces: `"Hi {{1}}, order {{2}}"` → `["1", "2"]`, so the inbox can ask for each value.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    walk(text, |segment| {
        if let Segment::Placeholder(name) = segment
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_owned());
        }
    });
    found
}

/// The value filled in for placeholder `name`: by name, else (`{{2}}`) by position.
fn value_for<'p>(name: &str, parameters: &'p [TemplateParameter]) -> Option<&'p str> {
    let named = parameters.iter().find(|p| p.name.as_deref() == Some(name));
    let positional = || {
        let position: usize = name.parse().ok()?;
        parameters
            .get(position.checked_sub(1)?)
            .filter(|p| p.name.is_none())
    };
    named
        .or_else(positional)
        .map(|p| p.text.as_str())
        .filter(|t| !t.trim().is_empty())
}

/// `text` with its placeholders replaced; the error names the first one left unfilled.
fn fill(text: &str, parameters: &[TemplateParameter], part: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut missing = None;
    walk(text, |segment| match segment {
        Segment::Literal(literal) => out.push_str(literal),
        Segment::Placeholder(name) => match value_for(name, parameters) {
            Some(value) => out.push_str(value),
            None => {
                missing.get_or_insert(name);
            }
        },
    });
    match missing {
        Some(name) => Err(format!(
            "the {part}'s parameter {{{{{name}}}}} is not filled"
        )),
        None => Ok(out),
    }
}

/// The text the customer reads for `template` filled with `filled`: header, body and footer
/// separated by blank lines, placeholders replaced, so the inbox shows (and stores) exactly
/// what was sent. Fails naming the first placeholder (or URL button) left without a value.
pub fn render(template: &MessageTemplate, filled: &TemplateMessage) -> Result<String, String> {
    let mut parts = Vec::new();
    if let Some(header) = template.header.as_deref().filter(|h| !h.is_empty()) {
        parts.push(fill(header, &filled.header, "header")?);
    }
    parts.push(fill(&template.body, &filled.body, "body")?);
    if let Some(footer) = template.footer.as_deref().filter(|f| !f.is_empty()) {
        parts.push(footer.to_owned());
    }
    for (index, button) in template.buttons.iter().enumerate() {
        let dynamic = button
            .url
            .as_deref()
            .is_some_and(|url| !placeholders(url).is_empty());
        let given = filled
            .buttons
            .iter()
            .any(|b| usize::try_from(b.index).ok() == Some(index) && !b.text.trim().is_empty());
        if dynamic && !given {
            return Err(format!(
                "the URL button {:?} (index {index}) needs a value for the end of its link",
                button.text
            ));
        }
    }
    Ok(parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchboard_channel::TemplateButtonValue;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture exists");
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn reads_metas_documented_page() {
        let page = parse_page(&fixture("templates_page_1.json"));
        assert_eq!(page.after.as_deref(), Some("QVFIUmlUSnlTNW1Sdw"));
        // One entry without components' body and one without a name are skipped.
        assert_eq!(page.skipped, 2);
        let names: Vec<&str> = page.templates.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "order_delivery_update",
                "shipping_update",
                "order_ready_named"
            ]
        );

        let delivery = &page.templates[0];
        assert_eq!(delivery.id.as_deref(), Some("1700924253658227"));
        assert_eq!(delivery.language, "en_US");
        assert_eq!(delivery.status, "APPROVED");
        assert_eq!(delivery.category.as_deref(), Some("UTILITY"));
        assert_eq!(delivery.header, None);
        assert_eq!(delivery.header_format.as_deref(), Some("LOCATION"));
        assert!(delivery.body.starts_with("Good news {{1}}!"));
        assert_eq!(
            delivery.footer.as_deref(),
            Some("To stop receiving delivery updates, tap the button below.")
        );
        assert_eq!(
            delivery.buttons,
            vec![TemplateButton {
                kind: "QUICK_REPLY".into(),
                text: "Stop Delivery Updates".into(),
                url: None,
            }]
        );

        let shipping = &page.templates[1];
        assert_eq!(shipping.header.as_deref(), Some("Order {{1}} has shipped"));
        assert_eq!(shipping.header_format, None);
        assert_eq!(shipping.parameter_format.as_deref(), Some("POSITIONAL"));
        assert_eq!(shipping.buttons.len(), 2);
        assert_eq!(
            shipping.buttons[1].url.as_deref(),
            Some("https://shop.example.com/track/{{1}}")
        );

        let named = &page.templates[2];
        assert_eq!(named.parameter_format.as_deref(), Some("NAMED"));
        assert_eq!(named.status, "PENDING");
    }

    #[test]
    fn the_last_page_has_no_next_cursor() {
        let page = parse_page(&fixture("templates_page_2.json"));
        assert_eq!(page.after, None);
        assert_eq!(page.templates.len(), 1);
        assert_eq!(page.templates[0].name, "hello_world");
        assert_eq!(page.templates[0].id.as_deref(), Some("12345"));
    }

    #[test]
    fn anything_else_is_an_empty_page() {
        assert_eq!(parse_page(&json!({})), TemplatePage::default());
        assert_eq!(parse_page(&json!([1, 2])), TemplatePage::default());
        let odd = parse_page(&json!({ "data": [1, "x", null] }));
        assert_eq!(odd.skipped, 3);
        assert!(odd.templates.is_empty());
    }

    #[test]
    fn placeholders_in_order_each_once() {
        assert_eq!(
            placeholders("Hi {{1}}, order {{2}} ({{1}})"),
            vec!["1".to_owned(), "2".to_owned()]
        );
        assert_eq!(
            placeholders("{{first_name}} {{ spaced }} {{}} {{a-b}} {{order_id}}"),
            vec!["first_name".to_owned(), "order_id".to_owned()]
        );
        assert!(placeholders("no {{ placeholders } here {{").is_empty());
        assert_eq!(placeholders("{{{1}}}"), vec!["1".to_owned()]);
    }

    fn shipping() -> MessageTemplate {
        parse_page(&fixture("templates_page_1.json")).templates[1].clone()
    }

    fn positional(values: &[&str]) -> Vec<TemplateParameter> {
        values
            .iter()
            .map(|v| TemplateParameter {
                name: None,
                text: (*v).to_owned(),
            })
            .collect()
    }

    #[test]
    fn renders_header_body_and_footer() {
        let filled = TemplateMessage {
            name: "shipping_update".into(),
            language: "en_US".into(),
            header: positional(&["#42"]),
            body: positional(&["Ada", "Friday"]),
            buttons: vec![TemplateButtonValue {
                index: 1,
                text: "42".into(),
            }],
        };
        assert_eq!(
            render(&shipping(), &filled).expect("renders"),
            "Order #42 has shipped\n\nHi Ada, your parcel arrives on Friday. Questions? \
             Just reply.\n\nShop Example Ltd."
        );
    }

    #[test]
    fn renders_named_parameters() {
        let template = MessageTemplate {
            name: "order_ready_named".into(),
            body: "Hi {{first_name}}, order {{order_id}} is ready. {{first_name}}, see you!".into(),
            ..MessageTemplate::default()
        };
        let filled = TemplateMessage {
            body: vec![
                TemplateParameter {
                    name: Some("order_id".into()),
                    text: "A-7".into(),
                },
                TemplateParameter {
                    name: Some("first_name".into()),
                    text: "Bo".into(),
                },
            ],
            ..TemplateMessage::default()
        };
        assert_eq!(
            render(&template, &filled).expect("renders"),
            "Hi Bo, order A-7 is ready. Bo, see you!"
        );
    }

    #[test]
    fn missing_values_are_named() {
        let mut filled = TemplateMessage {
            header: positional(&["#42"]),
            body: positional(&["Ada"]),
            buttons: vec![TemplateButtonValue {
                index: 1,
                text: "42".into(),
            }],
            ..TemplateMessage::default()
        };
        assert_eq!(
            render(&shipping(), &filled),
            Err("the body's parameter {{2}} is not filled".into())
        );
        filled.body = positional(&["Ada", "  "]);
        assert_eq!(
            render(&shipping(), &filled),
            Err("the body's parameter {{2}} is not filled".into())
        );
        filled.body = positional(&["Ada", "Friday"]);
        filled.header.clear();
        assert_eq!(
            render(&shipping(), &filled),
            Err("the header's parameter {{1}} is not filled".into())
        );
        filled.header = positional(&["#42"]);
        filled.buttons[0].index = 0;
        let error = render(&shipping(), &filled).expect_err("button unfilled");
        assert!(error.contains("\"Track parcel\" (index 1)"), "{error}");
    }

    #[test]
    fn templates_without_placeholders_render_as_they_are() {
        let page = parse_page(&fixture("templates_page_2.json"));
        assert_eq!(
            render(&page.templates[0], &TemplateMessage::default()).expect("renders"),
            "Hello World\n\nWelcome and congratulations!! This message demonstrates your \
             ability to send a WhatsApp message notification from the Cloud API, hosted by \
             Meta. Thank you for taking the time to test with us.\n\nWhatsApp Business \
             Platform sample message"
        );
    }
}
