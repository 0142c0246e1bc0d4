//! Media work with ffmpeg and ffprobe as child processes, the one place
//! that runs them.
//!
//! - [`probe`]: what a file holds (streams, key frames), once per blob;
//! - [`plan`]: per request, the file as it is, remuxed or transcoded;
//! - [`progressive`]: a fragmented MP4 from any start time;
//! - [`hls`]: HLS on the source's key frame grid, segments made by
//!   encoder heads and kept in [`segments`], the cache;
//! - [`inputs`]: stored files lent to the tools as loopback URLs, read
//!   with ranges straight from the store (decrypted and verified as they
//!   are read): no plaintext copy of an input is ever written to disk;
//!   or a torrent's file ([`MediaSource`]), also while it downloads;
//! - `convert`: whole-file work (a duration, a transcode stored as a new
//!   file, a frame); `preview`: where a paid preview ends; `tools`:
//!   finding and running the tools.
//!
//! The tools are looked up on `PATH` once, when the node starts. A missing
//! tool is not an error at start: the calls that need it answer
//! [`NodeError::Unavailable`] ("ffmpeg is not installed …"), never a crash.
//! Outputs that become files (a converted mp4, a frame) are written under
//! `<data dir>/media-tmp/` and stored; HLS segments under `media-cache/`.
//! Both folders are emptied at every start.

mod convert;
mod hls;
mod inputs;
mod plan;
mod preview;
mod probe;
mod progressive;
mod remote;
mod segments;
mod subtitles;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use self::convert::{extract_jpeg, probe_duration, transcode_mp4};
use self::hls::{Encoders, Hls, Settings};
use self::inputs::{Input, Inputs};
pub use self::plan::{Plan, Profile, Quality, Size, Target, Track, Treatment};
use self::probe::Probes;
pub use self::probe::{MediaStream, Probe};
pub use self::progressive::MediaBody;
pub use self::remote::{RemoteBytes, RemoteMedia};

pub(crate) use self::preview::preview_end;
pub(crate) use self::segments::Segments;
pub use self::subtitles::SubtitleTrack;
pub(crate) use self::tools::{TempFile, Tools};
use crate::blobs::Blobs;
use crate::blobs::read::BlobHandle;
use crate::entries::Entries;
use crate::jobs::{Job, JobFor};
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Entry, EntryKind, JobRecord, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// The media service (`node.media()`). Cheap to clone.
#[derive(Clone)]
pub struct Media(Arc<State>);

struct State {
    shared: Arc<Shared>,
    tools: Tools,
    blobs: Blobs,
    entries: Entries,
    inputs: Arc<Inputs>,
    probes: Probes,
    encoders: Encoders,
    hls: Arc<Hls>,
}

impl Media {
    pub(crate) fn new(
        shared: Arc<Shared>,
        tools: Tools,
        cache: Segments,
        blobs: Blobs,
        entries: Entries,
    ) -> Self {
        let config = &shared.config.media;
        let encoders = Encoders::new(config.encoder_count());
        let settings = Settings {
            segment_secs: config.segment_secs,
            prefetch: config.prefetch,
            idle: Duration::from_secs(config.idle_secs),
        };
        let inputs = Arc::new(Inputs::default());
        let hls = Hls::new(
            shared.clone(),
            inputs.clone(),
            cache,
            encoders.clone(),
            settings,
        );
        Self(Arc::new(State {
            shared,
            tools,
            blobs,
            entries,
            inputs,
            probes: Probes::default(),
            encoders,
            hls,
        }))
    }

    /// The tools found at start.
    pub(crate) fn tools(&self) -> &Tools {
        &self.0.tools
    }

    /// Whether ffmpeg and ffprobe were found when the node started.
    pub fn available(&self) -> bool {
        self.0.tools.ffmpeg().is_ok() && self.0.tools.ffprobe().is_ok()
    }

    /// The duration in seconds of the media file entry `id` holds, via
    /// ffprobe ([`NodeError::Unavailable`] without it; `invalid` when the
    /// file has no duration, e.g. it is not media).
    pub async fn probe_duration(&self, id: &str) -> Result<f64> {
        let ffprobe = self.0.tools.ffprobe()?.to_path_buf();
        let entry = self.0.entries.entry(id).await?.entry;
        let input = self.lend_entry(&entry).await?;
        probe_duration(&ffprobe, input.url()).await
    }

