//! The swarm and its driver: one task owns the libp2p `Swarm` and is
//! reached only through [`Network`], a cloneable handle that sends it
//! commands and awaits their answers.
//!
//! Why a task with commands rather than a shared, locked swarm: the swarm
//! must be polled continuously to make progress (connections, Kademlia
//! queries, timeouts), and every answer to us comes back as a swarm event.
//! The driver keeps the pending requests and queries in maps keyed by their
//! libp2p ids and completes each caller's oneshot when its event arrives.
//! Inbound shard requests go out on a channel to whoever serves them (the
//! node's supplier side), which answers on a oneshot; the driver never
//! blocks on it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::io::BufReader;
use libp2p::core::{Transport, upgrade};
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, QueryId, QueryResult, Record, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, autonat, gossipsub, identify, identity, mdns, noise,
    ping, tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};

use crate::codec::ShardCodec;
use crate::lane::{
    Accept, Counters, LANE_PROTOCOL, LaneCodec, LaneServer, LaneStats, Lanes, Offer, Take,
};
use crate::messages::{GossipMessage, InboundMessage, MESSAGE_PROTOCOL, MessageCodec};
use crate::protocol::{PROTOCOL, PROTOCOL_V2, PROTOCOL_V3, Request, Response};
use crate::tasks::{DriverAlive, Tasks};
use crate::traffic::{ConnectionInfo, FlightGuard, ObservedAddr, Traffic, TrafficStats, What};
use crate::{NetConfig, NetError, PeerInfo};

type Result<T> = std::result::Result<T, NetError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Where the answer of a DHT read goes.
type ValueSender = oneshot::Sender<Result<Option<Vec<u8>>>>;
type ValuesSender = oneshot::Sender<Result<Vec<Vec<u8>>>>;
/// A DHT read gathering values: its key, what it found, who waits.
type Gathering = (Vec<u8>, Vec<Vec<u8>>, ValuesSender);

/// Kademlia's protocol name for cairn's own DHT.
const KAD_PROTOCOL: &str = "/cairn/kad/1";
/// Peers this node dials on its own when the DHT tells it of them.
const WANTED_PEERS: usize = 64;
/// Largest DHT record value (a public file's manifest must fit).
pub const MAX_RECORD: usize = 4 << 20;
/// Records the local store keeps at most.
const MAX_RECORDS: usize = 1 << 16;
/// Bytes read from a connection's socket at a time. Noise reads 8 KiB at
/// a time; without this buffer a shard of 256 KiB would take 32 reads
/// from the socket, each a system call.
const READ_BUFFER: usize = 256 << 10;
/// Kademlia's replication factor (k): the peers a record is stored on,
/// and a bucket's size.
const KAD_K: usize = 20;
/// Kademlia's parallelism (alpha): peers asked at once in a query.
const KAD_ALPHA: usize = 3;
/// How long a DHT query may take.
const KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stored record lives unless published again.
const KAD_RECORD_TTL: Duration = Duration::from_secs(48 * 3600);
/// How often a record this node holds is replicated to its closest peers.
const KAD_REPLICATION: Duration = Duration::from_secs(3600);
/// How often a record this node published is published again.
const KAD_PUBLICATION: Duration = Duration::from_secs(22 * 3600);

/// How this node's Kademlia is set up: the values `build_swarm` gives it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DhtSettings {
    /// Its protocol name.
    pub protocol: String,
    /// The replication factor (k), also a bucket's size.
    pub replication: usize,
    /// Peers asked at once in a query (alpha).
    pub parallelism: usize,
    /// How long a query may take, in seconds.
    pub query_timeout_secs: u64,
    /// How long a stored record lives unless published again, seconds.
    pub record_ttl_secs: u64,
    /// How often held records are replicated, seconds.
    pub replication_interval_secs: u64,
    /// How often this node's own records are published again, seconds.
    pub publication_interval_secs: u64,
}

/// The settings `build_swarm` gives Kademlia.
pub fn dht_settings() -> DhtSettings {
    DhtSettings {
        protocol: KAD_PROTOCOL.into(),
        replication: KAD_K,
        parallelism: KAD_ALPHA,
        query_timeout_secs: KAD_QUERY_TIMEOUT.as_secs(),
        record_ttl_secs: KAD_RECORD_TTL.as_secs(),
        replication_interval_secs: KAD_REPLICATION.as_secs(),
        publication_interval_secs: KAD_PUBLICATION.as_secs(),
    }
}

/// A record in this node's own part of the DHT.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalRecord {
    /// Its key, as text when it is UTF-8 (cairn's keys are), else hex.
    pub key: String,
    /// Its value's size in bytes.
    pub size: usize,
    /// Its value (not in the native API's listing: sizes say enough).
    #[serde(skip)]
    pub value: Vec<u8>,
    /// The peer that published it, when the record names one.
    pub publisher: Option<String>,
    /// Seconds until it expires; none if it does not.
    pub expires_in_secs: Option<u64>,
    /// When this node first stored it, Unix seconds (since it started).
    pub first_stored: Option<u64>,
    /// When this node last stored it (put again, or replicated to it).
    pub last_stored: Option<u64>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    autonat: autonat::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    shards: request_response::Behaviour<ShardCodec>,
    lanes: request_response::Behaviour<LaneCodec>,
    messages: request_response::Behaviour<MessageCodec>,
    gossip: gossipsub::Behaviour,
}

