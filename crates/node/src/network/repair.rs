//! Keeping placed blobs whole: audits, repair, and republishing records.
//!
//! Every `[network] check_secs` a task audits each position of each placed
//! blob. The owner makes challenges while it has the bytes (at placement,
//! and again from its local copy when they run out): a secret random nonce
//! and a segment, with the keyed BLAKE3 hash each position's piece of that
//! segment gives. A round sends the next challenge to every supplier at
//! once (`Audit`: 32 bytes back instead of the piece), and uses it up. A
//! supplier can only answer by hashing the piece it holds. An owner that
//! has neither challenges left nor its local copy reads one piece of a
//! random segment from each supplier and compares it with the placement's
//! hash instead. What it finds:
//!
//! - the right bytes: healthy; the supplier's offline clock is reset;
//! - a refusal as not found, or wrong bytes: the shard is lost or corrupt
//!   and is rebuilt at once, onto the same supplier (which still answers);
//! - no answer: offline. Once a supplier has been offline for
//!   `offline_grace_secs`, its position goes to a new supplier and the
//!   shard is rebuilt there.
//!
//! A rebuild is a job ("repair") with progress: each segment's ciphertext
//! comes from the local copy or from any k other shards, is coded again,
//! and the lost position's shard (checked against the placement's hash:
//! coding is deterministic) is written to the new supplier, which seals it.
//! Only then does the placement name the new supplier, and it is saved and
//! published again. The same task republishes every placement's record
//! each `republish_secs` (DHT records live in memory and expire).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_core::BlobId;
use cairn_core::layout::segment_span;
use cairn_core::placement::Placement;
use cairn_net::PeerId;
use cairn_net::protocol::{Refusal, Request, Response, ShardKey};
use rand::Rng;
use serde::Serialize;

use cairn_store::placements::Challenge;

