//! Who may keep shards on this node, and how much: the supplier's
//! admission policy.
//!
//! A new libp2p identity costs nothing, so a limit per customer alone lets
//! a few fresh identities fill the whole donated space. Customers are
//! therefore of two standings:
//!
//! - **friends**, the peers the operator listed: each may keep up to
//!   `customer_quota` (without one, the whole donated space), outside every
//!   limit below, and the space promised to them is kept for them:
//!   strangers only write into what is left once every friend's unused
//!   allowance is set aside;
//! - **strangers**, everyone else (none at all on a private node): each may
//!   keep `stranger_quota`, plus as many bytes as it holds for this node as
//!   our supplier (space given for space taken), never more than
//!   `customer_quota`. A stranger that holds nothing here is admitted only
//!   while fewer than `strangers_max` strangers hold shards here, and only
//!   `strangers_per_hour` new ones in any hour (the admissions are kept in
//!   a file, so a restart does not reset the count).
//!
//! So an army of fresh identities, which holds nothing for us, gets at most
//! `strangers_max × stranger_quota` and never a friend's space. A stranger
//! that holds our shards is admitted whatever the counts say: fresh
//! identities cannot come by that standing, since this node itself picks
//! and audits its suppliers, and a Sybil army filling the stranger places
//! must not keep out the peers we trade space with.
//!
//! The rules ([`Policy::judge`]) are pure: the shard store applies them
//! under its usage lock, so two requests cannot pass a limit together.
//! Nothing here ever deletes a shard: a customer over its allowance (the
//! policy changed, or it stopped holding our shards) just cannot write
//! more.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Seconds over which new strangers are counted.
pub const HOUR: u64 = 3600;

/// The admission policy (`[network]` friends, strangers, quotas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The friends' customer ids (BLAKE3 of their peer ids).
    pub friends: HashSet<[u8; 32]>,
    /// Whether strangers are admitted at all.
    pub strangers: bool,
    /// Strangers that may hold shards here at once.
    pub strangers_max: u64,
    /// New strangers admitted in any hour.
    pub strangers_per_hour: u64,
    /// Bytes any stranger may keep, before what it holds for us.
    pub stranger_quota: u64,
    /// Most bytes one customer may keep (none: the donated space).
    pub customer_quota: Option<u64>,
}

impl Policy {
    /// Everyone admitted, up to the donated space: the store's policy until
    /// it is given one.
    pub fn open() -> Self {
        Self {
            friends: HashSet::new(),
            strangers: true,
            strangers_max: u64::MAX,
            strangers_per_hour: u64::MAX,
            stranger_quota: u64::MAX,
            customer_quota: None,
        }
    }

    /// Whether customer `owner` is a friend.
    pub fn standing(&self, owner: &[u8; 32]) -> Standing {
        if self.friends.contains(owner) {
            Standing::Friend
        } else {
            Standing::Stranger
        }
    }

    /// The most bytes customer `owner` may keep here, given what it holds
    /// for us (`held`) and the space donated.
    pub fn allowance(&self, owner: &[u8; 32], held: u64, donated: u64) -> u64 {
        let cap = self.customer_quota.unwrap_or(donated);
        match self.standing(owner) {
            Standing::Friend => cap,
            Standing::Stranger if !self.strangers => 0,
            Standing::Stranger => self.stranger_quota.saturating_add(held).min(cap),
        }
    }

