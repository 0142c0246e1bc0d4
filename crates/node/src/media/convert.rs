//! Whole-file work with ffmpeg: a duration, a transcode to
//! browser-streamable mp4 with progress, a frame as a JPEG.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::tools::{progress_ms, quiet_ffmpeg, run_ffmpeg, tail};
use crate::NodeError;
use crate::jobs::Job;

type Result<T> = std::result::Result<T, NodeError>;

/// The duration in seconds of the media at `src` (a path or URL).
pub(crate) async fn probe_duration(ffprobe: &Path, src: &str) -> Result<f64> {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "format=duration"])
        .args(["-of", "default=noprint_wrappers=1:nokey=1"])
        .arg(src)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| NodeError::io("run", ffprobe, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let duration = text
        .lines()
        .find_map(|l| l.trim().parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0);
    match (out.status.success(), duration) {
        (true, Some(d)) => Ok(d),
        _ => Err(NodeError::Invalid(format!(
            "not a media file with a duration ({})",
            tail(&String::from_utf8_lossy(&out.stderr))
        ))),
    }
}

/// Transcodes `src` to browser-streamable mp4 (H.264 + AAC, index first)
/// at `dst`, reporting progress on `job` in milliseconds of media out of
/// `duration` seconds; ffmpeg is killed if the job is cancelled.
pub(crate) async fn transcode_mp4(
    ffmpeg: &Path,
    src: &str,
    dst: &Path,
    duration: f64,
    job: &Job,
) -> Result<()> {
    let total_ms = (duration * 1000.0).round() as u64;
    job.set_total(total_ms.max(1));
    let mut cmd = quiet_ffmpeg(ffmpeg);
    cmd.arg("-i")
        .arg(src)
        .args(["-map", "0:v:0?", "-map", "0:a:0?", "-sn", "-dn"])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .args(["-movflags", "+faststart", "-f", "mp4"])
        .args(["-progress", "pipe:1"])
        .arg(dst);
    let mut done_ms = 0u64;
    run_ffmpeg(cmd, ffmpeg, job, |line| {
        if let Some(ms) = progress_ms(line) {
            let ms = ms.min(total_ms);
            if ms > done_ms {
                job.advance(ms - done_ms);
                done_ms = ms;
            }
        }
    })
    .await?;
    if total_ms > done_ms {
        job.advance(total_ms - done_ms);
    }
    Ok(())
}

/// Extracts one frame of `src`, `at` seconds in, as a JPEG at `dst`.
pub(crate) async fn extract_jpeg(ffmpeg: &Path, src: &str, dst: &Path, at: f64) -> Result<()> {
    let mut cmd = quiet_ffmpeg(ffmpeg);
    cmd.args(["-ss", &format!("{at:.3}")])
        .arg("-i")
        .arg(src)
        .args([
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
        ])
        .arg(dst);
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| NodeError::io("run", ffmpeg, e))?;
    let made = std::fs::metadata(dst).is_ok_and(|m| m.len() > 0);
    if out.status.success() && made {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "no frame could be extracted ({})",
            tail(&String::from_utf8_lossy(&out.stderr))
        )))
    }
}
