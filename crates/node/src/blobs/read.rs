//! Verified reads of stored blobs.
//!
//! A read is served segment by segment: read the ciphertext, decrypt it,
//! hash it and compare with the manifest's leaf, which was checked against
//! the blob id when the manifest was loaded. Only then are the bytes of the
//! asked range passed on. A segment that fails is never served: the stream
//! ends with an error instead.
//!
//! Streaming spreads runs of segments over blocking workers, at least one
//! per core (run `r` goes to worker `r mod n`), each feeding its own small
//! bounded channel; the stream takes from the channels in turn, so the
//! order is kept while every core decrypts and verifies. A run is one
//! segment for a local blob and several for one read from the network
//! (`BlobReader::run_len`): each supplier is then asked once per run. Memory
//! stays at a few runs per worker whatever the size of the blob.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cairn_core::crypt::ReadKey;
use cairn_core::layout::{segment_span, segments_for};
use cairn_core::seal::open_segment;
use cairn_core::{BlobId, Manifest};
use cairn_store::files::BlobReader;
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::NodeError;
use crate::jobs::Job;

/// Verified segments each worker may hold ready ahead of the HTTP writer.
const AHEAD: usize = 2;

/// Most workers one stream uses.
const MAX_WORKERS: usize = 4;

/// A stream of verified plaintext chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, NodeError>> + Send>>;

/// An open, stored blob.
#[derive(Clone)]
pub struct BlobHandle {
    manifest: Arc<Manifest>,
    read_key: ReadKey,
    reader: Arc<dyn BlobReader>,
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
            limit: None,
        }
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

    /// The verified bytes of `range` in each of the consecutive segments
    /// `run`, read together where the reader can: one result per segment,
    /// until the first error.
    fn run_pieces(&self, range: &Range<u64>, run: Range<u64>) -> Vec<Result<Bytes, NodeError>> {
        let size = self.manifest.size;
        let spans: Vec<Range<u64>> = run.clone().map(|i| segment_span(size, i)).collect();
        let mut refused: Vec<Option<cairn_core::seal::OpenError>> = vec![None; spans.len()];
        let opened = self
            .reader
            .read_run_opened(&spans, &mut |j, buf| match open_segment(
                &self.manifest,
                &self.read_key,
                run.start + j as u64,
                buf,
            ) {
                Ok(()) => true,
                Err(e) => {
                    refused[j] = Some(e);
                    false
                }
            });
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => return vec![Err(e.into())],
        };
        let mut pieces = Vec::with_capacity(spans.len());
        for (j, (seg, span)) in opened.into_iter().zip(&spans).enumerate() {
            let index = run.start + j as u64;
            let Some(seg) = seg else {
                tracing::error!(blob = %self.manifest.id, index, "segment failed verification");
                pieces.push(Err(NodeError::Corrupt(refused[j].take().map_or_else(
                    || format!("segment {index} failed verification"),
                    |e| e.to_string(),
                ))));
                break;
            };
            let from = range.start.max(span.start) - span.start;
            let to = range.end.min(span.end) - span.start;
            pieces.push(Ok(Bytes::from(seg).slice(from as usize..to as usize)));
        }
        pieces
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

    /// Streams `range` (which must lie within the blob), reporting progress
    /// to `job`; `on_complete` runs once if the whole range was sent.
    pub(crate) fn stream(
        self,
        range: Range<u64>,
        job: Job,
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
        let run = self.reader.run_len().max(1);
        let runs = segments.end.div_ceil(run) - segments.start / run;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers =
            (runs as usize).clamp(1, cores.min(MAX_WORKERS).max(self.reader.parallel_reads()));
        let stop = job.token();
        let mut channels = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = mpsc::channel(AHEAD);
            channels.push(rx);
            let (handle, range, stop) = (self.clone(), range.clone(), stop.clone());
            let segments = segments.clone();
            let mine = (w as u64..runs).step_by(workers).map(move |r| {
                let r = segments.start / run + r;
                (r * run).max(segments.start)..((r + 1) * run).min(segments.end)
            });
            tokio::task::spawn_blocking(move || handle.produce(&range, mine, &tx, &stop));
        }
        Box::pin(InOrder {
            channels,
            first: segments.start,
            run,
            next: 0,
            count,
            job: Some(job),
            stop,
            on_complete: Some(Box::new(on_complete)),
        })
    }

    fn produce(
        &self,
        range: &Range<u64>,
        runs: impl Iterator<Item = Range<u64>>,
        tx: &mpsc::Sender<Result<Bytes, NodeError>>,
        stop: &CancellationToken,
    ) {
        for run in runs {
            if stop.is_cancelled() {
                return;
            }
            for piece in self.run_pieces(range, run) {
                let failed = piece.is_err();
                if tx.blocking_send(piece).is_err() || failed {
                    return;
                }
            }
        }
    }
}

/// Takes pieces from the workers' channels in segment order and keeps the
/// job's books: progress, completion, cancellation, a client gone away.
struct InOrder {
    channels: Vec<mpsc::Receiver<Result<Bytes, NodeError>>>,
    /// The first segment of the range.
    first: u64,
    /// Segments per run; run r (counted from the first's) is worker r's
    /// mod the workers.
    run: u64,
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
}

impl Stream for InOrder {
    type Item = Result<Bytes, NodeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.job.is_none() || self.next == self.count {
            return Poll::Ready(None);
        }
        if self.job.as_ref().is_some_and(Job::is_cancelled) {
            self.end(Err(&NodeError::Cancelled));
            return Poll::Ready(Some(Err(NodeError::Cancelled)));
        }
        let index = self.first + self.next;
        let run = index / self.run - self.first / self.run;
        let slot = (run % self.channels.len() as u64) as usize;
        let item = match self.channels[slot].poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item
                .unwrap_or_else(|| Err(NodeError::Internal("a read worker stopped early".into()))),
        };
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
                Poll::Ready(Some(Ok(piece)))
            }
            Err(e) => {
                self.end(Err(&e));
                Poll::Ready(Some(Err(e)))
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
