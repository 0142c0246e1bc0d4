//! Openload's files over the engine's public API: which files it shows,
//! download tickets and links, upload URLs, remote uploads and converts.
//!
//! - **Which files**: a file is reachable through Openload when a gateway
//!   user owns it, or when it lies in the top-level folder `Openload`
//!   (anonymous uploads, owned by nobody). The operator's own files are not
//!   reachable by id through this layer, so knowing an id of theirs gives
//!   nothing away. Files whose metadata has `openload.blocked` set answer
//!   451 (unavailable for legal reasons), the operator's switch.
//! - **Tickets** are self-contained and signed, in Openload's shape:
//!   `<file>~<payer>~<issued>~n~~<wait>~<sig>` (the signature is 16
//!   base64url characters, 96 bits of the engine's link signature for the
//!   purpose `openload ticket`, `Links::sign`). `<payer>` is the account of the user who asked
//!   for the ticket with login and key (empty when anonymous). A ticket
//!   lives `openload.ticket_secs` and may be used once `wait` seconds have
//!   passed.
//! - **Download links** carry a 16-character token, like Openload's:
//!   base64url of the expiry (4 bytes) and 64 bits of the engine's
//!   signature of file and expiry (purpose `openload link`). They serve the bytes (with ranges) until they expire.
//! - **Traffic**: issuing a link (`file/dl`) charges the file's size to the
//!   24-hour traffic of the ticket's payer, else of the file's owner
//!   (anonymous files and downloaders: nobody); a refused charge issues no
//!   link, so no byte moves. `file/dlticket` already refuses when the
//!   charge could not pass. A link, once paid, may be fetched in as many
//!   ranges as the client likes until it expires.
//! - **Upload URLs** are self-contained and signed too: the account (or
//!   none), the target folder, the expected SHA-1 and the expiry, checked
//!   again when the POST comes. The SHA-1 is computed as the body streams
//!   and compared before the upload is committed: a mismatch stores
//!   nothing.
//! - **Remote uploads and converts** are jobs (`fetch`, `convert`) of the
//!   user's account; a job's number is the decimal id Openload's clients
//!   expect. A URL the fetch refuses at once (not http, a private address)
//!   is still accepted, as Openload did: recorded as a failed job, and
//!   reported with status `error`.
//! - **Converts** are the engine's (`Media::convert_mp4`): H.264/AAC mp4 with
//!   the index first, stored next to the original as `<name>.mp4`
//!   (Openload's own naming: `big_buck_bunny.mp4.mp4`). **Splash images**
//!   are a JPEG frame (`Media::frame_jpeg`) stored in the owner's
//!   `.videothumb` folder (a system folder Openload listings
//!   showed too), recorded on the original as metadata `openload.splash`.
//! - **Pairing** (`streaming/get`, the 2017 call of Kodi's resolvers): an
//!   address that visited the node's pairing page and asked to be paired
//!   may fetch links without a ticket for `openload.pair_secs`. Pairings
//!   live in memory (a restart asks for a new visit, as an expired one
//!   does), at most 4096 at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use cairn_node::paid::Access;
use cairn_node::{
    CommitCheck, Entry, EntryInfo, EntryKind, ErrorKind, FetchHeaders, FetchRequest, JobFor,
    JobRecord, ListQuery, Node, NodeError, OnConflict, Reader, UploadTarget, User,
};
use futures_util::{Stream, StreamExt};
use sha1::{Digest, Sha1};

type Result<T> = std::result::Result<T, NodeError>;

/// The top-level folder anonymous uploads go into.
pub(crate) const ANONYMOUS_FOLDER: &str = "Openload";

/// The folder (in the owner's home) splash images go into.
const SPLASH_FOLDER: &str = ".videothumb";

/// Metadata key that makes a file answer 451 when set.
const BLOCKED_KEY: &str = "openload.blocked";

/// Metadata key holding the id of a file's splash image.
const SPLASH_KEY: &str = "openload.splash";

/// Most addresses paired at once; the one that expires first makes room.
const MAX_PAIRS: usize = 4096;

/// Most entries a folder listing returns.
const MAX_LISTED: u64 = 10_000;

/// Entries a listing page holds (the catalog's largest).
const PAGE: u32 = 1000;

/// Converts looked at when listing the running ones.
const CONVERTS_SCANNED: u32 = 1000;

