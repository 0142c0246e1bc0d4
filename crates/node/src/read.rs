//! Verified reads of stored blobs.
//!
//! A read is served segment by segment: read the ciphertext, decrypt it,
//! hash it and compare with the manifest's leaf, which was checked against
//! the blob id when the manifest was loaded. Only then are the bytes of the
//! asked range passed on. A segment that fails is never served: the stream
//! ends with an error instead.
//!
//! Streaming runs the read/decrypt/verify loop on a blocking thread feeding
//! a small bounded channel, so one core verifies while the other sends.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use cairn_core::crypt::ReadKey;
use cairn_core::layout::{segment_span, segments_for};
use cairn_core::seal::open_segment;
use cairn_core::{BlobId, Manifest};
use cairn_store::files::BlobReader;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::NodeError;
use crate::jobs::Job;

/// Verified segments buffered ahead of the HTTP writer.
const AHEAD: usize = 4;

/// A stream of verified plaintext chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, NodeError>> + Send>>;

/// An open, stored blob.
#[derive(Clone)]
pub struct BlobHandle {
    manifest: Arc<Manifest>,
    read_key: ReadKey,
    reader: Arc<dyn BlobReader>,
}

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
        let mut buf = vec![0u8; (span.end - span.start) as usize];
        self.reader.read_exact_at(&mut buf, span.start)?;
        open_segment(&self.manifest, &self.read_key, index, &mut buf).map_err(|e| {
            tracing::error!(blob = %self.manifest.id, index, "segment failed verification");
            NodeError::Corrupt(e.to_string())
        })?;
        Ok(buf)
    }

    /// Calls `sink` with each verified piece of `range`, in order.
    pub(crate) fn for_each_piece(
        &self,
        range: Range<u64>,
        mut sink: impl FnMut(Bytes) -> Result<(), NodeError>,
    ) -> Result<(), NodeError> {
        for index in segments_for(&range) {
            let span = segment_span(self.manifest.size, index);
            let seg = Bytes::from(self.segment(index)?);
            let from = range.start.max(span.start) - span.start;
            let to = range.end.min(span.end) - span.start;
            sink(seg.slice(from as usize..to as usize))?;
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
        let (tx, rx) = mpsc::channel::<Result<Bytes, NodeError>>(AHEAD);
        tokio::task::spawn_blocking(move || {
            let outcome = self.for_each_piece(range, |piece| {
                job.check()?;
                let len = piece.len() as u64;
                tx.blocking_send(Ok(piece))
                    .map_err(|_| NodeError::Aborted("the client went away".into()))?;
                job.advance(len);
                Ok(())
            });
            match outcome {
                Ok(()) => {
                    on_complete();
                    job.finish(Ok(serde_json::Value::Null));
                }
                Err(e) => {
                    job.finish(Err(&e));
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}
