//! `/actions?method=…` (§3): sign-in, key checks and scopes, then one
//! function per method.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::response::Response;
use cairn_node::{ErrorKind, LinkKind, NewAccount};
use serde_json::{Value, json};

use crate::keys::{Caller, SESSIONS, TOKEN_LIFE, caller};
use crate::{AppState, empty, fail, json, not_found};

/// What the embed token may call (§2.4).
const EMBED_METHODS: &[&str] = &[
    "embedStart",
    "torrentData",
    "getSubs",
    "updateHistory",
    "haveAce",
    "ace",
    "aceMsg",
    "urlType",
    "ytdlAdd",
    "sop",
    "sopMsg",
];

/// Methods only the master key may call; others get 404.
const MASTER_METHODS: &[&str] = &[
    "jackettLink",
    "donateLink",
    "homeLink",
    "sopGuideLink",
    "openInBrowser",
    "toggleMaximize",
    "addLocal",
    "minimize",
    "closeWindow",
    "downloadFile",
    "selectFile",
    "selectFolder",
    "associateMagnetLink",
    "associateTorrentFile",
    "associateAce",
    "associateSop",
    "exec",
    "fileLoc",
    "localFileLoc",
    "localDirLoc",
    "torrentLoc",
    "openDefaultFolder",
    "resetSettings",
    "runPlaylist",
    "runAcePlaylist",
    "runSopPlaylist",
    "runLocalPlaylist",
    "runYtdlPlaylist",
];

/// Desktop helpers (every master-only method but these two): they opened
/// windows, folders and players on the machine Powder ran on; `{}`, as
/// Powder answered, and nothing done.
fn desktop(method: &str) -> bool {
    MASTER_METHODS.contains(&method) && !matches!(method, "addLocal" | "resetSettings")
}

/// One `/actions` call.
pub(crate) struct Call {
    pub(crate) state: AppState,
    pub(crate) q: HashMap<String, String>,
    /// The query's pairs in order (for `settings`).
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) key: String,
    pub(crate) caller: Caller,
    pub(crate) origin: String,
    /// This listener's address.
    pub(crate) local: Option<std::net::SocketAddr>,
}

impl Call {
    /// A parameter, empty when absent.
    pub(crate) fn param(&self, name: &str) -> &str {
        self.q.get(name).map(String::as_str).unwrap_or("")
    }
}

pub(crate) async fn h_actions(State(state): State<AppState>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let (_, local) = crate::served(&req.extensions);
    let origin = crate::origin(&req.headers, local);
    let pairs: Vec<(String, String)> = req
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let Some(method) = q.get("method").filter(|m| !m.is_empty()).cloned() else {
        return fail("Method must be specified");
    };
    // Before the key check (§2.3).
    match method.as_str() {
        "login" if q.contains_key("value") => return login(&state, &q).await,
        "signup" if q.contains_key("value") => return signup(&state, &q).await,
        "allowRegister" => return allow_register(&state).await,
        "validToken" => {
            let token = q.get("token").cloned().unwrap_or_default();
            let answer = match caller(&state, &token).await {
                Some(Caller::Master) => "2",
                Some(_) => "1",
                None => "0",
            };
            return json(json!(answer));
        }
        _ => {}
    }
    let key = crate::presented_key(&req.headers, &q).unwrap_or_default();
    let Some(who) = caller(&state, &key).await else {
        return fail("Invalid access token");
    };
    if matches!(who, Caller::Embed) && !EMBED_METHODS.contains(&method.as_str()) {
        return fail("Invalid access token");
    }
    if MASTER_METHODS.contains(&method.as_str()) && !who.is_master() {
        return not_found();
    }
    let call = Call {
        state,
        q,
        pairs,
        key,
        caller: who,
        origin,
        local,
    };
    dispatch(&call, &method).await
}