/// Bytes of a ticket's and an upload URL's signature.
const SIGNATURE: usize = 12;

/// Bytes of a download link's signature.
const LINK_SIGNATURE: usize = 8;

/// A download ticket.
#[derive(Debug, Clone)]
pub(crate) struct OpenloadTicket {
    /// The ticket.
    pub(crate) ticket: String,
    /// Seconds to wait before using it.
    pub(crate) wait_secs: u64,
    /// When it expires, Unix seconds.
    pub(crate) valid_until: i64,
}

/// A download link's token.
#[derive(Debug, Clone)]
pub(crate) struct OpenloadLink {
    /// 16 base64url characters.
    pub(crate) token: String,
}

/// A folder's content as Openload lists it.
#[derive(Debug, Clone)]
pub(crate) struct OpenloadListing {
    /// The folder listed.
    pub(crate) folder: Entry,
    /// Its subfolders.
    pub(crate) folders: Vec<Entry>,
    /// Its files, with their aliases.
    pub(crate) files: Vec<EntryInfo>,
}

/// A remote upload as `remotedl/status` reports it.
#[derive(Debug, Clone)]
pub(crate) struct RemoteStatus {
    /// Its decimal id.
    pub(crate) id: i64,
    /// The URL.
    pub(crate) url: String,
    /// `new`, `downloading`, `finished` or `error`.
    pub(crate) status: &'static str,
    /// Bytes fetched so far (none before the first).
    pub(crate) loaded: Option<u64>,
    /// The size, once known.
    pub(crate) total: Option<u64>,
    /// The folder it goes to.
    pub(crate) folder: String,
    /// When it was added, Unix milliseconds.
    pub(crate) added: i64,
    /// When it last changed, Unix milliseconds.
    pub(crate) updated: i64,
    /// The id of the file it made, once finished.
    pub(crate) entry: Option<String>,
}

/// A running convert.
#[derive(Debug, Clone)]
pub(crate) struct RunningConvert {
    /// Its decimal id.
    pub(crate) id: i64,
    /// The file being converted.
    pub(crate) file: String,
    /// Its name.
    pub(crate) name: String,
    /// Done, 0 to 1.
    pub(crate) progress: f64,
    /// When it last moved, Unix milliseconds.
    pub(crate) updated: i64,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn bad_ticket() -> NodeError {
    NodeError::Forbidden("the ticket is invalid or expired: ask file/dlticket for a new one".into())
}

/// Addresses paired for `streaming/get`, and until when (Unix seconds):
/// the layer's own state, in memory.
#[derive(Default)]
pub(crate) struct Pairings(Mutex<HashMap<IpAddr, i64>>);

impl Pairings {
    fn locked(&self) -> MutexGuard<'_, HashMap<IpAddr, i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pairs `ip` for `secs`; answers when the pairing ends (Unix seconds).
    pub(crate) fn pair(&self, ip: IpAddr, secs: u64) -> i64 {
        let now = now_secs();
        let until = now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
        let mut pairs = self.locked();
        pairs.retain(|_, end| *end > now);
        if pairs.len() >= MAX_PAIRS && !pairs.contains_key(&ip) {
            let first = pairs.iter().min_by_key(|(_, end)| **end).map(|(a, _)| *a);
            if let Some(first) = first {
                pairs.remove(&first);
            }
        }
        pairs.insert(ip, until);
        until
    }

    /// Whether `ip` is paired now.
    pub(crate) fn paired(&self, ip: IpAddr) -> bool {
        self.locked().get(&ip).is_some_and(|end| *end > now_secs())
    }
}

/// File `id` if Openload may show it (owned by a user, or an anonymous
/// upload); otherwise not found, as if it did not exist.
pub(crate) async fn file(node: &Node, id: &str) -> Result<EntryInfo> {
    let hidden = || NodeError::not_found("file", id);
    let info = match node.entries().entry(id).await {
        Ok(info) => info,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::InvalidId | ErrorKind::Invalid
            ) =>
        {
            return Err(hidden());
        }
        Err(e) => return Err(e),
    };
    if info.entry.kind != EntryKind::File {
        return Err(hidden());
    }
    if info.entry.owner.is_some() || in_anonymous_folder(node, &info.entry).await? {
        Ok(info)
    } else {
        Err(hidden())
    }
}

