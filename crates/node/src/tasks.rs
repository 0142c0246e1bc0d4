//! The one way background work is started: named, inside a tracing span,
//! tracked so shutdown can wait for it, and logged when it ends;
//! `blocking`, the way a call runs occasional blocking work (catalog
//! writes, files); and [`Workers`], fixed pools of threads for the work
//! that comes with every request (segment reads, catalog look-ups), so
//! such work waits its turn in a queue instead of growing the blocking
//! pool by a thread per client.

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

/// One item of work for a [`Workers`] pool.
type Work = Box<dyn FnOnce() + Send>;

/// A fixed number of threads taking work from one queue, first come first
/// served. What is queued is bounded by whoever queues it (the read
/// budget, the look-ups' callers); a thread is held only while its work
/// runs, never while a client is waited for.
pub(crate) struct Workers {
    queue: std::sync::mpsc::Sender<Work>,
    threads: usize,
}

impl Workers {
    /// Starts `threads` threads named `name-<n>`. They end when the pool
    /// is dropped and its queue is empty.
    pub(crate) fn new(name: &str, threads: usize) -> Self {
        let threads = threads.max(1);
        let (queue, rx) = std::sync::mpsc::channel::<Work>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // Work runs in the runtime's context, as on its blocking pool (it
        // may make handles that talk to the runtime).
        let runtime = tokio::runtime::Handle::try_current().ok();
        for n in 0..threads {
            let (rx, runtime) = (rx.clone(), runtime.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    let _context = runtime.as_ref().map(|r| r.enter());
                    loop {
                        let work = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(work) => work,
                            Err(_) => return,
                        };
                        // A panic is the work's own: its caller hears of it
                        // (its answer channel closes) and the thread goes on.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
                    }
                })
                .expect("cannot start a worker thread");
        }
        Self { queue, threads }
    }

    /// How many threads the pool has.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on one of the pool's threads, in the caller's tracing span.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        self.queue
            .send(Box::new(move || {
                let _ = tx.send(span.in_scope(f));
            }))
            .map_err(|_| NodeError::Internal("the worker threads have stopped".into()))?;
        rx.await
            .map_err(|_| NodeError::Internal("a worker thread's work panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Workers;
    use crate::{Config, Node, NodeError};

    /// Work runs on the pool's own threads, no more at once than it has,
    /// and a panicking item is reported to its caller without losing the
    /// thread.
    #[tokio::test]
    async fn workers_run_work_on_a_fixed_number_of_threads() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = Arc::new(Workers::new("test-pool", 2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut calls = Vec::new();
        for _ in 0..16 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            calls.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(std::thread::current().name().unwrap_or("").to_owned())
                })
                .await
            }));
        }
        for call in calls {
            let name = call.await.unwrap().unwrap();
            assert!(name.starts_with("test-pool-"), "ran on {name}");
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "more work at once than threads"
        );
        let panicked = pool
            .run(|| -> Result<(), NodeError> { panic!("boom") })
            .await;
        assert!(
            matches!(panicked, Err(NodeError::Internal(_))),
            "{panicked:?}"
        );
        for _ in 0..4 {
            assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
        }
    }

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
