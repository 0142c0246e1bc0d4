//! HLS video on demand: a playlist whose segments sit on the source's key
//! frame grid, and the segments, each made once by ffmpeg "heads".
//!
//! The grid is the whole design. Segment `n` covers `[start(n),
//! start(n + 1))`, where every start is a key frame of the source (a
//! regular grid for audio alone), chosen once from the probe. A head is
//! one ffmpeg that begins at a segment's start (`-ss` before `-i`, so it
//! seeks instead of decoding from the beginning), keeps the source's
//! timestamps (`-copyts`, `mpegts_copyts`), and cuts at exactly the next
//! starts (`-segment_times`; when it encodes, `-force_key_frames` at the
//! same times). So a segment holds the same frames with the same
//! timestamps whichever head made it, and the playlist and the cuts
//! cannot drift apart after a seek. The durations in the playlist are the
//! grid's, so there is no extra segment at the end either.
//!
//! Heads: a request for a segment that no head will reach soon starts a
//! head there (a seek far ahead does not wait for the old one); a head
//! goes on while it is needed, a few segments past the last one asked
//! ([`Settings::prefetch`] twice), stops when the next segment is already
//! made (another head got there), and is killed when nobody asked for
//! its segments for [`Settings::idle`] and no request waits on its
//! variant. Heads and progressive streams
//! share [`Encoders`]; when all are busy, a head nobody waits for is
//! stopped for the new one. Parallel requests for one segment wait for
//! the same head and get the same bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::MediaSource;
use super::inputs::Inputs;
use super::plan::Plan;
use super::probe::Probe;
use super::segments::Segments;
use super::tools::{in_background, keep_errors, quiet_ffmpeg, tail};
use crate::NodeError;
use crate::shared::Shared;

type Result<T> = std::result::Result<T, NodeError>;

/// Half a millisecond: seeks and cuts aim this far to the safe side of a
/// key frame, whose time ffprobe prints rounded to the microsecond.
const EPSILON: f64 = 0.0005;

/// Cuts and forced key frames aim this far before a segment's start, so
/// that the frame there, whatever its rounding, is past it.
const CUT_MARGIN: f64 = 0.004;

/// Where an encoded variant's timeline starts, in seconds.
const ENCODED_BASE: f64 = 10.0;

/// How often a request waiting for its segment looks again.
const WAITING_TICK: Duration = Duration::from_secs(1);

/// A request waits this long for its segment before it is refused.
const SEGMENT_WAIT: Duration = Duration::from_secs(120);

/// A head that covers a segment this many segments before it reaches it
/// is waited for, rather than a new one started.
const REACH: usize = 2;

/// A failed head's error is answered to requests for its first segment
/// for this long; later ones try again.
const FAILURE_KEPT: Duration = Duration::from_secs(5);

/// Boundaries passed to one head at most (it stops at the last).
const MAX_CUTS: usize = 1000;

/// A variant nobody asked for this long is forgotten (its segments stay
/// cached).
const VARIANT_KEPT: Duration = Duration::from_secs(600);

/// How HLS is made (from `[media]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Shortest segment, in seconds (the grid's spacing).
    pub(crate) segment_secs: f64,
    /// Segments made ahead of the last one asked.
    pub(crate) prefetch: usize,
    /// A head nobody needed for this long is killed.
    pub(crate) idle: Duration,
}

/// The segments of one file: their starts, and where the last ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    starts: Vec<f64>,
    end: f64,
}

impl Grid {
    /// The grid of `probe`'s file: key frames at least `target` seconds
    /// apart (a regular grid for audio alone); a short last segment is
    /// merged into the one before.
    pub(crate) fn of(probe: &Probe, target: f64) -> Self {
        let end = probe.end();
        let regular = || {
            let count = (probe.duration / target).ceil().max(1.0) as usize;
            (0..count)
                .map(|i| probe.start + i as f64 * target)
                .collect()
        };
        let points: Vec<f64> = if probe.video().is_some() && !probe.keyframes.is_empty() {
            probe.keyframes.clone()
        } else {
            regular()
        };
        let mut starts = vec![points[0]];
        for &k in &points[1..] {
            let last = starts[starts.len() - 1];
            if k - last >= target - 1e-3 && end - k > 1e-3 {
                starts.push(k);
            }
        }
        if starts.len() > 1 && end - starts[starts.len() - 1] < target / 2.0 {
            starts.pop();
        }
        Self { starts, end }
    }

