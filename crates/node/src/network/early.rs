//! Placing an upload on suppliers while it is still being stored.
//!
//! An upload's segments are encrypted one at a time as they arrive (each
//! key comes from the segment's own hash), but the blob id, the hash of the
//! whole file, is known only at its end, and suppliers keep shards under
//! it. So a node with suppliers enough picks a provisional blob id when an
//! upload starts, and the ingest's writer hands every encrypted segment to
//! an [`EarlyPlace`] too: segments are coded and written to the suppliers
//! under that id while the rest of the file is still read, hashed and
//! stored. Once the blob is committed, its place job waits for the last
//! writes and has every supplier seal its shard under the real id
//! (`SealAs`, shard protocol version 4); from there on it is any placement
//! (`Network::record_placement`).
//!
//! Nothing here can cost the upload. The writer waits at most
//! `ingest::PATIENCE` to hand a segment on, and the suppliers must be
//! chosen within it too; past that the upload goes on alone. A supplier
//! that fails or knows no version 4, an upload that fails, a blob that was
//! already stored: the writes stop, those in flight are waited for, then
//! the provisional shards are deleted (best effort; suppliers sweep
//! partial shards left idle anyway) and a new blob is placed the usual
//! way, from its local copy. A kill at any moment leaves the local copy's
//! usual guarantees: until the seals, suppliers hold only partial shards
//! under an id nobody reads, and a placement is recorded only once all are
//! sealed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_core::BlobId;
use cairn_core::erasure::Coding;
use cairn_core::layout::SEGMENT_SIZE;
use cairn_core::placement::Placement;
use cairn_net::PeerId;
use cairn_net::protocol::{MAX_CHUNK, PROTOCOL, Request, ShardKey};
use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Network;
use super::batches::{
    Failed, code_batch, expect_ok, net_error, run_batches, shard_file_len, write_batch,
};
use crate::NodeError;
use crate::blobs::ingest::{Ciphertext, PATIENCE, Tap};
use crate::jobs::Job;

/// What the writes of an early placement came to.
struct Streamed {
    /// Every piece's hash, segment by segment.
    hashes: Vec<[u8; 32]>,
    /// The bytes of ciphertext placed.
    size: u64,
}

/// A placement under way while its upload is stored. Dropped before it is
/// sealed, it stops and deletes what it wrote.
pub(crate) struct EarlyPlace {
    network: Network,
    coding: Coding,
    suppliers: Vec<PeerId>,
    /// The blob id its shards are written under until sealed.
    provisional: [u8; 32],
    /// Bytes of the upload written to every supplier so far.
    placed: Arc<AtomicU64>,
    /// The writes; taken when it is dropped unsealed.
    task: Option<JoinHandle<Result<Streamed, Failed>>>,
    /// Tells the writes to start no more batches.
    stop: CancellationToken,
    runtime: Handle,
    sealed: bool,
}

impl Network {
    /// Starts placing an upload of about `size_hint` bytes as it is
    /// stored, when the node has suppliers for it that all speak shard
    /// protocol version 4 (blocking: called on the upload's thread).
    /// Answers the placement and the tap for the ingest, or `None` to place
    /// the blob once stored.
    pub(crate) fn early_place(&self, size_hint: Option<u64>) -> Option<(EarlyPlace, Tap)> {
        if !self.0.shared.config.network.place_while_storing
            || self.0.net.is_none()
            || size_hint == Some(0)
        {
            return None;
        }
        let runtime = Handle::try_current().ok()?;
        let network = self.clone();
        // A supplier that does not answer must not hold the upload up: it
        // is placed once stored instead.
        let choose = async move {
            let Some(coding) = network.coding_now().await? else {
                return Ok(None);
            };
            let shard_bytes = shard_file_len(coding, size_hint.unwrap_or(0));
            let suppliers = network.suppliers_for(coding.n(), shard_bytes, &[]).await?;
            let peers = network.net()?.network.peers().await.map_err(net_error)?;
            let speaks_v4 = |s: &PeerId| {
                peers
                    .iter()
                    .any(|p| p.peer_id == *s && p.protocols.iter().any(|x| x == PROTOCOL))
            };
            Ok::<_, NodeError>(
                suppliers
                    .iter()
                    .all(speaks_v4)
                    .then_some((coding, suppliers)),
            )
        };
        let chosen = runtime
            .block_on(async { tokio::time::timeout(PATIENCE, choose).await })
            .unwrap_or_else(|_| {
                Err(NodeError::Network(
                    "no suppliers chosen in time to place while storing".into(),
                ))
            });
        let (coding, suppliers) = match chosen {
            Ok(Some(chosen)) => chosen,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "placing once stored");
                return None;
            }
        };
        let provisional: [u8; 32] = rand::random();
        let (to, segments) = mpsc::channel(batch_len(coding));
        let tap = Tap::new(to, runtime.clone());
        let placed = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let task = runtime.spawn(self.clone().write_early(
            coding,
            suppliers.clone(),
            provisional,
            segments,
            placed.clone(),
            stop.clone(),
        ));
        let early = EarlyPlace {
            network: self.clone(),
            coding,
            suppliers,
            provisional,
            placed,
            task: Some(task),
            stop,
            runtime,
            sealed: false,
        };
        Some((early, tap))
    }

    /// Codes the segments as they come and writes them to `suppliers`
    /// under `provisional` (through [`run_batches`]), until the segments
    /// end or `stop`; ends only once every write it sent has been
    /// answered, so the deletes that may follow come after all of them.
    async fn write_early(
        self,
        coding: Coding,
        suppliers: Vec<PeerId>,
        provisional: [u8; 32],
        segments: mpsc::Receiver<Ciphertext>,
        placed: Arc<AtomicU64>,
        stop: CancellationToken,
    ) -> Result<Streamed, Failed> {
        let net = self.net()?;
        let stride = coding.shard_len(SEGMENT_SIZE as usize);
        let suppliers = &suppliers;
        // Stopped (by the owner or by an error), the channel closes, so the
        // upload's writer stops handing segments on at once.
        let segments =
            futures_util::stream::unfold((segments, stop.clone()), |(mut rx, stop)| async move {
                tokio::select! {
                    segment = rx.recv() => segment.map(|segment| (segment, (rx, stop))),
                    () = stop.cancelled() => {
                        rx.close();
                        None
                    }
                }
            });
        let batches = segments.chunks(batch_len(coding)).map(|batch| async move {
            let first = batch[0].index;
            let lens: Vec<usize> = batch.iter().map(|s| s.bytes().len()).collect();
            let count = lens.len() as u64;
            let bytes = lens.iter().map(|&l| l as u64).sum::<u64>();
            let (pieces, hashes) = tokio::task::spawn_blocking(move || {
                code_batch(coding, &lens, |s, from, dst| {
                    dst.copy_from_slice(&batch[s].bytes()[from..from + dst.len()]);
                    Ok(())
                })
            })
            .await
            .map_err(NodeError::from)??;
            write_batch(
                net,
                suppliers,
                provisional,
                first * stride as u64,
                stride,
                pieces,
            )
            .await?;
            Ok::<_, Failed>((first, count, bytes, hashes))
        });
        let mut streamed = Streamed {
            hashes: Vec::new(),
            size: 0,
        };
        let mut next = 0;
        run_batches(batches, &stop, |(first, count, bytes, hashes)| {
            if first != next {
                return Err(NodeError::Internal(format!(
                    "segment {first} came where {next} was due"
                )));
            }
            next += count;
            streamed.size += bytes;
            streamed.hashes.extend(hashes);
            placed.fetch_add(bytes, Ordering::Relaxed);
            Ok(())
        })
        .await?;
        Ok(streamed)
    }
}

