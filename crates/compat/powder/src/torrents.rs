//! Torrent methods (§3.2, §3.3) and Powder's torrent shapes (§4.1–4.3),
//! over `node.torrents()`.

use std::time::Duration;

use axum::response::Response;
use cairn_node::{AddOptions, TorrentFileInfo, TorrentInfo, TorrentSource, TorrentState};
use serde_json::{Map, Value, json};

use crate::actions::Call;
use crate::books::Address;
use crate::{AppState, empty, fail, json, not_found};

/// How long a call waits for a magnet's metadata.
const METADATA_WAIT: Duration = Duration::from_secs(30);

/// Extensions Powder streams (§4.2).
const STREAMABLE: &[&str] = &[
    "mkv", "avi", "mp4", "m4v", "mpg", "mpeg", "webm", "flv", "ogg", "ogv", "mov", "wmv", "3gp",
    "3g2", "m2v", "real", "m2ts", "m4a", "mp3", "flac", "wma", "wav",
];

/// Whether Powder counts the file as one it streams.
pub(crate) fn streamable(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| STREAMABLE.contains(&ext.to_ascii_lowercase().as_str()))
}

/// A file's last path component.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Whether the torrent runs (Powder's `running`): not paused, not failed.
fn running(info: &TorrentInfo) -> bool {
    !matches!(info.state, TorrentState::Paused | TorrentState::Error)
}

/// The AddressEntry of a torrent (§4.1, a live engine's field order).
fn address_json(info: &TorrentInfo, a: &Address) -> Value {
    json!({
        "opener": a.opener,
        "utime": a.utime,
        "infoHash": info.info_hash,
        "name": info.name.clone().unwrap_or_default(),
        "totalSize": info.total_bytes,
        "path": false,
        "downloaded": info.done_bytes,
        "downloadSpeed": info.download_bps,
        "uploaded": info.uploaded_bytes,
        "uploadSpeed": info.upload_bps,
        "uploadedStart": 0,
        "peers": info.peers,
        "pulsing": info.download_limit_bps.map_or(json!(false), |b| json!(b / 1000)),
        "forced": a.forced,
    })
}

/// The torrent's address, made for one added elsewhere (the native API).
fn address_of(state: &AppState, info: &TorrentInfo) -> Address {
    state
        .books
        .address(
            &info.info_hash,
            &format!("magnet:?xt=urn:btih:{}", info.info_hash),
        )
        .0
}

pub(crate) async fn getall(call: &Call) -> Response {
    let list = match call.state.node.torrents().list().await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let mut all = Map::new();
    for info in &list {
        let mut v = address_json(info, &address_of(&call.state, info));
        v["running"] = json!(running(info));
        all.insert(info.info_hash.clone(), v);
    }
    json(Value::Object(all))
}

pub(crate) async fn update(call: &Call) -> Response {
    let list = match call.state.node.torrents().list().await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let id = call.param("id");
    if id.is_empty() {
        let running: Vec<Value> = list
            .iter()
            .filter(|i| running(i))
            .map(|i| address_json(i, &address_of(&call.state, i)))
            .collect();
        return json(Value::Array(running));
    }
    let hash = id
        .parse::<i64>()
        .ok()
        .and_then(|u| call.state.books.hash_of(u));
    match list
        .iter()
        .find(|i| Some(&i.info_hash) == hash.as_ref() && running(i))
    {
        Some(info) => json(address_json(info, &address_of(&call.state, info))),
        None => not_found(),
    }
}

pub(crate) async fn have(call: &Call) -> Response {
    let hash = call.param("id").to_ascii_lowercase();
    let known = call.state.node.torrents().info(&hash).await.is_ok();
    json(json!({ "value": known }))
}

/// What `new` and `embedStart` add: a magnet, a bare info hash, a
/// `.torrent` URL (fetched as every remote URL is, or as the master's
/// Jackett is when it lies under `jackett`), or (the master) a
/// `.torrent` file's absolute path under the import roots.
fn source_of(link: &str, master: bool, jackett: Option<&str>) -> Result<TorrentSource, String> {
    let link = link.trim();
    if link.starts_with("magnet:") {
        return Ok(TorrentSource::Magnet(link.to_owned()));
    }
    if link.len() == 40 && link.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(TorrentSource::Magnet(link.to_ascii_lowercase()));
    }
    if link.starts_with('/') {
        return if master {
            Ok(TorrentSource::Path(link.into()))
        } else {
            Err("Unsupported source: only the master key adds local files".into())
        };
    }
    if link.starts_with("http://") || link.starts_with("https://") {
        let trusted = jackett.is_some_and(|host| !host.is_empty() && link.starts_with(host));
        return Ok(TorrentSource::Url {
            url: link.to_owned(),
            trusted,
        });
    }
    Err("Unsupported source".into())
}

