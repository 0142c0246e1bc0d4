//! Media for the tests, made by ffmpeg from `lavfi` sources, and "plays":
//! ffmpeg decoding frames from a URL.

use std::path::Path;
use std::process::Command;

/// Makes media file `dir/name` with ffmpeg: `secs`
/// of a test picture and a tone, with the given codecs and a key frame
/// every 48 frames at 23.976 fps (2.002 s).
pub fn make_media(dir: &Path, name: &str, secs: u32, codecs: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size=640x360:rate=24000/1001:duration={secs}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ))
        .args(["-g", "48", "-keyint_min", "48", "-sc_threshold", "0"])
        .args(codecs)
        .arg("-shortest")
        .arg(&path)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

pub const H264_AAC: &[&str] = &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"];
pub const MPEG4_MP3: &[&str] = &["-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame"];

/// Frames ffmpeg decodes from `url`, reading `secs` seconds from `seek`.
pub fn frames_played(url: &str, seek: Option<f64>, secs: u32) -> usize {
    decoded(url, seek, secs, "0:v:0")
}

/// Audio frames ffmpeg decodes from `url`, reading `secs` seconds.
pub fn audio_played(url: &str, secs: u32) -> usize {
    decoded(url, None, secs, "0:a:0")
}

/// Frames of stream `map` ffmpeg decodes from `url`.
fn decoded(url: &str, seek: Option<f64>, secs: u32, map: &str) -> usize {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-v", "error"]);
    if let Some(s) = seek {
        cmd.args(["-ss", &s.to_string()]);
    }
    let out = cmd
        .args(["-i", url, "-t", &secs.to_string(), "-map", map])
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}