/// A shard request from a peer, to be answered on `reply`.
#[derive(Debug)]
pub struct Inbound {
    /// Who asks.
    pub peer: PeerId,
    /// What.
    pub request: Request,
    /// Where the answer goes; dropping it refuses the request.
    pub reply: oneshot::Sender<Response>,
}

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<()>>),
    Request(PeerId, Request, oneshot::Sender<Result<Response>>),
    LaneOffer(PeerId, Offer, oneshot::Sender<Result<Accept>>),
    PeerIp(PeerId, oneshot::Sender<Option<IpAddr>>),
    Respond(ResponseChannel<Response>, Response),
    Message(PeerId, Vec<u8>, oneshot::Sender<Result<Vec<u8>>>),
    AnswerMessage(ResponseChannel<Vec<u8>>, Vec<u8>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    PutRecord(
        Vec<u8>,
        Vec<u8>,
        Option<Duration>,
        oneshot::Sender<Result<()>>,
    ),
    GetRecord(Vec<u8>, ValueSender),
    GetRecords(Vec<u8>, ValuesSender),
    Provide(Vec<u8>, oneshot::Sender<Result<()>>),
    Providers(Vec<u8>, oneshot::Sender<Result<Vec<PeerId>>>),
    Closest(Vec<u8>, oneshot::Sender<Result<Vec<PeerId>>>),
    NatStatus(oneshot::Sender<String>),
    LocalRecords(oneshot::Sender<Vec<LocalRecord>>),
    Subscribe(String, oneshot::Sender<Result<()>>),
    Unsubscribe(String),
    Publish(String, Vec<u8>, oneshot::Sender<Result<usize>>),
    Refresh,
    Stop,
}

/// A handle on the running swarm. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    /// Where bulk requests go by lane (none when lanes are off).
    lanes: Option<Arc<Lanes>>,
    /// The port lanes are served on.
    lane_port: Option<u16>,
    counters: Arc<Counters>,
    /// Connections, requests and bytes, counted (`traffic.rs`).
    traffic: Arc<Traffic>,
    request_timeout: Duration,
    /// The network's background tasks (`tasks.rs`).
    tasks: Tasks,
    /// Messages from peers, until the node takes them
    /// ([`Network::take_messages`]).
    messages: Arc<std::sync::Mutex<Option<mpsc::Receiver<InboundMessage>>>>,
    /// Group messages from the gossip network, until the node takes them
    /// ([`Network::take_gossip`]).
    gossip: Arc<std::sync::Mutex<Option<mpsc::Receiver<GossipMessage>>>>,
}

/// Runs the swarm; see [`Network::new`].
pub struct Driver {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    handle: mpsc::Sender<Command>,
    inbound: mpsc::Sender<Inbound>,
    /// Where messages from peers go.
    messages: mpsc::Sender<InboundMessage>,
    /// Where group messages from the gossip network go.
    gossip: mpsc::Sender<GossipMessage>,
    bootstrap: Vec<Multiaddr>,
    pending: Pending,
    peers: HashMap<PeerId, PeerInfo>,
    /// Serves lanes (answers offers).
    lane_server: Option<Arc<LaneServer>>,
    /// The lane listener, until `run` hands it to the server's task.
    lane_listener: Option<std::net::TcpListener>,
    /// Where the tasks the driver starts are tracked.
    tasks: Tasks,
    /// Connections, requests and bytes, counted (`traffic.rs`).
    traffic: Arc<Traffic>,
    /// When each record of the local store was first and last stored
    /// (Unix seconds), since the node started.
    stored: HashMap<Vec<u8>, (u64, u64)>,
    /// Counts the driver as running and stops every task when it ends
    /// (or its future is dropped). Last, so it goes after the swarm.
    _alive: DriverAlive,
}

type PeersReply = oneshot::Sender<Result<Vec<PeerId>>>;

#[derive(Default)]
struct Pending {
    dials: HashMap<libp2p::swarm::ConnectionId, oneshot::Sender<Result<()>>>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response>>>,
    offers: HashMap<OutboundRequestId, oneshot::Sender<Result<Accept>>>,
    messages: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>>>>,
    puts: HashMap<QueryId, oneshot::Sender<Result<()>>>,
    /// DHT reads, with their keys: the first value found that may be kept
    /// for its key ([`crate::records::acceptable`]) answers.
    gets: HashMap<QueryId, (Vec<u8>, ValueSender)>,
    /// DHT reads that gather every acceptable value the query meets
    /// (distinct), answered when it ends: for records with versions,
    /// where the first copy found may be an old one.
    gets_all: HashMap<QueryId, Gathering>,
    provides: HashMap<QueryId, oneshot::Sender<Result<()>>>,
    providers: HashMap<QueryId, (Vec<PeerId>, PeersReply)>,
    closest: HashMap<QueryId, oneshot::Sender<Result<Vec<PeerId>>>>,
}

