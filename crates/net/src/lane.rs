//! Lanes: shard bytes between two peers over a TCP connection of their
//! own, sealed with AES-256-GCM under keys the two agreed on inside their
//! libp2p connection.
//!
//! Why: a profile of a node downloading 1 GiB put 55 % of its CPU in
//! libp2p's connection tasks (noise's 64 KiB frames, yamux's windows and
//! frames, a stream and its protocol negotiation per request, a hop
//! through the swarm's task each way), against 14 points for the cipher
//! itself. A lane moves a request and its answer as one sealed frame
//! each, straight between the asking task and the socket.
//!
//! How a lane opens (the asking peer is the client):
//!
//! 1. The client sends [`LANE_PROTOCOL`]'s request, 32 random bytes, over
//!    the libp2p connection: noise has authenticated both peers and
//!    encrypts it.
//! 2. The server answers its lane port, a random session id of 16 bytes
//!    and 32 random bytes of its own, and keeps the session for
//!    [`SESSION_TTL`]. A server with no lane, or too many, refuses.
//! 3. The client connects to the server's IP (the one its libp2p
//!    connection reaches) on that port and sends the session id. The
//!    server takes the session: each is used once.
//! 4. Both derive one key per direction from the random bytes of both,
//!    the session id and both peer ids. A message is two frames: its
//!    fields, then its shard bytes (empty for most messages). Every frame
//!    is its length, then its sealed text and tag; the nonce is the
//!    frame's number in its direction, so a frame replayed, reordered,
//!    cut, or sent back the other way fails to open and the lane is
//!    closed.
//!
//! The keys never leave the noise channel, so a lane is as secure as
//! noise is (for who the peer is and what the keys are) plus AES-GCM with
//! unique nonces. The session id travels in clear: someone on the path
//! could use it first, which only makes that lane fail; the client then
//! asks over libp2p as it would have without lanes.
//!
//! A lane carries one request and then its answer, in turn, like an
//! HTTP/1.1 connection; the client keeps idle lanes per peer for the next
//! request. Only the bulk requests (`Write` and `Read`, both idempotent)
//! go by lane. A request that finds no idle lane goes over libp2p while a
//! lane opens beside it, so a peer whose lane port cannot be reached (a
//! firewall, a NAT) costs no request a wait; such a peer is asked over
//! libp2p alone for [`RETRY_AFTER`]. A lane that fails sends its request
//! over libp2p instead.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BufMut;
use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::PeerId;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::protocol::{
    MAX_CHUNK, MAX_FRAME, PROTOCOL, Request, Response, Version, decode_request_parts,
    decode_response_parts, encode_request_parts, encode_response_parts,
};
use crate::swarm::Inbound;
use crate::tasks::Tasks;
use crate::traffic::{Traffic, What};

/// The libp2p protocol a lane is agreed on.
pub const LANE_PROTOCOL: &str = "/cairn/lane/1";
/// How long a session waits for its connection.
const SESSION_TTL: Duration = Duration::from_secs(10);
/// How long a peer whose lane would not open is asked over libp2p alone.
const RETRY_AFTER: Duration = Duration::from_secs(1800);
/// Lanes to or from one peer, open or being opened.
const PER_PEER: usize = 16;
/// Lanes a node serves at once, over all peers.
const MAX_SERVED: usize = 256;
/// Connections that have not yet named their session, at once.
const MAX_UNNAMED: usize = 64;
/// How long a client keeps an idle lane; less than the server, so a
/// client never picks up a lane the server is closing.
const CLIENT_IDLE: Duration = Duration::from_secs(30);
/// How long a server waits for a lane's next request.
const SERVER_IDLE: Duration = Duration::from_secs(90);
/// How long a connection may take to open and name its session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An AES-GCM tag.
const TAG: usize = 16;
/// The server's answer when it opens a lane: tag, port, session, nonce.
const OPEN_LEN: usize = 1 + 2 + 16 + 32;

/// The client's half of a handshake: its random bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer(pub(crate) [u8; 32]);

/// The server's half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Connect to `port` and name `session`.
    Open {
        /// The server's lane port.
        port: u16,
        /// The session id to send first.
        session: [u8; 16],
        /// The server's random bytes.
        nonce: [u8; 32],
    },
    /// No lane (none served, or too many).
    Refused,
}

