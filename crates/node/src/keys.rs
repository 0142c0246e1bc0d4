//! Keys (`node.keys()`): RSA keys the identity holds besides its own
//! Ed25519 one, as BitDust's clients expect them: made here at the size
//! asked, named by an alias, labelled; the public part in OpenSSH form
//! (`ssh-rsa AAAA…`), the private part (PKCS#1 PEM) only when asked for.
//!
//! `master` is the identity's RSA key: made the first time it is needed
//! (or, on a node recovered from a backup, taken from the backup), never
//! relabelled nor erased. Keys live in the catalog (migration 20),
//! each row written whole, so a kill at any moment leaves a key whole or
//! absent; they are as private as the catalog (the data dir's files are
//! the node user's alone).

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use cairn_store::keys::{KeyRow, NewKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;

use crate::NodeError;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// The identity's own RSA key's alias.
pub const MASTER: &str = "master";

/// The sizes a key may have, in bits.
pub const SIZES: &[u32] = &[1024, 2048, 3072, 4096];

/// A new key's size unless asked otherwise (BitDust's default too).
pub const DEFAULT_SIZE: u32 = 2048;

/// The longest label.
const MAX_LABEL: usize = 256;

/// A key, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    /// Its name among its maker's keys (`master`: the identity's own).
    pub alias: String,
    /// Who made it: none for this node, else the peer id of the identity
    /// that shared it.
    pub owner: Option<String>,
    /// What people call it.
    pub label: String,
    /// `rsa`.
    pub algorithm: String,
    /// Its size in bits.
    pub size: u32,
    /// The public key, OpenSSH form (`ssh-rsa AAAA…`).
    pub public: String,
    /// The private key (PKCS#1 PEM), only when asked for and held.
    pub private: Option<String>,
    /// Whether this node holds the private part.
    pub has_private: bool,
    /// In use.
    pub active: bool,
    /// A small number of its own on this node, never reused.
    pub local_id: i64,
    /// When it was made or received, Unix milliseconds.
    pub created: i64,
}

impl KeyInfo {
    fn of(row: KeyRow, private: bool) -> Self {
        Self {
            owner: Some(row.owner).filter(|o| !o.is_empty()),
            has_private: row.private_key.is_some(),
            private: row.private_key.filter(|_| private),
            alias: row.alias,
            label: row.label,
            algorithm: row.algorithm,
            size: row.size,
            public: row.public_key,
            active: row.active,
            local_id: row.local_id,
            created: row.created,
        }
    }
}

/// The keys service. Cheap to clone.
#[derive(Clone)]
pub struct Keys(Arc<Shared>, Arc<PathBuf>);

impl Keys {
    pub(crate) fn new(shared: Arc<Shared>, data_dir: PathBuf) -> Self {
        Self(shared, Arc::new(data_dir))
    }

    /// Makes a new RSA key of `size` bits (default [`DEFAULT_SIZE`]) named
    /// `alias` (lower-cased: 3 to 50 of `a-z 0-9 _ -`, a letter first),
    /// labelled `label` (the alias when none). `conflict` if the alias is
    /// taken.
    pub async fn create(
        &self,
        alias: &str,
        size: Option<u32>,
        label: Option<&str>,
    ) -> Result<KeyInfo> {
        let alias = alias.trim().to_ascii_lowercase();
        check_alias(&alias)?;
        if alias == MASTER {
            return Err(NodeError::Conflict(
                "'master' is the identity's own key: it is made with the identity".into(),
            ));
        }
        let size = size.unwrap_or(DEFAULT_SIZE);
        if !SIZES.contains(&size) {
            return Err(NodeError::Invalid(format!(
                "a key of {size} bits is not made: 1024, 2048, 3072 or 4096"
            )));
        }
        let label = match label.map(str::trim).filter(|l| !l.is_empty()) {
            Some(l) => check_label(l)?.to_owned(),
            None => alias.clone(),
        };
        if self.row(&alias).await?.is_some() {
            return Err(NodeError::Conflict(format!("key '{alias}' already exists")));
        }
        self.make(alias, size, label).await
    }

