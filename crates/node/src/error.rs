//! The engine's one error type, and the closed set of kinds every door
//! maps with an exhaustive `match`: adding a kind fails to compile until
//! each layer says what it answers.

use std::path::{Path, PathBuf};

use cairn_core::IdError;
use cairn_store::StoreError;

/// Everything a [`Node`](crate::Node) call can fail with. [`NodeError::code`]
/// gives the stable code the API reports.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// From the store or catalog.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A malformed id.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A filesystem call of the node's own failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The config is unusable.
    #[error("config {path}: {message}")]
    Config {
        /// The file (or variable) at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A local path given to an import does not exist.
    #[error("{0} does not exist")]
    PathNotFound(PathBuf),
    /// A local path given to an import cannot be read.
    #[error("cannot read {path}: {source}")]
    PathUnreadable {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A local path lies outside the configured import roots.
    #[error(
        "{path} is outside the import roots ({roots}); add its folder to import_roots in config.toml"
    )]
    PathNotAllowed {
        /// The resolved path.
        path: PathBuf,
        /// The roots, comma-separated.
        roots: String,
    },
    /// A local path a local user (without the admin secret) may not
    /// import: missing, outside the roots, or not readable by them. One
    /// answer for all three, so it reveals nothing about files they cannot
    /// see.
    #[error(
        "cannot import {0}: it does not exist, lies outside the import roots, or you may not read it"
    )]
    PathRefused(PathBuf),
    /// A remote URL resolves to an address the node may not fetch from.
    #[error(
        "{host} resolves to {ip}, which is not globally reachable ({why}); allow it under [remote] allow in config.toml to fetch it"
    )]
    AddressNotAllowed {
        /// The URL's host.
        host: String,
        /// The address refused.
        ip: std::net::IpAddr,
        /// The range that holds it (or the IPv4 address it carries).
        why: String,
    },
    /// No blob has this id or alias.
    #[error("no blob with id or alias '{0}'")]
    BlobNotFound(String),
    /// Something else asked for does not exist (the message says what).
    #[error("{0}")]
    NotFound(String),
    /// The call conflicts with the state of what it acts on.
    #[error("{0}")]
    Conflict(String),
    /// A request that cannot be served as asked.
    #[error("{0}")]
    Invalid(String),
    /// An upload over the size limit.
    #[error("upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// An upload whose source failed or ended early.
    #[error("upload was cut off: {0}")]
    Aborted(String),
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The client of a download closed the connection before the end.
    #[error("the client closed the connection before the end")]
    ClientGone,
    /// Stored data failed verification; it was not served.
    #[error("stored data failed verification: {0}")]
    Corrupt(String),
    /// An access token this node never issued (the token itself is not
    /// repeated: errors end up in logs and job records).
    #[error("no such access token: a token must be issued by this node first")]
    UnknownToken,
    /// A gateway user's login or key is missing or wrong.
    #[error("wrong or missing API login or key")]
    Unauthorized,
    /// The caller may not do this to this entry (not theirs, or not paid).
    #[error("{0}")]
    Forbidden(String),
    /// A paid file's part that the reader has not paid for.
    #[error("{0}")]
    PaymentRequired(String),
    /// A tool the call needs is not installed (ffmpeg, ffprobe).
    #[error("{0}")]
    Unavailable(String),
    /// The peer-to-peer network failed to do what was asked.
    #[error("network: {0}")]
    Network(String),
    /// The node is stopping.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// Another node runs on this data dir (it holds the dir's lock).
    #[error(
        "data dir {} is in use by another cairn node ({}); stop it first (`cairn stop`) or give this one another --data-dir",
        .dir.display(),
        crate::lock::holder(.pid, .api)
    )]
    DataDirInUse {
        /// The data dir.
        dir: PathBuf,
        /// The running node's pid, as its lock file says.
        pid: Option<u32>,
        /// The running node's API address, as its `api.addr` says.
        api: Option<String>,
    },
    /// A bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A charge of `bytes` that the account `account` (a description: the
    /// token is never named, errors may be kept) cannot pay.
    pub fn insufficient(account: &str, bytes: u64) -> Self {
        Self::Store(StoreError::Insufficient {
            account: account.into(),
            unit: "bytes",
            short: i64::try_from(bytes).unwrap_or(i64::MAX),
        })
    }

    /// No `what` (a file, a folder, a splash image) named `id`.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        Self::Store(StoreError::NotFound {
            what,
            id: id.chars().take(80).collect(),
        })
    }

    /// A transfer of `wanted` bytes that a 24-hour traffic `limit` with
    /// `used` bytes used already cannot take.
    pub fn over_traffic(limit: u64, used: u64, wanted: u64) -> Self {
        Self::Store(StoreError::OverLimit {
            what: "traffic",
            limit,
            used,
            wanted,
        })
    }

    /// What kind of failure this is: what a door maps to its answer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(e) => store_kind(e),
            Self::Id(_) => ErrorKind::InvalidId,
            Self::Io { .. } | Self::Config { .. } | Self::Internal(_) => ErrorKind::Internal,
            Self::PathNotFound(_) => ErrorKind::PathNotFound,
            Self::PathUnreadable { .. } => ErrorKind::PathUnreadable,
            Self::PathNotAllowed { .. } => ErrorKind::PathNotAllowed,
            Self::PathRefused(_) => ErrorKind::PathRefused,
            Self::AddressNotAllowed { .. } => ErrorKind::AddressNotAllowed,
            Self::BlobNotFound(_) | Self::NotFound(_) | Self::UnknownToken => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::Aborted(_) => ErrorKind::UploadAborted,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::ClientGone => ErrorKind::ClientGone,
            Self::Corrupt(_) => ErrorKind::Corrupt,
            Self::ShuttingDown => ErrorKind::ShuttingDown,
            Self::DataDirInUse { .. } => ErrorKind::DataDirInUse,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Network(_) => ErrorKind::Network,
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::PaymentRequired(_) => ErrorKind::PaymentRequired,
        }
    }

    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::NotFound { .. } => ErrorKind::NotFound,
        StoreError::NameTaken { .. } => ErrorKind::NameTaken,
        StoreError::Conflict(_) => ErrorKind::Conflict,
        StoreError::Invalid(_) => ErrorKind::Invalid,
        StoreError::Corrupt(_) => ErrorKind::Corrupt,
        StoreError::Insufficient { .. } => ErrorKind::BalanceInsufficient,
        StoreError::OverLimit {
            what: "storage", ..
        } => ErrorKind::StorageExceeded,
        StoreError::OverLimit { .. } => ErrorKind::TrafficExceeded,
        // Refused customers are answered on the shard protocol, never
        // through a door.
        StoreError::Io { .. }
        | StoreError::Sqlite(_)
        | StoreError::SchemaTooNew { .. }
        | StoreError::NotAdmitted(_) => ErrorKind::Internal,
    }
}

