//! Customer satisfaction surveys: what an inbox asks after a conversation is resolved and which
//! answers count. Read from the inbox's settings (`csat_enabled`, `csat_delay_secs`,
//! `csat_question`, `csat_scale`), checked strictly when an admin writes them and tolerantly
//! when the hub reads them.

use serde_json::{Map, Value};

/// How the customer answers: 1 to 5, or thumbs (stored as 1 and 5, so averages mix). The
/// channels' contract defines it, since every channel renders its choices.
pub use switchboard_channel::SurveyScale as CsatScale;

/// An inbox's survey settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatSettings {
    pub enabled: bool,
    /// Seconds between resolving and asking (0: at once), at most a day.
    pub delay_secs: i64,
    pub question: String,
    pub scale: CsatScale,
}

/// The question asked when the admin wrote none.
pub const DEFAULT_QUESTION: &str = "How satisfied are you with the help you got?";
/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 200;
/// Longest delay, in seconds (a day).
pub const MAX_DELAY_SECS: i64 = 86_400;
/// The setting keys, common to every channel type that asks.
pub const SETTING_KEYS: [&str; 4] = [
    "csat_enabled",
    "csat_delay_secs",
    "csat_question",
    "csat_scale",
];

impl CsatSettings {
    /// Reads an inbox's stored settings; anything missing or odd falls back to the default
    /// (off, at once, the default question, five points).
    pub fn read(settings: &Map<String, Value>) -> Self {
        Self {
            enabled: settings
                .get("csat_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            delay_secs: settings
                .get("csat_delay_secs")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .clamp(0, MAX_DELAY_SECS),
            question: settings
                .get("csat_question")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .unwrap_or(DEFAULT_QUESTION)
                .to_owned(),
            scale: settings
                .get("csat_scale")
                .and_then(Value::as_str)
                .and_then(CsatScale::parse)
                .unwrap_or(CsatScale::Five),
        }
    }

    /// Checks one setting as an admin sent it; `Err` says why in words.
    pub fn check(key: &str, value: &Value) -> Result<(), String> {
        match key {
            "csat_enabled" if value.is_boolean() => Ok(()),
            "csat_enabled" => Err("must be true or false".into()),
            "csat_delay_secs" => match value.as_i64() {
                Some(n) if (0..=MAX_DELAY_SECS).contains(&n) => Ok(()),
                _ => Err(format!(
                    "must be a number of seconds from 0 to {MAX_DELAY_SECS}"
                )),
            },
            "csat_question" => match value.as_str() {
                Some(q)
                    if q.chars().count() <= MAX_QUESTION_CHARS
                        && !q.chars().any(char::is_control) =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "must be text of at most {MAX_QUESTION_CHARS} characters"
                )),
            },
            "csat_scale" => match value.as_str().and_then(CsatScale::parse) {
                Some(_) => Ok(()),
                None => Err("must be \"five\" or \"thumbs\"".into()),
            },
            _ => Err("is not a survey setting".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_read_tolerantly_and_check_strictly() {
        let Value::Object(stored) = json!({"csat_enabled": true, "csat_delay_secs": 999_999,
            "csat_question": "  ", "csat_scale": "stars"})
        else {
            unreachable!()
        };
        let read = CsatSettings::read(&stored);
        assert_eq!(
            read,
            CsatSettings {
                enabled: true,
                delay_secs: MAX_DELAY_SECS,
                question: DEFAULT_QUESTION.into(),
                scale: CsatScale::Five
            }
        );
        for (key, good) in [
            ("csat_enabled", json!(false)),
            ("csat_delay_secs", json!(300)),
            ("csat_question", json!("Happy?")),
            ("csat_scale", json!("thumbs")),
        ] {
            assert_eq!(CsatSettings::check(key, &good), Ok(()), "{key}");
        }
        for (key, bad) in [
            ("csat_enabled", json!("yes")),
            ("csat_delay_secs", json!(-1)),
            ("csat_delay_secs", json!(86_401)),
            ("csat_question", json!("x".repeat(201))),
            ("csat_scale", json!("stars")),
        ] {
            assert!(CsatSettings::check(key, &bad).is_err(), "{key} {bad}");
        }
    }

    #[test]
    fn each_scale_takes_its_own_answers() {
        assert!((1..=5).all(|r| CsatScale::Five.accepts(r)));
        assert!(!CsatScale::Five.accepts(0) && !CsatScale::Five.accepts(6));
        assert!(CsatScale::Thumbs.accepts(1) && CsatScale::Thumbs.accepts(5));
        assert!(!CsatScale::Thumbs.accepts(3));
    }
}
