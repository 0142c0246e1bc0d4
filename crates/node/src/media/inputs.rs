//! Inputs lent to ffmpeg and ffprobe: a stored file read straight from
//! cairn's store, never as plaintext on disk, or a torrent's file as it
//! arrives.
//!
//! The tools read URLs, and seek by asking for byte ranges; so each input
//! is a loopback URL (`http://127.0.0.1:<port>/input/<token>`) that the
//! HTTP layer serves with ranges from the blob's verified reads (which
//! decrypt and check each segment as it is read, from this disk or the
//! network), or from the torrent (the pieces ffmpeg reads come first). The token is 128 random bits, known only to the child
//! process it is given to, and lives exactly as long as the [`Input`]
//! guard: once the work is done (or its client gone) the URL answers 404.
//!
//! The engine knows no HTTP: the binary serves the inputs on a loopback
//! listener of their own and tells the node where ([`Inputs::serve_at`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rand::RngCore;

use super::MediaSource;
use crate::NodeError;

/// The inputs lent out now, and where they are served.
#[derive(Default)]
pub(crate) struct Inputs {
    base: OnceLock<String>,
    lent: Mutex<HashMap<String, MediaSource>>,
}

/// One lent input: its URL answers while this lives.
pub(crate) struct Input {
    url: String,
    token: String,
    inputs: Arc<Inputs>,
}

impl Input {
    /// The URL to give the tool.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.inputs.lent().remove(&self.token);
    }
}

impl Inputs {
    /// Where the inputs are served, e.g. `http://127.0.0.1:41234/input`
    /// (set once; later calls are ignored).
    pub(crate) fn serve_at(&self, base: String) {
        let base = base.trim_end_matches('/').to_owned();
        if self.base.set(base).is_err() {
            tracing::warn!("media inputs are already served elsewhere");
        }
    }

    /// Lends `source` to a tool: its URL, valid while the guard lives.
    pub(crate) fn lend(self: &Arc<Self>, source: MediaSource) -> Result<Input, NodeError> {
        let base = self.base.get().ok_or_else(|| {
            NodeError::Unavailable(
                "media inputs are not served: the node runs without its loopback input listener"
                    .into(),
            )
        })?;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        self.lent().insert(token.clone(), source);
        Ok(Input {
            url: format!("{base}/{token}"),
            token,
            inputs: self.clone(),
        })
    }

    /// The source lent under `token` (`not found` once its guard is gone).
    pub(crate) fn get(&self, token: &str) -> Result<MediaSource, NodeError> {
        self.lent()
            .get(token)
            .cloned()
            .ok_or_else(|| NodeError::NotFound("no such media input".into()))
    }

    /// How many inputs are lent now.
    pub(crate) fn count(&self) -> usize {
        self.lent().len()
    }

    fn lent(&self) -> std::sync::MutexGuard<'_, HashMap<String, MediaSource>> {
        self.lent.lock().unwrap_or_else(|e| e.into_inner())
    }
}