use super::Network;
use super::batches::{expect_ok, net_error, shard_file_len};
use super::{has_room, parse_peer};
use crate::tasks::blocking;
use crate::{JobRecord, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// What the repair task knows between rounds.
#[derive(Default)]
pub(crate) struct RepairState {
    offline_since: Mutex<HashMap<String, Instant>>,
    last: Mutex<RepairStatus>,
    published: Mutex<Option<Instant>>,
}

impl RepairState {
    /// Makes the next round publish the records again (a new nickname).
    pub(crate) fn publish_soon(&self) {
        *self.published.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The last audit round, as the API shows it.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepairStatus {
    /// When the last round ended, Unix milliseconds (0: none yet).
    pub checked_at: i64,
    /// Placed blobs.
    pub blobs: usize,
    /// Positions audited.
    pub positions: usize,
    /// Of those, positions audited with a challenge (the others had a
    /// piece read back).
    pub challenged: usize,
    /// Positions that answered with the right bytes.
    pub healthy: usize,
    /// Positions whose supplier did not answer.
    pub offline: usize,
    /// Positions found lost or corrupt.
    pub damaged: usize,
    /// Repairs started in that round.
    pub repairs: usize,
}

/// Challenges made at once for a blob (each audits every position once).
const CHALLENGES: usize = 8;
/// Bytes of each position's expected answer kept per challenge.
const ANSWER: usize = 16;

/// What one audit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    Healthy,
    Damaged,
    Offline,
}

impl Network {
    /// Audits and repairs until `stop` (the service stopped, or the node).
    pub(crate) async fn repair_loop(self, stop: tokio_util::sync::CancellationToken) -> Result<()> {
        let every = Duration::from_secs(self.0.shared.config.network.check_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            if let Err(e) = self.republish_if_due().await {
                tracing::warn!(error = %e, "cannot republish placements");
            }
            if let Err(e) = self.clone().unplace().await {
                tracing::warn!(error = %e, "cannot ask suppliers to delete shards");
            }
            if let Err(e) = self.sweep_parts().await {
                tracing::warn!(error = %e, "cannot sweep idle partial shards");
            }
            if let Err(e) = self.place_pending().await {
                tracing::warn!(error = %e, "cannot place blobs left unplaced");
            }
            match self.audit_round().await {
                Ok(status) => {
                    *self.0.repair.last.lock().unwrap_or_else(|p| p.into_inner()) = status
                }
                Err(e) => tracing::warn!(error = %e, "audit round failed"),
            }
        }
    }

    /// Removes customers' partial shards left unwritten for
    /// `[network] part_idle_secs`.
    async fn sweep_parts(&self) -> Result<()> {
        let shards = self.net()?.shards.clone();
        let idle = Duration::from_secs(self.0.shared.config.network.part_idle_secs);
        let freed = blocking(move || Ok(shards.sweep_parts(idle)?)).await?;
        if freed > 0 {
            tracing::info!(bytes = freed, "removed partial shards nobody finished");
        }
        Ok(())
    }

    /// The last audit round.
    pub fn repair_status(&self) -> RepairStatus {
        self.0
            .repair
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn placements(&self) -> Result<Vec<(BlobId, Placement)>> {
        let network = self.clone();
        let rows = blocking(move || Ok(network.0.shared.catalog.placements()?)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, bytes)| Placement::decode(&bytes).ok().map(|p| (id, p)))
            .collect())
    }

    async fn republish_if_due(&self) -> Result<()> {
        let every = Duration::from_secs(self.0.shared.config.network.republish_secs.max(1));
        let due = self
            .0
            .repair
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| at.elapsed() >= every);
        if !due || !self.0.shared.config.network.publish {
            return Ok(());
        }
        let net = self.net()?;
        if net.network.peers().await.map_err(net_error)?.is_empty() {
            return Ok(());
        }
        self.publish_nickname().await?;
        for (id, placement) in self.placements().await? {
            self.publish(&id, &placement).await?;
        }
        *self
            .0
            .repair
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }

    async fn audit_round(&self) -> Result<RepairStatus> {
        let grace = Duration::from_secs(self.0.shared.config.network.offline_grace_secs);
        let mut status = RepairStatus::default();
        for (id, placement) in self.placements().await? {
            status.blobs += 1;
            let outcomes = match self.challenge(&id, &placement).await {
                Some(outcomes) => {
                    status.challenged += outcomes.len();
                    outcomes
                }
                None => {
                    let mut outcomes = Vec::with_capacity(placement.coding.n());
                    for position in 0..placement.coding.n() {
                        outcomes.push(self.audit(&id, &placement, position).await);
                    }
                    outcomes
                }
            };
            for (position, outcome) in outcomes.into_iter().enumerate() {
                status.positions += 1;
                let peer = placement.suppliers[position].clone();
                self.0.shared.metrics.audited(match outcome {
                    Audit::Healthy => "healthy",
                    Audit::Damaged => "damaged",
                    Audit::Offline => "offline",
                });
                match outcome {
                    Audit::Healthy => {
                        status.healthy += 1;
                        self.offline_clock(&peer, false);
                    }
                    Audit::Damaged => {
                        status.damaged += 1;
                        tracing::warn!(blob = %id, position, %peer, "shard lost or corrupt; rebuilding it");
                        let target = parse_peer(&peer).ok();
                        // In place first; a supplier that refuses (full,
                        // or it rejected us) gives the position away.
                        if self.repair(&id, position, target, true).await.is_ok()
                            || self.repair(&id, position, None, true).await.is_ok()
                        {
                            status.repairs += 1;
                        }
                    }
                    Audit::Offline => {
                        status.offline += 1;
                        let since = self.offline_clock(&peer, true);
                        if since.elapsed() >= grace {
                            tracing::warn!(blob = %id, position, %peer, "supplier offline too long; replacing it");
                            if self.repair(&id, position, None, true).await.is_ok() {
                                status.repairs += 1;
                            }
                        }
                    }
                }
            }
        }
        status.checked_at = cairn_store::catalog::now_ms();
        Ok(status)
    }

    /// Starts (`offline`) or clears a supplier's offline clock; answers
    /// when it started.
    fn offline_clock(&self, peer: &str, offline: bool) -> Instant {
        let mut clocks = self
            .0
            .repair
            .offline_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if offline {
            *clocks.entry(peer.to_owned()).or_insert_with(Instant::now)
        } else {
            clocks.remove(peer);
            Instant::now()
        }
    }

    /// Makes `CHALLENGES` audit challenges of placed blob `id` from its
    /// local copy (an error if there is none) and records them.
    pub(crate) async fn make_challenges(&self, id: &BlobId, placement: &Placement) -> Result<()> {
        let reader = self.0.store.local_reader(id)?;
        let size = self.0.store.manifest(id)?.size;
        let segments = cairn_core::layout::segment_count(size);
        if segments == 0 {
            return Ok(());
        }
        let placement = placement.clone();
        let id_copy = *id;
        let challenges = tokio::task::spawn_blocking(move || -> Result<Vec<Challenge>> {
            let mut rng = rand::thread_rng();
            let mut out = Vec::with_capacity(CHALLENGES);
            for _ in 0..CHALLENGES {
                let segment = rng.gen_range(0..segments);
                let span = segment_span(size, segment);
                let bytes = reader.read_vec_at((span.end - span.start) as usize, span.start)?;
                let shards = placement
                    .coding
                    .encode(&bytes)
                    .map_err(|e| NodeError::Internal(e.to_string()))?;
                let nonce: [u8; 32] = rng.r#gen();
                let mut expected = Vec::with_capacity(shards.len() * ANSWER);
                for (position, shard) in shards.iter().enumerate() {
                    // The local copy must give the placed shards.
                    if placement.hash(segment, position) != Some(blake3::hash(shard).as_bytes()) {
                        return Err(NodeError::Corrupt(format!(
                            "{id_copy}: segment {segment} does not code to its placed shards"
                        )));
                    }
                    expected
                        .extend_from_slice(&blake3::keyed_hash(&nonce, shard).as_bytes()[..ANSWER]);
                }
                out.push(Challenge {
                    segment,
                    nonce,
                    expected,
                });
            }
            Ok(out)
        })
        .await??;
        let network = self.clone();
        let id = *id;
        blocking(move || Ok(network.0.shared.catalog.add_challenges(&id, &challenges)?)).await
    }

    /// Audits every position of blob `id` with its next challenge (made
    /// from the local copy when none is left); `None` when there is no
    /// challenge to use.
    async fn challenge(&self, id: &BlobId, placement: &Placement) -> Option<Vec<Audit>> {
        let net = self.net().ok()?;
        let take = |network: Network, id: BlobId| async move {
            blocking(move || Ok(network.0.shared.catalog.take_challenge(&id)?))
                .await
                .ok()
                .flatten()
        };
        let challenge = match take(self.clone(), *id).await {
            Some(c) => c,
            None => {
                self.make_challenges(id, placement).await.ok()?;
                take(self.clone(), *id).await?
            }
        };
        let n = placement.coding.n();
        let size = self.0.store.manifest(id).ok()?.size;
        if challenge.expected.len() != n * ANSWER
            || challenge.segment >= cairn_core::layout::segment_count(size)
        {
            return None;
        }
        let span = segment_span(size, challenge.segment);
        let len = placement.coding.shard_len((span.end - span.start) as usize);
        let asks = (0..n).map(|position| {
            let peer = parse_peer(&placement.suppliers[position]);
            let request = Request::Audit {
                key: ShardKey {
                    owner: placement.owner,
                    blob: id.0,
                    position: position as u8,
                },
                nonce: challenge.nonce,
                offset: challenge.segment * u64::from(placement.stride),
                len: len as u32,
            };
            let want = &challenge.expected[position * ANSWER..(position + 1) * ANSWER];
            async move {
                let Ok(peer) = peer else {
                    return Audit::Damaged;
                };
                match net.network.request(peer, request).await {
                    Err(_) => Audit::Offline,
                    Ok(Response::Proof(proof)) if &proof[..ANSWER] == want => Audit::Healthy,
                    Ok(Response::Refused(Refusal::Failed, _)) => Audit::Offline,
                    Ok(_) => Audit::Damaged,
                }
            }
        });
        Some(futures_util::future::join_all(asks).await)
    }

    /// Reads one shard piece of a random segment from `position`'s
    /// supplier and checks it.
    async fn audit(&self, id: &BlobId, placement: &Placement, position: usize) -> Audit {
        let Ok(peer) = parse_peer(&placement.suppliers[position]) else {
            return Audit::Damaged;
        };
        let Ok(net) = self.net() else {
            return Audit::Offline;
        };
        let Ok(manifest) = self.0.store.manifest(id) else {
            return Audit::Offline;
        };
        let segments = manifest.segments.len() as u64;
        if segments == 0 {
            return Audit::Healthy;
        }
        let segment = rand::thread_rng().gen_range(0..segments);
        let span = segment_span(manifest.size, segment);
        let len = placement.coding.shard_len((span.end - span.start) as usize);
        let request = Request::Read {
            key: ShardKey {
                owner: placement.owner,
                blob: id.0,
                position: position as u8,
            },
            offset: segment * u64::from(placement.stride),
            len: len as u32,
        };
        match net.network.request(peer, request).await {
            Err(_) => Audit::Offline,
            Ok(Response::Data(bytes)) => {
                let good = bytes.len() == len
                    && placement
                        .hash(segment, position)
                        .is_some_and(|h| blake3::hash(&bytes).as_bytes() == h);
                if good { Audit::Healthy } else { Audit::Damaged }
            }
            Ok(Response::Refused(Refusal::Failed, _)) => Audit::Offline,
            Ok(_) => Audit::Damaged,
        }
    }

    /// Rebuilds shard `position` of blob `id` onto `target` (or a newly
    /// hired supplier) as a job ("repair"); with `wait`, answers when it
    /// ended.
    pub async fn repair(
        &self,
        id: &BlobId,
        position: usize,
        target: Option<PeerId>,
        wait: bool,
    ) -> Result<JobRecord> {
        let size = self.0.store.manifest(id)?.size;
        let job = self.0.shared.jobs.start(
            "repair",
            format!("{}:{position}", id.to_hex()),
            Some(size),
            true,
        );
        let job_id = job.id().to_owned();
        let network = self.clone();
        let id = *id;
        let run = async move {
            let outcome = network.run_repair(id, position, target, &job).await;
            job.finish(outcome.as_ref().map(|p| serde_json::json!(p)));
        };
        if wait {
            run.await;
        } else {
            self.0.shared.spawn("repair", async move {
                run.await;
                Ok(())
            });
        }
        let record = self.0.shared.jobs.get(&job_id)?;
        if record.state == "failed" {
            return Err(NodeError::Network(record.error.clone().unwrap_or_default()));
        }
        Ok(record)
    }

    async fn run_repair(
        &self,
        id: BlobId,
        position: usize,
        target: Option<PeerId>,
        job: &crate::jobs::Job,
    ) -> Result<serde_json::Value> {
        let mut placement = self.placement_of(id).await?;
        if position >= placement.coding.n() {
            return Err(NodeError::Invalid(format!("no position {position}")));
        }
        let size = self.0.store.manifest(&id)?.size;
        let shard_file = shard_file_len(placement.coding, size);
        let old = placement.suppliers[position].clone();
        let target = match target {
            Some(peer) => peer,
            None => self.spare_supplier(&placement, shard_file).await?,
        };
        let key = ShardKey {
            owner: placement.owner,
            blob: id.0,
            position: position as u8,
        };
        let net = self.net()?;
        if target.to_string() == old {
            // Same supplier: start its shard over.
            let _ = net.network.request(target, Request::Delete { key }).await;
        }
        self.rebuild_shard(id, &placement, key, target, job).await?;
        let seal = Request::Seal {
            key,
            len: shard_file,
            stride: placement.stride,
            hash: placement.seal_hash(position),
        };
        expect_ok(net.network.request(target, seal).await, &target)?;
        placement.suppliers[position] = target.to_string();
        self.record_repair(id, &placement, position, &old, target)
            .await?;
        Ok(serde_json::json!({
            "blob": id.to_hex(),
            "position": position,
            "from": old,
            "to": target.to_string(),
        }))
    }

    /// Blob `id`'s placement, as recorded.
    async fn placement_of(&self, id: BlobId) -> Result<Placement> {
        let network = self.clone();
        let bytes = blocking(move || {
            network
                .0
                .shared
                .catalog
                .placement(&id)?
                .ok_or_else(|| NodeError::Invalid(format!("{id} is not placed")))
        })
        .await?;
        Placement::decode(&bytes).map_err(|e| NodeError::Corrupt(e.to_string()))
    }

    /// Writes shard `key.position` of every segment to `target`: each
    /// segment read from the local copy or rebuilt from the other shards,
    /// coded, and checked against the hash the placement recorded.
    async fn rebuild_shard(
        &self,
        id: BlobId,
        placement: &Placement,
        key: ShardKey,
        target: PeerId,
        job: &crate::jobs::Job,
    ) -> Result<()> {
        let net = self.net()?;
        let manifest = self.0.store.manifest(&id)?;
        let (size, segments) = (manifest.size, manifest.segments.len() as u64);
        let position = usize::from(key.position);
        let local = self.0.store.local_reader(&id).ok();
        let reader = self.shard_reader(&id, placement.clone(), size)?;
        for s in 0..segments {
            job.check()?;
            let span = segment_span(size, s);
            let segment = match &local {
                Some(r) => {
                    let r = r.clone();
                    tokio::task::spawn_blocking(move || {
                        r.read_vec_at((span.end - span.start) as usize, span.start)
                    })
                    .await??
                }
                None => reader.segment_without(id.0, s, Some(position)).await?,
            };
            let shard = code_shard(placement.coding, segment, position).await?;
            if placement.hash(s, position) != Some(blake3::hash(&shard).as_bytes()) {
                return Err(NodeError::Corrupt(format!(
                    "segment {s} rebuilt does not give shard {position}'s recorded hash"
                )));
            }
            let write = Request::Write {
                key,
                offset: s * u64::from(placement.stride),
                stride: placement.stride,
                data: shard,
            };
            expect_ok(net.network.request(target, write).await, &target)?;
            job.advance(span.end - span.start);
        }
        Ok(())
    }

    /// Records a repaired placement: the position's new supplier, and the
    /// node-wide supplier list when it named the replaced one; publishes
    /// the placement and stops the replaced supplier's offline clock.
    async fn record_repair(
        &self,
        id: BlobId,
        placement: &Placement,
        position: usize,
        old: &str,
        target: PeerId,
    ) -> Result<()> {
        let encoded = placement.encode();
        let network = self.clone();
        let (new, old_peer) = (target.to_string(), old.to_owned());
        blocking(move || {
            network.0.shared.catalog.save_placement(&id, &encoded)?;
            let suppliers = network.0.shared.catalog.suppliers()?;
            if suppliers
                .iter()
                .any(|(p, peer)| usize::from(*p) == position && *peer == old_peer)
                && new != old_peer
            {
                network
                    .0
                    .shared
                    .catalog
                    .set_supplier(position as u8, &new)?;
            }
            Ok(())
        })
        .await?;
        if self.0.shared.config.network.publish {
            self.publish(&id, placement).await?;
        }
        self.offline_clock(old, false);
        Ok(())
    }

    /// Changes the supplier at `position` to `peer` (or a connected spare):
    /// every placed blob's shard at that position is rebuilt there, one
    /// repair job each. Answers the jobs.
    pub async fn change_supplier(
        &self,
        position: u8,
        peer: Option<&str>,
    ) -> Result<Vec<JobRecord>> {
        let placements = self.placements().await?;
        let target = match peer {
            Some(p) => parse_peer(p)?,
            None => {
                let widest = placements
                    .iter()
                    .filter(|(_, p)| usize::from(position) < p.coding.n())
                    .max_by_key(|(_, p)| p.hashes.len());
                match widest {
                    Some((id, p)) => {
                        let size = shard_file_len(p.coding, self.0.store.manifest(id)?.size);
                        self.spare_supplier(p, size).await?
                    }
                    None => {
                        let current: Vec<String> = {
                            let network = self.clone();
                            blocking(move || Ok(network.0.shared.catalog.suppliers()?))
                                .await?
                                .into_iter()
                                .map(|(_, p)| p)
                                .collect()
                        };
                        let net = self.net()?;
                        net.network
                            .peers()
                            .await
                            .map_err(net_error)?
                            .into_iter()
                            .map(|p| p.peer_id)
                            .find(|p| !current.contains(&p.to_string()))
                            .ok_or_else(|| NodeError::Network("no connected peer is free".into()))?
                    }
                }
            }
        };
        let mut jobs = Vec::new();
        for (id, placement) in placements {
            let pos = usize::from(position);
            if pos < placement.coding.n() && placement.suppliers[pos] != target.to_string() {
                jobs.push(self.repair(&id, pos, Some(target), true).await?);
            }
        }
        let network = self.clone();
        let t = target.to_string();
        blocking(move || Ok(network.0.shared.catalog.set_supplier(position, &t)?)).await?;
        Ok(jobs)
    }

    /// A connected peer that supplies nothing of this placement yet and
    /// has room for one shard file.
    async fn spare_supplier(&self, placement: &Placement, shard_file: u64) -> Result<PeerId> {
        let net = self.net()?;
        for peer in net.network.peers().await.map_err(net_error)? {
            let id = peer.peer_id;
            if placement.suppliers.contains(&id.to_string()) {
                continue;
            }
            if has_room(net, id, shard_file).await {
                return Ok(id);
            }
        }
        Err(NodeError::Network(
            "no connected peer is free to take the shard".into(),
        ))
    }
}

/// Shard `position` of one segment, coded on a blocking thread.
async fn code_shard(
    coding: cairn_core::erasure::Coding,
    segment: Vec<u8>,
    position: usize,
) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        coding
            .encode(&segment)
            .map_err(|e| NodeError::Internal(e.to_string()))
            .map(|mut all| all.swap_remove(position))
    })
    .await?
}
