//! The engine side of Openload's API: which files it shows, download
//! tickets and links, upload URLs, remote uploads and converts.
//!
//! - **Which files**: a file is reachable through Openload when a gateway
//!   user owns it, or when it lies in the top-level folder `Openload`
//!   (anonymous uploads, owned by nobody). The operator's own files are not
//!   reachable by id through this layer, so knowing an id of theirs gives
//!   nothing away. Files whose metadata has `openload.blocked` set answer
//!   451 (unavailable for legal reasons), the operator's switch.
//! - **Tickets** are self-contained and signed, in Openload's shape:
//!   `<file>~<payer>~<issued>~n~~<wait>~<sig>` (the signature is 16
//!   base64url characters, 96 bits of HMAC-SHA256 under a key derived from
//!   the node's identity). `<payer>` is the account of the user who asked
//!   for the ticket with login and key (empty when anonymous). A ticket
//!   lives `openload.ticket_secs` and may be used once `wait` seconds have
//!   passed.
//! - **Download links** carry a 16-character token, like Openload's:
//!   base64url of the expiry (4 bytes) and 64 bits of HMAC over file and
//!   expiry. They serve the bytes (with ranges) until they expire.
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
//! - **Remote uploads and converts** are jobs (`fetch`, `convert`) with a
//!   row in the `openload_tasks` table giving them the decimal id Openload's
//!   clients expect. A URL the fetch refuses at once (not http, a private
//!   address) is still accepted, as Openload did, and reported with status
//!   `error`.
//! - **Converts** write the original's plaintext to a temp file, transcode
//!   it with ffmpeg to H.264/AAC mp4 with the index first, and store the
//!   result next to the original as `<name>.mp4` (Openload's own naming:
//!   `big_buck_bunny.mp4.mp4`). **Splash images** are a JPEG frame stored in
//!   the owner's `.videothumb` folder (a system folder Openload listings
//!   showed too), recorded on the original as metadata `openload.splash`.
//! - **Pairing** (`streaming/get`, the 2017 call of Kodi's resolvers): an
//!   address that visited the node's pairing page and asked to be paired
//!   may fetch links without a ticket for `openload.pair_secs`. Pairings
//!   live in memory (a restart asks for a new visit, as an expired one
//!   does), at most 4096 at once.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use cairn_store::StoreError;
use cairn_store::catalog::now_ms;
use cairn_store::openload::{NewTask, TaskKind};
use cairn_store::users::User;
use futures_util::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::ErrorKind;
use crate::jobs::Job;
use crate::node::{BeforeCommit, blocking};
use crate::{
    Entry, EntryInfo, EntryKind, FetchRequest, ListQuery, Node, NodeError, OnConflict, media,
};

type Result<T> = std::result::Result<T, NodeError>;

/// The top-level folder anonymous uploads go into.
pub const ANONYMOUS_FOLDER: &str = "Openload";

/// The folder (in the owner's home) splash images go into.
pub const SPLASH_FOLDER: &str = ".videothumb";

/// Metadata key that makes a file answer 451 when set.
pub const BLOCKED_KEY: &str = "openload.blocked";

/// Metadata key holding the id of a file's splash image.
pub(crate) const SPLASH_KEY: &str = "openload.splash";

/// Most addresses paired at once; the one that expires first makes room.
pub(crate) const MAX_PAIRS: usize = 4096;

/// Paired addresses and when each pairing ends (Unix seconds).
pub(crate) type Pairs = Mutex<std::collections::HashMap<std::net::IpAddr, i64>>;

/// Most entries a folder listing returns.
const MAX_LISTED: u64 = 10_000;

/// Converts looked at when listing the running ones.
const CONVERTS_SCANNED: u32 = 1000;

/// A download ticket.
#[derive(Debug, Clone)]
pub struct OpenloadTicket {
    /// The ticket.
    pub ticket: String,
    /// Seconds to wait before using it.
    pub wait_secs: u64,
    /// When it expires, Unix seconds.
    pub valid_until: i64,
}

