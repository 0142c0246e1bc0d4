//! The node's handle on the network: the swarm's command handle, the
//! shards it stores for customers, and who it is to them.

use std::sync::Arc;

use cairn_net::{Keypair, Network, PeerId};
use cairn_store::shards::ShardStore;

/// The node's network side.
pub(crate) struct Net {
    pub(crate) network: Network,
    /// Our libp2p identity, which signs the records that name us.
    pub(crate) keypair: Keypair,
    pub(crate) shards: Arc<ShardStore>,
    /// Our customer id, as suppliers know us.
    pub(crate) owner: [u8; 32],
    /// `[network] friends`.
    pub(crate) friends: Vec<PeerId>,
    /// The peers that asked this node for shards, by their customer id
    /// (since the node started, at most [`SEEN_CUSTOMERS`]): who a
    /// customer is, for the lists that name customers by peer.
    pub(crate) customers_seen: std::sync::Mutex<std::collections::HashMap<[u8; 32], PeerId>>,
}

/// The customers' peers [`Net::customers_seen`] keeps at most.
pub(crate) const SEEN_CUSTOMERS: usize = 10_000;
