//! The one way background work is started: named, inside a tracing span,
//! tracked so shutdown can wait for it, and logged when it ends.

use std::future::Future;

use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Spawns `fut` as task `name` on `tracker`.
pub(crate) fn spawn<F>(tracker: &TaskTracker, name: &'static str, fut: F)
where
    F: Future<Output = Result<(), crate::NodeError>> + Send + 'static,
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
    );
}
