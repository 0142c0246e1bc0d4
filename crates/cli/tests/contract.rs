//! The native API keeps its contract: schemathesis (from PyPI) reads the
//! document the node serves and fuzzes every call against the real
//! binary with every check it has: no server error, statuses, content
//! types, headers and bodies as documented, schema-valid input accepted,
//! schema-violating input refused, and the stateful phase that follows
//! the document's links (make a folder → list it → rename it → delete it;
//! upload → its entry, content, blob → delete). A fixed seed and a bounded
//! number of examples keep it reproducible and within a minute.
//!
//! Left out of the run, each for a reason of its own: `POST
//! /node/shutdown` and `POST /node/restart` (they would stop the node
//! under test), `GET /events` (a
//! WebSocket, which an HTTP fuzzer cannot speak), `POST /fetch` and
//! `POST /media/remote[/store]` (they would fetch whatever URL the fuzzer
//! makes up, from the internet; tests talk to 127.0.0.1 only, and
//! `fetch.rs` and `powder.rs` cover them).

mod common;

use std::process::Command;

use common::{Endpoint, TestNode};

/// Runs under `bash scripts/test.sh`, which builds a venv with
/// schemathesis (`target/schemathesis-venv`) and points
/// `CAIRN_SCHEMATHESIS` at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_api_holds_up_to_a_schema_driven_fuzzer() {
    let schemathesis = std::env::var("CAIRN_SCHEMATHESIS").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/schemathesis-venv/bin/schemathesis"
        );
        assert!(
            std::path::Path::new(venv).exists(),
            "schemathesis is missing: run `bash scripts/test.sh` once (it makes {venv}), \
             or set CAIRN_SCHEMATHESIS to a schemathesis 4 executable"
        );
        venv.to_owned()
    });
    let node = TestNode::start().await;
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/contract/schemathesis.toml"
    );
    let work = tempfile::tempdir().unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(&schemathesis)
            .current_dir(work.path())
            // Bytes for tus appends (`contract/tus_media.py`).
            .env(
                "PYTHONPATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract"),
            )
            .env("SCHEMATHESIS_HOOKS", "tus_media")
            .args(["--no-color", "--config-file", config, "run"])
            .arg(node.url("/openapi.json"))
            .args([
                "--header",
                &format!("Authorization: Bearer {}", node.secret),
            ])
            .args(["--checks", "all", "--seed", "1", "--max-examples", "20"])
            .args(["--generation-database", "none", "--workers", "1"])
            .args(["--request-timeout", "30"])
            .args(["--exclude-operation-id", "shutdown"])
            .args(["--exclude-operation-id", "restart"])
            .args(["--exclude-operation-id", "events"])
            // A long poll waits up to a minute for an event by design
            // (faults.rs tests it).
            .args(["--exclude-operation-id", "poll_events"])
            .args(["--exclude-operation-id", "fetch"])
            .args(["--exclude-operation-id", "media_remote"])
            .args(["--exclude-operation-id", "media_remote_store"])
            .output()
            .expect("run schemathesis")
    });
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It did test every operation it selected (all but the three left
    // out), and ran the stateful phase.
    let number = |label: &str| -> usize {
        let at = report
            .find(label)
            .unwrap_or_else(|| panic!("no {label}: {report}"));
        report[at + label.len()..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after {label}: {report}"))
    };
    assert!(number("Selected:") >= 40, "{report}");
    assert_eq!(number("Tested:"), number("Selected:"), "{report}");
    assert!(report.contains("Stateful"), "{report}");
    let (_, status) = node.get_json("/status").await;
    assert!(status["counts"]["files"].as_u64().unwrap() > 0, "{status}");
}

/// What a Python program does with the client generated from the
/// document: status, a folder, a file in it, the listing, a rename and a
/// delete, each through the typed calls and models.
const CLIENT_PROGRAM: &str = r#"
import io, sys
sys.path.insert(0, sys.argv[1])
from cairn_client import AuthenticatedClient
from cairn_client.api.entries import create_folder, delete_entry, list_, update_entry, upload
from cairn_client.api.node import status
from cairn_client.models import Entry, EntryChange, FolderBody, Page, Uploaded
from cairn_client.types import File

client = AuthenticatedClient(base_url=sys.argv[2], token=sys.argv[3], raise_on_unexpected_status=True)
node = status.sync(client=client)
assert node.node_id, node
folder = create_folder.sync(client=client, body=FolderBody(name="typed"))
assert isinstance(folder, Entry) and folder.kind.value == "folder", folder
stored = upload.sync(client=client, body=File(payload=io.BytesIO(b"hello, typed"), file_name="h.txt"),
                     name="h.txt", parent=folder.id)
assert isinstance(stored, Uploaded) and stored.entries[0].size == 12, stored
page = list_.sync(client=client, parent=folder.id)
assert isinstance(page, Page) and [e.name for e in page.entries] == ["h.txt"], page
renamed = update_entry.sync(client=client, id=stored.entries[0].id, body=EntryChange(name="g.txt"))
assert isinstance(renamed, Entry) and renamed.name == "g.txt", renamed
gone = delete_entry.sync(client=client, id=folder.id, recursive=True)
assert gone.deleted == folder.id and gone.blobs_removed == 1, gone
print("typed client ok")
"#;

/// The document is good enough for a client generator: a typed Python
/// client generated from it by openapi-python-client (PyPI) drives the
/// node. Runs under `bash scripts/test.sh`, which builds its venv
/// (`target/openapi-client-venv`) and points `CAIRN_OPENAPI_CLIENT_BIN` at
/// its `bin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_drives_the_node() {
    let bin = std::env::var("CAIRN_OPENAPI_CLIENT_BIN").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/openapi-client-venv/bin"
        );
        assert!(
            std::path::Path::new(venv)
                .join("openapi-python-client")
                .exists(),
            "openapi-python-client is missing: run `bash scripts/test.sh` once (it makes {venv}), \
             or set CAIRN_OPENAPI_CLIENT_BIN to the bin folder of a venv that has it"
        );
        venv.to_owned()
    });
    let bin = std::path::PathBuf::from(bin);
    let node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let doc = node
        .http
        .get(node.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(work.path().join("openapi.json"), doc).unwrap();
    let generated = tokio::task::block_in_place(|| {
        Command::new(bin.join("openapi-python-client"))
            .current_dir(work.path())
            .args(["generate", "--path", "openapi.json", "--meta", "none"])
            .args(["--output-path", "cairn_client"])
            .output()
            .expect("run openapi-python-client")
    });
    assert!(
        generated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    // The document's paths are whole (`/api/v1/...`).
    let base = node.root_url("");
    let ran = tokio::task::block_in_place(|| {
        Command::new(bin.join("python"))
            .arg("-c")
            .arg(CLIENT_PROGRAM)
            .arg(work.path())
            .arg(&base)
            .arg(&node.secret)
            .output()
            .expect("run the client")
    });
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && out.contains("typed client ok"),
        "{out}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let (_, status) = node.get_json("/status").await;
    assert_eq!(
        status["counts"]["files"], 0,
        "the client deleted what it made"
    );
}
