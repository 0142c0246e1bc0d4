//! The library (`node.library()`): what each viewer watched and where
//! they stopped, newest first. A viewer is `""` for the operator (the
//! native API with the secret), or an account's id for the layers that
//! have users. What was watched is a catalog entry (its id), a torrent's
//! file (`torrent:<info hash>:<index>`), or a web page's media
//! (`web:<http(s) URL>`, what yt-dlp plays); with the title the player
//! gave it.

use std::sync::Arc;

use cairn_store::history::Watched;

use crate::NodeError;
use crate::entries::Entries;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// Longest a history page may be.
const MAX_PAGE: u32 = 1000;

/// Longest title kept.
const MAX_TITLE: usize = 1024;

/// Longest web page URL a subject names.
const MAX_URL: usize = 2048;

/// The library service. Cheap to clone.
#[derive(Clone)]
pub struct Library(Arc<State>);

struct State {
    shared: Arc<Shared>,
    entries: Entries,
}

impl Library {
    pub(crate) fn new(shared: Arc<Shared>, entries: Entries) -> Self {
        Self(Arc::new(State { shared, entries }))
    }

    /// Records that `viewer` is at `position` seconds in `subject` (of
    /// `duration` seconds, when known; `ended` when watched to the end),
    /// titled `title` (a title given once stays).
    pub async fn watched(
        &self,
        viewer: &str,
        subject: &str,
        title: Option<&str>,
        position: f64,
        duration: Option<f64>,
        ended: bool,
    ) -> Result<Watched> {
        if !position.is_finite() || position < 0.0 {
            return Err(NodeError::Invalid(format!(
                "position {position} is not a time in seconds"
            )));
        }
        if duration.is_some_and(|d| !d.is_finite() || d <= 0.0) {
            return Err(NodeError::Invalid(
                "duration must be a positive number of seconds".into(),
            ));
        }
        if title.is_some_and(|t| t.len() > MAX_TITLE) {
            return Err(NodeError::Invalid(format!(
                "a title has at most {MAX_TITLE} bytes"
            )));
        }
        self.check_subject(subject).await?;
        let (shared, viewer, subject) =
            (self.0.shared.clone(), viewer.to_owned(), subject.to_owned());
        let title = title.filter(|t| !t.is_empty()).map(str::to_owned);
        blocking(move || {
            Ok(shared.catalog.watched(
                &viewer,
                &subject,
                title.as_deref(),
                position,
                duration,
                ended,
            )?)
        })
        .await
    }

    /// What `viewer` watched, newest first.
    pub async fn history(&self, viewer: &str, offset: u64, limit: u32) -> Result<Vec<Watched>> {
        let (shared, viewer) = (self.0.shared.clone(), viewer.to_owned());
        let limit = limit.clamp(1, MAX_PAGE);
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.history(&viewer, offset, limit)?))
            .await
    }

    /// Forgets `subject` in `viewer`'s history, or all of it with none.
    pub async fn forget(&self, viewer: &str, subject: Option<&str>) -> Result<usize> {
        if let Some(s) = subject {
            check_shape(s)?;
        }
        let (shared, viewer, subject) = (
            self.0.shared.clone(),
            viewer.to_owned(),
            subject.map(str::to_owned),
        );
        blocking(move || Ok(shared.catalog.forget_watched(&viewer, subject.as_deref())?)).await
    }

    /// An entry that exists, or a torrent file's name.
    async fn check_subject(&self, subject: &str) -> Result<()> {
        check_shape(subject)?;
        if subject.starts_with("torrent:") || subject.starts_with("web:") {
            return Ok(());
        }
        self.0.entries.entry(subject).await.map(|_| ())
    }
}

/// An entry id (11 characters of `A-Za-z0-9_-`),
/// `torrent:<info hash>:<index>` or `web:<http(s) URL>`.
fn check_shape(subject: &str) -> Result<()> {
    if let Some(url) = subject.strip_prefix("web:") {
        let ok = url.len() <= MAX_URL
            && (url.starts_with("http://") || url.starts_with("https://"))
            && url.bytes().all(|b| b.is_ascii_graphic());
        return if ok {
            Ok(())
        } else {
            Err(NodeError::Invalid(format!(
                "web:<URL> needs an http(s) URL of at most {MAX_URL} bytes"
            )))
        };
    }
    let ok = match subject.strip_prefix("torrent:") {
        Some(rest) => rest.split_once(':').is_some_and(|(hash, index)| {
            hash.len() == 40
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && (1..=7).contains(&index.len())
                && index.bytes().all(|b| b.is_ascii_digit())
        }),
        None => {
            subject.len() == 11
                && subject
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
    };
    if ok {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "'{}' is neither an entry id, torrent:<info hash>:<index> nor web:<URL>",
            subject.chars().take(80).collect::<String>()
        )))
    }
}
