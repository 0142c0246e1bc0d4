//! Watch history: where each viewer stopped in each thing they watched
//! (an entry, or a torrent's file), newest first. A deleted entry's rows
//! go with it (a trigger of migration 18).

use rusqlite::params;
use serde::Serialize;

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// One thing a viewer watched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watched {
    /// What was watched: an entry id, `torrent:<hash>:<index>`, or
    /// `web:<page URL>`.
    pub subject: String,
    /// What the player called it (a file name, a video's title).
    pub title: Option<String>,
    /// Where they stopped, in seconds.
    pub position: f64,
    /// Its duration in seconds, when the player knew it.
    pub duration: Option<f64>,
    /// Watched to the end.
    pub ended: bool,
    /// When, in Unix milliseconds.
    pub updated: i64,
}

impl Catalog {
    /// Records where `viewer` is in `subject`.
    pub fn watched(
        &self,
        viewer: &str,
        subject: &str,
        title: Option<&str>,
        position: f64,
        duration: Option<f64>,
        ended: bool,
    ) -> Result<Watched> {
        let updated = now_ms();
        self.with(|c| {
            c.execute(
                "INSERT INTO watch_history (viewer, subject, position, duration, ended, updated, title) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (viewer, subject) DO UPDATE SET \
                 position = excluded.position, duration = excluded.duration, \
                 ended = excluded.ended, updated = excluded.updated, \
                 title = coalesce(excluded.title, title)",
                params![viewer, subject, position, duration, ended, updated, title],
            )?;
            Ok(())
        })?;
        Ok(Watched {
            subject: subject.to_owned(),
            title: title.map(str::to_owned),
            position,
            duration,
            ended,
            updated,
        })
    }

    /// What `viewer` watched, newest first.
    pub fn history(&self, viewer: &str, offset: u64, limit: u32) -> Result<Vec<Watched>> {
        self.read(|c| {
            let mut q = c.prepare_cached(
                "SELECT subject, position, duration, ended, updated, title FROM watch_history \
                 WHERE viewer = ?1 ORDER BY updated DESC, subject LIMIT ?2 OFFSET ?3",
            )?;
            let rows = q.query_map(params![viewer, limit, offset as i64], |r| {
                Ok(Watched {
                    subject: r.get(0)?,
                    position: r.get(1)?,
                    duration: r.get(2)?,
                    ended: r.get(3)?,
                    updated: r.get(4)?,
                    title: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Forgets `subject` (or everything, with none) in `viewer`'s history;
    /// how many rows went.
    pub fn forget_watched(&self, viewer: &str, subject: Option<&str>) -> Result<usize> {
        self.with(|c| {
            Ok(match subject {
                Some(s) => c.execute(
                    "DELETE FROM watch_history WHERE viewer = ?1 AND subject = ?2",
                    params![viewer, s],
                )?,
                None => c.execute(
                    "DELETE FROM watch_history WHERE viewer = ?1",
                    params![viewer],
                )?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Catalog;

    #[test]
    fn history_is_per_viewer_newest_first_and_goes_with_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.db")).unwrap();
        catalog
            .watched("", "torrent:ab:0", None, 10.0, Some(60.0), false)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        catalog
            .watched("", "entry-one", Some("One"), 5.5, None, false)
            .unwrap();
        catalog
            .watched("bob", "entry-one", None, 1.0, None, true)
            .unwrap();
        let mine = catalog.history("", 0, 10).unwrap();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].subject, "entry-one");
        assert_eq!(mine[1].position, 10.0);
        // Again: updated in place, and first.
        std::thread::sleep(std::time::Duration::from_millis(5));
        catalog
            .watched("", "torrent:ab:0", None, 20.0, Some(60.0), true)
            .unwrap();
        let mine = catalog.history("", 0, 10).unwrap();
        assert_eq!(
            (mine[0].subject.as_str(), mine[0].ended),
            ("torrent:ab:0", true)
        );
        assert_eq!(mine[1].title.as_deref(), Some("One"));
        // A title once given stays when a later record has none.
        catalog
            .watched("", "entry-one", None, 6.0, None, false)
            .unwrap();
        assert_eq!(
            catalog.history("", 0, 10).unwrap()[0].title.as_deref(),
            Some("One")
        );
        assert_eq!(catalog.history("bob", 0, 10).unwrap().len(), 1);
        assert_eq!(catalog.forget_watched("", Some("torrent:ab:0")).unwrap(), 1);
        assert_eq!(catalog.history("", 0, 10).unwrap().len(), 1);
    }
}
