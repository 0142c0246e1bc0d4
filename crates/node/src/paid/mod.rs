//! Paid files: cacaoweb's pay-per-download with free previews, on the
//! ledger's credits.
//!
//! A file's terms live in its metadata under three reserved keys:
//!
//! - `restricted` (`true`/`false`): set only when the file is uploaded
//!   ([`crate::Entries::upload_with_metadata`], cacaoweb's `/upload?restricted=true`).
//!   It never changes afterwards: "files uploaded as free files cannot be
//!   converted to paid files later on", and a paid file does not silently
//!   turn into a free one either (its price can go to 0 instead);
//! - `previewallowed` (`true`/`false`): whether the first part streams free;
//!   set at upload, changeable later (it only matters for a restricted file);
//! - `price`: credits, an integer ≥ 0 (absent = 0 = free), changeable any
//!   time through the metadata API; a price above 0 on a file not uploaded
//!   as restricted is refused.
//!
//! [`crate::Entries::set_metadata`] checks every change to these keys before writing
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

pub(crate) mod terms;

pub use terms::{
    Access, LedgerReport, OPERATOR, OpenedFor, PREVIEW_ALLOWED, PRICE, PUBLIC, PUBLISHED,
    PaidStatus, PaidTerms, Purchase, RESTRICTED, Reader,
};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cairn_core::BlobId;
use cairn_store::ledger::{MINT, SPENT, Unit};
use cairn_store::users::User;

use crate::blobs::Blobs;
use crate::blobs::read::ReadLimit;
use crate::entries::Entries;
use crate::media::Media;
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{EntryInfo, EntryKind, NodeError};
use terms::not_found;

type Result<T> = std::result::Result<T, NodeError>;

/// The paid-files service (`node.paid()`): who may see and read a file,
/// what it costs them, purchases, the ledger's report. Cheap to clone.
#[derive(Clone)]
pub struct Paid(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
    blobs: Blobs,
    media: Media,
    /// Measured preview lengths by blob.
    previews: Mutex<HashMap<BlobId, u64>>,
}

impl Paid {
    pub(crate) fn new(shared: Arc<Shared>, entries: Entries, blobs: Blobs, media: Media) -> Self {
        Self(Arc::new(State {
            shared,
            entries,
            blobs,
            media,
            previews: Mutex::default(),
        }))
    }

    /// Entry `id`'s terms and what `reader` may read of it. An entry the
    /// reader may not see (`Paid::may_see`) is not found.
    pub async fn paid_status(&self, id: &str, reader: &Reader) -> Result<PaidStatus> {
        let info = self.visible_entry(id, reader).await?;
        self.paid_status_of(&info, reader).await
    }

