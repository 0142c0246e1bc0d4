//! The node's configuration: one TOML file, optional, every field with a
//! default that makes `cairn node` work with no file at all.
//!
//! Precedence, lowest first: defaults, `<data dir>/config.toml`, the
//! `CAIRN_LISTEN` environment variable, command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NodeError;

/// The port BitDust's clients look for, and cairn's default.
pub const DEFAULT_PORT: u16 = 8180;

/// Everything a node can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP API. Loopback by default: exposing the node is a
    /// decision the operator makes here.
    pub listen: SocketAddr,
    /// Folders under which local paths may be imported (by the admin, and
    /// by local users through cacaoweb: those only files they may read).
    /// A path is resolved without following a symlink out of them, and
    /// what was opened is checked, never a name. Default: the home folder
    /// of the user the node runs as (not the temp folder: anyone can write
    /// there, and plant links).
    pub import_roots: Vec<PathBuf>,
    /// Storage capacity reported by status, in bytes. Default: the bytes
    /// used plus the free space of the data dir's filesystem.
    pub capacity: Option<u64>,
    /// Largest file accepted over HTTP, in bytes (default 64 GiB).
    pub max_upload_bytes: u64,
    /// Compute md5, sha1 and sha256 aliases of every new blob (in a
    /// background job after the upload). Default true.
    pub legacy_digests: bool,
    /// Finished jobs kept in memory for the jobs list (default 200).
    pub jobs_kept: usize,
    /// Log filter in `tracing` syntax (default "info"); `RUST_LOG` wins.
    pub log: String,
    /// The file-hosting gateway: what transfer bytes cost, promo codes.
    pub gateway: GatewayConfig,
    /// Fetching files from remote URLs.
    pub remote: RemoteConfig,
    /// Extra listeners, each serving one compatibility layer alone.
    pub layers: LayersConfig,
    /// Openload's API: download tickets, links, upload URLs.
    pub openload: OpenloadConfig,
    /// The peer-to-peer network.
    pub network: NetworkConfig,
    /// Every HTTP listener's connections (the API's and the layers').
    pub http: HttpConfig,
    /// Prometheus metrics on a listener of their own, without the secret.
    pub metrics: MetricsConfig,
    /// The threads and memory that serve reads.
    pub read: ReadConfig,
    /// Streaming media: encoders, HLS segments and their cache.
    pub media: MediaConfig,
    /// Torrents: the BitTorrent session inside the node.
    pub torrents: TorrentsConfig,
    /// BitDust's API.
    pub bitdust: BitDustConfig,
    /// The S3-compatible API (rclone, aws-cli, S3 SDKs).
    pub s3: S3Config,
}

/// The S3-compatible API, on a listener of its own (path-style requests,
/// SigV4 with the keys `cairn account s3-key` prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Serve it (default false).
    pub enabled: bool,
    /// Where (default 127.0.0.1:8190); its address goes to
    /// `<data dir>/s3.addr`.
    pub listen: SocketAddr,
}

/// The S3 API's default address.
pub const S3_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8190);

impl Default for S3Config {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: S3_ADDR,
        }
    }
}

/// BitDust's API (its REST routes on the main listener, its WebSocket on
/// `[layers] bitdust`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BitDustConfig {
    /// Where to write the node's API secret at each start, for BitDust's
    /// clients (its command-line client reads `~/.bitdust/apisecret`; a
    /// leading `~/` is the home folder). Default none.
    pub secret_file: Option<PathBuf>,
}

/// The BitTorrent session inside the node (librqbit).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TorrentsConfig {
    /// Run the session (default true).
    pub enabled: bool,
    /// Where it takes peers' connections (default 0.0.0.0:0: any free
    /// port; give a fixed one to open in a firewall).
    pub listen: SocketAddr,
    /// Find peers through the DHT (default true).
    pub dht: bool,
    /// Ask the torrents' trackers for peers (default true).
    pub trackers: bool,
    /// Find peers on the LAN, BEP 14 (default true).
    pub local_discovery: bool,
    /// Readers of torrents' files at once (default 16); past it a read is
    /// refused with 503. librqbit's own limit is set 8 above, so streams
    /// never starve its disk writes.
    pub streams: usize,
    /// Bytes per second down, 0 for no limit (else at least 16384).
    pub download_bps: u32,
    /// Bytes per second up, 0 for no limit (else at least 16384).
    pub upload_bps: u32,
    /// Keep sharing a torrent once its files are imported (default true);
    /// false pauses it then.
    pub seed: bool,
    /// Import finished torrents' files into the store (default true).
    pub import: bool,
    /// The top-level folder finished torrents are imported into (default
    /// "Torrents").
    pub folder: String,
}

