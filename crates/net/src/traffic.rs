//! What goes over the network, counted where it happens, for the node's
//! views of connections, packets and transfers:
//!
//! - each libp2p connection's bytes, counted at its TCP socket (the
//!   [`Counted`] wrapper under noise) and matched to the connection the
//!   swarm reports by the socket's remote address;
//! - lane frames' bytes, per peer, counted by the lane that sent or read
//!   them;
//! - requests and messages by protocol and direction (sent, received,
//!   failed), and per peer;
//! - the requests in flight either way ([`Flight`]), from when they are
//!   sent or arrive until they are answered;
//! - the address each connected peer says it sees this node at
//!   (identify's observed address), the nearest thing libp2p has to STUN.
//!
//! Why here: only the driver sees connections open and close, and every
//! request passes through [`crate::Network::request`],
//! [`crate::Network::send_message`], the driver or the lane server;
//! counted anywhere else, the lanes or the libp2p path would be missed.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::io::{AsyncRead, AsyncWrite, IoSlice};
use libp2p::core::ConnectedPoint;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

use crate::protocol::Request;

/// One connection's bytes, in and out.
#[derive(Debug, Default)]
pub(crate) struct ByteCounts {
    sent: AtomicU64,
    received: AtomicU64,
}

impl ByteCounts {
    fn get(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// A socket whose bytes are counted as they are read and written.
pub(crate) struct Counted<S> {
    inner: S,
    counts: Arc<ByteCounts>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counts.received.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counts.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counts.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A connection the node has now.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionInfo {
    /// A number of its own, never reused while the node runs.
    pub id: u64,
    /// The peer at the other end.
    pub peer: String,
    /// Its address as the socket sees it.
    pub remote: String,
    /// `outbound` (this node dialled) or `inbound`.
    pub direction: String,
    /// When it was established, Unix seconds.
    pub since: u64,
    /// Bytes written to its socket (noise and yamux framing included).
    pub bytes_sent: u64,
    /// Bytes read from its socket.
    pub bytes_received: u64,
}

/// Requests of one protocol since the node started.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProtocolTraffic {
    /// The protocol (`/cairn/shards/4`, `/cairn/messages/1`, `gossipsub`).
    pub protocol: String,
    /// Requests (or messages) this node sent.
    pub sent: u64,
    /// Requests (or messages) this node received.
    pub received: u64,
    /// Sent ones that got no answer (a timeout, a refusal, a lost
    /// connection).
    pub failed_sent: u64,
    /// Received ones that could not be answered.
    pub failed_received: u64,
}

/// One peer's traffic since the node started.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerTraffic {
    /// Its peer id.
    pub peer: String,
    /// Bytes sent to it (its connections' sockets and lane frames).
    pub bytes_sent: u64,
    /// Bytes received from it.
    pub bytes_received: u64,
    /// Requests and messages sent to it.
    pub requests_sent: u64,
    /// Requests and messages received from it.
    pub requests_received: u64,
}

/// A request on its way: sent and not yet answered, or received and not
/// yet answered.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flight {
    /// A number of its own.
    pub id: u64,
    /// The peer it goes to or came from.
    pub peer: String,
    /// `outgoing` or `incoming`.
    pub direction: String,
    /// Its protocol.
    pub protocol: String,
    /// What it asks (`write`, `read`, `seal`, `ping`, `message`…).
    pub kind: String,
    /// The blob whose shard it is about (hex), for shard requests.
    pub blob: Option<String>,
    /// The shard's position, for shard requests.
    pub position: Option<u8>,
    /// Where in the shard, for writes and reads.
    pub offset: u64,
    /// Its bytes: a write's data, a read's length, a message's size.
    pub bytes: u64,
    /// When it was sent or arrived, Unix seconds.
    pub started: f64,
}

/// Everything counted since the node started.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrafficStats {
    /// Bytes sent: every connection's socket (open or closed) and lane
    /// frames.
    pub bytes_sent: u64,
    /// Bytes received, likewise.
    pub bytes_received: u64,
    /// Of `bytes_sent`, those sent in lane frames.
    pub lane_bytes_sent: u64,
    /// Of `bytes_received`, those received in lane frames.
    pub lane_bytes_received: u64,
    /// Requests and messages by protocol.
    pub protocols: Vec<ProtocolTraffic>,
    /// Traffic by peer.
    pub peers: Vec<PeerTraffic>,
    /// The requests on their way now, oldest first.
    pub in_flight: Vec<Flight>,
}

