//! Media work with ffmpeg and ffprobe as child processes, the one place
//! that runs them: probing a duration, where a preview of so many seconds
//! ends, transcoding to browser-streamable mp4, extracting a frame.
//!
//! The tools are looked up on `PATH` once, when the node starts. A missing
//! tool is not an error at start: the calls that need it answer
//! [`NodeError::Unavailable`] ("ffmpeg is not installed …"), never a crash.
//!
//! ffmpeg needs a seekable file (an mp4 whose index sits at its end cannot
//! be read from a pipe), so a stored file is first materialized: its
//! verified plaintext is written to `<data dir>/media-tmp/<random>` (mode
//! 0600), and every output goes there too. Each such file is a
//! [`TempFile`] removed when dropped; the folder is emptied at every start,
//! so a crash mid-transcode leaves nothing behind for long. Plaintext on
//! disk is the price of using ffmpeg; it lives only as long as the job.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use rand::RngCore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::blobs::Blobs;
use crate::blobs::read::BlobHandle;
use crate::entries::Entries;
use crate::jobs::{Job, JobFor};
use crate::shared::Shared;
use crate::tasks::blocking;
use crate::{Entry, EntryKind, JobRecord, NodeError, OnConflict};

type Result<T> = std::result::Result<T, NodeError>;

/// The folder under the data dir for materialized inputs and outputs.
const TEMP_DIR: &str = "media-tmp";

/// Most of ffmpeg's error output kept for an error message.
const STDERR_KEPT: usize = 4096;

/// The media tools found at start, and where their files go.
pub(crate) struct Tools {
    ffmpeg: Option<PathBuf>,
    ffprobe: Option<PathBuf>,
    temp: PathBuf,
}

/// A file under `media-tmp`, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove a media temp file");
        }
    }
}

impl Tools {
    /// Finds ffmpeg and ffprobe on `PATH` and empties the temp folder
    /// (leftovers of a crash).
    pub(crate) fn open(data_dir: &Path) -> Result<Self> {
        let temp = data_dir.join(TEMP_DIR);
        let swept = sweep(&temp)?;
        let tools = Self {
            ffmpeg: on_path("ffmpeg"),
            ffprobe: on_path("ffprobe"),
            temp,
        };
        tracing::info!(
            ffmpeg = ?tools.ffmpeg,
            ffprobe = ?tools.ffprobe,
            swept,
            "media tools"
        );
        Ok(tools)
    }

    pub(crate) fn ffmpeg(&self) -> Result<&Path> {
        self.ffmpeg.as_deref().ok_or_else(|| missing("ffmpeg"))
    }

    pub(crate) fn ffprobe(&self) -> Result<&Path> {
        self.ffprobe.as_deref().ok_or_else(|| missing("ffprobe"))
    }

    /// A new, not yet created, temp file path ending in `ext`.
    pub(crate) fn temp_file(&self, ext: &str) -> TempFile {
        let mut raw = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut raw);
        TempFile(self.temp.join(format!("{}{ext}", hex::encode(raw))))
    }

    /// A new temp file ending in `ext` for ffmpeg to write: created empty
    /// and 0600 here, since ffmpeg makes its outputs with the process's
    /// umask and keeps the mode of a file it overwrites.
    pub(crate) fn output_file(&self, ext: &str) -> Result<TempFile> {
        let file = self.temp_file(ext);
        cairn_store::private::file_options()
            .write(true)
            .create_new(true)
            .open(file.path())
            .map_err(|e| NodeError::io("create", file.path(), e))?;
        Ok(file)
    }
}

fn missing(tool: &str) -> NodeError {
    NodeError::Unavailable(format!(
        "{tool} is not installed on this node (it was not on PATH when the node started); \
         install ffmpeg and restart the node to convert videos or extract frames"
    ))
}

