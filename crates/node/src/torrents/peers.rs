//! Peers given by hand (`x.pe` in a magnet, `peers` in a request),
//! remembered across restarts.
//!
//! librqbit's persistence brings every torrent back at start, with what it
//! had downloaded, but not the peers it was given by hand: a torrent that
//! knew its swarm only that way (no DHT, no tracker, as on a LAN or in the
//! tests) would wait for peers forever. The node keeps those peers in
//! `<data dir>/torrents/peers.json` (written through a temporary name) and,
//! at start, adds such a torrent again with them, unfinished ones only:
//! librqbit checks the data already on disk and goes on from there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use librqbit::api::TorrentIdOrHash;
use librqbit::limits::LimitsConfig;
use librqbit::{AddTorrent, AddTorrentOptions, ManagedTorrent};

use super::Torrents;
use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

/// The peers given by hand, by info hash.
pub(super) struct Remembered {
    file: PathBuf,
    peers: Mutex<BTreeMap<String, Vec<SocketAddr>>>,
}

impl Remembered {
    /// Reads `<dir>/peers.json` (none yet, or unreadable: nothing).
    pub(super) fn open(dir: &Path) -> Self {
        let file = dir.join("peers.json");
        let peers = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            file,
            peers: Mutex::new(peers),
        }
    }

    /// Remembers `peers` for `hash` (with those it had).
    pub(super) fn add(&self, hash: &str, peers: &[SocketAddr]) -> Result<()> {
        if peers.is_empty() {
            return Ok(());
        }
        let mut all = self.lock();
        let known = all.entry(hash.to_owned()).or_default();
        for p in peers {
            if !known.contains(p) {
                known.push(*p);
            }
        }
        self.save(&all)
    }

    /// Forgets `hash`.
    pub(super) fn forget(&self, hash: &str) -> Result<()> {
        let mut all = self.lock();
        if all.remove(hash).is_some() {
            self.save(&all)?;
        }
        Ok(())
    }

    fn all(&self) -> BTreeMap<String, Vec<SocketAddr>> {
        self.lock().clone()
    }

    /// The peers remembered for `hash`.
    pub(super) fn of(&self, hash: &str) -> Vec<SocketAddr> {
        self.lock().get(hash).cloned().unwrap_or_default()
    }

    fn save(&self, all: &BTreeMap<String, Vec<SocketAddr>>) -> Result<()> {
        let tmp = self.file.with_extension("json.tmp");
        let text = serde_json::to_vec(all).map_err(|e| NodeError::Internal(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| NodeError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &self.file).map_err(|e| NodeError::io("rename", &tmp, e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<SocketAddr>>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Torrents {
    /// At start: adds again, with their remembered peers, the torrents
    /// librqbit brought back unfinished.
    pub(super) fn start_repeering(&self) {
        let torrents = self.clone();
        self.0.shared.spawn("torrent-repeer", async move {
            for (hash, peers) in torrents.0.remembered.all() {
                let Ok(handle) = torrents.handle(&hash) else {
                    continue;
                };
                if handle.stats().finished {
                    continue;
                }
                if let Err(e) = torrents.add_again(&handle, peers, None).await {
                    tracing::warn!(torrent = %hash, error = %e, "cannot give a torrent its peers back");
                }
            }
            Ok(())
        });
    }

    /// Adds `handle`'s torrent again (its data kept and checked) with
    /// `peers` to try at once and a download limit (`None`: none of its
    /// own): librqbit takes both only when a torrent is added.
    pub(super) async fn add_again(
        &self,
        handle: &Arc<ManagedTorrent>,
        peers: Vec<SocketAddr>,
        download_bps: Option<NonZeroU32>,
    ) -> Result<()> {
        let session = self.session()?.clone();
        let bytes = handle
            .with_metadata(|m| m.torrent_bytes.clone())
            .map_err(|_| NodeError::Conflict("no metadata".into()))?;
        let options = AddTorrentOptions {
            paused: handle.is_paused(),
            only_files: handle.only_files(),
            output_folder: Some(handle.output_folder().to_string_lossy().into_owned()),
            overwrite: true,
            initial_peers: (!peers.is_empty()).then_some(peers),
            ratelimits: LimitsConfig {
                download_bps,
                upload_bps: None,
            },
            ..Default::default()
        };
        session
            .delete(TorrentIdOrHash::Hash(handle.info_hash()), false)
            .await
            .map_err(|e| NodeError::Conflict(format!("{e:#}")))?;
        session
            .add_torrent(AddTorrent::from_bytes(bytes), Some(options))
            .await
            .map_err(|e| NodeError::Conflict(format!("{e:#}")))?;
        tracing::info!(torrent = %handle.info_hash().as_string(), "torrent added again");
        Ok(())
    }
}
