//! cairn's shard protocol, `/cairn/shards/1`: what an owner asks of its
//! suppliers and what they answer.
//!
//! One request and one response per stream (libp2p request-response). Each
//! message is a 4-byte big-endian length and a body of at most
//! [`MAX_FRAME`] bytes, so a peer can never make us buffer more than that;
//! a shard moves as many bounded `Write`s and `Read`s, never whole. The
//! body is a tag byte and fixed-width big-endian fields, decoded strictly:
//! trailing bytes, unknown tags and out-of-range lengths are errors.

use std::io;

use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol name.
pub const PROTOCOL: &str = "/cairn/shards/1";
/// Most shard bytes one `Write` carries or one `Read` returns.
pub const MAX_CHUNK: usize = 1 << 20;
/// Largest message body: a chunk and its header.
pub const MAX_FRAME: usize = MAX_CHUNK + 1024;
/// Longest reason text in a refusal.
const MAX_REASON: usize = 512;

/// A shard on its supplier: shard `position` of blob `blob` as stored by
/// customer `owner`. Owners encrypt under their own secrets, so the same
/// blob from two owners is two different shard files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardKey {
    /// The customer: BLAKE3 of its peer id's bytes ([`owner_of`]). Only
    /// that peer may write, seal or delete the shard; anyone may read it.
    pub owner: [u8; 32],
    /// The blob id (BLAKE3 of the plaintext).
    pub blob: [u8; 32],
    /// The supplier position (0..n): shard i of every segment.
    pub position: u8,
}

/// What an owner asks a supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Liveness and round-trip time.
    Ping,
    /// How much space the supplier would still accept from us.
    Space,
    /// Write `data` at `offset` of a shard being uploaded.
    Write {
        /// Which shard.
        key: ShardKey,
        /// Byte offset within the shard.
        offset: u64,
        /// At most [`MAX_CHUNK`] bytes.
        data: Vec<u8>,
    },
    /// The shard is complete: `len` bytes whose BLAKE3 hash is `hash`. The
    /// supplier checks both, makes it durable, and only then says `Ok`.
    Seal {
        /// Which shard.
        key: ShardKey,
        /// Its length.
        len: u64,
        /// BLAKE3 of its bytes.
        hash: [u8; 32],
    },
    /// Read `len` bytes at `offset` of a sealed shard.
    Read {
        /// Which shard.
        key: ShardKey,
        /// Byte offset.
        offset: u64,
        /// At most [`MAX_CHUNK`].
        len: u32,
    },
    /// Forget a shard.
    Delete {
        /// Which shard.
        key: ShardKey,
    },
    /// Prove possession: the BLAKE3 hash keyed by `nonce` of `len` bytes at
    /// `offset`.
    Audit {
        /// Which shard.
        key: ShardKey,
        /// A fresh random key.
        nonce: [u8; 32],
        /// Byte offset.
        offset: u64,
        /// At most [`MAX_CHUNK`].
        len: u32,
    },
}

/// Why a supplier refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Storing this would pass the space the supplier donates.
    OverQuota,
    /// No such shard (or not sealed yet).
    NotFound,
    /// The request is malformed or inconsistent (bad offset, hash mismatch).
    Invalid,
    /// The supplier failed to do it (disk error).
    Failed,
}

/// What a supplier answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Done.
    Ok,
    /// Bytes of a shard.
    Data(Vec<u8>),
    /// An audit's answer.
    Proof([u8; 32]),
    /// Bytes the supplier would still accept from the asking peer.
    Space(u64),
    /// Not done, and why.
    Refused(Refusal, String),
}

impl Refusal {
    fn tag(self) -> u8 {
        match self {
            Self::OverQuota => 1,
            Self::NotFound => 2,
            Self::Invalid => 3,
            Self::Failed => 4,
        }
    }

    fn from_tag(t: u8) -> io::Result<Self> {
        Ok(match t {
            1 => Self::OverQuota,
            2 => Self::NotFound,
            3 => Self::Invalid,
            4 => Self::Failed,
            _ => return Err(bad("unknown refusal")),
        })
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("shard protocol: {what}"),
    )
}

