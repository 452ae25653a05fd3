//! Reading provider JSON leniently, the same way in every adapter: numbers however the provider
//! wrote them, and a value's kind named in words for the reasons shown to admins.

use serde_json::Value;

/// What kind of JSON value this is, for error reasons such as `a change is an array, not an
/// object`.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An integer however the provider wrote it (`42`, `42.0`, `"42"`): providers and their
/// versions disagree, and a number written another way is still the same number.
pub fn json_int(value: &Value) -> Option<i64> {
    if let Some(number) = value.as_i64() {
        return Some(number);
    }
    if let Some(text) = value.as_str() {
        return text.trim().parse().ok();
    }
    value
        .as_f64()
        .filter(|number| number.fract() == 0.0 && number.abs() < 9.0e15)
        // Checked above: a whole number well inside i64.
        .map(|number| number as i64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_are_named_in_words() {
        assert_eq!(json_type(&json!(null)), "null");
        assert_eq!(json_type(&json!(true)), "a boolean");
        assert_eq!(json_type(&json!(1.5)), "a number");
        assert_eq!(json_type(&json!("x")), "a string");
        assert_eq!(json_type(&json!([])), "an array");
        assert_eq!(json_type(&json!({})), "an object");
    }

    #[test]
    fn integers_are_read_however_written() {
        assert_eq!(json_int(&json!(42)), Some(42));
        assert_eq!(json_int(&json!(-7)), Some(-7));
        assert_eq!(json_int(&json!(42.0)), Some(42));
        assert_eq!(json_int(&json!(" 42 ")), Some(42));
        assert_eq!(json_int(&json!(42.5)), None);
        assert_eq!(json_int(&json!(1.0e16)), None);
        assert_eq!(json_int(&json!("4x")), None);
        assert_eq!(json_int(&json!(null)), None);
    }
}
