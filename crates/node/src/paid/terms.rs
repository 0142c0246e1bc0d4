//! The rules of paid files, apart from the service that applies them:
//! the reserved metadata keys, a file's terms, who reads and what they
//! may read, and the checks every upload and metadata change passes.

use std::collections::BTreeMap;
use std::ops::Range;

use cairn_store::users::User;
use serde::Serialize;

use crate::blobs::read::BlobHandle;
use crate::{EntryInfo, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// Metadata key: the file was uploaded as a paid file.
pub const RESTRICTED: &str = "restricted";
/// Metadata key: the first part of a paid file streams free.
pub const PREVIEW_ALLOWED: &str = "previewallowed";
/// Metadata key: the price in credits.
pub const PRICE: &str = "price";
/// The system account that sells the operator's own files.
pub const OPERATOR: &str = "operator";

/// A file's terms, read from its metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) fn not_found(id: &str) -> NodeError {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A file opened for one reader ([`crate::Paid::open_for`]).
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        // A conflict with the rule that free files stay free, whether or
        // not the name is taken now.
        return Err(NodeError::Store(cairn_store::StoreError::Conflict(
            "a restricted upload cannot replace an existing entry: a free file cannot become paid"
                .into(),
        )));
    }
    Ok(())
}

fn free_file_error(what: &str) -> NodeError {
    // A conflict with the rule that a free file stays free.
    NodeError::Store(cairn_store::StoreError::Conflict(format!(
        "a file uploaded as free cannot become paid: {what} refused (upload it with restricted=true to sell it)"
    )))
}

/// Checks metadata `changes` of entry `id` against the paid-file rules
/// (blocking).
pub(crate) fn check_changes(
    catalog: &cairn_store::Catalog,
    id: &str,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<()> {
    if ![RESTRICTED, PREVIEW_ALLOWED, PRICE]
        .iter()
        .any(|k| changes.contains_key(*k))
    {
        return Ok(());
    }
    let restricted = PaidTerms::of(&catalog.metadata(id)?).restricted;
    if let Some(change) = changes.get(RESTRICTED) {
        let wanted = match change {
            Some(v) => parse_flag(RESTRICTED, v)?,
            None => false,
        };
        if wanted != restricted {
            return Err(if restricted {
                NodeError::Invalid(
                    "restricted is fixed at upload: set price to 0 to give this file away".into(),
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
}