async fn in_anonymous_folder(node: &Node, entry: &Entry) -> Result<bool> {
    let Some(parent) = &entry.parent else {
        return Ok(false);
    };
    let folder = node.entries().entry(parent).await?.entry;
    Ok(folder.parent.is_none() && folder.owner.is_none() && folder.name == ANONYMOUS_FOLDER)
}

/// Whether the operator blocked this file (answers 451).
pub(crate) fn blocked(info: &EntryInfo) -> bool {
    info.metadata
        .get(BLOCKED_KEY)
        .is_some_and(|v| !v.is_empty())
}

/// Who pays the traffic of a download of `file`: the ticket's payer, else
/// the owner; `None` when nobody is a user.
async fn payer(node: &Node, payer: Option<&str>, file: &Entry) -> Result<Option<User>> {
    match payer.or(file.owner.as_deref()) {
        Some(account) => node.accounts().user(account).await,
        None => Ok(None),
    }
}

/// A download ticket for `file`, paid (later, by `file/dl`) by `user` if
/// given. Refused with `traffic_exceeded` when the payer's traffic could
/// not take the file.
pub(crate) async fn ticket(node: &Node, file: &str, user: Option<&User>) -> Result<OpenloadTicket> {
    let info = self::file(node, file).await?;
    let reader = user.map_or(Reader::Anonymous, |u| Reader::User(u.clone()));
    check_paid_whole(node, &info, &reader).await?;
    let payer_account = user.map(|u| u.account.as_str());
    if let Some(p) = payer(node, payer_account, &info.entry).await? {
        let account = node.accounts().info(&p).await?;
        if let Some(limit) = account.traffic_limit
            && account.traffic_used_24h.saturating_add(info.entry.size) > limit
        {
            let used = account.traffic_used_24h;
            return Err(NodeError::over_traffic(limit, used, info.entry.size));
        }
    }
    let cfg = &node.config().openload;
    let issued = now_secs();
    let payer_account = payer_account.unwrap_or("");
    Ok(OpenloadTicket {
        ticket: sign_ticket(node, &info.entry.id, payer_account, issued, cfg.wait_secs),
        wait_secs: cfg.wait_secs,
        valid_until: issued + cfg.ticket_secs as i64,
    })
}

/// Openload links serve whole files: a paid file needs a reader who may
/// read all of it (owner or buyer), else `payment_required`.
async fn check_paid_whole(node: &Node, info: &EntryInfo, reader: &Reader) -> Result<()> {
    let status = node.paid().paid_status_of(info, reader).await?;
    if status.access == Access::Whole {
        return Ok(());
    }
    Err(NodeError::PaymentRequired(format!(
        "'{}' costs {} credits: buy it (POST /api/v1/paid/{}/buy) before downloading it",
        info.entry.name, status.terms.price, info.entry.id
    )))
}

fn sign_ticket(node: &Node, file: &str, payer: &str, issued: i64, wait: u64) -> String {
    let fields = format!("{file}~{payer}~{issued}~n~~{wait}");
    let sig = node.links().sign("openload ticket", &[fields.as_bytes()]);
    format!("{fields}~{}", URL_SAFE_NO_PAD.encode(&sig[..SIGNATURE]))
}

/// Checks `ticket` for `file`: answers the payer's account (if any). A
/// forged, expired or other file's ticket is `forbidden`; one used before
/// its wait is over is `invalid`.
pub(crate) fn check_ticket(node: &Node, file: &str, ticket: &str) -> Result<Option<String>> {
    let (fields, sig) = ticket.rsplit_once('~').ok_or_else(bad_ticket)?;
    let given = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad_ticket())?;
    if given.len() != SIGNATURE
        || !node
            .links()
            .signed("openload ticket", &[fields.as_bytes()], &given)
    {
        return Err(bad_ticket());
    }
    let parts: Vec<&str> = fields.split('~').collect();
    let [id, payer, issued, _, _, wait] = parts[..] else {
        return Err(bad_ticket());
    };
    let issued: i64 = issued.parse().map_err(|_| bad_ticket())?;
    let wait: i64 = wait.parse().map_err(|_| bad_ticket())?;
    let now = now_secs();
    if id != file || now > issued + node.config().openload.ticket_secs as i64 {
        return Err(bad_ticket());
    }
    if now < issued + wait {
        return Err(NodeError::Invalid(format!(
            "wait {} more seconds (wait_time) before asking for the link",
            issued + wait - now
        )));
    }
    Ok((!payer.is_empty()).then(|| payer.to_owned()))
}

