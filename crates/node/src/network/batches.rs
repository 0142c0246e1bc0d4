//! Placing bytes on suppliers in batches: segments coded into each
//! supplier's pieces, the pieces written, a window of batches in flight,
//! and what a supplier's answer means. Used by the placement of a stored
//! blob, the early placement of an upload and repair alike.

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use cairn_core::erasure::Coding;
use cairn_core::layout::SEGMENT_SIZE;
use cairn_net::PeerId;
use cairn_net::protocol::{Request, Response, ShardKey};

use super::net::Net;
use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

pub(crate) use cairn_core::placement::shard_file_len;

/// A coded batch: each supplier's pieces, and every piece's hash.
pub(crate) type CodedBatch = (Vec<Vec<u8>>, Vec<[u8; 32]>);

/// Codes one batch of segments of `lens` bytes into the pieces of each
/// supplier (position i's pieces of the batch, one after the other) and
/// the hash of every piece, segment by segment. `fill(s, from, dst)`
/// fills `dst` with the batch's segment `s`'s ciphertext from byte
/// `from`: a segment's data shard i is its bytes from i × shard length,
/// the last one padded with zeros, so they are read straight into the
/// pieces.
pub(crate) fn code_batch(
    coding: Coding,
    lens: &[usize],
    mut fill: impl FnMut(usize, usize, &mut [u8]) -> Result<()>,
) -> Result<CodedBatch> {
    let stride = coding.shard_len(SEGMENT_SIZE as usize);
    let mut pieces = vec![Vec::with_capacity(stride * lens.len()); coding.n()];
    let mut hashes = Vec::with_capacity(lens.len() * coding.n());
    let k = usize::from(coding.k);
    for (s, &seg_len) in lens.iter().enumerate() {
        let len = coding.shard_len(seg_len);
        let starts: Vec<usize> = pieces.iter().map(Vec::len).collect();
        for (i, piece) in pieces[..k].iter_mut().enumerate() {
            let from = (i * len).min(seg_len);
            let to = ((i + 1) * len).min(seg_len);
            let at = piece.len();
            piece.resize(at + len, 0);
            fill(s, from, &mut piece[at..at + (to - from)])?;
        }
        coding
            .add_parity(len, &mut pieces)
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        for (piece, at) in pieces.iter().zip(starts) {
            hashes.push(*blake3::hash(&piece[at..]).as_bytes());
        }
    }
    Ok((pieces, hashes))
}

/// Writes one batch's pieces (from [`code_batch`]) of blob `blob` to
/// `suppliers`, position i to the i-th, at `offset` of their shards.
pub(crate) async fn write_batch(
    net: &Net,
    suppliers: &[PeerId],
    blob: [u8; 32],
    offset: u64,
    stride: usize,
    pieces: Vec<Vec<u8>>,
) -> std::result::Result<(), Failed> {
    let writes = pieces.into_iter().enumerate().map(|(i, data)| {
        let key = ShardKey {
            owner: net.owner,
            blob,
            position: i as u8,
        };
        net.network.request(
            suppliers[i],
            Request::Write {
                key,
                offset,
                stride: stride as u32,
                data,
            },
        )
    });
    for (i, answer) in join_all(writes).await.into_iter().enumerate() {
        expect_ok(answer, &suppliers[i]).map_err(|e| Failed::Supplier(suppliers[i], e))?;
    }
    Ok(())
}

/// Why an attempt to place a blob stopped.
pub(crate) enum Failed {
    /// This supplier refused or failed a request: try without it.
    Supplier(PeerId, NodeError),
    /// Anything else (cancelled, the local copy unreadable).
    Other(NodeError),
}

impl From<NodeError> for Failed {
    fn from(e: NodeError) -> Self {
        Self::Other(e)
    }
}

/// Batches of segments being placed at once.
pub(crate) const PLACE_WINDOW: usize = 4;