/// Frames the handshake: 32 bytes one way; one byte, or [`OPEN_LEN`],
/// the other.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LaneCodec;

async fn read_small<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(OPEN_LEN);
    io.take(OPEN_LEN as u64 + 1).read_to_end(&mut body).await?;
    Ok(body)
}

impl Codec for LaneCodec {
    type Protocol = StreamProtocol;
    type Request = Offer;
    type Response = Accept;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Offer>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_small(io).await?;
        Ok(Offer(
            body.try_into()
                .map_err(|_| bad("an offer of another length"))?,
        ))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Accept>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_small(io).await?;
        match body.as_slice() {
            [0] => Ok(Accept::Refused),
            [1, rest @ ..] if body.len() == OPEN_LEN => Ok(Accept::Open {
                port: u16::from_be_bytes([rest[0], rest[1]]),
                session: rest[2..18].try_into().expect("16 bytes"),
                nonce: rest[18..50].try_into().expect("32 bytes"),
            }),
            _ => Err(bad("a lane answer that makes no sense")),
        }
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, o: Offer) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&o.0).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        a: Accept,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match a {
            Accept::Refused => io.write_all(&[0]).await?,
            Accept::Open {
                port,
                session,
                nonce,
            } => {
                let mut body = Vec::with_capacity(OPEN_LEN);
                body.push(1);
                body.extend_from_slice(&port.to_be_bytes());
                body.extend_from_slice(&session);
                body.extend_from_slice(&nonce);
                io.write_all(&body).await?;
            }
        }
        io.close().await
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("lane: {what}"))
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the system's random source works");
    out
}

/// 32 random bytes for an offer.
pub(crate) fn offer() -> Offer {
    Offer(random())
}

/// The two keys of a lane: client to server, server to client.
fn derive(
    client: &PeerId,
    server: &PeerId,
    offer: &[u8; 32],
    nonce: &[u8; 32],
    session: &[u8; 16],
) -> ([u8; 32], [u8; 32]) {
    let mut material = Vec::with_capacity(256);
    material.extend_from_slice(offer);
    material.extend_from_slice(nonce);
    material.extend_from_slice(session);
    for peer in [client, server] {
        let bytes = peer.to_bytes();
        material.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        material.extend_from_slice(&bytes);
    }
    (
        blake3::derive_key("cairn lane 1: client to server", &material),
        blake3::derive_key("cairn lane 1: server to client", &material),
    )
}

/// One direction's key and the number of its next frame.
struct Sealer {
    key: LessSafeKey,
    next: u64,
}

impl Sealer {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key")),
            next: 0,
        }
    }

    /// The next frame's nonce; never the same twice under one key.
    fn nonce(&mut self) -> io::Result<Nonce> {
        let n = self.next;
        self.next = n.checked_add(1).ok_or_else(|| bad("frames run out"))?;
        Ok(Self::nonce_of(n))
    }

    /// The nonce of frame `n`: its number.
    fn nonce_of(n: u64) -> Nonce {
        let mut bytes = [0u8; NONCE_LEN];
        bytes[NONCE_LEN - 8..].copy_from_slice(&n.to_be_bytes());
        Nonce::assume_unique_for_key(bytes)
    }

    /// Gives back the text of frame `n`, which this side sealed in place
    /// into `sealed`: sealing XORs the text with the frame's keystream,
    /// so sealing again under the same nonce undoes it. Only for bytes
    /// that are not sent again (the tag it makes is dropped).
    fn unseal(&self, n: u64, sealed: &mut [u8]) -> io::Result<()> {
        self.key
            .seal_in_place_separate_tag(Self::nonce_of(n), Aad::empty(), sealed)
            .map(drop)
            .map_err(|_| bad("cannot unseal"))
    }

    /// Seals `text` in place and answers its tag.
    fn seal(&mut self, text: &mut [u8]) -> io::Result<ring::aead::Tag> {
        let nonce = self.nonce()?;
        self.key
            .seal_in_place_separate_tag(nonce, Aad::empty(), text)
            .map_err(|_| bad("cannot seal"))
    }

    /// The length of a frame whose first four bytes are `len`, if it may
    /// be read where at most `most` bytes of text are expected.
    fn frame_len(len: [u8; 4], most: usize) -> io::Result<usize> {
        let len = u32::from_be_bytes(len) as usize;
        if !(TAG..=most + TAG).contains(&len) {
            return Err(bad("a frame of an impossible length"));
        }
        Ok(len)
    }

    /// Opens a frame's sealed bytes in place, leaving its text.
    fn open(&mut self, mut sealed: Vec<u8>) -> io::Result<Vec<u8>> {
        let nonce = self.nonce()?;
        let len = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .map_err(|_| bad("a frame that does not open"))?
            .len();
        sealed.truncate(len);
        Ok(sealed)
    }
}

