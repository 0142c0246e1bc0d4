//! Paid files: cacaoweb's pay-per-download with free previews, on the
//! ledger's credits.
//!
//! A file's terms live in its metadata under three reserved keys:
//!
//! - `restricted` (`true`/`false`): set only when the file is uploaded
//!   ([`Node::upload_with_metadata`], cacaoweb's `/upload?restricted=true`).
//!   It never changes afterwards: "files uploaded as free files cannot be
//!   converted to paid files later on", and a paid file does not silently
//!   turn into a free one either (its price can go to 0 instead);
//! - `previewallowed` (`true`/`false`): whether the first part streams free;
//!   set at upload, changeable later (it only matters for a restricted file);
//! - `price`: credits, an integer ≥ 0 (absent = 0 = free), changeable any
//!   time through the metadata API; a price above 0 on a file not uploaded
//!   as restricted is refused.
//!
//! [`Node::set_metadata`] checks every change to these keys before writing
//! (`restricted` is immutable, so the check cannot go stale between the
//! read and the write).
//!
//! A file is *paid* when it is restricted and its price is above 0. Who may
//! read it whole: the admin, its owner, and any account that bought it.
//! Others get the preview (when allowed) or nothing. A purchase moves the
//! price from the buyer to the owner's account (the system account
//! `operator` for the operator's own files) and records it, in one
//! transaction ([`cairn_store::Catalog::buy`]): a file is paid for once.
//!
//! The preview's length: `[gateway] preview_seconds` of media when ffprobe
//! is installed and the file is audio or video, else `preview_bytes`.
//! ffprobe (found on PATH at start, see `media`) reads the verified plaintext through a pipe (the blob is
//! encrypted at rest) for a little longer than the preview; the preview
//! ends at the byte position of the first packet whose decode time is
//! `preview_seconds` after the first packet's, so it ends on a packet
//! boundary. A container that cannot be probed through a pipe falls back
//! to seconds × its bit rate, then to `preview_bytes`. The measure is kept
//! in memory per blob.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Mutex;

use cairn_core::BlobId;
use cairn_store::ledger::{MINT, SPENT, Unit};
use cairn_store::users::User;
use serde::Serialize;

use crate::read::{BlobHandle, ReadLimit};
use crate::tasks::blocking;
use crate::{EntryInfo, EntryKind, Node, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// Metadata key: the file was uploaded as a paid file.
pub const RESTRICTED: &str = "restricted";
/// Metadata key: the first part of a paid file streams free.
pub const PREVIEW_ALLOWED: &str = "previewallowed";
/// Metadata key: the price in credits.
pub const PRICE: &str = "price";
/// The system account that sells the operator's own files.
pub const OPERATOR: &str = "operator";

/// The paid-file state kept in memory: measured preview lengths by blob.
#[derive(Default)]
pub(crate) struct PaidState {
    previews: Mutex<HashMap<BlobId, u64>>,
}

/// A file's terms, read from its metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PaidTerms {
    /// Uploaded as a paid file.
    pub restricted: bool,
    /// The first part streams free.
    pub preview_allowed: bool,
    /// Credits (0 = free).
    pub price: u64,
}

impl PaidTerms {
    /// The terms in `metadata` (malformed values, which the checks keep
    /// out, read as their defaults).
    pub fn of(metadata: &BTreeMap<String, String>) -> Self {
        let flag = |k: &str| {
            metadata
                .get(k)
                .is_some_and(|v| matches!(parse_flag(k, v), Ok(true)))
        };
        Self {
            restricted: flag(RESTRICTED),
            preview_allowed: flag(PREVIEW_ALLOWED),
            price: metadata
                .get(PRICE)
                .and_then(|v| parse_price(v).ok())
                .unwrap_or(0),
        }
    }

    /// Whether reading it whole costs something.
    pub fn is_paid(&self) -> bool {
        self.restricted && self.price > 0
    }
}

/// Metadata key that publishes a file (`true`): its key goes with its
/// network record, and the doors that answer without the secret show it.
pub const PUBLIC: &str = "public";

/// Metadata key of a folder whose files are published (`true`): the
/// doors that answer without the secret show them (their read keys stay
/// off the network unless they are [`PUBLIC`] themselves). cacaoweb's
/// upload folder is one.
pub const PUBLISHED: &str = "published";

