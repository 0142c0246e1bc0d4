//! Tags: names a layer gives entries, each in the layer's own namespace
//! (MetaDisk's file hashes are the `metadisk` namespace). A tag goes with
//! its entry when the entry is deleted.

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::catalog::{Catalog, Entry, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

impl Catalog {
    /// Names entry `entry` `name` in `namespace` (moving the name if
    /// another entry had it).
    pub fn tag(&self, namespace: &str, name: &str, entry: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO tags (namespace, name, entry, created) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (namespace, name) DO UPDATE SET entry = excluded.entry",
                params![namespace, name, entry, now_ms()],
            )?;
            Ok(())
        })
    }

    /// The entry `name` names in `namespace`, and when the name was first
    /// given (Unix milliseconds).
    pub fn tagged(&self, namespace: &str, name: &str) -> Result<Option<(Entry, i64)>> {
        let found: Option<(String, i64)> = self.read(|c| {
            Ok(c.query_row(
                "SELECT entry, created FROM tags WHERE namespace = ?1 AND name = ?2",
                params![namespace, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })?;
        match found {
            Some((entry, created)) => Ok(Some((self.entry(&entry)?, created))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_names_one_entry_per_namespace_and_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
        let a = cat.create_folder(None, "a").unwrap();
        let b = cat.create_folder(None, "b").unwrap();
        cat.tag("metadisk", "h1", &a.id).unwrap();
        cat.tag("other", "h1", &b.id).unwrap();
        assert_eq!(cat.tagged("metadisk", "h1").unwrap().unwrap().0.id, a.id);
        assert_eq!(cat.tagged("other", "h1").unwrap().unwrap().0.id, b.id);
        assert!(cat.tagged("metadisk", "h2").unwrap().is_none());
        cat.tag("metadisk", "h1", &b.id).unwrap();
        assert_eq!(cat.tagged("metadisk", "h1").unwrap().unwrap().0.id, b.id);
        cat.delete(&b.id, false, |_| {}).unwrap();
        assert!(cat.tagged("metadisk", "h1").unwrap().is_none());
        assert!(cat.tagged("other", "h1").unwrap().is_none());
    }
}
