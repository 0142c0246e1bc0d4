//! Bodies fed through a channel by a pump that reads a multipart part.
//!
//! A part borrows its multipart reader, so its bytes are pumped into a
//! channel that the node's upload reads. The end marker `Ok(None)` is sent
//! by [`end`] only once the handler has read on past the part and found
//! the form in good order (the next part's head, or the closing boundary):
//! the upload's body ends, and it commits, only then. A part whose form
//! breaks after it (cut off, no closing boundary) gets the error instead,
//! so nothing of it is stored. A channel that closes without either (the
//! handler was dropped because the client went away) reads as an error, so
//! a cut-off upload can never look like a short, complete file.

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// What a pump sends: data, the end (`Ok(None)`), or the error that ended it.
pub type Piece = std::io::Result<Option<Bytes>>;

/// The channel a pump feeds (a few pieces deep).
pub fn channel() -> (mpsc::Sender<Piece>, mpsc::Receiver<Piece>) {
    mpsc::channel(4)
}

/// The body the node reads from `rx`.
pub fn body(
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
pub struct BrokenPart {
    /// The status the multipart reader gives it: 400, or 413 past the limit.
    pub status: axum::http::StatusCode,
    /// What was wrong.
    pub message: String,
}

impl From<axum::extract::multipart::MultipartError> for BrokenPart {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        Self {
            status: e.status(),
            message: e.body_text(),
        }
    }
}

/// Pumps `field`'s bytes into `tx` until it ends, without the end marker
/// (see [`end`]), or fails (sending the error, and answering it). A
/// receiver that stops listening ends the pump quietly: the upload has
/// failed on its own.
pub async fn pump(
    field: &mut axum::extract::multipart::Field<'_>,
    tx: &mpsc::Sender<Piece>,
) -> Result<(), BrokenPart> {
    loop {
        match field.chunk().await {
            Ok(Some(c)) => {
                if tx.send(Ok(Some(c))).await.is_err() {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                let broken = BrokenPart::from(e);
                let _ = tx
                    .send(Err(std::io::Error::other(broken.message.clone())))
                    .await;
                return Err(broken);
            }
        }
    }
}

/// Ends a pumped body: with the end marker when the form went on in good
/// order after the part (`Ok`), else with the error that broke it.
pub async fn end(tx: &mpsc::Sender<Piece>, after: Result<(), &BrokenPart>) {
    let piece = match after {
        Ok(()) => Ok(None),
        Err(broken) => Err(std::io::Error::other(broken.message.clone())),
    };
    let _ = tx.send(piece).await;
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