/// Segments per batch: one `Write` per supplier carries a batch.
fn batch_len(coding: Coding) -> usize {
    (MAX_CHUNK / coding.shard_len(SEGMENT_SIZE as usize)).max(1)
}

impl EarlyPlace {
    /// Once blob `id` (the upload, `size` bytes) is committed: waits for
    /// the last writes, counting them in `job`, and has every supplier seal
    /// its shard as `id`'s. Answers the placement, to be recorded.
    pub(crate) async fn finish(
        mut self,
        id: BlobId,
        size: u64,
        segments: usize,
        job: &Job,
    ) -> Result<Placement, Failed> {
        let before = self.placed.load(Ordering::Relaxed);
        job.advance(before);
        let task = self
            .task
            .as_mut()
            .ok_or_else(|| NodeError::Internal("an early placement finished twice".into()))?;
        let cancel = job.token();
        let done = tokio::select! {
            done = task => done,
            () = cancel.cancelled() => return Err(NodeError::Cancelled.into()),
        };
        // Ended: never to be awaited again.
        self.task = None;
        let streamed = done.map_err(NodeError::from)??;
        job.advance(streamed.size - before);
        if streamed.size != size || streamed.hashes.len() != segments * self.coding.n() {
            return Err(Failed::Other(NodeError::Internal(format!(
                "placed {} bytes in {} pieces of a blob of {size} bytes in {segments} segments",
                streamed.size,
                streamed.hashes.len()
            ))));
        }
        let net = self.network.net()?;
        let coding = self.coding;
        let stride = coding.shard_len(SEGMENT_SIZE as usize);
        let placement = Placement {
            coding,
            stride: stride as u32,
            owner: net.owner,
            suppliers: self.suppliers.iter().map(|p| p.to_string()).collect(),
            hashes: streamed.hashes,
        };
        let seals = self.suppliers.iter().enumerate().map(|(i, peer)| {
            net.network.request(
                *peer,
                Request::SealAs {
                    key: ShardKey {
                        owner: net.owner,
                        blob: self.provisional,
                        position: i as u8,
                    },
                    len: shard_file_len(coding, size),
                    stride: stride as u32,
                    hash: placement.seal_hash(i),
                    blob: id.0,
                },
            )
        });
        let answers = join_all(seals).await;
        for (answer, peer) in answers.into_iter().zip(&self.suppliers) {
            if let Err(e) = expect_ok(answer, peer) {
                // Those sealed as the blob's are deleted too.
                self.network.forget_shards(id, &self.suppliers).await;
                return Err(Failed::Supplier(*peer, e));
            }
        }
        self.sealed = true;
        Ok(placement)
    }
}

impl Drop for EarlyPlace {
    fn drop(&mut self) {
        if self.sealed {
            return;
        }
        let task = self.task.take();
        let network = self.network.clone();
        let suppliers = std::mem::take(&mut self.suppliers);
        let provisional = self.provisional;
        self.stop.cancel();
        self.runtime.spawn(async move {
            // Every write sent has been answered before the deletes go:
            // none can land after them.
            if let Some(task) = task {
                let _ = task.await;
            }
            let Ok(net) = network.net() else { return };
            let deletes = suppliers.iter().enumerate().map(|(i, peer)| {
                let key = ShardKey {
                    owner: net.owner,
                    blob: provisional,
                    position: i as u8,
                };
                net.network.request(*peer, Request::Delete { key })
            });
            join_all(deletes).await;
        });
    }
}
