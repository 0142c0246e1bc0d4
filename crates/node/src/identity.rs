//! The node's identity and secrets, created on first start.
//!
//! - `identity.key`: the Ed25519 seed; the node id is its libp2p PeerId
//!   (`12D3KooW…`), computed here the way libp2p does so the network
//!   layer will agree with it;
//! - `apisecret`: the admin secret of the HTTP API;
//! - `convergence.key`: the secret that scopes deduplication.
//!
//! All three are written to a temporary name, fsynced and renamed, with mode
//! 0600, so neither a crash nor another local user can see a partial or
//! readable secret.

use std::fs;
use std::path::Path;

use rand::RngCore;

use crate::NodeError;

/// The node's key pair and the secrets next to it.
pub struct Identity {
    /// The Ed25519 signing key.
    pub key: ed25519_dalek::SigningKey,
    /// The admin API secret (64 hex characters).
    pub api_secret: String,
    /// The convergence secret.
    pub convergence: [u8; 32],
}

impl Identity {
    /// Loads the identity from `dir`, creating what is missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, NodeError> {
        let seed = secret_file(&dir.join("identity.key"), |b| b.to_vec())?;
        let convergence = secret_file(&dir.join("convergence.key"), |b| b.to_vec())?;
        let api = secret_file(&dir.join("apisecret"), |b| hex::encode(b).into_bytes())?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| NodeError::Config {
            path: dir.join("identity.key"),
            message: "must hold exactly 32 bytes".into(),
        })?;
        let convergence: [u8; 32] = convergence.try_into().map_err(|_| NodeError::Config {
            path: dir.join("convergence.key"),
            message: "must hold exactly 32 bytes".into(),
        })?;
        let api_secret = String::from_utf8_lossy(&api).trim().to_owned();
        if api_secret.len() < 16 {
            return Err(NodeError::Config {
                path: dir.join("apisecret"),
                message: "must hold at least 16 characters".into(),
            });
        }
        Ok(Self {
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
            api_secret,
            convergence,
        })
    }

    /// The libp2p PeerId of the key: base58 of the identity multihash of
    /// the protobuf-encoded Ed25519 public key.
    pub fn peer_id(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut bytes = vec![0x00, 36, 0x08, 0x01, 0x12, 0x20];
        bytes.extend_from_slice(&public);
        bs58_encode(&bytes)
    }
}

/// Reads `path`, or creates it from 32 random bytes shaped by `shape`.
fn secret_file(path: &Path, shape: impl Fn(&[u8; 32]) -> Vec<u8>) -> Result<Vec<u8>, NodeError> {
    match fs::read(path) {
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(NodeError::io("read", path, e));
        }
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let bytes = shape(&raw);
    cairn_store::private::write_whole(path, &bytes).map_err(|e| NodeError::io("write", path, e))?;
    Ok(bytes)
}

/// Bitcoin-alphabet base58, as libp2p prints peer ids.
fn bs58_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    let mut out = "1".repeat(zeros);
    out.extend(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.api_secret, b.api_secret);
        assert_eq!(a.peer_id(), b.peer_id());
        assert_eq!(a.api_secret.len(), 64);
        for name in ["identity.key", "apisecret", "convergence.key"] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn peer_ids_look_like_libp2p_ed25519_ids() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap().peer_id();
        assert!(id.starts_with("12D3KooW"), "{id}");
        assert_eq!(id.len(), 52);
    }

    #[test]
    fn base58_matches_known_vectors() {
        assert_eq!(bs58_encode(b"hello world"), "StV1DL6CwTryKyV");
        assert_eq!(bs58_encode(&[0, 0, 1]), "112");
    }
}
