//! Which IP addresses a remote fetch may connect to.
//!
//! An address may be fetched when it is globally reachable, or when the
//! operator lists it under `[remote] allow`. "Globally reachable" is what
//! the IANA IPv4 and IPv6 Special-Purpose Address Registries say (as of
//! 2025/2026), written below as data, one row per registry entry with its
//! name and RFC, plus the ranges the registries leave to other documents:
//! multicast, IPv6 outside global unicast (2000::/3), and the deprecated
//! IPv6 site-local (fec0::/10) and IPv4-compatible (::/96) blocks. The most
//! specific row holding an address decides, so `192.0.0.9/32` (PCP anycast,
//! global) wins over `192.0.0.0/24` (not global) around it.
//!
//! Some IPv6 addresses carry an IPv4 address that the packets end up at:
//! IPv4-mapped (`::ffff:0:0/96`) and IPv4-compatible (`::/96`) addresses,
//! NAT64 (`64:ff9b::/96` and the local-use `64:ff9b:1::/48`), 6to4
//! (`2002::/16`) and Teredo (`2001::/32`). Those IPv4 addresses are read
//! out and each must pass too, so `[64:ff9b::7f00:1]` or `[2002:7f00:1::]`
//! cannot reach 127.0.0.1 where `127.0.0.1` itself is refused. Teredo is
//! refused outright (the registry does not call it globally reachable, and
//! a fetch has no business with a tunnel endpoint); an operator who allows
//! `2001::/32` still has both its server and its client address checked.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a range is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Globally reachable: fetched.
    Global,
    /// Not globally reachable: refused unless allowed.
    Local,
}

/// Where an IPv6 address carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    /// In its last 32 bits: IPv4-mapped, IPv4-compatible, and NAT64 with a
    /// /96 prefix (RFC 6052 §2.2). The local-use NAT64 prefix is read the
    /// same way: its sites may cut it into prefixes of other lengths, which
    /// an address alone does not tell, but the whole /48 is refused unless
    /// allowed.
    Last32,
    /// 6to4: in bits 16..48 (RFC 3056 §2).
    SixToFour,
    /// Teredo: the server in bits 32..64, the client as the bitwise NOT of
    /// the last 32 bits (RFC 4380 §4).
    Teredo,
}

/// One entry of a registry.
#[derive(Debug)]
struct Special {
    /// The range's first address.
    base: IpAddr,
    /// Its prefix length.
    len: u8,
    /// The registry's name for it.
    name: &'static str,
    /// The document that sets it aside.
    rfc: &'static str,
    /// Whether it is globally reachable.
    reach: Reach,
    /// The IPv4 address its addresses carry, if any.
    carries: Option<Carries>,
}

/// An IPv4 row.
const fn v4(
    base: [u8; 4],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    reach: Reach,
) -> Special {
    let [a, b, c, d] = base;
    Special {
        base: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        len,
        name,
        rfc,
        reach,
        carries: None,
    }
}

/// An IPv6 row.
const fn v6(
    base: [u16; 8],
    len: u8,
    name: &'static str,
    rfc: &'static str,
    reach: Reach,
) -> Special {
    let [a, b, c, d, e, f, g, h] = base;
    Special {
        base: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        len,
        name,
        rfc,
        reach,
        carries: None,
    }
}

/// `row`, whose addresses carry an IPv4 address `how`.
const fn carrying(row: Special, how: Carries) -> Special {
    Special {
        carries: Some(how),
        ..row
    }
}

use Reach::{Global, Local};

