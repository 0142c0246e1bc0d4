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

    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => match e {
                StoreError::NotFound { .. } => "not_found",
                StoreError::NameTaken { .. } => "name_taken",
                StoreError::Conflict(_) => "conflict",
                StoreError::Invalid(_) => "invalid",
                StoreError::Corrupt(_) => "corrupt",
                StoreError::Insufficient { .. } => "balance_insufficient",
                StoreError::OverLimit {
                    what: "storage", ..
                } => "storage_exceeded",
                StoreError::OverLimit { .. } => "traffic_exceeded",
                _ => "internal",
            },
            Self::Id(_) => "invalid_id",
            Self::Io { .. } | Self::Config { .. } | Self::Internal(_) => "internal",
            Self::PathNotFound(_) => "path_not_found",
            Self::PathUnreadable { .. } => "path_unreadable",
            Self::PathNotAllowed { .. } => "path_not_allowed",
            Self::PathRefused(_) => "path_refused",
            Self::AddressNotAllowed { .. } => "address_not_allowed",
            Self::BlobNotFound(_) | Self::UnknownToken => "not_found",
            Self::Invalid(_) => "invalid",
            Self::TooLarge { .. } => "too_large",
            Self::Aborted(_) => "upload_aborted",
            Self::Cancelled => "cancelled",
            Self::ClientGone => "client_gone",
            Self::Corrupt(_) => "corrupt",
            Self::ShuttingDown => "shutting_down",
            Self::DataDirInUse { .. } => "data_dir_in_use",
            Self::Unavailable(_) => "unavailable",
            Self::Network(_) => "network",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::PaymentRequired(_) => "payment_required",
        }
    }
}

impl From<tokio::task::JoinError> for NodeError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {e}"))
    }
}
