//! The OpenAPI 3.1 document of the native API, served at
//! `/api/v1/openapi.json`.
//!
//! It is written by hand (a generator would put a proc-macro dependency on
//! every type of the node crate); the test below keeps it honest by
//! checking that it lists exactly the routes of [`ROUTES`], which the
//! router tests in turn check against the real router.

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Every route of the native API as (method, path under `/api/v1`).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/openapi.json"),
    ("get", "/status"),
    ("post", "/node/shutdown"),
    ("post", "/upload"),
    ("post", "/import"),
    ("post", "/fetch"),
    ("get", "/entries"),
    ("post", "/folders"),
    ("get", "/entries/{id}"),
    ("patch", "/entries/{id}"),
    ("delete", "/entries/{id}"),
    ("get", "/entries/{id}/path"),
    ("get", "/entries/{id}/metadata"),
    ("patch", "/entries/{id}/metadata"),
    ("get", "/entries/{id}/content"),
    ("head", "/entries/{id}/content"),
    ("get", "/blobs/{digest}"),
    ("get", "/blobs/{digest}/content"),
    ("head", "/blobs/{digest}/content"),
    ("get", "/accounts"),
    ("post", "/accounts"),
    ("get", "/accounts/{login}"),
    ("patch", "/accounts/{login}"),
    ("post", "/accounts/{login}/deposit"),
    ("get", "/network"),
    ("get", "/network/peers"),
    ("get", "/network/customers"),
    ("post", "/network/customers/{owner}/reject"),
    ("get", "/network/repair"),
    ("post", "/network/suppliers/{position}"),
    ("post", "/network/ping/{peer}"),
    ("get", "/network/dht/{key}"),
    ("put", "/network/dht/{key}"),
    ("get", "/network/find/{peer}"),
    ("get", "/network/nick/{name}"),
    ("post", "/blobs/{digest}/place"),
    ("get", "/blobs/{digest}/link"),
    ("post", "/blobs/{digest}/drop-local"),
    ("get", "/jobs"),
    ("get", "/jobs/{id}"),
    ("post", "/jobs/{id}/cancel"),
    ("get", "/events"),
    ("get", "/ledger"),
    ("get", "/paid/{id}"),
    ("post", "/paid/{id}/buy"),
    ("get", "/paid/{id}/content"),
    ("head", "/paid/{id}/content"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut listed = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    listed.push((method.clone(), path.clone()));
                }
            }
        }
        let mut want: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), format!("/api/v1{p}")))
            .collect();
        listed.sort();
        want.sort();
        assert_eq!(listed, want);
    }
}