    /// The identity's own RSA key, made the first time it is asked for.
    pub async fn master(&self, private: bool) -> Result<KeyInfo> {
        if let Some(row) = self.row(MASTER).await? {
            return Ok(KeyInfo::of(row, private));
        }
        let made = match self.recovered_master().await? {
            Some(key) => Ok(key),
            None => self.make(MASTER.into(), DEFAULT_SIZE, MASTER.into()).await,
        };
        match made {
            Ok(made) if private => Ok(made),
            Ok(made) => Ok(KeyInfo {
                private: None,
                ..made
            }),
            // Two callers at once: the other one's key is the master.
            Err(NodeError::Store(cairn_store::StoreError::Conflict(_))) => {
                let row = self.row(MASTER).await?.ok_or_else(|| {
                    NodeError::Internal("the master key vanished as it was made".into())
                })?;
                Ok(KeyInfo::of(row, private))
            }
            Err(e) => Err(e),
        }
    }

    /// Key `alias` of this node (`master` included); its private part
    /// only with `private`.
    pub async fn get(&self, alias: &str, private: bool) -> Result<KeyInfo> {
        let alias = alias.trim().to_ascii_lowercase();
        if alias == MASTER {
            return self.master(private).await;
        }
        check_alias(&alias)?;
        let row = self
            .row(&alias)
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no key '{alias}'")))?;
        if private && row.private_key.is_none() {
            return Err(NodeError::Conflict(format!(
                "key '{alias}' has only its public part here"
            )));
        }
        Ok(KeyInfo::of(row, private))
    }

    /// Key `alias` that peer `owner` shared with this node; its private
    /// part only with `private`.
    pub async fn shared_with_me(&self, owner: &str, alias: &str, private: bool) -> Result<KeyInfo> {
        let alias = alias.trim().to_ascii_lowercase();
        check_alias(&alias)?;
        // This node's own keys are kept under '', which is no peer id.
        let owner = crate::network::parse_peer(owner)?.to_string();
        let (shared, o, a) = (self.0.clone(), owner.clone(), alias.clone());
        let row = self
            .0
            .lookup(move || Ok(shared.catalog.key(&o, &a)?))
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no key '{alias}' from {owner}")))?;
        Ok(KeyInfo::of(row, private))
    }

    /// Every key: the master first, then this node's by alias, then those
    /// others shared.
    pub async fn list(&self, private: bool) -> Result<Vec<KeyInfo>> {
        self.master(false).await?;
        let shared = self.0.clone();
        let rows = self.0.lookup(move || Ok(shared.catalog.keys()?)).await?;
        let (mut master, rest): (Vec<KeyRow>, Vec<KeyRow>) = rows
            .into_iter()
            .partition(|r| r.owner.is_empty() && r.alias == MASTER);
        master.extend(rest);
        Ok(master
            .into_iter()
            .map(|r| KeyInfo::of(r, private))
            .collect())
    }

    /// Relabels key `alias` (not the master).
    pub async fn label(&self, alias: &str, label: &str) -> Result<KeyInfo> {
        let alias = alias.trim().to_ascii_lowercase();
        if alias == MASTER {
            return Err(NodeError::Conflict(
                "the master key's label cannot be changed".into(),
            ));
        }
        check_alias(&alias)?;
        let label = check_label(label.trim())?.to_owned();
        if label.is_empty() {
            return Err(NodeError::Invalid("a label cannot be empty".into()));
        }
        let (shared, a) = (self.0.clone(), alias.clone());
        blocking(move || Ok(shared.catalog.set_key_label("", &a, &label)?)).await?;
        self.get(&alias, false).await
    }

    /// Erases key `alias`, its private part with it (not the master).
    pub async fn erase(&self, alias: &str) -> Result<()> {
        let alias = alias.trim().to_ascii_lowercase();
        if alias == MASTER {
            return Err(NodeError::Conflict(
                "the master key cannot be erased".into(),
            ));
        }
        check_alias(&alias)?;
        let (shared, a) = (self.0.clone(), alias.clone());
        if blocking(move || Ok(shared.catalog.remove_key("", &a)?)).await? {
            Ok(())
        } else {
            Err(NodeError::NotFound(format!("no key '{alias}'")))
        }
    }

