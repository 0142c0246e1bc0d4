//! A group message as it travels, and what a node does with one that
//! comes in, by gossip or as a member's own copy (`Messages` hands those
//! here; the groups service hands the gossip).
//!
//! An envelope is `CG1`, the key's epoch (u64 BE), a random nonce, then
//! ChaCha20-Poly1305 under the group's key of that epoch, bound to the
//! group and the epoch. Inside: the sender's Ed25519 signature over the
//! payload's JSON (`id`, `from`, `group`, `sent`, `body`), then the JSON.
//! A message counts only when the group's current key opens it, its
//! signature is its sender's, the sender is the creator or a member, and
//! it names this group; it is kept once (by sender and id).

use cairn_store::groups::GroupRow;
use cairn_store::messages::Message;
use chacha20poly1305::aead::{Aead, KeyInit, Payload as Aad};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::NodeError;
use crate::events::Event;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// An envelope's first bytes.
const MAGIC: &[u8] = b"CG1";

/// What the sender signs and members read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct GroupPayload {
    pub(crate) id: String,
    pub(crate) from: String,
    pub(crate) group: String,
    pub(crate) sent: i64,
    pub(crate) body: String,
}

/// A group as its creator hands it to a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupGrant {
    pub(crate) id: String,
    pub(crate) label: String,
    /// The current key, hex.
    pub(crate) key: String,
    pub(crate) epoch: i64,
    pub(crate) version: i64,
    /// Every member's peer id (the creator not among them).
    pub(crate) members: Vec<String>,
}

/// The gossip topic of group `id`.
pub(crate) fn topic(id: &str) -> String {
    format!("/cairn/group/{id}")
}

fn bound(group: &str, epoch: i64) -> Vec<u8> {
    format!("cairn group v1\n{group}\n{epoch}").into_bytes()
}

/// `payload`, signed by `signer` and sealed under `group`'s current key.
pub(crate) fn seal(
    group: &GroupRow,
    signer: &SigningKey,
    payload: &GroupPayload,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(payload).map_err(|e| NodeError::Internal(e.to_string()))?;
    let signature = signer.sign(&json);
    let plain = [&signature.to_bytes()[..], &json].concat();
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let aad = bound(&group.id, group.epoch);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(&group.key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Aad {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| NodeError::Internal("cannot seal a group message".into()))?;
    Ok([
        MAGIC,
        &(group.epoch as u64).to_be_bytes()[..],
        &nonce,
        &sealed,
    ]
    .concat())
}

/// The payload of `envelope`, if `group`'s current key opens it, its
/// signature is its sender's, the sender is in the group (`me` is this
/// node, which the creator's own rows do not list) and it names the
/// group.
pub(crate) fn open(group: &GroupRow, me: &str, envelope: &[u8]) -> Result<GroupPayload> {
    let refuse = |why: &str| NodeError::Invalid(format!("a group message {why}"));
    let rest = envelope
        .strip_prefix(MAGIC)
        .ok_or_else(|| refuse("that is not one"))?;
    let epoch = u64::from_be_bytes(
        rest.get(..8)
            .and_then(|e| e.try_into().ok())
            .ok_or_else(|| refuse("cut short"))?,
    );
    if epoch as i64 != group.epoch {
        return Err(refuse(&format!(
            "sealed under key {epoch}, and the group's is {}",
            group.epoch
        )));
    }
    let nonce = rest.get(8..20).ok_or_else(|| refuse("cut short"))?;
    let aad = bound(&group.id, group.epoch);
    let plain = ChaCha20Poly1305::new(Key::from_slice(&group.key))
        .decrypt(
            Nonce::from_slice(nonce),
            Aad {
                msg: &rest[20..],
                aad: &aad,
            },
        )
        .map_err(|_| refuse("that the group's key does not open"))?;
    if plain.len() < 64 {
        return Err(refuse("cut short"));
    }
    let (signature, json) = plain.split_at(64);
    let payload: GroupPayload =
        serde_json::from_slice(json).map_err(|_| refuse("that does not parse"))?;
    let sender = crate::network::parse_peer(&payload.from)?;
    let key = cairn_net::records::ed25519_public(&sender)
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| refuse("from a sender without an Ed25519 key"))?;
    let signature = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|_| refuse("with a malformed signature"))?;
    key.verify(json, &signature)
        .map_err(|_| refuse("whose signature is not its sender's"))?;
    if payload.group != group.id {
        return Err(refuse("for another group"));
    }
    let creator = if group.creator.is_empty() {
        me
    } else {
        &group.creator
    };
    if payload.from != creator && !group.members.contains(&payload.from) {
        return Err(refuse("from someone not in the group"));
    }
    if payload.id.len() != 32 || !payload.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse("with a malformed id"));
    }
    Ok(payload)
}

