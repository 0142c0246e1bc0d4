//! The machine the node runs on: its files and its users.
//!
//! Loopback is not an identity. A caller on this machine without the admin
//! secret is a local user like any other, and gets only what that user
//! could read themselves:
//!
//! - `peer`: which local user made a loopback TCP connection (the uid the
//!   kernel lists for the caller's socket);
//! - `user`: a local user's groups, and whether the kernel would let them
//!   read a file or search a folder (mode bits and POSIX ACLs);
//! - `open`: the one function every import by local path goes through:
//!   a walk that never follows a symlink out of the import roots, checks
//!   the object it opened rather than a name, and refuses a local user
//!   what they could not read.

mod open;
mod peer;
mod user;

pub use open::LocalCaller;
pub(crate) use open::{Kind, Opened, Roots, open_under};
pub use user::LocalUser;

impl LocalUser {
    /// The local user at the other end of the loopback connection from
    /// `peer` to the node's `local` address, looked up in the kernel's
    /// socket tables (with their groups from the user database); `None`
    /// when no local process holds that connection.
    pub fn of_connection(
        peer: std::net::SocketAddr,
        local: std::net::SocketAddr,
    ) -> std::io::Result<Option<Self>> {
        Ok(Self::uid_of_connection(peer, local)?.map(Self::from_uid))
    }

    /// The uid alone of [`LocalUser::of_connection`], for a caller that
    /// needs no groups.
    pub fn uid_of_connection(
        peer: std::net::SocketAddr,
        local: std::net::SocketAddr,
    ) -> std::io::Result<Option<u32>> {
        peer::uid_of_peer(peer, local)
    }

    /// Whether `uid` is the user the node runs as, or root: a user who can
    /// read the node's admin secret anyway.
    pub fn runs_the_node(uid: u32) -> bool {
        uid == 0 || uid == rustix::process::geteuid().as_raw()
    }
}
