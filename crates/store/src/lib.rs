//! cairn's on-disk state.
//!
//! - [`files`]: where blob ciphertext lives: a small [`files::BlobFiles`]
//!   trait and the local-filesystem implementation. Every write goes to a
//!   temporary name, is fsynced and renamed, so a killed node never shows a
//!   half-written blob.
//! - [`catalog`]: the SQLite database (WAL, versioned migrations) holding
//!   blobs' manifests and aliases, the folder tree of entries, metadata and
//!   the job log. It is the source of truth: a blob file without a catalog
//!   row is garbage from an interrupted write and is removed at start.
//! - [`ledger`]: accounts and the double-entry ledger of bytes and credits
//!   (for the file-hosting gateway), in the same database;
//! - [`shards`]: the shards this node stores for its customers (the
//!   supplier side), sealed only when whole and hash-checked;
//! - [`admission`]: who may store shards here, and how much (friends,
//!   strangers, quotas), so fresh identities cannot fill the node;
//! - [`meter`]: bytes in and out per month;
//! - [`tags`]: names a layer gives entries, one namespace per layer;
//! - [`users`]: gateway users (login, hashed key, home folder, limits),
//!   their 24-hour traffic, and purchases of paid files;
//! - [`settings`]: options changed at run time, kept across restarts;
//! - [`private`]: every file the store makes is 0600, every folder 0700.
#![deny(missing_docs, unreachable_pub)]

pub mod admission;
mod arrived;
pub mod backup;
pub mod catalog;
mod direct;
pub mod entry_links;
mod error;
pub mod files;
pub mod groups;
pub mod history;
pub mod keys;
pub mod ledger;
pub mod messages;
pub mod meter;
mod migrations;
pub mod multipart;
pub mod people;
pub mod placements;
pub mod private;
mod readahead;
pub mod resumable;
pub mod sessions;
pub mod settings;
pub mod shards;
pub mod shares;
pub mod tags;
pub mod users;
pub mod web_sessions;

pub use catalog::Catalog;
pub use error::StoreError;
