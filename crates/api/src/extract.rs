//! The native API's extractors: axum's `Json`, `Query` and `Path`, whose
//! refusals are [`ApiError`]s.
//!
//! axum answers what its extractors refuse in plain text, and a JSON body
//! that parses but does not fit the call's type with 422. The native API
//! documents one error shape, `{"code", "message"}`, for every failure, and
//! answers a field of the wrong type that a handler checks by hand with 400
//! `invalid`; so the same mistake caught by an extractor is answered the
//! same way (RFC 9110 allows 400 for any client error it does not name
//! more precisely). The refusals RFC 9110 names keep their status: a
//! missing or wrong content type (415 `unsupported_media_type`), a body
//! over the limit (413 `too_large`), and the few a WebSocket handshake can
//! meet (405, 426; code `invalid`).

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;

use crate::error::ApiError;

/// A JSON body (`Content-Type: application/json`) that is a JSON object
/// (every native body is one: an array is not read as a struct's fields
/// in order), refused as an [`ApiError`]. It is read from the body's
/// bytes, so a field may keep its number's text ([`whole`]).
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        object(&bytes).map(Self)
    }
}

/// The body of a request that says it is JSON.
async fn json_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be sent with `Content-Type: application/json`",
        ));
    }
    Ok(axum::body::Bytes::from_request(req, state).await?)
}

/// Whether the request says its body is JSON (`application/json`, or any
/// `application/…+json`).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body as a `T`, if it is a JSON object.
fn object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::invalid("bad JSON body: it must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("bad JSON body: {e}")))
}

/// The query string, refused as an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// The route's path parameters, refused as an [`ApiError`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);

/// An optional JSON body: none without a `Content-Type` (or a body that is
/// JSON's `null`), else as [`JsonBody`].
impl<T, S> OptionalFromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(None);
        }
        let bytes = json_bytes(req, state).await?;
        if bytes.trim_ascii() == b"null" {
            return Ok(None);
        }
        object(&bytes).map(|v| Some(Self(v)))
    }
}

/// What an extractor refused, by the status axum gives it.
fn refused(status: StatusCode, what: &str, detail: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "too_large", detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "unsupported_media_type", detail)
        }
        s if s.is_server_error() => {
            // A route and its handler that do not agree: a bug, not input.
            tracing::error!(what, detail, "extractor failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
        }
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::invalid(format!("bad {what}: {detail}"))
        }
        s => ApiError::new(s, "invalid", format!("bad {what}: {detail}")),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        refused(e.status(), "JSON body", e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        refused(e.status(), "query string", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        refused(e.status(), "path", e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        refused(e.status(), "body", e.body_text())
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(e: WebSocketUpgradeRejection) -> Self {
        refused(e.status(), "WebSocket handshake", e.body_text())
    }
}

/// The whole number a JSON number's text denotes exactly, in any of JSON's
/// notations (`5`, `5.0`, `5e3`, `0.5e1`), if it is one and fits in a
/// `u64`. JSON Schema counts `5.0` as an integer; reading the text rather
/// than a float means no number is ever rounded into one.
pub fn whole(text: &str) -> Option<u64> {
    let t = text.trim();
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => {
            let e = &unsigned[i + 1..];
            (
                &unsigned[..i],
                e.strip_prefix('+').unwrap_or(e).parse::<i32>().ok()?,
            )
        }
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = format!("{int}{frac}").trim_start_matches('0').to_owned();
    let mut exp = i64::from(exp) - frac.len() as i64;
    while exp < 0 && digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        return Some(0);
    }
    if negative || !(0..=20).contains(&exp) {
        return None;
    }
    let mut n: u64 = digits.parse().ok()?;
    for _ in 0..exp {
        n = n.checked_mul(10)?;
    }
    Some(n)
}

/// A `u64` field read with [`whole`]: `5`, `5.0` and `5e0` are 5; `null`
/// is `None`.
pub(crate) fn whole_u64<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Box<serde_json::value::RawValue> = serde::Deserialize::deserialize(d)?;
    if raw.get() == "null" {
        return Ok(None);
    }
    whole(raw.get()).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{} is not a whole number from 0 to {}",
            raw.get(),
            u64::MAX
        ))
    })
}

/// A list of indexes, each read with [`whole`] (`[0, 2.0, 3e0]`).
pub(crate) fn whole_indexes<'de, D>(d: D) -> Result<Vec<usize>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Vec<Box<serde_json::value::RawValue>> = serde::Deserialize::deserialize(d)?;
    indexes(&raw)
}

/// [`whole_indexes`] for an optional list (`null` or absent: `None`).
pub(crate) fn whole_indexes_opt<'de, D>(d: D) -> Result<Option<Vec<usize>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: Option<Vec<Box<serde_json::value::RawValue>>> = serde::Deserialize::deserialize(d)?;
    raw.map(|r| indexes(&r)).transpose()
}

fn indexes<E: serde::de::Error>(raw: &[Box<serde_json::value::RawValue>]) -> Result<Vec<usize>, E> {
    raw.iter()
        .map(|r| {
            whole(r.get())
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| E::custom(format!("{} is not an index", r.get())))
        })
        .collect()
}

/// [`whole_u64`] for a field whose `null` means something: present (maybe
/// `null`) is `Some`, absent stays `None` (with `#[serde(default)]`).
pub(crate) fn present_whole_u64<'de, D>(d: D) -> Result<Option<Option<u64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    whole_u64(d).map(Some)
}

/// A field that is present (maybe `null`) as `Some`; absent fields stay
/// `None` (with `#[serde(default)]`).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_documented_codes() {
        let cases = [
            (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST, "invalid"),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::BAD_REQUEST,
                "invalid",
            ),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
            (
                StatusCode::UPGRADE_REQUIRED,
                StatusCode::UPGRADE_REQUIRED,
                "invalid",
            ),
        ];
        for (axum_status, status, code) in cases {
            let e = refused(axum_status, "JSON body", "detail".into());
            assert_eq!((e.status, e.code), (status, code), "{axum_status}");
            assert!(e.message.contains("detail"));
        }
    }
}