/// Longest text of a message's first frame (its fields).
const MAX_HEAD: usize = MAX_FRAME - MAX_CHUNK;

/// A message's two frames, sealed, as they go on the wire: the first
/// frame (length, fields, tag) and the second's length, then its text
/// (`tail`, sealed where it lies), then its tag.
fn seal_message(
    sealer: &mut Sealer,
    head: &[u8],
    tail: &mut [u8],
) -> io::Result<(Vec<u8>, ring::aead::Tag)> {
    if head.len() > MAX_HEAD || tail.len() > MAX_CHUNK {
        return Err(bad("frame over the limit"));
    }
    let mut front = Vec::with_capacity(4 + head.len() + TAG + 4);
    front.extend_from_slice(&((head.len() + TAG) as u32).to_be_bytes());
    front.extend_from_slice(head);
    let tag = sealer.seal(&mut front[4..])?;
    front.extend_from_slice(tag.as_ref());
    front.extend_from_slice(&((tail.len() + TAG) as u32).to_be_bytes());
    let tag = sealer.seal(tail)?;
    Ok((front, tag))
}

/// An open lane: its connection and both directions' keys.
///
/// A message goes as two frames: its fields, then its shard bytes (a
/// write's data, a data answer's; an empty frame for the others). So the
/// shard bytes are sealed and opened where they lie, never copied to
/// make room for the fields, and arrive in a buffer of their own.
pub(crate) struct Lane {
    stream: TcpStream,
    send: Sealer,
    recv: Sealer,
    used: Instant,
    /// Bytes written and read since [`Lane::take_bytes`] last took them.
    bytes: (u64, u64),
}

impl Lane {
    fn new(stream: TcpStream, send: &[u8; 32], recv: &[u8; 32]) -> Self {
        Self {
            stream,
            send: Sealer::new(send),
            recv: Sealer::new(recv),
            used: Instant::now(),
            bytes: (0, 0),
        }
    }

    /// The bytes written and read since the last call (for the
    /// network's traffic counters).
    pub(crate) fn take_bytes(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.bytes)
    }

    /// Sends a message: `head`, its fields, and `tail`, its shard bytes,
    /// which are sealed where they lie (and so left sealed).
    async fn send(&mut self, head: &[u8], tail: &mut [u8]) -> io::Result<()> {
        let (front, tag) = seal_message(&mut self.send, head, tail)?;
        let mut parts = [
            io::IoSlice::new(&front),
            io::IoSlice::new(tail),
            io::IoSlice::new(tag.as_ref()),
        ];
        let mut parts = &mut parts[..];
        while !parts.is_empty() {
            let n = self.stream.write_vectored(parts).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.bytes.0 += n as u64;
            io::IoSlice::advance_slices(&mut parts, n);
        }
        Ok(())
    }

    /// Reads one frame of at most `most` bytes of text and opens it.
    async fn recv_frame(&mut self, most: usize) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let len = Sealer::frame_len(len, most)?;
        self.bytes.1 += 4 + len as u64;
        // Read into the buffer's spare room: no zeroing first.
        let mut sealed = Vec::with_capacity(len);
        while sealed.len() < len {
            let want = len - sealed.len();
            if self.stream.read_buf(&mut (&mut sealed).limit(want)).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.recv.open(sealed)
    }

    /// Receives a message: its fields, and its shard bytes (`None` when
    /// it has none).
    async fn recv(&mut self) -> io::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let head = self.recv_frame(MAX_HEAD).await?;
        let tail = self.recv_frame(MAX_CHUNK).await?;
        Ok((head, Some(tail).filter(|t| !t.is_empty())))
    }

    /// Sends `request` and waits for its answer.
    ///
    /// A write's data is sealed in its own buffer, not copied: the
    /// request is left without it once answered. On an error the request
    /// is left as it came, its data unsealed, so it can go another way
    /// (or, if that could not be done, without its data).
    pub(crate) async fn call(&mut self, request: &mut Request) -> io::Result<Response> {
        let head = encode_request_parts(request, Version::V3).0;
        let mut data = match request {
            Request::Write { data, .. } => std::mem::take(data),
            _ => Vec::new(),
        };
        // The fields go as frame `next`, the data as the one after.
        let data_frame = self.send.next.saturating_add(1);
        let answer = match self.send(&head, &mut data).await {
            Ok(()) => self.recv().await,
            Err(e) => Err(e),
        };
        let answer = answer.and_then(|(head, tail)| decode_response_parts(&head, tail));
        if answer.is_err() {
            if self.send.next > data_frame {
                self.send.unseal(data_frame, &mut data)?;
            }
            if let Request::Write { data: put_back, .. } = request {
                *put_back = data;
            }
            return answer;
        }
        self.used = Instant::now();
        answer
    }
}

