//! cairn's shard protocol, `/cairn/shards/4`: what an owner asks of its
//! suppliers and what they answer.
//!
//! One request and one response per stream (libp2p request-response). Each
//! message is a 4-byte big-endian length and a body of at most
//! [`MAX_FRAME`] bytes, so a peer can never make us buffer more than that;
//! a shard moves as many bounded `Write`s and `Read`s, never whole. The
//! body is a tag byte and fixed-width big-endian fields, decoded strictly:
//! trailing bytes, unknown tags and out-of-range lengths are errors.
//!
//! The shard bytes of a `Write` or a `Data` answer are the body's tail:
//! they are written from, and read into, their own buffer, never copied
//! into or out of a frame buffer ([`read_request`], [`write_request`]).
//!
//! Version 2 seals a shard with the hash of its pieces' hashes (cairn-core's
//! `placement::pieces_hash`) rather than of its bytes. Version 3 says the
//! pieces' length in every `Write` too, so a supplier hashes them as they
//! arrive and its seal reads nothing back. A node speaks both: a peer that
//! knows only version 2 is asked and answered in it ([`Version`]), its
//! writes carrying no stride (the seal reads those pieces back).
//!
//! Version 4 adds `SealAs`: an owner that places an upload while it is
//! still being stored writes its shards under a provisional blob id of its
//! choosing (the real one, the hash of the whole file, is known only at
//! the end) and seals them under the real id. Its other messages are
//! version 3's; a peer that knows no version 4 is never sent a `SealAs`
//! (the owner places such uploads once they are stored).

use std::io;

use futures_util::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol name.
pub const PROTOCOL: &str = "/cairn/shards/4";
/// The name of version 3, still spoken with peers that know no newer.
pub const PROTOCOL_V3: &str = "/cairn/shards/3";
/// The name of version 2, still spoken with peers that know no other.
pub const PROTOCOL_V2: &str = "/cairn/shards/2";

/// A version of the protocol: they differ in a `Write`'s fields and in
/// whether `SealAs` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `/cairn/shards/2`: a `Write` has no stride.
    V2,
    /// `/cairn/shards/3`: no `SealAs`.
    V3,
    /// `/cairn/shards/4`.
    V4,
}

impl Version {
    /// The version a protocol name stands for (the newest for any other).
    pub fn of(protocol: &str) -> Self {
        match protocol {
            PROTOCOL_V2 => Self::V2,
            PROTOCOL_V3 => Self::V3,
            _ => Self::V4,
        }
    }

    /// A `Write`'s fields before its bytes: key, offset, (stride,) length.
    fn write_head(self) -> usize {
        match self {
            Self::V2 => 32 + 32 + 1 + 8 + 4,
            Self::V3 | Self::V4 => 32 + 32 + 1 + 8 + 4 + 4,
        }
    }
}
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
        /// The length of the shard's pieces, as its seal will say (0: not
        /// known). The supplier hashes the pieces that start in `data`.
        stride: u32,
        /// At most [`MAX_CHUNK`] bytes.
        data: Vec<u8>,
    },
    /// The shard is complete: `len` bytes, cut in pieces of `stride`
    /// bytes (the last one shorter), whose hashes hash to `hash` (BLAKE3
    /// of their BLAKE3 hashes in order). The supplier checks both,
    /// makes it durable, and only then says `Ok`.
    Seal {
        /// Which shard.
        key: ShardKey,
        /// Its length.
        len: u64,
        /// The piece length (one segment's shard).
        stride: u32,
        /// BLAKE3 of the BLAKE3 hashes of its pieces.
        hash: [u8; 32],
    },
    /// Version 4: seal, as [`Request::Seal`] does, the shard written
    /// under `key` (whose blob is a provisional id the owner picked), and
    /// make it the same position of blob `blob`: readable, audited and
    /// deleted under that key from then on.
    SealAs {
        /// The shard as written.
        key: ShardKey,
        /// Its length.
        len: u64,
        /// The piece length (one segment's shard).
        stride: u32,
        /// BLAKE3 of the BLAKE3 hashes of its pieces.
        hash: [u8; 32],
        /// The blob it is a shard of.
        blob: [u8; 32],
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

/// The tag of a `Write` request, whose body ends with shard bytes.
const WRITE: u8 = 2;
/// The tag of a `SealAs` request (version 4 only).
const SEAL_AS: u8 = 7;
/// The tag of a `Data` response, whose body ends with shard bytes.
const DATA: u8 = 1;
/// A `Data` answer's fields before its bytes: the length.
const DATA_HEAD: usize = 4;

/// Encodes a request body in `version`.
pub fn encode_request(r: &Request, version: Version) -> Vec<u8> {
    let (mut head, tail) = encode_request_parts(r, version);
    head.extend_from_slice(tail);
    head
}

/// A request body as its fields and its shard bytes (empty but for a
/// `Write`), to be sent one after the other.
pub(crate) fn encode_request_parts(r: &Request, version: Version) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::with_capacity(128);
    match r {
        Request::Ping => out.push(0),
        Request::Space => out.push(1),
        Request::Write {
            key,
            offset,
            stride,
            data,
        } => {
            out.push(WRITE);
            put_key(&mut out, key);
            out.extend_from_slice(&offset.to_be_bytes());
            if version != Version::V2 {
                out.extend_from_slice(&stride.to_be_bytes());
            }
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            return (out, data);
        }
        Request::Seal {
            key,
            len,
            stride,
            hash,
        } => {
            out.push(3);
            put_key(&mut out, key);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&stride.to_be_bytes());
            out.extend_from_slice(hash);
        }
        Request::SealAs {
            key,
            len,
            stride,
            hash,
            blob,
        } => {
            out.push(SEAL_AS);
            put_key(&mut out, key);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&stride.to_be_bytes());
            out.extend_from_slice(hash);
            out.extend_from_slice(blob);
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
    (out, &[])
}

