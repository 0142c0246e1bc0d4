//! People (`node.people()`): the identities this node has seen on the
//! network (each peer id with the nickname it goes by, noted whenever a
//! signed nickname record is read, either way) and the operator's
//! friends, named by peer id or found by nickname through the DHT.

use std::sync::Arc;

use cairn_store::people::{Friend, Seen};

use crate::NodeError;
use crate::network::Network;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// The Ed25519 public key a peer id names (cairn's ids embed it), if it
/// is one: what lets another format name a peer by its key.
pub fn peer_public_key(peer: &str) -> Option<[u8; 32]> {
    cairn_net::records::ed25519_public(&peer.parse().ok()?)
}

/// The peer id of an Ed25519 public key.
pub fn peer_of_public_key(key: &[u8; 32]) -> Option<String> {
    let key = libp2p_identity_ed25519(key)?;
    Some(key.to_peer_id().to_string())
}

fn libp2p_identity_ed25519(key: &[u8; 32]) -> Option<cairn_net::PublicKey> {
    let ed = cairn_net::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(cairn_net::PublicKey::from(ed))
}

/// The longest alias.
const MAX_ALIAS: usize = 64;

/// The people service. Cheap to clone.
#[derive(Clone)]
pub struct People(Arc<Shared>, Network, Arc<str>);

impl People {
    /// The service of the node whose peer id is `me`.
    pub(crate) fn new(shared: Arc<Shared>, network: Network, me: String) -> Self {
        Self(shared, network, me.into())
    }

    /// The identities seen on the network, by nickname, at most `limit`.
    pub async fn identities(&self, limit: u32) -> Result<Vec<Seen>> {
        let shared = self.0.clone();
        let limit = limit.clamp(1, 10_000);
        self.0
            .lookup(move || Ok(shared.catalog.identities_seen(limit)?))
            .await
    }

    /// The nickname `peer` goes by, as last seen in a signed record.
    pub async fn nickname(&self, peer: &str) -> Result<Option<String>> {
        let (shared, peer) = (self.0.clone(), peer.to_owned());
        self.0
            .lookup(move || Ok(shared.catalog.nickname_of(&peer)?))
            .await
    }

    /// Every friend, by alias.
    pub async fn friends(&self) -> Result<Vec<Friend>> {
        let shared = self.0.clone();
        self.0.lookup(move || Ok(shared.catalog.friends()?)).await
    }

    /// The peer `who` names: a peer id, a friend's alias, or a nickname
    /// found through the DHT.
    pub async fn peer_of(&self, who: &str) -> Result<String> {
        let who = who.trim();
        if let Ok(peer) = crate::network::parse_peer(who) {
            return Ok(peer.to_string());
        }
        let (shared, alias) = (self.0.clone(), who.to_owned());
        if let Some(friend) = self
            .0
            .lookup(move || Ok(shared.catalog.friend(&alias)?))
            .await?
        {
            return Ok(friend.peer);
        }
        self.1
            .lookup_nickname(who)
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no friend or node called '{who}'")))
    }

    /// The member of `members` that `who` names: one of them by its peer
    /// id as given, else whoever [`People::peer_of`] finds.
    pub(crate) async fn member_named(&self, members: &[String], who: &str) -> Result<String> {
        match members.iter().find(|m| m.as_str() == who.trim()) {
            Some(m) => Ok(m.clone()),
            None => self.peer_of(who).await,
        }
    }

    /// Keeps `who` (a peer id, or a nickname found through the DHT) as a
    /// friend called `alias` (its nickname when none); a friend kept
    /// already is renamed.
    pub async fn add_friend(&self, who: &str, alias: Option<&str>) -> Result<Friend> {
        let who = who.trim();
        let (peer, nickname) = match crate::network::parse_peer(who) {
            Ok(peer) => (peer.to_string(), None),
            Err(_) => {
                let peer =
                    self.1.lookup_nickname(who).await?.ok_or_else(|| {
                        NodeError::NotFound(format!("no node calls itself '{who}'"))
                    })?;
                (peer, Some(who.to_owned()))
            }
        };
        if peer == *self.2 {
            return Err(NodeError::Invalid("this node is not its own friend".into()));
        }
        let alias = match alias.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => a.to_owned(),
            None => nickname
                .clone()
                .unwrap_or_else(|| peer.chars().take(16).collect()),
        };
        if alias.len() > MAX_ALIAS || alias.chars().any(char::is_control) {
            return Err(NodeError::Invalid(format!(
                "an alias has at most {MAX_ALIAS} bytes and no control characters"
            )));
        }
        let shared = self.0.clone();
        blocking(move || {
            shared.catalog.seen(&peer, nickname.as_deref())?;
            Ok(shared.catalog.add_friend(&peer, &alias)?)
        })
        .await
    }

    /// Forgets the friend whose peer id or alias is `who`.
    pub async fn remove_friend(&self, who: &str) -> Result<()> {
        let (shared, who) = (self.0.clone(), who.trim().to_owned());
        blocking(move || {
            let friend = shared
                .catalog
                .friend(&who)?
                .ok_or_else(|| NodeError::NotFound(format!("no friend '{who}'")))?;
            shared.catalog.remove_friend(&friend.peer)?;
            Ok(())
        })
        .await
    }
}