/// Opens a lane to `server` at `ip`, as `accept` said, for the `offer`
/// this node (`client`) made.
pub(crate) async fn connect(
    client: &PeerId,
    server: &PeerId,
    ip: IpAddr,
    offer: &Offer,
    accept: Accept,
) -> io::Result<Lane> {
    let Accept::Open {
        port,
        session,
        nonce,
    } = accept
    else {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "lane: the peer serves none now",
        ));
    };
    let (to_server, to_client) = derive(client, server, &offer.0, &nonce, &session);
    let mut stream = timeout(CONNECT_TIMEOUT, TcpStream::connect((ip, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "lane: connecting timed out"))??;
    stream.set_nodelay(true)?;
    stream.write_all(&session).await?;
    Ok(Lane::new(stream, &to_server, &to_client))
}

/// Counts of what went by lane, for the network's status.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) opened: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) served: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
}

/// What went by lane since the node started.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LaneStats {
    /// The port lanes are served on; none when lanes are off.
    pub port: Option<u16>,
    /// Lanes this node opened to others.
    pub opened: u64,
    /// Lanes others opened to this node.
    pub accepted: u64,
    /// Requests this node sent by lane.
    pub requests: u64,
    /// Requests this node answered by lane.
    pub served: u64,
    /// Bulk requests this node sent over libp2p instead: the peer has no
    /// lane for us, or one failed.
    pub fallbacks: u64,
}

impl Counters {
    pub(crate) fn stats(&self, port: Option<u16>) -> LaneStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LaneStats {
            port,
            opened: get(&self.opened),
            accepted: get(&self.accepted),
            requests: get(&self.requests),
            served: get(&self.served),
            fallbacks: get(&self.fallbacks),
        }
    }
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A lane as a pool sees it.
pub(crate) trait Pooled {
    /// When it last carried a request (or opened).
    fn last_used(&self) -> Instant;
}

impl Pooled for Lane {
    fn last_used(&self) -> Instant {
        self.used
    }
}

/// What a client has with one peer.
struct Pool<L> {
    idle: Vec<L>,
    /// Lanes carrying a request now.
    busy: usize,
    /// Lanes being opened.
    opening: usize,
    /// A lane to this peer opened: it serves lanes, so more may open at
    /// once. Until then, one at a time.
    proven: bool,
    off_until: Option<Instant>,
}

impl<L> Default for Pool<L> {
    fn default() -> Self {
        Self {
            idle: Vec::new(),
            busy: 0,
            opening: 0,
            proven: false,
            off_until: None,
        }
    }
}

/// How a request may go.
pub(crate) enum Take<L> {
    /// By this idle lane.
    Idle(Box<L>),
    /// Over libp2p, while the caller opens a new lane beside it (and
    /// reports with [`Lanes::opened`] or [`Lanes::not_opened`]).
    Open,
    /// Over libp2p.
    No,
}

