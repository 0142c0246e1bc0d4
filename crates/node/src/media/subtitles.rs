//! Subtitles as WebVTT, the one format browsers take: a stored video's
//! text subtitle streams (extracted with ffmpeg) and its sidecar files
//! (`movie.srt`, `movie.en.srt`, `movie.fre.ass`, … beside `movie.mkv` in
//! its folder).
//!
//! A sidecar's encoding is detected (UTF-8, else the most likely legacy
//! one, e.g. Windows-1252 for a French `.srt`) and its text decoded before
//! anything else; SubRip becomes WebVTT here (its cues' times rewritten
//! `00:00:01,500` → `00:00:01.500`, whatever digits the file used), SSA/ASS
//! through ffmpeg. The language comes from the stream's tag, or from the
//! sidecar's name.

use std::path::Path;
use std::process::Stdio;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tools::{quiet_ffmpeg, tail};
use crate::{Entry, NodeError};

type Result<T> = std::result::Result<T, NodeError>;

/// The largest sidecar read, and the most WebVTT ffmpeg may write.
pub(crate) const MAX_SUBTITLE: usize = 16 << 20;

/// Codecs of text subtitle streams ffmpeg turns into WebVTT.
const TEXT_CODECS: &[&str] = &["subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"];

/// Sidecar extensions, lower case.
pub(crate) const SIDECARS: &[&str] = &["srt", "vtt", "ass", "ssa"];

/// One subtitle track of a video.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubtitleTrack {
    /// Its id for `subtitles/{track}`: `s<stream index>` for a stream of
    /// the file, `f<entry id>` for a sidecar file.
    pub id: String,
    /// `stream` or `file`.
    pub source: String,
    /// Language, from the stream's tag or the file's name (`en`, `fre`).
    pub language: Option<String>,
    /// Title, from the stream's tag or the file's name.
    pub title: Option<String>,
    /// The stream's codec, or the file's extension.
    pub format: String,
    /// Marked default.
    pub default: bool,
    /// Marked forced.
    pub forced: bool,
    /// Text, so it can be served as WebVTT (picture subtitles cannot).
    pub text: bool,
}

/// The stream tracks of a probe.
pub(crate) fn stream_tracks(probe: &super::Probe) -> Vec<SubtitleTrack> {
    probe
        .of_kind("subtitle")
        .map(|s| SubtitleTrack {
            id: format!("s{}", s.index),
            source: "stream".into(),
            language: s.language.clone(),
            title: s.title.clone(),
            format: s.codec.clone(),
            default: s.default,
            forced: s.forced,
            text: TEXT_CODECS.contains(&s.codec.as_str()),
        })
        .collect()
}

/// The sidecar of `video` that `other` is, if it is one: same folder,
/// the video's name without its extension, then an optional language
/// or title, then a subtitle extension.
pub(crate) fn sidecar(video: &Entry, other: &Entry) -> Option<SubtitleTrack> {
    let base = Path::new(&video.name).file_stem()?.to_str()?;
    let (stem, ext) = other.name.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    if other.id == video.id || !SIDECARS.contains(&ext.as_str()) {
        return None;
    }
    let middle = if stem == base {
        None
    } else {
        Some(stem.strip_prefix(base)?.strip_prefix('.')?.to_owned())
    };
    let language = middle
        .as_deref()
        .filter(|m| is_language(m))
        .map(str::to_owned);
    Some(SubtitleTrack {
        id: format!("f{}", other.id),
        source: "file".into(),
        title: middle.filter(|_| language.is_none()),
        language,
        format: ext,
        default: false,
        forced: false,
        text: true,
    })
}

/// The names a player's menu shows for `tracks`: the title, else the
/// language, else the format; repeated names numbered (`en`, `en 2`).
pub(crate) fn menu_names(tracks: &[&SubtitleTrack]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(tracks.len());
    for t in tracks {
        let base = t
            .title
            .clone()
            .or_else(|| t.language.clone())
            .unwrap_or_else(|| t.format.clone());
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base} {n}");
        }
        names.push(name);
    }
    names
}