/// Charges a download of `file` to the payer (see the module docs) and
/// signs a link for it. A refused charge (`traffic_exceeded`) signs
/// nothing.
pub(crate) async fn link(
    node: &Node,
    file: &EntryInfo,
    payer_account: Option<&str>,
) -> Result<OpenloadLink> {
    let reader = match payer_account {
        Some(account) => match node.accounts().user(account).await? {
            Some(user) => Reader::User(user),
            None => Reader::Anonymous,
        },
        None => Reader::Anonymous,
    };
    check_paid_whole(node, file, &reader).await?;
    if let Some(user) = payer(node, payer_account, &file.entry).await? {
        node.accounts()
            .charge_traffic(&user, file.entry.size)
            .await?;
    }
    let valid_until = now_secs() + node.config().openload.link_secs as i64;
    let expiry = u32::try_from(valid_until).unwrap_or(u32::MAX);
    Ok(OpenloadLink {
        token: sign_link(node, &file.entry.id, expiry),
    })
}

fn sign_link(node: &Node, file: &str, expiry: u32) -> String {
    let sig = node
        .links()
        .sign("openload link", &[file.as_bytes(), &expiry.to_be_bytes()]);
    let mut raw = expiry.to_be_bytes().to_vec();
    raw.extend_from_slice(&sig[..LINK_SIGNATURE]);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Checks a link token for `file`: `forbidden` when forged, for another
/// file, or expired.
pub(crate) fn check_link(node: &Node, file: &str, token: &str) -> Result<()> {
    let refused = || NodeError::Forbidden("the download link is invalid or expired".into());
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
    let (expiry, sig) = raw.split_at_checked(4).ok_or_else(refused)?;
    let signed = node
        .links()
        .signed("openload link", &[file.as_bytes(), expiry], sig);
    let expiry: [u8; 4] = expiry.try_into().map_err(|_| refused())?;
    if sig.len() != LINK_SIGNATURE || !signed {
        return Err(refused());
    }
    if now_secs() > i64::from(u32::from_be_bytes(expiry)) {
        return Err(refused());
    }
    Ok(())
}

/// The folder Openload means by `folder` for `user`: theirs (else
/// `forbidden`), or their home when absent.
pub(crate) async fn folder(node: &Node, user: &User, folder: Option<&str>) -> Result<Entry> {
    let id = folder.unwrap_or(&user.home);
    let entry = node.accounts().owned_entry(user, id).await?;
    if entry.kind != EntryKind::Folder {
        return Err(NodeError::Invalid(format!(
            "'{id}' is a file, not a folder"
        )));
    }
    Ok(entry)
}

/// A signed upload URL token for `user` (or anonymous) into `folder`
/// (default: their home, or the anonymous folder), expecting `sha1` if
/// given. Answers the token and its expiry (Unix seconds).
pub(crate) async fn upload_token(
    node: &Node,
    user: Option<&User>,
    into: Option<&str>,
    sha1: Option<&str>,
) -> Result<(String, i64)> {
    let cfg = &node.config().openload;
    let sha1 = match sha1 {
        Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            s.to_ascii_lowercase()
        }
        Some(_) => return Err(NodeError::Invalid("sha1 must be 40 hex digits".into())),
        None => String::new(),
    };
    let (account, folder) = match user {
        Some(u) => (u.account.clone(), folder(node, u, into).await?.id),
        None if !cfg.anonymous_uploads => return Err(NodeError::Unauthorized),
        None if into.is_some() => {
            return Err(NodeError::Forbidden(
                "anonymous uploads cannot choose a folder; log in to use folders".into(),
            ));
        }
        None => (String::new(), String::new()),
    };
    let expires = now_secs() + cfg.upload_url_secs as i64;
    Ok((
        sign_upload(node, &account, &folder, &sha1, expires),
        expires,
    ))
}

fn sign_upload(node: &Node, account: &str, folder: &str, sha1: &str, expires: i64) -> String {
    let payload = format!("{account}~{folder}~{sha1}~{expires}");
    let sig = node.links().sign("openload upload", &[payload.as_bytes()]);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(&sig[..SIGNATURE])
    )
}

