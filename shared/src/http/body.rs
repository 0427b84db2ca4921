//! JSON object bodies, read field by field: every type or range error names the field and
//! says what to send instead, and unknown fields are refused rather than ignored.
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body whose fields are read with type checks that name the field.
#[derive(Debug, Default)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Parses the body as a JSON object. An empty body is an empty object when `allow_empty`.
    pub fn parse(bytes: &[u8], allow_empty: bool, example: &str) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return if allow_empty {
                Ok(Self::default())
            } else {
                Err(ApiError::BadRequest(format!(
                    "the request body is empty; send a JSON object such as {example}"
                )))
            };
        }
        if let Err(error) = std::str::from_utf8(bytes) {
            return Err(ApiError::BadRequest(format!(
                "the request body is not valid UTF-8 (invalid byte at offset {}); send a UTF-8 JSON object such as {example}",
                error.valid_up_to()
            )));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            ApiError::BadRequest(format!(
                "the request body is not valid JSON ({}); send a JSON object such as {example}",
                describe_json_error(&error)
            ))
        })?;
        match value {
            Value::Object(map) => Ok(Self(map)),
            other => Err(ApiError::BadRequest(format!(
                "the request body must be a JSON object, not {}; send e.g. {example}",
                json_type(&other)
            ))),
        }
    }

    /// A string field; `null` counts as absent.
    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(wrong_type(field, "a string", other)),
        }
    }

    pub fn required_str(&self, field: &str, example: &str) -> Result<&str, ApiError> {
        self.optional_str(field)?.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{field}` is required; send a JSON object such as {example}"
            ))
        })
    }

    pub fn optional_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(wrong_type(field, "true or false", other)),
        }
    }

    /// A whole number within `min..=max`.
    pub fn optional_int(&self, field: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => match whole_number(number) {
                Some(value) if (min..=max).contains(&value) => Ok(Some(value)),
                _ => Err(ApiError::BadRequest(format!(
                    "`{field}` must be a whole number from {min} to {max}"
                ))),
            },
            Some(other) => Err(wrong_type(field, "a whole number", other)),
        }
    }

    /// A field's raw value, for a caller that reads it with messages of its own.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// Refuses a field not in `known`: a misspelt optional field would otherwise be ignored
    /// silently (the contract, infra/openapi.yaml, says `additionalProperties: false`).
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|name| !known.contains(&name.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(ApiError::BadRequest(format!(
                "unknown field `{}`; the fields are {}",
                crate::domain::truncate_for_message(unknown),
                known
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A JSON number that is a whole number: `3` and `3.0` alike (JSON Schema's `integer` is a
/// number with a zero fraction, and clients that only have floats send `3.0`).
pub fn whole_number(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && value.abs() < 9.0e15)
            .map(|value| value as i64)
    })
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::BadRequest(format!(
        "`{field}` must be {expected}, not {}",
        json_type(got)
    ))
}

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

/// serde_json's error category and position, without echoing the input back.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_checked_field_by_field() {
        let body = JsonObject::parse(br#"{"a": 5, "b": null, "c": "x"}"#, false, "{}").unwrap();
        assert!(body
            .optional_str("a")
            .unwrap_err()
            .to_string()
            .contains("`a` must be a string, not a number"));
        assert_eq!(body.optional_str("b").unwrap(), None);
        assert_eq!(body.optional_str("c").unwrap(), Some("x"));
        assert!(body
            .required_str("missing", "{\"missing\": 1}")
            .unwrap_err()
            .to_string()
            .contains("`missing` is required"));
        assert!(body.optional_int("a", 0, 4).is_err());
        let floats = JsonObject::parse(br#"{"w": 3.0, "f": 3.5}"#, false, "{}").unwrap();
        assert_eq!(floats.optional_int("w", 0, 4).unwrap(), Some(3));
        assert!(floats.optional_int("f", 0, 4).is_err());
        assert!(body.reject_unknown(&["a", "b", "c"]).is_ok());
        let unknown = body.reject_unknown(&["a", "b"]).unwrap_err().to_string();
        assert!(
            unknown.contains("unknown field `c`; the fields are `a`, `b`"),
            "{unknown}"
        );
    }

    #[test]
    fn invalid_json_and_non_objects_are_explained() {
        for (raw, expected) in [
            (&b"{\"a\": "[..], "ends too early"),
            (b"not json", "syntax error"),
            (b"[1,2]", "must be a JSON object, not an array"),
            (b"", "the request body is empty"),
            (
                b"{\"a\": \"\xff\"}",
                "not valid UTF-8 (invalid byte at offset 7)",
            ),
        ] {
            let message = JsonObject::parse(raw, false, "{}").unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }
}