    /// How many segments.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Where segment `n` starts.
    pub(crate) fn start(&self, n: usize) -> f64 {
        self.starts[n]
    }

    /// Where segment `n` ends.
    pub(crate) fn end_of(&self, n: usize) -> f64 {
        self.starts.get(n + 1).copied().unwrap_or(self.end)
    }

    /// From the first segment's start to the last one's end, in seconds.
    pub(crate) fn span(&self) -> f64 {
        self.end - self.starts[0]
    }

    /// The playlist: every segment with its duration, `uri(n)` naming it.
    pub(crate) fn playlist(&self, uri: &(dyn Fn(usize) -> String + Sync)) -> String {
        let longest = (0..self.len())
            .map(|n| self.end_of(n) - self.start(n))
            .fold(0.0, f64::max);
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
            longest.ceil().max(1.0) as u64
        );
        for n in 0..self.len() {
            let duration = self.end_of(n) - self.start(n);
            text.push_str(&format!("#EXTINF:{duration:.6},\n{}\n", uri(n)));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        text
    }
}

/// A subtitle track of a master playlist.
pub(crate) struct Rendition<'a> {
    /// Its name in the player's menu (unique in the playlist).
    pub(crate) name: &'a str,
    /// A language tag, when it has one.
    pub(crate) language: Option<&'a str>,
    pub(crate) default: bool,
    pub(crate) forced: bool,
    /// Its playlist.
    pub(crate) uri: &'a str,
}

/// A master playlist: one variant at `variant_uri` (its peak bit rate
/// and picture size), and the subtitle renditions beside it, in the
/// group `subs`.
pub(crate) fn master_playlist(
    bandwidth: u64,
    resolution: Option<(u32, u32)>,
    variant_uri: &str,
    subtitles: &[Rendition],
) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for r in subtitles {
        let mut line = format!(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"{}\"",
            quoted(r.name)
        );
        if let Some(lang) = r.language {
            line.push_str(&format!(",LANGUAGE=\"{}\"", quoted(lang)));
        }
        let yes = |b: bool| if b { "YES" } else { "NO" };
        line.push_str(&format!(
            ",DEFAULT={},AUTOSELECT=YES,FORCED={},URI=\"{}\"\n",
            yes(r.default),
            yes(r.forced),
            quoted(r.uri)
        ));
        text.push_str(&line);
    }
    text.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}"));
    if let Some((w, h)) = resolution {
        text.push_str(&format!(",RESOLUTION={w}x{h}"));
    }
    if !subtitles.is_empty() {
        text.push_str(",SUBTITLES=\"subs\"");
    }
    text.push_str(&format!("\n{variant_uri}\n"));
    text
}

/// A variant's peak bit rate for its master playlist, in bits/s: the
/// streams' own rates when copied (the file's when a stream does not say),
/// the caps given to the encoders otherwise, with a fifth more for the
/// container and the peaks.
pub(crate) fn peak_bandwidth(probe: &Probe, plan: &Plan) -> u64 {
    let rate = |track: &Option<super::Track>, capped: Option<u32>, unknown: u64| match track {
        None => 0,
        Some(t) if t.copy => probe
            .streams
            .iter()
            .find(|s| s.index == t.stream)
            .and_then(|s| s.bit_rate)
            .unwrap_or(unknown),
        Some(_) => u64::from(capped.unwrap_or(0)) * 1000,
    };
    let whole = probe.bit_rate.unwrap_or(5_000_000);
    let video = rate(&plan.video, plan.video_kbps, whole);
    let audio = rate(&plan.audio, plan.audio_kbps, 192_000);
    (video + audio).max(64_000) * 6 / 5
}

/// The playlist of a subtitle rendition: one WebVTT segment at `uri`
/// spanning the whole file.
pub(crate) fn subtitle_playlist(span: f64, uri: &str) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:{span:.6},\n{uri}\n#EXT-X-ENDLIST\n",
        span.ceil().max(1.0) as u64
    )
}

