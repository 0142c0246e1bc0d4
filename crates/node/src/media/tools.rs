//! The media tools (ffmpeg, ffprobe and yt-dlp, found on `PATH` when the node
//! starts), the temp folder their files go to, and running them: quiet,
//! killed with their job or when dropped, their errors kept short.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rand::RngCore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::NodeError;
use crate::jobs::Job;

type Result<T> = std::result::Result<T, NodeError>;

/// The folder under the data dir for materialized inputs and outputs.
const TEMP_DIR: &str = "media-tmp";

/// Most of ffmpeg's error output kept for an error message.
const STDERR_KEPT: usize = 4096;

/// The media tools found at start, and where their files go.
pub(crate) struct Tools {
    ffmpeg: Option<PathBuf>,
    ffprobe: Option<PathBuf>,
    ytdlp: Option<PathBuf>,
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
            ytdlp: on_path("yt-dlp"),
            temp,
        };
        tracing::info!(
            ffmpeg = ?tools.ffmpeg,
            ffprobe = ?tools.ffprobe,
            ytdlp = ?tools.ytdlp,
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

    pub(crate) fn ytdlp(&self) -> Result<&Path> {
        self.ytdlp.as_deref().ok_or_else(|| {
            NodeError::Unavailable(
                "yt-dlp is not installed: install it (pip install yt-dlp) on the node's PATH and restart"
                    .into(),
            )
        })
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

pub(crate) fn missing(tool: &str) -> NodeError {
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

/// Runs `cmd`'s process at nice 10, below the encoders someone waits on.
pub(crate) fn in_background(cmd: &mut Command) {
    // SAFETY: runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed; setpriority is a plain system
    // call on the calling process and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            Ok(())
        });
    }
}

/// ffmpeg that reads no stdin, prints only errors and overwrites its output.
pub(crate) fn quiet_ffmpeg(ffmpeg: &Path) -> Command {
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

/// Reads a child's error output (the first 64 KiB kept, for an error
/// message) until it closes, so a full pipe never stalls the child.
pub(crate) fn keep_errors(child: &mut tokio::process::Child) -> tokio::task::JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let mut kept = Vec::new();
        if let Some(mut err) = stderr {
            let _ = (&mut err).take(1 << 16).read_to_end(&mut kept).await;
            let _ = tokio::io::copy(&mut err, &mut tokio::io::sink()).await;
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// Runs ffmpeg with stdout lines going to `on_line`, stderr kept for the
/// error; kills it when `job` is cancelled.
pub(crate) async fn run_ffmpeg(
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
    let errors = keep_errors(&mut child);
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
pub(crate) fn progress_ms(line: &str) -> Option<u64> {
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
pub(crate) fn tail(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
