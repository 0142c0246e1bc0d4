//! JSON as BitDust writes it (bitdust-details.md §1.2, §1.3): keys sorted
//! at every level, non-ASCII escaped as `\uXXXX`; REST bodies indented by
//! two with `": "` after keys and a newline at the end, WebSocket frames
//! compact.

use serde_json::Value;

/// `value` as a REST body: indented, sorted, ASCII, one newline after.
pub(crate) fn pretty(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(&mut out, value, Some(0));
    out.push('\n');
    out
}

/// `value` as a WebSocket frame: compact, sorted, ASCII.
pub(crate) fn compact(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(&mut out, value, None);
    out
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write(out: &mut String, value: &Value, level: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(l) = level {
                    indent(out, l + 1);
                }
                write(out, item, level.map(|l| l + 1));
            }
            if let Some(l) = level {
                indent(out, l);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(l) = level {
                    indent(out, l + 1);
                }
                string(out, key);
                out.push(':');
                if level.is_some() {
                    out.push(' ');
                }
                write(out, &map[key], level.map(|l| l + 1));
            }
            if let Some(l) = level {
                indent(out, l);
            }
            out.push('}');
        }
    }
}

/// A string as Python's `json.dumps` writes it with `ensure_ascii`.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_as_python_writes_it() {
        let v = json!({"status": "OK", "execution": "0.000085"});
        assert_eq!(
            pretty(&v),
            "{\n  \"execution\": \"0.000085\",\n  \"status\": \"OK\"\n}\n"
        );
        let v = json!({"b": [1, {"z": null, "a": true}], "a": {}, "c": []});
        assert_eq!(
            pretty(&v),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": true,\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
        assert_eq!(
            compact(&v),
            r#"{"a":{},"b":[1,{"a":true,"z":null}],"c":[]}"#
        );
        assert_eq!(
            compact(&json!("é😀\u{1}\"\\\u{7f}")),
            r#""\u00e9\ud83d\ude00\u0001\"\\\u007f""#
        );
    }
}