/// `vtt` with the header that puts its cues on a variant's timeline:
/// its time 0 is `mpegts` (90 kHz) in the segments.
pub(crate) fn with_timestamp_map(vtt: &str, mpegts: u64) -> String {
    let map = format!("X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000");
    let vtt = vtt.strip_prefix('\u{feff}').unwrap_or(vtt);
    match vtt.split_once('\n') {
        Some((first, rest)) if first.trim_end().starts_with("WEBVTT") => {
            format!("{}\n{map}\n{rest}", first.trim_end())
        }
        _ => format!("WEBVTT\n{map}\n\n{vtt}"),
    }
}

/// A playlist's quoted string: no quotes, no line breaks.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| if c == '"' { '\'' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// The encoders every transcode shares: at most `[media] encoders` ffmpeg
/// processes at once.
#[derive(Clone)]
pub(crate) struct Encoders {
    permits: Arc<Semaphore>,
    total: usize,
}

impl Encoders {
    pub(crate) fn new(total: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Encoders running now.
    pub(crate) fn running(&self) -> usize {
        self.total - self.permits.available_permits()
    }

    pub(crate) fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    pub(crate) async fn take_within(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

/// One file at one profile: its grid, its plan, its heads.
pub(crate) struct Variant {
    key: String,
    /// Where the file's timeline starts (the probe's start time).
    origin: f64,
    grid: Grid,
    plan: Plan,
    source: MediaSource,
    state: Mutex<VariantState>,
    changed: watch::Sender<u64>,
}

struct VariantState {
    heads: Vec<Head>,
    /// Requests waiting for a segment of this variant now: while there
    /// are some, its heads are never reaped as idle.
    waiting: usize,
    /// The last head that failed: its first segment, why, when.
    failure: Option<(usize, String, Instant)>,
    last_asked: Instant,
}

struct Head {
    id: u64,
    first: usize,
    /// The segment it makes next.
    next: usize,
    /// The furthest segment asked of it.
    asked_upto: usize,
    needed_at: Instant,
    stop: CancellationToken,
}

impl Variant {
    pub(crate) fn grid(&self) -> &Grid {
        &self.grid
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where the file's start lands in the segments made, at 90 kHz: the
    /// time 0 of its subtitles.
    pub(crate) fn start_mpegts(&self) -> u64 {
        (self.out_time(self.origin) * 90_000.0).round().max(0.0) as u64
    }

    /// Where source time `t` lands in the segments made: the source's own
    /// time when copying; when encoding, the time from the file's start
    /// plus [`ENCODED_BASE`], so that no frame's decoding time (ahead of
    /// its display time by the encoder's B-frame delay) is below zero, and
    /// every head, the first included, times its frames alike.
    fn out_time(&self, t: f64) -> f64 {
        if self.plan.encodes_video() {
            t - self.origin + ENCODED_BASE
        } else {
            t
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VariantState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The HLS maker: variants by key, the segment cache, the heads.
pub(crate) struct Hls {
    shared: Arc<Shared>,
    inputs: Arc<Inputs>,
    cache: Segments,
    encoders: Encoders,
    settings: Settings,
    variants: Mutex<HashMap<String, Arc<Variant>>>,
    heads_made: AtomicU64,
}

impl Hls {
    pub(crate) fn new(
        shared: Arc<Shared>,
        inputs: Arc<Inputs>,
        cache: Segments,
        encoders: Encoders,
        settings: Settings,
    ) -> Arc<Self> {
        let hls = Arc::new(Self {
            shared,
            inputs,
            cache,
            encoders,
            settings,
            variants: Mutex::new(HashMap::new()),
            heads_made: AtomicU64::new(0),
        });
        hls.start_reaper();
        hls
    }

    /// The variant `key` (made from `probe` and `plan` the first time).
    pub(crate) fn variant(
        &self,
        key: String,
        probe: &Probe,
        plan: Plan,
        source: MediaSource,
    ) -> Arc<Variant> {
        let mut variants = self.variants();
        variants
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Variant {
                    grid: Grid::of(probe, self.settings.segment_secs),
                    origin: probe.start,
                    key,
                    plan,
                    source,
                    state: Mutex::new(VariantState {
                        heads: Vec::new(),
                        waiting: 0,
                        failure: None,
                        last_asked: Instant::now(),
                    }),
                    changed: watch::channel(0).0,
                })
            })
            .clone()
    }

    /// Segment `n` of `variant`: from the cache, or made by a head.
    pub(crate) async fn segment(
        self: &Arc<Self>,
        variant: &Arc<Variant>,
        n: usize,
        ffmpeg: &Path,
    ) -> Result<Bytes> {
        if n >= variant.grid.len() {
            return Err(NodeError::NotFound(format!(
                "no segment {n}: the playlist has {}",
                variant.grid.len()
            )));
        }
        let deadline = tokio::time::Instant::now() + SEGMENT_WAIT;
        let mut changed = variant.changed.subscribe();
        let _waiting = Waiting::on(variant);
        loop {
            changed.borrow_and_update();
            if let Some(bytes) = self.cache.read(&variant.key, n).await? {
                self.prefetch(variant, n, ffmpeg);
                return Ok(bytes);
            }
            self.ensure_head(variant, n, ffmpeg).await?;
            // Woken by a segment made or a head gone; else once a second,
            // to look again (a head that died without a word).
            tokio::select! {
                _ = changed.changed() => {}
                () = tokio::time::sleep(WAITING_TICK) => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(NodeError::Unavailable(format!(
                        "segment {n} was not made in {} s", SEGMENT_WAIT.as_secs()
                    )));
                }
            }
        }
    }

    /// Makes sure a head will make segment `n`: marks those that will as
    /// needed, or starts one there.
    async fn ensure_head(
        self: &Arc<Self>,
        variant: &Arc<Variant>,
        n: usize,
        ffmpeg: &Path,
    ) -> Result<()> {
        let stop = {
            let mut state = variant.lock();
            let now = Instant::now();
            state.last_asked = now;
            if let Some((at, why, when)) = &state.failure
                && *at == n
                && when.elapsed() < FAILURE_KEPT
            {
                return Err(NodeError::Invalid(format!(
                    "segment {n} could not be made: {why}"
                )));
            }
            let mut covered = false;
            for head in state
                .heads
                .iter_mut()
                .filter(|h| h.first <= n && n <= h.next + REACH)
            {
                head.needed_at = now;
                head.asked_upto = head.asked_upto.max(n);
                covered = true;
            }
            if covered {
                return Ok(());
            }
            // A request no head will reach soon is a seek: the heads of this
            // variant elsewhere make what nobody waits for now, and would
            // take the cores from the one the player waits on.
            for head in &state.heads {
                head.stop.cancel();
            }
            self.add_head(&mut state, n)
        };
        self.start_head(variant, n, stop, ffmpeg).await
    }

    /// Starts a head at the first segment after `n` that is not made, if
    /// one of the next `prefetch` is missing, nobody makes it, and an
    /// encoder is free.
    fn prefetch(self: &Arc<Self>, variant: &Arc<Variant>, n: usize, ffmpeg: &Path) {
        let last = (n + self.settings.prefetch).min(variant.grid.len() - 1);
        let Some(missing) = (n + 1..=last).find(|m| !self.cache.has(&variant.key, *m)) else {
            return;
        };
        let stop = {
            let mut state = variant.lock();
            let now = Instant::now();
            let mut covered = false;
            for head in state
                .heads
                .iter_mut()
                .filter(|h| h.first <= missing && missing <= h.next + REACH)
            {
                head.needed_at = now;
                head.asked_upto = head.asked_upto.max(n);
                covered = true;
            }
            if covered {
                return;
            }
            self.add_head(&mut state, missing)
        };
        let Some(permit) = self.encoders.try_take() else {
            variant.lock().heads.retain(|h| h.id != stop.id);
            return;
        };
        let head = HeadId {
            background: true,
            ..stop
        };
        self.spawn_head(variant, missing, head, permit, ffmpeg);
    }

    /// Records a new head at `first` (so that other requests wait for it
    /// while it gets an encoder); its stop token.
    fn add_head(&self, state: &mut VariantState, first: usize) -> HeadId {
        let stop = CancellationToken::new();
        let id = self.heads_made.fetch_add(1, Ordering::Relaxed);
        state.heads.push(Head {
            id,
            first,
            next: first,
            asked_upto: first,
            needed_at: Instant::now(),
            stop: stop.clone(),
        });
        HeadId {
            id,
            stop,
            background: false,
        }
    }

    /// Gets an encoder for the head recorded at `first` (stopping a head
    /// nobody waits for, if all are busy) and spawns it.
    async fn start_head(
        self: &Arc<Self>,
        variant: &Arc<Variant>,
        first: usize,
        head: HeadId,
        ffmpeg: &Path,
    ) -> Result<()> {
        let permit = match self.encoders.try_take() {
            Some(p) => Some(p),
            None => {
                self.preempt(variant, first, head.id);
                self.encoders.take_within(Duration::from_secs(10)).await
            }
        };
        let Some(permit) = permit else {
            variant.lock().heads.retain(|h| h.id != head.id);
            return Err(NodeError::Unavailable(format!(
                "all {} media encoders are busy; try again shortly",
                self.encoders.total()
            )));
        };
        if head.stop.is_cancelled() {
            return Ok(());
        }
        self.spawn_head(variant, first, head, permit, ffmpeg);
        Ok(())
    }

    /// Stops one head for a new one (`mine`) at segment `n` of `variant`:
    /// a head of the same variant that does not cover `n` (the old
    /// position after a seek), else the head needed least recently, if
    /// not in the last second.
    fn preempt(&self, variant: &Arc<Variant>, n: usize, mine: u64) {
        let variants: Vec<Arc<Variant>> = self.variants().values().cloned().collect();
        let mut best: Option<(Instant, CancellationToken)> = None;
        for v in &variants {
            let state = v.lock();
            for head in state.heads.iter().filter(|h| h.id != mine) {
                let elsewhere =
                    Arc::ptr_eq(v, variant) && !(head.first <= n && n <= head.next + REACH);
                let stale = head.needed_at.elapsed() > Duration::from_secs(1);
                if (elsewhere || stale) && best.as_ref().is_none_or(|b| head.needed_at < b.0) {
                    best = Some((head.needed_at, head.stop.clone()));
                }
            }
        }
        if let Some((_, stop)) = best {
            stop.cancel();
        }
    }

    /// Stops the head needed least recently, if not in the last second
    /// (an encoder for a progressive stream).
    pub(crate) fn stop_one_idle(&self) {
        let variants: Vec<Arc<Variant>> = self.variants().values().cloned().collect();
        let oldest = variants
            .iter()
            .flat_map(|v| {
                let state = v.lock();
                state
                    .heads
                    .iter()
                    .map(|h| (h.needed_at, h.stop.clone()))
                    .collect::<Vec<_>>()
            })
            .filter(|(at, _)| at.elapsed() > Duration::from_secs(1))
            .min_by_key(|(at, _)| *at);
        if let Some((_, stop)) = oldest {
            stop.cancel();
        }
    }

    fn spawn_head(
        self: &Arc<Self>,
        variant: &Arc<Variant>,
        first: usize,
        head: HeadId,
        permit: OwnedSemaphorePermit,
        ffmpeg: &Path,
    ) {
        let (hls, variant, ffmpeg) = (self.clone(), variant.clone(), ffmpeg.to_path_buf());
        let HeadId {
            id,
            stop,
            background,
        } = head;
        self.shared.spawn("hls-head", async move {
            let outcome = hls
                .run_head(&variant, first, id, &stop, &ffmpeg, background)
                .await;
            drop(permit);
            let made_none = {
                let mut state = variant.lock();
                let me = state.heads.iter().position(|h| h.id == id);
                let head = me.map(|i| state.heads.remove(i));
                let made_none = head.is_some_and(|h| h.next == h.first);
                if let (Err(e), true) = (&outcome, made_none && !stop.is_cancelled()) {
                    state.failure = Some((first, e.to_string(), Instant::now()));
                }
                made_none
            };
            variant.notify();
            match outcome {
                Err(e) if made_none && !stop.is_cancelled() => {
                    tracing::warn!(variant = %variant.key, first, error = %e, "an HLS head failed");
                    Ok(())
                }
                _ => Ok(()),
            }
        });
    }

    /// One head: ffmpeg from segment `first`, each segment it finishes
    /// moved into the cache, until it is not needed or the media ends.
    async fn run_head(
        &self,
        variant: &Arc<Variant>,
        first: usize,
        id: u64,
        stop: &CancellationToken,
        ffmpeg: &Path,
        background: bool,
    ) -> Result<()> {
        let dir = self.cache.variant_dir(&variant.key)?.join(format!("h{id}"));
        cairn_store::private::create_dir_all(&dir).map_err(|e| NodeError::io("create", &dir, e))?;
        let _dir = RemoveDir(dir.clone());
        let input = self.inputs.lend(variant.source.clone())?;
        let mut cmd = quiet_ffmpeg(ffmpeg);
        cmd.args(head_args(variant, first, input.url(), &dir));
        if background {
            in_background(&mut cmd);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| NodeError::io("run", ffmpeg, e))?;
        let errors = keep_errors(&mut child);
        let mut lines = match child.stdout.take() {
            Some(out) => BufReader::new(out).lines(),
            None => return Err(NodeError::Internal("ffmpeg has no stdout".into())),
        };
        let mut expected = first;
        loop {
            let line = tokio::select! {
                () = stop.cancelled() => break,
                line = lines.next_line() => line.map_err(|e| NodeError::io("read", ffmpeg, e))?,
            };
            let Some(line) = line else { break };
            match self.take_segment(variant, &dir, expected, &line)? {
                Next::Go => expected += 1,
                Next::Stop => break,
            }
        }
        let _ = child.start_kill();
        let status = child
            .wait()
            .await
            .map_err(|e| NodeError::io("wait for", ffmpeg, e))?;
        let stderr = errors.await.unwrap_or_default();
        drop(input);
        if expected == first && !stop.is_cancelled() && !status.success() {
            return Err(NodeError::Invalid(format!(
                "ffmpeg failed ({status}): {}",
                tail(&stderr)
            )));
        }
        Ok(())
    }

    /// Takes one line of the head's segment list (`name,start,end`):
    /// checks that the cut is on the grid, moves the file into the cache,
    /// and says whether the head goes on.
    fn take_segment(
        &self,
        variant: &Arc<Variant>,
        dir: &Path,
        n: usize,
        line: &str,
    ) -> Result<Next> {
        let grid = &variant.grid;
        let end = line
            .rsplit(',')
            .next()
            .and_then(|e| e.trim().parse::<f64>().ok());
        let last = n + 1 == grid.len();
        let expected = variant.out_time(grid.end_of(n));
        let on_grid = last || end.is_some_and(|e| (e - expected).abs() < 0.1);
        let made = dir.join(format!("{n}.ts"));
        if !on_grid || !made.exists() {
            tracing::warn!(variant = %variant.key, segment = n, line, expected, "ffmpeg cut off the grid; segment dropped");
            let _ = std::fs::remove_file(&made);
            return Ok(Next::Stop);
        }
        let fresh = self.cache.put(&variant.key, n, &made)?;
        let goes_on = {
            let mut state = variant.lock();
            let now_needed = state.heads.iter_mut().find(|h| h.first <= n && h.next == n);
            match now_needed {
                Some(head) => {
                    head.next = n + 1;
                    let ahead = head.asked_upto + 2 * self.settings.prefetch.max(1);
                    fresh && !last && n < ahead && !self.cache.has(&variant.key, n + 1)
                }
                None => false,
            }
        };
        variant.notify();
        Ok(if goes_on { Next::Go } else { Next::Stop })
    }

    /// Every half second: kills heads nobody needed for `idle`, forgets
    /// variants nobody asked for in a long time.
    fn start_reaper(self: &Arc<Self>) {
        let hls = Arc::downgrade(self);
        let shutdown = self.shared.shutdown.clone();
        self.shared.spawn("hls-reaper", async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(hls) = hls.upgrade() else { break };
                hls.reap();
            }
            if let Some(hls) = hls.upgrade() {
                hls.stop_all();
            }
            Ok(())
        });
    }

    fn reap(&self) {
        let idle = self.settings.idle;
        let mut variants = self.variants();
        variants.retain(|_, v| {
            let state = v.lock();
            let reapable = state.waiting == 0;
            for head in state
                .heads
                .iter()
                .filter(|h| reapable && h.needed_at.elapsed() > idle)
            {
                head.stop.cancel();
            }
            !state.heads.is_empty() || state.last_asked.elapsed() < VARIANT_KEPT
        });
    }

    fn stop_all(&self) {
        for v in self.variants().values() {
            for head in &v.lock().heads {
                head.stop.cancel();
            }
        }
    }

    /// Bytes of segments cached now.
    pub(crate) fn cache_bytes(&self) -> u64 {
        self.cache.used()
    }

    /// Heads running or starting now.
    pub(crate) fn heads(&self) -> usize {
        self.variants().values().map(|v| v.lock().heads.len()).sum()
    }

    fn variants(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Variant>>> {
        self.variants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A head recorded in its variant, not yet running.
struct HeadId {
    id: u64,
    stop: CancellationToken,
    /// Started ahead of the player (prefetch), not for a request that
    /// waits: it runs at a lower priority.
    background: bool,
}

enum Next {
    Go,
    Stop,
}

/// A request waiting for a segment of a variant, counted while it lives.
struct Waiting(Arc<Variant>);

impl Waiting {
    fn on(variant: &Arc<Variant>) -> Self {
        variant.lock().waiting += 1;
        Self(variant.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

/// Removes a head's folder (and what a killed ffmpeg left in it).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ffmpeg's arguments for a head of `variant` from segment `first`.
///
/// Copying, the head keeps the source's timestamps (`-copyts`): a copy
/// starts at the key frame at or before its seek, so it seeks just past
/// the segment's start, and the segment muxer cuts at the next starts'
/// key frames. Encoding, ffmpeg seeks exactly (frames before the target
/// are decoded and dropped, so it aims just before the key frame), counts
/// time from the seek, and `-output_ts_offset` puts the output on the
/// variant's timeline ([`Variant::out_time`]); key frames are forced
/// where the cuts go. Every encoding head seeks, from the first segment
/// on, so that all of them time their frames alike. `-ss` counts from
/// the file's start.
fn head_args(variant: &Variant, first: usize, url: &str, dir: &Path) -> Vec<String> {
    let (grid, plan) = (&variant.grid, &variant.plan);
    let encodes = plan.encodes_video();
    let from_origin = grid.start(first) - variant.origin;
    let seek = match (encodes, first) {
        (false, 0) => None,
        (false, _) => Some(from_origin + EPSILON),
        (true, _) => Some((from_origin - EPSILON).max(0.0)),
    };
    let mut args: Vec<String> = Vec::new();
    let input = |args: &mut Vec<String>, delay: Option<f64>| {
        if let Some(s) = seek {
            args.extend(["-ss".into(), format!("{s:.6}")]);
        }
        if let Some(d) = delay {
            args.extend(["-itsoffset".into(), format!("{d:.3}")]);
        }
        args.extend(["-i".into(), url.to_owned()]);
    };
    input(&mut args, None);
    if plan.audio_delay_ms != 0 {
        input(&mut args, Some(plan.audio_delay_ms as f64 / 1000.0));
    }
    args.extend(plan.codec_args());
    let list = |time: &dyn Fn(f64) -> f64| {
        (first + 1..grid.len())
            .take(MAX_CUTS)
            .map(|m| format!("{:.6}", time(grid.start(m)) - CUT_MARGIN))
            .chain(std::iter::once(format!(
                "{:.6}",
                time(grid.end_of(grid.len() - 1)) + 3600.0
            )))
            .collect::<Vec<_>>()
            .join(",")
    };
    if encodes {
        // Key frames are forced on the encoder's own clock, which counts
        // from the seek.
        let head_start = variant.origin + seek.unwrap_or(0.0);
        args.extend(["-force_key_frames".into(), list(&|t| t - head_start)]);
        // A frame at source time t leaves the encoder at t - head_start;
        // the offset moves it to out_time(t).
        let offset = variant.out_time(head_start);
        args.extend(["-output_ts_offset".into(), format!("{offset:.6}")]);
    } else {
        args.push("-copyts".into());
    }
    for a in [
        "-avoid_negative_ts",
        "disabled",
        "-f",
        "segment",
        "-segment_format",
        "mpegts",
        "-segment_format_options",
        "mpegts_copyts=1",
        "-segment_times",
    ] {
        args.push(a.into());
    }
    args.push(list(&|t| variant.out_time(t)));
    args.extend(["-segment_start_number".into(), first.to_string()]);
    args.extend(["-segment_list", "pipe:1", "-segment_list_type", "csv"].map(String::from));
    args.push(dir.join("%d.ts").to_string_lossy().into_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::probe::MediaStream;

    fn probe(keyframes: Vec<f64>, duration: f64, video: bool) -> Probe {
        let stream = MediaStream {
            index: 0,
            kind: if video { "video" } else { "audio" }.into(),
            codec: "h264".into(),
            profile: None,
            language: None,
            title: None,
            default: true,
            forced: false,
            cover: false,
            width: None,
            height: None,
            pixel_format: None,
            frame_rate: None,
            channels: None,
            sample_rate: None,
            bit_rate: None,
        };
        Probe {
            container: "mpegts".into(),
            duration,
            start: 0.0,
            bit_rate: None,
            streams: vec![stream],
            keyframes,
        }
    }

    #[test]
    fn segments_start_on_key_frames_at_least_the_target_apart() {
        // 23.976 fps, a key frame every 48 frames.
        let step = 48.0 * 1001.0 / 24000.0;
        let keys: Vec<f64> = (0..30).map(|i| i as f64 * step).collect();
        let grid = Grid::of(&probe(keys.clone(), 60.06, true), 4.0);
        assert_eq!(grid.start(1), keys[2]);
        assert_eq!(grid.len(), 15);
        // The durations add up to the media's, with no extra segment.
        let total: f64 = (0..grid.len())
            .map(|n| grid.end_of(n) - grid.start(n))
            .sum();
        assert!((total - 60.06).abs() < 1e-9);
        assert!(grid.end_of(grid.len() - 1) - grid.start(grid.len() - 1) > 2.0);
    }

    #[test]
    fn a_short_tail_joins_the_segment_before() {
        let grid = Grid::of(&probe(vec![0.0, 4.0, 8.0], 8.5, true), 4.0);
        assert_eq!(grid.len(), 2);
        assert_eq!(grid.end_of(1), 8.5);
    }

    #[test]
    fn audio_alone_gets_a_regular_grid() {
        let grid = Grid::of(&probe(vec![], 10.0, false), 4.0);
        assert_eq!(grid.starts, vec![0.0, 4.0, 8.0]);
        let grid = Grid::of(&probe(vec![], 9.0, false), 4.0);
        assert_eq!(grid.starts, vec![0.0, 4.0]);
    }

    #[test]
    fn the_playlist_lists_the_grid() {
        let grid = Grid::of(&probe(vec![0.0, 4.5, 9.0], 12.0, true), 4.0);
        let text = grid.playlist(&|n| format!("{n}.ts"));
        assert!(text.starts_with("#EXTM3U\n"));
        assert!(text.contains("#EXT-X-TARGETDURATION:5\n"));
        assert!(text.contains("#EXTINF:4.500000,\n0.ts\n"));
        assert!(text.contains("#EXTINF:3.000000,\n2.ts\n"));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(text.matches("#EXTINF").count(), 3);
    }

    #[test]
    fn the_master_lists_the_subtitles_as_renditions_of_the_variant() {
        let fr = Rendition {
            name: "Le \"film\"\n",
            language: Some("fr"),
            default: true,
            forced: false,
            uri: "sub-f1.m3u8?a=1",
        };
        let text = master_playlist(1_200_000, Some((1280, 720)), "index.m3u8?a=1", &[fr]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Le 'film'\",LANGUAGE=\"fr\",\
             DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"sub-f1.m3u8?a=1\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=1280x720,SUBTITLES=\"subs\"\n\
             index.m3u8?a=1\n"
        );
        let bare = master_playlist(64_000, None, "index.m3u8", &[]);
        assert!(bare.ends_with("#EXT-X-STREAM-INF:BANDWIDTH=64000\nindex.m3u8\n"));
    }

    #[test]
    fn subtitles_get_one_segment_and_a_timestamp_map() {
        let list = subtitle_playlist(6.04, "sub-s2.vtt");
        assert!(list.contains("#EXT-X-TARGETDURATION:7\n"), "{list}");
        assert!(list.contains("#EXTINF:6.040000,\nsub-s2.vtt\n#EXT-X-ENDLIST\n"));
        let map = "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000";
        assert_eq!(
            with_timestamp_map(
                "\u{feff}WEBVTT - a title\r\n\r\n00:01.000 --> 00:02.000\nHi\n",
                900000
            ),
            format!("WEBVTT - a title\n{map}\n\r\n00:01.000 --> 00:02.000\nHi\n")
        );
        assert_eq!(
            with_timestamp_map("00:01.000 --> 00:02.000\nHi\n", 900000),
            format!("WEBVTT\n{map}\n\n00:01.000 --> 00:02.000\nHi\n")
        );
    }
}