/// The lanes a node asks through.
pub(crate) struct Lanes<L = Lane> {
    pools: Mutex<HashMap<PeerId, Pool<L>>>,
    pub(crate) counters: Arc<Counters>,
}

impl<L: Pooled> Lanes<L> {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self {
            pools: Mutex::new(HashMap::new()),
            counters,
        }
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Pool<L>>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How the next request to `peer` goes.
    pub(crate) fn take(&self, peer: PeerId) -> Take<L> {
        let mut pools = self.pools();
        let pool = pools.entry(peer).or_default();
        if let Some(until) = pool.off_until {
            if Instant::now() < until {
                return Take::No;
            }
            pool.off_until = None;
        }
        pool.idle.retain(|l| l.last_used().elapsed() < CLIENT_IDLE);
        if let Some(lane) = pool.idle.pop() {
            pool.busy += 1;
            return Take::Idle(Box::new(lane));
        }
        if pool.busy + pool.opening >= PER_PEER || (pool.opening > 0 && !pool.proven) {
            return Take::No;
        }
        pool.opening += 1;
        Take::Open
    }

    /// A lane to `peer` opened: it waits for the next request.
    pub(crate) fn opened(&self, peer: PeerId, lane: L) {
        let mut pools = self.pools();
        let pool = pools.entry(peer).or_default();
        pool.opening = pool.opening.saturating_sub(1);
        pool.proven = true;
        pool.idle.push(lane);
    }

    /// A lane to `peer` would not open. The first time since one did,
    /// the next opens one at a time again; the second, `peer` is asked
    /// over libp2p alone for [`RETRY_AFTER`].
    pub(crate) fn not_opened(&self, peer: PeerId) {
        let mut pools = self.pools();
        let pool = pools.entry(peer).or_default();
        pool.opening = pool.opening.saturating_sub(1);
        if pool.proven {
            pool.proven = false;
        } else {
            pool.idle.clear();
            pool.off_until = Some(Instant::now() + RETRY_AFTER);
        }
    }

    /// A lane taken for `peer` is done with: kept for the next request
    /// when it is still good.
    pub(crate) fn give_back(&self, peer: PeerId, lane: Option<Box<L>>) {
        let mut pools = self.pools();
        if let Some(pool) = pools.get_mut(&peer) {
            pool.busy = pool.busy.saturating_sub(1);
            if let Some(lane) = lane {
                pool.idle.push(*lane);
            }
        }
    }
}

/// A session offered and not yet connected.
struct Pending {
    peer: PeerId,
    to_server: [u8; 32],
    to_client: [u8; 32],
    expires: Instant,
}

#[derive(Default)]
struct Sessions {
    pending: HashMap<[u8; 16], Pending>,
    open: HashMap<PeerId, usize>,
}

impl Sessions {
    fn open_total(&self) -> usize {
        self.open.values().sum()
    }
}

/// The serving side: sessions offered, lanes open, and where their
/// requests go (the same channel as libp2p's).
pub(crate) struct LaneServer {
    local: PeerId,
    pub(crate) port: u16,
    sessions: Mutex<Sessions>,
    unnamed: AtomicUsize,
    inbound: mpsc::Sender<Inbound>,
    counters: Arc<Counters>,
    /// The network's traffic counters (requests served, lane bytes).
    traffic: Arc<Traffic>,
}

