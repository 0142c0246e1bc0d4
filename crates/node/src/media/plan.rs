//! Deciding, per request, what a player gets: the file as it is, its
//! streams copied into another container (remux), or a transcode; and the
//! ffmpeg arguments that make it.
//!
//! The rule is to transcode only what the player cannot take: a stream
//! browsers play (H.264 in 8-bit 4:2:0; AAC) is copied unless the
//! request asks it smaller (a quality below the source, a maximum width
//! or height) or forces a transcode. Sizes never go up. The quality
//! presets are Powder Web's table (width, video and audio bit rates).

use serde::{Deserialize, Serialize};

use super::probe::{MediaStream, Probe};
use crate::NodeError;

/// A quality preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quality {
    /// 256 px wide, 512 kb/s video, 64 kb/s audio.
    P144,
    /// 426 px, 1024 kb/s, 96 kb/s.
    P240,
    /// 640 px, 2048 kb/s, 128 kb/s.
    P360,
    /// 854 px, 3072 kb/s, 192 kb/s.
    P480,
    /// 1280 px, 4096 kb/s, 256 kb/s.
    P720,
    /// 1920 px, 4096 kb/s, 256 kb/s.
    P1080,
}

impl Quality {
    /// Every preset, smallest first.
    pub const ALL: [Quality; 6] = [
        Self::P144,
        Self::P240,
        Self::P360,
        Self::P480,
        Self::P720,
        Self::P1080,
    ];

    /// `720p` (or `720`) as a preset.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_suffix('p').unwrap_or(text);
        Self::ALL
            .into_iter()
            .find(|q| q.height().to_string() == digits)
    }

    /// Its label, `720p`.
    pub fn label(self) -> String {
        format!("{}p", self.height())
    }

    /// Its height in lines.
    pub fn height(self) -> u32 {
        match self {
            Self::P144 => 144,
            Self::P240 => 240,
            Self::P360 => 360,
            Self::P480 => 480,
            Self::P720 => 720,
            Self::P1080 => 1080,
        }
    }

    /// Its width in pixels.
    pub fn width(self) -> u32 {
        match self {
            Self::P144 => 256,
            Self::P240 => 426,
            Self::P360 => 640,
            Self::P480 => 854,
            Self::P720 => 1280,
            Self::P1080 => 1920,
        }
    }

    /// Its video bit rate in kb/s.
    pub fn video_kbps(self) -> u32 {
        match self {
            Self::P144 => 512,
            Self::P240 => 1024,
            Self::P360 => 2048,
            Self::P480 => 3072,
            Self::P720 | Self::P1080 => 4096,
        }
    }

    /// Its audio bit rate in kb/s.
    pub fn audio_kbps(self) -> u32 {
        match self {
            Self::P144 => 64,
            Self::P240 => 96,
            Self::P360 => 128,
            Self::P480 => 192,
            Self::P720 | Self::P1080 => 256,
        }
    }
}

impl Serialize for Quality {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for Quality {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown quality '{text}': one of 144p, 240p, 360p, 480p, 720p, 1080p"
            ))
        })
    }
}

/// What a player asks of a stream. The default asks nothing: the source's
/// first video and audio streams, as they are where the player can take
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// A quality preset (`144p` … `1080p`): the picture is made to fit it
    /// when the source is larger. None: the source's size.
    pub quality: Option<Quality>,
    /// Largest width in pixels the player takes.
    pub max_width: Option<u32>,
    /// Largest height in pixels the player takes.
    pub max_height: Option<u32>,
    /// Which video stream, counted among video streams (default 0).
    pub video: Option<u32>,
    /// Which audio stream, counted among audio streams (default 0).
    pub audio: Option<u32>,
    /// Audio delay in milliseconds (negative: earlier); not 0 re-encodes
    /// the audio.
    pub audio_delay_ms: i64,
    /// Transcode video and audio whatever the source.
    pub transcode: bool,
    /// A progressive stream from `start` keeps the source's timestamps
    /// (its first frame at `start`, not 0), for players that show the
    /// file's time; not with an audio delay, nor for HLS (always on the
    /// source's grid).
    pub keep_times: bool,
}

/// The container a stream is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// HLS segments (MPEG-TS).
    Hls,
    /// Fragmented MP4, for a `<video>` element.
    Mp4,
    /// Matroska, for players that take any codec (VLC, mpv).
    Matroska,
    /// WebM: VP8 (or VP9, copied) and Vorbis (or Opus, copied).
    WebM,
    /// Ogg: Theora and Vorbis.
    Ogg,
    /// Audio alone, as MP3.
    Mp3,
    /// Audio alone, as AAC in a fragmented MP4.
    M4a,
    /// Audio alone, as Vorbis in Ogg.
    Oga,
}

