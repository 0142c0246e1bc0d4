//! The OpenAPI 3.1 document of the native API, served at
//! `/api/v1/openapi.json`, generated from the code.
//!
//! Every native call is registered in the router through its handler's
//! `#[utoipa::path]` (`utoipa_axum::routes!`), so a call cannot exist
//! without its place in the document, and the schemas are derived from the
//! very types the handlers read and answer (the engine's, under its
//! `openapi` feature). What the extractors refuse is the same for every
//! call that takes input, so `finish` adds it from each operation's
//! shape rather than each handler repeating it: 400 for a call with
//! parameters or a body, 413 for a body, 415 for a JSON body, 401 for a
//! call behind the admin secret. It also declares the security schemes,
//! names the operations, and adds the links a client (or a stateful
//! fuzzer) follows from one answer to the next call.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::error::ErrorBody;

/// The document's root: what the handlers do not say.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cairn",
        description = "cairn's native API. Every call but the document itself, play links and the paid-file \
                       calls needs the admin secret (`<data dir>/apisecret`), as \
                       `Authorization: Bearer <secret>` or an `api_secret` header. Every \
                       error is `{\"code\", \"message\"}` with a stable code.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "node", description = "The node itself."),
        (name = "entries", description = "The tree of folders and files, uploads, imports, fetches."),
        (name = "links", description = "Share links of files: opened by whoever holds one, until it ends or is revoked."),
        (name = "resumable", description = "Resumable uploads over tus 1.0: create, append from where an upload stands, ask where that is, drop."),
        (name = "blobs", description = "Content by digest or link."),
        (name = "jobs", description = "Long work with progress and cancel."),
        (name = "accounts", description = "Gateway accounts."),
        (name = "keys", description = "The identity, its backup, and its RSA keys."),
        (name = "paid", description = "Paid files and the ledger."),
        (name = "network", description = "Peers, suppliers, customers, placement, repair, the DHT, the people seen and friends."),
        (name = "groups", description = "Conversations among several identities, sealed under each group's key."),
        (name = "shares", description = "Folders other identities read from the network, and the shares granted to this node."),
        (name = "settings", description = "The node's config read and changed at run time, kept across restarts (applied now where the running node can, else at the next start)."),
        (name = "services", description = "The node's long-running loops (repair, serving shards, backups, messages, …): stopped and started at run time, kept so across restarts."),
    )
)]
pub(crate) struct Base;

/// The root the routes are added to.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// The document, as served.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(crate::native_api())
            .unwrap_or_else(|e| json!({ "error": e.to_string() }));
        finish(&mut doc);
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    })
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The finishing touches (see the module's doc).
fn finish(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer" },
        "header": { "type": "apiKey", "in": "header", "name": "api_secret" },
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(op) = item.get_mut(method) {
                finish_operation(path, op);
            }
        }
        add_head(item);
    }
    add_links(paths);
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn finish_operation(path: &str, op: &mut Value) {
    if let Some(id) = op["operationId"].as_str() {
        let id = id.strip_prefix("h_").unwrap_or(id).to_owned();
        op["operationId"] = Value::String(id);
    }
    if op.get("security").is_none() {
        op["security"] = json!([{ "bearer": [] }, { "header": [] }]);
    }
    let open = op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(Map::is_empty)));
    let takes_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
    let body = op["requestBody"]["content"].as_object().cloned();
    let responses = op["responses"].as_object_mut();
    let Some(responses) = responses else { return };
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    };
    if !open {
        add("401", "The admin secret is missing or wrong.");
    }
    if takes_params || body.is_some() || path.ends_with("/events") {
        add(
            "400",
            "A parameter or the body is malformed, or breaks a rule the document states.",
        );
    }
    if let Some(body) = body {
        add("413", "The body is over the limit.");
        if body.contains_key("application/json") {
            add("415", "The body is not `application/json`.");
        }
    }
}

/// A content call answers `HEAD` as `GET` without the body (axum routes
/// `HEAD` to every `GET`): documented for the calls whose bodies are
/// content, since that is where a client asks for the headers alone.
fn add_head(item: &mut Value) {
    let is_content = item["get"]["responses"]["200"]["content"]
        .as_object()
        .is_some_and(|c| c.contains_key("*/*"));
    if !is_content {
        return;
    }
    let mut head = item["get"].clone();
    if let Some(id) = head["operationId"].as_str() {
        head["operationId"] = Value::String(format!("{id}_head"));
    }
    for status in ["200", "206"] {
        if let Some(response) = head["responses"]
            .get_mut(status)
            .and_then(Value::as_object_mut)
        {
            response.remove("content");
        }
    }
    item["head"] = head;
}