/// Stores the body of a POST to an upload URL: checks the token, hashes
/// SHA-1 as the body streams and refuses (storing nothing) when it is not
/// the one the URL expects. Answers the entry and its SHA-1.
pub(crate) async fn upload<S, E>(
    node: &Node,
    token: &str,
    name: &str,
    body: S,
) -> Result<(EntryInfo, String)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let (account, folder, expected) = check_upload_token(node, token)?;
    let parent = match (account.is_empty(), folder.is_empty()) {
        (true, _) => {
            node.entries()
                .create_folder(None, ANONYMOUS_FOLDER.into())
                .await?
                .id
        }
        (false, false) => {
            let entry = node.entries().entry(&folder).await?.entry;
            if entry.owner.as_deref() != Some(account.as_str()) {
                return Err(NodeError::Forbidden(
                    "the upload folder is not yours".into(),
                ));
            }
            entry.id
        }
        (false, true) => return Err(NodeError::Forbidden("bad upload URL".into())),
    };
    let hasher = Arc::new(Mutex::new(Sha1::new()));
    let feed = hasher.clone();
    let body = body.map(move |piece| {
        if let Ok(bytes) = &piece {
            feed.lock().unwrap_or_else(|p| p.into_inner()).update(bytes);
        }
        piece
    });
    let digest = Arc::new(Mutex::new(String::new()));
    let seen = digest.clone();
    let check: CommitCheck = Box::new(move |_| {
        let sha1 = hasher.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let got = hex::encode(sha1.finalize());
        if !expected.is_empty() && got != expected {
            return Err(NodeError::Invalid(format!(
                "upload failed: sha1 of the file is {got}, the upload URL expects {expected}"
            )));
        }
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = got;
        Ok(())
    });
    let target = UploadTarget {
        parent: Some(parent),
        name: name.to_owned(),
        on_conflict: OnConflict::Rename,
        // The answer, file/info and listfolder show the sha1 alias.
        wait_digests: true,
    };
    let info = node
        .entries()
        .upload_checked(target, Box::pin(body), None, check)
        .await?;
    let sha1 = digest.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((info, sha1))
}

/// The account, folder and expected SHA-1 an upload token carries.
fn check_upload_token(node: &Node, token: &str) -> Result<(String, String, String)> {
    let refused = || {
        NodeError::Forbidden(
            "the upload URL is invalid or expired: ask file/ul for a new one".into(),
        )
    };
    let (payload, sig) = token.split_once('.').ok_or_else(refused)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| refused())?;
    if sig.len() != SIGNATURE || !node.links().signed("openload upload", &[&payload], &sig) {
        return Err(refused());
    }
    let payload = String::from_utf8(payload).map_err(|_| refused())?;
    let parts: Vec<&str> = payload.split('~').collect();
    let [account, folder, sha1, expires] = parts[..] else {
        return Err(refused());
    };
    let expires: i64 = expires.parse().map_err(|_| refused())?;
    if now_secs() > expires {
        return Err(refused());
    }
    Ok((account.to_owned(), folder.to_owned(), sha1.to_owned()))
}

/// The folders and files of `user`'s `folder` (home when absent).
pub(crate) async fn list(node: &Node, user: &User, into: Option<&str>) -> Result<OpenloadListing> {
    let folder = folder(node, user, into).await?;
    let (mut folders, mut files) = (Vec::new(), Vec::new());
    let mut offset = 0;
    while offset < MAX_LISTED {
        let query = ListQuery {
            offset,
            limit: PAGE,
            ..ListQuery::default()
        };
        let page = node.entries().list(Some(folder.id.clone()), query).await?;
        let got = page.entries.len() as u64;
        for e in page.entries.iter().cloned() {
            match e.kind {
                EntryKind::Folder => folders.push(e),
                EntryKind::File => files.push(node.entries().entry(&e.id).await?),
            }
        }
        offset += got;
        if got == 0 || offset >= page.total {
            break;
        }
    }
    Ok(OpenloadListing {
        folder,
        folders,
        files,
    })
}

/// Renames `user`'s entry `id`, which must be of `kind` (a file for
/// `file/rename`, a folder for `file/renamefolder`; not their home).
pub(crate) async fn rename(
    node: &Node,
    user: &User,
    id: &str,
    kind: EntryKind,
    name: &str,
) -> Result<Entry> {
    let entry = node.accounts().owned_entry(user, id).await?;
    if entry.kind != kind {
        let what = if kind == EntryKind::File {
            "file"
        } else {
            "folder"
        };
        return Err(NodeError::not_found(what, id));
    }
    if entry.id == user.home {
        return Err(NodeError::Forbidden(
            "the home folder cannot be renamed".into(),
        ));
    }
    node.entries()
        .update_entry(id, Some(name.to_owned()), None)
        .await
}

