//! Serving blob content: Range (206/416), HEAD, ETag and If-None-Match,
//! If-Range, Content-Type and Content-Disposition.
//!
//! The ETag is the blob id: content-addressed, so it is a strong validator.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use cairn_node::{BlobHandle, Node};
use futures_util::StreamExt;

use crate::error::{ApiError, ApiResult};
use crate::range::{self, Wanted};

/// How the response should present the file.
pub struct Presentation {
    /// The `Content-Type` to answer.
    pub content_type: String,
    /// The name a `Content-Disposition` gives, if any.
    pub file_name: Option<String>,
    /// `attachment` rather than `inline`.
    pub attachment: bool,
    /// Entry whose download count a complete download bumps.
    pub entry: Option<String>,
}

impl Presentation {
    /// An entry's content: its type and name, its downloads counted.
    pub fn of_entry(entry: &cairn_node::Entry, attachment: bool) -> Self {
        Self {
            content_type: entry
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            file_name: Some(entry.name.clone()),
            attachment,
            entry: Some(entry.id.clone()),
        }
    }
}

/// Answers a blob's content: `If-None-Match`, `If-Range` and `Range`
/// honoured (200, 206, 304 or 416), `HEAD` without a body.
pub async fn respond(
    node: &Node,
    method: &Method,
    headers: &HeaderMap,
    handle: BlobHandle,
    how: Presentation,
) -> ApiResult<Response> {
    let size = handle.size();
    let etag = format!("\"{}\"", handle.id());
    let (status, span) = match wanted(headers, size, &etag) {
        Ok(w) => w,
        Err(answer) => return Ok(*answer),
    };
    let len = span.end - span.start;
    let body = if method == Method::HEAD || len == 0 {
        Body::empty()
    } else {
        let label = how
            .file_name
            .clone()
            .unwrap_or_else(|| handle.id().to_hex());
        let mut stream = node
            .blobs()
            .stream(handle, span.clone(), label, how.entry.clone());
        // The first piece is verified before the status line goes out, so a
        // corrupt or unreadable start is a clean error, not a cut-off 200.
        let first = match stream.next().await {
            Some(Ok(piece)) => piece,
            Some(Err(e)) => return Err(e.into()),
            None => Bytes::new(),
        };
        Body::from_stream(futures_util::stream::once(async { Ok(first) }).chain(stream))
    };
    answer(status, &etag, body, size, &span, &how)
}

/// Answers content that is not a stored blob (a torrent's file as it
/// arrives) as [`respond`] does, against a strong `etag` (quoted) for
/// bytes that never change; `read(range)` gives the bytes asked for.
pub async fn respond_with<F, Fut, S>(
    method: &Method,
    headers: &HeaderMap,
    size: u64,
    etag: &str,
    how: Presentation,
    read: F,
) -> ApiResult<Response>
where
    F: FnOnce(std::ops::Range<u64>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<S>>,
    S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    let (status, span) = match wanted(headers, size, etag) {
        Ok(w) => w,
        Err(answer) => return Ok(*answer),
    };
    let body = if method == Method::HEAD || span.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(read(span.clone()).await?)
    };
    answer(status, etag, body, size, &span, &how)
}

/// What a request wants of `size` bytes: the status and the span, or the
/// whole answer (304, 416).
fn wanted(
    headers: &HeaderMap,
    size: u64,
    etag: &str,
) -> Result<(StatusCode, std::ops::Range<u64>), Box<Response>> {
    if header_str(headers, header::IF_NONE_MATCH).is_some_and(|v| matches_etag(v, etag)) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        headers_of(resp.headers_mut(), etag);
        return Err(Box::new(resp));
    }
    let range_header = match header_str(headers, header::IF_RANGE) {
        Some(v) if v.trim() != etag => None,
        _ => header_str(headers, header::RANGE),
    };
    match range::parse(range_header, size) {
        Wanted::Whole => Ok((StatusCode::OK, 0..size)),
        Wanted::Part(r) => Ok((StatusCode::PARTIAL_CONTENT, r)),
        Wanted::Unsatisfiable => {
            // The header is echoed clipped, by characters, never by bytes.
            let asked: String = range_header.unwrap_or("").chars().take(100).collect();
            let resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("range {asked} cannot be served from {size} bytes"),
            );
            let mut resp = axum::response::IntoResponse::into_response(resp);
            resp.headers_mut()
                .insert(header::CONTENT_RANGE, value(&format!("bytes */{size}")));
            Err(Box::new(resp))
        }
    }
}

