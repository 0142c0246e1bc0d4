//! Settings (`node.settings()`): the config read and changed at run
//! time, by the dotted path of its TOML key (`network.donated`,
//! `media.encoders`). A change is checked the way the config file is
//! (its type, by deserializing the whole config again, and its ranges)
//! and kept in the catalog's settings, which are applied over the file at
//! every start; so it survives a restart.
//!
//! What a running node can take at once (the nickname, a service's
//! enabled flag through [`crate::Services`]) applies now; the rest
//! applies at the next start, and each setting says which
//! (`restart_needed`). The addresses the daemon binds before the node
//! opens (`listen`, `[layers]`, `[s3]`, `network.listen`, `network.bootstrap`)
//! are read-only here: they come from the file and the command line.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::network::Network;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Config, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// Keys the daemon reads before the node opens, so a setting could not
/// reach them.
const READONLY: &[&str] = &[
    "listen",
    "layers.",
    "network.listen",
    "network.bootstrap",
    "s3.",
    "metrics.",
];

/// Keys a running node takes at once.
const LIVE: &[&str] = &["network.nickname"];

/// One setting.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Setting {
    /// Its TOML path, dotted (`network.donated`).
    pub key: String,
    /// Its kind: `boolean`, `integer`, `number`, `text`, `list`, `table`
    /// or `optional` (unset by default).
    pub kind: &'static str,
    /// The value kept (the file's, or the one set at run time).
    pub value: Value,
    /// The value the running node uses.
    pub running: Value,
    /// Its default (no file, nothing set).
    pub default: Value,
    /// Whether it can only be set in the file or on the command line.
    pub readonly: bool,
    /// Whether a change applies at once (else at the next start).
    pub live: bool,
    /// Whether the kept value waits for a restart to apply.
    pub restart_needed: bool,
}

/// The config read and changed at run time. Cheap to clone.
#[derive(Clone)]
pub struct Settings(Arc<State>);

struct State {
    shared: Arc<Shared>,
    network: Network,
}

/// The JSON kind of `v`, as a setting's `kind`.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "optional",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "text",
        Value::Array(_) => "list",
        Value::Object(_) => "table",
    }
}

/// Every leaf of `v` (not a table) by its dotted path.
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// The value at dotted `path` of `v`.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.as_object()?.get(k))
}

/// `v` with `value` at dotted `path` (which must exist).
fn with(mut v: Value, path: &str, value: Value) -> Option<Value> {
    let mut node = &mut v;
    for k in path.split('.') {
        node = node.as_object_mut()?.get_mut(k)?;
    }
    *node = value;
    Some(v)
}

fn as_json(config: &Config) -> Value {
    serde_json::to_value(config).unwrap_or(Value::Null)
}

fn is_readonly(key: &str) -> bool {
    READONLY
        .iter()
        .any(|r| key == *r || (r.ends_with('.') && key.starts_with(r)))
}

/// `config` with `value` at `key`, checked as the file is.
fn changed(config: &Config, key: &str, value: Value) -> Result<Config> {
    let patched = with(as_json(config), key, value)
        .ok_or_else(|| NodeError::NotFound(format!("no setting called '{key}'")))?;
    let config: Config =
        serde_json::from_value(patched).map_err(|e| NodeError::Invalid(format!("{key}: {e}")))?;
    config
        .check()
        .map_err(|message| NodeError::Invalid(format!("{key}: {message}")))?;
    Ok(config)
}

/// `config` with the settings `kept` (key, JSON text) applied; one that
/// no longer fits (a key gone, a value refused) is skipped with a
/// warning. Services' flags are not config and are left alone.
pub(crate) fn apply(mut config: Config, kept: &[(String, String)]) -> Config {
    for (key, text) in kept {
        if key.starts_with("services/") || is_readonly(key) {
            continue;
        }
        let applied = serde_json::from_str(text)
            .map_err(|e| NodeError::Invalid(e.to_string()))
            .and_then(|value| changed(&config, key, value));
        match applied {
            Ok(c) => config = c,
            Err(e) => tracing::warn!(key, error = %e, "a kept setting no longer applies"),
        }
    }
    config
}

