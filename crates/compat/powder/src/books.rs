//! The layer's own lists (§8): Powder's ids of torrents (`utime`) and
//! their openers, the local media entries (stored files the master
//! listed) and the youtube-dl links (what yt-dlp found on each page). Kept in `<data dir>/powder/books.json`, written whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Most torrents or local entries remembered.
const MAX_ENTRIES: usize = 10_000;

/// What the layer remembers of a torrent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Address {
    /// When it was first added here, ms: Powder's torrent id.
    pub(crate) utime: i64,
    /// The magnet or source it was added from.
    pub(crate) opener: String,
    /// Powder's "forced" flag.
    #[serde(default)]
    pub(crate) forced: bool,
}

/// A local media entry: a stored file or folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Local {
    /// The entry id.
    pub(crate) entry: String,
    /// Its name (a rename is the layer's own).
    pub(crate) name: String,
    /// A folder.
    pub(crate) folder: bool,
    /// Last played or added, ms.
    pub(crate) utime: i64,
}

/// A youtube-dl link (§4.4): a page and the media yt-dlp found on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ytdl {
    /// Added or last played, ms.
    pub(crate) utime: i64,
    /// Its name (a rename is kept over the page's title).
    pub(crate) name: String,
    /// Renamed by a user.
    #[serde(default)]
    pub(crate) renamed: bool,
    /// The page.
    pub(crate) page: String,
    /// The media's URL.
    pub(crate) url: String,
    /// Headers the media's URL wants.
    #[serde(default)]
    pub(crate) headers: Vec<(String, String)>,
    /// A picture of it.
    pub(crate) thumbnail: Option<String>,
}

impl Ytdl {
    /// The media, as the media service reads it.
    pub(crate) fn media(&self) -> cairn_node::RemoteMedia {
        cairn_node::RemoteMedia {
            page: self.page.clone(),
            title: self.name.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            thumbnail: self.thumbnail.clone(),
            duration: None,
            extractor: None,
        }
    }
}