/// Runs the batches of a placement, [`PLACE_WINDOW`] at once, handing
/// each one's outcome to `each` in order. The first error (of a batch or
/// of `each`) cancels `stop`, and so does anyone else who wants no more
/// batches: none starts after that, but those in flight are waited for.
/// So when this returns, every write it sent has been answered or has
/// failed, and a delete sent next cannot be overtaken by one of them
/// (which would leave a partial shard behind on the supplier).
pub(crate) async fn run_batches<T>(
    batches: impl futures_util::Stream<Item = impl Future<Output = std::result::Result<T, Failed>>>,
    stop: &CancellationToken,
    mut each: impl FnMut(T) -> Result<()>,
) -> std::result::Result<(), Failed> {
    let running = batches
        .take_until(stop.clone().cancelled_owned())
        .buffered(PLACE_WINDOW);
    let mut running = std::pin::pin!(running);
    let mut failed = None;
    while let Some(done) = running.next().await {
        if failed.is_some() {
            continue;
        }
        let outcome = match done {
            Ok(done) => each(done).map_err(Failed::Other),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            failed = Some(e);
            stop.cancel();
        }
    }
    failed.map_or(Ok(()), Err)
}

pub(crate) fn expect_ok(
    answer: std::result::Result<Response, cairn_net::NetError>,
    peer: &PeerId,
) -> Result<()> {
    match answer {
        Ok(Response::Ok) => Ok(()),
        Ok(Response::Refused(why, text)) => Err(NodeError::Invalid(format!(
            "supplier {peer} refused ({why:?}): {text}"
        ))),
        Ok(other) => Err(NodeError::Internal(format!(
            "supplier {peer} answered {other:?}"
        ))),
        Err(e) => Err(net_error(e)),
    }
}

pub(crate) fn net_error(e: cairn_net::NetError) -> NodeError {
    NodeError::Network(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// What the batches of a test did, in order: ("start" | "end", batch).
    type Log = Arc<Mutex<Vec<(&'static str, u64)>>>;

    /// Ten batches; batch `fails` fails at once, batch `stops` cancels
    /// `stop` as it starts (as an owner giving up would), the others take
    /// a while.
    async fn run_ten(
        fails: u64,
        stops: u64,
        stop: &CancellationToken,
    ) -> (bool, Vec<(&'static str, u64)>) {
        let log: Log = Arc::default();
        let batches = futures_util::stream::iter(0..10u64).map(|b| {
            let log = log.clone();
            let stop = stop.clone();
            async move {
                log.lock().unwrap().push(("start", b));
                if b == stops {
                    stop.cancel();
                }
                if b == fails {
                    return Err(Failed::Other(NodeError::Internal("refused".into())));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                log.lock().unwrap().push(("end", b));
                Ok(b)
            }
        });
        let mut seen = Vec::new();
        let outcome = run_batches(batches, stop, |b| {
            seen.push(b);
            Ok(())
        })
        .await;
        assert!(
            seen.windows(2).all(|w| w[0] + 1 == w[1]),
            "in order: {seen:?}"
        );
        let log = log.lock().unwrap().clone();
        (outcome.is_ok(), log)
    }

    #[tokio::test]
    async fn a_failed_placement_waits_for_its_batches_in_flight_and_starts_no_more() {
        let stop = CancellationToken::new();
        let (ok, log) = run_ten(1, u64::MAX, &stop).await;
        assert!(!ok);
        assert!(stop.is_cancelled());
        let started: Vec<u64> = log.iter().filter(|e| e.0 == "start").map(|e| e.1).collect();
        // Those in flight when batch 1 failed, and the one that took batch
        // 0's place before batch 1's outcome came out (in order): no more.
        assert_eq!(started, (0..=PLACE_WINDOW as u64).collect::<Vec<_>>());
        for b in started.iter().filter(|&&b| b != 1) {
            assert!(
                log.contains(&("end", *b)),
                "batch {b} was not waited for: {log:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_stopped_placement_waits_for_its_batches_in_flight() {
        let stop = CancellationToken::new();
        let (ok, log) = run_ten(u64::MAX, 2, &stop).await;
        assert!(ok);
        let started = log.iter().filter(|e| e.0 == "start").count();
        let ended = log.iter().filter(|e| e.0 == "end").count();
        assert_eq!(started, PLACE_WINDOW, "stopped, no batch started: {log:?}");
        assert_eq!(
            ended, started,
            "every batch started was waited for: {log:?}"
        );
    }

    #[tokio::test]
    async fn batches_left_alone_all_run_in_order() {
        let (ok, log) = run_ten(u64::MAX, u64::MAX, &CancellationToken::new()).await;
        assert!(ok);
        assert_eq!(log.iter().filter(|e| e.0 == "end").count(), 10);
    }
}