/// The answer with its content headers.
fn answer(
    status: StatusCode,
    etag: &str,
    body: Body,
    size: u64,
    span: &std::ops::Range<u64>,
    how: &Presentation,
) -> ApiResult<Response> {
    let len = span.end - span.start;
    build(status, etag, body, |h| {
        h.insert(header::CONTENT_LENGTH, value(&len.to_string()));
        h.insert(header::CONTENT_TYPE, value(&how.content_type));
        if status == StatusCode::PARTIAL_CONTENT {
            h.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes {}-{}/{size}", span.start, span.end - 1)),
            );
        }
        if let Some(name) = &how.file_name {
            h.insert(
                header::CONTENT_DISPOSITION,
                disposition(name, how.attachment),
            );
        }
    })
}

fn build(
    status: StatusCode,
    etag: &str,
    body: Body,
    extra: impl FnOnce(&mut HeaderMap),
) -> ApiResult<Response> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    headers_of(h, etag);
    extra(h);
    Ok(resp)
}

/// What every content answer carries: the validator, ranges, caching.
fn headers_of(h: &mut HeaderMap, etag: &str) {
    h.insert(header::ETAG, value(etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn matches_etag(header: &str, etag: &str) -> bool {
    header.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
    })
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `inline` or `attachment`, with an ASCII fallback name and the exact
/// UTF-8 name in `filename*` (RFC 6266).
fn disposition(name: &str, attachment: bool) -> HeaderValue {
    let kind = if attachment { "attachment" } else { "inline" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    value(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
}

/// The one byte range a request asks for (`bytes=a-b` or `bytes=a-`), to
/// pass on to a remote source; none for anything else.
pub fn asked_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let spec = header_str(headers, header::RANGE)?
        .trim()
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (from, to) = spec.split_once('-')?;
    let from: u64 = from.trim().parse().ok()?;
    let to = match to.trim() {
        "" => None,
        t => Some(t.parse::<u64>().ok().filter(|t| *t >= from)?),
    };
    Some((from, to))
}

/// Remote media read through the node, answered as the remote answered
/// it: status, length, range and type.
pub fn relay(bytes: cairn_node::RemoteBytes, method: &Method) -> Response {
    let mut resp = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from_stream(bytes.body))
    };
    *resp.status_mut() = StatusCode::from_u16(bytes.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(len) = bytes.length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(v) = bytes
        .content_range
        .and_then(|r| HeaderValue::from_str(&r).ok())
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    let kind = bytes
        .content_type
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, kind);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_is_passed_on_and_nothing_else() {
        let mut h = HeaderMap::new();
        assert_eq!(asked_range(&h), None);
        for (asked, want) in [
            ("bytes=10-19", Some((10, Some(19)))),
            ("bytes=5-", Some((5, None))),
            ("bytes=9-3", None),
            ("bytes=-5", None),
            ("bytes=0-1,4-5", None),
            ("items=0-1", None),
        ] {
            h.insert(header::RANGE, HeaderValue::from_static(asked));
            assert_eq!(asked_range(&h), want, "{asked}");
        }
    }

    #[test]
    fn dispositions_escape_quotes_and_encode_utf8() {
        let v = disposition("a \"b\" é.mp4", true);
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"a _b_ _.mp4\"; filename*=UTF-8''a%20%22b%22%20%C3%A9.mp4"
        );
    }

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        assert!(matches_etag("\"x\", \"y\"", "\"y\""));
        assert!(matches_etag("W/\"y\"", "\"y\""));
        assert!(matches_etag("*", "\"y\""));
        assert!(!matches_etag("\"z\"", "\"y\""));
    }
}
