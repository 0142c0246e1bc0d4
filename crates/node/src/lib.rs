//! cairn's engine.
//!
//! [`Node`] is the facade the HTTP layers and the CLI hold: it starts and
//! stops the node and hands out its services, each a cheap handle that
//! owns its state and its part of the API (plain async Rust calls whose
//! inputs and outputs are serializable structs):
//!
//! - [`Blobs`] (`blobs/`): content-addressed files: the blob store on this
//!   disk, the one-pass ingest, verified range reads, legacy digests, and
//!   reads from the network;
//! - [`Entries`] (`entries/`): the catalog's tree, uploads, imports of
//!   local files, metadata and tags;
//! - [`Network`] (`network/`): serving customers' shards, placing blobs on
//!   suppliers (also while they are stored), reading from shards, audits
//!   and repair, the DHT;
//! - [`Media`] (`media/`): ffmpeg and ffprobe (found on PATH at start):
//!   probes, per-request decisions, progressive streams and HLS from stored
//!   files lent to them as loopback URLs; durations, transcodes stored as
//!   new files, frames, preview ends;
//! - [`Paid`] (`paid/`): who may see and read a file, paid files with
//!   previews, purchases, the ledger's report;
//! - [`Fetches`] (`fetches`): remote URL uploads, safe against request
//!   forgery (`reachable`: which addresses a fetch may reach);
//! - [`Torrents`] (`torrents/`): a librqbit session: torrents added by
//!   magnet, `.torrent` or path, files read by range as they arrive, the
//!   finished ones imported into the store;
//! - [`Library`] (`library`): each viewer's watch history;
//! - [`Services`] (`services`): the long-running loops (repair, serving
//!   shards, backups, messages, …), stopped and started at run time;
//! - [`Settings`] (`settings`): the config read and changed at run
//!   time, kept in the catalog across restarts;
//! - [`Tokens`], [`Accounts`], [`Links`], [`Jobs`]: access tokens with
//!   byte balances, gateway users, signed links, numbered jobs;
//! - [`web::Web`] (`web`): the web UI's sign-ins, login links and
//!   sessions.
//!
//! Beneath the services: `shared` (config, catalog, job registry, events,
//! task tracker, derived keys: what every service holds), `tasks` (the one
//! spawn helper and `blocking`), [`config`], [`identity`], `lock` (one node
//! per data dir), [`events`], `local` (the machine's files and users).

#![deny(missing_docs, unreachable_pub)]

pub mod accounts;
pub mod backup;
mod blobs;
pub mod config;
mod docs;
mod entries;
mod error;
pub mod events;
mod fetches;
pub mod groups;
pub mod identity;
pub mod jobs;
pub mod keys;
mod library;
pub mod links;
mod local;
mod lock;
mod media;
pub mod messages;
pub mod metrics;
mod network;
mod node;
pub mod paid;
pub mod people;
mod reachable;
pub mod services;
pub mod settings;
mod shared;
pub mod shares;
mod tasks;
pub mod tokens;
mod torrents;
pub mod web;

pub use accounts::{AccessKey, AccountInfo, Accounts, CreatedAccount, NewAccount, Session};
pub use blobs::read::{BlobHandle, ByteStream};
pub use blobs::{BlobInfo, Blobs};
pub use cairn_net::{
    ConnectionInfo, DhtSettings, Flight, LocalRecord, ObservedAddr, PeerInfo, PeerTraffic,
    ProtocolTraffic, TrafficStats,
};
pub use cairn_store::catalog::{
    Counts, Entry, EntryKind, FolderSummary, JobRecord, ListQuery, Listed, OnConflict, Page,
    SortKey,
};
pub use cairn_store::history::Watched;
pub use cairn_store::ledger::{MAX_AMOUNT, Unit};
pub use cairn_store::messages::Message;
pub use cairn_store::meter::Meter;
pub use cairn_store::people::{Friend, Seen};
pub use cairn_store::private;
pub use cairn_store::shards::{CustomerStanding, ShardSpace};
pub use cairn_store::users::User;
pub use config::Config;
pub use entries::import::{FileImport, FileImporting, ImportRequest, ImportedFile};
pub use entries::{
    ABANDONED_AFTER, CommitCheck, Completed, Entries, EntryInfo, ExportTo, Exported,
    MAX_PART_NUMBER, Md5Check, MultipartUpload, NewResumable, PartInfo, RESUMABLE_KEPT,
    ResumableUpload, UploadTarget,
};
pub use error::{ErrorKind, NodeError};
pub use events::Event;
pub use fetches::{FetchHeaders, FetchRequest, Fetches, LinkKind};
pub use jobs::{JobFor, Jobs};
pub use library::Library;
pub use links::Links;
pub use local::{LocalCaller, LocalUser};
pub use media::{
    Media, MediaBody, MediaSource, MediaStatus, MediaStream, Plan, Probe, Profile, Quality,
    RemoteBytes, RemoteMedia, Size, SubtitleTrack, Target, Track, Treatment,
};
pub use network::repair::RepairStatus;
pub use network::traffic::Redial;
pub use network::{Network, NetworkStatus, SupplierInfo};
pub use node::{Node, Status, Warning};
pub use paid::{Access, LedgerReport, OpenedFor, Paid, PaidStatus, PaidTerms, Purchase, Reader};
pub use services::{ServiceInfo, ServiceState, Services};
pub use settings::{Setting, Settings};
pub use tokens::Tokens;
pub use torrents::{
    AddOptions, TorrentBytes, TorrentFile, TorrentFileInfo, TorrentInfo, TorrentSource,
    TorrentState, Torrents,
};
