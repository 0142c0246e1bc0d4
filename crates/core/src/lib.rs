//! Pure building blocks of cairn.
//!
//! Everything here is deterministic and free of I/O beyond `std::io` readers
//! and writers handed in by the caller, so it can be unit-, property- and
//! fuzz-tested in isolation and shipped unchanged to every node of the
//! network:
//!
//! - [`id`]: blob ids (BLAKE3), legacy digest aliases, entry short ids;
//! - [`layout`]: how a blob is cut into segments and how byte ranges map onto them;
//! - [`tree`]: the BLAKE3 tree over segment chaining values that lets any
//!   byte range be checked against the blob id before it is served;
//! - [`crypt`]: convergent per-segment keys and the AES-256-CTR segment cipher;
//! - [`manifest`]: the versioned binary record that says how to read a blob;
//! - [`seal`]: the one-pass pipeline that turns plaintext segments into
//!   ciphertext plus manifest, and its inverse;
//! - [`erasure`]: Reed-Solomon k + m coding of segments into shards;
//! - [`placement`]: where a blob's shards are, and the DHT record any node reads it by;
//! - [`digest`]: md5, sha1 and sha256 kept as aliases for the seeds' ids;
//! - [`token`]: access tokens in MetaDisk's format (16 base-62 digits).
#![deny(missing_docs, unreachable_pub)]

pub mod crypt;
pub mod digest;
pub mod erasure;
pub mod id;
pub mod layout;
pub mod manifest;
pub mod placement;
pub mod seal;
pub mod token;
pub mod tree;

pub use id::{BlobId, DigestKind, EntryId, IdError};
pub use layout::SEGMENT_SIZE;
pub use manifest::{Manifest, ManifestError};
