//! The upload pipeline: one read pass over the source.
//!
//! Two stages on two threads, joined by a small bounded channel so memory
//! stays at a few segments whatever the file size:
//!
//! 1. the caller's thread reads a segment and hashes it (its BLAKE3 leaf);
//! 2. a writer thread derives the segment's convergent key from the leaf,
//!    encrypts the segment in place and appends it to a temporary blob.
//!
//! Hashing and encryption cost about the same, so the split keeps both cores
//! busy. With a [`Tap`], the writer also hands each encrypted segment on
//! (to be placed on suppliers while the rest is stored, `early.rs`); its
//! buffer comes back to the reader when the segment is dropped there.
//!
//! Nothing is visible until the caller commits the temporary blob and the
//! catalog row together; a failure or a kill anywhere before that leaves
//! only a temporary file, removed on drop or at the next start.

use std::io::Read;
use std::sync::mpsc;

use cairn_core::crypt::ConvergenceSecret;
use cairn_core::seal::{ManifestBuilder, SealedSegment};
use cairn_core::tree::{Leaf, hash_segment};
use cairn_core::{BlobId, Manifest, SEGMENT_SIZE};
use cairn_store::files::{BlobFiles, TempBlob};

use super::sniff::HEAD;
use crate::NodeError;
use crate::jobs::Job;

/// Segments in flight between the stages (and so the pipeline's memory).
const IN_FLIGHT: usize = 3;

/// Longest the writer waits to hand one segment on before it goes on
/// without the tap: an upload never waits long for the network.
pub(crate) const PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Where the writer hands each segment once it is encrypted and written.
pub(crate) struct Tap {
    to: tokio::sync::mpsc::Sender<Ciphertext>,
    runtime: tokio::runtime::Handle,
}

impl Tap {
    /// A tap into `to`, waited on through `runtime`.
    pub(crate) fn new(
        to: tokio::sync::mpsc::Sender<Ciphertext>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self { to, runtime }
    }

    /// Hands `segment` on (blocking): false when the other end is gone or
    /// kept it waiting [`PATIENCE`]; the writer then drops the tap, and the
    /// other end sees the segments end early.
    fn send(&self, segment: Ciphertext) -> bool {
        self.runtime
            .block_on(self.to.send_timeout(segment, PATIENCE))
            .is_ok()
    }
}

/// One encrypted segment, handed on by the writer. Dropping it gives its
/// buffer back to the reader.
pub(crate) struct Ciphertext {
    /// The segment's index in the blob.
    pub(crate) index: u64,
    buf: Vec<u8>,
    len: usize,
    recycle: mpsc::Sender<Vec<u8>>,
}

impl Ciphertext {
    /// The segment's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Ciphertext {
    fn drop(&mut self) {
        let _ = self.recycle.send(std::mem::take(&mut self.buf));
    }
}

/// A sealed upload, not yet committed.
pub(crate) struct Sealed {
    pub(crate) manifest: Manifest,
    pub(crate) temp: TempBlob,
    pub(crate) head: Vec<u8>,
}

struct Hashed {
    buf: Vec<u8>,
    len: usize,
    leaf: Leaf,
    root: BlobId,
}

/// Reads `src` to the end, sealing it into a temporary blob; each
/// encrypted segment also goes to `tap`, if any, while it takes them.
pub(crate) fn seal_source(
    files: &dyn BlobFiles,
    secret: &ConvergenceSecret,
    src: &mut dyn Read,
    job: &Job,
    limit: u64,
    tap: Option<Tap>,
) -> Result<Sealed, NodeError> {
    let mut temp = files.create_temp()?;
    let (to_writer, from_reader) = mpsc::sync_channel::<Hashed>(IN_FLIGHT);
    let (recycle, spare) = mpsc::channel::<Vec<u8>>();
    let (manifest, head) = std::thread::scope(|s| {
        let writer = s.spawn(|| write_stage(secret, &mut temp, from_reader, recycle, tap));
        let head = read_stage(src, job, limit, to_writer, spare);
        let manifest = writer
            .join()
            .map_err(|_| NodeError::Internal("upload writer thread panicked".into()))?;
        // The writer stops early only on its own error; report that first.
        let manifest = manifest?;
        Ok::<_, NodeError>((manifest, head?))
    })?;
    Ok(Sealed {
        manifest,
        temp,
        head,
    })
}

fn read_stage(
    src: &mut dyn Read,
    job: &Job,
    limit: u64,
    to_writer: mpsc::SyncSender<Hashed>,
    spare: mpsc::Receiver<Vec<u8>>,
) -> Result<Vec<u8>, NodeError> {
    let mut head = Vec::new();
    let mut total = 0u64;
    for index in 0u64.. {
        job.check()?;
        let mut buf = spare
            .try_recv()
            .unwrap_or_else(|_| vec![0u8; SEGMENT_SIZE as usize]);
        let len = read_full(src, &mut buf)?;
        if len == 0 {
            break;
        }
        total += len as u64;
        if total > limit {
            return Err(NodeError::TooLarge { limit });
        }
        if index == 0 {
            head.extend_from_slice(&buf[..len.min(HEAD)]);
        }
        let (leaf, root) = hash_segment(&buf[..len], index);
        job.advance(len as u64);
        if to_writer
            .send(Hashed {
                buf,
                len,
                leaf,
                root,
            })
            .is_err()
        {
            // The writer failed; its error is the one to report.
            break;
        }
        if len < SEGMENT_SIZE as usize {
            break;
        }
    }
    Ok(head)
}

fn write_stage(
    secret: &ConvergenceSecret,
    temp: &mut TempBlob,
    from_reader: mpsc::Receiver<Hashed>,
    recycle: mpsc::Sender<Vec<u8>>,
    mut tap: Option<Tap>,
) -> Result<Manifest, NodeError> {
    let mut builder = ManifestBuilder::new(secret.clone());
    for (
        index,
        Hashed {
            mut buf,
            len,
            leaf,
            root,
        },
    ) in (0u64..).zip(from_reader)
    {
        let key = secret.segment_key(&leaf);
        key.apply(0, &mut buf[..len]);
        temp.write_all(&buf[..len])?;
        builder
            .push(SealedSegment { leaf, key, root }, len as u64)
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        match &tap {
            Some(to) => {
                let segment = Ciphertext {
                    index,
                    buf,
                    len,
                    recycle: recycle.clone(),
                };
                // Gone or stuck: the upload goes on without it.
                if !to.send(segment) {
                    tap = None;
                }
            }
            None => {
                let _ = recycle.send(buf);
            }
        }
    }
    Ok(builder.finish())
}

/// Fills `buf` unless the source ends first; returns the bytes read.
fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> Result<usize, NodeError> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(source_error(e)),
        }
    }
    Ok(filled)
}

/// Errors from the source: a cancelled or cut-off body keeps its meaning.
fn source_error(e: std::io::Error) -> NodeError {
    match e.downcast::<NodeError>() {
        Ok(inner) => inner,
        Err(e) => NodeError::Aborted(e.to_string()),
    }
}
