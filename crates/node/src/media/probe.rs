//! What a media file holds: its container, duration, streams and the key
//! frames of its main video stream, read by ffprobe from a lent input.
//!
//! Key frames come from the packets' flags (demuxing only, no decoding):
//! every HLS segment starts on one, so that segments cut by different
//! encoder heads meet exactly. A blob never changes, so a probe is made
//! once and kept (in memory, the most recent [`KEPT`]).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use tokio::process::Command;

use super::tools::tail;
use crate::NodeError;

type Result<T> = std::result::Result<T, NodeError>;

/// Probes kept in memory.
const KEPT: usize = 256;

/// What a media file holds.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probe {
    /// The container as ffprobe names it (`mov,mp4,m4a,3gp,3g2,mj2`,
    /// `matroska,webm`, `mpegts`, …).
    pub container: String,
    /// Duration in seconds.
    pub duration: f64,
    /// The first timestamp, in seconds (often 0).
    pub start: f64,
    /// Overall bit rate, in bits per second, when known.
    pub bit_rate: Option<u64>,
    /// Every stream, in the file's order.
    pub streams: Vec<MediaStream>,
    /// Times in seconds of the main video stream's key frames (empty for
    /// audio alone, and for a torrent's file still downloading).
    pub keyframes: Vec<f64>,
}

/// One stream of a media file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaStream {
    /// Its index in the file.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data` or `attachment`.
    pub kind: String,
    /// The codec (`h264`, `hevc`, `aac`, `subrip`, …).
    pub codec: String,
    /// The codec's profile, when it has one (`High`, `LC`, …).
    pub profile: Option<String>,
    /// Language tag (`eng`, `fre`, …), when tagged.
    pub language: Option<String>,
    /// Title tag, when tagged.
    pub title: Option<String>,
    /// Marked as the default of its kind.
    pub default: bool,
    /// Marked as forced (subtitles).
    pub forced: bool,
    /// A cover picture, not a video.
    pub cover: bool,
    /// Video: width in pixels.
    pub width: Option<u32>,
    /// Video: height in pixels.
    pub height: Option<u32>,
    /// Video: pixel format (`yuv420p`, `yuv420p10le`, …).
    pub pixel_format: Option<String>,
    /// Video: frames per second.
    pub frame_rate: Option<f64>,
    /// Audio: channels.
    pub channels: Option<u32>,
    /// Audio: samples per second.
    pub sample_rate: Option<u32>,
    /// Bit rate in bits per second, when known.
    pub bit_rate: Option<u64>,
}

impl Probe {
    /// The main video stream: the first that is not a cover picture.
    pub fn video(&self) -> Option<&MediaStream> {
        self.of_kind("video").next()
    }

    /// The streams of one kind, in order, cover pictures left out.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a MediaStream> + 'a {
        self.streams
            .iter()
            .filter(move |s| s.kind == kind && !s.cover)
    }

    /// Where the media ends, in seconds.
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }
}

/// Probes made, by blob and readable size.
#[derive(Default)]
pub(crate) struct Probes {
    kept: Mutex<HashMap<String, (u64, Arc<Probe>)>>,
    uses: std::sync::atomic::AtomicU64,
}

impl Probes {
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Probe>> {
        let tick = self.tick();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (used, probe) = kept.get_mut(key)?;
        *used = tick;
        Some(probe.clone())
    }

    pub(crate) fn put(&self, key: String, probe: Arc<Probe>) {
        let tick = self.tick();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= KEPT
            && let Some(oldest) = kept.iter().min_by_key(|(_, v)| v.0).map(|(k, _)| k.clone())
        {
            kept.remove(&oldest);
        }
        kept.insert(key, (tick, probe));
    }