/// The IANA IPv4 Special-Purpose Address Registry, and the IPv4 ranges it
/// leaves to other documents (multicast).
#[rustfmt::skip] // one registry entry a line reads better than rustfmt's wrapping
static IPV4: &[Special] = &[
    v4([0, 0, 0, 0], 8, "This network", "RFC 791", Local),
    v4([0, 0, 0, 0], 32, "This host on this network", "RFC 1122", Local),
    v4([10, 0, 0, 0], 8, "Private-Use", "RFC 1918", Local),
    v4([100, 64, 0, 0], 10, "Shared Address Space", "RFC 6598", Local),
    v4([127, 0, 0, 0], 8, "Loopback", "RFC 1122", Local),
    v4([169, 254, 0, 0], 16, "Link Local", "RFC 3927", Local),
    v4([172, 16, 0, 0], 12, "Private-Use", "RFC 1918", Local),
    v4([192, 0, 0, 0], 24, "IETF Protocol Assignments", "RFC 6890", Local),
    v4([192, 0, 0, 0], 29, "IPv4 Service Continuity Prefix", "RFC 7335", Local),
    v4([192, 0, 0, 8], 32, "IPv4 dummy address", "RFC 7600", Local),
    v4([192, 0, 0, 9], 32, "Port Control Protocol Anycast", "RFC 7723", Global),
    v4([192, 0, 0, 10], 32, "Traversal Using Relays around NAT Anycast", "RFC 8155", Global),
    v4([192, 0, 0, 170], 32, "NAT64/DNS64 Discovery", "RFC 8880", Local),
    v4([192, 0, 0, 171], 32, "NAT64/DNS64 Discovery", "RFC 8880", Local),
    v4([192, 0, 2, 0], 24, "Documentation (TEST-NET-1)", "RFC 5737", Local),
    v4([192, 31, 196, 0], 24, "AS112-v4", "RFC 7535", Global),
    v4([192, 52, 193, 0], 24, "AMT", "RFC 7450", Global),
    v4([192, 88, 99, 0], 24, "Deprecated (6to4 Relay Anycast)", "RFC 7526", Local),
    v4([192, 168, 0, 0], 16, "Private-Use", "RFC 1918", Local),
    v4([192, 175, 48, 0], 24, "Direct Delegation AS112 Service", "RFC 7534", Global),
    v4([198, 18, 0, 0], 15, "Benchmarking", "RFC 2544", Local),
    v4([198, 51, 100, 0], 24, "Documentation (TEST-NET-2)", "RFC 5737", Local),
    v4([203, 0, 113, 0], 24, "Documentation (TEST-NET-3)", "RFC 5737", Local),
    v4([224, 0, 0, 0], 4, "Multicast", "RFC 5771", Local),
    v4([240, 0, 0, 0], 4, "Reserved", "RFC 1112", Local),
    v4([255, 255, 255, 255], 32, "Limited Broadcast", "RFC 919", Local),
];

/// The IANA IPv6 Special-Purpose Address Registry, and the IPv6 ranges it
/// leaves to other documents (global unicast, multicast, deprecated).
#[rustfmt::skip] // one registry entry a line reads better than rustfmt's wrapping
static IPV6: &[Special] = &[
    v6([0; 8], 128, "Unspecified Address", "RFC 4291", Local),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "Loopback Address", "RFC 4291", Local),
    // Deprecated: its addresses are never routed as IPv4.
    carrying(
        v6([0; 8], 96, "IPv4-compatible Address (deprecated)", "RFC 4291", Local),
        Carries::Last32,
    ),
    // The registry marks it not globally reachable, but a socket sends to
    // the IPv4 address it names, over IPv4: it is judged as that address.
    carrying(
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped Address", "RFC 4291", Global),
        Carries::Last32,
    ),
    carrying(
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "IPv4-IPv6 Translat.", "RFC 6052", Global),
        Carries::Last32,
    ),
    carrying(
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "IPv4-IPv6 Translat. (local use)", "RFC 8215", Local),
        Carries::Last32,
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "Discard-Only Address Block", "RFC 6666", Local),
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "Dummy IPv6 Prefix", "RFC 9780", Local),
    v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3, "Global Unicast", "RFC 4291", Global),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF Protocol Assignments", "RFC 2928", Local),
    // The registry gives it no reach (N/A): refused outright.
    carrying(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO", "RFC 4380", Local),
        Carries::Teredo,
    ),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "Port Control Protocol Anycast", "RFC 7723", Global),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "Traversal Using Relays around NAT Anycast", "RFC 8155", Global),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD Service Registration Protocol Anycast", "RFC 9665", Global),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "Benchmarking", "RFC 5180", Local),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT", "RFC 7450", Global),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6", "RFC 7535", Global),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "Deprecated (previously ORCHID)", "RFC 4843", Local),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2", "RFC 7343", Global),
    v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", Global),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "Documentation", "RFC 3849", Local),
    // The registry gives it no reach (N/A): judged by the IPv4 address.
    carrying(
        v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4", "RFC 3056", Global),
        Carries::SixToFour,
    ),
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, "Direct Delegation AS112 Service", "RFC 7534", Global),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "Documentation", "RFC 9637", Local),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "Segment Routing (SRv6) SIDs", "RFC 9602", Local),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local", "RFC 4193", Local),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "Link-Local Unicast", "RFC 4291", Local),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "Site-Local Unicast (deprecated)", "RFC 3879", Local),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast", "RFC 4291", Local),
];