    /// The master key a recovery left (`identity::PENDING_MASTER`), taken
    /// into the catalog; the file goes once the key is kept.
    async fn recovered_master(&self) -> Result<Option<KeyInfo>> {
        let path = self.1.join(crate::identity::PENDING_MASTER);
        let shared = self.0.clone();
        blocking(move || {
            let pem = match std::fs::read_to_string(&path) {
                Ok(pem) => pem,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(NodeError::io("read", &path, e)),
            };
            let (public, size) = public_of_pem(&pem)?;
            // Kept as keys made here are: one line ending after the PEM.
            let pem = format!("{}\n", pem.trim_end());
            let row = shared.catalog.add_key(&NewKey {
                owner: "",
                alias: MASTER,
                label: MASTER,
                algorithm: "rsa",
                size,
                public_key: &public,
                private_key: Some(&pem),
                active: true,
            })?;
            std::fs::remove_file(&path).map_err(|e| NodeError::io("remove", &path, e))?;
            tracing::info!("the recovered master key is kept");
            Ok(Some(KeyInfo::of(row, true)))
        })
        .await
    }

    async fn row(&self, alias: &str) -> Result<Option<KeyRow>> {
        let (shared, alias) = (self.0.clone(), alias.to_owned());
        self.0
            .lookup(move || Ok(shared.catalog.key("", &alias)?))
            .await
    }

    /// Generates and keeps a key (primes are searched off the runtime).
    async fn make(&self, alias: String, size: u32, label: String) -> Result<KeyInfo> {
        let shared = self.0.clone();
        blocking(move || {
            let (public, private) = generate(size)?;
            let row = shared.catalog.add_key(&NewKey {
                owner: "",
                alias: &alias,
                label: &label,
                algorithm: "rsa",
                size,
                public_key: &public,
                private_key: Some(&private),
                active: true,
            })?;
            tracing::info!(key = %alias, bits = size, "RSA key made");
            Ok(KeyInfo::of(row, true))
        })
        .await
    }
}

/// A new RSA key of `bits`: its OpenSSH public form and PKCS#1 PEM.
fn generate(bits: u32) -> Result<(String, String)> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits as usize)
        .map_err(|e| NodeError::Internal(format!("cannot make an RSA key: {e}")))?;
    let pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| NodeError::Internal(format!("cannot write an RSA key: {e}")))?;
    Ok((ssh_public(&key.to_public_key()), pem.to_string()))
}

/// The OpenSSH public form and size in bits of a PKCS#1 PEM private key.
pub(crate) fn public_of_pem(pem: &str) -> Result<(String, u32)> {
    let key = RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .map_err(|e| NodeError::Invalid(format!("not an RSA private key: {e}")))?;
    let bits = (key.size() * 8) as u32;
    Ok((ssh_public(&key.to_public_key()), bits))
}

/// `ssh-rsa <base64>`: the key type, exponent and modulus as SSH writes
/// them (RFC 4253 §6.6: length-prefixed strings and mpints).
fn ssh_public(key: &RsaPublicKey) -> String {
    fn string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn mpint(out: &mut Vec<u8>, be: &[u8]) {
        let trimmed: &[u8] = match be.iter().position(|b| *b != 0) {
            Some(i) => &be[i..],
            None => &[],
        };
        if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            let mut padded = Vec::with_capacity(trimmed.len() + 1);
            padded.push(0);
            padded.extend_from_slice(trimmed);
            string(out, &padded);
        } else {
            string(out, trimmed);
        }
    }
    let mut wire = Vec::new();
    string(&mut wire, b"ssh-rsa");
    mpint(&mut wire, &key.e().to_bytes_be());
    mpint(&mut wire, &key.n().to_bytes_be());
    format!(
        "ssh-rsa {}",
        base64::engine::general_purpose::STANDARD.encode(wire)
    )
}

/// What a holder signs to show it holds a key's private part: the
/// auditor's nonce, bound to the key's owner and alias.
fn audit_message(owner: &str, alias: &str, nonce: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"cairn key audit v1\0");
    h.update(owner.as_bytes());
    h.update(b"\0");
    h.update(alias.as_bytes());
    h.update(b"\0");
    h.update(nonce);
    h.finalize().to_vec()
}

