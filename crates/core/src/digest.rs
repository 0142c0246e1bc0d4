//! The legacy digests (md5, sha1, sha256) that alias a blob id, so the
//! seeds' clients can name files the way their systems did.

use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use crate::DigestKind;

/// Streams bytes into md5, sha1 and sha256 at once.
#[derive(Default, Clone)]
pub struct LegacyHasher {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
}

/// The three legacy digests of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyDigests {
    /// MD5, 16 bytes.
    pub md5: [u8; 16],
    /// SHA-1, 20 bytes.
    pub sha1: [u8; 20],
    /// SHA-256, 32 bytes.
    pub sha256: [u8; 32],
}

impl LegacyHasher {
    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
    }

    /// The digests of everything fed.
    pub fn finish(self) -> LegacyDigests {
        LegacyDigests {
            md5: self.md5.finalize().into(),
            sha1: self.sha1.finalize().into(),
            sha256: self.sha256.finalize().into(),
        }
    }
}

impl LegacyDigests {
    /// Each digest with its kind, as lowercase hex.
    pub fn aliases(&self) -> [(DigestKind, String); 3] {
        [
            (DigestKind::Md5, hex::encode(self.md5)),
            (DigestKind::Sha1, hex::encode(self.sha1)),
            (DigestKind::Sha256, hex::encode(self.sha256)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_hello_world_match_the_coreutils_tools() {
        let mut h = LegacyHasher::default();
        h.update(b"hello ");
        h.update(b"world");
        let [md5, sha1, sha256] = h.finish().aliases();
        assert_eq!(md5.1, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(sha1.1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(
            sha256.1,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }
}
