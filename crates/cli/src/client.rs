//! A small client of the node's HTTP API.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// Talks to one node.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    secret: String,
}

impl Client {
    /// Finds the node of `data_dir` (or at `api`) and its secret.
    pub(crate) fn for_data_dir(data_dir: &Path, api: Option<&str>) -> Result<Self> {
        let addr = match api {
            Some(a) => a.to_owned(),
            None => match std::fs::read_to_string(data_dir.join("api.addr")) {
                Ok(a) => a.trim().to_owned(),
                Err(_) => cairn_node::Config::load(data_dir)?.listen.to_string(),
            },
        };
        let base = if addr.starts_with("http") {
            addr
        } else {
            format!("http://{addr}")
        };
        let secret_path = data_dir.join("apisecret");
        let secret = std::fs::read_to_string(&secret_path)
            .with_context(|| {
                format!(
                    "cannot read {} (has the node started once with this data dir?)",
                    secret_path.display()
                )
            })?
            .trim()
            .to_owned();
        // Every call carries the admin secret: it goes to the node itself,
        // never through a proxy the environment names.
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot set up an HTTP client")?;
        Ok(Self { http, base, secret })
    }

    /// A URL of the native API for a player, which cannot send headers:
    /// the secret goes in the query.
    pub(crate) fn player_url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}api_secret={}", self.base, self.secret)
    }

    /// The node's URL of `path`, for a browser.
    pub(crate) fn browser_url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.secret)
    }

    /// A call outside the native API (`/metrics`), with the secret.
    pub(crate) fn root_request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
    }

    /// Sends, and turns an error answer into an error with its message.
    pub(crate) async fn send(&self, req: RequestBuilder) -> Result<Response> {
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach the node at {} (is `cairn node` running?)",
                self.base
            )
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or("error");
        let message = body["message"].as_str().unwrap_or("");
        Err(anyhow!(ApiFailure {
            code: code.to_owned(),
            message: format!("{message} ({status}, {code})"),
        }))
    }

    pub(crate) async fn json(&self, req: RequestBuilder) -> Result<Value> {
        Ok(self.send(req).await?.json().await?)
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value> {
        self.json(self.request(Method::GET, path)).await
    }
}

/// An error the node answered.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// The API code of an error, when the node answered one.
pub(crate) fn code_of(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<ApiFailure>().map(|f| f.code.as_str())
}

pub(crate) fn ensure_ok(v: &Value) -> Result<()> {
    if v.is_null() {
        bail!("empty answer from the node");
    }
    Ok(())
}
