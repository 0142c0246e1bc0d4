//! cairn's network: a rust-libp2p swarm (TCP, noise, yamux, identify,
//! ping, Kademlia, AutoNAT, mDNS) and cairn's shard protocol.
//!
//! - [`protocol`]: the shard protocol's messages and their strict, bounded
//!   encoding;
//! - `codec`: its request-response codec;
//! - [`records`]: DHT records signed by the peer they name;
//! - [`swarm`]: the driver task that owns the swarm, and [`Network`], the
//!   handle the node calls;
//! - `lane`: lanes, the fast path for shard bytes;
//! - [`messages`]: the message protocol, envelopes between people that
//!   the node seals and opens;
//! - `traffic`: connections, requests and bytes counted where they
//!   happen, the requests in flight, and the addresses peers see us at;
//! - `tasks`: the one spawn helper: every background task of the network
//!   is named, traced, tracked and stopped with it ([`Network::stopped`]).
//!
//! This crate knows nothing of blobs on disk, the catalog or HTTP: inbound
//! shard requests leave on a channel for the node to serve.
#![deny(missing_docs, unreachable_pub)]

mod codec;
mod lane;
pub mod messages;
pub mod protocol;
pub mod records;
pub mod swarm;
mod tasks;
mod traffic;

use std::time::Duration;

pub use lane::{LANE_PROTOCOL, LaneStats};
pub use libp2p::identity::{Keypair, PublicKey, ed25519};
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
pub use swarm::{DhtSettings, Driver, Inbound, LocalRecord, Network, dht_settings};
pub use traffic::{
    ConnectionInfo, Flight, ObservedAddr, PeerTraffic, ProtocolTraffic, TrafficStats,
};

/// How the swarm is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/4002`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (`/ip4/1.2.3.4/tcp/4002/p2p/12D3Koo…`).
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// How long a shard request may take before it fails.
    pub request_timeout: Duration,
    /// Serve and use lanes (`lane.rs`), on this port (0: any free port) of
    /// the first listen address's IP; `None` keeps shard bytes on libp2p.
    pub lanes: Option<u16>,
}

/// A connected peer.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerInfo {
    /// Its id.
    #[serde(serialize_with = "as_string")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peer_id: PeerId,
    /// Addresses we are connected to it on.
    #[serde(serialize_with = "addrs_as_strings")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub addresses: Vec<Multiaddr>,
    /// What it says it runs (identify).
    pub agent: Option<String>,
    /// The protocols it says it speaks (identify): an owner sends
    /// `SealAs` only to a peer that lists [`protocol::PROTOCOL`].
    pub protocols: Vec<String>,
    /// Last measured round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Open connections.
    pub connections: u32,
}

fn as_string<S: serde::Serializer>(p: &PeerId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

fn addrs_as_strings<S: serde::Serializer>(a: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(a.iter().map(|a| a.to_string()))
}

/// Everything the network can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The transport could not be built.
    #[error("network transport: {0}")]
    Transport(String),
    /// A listen address was refused.
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    /// A dial failed.
    #[error("cannot connect to {0}: {1}")]
    Dial(String, String),
    /// A shard request failed (timeout, connection lost, refused stream).
    #[error("request failed: {0}")]
    Request(String),
    /// A DHT operation failed.
    #[error("DHT: {0}")]
    Dht(String),
    /// A record is over the size limit.
    #[error("DHT record of {0} bytes is over the limit")]
    TooLarge(usize),
    /// A peer answered something that makes no sense here.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The network is stopped.
    #[error("the network is stopped")]
    Stopped,
}