/// Powder's id of a page: its URL without anything but letters and
/// digits.
pub(crate) fn ytdl_pid(page: &str) -> String {
    page.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

#[derive(Default, Serialize, Deserialize)]
struct Data {
    #[serde(default)]
    addressbook: BTreeMap<String, Address>,
    #[serde(default)]
    locbook: BTreeMap<i64, Local>,
    #[serde(default)]
    ytdlbook: BTreeMap<String, Ytdl>,
}

/// The books.
pub(crate) struct Books {
    file: PathBuf,
    data: Mutex<Data>,
}

impl Books {
    pub(crate) fn open(dir: &Path) -> Self {
        let file = dir.join("books.json");
        let data = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, file = %file.display(), "Powder books unreadable: started empty");
                Data::default()
            }),
            Err(_) => Data::default(),
        };
        Self {
            file,
            data: Mutex::new(data),
        }
    }

    fn with<T>(&self, change: bool, f: impl FnOnce(&mut Data) -> T) -> T {
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut data);
        if change {
            let bytes = serde_json::to_vec(&*data).unwrap_or_default();
            if let Err(e) = crate::write_atomically(&self.file, &bytes) {
                tracing::warn!(error = %e, file = %self.file.display(), "Powder books not saved");
            }
        }
        out
    }

    /// The torrent `hash`'s address, made (with a new `utime`, unique)
    /// when it has none.
    pub(crate) fn address(&self, hash: &str, opener: &str) -> (Address, bool) {
        if let Some(a) = self.with(false, |d| d.addressbook.get(hash).cloned()) {
            return (a, false);
        }
        self.with(true, |d| {
            let mut utime = crate::now_ms();
            while d.addressbook.values().any(|a| a.utime == utime) {
                utime += 1;
            }
            if d.addressbook.len() >= MAX_ENTRIES
                && let Some(oldest) = d
                    .addressbook
                    .iter()
                    .min_by_key(|(_, a)| a.utime)
                    .map(|(h, _)| h.clone())
            {
                d.addressbook.remove(&oldest);
            }
            let a = Address {
                utime,
                opener: opener.to_owned(),
                forced: false,
            };
            d.addressbook.insert(hash.to_owned(), a.clone());
            (a, true)
        })
    }

    /// The info hash of the torrent with id `utime`.
    pub(crate) fn hash_of(&self, utime: i64) -> Option<String> {
        self.with(false, |d| {
            d.addressbook
                .iter()
                .find(|(_, a)| a.utime == utime)
                .map(|(h, _)| h.clone())
        })
    }

    /// Toggles a torrent's "forced" flag.
    pub(crate) fn toggle_forced(&self, hash: &str) {
        self.with(true, |d| {
            if let Some(a) = d.addressbook.get_mut(hash) {
                a.forced = !a.forced;
            }
        })
    }

    /// Forgets a torrent.
    pub(crate) fn forget(&self, hash: &str) {
        self.with(true, |d| d.addressbook.remove(hash));
    }

    /// Lists a stored entry as local media; its pid.
    pub(crate) fn add_local(&self, entry: &str, name: &str, folder: bool) -> i64 {
        self.with(true, |d| {
            if let Some((pid, _)) = d.locbook.iter().find(|(_, l)| l.entry == entry) {
                return *pid;
            }
            let mut pid = crate::now_ms();
            while d.locbook.contains_key(&pid) {
                pid += 1;
            }
            if d.locbook.len() >= MAX_ENTRIES
                && let Some(oldest) = d.locbook.keys().next().copied()
            {
                d.locbook.remove(&oldest);
            }
            d.locbook.insert(
                pid,
                Local {
                    entry: entry.to_owned(),
                    name: name.to_owned(),
                    folder,
                    utime: pid,
                },
            );
            pid
        })
    }

    /// Local entry `pid`.
    pub(crate) fn local(&self, pid: i64) -> Option<Local> {
        self.with(false, |d| d.locbook.get(&pid).cloned())
    }

    /// Every local entry.
    pub(crate) fn locals(&self) -> Vec<(i64, Local)> {
        self.with(false, |d| {
            d.locbook.iter().map(|(p, l)| (*p, l.clone())).collect()
        })
    }

    /// Changes a local entry (`rename`, or with none a new `utime`).
    pub(crate) fn touch_local(&self, pid: i64, rename: Option<&str>) {
        self.with(true, |d| {
            if let Some(l) = d.locbook.get_mut(&pid) {
                match rename {
                    Some(name) => l.name = name.to_owned(),
                    None => l.utime = crate::now_ms(),
                }
            }
        })
    }

    /// Forgets a local entry (the stored file stays).
    pub(crate) fn forget_local(&self, pid: i64) {
        self.with(true, |d| d.locbook.remove(&pid));
    }

    /// Records what yt-dlp found on a page (a name given before stays);
    /// its pid and entry.
    pub(crate) fn add_ytdl(&self, media: &cairn_node::RemoteMedia) -> (String, Ytdl) {
        let pid = ytdl_pid(&media.page);
        self.with(true, |d| {
            let old = d.ytdlbook.remove(&pid);
            if d.ytdlbook.len() >= MAX_ENTRIES
                && let Some(oldest) = d
                    .ytdlbook
                    .iter()
                    .min_by_key(|(_, y)| y.utime)
                    .map(|(p, _)| p.clone())
            {
                d.ytdlbook.remove(&oldest);
            }
            let renamed = old.as_ref().filter(|o| o.renamed);
            let y = Ytdl {
                utime: crate::now_ms(),
                name: renamed.map_or_else(|| media.title.clone(), |o| o.name.clone()),
                renamed: renamed.is_some(),
                page: media.page.clone(),
                url: media.url.clone(),
                headers: media.headers.clone(),
                thumbnail: media.thumbnail.clone(),
            };
            d.ytdlbook.insert(pid.clone(), y.clone());
            (pid, y)
        })
    }

    /// Link `pid`.
    pub(crate) fn ytdl(&self, pid: &str) -> Option<Ytdl> {
        self.with(false, |d| d.ytdlbook.get(pid).cloned())
    }

    /// Every link.
    pub(crate) fn ytdls(&self) -> Vec<(String, Ytdl)> {
        self.with(false, |d| {
            d.ytdlbook
                .iter()
                .map(|(p, y)| (p.clone(), y.clone()))
                .collect()
        })
    }

    /// Changes a link (`rename`, or with none a new `utime`).
    pub(crate) fn touch_ytdl(&self, pid: &str, rename: Option<&str>) {
        self.with(true, |d| {
            if let Some(y) = d.ytdlbook.get_mut(pid) {
                match rename {
                    Some(name) => {
                        y.name = name.to_owned();
                        y.renamed = true;
                    }
                    None => y.utime = crate::now_ms(),
                }
            }
        })
    }

    /// Forgets a link.
    pub(crate) fn forget_ytdl(&self, pid: &str) {
        self.with(true, |d| d.ytdlbook.remove(pid));
    }

    /// Forgets everything (`resetSettings`).
    pub(crate) fn reset(&self) {
        self.with(true, |d| *d = Data::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kept_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let books = Books::open(dir.path());
        let (a, new) = books.address("aa", "magnet:?a");
        let (b, _) = books.address("bb", "magnet:?b");
        assert!(new);
        assert_ne!(a.utime, b.utime);
        assert_eq!(books.address("aa", "other").0.opener, "magnet:?a");
        let pid = books.add_local("entry1", "Film.mkv", false);
        assert_eq!(books.add_local("entry1", "Film.mkv", false), pid);
        drop(books);
        let books = Books::open(dir.path());
        assert_eq!(books.hash_of(b.utime).as_deref(), Some("bb"));
        assert_eq!(books.local(pid).unwrap().entry, "entry1");
        books.forget("aa");
        assert!(books.hash_of(a.utime).is_none());
    }
}
