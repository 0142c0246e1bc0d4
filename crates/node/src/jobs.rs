//! Jobs: long work with progress and cancel.
//!
//! Every job has a number (`seq`) next to its id: increasing, taken from
//! one counter that starts past the highest the catalog holds, so a
//! recorded job's number is never given again (numbered lists of the
//! layers: Openload's task ids). A job may belong to an account and name
//! what it works on and where its result goes ([`JobFor`]), so a layer can
//! list one user's jobs of a kind.
//!
//! A job lives in memory while it runs (its byte counter is an atomic the
//! worker bumps without locking) and is kept in a short ring when it ends.
//! Jobs that a restart must account for (uploads, imports) are also written
//! to the catalog when they start and end; at start-up any still marked
//! running died with the previous process and are marked failed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_store::Catalog;
use cairn_store::catalog::now_ms;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Events};
use crate::tasks::blocking;
use crate::{JobRecord, NodeError};

const UNKNOWN: u64 = u64::MAX;

/// Who a job is for and what it works on.
#[derive(Debug, Clone, Default)]
pub struct JobFor {
    /// The ledger account of the user who asked for it.
    pub account: Option<String>,
    /// What it works on (a URL, an entry id).
    pub subject: Option<String>,
    /// The folder its result goes into.
    pub folder: Option<String>,
}

struct JobState {
    id: String,
    seq: i64,
    owner: JobFor,
    kind: &'static str,
    label: String,
    persist: bool,
    created: i64,
    done: AtomicU64,
    total: AtomicU64,
    reported: AtomicU64,
    cancel: CancellationToken,
}

impl JobState {
    fn record(&self, state: &str) -> JobRecord {
        let total = self.total.load(Ordering::Relaxed);
        JobRecord {
            id: self.id.clone(),
            seq: self.seq,
            account: self.owner.account.clone(),
            subject: self.owner.subject.clone(),
            folder: self.owner.folder.clone(),
            kind: self.kind.to_owned(),
            state: state.to_owned(),
            label: self.label.clone(),
            done: self.done.load(Ordering::Relaxed),
            total: (total != UNKNOWN).then_some(total),
            error: None,
            result: None,
            created: self.created,
            updated: now_ms(),
        }
    }
}

/// The registry of jobs, which the engine starts them on.
pub(crate) struct Registry {
    live: Mutex<HashMap<String, Arc<JobState>>>,
    ended: Mutex<VecDeque<JobRecord>>,
    kept: usize,
    /// The last number given.
    seq: AtomicI64,
    catalog: Arc<Catalog>,
    events: Events,
    /// Bytes in and out of transfers ended since the meter was last
    /// written: written with the progress reports (five times a second at
    /// most), before the meter is read, and at the stop, rather than in a
    /// transaction of its own at every job's end.
    metered: Mutex<(u64, u64)>,
    /// Jobs started and ended, counted here (`crate::metrics`).
    pub(crate) metrics: crate::metrics::JobMetrics,
}

/// A running job, held by the code doing the work.
///
/// Dropping it without [`Job::finish`] records the job as failed, so a
/// worker that returns early or panics never leaves a job "running".
pub struct Job {
    state: Arc<JobState>,
    jobs: Arc<Registry>,
    ended: bool,
}

/// The jobs service: what the node runs and ran, for the doors. Cheap to
/// clone.
#[derive(Clone)]
pub struct Jobs {
    registry: Arc<Registry>,
}

impl Jobs {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// The newest `limit` jobs, running ones first.
    pub async fn list(&self, limit: usize) -> Result<Vec<JobRecord>, NodeError> {
        let registry = self.registry.clone();
        blocking(move || registry.list(limit)).await
    }

    /// Job `id`: running, recently ended, or from the catalog.
    pub async fn get(&self, id: &str) -> Result<JobRecord, NodeError> {
        self.registry.record(id).await
    }

    /// The transfer meter: the bytes uploads brought in and downloads
    /// sent out, in all and this month.
    pub async fn meter(&self) -> Result<crate::Meter, NodeError> {
        let registry = self.registry.clone();
        blocking(move || {
            registry.flush_meter();
            Ok(registry.catalog.meter()?)
        })
        .await
    }

    /// Asks job `id` to stop; `conflict` when it has ended already.
    pub fn cancel(&self, id: &str) -> Result<JobRecord, NodeError> {
        self.registry.cancel(id)
    }