/// IPv4 addresses no row names: ordinary unicast.
static IPV4_REST: Special = v4([0; 4], 0, "IPv4 unicast", "RFC 791", Global);

/// IPv6 addresses no row names: outside global unicast (2000::/3) and the
/// special ranges, reserved or unassigned by IANA, so never routed.
static IPV6_REST: Special = v6([0; 8], 0, "Reserved by IETF", "RFC 4291", Local);

/// Why an address may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The address refused: the one asked for, or an IPv4 address it carries.
    ip: IpAddr,
    /// What carried it, when it was carried.
    carried_by: Option<(IpAddr, &'static str)>,
    /// The range that holds it.
    range: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((outer, role)) = self.carried_by {
            write!(f, "{outer} carries {} ({role}), ", self.ip)?;
        }
        write!(f, "{} is in {}", self.ip, self.range)
    }
}

/// Passes when `ip` may be fetched: it is globally reachable or allowed,
/// and so is every IPv4 address it carries.
pub(crate) fn check(ip: IpAddr, allow: &[String]) -> Result<(), Refusal> {
    let row = row_of(ip);
    if !passes(ip, row, allow) {
        return Err(refusal(ip, row, None));
    }
    let (IpAddr::V6(v6), Some(how)) = (ip, row.carries) else {
        return Ok(());
    };
    for (inner, role) in carried(v6, how) {
        let inner = IpAddr::V4(inner);
        let inner_row = row_of(inner);
        if !passes(inner, inner_row, allow) {
            return Err(refusal(inner, inner_row, Some((ip, role))));
        }
    }
    Ok(())
}

/// Whether `ip`, in `row`, passes on its own (what it carries aside).
fn passes(ip: IpAddr, row: &Special, allow: &[String]) -> bool {
    row.reach == Reach::Global || allowed(ip, allow)
}

fn refusal(ip: IpAddr, row: &Special, carried_by: Option<(IpAddr, &'static str)>) -> Refusal {
    Refusal {
        ip,
        carried_by,
        range: format!("{}/{}, {} ({})", row.base, row.len, row.name, row.rfc),
    }
}

/// The most specific row holding `ip`.
fn row_of(ip: IpAddr) -> &'static Special {
    let (table, rest) = match ip {
        IpAddr::V4(_) => (IPV4, &IPV4_REST),
        IpAddr::V6(_) => (IPV6, &IPV6_REST),
    };
    table
        .iter()
        .filter(|row| in_range(ip, row.base, u32::from(row.len)))
        .max_by_key(|row| row.len)
        .unwrap_or(rest)
}

/// The IPv4 addresses `v6` carries, each with the name of its role.
fn carried(v6: Ipv6Addr, how: Carries) -> Vec<(Ipv4Addr, &'static str)> {
    let bits = u128::from(v6);
    // Truncating casts: each takes the 32 bits shifted down to the bottom.
    let at = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    match how {
        Carries::Last32 => vec![(at(0), "embedded IPv4")],
        Carries::SixToFour => vec![(at(80), "6to4")],
        Carries::Teredo => vec![
            (at(64), "Teredo server"),
            (Ipv4Addr::from(!(bits as u32)), "Teredo client"),
        ],
    }
}

