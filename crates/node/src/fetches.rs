//! Remote URL uploads: a fetch job over HTTP(S) that streams the response
//! straight into the upload pipeline.
//!
//! Server-side request forgery is the danger here: a node told to fetch
//! `http://10.0.0.1/admin` or `http://localhost:8180/...` would reach what
//! the requester cannot. So only http and https are fetched; every address
//! the host resolves to must be globally reachable (`reachable.rs`: the
//! IANA special-purpose registries, and the IPv4 addresses that mapped,
//! NAT64, 6to4 and Teredo IPv6 addresses carry) unless `remote.allow` lists
//! it; the connection is pinned to the checked address (a second DNS answer
//! cannot swap it, and no proxy, not even one the environment names, stands
//! in between); and redirects are followed by hand, each hop checked the
//! same.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Url;
use serde::Serialize;

use crate::config::RemoteConfig;
use crate::entries::{BeforeCommit, Entries, UploadTarget};
use crate::jobs::{Job, JobFor};
use crate::reachable;
use crate::shared::Shared;
use crate::{Config, JobRecord, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// What to fetch and where it goes.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// An http or https URL.
    pub url: String,
    /// Folder (`None` for the root).
    pub parent: Option<String>,
    /// File name; default: from Content-Disposition, else the URL's path.
    pub name: Option<String>,
    /// Name collision policy.
    pub on_conflict: OnConflict,
}

/// Extra request headers for a fetch ([`FetchHeaders::parse`]).
#[derive(Debug, Clone, Default)]
pub struct FetchHeaders(reqwest::header::HeaderMap);

impl FetchHeaders {
    /// Headers from `Name: value` lines. Headers that would change how the
    /// request is framed or routed are refused (`invalid`).
    pub fn parse(text: &str) -> Result<Self> {
        parse_headers(text).map(Self)
    }
}

/// A fetched response, about to be stored.
#[derive(Debug, Clone, Serialize)]
struct Fetched {
    url: String,
    name: String,
    length: Option<u64>,
}

/// What a link leads to ([`Fetches::link_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A `.torrent` file, or a redirect to a magnet link.
    Torrent,
    /// A web page (`text/html`): yt-dlp may find media on it.
    Page,
    /// Anything else: media, or a file.
    Media,
}

/// Remote URL uploads (`node.fetches()`). Cheap to clone.
#[derive(Clone)]
pub struct Fetches(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
}

impl Fetches {
    pub(crate) fn new(shared: Arc<Shared>, entries: Entries) -> Self {
        Self(Arc::new(State { shared, entries }))
    }

    fn config(&self) -> &Config {
        &self.0.shared.config
    }

    /// Fetches `req.url` into a new entry as a job ("fetch"). The URL and
    /// its first address are checked before the job starts (a bad or
    /// forbidden URL is an error at once); with `wait`, answers when the
    /// job has ended.
    pub async fn start(&self, req: FetchRequest, wait: bool) -> Result<JobRecord> {
        let headers = reqwest::header::HeaderMap::new();
        self.fetch_with_headers(req, JobFor::default(), headers, wait)
            .await
    }

    /// [`Fetches::start`] for `owner` (its job carries the account, the URL
    /// and the folder, so it is listed among the account's jobs), sending
    /// `headers` too (cookies, basic auth), but only to the URL's own
    /// host: a redirect elsewhere does not get them.
    pub async fn start_for(
        &self,
        req: FetchRequest,
        owner: JobFor,
        headers: FetchHeaders,
        wait: bool,
    ) -> Result<JobRecord> {
        self.fetch_with_headers(req, owner, headers.0, wait).await
    }

