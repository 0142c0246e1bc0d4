//! Signed links: capabilities a door hands out (a download link, a ticket,
//! an upload URL) that carry what they allow and until when, signed so
//! that the node recognises its own without storing them; and share links
//! of entries (`entry`), which the catalog names so they can be revoked.
//!
//! Each purpose has its own key, derived from the node's identity (stable
//! across restarts, never stored): a signature made for one purpose never
//! passes as another's. A door chooses its wire shape (how many bytes of
//! the signature it keeps, how it encodes them) and checks the expiry it
//! wrote; the engine signs and verifies. Parts are length-prefixed, so
//! `("ab", "c")` and `("a", "bc")` sign differently.

mod entry;

pub use entry::EntryLink;

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::shared::Shared;

/// The shortest signature a check accepts: 64 bits.
pub const MIN_SIGNATURE: usize = 8;

/// The links service: signs and checks a door's links. Cheap to clone.
#[derive(Clone)]
pub struct Links {
    shared: Arc<Shared>,
}

impl Links {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The signature of `parts` for `purpose` (HMAC-SHA256 under the
    /// purpose's key); a door may keep a prefix of it, at least
    /// [`MIN_SIGNATURE`] bytes.
    pub fn sign(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let key = self.shared.derived_key(&format!("links {purpose}"));
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Whether `signature` (a prefix of [`Links::sign`]'s, at least
    /// [`MIN_SIGNATURE`] bytes) is the node's for `parts` and `purpose`;
    /// compared in constant time.
    pub fn signed(&self, purpose: &str, parts: &[&[u8]], signature: &[u8]) -> bool {
        if signature.len() < MIN_SIGNATURE || signature.len() > 32 {
            return false;
        }
        let want = self.sign(purpose, parts);
        same_bytes(&want[..signature.len()], signature)
    }
}

/// Whether `a` and `b` are equal, compared in time that depends on their
/// lengths only (secrets, keys' hashes, signatures).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use crate::{Config, Node};

    #[tokio::test]
    async fn signatures_are_per_purpose_and_separate_their_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let sig = node.links().sign("ticket", &[b"ab", b"c"]);
        assert!(node.links().signed("ticket", &[b"ab", b"c"], &sig[..12]));
        assert!(node.links().signed("ticket", &[b"ab", b"c"], &sig));
        assert!(
            !node.links().signed("link", &[b"ab", b"c"], &sig[..12]),
            "another purpose"
        );
        assert!(
            !node.links().signed("ticket", &[b"a", b"bc"], &sig[..12]),
            "parts separate"
        );
        assert!(
            !node.links().signed("ticket", &[b"ab", b"c"], &sig[..7]),
            "too short"
        );
        let mut forged = sig;
        forged[0] ^= 1;
        assert!(!node.links().signed("ticket", &[b"ab", b"c"], &forged[..12]));
        node.shutdown().await;
    }
}
