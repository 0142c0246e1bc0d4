//! A local user (a uid and its groups) and whether the kernel would let
//! them read a file or search a folder.
//!
//! The node never switches to the caller's uid; it works out what the
//! kernel's permission check would say, from the object's owner, group,
//! mode and POSIX ACL (the `system.posix_acl_access` attribute), the way
//! `acl_permission_check` does it. The caller's groups are those the user
//! database gives the uid (its primary group and `getgrouplist`): what a
//! login session of that user has. Capabilities other than root's are not
//! assumed, so the answer errs towards "no".

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd};

use rustix::fs::Stat;

/// Read permission, as in a mode's bits.
pub(crate) const READ: u32 = 4;
/// Search (execute) permission.
pub(crate) const SEARCH: u32 = 1;

/// A user of this machine, as the kernel would see a process of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    uid: u32,
    /// The primary group first, then the supplementary groups.
    groups: Vec<u32>,
}

impl LocalUser {
    /// The user with this uid and the groups the user database gives it (none
    /// when the uid has no entry there).
    pub fn from_uid(uid: u32) -> Self {
        Self {
            uid,
            groups: groups_of(uid),
        }
    }

    /// A user with exactly these groups (tests, and callers that know them).
    pub fn with_groups(uid: u32, groups: Vec<u32>) -> Self {
        Self { uid, groups }
    }

    /// The uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The user the node itself runs as.
    pub fn of_this_process() -> Self {
        Self::from_uid(rustix::process::geteuid().as_raw())
    }

    /// Whether this user may do `want` (a mask of [`READ`] and [`SEARCH`]) to
    /// the object behind `fd`, whose status is `st`.
    pub(crate) fn may(&self, fd: impl AsFd, st: &Stat, want: u32) -> std::io::Result<bool> {
        if self.uid == 0 {
            // CAP_DAC_OVERRIDE: root reads and searches everything.
            return Ok(true);
        }
        let acl = acl_of(fd)?;
        Ok(self.permits(st.st_uid, st.st_gid, st.st_mode, acl.as_deref(), want))
    }

    /// The kernel's check for an object owned by `owner:group` with `mode`
    /// and, where it has one, the extended ACL `acl`.
    pub(crate) fn permits(
        &self,
        owner: u32,
        group: u32,
        mode: u32,
        acl: Option<&[AclEntry]>,
        want: u32,
    ) -> bool {
        let granted = match acl {
            Some(acl) => self.acl_grants(owner, group, acl, want),
            None => self.mode_grants(owner, group, mode),
        };
        granted & want == want
    }

    fn mode_grants(&self, owner: u32, group: u32, mode: u32) -> u32 {
        if self.uid == owner {
            (mode >> 6) & 7
        } else if self.groups.contains(&group) {
            (mode >> 3) & 7
        } else {
            mode & 7
        }
    }

    /// POSIX.1e: the owner entry; else a named user entry (masked); else
    /// every matching group entry (masked), any of which may grant, and
    /// none granting refuses; else the other entry.
    fn acl_grants(&self, owner: u32, group: u32, acl: &[AclEntry], want: u32) -> u32 {
        let mask = acl
            .iter()
            .find(|e| e.tag == AclTag::Mask)
            .map_or(7, |e| e.perm);
        let perm = |tag: AclTag| acl.iter().find(|e| e.tag == tag).map_or(0, |e| e.perm);
        if self.uid == owner {
            return perm(AclTag::UserObj);
        }
        if let Some(e) = acl
            .iter()
            .find(|e| e.tag == AclTag::User && e.id == self.uid)
        {
            return e.perm & mask;
        }
        let groups: Vec<u32> = acl
            .iter()
            .filter(|e| match e.tag {
                AclTag::GroupObj => self.groups.contains(&group),
                AclTag::Group => self.groups.contains(&e.id),
                _ => false,
            })
            .map(|e| e.perm & mask)
            .collect();
        if groups.is_empty() {
            return perm(AclTag::Other);
        }
        groups
            .iter()
            .copied()
            .find(|p| p & want == want)
            .unwrap_or(0)
    }
}

/// The kind of an ACL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AclTag {
    UserObj,
    User,
    GroupObj,
    Group,
    Mask,
    Other,
}

/// One entry of a POSIX ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AclEntry {
    pub(crate) tag: AclTag,
    pub(crate) perm: u32,
    pub(crate) id: u32,
}

const ACL_XATTR: &str = "system.posix_acl_access";
const ACL_VERSION: u32 = 2;

/// The ACL of the object behind `fd`, `None` when it has none beyond its
/// mode. Read through `/proc/self/fd`, since an `O_PATH` handle cannot
/// read attributes itself; the link names that very object.
fn acl_of(fd: impl AsFd) -> std::io::Result<Option<Vec<AclEntry>>> {
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    let len = match rustix::fs::getxattr_query(&path, ACL_XATTR) {
        Ok(len) => len,
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::NOTSUP => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let mut buf = vec![0u8; len];
    let n = rustix::fs::getxattr(&path, ACL_XATTR, &mut buf[..])?;
    buf.truncate(n);
    parse_acl(&buf).map(Some)
}

/// Parses the kernel's ACL attribute: a version word, then entries of a
/// 16-bit tag, a 16-bit permission and a 32-bit id, little-endian.
pub(crate) fn parse_acl(raw: &[u8]) -> std::io::Result<Vec<AclEntry>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed POSIX ACL");
    let (version, rest) = raw.split_first_chunk::<4>().ok_or_else(bad)?;
    if u32::from_le_bytes(*version) != ACL_VERSION || rest.len() % 8 != 0 {
        return Err(bad());
    }
    rest.chunks_exact(8)
        .map(|e| {
            let tag = match u16::from_le_bytes([e[0], e[1]]) {
                0x01 => AclTag::UserObj,
                0x02 => AclTag::User,
                0x04 => AclTag::GroupObj,
                0x08 => AclTag::Group,
                0x10 => AclTag::Mask,
                0x20 => AclTag::Other,
                _ => return Err(bad()),
            };
            Ok(AclEntry {
                tag,
                perm: u32::from(u16::from_le_bytes([e[2], e[3]]) & 7),
                id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            })
        })
        .collect()
}

