//! What the user typed.
//!
//! The doc comments below are the CLI's `--help` text, written for a
//! terminal: `<id>` and `[network]` there are what the user sees, not
//! HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// cairn: encrypted content-addressed storage, file hosting and streaming.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about)]
pub(crate) struct Cli {
    /// Data dir (default: $CAIRN_HOME, else the platform data dir).
    #[arg(long, global = true, env = "CAIRN_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The node's API address (default: what the running node wrote in the
    /// data dir, else the config's listen address).
    #[arg(long, global = true)]
    pub(crate) api: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the node daemon.
    Node {
        /// Address to listen on (overrides config.toml and CAIRN_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// libp2p address to listen on for peers (repeatable; overrides
        /// [network] listen).
        #[arg(long = "p2p-listen")]
        p2p_listen: Vec<String>,
        /// A peer to join the network through, `/ip4/…/tcp/…/p2p/<id>`
        /// (repeatable; added to [network] bootstrap).
        #[arg(long)]
        bootstrap: Vec<String>,
    },
    /// Upload files or folders (recursively); prints "<id>  <path>" per file.
    Upload {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Folder id to upload into (default: the root).
        #[arg(long)]
        parent: Option<String>,
        /// When a name is taken: fail, rename or replace.
        #[arg(long, default_value = "fail")]
        on_conflict: String,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Fetch a remote http(s) URL into the node; prints "<id>  <url>".
    Fetch {
        /// The URL.
        url: String,
        /// Folder id to store into (default: the root).
        #[arg(long)]
        parent: Option<String>,
        /// File name (default: from the server, else the URL's path).
        #[arg(long)]
        name: Option<String>,
        /// When a name is taken: fail, rename or replace.
        #[arg(long, default_value = "fail")]
        on_conflict: String,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Download a file by entry id, blob id or md5/sha1/sha256 alias.
    Download {
        /// Entry id or blob digest.
        id: String,
        /// Where to write ("-" for standard output).
        #[arg(long, short)]
        output: PathBuf,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a file out to a folder on the node's machine (under its
    /// import roots; its downloads folder when none), read verified from
    /// the node's disk or its suppliers; prints the path written.
    Export {
        /// Entry id.
        id: String,
        /// The folder (absolute, on the node's machine).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Its path below the folder (default: the file's name).
        #[arg(long)]
        path: Option<String>,
        /// Start the job and print it, without waiting for its end.
        #[arg(long)]
        background: bool,
    },
    /// Node status.
    Status,
    /// Print the node's Prometheus metrics (the `/metrics` scrape).
    Metrics,
    /// Print a fresh one-time link that signs a browser in to the web UI
    /// (good once, for 15 minutes).
    Open,
    /// List a folder (default: the root).
    Ls {
        /// Folder id.
        folder: Option<String>,
        /// Order by name, size, created, modified or downloads.
        #[arg(long, default_value = "name")]
        sort: String,
        /// Descending order.
        #[arg(long)]
        desc: bool,
        /// Entries to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show an entry (by id) or a blob (by digest).
    Info {
        /// Entry id or blob digest.
        id: String,
    },
    /// Create a folder.
    Mkdir {
        /// Its name.
        name: String,
        /// Parent folder id (default: the root).
        #[arg(long)]
        parent: Option<String>,
    },
    /// Rename and/or move an entry.
    Mv {
        /// Entry id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Folder id to move into ("root" for the root).
        #[arg(long)]
        to: Option<String>,
    },
    /// Delete an entry.
    Rm {
        /// Entry id.
        id: String,
        /// Delete a folder with everything in it.
        #[arg(long, short)]
        recursive: bool,
    },
    /// Get or set an entry's metadata.
    Meta {
        #[command(subcommand)]
        action: MetaAction,
    },
    /// Manage gateway accounts (users with an API login and key).
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// The peer-to-peer network: status, peers, customers, ping, DHT.
    Net {
        #[command(subcommand)]
        action: NetAction,
    },
    /// Print a link (<id>.<key>) any node can download the blob by.
    Link {
        /// Entry id or blob digest.
        id: String,
    },
    /// Share links of files: a browser opens one with no account
    /// (`/s/<token>`) until it ends or is revoked.
    Weblink {
        #[command(subcommand)]
        action: WeblinkAction,
    },
    /// The node's identity: show it, back it up, recover it on a new
    /// machine.
    Id {
        #[command(subcommand)]
        action: IdAction,
    },
    /// Private messages: send, list, listen.
    Msg {
        #[command(subcommand)]
        action: MsgAction,
    },
    /// Shares: folders other identities read from the network; grant,
    /// revoke, and read the shares granted to this node.
    Share {
        #[command(subcommand)]
        action: ShareAction,
    },
    /// Groups: conversations among several identities; make, invite,
    /// remove, send, read, leave.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// The node's services (repair, serving shards, backups, messages,
    /// …): list, stop, start, restart. A stopped one stays stopped across
    /// restarts until started.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// The node's settings (config.toml's keys, dotted): list, get, set.
    /// A change is kept across restarts; most apply at the next start.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Friends: keep one by peer id or nickname, list, forget.
    Friend {
        #[command(subcommand)]
        action: FriendAction,
    },
    /// The identity's RSA keys: make, list, show, label, erase.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Torrents: add (magnet, .torrent file), list, pause, resume, remove.
    Torrent {
        #[command(subcommand)]
        action: TorrentAction,
    },
    /// The media on a web page (yt-dlp on the node's PATH): its title and
    /// media URL; with --store, stored as a new file (a job, followed).
    Ytdl {
        /// The page's URL.
        url: String,
        /// The tallest picture wanted, in lines.
        #[arg(long)]
        max_height: Option<u32>,
        /// Store it (named after its title).
        #[arg(long)]
        store: bool,
        /// Folder id to store it in (default: the root).
        #[arg(long)]
        parent: Option<String>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print an M3U playlist of a stored file, a folder's media files or
    /// a torrent's (by info hash) for VLC or mpv: its links play without
    /// the secret until they expire. `cairn playlist ID > film.m3u`.
    Playlist {
        /// Entry id, or a torrent's info hash.
        id: String,
        /// How long its links play, in hours (1 to 720).
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Convert a stored video to an MP4 every browser plays (H.264/AAC),
    /// stored next to it as `<name>.mp4`; the job is followed.
    Convert {
        /// Entry id.
        id: String,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Add a subtitle file (.srt, .vtt, .ass, .ssa) to a stored video: it
    /// is stored beside it and served with its tracks.
    Subtitle {
        /// The video's entry id.
        id: String,
        /// The subtitle file.
        file: std::path::PathBuf,
        /// Its language (en, fre, pt-BR).
        #[arg(long)]
        language: Option<String>,
    },
    /// What a media file holds: container, duration, streams, key frames.
    Probe {
        /// Entry id.
        id: String,
    },
    /// Print a URL a player (mpv, VLC, a browser) plays the file from: the
    /// file itself when a browser takes it as it is, else HLS (remuxed or
    /// transcoded by the node). The URL carries the admin secret.
    Play {
        /// Entry id.
        id: String,
        /// Fit the picture in a quality preset (144p … 1080p).
        #[arg(long)]
        quality: Option<String>,
        /// Which URL: `auto` (the file as it is where it plays, else HLS),
        /// `hls`, `stream` (one fragmented MP4) or `file`.
        #[arg(long, default_value = "auto")]
        r#as: String,
    },
    /// Place a blob on suppliers now (k + m shards) and wait for it.
    Place {
        /// Blob id or alias.
        id: String,
        /// Then remove the local copy (reads come from the suppliers).
        #[arg(long)]
        drop_local: bool,
    },
    /// List jobs.
    Jobs {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Cancel a running job.
    Cancel {
        /// Job id.
        id: String,
    },
    /// Stop the running node.
    Stop,
    /// Restart the node: it stops as `cairn stop` stops it, then its
    /// process runs `cairn node` again with the same arguments.
    Restart,
}

#[derive(Subcommand, Debug)]
pub(crate) enum IdAction {
    /// Peer id, nickname, RSA master key.
    Show,
    /// The identities seen on the network: nickname, peer id.
    Seen,
    /// Name this node: others find it by this nickname (`cairn net nick`).
    Nick {
        /// 3 to 20 of a-z, 0-9, _ and -, a letter first.
        name: String,
    },
    /// Stop publishing this node's nickname: it goes by its peer id alone.
    Unnick,
    /// Write the identity's backup: whoever holds it can be this node.
    Backup {
        /// The file to write (made readable by you alone); else printed.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// The catalog's backup on the suppliers (what a recovered node gets
    /// back): its state, or make one now.
    Catalog {
        /// Back the catalog up now.
        #[arg(long)]
        now: bool,
    },
    /// Make the data dir (new, the node not started there yet) the identity
    /// of a backup; start the node there afterwards: its catalog comes
    /// back from the network at that first start.
    Recover {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum MsgAction {
    /// Send a message: delivered now, or queued until the recipient is
    /// back.
    Send {
        /// A peer id, a friend's alias, or a nickname.
        to: String,
        /// The text.
        text: String,
    },
    /// The messages sent and received (with one peer only, if named).
    Ls {
        /// A peer id, a friend's alias, or a nickname.
        with: Option<String>,
    },
    /// Print messages as they come in, until interrupted.
    Listen,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ShareAction {
    /// Share a folder (a new folder called LABEL at the root when none is
    /// given).
    Create {
        /// What people call it.
        label: String,
        /// The folder's entry id.
        #[arg(long)]
        folder: Option<String>,
    },
    /// The shares this node owns, then those granted to it.
    Ls,
    /// A share and its files (a granted one's read from the network).
    Info {
        /// The share's id.
        id: String,
    },
    /// Grant an own share to someone: they are handed its key, now or
    /// when they are back.
    Grant {
        /// The share's id.
        id: String,
        /// A peer id, a friend's alias, or a nickname.
        to: String,
    },
    /// Take a member out of an own share (the share gets a new key).
    Revoke {
        /// The share's id.
        id: String,
        /// The member: peer id, friend's alias or nickname.
        who: String,
    },
    /// Delete an own share (its folder stays) or forget a granted one.
    Rm {
        /// The share's id.
        id: String,
    },
    /// Put a file of this node into a share granted to it: its owner
    /// stores it there, for every member.
    Put {
        /// The share's id.
        id: String,
        /// The file's entry id here.
        entry: String,
        /// Its path in the share.
        path: String,
    },
    /// Write a file of a share out to a folder on the node's machine (as
    /// `cairn export` does); prints the path written.
    Export {
        /// The share's id.
        id: String,
        /// The file's path in the share.
        file: String,
        /// The folder (absolute, on the node's machine).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Its path below the folder (default: the file's name).
        #[arg(long)]
        path: Option<String>,
        /// Start the job and print it, without waiting for its end.
        #[arg(long)]
        background: bool,
    },
    /// Download a file of a share.
    Get {
        /// The share's id.
        id: String,
        /// The file's path in the share.
        path: String,
        /// Where to write ("-" for standard output; the file's name here
        /// when none).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum GroupAction {
    /// Make a group (this node its creator).
    Create {
        /// What people call it.
        label: String,
    },
    /// The groups this node is or was in.
    Ls,
    /// A group: creator, members, key epoch.
    Info {
        /// The group's id.
        id: String,
    },
    /// Invite someone into an own group.
    Invite {
        /// The group's id.
        id: String,
        /// A peer id, a friend's alias, or a nickname.
        who: String,
    },
    /// Take a member out of an own group (the group gets a new key).
    Remove {
        /// The group's id.
        id: String,
        /// The member: peer id, friend's alias or nickname.
        who: String,
    },
    /// Send a message to a group.
    Send {
        /// The group's id.
        id: String,
        /// The text.
        text: String,
    },
    /// A group's messages, oldest first.
    Msgs {
        /// The group's id.
        id: String,
    },
    /// Leave a group and forget it here (its messages stay).
    Leave {
        /// The group's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum WeblinkAction {
    /// Make a link of a file and print it.
    Create {
        /// The file's entry id.
        entry: String,
        /// When it ends: 90 (seconds), 30m, 12h, 7d (none: when revoked).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List a file's links, ended ones too.
    Ls {
        /// The file's entry id.
        entry: String,
    },
    /// Revoke a link: it opens nothing from now on.
    Rm {
        /// The link's id (`cairn weblink ls`).
        link: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ServiceAction {
    /// List the services: name, state, enabled, what each does.
    Ls,
    /// Show one service and what it needs.
    Info {
        /// Its name (`cairn service ls`).
        name: String,
    },
    /// Stop a service (and the ones that need it); it stays stopped.
    Stop {
        /// Its name.
        name: String,
    },
    /// Start a service (and the enabled ones that need it).
    Start {
        /// Its name.
        name: String,
    },
    /// Stop a service and start it again.
    Restart {
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigAction {
    /// List every setting: key = value.
    Ls,
    /// Show one setting.
    Get {
        /// Its key, dotted (`network.donated`).
        key: String,
    },
    /// Set one setting.
    Set {
        /// Its key, dotted (`network.donated`).
        key: String,
        /// Its value: JSON (`10737418240`, `true`, `["a"]`) or text.
        value: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum FriendAction {
    /// Keep a friend: a peer id, or a nickname found through the DHT.
    Add {
        /// Peer id or nickname.
        who: String,
        /// What to call them (their nickname when none).
        #[arg(long)]
        alias: Option<String>,
    },
    /// List friends: alias, nickname, peer id.
    Ls,
    /// Forget a friend, by peer id or alias.
    Rm {
        /// Peer id or alias.
        who: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeyAction {
    /// Make an RSA key; prints it with its private part.
    Create {
        /// Its alias: 3 to 50 of a-z, 0-9, _ and -, a letter first.
        alias: String,
        /// Bits: 1024, 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        size: u32,
        /// What to call it (the alias when none).
        #[arg(long)]
        label: Option<String>,
    },
    /// List the keys (the master first): alias, bits, label.
    Ls,
    /// One key: its public part in OpenSSH form, or with --private its
    /// private part (PKCS#1 PEM).
    Get {
        /// Its alias (`master`: the identity's own).
        alias: String,
        /// Print the private part.
        #[arg(long)]
        private: bool,
    },
    /// Share a key (its private part too) with another identity now.
    Share {
        /// Its alias.
        alias: String,
        /// A peer id, a friend's alias, or a nickname.
        to: String,
    },
    /// Audit someone's hold of a key: they prove they hold it (its
    /// private part with --private) without sending it.
    Audit {
        /// Its alias.
        alias: String,
        /// The holder: a peer id, a friend's alias, or a nickname.
        holder: String,
        /// Ask for proof of the private part.
        #[arg(long)]
        private: bool,
    },
    /// Give a key a new label.
    Label {
        /// Its alias.
        alias: String,
        /// The label.
        label: String,
    },
    /// Erase a key and its private part.
    Rm {
        /// Its alias.
        alias: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum TorrentAction {
    /// Add a torrent: a magnet link, or a .torrent file (sent by this
    /// client); prints its info hash.
    Add {
        /// A magnet link, an info hash, or a path to a .torrent file.
        source: String,
        /// Only these files (indexes, comma-separated).
        #[arg(long, value_delimiter = ',')]
        files: Option<Vec<usize>>,
        /// Add it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Limit how fast one torrent downloads ("none" lifts it); it is
    /// added again to take it, its data kept.
    Limit {
        /// Info hash.
        hash: String,
        /// Bytes per second (at least 16384), or "none".
        bps: String,
    },
    /// List torrents: hash, state, progress, name.
    Ls,
    /// One torrent with its files.
    Info {
        /// Info hash.
        hash: String,
    },
    /// Pause a torrent.
    Pause {
        /// Info hash.
        hash: String,
    },
    /// Resume a torrent.
    Resume {
        /// Info hash.
        hash: String,
    },
    /// Remove a torrent (its files imported into the store stay).
    Rm {
        /// Info hash.
        hash: String,
        /// Delete the downloaded data too.
        #[arg(long)]
        delete_data: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum NetAction {
    /// Peer id, addresses, NAT, peers, suppliers, space.
    Status,
    /// Connected peers.
    Peers,
    /// Customers whose shards this node keeps, and friends: standing
    /// (friend or stranger), bytes, allowance, bytes each holds for us.
    Customers,
    /// Connections now: peer, direction, address, bytes each way.
    Connections,
    /// Requests, messages and bytes since the node started, by protocol
    /// and peer, and the requests on their way now.
    Traffic,
    /// The records this node's part of the DHT holds.
    Records,
    /// Dial every bootstrap peer again now.
    Reconnect,
    /// Round trip to a peer.
    Ping {
        /// Peer id.
        peer: String,
    },
    /// Read a DHT value (printed as text).
    Get {
        /// Key.
        key: String,
    },
    /// Store a DHT value.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// The peers closest to a peer id.
    Find {
        /// Peer id.
        peer: String,
    },
    /// The peer id a nickname names.
    Nick {
        /// Nickname.
        name: String,
    },
    /// The nickname a peer calls itself.
    Name {
        /// Peer id.
        peer: String,
    },
    /// The last audit and repair round.
    Repair,
    /// Reject a customer: delete its shards here, store nothing more of it.
    Reject {
        /// Customer id (from `cairn net customers`).
        owner: String,
    },
    /// Change the supplier at a position; its shards are rebuilt there.
    Supplier {
        /// Position.
        position: u8,
        /// The new supplier (default: a connected spare).
        #[arg(long)]
        peer: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AccountAction {
    /// Create an account; prints "<login>  <key>" (the key is shown once).
    Create {
        /// API login (default: 16 random hex characters).
        #[arg(long)]
        login: Option<String>,
        /// Contact address.
        #[arg(long, default_value = "")]
        email: String,
        /// Storage quota in bytes.
        #[arg(long)]
        storage_limit: Option<u64>,
        /// Traffic allowed per 24 hours, in bytes.
        #[arg(long)]
        traffic_limit: Option<u64>,
        /// A password to sign in with the email (Powder Web), 8 to 1024
        /// characters.
        #[arg(long)]
        password: Option<String>,
    },
    /// Set (or with --none remove) the password an account signs in with
    /// by its email.
    Password {
        /// API login.
        login: String,
        /// The new password, 8 to 1024 characters.
        #[arg(long, required_unless_present = "none")]
        password: Option<String>,
        /// Remove the password and close the account's sessions.
        #[arg(long, conflicts_with = "password")]
        none: bool,
    },
    /// Print the access key an account (or, without a login, the
    /// operator) signs S3 requests with: "<key id>  <secret>". Made when
    /// there is none.
    S3Key {
        /// API login; none for the operator's key (the node's root).
        login: Option<String>,
        /// Remove the keys made before and make a new one.
        #[arg(long)]
        rotate: bool,
    },
    /// List accounts.
    List,
    /// Show one account with its usage and balances.
    Show {
        /// API login.
        login: String,
    },
    /// Change an account's limits ("none" lifts one).
    Limits {
        /// API login.
        login: String,
        /// Storage quota in bytes, or "none".
        #[arg(long)]
        storage: Option<String>,
        /// Traffic per 24 hours in bytes, or "none".
        #[arg(long)]
        traffic: Option<String>,
    },
    /// Add credits or transfer bytes to an account.
    Deposit {
        /// API login.
        login: String,
        /// How many: a whole number from 1 to 2^53 - 1 (the ledger's
        /// bound on one amount).
        #[arg(value_parser = clap::value_parser!(u64).range(1..=cairn_node::MAX_AMOUNT as u64))]
        amount: u64,
        /// "credits" or "bytes".
        #[arg(long, default_value = "credits")]
        unit: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum MetaAction {
    /// Print an entry's metadata.
    Get {
        /// Entry id.
        id: String,
    },
    /// Set key=value pairs ("key=" removes the key).
    Set {
        /// Entry id.
        id: String,
        /// key=value pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}
