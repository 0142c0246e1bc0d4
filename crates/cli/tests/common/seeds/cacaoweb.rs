//! cacaoweb's local API as its player and manager page called it: GETs
//! answering text, XML or a stream, files named by the MD5 of their
//! content, imports by local path, and logins whose session token goes
//! in `token=` or the `cacaoweb_session` cookie. The XML helpers read its
//! documents element by element.

use std::path::Path;

use reqwest::header::HeaderMap;
use xmltree::{Element, XMLNode};

use crate::common::endpoint::{Endpoint, Listener};

/// A client of the cacaoweb layer on one listener (its own loopback
/// listener, where local callers act as the operator, or the main one).
pub struct Cacaoweb {
    at: Listener,
}

impl Cacaoweb {
    /// A client of the layer served at `at`.
    pub fn on(at: &impl Endpoint) -> Self {
        Self {
            at: Listener::of(at),
        }
    }

    /// `host:port` of the listener.
    pub fn addr(&self) -> &str {
        &self.at.addr
    }

    /// A URL of the listener.
    pub fn url(&self, path: &str) -> String {
        self.at.root_url(path)
    }

    /// A GET with extra headers: status, headers, body.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, HeaderMap, Vec<u8>) {
        let mut r = self.at.http.get(self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    /// A GET: status, headers, body.
    pub async fn get(&self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        self.get_with(path, &[]).await
    }

    /// A GET answering text.
    pub async fn text(&self, path: &str) -> (u16, String) {
        let (s, _, b) = self.get(path).await;
        (s, String::from_utf8(b).unwrap())
    }

    /// A GET answering an XML document.
    pub async fn xml(&self, path: &str) -> (u16, Element) {
        let (s, text) = self.text(path).await;
        (s, parse(&text))
    }

    /// `/<call>?f=<md5>`, with `&token=<session>` when given: the calls on
    /// one file by its MD5 (`getfiletoken`, `transmittoken`, `buytoken`,
    /// `fileinfo`, `filemetadata`, …), answering text.
    pub async fn by_md5(&self, call: &str, md5: &str, session: Option<&str>) -> (u16, String) {
        let token = session.map(|t| format!("&token={t}")).unwrap_or_default();
        self.text(&format!("/{call}?f={md5}{token}")).await
    }

    /// `/upload?filepath=…` with the path written as the seed's curl line
    /// does (not encoded); answers the body (the file's MD5).
    pub async fn upload(&self, path: &Path, extra: &str) -> String {
        let (s, body) = self
            .text(&format!("/upload?filepath={}{extra}", path.display()))
            .await;
        assert_eq!(s, 200, "upload of {}", path.display());
        body
    }

    /// `/login`; answers the session token from the cookie.
    pub async fn login(&self, login: &str, key: &str) -> String {
        let (s, h, b) = self
            .get(&format!("/login?username={login}&password={key}"))
            .await;
        assert_eq!((s, b.as_slice()), (200, &b"logincallback(1)"[..]));
        let cookie = h["set-cookie"].to_str().unwrap();
        let token = cookie
            .strip_prefix("cacaoweb_session=")
            .and_then(|c| c.split(';').next())
            .unwrap();
        assert_eq!(token.len(), 32);
        token.to_owned()
    }
}

/// Parses an XML document (fails the test on anything else).
pub fn parse(xml: &str) -> Element {
    Element::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("not XML ({e}): {xml}"))
}

/// The element children of `e`, failing on any text between them.
pub fn children(e: &Element) -> Vec<&Element> {
    e.children
        .iter()
        .map(|c| match c {
            XMLNode::Element(e) => e,
            other => panic!("unexpected node {other:?} in <{}>", e.name),
        })
        .collect()
}

/// The (name, text) pairs of an element's children, in order.
pub fn fields(e: &Element) -> Vec<(String, String)> {
    children(e)
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.get_text().map(|t| t.into_owned()).unwrap_or_default(),
            )
        })
        .collect()
}

/// `fields`' shape, from literals.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
