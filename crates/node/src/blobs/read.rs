//! Verified reads of stored blobs.
//!
//! A read is served segment by segment: read the ciphertext, decrypt it,
//! hash it and compare with the manifest's leaf, which was checked against
//! the blob id when the manifest was loaded. Only then are the bytes of the
//! asked range passed on. A segment that fails is never served: the stream
//! ends with an error instead.
//!
//! A stream is an async reader of runs of segments and holds no thread: each
//! run is first granted buffers from the read budget (`pool.rs`), then read,
//! decrypted and verified as one work item on the read workers, and handed
//! over in order as the client's socket takes it. A run is one segment for a
//! local blob and several for one read from the network
//! (`BlobReader::run_len`): each supplier is then asked once per run, and
//! the shards are awaited by the stream, not by a thread ([`Gather`]); only
//! decoding and verifying them is work for the workers. A stream reads a few
//! runs ahead while the budget has room, so one fast client keeps every
//! worker busy, and many slow ones hold only their buffers.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use cairn_core::crypt::ReadKey;
use cairn_core::layout::{segment_span, segments_for};
use cairn_core::seal::open_segment;
use cairn_core::{BlobId, Manifest};
use cairn_store::files::BlobReader;
use futures_util::Stream;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::pool::{Class, ReadPool, Slot};
use crate::NodeError;
use crate::jobs::Job;

/// Most runs of a local blob one stream reads ahead of its client (as
/// long as the budget has room): enough to keep the cores busy.
const MAX_AHEAD: usize = 4;

/// A future of a blob's bytes that waits rather than computes.
pub(crate) type Waiting<T> = Pin<Box<dyn Future<Output = Result<T, NodeError>> + Send>>;

/// Where the sealed bytes of whole segments come from when getting them
/// means waiting (on the network): the stream awaits them, and only opening
/// them (decrypt and verify) is work for the read workers.
pub(crate) trait Gather: Send + Sync {
    /// The sealed bytes of segments `first .. first + count`, as they come.
    fn run(self: Arc<Self>, first: u64, count: u64) -> Waiting<Vec<Vec<u8>>>;
    /// Segment `index` again, each of its parts checked on its own (after
    /// the first copy failed verification).
    fn again(self: Arc<Self>, index: u64) -> Waiting<Vec<u8>>;
}

/// A stream of verified plaintext chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, NodeError>> + Send>>;

/// An open, stored blob.
#[derive(Clone)]
pub struct BlobHandle {
    manifest: Arc<Manifest>,
    read_key: ReadKey,
    reader: Arc<dyn BlobReader>,
    /// Where whole segments are awaited from, for a reader that waits.
    gather: Option<Arc<dyn Gather>>,
    /// What one reader may read of it (a paid file), when not all.
    limit: Option<Arc<ReadLimit>>,
}

/// The part of a blob one reader may read, and the refusal of a read past
/// it (invariant 16: decided by the engine, enforced by the handle).
pub(crate) struct ReadLimit {
    /// What may be read.
    pub(crate) readable: Range<u64>,
    /// Why a range past it is refused.
    pub(crate) refusal: Refusal,
}

/// The error for a read of a range past a [`ReadLimit`].
pub(crate) type Refusal = Box<dyn Fn(&Range<u64>) -> NodeError + Send + Sync>;

impl BlobHandle {
    pub(crate) fn new(
        manifest: Arc<Manifest>,
        read_key: ReadKey,
        reader: Arc<dyn BlobReader>,
    ) -> Self {
        Self {
            manifest,
            read_key,
            reader,
            gather: None,
            limit: None,
        }
    }

    /// This handle, its streams awaiting whole segments from `gather`.
    pub(crate) fn gathered(mut self, gather: Arc<dyn Gather>) -> Self {
        self.gather = Some(gather);
        self
    }

    /// This handle for one reader: every read out of it past `limit` is
    /// refused.
    pub(crate) fn limited(mut self, limit: ReadLimit) -> Self {
        self.limit = Some(Arc::new(limit));
        self
    }

    /// Refuses a read of `range` past what this handle's reader may read.
    fn check(&self, range: &Range<u64>) -> Result<(), NodeError> {
        match &self.limit {
            Some(l) if range.start < l.readable.start || range.end > l.readable.end => {
                Err((l.refusal)(range))
            }
            _ => Ok(()),
        }
    }

    /// The blob id.
    pub fn id(&self) -> BlobId {
        self.manifest.id
    }

    /// Plaintext size.
    pub fn size(&self) -> u64 {
        self.manifest.size
    }