/// Whether `ip` lies in one of the `allow` ranges (`addr` or `addr/prefix`).
/// An entry that does not parse allows nothing.
pub(crate) fn allowed(ip: IpAddr, allow: &[String]) -> bool {
    allow
        .iter()
        .filter_map(|range| allow_entry(range))
        .any(|(net, prefix)| in_range(ip, net, prefix))
}

/// An `allow` entry as a network and prefix length; `None` if it does not
/// parse.
fn allow_entry(range: &str) -> Option<(IpAddr, u32)> {
    let (addr, prefix) = match range.split_once('/') {
        Some((a, p)) => (a, Some(p.trim().parse::<u32>().ok()?)),
        None => (range, None),
    };
    let net: IpAddr = addr.trim().parse().ok()?;
    let full = if net.is_ipv4() { 32 } else { 128 };
    Some((net, prefix.unwrap_or(full)))
}

/// Whether `ip` shares its first `prefix` bits with `net` (same family).
fn in_range(ip: IpAddr, net: IpAddr, prefix: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(i), IpAddr::V4(n)) => {
            same_prefix(u32::from(i).into(), u32::from(n).into(), prefix, 32)
        }
        (IpAddr::V6(i), IpAddr::V6(n)) => same_prefix(i.into(), n.into(), prefix, 128),
        _ => false,
    }
}