    /// Starts converting file `entry` to browser-streamable mp4 (H.264/AAC,
    /// the index first) as a `convert` job for `owner`; the result is
    /// stored next to the original as `<name>.mp4`. Without ffmpeg or
    /// ffprobe: `unavailable`, at once.
    pub async fn convert_mp4(&self, entry: &Entry, owner: JobFor) -> Result<JobRecord> {
        if entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!("'{}' is a folder", entry.name)));
        }
        self.0.tools.ffmpeg()?;
        self.0.tools.ffprobe()?;
        let owner = JobFor {
            subject: Some(entry.id.clone()),
            folder: Some(entry.parent.clone().unwrap_or_default()),
            ..owner
        };
        let job = self
            .0
            .shared
            .jobs
            .start_for("convert", entry.name.clone(), None, true, owner);
        let job_id = job.id().to_owned();
        let (media, entry) = (self.clone(), entry.clone());
        self.0.shared.spawn("convert", async move {
            let outcome = media.run_convert(&job, &entry).await;
            let value = outcome.as_ref().map(|e| serde_json::json!({ "entry": e }));
            job.finish(value);
            outcome.map(|_| ())
        });
        self.0.shared.jobs.record(&job_id).await
    }

    async fn run_convert(&self, job: &Job, entry: &Entry) -> Result<Entry> {
        let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
        let ffprobe = self.0.tools.ffprobe()?.to_path_buf();
        let input = self.lend_entry(entry).await?;
        job.check()?;
        let duration = probe_duration(&ffprobe, input.url()).await?;
        let output = self.0.tools.output_file(".mp4")?;
        transcode_mp4(&ffmpeg, input.url(), output.path(), duration, job).await?;
        drop(input);
        let name = format!("{}.mp4", entry.name);
        let parent = entry.parent.clone();
        self.store_temp(output, parent, name, OnConflict::Rename, "convert")
            .await
    }

    /// A JPEG frame of video `entry`, a tenth of the way in (at most 30 s),
    /// stored as `name` in `parent` (replacing one of that name).
    pub async fn frame_jpeg(
        &self,
        entry: &Entry,
        parent: Option<String>,
        name: String,
    ) -> Result<Entry> {
        let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
        let ffprobe = self.0.tools.ffprobe()?.to_path_buf();
        let input = self.lend_entry(entry).await?;
        let duration = probe_duration(&ffprobe, input.url()).await.unwrap_or(0.0);
        let at = (duration / 10.0).min(30.0);
        let output = self.0.tools.output_file(".jpg")?;
        extract_jpeg(&ffmpeg, input.url(), output.path(), at).await?;
        drop(input);
        self.store_temp(output, parent, name, OnConflict::Replace, "frame")
            .await
    }

    /// Stores a finished temp file as a new entry (a job of kind `store`).
    async fn store_temp(
        &self,
        file: TempFile,
        parent: Option<String>,
        name: String,
        on_conflict: OnConflict,
        label: &str,
    ) -> Result<Entry> {
        let size = std::fs::metadata(file.path()).map(|m| m.len()).ok();
        let job = self
            .0
            .shared
            .jobs
            .start("store", format!("{label}: {name}"), size, false);
        let media = self.clone();
        blocking(move || {
            let path = file.path().to_path_buf();
            let outcome = std::fs::File::open(&path)
                .map_err(|e| NodeError::io("open", &path, e))
                .and_then(|mut src| {
                    media.0.entries.store_file(
                        &mut src,
                        &job,
                        parent.as_deref(),
                        &name,
                        on_conflict,
                        &|_| Ok(()),
                    )
                });
            job.finish(outcome.as_ref().map(|e| serde_json::json!({ "entry": e })));
            drop(file);
            outcome
        })
        .await
    }

    /// Lends file `entry`'s content to a tool (a loopback URL).
    async fn lend_entry(&self, entry: &Entry) -> Result<Input> {
        let blob = entry
            .blob
            .clone()
            .ok_or_else(|| NodeError::Invalid(format!("'{}' is a folder", entry.name)))?;
        let handle = self.0.blobs.open(&blob).await?;
        self.0.inputs.lend(MediaSource::Blob(handle))
    }
}

