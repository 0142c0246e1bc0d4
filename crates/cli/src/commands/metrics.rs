//! `cairn metrics`: the node's `/metrics` scrape, as Prometheus reads it
//! (OpenMetrics text), printed whole.

use anyhow::Result;
use reqwest::Method;

use crate::client::Client;

/// Prints the scrape.
pub(super) async fn print(client: &Client) -> Result<()> {
    let req = client.root_request(Method::GET, "/metrics");
    let text = client.send(req).await?.text().await?;
    print!("{text}");
    Ok(())
}