/// The holder's proof that it holds the private part of `pem` (key
/// `alias` of `owner`): a PKCS#1 v1.5 SHA-256 signature of the auditor's
/// nonce, bound to the key's owner and alias.
pub(crate) fn prove_private(pem: &str, owner: &str, alias: &str, nonce: &[u8]) -> Result<Vec<u8>> {
    let key = RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .map_err(|e| NodeError::Invalid(format!("not an RSA private key: {e}")))?;
    key.sign(
        rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        &audit_message(owner, alias, nonce),
    )
    .map_err(|e| NodeError::Internal(format!("cannot sign: {e}")))
}

/// Whether `proof` shows the private part of `pem`'s key for this owner,
/// alias and nonce.
pub(crate) fn check_private(
    pem: &str,
    owner: &str,
    alias: &str,
    nonce: &[u8],
    proof: &[u8],
) -> bool {
    RsaPrivateKey::from_pkcs1_pem(pem.trim()).is_ok_and(|key| {
        key.to_public_key()
            .verify(
                rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                &audit_message(owner, alias, nonce),
                proof,
            )
            .is_ok()
    })
}

/// The holder's proof that it holds a key's public part (`public`, its
/// OpenSSH form): a SHA-256 of it and the nonce, bound to owner and
/// alias.
pub(crate) fn prove_public(public: &str, owner: &str, alias: &str, nonce: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(audit_message(owner, alias, nonce));
    h.update(public.trim().as_bytes());
    h.finalize().to_vec()
}

/// 3 to 50 of `a-z 0-9 _ -`, a letter first.
pub(crate) fn check_alias(alias: &str) -> Result<()> {
    let ok = (3..=50).contains(&alias.len())
        && alias.starts_with(|c: char| c.is_ascii_lowercase())
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "'{}' is not a key alias: 3 to 50 of a-z, 0-9, _ and -, a letter first",
            alias.chars().take(60).collect::<String>()
        )))
    }
}

fn check_label(label: &str) -> Result<&str> {
    if label.len() > MAX_LABEL || label.chars().any(char::is_control) {
        return Err(NodeError::Invalid(format!(
            "a label has at most {MAX_LABEL} bytes and no control characters"
        )));
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_checked() {
        for good in ["cats", "a12", "share_0123456789abcdef", "my-key"] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "1abc",
            "Cats",
            "a b c",
            "émile",
            &"a".repeat(51),
            "a$b",
        ] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_private_key_s_holder_proves_it_holds_it() {
        let (public, pem) = generate(1024).unwrap();
        let (_, other) = generate(1024).unwrap();
        let proof = prove_private(&pem, "alice", "cats", b"nonce").unwrap();
        assert!(check_private(&pem, "alice", "cats", b"nonce", &proof));
        assert!(!check_private(
            &pem,
            "alice",
            "cats",
            b"other nonce",
            &proof
        ));
        assert!(!check_private(&pem, "alice", "dogs", b"nonce", &proof));
        assert!(!check_private(&pem, "mallory", "cats", b"nonce", &proof));
        let forged = prove_private(&other, "alice", "cats", b"nonce").unwrap();
        assert!(!check_private(&pem, "alice", "cats", b"nonce", &forged));
        assert_eq!(
            prove_public(&public, "alice", "cats", b"n"),
            prove_public(&format!("{public}\n"), "alice", "cats", b"n")
        );
        assert_ne!(
            prove_public(&public, "alice", "cats", b"n"),
            prove_public(&public, "alice", "cats", b"m")
        );
    }

    #[test]
    fn the_public_key_is_in_openssh_form() {
        let (public, pem) = generate(1024).unwrap();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
        let b64 = public.strip_prefix("ssh-rsa ").unwrap();
        let wire = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        // "ssh-rsa", then e = 65537 (3 bytes), then n (129 bytes: a leading
        // zero before its high bit).
        assert_eq!(&wire[..11], b"\0\0\0\x07ssh-rsa");
        assert_eq!(&wire[11..18], b"\0\0\0\x03\x01\x00\x01");
        assert_eq!(&wire[18..23], b"\0\0\0\x81\0");
        assert_eq!(wire.len(), 18 + 4 + 129);
    }
}
