//! Custom contact attributes: what kinds there are and which values each accepts, checked when
//! a contact's attributes are written so the contact page, canned responses and API callers
//! read one shape per key.

use serde_json::Value;

/// The kind of value a defined attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    /// Free text, one line or a few.
    Text,
    /// A JSON number.
    Number,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// Yes or no.
    Checkbox,
    /// One of the definition's options.
    List,
    /// An `http(s)` address.
    Link,
}

/// Longest text value, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest link, in characters.
pub const MAX_LINK_CHARS: usize = 2048;

impl AttributeKind {
    /// Every kind, in the order the admin page offers them.
    pub const ALL: [AttributeKind; 6] = [
        Self::Text,
        Self::Number,
        Self::Date,
        Self::Checkbox,
        Self::List,
        Self::Link,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Checkbox => "checkbox",
            Self::List => "list",
            Self::Link => "link",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether `value` fits this kind (`options`: a list's choices). `Err` says why not, in
    /// words for the person who typed it.
    pub fn check(self, value: &Value, options: &[String]) -> Result<(), String> {
        match (self, value) {
            (Self::Text, Value::String(text)) if text.chars().count() <= MAX_TEXT_CHARS => Ok(()),
            (Self::Text, Value::String(_)) => {
                Err(format!("must be at most {MAX_TEXT_CHARS} characters"))
            }
            (Self::Text, _) => Err("must be text".into()),
            (Self::Number, Value::Number(_)) => Ok(()),
            (Self::Number, _) => Err("must be a number".into()),
            (Self::Date, Value::String(day))
                if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok() =>
            {
                Ok(())
            }
            (Self::Date, _) => Err("must be a date written YYYY-MM-DD".into()),
            (Self::Checkbox, Value::Bool(_)) => Ok(()),
            (Self::Checkbox, _) => Err("must be true or false".into()),
            (Self::List, Value::String(choice)) if options.contains(choice) => Ok(()),
            (Self::List, _) => Err(format!("must be one of: {}", options.join(", "))),
            (Self::Link, Value::String(link)) if is_web_link(link) => Ok(()),
            (Self::Link, _) => {
                Err("must be a web address starting with https:// or http://".into())
            }
        }
    }
}

fn is_web_link(text: &str) -> bool {
    text.chars().count() <= MAX_LINK_CHARS
        && url::Url::parse(text)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Whether `key` may name an attribute: a lower-case letter, then up to 39 lower-case letters,
/// digits or `_` (it is written in canned responses as `{{contact.attributes.KEY}}`).
pub fn is_attribute_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_takes_its_own_values_only() {
        let plans = vec!["free".to_owned(), "pro".to_owned()];
        let good = [
            (AttributeKind::Text, json!("Vienna")),
            (AttributeKind::Number, json!(12.5)),
            (AttributeKind::Date, json!("2026-02-28")),
            (AttributeKind::Checkbox, json!(false)),
            (AttributeKind::List, json!("pro")),
            (AttributeKind::Link, json!("https://crm.example/c/1")),
        ];
        for (kind, value) in good {
            assert_eq!(kind.check(&value, &plans), Ok(()), "{kind:?} {value}");
        }
        let bad = [
            (AttributeKind::Text, json!(1)),
            (AttributeKind::Text, json!("x".repeat(501))),
            (AttributeKind::Number, json!("12")),
            (AttributeKind::Date, json!("2026-02-30")),
            (AttributeKind::Date, json!("28.02.2026")),
            (AttributeKind::Checkbox, json!("yes")),
            (AttributeKind::List, json!("gold")),
            (AttributeKind::Link, json!("javascript:alert(1)")),
            (AttributeKind::Link, json!("crm.example")),
        ];
        for (kind, value) in bad {
            assert!(kind.check(&value, &plans).is_err(), "{kind:?} {value}");
        }
    }

    #[test]
    fn keys_are_short_lower_case_words() {
        for key in ["plan", "account_id", "x9"] {
            assert!(is_attribute_key(key), "{key}");
        }
        for key in ["", "Plan", "9lives", "a-b", "a.b", "ü", &"a".repeat(41)] {
            assert!(!is_attribute_key(key), "{key}");
        }
        for kind in AttributeKind::ALL {
            assert_eq!(AttributeKind::parse(kind.as_str()), Some(kind));
        }
    }
}
