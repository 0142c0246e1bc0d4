//! The node on the network: serving customers' shards (supplier side),
//! hiring suppliers and placing this node's blobs on them (owner side),
//! and reading any blob from its shards.
//!
//! Placement: shard i of every segment goes to supplier i. A blob is placed
//! as a job: each segment's ciphertext is read from the local blob file,
//! coded into k + m shards, and shard i is written to supplier i at offset
//! `segment * stride`; then every supplier seals its shard file (it checks
//! length and hash and makes it durable). Only then is the placement
//! recorded and published, so a recorded placement names only sealed shards.
//!
//! Reads from the network: a [`NetReader`] stands in for a local blob file.
//! For a segment, or a run of consecutive ones a stream reads together, it
//! asks k suppliers in parallel for their pieces, falls back to the other
//! suppliers for any that fail, and decodes. Each segment then goes through
//! the same decrypt-and-verify as a local read, so nothing unverified is
//! served; one that fails is fetched again with every shard checked
//! against the placement's hash.

mod batches;
pub(crate) mod early;
mod net;
pub(crate) mod repair;
pub(crate) mod traffic;

pub(crate) use batches::{
    Failed, code_batch, expect_ok, net_error, run_batches, shard_file_len, write_batch,
};
pub(crate) use net::Net;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::erasure::Coding;
use cairn_core::layout::{SEGMENT_SIZE, segment_span};
use cairn_core::placement::{BlobRecord, Placement};
use cairn_core::{BlobId, Manifest};
use cairn_net::protocol::{MAX_CHUNK, Refusal, Request, Response, ShardKey, owner_of};
use cairn_net::records;
use cairn_net::{Inbound, Keypair, Multiaddr, NetConfig, Network as Swarm, PeerId};
use cairn_store::StoreError;
use cairn_store::admission::Policy;
use cairn_store::files::BlobReader;
use cairn_store::shards::{CustomerStanding, Held, ShardId, ShardStore};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::blobs::read::{Gather, Waiting};
use crate::blobs::store::BlobStore;
use crate::config::NetworkConfig;
use crate::services::{Maker, Services};
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{JobRecord, NodeError};
use early::EarlyPlace;

type Result<T> = std::result::Result<T, NodeError>;

/// Suppliers one placement may pass over (refused or failed writes)
/// before it gives up.
const MAX_PASSED_OVER: usize = 3;

/// The network service (`node.network()`). Cheap to clone. With the
/// network off (`[network] enabled = false`) it exists all the same and
/// answers its calls with "the network is off".
#[derive(Clone)]
pub struct Network(Arc<State>);

pub(crate) struct State {
    pub(crate) shared: Arc<Shared>,
    /// The blobs it places, audits and repairs from.
    pub(crate) store: Arc<BlobStore>,
    /// The swarm's handle and the shards kept for customers.
    pub(crate) net: Option<Net>,
    pub(crate) repair: repair::RepairState,
    /// Blobs an automatic placement is working on ([`Network::claim_placing`]).
    pub(crate) placing: std::sync::Mutex<std::collections::HashSet<BlobId>>,
    /// The nickname it goes by, and the file that keeps one set at run
    /// time ([`Network::set_nickname`]).
    nickname: std::sync::Mutex<Option<String>>,
    nickname_file: std::path::PathBuf,
}

/// A blob an automatic placement works on: claimed by
/// [`Network::claim_placing`], free again when this drops.
pub(crate) struct Placing {
    network: Network,
    id: BlobId,
}

impl Drop for Placing {
    fn drop(&mut self) {
        self.network
            .0
            .placing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Blobs left unplaced that one round places at most.
const PENDING_PER_ROUND: usize = 8;

/// Bytes `peer` holds for this node (0 if the catalog cannot say).
fn held_by(catalog: &cairn_store::Catalog, peer: &PeerId) -> u64 {
    catalog.held_by(&peer.to_string()).unwrap_or_else(|e| {
        tracing::warn!(%peer, error = %e, "cannot read what a supplier holds for us");
        0
    })
}

/// Whether `peer` would take `bytes` of ours now: it answers the space it
/// would still accept from us, 0 when it does not admit us (a private
/// node, or no more strangers), so it is passed over even for a blob of
/// unknown size.
pub(crate) async fn has_room(net: &Net, peer: PeerId, bytes: u64) -> bool {
    matches!(
        net.network.request(peer, Request::Space).await,
        Ok(Response::Space(free)) if free >= bytes.max(1)
    )
}

/// The DHT key of a blob's record.
fn record_key(id: &BlobId) -> Vec<u8> {
    format!("/cairn/blob/{}", id.to_hex()).into_bytes()
}

/// A blob known from its record: enough to read it from its suppliers.
pub(crate) struct RemoteBlob {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) placement: Placement,
    pub(crate) read_key: Option<[u8; 32]>,
}

/// What the swarm needs started once the node exists.
pub(crate) struct NetStart {
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    pub(crate) driver: cairn_net::Driver,
}

/// Network status, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkStatus {
    /// Our peer id.
    pub peer_id: String,
    /// Where we listen.
    pub listen: Vec<String>,
    /// AutoNAT's view.
    pub nat: String,
    /// Peers connected now.
    pub peers: usize,
    /// Our suppliers by position.
    pub suppliers: Vec<SupplierInfo>,
    /// Space donated to customers and used by them.
    pub space: cairn_store::shards::ShardSpace,
    /// What went by lane since the node started.
    pub lanes: cairn_net::LaneStats,
    /// The addresses connected peers say they see this node at
    /// (identify's observed address), by peer.
    pub observed: Vec<cairn_net::ObservedAddr>,
}

/// One of our suppliers.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupplierInfo {
    /// Its position: it holds shard `position` of every segment.
    pub position: u8,
    /// Its peer id.
    pub peer: String,
    /// Whether it is connected now.
    pub connected: bool,
}

pub(crate) fn open(
    seed: [u8; 32],
    config: &NetworkConfig,
    data_dir: &std::path::Path,
) -> Result<Option<(Net, NetStart)>> {
    if !config.enabled {
        return Ok(None);
    }
    let bad = |what: &str, e: String| NodeError::Config {
        path: data_dir.join("config.toml"),
        message: format!("[network] {what}: {e}"),
    };
    let parse = |list: &[String], what: &str| -> Result<Vec<Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| bad(what, format!("'{a}': {e}")))
            })
            .collect()
    };
    let net_config = NetConfig {
        listen: parse(&config.listen, "listen")?,
        bootstrap: parse(&config.bootstrap, "bootstrap")?,
        mdns: config.mdns,
        request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
        lanes: config.lanes.then_some(config.lane_port),
    };
    let keypair = Keypair::ed25519_from_bytes(seed).map_err(|e| bad("identity", e.to_string()))?;
    let signer = keypair.clone();
    let (network, inbound, driver) = match Swarm::new(keypair.clone(), &net_config) {
        Ok(started) => started,
        // The default port is a convenience: a second node on the machine
        // (or another program on 4002) takes any free port instead.
        Err(cairn_net::NetError::Listen(addr, e))
            if config.listen == NetworkConfig::default().listen =>
        {
            tracing::warn!(%addr, error = %e, "default p2p port taken; listening on a free port");
            let fallback = NetConfig {
                listen: vec![
                    "/ip4/0.0.0.0/tcp/0"
                        .parse()
                        .map_err(|e| bad("listen", format!("{e}")))?,
                ],
                ..net_config
            };
            Swarm::new(keypair, &fallback).map_err(|e| bad("start", e.to_string()))?
        }
        Err(e) => return Err(bad("start", e.to_string())),
    };
    let friends = parse_friends(config, &bad)?;
    let shards = ShardStore::open(&data_dir.join("shards"), config.donated)?
        .with_policy(admission(config, &friends), &data_dir.join(ADMISSIONS))?;
    let shards = Arc::new(shards);
    let owner = owner_of(&network.peer_id());
    Ok(Some((
        Net {
            network,
            keypair: signer,
            shards,
            owner,
            friends,
            customers_seen: Default::default(),
        },
        NetStart { inbound, driver },
    )))
}

