//! What a test talks to, whichever kind of node it started: the real
//! binary ([`super::TestNode`]) or the engine in the test's own process
//! ([`super::inproc::InProcNode`]). Both are an [`Endpoint`] (a listener,
//! an HTTP client, the admin secret) with a data dir ([`Dirs`]), so the
//! native API's helpers, the seed clients and the multi-node helpers are
//! written once, for either.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The HTTP client of a test: plain HTTP on loopback only, so without the
/// platform's root certificates (loading them costs about 30 ms a client
/// in a debug build, as much as starting a node).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .expect("an HTTP client")
}

/// A listener of a node: where it is, the client that calls it, and the
/// node's admin secret. The provided methods are the native API's
/// (`/api/v1`) helpers.
pub trait Endpoint {
    /// `host:port`.
    fn addr(&self) -> &str;
    /// The client the tests use.
    fn http(&self) -> &reqwest::Client;
    /// The node's admin secret.
    fn secret(&self) -> &str;

    /// A URL of the native API.
    fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr())
    }

    /// A URL outside the native API (the compatibility layers).
    fn root_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// An authenticated request to the native API.
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http()
            .request(method, self.url(path))
            .bearer_auth(self.secret())
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self.req(method, path).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `data` as a raw body named `name`; returns the entry.
    async fn upload(&self, name: &str, data: Vec<u8>, query: &str) -> (u16, Value) {
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("/upload?name={name}{query}"),
            )
            .body(data)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status == 201 {
            (status, v["entries"][0].clone())
        } else {
            (status, v)
        }
    }

    async fn content(
        &self,
        path: &str,
        range: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut r = self.req(reqwest::Method::GET, path);
        if let Some(range) = range {
            r = r.header("range", range);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (
            status,
            headers,
            resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }

    /// Polls job `id` until it is no longer running (bounded).
    async fn wait_job(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, job) = self.get_json(&format!("/jobs/{id}")).await;
            if job["state"] != "running" || Instant::now() > deadline {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A node's folders: its data dir, and the files folder that is its only
/// import root.
pub trait Dirs {
    /// The data dir.
    fn dir(&self) -> &Path;
    /// Files the tests make; the node's only import root.
    fn files(&self) -> &Path;

    /// Writes a file under the import root.
    fn file(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.files().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }
}

/// A reference is what it refers to (a test iterating `&[&TestNode]`).
impl<T: Endpoint + ?Sized> Endpoint for &T {
    fn addr(&self) -> &str {
        (**self).addr()
    }

    fn http(&self) -> &reqwest::Client {
        (**self).http()
    }

    fn secret(&self) -> &str {
        (**self).secret()
    }
}

impl<T: Dirs + ?Sized> Dirs for &T {
    fn dir(&self) -> &Path {
        (**self).dir()
    }

    fn files(&self) -> &Path {
        (**self).files()
    }
}

/// A listener given to one layer alone (cacaoweb's loopback one, say):
/// an endpoint of its own, with the node's client and secret.
#[derive(Clone)]
pub struct Listener {
    pub addr: String,
    pub http: reqwest::Client,
    pub secret: String,
}

impl Listener {
    /// The listener `at` talks to, with its client and secret.
    pub fn of(at: &impl Endpoint) -> Self {
        Self {
            addr: at.addr().to_owned(),
            http: at.http().clone(),
            secret: at.secret().to_owned(),
        }
    }
}

impl Endpoint for Listener {
    fn addr(&self) -> &str {
        &self.addr
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn secret(&self) -> &str {
        &self.secret
    }
}