    /// `account`'s newest `limit` jobs of `kind` (only number `seq` when
    /// given), newest first (at most [`cairn_store::catalog::MAX_PAGE`]).
    pub async fn of(
        &self,
        account: &str,
        kind: &str,
        seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, NodeError> {
        let registry = self.registry.clone();
        let (account, kind) = (account.to_owned(), kind.to_owned());
        blocking(move || registry.of(&account, &kind, seq, limit)).await
    }

    /// Records a job of `kind` that failed before it could start (`error`:
    /// a URL refused at once), numbered and listed like any other; its
    /// result is `{"started": false}`.
    pub async fn record_failed(
        &self,
        kind: &'static str,
        label: &str,
        owner: JobFor,
        error: &NodeError,
    ) -> Result<JobRecord, NodeError> {
        let (registry, label, error) = (self.registry.clone(), label.to_owned(), error.to_string());
        blocking(move || registry.record_failed(kind, label, owner, error)).await
    }
}

impl Registry {
    /// Job `id` ([`Registry::get`]), off the async threads (a job no
    /// longer in memory is read from the catalog).
    pub(crate) async fn record(self: &Arc<Self>, id: &str) -> Result<JobRecord, NodeError> {
        let (registry, id) = (self.clone(), id.to_owned());
        blocking(move || registry.get(&id)).await
    }

    pub(crate) fn new(
        catalog: Arc<Catalog>,
        events: Events,
        kept: usize,
    ) -> Result<Arc<Self>, NodeError> {
        let seq = AtomicI64::new(catalog.last_job_seq()?);
        Ok(Arc::new(Self {
            live: Mutex::default(),
            ended: Mutex::default(),
            kept,
            seq,
            catalog,
            events,
            metered: Mutex::default(),
            metrics: crate::metrics::JobMetrics::default(),
        }))
    }

