//! Finished torrents into the store: every selected file of a torrent
//! that has all its selected pieces is stored like any upload (its BLAKE3
//! id, deduplicated, placed on the network) under
//! `<[torrents] folder>/<torrent name>/<path in the torrent>`, as a
//! `torrent` job, and tagged `<info hash>:<index>` so reads come from the
//! store from then on and a restart does not import it twice.
//!
//! Crash safety: a file is committed whole or not at all (the store's
//! commit), and a file committed but not yet tagged when the node was
//! killed is stored again at the next start, replacing the entry of the
//! same name with the same blob: nothing half-imported is ever visible.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use librqbit::{ManagedTorrent, TorrentStatsState};

use super::{TAGS, Torrents, tag};
use crate::{Entry, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// How long a torrent whose import failed waits before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// One file to import.
struct Wanted {
    index: usize,
    /// Its path inside the torrent.
    relative: PathBuf,
    size: u64,
}

impl Torrents {
    /// Every second: the torrents' jobs, and the import of those that
    /// finished.
    pub(super) fn start_importer(&self) {
        let torrents = self.clone();
        let shutdown = self.0.shared.shutdown.clone();
        self.0.shared.spawn("torrent-importer", async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = tick.tick() => torrents.import_finished(),
                }
            }
        });
    }

    fn import_finished(&self) {
        let Ok(session) = self.session() else { return };
        let handles: Vec<Arc<ManagedTorrent>> =
            session.with_torrents(|it| it.map(|(_, h)| h.clone()).collect());
        for handle in handles {
            let torrents = self.clone();
            let ticked = handle.clone();
            self.0.shared.spawn("torrent-job", async move {
                torrents.tick_job(&ticked).await;
                Ok(())
            });
            let stats = handle.stats();
            let settled = matches!(
                stats.state,
                TorrentStatsState::Live | TorrentStatsState::Paused
            );
            if !settled || !stats.finished {
                continue;
            }
            let hash = handle.info_hash().as_string();
            if !self.0.shared.config.torrents.import {
                let done = serde_json::json!({ "info_hash": hash, "entries": {} });
                self.end_job(&hash, Ok(done));
                continue;
            }
            if !self.importing().insert(hash.clone()) {
                continue;
            }
            let torrents = self.clone();
            self.0.shared.spawn("torrent-import", async move {
                let outcome = torrents.import(&handle).await;
                if let Err(e) = &outcome {
                    tracing::warn!(torrent = %hash, error = %e, "a finished torrent was not imported");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                torrents.importing().remove(&hash);
                Ok(())
            });
        }
    }

    /// Imports the selected files of `handle` not imported yet.
    async fn import(&self, handle: &Arc<ManagedTorrent>) -> Result<()> {
        let hash = handle.info_hash().as_string();
        let (wanted, single) = wanted(handle)?;
        let done = self
            .imported(&hash, wanted.iter().map(|w| w.index + 1).max().unwrap_or(0))
            .await;
        let todo: Vec<Wanted> = wanted
            .into_iter()
            .filter(|w| !done.contains_key(&w.index))
            .collect();
        if todo.is_empty() {
            self.end_job(&hash, Ok(imported_json(&hash, &done)));
            return self.after_import(handle).await;
        }
        let folder = self.0.shared.config.torrents.folder.clone();
        let mut top = self.0.entries.create_folder(None, folder).await?;
        if !single {
            let name = handle.name().unwrap_or_else(|| hash.clone());
            top = self.0.entries.create_folder(Some(top.id), name).await?;
        }
        let mut done = done;
        for w in todo {
            let entry = self.import_file(handle, &top, &w).await?;
            self.0
                .entries
                .tag(TAGS, &tag(&hash, w.index), &entry.id)
                .await?;
            tracing::info!(torrent = %hash, file = w.index, entry = %entry.id, "torrent file imported");
            done.insert(w.index, entry.id);
        }
        self.end_job(&hash, Ok(imported_json(&hash, &done)));
        self.after_import(handle).await
    }

    /// Stores one file, in the folders its path names under `top`.
    async fn import_file(&self, handle: &ManagedTorrent, top: &Entry, w: &Wanted) -> Result<Entry> {
        let mut parent = top.clone();
        let parts: Vec<String> = w
            .relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(NodeError::Invalid(format!("file {} has no name", w.index)));
        };
        for dir in dirs {
            parent = self
                .0
                .entries
                .create_folder(Some(parent.id.clone()), dir.clone())
                .await?;
        }
        let path = handle.output_folder().join(&w.relative);
        let job =
            self.0
                .shared
                .jobs
                .start("torrent", format!("torrent: {name}"), Some(w.size), false);
        let (entries, name, parent) = (self.0.entries.clone(), name.clone(), parent.id);
        crate::tasks::blocking(move || {
            let outcome = open(&path).and_then(|mut file| {
                entries.store_file(
                    &mut file,
                    &job,
                    Some(&parent),
                    &name,
                    OnConflict::Replace,
                    &|_| Ok(()),
                )
            });
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            outcome
        })
        .await
    }

    /// With `[torrents] seed` off, a torrent stops once imported.
    async fn after_import(&self, handle: &Arc<ManagedTorrent>) -> Result<()> {
        if !self.0.shared.config.torrents.seed && !handle.is_paused() {
            self.session()?
                .pause(handle)
                .await
                .map_err(|e| NodeError::Conflict(format!("cannot stop seeding: {e:#}")))?;
        }
        Ok(())
    }

    fn importing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.0.importing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A finished torrent job's result: its files' entries, by index.
fn imported_json(hash: &str, done: &std::collections::HashMap<usize, String>) -> serde_json::Value {
    let files: std::collections::BTreeMap<String, &String> =
        done.iter().map(|(i, e)| (i.to_string(), e)).collect();
    serde_json::json!({ "info_hash": hash, "entries": files })
}

/// The selected files of a torrent, and whether it is a single file.
fn wanted(handle: &ManagedTorrent) -> Result<(Vec<Wanted>, bool)> {
    let only = handle.only_files();
    handle
        .with_metadata(|m| {
            let single = m.info.info().files.is_none();
            let files = m
                .file_infos
                .iter()
                .enumerate()
                .filter(|(i, f)| !f.attrs.padding && only.as_ref().is_none_or(|o| o.contains(i)))
                .map(|(index, f)| Wanted {
                    index,
                    relative: f.relative_filename.clone(),
                    size: f.len,
                })
                .collect();
            (files, single)
        })
        .map_err(|_| NodeError::Conflict("the torrent has no metadata yet".into()))
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| NodeError::io("open", path, e))
}