impl Default for TorrentsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            dht: true,
            trackers: true,
            local_discovery: true,
            streams: 16,
            download_bps: 0,
            upload_bps: 0,
            seed: true,
            import: true,
            folder: "Torrents".into(),
        }
    }
}

/// Streaming media: the ffmpeg processes that remux and transcode, and
/// the HLS segments they make.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// ffmpeg processes that stream or make HLS segments at once, for all
    /// clients (default 0: one per core, at least 2). When all are busy,
    /// a head nobody waits for is stopped for a new request; else the
    /// request is refused with 503.
    pub encoders: usize,
    /// MiB of HLS segments kept under `<data dir>/media-cache/`, least
    /// recently used dropped first (default 1024). Emptied at start.
    pub cache_mib: u64,
    /// Shortest HLS segment, in seconds (default 4): segments start on
    /// the source's key frames at least this far apart.
    pub segment_secs: f64,
    /// HLS segments made ahead of the last one a player asked for
    /// (default 3).
    pub prefetch: usize,
    /// Seconds after which an HLS encoder nobody asked anything of is
    /// killed (default 3). A progressive stream's encoder is killed as
    /// soon as its client goes.
    pub idle_secs: u64,
}

impl MediaConfig {
    /// The encoders to allow: `encoders`, or one per core (at least 2).
    pub(crate) fn encoder_count(&self) -> usize {
        match self.encoders {
            0 => cores().max(2),
            n => n,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            encoders: 0,
            cache_mib: 1024,
            segment_secs: 4.0,
            prefetch: 3,
            idle_secs: 3,
        }
    }
}

/// The threads and memory that serve reads: downloads and streams, and the
/// catalog's look-ups (status, listings).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadConfig {
    /// Threads that read, decrypt and verify segments for every stream
    /// (default 0: two per core). A stream holds one only while a segment
    /// is worked on, never while its client is slow.
    pub workers: usize,
    /// MiB of segment buffers all streams share (default 64, at least one
    /// 1 MiB segment): the memory downloads take, whatever the number of
    /// clients. Each stream's next segment waits for a free buffer, a new
    /// stream's first one first.
    pub buffer_mib: u64,
    /// Threads, each with its own read-only catalog connection, that
    /// answer status, listings and look-ups (default 0: two per core, at
    /// least 4); they never wait behind writes or streams.
    pub lookups: usize,
}

impl ReadConfig {
    /// The read workers to start: `workers`, or two per core.
    pub(crate) fn worker_threads(&self) -> usize {
        match self.workers {
            0 => 2 * cores(),
            n => n,
        }
    }

    /// The look-up threads to start: `lookups`, or two per core (at
    /// least 4).
    pub(crate) fn lookup_threads(&self) -> usize {
        match self.lookups {
            0 => (2 * cores()).max(4),
            n => n,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for ReadConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            buffer_mib: 64,
            lookups: 0,
        }
    }
}

/// How every HTTP listener treats its connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds a connection may go without sending a complete request
    /// head before it is closed: a client that connects and sends nothing,
    /// one slow to send its headers, or a keep-alive connection left idle
    /// (default 30; 0 never closes them).
    pub idle_timeout_secs: u64,
    /// Seconds a request may wait on its client with no progress (a
    /// response it takes nothing of, a body it sends nothing of) before
    /// the connection is closed, so a client that stopped reading gives
    /// its buffers back and one that stopped sending its upload's thread
    /// (default 60, as nginx's `send_timeout` and `client_body_timeout`;
    /// 0: never).
    pub send_timeout_secs: u64,
    /// Connections one listener keeps open at once (default 16384). At
    /// the limit the connection idle longest is closed to make room for a
    /// new one; when all are busy the new one is closed as soon as it is
    /// accepted, so the node never runs out of file descriptors for the
    /// ones it serves.
    pub max_connections: usize,
    /// Connections one client address may keep open on one listener
    /// (default 4096; at the limit, as above, among its own).
    pub max_connections_per_ip: usize,
    /// The listen backlog: connections the kernel queues before they are
    /// accepted (default 4096; the kernel caps it at `somaxconn`).
    pub backlog: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30,
            send_timeout_secs: 60,
            max_connections: 16384,
            max_connections_per_ip: 4096,
            backlog: 4096,
        }
    }
}