/// Encodes a request body.
pub fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match r {
        Request::Ping => out.push(0),
        Request::Space => out.push(1),
        Request::Write { key, offset, data } => {
            out.push(2);
            put_key(&mut out, key);
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
        Request::Seal { key, len, hash } => {
            out.push(3);
            put_key(&mut out, key);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(hash);
        }
        Request::Read { key, offset, len } => {
            out.push(4);
            put_key(&mut out, key);
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
        }
        Request::Delete { key } => {
            out.push(5);
            put_key(&mut out, key);
        }
        Request::Audit {
            key,
            nonce,
            offset,
            len,
        } => {
            out.push(6);
            put_key(&mut out, key);
            out.extend_from_slice(nonce);
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out
}

/// Decodes a request body, strictly.
pub fn decode_request(body: &[u8]) -> io::Result<Request> {
    let mut r = Cursor(body);
    let request = match r.u8()? {
        0 => Request::Ping,
        1 => Request::Space,
        2 => {
            let key = r.key()?;
            let offset = r.u64()?;
            let len = r.len()?;
            Request::Write {
                key,
                offset,
                data: r.bytes(len)?.to_vec(),
            }
        }
        3 => Request::Seal {
            key: r.key()?,
            len: r.u64()?,
            hash: r.array()?,
        },
        4 => Request::Read {
            key: r.key()?,
            offset: r.u64()?,
            len: r.len()? as u32,
        },
        5 => Request::Delete { key: r.key()? },
        6 => Request::Audit {
            key: r.key()?,
            nonce: r.array()?,
            offset: r.u64()?,
            len: r.len()? as u32,
        },
        _ => return Err(bad("unknown request")),
    };
    r.end()?;
    Ok(request)
}

/// Encodes a response body.
pub fn encode_response(r: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match r {
        Response::Ok => out.push(0),
        Response::Data(data) => {
            out.push(1);
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
        Response::Proof(hash) => {
            out.push(2);
            out.extend_from_slice(hash);
        }
        Response::Space(bytes) => {
            out.push(3);
            out.extend_from_slice(&bytes.to_be_bytes());
        }
        Response::Refused(why, reason) => {
            out.push(4);
            out.push(why.tag());
            let reason = clip(reason);
            out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
    }
    out
}

/// Decodes a response body, strictly.
pub fn decode_response(body: &[u8]) -> io::Result<Response> {
    let mut r = Cursor(body);
    let response = match r.u8()? {
        0 => Response::Ok,
        1 => {
            let len = r.len()?;
            Response::Data(r.bytes(len)?.to_vec())
        }
        2 => Response::Proof(r.array()?),
        3 => Response::Space(r.u64()?),
        4 => {
            let why = Refusal::from_tag(r.u8()?)?;
            let len = usize::from(u16::from_be_bytes(r.array()?));
            if len > MAX_REASON {
                return Err(bad("reason too long"));
            }
            let text = std::str::from_utf8(r.bytes(len)?).map_err(|_| bad("reason not UTF-8"))?;
            Response::Refused(why, text.to_owned())
        }
        _ => return Err(bad("unknown response")),
    };
    r.end()?;
    Ok(response)
}

fn clip(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The owner id of a peer: BLAKE3 of its peer id's bytes.
pub fn owner_of(peer: &libp2p::PeerId) -> [u8; 32] {
    *blake3::hash(&peer.to_bytes()).as_bytes()
}

fn put_key(out: &mut Vec<u8>, key: &ShardKey) {
    out.extend_from_slice(&key.owner);
    out.extend_from_slice(&key.blob);
    out.push(key.position);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("message cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A chunk length: at most [`MAX_CHUNK`].
    fn len(&mut self) -> io::Result<usize> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        if n > MAX_CHUNK {
            return Err(bad("chunk over the limit"));
        }
        Ok(n)
    }

    fn key(&mut self) -> io::Result<ShardKey> {
        Ok(ShardKey {
            owner: self.array()?,
            blob: self.array()?,
            position: self.u8()?,
        })
    }

    fn end(&self) -> io::Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
}

/// Reads one length-prefixed frame of at most [`MAX_FRAME`] bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(bad("frame over the limit"));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

/// Writes one length-prefixed frame and closes the writing side.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(bad("frame over the limit"));
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(p: u8) -> ShardKey {
        ShardKey {
            owner: [p ^ 1; 32],
            blob: [p; 32],
            position: p,
        }
    }

    #[test]
    fn every_message_round_trips() {
        let requests = [
            Request::Ping,
            Request::Space,
            Request::Write {
                key: key(1),
                offset: 77,
                data: vec![9; 1000],
            },
            Request::Seal {
                key: key(2),
                len: 1 << 40,
                hash: [3; 32],
            },
            Request::Read {
                key: key(3),
                offset: 5,
                len: MAX_CHUNK as u32,
            },
            Request::Delete { key: key(4) },
            Request::Audit {
                key: key(5),
                nonce: [6; 32],
                offset: 1,
                len: 2,
            },
        ];
        for r in &requests {
            assert_eq!(&decode_request(&encode_request(r)).unwrap(), r);
        }
        let responses = [
            Response::Ok,
            Response::Data(vec![1, 2, 3]),
            Response::Proof([8; 32]),
            Response::Space(12345),
            Response::Refused(Refusal::OverQuota, "full: 10 of 10 bytes".into()),
        ];
        for r in &responses {
            assert_eq!(&decode_response(&encode_response(r)).unwrap(), r);
        }
    }

    #[test]
    fn oversized_chunks_and_trailing_bytes_are_refused() {
        let mut big = encode_request(&Request::Read {
            key: key(1),
            offset: 0,
            len: 1,
        });
        let n = big.len();
        big[n - 4..].copy_from_slice(&((MAX_CHUNK as u32) + 1).to_be_bytes());
        assert!(decode_request(&big).is_err());
        let mut trailing = encode_request(&Request::Ping);
        trailing.push(0);
        assert!(decode_request(&trailing).is_err());
        assert!(decode_response(&[4, 9, 0, 0]).is_err(), "unknown refusal");
        let long = "é".repeat(400);
        let Response::Refused(_, text) =
            decode_response(&encode_response(&Response::Refused(Refusal::Failed, long))).unwrap()
        else {
            panic!("not a refusal")
        };
        assert!(text.len() <= MAX_REASON);
    }

    #[test]
    fn frames_are_bounded() {
        futures_executor_block_on(async {
            let mut buf = Vec::new();
            write_frame(&mut futures_util::io::Cursor::new(&mut buf), b"hello")
                .await
                .unwrap();
            let mut r = futures_util::io::Cursor::new(buf);
            assert_eq!(read_frame(&mut r).await.unwrap(), b"hello");
            let huge = ((MAX_FRAME as u32) + 1).to_be_bytes().to_vec();
            let mut r = futures_util::io::Cursor::new(huge);
            assert!(read_frame(&mut r).await.is_err());
        });
    }

    fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest! {
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_request(&body);
            let _ = decode_response(&body);
        }
    }
}