/// Opens, checks and keeps a group message (`framed`: its group's id,
/// then the envelope, as gossip and copies carry it) that came from
/// `from` (the publisher gossip names, or the peer that handed a copy
/// over), and tells the node's watchers; whether it was new.
pub(crate) async fn receive(shared: &Shared, me: &str, from: &str, framed: &[u8]) -> Result<bool> {
    let (id, envelope) = split_group(framed)?;
    let id = id.to_owned();
    let row = {
        let (catalog, id) = (shared.catalog.clone(), id.clone());
        blocking(move || Ok(catalog.group(&id)?)).await?
    };
    let row = row
        .filter(|g| g.state == "joined")
        .ok_or_else(|| NodeError::NotFound("a message for a group this node is not in".into()))?;
    let payload = open(&row, me, envelope)?;
    if payload.from != from {
        return Err(NodeError::Invalid(
            "a group message handed over by someone other than its sender".into(),
        ));
    }
    if payload.from == me {
        return Ok(false);
    }
    let message = Message {
        seq: 0,
        id: payload.id,
        sender: payload.from,
        recipient: format!("group:{}", row.id),
        peer: format!("group:{}", row.id),
        outgoing: false,
        body: payload.body,
        sent: payload.sent,
        state: "received".into(),
    };
    let catalog = shared.catalog.clone();
    match blocking(move || Ok(catalog.add_message(&message)?)).await? {
        Some(message) => {
            shared.events.send(Event::Message { message });
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The group a framed envelope says it is for (not sealed, so a node
/// finds the key to open it with).
#[cfg(test)]
fn group_of(framed: &[u8]) -> Result<String> {
    Ok(split_group(framed)?.0.to_owned())
}

/// `envelope` with its group's id before it, as gossip and copies carry
/// it: `<32 hex>` then the envelope.
pub(crate) fn with_group(group: &str, envelope: &[u8]) -> Vec<u8> {
    [group.as_bytes(), envelope].concat()
}

fn split_group(framed: &[u8]) -> Result<(&str, &[u8])> {
    let id = framed
        .get(..32)
        .and_then(|id| std::str::from_utf8(id).ok())
        .filter(|id| id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| NodeError::Invalid("a group message without its group".into()))?;
    Ok((id, &framed[32..]))
}

/// The envelope inside a framed copy ([`with_group`]).
#[cfg(test)]
fn unframe(framed: &[u8]) -> Result<&[u8]> {
    Ok(split_group(framed)?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8) -> (SigningKey, String) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let pair = cairn_net::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
        (key, pair.public().to_peer_id().to_string())
    }

    fn group(creator: &str, members: &[&str]) -> GroupRow {
        GroupRow {
            id: "ab".repeat(16),
            creator: creator.into(),
            label: "friends".into(),
            key: [5; 32],
            epoch: 2,
            version: 3,
            state: "joined".into(),
            created: 0,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn payload(from: &str, group: &str) -> GroupPayload {
        GroupPayload {
            id: "cd".repeat(16),
            from: from.into(),
            group: group.into(),
            sent: 1,
            body: "hello".into(),
        }
    }

    #[test]
    fn only_a_member_s_message_under_the_current_key_opens() {
        let (alice_key, alice) = signer(1);
        let (bob_key, bob) = signer(2);
        let (mallory_key, mallory) = signer(3);
        // On Bob's node: Alice created it, Bob is a member.
        let g = group(&alice, &[&bob]);
        let sealed = seal(&g, &alice_key, &payload(&alice, &g.id)).unwrap();
        assert_eq!(open(&g, &bob, &sealed).unwrap().body, "hello");
        // On Alice's own node the creator is '' and she is `me`.
        let own = group("", &[&bob]);
        let from_bob = seal(&own, &bob_key, &payload(&bob, &own.id)).unwrap();
        assert!(open(&own, &alice, &from_bob).is_ok());

        // Not a member, though it holds the key.
        let from_mallory = seal(&g, &mallory_key, &payload(&mallory, &g.id)).unwrap();
        assert!(open(&g, &bob, &from_mallory).is_err());
        // Signed by Mallory in Alice's name.
        let forged = seal(&g, &mallory_key, &payload(&alice, &g.id)).unwrap();
        assert!(open(&g, &bob, &forged).is_err());
        // Another key, another epoch, another group, changed bytes.
        let mut rotated = g.clone();
        rotated.epoch = 3;
        rotated.key = [6; 32];
        assert!(
            open(&rotated, &bob, &sealed).is_err(),
            "a removed member's old key"
        );
        let old = seal(&g, &alice_key, &payload(&alice, "other")).unwrap();
        assert!(open(&g, &bob, &old).is_err());
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert!(open(&g, &bob, &changed).is_err());
        assert!(open(&g, &bob, &sealed[..10]).is_err());
        assert!(open(&g, &bob, b"junk").is_err());
    }

    #[test]
    fn a_copy_names_its_group() {
        let framed = with_group(&"ab".repeat(16), b"CG1rest");
        assert_eq!(group_of(&framed).unwrap(), "ab".repeat(16));
        assert_eq!(unframe(&framed).unwrap(), b"CG1rest");
        assert!(group_of(b"short").is_err());
        assert!(group_of(&[b'Z'; 40]).is_err());
    }
}