impl Settings {
    pub(crate) fn new(shared: Arc<Shared>, network: Network) -> Self {
        Self(Arc::new(State { shared, network }))
    }

    /// The config as kept: the running one with the settings set since
    /// it started.
    async fn kept(&self) -> Result<Config> {
        let shared = self.0.shared.clone();
        let kept = blocking(move || Ok(shared.catalog.settings()?)).await?;
        Ok(apply(self.0.shared.config.clone(), &kept))
    }

    /// `config` (as read again from the file) with the settings kept in
    /// the catalog applied over it, as at a start: what a reload applies.
    pub async fn over(&self, config: Config) -> Result<Config> {
        let shared = self.0.shared.clone();
        let kept = blocking(move || Ok(shared.catalog.settings()?)).await?;
        Ok(apply(config, &kept))
    }

    /// Every setting, by key.
    pub async fn list(&self) -> Result<Vec<Setting>> {
        let kept = as_json(&self.kept().await?);
        let running = as_json(&self.0.shared.config);
        let defaults = as_json(&Config::default());
        let mut all = Vec::new();
        leaves("", &kept, &mut all);
        Ok(all
            .into_iter()
            .map(|(key, value)| {
                let running = at(&running, &key).cloned().unwrap_or(Value::Null);
                let default = at(&defaults, &key).cloned().unwrap_or(Value::Null);
                let live = LIVE.contains(&key.as_str());
                Setting {
                    kind: kind_of(if default.is_null() { &value } else { &default }),
                    readonly: is_readonly(&key),
                    restart_needed: !live && value != running,
                    live,
                    key,
                    value,
                    running,
                    default,
                }
            })
            .collect())
    }

    /// Setting `key`.
    pub async fn get(&self, key: &str) -> Result<Setting> {
        self.list()
            .await?
            .into_iter()
            .find(|s| s.key == key)
            .ok_or_else(|| NodeError::NotFound(format!("no setting called '{key}'")))
    }

    /// Sets `key` to `value` (checked as the config file is), keeps it
    /// across restarts, and applies it now where the running node can.
    pub async fn set(&self, key: &str, value: Value) -> Result<Setting> {
        let current = self.get(key).await?;
        if current.readonly {
            return Err(NodeError::Invalid(format!(
                "{key} is read-only here: set it in config.toml or on the command line"
            )));
        }
        changed(&self.kept().await?, key, value.clone())?;
        if let (true, Some(nick)) = (key == "network.nickname", value.as_str()) {
            self.0.network.set_nickname(nick).await?;
        }
        let (shared, k, text) = (self.0.shared.clone(), key.to_owned(), value.to_string());
        blocking(move || Ok(shared.catalog.set_setting(&k, &text)?)).await?;
        self.get(key).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_kept_setting_applies_over_the_file_and_a_bad_one_is_skipped() {
        let kept = vec![
            ("network.donated".to_owned(), "1048576".to_owned()),
            ("media.encoders".to_owned(), "\"many\"".to_owned()),
            ("media.segment_secs".to_owned(), "1000".to_owned()),
            ("listen".to_owned(), "\"0.0.0.0:1\"".to_owned()),
            ("services/repair/enabled".to_owned(), "false".to_owned()),
        ];
        let config = apply(Config::default(), &kept);
        let default = Config::default();
        assert_eq!(config.network.donated, 1_048_576);
        assert_eq!(config.media.encoders, default.media.encoders);
        assert_eq!(config.media.segment_secs, default.media.segment_secs);
        assert_eq!(config.listen, default.listen);
    }

    #[test]
    fn a_change_is_checked_by_type_and_range() {
        let config = Config::default();
        assert!(changed(&config, "network.mdns", json!(false)).is_ok());
        let wrong = changed(&config, "network.mdns", json!("no")).unwrap_err();
        assert_eq!(wrong.kind(), crate::ErrorKind::Invalid);
        let range = changed(&config, "media.segment_secs", json!(0.1)).unwrap_err();
        assert!(range.to_string().contains("segment_secs"), "{range}");
        let unknown = changed(&config, "network.nothing", json!(1)).unwrap_err();
        assert_eq!(unknown.kind(), crate::ErrorKind::NotFound);
    }
}
