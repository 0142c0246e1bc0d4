//! Settings (migration 26): options changed at run time, by key, each a
//! JSON value kept as text, so a change survives a restart. The engine
//! applies them over the config file at start; what a key means is the
//! engine's business, not the store's.

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

impl Catalog {
    /// The value kept for `key`, if any.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    /// Every setting kept, by key.
    pub fn settings(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut q = c.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Keeps `value` for `key`, replacing what was kept.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO settings (key, value, changed) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed = excluded.changed",
                params![key, value, now_ms()],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Catalog;

    #[test]
    fn a_setting_is_kept_across_opens_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        {
            let cat = Catalog::open(&path).unwrap();
            assert_eq!(cat.setting("services/repair/enabled").unwrap(), None);
            cat.set_setting("services/repair/enabled", "false").unwrap();
            cat.set_setting("logs/debug-level", "4").unwrap();
            cat.set_setting("logs/debug-level", "12").unwrap();
        }
        let cat = Catalog::open(&path).unwrap();
        assert_eq!(
            cat.setting("services/repair/enabled").unwrap().as_deref(),
            Some("false")
        );
        assert_eq!(
            cat.settings().unwrap(),
            vec![
                ("logs/debug-level".to_owned(), "12".to_owned()),
                ("services/repair/enabled".to_owned(), "false".to_owned()),
            ]
        );
    }
}
