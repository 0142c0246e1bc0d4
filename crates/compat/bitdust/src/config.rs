//! BitDust's config (bitdust-details.md §4.2) over cairn's settings
//! (`node.settings()`) and services (`node.services()`): the option
//! object of §4.2 for BitDust's keys where cairn has the thing
//! (`interface/api/rest-http-port`, `logs/debug-level`,
//! `services/customer/suppliers-number`, `services/supplier/donated-space`,
//! `services/<service>/enabled`), and every cairn setting under
//! `cairn/<section>/<key>` otherwise.
//!
//! Unlike BitDust, a value is checked (cairn refuses a config it could
//! not start with): one of the wrong kind answers BitDust's error
//! envelope. A change is kept across restarts; options a running node
//! cannot take at once say so in their `info` (`applies at the next
//! start`), and the addresses the daemon binds are `readonly`.

use serde_json::{Map, Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::methods::{Args, Signature};
use crate::rest::{From, Kind, Param, Route};

/// The config's methods.
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "config_get",
        args: &[("key", None), ("include_info", Some("false"))],
    },
    Signature {
        name: "config_set",
        args: &[("key", None), ("value", None)],
    },
    Signature {
        name: "configs_list",
        args: &[("sort", Some("false")), ("include_info", Some("false"))],
    },
    Signature {
        name: "configs_tree",
        args: &[("include_info", Some("false"))],
    },
];

const INCLUDE_INFO: Param = Param {
    names: &["include_info"],
    arg: "include_info",
    from: From::Query,
    default: Some("0"),
    mandatory: false,
    kind: Kind::Flag,
};

const KEY_IN_PATH: Param = Param {
    names: &["key1", "key2", "key3"],
    arg: "key",
    from: From::Path,
    default: None,
    mandatory: false,
    kind: Kind::Raw,
};

const VALUE_IN_BODY: Param = Param {
    names: &["value"],
    arg: "value",
    from: From::Body,
    default: None,
    mandatory: true,
    kind: Kind::Raw,
};

/// The config's routes: the key in the query (or body), or in the path
/// as one to three segments.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        verb: "GET",
        paths: &["/config/get/v1", "/v1/config/get", "/c/g"],
        method: "config_get",
        params: &[
            Param {
                names: &["key"],
                arg: "key",
                from: From::Query,
                default: None,
                mandatory: true,
                kind: Kind::Raw,
            },
            INCLUDE_INFO,
        ],
    },
    Route {
        verb: "GET",
        paths: &[
            "/config/get/{key1}/v1",
            "/config/get/{key1}/{key2}/v1",
            "/config/get/{key1}/{key2}/{key3}/v1",
            "/v1/config/get/{key1}",
            "/v1/config/get/{key1}/{key2}",
            "/v1/config/get/{key1}/{key2}/{key3}",
            "/c/g/{key1}/",
            "/c/g/{key1}/{key2}/",
            "/c/g/{key1}/{key2}/{key3}/",
        ],
        method: "config_get",
        params: &[KEY_IN_PATH, INCLUDE_INFO],
    },
    Route {
        verb: "POST",
        paths: &["/config/set/v1", "/v1/config/set", "/c/s"],
        method: "config_set",
        params: &[
            Param {
                names: &["key"],
                arg: "key",
                from: From::Body,
                default: None,
                mandatory: true,
                kind: Kind::Raw,
            },
            VALUE_IN_BODY,
        ],
    },
    Route {
        verb: "POST",
        paths: &[
            "/config/set/{key1}/v1",
            "/config/set/{key1}/{key2}/v1",
            "/config/set/{key1}/{key2}/{key3}/v1",
            "/v1/config/set/{key1}",
            "/v1/config/set/{key1}/{key2}",
            "/v1/config/set/{key1}/{key2}/{key3}",
            "/c/s/{key1}/",
            "/c/s/{key1}/{key2}/",
            "/c/s/{key1}/{key2}/{key3}/",
        ],
        method: "config_set",
        params: &[KEY_IN_PATH, VALUE_IN_BODY],
    },
    Route {
        verb: "GET",
        paths: &["/config/list/v1", "/v1/config/list", "/c/l"],
        method: "configs_list",
        params: &[
            Param {
                names: &["sort"],
                arg: "sort",
                from: From::Query,
                default: Some("0"),
                mandatory: false,
                kind: Kind::Flag,
            },
            INCLUDE_INFO,
        ],
    },
    Route {
        verb: "GET",
        paths: &["/config/tree/v1", "/v1/config/tree", "/c/t"],
        method: "configs_tree",
        params: &[INCLUDE_INFO],
    },
];

/// `services/customer/suppliers-number`'s choices (§5.5).
const SUPPLIERS: [u64; 7] = [2, 4, 7, 13, 18, 26, 64];