    fn tick(&self) -> u64 {
        self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs ffprobe over `url`: streams and format, then (`scan`) the
/// main video stream's key frames, which reads all of it.
pub(crate) async fn probe(ffprobe: &Path, url: &str, scan: bool) -> Result<Probe> {
    let json = run(
        ffprobe,
        &["-show_format", "-show_streams", "-of", "json"],
        url,
    )
    .await?;
    let mut probe = parse(&json)?;
    if let Some(video) = probe.video().filter(|_| scan) {
        let select = video.index.to_string();
        let packets = run(
            ffprobe,
            &[
                "-select_streams",
                &select,
                "-show_entries",
                "packet=pts_time,flags",
                "-of",
                "csv=p=0",
            ],
            url,
        )
        .await?;
        probe.keyframes = keyframes(&packets);
    }
    Ok(probe)
}

async fn run(ffprobe: &Path, args: &[&str], url: &str) -> Result<String> {
    let out = Command::new(ffprobe)
        .args(["-v", "error"])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| NodeError::io("run", ffprobe, e))?;
    if !out.status.success() {
        return Err(NodeError::Invalid(format!(
            "not a media file ffprobe can read ({})",
            tail(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| NodeError::Invalid("ffprobe answered text that is not UTF-8".into()))
}

/// Reads `-show_format -show_streams -of json`.
fn parse(json: &str) -> Result<Probe> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| NodeError::Invalid(format!("ffprobe's answer is not JSON: {e}")))?;
    let format = v.get("format").cloned().unwrap_or(Value::Null);
    let duration = number(&format, "duration")
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| NodeError::Invalid("not a media file with a duration".into()))?;
    let streams: Vec<MediaStream> = v
        .get("streams")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(stream).collect())
        .unwrap_or_default();
    let playable = |s: &&MediaStream| (s.kind == "video" && !s.cover) || s.kind == "audio";
    if !streams.iter().any(|s| playable(&s)) {
        return Err(NodeError::Invalid(
            "not a media file: it has no audio or video stream".into(),
        ));
    }
    Ok(Probe {
        container: text(&format, "format_name").unwrap_or_default(),
        duration,
        start: number(&format, "start_time")
            .filter(|s| s.is_finite())
            .unwrap_or(0.0),
        bit_rate: number(&format, "bit_rate").map(|b| b as u64),
        streams,
        keyframes: Vec::new(),
    })
}

fn stream(s: &Value) -> Option<MediaStream> {
    let flag = |k: &str| {
        s.get("disposition")
            .and_then(|d| d.get(k))
            .and_then(Value::as_i64)
            == Some(1)
    };
    let tag = |k: &str| {
        s.get("tags")
            .and_then(|t| t.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let int = |k: &str| {
        s.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(MediaStream {
        index: u32::try_from(s.get("index")?.as_u64()?).ok()?,
        kind: text(s, "codec_type").unwrap_or_else(|| "data".into()),
        codec: text(s, "codec_name").unwrap_or_else(|| "unknown".into()),
        profile: text(s, "profile"),
        language: tag("language").filter(|l| l != "und"),
        title: tag("title"),
        default: flag("default"),
        forced: flag("forced"),
        cover: flag("attached_pic"),
        width: int("width"),
        height: int("height"),
        pixel_format: text(s, "pix_fmt"),
        frame_rate: text(s, "avg_frame_rate")
            .and_then(|r| ratio(&r))
            .or_else(|| text(s, "r_frame_rate").and_then(|r| ratio(&r))),
        channels: int("channels"),
        sample_rate: number(s, "sample_rate").map(|r| r as u32),
        bit_rate: number(s, "bit_rate").map(|b| b as u64),
    })
}

/// Key frame times from `packet=pts_time,flags` in CSV, sorted, once each.
fn keyframes(csv: &str) -> Vec<f64> {
    let mut times: Vec<f64> = csv
        .lines()
        .filter_map(|line| {
            let (time, flags) = line.trim().split_once(',')?;
            flags.starts_with('K').then_some(())?;
            time.parse::<f64>().ok().filter(|t| t.is_finite())
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    times
}

/// A field that ffprobe writes as a string or a number.
fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

/// `30000/1001` as a number; `0/0` as none.
fn ratio(r: &str) -> Option<f64> {
    let (n, d) = r.split_once('/')?;
    let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frames_are_read_from_packet_flags() {
        let csv = "0.021000,K_\n0.063000,__\n2.023000,K_\nN/A,K_\n4.025000,K__\n2.023000,K_\n";
        assert_eq!(keyframes(csv), vec![0.021, 2.023, 4.025]);
        assert!(keyframes("").is_empty());
    }

    #[test]
    fn streams_and_format_are_read() {
        let json = r#"{"streams":[
            {"index":0,"codec_name":"h264","codec_type":"video","profile":"High","width":1920,"height":1080,
             "pix_fmt":"yuv420p","avg_frame_rate":"24000/1001","disposition":{"default":1,"attached_pic":0}},
            {"index":1,"codec_name":"aac","codec_type":"audio","channels":2,"sample_rate":"48000",
             "tags":{"language":"fre","title":"VF"},"disposition":{"default":0}},
            {"index":2,"codec_name":"mjpeg","codec_type":"video","disposition":{"attached_pic":1}},
            {"index":3,"codec_name":"subrip","codec_type":"subtitle","tags":{"language":"und"},
             "disposition":{"forced":1}}],
            "format":{"format_name":"matroska,webm","duration":"60.039000","start_time":"0.000000","bit_rate":"13219000"}}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.container, "matroska,webm");
        assert!((p.duration - 60.039).abs() < 1e-9);
        assert_eq!(p.bit_rate, Some(13_219_000));
        assert_eq!(p.streams.len(), 4);
        let v = p.video().unwrap();
        assert_eq!((v.index, v.width, v.height), (0, Some(1920), Some(1080)));
        assert!((v.frame_rate.unwrap() - 23.976).abs() < 1e-3);
        assert!(v.default);
        let a = &p.streams[1];
        assert_eq!(a.language.as_deref(), Some("fre"));
        assert_eq!(a.title.as_deref(), Some("VF"));
        assert_eq!((a.channels, a.sample_rate), (Some(2), Some(48_000)));
        assert_eq!(p.of_kind("video").count(), 1, "the cover is not a video");
        assert_eq!(p.streams[3].language, None, "'und' is no language");
        assert!(p.streams[3].forced);
    }

    #[test]
    fn a_file_without_duration_is_not_media() {
        assert!(parse(r#"{"format":{"format_name":"tty"}}"#).is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn frame_rates_are_ratios() {
        assert_eq!(ratio("25/1"), Some(25.0));
        assert_eq!(ratio("0/0"), None);
        assert_eq!(ratio("x"), None);
    }
}