/// Adds `link` (or finds it added): its info and address, and whether it
/// was new.
async fn added(
    state: &AppState,
    link: &str,
    master: bool,
) -> Result<(TorrentInfo, Address, bool), String> {
    // Jackett's links point at the Jackett the master configured.
    let jackett =
        (!state.settings.str("jackettKey").is_empty()).then(|| state.settings.str("jackettHost"));
    let source = source_of(link, master, jackett.as_deref())?;
    let torrents = state.node.torrents();
    let info = torrents
        .add(source, AddOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let (address, new) = state.books.address(&info.info_hash, link);
    if new && !state.settings.flag("downloadAll", true) {
        first_file_only(state.clone(), info.info_hash.clone());
    }
    Ok((info, address, new))
}

/// With `downloadAll` off, a new torrent downloads its first streamable
/// file only, as on Powder: chosen once its metadata is here.
fn first_file_only(state: AppState, hash: String) {
    tokio::spawn(async move {
        let info = match started(&state, &hash).await {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(torrent = %hash, error = %e, "no files to choose from");
                return;
            }
        };
        let first = display_files(&info)
            .into_iter()
            .find(|(_, streams)| *streams)
            .map(|(f, _)| f.index);
        if let Some(first) = first
            && let Err(e) = state.node.torrents().select(&hash, &[first]).await
        {
            tracing::info!(torrent = %hash, error = %e, "the first file was not chosen");
        }
    });
}

pub(crate) async fn add(call: &Call) -> Response {
    let link = call.param("torrent");
    if link.is_empty() {
        return fail("Unsupported source");
    }
    match added(&call.state, link, call.caller.is_master()).await {
        Ok((info, a, new)) => {
            let utime = if new {
                json!(a.utime)
            } else {
                json!(a.utime.to_string())
            };
            json(json!({
                "opener": a.opener,
                "utime": utime,
                "infoHash": info.info_hash,
                "name": info.name.clone().unwrap_or_default(),
                "totalSize": info.total_bytes,
                "path": false,
                "peers": info.peers,
                "uploadedStart": 0,
                "uploadSpeed": info.upload_bps,
                "uploaded": info.uploaded_bytes,
                "downloadSpeed": info.download_bps,
                "downloaded": info.done_bytes,
            }))
        }
        Err(e) => fail(e),
    }
}

pub(crate) async fn is_listening(call: &Call) -> Response {
    let Some(hash) = call
        .param("utime")
        .parse::<i64>()
        .ok()
        .and_then(|u| call.state.books.hash_of(u))
    else {
        return fail("Unknown torrent id");
    };
    match call.state.node.torrents().info(&hash).await {
        Ok(info) => json(json!({
            "value": !matches!(info.state, TorrentState::Resolving | TorrentState::Error)
        })),
        Err(e) => fail(e),
    }
}

/// The torrent `id` names (an info hash, or a `utime`).
pub(crate) fn hash_of(state: &AppState, id: &str) -> Option<String> {
    if id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(id.to_ascii_lowercase());
    }
    id.parse::<i64>().ok().and_then(|u| state.books.hash_of(u))
}

/// Starts the torrent if it is paused, and waits (a while) for its
/// metadata, as Powder's calls that "start it first" did.
pub(crate) async fn started(
    state: &AppState,
    hash: &str,
) -> Result<TorrentInfo, cairn_node::NodeError> {
    let torrents = state.node.torrents();
    let mut info = torrents.info(hash).await?;
    if info.state == TorrentState::Paused {
        info = torrents.resume(hash).await?;
    }
    let deadline = tokio::time::Instant::now() + METADATA_WAIT;
    while info.state == TorrentState::Resolving && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        info = torrents.info(hash).await?;
    }
    if info.state == TorrentState::Resolving {
        return Err(cairn_node::NodeError::Unavailable(
            "the torrent's metadata has not arrived yet".into(),
        ));
    }
    Ok(info)
}

/// The files in Powder's display order (§4.2): the streamable ones
/// (episodes by season and episode, else in natural order), or all of
/// them, marked not streamable, when none is.
pub(crate) fn display_files(info: &TorrentInfo) -> Vec<(&TorrentFileInfo, bool)> {
    let mut files: Vec<&TorrentFileInfo> =
        info.files.iter().filter(|f| streamable(&f.path)).collect();
    let any = !files.is_empty();
    if !any {
        files = info.files.iter().collect();
    }
    let episodes = files.iter().any(|f| episode(base_name(&f.path)).is_some());
    files.sort_by(|a, b| {
        let (na, nb) = (base_name(&a.path), base_name(&b.path));
        if episodes {
            episode(na)
                .cmp(&episode(nb))
                .then_with(|| natural(na).cmp(&natural(nb)))
        } else {
            natural(na).cmp(&natural(nb))
        }
    });
    files.into_iter().map(|f| (f, any)).collect()
}