/// What the media service is doing, for the node's status.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaStatus {
    /// ffmpeg and ffprobe were found when the node started.
    pub available: bool,
    /// Encoders (ffmpeg streaming or making HLS) running now.
    pub encoders_running: usize,
    /// Encoders allowed at once (`[media] encoders`).
    pub encoders: usize,
    /// HLS heads running or starting now.
    pub hls_heads: usize,
    /// Bytes of HLS segments cached.
    pub cache_bytes: u64,
    /// Stored files lent to the tools now.
    pub inputs_lent: usize,
    /// yt-dlp was found when the node started (media on web pages).
    pub ytdlp: bool,
}

/// What a stream is made from: a stored file, a torrent's file (also
/// while it downloads), or media on a web page.
#[derive(Clone)]
pub enum MediaSource {
    /// A stored file (from this disk or the network), verified as read.
    Blob(BlobHandle),
    /// A torrent's file, read through the torrent (the pieces read first
    /// come first).
    Torrent(crate::torrents::TorrentFile),
    /// Media on a web page (yt-dlp found it), read through the node's
    /// checked fetch.
    Remote(Arc<RemoteMedia>),
}

impl From<BlobHandle> for MediaSource {
    fn from(handle: BlobHandle) -> Self {
        Self::Blob(handle)
    }
}

impl MediaSource {
    /// What names this content in the caches (a blob never changes, nor a
    /// torrent's file).
    fn key(&self) -> String {
        match self {
            Self::Blob(h) => format!("{}:{}", h.id(), h.size()),
            Self::Torrent(f) => format!("torrent:{}:{}:{}", f.info_hash, f.index, f.size),
            Self::Remote(m) => format!("remote:{}", m.url),
        }
    }

    /// Whether all of it can be read now, so a probe may scan it for key
    /// frames: a torrent's file still downloading is probed from its
    /// start alone (its HLS then encodes, on a regular grid).
    fn whole(&self) -> bool {
        match self {
            Self::Blob(_) => true,
            Self::Torrent(f) => f.complete,
            // Scanning all of a remote file for key frames would fetch it
            // whole: its HLS encodes on a regular grid instead.
            Self::Remote(_) => false,
        }
    }
}

/// Streaming: probes, decisions, progressive streams and HLS.
impl Media {
    /// What the service is doing now.
    pub fn status(&self) -> MediaStatus {
        MediaStatus {
            available: self.available(),
            encoders_running: self.0.encoders.running(),
            encoders: self.0.encoders.total(),
            hls_heads: self.0.hls.heads(),
            cache_bytes: self.0.hls.cache_bytes(),
            inputs_lent: self.0.inputs.count(),
            ytdlp: self.0.tools.ytdlp().is_ok(),
        }
    }

    /// Where the binary serves the inputs lent to the tools, e.g.
    /// `http://127.0.0.1:41234/input` (set once, at start).
    pub fn serve_inputs_at(&self, base: String) {
        self.0.inputs.serve_at(base);
    }

    /// The content lent under `token` to a tool, to serve with ranges
    /// (`not found` once the tool's work is over).
    pub fn input(&self, token: &str) -> Result<MediaSource> {
        self.0.inputs.get(token)
    }

    /// What `source` holds: container, duration, streams, key frames
    /// (probed once per blob or torrent file; a torrent's file still
    /// downloading without its key frames, which would need all of it).
    pub async fn probe(&self, source: &MediaSource) -> Result<Arc<Probe>> {
        let key = format!("{}:{}", source.key(), source.whole());
        if let Some(probe) = self.0.probes.get(&key) {
            return Ok(probe);
        }
        let ffprobe = self.0.tools.ffprobe()?.to_path_buf();
        let input = self.0.inputs.lend(source.clone())?;
        let probe = probe::probe(&ffprobe, input.url(), source.whole()).await?;
        let probe = Arc::new(probe);
        self.0.probes.put(key, probe.clone());
        Ok(probe)
    }

    /// A progressive stream of the file from `start` seconds: fragmented
    /// MP4 (or Matroska), its streams copied where the player takes them.
    pub async fn stream(
        &self,
        source: &MediaSource,
        profile: &Profile,
        target: Target,
        start: f64,
    ) -> Result<MediaBody> {
        let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
        let probe = self.probe(source).await?;
        check_start(&probe, start)?;
        let plan = Plan::new(&probe, profile, target)?;
        let encoder = self.encoder().await?;
        let input = self.0.inputs.lend(source.clone())?;
        progressive::start(&ffmpeg, input, &plan, target, start, encoder).await
    }

