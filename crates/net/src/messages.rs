//! The message protocol, `/cairn/messages/1`: one opaque envelope from a
//! person to another, one short answer back, each a 4-byte big-endian
//! length and at most [`MAX_MESSAGE`] bytes. What an envelope holds, and
//! whether it is accepted, is the node's business; this crate only
//! carries it, and hands what arrives to the node on a channel.

use std::io;

use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::Codec;
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::oneshot;

/// The protocol name.
pub const MESSAGE_PROTOCOL: &str = "/cairn/messages/1";

/// The largest envelope or answer.
pub const MAX_MESSAGE: usize = 256 << 10;

/// A message from a peer, to be answered on `reply`.
#[derive(Debug)]
pub struct InboundMessage {
    /// Who sent it (the connection's authenticated peer).
    pub peer: PeerId,
    /// The envelope's bytes.
    pub body: Vec<u8>,
    /// Where the answer goes; dropping it answers nothing (the sender's
    /// request fails).
    pub reply: oneshot::Sender<Vec<u8>>,
}

/// A group message from the gossip network (`/cairn/group/<id>` topics):
/// its topic, who published it (gossipsub checks its signature) and its
/// bytes. What it holds is the node's business.
#[derive(Debug, Clone)]
pub struct GossipMessage {
    /// The topic's name.
    pub topic: String,
    /// The peer that published it.
    pub source: Option<PeerId>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Frames envelopes and answers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MessageCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message protocol: a frame of {len} bytes is over {MAX_MESSAGE}"),
        ));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message protocol: a frame of {} bytes is over {MAX_MESSAGE}",
                body.len()
            ),
        ));
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

impl Codec for MessageCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_big_ones_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").await.unwrap();
        assert_eq!(buf, b"\0\0\0\x05hello");
        let mut read = futures_util::io::Cursor::new(buf);
        assert_eq!(read_frame(&mut read).await.unwrap(), b"hello");
        let mut big =
            futures_util::io::Cursor::new(((MAX_MESSAGE + 1) as u32).to_be_bytes().to_vec());
        assert_eq!(
            read_frame(&mut big).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let mut sink = Vec::new();
        assert!(
            write_frame(&mut sink, &vec![0; MAX_MESSAGE + 1])
                .await
                .is_err()
        );
    }
}