/// The file, in the data dir, of the strangers admitted in the last hour.
const ADMISSIONS: &str = "admissions";

/// The network's services, in the order their makers are made.
const SERVICES: [(&str, &str); 3] = [
    (
        "shards",
        "serves customers' shards: this node as a supplier",
    ),
    (
        "bootstrap",
        "dials the bootstrap peers again while they are away",
    ),
    (
        "repair",
        "audits suppliers, rebuilds lost shards, places unplaced blobs, republishes records",
    ),
];

/// `[network] friends`, as peer ids.
fn parse_friends(
    config: &NetworkConfig,
    bad: &dyn Fn(&str, String) -> NodeError,
) -> Result<Vec<PeerId>> {
    config
        .friends
        .iter()
        .map(|f| {
            f.trim()
                .parse::<PeerId>()
                .map_err(|e| bad("friends", format!("'{f}' is not a peer id: {e}")))
        })
        .collect()
}

/// The admission policy `[network]` asks for.
fn admission(config: &NetworkConfig, friends: &[PeerId]) -> Policy {
    Policy {
        friends: friends.iter().map(owner_of).collect(),
        strangers: config.strangers,
        strangers_max: config.strangers_max,
        strangers_per_hour: config.strangers_per_hour,
        stranger_quota: config.stranger_quota,
        customer_quota: config.customer_quota,
    }
}

/// Answers one customer's request from the shard store (blocking). `held`
/// says what the customer holds for us as our supplier (asked only when
/// the admission policy needs it).
fn answer(shards: &ShardStore, peer: &PeerId, held: Held<'_>, request: Request) -> Response {
    let customer = owner_of(peer);
    let id = |key: &ShardKey| ShardId {
        owner: key.owner,
        blob: key.blob,
        position: key.position,
    };
    let own = |key: &ShardKey| key.owner == customer;
    let outcome = match request {
        Request::Ping => return Response::Ok,
        Request::Space => return Response::Space(shards.room_for(&customer, held)),
        Request::Write { key, .. }
        | Request::Seal { key, .. }
        | Request::SealAs { key, .. }
        | Request::Delete { key }
            if !own(&key) =>
        {
            return Response::Refused(Refusal::Invalid, "only its owner may change a shard".into());
        }
        Request::Write {
            key,
            offset,
            stride,
            data,
        } => shards
            .write_holding(&id(&key), held, offset, stride, &data)
            .map(|()| Response::Ok),
        Request::Seal {
            key,
            len,
            stride,
            hash,
        } => shards
            .seal(&id(&key), len, stride, &hash)
            .map(|()| Response::Ok),
        Request::SealAs {
            key,
            len,
            stride,
            hash,
            blob,
        } => shards
            .seal_as(&id(&key), &blob, len, stride, &hash)
            .map(|()| Response::Ok),
        Request::Delete { key } => shards.delete(&id(&key)).map(|()| Response::Ok),
        Request::Read { key, offset, len } => shards
            .read(&id(&key), offset, len as usize)
            .map(Response::Data),
        Request::Audit {
            key,
            nonce,
            offset,
            len,
        } => shards
            .audit(&id(&key), &nonce, offset, len as usize)
            .map(Response::Proof),
    };
    outcome.unwrap_or_else(|e| {
        // A customer the policy does not admit is told so as over quota:
        // the refusal every version of the protocol knows.
        let why = match &e {
            StoreError::OverLimit { .. } | StoreError::NotAdmitted(_) => Refusal::OverQuota,
            StoreError::NotFound { .. } => Refusal::NotFound,
            StoreError::Invalid(_) | StoreError::Conflict(_) => Refusal::Invalid,
            _ => Refusal::Failed,
        };
        Response::Refused(why, e.to_string())
    })
}