    /// Stores the media yt-dlp found on a page (`Media::resolve`) as a
    /// new file, as a fetch job: named after its title, fetched with the
    /// headers its URL wants.
    pub async fn start_remote_media(
        &self,
        media: &crate::RemoteMedia,
        parent: Option<String>,
        wait: bool,
    ) -> Result<JobRecord> {
        let ext = parse(&media.url)?
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .and_then(|last| last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()))
            .filter(|e| (1..=5).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "mp4".into());
        let title: String = media
            .title
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .take(200)
            .collect();
        let name = format!("{}.{ext}", title.trim());
        let headers = media.header_map();
        let req = FetchRequest {
            url: media.url.clone(),
            parent,
            name: Some(name).filter(|n| cairn_store::catalog::check_name(n).is_ok()),
            on_conflict: OnConflict::Rename,
        };
        let owner = JobFor {
            subject: Some(media.page.clone()),
            ..JobFor::default()
        };
        self.fetch_with_headers(req, owner, headers, wait).await
    }

    /// GETs `url` whole, at most `limit` bytes, for a service the admin
    /// pointed the node at (a search engine's API on this machine): no
    /// address check then, as the admin chose the address; with
    /// `checked`, as every remote fetch.
    pub async fn get_small(&self, url: &str, limit: usize, checked: bool) -> Result<Bytes> {
        match self.get_plain(url, checked).await? {
            Got::Response(resp) => body_within(resp, limit).await,
            Got::Magnet(_) => Err(NodeError::Invalid(format!(
                "{url} leads to a magnet link, not a file"
            ))),
        }
    }

    /// What `url` leads to, told from its answer's type (its body is not
    /// read): a torrent (`application/x-bittorrent`, a path ending in
    /// `.torrent`, or a redirect to a magnet link), a web page
    /// (`text/html`), or anything else. Checked as every remote fetch.
    pub async fn link_kind(&self, url: &str) -> Result<LinkKind> {
        let resp = match self.get_plain(url, true).await? {
            Got::Magnet(_) => return Ok(LinkKind::Torrent),
            Got::Response(resp) => resp,
        };
        let kind = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let torrent_path = resp.url().path().to_ascii_lowercase().ends_with(".torrent");
        Ok(if kind.contains("bittorrent") || torrent_path {
            LinkKind::Torrent
        } else if kind.starts_with("text/html") || kind.starts_with("application/xhtml") {
            LinkKind::Page
        } else {
            LinkKind::Media
        })
    }

    /// GETs `url` with no headers of the caller's, following redirects
    /// (checked unless `checked` is false), telling one to a magnet link.
    async fn get_plain(&self, url: &str, checked: bool) -> Result<Got> {
        get_following(
            &self.config().remote,
            parse(url)?,
            Default::default(),
            Default::default(),
            checked,
        )
        .await
    }

    async fn fetch_with_headers(
        &self,
        req: FetchRequest,
        owner: JobFor,
        headers: reqwest::header::HeaderMap,
        wait: bool,
    ) -> Result<JobRecord> {
        let url = parse(&req.url)?;
        if let Some(parent) = &req.parent {
            self.0.entries.check_folder(parent).await?;
        }
        self.checked_addr(&url).await?;
        let owner = JobFor {
            subject: Some(req.url.clone()),
            folder: req.parent.clone(),
            ..owner
        };
        let job = self
            .0
            .shared
            .jobs
            .start_for("fetch", url.as_str(), None, true, owner);
        let id = job.id().to_owned();
        let fetches = self.clone();
        let handle = self.0.shared.spawn("fetch", async move {
            fetches.run_fetch(job, url, req, headers).await;
            Ok(())
        });
        if wait {
            let _ = handle.await;
        }
        self.0.shared.jobs.record(&id).await
    }

    async fn run_fetch(
        &self,
        job: Job,
        url: Url,
        req: FetchRequest,
        headers: reqwest::header::HeaderMap,
    ) {
        let stop = job.token();
        let response = tokio::select! {
            r = self.follow(url, headers) => r,
            () = stop.cancelled() => Err(NodeError::Cancelled),
        };
        let (response, fetched) = match response.and_then(|r| self.describe(r, &req)) {
            Ok(ok) => ok,
            Err(e) => {
                job.finish(Err(&e));
                return;
            }
        };
        if let Some(len) = fetched.length {
            job.set_total(len);
        }
        let target = UploadTarget {
            parent: req.parent,
            name: fetched.name,
            on_conflict: req.on_conflict,
            wait_digests: false,
        };
        let none: BeforeCommit = Box::new(|_| Ok(()));
        let body = response.bytes_stream().boxed();
        if let Err(e) = self.0.entries.store_stream(job, target, body, none).await {
            tracing::info!(url = %fetched.url, error = %e, "fetch failed");
        }
    }

    /// Sends the request, following redirects by hand, each hop checked.
    async fn follow(
        &self,
        url: Url,
        headers: reqwest::header::HeaderMap,
    ) -> Result<reqwest::Response> {
        get(&self.config().remote, url, headers, Default::default()).await
    }

    /// The response's name and length, refused if it is over the limit.
    fn describe(
        &self,
        resp: reqwest::Response,
        req: &FetchRequest,
    ) -> Result<(reqwest::Response, Fetched)> {
        let length = resp.content_length();
        let limit = self.config().max_upload_bytes;
        if length.is_some_and(|l| l > limit) {
            return Err(NodeError::TooLarge { limit });
        }
        let name = req
            .name
            .clone()
            .or_else(|| disposition_name(&resp))
            .or_else(|| path_name(resp.url()))
            .filter(|n| cairn_store::catalog::check_name(n).is_ok())
            .unwrap_or_else(|| "download".into());
        let fetched = Fetched {
            url: resp.url().to_string(),
            name,
            length,
        };
        Ok((resp, fetched))
    }

    async fn checked_addr(&self, url: &Url) -> Result<SocketAddr> {
        checked_addr(&self.config().remote, url).await
    }
}

/// GETs `url` as every remote fetch does: redirects followed by hand,
/// each hop's addresses checked and the connection pinned to one, no
/// proxy; `headers` go to the first URL's host only, `every_hop` (a
/// range) to each. A status other than 2xx is an error.
pub(crate) async fn get(
    cfg: &RemoteConfig,
    url: Url,
    headers: reqwest::header::HeaderMap,
    every_hop: reqwest::header::HeaderMap,
) -> Result<reqwest::Response> {
    match get_following(cfg, url, headers, every_hop, true).await? {
        Got::Response(r) => Ok(r),
        Got::Magnet(m) => Err(NodeError::Invalid(format!(
            "the URL leads to a magnet link, not a file: {}",
            m.chars().take(100).collect::<String>()
        ))),
    }
}

