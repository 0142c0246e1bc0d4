//! Which local user opened a TCP connection to the node, the way identd
//! tells it: the kernel lists every socket of the network namespace in
//! `/proc/net/tcp` and `/proc/net/tcp6` with the uid that made it, and the
//! caller's end of a loopback connection is the socket whose local address
//! is the peer address the node sees and whose remote address is the
//! node's own end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `/proc/net/tcp`'s code for an established connection.
const ESTABLISHED: &str = "01";

/// The uid of the process at the other end of the loopback connection
/// `local` ← `peer`, or `None` when no such connection is listed (it was
/// closed, or does not come from this machine's namespace).
pub(crate) fn uid_of_peer(peer: SocketAddr, local: SocketAddr) -> std::io::Result<Option<u32>> {
    let want = (canonical(peer), canonical(local));
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(t) => t,
            // A kernel without IPv6 has no tcp6.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(uid) = text.lines().skip(1).find_map(|l| match_line(l, want)) {
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// The uid of one line of the table when its local and remote addresses
/// are `want` and the connection is established.
fn match_line(line: &str, want: (SocketAddr, SocketAddr)) -> Option<u32> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, remote, state, uid) = (
        fields.get(1)?,
        fields.get(2)?,
        fields.get(3)?,
        fields.get(7)?,
    );
    if *state != ESTABLISHED || parse_addr(local)? != want.0 || parse_addr(remote)? != want.1 {
        return None;
    }
    uid.parse().ok()
}

/// `ADDR:PORT` in the table's hex: the address as the kernel's words in
/// host order (one for IPv4, four for IPv6), the port as a number.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = |n: usize| -> Option<Vec<u8>> {
        if addr.len() != 8 * n {
            return None;
        }
        (0..n)
            .map(|i| u32::from_str_radix(&addr[8 * i..8 * i + 8], 16).ok())
            .map(|w| w.map(u32::to_ne_bytes))
            .collect::<Option<Vec<_>>>()
            .map(|ws| ws.concat())
    };
    let ip = match addr.len() {
        8 => {
            let b: [u8; 4] = words(1)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(b))
        }
        32 => {
            let b: [u8; 16] = words(4)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_loopback_peer_is_found_with_its_uid() {
        let me = rustix::process::geteuid().as_raw();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, peer) = listener.accept().unwrap();
        let local = served.local_addr().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(uid_of_peer(peer, local).unwrap(), Some(me));
        drop(client);
        drop(served);
        // A connection nobody has.
        let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(uid_of_peer(nobody, local).unwrap(), None);
    }

    #[test]
    fn an_ipv6_loopback_peer_is_found_too() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            // No IPv6 loopback on this machine: nothing to look up.
            return;
        };
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, peer) = listener.accept().unwrap();
        let me = rustix::process::geteuid().as_raw();
        assert_eq!(
            uid_of_peer(peer, served.local_addr().unwrap()).unwrap(),
            Some(me)
        );
    }

    #[test]
    fn table_lines_parse() {
        let line = "   3: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1";
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(match_line(line, (local, peer)), Some(1000));
            assert_eq!(match_line(line, (peer, local)), None);
            let listening = line.replace(" 01 ", " 0A ");
            assert_eq!(match_line(&listening, (local, peer)), None);
        }
        assert_eq!(parse_addr("zz:0050"), None);
        assert_eq!(parse_addr("0100007F"), None);
    }
}
