//! BitDust's names for people and keys (bitdust-details.md §5) over
//! cairn's identities.
//!
//! A cairn identity is a peer id, which embeds its Ed25519 key. Its
//! BitDust **host** is that key in lowercase base32 (52 characters: a
//! valid host name, the same whatever a client does to letter case), so
//! a global id `<username>@<host>` and an IDURL
//! `http://<host>/<username>.xml` name exactly one peer, and are
//! resolved back without asking anyone. The **username** is the node's
//! nickname (cairn's nickname rules are BitDust's username rules), or
//! `cairn` for a node without one. A key id is `<alias>$<global id>`.

/// RFC 4648 base32, lowercase, no padding.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let (mut buffer, mut bits) = (0u32, 0u32);
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    // Left-over bits must be zero padding.
    (buffer & ((1 << bits) - 1) == 0).then_some(out)
}

/// The username a node without a nickname goes by.
pub(crate) const NO_NICKNAME: &str = "cairn";

/// The BitDust host of peer `peer`.
pub(crate) fn host(peer: &str) -> Option<String> {
    cairn_node::people::peer_public_key(peer).map(|k| base32(&k))
}

/// The peer a BitDust host names.
pub(crate) fn peer_of_host(host: &str) -> Option<String> {
    let host = host.split('_').next()?;
    if host.len() != 52 {
        return None;
    }
    let key: [u8; 32] = unbase32(host)?.try_into().ok()?;
    cairn_node::people::peer_of_public_key(&key)
}

/// The global id of `peer`, called `nickname`.
pub(crate) fn gid(peer: &str, nickname: Option<&str>) -> String {
    match host(peer) {
        Some(host) => format!("{}@{host}", nickname.unwrap_or(NO_NICKNAME)),
        None => String::new(),
    }
}

/// The IDURL of `peer`, called `nickname`.
pub(crate) fn idurl(peer: &str, nickname: Option<&str>) -> String {
    match host(peer) {
        Some(host) => format!("http://{host}/{}.xml", nickname.unwrap_or(NO_NICKNAME)),
        None => String::new(),
    }
}

/// What a user input names, as BitDust takes it: a global id, an IDURL,
/// a key id (its user part), or a cairn peer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum User {
    /// A peer this node can reach by its id.
    Peer(String),
    /// A bare name: a nickname (or a friend's alias) to look up.
    Name(String),
}

/// Reads a user input (`user_id`, `global_id`, `idurl`, `id`, a key id).
pub(crate) fn user(input: &str) -> Option<User> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    if let Some(rest) = input
        .strip_prefix("http://")
        .or_else(|| input.strip_prefix("https://"))
    {
        let (host, _) = rest.split_once('/')?;
        let host = host.split(':').next()?;
        return peer_of_host(host).map(User::Peer);
    }
    let user_part = input.rsplit_once('$').map_or(input, |(_, u)| u);
    if let Some((_, host)) = user_part.split_once('@') {
        return peer_of_host(host).map(User::Peer);
    }
    if cairn_node::people::peer_public_key(user_part).is_some() {
        return Some(User::Peer(user_part.to_owned()));
    }
    Some(User::Name(user_part.to_owned()))
}

/// A key id read: its alias (`master` when none) and whose it is (`None`:
/// this node's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyId {
    pub(crate) alias: String,
    pub(crate) owner: Option<String>,
}

/// Reads a key id as `key_get` does: `alias$gid`, `gid` (the master key),
/// `alias`, or `master`; `me` is this node's peer id, whose keys have no
/// owner.
pub(crate) fn key_id(input: &str, me: &str) -> Option<KeyId> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    let (alias, user) = match input.split_once('$') {
        Some((alias, user)) => (alias, Some(user)),
        None if input.contains('@') => ("master", Some(input)),
        None => (input, None),
    };
    let owner = match user {
        None => None,
        Some(user) => {
            let (_, host) = user.split_once('@')?;
            let peer = peer_of_host(host)?;
            (peer != me).then_some(peer)
        }
    };
    Some(KeyId {
        alias: alias.to_ascii_lowercase(),
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWLDaPGFhAXWRot2JkB4zoHAuJbkbQX2ho8c914GZtGASF";

    #[test]
    fn a_global_id_names_one_peer_both_ways() {
        let host = host(PEER).unwrap();
        assert_eq!(host.len(), 52);
        assert!(
            host.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(peer_of_host(&host).as_deref(), Some(PEER));
        assert_eq!(
            peer_of_host(&host.to_ascii_uppercase()).as_deref(),
            Some(PEER)
        );
        let g = gid(PEER, Some("alice"));
        assert_eq!(g, format!("alice@{host}"));
        assert_eq!(user(&g), Some(User::Peer(PEER.into())));
        assert_eq!(
            user(&idurl(PEER, Some("alice"))),
            Some(User::Peer(PEER.into()))
        );
        assert_eq!(
            user(&format!("share_ab$alice@{host}")),
            Some(User::Peer(PEER.into()))
        );
        assert_eq!(user(PEER), Some(User::Peer(PEER.into())));
        assert_eq!(user("bob"), Some(User::Name("bob".into())));
        assert_eq!(
            user("bob@server-b.com"),
            None,
            "a host that is no cairn identity"
        );
        assert_eq!(user(""), None);
        assert_eq!(gid(PEER, None), format!("cairn@{host}"));
    }

    #[test]
    fn key_ids_read_as_bitdust_reads_them() {
        let host = host(PEER).unwrap();
        let mine = |alias: &str| {
            Some(KeyId {
                alias: alias.into(),
                owner: None,
            })
        };
        assert_eq!(key_id("master", PEER), mine("master"));
        assert_eq!(key_id(&format!("alice@{host}"), PEER), mine("master"));
        assert_eq!(key_id(&format!("Cats$alice@{host}"), PEER), mine("cats"));
        assert_eq!(key_id("cats", PEER), mine("cats"));
        let other = "12D3KooWGBKiB5mKF1JMmKicqddkSE14iw5kyhauCKxbBbtKhZfz";
        assert_eq!(
            key_id(&format!("cats$alice@{host}"), other),
            Some(KeyId {
                alias: "cats".into(),
                owner: Some(PEER.into())
            })
        );
        assert_eq!(key_id("cats$bob@nowhere.net", PEER), None);
    }

    #[test]
    fn base32_round_trips() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(unbase32(&base32(bytes)).unwrap(), bytes);
        }
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }
}