/// What a GET came to: a response, or a redirect to a magnet link.
pub(crate) enum Got {
    Response(reqwest::Response),
    Magnet(String),
}

/// [`get`], also for an address the admin chose (`checked` false: no
/// address check nor pin, redirects still by hand), telling a redirect to
/// a magnet link.
pub(crate) async fn get_following(
    cfg: &RemoteConfig,
    mut url: Url,
    headers: reqwest::header::HeaderMap,
    every_hop: reqwest::header::HeaderMap,
    checked: bool,
) -> Result<Got> {
    let first_host = url.host_str().map(str::to_owned);
    for _ in 0..=cfg.max_redirects {
        // No proxy, not even one named in the environment: a proxy
        // would resolve the host again itself, past the check and the pin.
        let mut client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs))
            .read_timeout(Duration::from_secs(cfg.idle_timeout_secs))
            .timeout(Duration::from_secs(cfg.total_timeout_secs))
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")));
        if checked {
            let addr = checked_addr(cfg, &url).await?;
            client = client.resolve(url.host_str().unwrap_or_default(), addr);
        }
        let client = client
            .build()
            .map_err(|e| NodeError::Internal(format!("HTTP client: {e}")))?;
        let mut request = client.get(url.clone()).headers(every_hop.clone());
        if url.host_str().map(str::to_owned) == first_host {
            request = request.headers(headers.clone());
        }
        let resp = request
            .send()
            .await
            .map_err(|e| NodeError::Aborted(format!("cannot fetch {url}: {}", root_cause(&e))))?;
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| NodeError::Aborted(format!("{url} redirects nowhere")))?;
            if location.starts_with("magnet:") {
                return Ok(Got::Magnet(location.to_owned()));
            }
            url = parse(
                url.join(location)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?
                    .as_str(),
            )?;
            continue;
        }
        if !resp.status().is_success() {
            return Err(NodeError::Aborted(format!(
                "{url} answered {}",
                resp.status()
            )));
        }
        return Ok(Got::Response(resp));
    }
    Err(NodeError::Aborted(format!(
        "more than {} redirects",
        cfg.max_redirects
    )))
}

/// The body of `resp`, at most `limit` bytes.
pub(crate) async fn body_within(resp: reqwest::Response, limit: usize) -> Result<Bytes> {
    let url = resp.url().to_string();
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(NodeError::TooLarge {
            limit: limit as u64,
        });
    }
    let mut body = resp.bytes_stream();
    let mut all = bytes::BytesMut::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| NodeError::Aborted(format!("reading {url}: {e}")))?;
        if all.len() + piece.len() > limit {
            return Err(NodeError::TooLarge {
                limit: limit as u64,
            });
        }
        all.extend_from_slice(&piece);
    }
    Ok(all.freeze())
}

/// Resolves `url`'s host and checks every address; answers the first.
pub(crate) async fn checked_addr(cfg: &RemoteConfig, url: &Url) -> Result<SocketAddr> {
    let host = url
        .host_str()
        .ok_or_else(|| NodeError::Invalid(format!("{url} has no host")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| NodeError::Aborted(format!("cannot resolve {host}: {e}")))?
        .collect();
    for addr in &addrs {
        reachable::check(addr.ip(), &cfg.allow).map_err(|why| NodeError::AddressNotAllowed {
            host: host.to_owned(),
            ip: addr.ip(),
            why: why.to_string(),
        })?;
    }
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| NodeError::Aborted(format!("{host} has no address")))
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

/// An http or https URL, else `invalid`.
pub(crate) fn parse(url: &str) -> Result<Url> {
    let parsed =
        Url::parse(url).map_err(|e| NodeError::Invalid(format!("'{url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(NodeError::Invalid(format!(
            "only http and https URLs are fetched, not {}",
            parsed.scheme()
        )));
    }
    Ok(parsed)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn disposition_name(resp: &reqwest::Response) -> Option<String> {
    let value = resp
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)?
        .to_str()
        .ok()?;
    let part = value
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename="))?;
    let name = part
        .trim_matches('"')
        .rsplit(['/', '\\'])
        .next()?
        .to_owned();
    (!name.is_empty()).then_some(name)
}

fn path_name(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let decoded = percent_decode(last);
    (!decoded.is_empty()).then_some(decoded)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_fetched() {
        assert!(parse("http://example.com/a").is_ok());
        assert!(parse("https://example.com/a").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://x/y",
            "gopher://x",
            "not a url",
            "",
        ] {
            assert!(matches!(parse(bad), Err(NodeError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn names_come_from_the_path_percent_decoded() {
        assert_eq!(
            path_name(&Url::parse("http://h/a/My%20Movie.mkv?x=1").unwrap()).as_deref(),
            Some("My Movie.mkv")
        );
        assert_eq!(path_name(&Url::parse("http://h/").unwrap()), None);
        assert_eq!(percent_decode("100%"), "100%");
    }

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
}
