//! `qrCode` (§3.4): a link that signs a phone in, as a QR code in a PNG
//! data URL. The address is this machine's on the LAN (`local`: the one
//! the system routes out by, found without sending anything) or the
//! public one AutoNAT confirmed (`internet`; Powder asked icanhazip.com,
//! cairn asks nobody).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use axum::response::Response;
use base64::Engine;
use serde_json::json;

use crate::actions::Call;
use crate::keys::Caller;
use crate::{fail, json, not_found};

/// Pixels per module.
const SCALE: usize = 6;

/// Modules of white around the code, as the standard asks.
const QUIET: usize = 4;

pub(crate) async fn qr_code(call: &Call, local: Option<SocketAddr>) -> Response {
    let port = local.map_or(3000, |a| a.port());
    let ip = match call.param("qrType") {
        "local" => lan_ip().or(local.map(|a| a.ip()).filter(|ip| !ip.is_unspecified())),
        "internet" => public_ip(call).await,
        _ => return not_found(),
    };
    let Some(ip) = ip else {
        return fail(if call.param("qrType") == "internet" {
            "This node's public address is not known: AutoNAT has not confirmed one"
        } else {
            "This machine has no address on a network"
        });
    };
    // The master's phone gets the args key (a user's power), never the
    // master key; anyone else their own key.
    let key = match call.caller {
        Caller::Master => call.state.keys.args().to_owned(),
        _ => call.key.clone(),
    };
    let host = SocketAddr::new(ip, port);
    let url = format!("http://{host}/auth?token={key}");
    match png_of(&url) {
        Ok(png) => json(json!({
            "url": url,
            "qrCode": format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
        })),
        Err(e) => fail(e),
    }
}

/// The address the system routes out by: a UDP socket "connected" to a
/// documentation address sends nothing, but is given a local address.
fn lan_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// The public address AutoNAT confirmed (`public /ip4/…/tcp/…`).
async fn public_ip(call: &Call) -> Option<IpAddr> {
    let status = call.state.node.network().status().await.ok()?;
    let addr = status.nat.strip_prefix("public ")?;
    let mut parts = addr.split('/').skip(1);
    match (parts.next()?, parts.next()?) {
        ("ip4" | "ip6", ip) => ip.parse().ok(),
        _ => None,
    }
}

/// `text` as a QR code, in a PNG (8-bit grey).
fn png_of(text: &str) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    let modules = code.width();
    let dark = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut rows = Vec::with_capacity(side * (side + 1));
    for y in 0..side {
        rows.push(0u8); // filter: none
        for x in 0..side {
            let (mx, my) = (x / SCALE, y / SCALE);
            let on = (QUIET..QUIET + modules).contains(&mx)
                && (QUIET..QUIET + modules).contains(&my)
                && dark[(my - QUIET) * modules + (mx - QUIET)] == qrcode::Color::Dark;
            rows.push(if on { 0 } else { 255 });
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&rows).map_err(|e| e.to_string())?;
    let idat = z.finish().map_err(|e| e.to_string())?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8 bits, grey, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(&data);
        png.extend_from_slice(kind);
        png.extend_from_slice(&data);
        png.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_holds_the_code() {
        let png =
            png_of("http://192.168.1.5:3000/auth?token=0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let side = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
        assert_eq!(side % SCALE, 0);
        assert!(side >= (21 + 2 * QUIET) * SCALE);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}