async fn dispatch(call: &Call, method: &str) -> Response {
    use crate::{history, subs, torrents};
    let state = &call.state;
    match method {
        m if desktop(m) => empty(),
        // Settings.
        "setting" => match call.param("for") {
            "getAll" => json(state.settings.all()),
            key => match state.settings.get(key) {
                Some(v) if !v.is_null() => json(json!({ "value": v })),
                _ => empty(),
            },
        },
        "settings" => match state.settings.write(&call.pairs, call.caller.is_master()) {
            Ok(()) => empty(),
            Err(e) => fail(e),
        },
        "resetSettings" => {
            state.books.reset();
            if let Err(e) = state
                .node
                .library()
                .forget(&call.caller.viewer(), None)
                .await
            {
                return fail(e);
            }
            empty()
        }
        // Torrents.
        "getall" => torrents::getall(call).await,
        "update" => torrents::update(call).await,
        "haveTorrent" => torrents::have(call).await,
        "new" => torrents::add(call).await,
        "isListening" => torrents::is_listening(call).await,
        "torrentData" => torrents::data(call).await,
        "embedStart" => torrents::embed_start(call).await,
        "cancel" => torrents::cancel(call).await,
        "speedUp" => torrents::speed_up(call).await,
        "speedPulsing" => torrents::pulsing(call).await,
        "forceDownload" => torrents::force(call).await,
        "toggleStateFile" => torrents::toggle_file(call).await,
        "deleteAllPaused" => torrents::delete_paused(call).await,
        "urlType" => url_type(state, call.param("pid")).await,
        // History.
        "updateHistory" => history::update(call).await,
        "historyList" => history::list(call).await,
        "syncBrowser" => history::newest(call).await,
        "haveSyncBrowser" => history::have(call).await,
        "removeHistoryItem" => history::remove(call).await,
        // Subtitles.
        "getSubs" => subs::get_subs(call).await,
        // Local media.
        "getallextra" => local_list(call).await,
        "addLocal" => add_local(call).await,
        "getLoc" => match local_entry(call) {
            Some((pid, l)) => json(local_json(pid, &l, &call.state).await),
            None => empty(),
        },
        "locUpdateTime" | "locRename" | "locDestroy" => {
            if let Ok(pid) = call.param("pid").parse::<i64>() {
                match method {
                    "locUpdateTime" => state.books.touch_local(pid, None),
                    "locRename" if !call.param("name").is_empty() => {
                        state.books.touch_local(pid, Some(call.param("name")))
                    }
                    "locDestroy" => state.books.forget_local(pid),
                    _ => {}
                }
            }
            empty()
        }
        // No AceStream or SopCast engine on this platform (§3.6, §3.7).
        "haveAce" => json(json!({ "hasAcestream": false })),
        "ace" => fail("No Acestream Installed. Please Try Adding a Link Again."),
        "haveSop" => json(json!({ "hasSopcast": false })),
        "sop" => fail("No Sopcast Installed. Please Try Adding a Link Again."),
        "aceMsg" | "sopMsg" | "aceDownload" | "sopDownload" | "aceRename" | "sopRename"
        | "aceCancel" | "sopCancel" | "aceDestroy" | "sopDestroy" => empty(),
        "aceDownloadMsg" | "sopDownloadMsg" => json(json!({
            "msg": "Error: this engine is not available for this platform"
        })),
        // youtube-dl links (§3.5).
        "ytdlAdd" => ytdl_add(call).await,
        "getYtdl" => match state.books.ytdl(call.param("pid")) {
            Some(y) => json(ytdl_json(call.param("pid"), &y)),
            None => empty(),
        },
        "ytdlUpdateTime" => {
            state.books.touch_ytdl(call.param("pid"), None);
            empty()
        }
        // Powder never answered these two; cairn answers {}.
        "ytdlRename" => {
            if !call.param("name").is_empty() {
                state
                    .books
                    .touch_ytdl(call.param("pid"), Some(call.param("name")));
            }
            empty()
        }
        "ytdlDestroy" => {
            state.books.forget_ytdl(call.param("pid"));
            empty()
        }
        "search" => crate::search::search(call).await,
        "qrCode" => crate::qr::qr_code(call, call.local).await,
        _ => not_found(),
    }
}

// ---- sign-in (§2.3) ----

/// The `{email, password}` of a `value` parameter, if it has both.
fn credentials(q: &HashMap<String, String>) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(q.get("value")?).ok()?;
    let email = v.get("email")?.as_str()?.trim().to_owned();
    let password = v.get("password")?.as_str()?.to_owned();
    (!email.is_empty() && !password.is_empty()).then_some((email, password))
}

async fn login(state: &AppState, q: &HashMap<String, String>) -> Response {
    let Some((email, password)) = credentials(q) else {
        return json(json!({ "error": "All fields required" }));
    };
    match state.node.accounts().sign_in(&email, &password).await {
        Ok(user) => session(state, &user).await,
        Err(e) => match e.kind() {
            ErrorKind::NotFound => json(json!({ "error": "Email not registered" })),
            ErrorKind::Unauthorized => json(json!({ "err": "Incorrect password" })),
            _ => fail(e),
        },
    }
}

async fn signup(state: &AppState, q: &HashMap<String, String>) -> Response {
    let Some((email, password)) = credentials(q) else {
        return json(json!({ "error": "All fields required" }));
    };
    if !register_open(state).await {
        return json(json!({ "error": "Maximum number of users reached" }));
    }
    if !email.contains('@') || email.len() > 254 {
        return json(json!({ "error": "Invalid email" }));
    }
    // The login is the email where it may be one.
    let login = email
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
        .then(|| email.to_ascii_lowercase())
        .filter(|l| l.len() <= 64);
    let mut request = NewAccount {
        login,
        email: email.clone(),
        password: Some(password),
        ..Default::default()
    };
    let mut created = state.node.accounts().create(request.clone()).await;
    if matches!(&created, Err(e) if e.kind() == ErrorKind::NameTaken) && request.login.is_some() {
        // Taken as a login, or as this email's: a made-up login tells.
        request.login = None;
        created = state.node.accounts().create(request).await;
    }
    match created {
        Ok(c) => match state.node.accounts().user(&c.info.account).await {
            Ok(Some(user)) => session(state, &user).await,
            Ok(None) => fail("the account just made is missing"),
            Err(e) => fail(e),
        },
        Err(e) if e.kind() == ErrorKind::NameTaken => {
            json(json!({ "error": "Email already registered" }))
        }
        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::Conflict) => {
            json(json!({ "error": e.to_string() }))
        }
        Err(e) => fail(e),
    }
}

