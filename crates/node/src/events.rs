//! What the node tells its watchers: job progress and catalog changes, in
//! order, over a broadcast channel that the WebSocket streams.
//!
//! A watcher that falls behind by more than the channel's capacity misses
//! events (and is told so by the WebSocket); it never slows the node down.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::{Entry, JobRecord};

/// One event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job started, finished, failed or was cancelled.
    Job {
        /// The job as it is now.
        job: JobRecord,
    },
    /// A running job moved on.
    JobProgress {
        /// Job id.
        id: String,
        /// Bytes done.
        done: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// An entry appeared.
    EntryAdded {
        /// The new entry.
        entry: Entry,
    },
    /// An entry was renamed, moved, replaced or had its metadata changed.
    EntryChanged {
        /// The entry as it is now.
        entry: Entry,
    },
    /// An entry (and, for a folder, everything below it) was deleted.
    EntryRemoved {
        /// Its id.
        id: String,
    },
    /// Aliases were computed for a blob.
    BlobAliases {
        /// The blob id.
        blob: String,
    },
    /// The node is stopping.
    Shutdown,
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub(crate) struct Events(broadcast::Sender<Event>);

impl Events {
    pub(crate) fn new() -> Self {
        Self(broadcast::channel(1024).0)
    }

    pub(crate) fn send(&self, event: Event) {
        // No receivers is fine: nobody is watching.
        let _ = self.0.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