/// An address a peer sees this node at.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObservedAddr {
    /// The peer that told it (identify).
    pub peer: String,
    /// The address it sees.
    pub address: String,
}

/// A connection as the counters keep it.
struct Conn {
    id: u64,
    peer: PeerId,
    remote: Multiaddr,
    outbound: bool,
    since: u64,
    counts: Arc<ByteCounts>,
}

/// What the counters hold behind their lock.
#[derive(Default)]
struct State {
    /// Sockets not yet matched with a connection, by remote address.
    sockets: Vec<(Multiaddr, Arc<ByteCounts>)>,
    connections: HashMap<ConnectionId, Conn>,
    /// Bytes of closed connections and lanes, by peer.
    past: HashMap<PeerId, (u64, u64)>,
    /// Bytes of lanes, sent and received, of every peer.
    lanes: (u64, u64),
    protocols: BTreeMap<String, ProtocolTraffic>,
    requests: HashMap<PeerId, (u64, u64)>,
    flights: BTreeMap<u64, Flight>,
    observed: HashMap<PeerId, Multiaddr>,
}

/// The network's counters; shared by the handle, the driver and the lane
/// server.
#[derive(Default)]
pub(crate) struct Traffic {
    state: Mutex<State>,
    next: AtomicU64,
}

/// Sockets unmatched for longer than a handshake are dropped from the
/// list once it holds this many.
const UNMATCHED: usize = 256;

/// `addr` without its trailing `/p2p/<peer>`, as a socket knows it.
fn socket_addr(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect()
}