async fn session(state: &AppState, user: &cairn_node::User) -> Response {
    match state
        .node
        .accounts()
        .open_session(user, SESSIONS, TOKEN_LIFE)
        .await
    {
        Ok(s) => json(json!({ "token": s.token, "expiresOn": s.expires })),
        Err(e) => fail(e),
    }
}

/// Whether `signup` is open: fewer accounts than `maxUsers` (0: closed).
async fn register_open(state: &AppState) -> bool {
    let max = state.settings.int("maxUsers");
    max > 0
        && state
            .node
            .accounts()
            .count()
            .await
            .is_ok_and(|n| (n as i64) < max)
}

async fn allow_register(state: &AppState) -> Response {
    json(json!({ "value": register_open(state).await }))
}

// ---- helpers ----

/// What kind of link `pid` is (§3.4): a magnet link (or a bare info
/// hash) is a torrent; an http(s) link is asked, as Powder asked it, and
/// told by its answer's type (the node's [`LinkKind`], checked as every
/// remote fetch).
async fn url_type(state: &AppState, pid: &str) -> Response {
    let lower = pid.to_ascii_lowercase();
    if lower.starts_with("magnet:")
        || (pid.len() == 40 && pid.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return json(json!({ "isTorrent": 1 }));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return fail("Unsupported link");
    }
    match state.node.fetches().link_kind(pid).await {
        Ok(LinkKind::Torrent) => json(json!({ "isTorrent": 1 })),
        Ok(LinkKind::Page) => json(json!({ "isYoutubeDl": 1 })),
        Ok(LinkKind::Media) => json(json!({ "isVideo": 1 })),
        Err(e) => fail(e),
    }
}

// ---- local media (§3.8): stored files the master listed ----

fn local_entry(call: &Call) -> Option<(i64, crate::books::Local)> {
    let pid = call.param("pid").parse::<i64>().ok()?;
    call.state.books.local(pid).map(|l| (pid, l))
}

/// A LocalEntry (§4.7).
pub(crate) async fn local_json(pid: i64, l: &crate::books::Local, state: &AppState) -> Value {
    if l.folder {
        let files = crate::streams::folder_files(state, &l.entry)
            .await
            .unwrap_or_default();
        let files: Vec<Value> = files
            .iter()
            .enumerate()
            .map(|(i, e)| json!({ "id": i, "name": e.name, "location": e.id }))
            .collect();
        json!({
            "pid": pid, "name": l.name, "location": l.entry, "isLocal": true,
            "isDirectory": true, "files": files, "utime": l.utime,
        })
    } else {
        json!({
            "pid": pid, "name": l.name, "location": l.entry, "isLocal": true,
            "isFile": true, "utime": l.utime,
        })
    }
}

/// A YtdlEntry (§4.4).
pub(crate) fn ytdl_json(pid: &str, y: &crate::books::Ytdl) -> Value {
    json!({
        "pid": pid,
        "utime": y.utime,
        "name": y.name,
        "thumbnail": y.thumbnail,
        "originalURL": y.page,
        "extracted": y.url,
        "isYtdl": true,
    })
}

/// `ytdlAdd&pid=<page URL>`: yt-dlp finds the media, at most as tall as
/// the setting `ytdlQuality` allows (0..3: 360p to 1080p, 4 and up: any).
async fn ytdl_add(call: &Call) -> Response {
    let page = call.param("pid");
    let max_height = match call.state.settings.int("ytdlQuality") {
        0 => Some(360),
        1 => Some(480),
        2 => Some(720),
        3 => Some(1080),
        _ => None,
    };
    match call.state.node.media().resolve(page, max_height).await {
        Ok(media) => {
            let (pid, y) = call.state.books.add_ytdl(&media);
            json(ytdl_json(&pid, &y))
        }
        Err(e) => fail(format!("Error: {e}")),
    }
}

async fn local_list(call: &Call) -> Response {
    let mut all = serde_json::Map::new();
    for (pid, y) in call.state.books.ytdls() {
        all.insert(pid.clone(), ytdl_json(&pid, &y));
    }
    for (pid, l) in call.state.books.locals() {
        all.insert(pid.to_string(), local_json(pid, &l, &call.state).await);
    }
    json(Value::Object(all))
}

/// `addLocal&id=<entry id>` (master): lists a stored file or folder as
/// local media. Without an id it is Powder's dialog closed: `{}`.
async fn add_local(call: &Call) -> Response {
    let id = call.param("id");
    if id.is_empty() {
        return empty();
    }
    match call.state.node.entries().entry(id).await {
        Ok(info) => {
            let folder = info.entry.blob.is_none();
            let pid = call
                .state
                .books
                .add_local(&info.entry.id, &info.entry.name, folder);
            json(json!({ "pid": pid }))
        }
        Err(e) => fail(e),
    }
}