/// Bytes in BitDust's disk space units (1024-based).
const UNITS: [(&str, u64); 4] = [
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
];

/// Bytes as BitDust writes disk space: the largest unit that divides it.
fn disk_space(bytes: u64) -> String {
    UNITS
        .iter()
        .find(|(_, size)| bytes > 0 && bytes.is_multiple_of(*size))
        .map(|(unit, size)| format!("{} {unit}", bytes / size))
        .unwrap_or_else(|| format!("{bytes} bytes"))
}

/// Disk space as a user writes it (`"8 GB"`, `"1024 bytes"`, `4096`).
fn bytes_of(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let text = v.as_str()?.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = (
        text[..split].trim(),
        text[split..].trim().to_ascii_uppercase(),
    );
    let size = match unit.as_str() {
        "B" | "BYTES" => 1,
        other => UNITS.iter().find(|(u, _)| *u == other)?.1,
    };
    let number: f64 = number.parse().ok()?;
    Some((number * size as f64) as u64)
}

/// The tracing filter's level as BitDust's debug level.
fn debug_level(filter: &str) -> u64 {
    let first = filter.split(',').next().unwrap_or("").trim();
    match first.rsplit('=').next().unwrap_or("") {
        "error" | "off" => 0,
        "warn" => 2,
        "debug" => 8,
        "trace" => 12,
        _ => 4,
    }
}

/// BitDust's debug level as a tracing filter.
fn filter_of(level: u64) -> &'static str {
    match level {
        0..=1 => "error",
        2..=3 => "warn",
        4..=7 => "info",
        8..=11 => "debug",
        _ => "trace",
    }
}

/// The number of suppliers an erasure coding (`k+m`) uses; `auto`
/// chooses by the peers there are, so it has none.
fn suppliers_of(ecc: &str) -> Value {
    let mut parts = ecc.split('+').map(|p| p.trim().parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(k), Some(m)) => json!(k + m),
        _ => Value::Null,
    }
}

/// The port of an address (`127.0.0.1:8180`).
fn port_of(addr: &Value) -> Value {
    addr.as_str()
        .and_then(|a| a.rsplit(':').next()?.parse::<u64>().ok())
        .map_or(Value::Null, Value::from)
}

/// An option object (§4.2).
fn option(key: &str, value: Value, kind: &str, default: Value, readonly: bool) -> Value {
    let label = key.rsplit('/').next().unwrap_or(key);
    let mut o = json!({
        "key": key,
        "value": value,
        "type": kind,
        "label": label,
        "readonly": readonly,
        "default": default,
    });
    match kind {
        "positive integer" => o["min"] = json!(0),
        "non zero positive integer" => o["min"] = json!(1),
        "port number" => {
            o["min"] = json!(1);
            o["max"] = json!(65535);
        }
        _ => {}
    }
    o
}

/// A cairn setting as an option object under `cairn/`.
fn from_setting(s: &cairn_node::Setting) -> Value {
    let key = format!("cairn/{}", s.key.replace('.', "/"));
    let kind = match s.kind {
        "boolean" => "boolean",
        "integer" => "positive integer",
        "number" => "floating point",
        "text" => "string",
        _ => "text",
    };
    let default = match &s.default {
        Value::Bool(b) => json!(b.to_string()),
        other => other.clone(),
    };
    let mut o = option(&key, s.value.clone(), kind, default, s.readonly);
    o["info"] = json!(if s.readonly {
        "read-only here: set in config.toml or on the command line".to_owned()
    } else if s.live {
        "applies at once".to_owned()
    } else if s.restart_needed {
        "changed: applies at the next start".to_owned()
    } else {
        "applies at the next start".to_owned()
    });
    o
}

/// The cairn setting a BitDust key stands for.
fn cairn_key(key: &str) -> Option<String> {
    Some(match key {
        "interface/api/rest-http-port" => "listen".into(),
        "interface/api/web-socket-port" => "layers.bitdust".into(),
        "logs/debug-level" => "log".into(),
        "services/customer/suppliers-number" => "network.ecc".into(),
        "services/supplier/donated-space" => "network.donated".into(),
        other => other.strip_prefix("cairn/")?.replace('/', "."),
    })
}

impl BitDust {
    pub(crate) async fn run_config(&self, name: &str, a: &Args) -> Option<Envelope> {
        let info = a.flag("include_info");
        Some(match name {
            "config_get" => self.config_get(&a.text("key"), info).await,
            "config_set" => self.config_set(&a.text("key"), a.value("value")).await,
            "configs_list" => match self.options(info).await {
                Ok(mut all) => {
                    if a.flag("sort") {
                        all.sort_by(|x, y| x["key"].as_str().cmp(&y["key"].as_str()));
                    }
                    Envelope::result(Value::Array(all))
                }
                Err(e) => e,
            },
            "configs_tree" => match self.options(info).await {
                Ok(all) => Envelope::result(json!([tree(all)])),
                Err(e) => e,
            },
            _ => return None,
        })
    }

