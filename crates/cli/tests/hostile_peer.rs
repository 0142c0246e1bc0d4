//! A hostile peer against a real node: a libp2p client of its own (TCP,
//! noise, yamux, the shard protocol's name) that writes whatever bytes it
//! likes on the node's shard streams: oversized and truncated frames,
//! unknown tags, overflowing offsets, trailing bytes, random garbage, and
//! a request that stalls half-sent. The node must answer a refusal or drop
//! the stream, never store anything, and go on serving: a well-formed ping
//! on the same connection is answered afterwards, and while a stalled
//! request is still open. A peer that speaks only version 2 of the
//! protocol is served in it, and one that speaks version 3 is never
//! granted version 4's `SealAs`. Fresh identities, as many as a Sybil
//! likes, cannot fill the node's donated space: past `strangers_max` they
//! are refused, none keeps more than `stranger_quota`, and a friend still
//! gets its space; a private node takes friends only.

mod common;

use std::io;
use std::time::{Duration, Instant};

use cairn_net::protocol::{
    MAX_CHUNK, MAX_FRAME, PROTOCOL, PROTOCOL_V2, PROTOCOL_V3, Refusal, Request, Response, ShardKey,
    Version, decode_response, encode_request, owner_of,
};
use common::net::p2p_addr;
use common::{Endpoint, TestNode};
use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use rand::{Rng, SeedableRng};

/// What the hostile client sends on one stream: raw bytes, then (when
/// `stall_ticks` is not 0) one more byte every 100 ms that many times,
/// then it closes its side.
#[derive(Debug, Clone)]
struct Raw {
    bytes: Vec<u8>,
    stall_ticks: u32,
}

/// Most answer bytes the client reads (a `Data` of a whole chunk fits).
const MAX_ANSWER: u64 = MAX_FRAME as u64 + 4;

/// Writes requests verbatim; reads whatever comes back, bounded.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Raw;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Raw>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("the hostile client serves nothing"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut answer = Vec::new();
        io.take(MAX_ANSWER).read_to_end(&mut answer).await?;
        Ok(answer)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Raw) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req.bytes).await?;
        io.flush().await?;
        // A stalling peer trickles one byte every 100 ms: a write fails
        // as soon as the node resets the stream.
        for _ in 0..req.stall_ticks {
            tokio::time::sleep(Duration::from_millis(100)).await;
            io.write_all(&[9]).await?;
            io.flush().await?;
        }
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::other("the hostile client serves nothing"))
    }
}

type Client = Swarm<request_response::Behaviour<RawCodec>>;

/// A client swarm of a fresh identity connected to the node at `addr`
/// (with `/p2p/<id>`), speaking `protocol`.
async fn connect(addr: &str, protocol: &'static str) -> (Client, PeerId) {
    connect_as(
        addr,
        protocol,
        libp2p::identity::Keypair::generate_ed25519(),
    )
    .await
}

/// The same, as the identity `key`.
async fn connect_as(
    addr: &str,
    protocol: &'static str,
    key: libp2p::identity::Keypair,
) -> (Client, PeerId) {
    let addr: Multiaddr = addr.parse().unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
        panic!("no peer id in {addr}");
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(StreamProtocol::new(protocol), ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm.dial(addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), swarm.select_next_some())
            .await
            .expect("the node never accepted the connection");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial failed: {error}"),
            _ => {}
        }
    }
    (swarm, peer)
}

/// What became of one raw request.
#[derive(Debug)]
enum Outcome {
    /// The node answered these bytes (possibly none: it closed).
    Answer(Vec<u8>),
    /// The stream failed (reset, closed early, timed out).
    Failed(String),
}

/// Drives the swarm until request `id` ends; other requests' ends are
/// kept in `done`.
async fn outcome(
    swarm: &mut Client,
    id: OutboundRequestId,
    done: &mut Vec<(OutboundRequestId, Outcome)>,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(i) = done.iter().position(|(d, _)| *d == id) {
            return done.remove(i).1;
        }
        let event = tokio::time::timeout_at(deadline.into(), swarm.select_next_some())
            .await
            .expect("no answer and no failure within a minute");
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => done.push((request_id, Outcome::Answer(response))),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => done.push((request_id, Outcome::Failed(error.to_string()))),
            SwarmEvent::ConnectionClosed { cause, .. } => {
                panic!("the node dropped the whole connection: {cause:?}")
            }
            _ => {}
        }
    }
}

