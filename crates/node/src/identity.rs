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
//!
//! A backup ([`Identity::backup_text`]) is what makes another machine this
//! node: the seed, the convergence secret and the identity's RSA master
//! key, in a text file. [`recover`] writes them into a new data dir (never
//! over another identity, nor into one that already has a catalog); the
//! master key waits in `recovered-master.pem` until the node, at its first
//! start there, takes it into its catalog ([`PENDING_MASTER`]).

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

/// The first line of a backup file.
const BACKUP_HEADER: &str = "cairn identity backup v1";

/// Where a recovered master key waits for the node's first start.
pub const PENDING_MASTER: &str = "recovered-master.pem";

/// The largest backup file read.
pub const MAX_BACKUP: usize = 64 << 10;

/// What a backup file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The peer id the seed makes (checked).
    pub peer_id: String,
    /// The Ed25519 seed.
    pub seed: [u8; 32],
    /// The convergence secret.
    pub convergence: [u8; 32],
    /// The identity's RSA master key, PKCS#1 PEM.
    pub master_pem: String,
}

impl Identity {
    /// The backup of this identity, with `master_pem`, its RSA master key.
    pub fn backup_text(&self, master_pem: &str) -> String {
        format!(
            "{BACKUP_HEADER}\n\
             # Whoever holds this file can be this node: keep it where only you can read it.\n\
             peer {}\nseed {}\nconvergence {}\n{}\n",
            self.peer_id(),
            hex::encode(self.key.to_bytes()),
            hex::encode(self.convergence),
            master_pem.trim_end()
        )
    }
}

/// Reads a backup file's text, checking that it is whole: its seed makes
/// the peer id it names, and its master key parses.
pub fn parse_backup(text: &str) -> Result<Backup, NodeError> {
    let bad = |why: &str| NodeError::Invalid(format!("not a whole cairn identity backup: {why}"));
    if text.len() > MAX_BACKUP {
        return Err(bad("it is too large"));
    }
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(BACKUP_HEADER) {
        return Err(bad("its first line is not the backup's"));
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim)
            .ok_or_else(|| bad(&format!("no '{name}' line")))
    };
    let secret = |name: &str| -> Result<[u8; 32], NodeError> {
        hex::decode(field(name)?)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(&format!("'{name}' is not 64 hex digits")))
    };
    let (seed, convergence) = (secret("seed")?, secret("convergence")?);
    let peer_id = field("peer")?.to_owned();
    let start = text
        .find("-----BEGIN RSA PRIVATE KEY-----")
        .ok_or_else(|| bad("no master key"))?;
    let end = text
        .find("-----END RSA PRIVATE KEY-----")
        .ok_or_else(|| bad("its master key is cut short"))?;
    let master_pem = format!(
        "{}\n",
        &text[start..end + "-----END RSA PRIVATE KEY-----".len()]
    );
    crate::keys::public_of_pem(&master_pem).map_err(|_| bad("its master key does not parse"))?;
    let made = Identity {
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
        api_secret: String::new(),
        convergence,
    }
    .peer_id();
    if made != peer_id {
        return Err(bad("its seed is not the peer's it names"));
    }
    Ok(Backup {
        peer_id,
        seed,
        convergence,
        master_pem,
    })
}

/// Makes `dir` (new, or with no identity and no catalog yet) the identity
/// of backup `text`: its seed and convergence secret written as the node
/// writes them, its master key left for the node's first start. Answers
/// the peer id.
pub fn recover(dir: &Path, text: &str) -> Result<String, NodeError> {
    let backup = parse_backup(text)?;
    let key_file = dir.join("identity.key");
    match fs::read(&key_file) {
        Ok(seed) if seed == backup.seed => {
            return Err(NodeError::Conflict(format!(
                "{} is already the identity {}",
                dir.display(),
                backup.peer_id
            )));
        }
        Ok(_) => {
            return Err(NodeError::Conflict(format!(
                "{} holds another identity: recover into a new data dir",
                dir.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(NodeError::io("read", &key_file, e));
        }
        Err(_) => {}
    }
    if dir.join("catalog.db").exists() {
        return Err(NodeError::Conflict(format!(
            "{} already has a catalog: recover into a new data dir",
            dir.display()
        )));
    }
    cairn_store::private::create_dir_all(dir).map_err(|e| NodeError::io("create", dir, e))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        cairn_store::private::write_whole(&path, bytes)
            .map_err(|e| NodeError::io("write", &path, e))
    };
    // The mark and the master key first: a kill before the seed is
    // written leaves a dir that is no identity yet, and recovering again
    // works. The mark has the first start restore the catalog.
    write(crate::backup::RESTORE_MARK, backup.peer_id.as_bytes())?;
    write(PENDING_MASTER, backup.master_pem.as_bytes())?;
    write("convergence.key", &backup.convergence)?;
    write("identity.key", &backup.seed)?;
    Ok(backup.peer_id)
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

    #[test]
    fn a_backup_reads_back_and_a_recovery_writes_the_secrets() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        let text = id.backup_text(&pem);
        let back = parse_backup(&text).unwrap();
        assert_eq!(
            (back.peer_id.as_str(), back.seed, back.convergence),
            (id.peer_id().as_str(), id.key.to_bytes(), id.convergence)
        );
        assert_eq!(back.master_pem.trim_end(), pem.trim_end());
        assert!(parse_backup(&text.replacen("v1", "v9", 1)).is_err());
        assert!(parse_backup(&text.replace("convergence ", "convergence 00")).is_err());

        let new = dir.path().join("new");
        assert_eq!(recover(&new, &text).unwrap(), id.peer_id());
        let again = Identity::load_or_create(&new).unwrap();
        assert_eq!(again.peer_id(), id.peer_id());
        assert_eq!(again.convergence, id.convergence);
        assert_ne!(
            again.api_secret, id.api_secret,
            "a new machine, a new admin secret"
        );
        assert!(new.join(PENDING_MASTER).exists());
    }
}
