//! The shards this node stores for its customers (the supplier side).
//!
//! Layout: `shards/<owner hex>/<blob hex>.<position>` once sealed, and
//! `….<position>.part` while the owner is still writing it. A shard becomes
//! readable only when the owner seals it: the length and hash it announces
//! (BLAKE3 of the BLAKE3 hashes of its pieces, one per segment,
//! [`cairn_core::placement::pieces_hash`]) are checked against the bytes,
//! the file is fsynced and renamed, and the directory fsynced, so a sealed
//! shard survives a crash whole. A write that says its pieces' length has
//! them hashed as they arrive (`arrived.rs`), so the seal reads back only
//! pieces it has no hash for. Shard bytes are written, and read back for a
//! seal, past the page cache where the file system allows (`direct.rs`);
//! otherwise each write asks the kernel to start its writeback at once, so
//! the seal's fsync finds little left to do. Reads for customers go past
//! it too, a MiB at a time, through a readahead of our own
//! (`readahead.rs`). A `.part` file is scratch: removed at
//! start (the owner writes it again), or by [`ShardStore::sweep_parts`]
//! once nobody has written it for a while.
//!
//! Space: the node donates `donated` bytes; the bytes of every shard file,
//! sealed or partial, count against it, and a write that would pass it is
//! refused whole ([`StoreError::OverLimit`]). Who may write at all, and
//! how much, is the admission policy's to say (`admission.rs`,
//! [`ShardStore::with_policy`]): friends, strangers, quotas; a write past
//! a customer's room is refused whole too, and a customer not admitted
//! gets [`StoreError::NotAdmitted`]. Usage is counted from the files at
//! open and kept in memory after that.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::StoreError;
use crate::admission::{Admissions, Policy, Room, Standing, Verdict, now_secs};
use crate::arrived::{Arrived, hash_pieces};
use crate::direct::{Buffers, open_direct, open_read, read_at};
use crate::readahead::{Readahead, Sealed};

type Result<T> = std::result::Result<T, StoreError>;

/// A shard: position `position` of blob `blob` stored by customer `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardId {
    /// The customer's id (BLAKE3 of its peer id).
    pub owner: [u8; 32],
    /// The blob.
    pub blob: [u8; 32],
    /// The position (supplier index).
    pub position: u8,
}

/// Space figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShardSpace {
    /// Bytes donated to customers.
    pub donated: u64,
    /// Bytes their shards take.
    pub used: u64,
    /// Customers with at least one shard here.
    pub customers: u64,
    /// Most bytes one customer may keep here (none: only `donated`).
    pub per_customer: Option<u64>,
}

/// One customer's use of this node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerUse {
    /// The customer's owner id, hex.
    pub owner: String,
    /// Bytes of its shards.
    pub bytes: u64,
}

/// A customer's standing here: who it is to us, what it keeps, what it
/// may keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerStanding {
    /// The customer's owner id, hex.
    pub owner: String,
    /// Its peer id, when this node knows it (friends, our suppliers).
    pub peer: Option<String>,
    /// Friend or stranger.
    pub standing: Standing,
    /// Bytes of its shards here.
    pub bytes: u64,
    /// The most bytes it may keep here (0: rejected, or a stranger on a
    /// node that takes none).
    pub allowance: u64,
    /// Bytes it holds for this node as our supplier.
    pub holds_for_us: u64,
}

/// What a customer holds for this node as its supplier: asked of the
/// catalog only when a decision needs it.
pub type Held<'a> = &'a dyn Fn() -> u64;

/// The shard files of a supplier.
pub struct ShardStore {
    dir: PathBuf,
    donated: u64,
    /// Who may store here, and how much.
    policy: Policy,
    /// New strangers admitted within the hour.
    admissions: Mutex<Admissions>,
    usage: Mutex<HashMap<[u8; 32], u64>>,
    /// Customers this node refuses (listed in `rejected`, one hex id a
    /// line).
    rejected: Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Aligned buffers of direct reads and writes.
    buffers: Buffers,
    /// Hashes of partial shards' pieces, taken as they were written.
    arrived: Mutex<Arrived>,
    /// The last MiBs read from sealed shards.
    readahead: Readahead,
    /// The file system refused a direct write: the page cache takes them.
    direct_off: AtomicBool,
}

/// The file listing rejected customers.
const REJECTED: &str = "rejected";

impl ShardStore {
    /// Opens (creating) the store under `dir`, removes partial shards left
    /// by a crash, and counts what the sealed ones use.
    pub fn open(dir: &Path, donated: u64) -> Result<Self> {
        crate::private::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
        // An older install made it 0755: closed, it closes every shard.
        crate::private::tighten(dir).map_err(|e| StoreError::io("tighten", dir, e))?;
        let mut usage = HashMap::new();
        for owner_dir in read_dir(dir)? {
            let Some(owner) = parse_hex32(&owner_dir.file_name().to_string_lossy()) else {
                continue;
            };
            for f in read_dir(&owner_dir.path())? {
                let path = f.path();
                if path.extension().is_some_and(|e| e == "part") {
                    fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
                    continue;
                }
                let len = f
                    .metadata()
                    .map_err(|e| StoreError::io("stat", &path, e))?
                    .len();
                *usage.entry(owner).or_insert(0) += len;
            }
        }
        let rejected = match fs::read_to_string(dir.join(REJECTED)) {
            Ok(text) => text.lines().filter_map(|l| parse_hex32(l.trim())).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(StoreError::io("read", dir.join(REJECTED), e)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            donated,
            policy: Policy::open(),
            admissions: Mutex::new(Admissions::default()),
            usage: Mutex::new(usage),
            rejected: Mutex::new(rejected),
            buffers: Buffers::default(),
            arrived: Mutex::new(Arrived::default()),
            readahead: Readahead::default(),
            direct_off: AtomicBool::new(false),
        })
    }