    /// Entry `id`, if `reader` may see it; else the answer for an entry
    /// that does not exist.
    pub async fn visible_entry(&self, id: &str, reader: &Reader) -> Result<EntryInfo> {
        let (paid, id, reader) = (self.clone(), id.to_owned(), reader.clone());
        blocking(move || {
            let info = paid.0.entries.entry_info(&id)?;
            if paid.may_see(&info, &reader)? {
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
    /// (`Paid::may_see`) is not found.
    pub async fn open_for(&self, info: &EntryInfo, reader: &Reader) -> Result<OpenedFor> {
        let (paid, seen, who) = (self.clone(), info.clone(), reader.clone());
        if !blocking(move || paid.may_see(&seen, &who)).await? {
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
        let handle = self.0.blobs.open(blob).await?.limited(limit);
        Ok(OpenedFor {
            info: info.clone(),
            status,
            handle,
        })
    }

    /// Entry `id` opened for `reader` ([`Paid::open_for`]).
    pub async fn open_entry_for(&self, id: &str, reader: &Reader) -> Result<OpenedFor> {
        let info = self.visible_entry(id, reader).await?;
        self.open_for(&info, reader).await
    }

    /// [`Paid::paid_status`] of an entry already loaded, which the caller
    /// has found the reader may see (by its own door's rule).
    pub async fn paid_status_of(&self, info: &EntryInfo, reader: &Reader) -> Result<PaidStatus> {
        if info.entry.kind != EntryKind::File {
            // A folder has no content, so no terms nor access either.
            return Err(NodeError::not_found("file", &info.entry.id));
        }
        let terms = PaidTerms::of(&info.metadata);
        let seller = info
            .entry
            .owner
            .clone()
            .unwrap_or_else(|| OPERATOR.to_owned());
        let bought = match reader {
            Reader::User(u) => {
                let paid = self.clone();
                let (entry, account) = (info.entry.id.clone(), u.account.clone());
                blocking(move || Ok(paid.0.shared.catalog.has_bought(&entry, &account)?)).await?
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
        let (paid, info) = (self.clone(), info.clone());
        blocking(move || paid.is_published(&info)).await
    }

    /// Whether `reader` may see `info` through a door that answers without
    /// the secret (cacaoweb, the native paid calls): the admin sees every
    /// file, an account its own, anyone a published one
    /// (`Paid::is_published`). The operator's other files stay private.
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
        let paid = self.clone();
        let user = user.clone();
        blocking(move || {
            let mut charged = 0;
            let own = info.entry.owner.as_deref() == Some(user.account.as_str());
            if status.terms.is_paid() && !own {
                let price = i64::try_from(status.terms.price)
                    .map_err(|_| NodeError::Invalid("price out of range".into()))?;
                if paid.0.shared.catalog.buy(
                    &info.entry.id,
                    &user.account,
                    &status.seller,
                    price,
                )? {
                    charged = status.terms.price;
                    paid.0.shared.metrics.ledger_moved(
                        cairn_store::ledger::Unit::Credits,
                        "purchase",
                        price,
                    );
                    tracing::info!(entry = %info.entry.id, buyer = %user.login, price, "bought");
                }
            }
            Ok(Purchase {
                entry: info.entry.id.clone(),
                price: status.terms.price,
                charged,
                credits: paid
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
        let paid = self.clone();
        blocking(move || {
            let (bytes_sum, credits_sum, drift) = paid.0.shared.catalog.audit_ledger()?;
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
                        paid.0.shared.catalog.balance(account, unit)?,
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
            let paid = self.clone();
            let seconds = gateway.preview_seconds;
            let measured = blocking(move || {
                let Ok(ffprobe) = paid.0.media.tools().ffprobe() else {
                    return Ok(None);
                };
                Ok(crate::media::preview_end(
                    ffprobe,
                    &paid.0.blobs.handle(&blob)?,
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
            .previews
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(blob, len);
        len
    }

    fn cached_preview(&self, blob: &BlobId) -> Option<u64> {
        self.0
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
    use crate::{Node, OnConflict};

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Publication by folder: the files of a folder marked `published`
    /// are published, and stop being so once moved out of it.
    #[tokio::test]
    async fn a_published_folder_publishes_its_files_while_they_are_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::default();
        config.network.enabled = false;
        let node = Node::start(dir.path(), config).await.unwrap();
        let folder = node
            .entries()
            .create_folder(None, "shop".into())
            .await
            .unwrap();
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
            .entries()
            .upload(target(Some(folder.id.clone())), body(), None)
            .await
            .unwrap();
        assert!(
            !node.paid().published(&file).await.unwrap(),
            "not yet marked"
        );
        let mark = BTreeMap::from([(PUBLISHED.to_owned(), Some("true".to_owned()))]);
        node.entries().set_metadata(&folder.id, mark).await.unwrap();
        assert!(node.paid().published(&file).await.unwrap());
        assert!(node.paid().may_see(&file, &Reader::Anonymous).unwrap());
        node.entries()
            .update_entry(&file.entry.id, None, Some(None))
            .await
            .unwrap();
        let moved = node.entries().entry(&file.entry.id).await.unwrap();
        assert!(!node.paid().published(&moved).await.unwrap(), "moved out");
        assert!(!node.paid().may_see(&moved, &Reader::Anonymous).unwrap());
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
            .entries()
            .upload_with_metadata(target, body, None, meta)
            .await
            .unwrap();
        let anyone = node.paid().open_for(&file, &Reader::Admin).await.unwrap();
        assert_eq!(anyone.status.access, Access::Whole, "the admin reads all");
        let size = file.entry.size;
        let mut whole = node
            .blobs()
            .stream(anyone.handle, 0..size, "a".into(), None);
        let mut read = 0;
        while let Some(piece) = whole.next().await {
            read += piece.unwrap().len() as u64;
        }
        assert_eq!(read, size);

        // A published paid file, read by nobody in particular.
        let mark = BTreeMap::from([(PUBLIC.to_owned(), Some("true".to_owned()))]);
        let file = node
            .entries()
            .set_metadata(&file.entry.id, mark)
            .await
            .unwrap();
        let opened = node
            .paid()
            .open_for(&file, &Reader::Anonymous)
            .await
            .unwrap();
        assert_eq!(opened.status.access, Access::Preview { bytes: 1000 });
        let h = opened.handle;
        assert!(h.for_each_piece(0..1000, |_| Ok(())).is_ok());
        let past = h.for_each_piece(0..1001, |_| Ok(())).unwrap_err();
        assert_eq!(past.kind(), crate::ErrorKind::PaymentRequired);
        let tail = h.for_each_piece(size - 10..size, |_| Ok(())).unwrap_err();
        assert_eq!(tail.kind(), crate::ErrorKind::PaymentRequired);
        let mut s = node.blobs().stream(h.clone(), 500..2000, "b".into(), None);
        let first = s.next().await.unwrap().unwrap_err();
        assert_eq!(first.kind(), crate::ErrorKind::PaymentRequired);
        assert!(s.next().await.is_none(), "nothing after the refusal");
        let mut s = node.blobs().stream(h, 0..1000, "c".into(), None);
        let mut read = 0;
        while let Some(piece) = s.next().await {
            read += piece.unwrap().len();
        }
        assert_eq!(read, 1000);
        node.shutdown().await;
    }
}
