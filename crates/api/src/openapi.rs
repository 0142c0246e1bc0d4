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

    /// What the extractors refuse is documented (see `extract.rs`): any
    /// call with a parameter or a body can answer 400, any call with a body
    /// 413, any call with a JSON body 415.
    #[test]
    fn every_call_that_takes_input_documents_its_refusals() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let common = item["parameters"].as_array().cloned().unwrap_or_default();
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                let mut params = common.clone();
                params.extend(op["parameters"].as_array().cloned().unwrap_or_default());
                let takes_params = params
                    .iter()
                    .any(|p| matches!(p["in"].as_str(), Some("path" | "query")));
                let body = op["requestBody"]["content"].as_object();
                let mut want = Vec::new();
                if takes_params || body.is_some() || path.ends_with("/events") {
                    want.push("400");
                }
                if body.is_some() {
                    want.push("413");
                }
                if body.is_some_and(|b| b.contains_key("application/json")) {
                    want.push("415");
                }
                for status in want {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
        }
    }
}