impl LaneServer {
    pub(crate) fn new(
        local: PeerId,
        port: u16,
        inbound: mpsc::Sender<Inbound>,
        counters: Arc<Counters>,
        traffic: Arc<Traffic>,
    ) -> Self {
        Self {
            local,
            port,
            sessions: Mutex::new(Sessions::default()),
            unnamed: AtomicUsize::new(0),
            inbound,
            counters,
            traffic,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers `peer`'s offer: a session, unless it or everyone has too
    /// many lanes already.
    pub(crate) fn accept(&self, peer: PeerId, offer: &Offer) -> Accept {
        let now = Instant::now();
        let mut s = self.sessions();
        s.pending.retain(|_, p| p.expires > now);
        let of_peer = s.pending.values().filter(|p| p.peer == peer).count()
            + s.open.get(&peer).copied().unwrap_or(0);
        if of_peer >= PER_PEER || s.pending.len() + s.open_total() >= MAX_SERVED {
            return Accept::Refused;
        }
        let session: [u8; 16] = random();
        let nonce: [u8; 32] = random();
        let (to_server, to_client) = derive(&peer, &self.local, &offer.0, &nonce, &session);
        s.pending.insert(
            session,
            Pending {
                peer,
                to_server,
                to_client,
                expires: now + SESSION_TTL,
            },
        );
        Accept::Open {
            port: self.port,
            session,
            nonce,
        }
    }

    /// Takes session `id` for a connection, once.
    fn take(&self, id: &[u8; 16]) -> Option<Pending> {
        let mut s = self.sessions();
        let pending = s.pending.remove(id)?;
        if pending.expires <= Instant::now() {
            return None;
        }
        *s.open.entry(pending.peer).or_default() += 1;
        Some(pending)
    }

    fn closed(&self, peer: &PeerId) {
        let mut s = self.sessions();
        if let Some(n) = s.open.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                s.open.remove(peer);
            }
        }
    }