/// `S01E02` or `1x02` in a name: (season, episode).
fn episode(name: &str) -> Option<(u32, u32)> {
    let b = name.to_ascii_lowercase().into_bytes();
    let number = |from: usize| -> Option<(u32, usize)> {
        let end = (from..b.len())
            .find(|&i| !b[i].is_ascii_digit())
            .unwrap_or(b.len());
        (end > from && end - from <= 4)
            .then(|| {
                std::str::from_utf8(&b[from..end])
                    .ok()?
                    .parse()
                    .ok()
                    .map(|n| (n, end))
            })
            .flatten()
    };
    for i in 0..b.len() {
        if b[i] == b's'
            && (i == 0 || !b[i - 1].is_ascii_alphabetic())
            && let Some((s, at)) = number(i + 1)
            && b.get(at) == Some(&b'e')
            && let Some((e, _)) = number(at + 1)
        {
            return Some((s, e));
        }
        if b[i].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_digit())
            && let Some((s, at)) = number(i)
            && b.get(at) == Some(&b'x')
            && let Some((e, _)) = number(at + 1)
        {
            return Some((s, e));
        }
    }
    None
}

/// A key that sorts names with their numbers by value (`2` before `10`).
fn natural(name: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u64::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    key.push((text, digits.parse().unwrap_or(0)));
    key
}

/// Bytes as Powder printed them, `493.0 MB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// TorrentData (§4.3). `downloaded` of a file still coming is the bytes
/// here, in words (Powder printed a figure 100 times too large).
fn data_json(info: &TorrentInfo, a: &Address) -> Value {
    let files: Vec<Value> = display_files(info)
        .into_iter()
        .map(|(f, streams)| {
            let finished = f.size > 0 && f.done_bytes >= f.size;
            let progress = (f.done_bytes.saturating_mul(100))
                .checked_div(f.size)
                .map_or(100, |p| p.min(100));
            json!({
                "length": f.size,
                "id": f.index.to_string(),
                "name": base_name(&f.path),
                "streamable": streams,
                "progress": progress,
                "downloaded": if finished { json!(f.size) } else { json!(human(f.done_bytes)) },
                "selected": f.selected,
            })
        })
        .collect();
    let finished = info.total_bytes > 0 && info.done_bytes >= info.total_bytes;
    json!({
        "name": info.name.clone().unwrap_or_default(),
        "infoHash": info.info_hash,
        "swarm": {
            "wires": { "length": info.peers },
            "downloadSpeed": info.download_bps,
            "uploadSpeed": info.upload_bps,
            "downloaded": info.done_bytes,
            "uploaded": info.uploaded_bytes,
            "paused": info.state == TorrentState::Paused,
        },
        "total": { "length": info.total_bytes },
        "isFinished": finished,
        "opener": a.opener,
        "uploadedStart": 0,
        "files": files,
        "path": false,
    })
}

pub(crate) async fn data(call: &Call) -> Response {
    let Some(hash) = hash_of(&call.state, call.param("id")) else {
        return fail("Could not get torrent info");
    };
    match started(&call.state, &hash).await {
        Ok(info) => json(data_json(&info, &address_of(&call.state, &info))),
        Err(e) => {
            tracing::info!(torrent = %hash, error = %e, "torrentData failed");
            fail("Could not get torrent info")
        }
    }
}

pub(crate) async fn embed_start(call: &Call) -> Response {
    let id = call.param("id");
    let hash = match hash_of(&call.state, id) {
        Some(h) if call.state.node.torrents().info(&h).await.is_ok() => h,
        _ => match added(&call.state, id, call.caller.is_master()).await {
            Ok((info, _, _)) => info.info_hash,
            Err(e) => return fail(e),
        },
    };
    match started(&call.state, &hash).await {
        Ok(info) => json(json!({ "infoHash": info.info_hash })),
        Err(e) => fail(e),
    }
}

/// `cancel` (§3.3): remove with the data when `removeLogic` is 1 or
/// `force` without `noDelete`; else pause it (Powder, with neither flag
/// and `removeLogic` 0, only dropped it from its running list).
pub(crate) async fn cancel(call: &Call) -> Response {
    let hash = call.param("infohash").to_ascii_lowercase();
    let logic = call.state.settings.int("removeLogic");
    let force = call.q.contains_key("force");
    let keep = call.q.contains_key("noDelete");
    let torrents = call.state.node.torrents();
    if torrents.info(&hash).await.is_err() {
        // Nothing to cancel: done, as Powder answered at once.
        return empty();
    }
    let done = if logic == 1 || (force && !keep) {
        let removed = torrents.remove(&hash, true).await;
        if removed.is_ok() {
            call.state.books.forget(&hash);
        }
        removed
    } else {
        torrents.pause(&hash).await.map(|_| ())
    };
    match done {
        Ok(()) => empty(),
        Err(e) => fail(e),
    }
}

