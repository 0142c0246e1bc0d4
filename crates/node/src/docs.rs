//! Documents a node publishes in the DHT (a share's index pointer, the
//! catalog's backup pointer): what their sealed part is. A random nonce,
//! then ChaCha20-Poly1305 under the document's key, with the publisher,
//! the document's name and the version as associated data: a record
//! moved to another name, publisher or version does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use crate::NodeError;

/// What a seal is bound to.
fn bound(publisher: &str, name: &str, version: u64) -> Vec<u8> {
    format!("cairn document v1\n{publisher}\n{name}\n{version}").into_bytes()
}

/// `plain` sealed under `key` for `publisher`'s document `name` at
/// `version`.
pub(crate) fn seal(
    key: &[u8; 32],
    publisher: &str,
    name: &str,
    version: u64,
    plain: &[u8],
) -> Result<Vec<u8>, NodeError> {
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let aad = bound(publisher, name, version);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .map_err(|_| NodeError::Internal("cannot seal a document".into()))?;
    Ok([&nonce[..], &sealed].concat())
}

/// What `sealed` holds, if `key` opens it for this publisher, name and
/// version.
pub(crate) fn open(
    key: &[u8; 32],
    publisher: &str,
    name: &str,
    version: u64,
    sealed: &[u8],
) -> Option<Vec<u8>> {
    let (nonce, body) = (sealed.get(..12)?, sealed.get(12..)?);
    let aad = bound(publisher, name, version);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_opens_only_with_its_key_for_its_publisher_name_and_version() {
        let key = [3u8; 32];
        let sealed = seal(&key, "alice", "share-1", 4, b"index").unwrap();
        assert_eq!(
            open(&key, "alice", "share-1", 4, &sealed).as_deref(),
            Some(&b"index"[..])
        );
        assert_eq!(
            open(&[4u8; 32], "alice", "share-1", 4, &sealed),
            None,
            "another key"
        );
        assert_eq!(open(&key, "mallory", "share-1", 4, &sealed), None);
        assert_eq!(open(&key, "alice", "share-2", 4, &sealed), None);
        assert_eq!(
            open(&key, "alice", "share-1", 3, &sealed),
            None,
            "an older version"
        );
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, "alice", "share-1", 4, &changed), None);
        assert_eq!(open(&key, "alice", "share-1", 4, &sealed[..11]), None);
    }
}
