//! The one way the network starts background work: every task is named,
//! runs inside a tracing span of that name, is tracked, ends when the
//! network stops, and logs how it ended.
//!
//! Why its own tracker rather than the node's: the driver is spawned by
//! whoever owns it (the node, a test), but the tasks it starts (the lane
//! listener, one task per lane connection, one per inbound libp2p request
//! waiting for its answer, one per lane being opened) are the network's
//! own. Tracking them here lets [`crate::Network::stopped`] tell that all
//! of them ended, whoever spawned the driver.
//!
//! Why a cancellation token: a lane connection waits up to 90 s for its
//! peer's next request, and an inbound request waits for the node's
//! answer for as long as the node takes. Stopping must not wait for
//! either, so every task is raced against the network's token and
//! dropped when it fires.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Instrument;

/// The network's background tasks: cheap to clone, shared by the
/// [`crate::Network`] handles and the driver.
#[derive(Clone)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

/// Held by the driver while it lives: keeps the tasks counted as running,
/// and stops them when the driver ends or its future is dropped.
pub(crate) struct DriverAlive {
    _stop: DropGuard,
    _alive: TaskTrackerToken,
}

impl Tasks {
    /// No tasks yet. The tracker is closed from the start: tasks may still
    /// be spawned, and [`Tasks::ended`] waits for the driver's
    /// [`DriverAlive`] and every task.
    pub(crate) fn new() -> Self {
        let tracker = TaskTracker::new();
        tracker.close();
        Self {
            tracker,
            stop: CancellationToken::new(),
        }
    }

    /// Spawns `fut` as task `name`, in a span of that name; it is
    /// dropped when the network stops.
    pub(crate) fn spawn<F>(&self, name: &'static str, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let span = tracing::debug_span!("net_task", name);
        let stop = self.stop.clone();
        self.tracker.spawn(run(stop, fut).instrument(span));
    }

    /// Counts the driver as running until the guard is dropped.
    pub(crate) fn driver_alive(&self) -> DriverAlive {
        DriverAlive {
            _stop: self.stop.clone().drop_guard(),
            _alive: self.tracker.token(),
        }
    }

    /// Stops every task.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    /// Resolves once the driver and every task have ended.
    pub(crate) async fn ended(&self) {
        self.tracker.wait().await;
    }
}

/// Runs `fut` until it ends or `stop` fires, and logs which.
async fn run<F: Future<Output = ()>>(stop: CancellationToken, fut: F) {
    tokio::select! {
        biased;
        () = stop.cancelled() => tracing::debug!("task stopped"),
        outcome = AssertUnwindSafe(fut).catch_unwind() => match outcome {
            Ok(()) => tracing::debug!("task ended"),
            Err(panic) => tracing::warn!(panic = panic_message(&panic), "task panicked"),
        },
    }
}

/// What a panic said, when it said it as text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not text)")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn tasks_end_when_stopped_and_the_driver_is_gone() {
        let tasks = Tasks::new();
        let alive = tasks.driver_alive();
        tasks.spawn("forever", std::future::pending());
        tasks.spawn("panics", async { panic!("on purpose") });
        let wait = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(wait, tasks.ended()).await.is_err(),
            "ended while the driver and a task still ran"
        );
        drop(alive);
        assert!(
            tasks.stop.is_cancelled(),
            "the driver's end stops the tasks"
        );
        tokio::time::timeout(Duration::from_secs(5), tasks.ended())
            .await
            .expect("a task outlived the stop");
    }
}
