//! `cairn service`: the node's services (its long-running loops), listed,
//! stopped, started and restarted.

use anyhow::Result;
use reqwest::Method;
use serde_json::Value;

use super::{Out, lines};
use crate::args::ServiceAction;
use crate::client::Client;

/// One service on a line: name, state, enabled, what it does.
fn line(s: &Value) -> String {
    let flag = if s["required"].as_bool() == Some(true) {
        "required"
    } else if s["enabled"].as_bool() == Some(true) {
        "enabled"
    } else {
        "disabled"
    };
    format!(
        "{:<16} {:<9} {:<9} {}",
        s["name"].as_str().unwrap_or(""),
        s["state"].as_str().unwrap_or(""),
        flag,
        s["about"].as_str().unwrap_or("")
    )
}

pub(super) async fn service(client: &Client, out: &Out, action: ServiceAction) -> Result<()> {
    let (verb, name) = match action {
        ServiceAction::Ls => {
            let v = client.get("/services").await?;
            out.print(&v, |v| lines(v, line));
            return Ok(());
        }
        ServiceAction::Info { name } => {
            let v = client.get(&format!("/services/{name}")).await?;
            out.print(&v, |v| {
                format!(
                    "{}\ndepends on: {}",
                    line(v),
                    v["depends"]
                        .as_array()
                        .map(|d| d
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                )
            });
            return Ok(());
        }
        ServiceAction::Stop { name } => ("stop", name),
        ServiceAction::Start { name } => ("start", name),
        ServiceAction::Restart { name } => ("restart", name),
    };
    let req = client.request(Method::POST, &format!("/services/{name}/{verb}"));
    let v = client.json(req).await?;
    out.print(&v, line);
    Ok(())
}