/// Links from an answer to the calls on what it names: what a client
/// does next, and what a stateful fuzzer follows.
fn add_links(paths: &mut Map<String, Value>) {
    let on_entry = |id: &str| {
        json!({
            "GetEntry": { "operationId": "entry", "parameters": { "id": id } },
            "GetEntryPath": { "operationId": "entry_path", "parameters": { "id": id } },
            "GetMetadata": { "operationId": "metadata", "parameters": { "id": id } },
            "SetMetadata": { "operationId": "set_metadata", "parameters": { "id": id } },
            "UpdateEntry": { "operationId": "update_entry", "parameters": { "id": id } },
            "DeleteEntry": { "operationId": "delete_entry", "parameters": { "id": id } },
        })
    };
    let mut link = |path: &str, method: &str, status: &str, links: Value| {
        if let Some(response) = paths
            .get_mut(path)
            .and_then(|item| item.get_mut(method))
            .and_then(|op| op["responses"].get_mut(status))
        {
            response["links"] = links;
        }
    };
    let mut folder = on_entry("$response.body#/id");
    folder["ListFolder"] =
        json!({ "operationId": "list", "parameters": { "parent": "$response.body#/id" } });
    link("/api/v1/folders", "post", "201", folder);
    let mut file = on_entry("$response.body#/entries/0/id");
    file["GetContent"] = json!({
        "operationId": "entry_content",
        "parameters": { "id": "$response.body#/entries/0/id" },
    });
    file["GetBlob"] = json!({
        "operationId": "blob",
        "parameters": { "digest": "$response.body#/entries/0/blob" },
    });
    link("/api/v1/upload", "post", "201", file);
    link(
        "/api/v1/accounts",
        "post",
        "201",
        json!({
            "GetAccount": { "operationId": "account", "parameters": { "login": "$response.body#/login" } },
            "UpdateAccount": { "operationId": "update_account", "parameters": { "login": "$response.body#/login" } },
            "Deposit": { "operationId": "account_deposit", "parameters": { "login": "$response.body#/login" } },
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if METHODS.contains(&method.as_str()) {
                    out.push((method.clone(), path.clone(), op.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_call_named() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let ops = operations(&doc);
        assert!(ops.len() >= 47, "{} operations", ops.len());
        let mut ids: Vec<&str> = ops
            .iter()
            .map(|(m, p, op)| {
                let id = op["operationId"].as_str();
                assert!(id.is_some_and(|i| !i.starts_with("h_")), "{m} {p}");
                id.unwrap()
            })
            .collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "operation ids are unique");
    }

    /// What the extractors refuse is documented (see `extract.rs`): any
    /// call with a parameter or a body can answer 400, any call with a body
    /// 413, any call with a JSON body 415; and every error is the one
    /// error schema.
    #[test]
    fn every_call_documents_its_refusals_as_the_error_schema() {
        for (method, path, op) in operations(&doc()) {
            let takes_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            let body = op["requestBody"]["content"].as_object();
            let mut want = Vec::new();
            if takes_params || body.is_some() {
                want.push("400");
            }
            if body.is_some() {
                want.push("413");
            }
            if body.is_some_and(|b| b.contains_key("application/json")) {
                want.push("415");
            }
            // The document and play links answer without the secret.
            if path != "/api/v1/openapi.json" && !path.starts_with("/api/v1/play/") {
                want.push("401");
            }
            for status in want {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    /// Every link names an operation the document has, with parameters it
    /// takes.
    #[test]
    fn links_lead_to_operations_that_exist() {
        let doc = doc();
        let ops = operations(&doc);
        let mut links = 0;
        for (_, _, op) in &ops {
            for response in op["responses"].as_object().unwrap().values() {
                for target in response["links"].as_object().into_iter().flatten() {
                    let (_, _, to) = ops
                        .iter()
                        .find(|(_, _, o)| o["operationId"] == target.1["operationId"])
                        .unwrap_or_else(|| panic!("no operation {}", target.1));
                    for name in target.1["parameters"].as_object().unwrap().keys() {
                        assert!(
                            to["parameters"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|p| p["name"] == name.as_str()),
                            "{} takes no {name}",
                            target.0
                        );
                    }
                    links += 1;
                }
            }
        }
        assert!(links >= 15, "{links} links");
    }
}