/// Prometheus metrics (`/metrics`). The main listener always serves them
/// to the admin secret; this listener serves them to anyone who can
/// connect, so it is off by default and on loopback unless told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of a listener serving `/metrics` without the secret (e.g.
    /// `127.0.0.1:9190`; default none). Its bound address goes to
    /// `<data dir>/metrics.addr`.
    pub listen: Option<SocketAddr>,
    /// Allow `listen` on an address that is not loopback (default false:
    /// a start with one is refused), for a Prometheus on another host
    /// behind a firewall of the operator's.
    pub allow_remote: bool,
}

impl MetricsConfig {
    /// Refuses a listener off loopback unless `allow_remote` says so.
    pub fn check(&self) -> Result<(), String> {
        match self.listen {
            Some(addr) if !addr.ip().is_loopback() && !self.allow_remote => Err(format!(
                "[metrics] listen = \"{addr}\" is not loopback: anyone who reaches it reads the metrics \
                 without the secret; set allow_remote = true to mean it"
            )),
            _ => Ok(()),
        }
    }
}

/// Openload's API (`/1/...`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenloadConfig {
    /// Seconds a client must wait between `file/dlticket` and `file/dl`,
    /// reported as `wait_time` (default 0: cairn shows no captcha and makes
    /// nobody wait).
    pub wait_secs: u64,
    /// Seconds a download ticket stays valid (default 900, as Openload's).
    pub ticket_secs: u64,
    /// Seconds a download link from `file/dl` stays valid (default 6 h).
    pub link_secs: u64,
    /// Seconds an upload URL from `file/ul` stays valid (default 6 h).
    pub upload_url_secs: u64,
    /// Let `file/ul` without login and key upload into the top-level
    /// folder `Openload` (owned by nobody, no quota). Default true, as
    /// Openload allowed; a public node may turn it off.
    pub anonymous_uploads: bool,
    /// Seconds an address paired on the node's pairing page may use
    /// `streaming/get` (default 4 h, as Openload's pairing lasted).
    pub pair_secs: u64,
}

impl Default for OpenloadConfig {
    fn default() -> Self {
        Self {
            wait_secs: 0,
            ticket_secs: 900,
            link_secs: 6 * 3600,
            upload_url_secs: 6 * 3600,
            anonymous_uploads: true,
            pair_secs: 4 * 3600,
        }
    }
}