pub(crate) async fn speed_up(call: &Call) -> Response {
    let Some(keep) = hash_of(&call.state, call.param("id")) else {
        return empty();
    };
    let torrents = call.state.node.torrents();
    let list = match torrents.list().await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    for info in list.iter().filter(|i| i.info_hash != keep && running(i)) {
        if let Err(e) = torrents.pause(&info.info_hash).await {
            return fail(e);
        }
    }
    empty()
}

/// `speedPulsing&id=<utime>&max=<kB/s>`: limits the torrent to `max`
/// thousand bytes per second (at least 16384 B/s, the least the node
/// keeps); without `max`, lifts its limit. The node adds the torrent
/// again to change it (librqbit takes a limit only then).
pub(crate) async fn pulsing(call: &Call) -> Response {
    let Some(hash) = hash_of(&call.state, call.param("id")) else {
        return fail("Unknown torrent id");
    };
    let bps = match call.param("max") {
        "" => None,
        max => match max.trim().parse::<u64>() {
            Ok(k) => Some(k.saturating_mul(1000).clamp(16384, u64::from(u32::MAX)) as u32),
            Err(_) => return fail("max must be a whole number of kB/s"),
        },
    };
    match call.state.node.torrents().limit(&hash, bps).await {
        Ok(_) => empty(),
        Err(e) => fail(e),
    }
}

/// `forceDownload`: Powder's "forced" mode looked for peers every two
/// minutes; the node's session always does, so only the flag changes.
pub(crate) async fn force(call: &Call) -> Response {
    if let Some(hash) = hash_of(&call.state, call.param("id")) {
        call.state.books.toggle_forced(&hash);
    }
    empty()
}

pub(crate) async fn toggle_file(call: &Call) -> Response {
    let hash = call.param("infoHash").to_ascii_lowercase();
    let Ok(index) = call.param("id").parse::<usize>() else {
        return fail("Invalid file id");
    };
    let torrents = call.state.node.torrents();
    let info = match torrents.info(&hash).await {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    if !info.files.iter().any(|f| f.index == index) {
        return fail("Invalid file id");
    }
    let selected: Vec<usize> = info
        .files
        .iter()
        .filter(|f| f.selected != (f.index == index))
        .map(|f| f.index)
        .collect();
    if selected.is_empty() {
        return fail("A torrent keeps at least one file selected: pause it instead");
    }
    match torrents.select(&hash, &selected).await {
        Ok(_) => empty(),
        Err(e) => fail(e),
    }
}

pub(crate) async fn delete_paused(call: &Call) -> Response {
    let torrents = call.state.node.torrents();
    let list = match torrents.list().await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    // Every torrent not running: paused, or stopped by an error.
    for info in list
        .iter()
        .filter(|i| matches!(i.state, TorrentState::Paused | TorrentState::Error))
    {
        if let Err(e) = torrents.remove(&info.info_hash, true).await {
            return fail(e);
        }
        call.state.books.forget(&info.info_hash);
    }
    empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_and_numbers_sort_as_people_read_them() {
        assert_eq!(episode("Show.S01E02.mkv"), Some((1, 2)));
        assert_eq!(episode("show 2x10.avi"), Some((2, 10)));
        assert_eq!(episode("Sintel.2010.mkv"), None);
        let mut names = vec!["ep10.mkv", "ep2.mkv", "Ep1.mkv"];
        names.sort_by_key(|n| natural(n));
        assert_eq!(names, ["Ep1.mkv", "ep2.mkv", "ep10.mkv"]);
        assert_eq!(human(493_000_000), "493.0 MB");
        assert!(streamable("a/b/Film.MKV") && !streamable("notes.txt"));
    }

    #[test]
    fn only_the_master_adds_local_torrent_files() {
        assert!(matches!(
            source_of("/srv/a.torrent", true, None),
            Ok(TorrentSource::Path(_))
        ));
        assert!(source_of("/srv/a.torrent", false, None).is_err());
        assert!(matches!(
            source_of("08ADA5A7A6183AAE1E09D831DF6748D566095A10", false, None),
            Ok(TorrentSource::Magnet(m)) if m == "08ada5a7a6183aae1e09d831df6748d566095a10"
        ));
        assert!(source_of("ftp://x", true, None).is_err());
        let jackett = Some("http://localhost:9117/");
        assert!(matches!(
            source_of(
                "http://localhost:9117/dl/x?jackett_apikey=k",
                false,
                jackett
            ),
            Ok(TorrentSource::Url { trusted: true, .. })
        ));
        assert!(matches!(
            source_of("http://127.0.0.1:8180/x.torrent", false, jackett),
            Ok(TorrentSource::Url { trusted: false, .. })
        ));
    }
}
