//! Progressive streams: one ffmpeg writing a fragmented MP4 (or Matroska)
//! to its stdout, from a start time, for a `<video>` element or a player.
//!
//! There is no Range on such a stream; a player seeks by asking again
//! with another start, and ffmpeg seeks its input there (to the key frame
//! at or before it when copying, exactly when encoding). The stream owns
//! its ffmpeg, its input and its encoder: when the client goes and the
//! body is dropped, ffmpeg is killed at once.

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::process::Child;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::io::ReaderStream;

use super::inputs::Input;
use super::plan::{Plan, Target};
use super::tools::{keep_errors, quiet_ffmpeg, tail};
use crate::NodeError;

/// A stream being made: its content type and its bytes.
pub struct MediaBody {
    /// The stream's type (`video/mp4`, `video/x-matroska`, `video/webm`,
    /// `video/ogg`, `audio/mpeg`, `audio/mp4`, `audio/ogg`).
    pub content_type: &'static str,
    first: Option<Bytes>,
    bytes: ReaderStream<tokio::process::ChildStdout>,
    _child: Child,
    _input: Input,
    _encoder: OwnedSemaphorePermit,
}

impl Stream for MediaBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        Pin::new(&mut self.bytes).poll_next(cx)
    }
}

/// Starts ffmpeg on `input` from `start` seconds and waits for its first
/// bytes, so that a file ffmpeg cannot read is an error, not an empty
/// answer.
pub(crate) async fn start(
    ffmpeg: &std::path::Path,
    input: Input,
    plan: &Plan,
    target: Target,
    start: f64,
    encoder: OwnedSemaphorePermit,
) -> Result<MediaBody, NodeError> {
    let mut cmd = quiet_ffmpeg(ffmpeg);
    for delayed in [false, true] {
        if delayed && plan.audio_delay_ms == 0 {
            break;
        }
        if start > 0.0 {
            cmd.args(["-ss", &format!("{start:.3}")]);
        }
        if delayed {
            cmd.args([
                "-itsoffset",
                &format!("{:.3}", plan.audio_delay_ms as f64 / 1000.0),
            ]);
        }
        cmd.args(["-i", input.url()]);
    }
    cmd.args(plan.codec_args());
    if plan.keep_times {
        cmd.arg("-copyts");
    }
    if plan.encodes_video() {
        cmd.args(["-force_key_frames", "expr:gte(t,n_forced*2)"]);
    }
    let fragmented = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"];
    let content_type = match target {
        Target::Matroska => {
            cmd.args(["-f", "matroska", "-live", "1"]);
            "video/x-matroska"
        }
        Target::Mp4 | Target::Hls => {
            cmd.args(fragmented).args(["-f", "mp4"]);
            "video/mp4"
        }
        Target::WebM => {
            cmd.args(["-f", "webm", "-live", "1"]);
            "video/webm"
        }
        Target::Ogg => {
            cmd.args(["-f", "ogg"]);
            "video/ogg"
        }
        Target::Mp3 => {
            cmd.args(["-f", "mp3"]);
            "audio/mpeg"
        }
        Target::M4a => {
            cmd.args(fragmented).args(["-f", "mp4"]);
            "audio/mp4"
        }
        Target::Oga => {
            cmd.args(["-f", "ogg"]);
            "audio/ogg"
        }
    };
    cmd.arg("pipe:1");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NodeError::io("run", ffmpeg, e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| NodeError::Internal("ffmpeg has no stdout".into()))?;
    let mut bytes = ReaderStream::with_capacity(stdout, 64 * 1024);
    let errors = keep_errors(&mut child);
    let first = futures_util::StreamExt::next(&mut bytes).await;
    let Some(Ok(first)) = first else {
        let status = child.wait().await;
        return Err(NodeError::Invalid(format!(
            "ffmpeg made nothing ({}): {}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            tail(&errors.await.unwrap_or_default())
        )));
    };
    // Its later errors, drained as it goes, are logged once it ends.
    tokio::spawn(async move {
        let text = errors.await.unwrap_or_default();
        if !text.trim().is_empty() {
            tracing::debug!(errors = %tail(&text), "ffmpeg's errors on a stream");
        }
    });
    Ok(MediaBody {
        content_type,
        first: Some(first),
        bytes,
        _child: child,
        _input: input,
        _encoder: encoder,
    })
}
