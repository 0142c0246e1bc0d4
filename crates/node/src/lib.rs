//! cairn's engine.
//!
//! [`Node`] is the one facade the HTTP layer and the CLI call: plain async
//! Rust calls whose inputs and outputs are serializable structs. Beneath it:
//!
//! - [`config`]: the documented TOML config and the data dir;
//! - [`identity`]: the key pair, the API secret and the convergence secret;
//! - `lock`: one node per data dir (an exclusive `flock`);
//! - `ingest`: the one-pass upload pipeline (read → hash → encrypt → write);
//! - `read`: verified range reads of stored blobs;
//! - `remote`: remote URL uploads, safe against request forgery;
//! - `reachable`: which addresses a remote fetch may reach (the IANA
//!   special-purpose registries as data, embedded IPv4 addresses);
//! - [`jobs`]: long work with progress and cancel, persisted where a restart
//!   must see it;
//! - [`events`]: what the WebSocket streams (job progress, catalog changes);
//! - `network`: the node on the network: serving customers' shards,
//!   placing its own blobs on suppliers, reading blobs from shards;
//! - `repair`: audits of suppliers, rebuilding lost or corrupt shards,
//!   replacing suppliers gone too long, republishing records;
//! - `accounts`: gateway users (login and key, quota, 24-hour traffic);
//! - `local`: the machine's files and users: which local user is calling,
//!   what they may read, and the one safe way to open a local path;
//! - `tasks`: the one helper every background task is spawned with;
//! - [`paid`]: paid files (restricted, price, previews) and their purchases;
//! - `media`: ffmpeg and ffprobe (found on PATH at start): durations,
//!   transcodes to browser-streamable mp4, frames;
//! - [`links`]: signed links (capabilities a door hands out), one key per
//!   purpose;
//! - `tokens`: access tokens with byte balances on the ledger (the
//!   gateway's MetaDisk-style token accounts).
#![deny(missing_docs, unreachable_pub)]

pub mod accounts;
pub mod config;
mod digests;
mod error;
pub mod events;
pub mod identity;
mod import;
mod ingest;
pub mod jobs;
pub mod links;
mod local;
mod lock;
mod media;
mod network;
mod node;
pub mod paid;
mod reachable;
mod read;
mod remote;
mod shared;
mod sniff;
mod tasks;
pub mod tokens;

pub use accounts::{AccountInfo, Accounts, CreatedAccount, NewAccount};
pub use cairn_store::catalog::{
    Counts, Entry, EntryKind, JobRecord, ListQuery, OnConflict, Page, SortKey,
};
pub use cairn_store::ledger::{MAX_AMOUNT, Unit};
pub use cairn_store::meter::Meter;
pub use cairn_store::private;
pub use cairn_store::users::User;
pub use config::Config;
pub use error::{ErrorKind, NodeError};
pub use events::Event;
pub use import::{FileImport, FileImporting, ImportRequest, ImportedFile};
pub use jobs::{JobFor, Jobs};
pub use links::Links;
pub use local::{LocalCaller, LocalUser};
pub use network::repair::RepairStatus;
pub use network::{NetworkStatus, SupplierInfo};
pub use node::{BlobInfo, CommitCheck, EntryInfo, Node, Status, UploadTarget, Warning};
pub use paid::{Access, LedgerReport, OpenedFor, PaidStatus, PaidTerms, Purchase, Reader};
pub use read::{BlobHandle, ByteStream};
pub use remote::{FetchHeaders, FetchRequest};
pub use tokens::Tokens;
