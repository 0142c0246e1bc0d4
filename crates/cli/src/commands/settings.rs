//! `cairn config`: the node's settings (its config read and changed at
//! run time, kept across restarts).

use anyhow::Result;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Out, lines};
use crate::args::ConfigAction;
use crate::client::Client;

/// One setting on a line: key, value, and when a change applies.
fn line(s: &Value) -> String {
    let note = if s["readonly"] == json!(true) {
        " (read-only: config.toml or flags)"
    } else if s["restart_needed"] == json!(true) {
        " (applies at the next start)"
    } else {
        ""
    };
    format!("{} = {}{note}", s["key"].as_str().unwrap_or(""), s["value"])
}

/// What the user typed as a value: JSON when it reads as JSON, else text.
fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

pub(super) async fn config(client: &Client, out: &Out, action: ConfigAction) -> Result<()> {
    let v = match action {
        ConfigAction::Ls => {
            let v = client.get("/settings").await?;
            out.print(&v, |v| lines(v, line));
            return Ok(());
        }
        ConfigAction::Get { key } => client.get(&format!("/settings/{key}")).await?,
        ConfigAction::Set { key, value } => {
            let req = client
                .request(Method::PUT, &format!("/settings/{key}"))
                .json(&json!({ "value": value_of(&value) }));
            client.json(req).await?
        }
    };
    out.print(&v, line);
    Ok(())
}
