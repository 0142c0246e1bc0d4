//! Signed DHT records: a record that names a peer carries that peer's
//! signature, so nobody can make a name point at a peer that did not
//! claim it, and an alias carries its publisher's, so nobody can change
//! what a publisher claimed.
//!
//! A nickname record is the claiming peer's id and its signature over
//! `cairn nickname v1`, the nickname and the peer id, each length-prefixed:
//! `[u8 id length][id][u16 BE signature length][signature]`. An alias
//! record (md5, sha1 or sha256 → blob id) is the blob id followed by the
//! same, signed over `cairn alias v1`, the digest's kind, its hex, the blob
//! id and the peer id. A name record (peer id → the nickname it calls
//! itself, the other way round) is the nickname, length-prefixed, then
//! the same, signed over `cairn peer name v1`, the nickname and the peer
//! id; it counts only under its signer's own key. The key of the claimer
//! is read from its peer id (ed25519 ids embed it). Nodes store such
//! records for others only when they verify ([`acceptable`]).

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};

const NICK_CONTEXT: &[u8] = b"cairn nickname v1";
const ALIAS_CONTEXT: &[u8] = b"cairn alias v1";
const NAME_CONTEXT: &[u8] = b"cairn peer name v1";
const NAME_PREFIX: &str = "/cairn/name/";
const NICK_PREFIX: &str = "/cairn/nick/";
const ALIAS_PREFIX: &str = "/cairn/alias/";
const DOC_CONTEXT: &[u8] = b"cairn document v1";
const DOC_PREFIX: &str = "/cairn/doc/";

/// The DHT key of a nickname.
pub fn nick_key(nick: &str) -> Vec<u8> {
    format!("{NICK_PREFIX}{nick}").into_bytes()
}

/// The DHT key of the nickname `peer` calls itself.
pub fn name_key(peer: &PeerId) -> Vec<u8> {
    format!("{NAME_PREFIX}{peer}").into_bytes()
}

/// The DHT key of a legacy digest alias: `kind` is md5, sha1 or sha256,
/// `hex` the digest.
pub fn alias_key(kind: &str, hex: &str) -> Vec<u8> {
    format!("{ALIAS_PREFIX}{kind}/{hex}").into_bytes()
}

/// The DHT key of the document `peer` publishes under `name` (a share's
/// index, a catalog backup).
pub fn doc_key(peer: &PeerId, name: &str) -> Vec<u8> {
    format!("{DOC_PREFIX}{peer}/{name}").into_bytes()
}