    /// Every option, BitDust's first, then cairn's own; `info` kept only
    /// when asked for.
    pub(crate) async fn options(&self, info: bool) -> Result<Vec<Value>, Envelope> {
        let settings = self
            .node()
            .settings()
            .list()
            .await
            .map_err(|e| Envelope::error(e.to_string()))?;
        let find = |k: &str| settings.iter().find(|s| s.key == k);
        let mut all = Vec::new();
        if let Some(s) = find("listen") {
            all.push(option(
                "interface/api/rest-http-port",
                self.api_port(&s.value),
                "port number",
                json!(cairn_node::config::DEFAULT_PORT),
                true,
            ));
        }
        if let Some(s) = find("layers.bitdust") {
            all.push(option(
                "interface/api/web-socket-port",
                port_of(&s.value[0]),
                "port number",
                port_of(&s.default[0]),
                true,
            ));
        }
        if let Some(s) = find("log") {
            let level = |v: &Value| json!(debug_level(v.as_str().unwrap_or("")));
            all.push(option(
                "logs/debug-level",
                level(&s.value),
                "positive integer",
                level(&s.default),
                false,
            ));
        }
        if let Some(s) = find("network.ecc") {
            let n = |v: &Value| suppliers_of(v.as_str().unwrap_or(""));
            let mut o = option(
                "services/customer/suppliers-number",
                n(&s.value),
                "selection",
                n(&s.default),
                false,
            );
            o["possible_values"] = json!(SUPPLIERS);
            all.push(o);
        }
        if let Some(s) = find("network.donated") {
            let space = |v: &Value| json!(disk_space(v.as_u64().unwrap_or(0)));
            all.push(option(
                "services/supplier/donated-space",
                space(&s.value),
                "disk space",
                space(&s.default),
                false,
            ));
        }
        for (name, enabled) in self.service_flags().await {
            all.push(option(
                &crate::services::config_path(name),
                json!(enabled),
                "boolean",
                json!("true"),
                false,
            ));
        }
        all.extend(settings.iter().map(from_setting));
        if !info {
            for o in &mut all {
                if let Some(m) = o.as_object_mut() {
                    m.remove("info");
                }
            }
        }
        Ok(all)
    }

    /// The API's port: the one configured, or, configured as 0 (any),
    /// the one the daemon bound (`<data dir>/api.addr`).
    fn api_port(&self, listen: &Value) -> Value {
        let configured = port_of(listen);
        if configured != json!(0) {
            return configured;
        }
        std::fs::read_to_string(self.node().data_dir().join("api.addr"))
            .map(|a| port_of(&json!(a.trim())))
            .unwrap_or(configured)
    }

    async fn config_get(&self, key: &str, info: bool) -> Envelope {
        let key = key.trim_matches('/');
        if key.is_empty() {
            return Envelope::error("empty key");
        }
        let all = match self.options(info).await {
            Ok(all) => all,
            Err(e) => return e,
        };
        if let Some(leaf) = all.iter().find(|o| o["key"] == key) {
            return Envelope::result(json!([leaf]));
        }
        let prefix = format!("{key}/");
        let mut children: Vec<Value> = Vec::new();
        let mut branches: std::collections::BTreeMap<String, u64> = Default::default();
        for o in all.iter() {
            let Some(rest) = o["key"].as_str().and_then(|k| k.strip_prefix(&prefix)) else {
                continue;
            };
            match rest.split_once('/') {
                None => children.push(o.clone()),
                Some((branch, _)) => *branches.entry(format!("{prefix}{branch}")).or_default() += 1,
            }
        }
        if children.is_empty() && branches.is_empty() {
            return Envelope::error(format!("option {key} does not exist"));
        }
        children.extend(
            branches
                .into_iter()
                .map(|(k, n)| json!({"key": k, "childs": n})),
        );
        children.sort_by(|x, y| x["key"].as_str().cmp(&y["key"].as_str()));
        if let Some(i) = children.iter().position(|o| o["label"] == "enabled") {
            let enabled = children.remove(i);
            children.insert(0, enabled);
        }
        Envelope::result(Value::Array(children))
    }

