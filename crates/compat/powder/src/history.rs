//! History (§5), kept by the library per account: a torrent's file is
//! `torrent:<hash>:<file>`, a local entry's file its entry id, a
//! youtube-dl link `web:<page>`; the name the player gave is the title.

use axum::response::Response;
use cairn_node::Watched;
use serde_json::{Value, json};

use crate::actions::Call;
use crate::{empty, fail, json};

/// Most items `historyList` answers.
const MAX_ITEMS: u32 = 1000;

/// The library subject of Powder's `infohash` and `fileID`.
async fn subject(call: &Call, infohash: &str, file: &str) -> Result<String, String> {
    let file: usize = file
        .trim()
        .parse()
        .map_err(|_| "fileID must be a file index".to_owned())?;
    if infohash.len() == 40 && infohash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(format!("torrent:{}:{file}", infohash.to_ascii_lowercase()));
    }
    if let Some(y) = call.state.books.ytdl(infohash) {
        return Ok(format!("web:{}", y.page));
    }
    let local = infohash
        .parse::<i64>()
        .ok()
        .and_then(|pid| call.state.books.local(pid))
        .ok_or_else(|| "Unknown history item".to_owned())?;
    if !local.folder {
        return Ok(local.entry);
    }
    let files = crate::streams::folder_files(&call.state, &local.entry)
        .await
        .map_err(|e| e.to_string())?;
    files
        .get(file)
        .map(|e| e.id.clone())
        .ok_or_else(|| "Unknown history item".to_owned())
}

/// A float parameter; Powder's UI sends them as text.
fn seconds(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

pub(crate) async fn update(call: &Call) -> Response {
    let subject = match subject(call, call.param("infohash"), call.param("fileID")).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let Some(time) = seconds(call.param("time")) else {
        return fail("time must be a number of seconds");
    };
    let duration = seconds(call.param("duration")).filter(|d| *d > 0.0);
    let ended = call.param("ended") == "true";
    let title = Some(call.param("filename")).filter(|t| !t.is_empty());
    match call
        .state
        .node
        .library()
        .watched(
            &call.caller.viewer(),
            &subject,
            title,
            time.max(0.0),
            duration,
            ended,
        )
        .await
    {
        Ok(_) => empty(),
        Err(e) => fail(e),
    }
}

/// A HistoryItem (§5.2) as Powder read them back.
async fn item(call: &Call, w: &Watched) -> Value {
    if let Some(page) = w.subject.strip_prefix("web:") {
        return json!({
            "method": "updateHistory",
            "filename": w.title.clone().unwrap_or_default(),
            "time": w.position.to_string(),
            "duration": w.duration.map(|d| d.to_string()).unwrap_or_default(),
            "infohash": crate::books::ytdl_pid(page),
            "fileID": "0",
            "ended": if w.ended { json!("true") } else { json!(false) },
            "isLocal": false,
            "isYtdl": "1",
            "utime": w.updated,
        });
    }
    let (infohash, file, local) = match w.subject.strip_prefix("torrent:") {
        Some(rest) => {
            let (hash, file) = rest.split_once(':').unwrap_or((rest, "0"));
            (hash.to_owned(), file.to_owned(), false)
        }
        None => match local_of(call, &w.subject).await {
            Some((pid, index)) => (pid.to_string(), index.to_string(), true),
            // No longer listed: the entry id.
            None => (w.subject.clone(), "0".to_owned(), true),
        },
    };
    json!({
        "method": "updateHistory",
        "filename": w.title.clone().unwrap_or_default(),
        "time": w.position.to_string(),
        "duration": w.duration.map(|d| d.to_string()).unwrap_or_default(),
        "infohash": infohash,
        "fileID": file,
        "ended": if w.ended { json!("true") } else { json!(false) },
        "isLocal": local,
        "isYtdl": false,
        "utime": w.updated,
    })
}

/// The local entry (its pid) and the index in it of stored file `id`: a
/// file listed itself, or one in a folder listed.
async fn local_of(call: &Call, id: &str) -> Option<(i64, usize)> {
    let locals = call.state.books.locals();
    if let Some((pid, _)) = locals.iter().find(|(_, l)| !l.folder && l.entry == id) {
        return Some((*pid, 0));
    }
    for (pid, l) in locals.iter().filter(|(_, l)| l.folder) {
        let Ok(files) = crate::streams::folder_files(&call.state, &l.entry).await else {
            continue;
        };
        if let Some(index) = files.iter().position(|f| f.id == id) {
            return Some((*pid, index));
        }
    }
    None
}

async fn items(call: &Call) -> Result<Vec<Watched>, Response> {
    call.state
        .node
        .library()
        .history(&call.caller.viewer(), 0, MAX_ITEMS)
        .await
        .map_err(fail)
}

pub(crate) async fn list(call: &Call) -> Response {
    match items(call).await {
        Ok(list) if list.is_empty() => fail("No History Items"),
        Ok(list) => {
            let mut out = Vec::with_capacity(list.len());
            for w in &list {
                out.push(item(call, w).await);
            }
            json(Value::Array(out))
        }
        Err(resp) => resp,
    }
}

pub(crate) async fn newest(call: &Call) -> Response {
    match items(call).await {
        Ok(list) => match list.first() {
            Some(w) => json(item(call, w).await),
            None => fail("No History Items"),
        },
        Err(resp) => resp,
    }
}

pub(crate) async fn have(call: &Call) -> Response {
    match items(call).await {
        Ok(list) => json(json!({ "value": !list.is_empty() })),
        Err(resp) => resp,
    }
}

/// `removeHistoryItem&id=<index in historyList>`.
pub(crate) async fn remove(call: &Call) -> Response {
    let list = match items(call).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let Some(w) = serde_json::from_str::<usize>(call.param("id"))
        .ok()
        .and_then(|i| list.get(i))
    else {
        return empty();
    };
    match call
        .state
        .node
        .library()
        .forget(&call.caller.viewer(), Some(&w.subject))
        .await
    {
        Ok(_) => empty(),
        Err(e) => fail(e),
    }
}