/// A length-prefixed frame around `body`.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A well-formed request, framed.
fn framed(request: &Request) -> Raw {
    raw(frame(&encode_request(request, Version::V3)))
}

fn raw(bytes: Vec<u8>) -> Raw {
    Raw {
        bytes,
        stall_ticks: 0,
    }
}

/// The node's answer must be nothing, a failure, or a refusal: never a
/// success for a request that makes no sense.
fn assert_refused(what: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Failed(_) => {}
        Outcome::Answer(bytes) if bytes.is_empty() => {}
        Outcome::Answer(bytes) => {
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, bytes.len(), "{what}: a torn answer");
            match decode_response(&bytes[4..]) {
                Ok(Response::Refused(..)) => {}
                other => panic!("{what}: the node answered {other:?}"),
            }
        }
    }
}

/// A node with `extra` lines in its `[network]` section, and a hostile
/// client connected to it.
async fn node_and_client(extra: &str) -> (TestNode, Client, PeerId) {
    node_and_client_speaking(extra, PROTOCOL).await
}

/// The same, with a client that speaks only `protocol`.
async fn node_and_client_speaking(
    extra: &str,
    protocol: &'static str,
) -> (TestNode, Client, PeerId) {
    let node = TestNode::start_with(&format!(
        "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\nrequest_timeout_secs = 3\n{extra}"
    ))
    .await;
    let (swarm, peer) = connect(&p2p_addr(&node).await, protocol).await;
    (node, swarm, peer)
}

/// Sends a well-formed request; answers the node's response.
async fn ask(swarm: &mut Client, peer: PeerId, request: &Request) -> Response {
    ask_in(swarm, peer, request, Version::V3).await
}

