//! What every service of the engine works with: the config, the catalog,
//! the job registry, the metrics, the events, the task tracker and the keys derived
//! from the node's identity. The node and each service hold it in an
//! `Arc`; nothing here knows any service, so every service can depend on
//! it without depending on another.

use std::future::Future;
use std::sync::Arc;

use cairn_store::Catalog;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::Events;
use crate::jobs::Registry;
use crate::{Config, NodeError};

/// The node-wide parts every service uses.
pub(crate) struct Shared {
    /// The config the node started with.
    pub(crate) config: Config,
    /// The catalog and ledger.
    pub(crate) catalog: Arc<Catalog>,
    /// Running and recent jobs.
    pub(crate) jobs: Arc<Registry>,
    /// The metrics registry and the engine's counters.
    pub(crate) metrics: crate::metrics::Metrics,
    /// What the WebSocket streams.
    pub(crate) events: Events,
    /// Every background task, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when the node is asked to stop: every loop ends on it.
    pub(crate) shutdown: CancellationToken,
    /// The threads that answer look-ups (status, listings, entries) from
    /// the catalog's read connections, apart from the blocking pool.
    lookups: crate::tasks::Workers,
    /// The identity's secret key, the root of every derived key.
    identity_key: [u8; 32],
    /// Where an export without a folder of its own goes
    /// (`<data dir>/downloads`).
    pub(crate) downloads: std::path::PathBuf,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        catalog: Arc<Catalog>,
        jobs: Arc<Registry>,
        events: Events,
        identity_key: [u8; 32],
        downloads: std::path::PathBuf,
    ) -> Self {
        Self {
            lookups: crate::tasks::Workers::new("cairn-lookup", config.read.lookup_threads(), 0),
            config,
            catalog,
            metrics: crate::metrics::Metrics::new(&jobs.metrics),
            jobs,
            events,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            identity_key,
            downloads,
        }
    }

    /// A 32-byte key for `purpose`, derived from the node's identity key:
    /// stable across restarts, different per purpose, never stored.
    pub(crate) fn derived_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"cairn derived key\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(self.identity_key);
        h.finalize().into()
    }

    /// Runs `f`, a look-up that only reads the catalog (through its read
    /// connections), on the look-up threads: it waits for no write, no
    /// stream and no other blocking work.
    pub(crate) async fn lookup<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        self.lookups.run(f).await
    }

    /// Spawns background work `name` on the node's tracker (see `tasks`).
    pub(crate) fn spawn<F>(&self, name: &'static str, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = Result<(), NodeError>> + Send + 'static,
    {
        crate::tasks::spawn(&self.tasks, name, fut)
    }
}
