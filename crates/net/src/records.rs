//! Signed DHT records: a record that names a peer carries that peer's
//! signature, so nobody can make a name point at a peer that did not
//! claim it.
//!
//! A nickname record is the claiming peer's id and its signature over
//! `cairn nickname v1`, the nickname and the peer id, each length-prefixed:
//! `[u8 id length][id][u16 BE signature length][signature]`. The key of
//! the claimer is read from its peer id (ed25519 ids embed it).

use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};

const NICK_CONTEXT: &[u8] = b"cairn nickname v1";

fn nick_message(nick: &str, peer: &PeerId) -> Vec<u8> {
    let id = peer.to_bytes();
    let mut m = Vec::with_capacity(NICK_CONTEXT.len() + nick.len() + id.len() + 16);
    for part in [NICK_CONTEXT, nick.as_bytes(), &id] {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

/// The record by which `keypair`'s peer claims `nick`.
pub fn sign_nickname(keypair: &Keypair, nick: &str) -> Result<Vec<u8>, crate::NetError> {
    let peer = keypair.public().to_peer_id();
    let signature = keypair
        .sign(&nick_message(nick, &peer))
        .map_err(|e| crate::NetError::Dht(format!("cannot sign: {e}")))?;
    let id = peer.to_bytes();
    let mut out = Vec::with_capacity(id.len() + signature.len() + 3);
    out.push(id.len() as u8);
    out.extend_from_slice(&id);
    out.extend_from_slice(&(signature.len() as u16).to_be_bytes());
    out.extend_from_slice(&signature);
    Ok(out)
}

/// The peer a nickname record names, if the record is well formed and
/// signed by that peer for `nick`.
pub fn verify_nickname(nick: &str, record: &[u8]) -> Option<PeerId> {
    let (&id_len, rest) = record.split_first()?;
    let id = rest.get(..usize::from(id_len))?;
    let rest = &rest[usize::from(id_len)..];
    let sig_len = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
    let signature = rest.get(2..)?;
    if signature.len() != sig_len {
        return None;
    }
    let peer = PeerId::from_bytes(id).ok()?;
    let key = public_key_of(&peer)?;
    key.verify(&nick_message(nick, &peer), signature)
        .then_some(peer)
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

    proptest! {
        #[test]
        fn verifying_never_panics(record in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = verify_nickname("x", &record);
        }
    }
}
