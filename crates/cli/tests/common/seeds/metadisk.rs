//! MetaDisk's calls as its clients sent them: the accounts service's token
//! calls (`/accounts/token/…`, the operator's secret in an
//! `Authentication` header) and the node's file calls (`/api/upload` as a
//! multipart form, `/api/download`, `/api/find`, `/api/status`), each
//! answering its status and JSON.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::endpoint::{Endpoint, Listener};

/// A client of the MetaDisk layer on one listener.
pub struct MetaDisk {
    at: Listener,
}

impl MetaDisk {
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

    /// A URL of the layer.
    pub fn url(&self, path: &str) -> String {
        self.at.root_url(path)
    }

    /// The node's admin secret, as the `Authentication` header takes it.
    pub fn secret(&self) -> &str {
        &self.at.secret
    }

    /// Any call: `auth` as the `Authentication` header, `body` as JSON;
    /// answers the status, the JSON (null when there is none) and the
    /// headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
        let mut req = self.at.http.request(method, self.url(path));
        if let Some(a) = auth {
            req = req.header("Authentication", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    /// A GET: status and JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.call(Method::GET, path, None, None).await;
        (s, v)
    }

    /// `POST /accounts/token/new`: a new token (no balance).
    pub async fn new_token(&self) -> String {
        let (s, v, _) = self
            .call(Method::POST, "/accounts/token/new", None, None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// A token, issued and funded with `bytes` (none when 0) by the
    /// operator.
    pub async fn funded_token(&self, bytes: u64) -> String {
        let r = self
            .at
            .http
            .post(self.url("/accounts/token/new"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let token = v["token"].as_str().unwrap().to_owned();
        if bytes > 0 {
            let r = self
                .at
                .http
                .post(self.url(&format!("/accounts/token/deposit/{token}")))
                .header("Authentication", &self.at.secret)
                .json(&json!({ "bytes": bytes }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
        token
    }

    /// The transfer-byte balance of `token`.
    pub async fn token_balance(&self, token: &str) -> u64 {
        let url = self.url(&format!("/accounts/token/balance/{token}"));
        let v: Value = self
            .at
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["balance"]
            .as_u64()
            .unwrap_or_else(|| panic!("no balance: {v}"))
    }

    /// `POST /api/upload` with `form`: status and JSON.
    pub async fn upload(&self, form: reqwest::multipart::Form) -> (u16, Value) {
        let r = self
            .at
            .http
            .post(self.url("/api/upload"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    }

    /// `GET /api/download/<filehash><query>` (`query` is empty or starts
    /// with `?`): the response, for its status, headers and bytes.
    pub async fn download(&self, filehash: &str, query: &str) -> reqwest::Response {
        self.at
            .http
            .get(self.url(&format!("/api/download/{filehash}{query}")))
            .send()
            .await
            .unwrap()
    }
}

/// An upload form as MetaDisk's clients send it: the file as part `file`,
/// the token (if any) as field `token` before or after it.
pub fn form(
    name: &str,
    data: &[u8],
    token: Option<&str>,
    token_first: bool,
) -> reqwest::multipart::Form {
    let file = reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_owned());
    let mut f = reqwest::multipart::Form::new();
    if token_first && let Some(t) = token {
        f = f.text("token", t.to_owned());
    }
    f = f.part("file", file);
    if !token_first && let Some(t) = token {
        f = f.text("token", t.to_owned());
    }
    f
}