impl Network {
    /// The service over `store`; `net` is `None` with the network off.
    /// Its nickname is the one set at run time (`<data dir>/nickname`),
    /// else `[network] nickname`.
    pub(crate) fn new(
        shared: Arc<Shared>,
        store: Arc<BlobStore>,
        net: Option<Net>,
        data_dir: &std::path::Path,
    ) -> Self {
        let nickname_file = data_dir.join("nickname");
        let nickname = std::fs::read_to_string(&nickname_file)
            .ok()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| shared.config.network.nickname.clone());
        Self(Arc::new(State {
            shared,
            store,
            net,
            repair: repair::RepairState::default(),
            placing: Default::default(),
            nickname: std::sync::Mutex::new(nickname),
            nickname_file,
        }))
    }

    /// Starts the swarm (with `start`; none with the network off) and
    /// registers the network's loops as services: serving shards, staying
    /// connected to the bootstrap peers, audits and repair.
    pub(crate) fn start(&self, start: Option<NetStart>, services: &Services) {
        services.required(
            "swarm",
            "the libp2p swarm: connections, the DHT, gossip",
            start.is_some(),
        );
        let Some(start) = start else {
            for (name, about) in SERVICES {
                services.add(name, about, &["swarm"], None);
            }
            return;
        };
        let (driver, stop) = (start.driver, self.0.shared.shutdown.clone());
        self.0.shared.spawn("swarm", async move {
            tokio::select! {
                () = driver.run() => {}
                () = stop.cancelled() => {}
            }
            Ok(())
        });
        let inbound = Arc::new(tokio::sync::Mutex::new(start.inbound));
        let net = self.clone();
        let shards: Maker =
            Arc::new(move |stop| Box::pin(net.clone().serve_shards(inbound.clone(), stop)));
        let net = self.clone();
        let bootstrap: Maker = Arc::new(move |stop| {
            let addrs = net.0.shared.config.network.bootstrap.clone();
            Box::pin(net.clone().keep_connected(addrs, stop))
        });
        let net = self.clone();
        let repair: Maker = Arc::new(move |stop| Box::pin(net.clone().repair_loop(stop)));
        for ((name, about), maker) in SERVICES.into_iter().zip([shards, bootstrap, repair]) {
            services.add(name, about, &["swarm"], Some(maker));
        }
    }

    /// Stops the network's own tasks (lanes, answers in flight), once the
    /// swarm's task has ended; waits for them (bounded).
    pub(crate) async fn stop(&self) {
        if let Some(net) = &self.0.net {
            net.network.stop().await;
            if tokio::time::timeout(Duration::from_secs(5), net.network.stopped())
                .await
                .is_err()
            {
                tracing::warn!("network tasks did not stop within 5 s");
            }
        }
    }

    /// Whether the network's own tasks have all ended (or it is off).
    pub(crate) async fn has_stopped(&self) -> bool {
        match &self.0.net {
            // Polled once: already ended, or not.
            Some(net) => tokio::time::timeout(Duration::ZERO, net.network.stopped())
                .await
                .is_ok(),
            None => true,
        }
    }

    /// Whether the network is on.
    pub fn is_on(&self) -> bool {
        self.0.net.is_some()
    }

    /// Publishes blob `id`'s record again in the background, if it is
    /// placed (its aliases or its entries' `public` flag changed).
    pub(crate) fn republish_later(&self, id: BlobId) {
        if self.is_on() {
            let network = self.clone();
            self.0
                .shared
                .spawn("republish", async move { network.republish(id).await });
        }
    }

    /// Asks the suppliers of gone blobs to free their shards, in the
    /// background ([`Network::unplace`]).
    pub(crate) fn unplace_later(&self) {
        if self.is_on() {
            self.0.shared.spawn("unplace", self.clone().unplace());
        }
    }

    /// The swarm's handle.
    pub(crate) fn swarm(&self) -> Result<&Swarm> {
        Ok(&self.net()?.network)
    }

    pub(crate) fn net(&self) -> Result<&Net> {
        self.0.net.as_ref().ok_or_else(|| {
            NodeError::Invalid("the network is off ([network] enabled = false)".into())
        })
    }

    /// Serves customers' shard requests until `stop`.
    pub(crate) async fn serve_shards(
        self,
        inbound: Arc<tokio::sync::Mutex<mpsc::Receiver<Inbound>>>,
        stop: CancellationToken,
    ) -> Result<()> {
        let shards = self.net()?.shards.clone();
        let mut inbound = inbound.lock().await;
        loop {
            let request = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                r = inbound.recv() => match r { Some(r) => r, None => return Ok(()) },
            };
            {
                let mut seen = self
                    .net()?
                    .customers_seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if seen.len() < net::SEEN_CUSTOMERS {
                    seen.insert(owner_of(&request.peer), request.peer);
                }
            }
            let shards = shards.clone();
            let catalog = self.0.shared.catalog.clone();
            tokio::task::spawn_blocking(move || {
                let peer = request.peer;
                let held = || held_by(&catalog, &peer);
                let response = answer(&shards, &peer, &held, request.request);
                let _ = request.reply.send(response);
            });
        }
    }

    /// Dials the bootstrap peers again now and then, so a node that
    /// started before them (or lost them) finds its way back.
    pub(crate) async fn keep_connected(
        self,
        bootstrap: Vec<String>,
        stop: CancellationToken,
    ) -> Result<()> {
        let addrs: Vec<Multiaddr> = bootstrap.iter().filter_map(|a| a.parse().ok()).collect();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut rounds = 0u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            let net = self.net()?;
            rounds += 1;
            if rounds.is_multiple_of(60) {
                // Every five minutes, as Kademlia's own timer would.
                net.network.refresh().await;
            }
            let connected: Vec<String> = net
                .network
                .peers()
                .await
                .map_err(net_error)?
                .iter()
                .map(|p| p.peer_id.to_string())
                .collect();
            for addr in &addrs {
                let peer = addr.iter().find_map(|p| match p {
                    cairn_net::Protocol::P2p(peer) => Some(peer.to_string()),
                    _ => None,
                });
                // An address without its peer id cannot tell whether we
                // are connected to it: dial it only while alone.
                let wanted = match peer {
                    Some(p) => !connected.contains(&p),
                    None => connected.is_empty(),
                };
                if wanted {
                    let _ = net.network.dial(addr.clone()).await;
                }
            }
        }
    }

    /// The network's status.
    pub async fn status(&self) -> Result<NetworkStatus> {
        let net = self.net()?;
        let peers = net.network.peers().await.map_err(net_error)?;
        let connected: Vec<String> = peers.iter().map(|p| p.peer_id.to_string()).collect();
        let network = self.clone();
        let suppliers = blocking(move || Ok(network.0.shared.catalog.suppliers()?)).await?;
        Ok(NetworkStatus {
            peer_id: net.network.peer_id().to_string(),
            listen: net
                .network
                .listen_addrs()
                .await
                .map_err(net_error)?
                .iter()
                .map(|a| a.to_string())
                .collect(),
            nat: net.network.nat_status().await.map_err(net_error)?,
            peers: peers.len(),
            suppliers: suppliers
                .into_iter()
                .map(|(position, peer)| SupplierInfo {
                    position,
                    connected: connected.contains(&peer),
                    peer,
                })
                .collect(),
            space: net.shards.space(),
            lanes: net.network.lane_stats(),
            observed: net.network.observed_addrs(),
        })
    }

    /// The peers connected now.
    pub async fn peers(&self) -> Result<Vec<cairn_net::PeerInfo>> {
        self.net()?.network.peers().await.map_err(net_error)
    }

    /// The customers whose shards this node keeps, and every friend: each
    /// one's standing, bytes, allowance, and what it holds for us.
    pub async fn customers(&self) -> Result<Vec<CustomerStanding>> {
        let net = self.net()?;
        let network = self.clone();
        let held = blocking(move || Ok(network.0.shared.catalog.held_by_suppliers()?)).await?;
        let mut peers: HashMap<[u8; 32], PeerId> = net
            .customers_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        peers.extend(net.friends.iter().map(|p| (owner_of(p), *p)));
        let mut bytes = HashMap::new();
        for (peer, held) in held {
            if let Ok(peer) = peer.parse::<PeerId>() {
                peers.insert(owner_of(&peer), peer);
                bytes.insert(owner_of(&peer), held);
            }
        }
        let mut list = net.shards.standings(&bytes);
        for c in &mut list {
            let owner = hex::decode(&c.owner).ok().and_then(|o| o.try_into().ok());
            c.peer = owner
                .and_then(|o: [u8; 32]| peers.get(&o))
                .map(|p| p.to_string());
        }
        Ok(list)
    }

    /// The customer id (hex, as the customers list shows it) peer `peer`
    /// has on its suppliers.
    pub fn customer_id_of(peer: &str) -> Result<String> {
        Ok(hex::encode(cairn_net::protocol::owner_of(&parse_peer(
            peer,
        )?)))
    }

    /// Rejects customer `owner` (hex id, as the customers list shows it):
    /// its shards here are deleted and it may store nothing more. Answers
    /// the bytes freed.
    pub async fn reject_customer(&self, owner: &str) -> Result<u64> {
        let owner: [u8; 32] = hex::decode(owner)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                NodeError::Invalid(format!("'{owner}' is not a customer id (64 hex)"))
            })?;
        let shards = self.net()?.shards.clone();
        blocking(move || Ok(shards.reject(&owner)?)).await
    }

    /// Round trip to `peer`, in milliseconds.
    pub async fn ping(&self, peer: &str) -> Result<f64> {
        let peer = parse_peer(peer)?;
        let rtt = self.net()?.network.ping(peer).await.map_err(net_error)?;
        Ok(rtt.as_secs_f64() * 1000.0)
    }

    /// A DHT value.
    pub async fn dht_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.net()?
            .network
            .get_record(key.as_bytes().to_vec())
            .await
            .map_err(net_error)
    }

    /// Stores a DHT value.
    pub async fn dht_put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.net()?
            .network
            .put_record(key.as_bytes().to_vec(), value, None)
            .await
            .map_err(net_error)
    }

    /// The peers closest to `peer` in the DHT.
    pub async fn dht_find_node(&self, peer: &str) -> Result<Vec<String>> {
        let peer = parse_peer(peer)?;
        let found = self
            .net()?
            .network
            .closest_peers(peer.to_bytes())
            .await
            .map_err(net_error)?;
        Ok(found.iter().map(|p| p.to_string()).collect())
    }

    /// The coding a new placement uses now, or `None` to keep the blob
    /// local only.
    pub(crate) async fn coding_now(&self) -> Result<Option<Coding>> {
        let spec = self.0.shared.config.network.ecc.trim().to_owned();
        if spec != "auto" {
            let (k, m) = spec
                .split_once('+')
                .and_then(|(k, m)| Some((k.trim().parse().ok()?, m.trim().parse().ok()?)))
                .ok_or_else(|| {
                    NodeError::Invalid(format!("ecc '{spec}' is not \"auto\" or \"k+m\""))
                })?;
            return Ok(Some(
                Coding::new(k, m).map_err(|e| NodeError::Invalid(e.to_string()))?,
            ));
        }
        let peers = self.net()?.network.peers().await.map_err(net_error)?.len();
        let (k, m) = match peers {
            6.. => (4, 2),
            3..=5 => (2, 1),
            2 => (1, 1),
            _ => return Ok(None),
        };
        Ok(Some(
            Coding::new(k, m).map_err(|e| NodeError::Internal(e.to_string()))?,
        ))
    }

    /// Makes sure positions `0..n` have a connected supplier with room,
    /// hiring connected peers for empty or unreachable positions; peers in
    /// `avoid` are neither kept nor hired.
    pub(crate) async fn suppliers_for(
        &self,
        n: usize,
        shard_bytes: u64,
        avoid: &[PeerId],
    ) -> Result<Vec<PeerId>> {
        let net = self.net()?;
        let peers = net.network.peers().await.map_err(net_error)?;
        let connected: Vec<PeerId> = peers.iter().map(|p| p.peer_id).collect();
        let network = self.clone();
        let current = blocking(move || Ok(network.0.shared.catalog.suppliers()?)).await?;
        let mut chosen: Vec<Option<PeerId>> = vec![None; n];
        for (pos, peer) in current {
            if let (Some(slot), Ok(peer)) =
                (chosen.get_mut(usize::from(pos)), peer.parse::<PeerId>())
                && connected.contains(&peer)
                && !avoid.contains(&peer)
                // A supplier without room for this blob gives its position
                // to another peer.
                && has_room(net, peer, shard_bytes).await
            {
                *slot = Some(peer);
            }
        }
        let taken: Vec<PeerId> = chosen.iter().flatten().copied().collect();
        let mut candidates = connected
            .into_iter()
            .filter(|p| !taken.contains(p) && !avoid.contains(p));
        for (pos, slot) in chosen.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            loop {
                let Some(peer) = candidates.next() else {
                    return Err(NodeError::Invalid(format!(
                        "not enough peers with room to place {n} shards"
                    )));
                };
                if has_room(net, peer, shard_bytes).await {
                    *slot = Some(peer);
                    let network = self.clone();
                    let p = peer.to_string();
                    blocking(move || Ok(network.0.shared.catalog.set_supplier(pos as u8, &p)?))
                        .await?;
                    break;
                }
            }
        }
        Ok(chosen.into_iter().flatten().collect())
    }

    /// Removes the local copy of blob `id`, which must be placed: reads
    /// then come from its suppliers. Answers the bytes freed.
    pub async fn drop_local(&self, id: &str) -> Result<u64> {
        let id: BlobId = id
            .parse()
            .map_err(|_| NodeError::Invalid(format!("'{id}' is not a blob id")))?;
        let network = self.clone();
        blocking(move || {
            if network.0.shared.catalog.placement(&id)?.is_none() {
                return Err(NodeError::Invalid(format!(
                    "{id} is not placed on suppliers: its local copy is its only copy"
                )));
            }
            let size = network.0.store.manifest(&id)?.size;
            network.0.store.remove_local_file(&id)?;
            Ok(size)
        })
        .await
    }

    /// Asks the suppliers of gone blobs (deleted or replaced entries; the
    /// catalog queues them in the same transaction) to delete their shards.
    /// A blob leaves the queue once every supplier has answered; one that
    /// was unreachable is asked again after each repair round, so it frees
    /// the space when it comes back.
    pub(crate) async fn unplace(self) -> Result<()> {
        let net = self.net()?;
        let network = self.clone();
        let owed = blocking(move || Ok(network.0.shared.catalog.unplaced()?)).await?;
        for (id, bytes) in owed {
            let mut done = true;
            if let Ok(placement) = Placement::decode(&bytes) {
                let deletes = placement
                    .suppliers
                    .iter()
                    .enumerate()
                    .filter_map(|(i, peer)| {
                        let peer = parse_peer(peer).ok()?;
                        let key = ShardKey {
                            owner: placement.owner,
                            blob: id.0,
                            position: i as u8,
                        };
                        Some(async move {
                            let answer = net.network.request(peer, Request::Delete { key }).await;
                            (peer, answer)
                        })
                    });
                for (peer, answer) in join_all(deletes).await {
                    if let Err(e) = expect_ok(answer, &peer) {
                        tracing::debug!(blob = %id, %peer, error = %e, "a supplier still holds a deleted blob's shard");
                        done = false;
                    }
                }
            }
            let network = self.clone();
            blocking(move || Ok(network.0.shared.catalog.unplaced_attempt(&id, done)?)).await?;
        }
        Ok(())
    }

    /// Places a new blob when there are peers enough to code it, then
    /// computes its legacy aliases (after the placement, so they don't
    /// compete with it for the CPU, and before the local copy goes, so
    /// they are read from the disk and not the network).
    /// `early`, if any, has been placing it while it was stored: it is
    /// finished in the place job, or the blob placed anew if it failed.
    pub(crate) async fn auto_place(self, id: BlobId, early: Option<EarlyPlace>) -> Result<()> {
        let mut placed = false;
        if let Some(early) = early {
            let manifest = self.0.store.manifest(&id)?;
            let job = self
                .0
                .shared
                .jobs
                .start("place", id.to_hex(), Some(manifest.size), true);
            let outcome = match early
                .finish(id, manifest.size, manifest.segments.len(), &job)
                .await
            {
                Ok(placement) => self.record_placement(id, placement, true).await,
                Err(Failed::Other(NodeError::Cancelled)) => Err(NodeError::Cancelled),
                Err(Failed::Supplier(_, e) | Failed::Other(e)) => {
                    tracing::info!(blob = %id, error = %e, "placing from the local copy");
                    job.rewind();
                    self.run_place(id, &job).await
                }
            };
            placed = outcome.as_ref().is_ok_and(|r| r["placed"] == true);
            job.finish(outcome.as_ref().map(Clone::clone));
        } else if self.coding_now().await?.is_some() {
            let job = self.place(&id.to_hex(), true).await?;
            placed =
                job.state == "done" && job.result.as_ref().is_some_and(|r| r["placed"] == true);
        }
        if self.0.shared.config.legacy_digests
            && let Err(e) = self.digests_before_drop(id).await
        {
            tracing::warn!(blob = %id, error = %e, "cannot compute aliases");
        }
        if placed && !self.0.shared.config.network.keep_local {
            self.drop_local(&id.to_hex()).await?;
        }
        Ok(())
    }

    /// Computes blob `id`'s legacy aliases from its local copy, unless it
    /// has them or no entry names it (a pinned blob: a share's index, a
    /// catalog's backup, which nobody looks up by digest), and publishes
    /// its record again with them.
    async fn digests_before_drop(&self, id: BlobId) -> Result<()> {
        if self.0.store.has_digests(&id)? {
            return Ok(());
        }
        let shared = self.0.shared.clone();
        if blocking(move || Ok(shared.catalog.entries_of_blob(&id)?.is_empty())).await? {
            return Ok(());
        }
        let Some(handle) = self.0.store.scan_handle(&id)? else {
            // Its local copy went meanwhile (an admin's drop): the digest
            // worker reads it from the suppliers at the next start.
            return Ok(());
        };
        self.0.store.compute_digests(handle).await?;
        self.republish_later(id);
        Ok(())
    }

    /// Claims blob `id` for an automatic placement: `None` while another
    /// one has it.
    pub(crate) fn claim_placing(&self, id: BlobId) -> Option<Placing> {
        let mut placing = self.0.placing.lock().unwrap_or_else(|e| e.into_inner());
        placing.insert(id).then(|| Placing {
            network: self.clone(),
            id,
        })
    }

    /// Places now what waits to be placed and asks suppliers to delete
    /// what is no longer needed, instead of at the repair loop's next
    /// round (BitDust's `files_sync`).
    pub async fn sync_now(&self) -> Result<()> {
        if !self.is_on() {
            return Err(NodeError::Unavailable("the network is off".into()));
        }
        self.place_pending().await?;
        self.clone().unplace().await
    }

    /// Places blobs that have no placement yet (stored while the node had
    /// too few peers, or whose placement a failure or a kill cut short), a
    /// few each round, once there are peers enough.
    pub(crate) async fn place_pending(&self) -> Result<()> {
        if self.coding_now().await?.is_none() {
            return Ok(());
        }
        let network = self.clone();
        let pending = blocking(move || {
            Ok(network
                .0
                .shared
                .catalog
                .blobs_not_placed(PENDING_PER_ROUND)?)
        })
        .await?;
        for id in pending {
            let Some(claim) = self.claim_placing(id) else {
                continue;
            };
            // Nothing to place it from: reads will say it is missing.
            if self.0.store.local_reader(&id).is_err() {
                continue;
            }
            tracing::info!(blob = %id, "placing a blob left unplaced");
            self.clone().auto_place(id, None).await?;
            drop(claim);
        }
        Ok(())
    }

    /// Places blob `id` on the network as a job ("place"); with `wait`,
    /// answers when it has ended. A node without enough peers keeps its
    /// local copy only and the job says so.
    pub async fn place(&self, id: &str, wait: bool) -> Result<JobRecord> {
        let id: BlobId = id
            .parse()
            .map_err(|_| NodeError::Invalid(format!("'{id}' is not a blob id")))?;
        let size = self.0.store.manifest(&id)?.size;
        let job = self
            .0
            .shared
            .jobs
            .start("place", id.to_hex(), Some(size), true);
        let job_id = job.id().to_owned();
        let network = self.clone();
        let run = async move {
            let outcome = network.run_place(id, &job).await;
            job.finish(outcome.as_ref().map(|p| serde_json::json!(p)));
        };
        if wait {
            run.await;
        } else {
            self.0.shared.spawn("place", async move {
                run.await;
                Ok(())
            });
        }
        self.0.shared.jobs.get(&job_id)
    }

    async fn run_place(&self, id: BlobId, job: &crate::jobs::Job) -> Result<serde_json::Value> {
        let Some(coding) = self.coding_now().await? else {
            return Ok(
                serde_json::json!({ "placed": false, "reason": "too few peers: kept local only" }),
            );
        };
        let shard_file = shard_file_len(coding, self.0.store.manifest(&id)?.size);
        // A supplier that refuses or fails a write or a seal is passed over
        // and the blob placed again from the start on the others (its
        // partial shards are deleted where they were written).
        let mut avoid: Vec<PeerId> = Vec::new();
        let placement = loop {
            let suppliers = self.suppliers_for(coding.n(), shard_file, &avoid).await?;
            match self.place_on(id, coding, &suppliers, job).await {
                Ok(placement) => break placement,
                Err(Failed::Supplier(peer, e)) if avoid.len() < MAX_PASSED_OVER => {
                    tracing::warn!(blob = %id, %peer, error = %e, "placing elsewhere");
                    self.forget_shards(id, &suppliers).await;
                    avoid.push(peer);
                    job.rewind();
                }
                Err(Failed::Supplier(_, e) | Failed::Other(e)) => {
                    self.forget_shards(id, &suppliers).await;
                    return Err(e);
                }
            }
        };
        self.record_placement(id, placement, false).await
    }

    /// Records a placement whose shards are all sealed, makes its audit
    /// challenges and publishes it; answers the place job's result, which
    /// says whether it was `while_storing`.
    pub(crate) async fn record_placement(
        &self,
        id: BlobId,
        placement: Placement,
        while_storing: bool,
    ) -> Result<serde_json::Value> {
        let coding = placement.coding;
        let encoded = placement.encode();
        let network = self.clone();
        blocking(move || Ok(network.0.shared.catalog.save_placement(&id, &encoded)?)).await?;
        if let Err(e) = self.make_challenges(&id, &placement).await {
            tracing::warn!(blob = %id, error = %e, "no audit challenges made; audits will read pieces");
        }
        if self.0.shared.config.network.publish {
            self.publish(&id, &placement).await?;
        }
        Ok(serde_json::json!({
            "placed": true,
            "while_storing": while_storing,
            "coding": format!("{}+{}", coding.k, coding.m),
            "suppliers": placement.suppliers,
        }))
    }

    /// Asks `suppliers` to delete what they hold of blob `id` (an attempt
    /// to place it that did not finish), sparing the shards of a placement
    /// of it already recorded; best effort.
    pub(crate) async fn forget_shards(&self, id: BlobId, suppliers: &[PeerId]) {
        let Ok(net) = self.net() else { return };
        let network = self.clone();
        let recorded = blocking(move || Ok(network.0.shared.catalog.placement(&id)?))
            .await
            .ok()
            .flatten()
            .and_then(|b| Placement::decode(&b).ok());
        let deletes = suppliers
            .iter()
            .enumerate()
            .filter(|(i, peer)| {
                recorded
                    .as_ref()
                    .is_none_or(|p| p.suppliers.get(*i) != Some(&peer.to_string()))
            })
            .map(|(i, peer)| {
                let key = ShardKey {
                    owner: net.owner,
                    blob: id.0,
                    position: i as u8,
                };
                net.network.request(*peer, Request::Delete { key })
            });
        join_all(deletes).await;
    }

    /// Writes blob `id`'s shards to `suppliers` (position i to the i-th)
    /// and has them sealed; answers the placement, or which supplier
    /// failed.
    async fn place_on(
        &self,
        id: BlobId,
        coding: Coding,
        suppliers: &[PeerId],
        job: &crate::jobs::Job,
    ) -> std::result::Result<Placement, Failed> {
        let manifest = self.0.store.manifest(&id)?;
        let reader = self.0.store.local_reader(&id)?;
        let size = manifest.size;
        let segments = manifest.segments.len() as u64;
        let stride = coding.shard_len(SEGMENT_SIZE as usize);
        let shard_file = shard_file_len(coding, size);
        let net = self.net()?;
        let mut hashes = Vec::with_capacity(segments as usize * coding.n());
        // Segments go in batches whose shards for one supplier are
        // contiguous in its shard file and fill one Write (four segments
        // at 4+2), so each request carries as much as the protocol allows.
        // PLACE_WINDOW batches are in flight, so the suppliers' disks and
        // the links stay busy while the next ones are coded; the hashes
        // come back in segment order. Each shard is hashed once, on the
        // blocking thread that codes it.
        let per_batch = (MAX_CHUNK / stride).max(1) as u64;
        let place_batch = |b: u64| {
            let reader = reader.clone();
            async move {
                let first = b * per_batch;
                let last = (first + per_batch).min(segments);
                let lens: Vec<usize> = (first..last)
                    .map(|s| {
                        let span = segment_span(size, s);
                        (span.end - span.start) as usize
                    })
                    .collect();
                let (pieces, hashes) = tokio::task::spawn_blocking(move || {
                    // The data shards are read from the blob file straight
                    // into their pieces.
                    code_batch(coding, &lens, |i, from, dst| {
                        let at = segment_span(size, first + i as u64).start;
                        Ok(reader.read_exact_at(dst, at + from as u64)?)
                    })
                })
                .await
                .map_err(NodeError::from)??;
                let bytes = segment_span(size, last - 1).end - segment_span(size, first).start;
                write_batch(net, suppliers, id.0, first * stride as u64, stride, pieces).await?;
                Ok::<_, Failed>((bytes, hashes))
            }
        };
        let batches = futures_util::stream::iter(0..segments.div_ceil(per_batch)).map(place_batch);
        run_batches(
            batches,
            &CancellationToken::new(),
            |(bytes, batch_hashes)| {
                job.check()?;
                hashes.extend(batch_hashes);
                job.advance(bytes);
                Ok(())
            },
        )
        .await?;
        let placement = Placement {
            coding,
            stride: stride as u32,
            owner: net.owner,
            suppliers: suppliers.iter().map(|p| p.to_string()).collect(),
            hashes,
        };
        let seals = (0..coding.n()).map(|i| {
            net.network.request(
                suppliers[i],
                Request::Seal {
                    key: ShardKey {
                        owner: net.owner,
                        blob: id.0,
                        position: i as u8,
                    },
                    len: shard_file,
                    stride: stride as u32,
                    hash: placement.seal_hash(i),
                },
            )
        });
        for (i, answer) in join_all(seals).await.into_iter().enumerate() {
            expect_ok(answer, &suppliers[i]).map_err(|e| Failed::Supplier(suppliers[i], e))?;
        }
        Ok(placement)
    }

    /// Publishes blob `id`'s record (with its read key when an entry of it
    /// is public: metadata `public=true`), its md5/sha1/sha256 aliases, and
    /// this node as a provider.
    pub(crate) async fn publish(&self, id: &BlobId, placement: &Placement) -> Result<()> {
        let manifest = self.0.store.manifest(id)?;
        let network = self.clone();
        let blob = *id;
        let (public, aliases) = blocking(move || {
            let mut public = false;
            for entry in network.0.shared.catalog.entries_of_blob(&blob)? {
                let meta = network.0.shared.catalog.metadata(&entry.id)?;
                public |= meta.get("public").is_some_and(|v| v == "true");
            }
            Ok((public, network.0.shared.catalog.aliases(&blob)?))
        })
        .await?;
        let record = BlobRecord {
            manifest: manifest.encode(),
            placement: placement.clone(),
            read_key: public.then(|| self.0.store.read_key(id).0),
        };
        let net = self.net()?;
        net.network
            .put_record(record_key(id), record.encode(), None)
            .await
            .map_err(net_error)?;
        for (kind, hex) in aliases {
            let record =
                records::sign_alias(&net.keypair, &kind, &hex, &id.0).map_err(net_error)?;
            net.network
                .put_record(records::alias_key(&kind, &hex), record, None)
                .await
                .map_err(net_error)?;
        }
        net.network
            .provide(id.0.to_vec())
            .await
            .map_err(net_error)?;
        Ok(())
    }

    /// Publishes blob `id` again if it is placed (its entries' `public`
    /// flag or aliases changed).
    pub(crate) async fn republish(&self, id: BlobId) -> Result<()> {
        let network = self.clone();
        let placement = blocking(move || Ok(network.0.shared.catalog.placement(&id)?)).await?;
        if let Some(bytes) = placement {
            let placement =
                Placement::decode(&bytes).map_err(|e| NodeError::Corrupt(e.to_string()))?;
            self.publish(&id, &placement).await?;
        }
        Ok(())
    }

    /// The blob an md5, sha1 or sha256 names, as published in the DHT: only
    /// a record signed by its publisher for this digest counts.
    pub(crate) async fn remote_alias(&self, digest: &str) -> Result<Option<BlobId>> {
        let Ok(d) = digest.parse::<cairn_core::id::DigestRef>() else {
            return Ok(None);
        };
        let net = self.net()?;
        for kind in d.kinds {
            if *kind == cairn_core::DigestKind::Blake3 {
                continue;
            }
            if let Some(v) = net
                .network
                .get_record(records::alias_key(kind.name(), &d.hex))
                .await
                .map_err(net_error)?
                && let Some((blob, _)) = records::verify_alias(kind.name(), &d.hex, &v)
            {
                return Ok(Some(BlobId(blob)));
            }
        }
        Ok(None)
    }

    /// The nickname this node goes by: the one set with
    /// [`Network::set_nickname`], else `[network] nickname`.
    pub fn nickname(&self) -> Option<String> {
        self.0
            .nickname
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Names this node `nick` (lower-cased: 3 to 20 of `a-z 0-9 _ -`, a
    /// letter first, as BitDust's user names), kept in the data dir across
    /// restarts, and published in the DHT both ways (nickname → peer, peer
    /// → nickname): now when the node has peers, else with the next
    /// records it publishes.
    pub async fn set_nickname(&self, nick: &str) -> Result<String> {
        let nick = nick.trim().to_ascii_lowercase();
        let ok = (3..=20).contains(&nick.len())
            && nick.starts_with(|c: char| c.is_ascii_lowercase())
            && nick
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(NodeError::Invalid(format!(
                "'{}' is not a nickname: 3 to 20 of a-z, 0-9, _ and -, a letter first",
                nick.chars().take(40).collect::<String>()
            )));
        }
        let file = self.0.nickname_file.clone();
        let text = format!("{nick}\n");
        crate::tasks::blocking(move || {
            cairn_store::private::write_whole(&file, text.as_bytes())
                .map_err(|e| NodeError::io("write", &file, e))
        })
        .await?;
        *self.0.nickname.lock().unwrap_or_else(|p| p.into_inner()) = Some(nick.clone());
        self.0.repair.publish_soon();
        if let Some(net) = &self.0.net
            && !net.network.peers().await.map_err(net_error)?.is_empty()
            && let Err(e) = self.publish_nickname().await
        {
            tracing::info!(error = %e, "the new nickname waits for the next publishing");
        }
        Ok(nick)
    }

    /// Publishes this node's nickname both ways: nickname → peer id, and
    /// peer id → nickname.
    /// Forgets this node's nickname: it is no longer published (the
    /// copies other nodes hold expire with the DHT's records), and the
    /// node goes by its peer id alone, across restarts too.
    pub async fn clear_nickname(&self) -> Result<()> {
        let file = self.0.nickname_file.clone();
        crate::tasks::blocking(move || match std::fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NodeError::io("remove", &file, e)),
        })
        .await?;
        *self.0.nickname.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    pub(crate) async fn publish_nickname(&self) -> Result<()> {
        let Some(nick) = self.nickname() else {
            return Ok(());
        };
        let net = self.net()?;
        let record = records::sign_nickname(&net.keypair, &nick).map_err(net_error)?;
        net.network
            .put_record(records::nick_key(&nick), record, None)
            .await
            .map_err(net_error)?;
        let name = records::sign_name(&net.keypair, &nick).map_err(net_error)?;
        net.network
            .put_record(records::name_key(&net.network.peer_id()), name, None)
            .await
            .map_err(net_error)
    }

    /// Publishes version `version` of this node's document `name` in the
    /// DHT, signed: `sealed` is what only its readers can open.
    pub(crate) async fn publish_doc(&self, name: &str, version: u64, sealed: &[u8]) -> Result<()> {
        let net = self.net()?;
        let record = records::sign_doc(&net.keypair, name, version, sealed).map_err(net_error)?;
        net.network
            .put_record(records::doc_key(&net.network.peer_id(), name), record, None)
            .await
            .map_err(net_error)
    }

    /// `peer`'s document `name` from the DHT, its version and sealed
    /// bytes: only a record signed by `peer` for that name counts.
    pub(crate) async fn lookup_doc(
        &self,
        peer: &str,
        name: &str,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        let id = parse_peer(peer)?;
        let net = self.net()?;
        // Every copy the closest peers hold, the newest version kept: a
        // peer that missed the last publication still holds an older one.
        let found = net
            .network
            .get_records(records::doc_key(&id, name))
            .await
            .map_err(net_error)?;
        Ok(found
            .iter()
            .filter_map(|v| records::verify_doc(&id, name, v))
            .max_by_key(|(version, _)| *version))
    }

    /// The nickname peer `peer` calls itself, from the DHT: only a record
    /// signed by that peer counts.
    pub async fn lookup_peer_name(&self, peer: &str) -> Result<Option<String>> {
        let id = parse_peer(peer)?;
        let net = self.net()?;
        let found = net
            .network
            .get_record(records::name_key(&id))
            .await
            .map_err(net_error)?;
        let nick = found.and_then(|v| records::verify_name(&id, &v));
        if let Some(nick) = &nick {
            self.note_seen(peer, nick).await;
        }
        Ok(nick)
    }

    /// Notes in the identities seen that `peer` goes by `nick` (a signed
    /// record said so); a failure to note it fails nothing.
    async fn note_seen(&self, peer: &str, nick: &str) {
        let (shared, peer, nick) = (self.0.shared.clone(), peer.to_owned(), nick.to_owned());
        if let Err(e) = blocking(move || Ok(shared.catalog.seen(&peer, Some(&nick))?)).await {
            tracing::debug!(error = %e, "an identity seen was not noted");
        }
    }

    /// The peer a nickname names, from the DHT: only a record signed by
    /// that peer for this name counts.
    pub async fn lookup_nickname(&self, nick: &str) -> Result<Option<String>> {
        let net = self.net()?;
        let found = net
            .network
            .get_record(records::nick_key(nick))
            .await
            .map_err(net_error)?;
        let peer = found
            .and_then(|v| records::verify_nickname(nick, &v))
            .map(|peer| peer.to_string());
        if let Some(peer) = &peer {
            self.note_seen(peer, nick).await;
        }
        Ok(peer)
    }

    /// A blob known only from the network: its record, asked of the DHT
    /// each time (a repair may have moved a shard since), and checked
    /// against the id.
    pub(crate) async fn remote_blob(&self, id: &BlobId) -> Result<Arc<RemoteBlob>> {
        let net = self.net()?;
        let bytes = net
            .network
            .get_record(record_key(id))
            .await
            .map_err(net_error)?
            .ok_or_else(|| NodeError::BlobNotFound(id.to_hex()))?;
        let record = BlobRecord::decode(&bytes).map_err(|e| NodeError::Corrupt(e.to_string()))?;
        let manifest =
            Manifest::decode(&record.manifest).map_err(|e| NodeError::Corrupt(e.to_string()))?;
        if manifest.id != *id {
            return Err(NodeError::Corrupt(format!(
                "the record under {id} is for another blob"
            )));
        }
        Ok(Arc::new(RemoteBlob {
            manifest: Arc::new(manifest),
            placement: record.placement,
            read_key: record.read_key,
        }))
    }

    /// A reader of blob `id`'s ciphertext from its suppliers.
    pub(crate) fn net_reader(
        &self,
        id: &BlobId,
        placement: Placement,
        size: u64,
    ) -> Result<Arc<NetReader>> {
        Ok(Arc::new(self.shard_reader(id, placement, size)?))
    }

    /// [`Network::net_reader`] as its concrete type.
    pub(crate) fn shard_reader(
        &self,
        id: &BlobId,
        placement: Placement,
        size: u64,
    ) -> Result<NetReader> {
        let net = self.net()?;
        Ok(NetReader {
            network: net.network.clone(),
            local: net.shards.clone(),
            placement,
            size,
            blob: id.0,
            runtime: tokio::runtime::Handle::current(),
            slow: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// The peer `peer` names; a text that is no peer id names no peer, so it
/// is not found (as a peer nobody knows is not).
pub(crate) fn parse_peer(peer: &str) -> Result<PeerId> {
    peer.parse().map_err(|_| NodeError::not_found("peer", peer))
}

/// Reads a blob's ciphertext from its suppliers, segment by segment.
pub(crate) struct NetReader {
    network: Swarm,
    /// Our own shard store: a shard we supply ourselves is read there.
    local: Arc<ShardStore>,
    placement: Placement,
    size: u64,
    blob: [u8; 32],
    runtime: tokio::runtime::Handle,
    /// Positions that failed or were outrun by a spare: asked last.
    slow: std::sync::Mutex<Vec<usize>>,
}

/// How long a segment's read waits on its missing shards, after the last
/// one arrived (or it started), before it asks one more supplier too.
const HEDGE_AFTER: Duration = Duration::from_millis(1500);

impl NetReader {
    async fn segment(&self, blob: [u8; 32], index: u64) -> Result<Vec<u8>> {
        self.segment_without(blob, index, None).await
    }

    /// Segment `index` rebuilt from any k shards and handed to `open`
    /// ([`NetReader::run_opened`] of one segment).
    async fn segment_opened(
        &self,
        blob: [u8; 32],
        index: u64,
        open: &mut dyn FnMut(&mut [u8]) -> bool,
    ) -> Result<Option<Vec<u8>>> {
        let mut run = self.run_opened(blob, index, 1, &mut |_, b| open(b)).await?;
        Ok(run.pop().flatten())
    }

    /// Segment `index` rebuilt from any k shards, never asking position
    /// `skip` (the one being repaired).
    ///
    /// k suppliers are asked at once, those that did well so far first.
    /// One that fails is replaced by the next position at once; when no
    /// shard has come for `HEDGE_AFTER`, one more is asked beside the
    /// late ones, and the first k good answers win. Positions that failed
    /// or were outrun are asked last by the reads that follow, so a
    /// stalled supplier costs the stream one wait, not one per segment.
    pub(crate) async fn segment_without(
        &self,
        blob: [u8; 32],
        index: u64,
        skip: Option<usize>,
    ) -> Result<Vec<u8>> {
        self.segment_fetched(blob, index, skip, true).await
    }

    /// The segments `first .. first + count` rebuilt from any k
    /// suppliers' pieces and each handed to `open` (with its place in the
    /// run), which decrypts and checks the whole segment against the
    /// blob's tree. The pieces are first taken as they come: `open`
    /// rejects a segment any wrong piece went into, so their own hashes
    /// are checked only then, when that segment is fetched again shard by
    /// shard (`segment_without`), which finds the wrong ones and asks
    /// other suppliers instead. A download's shards are so hashed once, as
    /// the segments they make up, not twice. `None` for a segment refused
    /// both times. (A fetch that failed already tried every supplier it
    /// could: only a segment that fails its check is worth fetching
    /// again.)
    async fn run_opened(
        &self,
        blob: [u8; 32],
        first: u64,
        count: u64,
        open: &mut dyn FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let run = self.run_fetched(blob, first, count, None, false).await?;
        let mut opened = Vec::with_capacity(run.len());
        for (j, mut seg) in run.into_iter().enumerate() {
            if open(j, &mut seg) {
                opened.push(Some(seg));
                continue;
            }
            let index = first + j as u64;
            tracing::warn!(
                segment = index,
                "a segment failed verification; checking its shards one by one"
            );
            let mut seg = self.segment_without(blob, index, None).await?;
            opened.push(open(j, &mut seg).then_some(seg));
        }
        Ok(opened)
    }

    /// `segment_without`, checking each shard against its hash when
    /// `checked`.
    async fn segment_fetched(
        &self,
        blob: [u8; 32],
        index: u64,
        skip: Option<usize>,
        checked: bool,
    ) -> Result<Vec<u8>> {
        let mut run = self.run_fetched(blob, index, 1, skip, checked).await?;
        run.pop()
            .ok_or_else(|| NodeError::Internal("a run of one segment came back empty".into()))
    }

    /// Segments `first .. first + count` rebuilt from any k suppliers, each
    /// asked once for its pieces of all of them: a shard file holds a
    /// position's pieces of consecutive segments one after the other, so
    /// that is one read of adjacent bytes, and a streamed download costs
    /// each supplier a request per run rather than per segment. Suppliers
    /// are chosen, replaced and hedged as `segment_without` says, once for
    /// the whole run.
    async fn run_fetched(
        &self,
        blob: [u8; 32],
        first: u64,
        count: u64,
        skip: Option<usize>,
        checked: bool,
    ) -> Result<Vec<Vec<u8>>> {
        let p = &self.placement;
        let seg_lens: Vec<usize> = (first..first + count)
            .map(|index| {
                let span = segment_span(self.size, index);
                (span.end - span.start) as usize
            })
            .collect();
        let piece_lens: Vec<usize> = seg_lens.iter().map(|l| p.coding.shard_len(*l)).collect();
        let k = usize::from(p.coding.k);
        let n = p.coding.n();
        let slow = self.slow.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut order: Vec<usize> = (0..n)
            .filter(|i| Some(*i) != skip && !slow.contains(i))
            .collect();
        order.extend(slow.iter().copied().filter(|i| Some(*i) != skip && *i < n));
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut have = 0usize;
        let mut next = 0usize;
        let mut asked = futures_util::stream::FuturesUnordered::new();
        let piece_lens = &piece_lens;
        let fetch = |i: usize| async move {
            (
                i,
                self.fetch_pieces(blob, first, piece_lens, i, checked).await,
            )
        };
        while next < order.len() && asked.len() < k {
            asked.push(fetch(order[next]));
            next += 1;
        }
        let mut outrun = Vec::new();
        while have < k && !asked.is_empty() {
            tokio::select! {
                Some((i, got)) = asked.next() => match got {
                    Ok(data) => {
                        shards[i] = Some(data);
                        have += 1;
                    }
                    Err(e) => {
                        tracing::warn!(segment = first, count, position = i, error = %e, "shard unavailable");
                        outrun.push(i);
                        if next < order.len() {
                            asked.push(fetch(order[next]));
                            next += 1;
                        }
                    }
                },
                _ = tokio::time::sleep(HEDGE_AFTER), if next < order.len() => {
                    asked.push(fetch(order[next]));
                    next += 1;
                }
            }
        }
        // Whoever is still being waited for was outrun.
        let answered: Vec<usize> = (0..n).filter(|i| shards[*i].is_some()).collect();
        outrun.extend(order[..next].iter().filter(|i| !answered.contains(i)));
        drop(asked);
        if !outrun.is_empty() {
            let mut slow = self.slow.lock().unwrap_or_else(|e| e.into_inner());
            for i in outrun {
                if !slow.contains(&i) {
                    slow.push(i);
                }
            }
        }
        if have < k {
            return Err(NodeError::Network(format!(
                "segment {first}: only {have} of the {k} shards needed could be fetched"
            )));
        }
        let mut segments = Vec::with_capacity(seg_lens.len());
        let mut at = 0usize;
        for (seg_len, piece_len) in seg_lens.iter().zip(piece_lens) {
            let pieces: Vec<Option<&[u8]>> = shards
                .iter()
                .map(|s| s.as_deref().map(|s| &s[at..at + piece_len]))
                .collect();
            segments.push(
                p.coding
                    .decode(*seg_len, &pieces)
                    .map_err(|e| NodeError::Corrupt(e.to_string()))?,
            );
            at += piece_len;
        }
        Ok(segments)
    }

    /// Shard `position`'s pieces of the segments from `first` on, one per
    /// length in `lens`, as one buffer: read locally if we supply it,
    /// else asked for in reads of at most `MAX_CHUNK` bytes. When
    /// `checked`, each piece is checked against its hash.
    async fn fetch_pieces(
        &self,
        blob: [u8; 32],
        first: u64,
        lens: &[usize],
        position: usize,
        checked: bool,
    ) -> Result<Vec<u8>> {
        let p = &self.placement;
        let peer = parse_peer(&p.suppliers[position])?;
        let len: usize = lens.iter().sum();
        let mut data = Vec::new();
        let base = first * u64::from(p.stride);
        if peer == self.network.peer_id() {
            let id = ShardId {
                owner: p.owner,
                blob,
                position: position as u8,
            };
            let local = self.local.clone();
            data = tokio::task::spawn_blocking(move || local.read(&id, base, len))
                .await
                .map_err(NodeError::from)??;
        }
        while data.len() < len {
            let chunk = (len - data.len()).min(MAX_CHUNK);
            let key = ShardKey {
                owner: p.owner,
                blob,
                position: position as u8,
            };
            let answer = self
                .network
                .request(
                    peer,
                    Request::Read {
                        key,
                        offset: base + data.len() as u64,
                        len: chunk as u32,
                    },
                )
                .await
                .map_err(net_error)?;
            match answer {
                Response::Data(bytes) if !bytes.is_empty() && bytes.len() <= chunk => {
                    if data.is_empty() {
                        data = bytes;
                    } else {
                        data.extend_from_slice(&bytes)
                    }
                }
                Response::Refused(why, text) => {
                    return Err(NodeError::Network(format!(
                        "{peer} refused ({why:?}): {text}"
                    )));
                }
                other => return Err(NodeError::Network(format!("{peer} answered {other:?}"))),
            }
        }
        if checked {
            let mut at = 0usize;
            for (j, piece) in lens.iter().enumerate() {
                let index = first + j as u64;
                let want = p.hash(index, position).ok_or_else(|| {
                    NodeError::Corrupt("placement has no hash for this shard".into())
                })?;
                if blake3::hash(&data[at..at + piece]).as_bytes() != want {
                    return Err(NodeError::Corrupt(format!(
                        "shard {position} of segment {index} from {peer} does not match its hash"
                    )));
                }
                at += piece;
            }
        }
        Ok(data)
    }
}

impl Gather for NetReader {
    fn run(self: Arc<Self>, first: u64, count: u64) -> Waiting<Vec<Vec<u8>>> {
        Box::pin(async move { self.run_fetched(self.blob, first, count, None, false).await })
    }

    fn again(self: Arc<Self>, index: u64) -> Waiting<Vec<u8>> {
        Box::pin(async move { self.segment_without(self.blob, index, None).await })
    }
}

impl BlobReader for NetReader {
    /// Each read waits on k suppliers: keep several in flight. Reads of
    /// runs of four segments (the usual 4+2) keep 16 segments coming with
    /// four (the reader's peak RSS in BENCHMARKS.md grows by about 15 MiB
    /// with each more); reads of single segments take six.
    fn parallel_reads(&self) -> usize {
        if self.run_len() > 1 { 4 } else { 6 }
    }

    /// A whole segment, the download's usual request, is the decoded
    /// buffer itself: no zero-filled buffer to copy it into.
    fn read_vec_at(&self, len: usize, offset: u64) -> std::result::Result<Vec<u8>, StoreError> {
        let index = offset / SEGMENT_SIZE;
        let span = segment_span(self.size, index);
        if offset == span.start && len as u64 == span.end - span.start {
            return self
                .runtime
                .block_on(self.segment(self.blob, index))
                .map_err(|e| StoreError::Corrupt(e.to_string()));
        }
        let mut buf = vec![0u8; len];
        self.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// A whole segment is taken from the first k shards that come and
    /// checked whole ([`NetReader::segment_opened`]).
    fn read_opened(
        &self,
        len: usize,
        offset: u64,
        open: &mut dyn FnMut(&mut [u8]) -> bool,
    ) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        let index = offset / SEGMENT_SIZE;
        let span = segment_span(self.size, index);
        if offset != span.start || len as u64 != span.end - span.start {
            let mut buf = self.read_vec_at(len, offset)?;
            return Ok(open(&mut buf).then_some(buf));
        }
        self.runtime
            .block_on(self.segment_opened(self.blob, index, open))
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// As many segments as one read of `MAX_CHUNK` bytes brings of each
    /// shard, up to four.
    fn run_len(&self) -> u64 {
        (MAX_CHUNK as u64 / u64::from(self.placement.stride.max(1))).clamp(1, 4)
    }

    /// Whole consecutive segments come from one read per supplier
    /// ([`NetReader::run_opened`]).
    fn read_run_opened(
        &self,
        spans: &[std::ops::Range<u64>],
        open: &mut dyn FnMut(usize, &mut [u8]) -> bool,
    ) -> std::result::Result<Vec<Option<Vec<u8>>>, StoreError> {
        let Some(first) = spans.first() else {
            return Ok(Vec::new());
        };
        let first = first.start / SEGMENT_SIZE;
        let whole = spans.iter().enumerate().all(|(j, s)| {
            let span = segment_span(self.size, first + j as u64);
            *s == span && !span.is_empty()
        });
        if !whole {
            return cairn_store::files::read_each_opened(self, spans, open);
        }
        self.runtime
            .block_on(self.run_opened(self.blob, first, spans.len() as u64, open))
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::result::Result<(), StoreError> {
        let blob = self.blob;
        let mut filled = 0usize;
        while filled < buf.len() {
            let at = offset + filled as u64;
            let index = at / SEGMENT_SIZE;
            let span = segment_span(self.size, index);
            let seg = self
                .runtime
                .block_on(self.segment(blob, index))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let from = (at - span.start) as usize;
            let n = (seg.len() - from).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&seg[from..from + n]);
            filled += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friends_are_peer_ids_and_the_policy_follows_the_config() {
        let friend = cairn_net::Keypair::generate_ed25519().public().to_peer_id();
        let bad = |what: &str, e: String| NodeError::Config {
            path: "config.toml".into(),
            message: format!("[network] {what}: {e}"),
        };
        let mut config = NetworkConfig {
            friends: vec![friend.to_string()],
            ..NetworkConfig::default()
        };
        let friends = parse_friends(&config, &bad).unwrap();
        let policy = admission(&config, &friends);
        assert!(policy.friends.contains(&owner_of(&friend)));
        assert_eq!(
            (
                policy.strangers,
                policy.strangers_max,
                policy.strangers_per_hour
            ),
            (true, 16, 8)
        );
        assert_eq!(policy.stranger_quota, 512 << 20);
        config.friends.push("alice".into());
        let refused = parse_friends(&config, &bad).unwrap_err().to_string();
        assert!(refused.contains("'alice' is not a peer id"), "{refused}");
    }

    #[test]
    fn the_node_id_is_the_swarm_peer_id() {
        let dir = tempfile::tempdir().unwrap();
        let identity = crate::identity::Identity::load_or_create(dir.path()).unwrap();
        let keypair = cairn_net::Keypair::ed25519_from_bytes(identity.key.to_bytes()).unwrap();
        assert_eq!(
            identity.peer_id(),
            keypair.public().to_peer_id().to_string()
        );
    }
}
