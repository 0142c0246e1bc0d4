//! `cairn node`: parse → load config → open the node → bind → serve until
//! ctrl-c, SIGTERM or the admin call → shut down.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

pub(crate) async fn run(data_dir: &Path, listen: Option<SocketAddr>) -> Result<()> {
    keep_segment_buffers_on_the_heap();
    let mut config = cairn_node::Config::load(data_dir)?;
    if let Some(addr) = listen {
        config.listen = addr;
    }
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
    cairn_api::serve(node.clone(), listener).await?;
    node.shutdown().await;
    let _ = std::fs::remove_file(data_dir.join("api.addr"));
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
    let tmp = data_dir.join("api.addr.tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, data_dir.join("api.addr"))?;
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