impl Network {
    /// Builds the swarm for `keypair` and starts listening. Returns the
    /// handle, the stream of inbound shard requests, and the driver, which
    /// the caller spawns (`driver.run()`) on its own task tracker.
    pub fn new(
        keypair: identity::Keypair,
        config: &NetConfig,
    ) -> Result<(Self, mpsc::Receiver<Inbound>, Driver)> {
        let peer_id = keypair.public().to_peer_id();
        let traffic = Arc::new(Traffic::default());
        let mut swarm = build_swarm(keypair, config, traffic.clone())?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen(addr.clone(), e.to_string()))?;
        }
        let (tx, rx) = mpsc::channel(256);
        let (inbound_tx, inbound_rx) = mpsc::channel(256);
        let (messages_tx, messages_rx) = mpsc::channel(256);
        let (gossip_tx, gossip_rx) = mpsc::channel(1024);
        let counters = Arc::new(Counters::default());
        let lane_listener = config
            .lanes
            .and_then(|port| bind_lanes(&config.listen, port));
        let lane_server = lane_listener.as_ref().map(|listener| {
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            Arc::new(LaneServer::new(
                peer_id,
                port,
                inbound_tx.clone(),
                counters.clone(),
                traffic.clone(),
            ))
        });
        let lane_port = lane_server.as_ref().map(|s| s.port);
        let tasks = Tasks::new();
        let driver = Driver {
            swarm,
            commands: rx,
            handle: tx.clone(),
            inbound: inbound_tx,
            messages: messages_tx,
            gossip: gossip_tx,
            bootstrap: config.bootstrap.clone(),
            pending: Pending::default(),
            peers: HashMap::new(),
            lane_server,
            lane_listener,
            _alive: tasks.driver_alive(),
            tasks: tasks.clone(),
            traffic: traffic.clone(),
            stored: HashMap::new(),
        };
        Ok((
            Self {
                commands: tx,
                peer_id,
                lanes: config.lanes.map(|_| Arc::new(Lanes::new(counters.clone()))),
                lane_port,
                counters,
                traffic,
                request_timeout: config.request_timeout,
                tasks,
                messages: Arc::new(std::sync::Mutex::new(Some(messages_rx))),
                gossip: Arc::new(std::sync::Mutex::new(Some(gossip_rx))),
            },
            inbound_rx,
            driver,
        ))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The messages peers send, once: the node that serves them takes
    /// the receiver at start.
    pub fn take_messages(&self) -> Option<mpsc::Receiver<InboundMessage>> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The group messages the gossip network brings, once: the node that
    /// reads them takes the receiver at start.
    pub fn take_gossip(&self) -> Option<mpsc::Receiver<GossipMessage>> {
        self.gossip.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Subscribes to gossip topic `topic`.
    pub async fn subscribe(&self, topic: &str) -> Result<()> {
        self.ask(|tx| Command::Subscribe(topic.to_owned(), tx))
            .await?
    }

    /// Leaves gossip topic `topic`.
    pub async fn unsubscribe(&self, topic: &str) -> Result<()> {
        self.commands
            .send(Command::Unsubscribe(topic.to_owned()))
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Publishes `data` on gossip topic `topic`; answers to how many
    /// peers subscribed to it this node knows (0: nobody heard it now).
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<usize> {
        self.ask(|tx| Command::Publish(topic.to_owned(), data, tx))
            .await?
    }

    /// Sends a message envelope to `peer` (dialling it if it is known) and
    /// waits for its answer (bounded by the request timeout).
    pub async fn send_message(&self, peer: PeerId, envelope: Vec<u8>) -> Result<Vec<u8>> {
        let flight =
            self.traffic
                .start(peer, true, MESSAGE_PROTOCOL, What::message(envelope.len()));
        let answer = self.ask(|tx| Command::Message(peer, envelope, tx)).await?;
        if answer.is_err() {
            flight.failed();
        }
        answer
    }

    /// Connects to `addr` (which should end in `/p2p/<peer id>`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<()> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// Sends a shard request to `peer` and waits for the answer (bounded
    /// by the request timeout). Writes and reads go by lane when the peer
    /// has one for us (`lane.rs`), else over libp2p.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response> {
        let flight = self
            .traffic
            .start(peer, true, PROTOCOL, What::request(&request));
        let answer = self.request_by_any(peer, request).await;
        if answer.is_err() {
            flight.failed();
        }
        answer
    }

    /// Sends `request` by lane or over libp2p (see [`Network::request`]).
    async fn request_by_any(&self, peer: PeerId, mut request: Request) -> Result<Response> {
        if let Some(lanes) = &self.lanes
            && matches!(request, Request::Write { .. } | Request::Read { .. })
        {
            if let Some(answer) = self.by_lane(lanes, peer, &mut request).await {
                return answer;
            }
            lanes.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.ask(|tx| Command::Request(peer, request, tx)).await?
    }

    /// Sends `request` by lane: `None` when it should go over libp2p
    /// instead (no lane, or the lane failed before an answer came; the
    /// request is then as it was).
    async fn by_lane(
        &self,
        lanes: &Arc<Lanes>,
        peer: PeerId,
        request: &mut Request,
    ) -> Option<Result<Response>> {
        let mut lane = match lanes.take(peer) {
            Take::No => return None,
            Take::Idle(lane) => lane,
            Take::Open => {
                self.spawn_open_lane(lanes.clone(), peer);
                return None;
            }
        };
        let answer = tokio::time::timeout(self.request_timeout, lane.call(request)).await;
        let (sent, received) = lane.take_bytes();
        self.traffic.lane_bytes(peer, sent, received);
        match answer {
            Ok(Ok(response)) => {
                lanes.counters.requests.fetch_add(1, Ordering::Relaxed);
                lanes.give_back(peer, Some(lane));
                Some(Ok(response))
            }
            Ok(Err(e)) => {
                lanes.give_back(peer, None);
                if matches!(request, Request::Write { data, .. } if data.is_empty()) {
                    // Its data did not come back from the lane: nothing to
                    // send another way.
                    return Some(Err(NetError::Request(format!("lane failed: {e}"))));
                }
                tracing::debug!(%peer, error = %e, "lane failed; asking over libp2p");
                None
            }
            // A peer that does not answer in time would not over libp2p
            // either: waiting for it twice would only delay the caller.
            Err(_) => {
                lanes.give_back(peer, None);
                Some(Err(NetError::Request("timed out by lane".into())))
            }
        }
    }

    /// Opens a lane to `peer` beside the request that goes over libp2p,
    /// and tells `lanes` how that went.
    fn spawn_open_lane(&self, lanes: Arc<Lanes>, peer: PeerId) {
        let network = self.clone();
        self.tasks.spawn("lane-open", async move {
            match network.open_lane(peer).await {
                Ok(lane) => {
                    lanes.counters.opened.fetch_add(1, Ordering::Relaxed);
                    lanes.opened(peer, lane);
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "no lane; asking over libp2p");
                    lanes.not_opened(peer);
                }
            }
        });
    }

    async fn open_lane(&self, peer: PeerId) -> std::io::Result<crate::lane::Lane> {
        let failed = |e: NetError| std::io::Error::other(e.to_string());
        let offer = crate::lane::offer();
        let handshake = async {
            let accept = self
                .ask(|tx| Command::LaneOffer(peer, offer, tx))
                .await
                .map_err(failed)?
                .map_err(failed)?;
            let ip = self
                .ask(|tx| Command::PeerIp(peer, tx))
                .await
                .map_err(failed)?
                .ok_or_else(|| std::io::Error::other("no IP address of the peer"))?;
            crate::lane::connect(&self.peer_id, &peer, ip, &offer, accept).await
        };
        tokio::time::timeout(self.request_timeout, handshake)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "lane handshake"))?
    }

    /// What went by lane since the node started.
    pub fn lane_stats(&self) -> LaneStats {
        self.counters.stats(self.lane_port)
    }

    /// Measures the round trip of a request to `peer`.
    pub async fn ping(&self, peer: PeerId) -> Result<Duration> {
        let start = Instant::now();
        match self.request(peer, Request::Ping).await? {
            Response::Ok => Ok(start.elapsed()),
            other => Err(NetError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The peers connected now.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.ask(Command::Peers).await
    }

    /// The addresses this node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>> {
        self.ask(Command::ListenAddrs).await
    }

    /// Stores `value` under `key` in the DHT (and locally), expiring after
    /// `ttl` unless put again.
    pub async fn put_record(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        if value.len() > MAX_RECORD {
            return Err(NetError::TooLarge(value.len()));
        }
        self.ask(|tx| Command::PutRecord(key, value, ttl, tx))
            .await?
    }

    /// The value stored under `key`, from the DHT.
    pub async fn get_record(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        self.ask(|tx| Command::GetRecord(key, tx)).await?
    }

    /// Every distinct value of `key` the DHT holds that may be kept for it
    /// ([`crate::records::acceptable`]), this node's own copy included:
    /// the query asks all the closest peers instead of stopping at the
    /// first copy, so the caller can pick the newest version.
    pub async fn get_records(&self, key: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        self.ask(|tx| Command::GetRecords(key, tx)).await?
    }

    /// Announces this node as a provider of `key`.
    pub async fn provide(&self, key: Vec<u8>) -> Result<()> {
        self.ask(|tx| Command::Provide(key, tx)).await?
    }

    /// The peers that announced themselves as providers of `key`.
    pub async fn providers(&self, key: Vec<u8>) -> Result<Vec<PeerId>> {
        self.ask(|tx| Command::Providers(key, tx)).await?
    }

    /// The peers closest to `key` in the DHT's key space.
    pub async fn closest_peers(&self, key: Vec<u8>) -> Result<Vec<PeerId>> {
        self.ask(|tx| Command::Closest(key, tx)).await?
    }

    /// AutoNAT's view of our reachability (`"public <addr>"`, "private",
    /// "unknown").
    pub async fn nat_status(&self) -> Result<String> {
        self.ask(Command::NatStatus).await
    }

    /// The connections this node has now, with their bytes.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.traffic.connections()
    }

    /// Requests, messages and bytes since the node started, and the
    /// requests on their way now.
    pub fn traffic(&self) -> TrafficStats {
        self.traffic.stats()
    }

    /// The addresses connected peers say they see this node at
    /// (identify's observed address).
    pub fn observed_addrs(&self) -> Vec<ObservedAddr> {
        self.traffic.observed_addrs()
    }

    /// The records this node's part of the DHT holds now (its own and
    /// those other peers asked it to keep).
    pub async fn local_records(&self) -> Result<Vec<LocalRecord>> {
        self.ask(Command::LocalRecords).await
    }

    /// Refreshes the DHT routing table (a Kademlia bootstrap), when there
    /// is anyone to ask.
    pub async fn refresh(&self) {
        let _ = self.commands.send(Command::Refresh).await;
    }

    /// Stops the driver and every task of the network: lane connections
    /// and inbound requests still waiting for their answers are dropped,
    /// not waited for. [`Network::stopped`] tells when all have ended.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
        self.tasks.stop();
    }

    /// Resolves once the driver and every task the network started (the
    /// lane listener, each lane served or being opened, each inbound
    /// request waiting for its answer) have ended: soon after
    /// [`Network::stop`], or after the driver's future is dropped. Never
    /// while the driver runs.
    pub async fn stopped(&self) {
        self.tasks.ended().await;
    }
}