/// The remote address of a connected point.
fn remote_of(point: &ConnectedPoint) -> Multiaddr {
    socket_addr(point.get_remote_address())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Traffic {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wraps a new socket so its bytes are counted; the connection it
    /// becomes takes the counts when the swarm reports it.
    pub(crate) fn count<S>(&self, socket: S, point: &ConnectedPoint) -> Counted<S> {
        let counts = Arc::new(ByteCounts::default());
        let mut state = self.state();
        if state.sockets.len() >= UNMATCHED {
            // Sockets whose upgrade failed never become connections.
            state.sockets.retain(|(_, c)| Arc::strong_count(c) > 1);
        }
        state.sockets.push((remote_of(point), counts.clone()));
        Counted {
            inner: socket,
            counts,
        }
    }

    /// A connection established.
    pub(crate) fn opened(&self, id: ConnectionId, peer: PeerId, point: &ConnectedPoint) {
        let remote = remote_of(point);
        let mut state = self.state();
        let counts = match state.sockets.iter().position(|(a, _)| *a == remote) {
            Some(i) => state.sockets.remove(i).1,
            None => Arc::new(ByteCounts::default()),
        };
        let conn = Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            peer,
            remote,
            outbound: point.is_dialer(),
            since: now() as u64,
            counts,
        };
        state.connections.insert(id, conn);
    }

    /// A connection closed: its bytes go to its peer's past.
    pub(crate) fn closed(&self, id: ConnectionId, peer_gone: bool) {
        let mut state = self.state();
        if let Some(conn) = state.connections.remove(&id) {
            let (sent, received) = conn.counts.get();
            let past = state.past.entry(conn.peer).or_default();
            past.0 += sent;
            past.1 += received;
            if peer_gone {
                state.observed.remove(&conn.peer);
            }
        }
    }

    /// Bytes a lane to or from `peer` sent and received.
    pub(crate) fn lane_bytes(&self, peer: PeerId, sent: u64, received: u64) {
        let mut state = self.state();
        state.lanes.0 += sent;
        state.lanes.1 += received;
        let past = state.past.entry(peer).or_default();
        past.0 += sent;
        past.1 += received;
    }

    /// The address `peer` says it sees this node at.
    pub(crate) fn observed(&self, peer: PeerId, addr: Multiaddr) {
        self.state().observed.insert(peer, addr);
    }

    /// A request or message sent to, or received from, `peer`: counted,
    /// and on its way until the guard is dropped.
    pub(crate) fn start(
        self: &Arc<Self>,
        peer: PeerId,
        outgoing: bool,
        protocol: &str,
        what: What,
    ) -> FlightGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        let asked = state.requests.entry(peer).or_default();
        if outgoing {
            asked.0 += 1;
            p_sent(&mut state, protocol);
        } else {
            asked.1 += 1;
            p_received(&mut state, protocol);
        }
        state.flights.insert(
            id,
            Flight {
                id,
                peer: peer.to_string(),
                direction: if outgoing { "outgoing" } else { "incoming" }.into(),
                protocol: protocol.into(),
                kind: what.kind.into(),
                blob: what.blob,
                position: what.position,
                offset: what.offset,
                bytes: what.bytes,
                started: now(),
            },
        );
        FlightGuard {
            traffic: self.clone(),
            id,
            protocol: protocol.into(),
            outgoing,
        }
    }

    /// A message that is no request (gossip) sent or received.
    pub(crate) fn gossip(&self, outgoing: bool) {
        let mut state = self.state();
        if outgoing {
            p_sent(&mut state, "gossipsub");
        } else {
            p_received(&mut state, "gossipsub");
        }
    }

    /// An inbound request of `protocol` that failed before it could be
    /// answered.
    pub(crate) fn inbound_failed(&self, protocol: &str) {
        protocol_entry(&mut self.state(), protocol).failed_received += 1;
    }

    /// The connections now, oldest first.
    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        let state = self.state();
        let mut list: Vec<ConnectionInfo> = state
            .connections
            .values()
            .map(|c| {
                let (sent, received) = c.counts.get();
                ConnectionInfo {
                    id: c.id,
                    peer: c.peer.to_string(),
                    remote: c.remote.to_string(),
                    direction: if c.outbound { "outbound" } else { "inbound" }.into(),
                    since: c.since,
                    bytes_sent: sent,
                    bytes_received: received,
                }
            })
            .collect();
        list.sort_by_key(|c| c.id);
        list
    }

    /// Everything counted, and what is on its way now.
    pub(crate) fn stats(&self) -> TrafficStats {
        let state = self.state();
        let mut peers: BTreeMap<PeerId, PeerTraffic> = BTreeMap::new();
        for (peer, (sent, received)) in &state.past {
            let p = peer_entry(&mut peers, peer);
            p.bytes_sent += sent;
            p.bytes_received += received;
        }
        for c in state.connections.values() {
            let (sent, received) = c.counts.get();
            let p = peer_entry(&mut peers, &c.peer);
            p.bytes_sent += sent;
            p.bytes_received += received;
        }
        for (peer, (sent, received)) in &state.requests {
            let p = peer_entry(&mut peers, peer);
            p.requests_sent += sent;
            p.requests_received += received;
        }
        let peers: Vec<PeerTraffic> = peers.into_values().collect();
        TrafficStats {
            bytes_sent: peers.iter().map(|p| p.bytes_sent).sum(),
            bytes_received: peers.iter().map(|p| p.bytes_received).sum(),
            lane_bytes_sent: state.lanes.0,
            lane_bytes_received: state.lanes.1,
            protocols: state.protocols.values().cloned().collect(),
            peers,
            in_flight: state.flights.values().cloned().collect(),
        }
    }

    /// The addresses connected peers see this node at, by peer.
    pub(crate) fn observed_addrs(&self) -> Vec<ObservedAddr> {
        let state = self.state();
        let mut list: Vec<ObservedAddr> = state
            .observed
            .iter()
            .map(|(peer, addr)| ObservedAddr {
                peer: peer.to_string(),
                address: addr.to_string(),
            })
            .collect();
        list.sort_by(|a, b| a.peer.cmp(&b.peer));
        list
    }
}

fn protocol_entry<'a>(state: &'a mut State, protocol: &str) -> &'a mut ProtocolTraffic {
    state
        .protocols
        .entry(protocol.to_owned())
        .or_insert_with(|| ProtocolTraffic {
            protocol: protocol.to_owned(),
            ..Default::default()
        })
}

fn p_sent(state: &mut State, protocol: &str) {
    protocol_entry(state, protocol).sent += 1;
}