    /// Caps what one customer may keep here at `limit` bytes (shards it
    /// already has stay; it can write no more until it is under).
    pub fn with_customer_limit(mut self, limit: u64) -> Self {
        self.policy.customer_quota = Some(limit);
        self
    }

    /// Admits customers by `policy`, keeping the strangers admitted in the
    /// last hour in the file `admissions` (read now: a restart does not
    /// reset the count). Shards already here stay whatever the policy.
    pub fn with_policy(mut self, policy: Policy, admissions: &Path) -> Result<Self> {
        self.policy = policy;
        self.admissions = Mutex::new(Admissions::open(admissions)?);
        Ok(self)
    }

    fn admissions(&self) -> std::sync::MutexGuard<'_, Admissions> {
        self.admissions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn owner_dir(&self, owner: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(owner))
    }

    fn path(&self, id: &ShardId, part: bool) -> PathBuf {
        let name = format!(
            "{}.{}{}",
            hex::encode(id.blob),
            id.position,
            if part { ".part" } else { "" }
        );
        self.owner_dir(&id.owner).join(name)
    }

    /// The shard of customer `owner` whose (partial) file is `path`.
    fn id_of(owner: [u8; 32], path: &Path) -> Option<ShardId> {
        let name = path.file_name()?.to_str()?;
        let name = name.strip_suffix(".part").unwrap_or(name);
        let (blob, position) = name.split_once('.')?;
        Some(ShardId {
            owner,
            blob: parse_hex32(blob)?,
            position: position.parse().ok()?,
        })
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], u64>> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn arrived(&self) -> std::sync::MutexGuard<'_, Arrived> {
        self.arrived.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Space donated and used.
    pub fn space(&self) -> ShardSpace {
        let usage = self.usage();
        ShardSpace {
            donated: self.donated,
            used: usage.values().sum(),
            customers: usage.values().filter(|b| **b > 0).count() as u64,
            per_customer: self.policy.customer_quota,
        }
    }

    /// Bytes still free for shards.
    pub fn free(&self) -> u64 {
        self.donated.saturating_sub(self.space().used)
    }

    /// Bytes customer `owner`, holding nothing for us, may still write
    /// here ([`ShardStore::room_for`]).
    pub fn free_for(&self, owner: &[u8; 32]) -> u64 {
        self.room_for(owner, &|| 0)
    }

    /// Bytes customer `owner` may still write here, `held` saying what it
    /// holds for us: the free space within its allowance, as the policy
    /// says; none once rejected or when it would not be admitted now.
    pub fn room_for(&self, owner: &[u8; 32], held: Held<'_>) -> u64 {
        if self.is_rejected(owner) {
            return 0;
        }
        let usage = self.usage();
        match self.judge(owner, held, &usage, None) {
            Verdict::Admitted { room, .. } => room,
            Verdict::Refused(_) => 0,
        }
    }

    /// The policy's verdict on `owner` (under the usage lock, `usage`).
    fn judge(
        &self,
        owner: &[u8; 32],
        held: Held<'_>,
        usage: &HashMap<[u8; 32], u64>,
        growth: Option<u64>,
    ) -> Verdict {
        let room = Room {
            donated: self.donated,
            usage,
            growth,
        };
        self.policy
            .judge(owner, held, room, &self.admissions(), now_secs())
    }

    /// Every customer's standing: those with shards here, and every friend.
    /// `held` maps customers to what they hold for us.
    pub fn standings(&self, held: &HashMap<[u8; 32], u64>) -> Vec<CustomerStanding> {
        let usage = self.usage();
        let mut owners: Vec<[u8; 32]> = usage
            .iter()
            .filter(|(_, b)| **b > 0)
            .map(|(o, _)| *o)
            .chain(self.policy.friends.iter().copied())
            .collect();
        owners.sort();
        owners.dedup();
        owners
            .into_iter()
            .map(|o| {
                let holds_for_us = held.get(&o).copied().unwrap_or(0);
                let allowance = match self.is_rejected(&o) {
                    true => 0,
                    false => self.policy.allowance(&o, holds_for_us, self.donated),
                };
                CustomerStanding {
                    owner: hex::encode(o),
                    peer: None,
                    standing: self.policy.standing(&o),
                    bytes: usage.get(&o).copied().unwrap_or(0),
                    allowance,
                    holds_for_us,
                }
            })
            .collect()
    }

    /// Every customer and the bytes its shards take.
    pub fn customers(&self) -> Vec<CustomerUse> {
        let mut list: Vec<CustomerUse> = self
            .usage()
            .iter()
            .filter(|(_, b)| **b > 0)
            .map(|(o, b)| CustomerUse {
                owner: hex::encode(o),
                bytes: *b,
            })
            .collect();
        list.sort_by(|a, b| a.owner.cmp(&b.owner));
        list
    }

    /// Whether customer `owner` was rejected.
    pub fn is_rejected(&self, owner: &[u8; 32]) -> bool {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(owner)
    }

    /// Rejects customer `owner`: its shards are deleted and it may store
    /// nothing more here. Answers the bytes freed.
    pub fn reject(&self, owner: &[u8; 32]) -> Result<u64> {
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        rejected.insert(*owner);
        let list: String = rejected.iter().map(|o| hex::encode(o) + "\n").collect();
        let path = self.dir.join(REJECTED);
        let tmp = self.dir.join("rejected.tmp");
        crate::private::file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(list.as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(|e| StoreError::io("write", &path, e))?;
        drop(rejected);
        let dir = self.owner_dir(owner);
        let mut usage = self.usage();
        self.arrived().forget_owner(owner);
        self.readahead.forget_owner(owner);
        let freed = usage.remove(owner).unwrap_or(0);
        // Still under the usage lock: no write of the customer's lands
        // in the folder while it goes.
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io("remove", &dir, e))
            }
            _ => Ok(freed),
        }
    }

    /// Writes `data` at `offset` of a shard being uploaded, for a customer
    /// that holds nothing for us ([`ShardStore::write_holding`]).
    pub fn write(&self, id: &ShardId, offset: u64, stride: u32, data: &[u8]) -> Result<()> {
        self.write_holding(id, &|| 0, offset, stride, data)
    }

    /// Writes `data` at `offset` of a shard being uploaded, refusing
    /// whole when it would pass the donated space or the owner's room
    /// (`held`: what it holds for us), or when the policy does not admit
    /// the owner. `stride` is the length of the shard's pieces, as its
    /// seal will say (0: not known); the pieces the write starts are
    /// hashed now rather than at the seal.
    pub fn write_holding(
        &self,
        id: &ShardId,
        held: Held<'_>,
        offset: u64,
        stride: u32,
        data: &[u8],
    ) -> Result<()> {
        if self.is_rejected(&id.owner) {
            return Err(StoreError::Conflict(
                "this supplier rejected the customer".into(),
            ));
        }
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| StoreError::Invalid("shard offset out of range".into()))?;
        let path = self.path(id, true);
        let dir = self.owner_dir(&id.owner);
        crate::private::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        let hashed = hash_pieces(offset, stride, data);
        let mut usage = self.usage();
        let current = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let growth = end.saturating_sub(current);
        let used: u64 = usage.values().sum();
        if used + growth > self.donated {
            return Err(StoreError::OverLimit {
                what: "donated space",
                limit: self.donated,
                used,
                wanted: growth,
            });
        }
        self.admit(id, held, &usage, growth)?;
        let file = crate::private::file_options()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io("open", &path, e))?;
        let mut direct = if self.direct_off.load(Ordering::Relaxed) {
            None
        } else {
            open_direct(&path).map_err(|e| StoreError::io("open", &path, e))?
        };
        // Under the usage lock, which every write holds: the hashes kept
        // are of the bytes the file has.
        self.arrived()
            .forget_range(id, stride, offset, data.len() as u64);
        self.buffers
            .with(|buf| crate::direct::write_at(&mut direct, &file, buf, data, offset))
            .map_err(|e| StoreError::io("write", &path, e))?;
        if let Some(hashed) = hashed {
            self.arrived().keep(id, hashed);
        }
        *usage.entry(id.owner).or_insert(0) += growth;
        drop(usage);
        if direct.is_none() {
            self.direct_off.store(true, Ordering::Relaxed);
            crate::files::start_writeback(&file, offset, data.len() as u64);
        }
        Ok(())
    }

    /// Whether the policy lets the owner of `id` grow its shards by
    /// `growth` bytes (under the usage lock, `usage`); a stranger admitted
    /// now is recorded first, so a crash cannot forget it. Rewriting bytes
    /// it has costs nothing, but a stranger holding nothing here must be
    /// admitted even for that.
    fn admit(
        &self,
        id: &ShardId,
        held: Held<'_>,
        usage: &HashMap<[u8; 32], u64>,
        growth: u64,
    ) -> Result<()> {
        let mine = usage.get(&id.owner).copied().unwrap_or(0);
        if growth == 0 && mine > 0 {
            return Ok(());
        }
        match self.judge(&id.owner, held, usage, Some(growth)) {
            Verdict::Refused(why) => Err(StoreError::NotAdmitted(why)),
            Verdict::Admitted { room, .. } if growth > room => Err(StoreError::OverLimit {
                what: "space per customer",
                limit: mine.saturating_add(room),
                used: mine,
                wanted: growth,
            }),
            Verdict::Admitted { new, .. } => match new {
                true => self.admissions().record(&id.owner, now_secs()),
                false => Ok(()),
            },
        }
    }

    /// Seals a shard: checks its length and the hash of its pieces of
    /// `stride` bytes, makes it durable and readable. Sealing an already
    /// sealed, identical shard is a no-op.
    pub fn seal(&self, id: &ShardId, len: u64, stride: u32, hash: &[u8; 32]) -> Result<()> {
        self.seal_into(id, id, len, stride, hash)
    }

    /// Seals, as [`ShardStore::seal`] does, the shard written as `id`
    /// (under a provisional blob id) as the same position of blob `blob`,
    /// in the same rename: a crash leaves either the partial shard or the
    /// sealed one. Sealing again once done is a no-op.
    pub fn seal_as(
        &self,
        id: &ShardId,
        blob: &[u8; 32],
        len: u64,
        stride: u32,
        hash: &[u8; 32],
    ) -> Result<()> {
        let target = ShardId { blob: *blob, ..*id };
        self.seal_into(id, &target, len, stride, hash)
    }

    /// Seals partial shard `id` as `target` (the same owner).
    fn seal_into(
        &self,
        id: &ShardId,
        target: &ShardId,
        len: u64,
        stride: u32,
        hash: &[u8; 32],
    ) -> Result<()> {
        // A piece is one segment's shard: never more than a segment.
        if stride == 0 || u64::from(stride) > cairn_core::layout::SEGMENT_SIZE {
            return Err(StoreError::Invalid(format!(
                "a shard's stride must be 1 to {} bytes, not {stride}",
                cairn_core::layout::SEGMENT_SIZE
            )));
        }
        let part = self.path(id, true);
        let sealed = self.path(target, false);
        if !part.exists() && sealed.exists() {
            return match self.hash_of(&sealed, stride, &BTreeMap::new())? {
                (l, h) if l == len && &h == hash => Ok(()),
                _ => Err(StoreError::Conflict(
                    "a different shard is sealed here".into(),
                )),
            };
        }
        let arrived = self.arrived().take(id, stride);
        let (found_len, found_hash) = self.hash_of(&part, stride, &arrived)?;
        if found_len != len || &found_hash != hash {
            return Err(StoreError::Invalid(format!(
                "shard is {found_len} bytes with another hash than the {len} bytes announced"
            )));
        }
        let f = File::open(&part).map_err(|e| StoreError::io("open", &part, e))?;
        f.sync_all().map_err(|e| StoreError::io("sync", &part, e))?;
        // Under the usage lock, so no write lands between forgetting the
        // shard's hashes and the rename: a write after it starts a new
        // partial shard with none.
        let mut usage = self.usage();
        self.arrived().forget(id);
        self.arrived().forget(target);
        self.readahead.forget(target);
        let old = fs::metadata(&sealed).map(|m| m.len()).ok();
        fs::rename(&part, &sealed).map_err(|e| StoreError::io("rename", &part, e))?;
        if let Some(old) = old {
            let u = usage.entry(id.owner).or_insert(0);
            *u = u.saturating_sub(old);
        }
        drop(usage);
        let dir = self.owner_dir(&id.owner);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("sync", &dir, e))?;
        Ok(())
    }

    /// The length of the file at `path` and the hash of its pieces: those
    /// hashed on arrival as they were (`arrived`: index → hash, length),
    /// the others read back.
    fn hash_of(
        &self,
        path: &Path,
        stride: u32,
        arrived: &BTreeMap<u64, ([u8; 32], u32)>,
    ) -> Result<(u64, [u8; 32])> {
        let (f, direct) = open_read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                what: "shard",
                id: path.display().to_string(),
            },
            _ => StoreError::io("open", path, e),
        })?;
        let len = f
            .metadata()
            .map_err(|e| StoreError::io("stat", path, e))?
            .len();
        let s = u64::from(stride);
        let mut hashes = Vec::with_capacity(len.div_ceil(s) as usize);
        for index in 0..len.div_ceil(s) {
            let n = (len - index * s).min(s) as usize;
            match arrived.get(&index) {
                Some((hash, l)) if *l as usize == n => hashes.push(*hash),
                _ => {
                    let piece = self
                        .buffers
                        .with(|buf| read_at(&f, direct, path, buf, index * s, n))
                        .map_err(|e| StoreError::io("read", path, e))?;
                    hashes.push(*blake3::hash(&piece).as_bytes());
                }
            }
        }
        Ok((len, cairn_core::placement::pieces_hash(&hashes)))
    }

    /// Reads `len` bytes at `offset` of a sealed shard (fewer at its end).
    pub fn read(&self, id: &ShardId, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.read_from(id, offset, len, true)
    }

    /// Reads `len` bytes at `offset` of a sealed shard, through the
    /// readahead when `cached`, else from the disk itself.
    fn read_from(&self, id: &ShardId, offset: u64, len: usize, cached: bool) -> Result<Vec<u8>> {
        let path = self.path(id, false);
        let (f, direct) = open_read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                what: "shard",
                id: format!("{}.{}", hex::encode(id.blob), id.position),
            },
            _ => StoreError::io("open", &path, e),
        })?;
        let meta = f.metadata().map_err(|e| StoreError::io("stat", &path, e))?;
        let size = meta.len();
        let tag = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.mtime(), meta.mtime_nsec())
        };
        if offset > size {
            return Err(StoreError::Invalid(format!(
                "offset {offset} is past the shard's {size} bytes"
            )));
        }
        let n = len.min((size - offset) as usize);
        self.buffers
            .with(|spare| match cached {
                true => {
                    let sealed = Sealed {
                        id,
                        tag,
                        file: &f,
                        direct,
                        path: &path,
                        size,
                    };
                    self.readahead.read(&sealed, offset, n, spare)
                }
                false => read_at(&f, direct, &path, spare, offset, n),
            })
            .map_err(|e| StoreError::io("read", &path, e))
    }

    /// The BLAKE3 hash keyed by `nonce` of `len` bytes at `offset`, read
    /// from the disk (an audit proves the disk holds them, not the
    /// readahead).
    pub fn audit(
        &self,
        id: &ShardId,
        nonce: &[u8; 32],
        offset: u64,
        len: usize,
    ) -> Result<[u8; 32]> {
        let bytes = self.read_from(id, offset, len, false)?;
        Ok(*blake3::keyed_hash(nonce, &bytes).as_bytes())
    }

    /// Removes a shard (sealed or partial). Removing a missing one is fine.
    pub fn delete(&self, id: &ShardId) -> Result<()> {
        let mut usage = self.usage();
        self.arrived().forget(id);
        self.readahead.forget(id);
        let mut freed = 0;
        for part in [true, false] {
            let path = self.path(id, part);
            match fs::metadata(&path) {
                Ok(m) => {
                    fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
                    freed += m.len();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("stat", &path, e)),
            }
        }
        let u = usage.entry(id.owner).or_insert(0);
        *u = u.saturating_sub(freed);
        Ok(())
    }

    /// Removes partial shards nobody has written for `idle`: an owner that
    /// never seals (gone, or hostile) does not keep donated space. Answers
    /// the bytes freed.
    pub fn sweep_parts(&self, idle: std::time::Duration) -> Result<u64> {
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(idle) else {
            return Ok(0);
        };
        let mut freed = 0;
        for owner_dir in read_dir(&self.dir)? {
            let Some(owner) = parse_hex32(&owner_dir.file_name().to_string_lossy()) else {
                continue;
            };
            for f in read_dir(&owner_dir.path())? {
                let path = f.path();
                if path.extension().is_none_or(|e| e != "part") {
                    continue;
                }
                // Under the usage lock, so no write to it runs meanwhile.
                let mut usage = self.usage();
                let Ok(meta) = fs::metadata(&path) else {
                    continue;
                };
                if meta.modified().map_or(true, |m| m > cutoff) {
                    continue;
                }
                fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
                if let Some(id) = Self::id_of(owner, &path) {
                    self.arrived().forget(&id);
                }
                let u = usage.entry(owner).or_insert(0);
                *u = u.saturating_sub(meta.len());
                freed += meta.len();
            }
        }
        Ok(freed)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    fs::read_dir(dir)
        .map_err(|e| StoreError::io("list", dir, e))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| StoreError::io("list", dir, e))
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Policy, Standing};

    fn id(p: u8) -> ShardId {
        ShardId {
            owner: [1; 32],
            blob: [p; 32],
            position: p,
        }
    }

    /// What an owner announces for `data` cut in pieces of `stride`.
    fn pieces(data: &[u8], stride: usize) -> [u8; 32] {
        let hashes: Vec<[u8; 32]> = data
            .chunks(stride)
            .map(|c| *blake3::hash(c).as_bytes())
            .collect();
        cairn_core::placement::pieces_hash(&hashes)
    }

    #[test]
    fn shard_files_and_their_folders_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("shards");
        // An older install's folder, made under a 022 umask.
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let s = ShardStore::open(&root, 1 << 20).unwrap();
        let data = vec![3u8; 3000];
        s.write(&id(1), 0, 1000, &data).unwrap();
        s.seal(&id(1), 3000, 1000, &pieces(&data, 1000)).unwrap();
        s.write(&id(2), 0, 1000, &data[..1000]).unwrap();
        s.reject(&[9; 32]).unwrap();
        crate::private::assert_private_tree(dir.path());
    }

    #[test]
    fn a_shard_is_readable_only_once_sealed_with_the_right_hash() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        s.write(&id(1), 0, 0, &data[..3000]).unwrap();
        s.write(&id(1), 3000, 0, &data[3000..]).unwrap();
        assert!(matches!(
            s.read(&id(1), 0, 10),
            Err(StoreError::NotFound { .. })
        ));
        assert!(s.seal(&id(1), 5000, 2000, &[0; 32]).is_err(), "wrong hash");
        let hash = pieces(&data, 2000);
        assert!(s.seal(&id(1), 5000, 1000, &hash).is_err(), "other pieces");
        assert!(s.seal(&id(1), 4999, 2000, &hash).is_err(), "wrong length");
        assert!(s.seal(&id(1), 5000, 0, &hash).is_err(), "no stride");
        assert!(
            s.seal(&id(1), 5000, u32::MAX, &hash).is_err(),
            "a stride over a segment"
        );
        s.seal(&id(1), 5000, 2000, &hash).unwrap();
        s.seal(&id(1), 5000, 2000, &hash).unwrap();
        assert_eq!(s.read(&id(1), 100, 50).unwrap(), data[100..150]);
        assert_eq!(s.read(&id(1), 4990, 50).unwrap(), data[4990..]);
        let nonce = [9; 32];
        assert_eq!(
            s.audit(&id(1), &nonce, 10, 100).unwrap(),
            *blake3::keyed_hash(&nonce, &data[10..110]).as_bytes()
        );
        assert_eq!(s.space().used, 5000);
        assert_eq!(s.customers().len(), 1);
        s.delete(&id(1)).unwrap();
        assert_eq!(s.space().used, 0);
        assert!(s.read(&id(1), 0, 1).is_err());
    }

    #[test]
    fn a_shard_written_under_a_provisional_id_is_sealed_as_its_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let hash = pieces(&data, 2000);
        let provisional = id(3);
        let blob = [9u8; 32];
        let sealed = ShardId {
            blob,
            ..provisional
        };
        s.write(&provisional, 0, 2000, &data).unwrap();
        assert!(
            s.seal_as(&provisional, &blob, 5000, 2000, &[0; 32])
                .is_err(),
            "wrong hash"
        );
        assert!(
            s.read(&sealed, 0, 1).is_err(),
            "nothing sealed on a refusal"
        );
        s.seal_as(&provisional, &blob, 5000, 2000, &hash).unwrap();
        assert_eq!(s.read(&sealed, 0, 5000).unwrap(), data);
        assert!(s.read(&provisional, 0, 1).is_err(), "only under the blob");
        assert!(
            !s.path(&provisional, true).exists(),
            "no partial shard left"
        );
        // Asked again (the answer was lost): done already.
        s.seal_as(&provisional, &blob, 5000, 2000, &hash).unwrap();
        assert_eq!(s.space().used, 5000);
        // The same shard placed again the same way replaces the sealed one
        // and is counted once.
        let again = ShardId {
            blob: [4; 32],
            ..provisional
        };
        s.write(&again, 0, 2000, &data).unwrap();
        assert_eq!(s.space().used, 10000);
        s.seal_as(&again, &blob, 5000, 2000, &hash).unwrap();
        assert_eq!(s.space().used, 5000);
        assert_eq!(s.read(&sealed, 4000, 1000).unwrap(), data[4000..]);
        s.delete(&sealed).unwrap();
        assert_eq!(s.space().used, 0);
    }

    /// Makes the file at `path` look last written `secs` ago.
    fn last_written(path: &Path, secs: u64) {
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(then).unwrap();
    }

    /// Overwrites `bytes` at `at` of a file, behind the store's back.
    fn scribble(path: &Path, at: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .write_all_at(bytes, at)
            .unwrap();
    }

    #[test]
    fn a_seal_trusts_the_pieces_hashed_on_arrival_and_reads_back_the_rest() {
        const S: usize = 8192;
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        let data: Vec<u8> = (0..3 * S + 100).map(|i| (i * 7 % 251) as u8).collect();
        let hash = pieces(&data, S);
        // Hashed as written: bytes changed on disk afterwards go unseen
        // (the audits catch those), which shows no piece was read back.
        s.write(&id(1), 0, S as u32, &data[..2 * S]).unwrap();
        s.write(&id(1), 2 * S as u64, S as u32, &data[2 * S..])
            .unwrap();
        scribble(&s.path(&id(1), true), 10, b"x");
        s.seal(&id(1), data.len() as u64, S as u32, &hash).unwrap();
        // Written without a stride, the same change is read back and caught.
        s.write(&id(2), 0, 0, &data).unwrap();
        scribble(&s.path(&id(2), true), 10, b"x");
        assert!(s.seal(&id(2), data.len() as u64, S as u32, &hash).is_err());
        // A seal with another stride than the writes' reads everything back.
        s.write(&id(3), 0, S as u32, &data).unwrap();
        scribble(&s.path(&id(3), true), 10, b"x");
        let halves = pieces(&data, S / 2);
        assert!(
            s.seal(&id(3), data.len() as u64, S as u32 / 2, &halves)
                .is_err()
        );
    }

    #[test]
    fn a_seal_sees_every_byte_written_after_a_piece_was_hashed() {
        const S: usize = 8192;
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        let a: Vec<u8> = (0..4 * S).map(|i| (i % 249) as u8).collect();
        let mut b = a.clone();
        // Rewritten: across the end of piece 0 and the start of piece 1
        // without a stride, and inside piece 3 with one.
        b[S - 3..S + 5].fill(0xee);
        b[3 * S + 9..3 * S + 20].fill(0xdd);
        let write_a_then_b = || {
            s.write(&id(1), 0, S as u32, &a).unwrap();
            s.write(&id(1), S as u64 - 3, 0, &b[S - 3..S + 5]).unwrap();
            let at = 3 * S + 9;
            s.write(&id(1), at as u64, S as u32, &b[at..at + 11])
                .unwrap();
        };
        let len = b.len() as u64;
        write_a_then_b();
        assert!(s.seal(&id(1), len, S as u32, &pieces(&a, S)).is_err());
        write_a_then_b();
        s.seal(&id(1), len, S as u32, &pieces(&b, S)).unwrap();
        assert_eq!(s.read(&id(1), 0, b.len()).unwrap(), b);
        // A partial shard swept or deleted leaves no hashes behind: written
        // again only in part, the rest is what the file now holds (zeros).
        for sweep in [true, false] {
            let shard = id(if sweep { 2 } else { 3 });
            s.write(&shard, 0, S as u32, &a).unwrap();
            if sweep {
                last_written(&s.path(&shard, true), 60);
                s.sweep_parts(std::time::Duration::from_secs(1)).unwrap();
            } else {
                s.delete(&shard).unwrap();
            }
            s.write(&shard, 3 * S as u64, S as u32, &a[3 * S..])
                .unwrap();
            let mut c = vec![0; 3 * S];
            c.extend_from_slice(&a[3 * S..]);
            assert!(
                s.seal(&shard, len, S as u32, &pieces(&a, S)).is_err(),
                "sweep {sweep}"
            );
            s.write(&shard, 3 * S as u64, S as u32, &a[3 * S..])
                .unwrap();
            s.seal(&shard, len, S as u32, &pieces(&c, S)).unwrap();
        }
    }

    #[test]
    fn a_shard_sealed_again_is_read_anew_and_audits_read_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 24).unwrap();
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = a.iter().map(|x| x ^ 0x5a).collect();
        let stride = 1 << 17;
        s.write(&id(1), 0, stride, &a).unwrap();
        s.seal(&id(1), a.len() as u64, stride, &pieces(&a, stride as usize))
            .unwrap();
        assert_eq!(s.read(&id(1), 1000, 5000).unwrap(), a[1000..6000]);
        // Deleted and placed again with other bytes (a repair), or sealed
        // over (a re-placement): the reads see the new file.
        s.delete(&id(1)).unwrap();
        s.write(&id(1), 0, stride, &b).unwrap();
        s.seal(&id(1), b.len() as u64, stride, &pieces(&b, stride as usize))
            .unwrap();
        assert_eq!(s.read(&id(1), 1000, 5000).unwrap(), b[1000..6000]);
        s.write(&id(1), 0, stride, &a).unwrap();
        s.seal(&id(1), a.len() as u64, stride, &pieces(&a, stride as usize))
            .unwrap();
        assert_eq!(s.read(&id(1), 1000, 5000).unwrap(), a[1000..6000]);
        // An audit reads the disk, not the readahead: bytes changed on disk
        // change its answer at once.
        let nonce = [3; 32];
        let want = *blake3::keyed_hash(&nonce, &a[1000..6000]).as_bytes();
        assert_eq!(s.audit(&id(1), &nonce, 1000, 5000).unwrap(), want);
        scribble(&s.path(&id(1), false), 2000, b"rot");
        assert_ne!(s.audit(&id(1), &nonce, 1000, 5000).unwrap(), want);
    }

    #[test]
    fn a_rejected_customer_loses_its_shards_and_stores_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        s.write(&id(1), 0, 0, &[1; 100]).unwrap();
        s.seal(&id(1), 100, 64, &pieces(&[1; 100], 64)).unwrap();
        assert_eq!(s.reject(&[1; 32]).unwrap(), 100);
        assert!(s.read(&id(1), 0, 1).is_err());
        assert!(matches!(
            s.write(&id(2), 0, 0, &[2; 10]),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.space().used, 0);
        drop(s);
        let s = ShardStore::open(dir.path(), 1 << 20).unwrap();
        assert!(s.is_rejected(&[1; 32]), "the rejection survives a restart");
        assert!(!s.is_rejected(&[2; 32]));
    }

    #[test]
    fn one_customer_cannot_take_more_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1000)
            .unwrap()
            .with_customer_limit(400);
        let other = ShardId {
            owner: [2; 32],
            ..id(1)
        };
        assert_eq!(s.free_for(&id(1).owner), 400);
        s.write(&id(1), 0, 0, &[1; 300]).unwrap();
        assert_eq!(s.free_for(&id(1).owner), 100);
        let refused = s.write(&id(3), 0, 0, &[1; 101]);
        assert!(
            matches!(
                refused,
                Err(StoreError::OverLimit {
                    what: "space per customer",
                    ..
                })
            ),
            "{refused:?}"
        );
        // Rewriting what it has costs nothing; another customer has its own.
        s.write(&id(1), 0, 0, &[9; 300]).unwrap();
        s.write(&other, 0, 0, &[2; 400]).unwrap();
        assert_eq!(s.free_for(&other.owner), 0);
        assert_eq!(s.free(), 300);
        assert_eq!(s.space().per_customer, Some(400));
    }

    /// Friend 9 may keep 600 bytes; two strangers at once, two new ones
    /// an hour, 100 bytes each.
    fn guarded(dir: &Path) -> ShardStore {
        let policy = Policy {
            friends: [[9; 32]].into(),
            strangers: true,
            strangers_max: 2,
            strangers_per_hour: 2,
            stranger_quota: 100,
            customer_quota: Some(600),
        };
        ShardStore::open(&dir.join("shards"), 1000)
            .unwrap()
            .with_policy(policy, &dir.join("admissions"))
            .unwrap()
    }

    fn of(owner: u8) -> ShardId {
        ShardId {
            owner: [owner; 32],
            ..id(1)
        }
    }

    #[test]
    fn fresh_strangers_cannot_fill_the_donated_space_and_a_friend_still_gets_its_share() {
        let dir = tempfile::tempdir().unwrap();
        let s = guarded(dir.path());
        for owner in 1..=4u8 {
            let first = s.write(&of(owner), 0, 0, &[owner; 100]);
            let more = s.write(&of(owner), 100, 0, &[owner; 1]);
            if owner <= 2 {
                first.unwrap();
                assert!(
                    matches!(more, Err(StoreError::OverLimit { .. })),
                    "{more:?}"
                );
            } else {
                assert!(
                    matches!(&first, Err(StoreError::NotAdmitted(why)) if why.contains("strangers_max")),
                    "{first:?}"
                );
                assert_eq!(s.free_for(&[owner; 32]), 0);
            }
        }
        assert_eq!(s.space().used, 200, "the strangers took 2 x 100 of 1000");
        // What a stranger holds for us raises its allowance, within what
        // the friend's 600 bytes leave to strangers.
        assert_eq!(s.room_for(&[1; 32], &|| 150), 150);
        assert_eq!(s.room_for(&[1; 32], &|| 250), 200);
        s.write_holding(&of(1), &|| 150, 100, 0, &[1; 150]).unwrap();
        assert_eq!(s.free_for(&[9; 32]), 600);
        s.write(&of(9), 0, 0, &[9; 600]).unwrap();
        let standings = s.standings(&[([1; 32], 150)].into());
        let friend = standings.iter().find(|c| c.owner == hex::encode([9; 32]));
        assert!(
            matches!(friend, Some(c) if c.standing == Standing::Friend && c.bytes == 600 && c.allowance == 600),
            "{standings:?}"
        );
        let one = standings.iter().find(|c| c.owner == hex::encode([1; 32]));
        assert!(
            matches!(one, Some(c) if c.standing == Standing::Stranger && c.bytes == 250 && c.allowance == 250 && c.holds_for_us == 150),
            "{standings:?}"
        );
    }

    #[test]
    fn new_strangers_an_hour_are_counted_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = guarded(dir.path());
        for owner in [1, 2] {
            s.write(&of(owner), 0, 0, &[owner; 10]).unwrap();
            s.delete(&of(owner)).unwrap();
        }
        // Neither holds anything now, but two came within the hour.
        let third = s.write(&of(3), 0, 0, &[3; 10]);
        assert!(
            matches!(&third, Err(StoreError::NotAdmitted(why)) if why.contains("strangers_per_hour")),
            "{third:?}"
        );
        drop(s);
        let s = guarded(dir.path());
        assert!(matches!(
            s.write(&of(3), 0, 0, &[3; 10]),
            Err(StoreError::NotAdmitted(_))
        ));
        assert_eq!(s.free_for(&[3; 32]), 0);
        s.write(&of(1), 0, 0, &[1; 10]).unwrap();
        assert!(
            !dir.path().join("shards").join("admissions").exists(),
            "the admissions are kept outside the shards"
        );
    }

    #[test]
    fn partial_shards_left_idle_are_swept_and_sealed_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 10_000).unwrap();
        s.write(&id(1), 0, 0, &[1; 600]).unwrap();
        s.seal(&id(1), 600, 600, &pieces(&[1; 600], 600)).unwrap();
        s.write(&id(2), 0, 0, &[2; 300]).unwrap();
        s.write(&id(3), 0, 0, &[3; 200]).unwrap();
        // Shard 2 was last written two hours ago; shard 3 just now.
        let part = s.path(&id(2), true);
        last_written(&part, 7200);
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(s.sweep_parts(hour).unwrap(), 300);
        assert!(!part.exists());
        assert!(s.path(&id(3), true).exists(), "a fresh part stays");
        assert_eq!(s.space().used, 800);
        assert_eq!(s.read(&id(1), 0, 600).unwrap(), vec![1; 600]);
        // The owner can start it again.
        s.write(&id(2), 0, 0, &[2; 300]).unwrap();
        assert_eq!(s.space().used, 1100);
        assert_eq!(s.sweep_parts(hour).unwrap(), 0);
    }

    #[test]
    fn the_donated_space_refuses_a_write_whole_and_partial_shards_go_at_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShardStore::open(dir.path(), 1000).unwrap();
        s.write(&id(1), 0, 0, &[1; 600]).unwrap();
        s.seal(&id(1), 600, 600, &pieces(&[1; 600], 600)).unwrap();
        s.write(&id(2), 0, 0, &[2; 300]).unwrap();
        let refused = s.write(&id(2), 300, 0, &[2; 200]);
        assert!(
            matches!(refused, Err(StoreError::OverLimit { .. })),
            "{refused:?}"
        );
        // Rewriting bytes already counted costs nothing.
        s.write(&id(2), 0, 0, &[3; 300]).unwrap();
        assert_eq!(s.free(), 100);
        drop(s);
        let s = ShardStore::open(dir.path(), 1000).unwrap();
        assert_eq!(s.space().used, 600, "the partial shard was swept");
        assert_eq!(s.read(&id(1), 0, 600).unwrap(), vec![1; 600]);
    }
}
