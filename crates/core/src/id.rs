//! Identifiers: the BLAKE3 blob id, the legacy digests that alias it, and the
//! short random ids of catalog entries.
//!
//! A blob id is exactly what `b3sum FILE` prints: 64 lowercase hex digits.
//! Parsing accepts upper case too, because users paste ids from anywhere.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;

/// Why an id string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is not hex or has a length no digest has.
    #[error("'{0}' is not a blob id (64 hex digits) nor an md5, sha1 or sha256 digest")]
    NotADigest(String),
    /// The string is not a valid entry id.
    #[error("'{0}' is not an entry id (11 characters of A-Z a-z 0-9 - _)")]
    NotAnEntryId(String),
}

/// The id of a blob: the BLAKE3 hash of its plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The id of the given bytes.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// The 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<blake3::Hash> for BlobId {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.to_hex())
    }
}

impl FromStr for BlobId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = decode_hex(s, 32).ok_or_else(|| IdError::NotADigest(clip(s)))?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        Ok(Self(out))
    }
}

/// A digest algorithm whose value can name a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    /// BLAKE3, the blob id itself.
    Blake3,
    /// MD5 (cacaoweb's file ids).
    Md5,
    /// SHA-1 (Openload's upload check).
    Sha1,
    /// SHA-256 (MetaDisk).
    Sha256,
}

impl DigestKind {
    /// The name used in the catalog and the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    /// Parses a name as written by [`DigestKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "blake3" => Some(Self::Blake3),
            "md5" => Some(Self::Md5),
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// A digest value given by a user: hex of a known length, not yet resolved.
///
/// 64 hex digits may be a blob id or a sha256 alias; the catalog tries the
/// blob id first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRef {
    /// The lowercase hex digits.
    pub hex: String,
    /// The algorithms a digest of this length may come from.
    pub kinds: &'static [DigestKind],
}

impl FromStr for DigestRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let kinds: &'static [DigestKind] = match s.len() {
            32 => &[DigestKind::Md5],
            40 => &[DigestKind::Sha1],
            64 => &[DigestKind::Blake3, DigestKind::Sha256],
            _ => return Err(IdError::NotADigest(clip(s))),
        };
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::NotADigest(clip(s)));
        }
        Ok(Self {
            hex: s.to_ascii_lowercase(),
            kinds,
        })
    }
}

/// The short id of a catalog entry: 8 random bytes in URL-safe base64
/// (11 characters), in the style of Openload's `72fA-_Lq8Ak`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(String);

impl EntryId {
    /// The length of every entry id.
    pub const LEN: usize = 11;

    /// A fresh random id. It never starts with `-`, so it can be typed as
    /// a command-line argument without being taken for an option (about
    /// one id in 64 would otherwise).
    pub fn random() -> Self {
        use base64::Engine as _;
        let mut raw = [0u8; 8];
        loop {
            rand::thread_rng().fill_bytes(&mut raw);
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
            if !id.starts_with('-') {
                return Self(id);
            }
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EntryId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::NotAnEntryId(clip(s)))
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.0)
    }
}

fn decode_hex(s: &str, len: usize) -> Option<Vec<u8>> {
    if s.len() != len * 2 {
        return None;
    }
    hex::decode(s).ok()
}

/// Shortens user input quoted in an error so a huge string cannot flood logs.
fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_id_round_trips_through_hex_and_matches_b3sum_of_empty_input() {
        let id = BlobId::of(b"");
        assert_eq!(
            id.to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(id.to_hex().parse::<BlobId>().unwrap(), id);
        assert_eq!(id.to_hex().to_uppercase().parse::<BlobId>().unwrap(), id);
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!("xyz".parse::<BlobId>().is_err());
        assert!("g".repeat(64).parse::<BlobId>().is_err());
        assert!("ab".repeat(31).parse::<DigestRef>().is_err());
        assert!("é".repeat(40).parse::<DigestRef>().is_err());
        assert!("short".parse::<EntryId>().is_err());
        assert!("72fA-_Lq8A!".parse::<EntryId>().is_err());
    }

    #[test]
    fn digest_length_decides_the_candidate_algorithms() {
        let md5: DigestRef = "D41D8CD98F00B204E9800998ECF8427E".parse().unwrap();
        assert_eq!(md5.kinds, &[DigestKind::Md5]);
        assert_eq!(md5.hex, "d41d8cd98f00b204e9800998ecf8427e");
        let long: DigestRef = "a".repeat(64).parse().unwrap();
        assert_eq!(long.kinds, &[DigestKind::Blake3, DigestKind::Sha256]);
    }

    #[test]
    fn entry_ids_are_eleven_url_safe_characters_never_starting_with_a_dash() {
        for _ in 0..5000 {
            let id = EntryId::random();
            assert_eq!(id.as_str().parse::<EntryId>().unwrap(), id);
            assert!(!id.as_str().starts_with('-'), "{id}");
        }
        assert!(
            "-9abcdefghi".parse::<EntryId>().is_ok(),
            "old ids still parse"
        );
    }

    #[test]
    fn clipped_errors_stay_short_on_multibyte_input() {
        let long = "é".repeat(500);
        let err = long.parse::<BlobId>().unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
    }
}
