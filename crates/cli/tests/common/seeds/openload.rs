//! Openload's API (`/1/<method>?<params>`) as its clients call it: GET
//! with a query string, every outcome an HTTP 200 carrying the envelope
//! `{status, msg, result}`; uploads as `curl -F file1=@…` posts them to
//! the URL `file/ul` gives; downloads through `file/dlticket` →
//! `file/dl` → the link.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::common::endpoint::{Endpoint, Listener};

/// A client of the Openload layer on one listener.
pub struct Openload {
    at: Listener,
}

impl Openload {
    /// A client of the layer served at `at`.
    pub fn on(at: &impl Endpoint) -> Self {
        Self {
            at: Listener::of(at),
        }
    }

    /// The client's HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.at.http
    }

    /// A URL of the listener (the links and pages outside `/1/`).
    pub fn url(&self, path: &str) -> String {
        self.at.root_url(path)
    }

    /// `GET /1/<method>?<params>`: the envelope, after checking HTTP 200,
    /// the CORS header and the envelope's own shape.
    pub async fn envelope(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let resp = self
            .at
            .http
            .get(self.url(&format!("/1/{method}")))
            .query(params)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}: API outcomes are HTTP 200");
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        let v: Value = resp.json().await.unwrap();
        assert!(v["status"].is_u64(), "{method}: status is a number: {v}");
        assert!(v["msg"].is_string(), "{v}");
        assert!(v.get("result").is_some(), "{v}");
        if v["status"] == 200 {
            assert_eq!(v["msg"], "OK");
        }
        v
    }

    /// [`Openload::envelope`]'s `result`, or its status and message.
    pub async fn call(
        &self,
        method: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, (u64, String)> {
        let v = self.envelope(method, params).await;
        match v["status"].as_u64() {
            Some(200) => Ok(v["result"].clone()),
            status => Err((
                status.unwrap_or_default(),
                v["msg"].as_str().unwrap_or_default().to_owned(),
            )),
        }
    }

    /// A call that must succeed; answers `result`.
    pub async fn ok(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let v = self.envelope(method, params).await;
        assert_eq!(v["status"], 200, "{method}: {v}");
        v["result"].clone()
    }

    /// A call that must fail with `status`; answers the envelope.
    pub async fn refused(&self, method: &str, params: &[(&str, &str)], status: u16) -> Value {
        let v = self.envelope(method, params).await;
        assert_eq!(v["status"], status, "{method} {params:?}: {v}");
        v
    }

    /// Posts `bytes` to an upload URL as multipart part `field`; answers
    /// the envelope.
    pub async fn post_file(&self, url: &str, field: &str, name: &str, bytes: &[u8]) -> Value {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
        let resp = self.at.http.post(url).multipart(form).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// `file/ul` (as `auth`), then the POST as `curl -F file1=@<name>`
    /// sends it; answers the upload's `result`.
    pub async fn upload(&self, auth: &[(&str, &str)], name: &str, bytes: &[u8]) -> Value {
        let ul = self.ok("file/ul", auth).await;
        let v = self
            .post_file(ul["url"].as_str().unwrap(), "file1", name, bytes)
            .await;
        assert_eq!(v["status"], 200, "{v}");
        v["result"].clone()
    }

    /// `file/dlticket` → `file/dl`: the link's `result`.
    pub async fn link(&self, id: &str) -> Value {
        let t = self.ok("file/dlticket", &[("file", id)]).await;
        let ticket = t["ticket"].as_str().unwrap();
        self.ok("file/dl", &[("file", id), ("ticket", ticket)])
            .await
    }

    /// `file/dlticket` (as `auth`) → `file/dl` → the whole file.
    pub async fn download_as(&self, auth: &[(&str, &str)], id: &str) -> Vec<u8> {
        let t = self.ok("file/dlticket", &with(auth, &[("file", id)])).await;
        let ticket = t["ticket"].as_str().unwrap();
        let dl = self
            .ok("file/dl", &[("file", id), ("ticket", ticket)])
            .await;
        let (status, _, got) = self.fetch(dl["url"].as_str().unwrap(), None).await;
        assert_eq!(status, 200);
        got
    }

    /// A GET of a link (any URL), with a `Range` if given.
    pub async fn fetch(&self, url: &str, range: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
        let mut req = self.at.http.get(url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }
}

/// The login and key, then `extra`.
pub fn with<'a>(
    auth: &[(&'a str, &'a str)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    auth.iter().chain(extra).copied().collect()
}