/// Deletes `user`'s file `id`.
pub(crate) async fn delete(node: &Node, user: &User, id: &str) -> Result<()> {
    let entry = node.accounts().owned_entry(user, id).await?;
    if entry.kind != EntryKind::File {
        return Err(NodeError::not_found("file", id));
    }
    node.entries().delete(id, false).await.map(|_| ())
}

/// Starts a remote upload of `url` into `user`'s `folder` (home when
/// absent) with extra `headers` (`Name: value` lines). Answers its id and
/// the folder's id.
pub(crate) async fn remote_add(
    node: &Node,
    user: &User,
    url: &str,
    into: Option<&str>,
    headers: Option<&str>,
) -> Result<(i64, String)> {
    let folder = folder(node, user, into).await?.id;
    let req = FetchRequest {
        url: url.to_owned(),
        parent: Some(folder.clone()),
        name: None,
        on_conflict: OnConflict::Rename,
    };
    let owner = JobFor {
        account: Some(user.account.clone()),
        subject: Some(url.to_owned()),
        folder: Some(folder.clone()),
    };
    let headers = FetchHeaders::parse(headers.unwrap_or(""))?;
    let job = match node
        .fetches()
        .start_for(req, owner.clone(), headers, false)
        .await
    {
        Ok(job) => job,
        Err(NodeError::ShuttingDown) => return Err(NodeError::ShuttingDown),
        // Openload accepted any URL and reported a bad one as an error.
        Err(e) => node.jobs().record_failed("fetch", url, owner, &e).await?,
    };
    Ok((job.seq, folder))
}

/// `user`'s newest `limit` remote uploads (or only `id`).
pub(crate) async fn remote_status(
    node: &Node,
    user: &User,
    id: Option<i64>,
    limit: u32,
) -> Result<Vec<RemoteStatus>> {
    let jobs = node.jobs().of(&user.account, "fetch", id, limit).await?;
    Ok(jobs.into_iter().map(remote_status_of).collect())
}

fn remote_status_of(job: JobRecord) -> RemoteStatus {
    let status = match job.state.as_str() {
        "running" if job.done == 0 && job.total.is_none() => "new",
        "running" => "downloading",
        "done" => "finished",
        _ => "error",
    };
    let finished = job.state == "done";
    // A URL refused at once never loaded anything, not even nothing.
    let started = job.result.as_ref().is_none_or(|r| r["started"] != false);
    RemoteStatus {
        id: job.seq,
        url: job.subject.unwrap_or(job.label),
        status,
        loaded: (started && (job.done > 0 || job.state != "running")).then_some(job.done),
        total: if finished { Some(job.done) } else { job.total },
        folder: job.folder.unwrap_or_default(),
        added: job.created,
        updated: job.updated,
        entry: job
            .result
            .filter(|_| finished)
            .and_then(|r| r["entry"]["id"].as_str().map(str::to_owned)),
    }
}

/// Starts converting `user`'s file `id` to browser-streamable mp4;
/// answers the convert's id. Without ffmpeg: `unavailable`, at once.
pub(crate) async fn convert(node: &Node, user: &User, id: &str) -> Result<i64> {
    let entry = node.accounts().owned_entry(user, id).await?;
    let owner = JobFor {
        account: Some(user.account.clone()),
        ..JobFor::default()
    };
    Ok(node.media().convert_mp4(&entry, owner).await?.seq)
}

/// `user`'s running converts, in `folder` only when given.
pub(crate) async fn running_converts(
    node: &Node,
    user: &User,
    into: Option<&str>,
) -> Result<Vec<RunningConvert>> {
    if let Some(f) = into {
        folder(node, user, Some(f)).await?;
    }
    let jobs = node
        .jobs()
        .of(&user.account, "convert", None, CONVERTS_SCANNED)
        .await?;
    let running = jobs
        .into_iter()
        .filter(|j| j.state == "running" && into.is_none_or(|f| j.folder.as_deref() == Some(f)));
    Ok(running
        .map(|job| RunningConvert {
            id: job.seq,
            file: job.subject.unwrap_or_default(),
            progress: match job.total {
                Some(total) if total > 0 => (job.done as f64 / total as f64).clamp(0.0, 1.0),
                _ => 0.0,
            },
            name: job.label,
            updated: job.updated,
        })
        .collect())
}