    /// Reads, decrypts and verifies segment `index`.
    pub(crate) fn segment(&self, index: u64) -> Result<Vec<u8>, NodeError> {
        let span = segment_span(self.manifest.size, index);
        let mut refused = None;
        let opened =
            self.reader
                .read_opened((span.end - span.start) as usize, span.start, &mut |buf| {
                    match open_segment(&self.manifest, &self.read_key, index, buf) {
                        Ok(()) => true,
                        Err(e) => {
                            refused = Some(e);
                            false
                        }
                    }
                })?;
        opened.ok_or_else(|| {
            tracing::error!(blob = %self.manifest.id, index, "segment failed verification");
            NodeError::Corrupt(refused.map_or_else(
                || format!("segment {index} failed verification"),
                |e| e.to_string(),
            ))
        })
    }

    /// The verified bytes of `range` that lie in segment `index`.
    fn piece(&self, range: &Range<u64>, index: u64) -> Result<Bytes, NodeError> {
        let span = segment_span(self.manifest.size, index);
        let seg = Bytes::from(self.segment(index)?);
        let from = range.start.max(span.start) - span.start;
        let to = range.end.min(span.end) - span.start;
        Ok(seg.slice(from as usize..to as usize))
    }

    /// Calls `sink` with each verified piece of `range`, in order, on this
    /// thread (a blocking one: pieces are read and decrypted here).
    pub fn for_each_piece(
        &self,
        range: Range<u64>,
        mut sink: impl FnMut(Bytes) -> Result<(), NodeError>,
    ) -> Result<(), NodeError> {
        self.check(&range)?;
        for index in segments_for(&range) {
            sink(self.piece(&range, index)?)?;
        }
        Ok(())
    }

    /// Opens the sealed bytes `buf` of segment `index` in place: an error
    /// when they fail verification.
    fn open(&self, index: u64, buf: &mut [u8]) -> Result<(), NodeError> {
        open_segment(&self.manifest, &self.read_key, index, buf).map_err(|e| {
            tracing::error!(blob = %self.manifest.id, index, "segment failed verification");
            NodeError::Corrupt(e.to_string())
        })
    }

    /// The part of `range` in segment `index`, out of its verified bytes
    /// in `slot`.
    fn slice(&self, range: &Range<u64>, index: u64, slot: Slot) -> Bytes {
        let span = segment_span(self.manifest.size, index);
        let from = range.start.max(span.start) - span.start;
        let to = range.end.min(span.end) - span.start;
        Bytes::from_owner(slot).slice(from as usize..to as usize)
    }

    /// Reads, decrypts and verifies the segments of `run` into `slots`
    /// (one each) on this thread: the pieces of `range` in them, until the
    /// first error.
    fn read_run(
        &self,
        range: &Range<u64>,
        run: Range<u64>,
        slots: Vec<Slot>,
    ) -> Vec<Result<Bytes, NodeError>> {
        let mut pieces = Vec::with_capacity(slots.len());
        for (index, mut slot) in run.zip(slots) {
            let span = segment_span(self.manifest.size, index);
            let read = self
                .reader
                .read_into(&mut slot.buf, (span.end - span.start) as usize, span.start)
                .map_err(NodeError::from)
                .and_then(|()| self.open(index, &mut slot.buf));
            match read {
                Ok(()) => pieces.push(Ok(self.slice(range, index, slot))),
                Err(e) => {
                    pieces.push(Err(e));
                    break;
                }
            }
        }
        pieces
    }

