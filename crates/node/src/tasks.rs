//! The one way background work is started: named, inside a tracing span,
//! tracked so shutdown can wait for it, and logged when it ends; and
//! `blocking`, the one way a call runs blocking work (the catalog, files).

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::NodeError;

/// Spawns `fut` as task `name` on `tracker`; the handle is for a caller
/// that waits for it (most do not).
pub(crate) fn spawn<F>(tracker: &TaskTracker, name: &'static str, fut: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), NodeError>> + Send + 'static,
{
    let span = tracing::info_span!("task", name);
    tracker.spawn(
        async move {
            match fut.await {
                Ok(()) => tracing::debug!("task ended"),
                Err(e) => tracing::warn!(error = %e, "task failed"),
            }
        }
        .instrument(span),
    )
}

/// Runs blocking work (the catalog, files) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::{Config, Node};

    async fn networked(bootstrap: Vec<String>) -> (tempfile::TempDir, Node) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.network.mdns = false;
        config.network.bootstrap = bootstrap;
        let node = Node::start(dir.path(), config).await.unwrap();
        (dir, node)
    }

    /// Two nodes on loopback connect and talk; once stopped, no task of
    /// either (the node's own or its network's) outlives it.
    #[tokio::test]
    async fn no_task_outlives_a_stopped_node() {
        let (_a_dir, a) = networked(Vec::new()).await;
        let status = a.network().status().await.unwrap();
        let addr = format!("{}/p2p/{}", status.listen[0], status.peer_id);
        let (_b_dir, b) = networked(vec![addr]).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while a.network().peers().await.unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the nodes never connected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.network().ping(&b.node_id()).await.unwrap();
        assert!(!a.tasks_ended().await, "running");
        for node in [&a, &b] {
            node.shutdown().await;
            assert!(node.tasks_ended().await, "a task outlived the node");
        }
    }
}
