//! What the node sees of its network beyond peers and suppliers: its
//! connections and their bytes, the requests and messages it sent and
//! received (counted by the swarm, `cairn_net`'s `traffic.rs`), the
//! addresses peers see it at, the records its part of the DHT holds and
//! how that DHT is set up; and redialling the bootstrap peers at once.

use cairn_net::{ConnectionInfo, DhtSettings, LocalRecord, Multiaddr, TrafficStats};
use futures_util::future::join_all;
use serde::Serialize;

use super::Network;
use super::batches::net_error;
use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

/// What redialling one bootstrap address came to.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Redial {
    /// The address, as `[network] bootstrap` gives it.
    pub address: String,
    /// Whether a connection came of it.
    pub connected: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

impl Network {
    /// The connections the node has now, with their bytes.
    pub fn connections(&self) -> Result<Vec<ConnectionInfo>> {
        Ok(self.swarm()?.connections())
    }

    /// Requests, messages and bytes since the node started, by protocol
    /// and peer, and the requests on their way now.
    pub fn traffic(&self) -> Result<TrafficStats> {
        Ok(self.swarm()?.traffic())
    }

    /// The records this node's part of the DHT holds now.
    pub async fn local_records(&self) -> Result<Vec<LocalRecord>> {
        self.swarm()?.local_records().await.map_err(net_error)
    }

    /// How the DHT is set up.
    pub fn dht_settings(&self) -> Result<DhtSettings> {
        self.swarm()?;
        Ok(cairn_net::dht_settings())
    }

    /// Up to `count` peers found around a random point of the DHT's key
    /// space (a lookup of the peers closest to it), never this node.
    pub async fn dht_random_peers(&self, count: usize) -> Result<Vec<String>> {
        let key: [u8; 32] = rand::random();
        let swarm = self.swarm()?;
        let me = swarm.peer_id();
        let found = swarm.closest_peers(key.to_vec()).await.map_err(net_error)?;
        Ok(found
            .into_iter()
            .filter(|p| *p != me)
            .take(count)
            .map(|p| p.to_string())
            .collect())
    }

    /// Dials every bootstrap peer now, connected or not (a new connection
    /// each), and refreshes the DHT's routing table; answers what each
    /// dial came to.
    pub async fn reconnect(&self) -> Result<Vec<Redial>> {
        let swarm = self.swarm()?;
        let bootstrap = self.0.shared.config.network.bootstrap.clone();
        let dials = bootstrap.iter().map(|address| async move {
            let dialled = match address.parse::<Multiaddr>() {
                Ok(addr) => swarm.dial(addr).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("not an address: {e}")),
            };
            Redial {
                address: address.clone(),
                connected: dialled.is_ok(),
                error: dialled.err(),
            }
        });
        let redials = join_all(dials).await;
        swarm.refresh().await;
        Ok(redials)
    }
}