/// The peer-to-peer network: how this node meets others, what it donates,
/// how it spreads its own files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Join the network at all (default true).
    pub enabled: bool,
    /// libp2p addresses to listen on (default `/ip4/0.0.0.0/tcp/4002`).
    pub listen: Vec<String>,
    /// Peers to dial at start, as `/ip4/…/tcp/…/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Find peers on the LAN with mDNS (default true).
    pub mdns: bool,
    /// Erasure coding of this node's files: "auto" (4+2 with six or more
    /// peers, 2+1 with three, 1+1 with two, else a local copy only) or
    /// "k+m".
    pub ecc: String,
    /// Bytes of disk donated to customers' shards (default 10 GiB).
    pub donated: u64,
    /// Most bytes of the donated space one customer may take, friend or
    /// stranger (default: no limit of its own): a peer that writes more is
    /// refused, and owners asking for room are told what is left within
    /// it.
    pub customer_quota: Option<u64>,
    /// Peer ids admitted as customers up to `customer_quota` (without one,
    /// the whole donated space), outside every limit on strangers; the
    /// space promised to them is never given to strangers (default none).
    pub friends: Vec<String>,
    /// Admit strangers (peers not in `friends`) as customers at all
    /// (default true); false makes a private node that keeps shards for
    /// its friends only.
    pub strangers: bool,
    /// Strangers that may hold shards here at once (default 16); one
    /// holding nothing any more leaves its place. A stranger holding our
    /// shards (our supplier) is admitted anyway.
    pub strangers_max: u64,
    /// New strangers admitted in any hour (default 8), counted across
    /// restarts: fresh identities cannot come in faster.
    pub strangers_per_hour: u64,
    /// Bytes each stranger may keep (default 512 MiB), plus as many as it
    /// holds for this node as our supplier, never more than
    /// `customer_quota`.
    pub stranger_quota: u64,
    /// Seconds a customer's unsealed shard may sit unwritten before it is
    /// removed and its space given back (default 3600).
    pub part_idle_secs: u64,
    /// Seconds a shard request may take (default 30).
    pub request_timeout_secs: u64,
    /// Move shard bytes over lanes: TCP connections of their own, sealed
    /// with keys agreed over libp2p, faster than libp2p's streams
    /// (default true). Peers that cannot reach our lane port are served
    /// over libp2p.
    pub lanes: bool,
    /// The TCP port lanes listen on, on the IP of the first `listen`
    /// address (default 0: any free port, told to peers as they ask).
    /// Set one to let it through a firewall.
    pub lane_port: u16,
    /// Publish each placed file's record (manifest and placement) in the
    /// DHT so other nodes can read it by id (default true).
    pub publish: bool,
    /// Keep the local copy of a file once it is placed on suppliers
    /// (default true); false frees the space and reads come from the
    /// suppliers.
    pub keep_local: bool,
    /// Place a new file on suppliers while it is still being stored,
    /// rather than once it is (default true): an upload is safe on the
    /// network sooner. Suppliers must speak shard protocol version 4;
    /// otherwise, or if anything goes wrong, the file is placed once
    /// stored, as with false.
    pub place_while_storing: bool,
    /// Seconds between audit rounds over every placed file (default 600).
    pub check_secs: u64,
    /// Seconds a supplier may stay unreachable before its shards are
    /// rebuilt on another node (default 3600).
    pub offline_grace_secs: u64,
    /// Seconds between republications of placed files' DHT records
    /// (default 3600; records expire after 36 hours).
    pub republish_secs: u64,
    /// Back the catalog up to the suppliers (encrypted, versioned) at
    /// most this often, when it changed (default 600; 0: never). A node
    /// recovered from its identity's backup file finds it there.
    pub backup_secs: u64,
    /// How long a node recovered from a backup file waits at its first
    /// start for the network to give its catalog back (default 120 s).
    pub restore_wait_secs: u64,
    /// A name others can find this node by (`cairn net nick <name>`);
    /// published in the DHT with the records.
    pub nickname: Option<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec!["/ip4/0.0.0.0/tcp/4002".into()],
            bootstrap: Vec::new(),
            mdns: true,
            ecc: "auto".into(),
            donated: 10 << 30,
            customer_quota: None,
            friends: Vec::new(),
            strangers: true,
            strangers_max: 16,
            strangers_per_hour: 8,
            stranger_quota: 512 << 20,
            part_idle_secs: 3600,
            request_timeout_secs: 30,
            lanes: true,
            lane_port: 0,
            publish: true,
            keep_local: true,
            place_while_storing: true,
            check_secs: 600,
            offline_grace_secs: 3600,
            republish_secs: 3600,
            backup_secs: 600,
            restore_wait_secs: 120,
            nickname: None,
        }
    }
}

/// Extra listeners for the compatibility layers. Every layer is also served
/// on the main listener; these give one layer an address of its own, as its
/// clients expect. An empty list turns a layer's own listener off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayersConfig {
    /// cacaoweb's local API (default `127.0.0.1:4001`, where its players
    /// and pages look). On its own loopback listener, callers on this
    /// machine act as the operator, as with cacaoweb, except that calls
    /// changing state from a web page of another site are refused.
    pub cacaoweb: Vec<SocketAddr>,
    /// Openload's API (`/1/...`), default none.
    pub openload: Vec<SocketAddr>,
    /// MetaDisk's API, default none.
    pub metadisk: Vec<SocketAddr>,
    /// Powder Web's API (default `127.0.0.1:3000`, Powder's port).
    pub powder: Vec<SocketAddr>,
    /// BitDust's WebSocket API (default `127.0.0.1:8280`, BitDust's
    /// port); its REST API is on the main listener.
    pub bitdust: Vec<SocketAddr>,
}

/// Where BitDust's clients look for its WebSocket.
pub const BITDUST_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8280,
));

/// Where Powder Web's clients look for it.
pub const POWDER_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    3000,
));

/// Where cacaoweb's clients look for it.
pub const CACAOWEB_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    4001,
));

impl Default for LayersConfig {
    fn default() -> Self {
        Self {
            cacaoweb: vec![CACAOWEB_ADDR],
            openload: Vec::new(),
            metadisk: Vec::new(),
            powder: vec![POWDER_ADDR],
            bitdust: vec![BITDUST_ADDR],
        }
    }
}

