//! Admin authentication: the node's secret in `Authorization: Bearer`, an
//! `api_secret` header, or (for players and browsers that cannot set
//! headers) an `api_secret` query parameter, compared in constant time;
//! or the operator's web session (`crate::web`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Rejects requests without the admin secret, or the operator's web
/// session (its cookie; with its CSRF token on every call that changes
/// something, and no other site's `Origin`).
pub async fn require_secret(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if presented(&req).is_some_and(|s| equal(s.as_bytes(), state.node.api_secret().as_bytes())) {
        return next.run(req).await;
    }
    let (headers, method) = (req.headers().clone(), req.method().clone());
    match crate::web::operator_session(&state.node, &headers, &method).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn presented(req: &Request) -> Option<String> {
    presented_in(req.headers(), req.uri())
}

/// The secret a request presents (header or query), if any.
pub fn presented_in(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(token) = v.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_owned());
    }
    if let Some(v) = headers.get("api_secret").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    let query = uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "api_secret")
        .map(|(_, v)| v)
}

/// Whether `presented` is the node's secret.
pub fn is_secret(node: &cairn_node::Node, presented: &str) -> bool {
    equal(presented.as_bytes(), node.api_secret().as_bytes())
}

/// Compares two byte strings in time that depends on their lengths only.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare_is_exact() {
        assert!(super::equal(b"abc", b"abc"));
        assert!(!super::equal(b"abc", b"abd"));
        assert!(!super::equal(b"abc", b"abcd"));
    }
}