/// A download link's token.
#[derive(Debug, Clone)]
pub struct OpenloadLink {
    /// 16 base64url characters.
    pub token: String,
    /// When it expires, Unix seconds.
    pub valid_until: i64,
}

/// A folder's content as Openload lists it.
#[derive(Debug, Clone)]
pub struct OpenloadListing {
    /// The folder listed.
    pub folder: Entry,
    /// Its subfolders.
    pub folders: Vec<Entry>,
    /// Its files, with their aliases.
    pub files: Vec<EntryInfo>,
}

/// A remote upload as `remotedl/status` reports it.
#[derive(Debug, Clone)]
pub struct RemoteStatus {
    /// Its decimal id.
    pub id: i64,
    /// The URL.
    pub url: String,
    /// `new`, `downloading`, `finished` or `error`.
    pub status: &'static str,
    /// Bytes fetched so far (none before the first).
    pub loaded: Option<u64>,
    /// The size, once known.
    pub total: Option<u64>,
    /// The folder it goes to.
    pub folder: String,
    /// When it was added, Unix milliseconds.
    pub added: i64,
    /// When it last changed, Unix milliseconds.
    pub updated: i64,
    /// The id of the file it made, once finished.
    pub entry: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A running convert.
#[derive(Debug, Clone)]
pub struct RunningConvert {
    /// Its decimal id.
    pub id: i64,
    /// The file being converted.
    pub file: String,
    /// Its name.
    pub name: String,
    /// Done, 0 to 1.
    pub progress: f64,
    /// When it last moved, Unix milliseconds.
    pub updated: i64,
}

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this cannot happen.
        unreachable!("HMAC accepts a 32-byte key")
    });
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

fn bad_ticket() -> NodeError {
    NodeError::Forbidden("the ticket is invalid or expired: ask file/dlticket for a new one".into())
}

fn over_traffic(limit: u64, used: u64, wanted: u64) -> NodeError {
    NodeError::Store(StoreError::OverLimit {
        what: "traffic",
        limit,
        used,
        wanted,
    })
}

