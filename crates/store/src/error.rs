//! The store's one error type: what a catalog or file call failed with,
//! with the context a user needs.

use std::path::PathBuf;

/// Everything that can go wrong in the store, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused or failed.
    #[error("catalog database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The catalog was written by a newer cairn.
    #[error("catalog schema version {found} is newer than this cairn understands ({known})")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// No such entry, blob or job.
    #[error("{what} '{id}' not found")]
    NotFound {
        /// "entry", "folder", "blob", "job".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A name is already used in the folder.
    #[error("'{name}' already exists in this folder")]
    NameTaken {
        /// The colliding name.
        name: String,
        /// The entry that has it.
        existing: String,
    },
    /// The request cannot be done to the catalog as it is.
    #[error("{0}")]
    Conflict(String),
    /// A name, key or value is malformed or too large.
    #[error("{0}")]
    Invalid(String),
    /// A movement would take an account below zero; nothing moved.
    #[error("account {account} is {short} {unit} short")]
    Insufficient {
        /// The account.
        account: String,
        /// "bytes" or "credits".
        unit: &'static str,
        /// How much was missing.
        short: i64,
    },
    /// An account's storage quota or 24-hour traffic limit would be passed;
    /// nothing was stored or moved.
    #[error("{what} limit of {limit} bytes reached ({used} used, {wanted} more asked)")]
    OverLimit {
        /// "storage" or "traffic".
        what: &'static str,
        /// The limit.
        limit: u64,
        /// Used so far.
        used: u64,
        /// What the refused request needed.
        wanted: u64,
    },
    /// The admission policy does not take this customer now (it is a
    /// stranger and the node takes none, or no more now); nothing stored.
    #[error("{0}")]
    NotAdmitted(String),
    /// Stored data failed verification.
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
