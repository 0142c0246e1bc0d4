//! `cairn net connections`, `traffic`, `records` and `reconnect`: what
//! the node's network carries, its part of the DHT, and redialling the
//! bootstrap peers.

use anyhow::Result;
use reqwest::Method;
use serde_json::Value;

use super::{Out, lines};
use crate::client::Client;

/// One connection on a line: peer, direction, address, bytes each way.
fn connection_line(c: &Value) -> String {
    format!(
        "{}  {:<8}  {}  sent {}  received {}",
        c["peer"].as_str().unwrap_or(""),
        c["direction"].as_str().unwrap_or(""),
        c["remote"].as_str().unwrap_or(""),
        c["bytes_sent"],
        c["bytes_received"]
    )
}

/// `cairn net connections`.
pub(super) async fn connections(client: &Client, out: &Out) -> Result<()> {
    let v = client.get("/network/connections").await?;
    out.print(&v, |v| lines(&v["connections"], connection_line));
    Ok(())
}

/// The traffic as text: totals, a line per protocol, per peer, and per
/// request on its way.
fn traffic_text(v: &Value) -> String {
    let mut text = format!(
        "bytes sent {}  received {}\n",
        v["bytes_sent"], v["bytes_received"]
    );
    for p in v["protocols"].as_array().into_iter().flatten() {
        text += &format!(
            "{:<20} sent {} ({} failed)  received {} ({} failed)\n",
            p["protocol"].as_str().unwrap_or(""),
            p["sent"],
            p["failed_sent"],
            p["received"],
            p["failed_received"]
        );
    }
    for p in v["peers"].as_array().into_iter().flatten() {
        text += &format!(
            "{}  bytes {} out, {} in  requests {} out, {} in\n",
            p["peer"].as_str().unwrap_or(""),
            p["bytes_sent"],
            p["bytes_received"],
            p["requests_sent"],
            p["requests_received"]
        );
    }
    for f in v["in_flight"].as_array().into_iter().flatten() {
        text += &format!(
            "in flight: {} {} {} {} bytes\n",
            f["direction"].as_str().unwrap_or(""),
            f["kind"].as_str().unwrap_or(""),
            f["peer"].as_str().unwrap_or(""),
            f["bytes"]
        );
    }
    text.trim_end().to_owned()
}

/// `cairn net traffic`.
pub(super) async fn traffic(client: &Client, out: &Out) -> Result<()> {
    let v = client.get("/network/traffic").await?;
    out.print(&v, traffic_text);
    Ok(())
}

/// One record on a line: key, size, publisher, expiry.
fn record_line(r: &Value) -> String {
    format!(
        "{}  {} bytes  by {}  expires in {}",
        r["key"].as_str().unwrap_or(""),
        r["size"],
        r["publisher"].as_str().unwrap_or("-"),
        r["expires_in_secs"]
            .as_u64()
            .map_or("never".into(), |s| format!("{s} s"))
    )
}

/// `cairn net records`.
pub(super) async fn records(client: &Client, out: &Out) -> Result<()> {
    let v = client.get("/network/records").await?;
    out.print(&v, |v| lines(&v["records"], record_line));
    Ok(())
}

/// `cairn net reconnect`.
pub(super) async fn reconnect(client: &Client, out: &Out) -> Result<()> {
    let v = client
        .json(client.request(Method::POST, "/network/reconnect"))
        .await?;
    out.print(&v, |v| {
        lines(&v["redials"], |r| {
            format!(
                "{}  {}",
                r["address"].as_str().unwrap_or(""),
                r["error"].as_str().unwrap_or("connected")
            )
        })
    });
    Ok(())
}