/// `en`, `eng`, `pt-BR`: a language tag, not a title.
pub(crate) fn is_language(s: &str) -> bool {
    let (lang, region) = s.split_once(['-', '_']).unwrap_or((s, ""));
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && (region.is_empty() || (2..=4).contains(&region.len()))
}

/// Decodes subtitle bytes: UTF-8 (with or without its BOM), UTF-16 with
/// a BOM, else the legacy encoding that fits them best.
pub(crate) fn decode(bytes: &[u8]) -> String {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return enc.decode_with_bom_removal(bytes).0.into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let enc = detector.guess(None, chardetng::Utf8Detection::Deny);
    enc.decode(bytes).0.into_owned()
}

/// SubRip text as WebVTT: a header, the cues' times with dots and
/// two-digit hours; in the text, SSA override tags as players of SubRip
/// read them: `{\i1}`/`{\i}`/`{i}` … `{\i0}`/`{/i}` (and `b`, `u`) as
/// WebVTT's `<i>`, `<b>`, `<u>`, `{\an8}` as the cue setting
/// `line:5%` (at the top), any other `{\…}` dropped.
pub(crate) fn srt_to_vtt(srt: &str) -> String {
    let mut lines: Vec<String> = vec!["WEBVTT".into(), String::new()];
    let mut timing: Option<usize> = None;
    for line in srt.lines() {
        let line = line.trim_end_matches('\r');
        match line.split_once("-->") {
            Some((from, to)) => {
                let (to, settings) = to.trim().split_once(' ').unwrap_or((to.trim(), ""));
                match (cue_time(from), cue_time(to)) {
                    (Some(a), Some(b)) => {
                        let mut cue = format!("{a} --> {b}");
                        if !settings.trim().is_empty() {
                            cue.push(' ');
                            cue.push_str(settings.trim());
                        }
                        timing = Some(lines.len());
                        lines.push(cue);
                    }
                    _ => lines.push(line.to_owned()),
                }
            }
            None if line.trim().is_empty() => {
                timing = None;
                lines.push(String::new());
            }
            None => {
                let (text, top) = cue_text(line);
                if top
                    && let Some(at) = timing
                    && !lines[at].contains("line:")
                {
                    lines[at].push_str(" line:5%");
                }
                lines.push(text);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A cue's text line with its `{…}` tags translated; whether it asks to
/// be at the top (`{\an8}`).
fn cue_text(line: &str) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let mut top = false;
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let tag = &rest[open + 1..open + len];
        let name = tag.strip_prefix('\\').unwrap_or(tag);
        match name {
            "i" | "i1" | "b" | "b1" | "u" | "u1" => {
                out.push_str(&format!("<{}>", &name[..1]));
            }
            "i0" | "b0" | "u0" => out.push_str(&format!("</{}>", &name[..1])),
            "/i" | "/b" | "/u" => out.push_str(&format!("<{name}>")),
            "an8" => top = true,
            _ if tag.starts_with('\\') => {}
            _ => out.push_str(&rest[open..=open + len]),
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    (out, top)
}

/// `0:00:01,5` or `00:00:01,500` as `00:00:01.500`.
fn cue_time(t: &str) -> Option<String> {
    let t = t.trim();
    let (hms, frac) = t.split_once([',', '.']).unwrap_or((t, "0"));
    let parts: Vec<u64> = hms
        .split(':')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match parts[..] {
        [h, m, s] => (h, m, s),
        [m, s] => (0, m, s),
        _ => return None,
    };
    let digits: String = frac.chars().take(3).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || m > 59 || s > 59 {
        return None;
    }
    let ms: u64 = format!("{digits:0<3}").parse().ok()?;
    Some(format!("{h:02}:{m:02}:{s:02}.{ms:03}"))
}

/// Runs ffmpeg with `input` arguments (and `stdin` fed, if any), writing
/// WebVTT to its stdout.
pub(crate) async fn to_vtt(ffmpeg: &Path, input: &[&str], stdin: Option<String>) -> Result<String> {
    let mut cmd = quiet_ffmpeg(ffmpeg);
    cmd.args(input)
        .args(["-c:s", "webvtt", "-f", "webvtt", "pipe:1"])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| NodeError::io("run", ffmpeg, e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_SUBTITLE as u64)
            .read_to_end(&mut out)
            .await
            .map_err(|e| NodeError::io("read", ffmpeg, e))?;
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| NodeError::io("wait for", ffmpeg, e))?;
    if !status.success() || out.is_empty() {
        return Err(NodeError::Invalid(format!(
            "these subtitles cannot become WebVTT ({})",
            tail(&err)
        )));
    }
    String::from_utf8(out)
        .map_err(|_| NodeError::Invalid("ffmpeg wrote WebVTT that is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subrip_becomes_webvtt_with_dotted_times() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n2\r\n0:00:03,5 --> 0:00:04,25 X1:10\r\n<i>Bye</i>\r\n";
        let vtt = srt_to_vtt(srt);
        assert!(
            vtt.starts_with("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\nHello\n"),
            "{vtt}"
        );
        assert!(
            vtt.contains("00:00:03.500 --> 00:00:04.250 X1:10\n<i>Bye</i>\n"),
            "{vtt}"
        );
        assert_eq!(cue_time("01:02:03,4"), Some("01:02:03.400".into()));
        assert_eq!(cue_time("02:03"), Some("00:02:03.000".into()));
        assert_eq!(cue_time("aa:00:00,000"), None);
        assert_eq!(cue_time("00:61:00,000"), None);
    }

    #[test]
    fn ssa_tags_in_subrip_become_webvtt_tags_and_settings() {
        let srt = "1\n00:00:01,000 --> 00:00:02,000\n{\\an8}{\\i1}Top{\\i0} {b}bold{/b}\n{\\pos(10,10)}{u}x{\\u0} {note}\n";
        let vtt = srt_to_vtt(srt);
        assert!(
            vtt.contains(
                "00:00:01.000 --> 00:00:02.000 line:5%\n<i>Top</i> <b>bold</b>\n<u>x</u> {note}\n"
            ),
            "{vtt}"
        );
    }

    #[test]
    fn legacy_encodings_are_detected() {
        // "Déjà vu, garçon" in Windows-1252.
        let cp1252 = b"D\xe9j\xe0 vu, gar\xe7on\n".repeat(20);
        assert!(decode(&cp1252).starts_with("Déjà vu, garçon"));
        assert_eq!(decode("héllo".as_bytes()), "héllo");
        let bom = [&[0xEF, 0xBB, 0xBF][..], "hé".as_bytes()].concat();
        assert_eq!(decode(&bom), "hé");
    }

    fn entry(id: &str, name: &str) -> Entry {
        Entry {
            id: id.into(),
            parent: None,
            kind: crate::EntryKind::File,
            name: name.into(),
            blob: None,
            size: 1,
            content_type: None,
            created: 0,
            modified: 0,
            downloads: 0,
            owner: None,
        }
    }

    #[test]
    fn sidecars_match_the_video_s_name() {
        let video = entry("v", "Sintel.2010.mkv");
        let en = sidecar(&video, &entry("a", "Sintel.2010.en.srt")).unwrap();
        assert_eq!(
            (en.language.as_deref(), en.format.as_str()),
            (Some("en"), "srt")
        );
        let plain = sidecar(&video, &entry("b", "Sintel.2010.SRT")).unwrap();
        assert_eq!(plain.language, None);
        let titled = sidecar(&video, &entry("c", "Sintel.2010.Director's cut.ass")).unwrap();
        assert_eq!(titled.title.as_deref(), Some("Director's cut"));
        assert!(sidecar(&video, &entry("d", "Sintel.2011.srt")).is_none());
        assert!(sidecar(&video, &entry("e", "Sintel.2010.en.txt")).is_none());
        assert!(sidecar(&video, &entry("f", "Sintel.2010en.srt")).is_none());
        assert!(is_language("pt-BR") && !is_language("Director"));
    }
}
