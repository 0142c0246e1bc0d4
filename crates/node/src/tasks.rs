//! The one way background work is started: named, inside a tracing span,
//! tracked so shutdown can wait for it, and logged when it ends;
//! `blocking`, the way a call runs occasional blocking work (catalog
//! writes, files); and [`Workers`], fixed pools of threads for the work
//! that comes with every request (segment reads, catalog look-ups), so
//! such work waits its turn in a queue instead of growing the blocking
//! pool by a thread per client.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};

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
/// served (urgent work before the rest). What is queued is bounded by
/// whoever queues it (the read budget, the look-ups' callers); a thread is
/// held only while its work runs, never while a client is waited for.
pub(crate) struct Workers {
    queue: Arc<Queue>,
    threads: usize,
}

#[derive(Default)]
struct Queue {
    state: Mutex<Queued>,
    ready: Condvar,
}

#[derive(Default)]
struct Queued {
    urgent: VecDeque<Work>,
    normal: VecDeque<Work>,
    closed: bool,
}

impl Workers {
    /// Starts `threads` threads named `name-<n>`, at the nice level
    /// `nice` (0: the process's; more: they yield the cores to the
    /// threads that answer requests). They end when the pool is dropped.
    pub(crate) fn new(name: &str, threads: usize, nice: i32) -> Self {
        let threads = threads.max(1);
        let queue = Arc::new(Queue::default());
        // Work runs in the runtime's context, as on its blocking pool (it
        // may make handles that talk to the runtime).
        let runtime = tokio::runtime::Handle::try_current().ok();
        for n in 0..threads {
            let (queue, runtime) = (queue.clone(), runtime.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    if nice != 0 {
                        lower_priority(nice);
                    }
                    let _context = runtime.as_ref().map(|r| r.enter());
                    while let Some(work) = queue.next() {
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
        self.run_as(false, f).await
    }

    /// [`Workers::run`], before any work not `urgent` still queued.
    pub(crate) async fn run_as<T: Send + 'static>(
        &self,
        urgent: bool,
        f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        self.queue.push(
            urgent,
            Box::new(move || {
                let _ = tx.send(span.in_scope(f));
            }),
        );
        rx.await
            .map_err(|_| NodeError::Internal("a worker thread's work panicked".into()))?
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, urgent: bool, work: Work) {
        let mut q = self.lock();
        if urgent {
            q.urgent.push_back(work);
        } else {
            q.normal.push_back(work);
        }
        drop(q);
        self.ready.notify_one();
    }

    /// The next work, waiting for some; `None` once the pool is dropped.
    fn next(&self) -> Option<Work> {
        let mut q = self.lock();
        loop {
            if let Some(work) = q.urgent.pop_front().or_else(|| q.normal.pop_front()) {
                return Some(work);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// Lowers the calling thread's scheduling priority to nice level `nice`.
fn lower_priority(nice: i32) {
    // SAFETY: gettid has no preconditions; setpriority on one's own thread
    // id only changes that thread's nice value (Linux schedules threads
    // by their own nice level).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
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
        let pool = Arc::new(Workers::new("test-pool", 2, 0));
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

    /// Urgent work goes before the ordinary work already queued.
    #[tokio::test]
    async fn urgent_work_goes_first() {
        let pool = std::sync::Arc::new(Workers::new("test-urgent", 1, 0));
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let blocked = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    gate.recv().ok();
                    Ok(())
                })
                .await
            })
        };
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut queued = Vec::new();
        for (name, urgent) in [("a", false), ("b", false), ("u", true)] {
            // Each is queued before the next (the pool's one thread is
            // blocked, so none runs yet).
            tokio::task::yield_now().await;
            let (pool, order) = (pool.clone(), order.clone());
            queued.push(tokio::spawn(async move {
                pool.run_as(urgent, move || {
                    order.lock().unwrap().push(name);
                    Ok(())
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        open.send(()).unwrap();
        blocked.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["u", "a", "b"]);
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