/// The groups of `uid` in the user database: its primary group, then the
/// others `getgrouplist` names. Empty when the uid has no entry.
fn groups_of(uid: u32) -> Vec<u32> {
    let Some((name, gid)) = passwd_entry(uid) else {
        return Vec::new();
    };
    let mut groups = vec![0 as libc::gid_t; 64];
    for _ in 0..8 {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: `name` is a valid C string; `groups` has room for `n`
        // entries, and getgrouplist writes at most that many.
        let found = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if found >= 0 {
            groups.truncate(usize::try_from(n).unwrap_or(0));
            let mut out = vec![gid];
            out.extend(groups.into_iter().filter(|g| *g != gid));
            return out;
        }
        // Too small: `n` now holds the count needed.
        groups.resize(usize::try_from(n).unwrap_or(0).max(groups.len() * 2), 0);
    }
    vec![gid]
}

/// The login name and primary group of `uid`.
fn passwd_entry(uid: u32) -> Option<(std::ffi::CString, u32)> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    for _ in 0..6 {
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives the
        // use of the strings `pwd` points into, which are copied below.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so pw_name is a C string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }.to_owned();
        return Some((name, pwd.pw_gid));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: AclTag, perm: u32, id: u32) -> AclEntry {
        AclEntry { tag, perm, id }
    }

    #[test]
    fn modes_are_read_as_the_kernel_reads_them() {
        let bob = LocalUser::with_groups(1000, vec![1000, 20]);
        // Owner bits only for the owner, even when others get more.
        assert!(!bob.permits(1000, 1000, 0o044, None, READ));
        assert!(bob.permits(1000, 1000, 0o400, None, READ));
        // Group bits for a member, by primary or supplementary group.
        assert!(bob.permits(0, 20, 0o040, None, READ));
        assert!(!bob.permits(0, 20, 0o004, None, READ));
        // Other bits for the rest.
        assert!(bob.permits(0, 0, 0o004, None, READ));
        assert!(!bob.permits(0, 0, 0o600, None, READ));
        // Search is the execute bit.
        assert!(bob.permits(0, 0, 0o001, None, SEARCH));
        assert!(!bob.permits(0, 0, 0o004, None, SEARCH));
        assert!(!bob.permits(0, 0, 0o005, None, READ | SEARCH | 2));
    }

    #[test]
    fn acls_grant_and_refuse_as_posix_says() {
        let bob = LocalUser::with_groups(1000, vec![1000, 20]);
        let base = [
            entry(AclTag::UserObj, 6, 0),
            entry(AclTag::GroupObj, 4, 0),
            entry(AclTag::Other, 4, 0),
        ];
        // A named entry refusing bob beats "other" granting.
        let mut acl = base.to_vec();
        acl.push(entry(AclTag::User, 0, 1000));
        acl.push(entry(AclTag::Mask, 4, 0));
        assert!(!bob.permits(0, 0, 0o644, Some(&acl), READ));
        // A named entry granting, within the mask.
        acl[3] = entry(AclTag::User, 4, 1000);
        assert!(bob.permits(0, 0, 0o600, Some(&acl), READ));
        acl[4] = entry(AclTag::Mask, 0, 0);
        assert!(!bob.permits(0, 0, 0o600, Some(&acl), READ));
        // A matching group that does not grant refuses, even if other would.
        let mut acl = base.to_vec();
        acl.push(entry(AclTag::Group, 0, 20));
        acl.push(entry(AclTag::Mask, 7, 0));
        assert!(!bob.permits(0, 5, 0o604, Some(&acl), READ));
        // Any matching group that grants is enough.
        acl.push(entry(AclTag::Group, 4, 1000));
        assert!(bob.permits(0, 5, 0o600, Some(&acl), READ));
    }

    #[test]
    fn the_acl_attribute_parses_strictly() {
        let mut raw = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [(1u16, 6u16, u32::MAX), (2, 4, 1000), (0x20, 0, u32::MAX)] {
            raw.extend(tag.to_le_bytes());
            raw.extend(perm.to_le_bytes());
            raw.extend(id.to_le_bytes());
        }
        let acl = parse_acl(&raw).unwrap();
        assert_eq!(acl[1], entry(AclTag::User, 4, 1000));
        assert!(parse_acl(&raw[..raw.len() - 1]).is_err());
        assert!(parse_acl(&[1, 0, 0, 0]).is_err());
        let mut unknown = raw.clone();
        unknown[4] = 0x40;
        assert!(parse_acl(&unknown).is_err());
    }

    #[test]
    fn root_and_this_process_have_their_groups() {
        let me = LocalUser::of_this_process();
        assert_eq!(me.uid(), rustix::process::geteuid().as_raw());
        // Root always exists in the user database, with group 0 first.
        assert_eq!(LocalUser::from_uid(0).groups.first(), Some(&0));
        // A uid nobody has gets no groups at all.
        assert!(LocalUser::from_uid(3_999_999_999).groups.is_empty());
    }
}