    /// The HLS playlist of the file for `profile`: segments on its key
    /// frame grid, `uri(n)` naming segment `n`.
    pub async fn hls_playlist(
        &self,
        source: &MediaSource,
        profile: &Profile,
        uri: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<String> {
        self.0.tools.ffmpeg()?;
        let variant = self.variant(source, profile).await?;
        Ok(variant.grid().playlist(uri))
    }

    /// The HLS master playlist of the file for `profile`: its one variant
    /// at `variant_uri`, and a subtitle rendition for each text track of
    /// `tracks` (named by `track_uri`), so that players offer them.
    pub async fn hls_master(
        &self,
        source: &MediaSource,
        profile: &Profile,
        tracks: &[SubtitleTrack],
        variant_uri: &str,
        track_uri: &(dyn Fn(&SubtitleTrack) -> String + Sync),
    ) -> Result<String> {
        self.0.tools.ffmpeg()?;
        let probe = self.probe(source).await?;
        let variant = self.variant(source, profile).await?;
        let plan = variant.plan();
        let resolution = match (&plan.scale, &plan.video) {
            (Some(size), _) => Some((size.width, size.height)),
            (None, Some(t)) => probe
                .streams
                .iter()
                .find(|s| s.index == t.stream)
                .and_then(|s| Some((s.width?, s.height?))),
            (None, None) => None,
        };
        let text: Vec<&SubtitleTrack> = tracks.iter().filter(|t| t.text).collect();
        let names = subtitles::menu_names(&text);
        let uris: Vec<String> = text.iter().map(|t| track_uri(t)).collect();
        let first_default = text.iter().position(|t| t.default);
        let renditions: Vec<hls::Rendition> = text
            .iter()
            .enumerate()
            .map(|(i, t)| hls::Rendition {
                name: &names[i],
                language: t.language.as_deref().filter(|l| subtitles::is_language(l)),
                default: first_default == Some(i),
                forced: t.forced,
                uri: &uris[i],
            })
            .collect();
        Ok(hls::master_playlist(
            hls::peak_bandwidth(&probe, plan),
            resolution,
            variant_uri,
            &renditions,
        ))
    }

    /// The HLS playlist of one subtitle rendition of the file for
    /// `profile`: the WebVTT at `uri` as one segment spanning the file.
    pub async fn hls_subtitle_playlist(
        &self,
        source: &MediaSource,
        profile: &Profile,
        uri: &str,
    ) -> Result<String> {
        let variant = self.variant(source, profile).await?;
        Ok(hls::subtitle_playlist(variant.grid().span(), uri))
    }

    /// WebVTT `vtt` (from [`Media::subtitle_vtt`] or
    /// [`Media::stream_subtitle_vtt`]) as a segment of the file's HLS for
    /// `profile`: its cues mapped onto the video segments' timestamps.
    pub async fn hls_subtitle_vtt(
        &self,
        source: &MediaSource,
        profile: &Profile,
        vtt: &str,
    ) -> Result<String> {
        let variant = self.variant(source, profile).await?;
        Ok(hls::with_timestamp_map(vtt, variant.start_mpegts()))
    }

    /// Segment `n` of the file's HLS for `profile` (MPEG-TS), made once and
    /// cached; parallel requests get the same bytes.
    pub async fn hls_segment(
        &self,
        source: &MediaSource,
        profile: &Profile,
        n: usize,
    ) -> Result<Bytes> {
        let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
        let variant = self.variant(source, profile).await?;
        self.0.hls.segment(&variant, n, &ffmpeg).await
    }

    async fn variant(&self, source: &MediaSource, profile: &Profile) -> Result<Arc<hls::Variant>> {
        let probe = self.probe(source).await?;
        let plan = Plan::new(&probe, profile, Target::Hls)?;
        let profile_text = serde_json::to_string(profile)
            .map_err(|e| NodeError::Internal(format!("profile: {e}")))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(source.key().as_bytes());
        hasher.update(&[u8::from(source.whole())]);
        hasher.update(profile_text.as_bytes());
        let key = hasher.finalize().to_hex()[..32].to_owned();
        Ok(self.0.hls.variant(key, &probe, plan, source.clone()))
    }

    /// An encoder for a stream: a free one, else one an idle HLS head
    /// gives back.
    async fn encoder(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        if let Some(permit) = self.0.encoders.try_take() {
            return Ok(permit);
        }
        self.0.hls.stop_one_idle();
        self.0
            .encoders
            .take_within(Duration::from_secs(5))
            .await
            .ok_or_else(|| {
                NodeError::Unavailable(format!(
                    "all {} media encoders are busy; try again shortly",
                    self.0.encoders.total()
                ))
            })
    }
}

/// Media on web pages, through yt-dlp.
impl Media {
    /// The media on web page `page` (yt-dlp), at most `max_height` lines
    /// high when the site offers a choice: `unavailable` without yt-dlp,
    /// `invalid` for a page it cannot extract, `address_not_allowed` for a
    /// host the node may not fetch from.
    pub async fn resolve(&self, page: &str, max_height: Option<u32>) -> Result<RemoteMedia> {
        let ytdlp = self.0.tools.ytdlp()?.to_path_buf();
        remote::resolve(&ytdlp, &self.0.shared.config.remote, page, max_height).await
    }