    /// The pieces of `range` in the segments of `run`, read with `slots`:
    /// awaited from the network and opened by the workers, or read and
    /// opened by the workers.
    async fn pieces(
        self,
        range: Range<u64>,
        run: Range<u64>,
        slots: Vec<Slot>,
        pool: ReadPool,
        stop: CancellationToken,
        first: bool,
    ) -> Vec<Result<Bytes, NodeError>> {
        if slots.len() as u64 != run.end - run.start {
            return vec![Err(NodeError::Internal(format!(
                "a run of {} segments was granted {} buffers",
                run.end - run.start,
                slots.len()
            )))];
        }
        let Some(gather) = self.gather.clone() else {
            let workers = pool.workers.clone();
            return workers
                .run_as(first, move || {
                    // A stream that went away while this waited its turn
                    // wants nothing more.
                    if stop.is_cancelled() {
                        return Ok(vec![Err(NodeError::ClientGone)]);
                    }
                    Ok(self.read_run(&range, run, slots))
                })
                .await
                .unwrap_or_else(|e| vec![Err(e)]);
        };
        let sealed = match gather.clone().run(run.start, run.end - run.start).await {
            Ok(sealed) => sealed,
            Err(e) => return vec![Err(e)],
        };
        let mut pieces = Vec::with_capacity(sealed.len());
        for ((index, seg), mut slot) in run.zip(sealed).zip(slots) {
            let opened = match self.open_on(&pool, index, seg, first).await {
                // Some part that went into it was wrong: fetch it again part
                // by part, each checked, which finds and replaces the wrong
                // one.
                Err(NodeError::Corrupt(_)) => {
                    tracing::warn!(
                        segment = index,
                        "a segment failed verification; checking its shards one by one"
                    );
                    match gather.clone().again(index).await {
                        Ok(seg) => self.open_on(&pool, index, seg, first).await,
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            match opened {
                Ok(buf) => {
                    slot.buf = buf;
                    pieces.push(Ok(self.slice(&range, index, slot)));
                }
                Err(e) => {
                    pieces.push(Err(e));
                    break;
                }
            }
        }
        pieces
    }

    /// Opens the sealed bytes `seg` of segment `index` on the read workers:
    /// the verified bytes, or `Corrupt` when they fail verification.
    async fn open_on(
        &self,
        pool: &ReadPool,
        index: u64,
        mut seg: Vec<u8>,
        first: bool,
    ) -> Result<Vec<u8>, NodeError> {
        let handle = self.clone();
        pool.workers
            .run_as(first, move || {
                handle.open(index, &mut seg)?;
                Ok(seg)
            })
            .await
    }

    /// Streams `range` (which must lie within the blob) with `pool`'s
    /// workers and budget, reporting progress to `job`; `on_complete` runs
    /// once if the whole range was sent.
    pub(crate) fn stream(
        self,
        range: Range<u64>,
        job: Job,
        pool: ReadPool,
        on_complete: impl FnOnce() + Send + 'static,
    ) -> ByteStream {
        if let Err(e) = self.check(&range) {
            job.finish(Err(&e));
            return Box::pin(futures_util::stream::once(async move { Err(e) }));
        }
        let segments = segments_for(&range);
        let count = segments.end - segments.start;
        // Runs of segments read together start at multiples of the run's
        // length, so each one lies in whole blocks of the shard files.
        // A run's segments are granted a buffer each, all at once: never
        // more than the budget holds.
        let run = match self.gather {
            Some(_) => self.reader.run_len().clamp(1, pool.budget.most() as u64),
            None => 1,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ahead = cores
            .min(MAX_AHEAD)
            .max(self.reader.parallel_reads())
            .min(pool.workers.threads().max(self.reader.parallel_reads()));
        let stop = job.token();
        Box::pin(InOrder {
            handle: self,
            range,
            next_run: segments.start / run,
            segments,
            run,
            reading: FuturesOrdered::new(),
            ready: VecDeque::new(),
            pool,
            ahead: ahead.max(1),
            head_waits: Arc::new(AtomicBool::new(false)),
            next: 0,
            count,
            job: Some(job),
            stop,
            on_complete: Some(Box::new(on_complete)),
        })
    }
}

/// The pieces of one run, once read.
type Run = Pin<Box<dyn Future<Output = Vec<Result<Bytes, NodeError>>> + Send>>;

/// Reads a range run by run, a few runs ahead, hands the pieces over in
/// order and keeps the job's books: progress, completion, cancellation, a
/// client gone away.
struct InOrder {
    handle: BlobHandle,
    range: Range<u64>,
    /// The segments of the range.
    segments: Range<u64>,
    /// Segments per run; run `r` is segments `r * run ..` (within the
    /// range), so runs lie in whole blocks of the shard files.
    run: u64,
    /// The next run to start.
    next_run: u64,
    /// Runs started, in order.
    reading: FuturesOrdered<Run>,
    /// Pieces read and not yet handed over.
    ready: VecDeque<Result<Bytes, NodeError>>,
    pool: ReadPool,
    /// Most runs started at once.
    ahead: usize,
    /// Whether a run of this stream waits for the budget.
    head_waits: Arc<AtomicBool>,
    /// Pieces handed on so far.
    next: u64,
    count: u64,
    job: Option<Job>,
    stop: CancellationToken,
    on_complete: Option<Box<dyn FnOnce() + Send>>,
}

impl InOrder {
    fn end(&mut self, outcome: Result<(), &NodeError>) {
        self.stop.cancel();
        if let Some(job) = self.job.take() {
            job.finish(outcome.map(|()| serde_json::Value::Null));
        }
    }

    /// Starts the next run: granted buffers from the budget as it comes
    /// (`wait`), or only if the budget has room to spare (reading ahead).
    /// Whether a run was started.
    fn start_run(&mut self, wait: bool) -> bool {
        let r = self.next_run;
        let run =
            (r * self.run).max(self.segments.start)..((r + 1) * self.run).min(self.segments.end);
        if run.is_empty() {
            return false;
        }
        let need = (run.end - run.start) as usize;
        let (handle, range, pool) = (self.handle.clone(), self.range.clone(), self.pool.clone());
        let stop = self.stop.clone();
        let read: Run = if wait {
            let class = if self.next == 0 {
                Class::First
            } else {
                Class::Next
            };
            let first = class == Class::First;
            match pool.budget.try_now(need, class) {
                Some(slots) => Box::pin(handle.pieces(range, run, slots, pool, stop, first)),
                None => {
                    // Nothing is read ahead while this waits, so no run
                    // behind it holds the buffers it waits for.
                    let waits = self.head_waits.clone();
                    waits.store(true, Ordering::Relaxed);
                    Box::pin(async move {
                        let slots = pool.budget.acquire(need, class).await;
                        waits.store(false, Ordering::Relaxed);
                        handle.pieces(range, run, slots, pool, stop, first).await
                    })
                }
            }
        } else {
            if self.head_waits.load(Ordering::Relaxed) {
                return false;
            }
            let Some(slots) = pool.budget.try_ahead(need) else {
                return false;
            };
            Box::pin(handle.pieces(range, run, slots, pool, stop, false))
        };
        self.next_run += 1;
        self.reading.push_back(read);
        true
    }
}

impl Stream for InOrder {
    type Item = Result<Bytes, NodeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.job.is_none() || self.next == self.count {
                return Poll::Ready(None);
            }
            if self.job.as_ref().is_some_and(Job::is_cancelled) {
                self.end(Err(&NodeError::Cancelled));
                return Poll::Ready(Some(Err(NodeError::Cancelled)));
            }
            if let Some(item) = self.ready.pop_front() {
                return Poll::Ready(Some(self.hand_over(item)));
            }
            if self.reading.is_empty() {
                self.start_run(true);
            }
            while self.reading.len() < self.ahead && self.start_run(false) {}
            match self.reading.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(pieces)) => self.ready.extend(pieces),
                Poll::Ready(None) => {
                    let e = NodeError::Internal("a read ended before its range".into());
                    self.end(Err(&e));
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl InOrder {
    /// Accounts for one piece handed to the client.
    fn hand_over(&mut self, item: Result<Bytes, NodeError>) -> Result<Bytes, NodeError> {
        match item {
            Ok(piece) => {
                self.next += 1;
                if let Some(job) = &self.job {
                    job.advance(piece.len() as u64);
                }
                // A body with a length is not polled again after its last
                // byte, so the last piece handed over completes the job.
                if self.next == self.count {
                    if let Some(done) = self.on_complete.take() {
                        done();
                    }
                    self.end(Ok(()));
                }
                Ok(piece)
            }
            Err(e) => {
                self.end(Err(&e));
                Err(e)
            }
        }
    }
}

impl Drop for InOrder {
    fn drop(&mut self) {
        if self.job.is_some() {
            self.end(Err(&NodeError::ClientGone));
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use crate::{Config, Node, OnConflict, UploadTarget};

    /// With two read workers and a budget of one segment, many streams of
    /// one blob at once, over ranges that start and end inside segments,
    /// each get exactly their bytes, and every buffer goes back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_share_one_buffer_and_two_workers_and_each_gets_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        config.read.workers = 2;
        config.read.buffer_mib = 1;
        let node = Node::start(dir.path(), config).await.unwrap();
        let content: Vec<u8> = (0..(3 << 20) + 4321u32)
            .map(|i| (i * 7 + i / 991) as u8)
            .collect();
        let target = UploadTarget {
            parent: None,
            name: "f.bin".into(),
            on_conflict: OnConflict::Fail,
            wait_digests: false,
        };
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
            content.clone(),
        ))]);
        let file = node.entries().upload(target, body, None).await.unwrap();
        let blob = file.entry.blob.clone().unwrap();
        let size = content.len() as u64;
        let ranges = [0..size, 5..(1 << 20) + 9, (2 << 20) - 1..size, 77..78, 0..1];
        let mut reads = Vec::new();
        for (i, range) in ranges.iter().cycle().take(20).enumerate() {
            let (node, blob, range) = (node.clone(), blob.clone(), range.clone());
            reads.push(tokio::spawn(async move {
                let handle = node.blobs().open(&blob).await.unwrap();
                let mut s = node
                    .blobs()
                    .stream(handle, range.clone(), format!("r{i}"), None);
                let mut got = Vec::new();
                while let Some(piece) = s.next().await {
                    got.extend_from_slice(&piece.unwrap());
                }
                (range, got)
            }));
        }
        for read in reads {
            let (range, got) = read.await.unwrap();
            assert!(
                got == content[range.start as usize..range.end as usize],
                "wrong bytes for {range:?}"
            );
        }
        assert_eq!(
            node.blobs().0.reads.budget.in_use().0,
            0,
            "a buffer was kept"
        );
        node.shutdown().await;
    }
}
