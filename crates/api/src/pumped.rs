//! Bodies fed through a channel by a pump that reads a multipart part.
//!
//! A part borrows its multipart reader, so its bytes are pumped into a
//! channel that the node's upload reads. The pump sends `Ok(None)` when the
//! part has ended; a channel that closes without it (the handler was
//! dropped because the client went away) reads as an error, so a cut-off
//! upload can never look like a short, complete file.

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// What a pump sends: data, the end (`Ok(None)`), or the error that ended it.
pub(crate) type Piece = std::io::Result<Option<Bytes>>;

/// The channel a pump feeds (a few pieces deep).
pub(crate) fn channel() -> (mpsc::Sender<Piece>, mpsc::Receiver<Piece>) {
    mpsc::channel(4)
}

/// The body the node reads from `rx`.
pub(crate) fn body(
    rx: mpsc::Receiver<Piece>,
) -> std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> {
    Box::pin(futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Ok(Some(data))) => Some((Ok(data), Some(rx))),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some((Err(e), None)),
            None => Some((
                Err(std::io::Error::other(
                    "the request body ended before its part did",
                )),
                None,
            )),
        }
    }))
}

/// A multipart body that failed while a part was pumped: malformed, cut
/// off, or over the body limit. It is the client's doing, so a handler
/// answers it as such, whatever the upload then made of the broken body.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct BrokenPart {
    /// The status the multipart reader gives it: 400, or 413 past the limit.
    pub(crate) status: axum::http::StatusCode,
    /// What was wrong.
    pub(crate) message: String,
}

/// Pumps `field` into `tx` until it ends (sending the end marker) or fails
/// (sending the error, and answering it). A receiver that stops listening
/// ends the pump quietly: the upload has failed on its own.
pub(crate) async fn pump(
    field: &mut axum::extract::multipart::Field<'_>,
    tx: &mpsc::Sender<Piece>,
) -> Result<(), BrokenPart> {
    loop {
        let (piece, broken) = match field.chunk().await {
            Ok(Some(c)) => (Ok(Some(c)), None),
            Ok(None) => (Ok(None), None),
            Err(e) => {
                let broken = BrokenPart {
                    status: e.status(),
                    message: e.body_text(),
                };
                (
                    Err(std::io::Error::other(broken.message.clone())),
                    Some(broken),
                )
            }
        };
        let last = !matches!(piece, Ok(Some(_)));
        if tx.send(piece).await.is_err() || last {
            return broken.map_or(Ok(()), Err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_pump_dropped_without_the_end_marker_is_an_error() {
        let (tx, rx) = channel();
        tx.send(Ok(Some(Bytes::from_static(b"half"))))
            .await
            .unwrap();
        drop(tx);
        let items: Vec<_> = body(rx).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
    }

    #[tokio::test]
    async fn the_end_marker_ends_the_body_cleanly() {
        let (tx, rx) = channel();
        tx.send(Ok(Some(Bytes::from_static(b"all")))).await.unwrap();
        tx.send(Ok(None)).await.unwrap();
        drop(tx);
        let items: Vec<_> = body(rx).collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }
}