impl Node {
    /// Pairs `ip` for `streaming/get`; answers when the pairing ends (Unix
    /// seconds).
    pub fn openload_pair(&self, ip: std::net::IpAddr) -> i64 {
        let now = now_secs();
        let secs = i64::try_from(self.config().openload.pair_secs).unwrap_or(i64::MAX);
        let until = now.saturating_add(secs);
        let mut pairs = self
            .0
            .openload_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
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

    /// Whether `ip` is paired for `streaming/get` now.
    pub fn openload_paired(&self, ip: std::net::IpAddr) -> bool {
        let pairs = self
            .0
            .openload_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        pairs.get(&ip).is_some_and(|end| *end > now_secs())
    }

    fn openload_key(&self, purpose: &str) -> [u8; 32] {
        self.derived_key(&format!("openload {purpose}"))
    }

    /// File `id` if Openload may show it (owned by a user, or an anonymous
    /// upload); otherwise not found, as if it did not exist.
    pub async fn openload_file(&self, id: &str) -> Result<EntryInfo> {
        let hidden = || {
            NodeError::Store(StoreError::NotFound {
                what: "file",
                id: id.chars().take(80).collect(),
            })
        };
        let info = match self.entry(id).await {
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
        if info.entry.owner.is_some() || self.in_anonymous_folder(&info.entry).await? {
            Ok(info)
        } else {
            Err(hidden())
        }
    }

    async fn in_anonymous_folder(&self, entry: &Entry) -> Result<bool> {
        let Some(parent) = &entry.parent else {
            return Ok(false);
        };
        let folder = self.entry(parent).await?.entry;
        Ok(folder.parent.is_none() && folder.owner.is_none() && folder.name == ANONYMOUS_FOLDER)
    }

    /// Whether the operator blocked this file (answers 451).
    pub fn openload_blocked(info: &EntryInfo) -> bool {
        info.metadata
            .get(BLOCKED_KEY)
            .is_some_and(|v| !v.is_empty())
    }

    /// Who pays the traffic of a download of `file`: the ticket's payer,
    /// else the owner; `None` when nobody is a user.
    async fn payer(&self, payer: Option<&str>, file: &Entry) -> Result<Option<User>> {
        let Some(account) = payer.or(file.owner.as_deref()).map(str::to_owned) else {
            return Ok(None);
        };
        let node = self.clone();
        blocking(move || Ok(node.0.catalog.user_by_account(&account)?)).await
    }

    /// A download ticket for `file`, paid (later, by `file/dl`) by `user`
    /// if given. Refused with `traffic_exceeded` when the payer's traffic
    /// could not take the file.
    pub async fn openload_ticket(&self, file: &str, user: Option<&User>) -> Result<OpenloadTicket> {
        let info = self.openload_file(file).await?;
        let reader = user.map_or(crate::paid::Reader::Anonymous, |u| {
            crate::paid::Reader::User(u.clone())
        });
        self.check_paid_whole(&info, &reader).await?;
        let payer = user.map(|u| u.account.as_str());
        if let Some(p) = self.payer(payer, &info.entry).await? {
            let account = self.account_of(&p).await?;
            if let Some(limit) = account.traffic_limit
                && account.traffic_used_24h.saturating_add(info.entry.size) > limit
            {
                return Err(over_traffic(
                    limit,
                    account.traffic_used_24h,
                    info.entry.size,
                ));
            }
        }
        let cfg = &self.config().openload;
        let issued = now_secs();
        Ok(OpenloadTicket {
            ticket: self.sign_ticket(&info.entry.id, payer.unwrap_or(""), issued, cfg.wait_secs),
            wait_secs: cfg.wait_secs,
            valid_until: issued + cfg.ticket_secs as i64,
        })
    }

    /// Openload links serve whole files: a paid file needs a reader who
    /// may read all of it (owner or buyer), else `payment_required`.
    async fn check_paid_whole(&self, info: &EntryInfo, reader: &crate::paid::Reader) -> Result<()> {
        let status = self.paid_status_of(info, reader).await?;
        if status.access == crate::paid::Access::Whole {
            return Ok(());
        }
        Err(NodeError::PaymentRequired(format!(
            "'{}' costs {} credits: buy it (cacaoweb /buytoken or POST /api/v1/paid/{}/buy) before downloading it",
            info.entry.name, status.terms.price, info.entry.id
        )))
    }

    fn sign_ticket(&self, file: &str, payer: &str, issued: i64, wait: u64) -> String {
        let fields = format!("{file}~{payer}~{issued}~n~~{wait}");
        let sig = &mac(&self.openload_key("ticket"), &[fields.as_bytes()])[..12];
        format!("{fields}~{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Checks `ticket` for `file`: answers the payer's account (if any).
    /// A forged, expired or other file's ticket is `forbidden`; one used
    /// before its wait is over is `invalid`.
    pub fn openload_check_ticket(&self, file: &str, ticket: &str) -> Result<Option<String>> {
        let (fields, sig) = ticket.rsplit_once('~').ok_or_else(bad_ticket)?;
        let want = &mac(&self.openload_key("ticket"), &[fields.as_bytes()])[..12];
        let given = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad_ticket())?;
        if !same(&given, want) {
            return Err(bad_ticket());
        }
        let parts: Vec<&str> = fields.split('~').collect();
        let [id, payer, issued, _, _, wait] = parts[..] else {
            return Err(bad_ticket());
        };
        let issued: i64 = issued.parse().map_err(|_| bad_ticket())?;
        let wait: i64 = wait.parse().map_err(|_| bad_ticket())?;
        let now = now_secs();
        if id != file || now > issued + self.config().openload.ticket_secs as i64 {
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
    pub async fn openload_link(
        &self,
        file: &EntryInfo,
        payer: Option<&str>,
    ) -> Result<OpenloadLink> {
        let reader = match payer {
            Some(account) => {
                let node = self.clone();
                let account = account.to_owned();
                match blocking(move || Ok(node.0.catalog.user_by_account(&account)?)).await? {
                    Some(user) => crate::paid::Reader::User(user),
                    None => crate::paid::Reader::Anonymous,
                }
            }
            None => crate::paid::Reader::Anonymous,
        };
        self.check_paid_whole(file, &reader).await?;
        if let Some(user) = self.payer(payer, &file.entry).await? {
            self.charge_traffic(&user, file.entry.size).await?;
        }
        let valid_until = now_secs() + self.config().openload.link_secs as i64;
        let expiry = u32::try_from(valid_until).unwrap_or(u32::MAX);
        Ok(OpenloadLink {
            token: self.sign_link(&file.entry.id, expiry),
            valid_until: i64::from(expiry),
        })
    }

    fn sign_link(&self, file: &str, expiry: u32) -> String {
        let sig = mac(
            &self.openload_key("link"),
            &[file.as_bytes(), &expiry.to_be_bytes()],
        );
        let mut raw = expiry.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig[..8]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a link token for `file`: `forbidden` when forged, for another
    /// file, or expired.
    pub fn openload_check_link(&self, file: &str, token: &str) -> Result<()> {
        let refused = || NodeError::Forbidden("the download link is invalid or expired".into());
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        let (expiry, sig) = raw.split_at_checked(4).ok_or_else(refused)?;
        let want = mac(&self.openload_key("link"), &[file.as_bytes(), expiry]);
        let expiry: [u8; 4] = expiry.try_into().map_err(|_| refused())?;
        if sig.len() != 8 || !same(sig, &want[..8]) {
            return Err(refused());
        }
        if now_secs() > i64::from(u32::from_be_bytes(expiry)) {
            return Err(refused());
        }
        Ok(())
    }

    /// The folder Openload means by `folder` for `user`: theirs (else
    /// `forbidden`), or their home when absent.
    pub async fn openload_folder(&self, user: &User, folder: Option<&str>) -> Result<Entry> {
        let id = folder.unwrap_or(&user.home);
        let entry = self.owned_entry(user, id).await?;
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
    pub async fn openload_upload_token(
        &self,
        user: Option<&User>,
        folder: Option<&str>,
        sha1: Option<&str>,
    ) -> Result<(String, i64)> {
        let cfg = &self.config().openload;
        let sha1 = match sha1 {
            Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                s.to_ascii_lowercase()
            }
            Some(_) => return Err(NodeError::Invalid("sha1 must be 40 hex digits".into())),
            None => String::new(),
        };
        let (account, folder) = match user {
            Some(u) => (u.account.clone(), self.openload_folder(u, folder).await?.id),
            None if !cfg.anonymous_uploads => return Err(NodeError::Unauthorized),
            None if folder.is_some() => {
                return Err(NodeError::Forbidden(
                    "anonymous uploads cannot choose a folder; log in to use folders".into(),
                ));
            }
            None => (String::new(), String::new()),
        };
        let expires = now_secs() + cfg.upload_url_secs as i64;
        Ok((self.sign_upload(&account, &folder, &sha1, expires), expires))
    }

    fn sign_upload(&self, account: &str, folder: &str, sha1: &str, expires: i64) -> String {
        let payload = format!("{account}~{folder}~{sha1}~{expires}");
        let sig = &mac(&self.openload_key("upload"), &[payload.as_bytes()])[..12];
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Stores the body of a POST to an upload URL: checks the token, hashes
    /// SHA-1 as the body streams and refuses (storing nothing) when it is
    /// not the one the URL expects. Answers the entry and its SHA-1.
    pub async fn openload_upload<S, E>(
        &self,
        token: &str,
        name: &str,
        body: S,
    ) -> Result<(EntryInfo, String)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (account, folder, expected) = self.check_upload_token(token)?;
        let parent = match (account.is_empty(), folder.is_empty()) {
            (true, _) => self.create_folder(None, ANONYMOUS_FOLDER.into()).await?.id,
            (false, false) => {
                let entry = self.entry(&folder).await?.entry;
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
        let check: BeforeCommit = Box::new(move |_| {
            let got = hex::encode(
                hasher
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .finalize(),
            );
            if !expected.is_empty() && got != expected {
                return Err(NodeError::Invalid(format!(
                    "upload failed: sha1 of the file is {got}, the upload URL expects {expected}"
                )));
            }
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = got;
            Ok(())
        });
        let target = crate::UploadTarget {
            parent: Some(parent),
            name: name.to_owned(),
            on_conflict: OnConflict::Rename,
            // The answer, file/info and listfolder show the sha1 alias.
            wait_digests: true,
        };
        let info = self
            .upload_with(target, Box::pin(body), None, check)
            .await?;
        let sha1 = digest.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok((info, sha1))
    }

    /// The account, folder and expected SHA-1 an upload token carries.
    fn check_upload_token(&self, token: &str) -> Result<(String, String, String)> {
        let refused = || {
            NodeError::Forbidden(
                "the upload URL is invalid or expired: ask file/ul for a new one".into(),
            )
        };
        let (payload, sig) = token.split_once('.').ok_or_else(refused)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| refused())?;
        if !same(&sig, &mac(&self.openload_key("upload"), &[&payload])[..12]) {
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
    pub async fn openload_list(
        &self,
        user: &User,
        folder: Option<&str>,
    ) -> Result<OpenloadListing> {
        let folder = self.openload_folder(user, folder).await?;
        let (mut folders, mut files) = (Vec::new(), Vec::new());
        let mut offset = 0;
        while offset < MAX_LISTED {
            let page = self
                .list(
                    Some(folder.id.clone()),
                    ListQuery {
                        offset,
                        limit: cairn_store::catalog::MAX_PAGE,
                        ..ListQuery::default()
                    },
                )
                .await?;
            let got = page.entries.len() as u64;
            for e in page.entries {
                match e.kind {
                    EntryKind::Folder => folders.push(e),
                    EntryKind::File => files.push(self.entry(&e.id).await?),
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
    pub async fn openload_rename(
        &self,
        user: &User,
        id: &str,
        kind: EntryKind,
        name: &str,
    ) -> Result<Entry> {
        let entry = self.owned_entry(user, id).await?;
        if entry.kind != kind {
            return Err(NodeError::Store(StoreError::NotFound {
                what: if kind == EntryKind::File {
                    "file"
                } else {
                    "folder"
                },
                id: id.to_owned(),
            }));
        }
        if entry.id == user.home {
            return Err(NodeError::Forbidden(
                "the home folder cannot be renamed".into(),
            ));
        }
        self.update_entry(id, Some(name.to_owned()), None).await
    }

    /// Deletes `user`'s file `id`.
    pub async fn openload_delete(&self, user: &User, id: &str) -> Result<()> {
        let entry = self.owned_entry(user, id).await?;
        if entry.kind != EntryKind::File {
            return Err(NodeError::Store(StoreError::NotFound {
                what: "file",
                id: id.to_owned(),
            }));
        }
        self.delete(id, false).await.map(|_| ())
    }

    /// Starts a remote upload of `url` into `user`'s `folder` (home when
    /// absent) with extra `headers` (`Name: value` lines). Answers its id
    /// and the folder's id.
    pub async fn openload_remote_add(
        &self,
        user: &User,
        url: &str,
        folder: Option<&str>,
        headers: Option<&str>,
    ) -> Result<(i64, String)> {
        let folder = self.openload_folder(user, folder).await?.id;
        let headers = parse_headers(headers.unwrap_or(""))?;
        let req = FetchRequest {
            url: url.to_owned(),
            parent: Some(folder.clone()),
            name: None,
            on_conflict: OnConflict::Rename,
        };
        let (job, error) = match self.fetch_with_headers(req, headers, false).await {
            Ok(job) => (Some(job.id), None),
            Err(NodeError::ShuttingDown) => return Err(NodeError::ShuttingDown),
            // Openload accepted any URL and reported a bad one as an error.
            Err(e) => (None, Some(e.to_string())),
        };
        let node = self.clone();
        let account = user.account.clone();
        let (url, f) = (url.to_owned(), folder.clone());
        let id = blocking(move || {
            Ok(node.0.catalog.openload_task_add(&NewTask {
                kind: TaskKind::Remote,
                account: &account,
                source: &url,
                folder: &f,
                job: job.as_deref(),
                error: error.as_deref(),
            })?)
        })
        .await?;
        Ok((id, folder))
    }

    /// `user`'s newest `limit` remote uploads (or only `id`).
    pub async fn openload_remote_status(
        &self,
        user: &User,
        id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RemoteStatus>> {
        let node = self.clone();
        let account = user.account.clone();
        let tasks = blocking(move || {
            Ok(node
                .0
                .catalog
                .openload_tasks(&account, TaskKind::Remote, id, limit)?)
        })
        .await?;
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let job = match &t.job {
                Some(j) => self.job(j).await.ok(),
                None => None,
            };
            let mut s = RemoteStatus {
                id: t.id,
                url: t.source,
                status: "error",
                loaded: None,
                total: None,
                folder: t.folder,
                added: t.created,
                updated: t.created,
                entry: None,
                error: t.error,
            };
            if let Some(job) = job {
                s.updated = job.updated;
                s.total = job.total;
                s.loaded = (job.done > 0 || job.state != "running").then_some(job.done);
                s.error = job.error.clone();
                s.status = match job.state.as_str() {
                    "running" if job.done == 0 && job.total.is_none() => "new",
                    "running" => "downloading",
                    "done" => "finished",
                    _ => "error",
                };
                if job.state == "done" {
                    s.total = Some(job.done);
                    s.entry = job
                        .result
                        .as_ref()
                        .and_then(|r| r["entry"]["id"].as_str().map(str::to_owned));
                }
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Starts converting `user`'s file `id` to browser-streamable mp4;
    /// answers the convert's id. Without ffmpeg: `unavailable`, at once.
    pub async fn openload_convert(&self, user: &User, id: &str) -> Result<i64> {
        let entry = self.owned_entry(user, id).await?;
        if entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!("'{}' is a folder", entry.name)));
        }
        self.0.media.ffmpeg()?;
        self.0.media.ffprobe()?;
        let job = self
            .jobs_registry()
            .start("convert", entry.name.clone(), None, true);
        let job_id = job.id().to_owned();
        let node = self.clone();
        let account = user.account.clone();
        let (source, folder) = (entry.id.clone(), entry.parent.clone().unwrap_or_default());
        let task = blocking(move || {
            Ok(node.0.catalog.openload_task_add(&NewTask {
                kind: TaskKind::Convert,
                account: &account,
                source: &source,
                folder: &folder,
                job: Some(&job_id),
                error: None,
            })?)
        })
        .await?;
        let node = self.clone();
        self.spawn_task("convert", async move {
            let outcome = node.run_convert(&job, &entry).await;
            let value = outcome.as_ref().map(|e| serde_json::json!({ "entry": e }));
            job.finish(value);
            outcome.map(|_| ())
        });
        Ok(task)
    }

    async fn run_convert(&self, job: &Job, entry: &Entry) -> Result<Entry> {
        let ffmpeg = self.0.media.ffmpeg()?.to_path_buf();
        let ffprobe = self.0.media.ffprobe()?.to_path_buf();
        let input = self.materialize(entry).await?;
        job.check()?;
        let duration = media::probe_duration(&ffprobe, input.path()).await?;
        let output = self.0.media.output_file(".mp4")?;
        media::transcode_mp4(&ffmpeg, input.path(), output.path(), duration, job).await?;
        drop(input);
        let name = format!("{}.mp4", entry.name);
        self.store_temp(
            output,
            entry.parent.clone(),
            name,
            OnConflict::Rename,
            "convert",
        )
        .await
    }

    /// Stores a finished temp file as a new entry (a job of kind `store`).
    async fn store_temp(
        &self,
        file: media::TempFile,
        parent: Option<String>,
        name: String,
        on_conflict: OnConflict,
        label: &str,
    ) -> Result<Entry> {
        let size = std::fs::metadata(file.path()).map(|m| m.len()).ok();
        let job = self
            .jobs_registry()
            .start("store", format!("{label}: {name}"), size, false);
        let node = self.clone();
        let stored = blocking(move || {
            let path = file.path().to_path_buf();
            let outcome = std::fs::File::open(&path)
                .map_err(|e| NodeError::io("open", &path, e))
                .and_then(|mut src| {
                    node.store_file(
                        &mut src,
                        &job,
                        parent.as_deref(),
                        &name,
                        on_conflict,
                        &|_| Ok(()),
                    )
                });
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            drop(file);
            outcome
        })
        .await?;
        Ok(stored)
    }

    /// `user`'s running converts, in `folder` only when given.
    pub async fn openload_running_converts(
        &self,
        user: &User,
        folder: Option<&str>,
    ) -> Result<Vec<RunningConvert>> {
        if let Some(f) = folder {
            self.openload_folder(user, Some(f)).await?;
        }
        let node = self.clone();
        let account = user.account.clone();
        let tasks = blocking(move || {
            Ok(node.0.catalog.openload_tasks(
                &account,
                TaskKind::Convert,
                None,
                CONVERTS_SCANNED,
            )?)
        })
        .await?;
        let mut out = Vec::new();
        for t in tasks {
            if folder.is_some_and(|f| f != t.folder) {
                continue;
            }
            let Some(job) = t.job.as_deref() else {
                continue;
            };
            let Ok(job) = self.job(job).await else {
                continue;
            };
            if job.state != "running" {
                continue;
            }
            let progress = match job.total {
                Some(total) if total > 0 => (job.done as f64 / total as f64).clamp(0.0, 1.0),
                _ => 0.0,
            };
            out.push(RunningConvert {
                id: t.id,
                file: t.source,
                name: job.label,
                progress,
                updated: job.updated,
            });
        }
        Ok(out)
    }

    /// The splash image (a JPEG frame) of `user`'s video `id`: made with
    /// ffmpeg and stored on first call, the same one after. Answers the
    /// image's entry id.
    pub async fn openload_splash(&self, user: &User, id: &str) -> Result<String> {
        let entry = self.owned_entry(user, id).await?;
        if entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!("'{}' is a folder", entry.name)));
        }
        let info = self.entry(id).await?;
        if let Some(splash) = info.metadata.get(SPLASH_KEY)
            && self.entry(splash).await.is_ok()
        {
            return Ok(splash.clone());
        }
        let ffmpeg = self.0.media.ffmpeg()?.to_path_buf();
        let ffprobe = self.0.media.ffprobe()?.to_path_buf();
        let input = self.materialize(&entry).await?;
        let duration = media::probe_duration(&ffprobe, input.path())
            .await
            .unwrap_or(0.0);
        let at = (duration / 10.0).min(30.0);
        let output = self.0.media.output_file(".jpg")?;
        media::extract_jpeg(&ffmpeg, input.path(), output.path(), at).await?;
        drop(input);
        let folder = self
            .create_folder(Some(user.home.clone()), SPLASH_FOLDER.into())
            .await?;
        let name = format!("{}.jpg", entry.id);
        let splash = self
            .store_temp(output, Some(folder.id), name, OnConflict::Replace, "splash")
            .await?;
        let changes = [(SPLASH_KEY.to_owned(), Some(splash.id.clone()))].into();
        self.set_metadata(id, changes).await?;
        Ok(splash.id)
    }

    /// The splash image `splash` of file `file`, if it is that file's.
    pub async fn openload_splash_image(&self, file: &str, splash: &str) -> Result<Entry> {
        let info = self.openload_file(file).await?;
        match info.metadata.get(SPLASH_KEY) {
            Some(s) if s == splash => Ok(self.entry(splash).await?.entry),
            _ => Err(NodeError::Store(StoreError::NotFound {
                what: "splash image",
                id: splash.chars().take(80).collect(),
            })),
        }
    }
}

/// Extra request headers from `Name: value` lines. Headers that would
/// change how the request is framed or routed are refused.
fn parse_headers(text: &str) -> Result<reqwest::header::HeaderMap> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || NodeError::Invalid(format!("headers: '{line}' is not 'Name: value'"));
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        if matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection" | "upgrade" | "te"
        ) {
            return Err(NodeError::Invalid(format!("headers: {name} cannot be set")));
        }
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_from_lines_and_framing_headers_are_refused() {
        let h = parse_headers(
            "User-Agent: Mozilla/5.0 (X11)\nCookie: auth=1234;\r\n\n Authorization: Basic eDp5\n",
        )
        .unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h["cookie"], "auth=1234;");
        assert!(parse_headers("").unwrap().is_empty());
        assert!(parse_headers("no colon").is_err());
        assert!(parse_headers("Host: evil").is_err());
        assert!(parse_headers("Content-Length: 1").is_err());
    }

    #[tokio::test]
    async fn tickets_links_and_upload_urls_expire_and_cannot_be_forged() {
        let dir = tempfile::tempdir().unwrap();
        // No network: tests talk to nothing beyond loopback, and the
        // default listens on every address and asks the LAN (mDNS).
        let mut config = crate::Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let now = now_secs();
        let ttl = node.config().openload.ticket_secs as i64;

        let fresh = node.sign_ticket("AAAAAAAAAAA", "acct", now, 0);
        assert_eq!(
            node.openload_check_ticket("AAAAAAAAAAA", &fresh).unwrap(),
            Some("acct".into())
        );
        let err = |r: Result<Option<String>>| r.unwrap_err().code();
        assert_eq!(
            err(node.openload_check_ticket("BBBBBBBBBBB", &fresh)),
            "forbidden"
        );
        let old = node.sign_ticket("AAAAAAAAAAA", "", now - ttl - 1, 0);
        assert_eq!(
            err(node.openload_check_ticket("AAAAAAAAAAA", &old)),
            "forbidden"
        );
        let early = node.sign_ticket("AAAAAAAAAAA", "", now, 60);
        assert_eq!(
            err(node.openload_check_ticket("AAAAAAAAAAA", &early)),
            "invalid"
        );
        let forged = fresh.replace("~acct~", "~other~");
        assert_eq!(
            err(node.openload_check_ticket("AAAAAAAAAAA", &forged)),
            "forbidden"
        );
        assert_eq!(
            err(node.openload_check_ticket("AAAAAAAAAAA", "junk")),
            "forbidden"
        );

        let later = u32::try_from(now + 60).unwrap();
        let link = node.sign_link("AAAAAAAAAAA", later);
        assert_eq!(link.len(), 16);
        assert!(node.openload_check_link("AAAAAAAAAAA", &link).is_ok());
        assert!(node.openload_check_link("BBBBBBBBBBB", &link).is_err());
        let expired = node.sign_link("AAAAAAAAAAA", u32::try_from(now - 1).unwrap());
        assert!(node.openload_check_link("AAAAAAAAAAA", &expired).is_err());
        assert!(node.openload_check_link("AAAAAAAAAAA", "!!").is_err());

        let up = node.sign_upload("a", "f", "", now + 60);
        assert_eq!(node.check_upload_token(&up).unwrap().1, "f");
        let gone = node.sign_upload("a", "f", "", now - 1);
        assert!(node.check_upload_token(&gone).is_err());
        let (payload, sig) = up.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(format!("b~f~~{}", now + 60));
        assert!(node.check_upload_token(&format!("{other}.{sig}")).is_err());
        assert!(node.check_upload_token(payload).is_err());
        node.shutdown().await;
    }

    #[test]
    fn macs_separate_their_parts() {
        let key = [7u8; 32];
        assert_ne!(mac(&key, &[b"ab", b"c"]), mac(&key, &[b"a", b"bc"]));
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
    }
}
