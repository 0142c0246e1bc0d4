//! The UI's files, compiled into the binary: each answered with its type,
//! an ETag (a hash of its bytes), gzip when the browser takes it (made
//! once, on first ask), and `no-cache`, so a browser asks again cheaply
//! (a 304) and never runs an old page against a new node.

use std::io::Write;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file of the UI.
struct Asset {
    path: &'static str,
    kind: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $kind:literal) => {
        Asset {
            path: $path,
            kind: $kind,
            bytes: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

/// Every file of the UI (`crates/api/web/`).
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("main.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("tus.js", "text/javascript; charset=utf-8"),
    asset!("uploads.js", "text/javascript; charset=utf-8"),
    asset!("files.js", "text/javascript; charset=utf-8"),
    asset!("file.js", "text/javascript; charset=utf-8"),
    asset!("player.js", "text/javascript; charset=utf-8"),
    asset!("jobs.js", "text/javascript; charset=utf-8"),
    asset!("events.js", "text/javascript; charset=utf-8"),
    asset!("torrents.js", "text/javascript; charset=utf-8"),
    asset!("network.js", "text/javascript; charset=utf-8"),
    asset!("share.js", "text/javascript; charset=utf-8"),
    asset!("messages.js", "text/javascript; charset=utf-8"),
    asset!("powder.html", "text/html; charset=utf-8"),
    asset!("powder.js", "text/javascript; charset=utf-8"),
];

/// What is made of an asset once: its ETag and its gzip.
struct Prepared {
    etag: HeaderValue,
    gzip: Option<Vec<u8>>,
}

fn prepared(index: usize) -> &'static Prepared {
    static PREPARED: OnceLock<Vec<OnceLock<Prepared>>> = OnceLock::new();
    let all = PREPARED.get_or_init(|| ASSETS.iter().map(|_| OnceLock::new()).collect());
    all[index].get_or_init(|| {
        let bytes = ASSETS[index].bytes;
        let hash = blake3::hash(bytes);
        let etag = HeaderValue::from_str(&format!("\"{}\"", &hash.to_hex()[..20]))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = gz
            .write_all(bytes)
            .and_then(|()| gz.finish())
            .ok()
            .filter(|g| g.len() < bytes.len());
        Prepared { etag, gzip }
    })
}

/// `GET /ui/assets/{path}`.
pub(super) async fn h_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS
        .iter()
        .position(|a| a.path == path && a.path != "index.html")
    {
        Some(i) => answer(i, &headers),
        None => (StatusCode::NOT_FOUND, "no such file of the web UI\n").into_response(),
    }
}

/// The page itself (`index.html`), for `/` and every `/ui/…` route.
pub(super) fn page(headers: &HeaderMap) -> Response {
    answer(0, headers)
}

/// Powder Web's page (`powder.html`), for its listener's routes.
pub(super) fn powder_page(headers: &HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.path == "powder.html") {
        Some(i) => answer(i, headers),
        None => page(headers),
    }
}

fn answer(index: usize, headers: &HeaderMap) -> Response {
    let (asset, prepared) = (&ASSETS[index], prepared(index));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == prepared.etag.as_bytes());
    let gzip = prepared.gzip.as_ref().filter(|_| takes_gzip(headers));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match gzip {
            Some(g) => Response::new(Body::from(g.as_slice())),
            None => Response::new(Body::from(asset.bytes)),
        }
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.kind));
    h.insert(header::ETAG, prepared.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip.is_some() && !fresh {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_gzipped_smaller_and_tagged() {
        for (i, a) in ASSETS.iter().enumerate() {
            let p = prepared(i);
            assert!(!a.bytes.is_empty(), "{} is empty", a.path);
            assert!(p.etag.to_str().unwrap().starts_with('"'));
            if a.bytes.len() > 1024 {
                assert!(p.gzip.is_some(), "{} not gzipped", a.path);
            }
        }
    }

    #[test]
    fn gzip_only_when_taken() {
        let mut h = HeaderMap::new();
        assert!(!takes_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(takes_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!takes_gzip(&h));
    }
}