/// Hands the answer to request `id`, or why it failed, to whoever waits
/// for it.
fn settle<T>(
    waiting: &mut HashMap<OutboundRequestId, oneshot::Sender<Result<T>>>,
    id: OutboundRequestId,
    outcome: std::result::Result<T, request_response::OutboundFailure>,
) {
    if let Some(tx) = waiting.remove(&id) {
        let _ = tx.send(outcome.map_err(|e| NetError::Request(e.to_string())));
    }
}

/// Keeps `tx` for the answer of the DHT query that `started`, or
/// answers now why it could not start.
fn track_query(
    waiting: &mut HashMap<QueryId, oneshot::Sender<Result<()>>>,
    started: std::result::Result<QueryId, kad::store::Error>,
    tx: oneshot::Sender<Result<()>>,
) {
    match started {
        Ok(id) => {
            waiting.insert(id, tx);
        }
        Err(e) => {
            let _ = tx.send(Err(NetError::Dht(e.to_string())));
        }
    }
}

/// AutoNAT's status as [`Network::nat_status`] tells it.
fn describe_nat(status: autonat::NatStatus) -> String {
    match status {
        autonat::NatStatus::Public(addr) => format!("public {addr}"),
        autonat::NatStatus::Private => "private".into(),
        autonat::NatStatus::Unknown => "unknown".into(),
    }
}

