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
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(cairn_cacaoweb::Cacaoweb::new(node.clone())),
        Box::new(cairn_openload::Openload::new(node.clone())),
        Box::new(cairn_metadisk::MetaDisk::new(node.clone())),
        Box::new(cairn_powder::Powder::new(node.clone())),
        Box::new(cairn_bitdust::BitDust::new(node.clone())),
    ];
    layers
        .into_iter()
        .map(|layer| {
            let addrs = layer_addrs(config, layer.name());
            (layer, addrs)
        })
        .collect()
}

/// The addresses of layer `name`'s own listeners in `config`
/// (`[layers]`).
pub fn layer_addrs(config: &Config, name: &str) -> Vec<SocketAddr> {
    let layers = &config.layers;
    match name {
        "cacaoweb" => layers.cacaoweb.clone(),
        "openload" => layers.openload.clone(),
        "metadisk" => layers.metadisk.clone(),
        "powder" => layers.powder.clone(),
        "bitdust" => layers.bitdust.clone(),
        _ => Vec::new(),
    }
}