    /// Bytes set aside for friends other than `asker`: what each may still
    /// write within its allowance.
    fn friends_reserve(&self, asker: &[u8; 32], donated: u64, usage: &Usage) -> u64 {
        self.friends
            .iter()
            .filter(|f| *f != asker)
            .map(|f| {
                let cap = self.customer_quota.unwrap_or(donated);
                cap.saturating_sub(usage.get(f).copied().unwrap_or(0))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Strangers holding shards here.
    fn strangers_holding(&self, usage: &Usage) -> u64 {
        usage
            .iter()
            .filter(|(o, b)| **b > 0 && !self.friends.contains(*o))
            .count() as u64
    }

    /// What customer `owner` may do now: how many more bytes it may write,
    /// or why it is not admitted. `held` says what it holds for us as our
    /// supplier; it is asked only when it matters (it reads the catalog).
    pub fn judge(
        &self,
        owner: &[u8; 32],
        held: &dyn Fn() -> u64,
        room: Room<'_>,
        admissions: &Admissions,
        now: u64,
    ) -> Verdict {
        let mine = room.usage.get(owner).copied().unwrap_or(0);
        let used: u64 = room.usage.values().sum();
        let free = room.donated.saturating_sub(used);
        if self.standing(owner) == Standing::Friend {
            let cap = self.allowance(owner, 0, room.donated);
            return Verdict::Admitted {
                room: cap.saturating_sub(mine).min(free),
                new: false,
            };
        }
        if !self.strangers {
            return Verdict::Refused(
                "this supplier keeps shards for its friends only ([network] strangers = false)"
                    .into(),
            );
        }
        let once = std::cell::OnceCell::new();
        let held = || *once.get_or_init(held);
        let newcomer = mine == 0;
        let closed = match newcomer {
            true => self.closed_to_newcomers(room.usage, admissions, owner, now),
            false => None,
        };
        if let Some(why) = &closed
            && held() == 0
        {
            return Verdict::Refused(why.clone());
        }
        // Within the stranger quota, what it holds for us does not matter.
        let base = self.allowance(owner, 0, room.donated);
        let allowance = match room.growth {
            Some(g) if mine.saturating_add(g) <= base => base,
            _ => self.allowance(owner, held(), room.donated),
        };
        let free = free.saturating_sub(self.friends_reserve(owner, room.donated, room.usage));
        Verdict::Admitted {
            room: allowance.saturating_sub(mine).min(free),
            new: newcomer && closed.is_none() && !admissions.admitted_within_hour(owner, now),
        }
    }

    /// Why a stranger holding nothing here cannot come in now, if it
    /// cannot: the strangers here are as many as allowed, or this hour's
    /// new places are taken (one admitted within the hour comes back
    /// freely).
    fn closed_to_newcomers(
        &self,
        usage: &Usage,
        admissions: &Admissions,
        owner: &[u8; 32],
        now: u64,
    ) -> Option<String> {
        let holding = self.strangers_holding(usage);
        if holding >= self.strangers_max {
            return Some(format!(
                "this supplier keeps shards of {holding} strangers already, its most ([network] strangers_max)"
            ));
        }
        let recent = admissions.within_hour(now);
        if recent >= self.strangers_per_hour && !admissions.admitted_within_hour(owner, now) {
            return Some(format!(
                "this supplier admitted {recent} new strangers in the last hour, its most ([network] strangers_per_hour); ask again later"
            ));
        }
        None
    }
}

/// Bytes each customer's shard files take.
pub(crate) type Usage = HashMap<[u8; 32], u64>;

/// What the store looks like as a request is judged.
#[derive(Debug, Clone, Copy)]
pub struct Room<'a> {
    /// The space donated.
    pub donated: u64,
    /// Every customer's bytes.
    pub usage: &'a HashMap<[u8; 32], u64>,
    /// The bytes a write would add; `None` for a question about space,
    /// which is answered in full.
    pub growth: Option<u64>,
}

/// A customer's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Listed in `[network] friends`.
    Friend,
    /// Anyone else.
    Stranger,
}

/// The outcome of [`Policy::judge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It may write `room` more bytes; `new`: a stranger admitted now
    /// through the door `strangers_max` and `strangers_per_hour` keep, to
    /// be recorded before its write lands.
    Admitted {
        /// Bytes it may still add.
        room: u64,
        /// Whether this is a new stranger's admission.
        new: bool,
    },
    /// Not admitted, and why (sent to the customer).
    Refused(String),
}

/// Strangers admitted within the last hour, with when (unix seconds),
/// kept in a file (`<owner hex> <secs>` a line) so a restart does not
/// reset the count. Rewritten whole through a temporary file at each
/// admission, which is rare (at most `strangers_per_hour` an hour).
#[derive(Debug, Default)]
pub struct Admissions {
    path: Option<PathBuf>,
    log: HashMap<[u8; 32], u64>,
}

impl Admissions {
    /// The admissions kept at `path` (none yet if it does not exist).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let log = match fs::read_to_string(path) {
            Ok(text) => text.lines().filter_map(parse_line).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(StoreError::io("read", path, e)),
        };
        Ok(Self {
            path: Some(path.to_path_buf()),
            log,
        })
    }

    /// Admissions within the hour before `now`.
    pub fn within_hour(&self, now: u64) -> u64 {
        self.log.values().filter(|t| recent(**t, now)).count() as u64
    }

    /// Whether `owner` was admitted within the hour before `now`.
    pub fn admitted_within_hour(&self, owner: &[u8; 32], now: u64) -> bool {
        self.log.get(owner).is_some_and(|t| recent(*t, now))
    }

    /// Records `owner`'s admission at `now` (durably, when kept in a
    /// file), forgetting those older than an hour.
    pub fn record(&mut self, owner: &[u8; 32], now: u64) -> Result<(), StoreError> {
        self.log.retain(|_, t| recent(*t, now));
        self.log.insert(*owner, now);
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text: String = self
            .log
            .iter()
            .map(|(o, t)| format!("{} {t}\n", hex::encode(o)))
            .collect();
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, text)
            .and_then(|()| File::open(&tmp).and_then(|f| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, path))
            .map_err(|e| StoreError::io("write", path, e))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io("sync", dir, e))?;
        }
        Ok(())
    }
}

/// Whether an admission at `at` lies within the hour before `now` (one
/// dated after `now`, the clock having gone back, counts as recent).
fn recent(at: u64, now: u64) -> bool {
    now.saturating_sub(at) < HOUR
}

fn parse_line(line: &str) -> Option<([u8; 32], u64)> {
    let (owner, at) = line.trim().split_once(' ')?;
    let owner: [u8; 32] = hex::decode(owner).ok()?.try_into().ok()?;
    Some((owner, at.parse().ok()?))
}

/// Now, in unix seconds.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