/// The IP address in `addr`, if it has one.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        libp2p::multiaddr::Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// Binds the lane listener on the IP of the first listen address, or
/// warns and goes without lanes.
fn bind_lanes(listen: &[Multiaddr], port: u16) -> Option<std::net::TcpListener> {
    let ip = listen.iter().find_map(ip_of)?;
    let bound = std::net::TcpListener::bind((ip, port)).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    });
    match bound {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(%ip, port, error = %e, "cannot listen for lanes; shard bytes go over libp2p");
            None
        }
    }
}

fn build_swarm(
    keypair: identity::Keypair,
    config: &NetConfig,
    traffic: Arc<Traffic>,
) -> Result<Swarm<Behaviour>> {
    let request_timeout = config.request_timeout;
    let mdns_on = config.mdns;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| -> std::result::Result<_, BoxError> {
            Ok(
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .map(move |stream, point| {
                        BufReader::with_capacity(READ_BUFFER, traffic.count(stream, &point))
                    })
                    .upgrade(upgrade::Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kad_config.set_max_packet_size(MAX_RECORD + 64 * 1024);
            kad_config.set_query_timeout(KAD_QUERY_TIMEOUT);
            kad_config
                .set_replication_factor(std::num::NonZeroUsize::new(KAD_K).unwrap_or(kad::K_VALUE));
            kad_config.set_parallelism(
                std::num::NonZeroUsize::new(KAD_ALPHA).unwrap_or(kad::ALPHA_VALUE),
            );
            kad_config.set_record_ttl(Some(KAD_RECORD_TTL));
            kad_config.set_replication_interval(Some(KAD_REPLICATION));
            kad_config.set_publication_interval(Some(KAD_PUBLICATION));
            // Refreshing the routing table is asked for by the node while it
            // has peers (`Network::refresh`); libp2p's own timer would also
            // run, and warn, on a lone node.
            kad_config.set_periodic_bootstrap_interval(None);
            // Records and provider announcements from other peers reach
            // the store through `on_kad`, which keeps only nicknames and
            // aliases signed for their keys.
            kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
            let store = kad::store::MemoryStore::with_config(
                peer_id,
                kad::store::MemoryStoreConfig {
                    max_records: MAX_RECORDS,
                    max_value_bytes: MAX_RECORD,
                    max_provided_keys: 1 << 20,
                    ..Default::default()
                },
            );
            let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
            // Serve the DHT even before AutoNAT has decided we are public:
            // a LAN or a loopback test has no public address at all.
            kad.set_mode(Some(kad::Mode::Server));
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            } else {
                None
            };
            Ok(Behaviour {
                identify: identify::Behaviour::new(
                    identify::Config::new("/cairn/1".into(), key.public())
                        .with_agent_version(format!("cairn/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new()),
                kad,
                autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
                mdns: Toggle::from(mdns),
                shards: request_response::Behaviour::with_codec(
                    ShardCodec,
                    // The newest first: a peer is asked in the first one
                    // it knows.
                    [
                        (StreamProtocol::new(PROTOCOL), ProtocolSupport::Full),
                        (StreamProtocol::new(PROTOCOL_V3), ProtocolSupport::Full),
                        (StreamProtocol::new(PROTOCOL_V2), ProtocolSupport::Full),
                    ],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(256),
                ),
                lanes: request_response::Behaviour::with_codec(
                    LaneCodec,
                    [(StreamProtocol::new(LANE_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(request_timeout),
                ),
                messages: request_response::Behaviour::with_codec(
                    MessageCodec,
                    [(StreamProtocol::new(MESSAGE_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(request_timeout),
                ),
                gossip: gossip_behaviour(key)?,
            })
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok(swarm)
}

/// Gossipsub for group messages: every message signed by its publisher
/// and checked (strict validation), published to every peer known to be
/// subscribed (flood publishing: a small group hears it at once), and
/// large enough for a message's longest text sealed.
fn gossip_behaviour(
    key: &identity::Keypair,
) -> std::result::Result<gossipsub::Behaviour, BoxError> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .flood_publish(true)
        .heartbeat_interval(Duration::from_millis(500))
        .max_transmit_size(crate::messages::MAX_MESSAGE)
        .build()
        .map_err(|e| -> BoxError { e.to_string().into() })?;
    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| -> BoxError { e.into() })
}

impl Driver {
    /// Polls the swarm and serves commands until [`Network::stop`] or
    /// until every handle is dropped; then stops the network's tasks.
    pub async fn run(mut self) {
        self.serve_lanes();
        for addr in std::mem::take(&mut self.bootstrap) {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(c) => self.on_command(c),
                },
            }
        }
        self.tasks.stop();
        tracing::debug!("network driver stopped");
    }

    /// Starts the lane listener's task, or goes without lanes.
    fn serve_lanes(&mut self) {
        let (Some(server), Some(listener)) = (self.lane_server.clone(), self.lane_listener.take())
        else {
            return;
        };
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => {
                let tasks = self.tasks.clone();
                self.tasks
                    .spawn("lane-listener", server.run(listener, tasks));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot serve lanes");
                self.lane_server = None;
            }
        }
    }

    /// Carries out one command from a [`Network`] handle.
    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial(addr, tx) => self.dial(addr, tx),
            Command::Request(peer, request, tx) => self.send_request(peer, request, tx),
            Command::LaneOffer(peer, offer, tx) => self.offer_lane(peer, offer, tx),
            Command::PeerIp(peer, tx) => {
                let _ = tx.send(self.peer_ip(&peer));
            }
            Command::Respond(channel, response) => self.respond(channel, response),
            Command::Message(peer, envelope, tx) => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .messages
                    .send_request(&peer, envelope);
                self.pending.messages.insert(id, tx);
            }
            Command::AnswerMessage(channel, answer) => {
                if self
                    .swarm
                    .behaviour_mut()
                    .messages
                    .send_response(channel, answer)
                    .is_err()
                {
                    tracing::debug!("a peer left before the answer to its message");
                }
            }
            Command::Peers(tx) => {
                let _ = tx.send(self.peer_list());
            }
            Command::ListenAddrs(tx) => {
                let _ = tx.send(self.swarm.listeners().cloned().collect());
            }
            Command::PutRecord(key, value, ttl, tx) => self.put_record(key, value, ttl, tx),
            Command::GetRecord(key, tx) => self.get_record(key, tx),
            Command::GetRecords(key, tx) => {
                let id = self.kad().get_record(RecordKey::new(&key));
                self.pending.gets_all.insert(id, (key, Vec::new(), tx));
            }
            Command::Provide(key, tx) => self.provide(key, tx),
            Command::Providers(key, tx) => self.find_providers(key, tx),
            Command::Closest(key, tx) => self.find_closest(key, tx),
            Command::NatStatus(tx) => {
                let _ = tx.send(describe_nat(self.swarm.behaviour().autonat.nat_status()));
            }
            Command::LocalRecords(tx) => {
                let _ = tx.send(self.local_records());
            }
            Command::Subscribe(topic, tx) => {
                let topic = gossipsub::IdentTopic::new(topic);
                let done = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .subscribe(&topic)
                    .map(|_| ())
                    .map_err(|e| NetError::Request(format!("cannot subscribe: {e}")));
                let _ = tx.send(done);
            }
            Command::Unsubscribe(topic) => {
                let topic = gossipsub::IdentTopic::new(topic);
                self.swarm.behaviour_mut().gossip.unsubscribe(&topic);
            }
            Command::Publish(topic, data, tx) => {
                let topic = gossipsub::IdentTopic::new(topic);
                let hash = topic.hash();
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                let heard = gossip
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .count();
                let done = match gossip.publish(topic, data) {
                    Ok(_) => {
                        self.traffic.gossip(true);
                        Ok(heard)
                    }
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(0),
                    Err(e) => Err(NetError::Request(format!("cannot publish: {e}"))),
                };
                let _ = tx.send(done);
            }
            Command::Refresh => self.refresh(),
            Command::Stop => {}
        }
    }

    /// Kademlia, which most commands ask.
    fn kad(&mut self) -> &mut kad::Behaviour<kad::store::MemoryStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    /// Dials `addr`; `tx` learns whether a connection came of it.
    fn dial(&mut self, addr: Multiaddr, tx: oneshot::Sender<Result<()>>) {
        let opts = libp2p::swarm::dial_opts::DialOpts::from(addr.clone());
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending.dials.insert(id, tx);
            }
            Err(e) => {
                let _ = tx.send(Err(NetError::Dial(addr.to_string(), e.to_string())));
            }
        }
    }

    /// Sends a shard request over libp2p; `tx` gets its answer.
    fn send_request(
        &mut self,
        peer: PeerId,
        request: Request,
        tx: oneshot::Sender<Result<Response>>,
    ) {
        let shards = &mut self.swarm.behaviour_mut().shards;
        let id = shards.send_request(&peer, request);
        self.pending.requests.insert(id, tx);
    }

    /// Offers `peer` a lane; `tx` gets its answer.
    fn offer_lane(&mut self, peer: PeerId, offer: Offer, tx: oneshot::Sender<Result<Accept>>) {
        let id = self.swarm.behaviour_mut().lanes.send_request(&peer, offer);
        self.pending.offers.insert(id, tx);
    }

    /// The IP address we reach `peer` on, if we are connected to it.
    fn peer_ip(&self, peer: &PeerId) -> Option<IpAddr> {
        self.peers
            .get(peer)
            .and_then(|p| p.addresses.iter().find_map(ip_of))
    }

    /// Sends the node's answer to an inbound shard request.
    fn respond(&mut self, channel: ResponseChannel<Response>, response: Response) {
        let shards = &mut self.swarm.behaviour_mut().shards;
        if shards.send_response(channel, response).is_err() {
            tracing::debug!("a peer left before its answer");
        }
    }

    /// The connected peers, by id.
    fn peer_list(&self) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = self.peers.values().cloned().collect();
        peers.sort_by_key(|p| p.peer_id);
        peers
    }

    /// Stores a record in the DHT, expiring after `ttl`.
    fn put_record(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        ttl: Option<Duration>,
        tx: oneshot::Sender<Result<()>>,
    ) {
        self.note_stored(&key);
        let mut record = Record::new(RecordKey::new(&key), value);
        record.expires = ttl.map(|t| Instant::now() + t);
        let started = self.kad().put_record(record, kad::Quorum::One);
        track_query(&mut self.pending.puts, started, tx);
    }

    /// Looks `key` up in the DHT; `on_kad` answers `tx`.
    fn get_record(&mut self, key: Vec<u8>, tx: ValueSender) {
        let id = self.kad().get_record(RecordKey::new(&key));
        self.pending.gets.insert(id, (key, tx));
    }

    /// Announces this node as a provider of `key`.
    fn provide(&mut self, key: Vec<u8>, tx: oneshot::Sender<Result<()>>) {
        let started = self.kad().start_providing(RecordKey::new(&key));
        track_query(&mut self.pending.provides, started, tx);
    }

    /// Looks for the providers of `key`; `on_kad` gathers them for `tx`.
    fn find_providers(&mut self, key: Vec<u8>, tx: PeersReply) {
        let id = self.kad().get_providers(RecordKey::new(&key));
        self.pending.providers.insert(id, (Vec::new(), tx));
    }

    /// Looks for the peers closest to `key`.
    fn find_closest(&mut self, key: Vec<u8>, tx: PeersReply) {
        let id = self.kad().get_closest_peers(key);
        self.pending.closest.insert(id, tx);
    }

    /// Refreshes the routing table, when there is anyone to ask.
    fn refresh(&mut self) {
        if !self.peers.is_empty() {
            let _ = self.kad().bootstrap();
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let Some(tx) = self.pending.dials.remove(&connection_id) {
                    let _ = tx.send(Ok(()));
                }
                self.traffic.opened(connection_id, peer_id, &endpoint);
                let addr = endpoint.get_remote_address().clone();
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                    if self.peers.is_empty() {
                        // First contact: look ourselves up, which fills
                        // the routing table with the peers around us.
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
                let info = self.peers.entry(peer_id).or_insert_with(|| PeerInfo {
                    peer_id,
                    addresses: Vec::new(),
                    agent: None,
                    protocols: Vec::new(),
                    rtt_ms: None,
                    connections: 0,
                });
                info.connections += 1;
                if !info.addresses.contains(&addr) {
                    info.addresses.push(addr);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.traffic.closed(connection_id, num_established == 0);
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                } else if let Some(info) = self.peers.get_mut(&peer_id) {
                    info.connections = num_established;
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(tx) = self.pending.dials.remove(&connection_id) {
                    let _ = tx.send(Err(NetError::Dial(String::new(), error.to_string())));
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Shards(e) => self.on_shards(e),
            BehaviourEvent::Lanes(e) => self.on_lanes(e),
            BehaviourEvent::Messages(e) => self.on_messages(e),
            BehaviourEvent::Kad(e) => self.on_kad(e),
            BehaviourEvent::Gossip(gossipsub::Event::Message { message, .. }) => {
                self.traffic.gossip(false);
                let got = GossipMessage {
                    topic: message.topic.to_string(),
                    source: message.source,
                    data: message.data,
                };
                if self.gossip.try_send(got).is_err() {
                    tracing::debug!("a group message dropped: the node reads too slowly");
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.traffic.observed(peer_id, info.observed_addr.clone());
                for addr in &info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.agent = Some(info.agent_version);
                    p.protocols = info.protocols.iter().map(ToString::to_string).collect();
                }
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.peers.contains_key(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_shards(&mut self, event: request_response::Event<Request, Response>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let flight = self
                    .traffic
                    .start(peer, false, PROTOCOL, What::request(&request));
                let (reply, answer) = oneshot::channel();
                let inbound = Inbound {
                    peer,
                    request,
                    reply,
                };
                if self.inbound.try_send(inbound).is_err() {
                    tracing::warn!(%peer, "too many shard requests queued; refusing one");
                    flight.failed();
                    return;
                }
                self.spawn_answer("shard-answer", answer, channel, Command::Respond, flight);
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => settle(&mut self.pending.requests, request_id, Ok(response)),
            Event::OutboundFailure {
                request_id, error, ..
            } => settle(&mut self.pending.requests, request_id, Err(error)),
            Event::InboundFailure { peer, error, .. } => {
                self.traffic.inbound_failed(PROTOCOL);
                tracing::debug!(%peer, %error, "inbound shard request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_messages(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let flight =
                    self.traffic
                        .start(peer, false, MESSAGE_PROTOCOL, What::message(request.len()));
                let (reply, answer) = oneshot::channel();
                let inbound = InboundMessage {
                    peer,
                    body: request,
                    reply,
                };
                if self.messages.try_send(inbound).is_err() {
                    tracing::warn!(%peer, "too many messages queued; refusing one");
                    flight.failed();
                    return;
                }
                self.spawn_answer(
                    "message-answer",
                    answer,
                    channel,
                    Command::AnswerMessage,
                    flight,
                );
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => settle(&mut self.pending.messages, request_id, Ok(response)),
            Event::OutboundFailure {
                request_id, error, ..
            } => settle(&mut self.pending.messages, request_id, Err(error)),
            Event::InboundFailure { peer, error, .. } => {
                self.traffic.inbound_failed(MESSAGE_PROTOCOL);
                tracing::debug!(%peer, %error, "inbound message failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// Waits for the node's answer to an inbound request (a shard request
    /// or a message) and hands it to the swarm as `command`; the driver
    /// never waits for it itself. The request's flight ends with it.
    fn spawn_answer<T: Send + 'static>(
        &self,
        name: &'static str,
        answer: oneshot::Receiver<T>,
        channel: ResponseChannel<T>,
        command: fn(ResponseChannel<T>, T) -> Command,
        flight: FlightGuard,
    ) {
        let handle = self.handle.clone();
        self.tasks.spawn(name, async move {
            match answer.await {
                Ok(response) => {
                    let _ = handle.send(command(channel, response)).await;
                }
                Err(_) => flight.failed(),
            }
            drop(flight);
        });
    }

    /// Notes that record `key` was stored now.
    fn note_stored(&mut self, key: &[u8]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.stored.len() > 2 * MAX_RECORDS && !self.stored.contains_key(key) {
            self.prune_stored();
        }
        let times = self.stored.entry(key.to_vec()).or_insert((now, now));
        times.1 = now;
    }

    /// Forgets the times of records the store no longer holds.
    fn prune_stored(&mut self) {
        let held: std::collections::HashSet<Vec<u8>> = self
            .kad()
            .store_mut()
            .records()
            .map(|r| r.key.to_vec())
            .collect();
        self.stored.retain(|k, _| held.contains(k));
    }

    /// The records the local store holds now.
    fn local_records(&mut self) -> Vec<LocalRecord> {
        self.prune_stored();
        let now = Instant::now();
        let records: Vec<Record> = self
            .kad()
            .store_mut()
            .records()
            .map(|r| r.into_owned())
            .collect();
        let mut list: Vec<LocalRecord> = records
            .into_iter()
            .map(|r| {
                let key = r.key.to_vec();
                let times = self.stored.get(&key).copied();
                LocalRecord {
                    key: match String::from_utf8(key.clone()) {
                        Ok(text) => text,
                        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
                    },
                    size: r.value.len(),
                    value: r.value,
                    publisher: r.publisher.map(|p| p.to_string()),
                    expires_in_secs: r
                        .expires
                        .map(|e| e.saturating_duration_since(now).as_secs()),
                    first_stored: times.map(|t| t.0),
                    last_stored: times.map(|t| t.1),
                }
            })
            .collect();
        list.sort_by(|a, b| a.key.cmp(&b.key));
        list
    }

    fn on_lanes(&mut self, event: request_response::Event<Offer, Accept>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let accept = match &self.lane_server {
                    Some(server) => server.accept(peer, &request),
                    None => Accept::Refused,
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .lanes
                    .send_response(channel, accept);
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => settle(&mut self.pending.offers, request_id, Ok(response)),
            Event::OutboundFailure {
                request_id, error, ..
            } => settle(&mut self.pending.offers, request_id, Err(error)),
            Event::InboundFailure { .. } | Event::ResponseSent { .. } => {}
        }
    }

    /// Stores what another peer asks us to keep, when it may be kept
    /// ([`crate::records::acceptable`]).
    fn on_kad_inbound(&mut self, request: kad::InboundRequest) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        match request {
            kad::InboundRequest::PutRecord {
                source,
                record: Some(record),
                ..
            } => {
                if !crate::records::acceptable(record.key.as_ref(), &record.value) {
                    tracing::debug!(peer = %source, "refused an unsigned or forged DHT record");
                    return;
                }
                let key = record.key.to_vec();
                match kad.store_mut().put(record) {
                    Ok(()) => self.note_stored(&key),
                    Err(e) => {
                        tracing::debug!(peer = %source, error = %e, "DHT record not stored")
                    }
                }
            }
            kad::InboundRequest::AddProvider {
                record: Some(provider),
            } => {
                if let Err(e) = kad.store_mut().add_provider(provider) {
                    tracing::debug!(error = %e, "provider record not stored");
                }
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        if let kad::Event::RoutingUpdated {
            peer, addresses, ..
        } = &event
        {
            // A small network wants everyone connected: suppliers are
            // chosen among connected peers.
            if !self.peers.contains_key(peer)
                && self.peers.len() < WANTED_PEERS
                && *peer != *self.swarm.local_peer_id()
            {
                let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                    .addresses(addresses.iter().cloned().collect())
                    .build();
                let _ = self.swarm.dial(opts);
            }
            return;
        }
        if let kad::Event::InboundRequest { request } = event {
            self.on_kad_inbound(request);
            return;
        }
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        let pending = &mut self.pending;
        match result {
            QueryResult::PutRecord(r) => {
                if let Some(tx) = pending.puts.remove(&id) {
                    let _ = tx.send(r.map(|_| ()).map_err(|e| NetError::Dht(e.to_string())));
                }
            }
            QueryResult::GetRecord(r) if pending.gets_all.contains_key(&id) => {
                let Some((key, found, _)) = pending.gets_all.get_mut(&id) else {
                    return;
                };
                let error = match r {
                    Ok(kad::GetRecordOk::FoundRecord(record)) => {
                        let value = record.record.value;
                        if crate::records::acceptable(key, &value) && !found.contains(&value) {
                            found.push(value);
                        }
                        None
                    }
                    Ok(_) | Err(kad::GetRecordError::NotFound { .. }) => None,
                    Err(e) => Some(NetError::Dht(e.to_string())),
                };
                if step.last
                    && let Some((_, found, tx)) = pending.gets_all.remove(&id)
                {
                    let _ = tx.send(match error {
                        Some(e) if found.is_empty() => Err(e),
                        _ => Ok(found),
                    });
                }
            }
            QueryResult::GetRecord(r) => {
                let Some((key, _)) = pending.gets.get(&id) else {
                    return;
                };
                // A value that does not verify for its key (a forged alias
                // or nickname some peer still holds) is passed over: the
                // query goes on to the other peers' copies.
                let answer = match r {
                    Ok(kad::GetRecordOk::FoundRecord(found)) => {
                        if crate::records::acceptable(key, &found.record.value) {
                            Ok(Some(found.record.value))
                        } else if step.last {
                            Ok(None)
                        } else {
                            return;
                        }
                    }
                    Ok(_) | Err(kad::GetRecordError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(NetError::Dht(e.to_string())),
                };
                if let Some((_, tx)) = pending.gets.remove(&id) {
                    let _ = tx.send(answer);
                }
                if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                    q.finish();
                }
            }
            QueryResult::StartProviding(r) => {
                if let Some(tx) = pending.provides.remove(&id) {
                    let _ = tx.send(r.map(|_| ()).map_err(|e| NetError::Dht(e.to_string())));
                }
            }
            QueryResult::GetProviders(r) => {
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r
                    && let Some((found, _)) = pending.providers.get_mut(&id)
                {
                    found.extend(providers);
                }
                if step.last
                    && let Some((mut found, tx)) = pending.providers.remove(&id)
                {
                    found.sort();
                    found.dedup();
                    let _ = tx.send(Ok(found));
                }
            }
            QueryResult::GetClosestPeers(r) => {
                if let Some(tx) = pending.closest.remove(&id) {
                    let peers = match r {
                        Ok(ok) => ok.peers.into_iter().map(|p| p.peer_id).collect(),
                        Err(kad::GetClosestPeersError::Timeout { peers, .. }) => {
                            peers.into_iter().map(|p| p.peer_id).collect()
                        }
                    };
                    let _ = tx.send(Ok(peers));
                }
            }
            _ => {}
        }
    }
}
