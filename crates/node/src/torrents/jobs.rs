//! Each torrent is a `torrent` job while it downloads and until its files
//! are imported: its progress (bytes of the selected files here and
//! checked) goes out on the events WebSocket like any job's, and
//! cancelling the job removes the torrent with its downloaded data (what
//! was imported stays). A torrent brought back at start gets a new job;
//! the one that was running when the node stopped was recorded
//! `interrupted`, as every job is.

use std::sync::Arc;

use librqbit::ManagedTorrent;

use super::Torrents;
use crate::NodeError;
use crate::jobs::Job;

impl Torrents {
    /// Starts the job of torrent `hash` unless it has one.
    pub(super) fn start_job(&self, hash: &str, name: Option<&str>) {
        let mut jobs = self.jobs();
        if jobs.contains_key(hash) {
            return;
        }
        let label = format!("torrent: {}", name.unwrap_or(hash));
        let job = self.0.shared.jobs.start("torrent", label, None, true);
        jobs.insert(hash.to_owned(), job);
    }

    /// Ends the job of `hash`, if it has one, with `outcome`.
    pub(super) fn end_job(&self, hash: &str, outcome: Result<serde_json::Value, &NodeError>) {
        if let Some(job) = self.jobs().remove(hash) {
            job.finish(outcome);
        }
    }

    /// One tick for one torrent: a job for one still downloading, its
    /// progress, and its removal when the job was cancelled.
    pub(super) async fn tick_job(&self, handle: &Arc<ManagedTorrent>) {
        let hash = handle.info_hash().as_string();
        let stats = handle.stats();
        if !stats.finished {
            self.start_job(&hash, handle.name().as_deref());
        }
        let cancelled = {
            let jobs = self.jobs();
            let Some(job) = jobs.get(&hash) else { return };
            set_progress(job, stats.progress_bytes, stats.total_bytes);
            job.is_cancelled()
        };
        if cancelled {
            if let Err(e) = self.remove(&hash, true).await {
                tracing::warn!(torrent = %hash, error = %e, "a cancelled torrent was not removed");
            }
            self.end_job(&hash, Err(&NodeError::Cancelled));
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Job>> {
        self.0.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sets a job's bytes done and total.
fn set_progress(job: &Job, done: u64, total: u64) {
    job.set_total(total);
    job.rewind();
    job.advance(done);
}