    /// Bytes of `media` from `range.0` (to `range.1` inclusive), read
    /// through the node's checked fetch.
    pub async fn read_remote(
        &self,
        media: &RemoteMedia,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<RemoteBytes> {
        remote::read(&self.0.shared.config.remote, media, range).await
    }
}

/// Subtitles of stored videos, as WebVTT.
impl Media {
    /// The subtitle tracks of the stored video `entry`: its subtitle
    /// streams, and the sidecar files beside it in its folder.
    pub async fn subtitles(&self, entry: &Entry) -> Result<Vec<SubtitleTrack>> {
        let probe = self.probe(&self.source_of(entry).await?).await?;
        let mut tracks = subtitles::stream_tracks(&probe);
        tracks.extend(self.sidecars(entry).await?.into_iter().map(|(_, t)| t));
        Ok(tracks)
    }

    /// Track `track` of `entry` (an id from [`Media::subtitles`]) as
    /// WebVTT.
    pub async fn subtitle_vtt(&self, entry: &Entry, track: &str) -> Result<String> {
        let missing =
            || NodeError::NotFound(format!("no subtitle track '{track}' for '{}'", entry.name));
        if track.starts_with('s') {
            let source = self.source_of(entry).await?;
            return self.stream_subtitle_vtt(&source, track).await;
        }
        let (file, found) = self
            .sidecars(entry)
            .await?
            .into_iter()
            .find(|(_, t)| t.id == track)
            .ok_or_else(missing)?;
        self.subtitle_file_vtt(&self.read_small(&file).await?, &found.format)
            .await
    }

