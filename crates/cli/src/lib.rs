//! What the `cairn` binary and its tests share: the seeds' layers, made
//! for a node as `cairn node` serves them (the tests' in-process node
//! serves the very same list, so a layer added here is served by both).
#![deny(missing_docs, unreachable_pub)]

use std::net::SocketAddr;

use cairn_api::Layer;
use cairn_node::{Config, Node};

/// A seed's compatibility layer and the addresses of its own listeners.
pub type Seed = (Box<dyn Layer>, Vec<SocketAddr>);

/// Every seed's layer, made once: the main listener and the layer's own
/// share its state.
pub fn seed_layers(node: &Node, config: &Config) -> Vec<Seed> {
    let layers = &config.layers;
    vec![
        (
            Box::new(cairn_cacaoweb::Cacaoweb::new(node.clone())),
            layers.cacaoweb.clone(),
        ),
        (
            Box::new(cairn_openload::Openload::new(node.clone())),
            layers.openload.clone(),
        ),
        (
            Box::new(cairn_metadisk::MetaDisk::new(node.clone())),
            layers.metadisk.clone(),
        ),
        (
            Box::new(cairn_powder::Powder::new(node.clone())),
            layers.powder.clone(),
        ),
        (
            Box::new(cairn_bitdust::BitDust::new(node.clone())),
            layers.bitdust.clone(),
        ),
    ]
}