impl Target {
    /// Audio alone.
    pub fn audio_only(self) -> bool {
        matches!(self, Self::Mp3 | Self::M4a | Self::Oga)
    }
}

/// How a request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Treatment {
    /// The stored file itself, with ranges: the player takes it as it is.
    Direct,
    /// The streams copied into another container.
    Remux,
    /// At least one stream re-encoded.
    Transcode,
}

/// One stream of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Track {
    /// The source stream's index in the file.
    pub stream: u32,
    /// Copied as it is (else encoded).
    pub copy: bool,
    /// The output's codec.
    pub codec: String,
}

/// A picture's size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// Served as it is, remuxed or transcoded.
    pub treatment: Treatment,
    /// The video track, if the source has one.
    pub video: Option<Track>,
    /// The audio track, if the source has one.
    pub audio: Option<Track>,
    /// The output picture's size, when scaled.
    pub scale: Option<Size>,
    /// Video bit rate cap in kb/s, when encoding video.
    pub video_kbps: Option<u32>,
    /// Audio bit rate in kb/s, when encoding audio.
    pub audio_kbps: Option<u32>,
    /// The audio delay in milliseconds.
    pub audio_delay_ms: i64,
    /// A progressive stream keeps the source's timestamps from its start.
    pub keep_times: bool,
}

impl Plan {
    /// Decides how `probe`'s file is served as `target` for `profile`.
    pub fn new(probe: &Probe, profile: &Profile, target: Target) -> Result<Self, NodeError> {
        let video = if target.audio_only() {
            None
        } else {
            pick(probe, "video", profile.video)?
        };
        let audio = pick(probe, "audio", profile.audio)?;
        if target.audio_only() && audio.is_none() {
            return Err(NodeError::Invalid("the file has no audio stream".into()));
        }
        let scale = video.and_then(|v| scale_of(v, profile));
        // HLS cuts a copied video only on its key frames: without them
        // (a torrent still downloading), the video is encoded.
        let cuttable = target != Target::Hls || !probe.keyframes.is_empty();
        let video_track = video.map(|v| Track {
            stream: v.index,
            copy: !profile.transcode && scale.is_none() && cuttable && video_copies(v, target),
            codec: if (target == Target::Matroska
                || (video_copies(v, target) && target != Target::Hls && target != Target::Mp4))
                && !profile.transcode
                && scale.is_none()
            {
                v.codec.clone()
            } else {
                video_encoder(target).into()
            },
        });
        let audio_track = audio.map(|a| {
            let copy = !profile.transcode && profile.audio_delay_ms == 0 && audio_copies(a, target);
            Track {
                stream: a.index,
                copy,
                codec: if copy {
                    a.codec.clone()
                } else {
                    audio_encoder(target).into()
                },
            }
        });
        let copies = video_track.as_ref().is_none_or(|t| t.copy)
            && audio_track.as_ref().is_none_or(|t| t.copy);
        let treatment = if copies && target == Target::Mp4 && direct(probe, video, audio) {
            Treatment::Direct
        } else if copies {
            Treatment::Remux
        } else {
            Treatment::Transcode
        };
        let preset = profile.quality;
        Ok(Self {
            treatment,
            video_kbps: video_track
                .as_ref()
                .filter(|t| !t.copy)
                .map(|_| preset.map_or(4096, Quality::video_kbps)),
            audio_kbps: audio_track
                .as_ref()
                .filter(|t| !t.copy)
                .map(|_| preset.map_or(192, Quality::audio_kbps)),
            video: video_track,
            audio: audio_track,
            scale,
            audio_delay_ms: profile.audio_delay_ms,
            keep_times: profile.keep_times && profile.audio_delay_ms == 0 && target != Target::Hls,
        })
    }