/// The splash image (a JPEG frame) of `user`'s video `id`: made with
/// ffmpeg and stored on first call, the same one after. Answers the
/// image's entry id.
pub(crate) async fn splash(node: &Node, user: &User, id: &str) -> Result<String> {
    let entry = node.accounts().owned_entry(user, id).await?;
    if entry.kind != EntryKind::File {
        return Err(NodeError::Invalid(format!("'{}' is a folder", entry.name)));
    }
    let info = node.entries().entry(id).await?;
    if let Some(splash) = info.metadata.get(SPLASH_KEY)
        && node.entries().entry(splash).await.is_ok()
    {
        return Ok(splash.clone());
    }
    let folder = node
        .entries()
        .create_folder(Some(user.home.clone()), SPLASH_FOLDER.into())
        .await?;
    let name = format!("{}.jpg", entry.id);
    let splash = node
        .media()
        .frame_jpeg(&entry, Some(folder.id), name)
        .await?;
    let changes = [(SPLASH_KEY.to_owned(), Some(splash.id.clone()))].into();
    node.entries().set_metadata(id, changes).await?;
    Ok(splash.id)
}

/// The splash image `splash` of file `file`, if it is that file's.
pub(crate) async fn splash_image(node: &Node, file: &str, splash: &str) -> Result<Entry> {
    let info = self::file(node, file).await?;
    match info.metadata.get(SPLASH_KEY) {
        Some(s) if s == splash => Ok(node.entries().entry(splash).await?.entry),
        _ => Err(NodeError::not_found("splash image", splash)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tickets_links_and_upload_urls_expire_and_cannot_be_forged() {
        let dir = tempfile::tempdir().unwrap();
        // No network: tests talk to nothing beyond loopback, and the
        // default listens on every address and asks the LAN (mDNS).
        let mut config = cairn_node::Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let now = now_secs();
        let ttl = node.config().openload.ticket_secs as i64;

        let fresh = sign_ticket(&node, "AAAAAAAAAAA", "acct", now, 0);
        assert_eq!(
            check_ticket(&node, "AAAAAAAAAAA", &fresh).unwrap(),
            Some("acct".into())
        );
        let err = |r: Result<Option<String>>| r.unwrap_err().code();
        assert_eq!(err(check_ticket(&node, "BBBBBBBBBBB", &fresh)), "forbidden");
        let old = sign_ticket(&node, "AAAAAAAAAAA", "", now - ttl - 1, 0);
        assert_eq!(err(check_ticket(&node, "AAAAAAAAAAA", &old)), "forbidden");
        let early = sign_ticket(&node, "AAAAAAAAAAA", "", now, 60);
        assert_eq!(err(check_ticket(&node, "AAAAAAAAAAA", &early)), "invalid");
        let forged = fresh.replace("~acct~", "~other~");
        assert_eq!(
            err(check_ticket(&node, "AAAAAAAAAAA", &forged)),
            "forbidden"
        );
        assert_eq!(err(check_ticket(&node, "AAAAAAAAAAA", "junk")), "forbidden");

        let later = u32::try_from(now + 60).unwrap();
        let link = sign_link(&node, "AAAAAAAAAAA", later);
        assert_eq!(link.len(), 16);
        assert!(check_link(&node, "AAAAAAAAAAA", &link).is_ok());
        assert!(check_link(&node, "BBBBBBBBBBB", &link).is_err());
        let expired = sign_link(&node, "AAAAAAAAAAA", u32::try_from(now - 1).unwrap());
        assert!(check_link(&node, "AAAAAAAAAAA", &expired).is_err());
        assert!(check_link(&node, "AAAAAAAAAAA", "!!").is_err());

        let up = sign_upload(&node, "a", "f", "", now + 60);
        assert_eq!(check_upload_token(&node, &up).unwrap().1, "f");
        let gone = sign_upload(&node, "a", "f", "", now - 1);
        assert!(check_upload_token(&node, &gone).is_err());
        let (payload, sig) = up.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(format!("b~f~~{}", now + 60));
        assert!(check_upload_token(&node, &format!("{other}.{sig}")).is_err());
        assert!(check_upload_token(&node, payload).is_err());
        node.shutdown().await;
    }
}
