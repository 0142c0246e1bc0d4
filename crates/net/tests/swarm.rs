//! Real swarms on 127.0.0.1 in one process: connection, the shard protocol
//! end to end, and the DHT (records and providers) across peers.

use std::collections::HashMap;
use std::time::Duration;

use cairn_net::protocol::{Refusal, Request, Response, ShardKey};
use cairn_net::{Keypair, Multiaddr, NetConfig, Network};

fn config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        mdns: false,
        request_timeout: Duration::from_secs(10),
    }
}

/// Starts a swarm whose inbound shard requests are served from a map.
async fn start(bootstrap: Vec<Multiaddr>) -> (Network, Multiaddr) {
    let (net, mut inbound, driver) =
        Network::new(Keypair::generate_ed25519(), &config(bootstrap)).unwrap();
    tokio::spawn(driver.run());
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
                Request::Read { key, offset, len } => match shards.get(&key) {
                    Some(s) => {
                        Response::Data(s[offset as usize..offset as usize + len as usize].to_vec())
                    }
                    None => Response::Refused(Refusal::NotFound, "no such shard".into()),
                },
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
    (net, addr)
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
    let r = c
        .request(
            a.peer_id(),
            Request::Read {
                key,
                offset: 1000,
                len: 5000,
            },
        )
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_leave_the_node_serving() {
    use futures_util::StreamExt;
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;

    let (a, a_addr) = start(Vec::new()).await;
    let mut bad = libp2p::SwarmBuilder::with_new_identity()
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
                    libp2p::StreamProtocol::new(cairn_net::protocol::PROTOCOL),
                    ProtocolSupport::Outbound,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })
        .unwrap()
        .build();
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