    /// Accepts lane connections, each served on a task of `tasks`, until
    /// the network stops.
    pub(crate) async fn run(self: Arc<Self>, listener: TcpListener, tasks: Tasks) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    if self.unnamed.fetch_add(1, Ordering::AcqRel) >= MAX_UNNAMED {
                        self.unnamed.fetch_sub(1, Ordering::AcqRel);
                        continue;
                    }
                    tasks.spawn("lane-served", self.clone().serve(stream));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather
                    // than spin.
                    tracing::warn!(error = %e, "lane listener");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let mut id = [0u8; 16];
        let named = timeout(CONNECT_TIMEOUT, stream.read_exact(&mut id)).await;
        self.unnamed.fetch_sub(1, Ordering::AcqRel);
        if !matches!(named, Ok(Ok(_))) {
            return;
        }
        let Some(session) = self.take(&id) else {
            tracing::debug!("a lane connection named no session of ours");
            return;
        };
        count(&self.counters.accepted);
        let peer = session.peer;
        if let Err(e) = self.serve_lane(stream, session).await {
            tracing::debug!(%peer, error = %e, "lane closed");
        }
        self.closed(&peer);
    }

    async fn serve_lane(&self, stream: TcpStream, session: Pending) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let mut lane = Lane::new(stream, &session.to_client, &session.to_server);
        loop {
            let (head, tail) = match timeout(SERVER_IDLE, lane.recv()).await {
                Ok(Ok(message)) => message,
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            };
            let request = decode_request_parts(&head, tail, Version::V3)?;
            let flight = self
                .traffic
                .start(session.peer, false, PROTOCOL, What::request(&request));
            let (reply, answer) = oneshot::channel();
            let inbound = Inbound {
                peer: session.peer,
                request,
                reply,
            };
            if self.inbound.send(inbound).await.is_err() {
                return Ok(());
            }
            let Ok(response) = answer.await else {
                // Refused without an answer, as a dropped libp2p stream.
                flight.failed();
                return Ok(());
            };
            let head = encode_response_parts(&response).0;
            let mut tail = match response {
                Response::Data(bytes) => bytes,
                _ => Vec::new(),
            };
            let sent = lane.send(&head, &mut tail).await;
            let (out, read) = lane.take_bytes();
            self.traffic.lane_bytes(session.peer, out, read);
            if sent.is_err() {
                flight.failed();
            }
            sent?;
            drop(flight);
            count(&self.counters.served);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Sealer, Sealer) {
        let key = [7u8; 32];
        (Sealer::new(&key), Sealer::new(&key))
    }

    /// A message as it goes on the wire, cut back into its two sealed
    /// frames (without their lengths, which are checked).
    fn wire(tx: &mut Sealer, head: &[u8], tail: &[u8]) -> [Vec<u8>; 2] {
        let mut sealed = tail.to_vec();
        let (front, tag) = seal_message(tx, head, &mut sealed).unwrap();
        let wire = [&front[..], &sealed, tag.as_ref()].concat();
        let first = Sealer::frame_len(wire[..4].try_into().unwrap(), MAX_HEAD).unwrap();
        let rest = &wire[4 + first..];
        let second = Sealer::frame_len(rest[..4].try_into().unwrap(), MAX_CHUNK).unwrap();
        assert_eq!(rest.len(), 4 + second);
        [wire[4..4 + first].to_vec(), rest[4..].to_vec()]
    }

    /// A write sent by lane to a peer that takes it whole and closes
    /// without an answer comes back as it was, ready to go another way;
    /// the bytes the peer took were sealed.
    #[tokio::test]
    async fn a_write_whose_lane_fails_comes_back_unsealed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let write = || Request::Write {
            key: crate::protocol::ShardKey {
                owner: [1; 32],
                blob: [2; 32],
                position: 3,
            },
            offset: 4096,
            stride: 65_536,
            data: data.clone(),
        };
        let head = encode_request_parts(&write(), Version::V3).0.len();
        let message = 4 + head + TAG + 4 + data.len() + TAG;
        let peer = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = vec![0u8; message];
            stream.read_exact(&mut got).await.unwrap();
            got
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut lane = Lane::new(stream, &[5; 32], &[6; 32]);
        let mut request = write();
        assert!(lane.call(&mut request).await.is_err());
        let sent = peer.await.unwrap();
        let on_wire = &sent[4 + head + TAG + 4..][..data.len()];
        assert!(on_wire != &data[..], "the data went sealed");
        match request {
            Request::Write { data: back, .. } => assert!(back == data, "handed back unsealed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_open_in_order_and_only_in_order() {
        let (mut tx, mut rx) = pair();
        let [head, tail] = wire(&mut tx, b"head", b"tail");
        let [head2, tail2] = wire(&mut tx, b"more", b"");
        assert_eq!(rx.open(head).unwrap(), b"head");
        assert_eq!(rx.open(tail).unwrap(), b"tail");
        assert_eq!(rx.open(head2).unwrap(), b"more");
        assert_eq!(rx.open(tail2).unwrap(), b"");

        // A frame replayed, swapped with its neighbour, or one that skips
        // ahead, does not open.
        let (mut tx, mut rx) = pair();
        let [head, tail] = wire(&mut tx, b"one", b"two");
        assert!(rx.open(tail.clone()).is_err());
        let (_, mut rx) = pair();
        assert!(rx.open(head.clone()).is_ok());
        assert!(rx.open(head).is_err());
    }

    #[test]
    fn a_changed_byte_or_the_other_direction_s_key_fails() {
        let (mut tx, _) = pair();
        let frames = wire(&mut tx, b"fields", &[9u8; 1000]);
        for (which, frame) in frames.iter().enumerate() {
            for at in [0, 5, frame.len() - 5, frame.len() - 1] {
                let mut body = frame.clone();
                body[at] ^= 1;
                let (_, mut rx) = pair();
                if which == 1 {
                    rx.open(frames[0].clone()).unwrap();
                }
                assert!(rx.open(body).is_err(), "frame {which}, byte {at} changed");
            }
        }
        let mut other = Sealer::new(&[8u8; 32]);
        assert!(other.open(frames[0].clone()).is_err());
    }

    #[test]
    fn impossible_lengths_are_refused_before_reading() {
        let most = MAX_CHUNK;
        assert!(Sealer::frame_len(0u32.to_be_bytes(), most).is_err());
        assert!(Sealer::frame_len((TAG as u32 - 1).to_be_bytes(), most).is_err());
        assert!(Sealer::frame_len(((most + TAG + 1) as u32).to_be_bytes(), most).is_err());
        assert!(Sealer::frame_len(u32::MAX.to_be_bytes(), most).is_err());
        assert_eq!(
            Sealer::frame_len(((most + TAG) as u32).to_be_bytes(), most).unwrap(),
            most + TAG
        );
        assert!(Sealer::frame_len(((MAX_HEAD + TAG + 1) as u32).to_be_bytes(), MAX_HEAD).is_err());
        let (mut tx, _) = pair();
        assert!(seal_message(&mut tx, &[0; 10], &mut vec![0; MAX_CHUNK + 1]).is_err());
        assert!(seal_message(&mut tx, &[0; MAX_HEAD + 1], &mut []).is_err());
    }

    #[test]
    fn both_ends_derive_the_same_keys_and_each_direction_its_own() {
        let a = PeerId::random();
        let b = PeerId::random();
        let keys = derive(&a, &b, &[1; 32], &[2; 32], &[3; 16]);
        assert_eq!(keys, derive(&a, &b, &[1; 32], &[2; 32], &[3; 16]));
        assert_ne!(keys.0, keys.1);
        assert_ne!(keys, derive(&b, &a, &[1; 32], &[2; 32], &[3; 16]));
        assert_ne!(keys, derive(&a, &b, &[1; 32], &[2; 32], &[4; 16]));
        assert_ne!(keys, derive(&a, &b, &[0; 32], &[2; 32], &[3; 16]));
    }

    struct Fake(Instant);

    impl Pooled for Fake {
        fn last_used(&self) -> Instant {
            self.0
        }
    }

    #[test]
    fn lanes_open_one_at_a_time_until_one_works_and_stop_after_two_failures() {
        let lanes: Lanes<Fake> = Lanes::new(Arc::default());
        let p = PeerId::random();
        assert!(matches!(lanes.take(p), Take::Open));
        // While the first opens, the others go over libp2p.
        assert!(matches!(lanes.take(p), Take::No));
        lanes.opened(p, Fake(Instant::now()));
        // The peer serves lanes: the idle one is taken, more open at once.
        assert!(matches!(lanes.take(p), Take::Idle(_)));
        assert!(matches!(lanes.take(p), Take::Open));
        assert!(matches!(lanes.take(p), Take::Open));
        // A failure: one at a time again, until one opens.
        lanes.not_opened(p);
        assert!(matches!(lanes.take(p), Take::No));
        lanes.opened(p, Fake(Instant::now()));
        assert!(matches!(lanes.take(p), Take::Idle(_)));
        // Two failures in a row: libp2p alone.
        assert!(matches!(lanes.take(p), Take::Open));
        lanes.not_opened(p);
        assert!(matches!(lanes.take(p), Take::Open));
        lanes.not_opened(p);
        lanes.give_back(p, Some(Box::new(Fake(Instant::now()))));
        assert!(matches!(lanes.take(p), Take::No));

        // A lane idle too long is dropped, not used.
        let q = PeerId::random();
        let long_ago = Instant::now()
            .checked_sub(CLIENT_IDLE * 2)
            .expect("the machine has been up a minute");
        assert!(matches!(lanes.take(q), Take::Open));
        lanes.opened(q, Fake(long_ago));
        assert!(matches!(lanes.take(q), Take::Open));

        // At most PER_PEER lanes to a peer, busy or opening.
        let r = PeerId::random();
        assert!(matches!(lanes.take(r), Take::Open));
        lanes.opened(r, Fake(Instant::now()));
        assert!(matches!(lanes.take(r), Take::Idle(_)));
        for _ in 1..PER_PEER {
            assert!(matches!(lanes.take(r), Take::Open));
        }
        assert!(matches!(lanes.take(r), Take::No));
        lanes.give_back(r, None);
        assert!(matches!(lanes.take(r), Take::Open));
    }

    #[test]
    fn a_session_is_taken_once_and_a_peer_gets_only_so_many() {
        let (tx, _rx) = mpsc::channel(1);
        let server = LaneServer::new(PeerId::random(), 1, tx, Arc::default(), Arc::default());
        let peer = PeerId::random();
        let Accept::Open { session, .. } = server.accept(peer, &offer()) else {
            panic!("refused");
        };
        assert!(server.take(&session).is_some());
        assert!(server.take(&session).is_none());
        assert!(server.take(&[0; 16]).is_none());
        for _ in 1..PER_PEER {
            assert!(matches!(server.accept(peer, &offer()), Accept::Open { .. }));
        }
        assert_eq!(server.accept(peer, &offer()), Accept::Refused);
        // Another peer still gets one; and a closed lane frees its place.
        assert!(matches!(
            server.accept(PeerId::random(), &offer()),
            Accept::Open { .. }
        ));
        server.closed(&peer);
        assert!(matches!(server.accept(peer, &offer()), Accept::Open { .. }));
    }
}
