//! Where a free preview of so many seconds of a media file ends, in bytes:
//! ffprobe reads the blob's verified plaintext through a pipe.

use std::path::Path;
use std::process::Stdio;

use crate::NodeError;
use crate::blobs::read::BlobHandle;

/// Runs ffprobe over the blob's plaintext (through a pipe) and finds where
/// `seconds` of media end; `None` when it cannot tell.
pub(crate) fn preview_end(ffprobe: &Path, handle: &BlobHandle, seconds: u64) -> Option<u64> {
    let mut child = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-read_intervals"])
        .arg(format!("%+{}", seconds + 2))
        .args([
            "-show_entries",
            "packet=dts_time,pts_time,pos:format=bit_rate",
            "-of",
            "json",
            "-i",
            "pipe:0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    use std::io::{Read, Write};
    let mut stdin = child.stdin.take()?;
    let feeder = handle.clone();
    let size = handle.size();
    // ffprobe stops reading once it has seen enough: the feeder then meets
    // a closed pipe and stops too.
    let writer = std::thread::spawn(move || {
        let _ = feeder.for_each_piece(0..size, |piece| {
            stdin
                .write_all(&piece)
                .map_err(|e| NodeError::Aborted(e.to_string()))
        });
    });
    let mut out = String::new();
    let read = child.stdout.take().map(|mut o| o.read_to_string(&mut out));
    let _ = child.wait();
    let _ = writer.join();
    read?.ok()?;
    preview_end_of(&out, seconds, size)
}

/// Reads ffprobe's JSON: the position of the first packet `seconds` after
/// the first; all of it when the media is shorter; else seconds × bit rate.
fn preview_end_of(json: &str, seconds: u64, size: u64) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let num =
        |p: &serde_json::Value, k: &str| -> Option<f64> { p.get(k)?.as_str()?.parse::<f64>().ok() };
    let packets = v.get("packets").and_then(|p| p.as_array());
    if let Some(packets) = packets.filter(|p| !p.is_empty()) {
        let time = |p: &serde_json::Value| num(p, "dts_time").or_else(|| num(p, "pts_time"));
        let start = packets.iter().find_map(time)?;
        let found = packets.iter().find_map(|p| {
            let t = time(p)?;
            let pos = p.get("pos")?.as_str()?.parse::<u64>().ok()?;
            (t - start >= seconds as f64).then_some(pos)
        });
        if let Some(pos) = found {
            return Some(pos);
        }
        let any_pos = packets.iter().any(|p| p.get("pos").is_some());
        if any_pos {
            // Every packet is within the preview: the media is shorter.
            return Some(size);
        }
    }
    let rate = v.get("format").and_then(|f| num(f, "bit_rate"))?;
    Some((rate * seconds as f64 / 8.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_end_at_the_first_packet_past_the_seconds() {
        let json = r#"{"packets":[
            {"dts_time":"1.400000","pos":"564"},
            {"dts_time":"1.500000","pos":"1000"},
            {"dts_time":"2.400000","pos":"5000"},
            {"dts_time":"2.500000","pos":"6000"}],"format":{"bit_rate":"8000"}}"#;
        assert_eq!(preview_end_of(json, 1, 10_000), Some(5000));
        assert_eq!(preview_end_of(json, 5, 10_000), Some(10_000));
        let no_packets = r#"{"packets":[],"format":{"bit_rate":"8000"}}"#;
        assert_eq!(preview_end_of(no_packets, 2, 10_000), Some(2000));
        assert_eq!(preview_end_of("{}", 2, 10_000), None);
    }
}