/// Remote URL uploads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteConfig {
    /// Addresses (`127.0.0.1`, `10.0.0.0/8`, `::1/128`) that may be
    /// fetched although they are not globally reachable (loopback, private,
    /// link-local, any special-purpose range of IANA's registries). Empty by
    /// default: a node never fetches from its own network unless told. An
    /// entry that does not parse allows nothing.
    pub allow: Vec<String>,
    /// Seconds to connect (default 20).
    pub connect_timeout_secs: u64,
    /// Seconds without a byte before a fetch fails (default 60).
    pub idle_timeout_secs: u64,
    /// Seconds a whole fetch may take (default 6 h).
    pub total_timeout_secs: u64,
    /// Redirects followed, each checked like the first URL (default 10).
    pub max_redirects: u32,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            connect_timeout_secs: 20,
            idle_timeout_secs: 60,
            total_timeout_secs: 6 * 3600,
            max_redirects: 10,
        }
    }
}

/// The file-hosting gateway's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Byte packages for sale, listed by MetaDisk's `/accounts/token/prices`
    /// (default: the seed's 100 GiB for 500 and 1000 GiB for 5000).
    pub prices: Vec<Price>,
    /// Promo codes tokens may redeem, each once per token.
    pub promocodes: Vec<PromoCode>,
    /// Let MetaDisk uploads and downloads without a token through, free
    /// (as a stock MetaDisk node with its accounts service disabled did).
    /// Default true; a public locker sets it false.
    pub metadisk_anonymous: bool,
    /// Where MetaDisk's CTR counter starts: 1 (the published
    /// file-encryptor, default) or 0 (the live 2014 network).
    pub metadisk_counter_start: u8,
    /// Free preview of a paid file that allows one, in seconds of media
    /// (default 120, cacaoweb's "first few minutes"). Measured with
    /// ffprobe when it is installed and the file is audio or video: the
    /// preview ends at the byte position of the first packet this many
    /// seconds after the first one, or, without packet positions, at
    /// seconds × the container's bit rate. Otherwise `preview_bytes`.
    pub preview_seconds: u64,
    /// Free preview in bytes, when seconds cannot be measured (default
    /// 4 MiB).
    pub preview_bytes: u64,
    /// How long cacaoweb's `/filemetadata` and `/fileinfo` wait for an
    /// unknown file to appear before answering empty, in milliseconds
    /// (default 3000: "returns after a few seconds").
    pub cacaoweb_metadata_wait_ms: u64,
    /// Host names (besides loopback names and IP addresses) that requests
    /// to cacaoweb's own listener may carry in `Host` (default none). Any
    /// other name is refused: a web page whose name was re-pointed at this
    /// machine (DNS rebinding) must not reach the local API.
    pub cacaoweb_hosts: Vec<String>,
    /// Domains cacaoweb's Flash policy `/crossdomain.xml` lets read the
    /// layer (e.g. `["player.example.org"]`; default none: only pages the
    /// node serves itself). `"*"` would let every web site read it, as the
    /// original did.
    pub cacaoweb_crossdomain: Vec<String>,
}

/// A byte package: `amount` transfer bytes for `cost` (in the operator's
/// currency unit; MetaDisk's UIs read it as US cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Transfer bytes.
    pub amount: u64,
    /// What they cost.
    pub cost: u64,
}

/// A promo code and the transfer bytes it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoCode {
    /// The code as users type it.
    pub code: String,
    /// Transfer bytes it gives.
    pub bytes: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            prices: vec![
                Price {
                    amount: 100 << 30,
                    cost: 500,
                },
                Price {
                    amount: 1000 << 30,
                    cost: 5000,
                },
            ],
            promocodes: Vec::new(),
            metadisk_anonymous: true,
            metadisk_counter_start: 1,
            preview_seconds: 120,
            preview_bytes: 4 << 20,
            cacaoweb_metadata_wait_ms: 3000,
            cacaoweb_hosts: Vec::new(),
            cacaoweb_crossdomain: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            import_roots: default_roots(),
            capacity: None,
            max_upload_bytes: 64 << 30,
            legacy_digests: true,
            jobs_kept: 200,
            log: "info".into(),
            gateway: GatewayConfig::default(),
            remote: RemoteConfig::default(),
            layers: LayersConfig::default(),
            openload: OpenloadConfig::default(),
            bitdust: BitDustConfig::default(),
            s3: S3Config::default(),
            network: NetworkConfig::default(),
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
            read: ReadConfig::default(),
            media: MediaConfig::default(),
            torrents: TorrentsConfig::default(),
        }
    }
}

