//! What the node keeps of each torrent that librqbit does not: the peers
//! given by hand (`x.pe` in a magnet, `peers` in a request) and the
//! torrent's own download limit, remembered across restarts.
//!
//! librqbit's persistence brings every torrent back at start, with what it
//! had downloaded, but neither the peers it was given by hand nor its
//! limit: a torrent that knew its swarm only that way (no DHT, no tracker,
//! as on a LAN or in the tests) would wait for peers forever, and a
//! limited one would run unlimited. The node keeps both in
//! `<data dir>/torrents/peers.json` (written whole or not at all; older
//! nodes wrote a bare list of peers per torrent, still read) and, at
//! start, adds each unfinished torrent with either again with them:
//! librqbit checks the data already on disk and goes on from there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use librqbit::api::TorrentIdOrHash;
use librqbit::limits::LimitsConfig;
use librqbit::{AddTorrent, AddTorrentOptions, ManagedTorrent};
use serde::{Deserialize, Serialize};

use super::Torrents;
use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

/// What is kept of one torrent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Kept {
    /// Peers given by hand.
    #[serde(default)]
    pub(super) peers: Vec<SocketAddr>,
    /// Its own download limit, bytes per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) download_bps: Option<u32>,
}

impl Kept {
    fn is_empty(&self) -> bool {
        self.peers.is_empty() && self.download_bps.is_none()
    }
}

/// One torrent in the file: a bare list of peers, as older nodes wrote.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Kept(Kept),
    Peers(Vec<SocketAddr>),
}

/// What is kept of every torrent, by info hash.
pub(super) struct Remembered {
    file: PathBuf,
    kept: Mutex<BTreeMap<String, Kept>>,
}

impl Remembered {
    /// Reads `<dir>/peers.json` (none yet, or unreadable: nothing).
    pub(super) fn open(dir: &Path) -> Self {
        let file = dir.join("peers.json");
        let stored: BTreeMap<String, Stored> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let kept = stored
            .into_iter()
            .map(|(hash, s)| {
                let kept = match s {
                    Stored::Kept(k) => k,
                    Stored::Peers(peers) => Kept {
                        peers,
                        download_bps: None,
                    },
                };
                (hash, kept)
            })
            .collect();
        Self {
            file,
            kept: Mutex::new(kept),
        }
    }

    /// Remembers `peers` for `hash` (with those it had).
    pub(super) fn add(&self, hash: &str, peers: &[SocketAddr]) -> Result<()> {
        if peers.is_empty() {
            return Ok(());
        }
        self.change(hash, |kept| {
            for p in peers {
                if !kept.peers.contains(p) {
                    kept.peers.push(*p);
                }
            }
        })
    }

    /// Sets (or, with `None`, lifts) the download limit of `hash`.
    pub(super) fn set_limit(&self, hash: &str, download_bps: Option<u32>) -> Result<()> {
        self.change(hash, |kept| kept.download_bps = download_bps)
    }

    /// Forgets `hash`.
    pub(super) fn forget(&self, hash: &str) -> Result<()> {
        let mut all = self.lock();
        if all.remove(hash).is_some() {
            self.save(&all)?;
        }
        Ok(())
    }

    fn all(&self) -> BTreeMap<String, Kept> {
        self.lock().clone()
    }

    /// What is kept of `hash`.
    pub(super) fn of(&self, hash: &str) -> Kept {
        self.lock().get(hash).cloned().unwrap_or_default()
    }

    /// Changes what is kept of `hash` and saves it; in memory too only if
    /// it was saved.
    fn change(&self, hash: &str, how: impl FnOnce(&mut Kept)) -> Result<()> {
        let mut all = self.lock();
        let mut next = all.clone();
        let kept = next.entry(hash.to_owned()).or_default();
        how(kept);
        if kept.is_empty() {
            next.remove(hash);
        }
        if next == *all {
            return Ok(());
        }
        self.save(&next)?;
        *all = next;
        Ok(())
    }

    fn save(&self, all: &BTreeMap<String, Kept>) -> Result<()> {
        let text = serde_json::to_vec(all).map_err(|e| NodeError::Internal(e.to_string()))?;
        cairn_store::private::write_whole(&self.file, &text)
            .map_err(|e| NodeError::io("write", &self.file, e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Torrents {
    /// At start: adds again, with their remembered peers and limit, the
    /// torrents librqbit brought back unfinished.
    pub(super) fn start_repeering(&self) {
        let torrents = self.clone();
        self.0.shared.spawn("torrent-repeer", async move {
            for (hash, kept) in torrents.0.remembered.all() {
                let Ok(handle) = torrents.handle(&hash) else {
                    continue;
                };
                if handle.stats().finished {
                    continue;
                }
                let limit = kept.download_bps.and_then(NonZeroU32::new);
                if let Err(e) = torrents.add_again(&handle, kept.peers, limit).await {
                    tracing::warn!(torrent = %hash, error = %e, "cannot give a torrent its peers and limit back");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_and_limits_survive_a_reopen_and_old_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let peer: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let kept = Remembered::open(dir.path());
        kept.add(&a, &[peer]).unwrap();
        kept.add(&a, &[peer]).unwrap();
        kept.set_limit(&b, Some(65536)).unwrap();
        let again = Remembered::open(dir.path());
        assert_eq!(again.of(&a).peers, vec![peer]);
        assert_eq!(again.of(&b).download_bps, Some(65536));
        again.set_limit(&b, None).unwrap();
        assert!(!Remembered::open(dir.path()).all().contains_key(&b));
        again.forget(&a).unwrap();
        assert!(Remembered::open(dir.path()).all().is_empty());

        std::fs::write(
            dir.path().join("peers.json"),
            format!(r#"{{"{a}":["127.0.0.1:6881"]}}"#),
        )
        .unwrap();
        assert_eq!(Remembered::open(dir.path()).of(&a).peers, vec![peer]);
    }
}