/// The first executable `name` in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Creates `dir` (0700) if needed, closes an older install's, and removes
/// every file in it.
fn sweep(dir: &Path) -> Result<usize> {
    cairn_store::private::create_dir_all(dir).map_err(|e| NodeError::io("create", dir, e))?;
    cairn_store::private::tighten(dir).map_err(|e| NodeError::io("tighten", dir, e))?;
    let mut removed = 0;
    for item in std::fs::read_dir(dir).map_err(|e| NodeError::io("read", dir, e))? {
        let path = item.map_err(|e| NodeError::io("read", dir, e))?.path();
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| NodeError::io("remove", &path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The media service (`node.media()`). Cheap to clone.
#[derive(Clone)]
pub struct Media(Arc<State>);

struct State {
    shared: Arc<Shared>,
    tools: Tools,
    blobs: Blobs,
    entries: Entries,
}

impl Media {
    pub(crate) fn new(shared: Arc<Shared>, tools: Tools, blobs: Blobs, entries: Entries) -> Self {
        Self(Arc::new(State {
            shared,
            tools,
            blobs,
            entries,
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
        let input = self.materialize(&entry).await?;
        probe_duration(&ffprobe, input.path()).await
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
        let input = self.materialize(entry).await?;
        job.check()?;
        let duration = probe_duration(&ffprobe, input.path()).await?;
        let output = self.0.tools.output_file(".mp4")?;
        transcode_mp4(&ffmpeg, input.path(), output.path(), duration, job).await?;
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
        let input = self.materialize(entry).await?;
        let duration = probe_duration(&ffprobe, input.path()).await.unwrap_or(0.0);
        let at = (duration / 10.0).min(30.0);
        let output = self.0.tools.output_file(".jpg")?;
        extract_jpeg(&ffmpeg, input.path(), output.path(), at).await?;
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

    /// Writes the verified plaintext of file `entry` to a new temp file.
    pub(crate) async fn materialize(&self, entry: &Entry) -> Result<TempFile> {
        let blob = entry
            .blob
            .clone()
            .ok_or_else(|| NodeError::Invalid(format!("'{}' is a folder", entry.name)))?;
        let handle = self.0.blobs.open(&blob).await?;
        let file = self.0.tools.temp_file(".src");
        let path = file.path().to_path_buf();
        blocking(move || {
            use std::io::Write;
            let out = cairn_store::private::file_options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| NodeError::io("create", &path, e))?;
            let mut out = std::io::BufWriter::new(out);
            handle.for_each_piece(0..handle.size(), |piece| {
                out.write_all(&piece)
                    .map_err(|e| NodeError::io("write", &path, e))
            })?;
            out.flush().map_err(|e| NodeError::io("write", &path, e))
        })
        .await?;
        Ok(file)
    }
}

/// The duration in seconds of the media file at `path`.
pub(crate) async fn probe_duration(ffprobe: &Path, path: &Path) -> Result<f64> {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-show_entries", "format=duration"])
        .args(["-of", "default=noprint_wrappers=1:nokey=1"])
        .arg(path)
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
    src: &Path,
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
/// ffmpeg that reads no stdin, prints only errors and overwrites its output.
fn quiet_ffmpeg(ffmpeg: &Path) -> Command {
    let mut cmd = Command::new(ffmpeg);
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
    ]);
    cmd
}

pub(crate) async fn extract_jpeg(ffmpeg: &Path, src: &Path, dst: &Path, at: f64) -> Result<()> {
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

/// Runs ffmpeg with stdout lines going to `on_line`, stderr kept for the
/// error; kills it when `job` is cancelled.
async fn run_ffmpeg(
    mut cmd: Command,
    ffmpeg: &Path,
    job: &Job,
    mut on_line: impl FnMut(&str),
) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NodeError::io("run", ffmpeg, e))?;
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut kept = Vec::new();
        if let Some(err) = stderr {
            let _ = err.take(1 << 20).read_to_end(&mut kept).await;
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let stop = job.token();
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    let _ = child.kill().await;
                    return Err(NodeError::Cancelled);
                }
                line = lines.next_line() => match line {
                    Ok(Some(line)) => on_line(&line),
                    _ => break,
                },
            }
        }
    }
    let status = tokio::select! {
        () = stop.cancelled() => {
            let _ = child.kill().await;
            return Err(NodeError::Cancelled);
        }
        status = child.wait() => status.map_err(|e| NodeError::io("wait for", ffmpeg, e))?,
    };
    let stderr = errors.await.unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "ffmpeg failed ({status}): {}",
            tail(&stderr)
        )))
    }
}

/// Milliseconds of output from one line of ffmpeg's `-progress` report
/// (`out_time_us=…`, or `out_time_ms=…`, which ffmpeg also gives in µs).
fn progress_ms(line: &str) -> Option<u64> {
    let (key, value) = line.split_once('=')?;
    match key.trim() {
        "out_time_us" | "out_time_ms" => value
            .trim()
            .parse::<i64>()
            .ok()
            .map(|us| us.max(0) as u64 / 1000),
        _ => None,
    }
}

/// The end of a tool's error output, for a message.
fn tail(text: &str) -> String {
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_KEPT);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    let t = &text[start..];
    if t.is_empty() {
        "no output".into()
    } else {
        t.replace('\n', "; ")
    }
}

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

    #[test]
    fn progress_lines_give_milliseconds() {
        assert_eq!(progress_ms("out_time_us=1500000"), Some(1500));
        assert_eq!(progress_ms("out_time_ms=2000000"), Some(2000));
        assert_eq!(progress_ms("out_time_us=-9223372036854775807"), Some(0));
        assert_eq!(progress_ms("out_time=00:00:01.500000"), None);
        assert_eq!(progress_ms("progress=end"), None);
        assert_eq!(progress_ms("out_time_us=N/A"), None);
    }

    #[test]
    fn tails_are_short_and_on_char_boundaries() {
        let long = "é".repeat(5000);
        let t = tail(&long);
        assert!(t.len() <= STDERR_KEPT);
        assert_eq!(tail("  "), "no output");
        assert_eq!(tail("a\nb"), "a; b");
    }

    #[test]
    fn the_temp_folder_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(TEMP_DIR);
        std::fs::create_dir_all(&temp).unwrap();
        std::fs::write(temp.join("left.src"), b"x").unwrap();
        assert_eq!(sweep(&temp).unwrap(), 1);
        assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0);
    }
}