    /// Adds a subtitle file (`srt`, `vtt`, `ass` or `ssa`, in any text
    /// encoding) for stored video `entry`: stored beside it as its sidecar
    /// `<name without extension>[.<language>].<format>` (one of that
    /// language and format replaces the last), so it is listed and served
    /// with the video's tracks. The bytes must hold cues.
    pub async fn add_subtitle(
        &self,
        entry: &Entry,
        bytes: Bytes,
        format: &str,
        language: Option<&str>,
    ) -> Result<SubtitleTrack> {
        if entry.kind != EntryKind::File {
            return Err(NodeError::Invalid(format!("'{}' is a folder", entry.name)));
        }
        let format = format.to_ascii_lowercase();
        if !subtitles::SIDECARS.contains(&format.as_str()) {
            return Err(NodeError::Invalid(format!(
                "subtitles in '{format}' are not read: srt, vtt, ass or ssa"
            )));
        }
        if let Some(lang) = language
            && !subtitles::is_language(lang)
        {
            return Err(NodeError::Invalid(format!(
                "'{lang}' is not a language tag (en, fre, pt-BR)"
            )));
        }
        let vtt = self.subtitle_file_vtt(&bytes, &format).await?;
        if !vtt.contains("-->") {
            return Err(NodeError::Invalid("the file holds no subtitle cues".into()));
        }
        let stem = std::path::Path::new(&entry.name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(&entry.name);
        let name = match language {
            Some(lang) => format!("{stem}.{lang}.{format}"),
            None => format!("{stem}.{format}"),
        };
        let target = crate::UploadTarget {
            parent: entry.parent.clone(),
            name,
            on_conflict: OnConflict::Replace,
            wait_digests: false,
        };
        let size = bytes.len() as u64;
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        let stored = self.0.entries.upload(target, body, Some(size)).await?;
        subtitles::sidecar(entry, &stored.entry).ok_or_else(|| {
            NodeError::Internal("a subtitle stored beside its video is not its sidecar".into())
        })
    }

    /// The subtitle streams of `source` (tracks `s<index>`).
    pub async fn stream_subtitles(&self, source: &MediaSource) -> Result<Vec<SubtitleTrack>> {
        Ok(subtitles::stream_tracks(&*self.probe(source).await?))
    }

    /// Subtitle stream `track` (`s<index>`) of `source` as WebVTT.
    pub async fn stream_subtitle_vtt(&self, source: &MediaSource, track: &str) -> Result<String> {
        let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
        let index = track
            .strip_prefix('s')
            .and_then(|i| i.parse::<u32>().ok())
            .ok_or_else(|| NodeError::NotFound(format!("no subtitle stream '{track}'")))?;
        let probe = self.probe(source).await?;
        let found = subtitles::stream_tracks(&probe)
            .into_iter()
            .find(|t| t.id == track)
            .ok_or_else(|| NodeError::NotFound(format!("no subtitle stream '{track}'")))?;
        if !found.text {
            return Err(NodeError::Invalid(format!(
                "subtitle track '{track}' is pictures ({}), which WebVTT cannot hold",
                found.format
            )));
        }
        let input = self.0.inputs.lend(source.clone())?;
        let map = format!("0:{index}");
        subtitles::to_vtt(&ffmpeg, &["-i", input.url(), "-map", &map], None).await
    }

    /// A subtitle file's bytes (`srt`, `vtt`, `ass`, `ssa`, in any text
    /// encoding) as WebVTT.
    pub async fn subtitle_file_vtt(&self, bytes: &[u8], format: &str) -> Result<String> {
        if bytes.len() > subtitles::MAX_SUBTITLE {
            return Err(NodeError::Invalid(format!(
                "a subtitle file has at most {} bytes",
                subtitles::MAX_SUBTITLE
            )));
        }
        let text = subtitles::decode(bytes);
        match format.to_ascii_lowercase().as_str() {
            "srt" => Ok(subtitles::srt_to_vtt(&text)),
            "vtt" if text.trim_start().starts_with("WEBVTT") => Ok(text),
            "vtt" => Ok(format!("WEBVTT\n\n{text}")),
            format @ ("ass" | "ssa") => {
                let ffmpeg = self.0.tools.ffmpeg()?.to_path_buf();
                subtitles::to_vtt(&ffmpeg, &["-f", format, "-i", "pipe:0"], Some(text)).await
            }
            other => Err(NodeError::Invalid(format!(
                "subtitles in '{other}' are not read: srt, vtt, ass or ssa"
            ))),
        }
    }

    /// The stored file `entry` as a media source.
    async fn source_of(&self, entry: &Entry) -> Result<MediaSource> {
        let blob = entry
            .blob
            .clone()
            .ok_or_else(|| NodeError::Invalid(format!("'{}' is a folder", entry.name)))?;
        Ok(MediaSource::Blob(self.0.blobs.open(&blob).await?))
    }

    /// The sidecar subtitle files of `entry` in its folder.
    async fn sidecars(&self, entry: &Entry) -> Result<Vec<(Entry, SubtitleTrack)>> {
        let siblings = self
            .0
            .entries
            .children(entry.parent.clone(), 20_000)
            .await?;
        Ok(siblings
            .into_iter()
            .filter_map(|other| subtitles::sidecar(entry, &other).map(|t| (other, t)))
            .collect())
    }

    /// The bytes of a small stored file (a sidecar).
    async fn read_small(&self, file: &Entry) -> Result<Vec<u8>> {
        if file.size > subtitles::MAX_SUBTITLE as u64 {
            return Err(NodeError::Invalid(format!(
                "'{}' is too large for subtitles ({} bytes)",
                file.name, file.size
            )));
        }
        let MediaSource::Blob(handle) = self.source_of(file).await? else {
            return Err(NodeError::Internal("a stored file is a blob".into()));
        };
        blocking(move || {
            let mut bytes = Vec::with_capacity(handle.size() as usize);
            handle.for_each_piece(0..handle.size(), |piece| {
                bytes.extend_from_slice(&piece);
                Ok(())
            })?;
            Ok(bytes)
        })
        .await
    }
}

/// Refuses a start time past the end of the media.
fn check_start(probe: &Probe, start: f64) -> Result<()> {
    if !start.is_finite() || start < 0.0 {
        return Err(NodeError::Invalid(format!(
            "start {start} is not a time in seconds"
        )));
    }
    if start >= probe.duration {
        return Err(NodeError::Invalid(format!(
            "start {start} s is past the end of the media ({:.3} s)",
            probe.duration
        )));
    }
    Ok(())
}