/// What a claim's signature covers: the context and the claim's parts,
/// then the claimer's id, each length-prefixed.
fn claim_message(context: &[u8], parts: &[&[u8]], peer: &PeerId) -> Vec<u8> {
    let id = peer.to_bytes();
    let mut m = Vec::with_capacity(128);
    for part in std::iter::once(context)
        .chain(parts.iter().copied())
        .chain(std::iter::once(id.as_slice()))
    {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

/// `payload`, then the claimer's id and its signature over the claim.
fn sign_claim(
    keypair: &Keypair,
    context: &[u8],
    parts: &[&[u8]],
    payload: &[u8],
) -> Result<Vec<u8>, crate::NetError> {
    let peer = keypair.public().to_peer_id();
    let signature = keypair
        .sign(&claim_message(context, parts, &peer))
        .map_err(|e| crate::NetError::Dht(format!("cannot sign: {e}")))?;
    let id = peer.to_bytes();
    let mut out = Vec::with_capacity(payload.len() + id.len() + signature.len() + 3);
    out.extend_from_slice(payload);
    out.push(id.len() as u8);
    out.extend_from_slice(&id);
    out.extend_from_slice(&(signature.len() as u16).to_be_bytes());
    out.extend_from_slice(&signature);
    Ok(out)
}

/// The claimer of `trailer` (what follows a claim's payload), if it is
/// well formed and its signature covers `parts` under `context`.
fn verify_claim(context: &[u8], parts: &[&[u8]], trailer: &[u8]) -> Option<PeerId> {
    let (&id_len, rest) = trailer.split_first()?;
    let id = rest.get(..usize::from(id_len))?;
    let rest = &rest[usize::from(id_len)..];
    let sig_len = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
    let signature = rest.get(2..)?;
    if signature.len() != sig_len {
        return None;
    }
    let peer = PeerId::from_bytes(id).ok()?;
    let key = public_key_of(&peer)?;
    key.verify(&claim_message(context, parts, &peer), signature)
        .then_some(peer)
}

/// The record by which `keypair`'s peer claims `nick`: its id and its
/// signature, `[u8 id length][id][u16 BE signature length][signature]`.
pub fn sign_nickname(keypair: &Keypair, nick: &str) -> Result<Vec<u8>, crate::NetError> {
    sign_claim(keypair, NICK_CONTEXT, &[nick.as_bytes()], &[])
}

/// The peer a nickname record names, if the record is well formed and
/// signed by that peer for `nick`.
pub fn verify_nickname(nick: &str, record: &[u8]) -> Option<PeerId> {
    verify_claim(NICK_CONTEXT, &[nick.as_bytes()], record)
}

/// The record by which `keypair`'s peer says it calls itself `nick` (at
/// most 255 bytes): the nickname, length-prefixed, then the peer's id and
/// signature as in a nickname record.
pub fn sign_name(keypair: &Keypair, nick: &str) -> Result<Vec<u8>, crate::NetError> {
    let len = u8::try_from(nick.len())
        .map_err(|_| crate::NetError::Dht("a nickname has at most 255 bytes".into()))?;
    let mut payload = vec![len];
    payload.extend_from_slice(nick.as_bytes());
    sign_claim(keypair, NAME_CONTEXT, &[nick.as_bytes()], &payload)
}

/// The nickname a name record gives `peer`, if the record is well formed
/// and signed by `peer` itself.
pub fn verify_name(peer: &PeerId, record: &[u8]) -> Option<String> {
    let (&len, rest) = record.split_first()?;
    let nick = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
    let signer = verify_claim(NAME_CONTEXT, &[nick.as_bytes()], &rest[usize::from(len)..])?;
    (signer == *peer).then(|| nick.to_owned())
}

/// The record by which `keypair`'s peer says that the content whose
/// `kind` digest is `hex` is blob `blob`: the blob id, then the signer's
/// id and signature as in a nickname record.
pub fn sign_alias(
    keypair: &Keypair,
    kind: &str,
    hex: &str,
    blob: &[u8; 32],
) -> Result<Vec<u8>, crate::NetError> {
    sign_claim(
        keypair,
        ALIAS_CONTEXT,
        &[kind.as_bytes(), hex.as_bytes(), blob],
        blob,
    )
}

/// The blob an alias record names and the peer that signed it, if the
/// record is well formed and signed for this `kind` and `hex`. A signed
/// alias says who claims it, and nobody between the claimer and the
/// reader can change it; that the claim is true only the content's digest
/// can tell.
pub fn verify_alias(kind: &str, hex: &str, record: &[u8]) -> Option<([u8; 32], PeerId)> {
    let blob: [u8; 32] = record.get(..32)?.try_into().ok()?;
    let peer = verify_claim(
        ALIAS_CONTEXT,
        &[kind.as_bytes(), hex.as_bytes(), &blob],
        &record[32..],
    )?;
    Some((blob, peer))
}

/// The record by which `keypair`'s peer publishes version `version` of
/// its document `name`: the version (u64 BE), then `sealed` (what only
/// its readers can open), then the peer's id and signature as in a
/// nickname record, over the name, the version and `sealed`.
pub fn sign_doc(
    keypair: &Keypair,
    name: &str,
    version: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, crate::NetError> {
    let v = version.to_be_bytes();
    let mut payload = Vec::with_capacity(12 + sealed.len());
    payload.extend_from_slice(&v);
    payload.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
    payload.extend_from_slice(sealed);
    sign_claim(
        keypair,
        DOC_CONTEXT,
        &[name.as_bytes(), &v, sealed],
        &payload,
    )
}

/// The version and sealed bytes of `peer`'s document `name`, if the
/// record is well formed and signed by `peer` itself for that name.
pub fn verify_doc(peer: &PeerId, name: &str, record: &[u8]) -> Option<(u64, Vec<u8>)> {
    let v: [u8; 8] = record.get(..8)?.try_into().ok()?;
    let len = u32::from_be_bytes(record.get(8..12)?.try_into().ok()?) as usize;
    let sealed = record.get(12..12usize.checked_add(len)?)?;
    let signer = verify_claim(
        DOC_CONTEXT,
        &[name.as_bytes(), &v, sealed],
        &record[12 + len..],
    )?;
    (signer == *peer).then(|| (u64::from_be_bytes(v), sealed.to_vec()))
}

/// Whether a record offered for storage by another peer may be kept:
/// nicknames, aliases and documents only when signed for their key;
/// other keys as they come.
pub fn acceptable(key: &[u8], value: &[u8]) -> bool {
    let Ok(key) = std::str::from_utf8(key) else {
        return true;
    };
    if let Some(nick) = key.strip_prefix(NICK_PREFIX) {
        return verify_nickname(nick, value).is_some();
    }
    if let Some(peer) = key.strip_prefix(NAME_PREFIX) {
        return peer
            .parse::<PeerId>()
            .is_ok_and(|peer| verify_name(&peer, value).is_some());
    }
    if let Some(alias) = key.strip_prefix(ALIAS_PREFIX) {
        return alias
            .split_once('/')
            .is_some_and(|(kind, hex)| verify_alias(kind, hex, value).is_some());
    }
    if let Some(doc) = key.strip_prefix(DOC_PREFIX) {
        return doc.split_once('/').is_some_and(|(peer, name)| {
            peer.parse::<PeerId>()
                .is_ok_and(|peer| verify_doc(&peer, name, value).is_some())
        });
    }
    true
}

/// The Ed25519 public key a peer id embeds, if it is an Ed25519 id.
pub fn ed25519_public(peer: &PeerId) -> Option<[u8; 32]> {
    Some(public_key_of(peer)?.try_into_ed25519().ok()?.to_bytes())
}

/// The public key a peer id embeds (identity multihash), if any.
fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let hash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if hash.code() != 0 {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(hash.digest()).ok()?;
    (key.to_peer_id() == *peer).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_record_counts_only_under_its_signer_s_key() {
        let alice = Keypair::generate_ed25519();
        let mallory = Keypair::generate_ed25519();
        let a = alice.public().to_peer_id();
        let m = mallory.public().to_peer_id();
        let record = sign_name(&alice, "alice").unwrap();
        assert_eq!(verify_name(&a, &record).as_deref(), Some("alice"));
        assert!(acceptable(&name_key(&a), &record));
        // Mallory cannot give Alice a name, nor take Alice's record as its own.
        let forged = sign_name(&mallory, "alice").unwrap();
        assert_eq!(verify_name(&a, &forged), None);
        assert!(!acceptable(&name_key(&a), &forged));
        assert!(!acceptable(&name_key(&m), &record));
        // A changed name, a cut record, or a key that is no peer id fail.
        let mut changed = record.clone();
        changed[1] = b'b';
        assert_eq!(verify_name(&a, &changed), None);
        assert_eq!(verify_name(&a, &record[..record.len() - 1]), None);
        assert!(!acceptable(b"/cairn/name/not-a-peer", &record));
        assert!(sign_name(&alice, &"x".repeat(256)).is_err());
    }

    #[test]
    fn a_document_counts_only_under_its_publisher_s_key_name_and_version() {
        let alice = Keypair::generate_ed25519();
        let mallory = Keypair::generate_ed25519();
        let a = alice.public().to_peer_id();
        let record = sign_doc(&alice, "share-1", 7, b"sealed").unwrap();
        assert_eq!(
            verify_doc(&a, "share-1", &record),
            Some((7, b"sealed".to_vec()))
        );
        assert!(acceptable(&doc_key(&a, "share-1"), &record));
        assert_eq!(verify_doc(&a, "share-2", &record), None, "another name");
        assert!(!acceptable(&doc_key(&a, "share-2"), &record));
        // Mallory's record under Alice's key, a version changed, a cut
        // record: none counts.
        let forged = sign_doc(&mallory, "share-1", 8, b"sealed").unwrap();
        assert!(!acceptable(&doc_key(&a, "share-1"), &forged));
        let mut bumped = record.clone();
        bumped[7] = 8;
        assert_eq!(verify_doc(&a, "share-1", &bumped), None);
        assert_eq!(verify_doc(&a, "share-1", &record[..record.len() - 1]), None);
        assert_eq!(verify_doc(&a, "share-1", &record[..10]), None);
        assert!(!acceptable(b"/cairn/doc/not-a-peer/x", &record));
        assert!(!acceptable(b"/cairn/doc/nothing", &record));
    }

    #[test]
    fn a_nickname_record_verifies_only_for_its_name_and_signer() {
        let alice = Keypair::generate_ed25519();
        let mallory = Keypair::generate_ed25519();
        let record = sign_nickname(&alice, "alice").unwrap();
        assert_eq!(
            verify_nickname("alice", &record),
            Some(alice.public().to_peer_id())
        );
        assert_eq!(verify_nickname("bob", &record), None, "another name");
        // Mallory cannot make "alice" point at Alice's peer with its own
        // signature, nor at itself with Alice's.
        let mut forged = sign_nickname(&mallory, "alice").unwrap();
        let alice_id = alice.public().to_peer_id().to_bytes();
        forged.splice(1..1 + alice_id.len(), alice_id.iter().copied());
        assert_eq!(verify_nickname("alice", &forged), None);
        // The unsigned form older nodes published is refused.
        let plain = alice.public().to_peer_id().to_string().into_bytes();
        assert_eq!(verify_nickname("alice", &plain), None);
        let mut cut = record.clone();
        cut.pop();
        assert_eq!(verify_nickname("alice", &cut), None);
    }

    #[test]
    fn an_alias_record_verifies_only_for_its_digest_blob_and_signer() {
        let alice = Keypair::generate_ed25519();
        let mallory = Keypair::generate_ed25519();
        let blob = [5u8; 32];
        let record = sign_alias(&alice, "md5", "ab12", &blob).unwrap();
        assert_eq!(
            verify_alias("md5", "ab12", &record),
            Some((blob, alice.public().to_peer_id()))
        );
        assert_eq!(verify_alias("md5", "ab13", &record), None, "another digest");
        assert_eq!(verify_alias("sha1", "ab12", &record), None, "another kind");
        // Changing the blob it names breaks the signature.
        let mut moved = record.clone();
        moved[0] ^= 1;
        assert_eq!(verify_alias("md5", "ab12", &moved), None);
        // Mallory's own claim verifies as Mallory's, never as Alice's.
        let claim = sign_alias(&mallory, "md5", "ab12", &[6; 32]).unwrap();
        assert_eq!(
            verify_alias("md5", "ab12", &claim).map(|(_, p)| p),
            Some(mallory.public().to_peer_id())
        );
        // The unsigned form older nodes published: a hex blob id.
        let plain = hex_of(&blob).into_bytes();
        assert_eq!(verify_alias("md5", "ab12", &plain), None);
    }

    #[test]
    fn only_signed_names_and_aliases_are_acceptable_for_storage() {
        let alice = Keypair::generate_ed25519();
        let nick = sign_nickname(&alice, "alice").unwrap();
        let alias = sign_alias(&alice, "sha256", "ff", &[1; 32]).unwrap();
        assert!(acceptable(&nick_key("alice"), &nick));
        assert!(!acceptable(&nick_key("bob"), &nick));
        assert!(acceptable(&alias_key("sha256", "ff"), &alias));
        assert!(!acceptable(&alias_key("sha256", "fe"), &alias));
        assert!(!acceptable(&alias_key("sha256", "ff"), b"garbage"));
        assert!(!acceptable(b"/cairn/alias/no-slash", &alias));
        // Other keys (blob records, the user's own DHT values) as they come.
        assert!(acceptable(b"/cairn/blob/00", b"anything"));
        assert!(acceptable(&[0xff, 0xfe], b"anything"));
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    proptest! {
        #[test]
        fn verifying_never_panics(record in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = verify_nickname("x", &record);
            let _ = verify_alias("md5", "00", &record);
            let _ = acceptable(b"/cairn/alias/md5/00", &record);
        }
    }
}
