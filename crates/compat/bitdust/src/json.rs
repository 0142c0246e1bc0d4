//! JSON as BitDust writes it (bitdust-details.md §1.2, §1.3): keys sorted
//! at every level, non-ASCII escaped as `\uXXXX`; REST bodies indented by
//! two with `": "` after keys and a newline at the end, WebSocket frames
//! compact.

use std::fmt::Write as _;

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
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
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
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
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
                write(out, item, level.map(|l| l + 1));
            }
            if let Some(l) = level {
                indent(out, l);
            }
            out.push('}');
        }
    }
}

/// A string as Python's `json.dumps` writes it with `ensure_ascii`: runs
/// of printable ASCII copied as they are, everything else escaped.
fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (at, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => "",
            _ => continue,
        };
        out.push_str(&s[plain..at]);
        plain = at + c.len_utf8();
        if escaped.is_empty() {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push_str(escaped);
        }
    }
    out.push_str(&s[plain..]);
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
