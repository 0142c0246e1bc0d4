//! A seeding librqbit session on 127.0.0.1 (no DHT, trackers or LAN
//! discovery), found by `x.pe` in its magnet: the swarm of the torrent
//! tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use librqbit::{
    CreateTorrentOptions, CreateTorrentResult, ListenerOptions, Session, SessionOptions,
};

/// A seeder: a librqbit session on 127.0.0.1 sharing the folder `movie`
/// with `files`, and the torrent made of it.
pub struct Seeder {
    pub session: Arc<Session>,
    pub torrent: CreateTorrentResult,
    pub addr: SocketAddr,
}

impl Seeder {
    pub async fn start(dir: &Path, files: &[(&str, &[u8])]) -> Self {
        let content = dir.join("movie");
        for (name, bytes) in files {
            let path = content.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let session = Session::new_with_opts(
            dir.join("seed-out"),
            SessionOptions {
                dht: None,
                persistence: None,
                disable_trackers: true,
                disable_local_service_discovery: true,
                listen: Some(ListenerOptions {
                    listen_addr: (Ipv4Addr::LOCALHOST, 0).into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (torrent, handle) = session
            .create_and_serve_torrent(
                &content,
                CreateTorrentOptions {
                    piece_length: Some(65536),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), handle.wait_until_completed())
            .await
            .expect("the seeder checks its data")
            .unwrap();
        let addr = session.listen_addr().unwrap();
        Self {
            session,
            torrent,
            addr,
        }
    }

    pub fn hash(&self) -> String {
        self.torrent.info_hash().as_string()
    }

    /// The magnet, with the seeder as its `x.pe` peer.
    pub fn magnet(&self) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn=movie&x.pe={}",
            self.hash(),
            self.addr
        )
    }
}