/// The kinds of failure, closed: each door (the native API, every seed's
/// layer) maps every kind with a `match` and no catch-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such entry, blob, account or token.
    NotFound,
    /// The name is taken in that folder.
    NameTaken,
    /// The call conflicts with the state (a folder not empty, a job done).
    Conflict,
    /// A request that cannot be served as asked.
    Invalid,
    /// A malformed id or digest.
    InvalidId,
    /// Stored data failed verification.
    Corrupt,
    /// A balance too low for a charge.
    BalanceInsufficient,
    /// An account's storage quota would be passed.
    StorageExceeded,
    /// An account's traffic limit would be passed.
    TrafficExceeded,
    /// A local path does not exist.
    PathNotFound,
    /// A local path cannot be read.
    PathUnreadable,
    /// A local path lies outside the import roots.
    PathNotAllowed,
    /// A local user may not import that path (one answer for every cause).
    PathRefused,
    /// A remote URL resolves to an address the node may not fetch from.
    AddressNotAllowed,
    /// An upload over the size limit.
    TooLarge,
    /// An upload whose source failed or ended early.
    UploadAborted,
    /// The job was cancelled.
    Cancelled,
    /// The client went away before the end.
    ClientGone,
    /// The node is stopping.
    ShuttingDown,
    /// Another node runs on the data dir.
    DataDirInUse,
    /// A tool the call needs is not installed.
    Unavailable,
    /// The network failed to do what was asked.
    Network,
    /// A gateway user's login or key is missing or wrong.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// A paid part the reader has not paid for.
    PaymentRequired,
    /// A bug, a failed disk or database call of the node's own.
    Internal,
}

impl ErrorKind {
    /// The stable code the native API reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NameTaken => "name_taken",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::InvalidId => "invalid_id",
            Self::Corrupt => "corrupt",
            Self::BalanceInsufficient => "balance_insufficient",
            Self::StorageExceeded => "storage_exceeded",
            Self::TrafficExceeded => "traffic_exceeded",
            Self::PathNotFound => "path_not_found",
            Self::PathUnreadable => "path_unreadable",
            Self::PathNotAllowed => "path_not_allowed",
            Self::PathRefused => "path_refused",
            Self::AddressNotAllowed => "address_not_allowed",
            Self::TooLarge => "too_large",
            Self::UploadAborted => "upload_aborted",
            Self::Cancelled => "cancelled",
            Self::ClientGone => "client_gone",
            Self::ShuttingDown => "shutting_down",
            Self::DataDirInUse => "data_dir_in_use",
            Self::Unavailable => "unavailable",
            Self::Network => "network",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::PaymentRequired => "payment_required",
            Self::Internal => "internal",
        }
    }
}

impl From<tokio::task::JoinError> for NodeError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {e}"))
    }
}