    async fn config_set(&self, key: &str, value: &Value) -> Envelope {
        let key = key.trim_matches('/');
        let old = match self.options(true).await {
            Ok(all) => all.into_iter().find(|o| o["key"] == key),
            Err(e) => return e,
        };
        let Some(old) = old else {
            return Envelope::error(format!("option {key} does not exist"));
        };
        if old["readonly"] == json!(true) {
            return Envelope::error(format!(
                "option {key} is read-only: set it in cairn's config.toml or on the command line"
            ));
        }
        let applied = match key.strip_suffix("/enabled") {
            Some(_) if key.starts_with("services/") => self.set_service_flag(key, value).await,
            _ => self.set_setting(key, value).await,
        };
        if let Err(text) = applied {
            return Envelope::error(text);
        }
        let new = match self.options(false).await {
            Ok(all) => all.into_iter().find(|o| o["key"] == key),
            Err(e) => return e,
        };
        let mut new = new.unwrap_or_else(|| json!({"key": key}));
        new["old_value"] = old["value"].clone();
        Envelope::result(json!([new]))
    }

    /// Sets the cairn setting BitDust `key` stands for.
    async fn set_setting(&self, key: &str, value: &Value) -> Result<(), String> {
        let target = cairn_key(key).ok_or_else(|| format!("option {key} does not exist"))?;
        let value = match key {
            "logs/debug-level" => match value.as_u64().or_else(|| value.as_str()?.parse().ok()) {
                Some(level) => json!(filter_of(level)),
                None => {
                    return Err(format!(
                        "wrong value for {key}: give a debug level, 0 or more"
                    ));
                }
            },
            "services/customer/suppliers-number" => {
                match value.as_u64().or_else(|| value.as_str()?.parse().ok()) {
                    Some(n) if SUPPLIERS.contains(&n) => {
                        json!(format!("{}+{}", n.div_ceil(2), n / 2))
                    }
                    _ => return Err(format!("wrong value for {key}: give one of {SUPPLIERS:?}")),
                }
            }
            "services/supplier/donated-space" => match bytes_of(value) {
                Some(bytes) => json!(bytes),
                None => return Err(format!("wrong value for {key}: give a size like \"8 GB\"")),
            },
            _ => value.clone(),
        };
        self.node()
            .settings()
            .set(&target, value)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Starts or stops the service of `services/<name>/enabled`.
    async fn set_service_flag(&self, key: &str, value: &Value) -> Result<(), String> {
        let name = key
            .strip_prefix("services/")
            .and_then(|k| k.strip_suffix("/enabled"))
            .unwrap_or("");
        let Some(cairn) = crate::services::cairn_of(name) else {
            return Err(format!("option {key} does not exist"));
        };
        let on = match value {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" || s == "false" => s == "true",
            _ => return Err(format!("wrong value for {key}: give true or false")),
        };
        let services = self.node().services();
        let done = if on {
            services.start(cairn).await
        } else {
            services.stop(cairn).await
        };
        done.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Options as one nested object, keyed by their path's segments.
fn tree(all: Vec<Value>) -> Value {
    let mut root = Map::new();
    for o in all {
        let Some(key) = o["key"].as_str().map(str::to_owned) else {
            continue;
        };
        let mut node = &mut root;
        let mut parts = key.split('/').peekable();
        while let Some(part) = parts.next() {
            let entry = node.entry(part.to_owned()).or_insert_with(|| json!({}));
            if parts.peek().is_none() {
                if let (Some(m), Some(fields)) = (entry.as_object_mut(), o.as_object()) {
                    m.extend(fields.clone());
                }
                break;
            }
            let Some(next) = entry.as_object_mut() else {
                break;
            };
            node = next;
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_reads_and_writes_as_bitdust_s() {
        assert_eq!(disk_space(10 << 30), "10 GB");
        assert_eq!(disk_space(4 << 20), "4 MB");
        assert_eq!(disk_space(1000), "1000 bytes");
        assert_eq!(bytes_of(&json!("8 GB")), Some(8 << 30));
        assert_eq!(bytes_of(&json!("512 bytes")), Some(512));
        assert_eq!(bytes_of(&json!(4096)), Some(4096));
        assert_eq!(bytes_of(&json!("lots")), None);
        assert_eq!(bytes_of(&json!([1])), None);
    }

    #[test]
    fn debug_levels_and_suppliers_map_both_ways() {
        for level in [0, 2, 4, 8, 12] {
            assert_eq!(debug_level(filter_of(level)), level);
        }
        assert_eq!(debug_level("info,cairn=debug"), 4);
        assert_eq!(suppliers_of("4+2"), json!(6));
        assert_eq!(suppliers_of("auto"), Value::Null);
    }

    #[test]
    fn a_tree_nests_options_by_their_path() {
        let t = tree(vec![
            json!({"key": "logs/debug-level", "value": 4}),
            json!({"key": "services/supplier/enabled", "value": true}),
        ]);
        assert_eq!(t["logs"]["debug-level"]["value"], 4);
        assert_eq!(t["services"]["supplier"]["enabled"]["value"], true);
    }
}
