//! `cairn node`: parse → load config → open the node → bind → serve until
//! ctrl-c, SIGTERM or the admin call → shut down.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

pub(crate) async fn run(
    data_dir: &Path,
    listen: Option<SocketAddr>,
    p2p_listen: Vec<String>,
    bootstrap: Vec<String>,
) -> Result<()> {
    keep_segment_buffers_on_the_heap();
    let mut config = cairn_node::Config::load(data_dir)?;
    if let Some(addr) = listen {
        config.listen = addr;
    }
    if !p2p_listen.is_empty() {
        config.network.listen = p2p_listen;
    }
    config.network.bootstrap.extend(bootstrap);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let node = cairn_node::Node::start(data_dir, config.clone()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    write_addr(data_dir, &addr)?;
    println!("cairn node {} listening on http://{addr}", node.node_id());
    println!("data dir {}", data_dir.display());
    let stop = node.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received, stopping");
        stop.request_shutdown();
    });
    let mut layers = tokio::task::JoinSet::new();
    let mut addr_files = vec![data_dir.join("api.addr")];
    for (layer, addrs) in [
        (cairn_api::Layer::Cacaoweb, &config.layers.cacaoweb),
        (cairn_api::Layer::Openload, &config.layers.openload),
        (cairn_api::Layer::MetaDisk, &config.layers.metadisk),
    ] {
        for (i, want) in addrs.iter().enumerate() {
            let listener = match tokio::net::TcpListener::bind(want).await {
                Ok(l) => l,
                // cacaoweb's default port is a convenience: another program
                // on it must not keep the node from starting.
                Err(e) if *want == cairn_node::config::CACAOWEB_ADDR => {
                    tracing::warn!(error = %e, "cacaoweb layer not served on {want}");
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot listen on {want} for the {} layer", layer.name())
                    });
                }
            };
            let addr = listener.local_addr()?;
            if i == 0 {
                let file = data_dir.join(format!("{}.addr", layer.name()));
                write_addr_file(&file, &addr)?;
                addr_files.push(file);
            }
            println!("{} layer listening on http://{addr}", layer.name());
            layers.spawn(cairn_api::serve_layer(node.clone(), listener, layer));
        }
    }
    cairn_api::serve(node.clone(), listener).await?;
    while let Some(served) = layers.join_next().await {
        if let Ok(Err(e)) = served {
            tracing::warn!(error = %e, "a layer listener failed");
        }
    }
    node.shutdown().await;
    for file in addr_files {
        let _ = std::fs::remove_file(file);
    }
    Ok(())
}

/// Segment buffers are 1 MiB, above glibc's default mmap threshold, so
/// every one would be a fresh mmap whose pages the kernel faults in and
/// zeroes, then unmaps when the HTTP writer drops it: a few percent of a
/// download's CPU. Raising the threshold keeps them on the heap, reused.
fn keep_segment_buffers_on_the_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any thread
    // of ours allocates large buffers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

fn write_addr(data_dir: &Path, addr: &SocketAddr) -> Result<()> {
    write_addr_file(&data_dir.join("api.addr"), addr)
}

/// Writes `addr` to `file` through a temporary name, so a reader never
/// sees half an address.
fn write_addr_file(file: &Path, addr: &SocketAddr) -> Result<()> {
    let tmp = file.with_extension("addr.tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