fn default_roots() -> Vec<PathBuf> {
    dirs::home_dir().into_iter().collect()
}

impl Config {
    /// What the types cannot say: the ranges some values must lie in.
    pub fn check(&self) -> Result<(), String> {
        self.metrics.check()?;
        for (what, bps) in [
            ("download_bps", self.torrents.download_bps),
            ("upload_bps", self.torrents.upload_bps),
        ] {
            if bps != 0 && bps < 16384 {
                return Err(format!(
                    "[torrents] {what} = {bps}: 0 (no limit) or at least 16384"
                ));
            }
        }
        let segment = self.media.segment_secs;
        if !(0.5..=60.0).contains(&segment) {
            return Err(format!(
                "[media] segment_secs = {segment}: give seconds from 0.5 to 60"
            ));
        }
        Ok(())
    }

    /// Loads `<data_dir>/config.toml` when it exists, else the defaults;
    /// then applies `CAIRN_LISTEN`. Settings changed at run time apply
    /// over it when the node opens (`crate::settings`).
    pub fn load(data_dir: &Path) -> Result<Self, NodeError> {
        let path = data_dir.join("config.toml");
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| NodeError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => return Err(NodeError::io("read", &path, e)),
        };
        config.check().map_err(|message| NodeError::Config {
            path: path.clone(),
            message,
        })?;
        if let Ok(listen) = std::env::var("CAIRN_LISTEN") {
            config.listen = listen.parse().map_err(|_| NodeError::Config {
                path: "CAIRN_LISTEN".into(),
                message: format!("'{listen}' is not an address like 127.0.0.1:8180"),
            })?;
        }
        Ok(config)
    }
}

/// The data dir: `--data-dir`, else `CAIRN_HOME`, else the platform's data
/// dir (`~/.local/share/cairn` on Linux).
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(home) = std::env::var_os("CAIRN_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cairn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_import_roots_leave_out_the_temp_folder() {
        // Anyone can write there and plant links (issue 15).
        let roots = Config::default().import_roots;
        assert!(
            !roots.iter().any(|r| r == &std::env::temp_dir()),
            "{roots:?}"
        );
        assert_eq!(roots, dirs::home_dir().into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_file_gives_the_defaults_and_unknown_keys_are_refused() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.listen.port(), DEFAULT_PORT);
        assert!(c.listen.ip().is_loopback());
        assert!(toml::from_str::<Config>("listne = \"1.2.3.4:1\"").is_err());
        let c: Config =
            toml::from_str("listen = \"127.0.0.1:9000\"\nimport_roots = [\"/data\"]").unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.import_roots, vec![PathBuf::from("/data")]);
        let c: Config = toml::from_str(
            "[gateway]\nprices = [{ amount = 10, cost = 1 }]\npromocodes = [{ code = \"HI\", bytes = 5 }]",
        )
        .unwrap();
        assert_eq!(
            c.gateway.prices,
            vec![Price {
                amount: 10,
                cost: 1
            }]
        );
        assert_eq!(c.gateway.promocodes[0].bytes, 5);
        assert_eq!(c.layers.cacaoweb, vec![CACAOWEB_ADDR]);
        let c: Config =
            toml::from_str("[layers]\ncacaoweb = []\nopenload = [\"0.0.0.0:80\"]").unwrap();
        assert!(c.layers.cacaoweb.is_empty());
        assert_eq!(c.layers.openload.len(), 1);
    }

    /// `[metrics] listen` serves without the secret: off loopback only
    /// when the file says so.
    #[test]
    fn a_metrics_listener_off_loopback_needs_allow_remote() {
        let parse = |text: &str| toml::from_str::<Config>(text).unwrap().check();
        assert!(parse("").is_ok());
        assert!(parse("[metrics]\nlisten = \"127.0.0.1:9190\"").is_ok());
        assert!(parse("[metrics]\nlisten = \"[::1]:9190\"").is_ok());
        let refused = parse("[metrics]\nlisten = \"0.0.0.0:9190\"").unwrap_err();
        assert!(refused.contains("allow_remote"), "{refused}");
        assert!(parse("[metrics]\nlisten = \"0.0.0.0:9190\"\nallow_remote = true").is_ok());
    }
}
