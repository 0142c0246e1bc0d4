//! Powder's settings (§7): `config.json` of the layer, Powder's keys and
//! defaults, master-only keys, Powder's coercion of written values.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

/// Keys only the master key may write (§2.4).
const MASTER_ONLY: &[&str] = &[
    "useWebPlayerAssoc",
    "extPlayer",
    "playerCmdArgs",
    "extTorrentClient",
    "torrentCmdArgs",
    "downloadFolder",
    "maxConcurrency",
    "downloadAll",
    "forceDownload",
    "speedLimit",
    "removeLogic",
    "webServerPort",
    "webServerSSL",
    "maxUsers",
    "maxPeers",
    "peerPort",
    "peerID",
    "verifyFiles",
    "fastResume",
    "useFilenameStream",
    "torrentNotifs",
    "torrentTrackers",
    "userCommands",
    "jackettHost",
    "jackettKey",
    "subsOnlyHash",
    "subLangs",
    "subLimit",
    "downloadSubs",
];

/// Most keys a settings object holds (Powder's has 31).
const MAX_KEYS: usize = 256;

/// Longest value kept.
const MAX_VALUE: usize = 4096;

/// Powder's defaults, in its file's order; `embedToken` is made once.
fn defaults() -> Map<String, Value> {
    let v = json!({
        "peerPort": 6884,
        "maxPeers": 200,
        "removeLogic": 0,
        "extPlayer": false,
        "playerCmdArgs": "",
        "extTorrentClient": false,
        "torrentCmdArgs": "",
        "speedLimit": 0,
        "downloadAll": true,
        "forceDownload": false,
        "peerID": "PW0700",
        "maxConcurrency": 2,
        "maxUsers": 0,
        "webServerPort": 3000,
        "webServerSSL": false,
        "downloadFolder": "",
        "torrentTrackers": "",
        "ytdlQuality": 2,
        "subLimit": 0,
        "jackettHost": "http://localhost:9117/",
        "jackettKey": "",
        "verifyFiles": true,
        "embedToken": crate::keys::random_hex(),
        "useWebPlayerAssoc": false,
        "useFilenameStream": true,
        "torrentNotifs": true,
        "fastResume": true,
        "userCommands": "",
        "subsOnlyHash": false,
        "subLangs": "all",
        "downloadSubs": false,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The settings, kept in memory and written through to the file.
pub(crate) struct Settings {
    file: PathBuf,
    values: Mutex<Map<String, Value>>,
}

impl Settings {
    /// The settings in `dir/config.json`, missing keys added with
    /// Powder's defaults (and written back).
    pub(crate) fn open(dir: &Path) -> Self {
        let file = dir.join("config.json");
        let mut values = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                _ => {
                    tracing::warn!(file = %file.display(), "Powder settings unreadable: defaults used");
                    Map::new()
                }
            },
            Err(_) => Map::new(),
        };
        let mut added = false;
        for (k, v) in defaults() {
            if !values.contains_key(&k) {
                values.insert(k, v);
                added = true;
            }
        }
        let settings = Self {
            file,
            values: Mutex::new(values),
        };
        if added {
            settings.save();
        }
        settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_locked(&self, values: &Map<String, Value>) {
        let bytes = serde_json::to_vec_pretty(values).unwrap_or_default();
        if let Err(e) = crate::write_atomically(&self.file, &bytes) {
            tracing::warn!(error = %e, file = %self.file.display(), "Powder settings not saved");
        }
    }

    fn save(&self) {
        let values = self.lock();
        self.save_locked(&values);
    }

    /// Every setting.
    pub(crate) fn all(&self) -> Value {
        Value::Object(self.lock().clone())
    }

    /// One setting.
    pub(crate) fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Writes `pairs` as Powder did: `true`/`false` as booleans, numbers
    /// as integers (an empty one as `null`), else the string; keys only
    /// the master may write are skipped for others.
    pub(crate) fn write(&self, pairs: &[(String, String)], master: bool) -> Result<(), String> {
        let mut values = self.lock();
        for (key, raw) in pairs {
            if key == "token" || key == "method" {
                continue;
            }
            if !master && MASTER_ONLY.contains(&key.as_str()) {
                continue;
            }
            if key.is_empty() || key.len() > 128 || raw.len() > MAX_VALUE {
                return Err(format!(
                    "A setting's name has 1 to 128 characters and its value at most {MAX_VALUE}"
                ));
            }
            if !values.contains_key(key) && values.len() >= MAX_KEYS {
                return Err("Too many settings".into());
            }
            values.insert(key.clone(), coerce(raw));
        }
        self.save_locked(&values);
        Ok(())
    }

    /// The embed token.
    pub(crate) fn embed_token(&self) -> String {
        self.str("embedToken")
    }

    /// A string setting (empty when absent or not a string).
    pub(crate) fn str(&self, key: &str) -> String {
        match self.get(key) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        }
    }

    /// A number setting (0 when absent or not a number).
    pub(crate) fn int(&self, key: &str) -> i64 {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// A boolean setting (`default` when absent).
    pub(crate) fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => b,
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            _ => default,
        }
    }
}

/// A written value as Powder's `settings` method read it.
fn coerce(raw: &str) -> Value {
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "" => Value::Null,
        _ => match parse_int(raw) {
            Some(n) => json!(n),
            None => Value::String(raw.to_owned()),
        },
    }
}

/// JavaScript's `parseInt` of a string that is a number (`"12"`, `"-3"`,
/// `"1.5"` → 1); anything else is a string.
fn parse_int(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if t.parse::<f64>().is_err() {
        return None;
    }
    let digits: String = t
        .chars()
        .enumerate()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
        .map(|(_, c)| c)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_coerced_as_powder_did() {
        assert_eq!(coerce("true"), json!(true));
        assert_eq!(coerce("false"), json!(false));
        assert_eq!(coerce("12"), json!(12));
        assert_eq!(coerce("-3"), json!(-3));
        assert_eq!(coerce("1.5"), json!(1));
        assert_eq!(coerce(""), Value::Null);
        assert_eq!(coerce("all"), json!("all"));
        assert_eq!(coerce("12ab"), json!("12ab"));
    }

    #[test]
    fn settings_persist_and_master_keys_are_kept_from_users() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::open(dir.path());
        let embed = s.embed_token();
        assert_eq!(embed.len(), 32);
        s.write(
            &[
                ("maxUsers".into(), "5".into()),
                ("ytdlQuality".into(), "3".into()),
            ],
            false,
        )
        .unwrap();
        assert_eq!(s.int("maxUsers"), 0, "a user cannot open sign-ups");
        assert_eq!(s.int("ytdlQuality"), 3);
        s.write(&[("maxUsers".into(), "5".into())], true).unwrap();
        drop(s);
        let s = Settings::open(dir.path());
        assert_eq!((s.int("maxUsers"), s.embed_token()), (5, embed));
    }
}