    fn new_id(&self) -> (String, i64) {
        let id = format!(
            "{:012x}",
            rand::thread_rng().r#gen::<u64>() & 0xffff_ffff_ffff
        );
        (id, self.seq.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Starts a job; `persist` writes it to the catalog.
    pub(crate) fn start(
        self: &Arc<Self>,
        kind: &'static str,
        label: impl Into<String>,
        total: Option<u64>,
        persist: bool,
    ) -> Job {
        self.start_for(kind, label, total, persist, JobFor::default())
    }

    /// [`Registry::start`] for `owner`.
    pub(crate) fn start_for(
        self: &Arc<Self>,
        kind: &'static str,
        label: impl Into<String>,
        total: Option<u64>,
        persist: bool,
        owner: JobFor,
    ) -> Job {
        let (id, seq) = self.new_id();
        let state = Arc::new(JobState {
            id: id.clone(),
            seq,
            owner,
            kind,
            label: label.into(),
            persist,
            created: now_ms(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(total.unwrap_or(UNKNOWN)),
            reported: AtomicU64::new(0),
            cancel: CancellationToken::new(),
        });
        self.lock_live().insert(id, state.clone());
        self.metrics.started(kind);
        let record = state.record("running");
        self.save(&state, &record);
        self.events.send(Event::Job { job: record });
        Job {
            state,
            jobs: self.clone(),
            ended: false,
        }
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<JobState>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, state: &JobState, record: &JobRecord) {
        if state.persist
            && let Err(e) = self.catalog.save_job(record)
        {
            tracing::warn!(job = %record.id, error = %e, "cannot record job");
        }
    }

    fn end(&self, state: &JobState, record: JobRecord) {
        self.lock_live().remove(&state.id);
        self.save(state, &record);
        self.meter(state.kind, record.done);
        let millis = record.updated - record.created;
        self.metrics
            .ended(state.kind, &record.state, millis, record.done);
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.push_front(record.clone());
        ended.truncate(self.kept);
        drop(ended);
        self.events.send(Event::Job { job: record });
    }

    /// Records a job that failed before it could start (a URL refused at
    /// once), so that it is numbered and listed like any other; its result
    /// is `{"started": false}`.
    pub(crate) fn record_failed(
        &self,
        kind: &'static str,
        label: impl Into<String>,
        owner: JobFor,
        error: String,
    ) -> Result<JobRecord, NodeError> {
        let (id, seq) = self.new_id();
        let now = now_ms();
        let record = JobRecord {
            id,
            seq,
            account: owner.account,
            subject: owner.subject,
            folder: owner.folder,
            kind: kind.to_owned(),
            state: "failed".into(),
            label: label.into(),
            done: 0,
            total: None,
            error: Some(error),
            result: Some(serde_json::json!({ "started": false })),
            created: now,
            updated: now,
        };
        self.catalog.save_job(&record)?;
        self.events.send(Event::Job {
            job: record.clone(),
        });
        Ok(record)
    }

    /// `account`'s newest `limit` jobs of `kind` (only number `seq` when
    /// given), newest first; a running one as it stands now.
    pub(crate) fn of(
        &self,
        account: &str,
        kind: &str,
        seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, NodeError> {
        let recorded = self.catalog.jobs_of(account, kind, seq, limit)?;
        let live = self.lock_live();
        Ok(recorded
            .into_iter()
            .map(|r| match live.get(&r.id) {
                Some(state) => state.record("running"),
                None => r,
            })
            .collect())
    }

    /// Counts the bytes a transfer moved, whatever its outcome: bytes that
    /// crossed the wire were used.
    fn meter(&self, kind: &str, done: u64) {
        let (incoming, outgoing) = match kind {
            "upload" | "import" => (done, 0),
            "download" => (0, done),
            _ => return,
        };
        if done > 0 {
            let mut metered = self.metered.lock().unwrap_or_else(|p| p.into_inner());
            metered.0 += incoming;
            metered.1 += outgoing;
        }
    }

    /// Writes the bytes metered since the last time to the catalog.
    pub(crate) fn flush_meter(&self) {
        let (incoming, outgoing) =
            std::mem::take(&mut *self.metered.lock().unwrap_or_else(|p| p.into_inner()));
        if incoming + outgoing == 0 {
            return;
        }
        if let Err(e) = self.catalog.meter_add(incoming, outgoing) {
            tracing::warn!(error = %e, "cannot update the transfer meter");
            let mut metered = self.metered.lock().unwrap_or_else(|p| p.into_inner());
            metered.0 += incoming;
            metered.1 += outgoing;
        }
    }

    /// A job by id: live, recently ended, or from the catalog.
    pub(crate) fn get(&self, id: &str) -> Result<JobRecord, NodeError> {
        if let Some(state) = self.lock_live().get(id) {
            return Ok(state.record("running"));
        }
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = ended.iter().find(|r| r.id == id) {
            return Ok(r.clone());
        }
        drop(ended);
        Ok(self.catalog.job(id)?)
    }

    /// The newest `limit` jobs, live ones first.
    pub(crate) fn list(&self, limit: usize) -> Result<Vec<JobRecord>, NodeError> {
        let mut out: Vec<JobRecord> = self
            .lock_live()
            .values()
            .map(|s| s.record("running"))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.created));
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(ended.iter().cloned());
        drop(ended);
        for r in self.catalog.jobs(limit as u32)? {
            if !out.iter().any(|o| o.id == r.id) {
                out.push(r);
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// How many jobs are running.
    pub(crate) fn running(&self) -> usize {
        self.lock_live().len()
    }

    /// How many jobs of each kind are running, by kind.
    pub(crate) fn running_by_kind(&self) -> Vec<(&'static str, u64)> {
        let mut kinds = std::collections::BTreeMap::new();
        for s in self.lock_live().values() {
            *kinds.entry(s.kind).or_insert(0) += 1;
        }
        kinds.into_iter().collect()
    }

    /// Asks job `id` to stop.
    pub(crate) fn cancel(&self, id: &str) -> Result<JobRecord, NodeError> {
        let state = self.lock_live().get(id).cloned();
        match state {
            Some(s) => {
                s.cancel.cancel();
                Ok(s.record("running"))
            }
            None => {
                let r = self.get(id)?;
                Err(NodeError::Store(cairn_store::StoreError::Conflict(
                    format!("job {id} is already {}", r.state),
                )))
            }
        }
    }

    /// Cancels every live job (shutdown).
    pub(crate) fn cancel_all(&self) {
        for s in self.lock_live().values() {
            s.cancel.cancel();
        }
    }

    /// Publishes progress of jobs that moved since the last call.
    pub(crate) fn report_progress(&self) {
        let live: Vec<Arc<JobState>> = self.lock_live().values().cloned().collect();
        for s in live {
            let done = s.done.load(Ordering::Relaxed);
            if s.reported.swap(done, Ordering::Relaxed) != done {
                let total = s.total.load(Ordering::Relaxed);
                self.events.send(Event::JobProgress {
                    id: s.id.clone(),
                    done,
                    total: (total != UNKNOWN).then_some(total),
                });
            }
        }
    }
}

impl Job {
    /// The job's id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// Counts `n` more bytes done.
    pub fn advance(&self, n: u64) {
        self.state.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Starts counting again from zero (the work starts over).
    pub fn rewind(&self) {
        self.state.done.store(0, Ordering::Relaxed);
    }

    /// The bytes the job expects to do, if known.
    pub fn total(&self) -> Option<u64> {
        let total = self.state.total.load(Ordering::Relaxed);
        (total != UNKNOWN).then_some(total)
    }

    /// Sets the total once it is known.
    pub fn set_total(&self, total: u64) {
        self.state.total.store(total, Ordering::Relaxed);
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.state.cancel.is_cancelled()
    }

    /// Fails with [`NodeError::Cancelled`] if the job was asked to stop.
    pub fn check(&self) -> Result<(), NodeError> {
        if self.is_cancelled() {
            Err(NodeError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The token that fires when the job is cancelled.
    pub fn token(&self) -> CancellationToken {
        self.state.cancel.clone()
    }

    /// Ends the job with `outcome`: `Ok(result)` or the error that ended it.
    pub fn finish(mut self, outcome: Result<serde_json::Value, &NodeError>) -> JobRecord {
        self.ended = true;
        let record = match outcome {
            Ok(result) => JobRecord {
                result: Some(result),
                ..self.state.record("done")
            },
            Err(NodeError::Cancelled) => JobRecord {
                error: Some("cancelled".into()),
                ..self.state.record("cancelled")
            },
            Err(e) => JobRecord {
                error: Some(e.to_string()),
                ..self.state.record("failed")
            },
        };
        self.jobs.end(&self.state, record.clone());
        record
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.ended {
            let record = JobRecord {
                error: Some("the worker stopped without reporting".into()),
                ..self.state.record("failed")
            };
            self.jobs.end(&self.state, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs() -> Arc<Registry> {
        Registry::new(
            Arc::new(Catalog::open_in_memory().unwrap()),
            Events::new(),
            3,
        )
        .unwrap()
    }

    #[test]
    fn jobs_are_numbered_past_the_catalogs_and_listed_per_account() {
        let catalog = Arc::new(Catalog::open_in_memory().unwrap());
        let first = Registry::new(catalog.clone(), Events::new(), 3).unwrap();
        let owner = |account: &str| JobFor {
            account: Some(account.into()),
            subject: Some("http://x/".into()),
            folder: None,
        };
        let a = first.start_for("fetch", "a", None, true, owner("ann"));
        let b = first.start("digest", "b", None, false);
        let failed = first
            .record_failed("fetch", "c", owner("ann"), "bad".into())
            .unwrap();
        assert_eq!((a.state.seq, b.state.seq, failed.seq), (1, 2, 3));
        let listed = first.of("ann", "fetch", None, 10).unwrap();
        let states: Vec<(i64, &str)> = listed.iter().map(|j| (j.seq, j.state.as_str())).collect();
        assert_eq!(states, [(3, "failed"), (1, "running")]);
        a.finish(Ok(serde_json::Value::Null));
        b.finish(Ok(serde_json::Value::Null));
        // A restart numbers on past what the catalog holds.
        let again = Registry::new(catalog, Events::new(), 3).unwrap();
        let next = again.start("upload", "d", None, true);
        assert_eq!(next.state.seq, 4);
        assert_eq!(
            again.of("ann", "fetch", Some(1), 10).unwrap()[0].state,
            "done"
        );
        next.finish(Ok(serde_json::Value::Null));
    }

    #[test]
    fn a_job_runs_reports_and_ends() {
        let jobs = jobs();
        let mut rx = jobs.events.subscribe();
        let job = jobs.start("upload", "a.bin", Some(10), true);
        let id = job.id().to_owned();
        job.advance(4);
        jobs.report_progress();
        jobs.report_progress();
        assert_eq!(jobs.get(&id).unwrap().done, 4);
        let rec = job.finish(Ok(serde_json::json!({"ok": true})));
        assert_eq!(rec.state, "done");
        assert_eq!(jobs.catalog.job(&id).unwrap().state, "done");
        let kinds: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| {
                serde_json::to_value(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            ["job", "job_progress", "job"],
            "progress reported once"
        );
    }

    #[test]
    fn cancel_reaches_the_worker_and_dropping_fails_the_job() {
        let jobs = jobs();
        let job = jobs.start("download", "x", None, false);
        let id = job.id().to_owned();
        jobs.cancel(&id).unwrap();
        assert!(matches!(job.check(), Err(NodeError::Cancelled)));
        let rec = job.finish(Err(&NodeError::Cancelled));
        assert_eq!(rec.state, "cancelled");
        assert!(
            jobs.cancel(&id).is_err(),
            "an ended job cannot be cancelled"
        );
        let dropped = jobs.start("upload", "y", None, false);
        let id = dropped.id().to_owned();
        drop(dropped);
        assert_eq!(jobs.get(&id).unwrap().state, "failed");
    }

    #[test]
    fn the_ended_ring_is_bounded() {
        let jobs = jobs();
        for i in 0..10 {
            jobs.start("digest", format!("{i}"), None, false)
                .finish(Ok(serde_json::Value::Null));
        }
        assert_eq!(jobs.list(100).unwrap().len(), 3);
    }
}
