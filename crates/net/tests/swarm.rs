//! Real swarms on 127.0.0.1 in one process: connection, the shard protocol
//! end to end, and the DHT (records and providers) across peers.

use std::collections::HashMap;
use std::time::Duration;

use cairn_net::protocol::{Refusal, Request, Response, ShardKey};
use cairn_net::{Keypair, Multiaddr, NetConfig, Network};

fn config(bootstrap: Vec<Multiaddr>, lanes: bool) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        mdns: false,
        request_timeout: Duration::from_secs(10),
        lanes: lanes.then_some(0),
    }
}

/// Starts a swarm, with lanes, whose inbound shard requests are served
/// from a map.
async fn start(bootstrap: Vec<Multiaddr>) -> (Network, Multiaddr) {
    start_with(bootstrap, true).await
}

async fn start_with(bootstrap: Vec<Multiaddr>, lanes: bool) -> (Network, Multiaddr) {
    let (net, addr, _driver) = start_driven(bootstrap, lanes).await;
    (net, addr)
}

/// As [`start_with`], and the driver's task.
async fn start_driven(
    bootstrap: Vec<Multiaddr>,
    lanes: bool,
) -> (Network, Multiaddr, tokio::task::JoinHandle<()>) {
    let (net, mut inbound, driver) =
        Network::new(Keypair::generate_ed25519(), &config(bootstrap, lanes)).unwrap();
    let driver = tokio::spawn(driver.run());
    tokio::spawn(async move {
        let mut shards: HashMap<ShardKey, Vec<u8>> = HashMap::new();
        while let Some(i) = inbound.recv().await {
            let answer = match i.request {
                Request::Ping => Response::Ok,
                Request::Write {
                    key, offset, data, ..
                } => {
                    let s = shards.entry(key).or_default();
                    let end = offset as usize + data.len();
                    if s.len() < end {
                        s.resize(end, 0);
                    }
                    s[offset as usize..end].copy_from_slice(&data);
                    Response::Ok
                }
                Request::Read { key, offset, len } => {
                    match shards
                        .get(&key)
                        .and_then(|s| s.get(offset as usize..offset as usize + len as usize))
                    {
                        Some(bytes) => Response::Data(bytes.to_vec()),
                        None => Response::Refused(Refusal::NotFound, "no such bytes".into()),
                    }
                }
                _ => Response::Refused(Refusal::Invalid, "not served here".into()),
            };
            let _ = i.reply.send(answer);
        }
    });
    let mut addrs = Vec::new();
    for _ in 0..100 {
        addrs = net.listen_addrs().await.unwrap();
        if !addrs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr: Multiaddr = format!("{}/p2p/{}", addrs[0], net.peer_id())
        .parse()
        .unwrap();
    (net, addr, driver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_move_between_real_swarms_and_the_dht_works_across_them() {
    let (a, a_addr) = start(Vec::new()).await;
    let (b, _) = start(vec![a_addr.clone()]).await;
    let (c, _) = start(vec![a_addr.clone()]).await;
    // Wait (bounded) until a sees both.
    for _ in 0..200 {
        if a.peers().await.unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(a.peers().await.unwrap().len(), 2);

    let key = ShardKey {
        owner: cairn_net::protocol::owner_of(&b.peer_id()),
        blob: [7; 32],
        position: 3,
    };
    let chunk: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = b
        .request(
            a.peer_id(),
            Request::Write {
                key,
                offset: 0,
                stride: 1 << 18,
                data: chunk.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(r, Response::Ok);
    // That write went over libp2p while b's lane to a opened; the next
    // goes by lane.
    lane_opened(&b).await;
    let r = b
        .request(
            a.peer_id(),
            Request::Write {
                key,
                offset: 0,
                stride: 1 << 18,
                data: chunk.clone(),
            },
        )
        .await;
    assert_eq!(r.unwrap(), Response::Ok);
    let read = Request::Read {
        key,
        offset: 1000,
        len: 5000,
    };
    let r = c.request(a.peer_id(), read.clone()).await.unwrap();
    assert_eq!(r, Response::Data(chunk[1000..6000].to_vec()));
    lane_opened(&c).await;
    let r = c.request(a.peer_id(), read).await.unwrap();
    assert_eq!(r, Response::Data(chunk[1000..6000].to_vec()));
    let missing = ShardKey {
        owner: [0; 32],
        blob: [8; 32],
        position: 0,
    };
    let r = c
        .request(
            a.peer_id(),
            Request::Read {
                key: missing,
                offset: 0,
                len: 1,
            },
        )
        .await
        .unwrap();
    assert!(matches!(r, Response::Refused(Refusal::NotFound, _)));
    assert!(b.ping(a.peer_id()).await.unwrap() < Duration::from_secs(10));
    // Once a lane was open, the writes and reads went by it; the ping
    // goes over libp2p.
    assert_eq!((b.lane_stats().requests, b.lane_stats().fallbacks), (1, 1));
    assert_eq!((c.lane_stats().requests, c.lane_stats().fallbacks), (2, 1));
    assert_eq!(a.lane_stats().served, 3);
    assert_eq!(a.lane_stats().accepted, 2);

    // c learns of b through a's DHT; records and providers travel.
    b.put_record(b"manifest:x".to_vec(), b"hello".to_vec(), None)
        .await
        .unwrap();
    let mut got = None;
    for _ in 0..50 {
        got = c.get_record(b"manifest:x".to_vec()).await.unwrap();
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    b.provide(b"blob:x".to_vec()).await.unwrap();
    let mut providers = Vec::new();
    for _ in 0..50 {
        providers = c.providers(b"blob:x".to_vec()).await.unwrap();
        if !providers.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(providers, vec![b.peer_id()]);
    assert_eq!(c.get_record(b"nothing".to_vec()).await.unwrap(), None);
    for n in [&a, &b, &c] {
        n.stop().await;
    }
}

/// A codec that sends whatever bytes it is given as a "request", so a test
/// can speak the shard protocol badly.
#[derive(Clone, Default)]
struct RawCodec;

impl libp2p::request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, _: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        Ok(Vec::new())
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures_util::AsyncRead + Unpin + Send,
    {
        let mut buf = Vec::new();
        futures_util::AsyncReadExt::read_to_end(io, &mut buf).await?;
        if buf.is_empty() {
            // The node closed the stream without an answer.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        futures_util::AsyncWriteExt::write_all(io, &req).await?;
        futures_util::AsyncWriteExt::close(io).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures_util::AsyncWrite + Unpin + Send,
    {
        Ok(())
    }
}

/// A libp2p peer that sends raw bytes as requests in `protocol`.
fn raw_peer(
    protocol: &'static str,
) -> libp2p::Swarm<libp2p::request_response::Behaviour<RawCodec>> {
    use libp2p::request_response::{self, ProtocolSupport};
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(
                    libp2p::StreamProtocol::new(protocol),
                    ProtocolSupport::Outbound,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })
        .unwrap()
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_leave_the_node_serving() {
    use futures_util::StreamExt;
    use libp2p::request_response;
    use libp2p::swarm::SwarmEvent;

    let (a, a_addr) = start(Vec::new()).await;
    let mut bad = raw_peer(cairn_net::protocol::PROTOCOL);
    bad.dial(a_addr.clone()).unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        u32::MAX.to_be_bytes().to_vec(), // a length far over the limit
        vec![0, 0, 0, 3, 99, 1, 2],      // an unknown tag
        vec![0, 0, 0, 10, 2, 1],         // cut short
        [vec![0, 0, 0, 200], vec![7; 200]].concat(), // random body
        vec![0, 0],                      // not even a length
    ];
    let mut answered = 0;
    let mut failed = 0;
    let mut sent = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while answered + failed < garbage.len() {
        let event = tokio::time::timeout_at(deadline, bad.select_next_some())
            .await
            .expect("the bad peer's requests never ended");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if !sent => {
                for g in &garbage {
                    bad.behaviour_mut().send_request(&peer_id, g.clone());
                }
                sent = true;
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => failed += 1,
            SwarmEvent::Behaviour(request_response::Event::Message { .. }) => answered += 1,
            _ => {}
        }
    }
    assert_eq!(answered, 0, "garbage got an answer");
    // The node still serves well-formed peers.
    let (b, _) = start(vec![a_addr]).await;
    for _ in 0..200 {
        if !a.peers().await.unwrap().is_empty() && b.ping(a.peer_id()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(b.ping(a.peer_id()).await.is_ok());
}

/// Waits (bounded) until `net` has opened a lane.
async fn lane_opened(net: &Network) {
    for _ in 0..200 {
        if net.lane_stats().opened > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no lane opened");
}

/// Waits (bounded) until `net` has `n` peers.
async fn wait_peers(net: &Network, n: usize) {
    for _ in 0..200 {
        if net.peers().await.unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never saw {n} peers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_without_lanes_and_nodes_with_them_still_exchange_shards() {
    let (with, with_addr) = start(Vec::new()).await;
    let (without, _) = start_with(vec![with_addr], false).await;
    wait_peers(&with, 1).await;
    let key = |owner: &Network| ShardKey {
        owner: cairn_net::protocol::owner_of(&owner.peer_id()),
        blob: [1; 32],
        position: 0,
    };
    let write = |net: &Network| Request::Write {
        key: key(net),
        offset: 0,
        stride: 0,
        data: vec![5; 300_000],
    };
    let read = |net: &Network| Request::Read {
        key: key(net),
        offset: 100,
        len: 1000,
    };
    // A node with lanes asks one without: refused, so over libp2p, and
    // then over libp2p alone without asking again.
    for _ in 0..2 {
        let r = with.request(without.peer_id(), write(&with)).await;
        assert_eq!(r.unwrap(), Response::Ok);
    }
    let r = with.request(without.peer_id(), read(&with)).await.unwrap();
    assert_eq!(r, Response::Data(vec![5; 1000]));
    let stats = with.lane_stats();
    assert_eq!((stats.opened, stats.requests, stats.fallbacks), (0, 0, 3));
    // A node without lanes asks over libp2p; the other serves it there.
    let r = without.request(with.peer_id(), write(&without)).await;
    assert_eq!(r.unwrap(), Response::Ok);
    let r = without
        .request(with.peer_id(), read(&without))
        .await
        .unwrap();
    assert_eq!(r, Response::Data(vec![5; 1000]));
    assert_eq!(without.lane_stats().port, None);
    assert_eq!(with.lane_stats().served, 0);
}

/// The lane handshake and frames as `lane.rs` specifies them, written
/// again here so a peer built from that description talks to the node.
mod spec {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    pub struct Keys {
        pub send: LessSafeKey,
        pub recv: LessSafeKey,
    }

    pub fn keys(
        client: &libp2p::PeerId,
        server: &libp2p::PeerId,
        offer: &[u8],
        nonce: &[u8],
        session: &[u8],
    ) -> Keys {
        let mut material = [offer, nonce, session].concat();
        for p in [client, server] {
            let b = p.to_bytes();
            material.extend_from_slice(&(b.len() as u16).to_be_bytes());
            material.extend_from_slice(&b);
        }
        let key = |context: &str| {
            let k = blake3::derive_key(context, &material);
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).unwrap())
        };
        Keys {
            send: key("cairn lane 1: client to server"),
            recv: key("cairn lane 1: server to client"),
        }
    }

    pub fn nonce(n: u64) -> Nonce {
        let mut b = [0u8; 12];
        b[4..].copy_from_slice(&n.to_be_bytes());
        Nonce::assume_unique_for_key(b)
    }

    fn frame(key: &LessSafeKey, n: u64, text: &[u8]) -> Vec<u8> {
        let mut sealed = text.to_vec();
        let tag = key
            .seal_in_place_separate_tag(nonce(n), Aad::empty(), &mut sealed)
            .unwrap();
        sealed.extend_from_slice(tag.as_ref());
        [&(sealed.len() as u32).to_be_bytes()[..], &sealed].concat()
    }

    /// A message as two frames, numbered `n` and `n + 1`: its fields,
    /// then its shard bytes.
    pub fn message(key: &LessSafeKey, n: u64, head: &[u8], tail: &[u8]) -> Vec<u8> {
        [frame(key, n, head), frame(key, n + 1, tail)].concat()
    }

    /// Reads and opens one frame numbered `n`.
    pub async fn read_frame(
        stream: &mut tokio::net::TcpStream,
        key: &LessSafeKey,
        n: u64,
    ) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.unwrap();
        let mut sealed = vec![0u8; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut sealed).await.unwrap();
        key.open_in_place(nonce(n), Aad::empty(), &mut sealed)
            .expect("the node's frame opens under the spec's key")
            .to_vec()
    }
}

/// Reads what the node sends until it closes, bounded in time: `None`
/// when it is still open after 10 s.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
        .await
        .ok()
        .map(|_| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_takes_its_session_once_and_closes_on_a_frame_that_does_not_open() {
    use futures_util::StreamExt;
    use libp2p::request_response;
    use libp2p::swarm::SwarmEvent;
    use tokio::io::AsyncWriteExt;

    let (a, a_addr) = start(Vec::new()).await;
    let port = a.lane_stats().port.expect("a serves lanes");
    // Anyone may connect; a session id the node never gave is closed on.
    let mut stranger = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stranger.write_all(&[7u8; 16]).await.unwrap();
    stranger.write_all(&[0, 0, 1, 0]).await.unwrap();
    assert_eq!(read_until_closed(&mut stranger).await, Some(Vec::new()));

    // A peer of our own making asks for a lane over libp2p.
    let mut peer = raw_peer(cairn_net::LANE_PROTOCOL);
    let me = *peer.local_peer_id();
    peer.dial(a_addr.clone()).unwrap();
    let offer = [9u8; 32];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let event = tokio::time::timeout_at(deadline, peer.select_next_some())
            .await
            .expect("no answer to the lane offer");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                peer.behaviour_mut().send_request(&peer_id, offer.to_vec());
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => break response,
            _ => {}
        }
    };
    assert_eq!(answer.len(), 51);
    assert_eq!(answer[0], 1);
    assert_eq!(u16::from_be_bytes([answer[1], answer[2]]), port);
    let session = &answer[3..19];
    let keys = spec::keys(&me, &a.peer_id(), &offer, &answer[19..51], session);
    // Keep the swarm polled so the libp2p connection stays up.
    tokio::spawn(async move { while peer.next().await.is_some() {} });

    let key = ShardKey {
        owner: cairn_net::protocol::owner_of(&me),
        blob: [3; 32],
        position: 1,
    };
    // A write's fields, then its bytes.
    let write = |n: u64, byte: u8| {
        let whole = cairn_net::protocol::encode_request(
            &Request::Write {
                key,
                offset: 0,
                stride: 0,
                data: vec![byte; 5000],
            },
            cairn_net::protocol::Version::V3,
        );
        let (head, tail) = whole.split_at(whole.len() - 5000);
        spec::message(&keys.send, n, head, tail)
    };
    let mut lane = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    lane.write_all(session).await.unwrap();
    lane.write_all(&write(0, 1)).await.unwrap();
    let fields = spec::read_frame(&mut lane, &keys.recv, 0).await;
    assert_eq!(
        cairn_net::protocol::decode_response(&fields).unwrap(),
        Response::Ok
    );
    assert_eq!(spec::read_frame(&mut lane, &keys.recv, 1).await, b"");

    // The next message with one of its shard bytes changed: the lane
    // closes, unanswered, and the write never happens.
    let mut bad = write(2, 2);
    let at = bad.len() - 100;
    bad[at] ^= 1;
    lane.write_all(&bad).await.unwrap();
    assert_eq!(read_until_closed(&mut lane).await, Some(Vec::new()));
    // So does a frame replayed on a new connection with the same session:
    // a session is taken once.
    let mut again = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    again.write_all(session).await.unwrap();
    again.write_all(&write(0, 3)).await.unwrap();
    assert_eq!(read_until_closed(&mut again).await, Some(Vec::new()));

    assert_eq!(a.lane_stats().served, 1);
    assert_eq!(a.lane_stats().accepted, 1);

    // Only the first write was made.
    let (b, _) = start(vec![a_addr]).await;
    wait_peers(&b, 1).await;
    let r = b.request(
        a.peer_id(),
        Request::Read {
            key,
            offset: 0,
            len: 5000,
        },
    );
    assert_eq!(r.await.unwrap(), Response::Data(vec![1; 5000]));
}

/// Stopping a network ends every task it started, within a few seconds,
/// even a lane its peer still holds open (a server waits 90 s for a
/// lane's next request); so does dropping its driver's future, as the
/// node does when it shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_networks_leave_no_task_running() {
    let (a, a_addr) = start(Vec::new()).await;
    let (b, _, b_driver) = start_driven(vec![a_addr], true).await;
    wait_peers(&b, 1).await;
    let key = ShardKey {
        owner: cairn_net::protocol::owner_of(&b.peer_id()),
        blob: [4; 32],
        position: 0,
    };
    let write = Request::Write {
        key,
        offset: 0,
        stride: 0,
        data: vec![6; 70_000],
    };
    // Over libp2p while the lane opens, then by the lane.
    assert_eq!(b.request(a.peer_id(), write).await.unwrap(), Response::Ok);
    lane_opened(&b).await;
    let read = Request::Read {
        key,
        offset: 10,
        len: 1000,
    };
    let r = b.request(a.peer_id(), read).await.unwrap();
    assert_eq!(r, Response::Data(vec![6; 1000]));
    assert_eq!((b.lane_stats().requests, b.lane_stats().fallbacks), (1, 1));
    assert_eq!(a.lane_stats().served, 1);

    let running = Duration::from_millis(200);
    for n in [&a, &b] {
        assert!(
            tokio::time::timeout(running, n.stopped()).await.is_err(),
            "stopped() resolved while the network ran"
        );
    }
    a.stop().await;
    b_driver.abort();
    for (name, n) in [("a (stopped)", &a), ("b (driver dropped)", &b)] {
        tokio::time::timeout(Duration::from_secs(5), n.stopped())
            .await
            .unwrap_or_else(|_| panic!("{name}: a network task outlived the stop"));
    }
}