    /// The mapping and codec arguments: input 0 is the source, input 1
    /// (with an audio delay) the source again, shifted.
    pub(crate) fn codec_args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
        if let Some(v) = &self.video {
            push(&["-map", &format!("0:{}", v.stream)]);
            if v.copy {
                push(&["-c:v", "copy"]);
            } else {
                let kbps = self.video_kbps.unwrap_or(4096);
                match v.codec.as_str() {
                    "vp8" => {
                        push(&["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"]);
                        push(&["-b:v", &format!("{kbps}k"), "-pix_fmt", "yuv420p"]);
                    }
                    "theora" => push(&["-c:v", "libtheora", "-q:v", "7", "-pix_fmt", "yuv420p"]),
                    _ => {
                        push(&["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]);
                        push(&["-maxrate", &format!("{kbps}k")]);
                        push(&["-bufsize", &format!("{}k", kbps * 2)]);
                        push(&["-pix_fmt", "yuv420p", "-profile:v", "high"]);
                    }
                }
                if let Some(Size { width, height }) = self.scale {
                    push(&["-vf", &format!("scale={width}:{height}")]);
                }
            }
        }
        if let Some(a) = &self.audio {
            let input = if self.audio_delay_ms != 0 { 1 } else { 0 };
            push(&["-map", &format!("{input}:{}", a.stream)]);
            if a.copy {
                push(&["-c:a", "copy"]);
            } else {
                let kbps = self.audio_kbps.unwrap_or(192);
                let encoder = match a.codec.as_str() {
                    "vorbis" => "libvorbis",
                    "mp3" => "libmp3lame",
                    _ => "aac",
                };
                push(&["-c:a", encoder, "-ac", "2", "-b:a", &format!("{kbps}k")]);
            }
        }
        push(&["-sn", "-dn"]);
        args
    }

    /// Whether the video is re-encoded (so key frames can be placed).
    pub(crate) fn encodes_video(&self) -> bool {
        self.video.as_ref().is_some_and(|v| !v.copy)
    }
}

/// The `nth` stream of `kind` (the first when not asked); none when the
/// file has none of that kind and none was asked.
fn pick<'a>(
    probe: &'a Probe,
    kind: &'a str,
    nth: Option<u32>,
) -> Result<Option<&'a MediaStream>, NodeError> {
    let count = probe.of_kind(kind).count();
    match nth {
        None => Ok(probe.of_kind(kind).next()),
        Some(n) => probe
            .of_kind(kind)
            .nth(n as usize)
            .map(Some)
            .ok_or_else(|| {
                NodeError::Invalid(format!(
                    "no {kind} stream {n}: the file has {count} (counted from 0)"
                ))
            }),
    }
}

/// The size the picture is scaled to, when it is larger than asked:
/// fitted in the box, aspect kept, both sides even.
fn scale_of(video: &MediaStream, profile: &Profile) -> Option<Size> {
    let (w, h) = (video.width?, video.height?);
    let mut box_w = profile.max_width.unwrap_or(u32::MAX);
    let mut box_h = profile.max_height.unwrap_or(u32::MAX);
    if let Some(q) = profile.quality {
        box_w = box_w.min(q.width());
        box_h = box_h.min(q.height());
    }
    if (w <= box_w && h <= box_h) || w == 0 || h == 0 {
        return None;
    }
    let factor = (f64::from(box_w) / f64::from(w)).min(f64::from(box_h) / f64::from(h));
    let even = |x: f64| ((x / 2.0).floor() as u32 * 2).max(2);
    Some(Size {
        width: even(f64::from(w) * factor),
        height: even(f64::from(h) * factor),
    })
}

/// The codec a target's video is encoded to.
fn video_encoder(target: Target) -> &'static str {
    match target {
        Target::WebM => "vp8",
        Target::Ogg => "theora",
        _ => "h264",
    }
}

/// The codec a target's audio is encoded to.
fn audio_encoder(target: Target) -> &'static str {
    match target {
        Target::WebM | Target::Ogg | Target::Oga => "vorbis",
        Target::Mp3 => "mp3",
        Target::Hls | Target::Mp4 | Target::Matroska | Target::M4a => "aac",
    }
}

/// Whether browsers (and MPEG-TS) take this video as it is.
fn video_copies(v: &MediaStream, target: Target) -> bool {
    let four_two_zero = matches!(
        v.pixel_format.as_deref(),
        Some("yuv420p" | "yuvj420p") | None
    );
    match target {
        Target::Matroska => true,
        Target::Hls | Target::Mp4 => v.codec == "h264" && four_two_zero,
        Target::WebM => matches!(v.codec.as_str(), "vp8" | "vp9") && four_two_zero,
        Target::Ogg => v.codec == "theora",
        Target::Mp3 | Target::M4a | Target::Oga => false,
    }
}