fn same_prefix(a: u128, b: u128, prefix: u32, bits: u32) -> bool {
    if prefix > bits {
        return false;
    }
    let shift = bits - prefix;
    shift >= 128 || (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected verdicts, written independently of the tables above: per
    /// range an address inside it, and where a boundary matters the first
    /// and last address inside and the neighbours just outside.
    const CASES: &[(&str, bool)] = &[
        // 0.0.0.0/8 This network; 0.0.0.0/32 this host.
        ("0.0.0.0", false),
        ("0.255.255.255", false),
        ("1.0.0.0", true),
        // 10.0.0.0/8 Private-Use.
        ("9.255.255.255", true),
        ("10.0.0.0", false),
        ("10.255.255.255", false),
        ("11.0.0.0", true),
        // 100.64.0.0/10 Shared Address Space.
        ("100.63.255.255", true),
        ("100.64.0.0", false),
        ("100.127.255.255", false),
        ("100.128.0.0", true),
        // 127.0.0.0/8 Loopback.
        ("126.255.255.255", true),
        ("127.0.0.1", false),
        ("127.255.255.255", false),
        ("128.0.0.0", true),
        // 169.254.0.0/16 Link Local (cloud metadata).
        ("169.253.255.255", true),
        ("169.254.169.254", false),
        ("169.255.0.0", true),
        // 172.16.0.0/12 Private-Use.
        ("172.15.255.255", true),
        ("172.16.0.0", false),
        ("172.31.255.255", false),
        ("172.32.0.0", true),
        // 192.0.0.0/24 IETF Protocol Assignments and the rows inside it.
        ("191.255.255.255", true),
        ("192.0.0.0", false),
        ("192.0.0.7", false),
        ("192.0.0.8", false),
        ("192.0.0.9", true),
        ("192.0.0.10", true),
        ("192.0.0.11", false),
        ("192.0.0.170", false),
        ("192.0.0.171", false),
        ("192.0.0.255", false),
        ("192.0.1.0", true),
        // 192.0.2.0/24 TEST-NET-1.
        ("192.0.2.1", false),
        ("192.0.3.0", true),
        // Global entries of the registry.
        ("192.31.196.1", true),
        ("192.52.193.1", true),
        ("192.175.48.1", true),
        // 192.88.99.0/24 the deprecated 6to4 relay anycast.
        ("192.88.98.255", true),
        ("192.88.99.1", false),
        ("192.88.100.0", true),
        // 192.168.0.0/16 Private-Use.
        ("192.167.255.255", true),
        ("192.168.1.1", false),
        ("192.169.0.0", true),
        // 198.18.0.0/15 Benchmarking.
        ("198.17.255.255", true),
        ("198.18.0.0", false),
        ("198.18.0.1", false),
        ("198.19.255.255", false),
        ("198.20.0.0", true),
        // Documentation.
        ("198.51.100.1", false),
        ("203.0.113.1", false),
        // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, broadcast.
        ("223.255.255.255", true),
        ("224.0.0.1", false),
        ("239.255.255.255", false),
        ("240.0.0.1", false),
        ("255.255.255.254", false),
        ("255.255.255.255", false),
        // Public.
        ("1.1.1.1", true),
        ("8.8.8.8", true),
        ("93.184.215.14", true),
        // IPv6 unspecified, loopback, IPv4-compatible (deprecated).
        ("::", false),
        ("::1", false),
        ("::2", false),
        ("::7f00:1", false),
        ("::808:808", false),
        // IPv4-mapped: judged as the IPv4 address.
        ("::ffff:127.0.0.1", false),
        ("::ffff:10.0.0.1", false),
        ("::ffff:198.18.0.1", false),
        ("::ffff:8.8.8.8", true),
        // NAT64 well-known prefix: the IPv4 address inside decides.
        ("64:ff9b::7f00:1", false),
        ("64:ff9b::a00:1", false),
        ("64:ff9b::c612:1", false),
        ("64:ff9b::808:808", true),
        ("64:ff9b::1:0:0", false),
        // NAT64 local-use prefix: not global.
        ("64:ff9b:1::808:808", false),
        ("64:ff9b:1::7f00:1", false),
        ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false),
        ("64:ff9b:2::808:808", false),
        // Discard-only, dummy prefix.
        ("100::1", false),
        ("100:0:0:1::1", false),
        // Outside global unicast.
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("4000::1", false),
        ("5f00::1", false),
        // 2001::/23 IETF Protocol Assignments and the rows inside it.
        ("2000::1", true),
        ("2001::1", false),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
        ("2001:1::1", true),
        ("2001:1::2", true),
        ("2001:1::3", true),
        ("2001:1::4", false),
        ("2001:2::1", false),
        ("2001:2:0:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:2:1::", false),
        ("2001:3::1", true),
        ("2001:4:112::1", true),
        ("2001:4:113::1", false),
        ("2001:10::1", false),
        ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:20::", true),
        ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2001:30::1", true),
        ("2001:40::1", false),
        ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:200::1", true),
        // 2001:db8::/32 documentation.
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2001:db8::1", false),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("2001:db9::", true),
        // 6to4: the IPv4 address in bits 16..48 decides.
        ("2002:7f00:1::", false),
        ("2002:a00:1::", false),
        ("2002:c612:1::", false),
        ("2002:808:808::", true),
        // Direct Delegation AS112 Service.
        ("2620:4f:8000::1", true),
        // 3fff::/20 documentation.
        ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("3fff::1", false),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("3fff:1000::", true),
        // Unique-local, link-local, site-local, multicast.
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("fc00::1", false),
        ("fd00::1", false),
        ("fe80::1", false),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("fec0::1", false),
        ("ff02::1", false),
        ("ff0e::1", false),
        // Public.
        ("2606:4700::1111", true),
        ("2001:4860:4860::8888", true),
        ("2a00:1450:4001::1", true),
    ];

    #[test]
    fn every_listed_address_gets_its_verdict() {
        for &(ip, want) in CASES {
            let ip: IpAddr = ip.parse().unwrap();
            let got = check(ip, &[]);
            assert_eq!(got.is_ok(), want, "{ip}: {got:?}");
        }
    }

    /// Every row is well formed (no bits past its prefix) and decides for
    /// its own first and last address, unless a more specific row does.
    #[test]
    fn every_row_decides_its_own_range() {
        for row in IPV4.iter().chain(IPV6) {
            let (bits, base) = match row.base {
                IpAddr::V4(a) => (32, u128::from(u32::from(a))),
                IpAddr::V6(a) => (128, u128::from(a)),
            };
            let host = if u32::from(row.len) == bits {
                0
            } else {
                u128::MAX >> (128 - bits + u32::from(row.len))
            };
            assert_eq!(base & host, 0, "{row:?} has bits past its prefix");
            for end in [base, base | host] {
                let ip = match row.base {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(end as u32)),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(end)),
                };
                assert!(row_of(ip).len >= row.len, "{ip} left {row:?}");
            }
        }
    }

    #[test]
    fn every_row_is_named_in_the_cases() {
        for row in IPV4.iter().chain(IPV6) {
            let named = CASES.iter().any(|(ip, _)| {
                let ip: IpAddr = ip.parse().unwrap();
                std::ptr::eq(row_of(ip), row)
            });
            assert!(named, "no case falls in {row:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_range_and_what_carried_it() {
        let e = check("198.18.0.1".parse().unwrap(), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "198.18.0.1 is in 198.18.0.0/15, Benchmarking (RFC 2544)"
        );
        let e = check("2002:7f00:1::".parse().unwrap(), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2002:7f00:1:: carries 127.0.0.1 (6to4), 127.0.0.1 is in 127.0.0.0/8, Loopback (RFC 1122)"
        );
    }

    #[test]
    fn allowed_ranges_pass_but_what_they_carry_is_still_checked() {
        let teredo = ["2001::/32".to_owned()];
        // Server 65.54.227.120; client 192.0.2.45 (documentation).
        let documented: IpAddr = "2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap();
        assert!(check(documented, &[]).is_err());
        assert!(check(documented, &teredo).is_err());
        // Client !f7f7:f7f7 = 8.8.8.8; !80ff:fffe = 127.0.0.1.
        let public: IpAddr = "2001:0:4136:e378:8000:63bf:f7f7:f7f7".parse().unwrap();
        assert!(check(public, &[]).is_err(), "Teredo is refused outright");
        assert!(check(public, &teredo).is_ok());
        let loopback: IpAddr = "2001:0:4136:e378:8000:63bf:80ff:fffe".parse().unwrap();
        assert!(check(loopback, &teredo).is_err());
        // Server 127.0.0.1.
        let server: IpAddr = "2001:0:7f00:1:8000:63bf:f7f7:f7f7".parse().unwrap();
        assert!(check(server, &teredo).is_err());

        let local_nat64 = ["64:ff9b:1::/48".to_owned()];
        assert!(check("64:ff9b:1::808:808".parse().unwrap(), &local_nat64).is_ok());
        assert!(check("64:ff9b:1::7f00:1".parse().unwrap(), &local_nat64).is_err());
        let both = ["64:ff9b:1::/48".to_owned(), "127.0.0.1".to_owned()];
        assert!(check("64:ff9b:1::7f00:1".parse().unwrap(), &both).is_ok());

        // An allowed IPv4 range is allowed in its IPv6 forms too.
        let bench = ["198.18.0.0/15".to_owned()];
        for ip in [
            "198.18.0.1",
            "2002:c612:1::",
            "64:ff9b::c612:1",
            "::ffff:198.18.0.1",
        ] {
            assert!(check(ip.parse().unwrap(), &bench).is_ok(), "{ip}");
        }
        assert!(check("198.20.0.1".parse().unwrap(), &bench).is_ok());
        assert!(check("10.0.0.1".parse().unwrap(), &bench).is_err());
    }

    #[test]
    fn allow_ranges_match_exactly_what_they_say() {
        let allow = vec![
            "127.0.0.1".to_owned(),
            "10.0.0.0/8".to_owned(),
            "::1/128".to_owned(),
            "junk".to_owned(),
        ];
        assert!(allowed("127.0.0.1".parse().unwrap(), &allow));
        assert!(!allowed("127.0.0.2".parse().unwrap(), &allow));
        assert!(allowed("10.200.3.4".parse().unwrap(), &allow));
        assert!(!allowed("11.0.0.1".parse().unwrap(), &allow));
        assert!(allowed("::1".parse().unwrap(), &allow));
        assert!(allowed(
            "1.2.3.4".parse().unwrap(),
            &["0.0.0.0/0".to_owned()]
        ));
        for junk in ["10.0.0.0/33", "10.0.0.1/x", "10.0.0.1/", "10.0.0.1/-1"] {
            assert!(
                !allowed("10.0.0.1".parse().unwrap(), &[junk.to_owned()]),
                "{junk}"
            );
        }
    }
}