fn p_received(state: &mut State, protocol: &str) {
    protocol_entry(state, protocol).received += 1;
}

fn peer_entry<'a>(
    peers: &'a mut BTreeMap<PeerId, PeerTraffic>,
    peer: &PeerId,
) -> &'a mut PeerTraffic {
    peers.entry(*peer).or_insert_with(|| PeerTraffic {
        peer: peer.to_string(),
        ..Default::default()
    })
}

/// What a request is about, for its [`Flight`].
#[derive(Default)]
pub(crate) struct What {
    kind: &'static str,
    blob: Option<String>,
    position: Option<u8>,
    offset: u64,
    bytes: u64,
}

impl What {
    /// A message of `bytes` bytes.
    pub(crate) fn message(bytes: usize) -> Self {
        Self {
            kind: "message",
            bytes: bytes as u64,
            ..Default::default()
        }
    }

    /// A shard request.
    pub(crate) fn request(request: &Request) -> Self {
        let about = |kind, key: &crate::protocol::ShardKey, offset, bytes| Self {
            kind,
            blob: Some(hex(&key.blob)),
            position: Some(key.position),
            offset,
            bytes,
        };
        match request {
            Request::Ping => Self {
                kind: "ping",
                ..Default::default()
            },
            Request::Space => Self {
                kind: "space",
                ..Default::default()
            },
            Request::Write {
                key, offset, data, ..
            } => about("write", key, *offset, data.len() as u64),
            Request::Seal { key, len, .. } => about("seal", key, 0, *len),
            Request::SealAs { key, len, .. } => about("seal-as", key, 0, *len),
            Request::Read { key, offset, len } => about("read", key, *offset, u64::from(*len)),
            Request::Delete { key } => about("delete", key, 0, 0),
            Request::Audit {
                key, offset, len, ..
            } => about("audit", key, *offset, u64::from(*len)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request on its way; dropping it ends its flight.
pub(crate) struct FlightGuard {
    traffic: Arc<Traffic>,
    id: u64,
    protocol: String,
    outgoing: bool,
}

impl FlightGuard {
    /// It failed: counted as such.
    pub(crate) fn failed(&self) {
        let mut state = self.traffic.state();
        let p = protocol_entry(&mut state, &self.protocol);
        if self.outgoing {
            p.failed_sent += 1;
        } else {
            p.failed_received += 1;
        }
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.traffic.state().flights.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(addr: &str) -> ConnectedPoint {
        ConnectedPoint::Listener {
            local_addr: "/ip4/127.0.0.1/tcp/1".parse().unwrap(),
            send_back_addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn a_connection_takes_its_socket_s_counts_and_leaves_them_to_its_peer() {
        let traffic = Arc::new(Traffic::default());
        let socket = traffic.count((), &point("/ip4/10.0.0.1/tcp/5"));
        socket.counts.sent.fetch_add(10, Ordering::Relaxed);
        socket.counts.received.fetch_add(7, Ordering::Relaxed);
        let peer = PeerId::random();
        let id = ConnectionId::new_unchecked(1);
        traffic.opened(id, peer, &point("/ip4/10.0.0.1/tcp/5"));
        let conns = traffic.connections();
        assert_eq!((conns[0].bytes_sent, conns[0].bytes_received), (10, 7));
        assert_eq!(conns[0].direction, "inbound");
        traffic.closed(id, true);
        assert!(traffic.connections().is_empty());
        let stats = traffic.stats();
        assert_eq!((stats.bytes_sent, stats.bytes_received), (10, 7));
    }

    #[test]
    fn a_flight_is_listed_until_its_guard_goes_and_failures_are_counted() {
        let traffic = Arc::new(Traffic::default());
        let peer = PeerId::random();
        let guard = traffic.start(peer, true, "/p", What::message(5));
        assert_eq!(traffic.stats().in_flight.len(), 1);
        guard.failed();
        drop(guard);
        let stats = traffic.stats();
        assert!(stats.in_flight.is_empty());
        assert_eq!(stats.protocols[0].sent, 1);
        assert_eq!(stats.protocols[0].failed_sent, 1);
        assert_eq!(stats.peers[0].requests_sent, 1);
    }
}