/// Whether browsers (and MPEG-TS) take this audio as it is: AAC. MP3
/// would play, but copied from a seek into a fragmented MP4 its priming
/// shifts the timeline and players drop the first second of video; the
/// audio is cheap to encode.
fn audio_copies(a: &MediaStream, target: Target) -> bool {
    match target {
        Target::Matroska => true,
        Target::Hls | Target::Mp4 | Target::M4a => a.codec == "aac",
        Target::WebM => matches!(a.codec.as_str(), "vorbis" | "opus"),
        Target::Ogg | Target::Oga => a.codec == "vorbis",
        Target::Mp3 => a.codec == "mp3",
    }
}

/// Whether the stored file itself plays in a browser: a container they
/// read, holding the streams chosen as its first ones.
fn direct(probe: &Probe, video: Option<&MediaStream>, audio: Option<&MediaStream>) -> bool {
    let first = |kind: &str, s: Option<&MediaStream>| {
        s.is_none_or(|s| probe.of_kind(kind).next().map(|f| f.index) == Some(s.index))
    };
    let container = probe.container.as_str();
    let readable = container.contains("mp4")
        || container == "mp3"
        || container == "flac"
        || container == "wav"
        || (container.contains("webm") && webm_codecs(video, audio))
        || (container == "ogg" && video.is_none());
    readable && first("video", video) && first("audio", audio)
}