/// Sends a well-formed request in `version`; answers the response.
async fn ask_in(swarm: &mut Client, peer: PeerId, request: &Request, v: Version) -> Response {
    let request_bytes = raw(frame(&encode_request(request, v)));
    let id = swarm.behaviour_mut().send_request(&peer, request_bytes);
    match outcome(swarm, id, &mut Vec::new()).await {
        Outcome::Answer(bytes) => decode_response(&bytes[4..]).unwrap(),
        Outcome::Failed(e) => panic!("{request:?} failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_gets_refusals_and_the_node_stores_nothing_and_keeps_serving() {
    let (node, mut swarm, peer) = node_and_client("").await;
    let me = owner_of(swarm.local_peer_id());
    let key = ShardKey {
        owner: me,
        blob: [7; 32],
        position: 0,
    };
    let write = |offset: u64, data: Vec<u8>| {
        encode_request(
            &Request::Write {
                key,
                offset,
                stride: 1 << 16,
                data,
            },
            Version::V3,
        )
    };

    let mut cases: Vec<(String, Raw)> = vec![
        (
            "a 4 GiB frame".into(),
            raw([0xff; 4].iter().chain(&[2; 64]).copied().collect()),
        ),
        ("a frame one byte over the limit".into(), {
            let mut b = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
            b.extend(std::iter::repeat_n(0u8, 4096));
            raw(b)
        }),
        ("an unknown tag".into(), raw(frame(&[0xee, 1, 2, 3]))),
        ("an empty frame".into(), raw(frame(&[]))),
        ("half a length".into(), raw(vec![0, 0])),
        ("a ping with trailing bytes".into(), raw(frame(&[0, 0, 0]))),
        ("a write cut short".into(), {
            let whole = frame(&write(0, vec![5; 64 << 10]));
            raw(whole[..whole.len() / 2].to_vec())
        }),
        (
            "a write whose end overflows".into(),
            raw(frame(&write(u64::MAX - 5, vec![1; 100]))),
        ),
        (
            "a write over one chunk".into(),
            raw(frame(&write(0, vec![1; MAX_CHUNK + 1]))),
        ),
        (
            "a seal of a shard never written".into(),
            framed(&Request::Seal {
                key,
                len: 10,
                stride: 10,
                hash: [0; 32],
            }),
        ),
        (
            "a seal with a zero stride".into(),
            framed(&Request::Seal {
                key,
                len: 0,
                stride: 0,
                hash: [0; 32],
            }),
        ),
        (
            "a read of a missing shard".into(),
            framed(&Request::Read {
                key,
                offset: 0,
                len: 16,
            }),
        ),
        ("an audit over one chunk".into(), {
            let mut body = encode_request(
                &Request::Audit {
                    key,
                    nonce: [1; 32],
                    offset: 0,
                    len: 16,
                },
                Version::V3,
            );
            let at = body.len() - 4;
            body[at..].copy_from_slice(&((MAX_CHUNK + 1) as u32).to_be_bytes());
            raw(frame(&body))
        }),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0063_6169_726e);
    for i in 0..48 {
        let len = rng.gen_range(0..4096);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        // Half of them with a believable length in front.
        if i % 2 == 0 && len >= 4 {
            bytes[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
        }
        cases.push((format!("garbage #{i}"), raw(bytes)));
    }

    let mut done = Vec::new();
    for (what, request) in cases {
        let id = swarm.behaviour_mut().send_request(&peer, request);
        let got = outcome(&mut swarm, id, &mut done).await;
        assert_refused(&what, &got);
    }

    // A write that stalls half-sent, and a ping behind it on the same
    // connection: the ping is answered while the write is still open.
    let stalled = {
        let whole = frame(&write(0, vec![9; 256 << 10]));
        Raw {
            bytes: whole[..1000].to_vec(),
            stall_ticks: 500,
        }
    };
    let stalled = swarm.behaviour_mut().send_request(&peer, stalled);
    let ping = swarm
        .behaviour_mut()
        .send_request(&peer, framed(&Request::Ping));
    let pong = outcome(&mut swarm, ping, &mut done).await;
    match &pong {
        Outcome::Answer(bytes) => {
            assert_eq!(
                decode_response(&bytes[4..]).unwrap(),
                Response::Ok,
                "{bytes:?}"
            )
        }
        Outcome::Failed(e) => panic!("the ping after the garbage failed: {e}"),
    }
    assert!(
        done.iter().all(|(id, _)| *id != stalled),
        "the stalled write ended before the ping: {done:?}"
    );
    // The node gives up on the stalled stream by itself (its request
    // timeout is 3 s): the client's trickle fails. Had the node waited,
    // the client would have closed after 50 s and got an answer.
    match outcome(&mut swarm, stalled, &mut done).await {
        Outcome::Failed(_) => {}
        Outcome::Answer(a) => panic!("the node waited for the stalled write: {a:?}"),
    }

    // Nothing was stored: no shard file, sealed or partial, and the node
    // counts no customer.
    let shards = node.dir.join("shards");
    let files: Vec<_> = walk(&shards)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "rejected"))
        .collect();
    assert!(files.is_empty(), "the hostile peer left files: {files:?}");
    let (status, customers) = node.get_json("/network/customers").await;
    assert_eq!(status, 200, "{customers}");
    assert_eq!(
        customers["customers"].as_array().map(Vec::len),
        Some(0),
        "{customers}"
    );

    // A well-formed write and read still work for the same peer: the node
    // refused the garbage, not the peer.
    let good = Request::Write {
        key,
        offset: 0,
        stride: 0,
        data: vec![3; 4096],
    };
    assert_eq!(ask(&mut swarm, peer, &good).await, Response::Ok);
    // Not sealed yet, so not readable.
    let read = Request::Read {
        key,
        offset: 0,
        len: 16,
    };
    let answer = ask(&mut swarm, peer, &read).await;
    assert!(
        matches!(answer, Response::Refused(Refusal::NotFound, _)),
        "{answer:?}"
    );
    let (status, _) = node.get_json("/status").await;
    assert_eq!(status, 200);
}

/// Every file under `dir`, recursively (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_that_never_seals_loses_its_partial_shard() {
    let (node, mut swarm, peer) = node_and_client("part_idle_secs = 1\ncheck_secs = 1\n").await;
    let me = owner_of(swarm.local_peer_id());
    let key = |position| ShardKey {
        owner: me,
        blob: [8; 32],
        position,
    };
    // Shard 0 written and sealed; shard 1 written and left.
    let sealed = vec![4u8; 8192];
    for (position, bytes) in [(0, &sealed), (1, &vec![5u8; 8192])] {
        let write = Request::Write {
            key: key(position),
            offset: 0,
            stride: 8192,
            data: bytes.clone(),
        };
        assert_eq!(ask(&mut swarm, peer, &write).await, Response::Ok);
    }
    let hash = cairn_core::placement::pieces_hash([blake3::hash(&sealed).as_bytes()]);
    let seal = Request::Seal {
        key: key(0),
        len: sealed.len() as u64,
        stride: sealed.len() as u32,
        hash,
    };
    assert_eq!(ask(&mut swarm, peer, &seal).await, Response::Ok);
    let (_, customers) = node.get_json("/network/customers").await;
    assert_eq!(customers["customers"][0]["bytes"], 16384, "{customers}");

    // The idle part goes at an audit round; the sealed shard stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, customers) = node.get_json("/network/customers").await;
        if customers["customers"][0]["bytes"] == 8192 {
            break;
        }
        assert!(Instant::now() < deadline, "the part stayed: {customers}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let files = walk(&node.dir.join("shards"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!files[0].to_string_lossy().ends_with(".part"), "{files:?}");
    let read = Request::Read {
        key: key(0),
        offset: 0,
        len: 8192,
    };
    assert_eq!(ask(&mut swarm, peer, &read).await, Response::Data(sealed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_speaks_only_version_2_is_served_in_it() {
    let (node, mut swarm, peer) = node_and_client_speaking("", PROTOCOL_V2).await;
    let key = ShardKey {
        owner: owner_of(swarm.local_peer_id()),
        blob: [9; 32],
        position: 2,
    };
    let v2 = Version::V2;
    let bytes: Vec<u8> = (0..3 * 4096 + 10).map(|i| (i * 13 % 251) as u8).collect();
    // Two writes without a stride (version 2 has none).
    for (offset, part) in [(0, &bytes[..5000]), (5000, &bytes[5000..])] {
        let write = Request::Write {
            key,
            offset,
            stride: 0,
            data: part.to_vec(),
        };
        assert_eq!(ask_in(&mut swarm, peer, &write, v2).await, Response::Ok);
    }
    let hashes: Vec<[u8; 32]> = bytes
        .chunks(4096)
        .map(|c| *blake3::hash(c).as_bytes())
        .collect();
    let seal = |hash| Request::Seal {
        key,
        len: bytes.len() as u64,
        stride: 4096,
        hash,
    };
    // The node reads the pieces back to check the seal: a wrong hash is
    // refused, the right one seals.
    let wrong = ask_in(&mut swarm, peer, &seal([1; 32]), v2).await;
    assert!(
        matches!(wrong, Response::Refused(Refusal::Invalid, _)),
        "{wrong:?}"
    );
    let right = cairn_core::placement::pieces_hash(&hashes);
    assert_eq!(
        ask_in(&mut swarm, peer, &seal(right), v2).await,
        Response::Ok
    );
    let read = Request::Read {
        key,
        offset: 4000,
        len: 5000,
    };
    assert_eq!(
        ask_in(&mut swarm, peer, &read, v2).await,
        Response::Data(bytes[4000..9000].to_vec())
    );
    let (_, customers) = node.get_json("/network/customers").await;
    assert_eq!(
        customers["customers"][0]["bytes"],
        bytes.len(),
        "{customers}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_written_under_a_provisional_id_is_sealed_as_its_blob_in_version_4_only() {
    let (node, mut swarm, peer) = node_and_client("").await;
    let provisional = ShardKey {
        owner: owner_of(swarm.local_peer_id()),
        blob: [7; 32],
        position: 1,
    };
    let blob = [8; 32];
    let sealed = ShardKey {
        blob,
        ..provisional
    };
    let bytes: Vec<u8> = (0..2 * 4096 + 99).map(|i| (i * 17 % 251) as u8).collect();
    let write = Request::Write {
        key: provisional,
        offset: 0,
        stride: 4096,
        data: bytes.clone(),
    };
    assert_eq!(ask(&mut swarm, peer, &write).await, Response::Ok);
    let hashes: Vec<[u8; 32]> = bytes
        .chunks(4096)
        .map(|c| *blake3::hash(c).as_bytes())
        .collect();
    let seal_as = |hash| Request::SealAs {
        key: provisional,
        len: bytes.len() as u64,
        stride: 4096,
        hash,
        blob,
    };
    let read = |key| Request::Read {
        key,
        offset: 0,
        len: bytes.len() as u32,
    };
    let v4 = Version::V4;
    let wrong = ask_in(&mut swarm, peer, &seal_as([1; 32]), v4).await;
    assert!(
        matches!(wrong, Response::Refused(Refusal::Invalid, _)),
        "{wrong:?}"
    );
    assert!(matches!(
        ask(&mut swarm, peer, &read(sealed)).await,
        Response::Refused(Refusal::NotFound, _)
    ));
    let right = cairn_core::placement::pieces_hash(&hashes);
    assert_eq!(
        ask_in(&mut swarm, peer, &seal_as(right), v4).await,
        Response::Ok
    );
    // Readable as the blob's shard only.
    assert_eq!(
        ask(&mut swarm, peer, &read(sealed)).await,
        Response::Data(bytes.clone())
    );
    assert!(matches!(
        ask(&mut swarm, peer, &read(provisional)).await,
        Response::Refused(Refusal::NotFound, _)
    ));
    let (_, customers) = node.get_json("/network/customers").await;
    assert_eq!(
        customers["customers"][0]["bytes"],
        bytes.len(),
        "{customers}"
    );

    // A peer that speaks version 3 has no SealAs: one sent anyway is
    // refused, and nothing is sealed.
    let (mut old, peer) = connect(&p2p_addr(&node).await, PROTOCOL_V3).await;
    let provisional = ShardKey {
        owner: owner_of(old.local_peer_id()),
        ..provisional
    };
    let write = Request::Write {
        key: provisional,
        offset: 0,
        stride: 4096,
        data: bytes.clone(),
    };
    assert_eq!(ask(&mut old, peer, &write).await, Response::Ok);
    let request = Request::SealAs {
        key: provisional,
        len: bytes.len() as u64,
        stride: 4096,
        hash: right,
        blob,
    };
    let id = old
        .behaviour_mut()
        .send_request(&peer, raw(frame(&encode_request(&request, v4))));
    assert_refused(
        "a SealAs in version 3",
        &outcome(&mut old, id, &mut Vec::new()).await,
    );
    assert!(matches!(
        ask(
            &mut old,
            peer,
            &read(ShardKey {
                blob,
                ..provisional
            })
        )
        .await,
        Response::Refused(Refusal::NotFound, _)
    ));
}

/// A write of `data` at `offset` of shard `key`.
fn write_of(key: ShardKey, offset: u64, data: Vec<u8>) -> Request {
    Request::Write {
        key,
        offset,
        stride: 0,
        data,
    }
}

/// The client's first shard.
fn shard_of(client: &Client) -> ShardKey {
    ShardKey {
        owner: owner_of(client.local_peer_id()),
        blob: [1; 32],
        position: 0,
    }
}

/// The answer must be a refusal as over quota that says `why`.
fn assert_over_quota(answer: &Response, why: &str) {
    assert!(
        matches!(answer, Response::Refused(Refusal::OverQuota, text) if text.contains(why)),
        "not refused for '{why}': {answer:?}"
    );
}

/// A friend's identity, fixed so its peer id can go in the config.
fn friend() -> (libp2p::identity::Keypair, PeerId) {
    let key = libp2p::identity::Keypair::ed25519_from_bytes([7; 32]).unwrap();
    let id = key.public().to_peer_id();
    (key, id)
}

/// The customers list, by owner id.
async fn customers(node: &TestNode) -> std::collections::HashMap<String, serde_json::Value> {
    let (status, v) = node.get_json("/network/customers").await;
    assert_eq!(status, 200, "{v}");
    v["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["owner"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// Issue 15: three fresh identities filled a node's whole donated space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_identities_cannot_fill_a_node_and_a_friend_still_gets_its_space() {
    let (friend_key, friend_id) = friend();
    let (node, first, peer) = node_and_client(&format!(
        "donated = 2000000\ncustomer_quota = 1000000\nstrangers_max = 2\n\
         stranger_quota = 300000\nfriends = [\"{friend_id}\"]\n"
    ))
    .await;
    let addr = p2p_addr(&node).await;
    let mut sybils = vec![first];
    for _ in 0..3 {
        sybils.push(connect(&addr, PROTOCOL).await.0);
    }
    for (i, sybil) in sybils.iter_mut().enumerate() {
        let key = shard_of(sybil);
        let space = ask(sybil, peer, &Request::Space).await;
        let first = ask(sybil, peer, &write_of(key, 0, vec![i as u8; 250_000])).await;
        let more = ask(sybil, peer, &write_of(key, 250_000, vec![1; 100_000])).await;
        if i < 2 {
            assert_eq!(space, Response::Space(300_000), "sybil {i}");
            assert_eq!(first, Response::Ok, "sybil {i}");
            assert_over_quota(&more, "space per customer");
        } else {
            assert_eq!(space, Response::Space(0), "sybil {i}");
            assert_over_quota(&first, "strangers_max");
            assert_over_quota(&more, "strangers_max");
        }
    }
    let (_, v) = node.get_json("/network").await;
    assert_eq!(v["space"]["used"], 500_000, "{v}");
    assert_eq!(v["space"]["donated"], 2_000_000, "{v}");

    // The friend gets its quota, past what any stranger may keep.
    let (mut friend, _) = connect_as(&addr, PROTOCOL, friend_key).await;
    let key = shard_of(&friend);
    assert_eq!(
        ask(&mut friend, peer, &Request::Space).await,
        Response::Space(1_000_000)
    );
    let write = write_of(key, 0, vec![7; 900_000]);
    assert_eq!(ask(&mut friend, peer, &write).await, Response::Ok);
    let over = ask(&mut friend, peer, &write_of(key, 900_000, vec![7; 100_001])).await;
    assert_over_quota(&over, "space per customer");

    let list = customers(&node).await;
    assert_eq!(list.len(), 3, "{list:?}");
    let friend = &list[&hex::encode(key.owner)];
    assert_eq!(friend["standing"], "friend", "{friend}");
    assert_eq!(friend["peer"], friend_id.to_string(), "{friend}");
    assert_eq!(
        (&friend["bytes"], &friend["allowance"]),
        (&900_000.into(), &1_000_000.into())
    );
    for sybil in &sybils[..2] {
        let c = &list[&hex::encode(owner_of(sybil.local_peer_id()))];
        assert_eq!(c["standing"], "stranger", "{c}");
        assert_eq!(
            (&c["bytes"], &c["allowance"]),
            (&250_000.into(), &300_000.into())
        );
        assert_eq!(c["holds_for_us"], 0, "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_node_keeps_shards_for_its_friends_only() {
    let (friend_key, friend_id) = friend();
    let (node, mut stranger, peer) =
        node_and_client(&format!("strangers = false\nfriends = [\"{friend_id}\"]\n")).await;
    let key = shard_of(&stranger);
    assert_eq!(
        ask(&mut stranger, peer, &Request::Space).await,
        Response::Space(0)
    );
    let refused = ask(&mut stranger, peer, &write_of(key, 0, vec![1; 1000])).await;
    assert_over_quota(&refused, "friends only");
    assert!(walk(&node.dir.join("shards")).is_empty());

    let (mut friend, _) = connect_as(&p2p_addr(&node).await, PROTOCOL, friend_key).await;
    let key = shard_of(&friend);
    let space = ask(&mut friend, peer, &Request::Space).await;
    assert!(
        matches!(space, Response::Space(s) if s >= 1 << 20),
        "{space:?}"
    );
    let write = write_of(key, 0, vec![7; 1 << 20]);
    assert_eq!(ask(&mut friend, peer, &write).await, Response::Ok);
    let list = customers(&node).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[&hex::encode(key.owner)]["bytes"], 1 << 20);
}
