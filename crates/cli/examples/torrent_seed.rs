//! A librqbit seeder for `scripts/bench-torrent.sh`: shares one file from
//! 127.0.0.1 (no DHT, trackers or LAN discovery) and prints its magnet,
//! with itself as the `x.pe` peer, until killed.
//!
//!     cargo run --release --example torrent_seed -- <file> <piece KiB>

use std::net::Ipv4Addr;
use std::path::PathBuf;

use librqbit::{CreateTorrentOptions, ListenerOptions, Session, SessionOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("a file to share"));
    let piece_kib: u32 = args.next().map_or(Ok(2048), |a| a.parse())?;
    let out = file.parent().expect("the file's folder").to_path_buf();
    let session = Session::new_with_opts(
        out,
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
    .await?;
    let options = CreateTorrentOptions {
        piece_length: Some(piece_kib * 1024),
        ..Default::default()
    };
    let (torrent, handle) = session
        .create_and_serve_torrent(&file, options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    handle.wait_until_completed().await?;
    let addr = session.listen_addr().expect("a listener");
    println!(
        "magnet:?xt=urn:btih:{}&x.pe={addr}",
        torrent.info_hash().as_string()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