/// The answer for an entry the reader may not see: the same as for one
/// that does not exist.
fn not_found(id: &str) -> NodeError {
    NodeError::Store(cairn_store::StoreError::NotFound {
        what: "entry",
        id: id.to_owned(),
    })
}

/// Who reads a file.
#[derive(Debug, Clone)]
pub enum Reader {
    /// The node's admin (the API secret).
    Admin,
    /// A gateway account.
    User(User),
    /// Nobody in particular.
    Anonymous,
}

impl Reader {
    /// Whether this is the account that owns `info`.
    pub fn owns(&self, info: &EntryInfo) -> bool {
        matches!(self, Self::User(u) if info.entry.owner.as_deref() == Some(u.account.as_str()))
    }

    /// Whether this reader sees `info` published or not: the admin, or
    /// its owner.
    pub fn sees_unpublished(&self, info: &EntryInfo) -> bool {
        matches!(self, Self::Admin) || self.owns(info)
    }
}

/// What a reader may read of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Access {
    /// All of it.
    Whole,
    /// Bytes `0..bytes` only.
    Preview {
        /// Where the preview ends.
        bytes: u64,
    },
    /// None of it.
    Nothing,
}

impl Access {
    /// The part of `0..size` that may be read.
    pub fn readable(&self, size: u64) -> Range<u64> {
        match self {
            Self::Whole => 0..size,
            Self::Preview { bytes } => 0..(*bytes).min(size),
            Self::Nothing => 0..0,
        }
    }
}

/// A file's terms and what one reader may do with it.
#[derive(Debug, Clone, Serialize)]
pub struct PaidStatus {
    /// The entry.
    pub entry: String,
    /// File size.
    pub size: u64,
    /// Its terms.
    pub terms: PaidTerms,
    /// The account the price goes to.
    pub seller: String,
    /// Whether this reader bought it.
    pub bought: bool,
    /// What this reader may read.
    pub access: Access,
}

impl PaidStatus {
    /// Refuses a read of `range` beyond what the reader may read, with
    /// code `payment_required`.
    pub fn check_read(&self, range: &Range<u64>) -> Result<()> {
        let ok = self.access.readable(self.size);
        if range.start >= ok.start && range.end <= ok.end {
            return Ok(());
        }
        Err(NodeError::PaymentRequired(match self.access {
            Access::Preview { bytes } => format!(
                "entry '{}' costs {} credits: only bytes 0-{} are a free preview; buy it to read the rest",
                self.entry,
                self.terms.price,
                bytes.min(self.size).saturating_sub(1)
            ),
            _ => format!(
                "entry '{}' costs {} credits and has no free preview; buy it to read it",
                self.entry, self.terms.price
            ),
        }))
    }
}

/// A file opened for one reader ([`Node::open_for`]).
pub struct OpenedFor {
    /// The entry.
    pub info: EntryInfo,
    /// Its terms and what the reader may read.
    pub status: PaidStatus,
    /// Its content: a read past `status.access` is refused.
    pub handle: BlobHandle,
}

/// What a purchase did.
#[derive(Debug, Clone, Serialize)]
pub struct Purchase {
    /// The entry.
    pub entry: String,
    /// Its price now.
    pub price: u64,
    /// Credits taken by this call (0 when bought before, free or one's own).
    pub charged: u64,
    /// The buyer's credits after.
    pub credits: i64,
}

/// The ledger's audit and the system accounts' balances.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    /// Every balance of transfer bytes summed (always 0).
    pub bytes_sum: i64,
    /// Every balance of credits summed (always 0).
    pub credits_sum: i64,
    /// Accounts whose balance differs from their postings (always 0).
    pub drift: i64,
    /// Balances of `mint`, `spent` and `operator`, per unit.
    pub system: BTreeMap<String, BTreeMap<String, i64>>,
}

fn parse_flag(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(NodeError::Invalid(format!(
            "metadata '{key}' is true or false, not '{}'",
            v.chars().take(40).collect::<String>()
        ))),
    }
}

fn parse_price(v: &str) -> Result<u64> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|p| i64::try_from(*p).is_ok())
        .ok_or_else(|| {
            NodeError::Invalid(format!(
                "price is a whole number of credits, 0 or more, not '{}'",
                v.chars().take(40).collect::<String>()
            ))
        })
}