/// Decodes a request body in `version`, strictly.
pub fn decode_request(body: &[u8], version: Version) -> io::Result<Request> {
    decode_request_parts(body, None, version)
}

/// Decodes a request whose shard bytes, if any, were read apart (`tail`).
pub(crate) fn decode_request_parts(
    body: &[u8],
    mut tail: Option<Vec<u8>>,
    version: Version,
) -> io::Result<Request> {
    let mut r = Cursor(body);
    let request = match r.u8()? {
        0 => Request::Ping,
        1 => Request::Space,
        WRITE => {
            let key = r.key()?;
            let offset = r.u64()?;
            let stride = match version {
                Version::V2 => 0,
                Version::V3 | Version::V4 => r.u32()?,
            };
            let len = r.len()?;
            Request::Write {
                key,
                offset,
                stride,
                data: r.tail(len, &mut tail)?,
            }
        }
        3 => Request::Seal {
            key: r.key()?,
            len: r.u64()?,
            stride: r.u32()?,
            hash: r.array()?,
        },
        SEAL_AS if version >= Version::V4 => Request::SealAs {
            key: r.key()?,
            len: r.u64()?,
            stride: r.u32()?,
            hash: r.array()?,
            blob: r.array()?,
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
    if tail.is_some() {
        return Err(bad("shard bytes after a message that has none"));
    }
    Ok(request)
}

/// Encodes a response body.
pub fn encode_response(r: &Response) -> Vec<u8> {
    let (mut head, tail) = encode_response_parts(r);
    head.extend_from_slice(tail);
    head
}

/// A response body as its fields and its shard bytes (empty but for
/// `Data`).
pub(crate) fn encode_response_parts(r: &Response) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::with_capacity(64);
    match r {
        Response::Ok => out.push(0),
        Response::Data(data) => {
            out.push(DATA);
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            return (out, data);
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
    (out, &[])
}

/// Decodes a response body, strictly.
pub fn decode_response(body: &[u8]) -> io::Result<Response> {
    decode_response_parts(body, None)
}

/// Decodes a response whose shard bytes, if any, were read apart (`tail`).
pub(crate) fn decode_response_parts(
    body: &[u8],
    mut tail: Option<Vec<u8>>,
) -> io::Result<Response> {
    let mut r = Cursor(body);
    let response = match r.u8()? {
        0 => Response::Ok,
        DATA => {
            let len = r.len()?;
            Response::Data(r.tail(len, &mut tail)?)
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
    if tail.is_some() {
        return Err(bad("shard bytes after a message that has none"));
    }
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

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The `len` shard bytes that end the body: read apart into `tail`,
    /// which must hold exactly that many, or else next in the body.
    fn tail(&mut self, len: usize, tail: &mut Option<Vec<u8>>) -> io::Result<Vec<u8>> {
        match tail.take() {
            Some(bytes) if bytes.len() == len => Ok(bytes),
            Some(_) => Err(bad("shard bytes of another length than announced")),
            None => Ok(self.bytes(len)?.to_vec()),
        }
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
    write_parts(io, body, &[]).await
}

/// Writes one frame whose body is `head` then `tail`, and closes.
async fn write_parts<T: AsyncWrite + Unpin>(
    io: &mut T,
    head: &[u8],
    tail: &[u8],
) -> io::Result<()> {
    let len = head.len() + tail.len();
    if len > MAX_FRAME {
        return Err(bad("frame over the limit"));
    }
    io.write_all(&(len as u32).to_be_bytes()).await?;
    io.write_all(head).await?;
    io.write_all(tail).await?;
    io.close().await
}

/// Reads one frame. When its tag is `bulk_tag` and it is long enough, the
/// first `1 + head` bytes come back as the body and the rest, the shard
/// bytes, in a buffer of their own; otherwise the whole body.
async fn read_split<T: AsyncRead + Unpin>(
    io: &mut T,
    bulk_tag: u8,
    head: usize,
) -> io::Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(bad("frame over the limit"));
    }
    if len == 0 {
        return Ok((Vec::new(), None));
    }
    let mut tag = [0u8];
    io.read_exact(&mut tag).await?;
    let split = tag[0] == bulk_tag && len > 1 + head;
    let mut body = vec![0u8; if split { 1 + head } else { len }];
    body[0] = tag[0];
    io.read_exact(&mut body[1..]).await?;
    if !split {
        return Ok((body, None));
    }
    let mut tail = vec![0u8; len - 1 - head];
    io.read_exact(&mut tail).await?;
    Ok((body, Some(tail)))
}

/// Reads and decodes one request in `version`; a `Write`'s bytes land in
/// their own buffer.
pub async fn read_request<T: AsyncRead + Unpin>(
    io: &mut T,
    version: Version,
) -> io::Result<Request> {
    let (body, tail) = read_split(io, WRITE, version.write_head()).await?;
    decode_request_parts(&body, tail, version)
}

/// Reads and decodes one response; `Data` lands in its own buffer.
pub async fn read_response<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Response> {
    let (body, tail) = read_split(io, DATA, DATA_HEAD).await?;
    decode_response_parts(&body, tail)
}

/// Encodes and writes one request, the shard bytes straight from their
/// buffer, and closes.
pub async fn write_request<T: AsyncWrite + Unpin>(
    io: &mut T,
    r: &Request,
    version: Version,
) -> io::Result<()> {
    if matches!(r, Request::SealAs { .. }) && version < Version::V4 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "shard protocol: the peer knows no SealAs (version 4)",
        ));
    }
    let (head, tail) = encode_request_parts(r, version);
    write_parts(io, &head, tail).await
}

/// Encodes and writes one response, the shard bytes straight from their
/// buffer, and closes.
pub async fn write_response<T: AsyncWrite + Unpin>(io: &mut T, r: &Response) -> io::Result<()> {
    let (head, tail) = encode_response_parts(r);
    write_parts(io, &head, tail).await
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
                stride: 1 << 18,
                data: vec![9; 1000],
            },
            Request::Seal {
                key: key(2),
                len: 1 << 40,
                stride: 1 << 18,
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
            Request::SealAs {
                key: key(6),
                len: 1 << 33,
                stride: 1 << 18,
                hash: [7; 32],
                blob: [8; 32],
            },
        ];
        let seal_as = &requests[7];
        for (r, v) in requests
            .iter()
            .flat_map(|r| [(r, Version::V4), (r, Version::V3), (r, Version::V2)])
            .filter(|(r, v)| *v == Version::V4 || !matches!(r, Request::SealAs { .. }))
        {
            // Version 2 carries no stride: a write arrives without one.
            let sent = match (r, v) {
                (Request::Write { .. }, Version::V2) => &Request::Write {
                    key: key(1),
                    offset: 77,
                    stride: 0,
                    data: vec![9; 1000],
                },
                _ => r,
            };
            assert_eq!(&decode_request(&encode_request(r, v), v).unwrap(), sent);
            let mut wire = Vec::new();
            block_on(write_request(
                &mut futures_util::io::Cursor::new(&mut wire),
                r,
                v,
            ))
            .unwrap();
            let mut framed = (encode_request(r, v).len() as u32).to_be_bytes().to_vec();
            framed.extend(encode_request(r, v));
            assert_eq!(wire, framed, "streamed and framed encodings agree");
            let back = block_on(read_request(&mut futures_util::io::Cursor::new(wire), v));
            assert_eq!(&back.unwrap(), sent, "{v:?}");
        }
        // The versions' writes are not each other's: a version 3 write read
        // as version 2 has four bytes too many, and the other way round too
        // few.
        let write = &requests[2];
        for (wrote, read) in [(Version::V3, Version::V2), (Version::V2, Version::V3)] {
            assert!(decode_request(&encode_request(write, wrote), read).is_err());
        }
        // Versions 2 and 3 know no SealAs: it is never sent in them, and
        // refused if it comes.
        for v in [Version::V2, Version::V3] {
            let mut wire = Vec::new();
            let sent = block_on(write_request(
                &mut futures_util::io::Cursor::new(&mut wire),
                seal_as,
                v,
            ));
            assert!(sent.is_err() && wire.is_empty(), "{v:?}");
            assert!(decode_request(&encode_request(seal_as, Version::V4), v).is_err());
        }
        assert_eq!(Version::of(PROTOCOL_V2), Version::V2);
        assert_eq!(Version::of(PROTOCOL_V3), Version::V3);
        assert_eq!(Version::of(PROTOCOL), Version::V4);
        let responses = [
            Response::Ok,
            Response::Data(vec![1, 2, 3]),
            Response::Proof([8; 32]),
            Response::Space(12345),
            Response::Refused(Refusal::OverQuota, "full: 10 of 10 bytes".into()),
        ];
        for r in &responses {
            assert_eq!(&decode_response(&encode_response(r)).unwrap(), r);
            let mut wire = Vec::new();
            block_on(write_response(
                &mut futures_util::io::Cursor::new(&mut wire),
                r,
            ))
            .unwrap();
            let back = block_on(read_response(&mut futures_util::io::Cursor::new(wire))).unwrap();
            assert_eq!(&back, r);
        }
    }

    #[test]
    fn oversized_chunks_and_trailing_bytes_are_refused() {
        let mut big = encode_request(
            &Request::Read {
                key: key(1),
                offset: 0,
                len: 1,
            },
            Version::V3,
        );
        let n = big.len();
        big[n - 4..].copy_from_slice(&((MAX_CHUNK as u32) + 1).to_be_bytes());
        assert!(decode_request(&big, Version::V3).is_err());
        let mut trailing = encode_request(&Request::Ping, Version::V3);
        trailing.push(0);
        assert!(decode_request(&trailing, Version::V3).is_err());
        assert!(decode_response(&[4, 9, 0, 0]).is_err(), "unknown refusal");
        let long = "é".repeat(400);
        let Response::Refused(_, text) =
            decode_response(&encode_response(&Response::Refused(Refusal::Failed, long))).unwrap()
        else {
            panic!("not a refusal")
        };
        assert!(text.len() <= MAX_REASON);
    }

    /// A frame that says `Write` with `announced` bytes but carries
    /// `carried`.
    fn write_frame_claiming(announced: u32, carried: usize) -> Vec<u8> {
        let mut body = encode_request(
            &Request::Write {
                key: key(1),
                offset: 0,
                stride: 0,
                data: vec![7; carried],
            },
            Version::V3,
        );
        body[1 + 65 + 8 + 4..1 + 65 + 8 + 8].copy_from_slice(&announced.to_be_bytes());
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend(body);
        framed
    }

    #[test]
    fn streamed_shard_bytes_must_match_their_announced_length() {
        let read = |bytes: Vec<u8>| {
            block_on(read_request(
                &mut futures_util::io::Cursor::new(bytes),
                Version::V3,
            ))
        };
        assert!(read(write_frame_claiming(10, 10)).is_ok());
        assert!(
            read(write_frame_claiming(11, 10)).is_err(),
            "fewer bytes than announced"
        );
        assert!(
            read(write_frame_claiming(9, 10)).is_err(),
            "more bytes than announced"
        );
        // A frame cut short before its bytes end is an error, not a hang.
        let mut cut = write_frame_claiming(10, 10);
        cut.truncate(cut.len() - 3);
        assert!(read(cut).is_err());
        // A Ping with bytes after it is refused too.
        let mut ping = vec![0, 0, 0, 100, 0];
        ping.extend([0; 99]);
        assert!(read(ping).is_err());
        // An empty frame.
        assert!(read(vec![0, 0, 0, 0]).is_err());
    }

    #[test]
    fn frames_are_bounded() {
        block_on(async {
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

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest! {
        #[test]
        fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            for v in [Version::V2, Version::V3, Version::V4] {
                let _ = decode_request(&body, v);
                let _ = block_on(read_request(&mut futures_util::io::Cursor::new(body.clone()), v));
            }
            let _ = decode_response(&body);
            let _ = block_on(read_response(&mut futures_util::io::Cursor::new(body)));
        }
    }
}