fn webm_codecs(video: Option<&MediaStream>, audio: Option<&MediaStream>) -> bool {
    video.is_none_or(|v| matches!(v.codec.as_str(), "vp8" | "vp9" | "av1"))
        && audio.is_none_or(|a| matches!(a.codec.as_str(), "opus" | "vorbis"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(index: u32, kind: &str, codec: &str) -> MediaStream {
        MediaStream {
            index,
            kind: kind.into(),
            codec: codec.into(),
            profile: None,
            language: None,
            title: None,
            default: false,
            forced: false,
            cover: false,
            width: (kind == "video").then_some(1920),
            height: (kind == "video").then_some(1080),
            pixel_format: (kind == "video").then(|| "yuv420p".into()),
            frame_rate: None,
            channels: None,
            sample_rate: None,
            bit_rate: None,
        }
    }

    fn probe(container: &str, streams: Vec<MediaStream>) -> Probe {
        Probe {
            container: container.into(),
            duration: 60.0,
            start: 0.0,
            bit_rate: None,
            streams,
            keyframes: vec![],
        }
    }

    fn mp4() -> Probe {
        let mut p = probe(
            "mov,mp4,m4a,3gp,3g2,mj2",
            vec![stream(0, "video", "h264"), stream(1, "audio", "aac")],
        );
        p.keyframes = vec![0.0, 2.0];
        p
    }

    #[test]
    fn a_browser_file_is_served_as_it_is() {
        let plan = Plan::new(&mp4(), &Profile::default(), Target::Mp4).unwrap();
        assert_eq!(plan.treatment, Treatment::Direct);
        let hls = Plan::new(&mp4(), &Profile::default(), Target::Hls).unwrap();
        assert_eq!(hls.treatment, Treatment::Remux);
    }

    #[test]
    fn webm_ogg_and_audio_targets_pick_their_codecs() {
        let webm = Plan::new(&mp4(), &Profile::default(), Target::WebM).unwrap();
        let (v, a) = (webm.video.clone().unwrap(), webm.audio.clone().unwrap());
        assert_eq!(
            (v.codec.as_str(), v.copy, a.codec.as_str(), a.copy),
            ("vp8", false, "vorbis", false)
        );
        assert!(webm.codec_args().join(" ").contains("-c:v libvpx"));
        let ogg = Plan::new(&mp4(), &Profile::default(), Target::Ogg).unwrap();
        assert!(ogg.codec_args().join(" ").contains("-c:v libtheora"));
        // A WebM source's VP9 and Opus are copied into WebM.
        let vp9 = probe(
            "matroska,webm",
            vec![stream(0, "video", "vp9"), stream(1, "audio", "opus")],
        );
        let copied = Plan::new(&vp9, &Profile::default(), Target::WebM).unwrap();
        assert_eq!(copied.treatment, Treatment::Remux);
        assert_eq!(copied.video.unwrap().codec, "vp9");
        // Audio alone: no video track, the audio encoded unless it is
        // already the target's.
        let mp3 = Plan::new(&mp4(), &Profile::default(), Target::Mp3).unwrap();
        assert!(mp3.video.is_none());
        assert!(mp3.codec_args().join(" ").contains("-c:a libmp3lame"));
        let m4a = Plan::new(&mp4(), &Profile::default(), Target::M4a).unwrap();
        assert!(m4a.audio.unwrap().copy, "AAC copied into M4A");
        let silent = probe("mp4", vec![stream(0, "video", "h264")]);
        assert!(Plan::new(&silent, &Profile::default(), Target::Oga).is_err());
    }

    #[test]
    fn without_key_frames_hls_encodes_the_video() {
        let mut p = mp4();
        p.keyframes.clear();
        let plan = Plan::new(&p, &Profile::default(), Target::Hls).unwrap();
        assert!(plan.encodes_video());
        let mp4 = Plan::new(&p, &Profile::default(), Target::Mp4).unwrap();
        assert_eq!(mp4.treatment, Treatment::Direct);
    }

    #[test]
    fn matroska_with_browser_codecs_is_remuxed() {
        let mut mkv = probe(
            "matroska,webm",
            vec![stream(0, "video", "h264"), stream(1, "audio", "aac")],
        );
        mkv.keyframes = vec![0.0];
        let plan = Plan::new(&mkv, &Profile::default(), Target::Mp4).unwrap();
        assert_eq!(plan.treatment, Treatment::Remux);
        assert!(plan.codec_args().contains(&"copy".to_owned()));
    }

    #[test]
    fn codecs_browsers_cannot_play_are_transcoded() {
        let mkv = probe(
            "matroska,webm",
            vec![stream(0, "video", "mpeg4"), stream(1, "audio", "ac3")],
        );
        let plan = Plan::new(&mkv, &Profile::default(), Target::Hls).unwrap();
        assert_eq!(plan.treatment, Treatment::Transcode);
        assert!(plan.encodes_video());
        assert_eq!(plan.audio.as_ref().unwrap().codec, "aac");
        // In Matroska, for VLC or mpv, they are copied.
        let plan = Plan::new(&mkv, &Profile::default(), Target::Matroska).unwrap();
        assert_eq!(plan.treatment, Treatment::Remux);
    }

    #[test]
    fn a_smaller_quality_scales_down_and_never_up() {
        let asked = Profile {
            quality: Some(Quality::P720),
            ..Profile::default()
        };
        let plan = Plan::new(&mp4(), &asked, Target::Hls).unwrap();
        assert_eq!(
            plan.scale,
            Some(Size {
                width: 1280,
                height: 720
            })
        );
        assert_eq!(plan.video_kbps, Some(4096));
        assert_eq!(plan.treatment, Treatment::Transcode);
        assert!(plan.codec_args().join(" ").contains("scale=1280:720"));
        let big = Profile {
            quality: Some(Quality::P1080),
            max_height: Some(4000),
            ..Profile::default()
        };
        assert_eq!(Plan::new(&mp4(), &big, Target::Hls).unwrap().scale, None);
        let narrow = Profile {
            max_width: Some(1001),
            ..Profile::default()
        };
        let plan = Plan::new(&mp4(), &narrow, Target::Hls).unwrap();
        assert_eq!(
            plan.scale,
            Some(Size {
                width: 1000,
                height: 562
            }),
            "aspect kept, sides even"
        );
    }

    #[test]
    fn tracks_are_chosen_by_their_rank_among_their_kind() {
        let mut p = mp4();
        p.streams.push(stream(2, "subtitle", "subrip"));
        p.streams.push(stream(3, "audio", "ac3"));
        let second = Profile {
            audio: Some(1),
            ..Profile::default()
        };
        let plan = Plan::new(&p, &second, Target::Mp4).unwrap();
        assert_eq!(plan.audio.as_ref().unwrap().stream, 3);
        assert_eq!(plan.treatment, Treatment::Transcode, "ac3 is encoded");
        let missing = Profile {
            audio: Some(5),
            ..Profile::default()
        };
        let err = Plan::new(&p, &missing, Target::Mp4).unwrap_err();
        assert!(err.to_string().contains("has 2"), "{err}");
    }

    #[test]
    fn an_audio_delay_reencodes_the_audio_from_a_second_input() {
        let delayed = Profile {
            audio_delay_ms: -500,
            ..Profile::default()
        };
        let plan = Plan::new(&mp4(), &delayed, Target::Mp4).unwrap();
        assert!(!plan.audio.as_ref().unwrap().copy);
        assert!(plan.codec_args().contains(&"1:1".to_owned()));
    }

    #[test]
    fn qualities_parse_with_or_without_p() {
        assert_eq!(Quality::parse("720p"), Some(Quality::P720));
        assert_eq!(Quality::parse("144"), Some(Quality::P144));
        assert_eq!(Quality::parse("721p"), None);
        assert_eq!(Quality::P480.label(), "480p");
    }
}