/// Checks the paid-file keys of an upload's metadata: well-formed, and a
/// price only on a restricted file. A restricted upload may not replace an
/// existing entry (that would turn a free entry into a paid one).
pub(crate) fn check_initial(
    metadata: &BTreeMap<String, String>,
    on_conflict: OnConflict,
) -> Result<()> {
    let restricted = match metadata.get(RESTRICTED) {
        Some(v) => parse_flag(RESTRICTED, v)?,
        None => false,
    };
    if let Some(v) = metadata.get(PREVIEW_ALLOWED) {
        parse_flag(PREVIEW_ALLOWED, v)?;
    }
    if let Some(v) = metadata.get(PRICE)
        && parse_price(v)? > 0
        && !restricted
    {
        return Err(free_file_error(PRICE));
    }
    if restricted && on_conflict == OnConflict::Replace {
        return Err(NodeError::Invalid(
            "a restricted upload cannot replace an existing entry: a free file cannot become paid"
                .into(),
        ));
    }
    Ok(())
}

fn free_file_error(what: &str) -> NodeError {
    NodeError::Invalid(format!(
        "a file uploaded as free cannot become paid: {what} refused (upload it with restricted=true to sell it)"
    ))
}

impl Node {
    /// Checks metadata `changes` of entry `id` against the paid-file rules
    /// (blocking).
    pub(crate) fn check_paid_changes(
        &self,
        id: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<()> {
        if ![RESTRICTED, PREVIEW_ALLOWED, PRICE]
            .iter()
            .any(|k| changes.contains_key(*k))
        {
            return Ok(());
        }
        let restricted = PaidTerms::of(&self.0.shared.catalog.metadata(id)?).restricted;
        if let Some(change) = changes.get(RESTRICTED) {
            let wanted = match change {
                Some(v) => parse_flag(RESTRICTED, v)?,
                None => false,
            };
            if wanted != restricted {
                return Err(if restricted {
                    NodeError::Invalid(
                        "restricted is fixed at upload: set price to 0 to give this file away"
                            .into(),
                    )
                } else {
                    free_file_error("restricted=true")
                });
            }
        }
        if let Some(Some(v)) = changes.get(PREVIEW_ALLOWED) {
            parse_flag(PREVIEW_ALLOWED, v)?;
        }
        if let Some(Some(v)) = changes.get(PRICE)
            && parse_price(v)? > 0
            && !restricted
        {
            return Err(free_file_error(&format!("price {}", v.trim())));
        }
        Ok(())
    }

    /// Entry `id`'s terms and what `reader` may read of it. An entry the
    /// reader may not see (`Node::may_see`) is not found.
    pub async fn paid_status(&self, id: &str, reader: &Reader) -> Result<PaidStatus> {
        let info = self.visible_entry(id, reader).await?;
        self.paid_status_of(&info, reader).await
    }

    /// Entry `id`, if `reader` may see it; else the answer for an entry
    /// that does not exist.
    pub async fn visible_entry(&self, id: &str, reader: &Reader) -> Result<EntryInfo> {
        let (node, id, reader) = (self.clone(), id.to_owned(), reader.clone());
        blocking(move || {
            let info = node.entry_info(&id)?;
            if node.may_see(&info, &reader)? {
                Ok(info)
            } else {
                Err(not_found(&id))
            }
        })
        .await
    }

    /// File `info` opened for `reader`: what they may read of it, and a
    /// handle that refuses any read past that, whichever door reads
    /// through it (invariant 16). A file the reader may not see
    /// (`Node::may_see`) is not found.
    pub async fn open_for(&self, info: &EntryInfo, reader: &Reader) -> Result<OpenedFor> {
        let (node, seen, who) = (self.clone(), info.clone(), reader.clone());
        if !blocking(move || node.may_see(&seen, &who)).await? {
            return Err(not_found(&info.entry.id));
        }
        let status = self.paid_status_of(info, reader).await?;
        let blob = info.entry.blob.as_deref().unwrap_or_default();
        let limit = ReadLimit {
            readable: status.access.readable(status.size),
            refusal: {
                let status = status.clone();
                Box::new(move |range| match status.check_read(range) {
                    Err(e) => e,
                    Ok(()) => NodeError::Internal("a read within the limit was refused".into()),
                })
            },
        };
        let handle = self.open_blob(blob).await?.limited(limit);
        Ok(OpenedFor {
            info: info.clone(),
            status,
            handle,
        })
    }

    /// Entry `id` opened for `reader` ([`Node::open_for`]).
    pub async fn open_entry_for(&self, id: &str, reader: &Reader) -> Result<OpenedFor> {
        let info = self.visible_entry(id, reader).await?;
        self.open_for(&info, reader).await
    }

    /// [`Node::paid_status`] of an entry already loaded, which the caller
    /// has found the reader may see (by its own door's rule).
    pub async fn paid_status_of(&self, info: &EntryInfo, reader: &Reader) -> Result<PaidStatus> {
        if info.entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!(
                "'{}' is a folder, it has no content",
                info.entry.name
            )));
        }
        let terms = PaidTerms::of(&info.metadata);
        let seller = info
            .entry
            .owner
            .clone()
            .unwrap_or_else(|| OPERATOR.to_owned());
        let bought = match reader {
            Reader::User(u) => {
                let node = self.clone();
                let (entry, account) = (info.entry.id.clone(), u.account.clone());
                blocking(move || Ok(node.0.shared.catalog.has_bought(&entry, &account)?)).await?
            }
            _ => false,
        };
        let own = reader.owns(info);
        let access = if !terms.is_paid() || matches!(reader, Reader::Admin) || own || bought {
            Access::Whole
        } else if terms.preview_allowed {
            Access::Preview {
                bytes: self.preview_length(info).await,
            }
        } else {
            Access::Nothing
        };
        Ok(PaidStatus {
            entry: info.entry.id.clone(),
            size: info.entry.size,
            terms,
            seller,
            bought,
            access,
        })
    }

    /// Whether `info` is published: marked [`PUBLIC`], offered for sale
    /// (`restricted`), or a file of a [`PUBLISHED`] folder (blocking).
    pub(crate) fn is_published(&self, info: &EntryInfo) -> Result<bool> {
        let flag = |k: &str| info.metadata.get(k).is_some_and(|v| v == "true");
        if flag(PUBLIC) || flag(RESTRICTED) {
            return Ok(true);
        }
        let Some(parent) = info.entry.parent.as_deref() else {
            return Ok(false);
        };
        let folder = self.0.shared.catalog.metadata(parent)?;
        Ok(folder.get(PUBLISHED).is_some_and(|v| v == "true"))
    }

    /// Whether `info` is published: marked [`PUBLIC`], offered for sale
    /// (`restricted`), or a file of a [`PUBLISHED`] folder; what the doors
    /// that answer without the secret may show.
    pub async fn published(&self, info: &EntryInfo) -> Result<bool> {
        let (node, info) = (self.clone(), info.clone());
        blocking(move || node.is_published(&info)).await
    }

    /// Whether `reader` may see `info` through a door that answers without
    /// the secret (cacaoweb, the native paid calls): the admin sees every
    /// file, an account its own, anyone a published one
    /// (`Node::is_published`). The operator's other files stay private.
    pub(crate) fn may_see(&self, info: &EntryInfo, reader: &Reader) -> Result<bool> {
        if reader.sees_unpublished(info) {
            return Ok(true);
        }
        self.is_published(info)
    }

    /// `user` buys entry `id`: the price moves from them to the seller and
    /// the purchase is recorded, in one transaction. Buying again, buying
    /// a free file or one's own file charges nothing. Refused whole with
    /// code `balance_insufficient` when the buyer is short.
    pub async fn buy_entry(&self, id: &str, user: &User) -> Result<Purchase> {
        let info = self.visible_entry(id, &Reader::User(user.clone())).await?;
        let status = self
            .paid_status_of(&info, &Reader::User(user.clone()))
            .await?;
        let node = self.clone();
        let user = user.clone();
        blocking(move || {
            let mut charged = 0;
            let own = info.entry.owner.as_deref() == Some(user.account.as_str());
            if status.terms.is_paid() && !own {
                let price = i64::try_from(status.terms.price)
                    .map_err(|_| NodeError::Invalid("price out of range".into()))?;
                if node.0.shared.catalog.buy(
                    &info.entry.id,
                    &user.account,
                    &status.seller,
                    price,
                )? {
                    charged = status.terms.price;
                    tracing::info!(entry = %info.entry.id, buyer = %user.login, price, "bought");
                }
            }
            Ok(Purchase {
                entry: info.entry.id.clone(),
                price: status.terms.price,
                charged,
                credits: node
                    .0
                    .shared
                    .catalog
                    .balance(&user.account, Unit::Credits)?,
            })
        })
        .await
    }

    /// The ledger's audit and the system accounts' balances (admin).
    pub async fn ledger_report(&self) -> Result<LedgerReport> {
        let node = self.clone();
        blocking(move || {
            let (bytes_sum, credits_sum, drift) = node.0.shared.catalog.audit_ledger()?;
            let mut system = BTreeMap::new();
            for account in [MINT, SPENT, OPERATOR] {
                let mut units = BTreeMap::new();
                for unit in [Unit::Bytes, Unit::Credits] {
                    let name = if unit == Unit::Bytes {
                        "bytes"
                    } else {
                        "credits"
                    };
                    units.insert(
                        name.to_owned(),
                        node.0.shared.catalog.balance(account, unit)?,
                    );
                }
                system.insert(account.to_owned(), units);
            }
            Ok(LedgerReport {
                bytes_sum,
                credits_sum,
                drift,
                system,
            })
        })
        .await
    }

    /// Where entry `info`'s free preview ends (measured once per blob).
    pub async fn preview_length(&self, info: &EntryInfo) -> u64 {
        let size = info.entry.size;
        let Some(Ok(blob)) = info.entry.blob.as_deref().map(str::parse::<BlobId>) else {
            return 0;
        };
        if let Some(len) = self.cached_preview(&blob) {
            return len;
        }
        let gateway = &self.0.shared.config.gateway;
        let media = info
            .entry
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("video/") || t.starts_with("audio/"));
        let mut len = gateway.preview_bytes.min(size);
        if media && gateway.preview_seconds > 0 {
            let node = self.clone();
            let seconds = gateway.preview_seconds;
            let measured = blocking(move || {
                let Ok(ffprobe) = node.0.media.ffprobe() else {
                    return Ok(None);
                };
                Ok(crate::media::preview_end(
                    ffprobe,
                    &node.handle(&blob)?,
                    seconds,
                ))
            })
            .await;
            match measured {
                Ok(Some(end)) => len = end.min(size),
                Ok(None) => {}
                Err(e) => tracing::warn!(blob = %blob, error = %e, "cannot measure a preview"),
            }
        }
        self.0
            .paid
            .previews
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(blob, len);
        len
    }

    fn cached_preview(&self, blob: &BlobId) -> Option<u64> {
        self.0
            .paid
            .previews
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(blob)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn terms_read_flags_and_price() {
        let t = PaidTerms::of(&meta(&[("restricted", "true"), ("price", "7")]));
        assert!(t.is_paid() && !t.preview_allowed && t.price == 7);
        assert!(!PaidTerms::of(&meta(&[("price", "7")])).is_paid());
        assert!(!PaidTerms::of(&meta(&[("restricted", "true"), ("price", "0")])).is_paid());
    }

    #[test]
    fn uploads_cannot_price_a_free_file_or_replace_with_a_paid_one() {
        assert!(check_initial(&meta(&[("price", "3")]), OnConflict::Fail).is_err());
        assert!(check_initial(&meta(&[("price", "0")]), OnConflict::Fail).is_ok());
        assert!(
            check_initial(
                &meta(&[("restricted", "true"), ("price", "3")]),
                OnConflict::Fail
            )
            .is_ok()
        );
        assert!(check_initial(&meta(&[("restricted", "true")]), OnConflict::Replace).is_err());
        assert!(check_initial(&meta(&[("restricted", "yes")]), OnConflict::Fail).is_err());
        assert!(check_initial(&meta(&[("price", "-1")]), OnConflict::Fail).is_err());
        assert!(check_initial(&meta(&[("price", "1.5")]), OnConflict::Fail).is_err());
    }

    #[test]
    fn reads_past_the_preview_are_refused() {
        let status = PaidStatus {
            entry: "e".into(),
            size: 100,
            terms: PaidTerms {
                restricted: true,
                preview_allowed: true,
                price: 5,
            },
            seller: OPERATOR.into(),
            bought: false,
            access: Access::Preview { bytes: 10 },
        };
        assert!(status.check_read(&(0..10)).is_ok());
        assert!(status.check_read(&(5..10)).is_ok());
        let e = status.check_read(&(0..11)).unwrap_err();
        assert_eq!(e.code(), "payment_required");
    }

    /// Publication by folder: the files of a folder marked `published`
    /// are published, and stop being so once moved out of it.
    #[tokio::test]
    async fn a_published_folder_publishes_its_files_while_they_are_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let folder = node.create_folder(None, "shop".into()).await.unwrap();
        let target = |parent: Option<String>| crate::UploadTarget {
            parent,
            name: "a.txt".into(),
            on_conflict: OnConflict::Fail,
            wait_digests: false,
        };
        let body = || {
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"x"))])
        };
        let file = node
            .upload(target(Some(folder.id.clone())), body(), None)
            .await
            .unwrap();
        assert!(!node.published(&file).await.unwrap(), "not yet marked");
        let mark = BTreeMap::from([(PUBLISHED.to_owned(), Some("true".to_owned()))]);
        node.set_metadata(&folder.id, mark).await.unwrap();
        assert!(node.published(&file).await.unwrap());
        assert!(node.may_see(&file, &Reader::Anonymous).unwrap());
        node.update_entry(&file.entry.id, None, Some(None))
            .await
            .unwrap();
        let moved = node.entry(&file.entry.id).await.unwrap();
        assert!(!node.published(&moved).await.unwrap(), "moved out");
        assert!(!node.may_see(&moved, &Reader::Anonymous).unwrap());
        node.shutdown().await;
    }

    /// Invariant 16 at the engine: a paid file opened for a reader who has
    /// not bought it reads its preview and nothing past it, through every
    /// way out of the handle; its owner, a buyer and the admin read it all.
    #[tokio::test]
    async fn a_handle_opened_for_a_reader_refuses_what_they_have_not_paid_for() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::default();
        config.network.enabled = false;
        config.gateway.preview_bytes = 1000;
        let node = Node::start(dir.path(), config).await.unwrap();
        let target = crate::UploadTarget {
            parent: None,
            name: "film.bin".into(),
            on_conflict: OnConflict::Fail,
            wait_digests: false,
        };
        let bytes = bytes::Bytes::from(vec![7u8; 3 << 20]);
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        let meta = meta(&[
            ("restricted", "true"),
            ("previewallowed", "true"),
            ("price", "5"),
        ]);
        let file = node
            .upload_with_metadata(target, body, None, meta)
            .await
            .unwrap();
        let anyone = node.open_for(&file, &Reader::Admin).await.unwrap();
        assert_eq!(anyone.status.access, Access::Whole, "the admin reads all");
        let size = file.entry.size;
        let mut whole = node.stream(anyone.handle, 0..size, "a".into(), None);
        let mut read = 0;
        while let Some(piece) = whole.next().await {
            read += piece.unwrap().len() as u64;
        }
        assert_eq!(read, size);

        // A published paid file, read by nobody in particular.
        let mark = BTreeMap::from([(PUBLIC.to_owned(), Some("true".to_owned()))]);
        let file = node.set_metadata(&file.entry.id, mark).await.unwrap();
        let opened = node.open_for(&file, &Reader::Anonymous).await.unwrap();
        assert_eq!(opened.status.access, Access::Preview { bytes: 1000 });
        let h = opened.handle;
        assert!(h.for_each_piece(0..1000, |_| Ok(())).is_ok());
        let past = h.for_each_piece(0..1001, |_| Ok(())).unwrap_err();
        assert_eq!(past.kind(), crate::ErrorKind::PaymentRequired);
        let tail = h.for_each_piece(size - 10..size, |_| Ok(())).unwrap_err();
        assert_eq!(tail.kind(), crate::ErrorKind::PaymentRequired);
        let mut s = node.stream(h.clone(), 500..2000, "b".into(), None);
        let first = s.next().await.unwrap().unwrap_err();
        assert_eq!(first.kind(), crate::ErrorKind::PaymentRequired);
        assert!(s.next().await.is_none(), "nothing after the refusal");
        let mut s = node.stream(h, 0..1000, "c".into(), None);
        let mut read = 0;
        while let Some(piece) = s.next().await {
            read += piece.unwrap().len();
        }
        assert_eq!(read, 1000);
        node.shutdown().await;
    }
}
