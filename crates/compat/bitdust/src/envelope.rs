//! BitDust's answer envelope (bitdust-details.md §1.1): `OK`, `RESULT`
//! and `ERROR`, with their rules for `result`, `message`, `errors`,
//! `reason` and keys merged at the top.

use serde_json::{Map, Value, json};

/// One answer, as every method builds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope(pub(crate) Map<String, Value>);

/// Python's falsy values: `''`, `None`, `[]`, `{}`, `0`, `False`.
fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

impl Envelope {
    /// `OK()`: `{"status": "OK"}`.
    pub(crate) fn ok() -> Self {
        let mut m = Map::new();
        m.insert("status".into(), json!("OK"));
        Self(m)
    }

    /// `OK(result)`: a falsy result is left out; an object or a list is
    /// kept; anything else is wrapped into a one-element list.
    pub(crate) fn ok_with(result: Value) -> Self {
        let mut e = Self::ok();
        if !falsy(&result) {
            let result = match result {
                Value::Object(_) | Value::Array(_) => result,
                other => Value::Array(vec![other]),
            };
            e.0.insert("result".into(), result);
        }
        e
    }

    /// `RESULT(result)`: the result as it is, always.
    pub(crate) fn result(result: Value) -> Self {
        let mut e = Self::ok();
        e.0.insert("result".into(), result);
        e
    }

    /// `ERROR(errors)`: one error text.
    pub(crate) fn error(text: impl Into<String>) -> Self {
        let mut m = Map::new();
        m.insert("status".into(), json!("ERROR"));
        m.insert("errors".into(), json!([text.into()]));
        Self(m)
    }

    /// With a `message`.
    pub(crate) fn message(mut self, text: impl Into<String>) -> Self {
        self.0.insert("message".into(), Value::String(text.into()));
        self
    }

    /// With a `reason` (an error's machine-readable cause).
    pub(crate) fn with_reason(mut self, reason: &str) -> Self {
        self.0.insert("reason".into(), Value::String(reason.into()));
        self
    }

    /// As a JSON value.
    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builders_follow_bitdust_s_rules() {
        assert_eq!(Envelope::ok().into_value(), json!({"status": "OK"}));
        for falsy in [
            json!(""),
            json!(null),
            json!([]),
            json!({}),
            json!(0),
            json!(false),
        ] {
            assert_eq!(
                Envelope::ok_with(falsy).into_value(),
                json!({"status": "OK"})
            );
        }
        assert_eq!(
            Envelope::ok_with(json!("text")).into_value(),
            json!({"status": "OK", "result": ["text"]})
        );
        assert_eq!(
            Envelope::ok_with(json!(true)).into_value(),
            json!({"status": "OK", "result": [true]})
        );
        assert_eq!(
            Envelope::ok_with(json!({"a": 1}))
                .message("done")
                .into_value(),
            json!({"status": "OK", "result": {"a": 1}, "message": "done"})
        );
        assert_eq!(
            Envelope::result(json!([])).into_value(),
            json!({"status": "OK", "result": []})
        );
        assert_eq!(
            Envelope::error("access denied").into_value(),
            json!({"status": "ERROR", "errors": ["access denied"]})
        );
    }
}
