//! Names: bucket names as S3 allows them, keys and the paths of entries
//! they name, and what of an entry's metadata S3 shows.

use std::collections::{BTreeMap, HashMap};

use cairn_node::{Entry, EntryInfo, EntryKind};
use s3s::dto::{ETag, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::S3Door;
use crate::auth::Principal;
use crate::error::{or_missing, s3};

/// The longest key S3 takes, in bytes.
const MAX_KEY: usize = 1024;

/// The prefix of the metadata keys this door keeps.
pub(crate) const META: &str = "s3.";
/// Metadata key of an object's ETag when it is not its MD5 (multipart).
pub(crate) const ETAG: &str = "s3.etag";
/// The ETag value that says "the MD5 of the content".
pub(crate) const ETAG_IS_MD5: &str = "md5";
/// User metadata (`x-amz-meta-<name>`) is kept as `s3.meta.<name>`.
const USER_META: &str = "s3.meta.";
/// Content headers kept as given.
const CONTENT_TYPE: &str = "s3.content-type";

/// Whether `name` is a bucket name S3 allows: 3 to 63 of `a-z 0-9 . -`,
/// starting and ending with a letter or digit, no `..`, not an IPv4
/// address.
pub(crate) fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// A key split into the names of its path.
#[derive(Debug)]
pub(crate) struct Key<'a> {
    /// The folders above the file (or the folder, for a marker).
    pub dirs: Vec<&'a str>,
    /// The file's name; `None` for a directory marker (`a/b/`).
    pub file: Option<&'a str>,
}

impl<'a> Key<'a> {
    /// `key` as a path, or S3's error for a key this store cannot hold.
    pub(crate) fn parse(key: &'a str) -> S3Result<Self> {
        if key.len() > MAX_KEY {
            return Err(s3_error!(
                KeyTooLongError,
                "a key is at most {MAX_KEY} bytes"
            ));
        }
        if key.is_empty() {
            return Err(s3_error!(InvalidArgument, "the key is empty"));
        }
        let (body, marker) = match key.strip_suffix('/') {
            Some(body) => (body, true),
            None => (key, false),
        };
        let mut names: Vec<&str> = body.split('/').collect();
        for name in &names {
            if name.is_empty() || *name == "." || *name == ".." {
                return Err(s3_error!(
                    InvalidArgument,
                    "key '{}' has an empty, '.' or '..' part, which cannot name a file here",
                    key.escape_debug()
                ));
            }
            if name.len() > 255 || name.contains('\0') {
                return Err(s3_error!(
                    InvalidArgument,
                    "each part of a key is at most 255 bytes, without NUL"
                ));
            }
        }
        let file = if marker { None } else { names.pop() };
        Ok(Self { dirs: names, file })
    }
}

/// S3's ETag of an entry: its multipart ETag when it has one, else the
/// MD5 of its content when known, else its BLAKE3 id (64 hex digits,
/// which no client takes for an MD5).
pub(crate) fn etag_of(entry: &Entry, md5: Option<&str>, kept: Option<&str>) -> ETag {
    match kept {
        Some(v) if v != ETAG_IS_MD5 && !v.is_empty() => ETag::Strong(v.to_owned()),
        _ => ETag::Strong(
            md5.map(str::to_owned)
                .or_else(|| entry.blob.clone())
                .unwrap_or_default(),
        ),
    }
}

/// [`etag_of`] an entry read whole.
pub(crate) fn etag(info: &EntryInfo) -> ETag {
    etag_of(
        &info.entry,
        info.aliases.get("md5").map(String::as_str),
        info.metadata.get(ETAG).map(String::as_str),
    )
}

/// A Unix time in milliseconds as S3 shows it.
pub(crate) fn time(ms: i64) -> Timestamp {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    Timestamp::from(at)
}

/// The metadata an object is stored with: its user metadata and content
/// type, under `s3.`. A name the catalog cannot keep is refused.
pub(crate) fn metadata_in(
    user: Option<&HashMap<String, String>>,
    content_type: Option<&str>,
) -> S3Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in user.into_iter().flatten() {
        let k = k.to_ascii_lowercase();
        let ok = !k.is_empty()
            && k.len() + USER_META.len() <= 64
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
        if !ok {
            return Err(s3_error!(
                InvalidArgument,
                "metadata name '{}' is not 1 to {} of a-z 0-9 - _ .",
                k.escape_debug(),
                64 - USER_META.len()
            ));
        }
        if v.len() > 2048 {
            return Err(s3_error!(
                MetadataTooLarge,
                "a metadata value is at most 2 KiB here"
            ));
        }
        out.insert(format!("{USER_META}{k}"), v.clone());
    }
    if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
        out.insert(CONTENT_TYPE.into(), ct.chars().take(1024).collect());
    }
    Ok(out)
}

/// The user metadata S3 shows for an entry.
pub(crate) fn metadata_out(info: &EntryInfo) -> HashMap<String, String> {
    info.metadata
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(USER_META)?.to_owned(), v.clone())))
        .collect()
}

/// The content type S3 shows for an entry: as given, else as sniffed.
pub(crate) fn content_type(info: &EntryInfo) -> String {
    info.metadata
        .get(CONTENT_TYPE)
        .cloned()
        .or_else(|| info.entry.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".into())
}

impl S3Door {
    /// Bucket `name` of `who`: the folder.
    pub(crate) async fn bucket(&self, who: &Principal, name: &str) -> S3Result<Entry> {
        let found = self
            .node
            .entries()
            .child_named(who.root(), name)
            .await
            .map_err(s3)?;
        match found {
            Some(e) if e.kind == EntryKind::Folder => Ok(e),
            _ => Err(S3Error::with_message(
                S3ErrorCode::NoSuchBucket,
                format!("no bucket '{}'", name.escape_debug()),
            )),
        }
    }

    /// The file `key` names in bucket `bucket` of `who`, whole.
    pub(crate) async fn object(
        &self,
        who: &Principal,
        bucket: &str,
        key: &str,
    ) -> S3Result<EntryInfo> {
        let folder = self.bucket(who, bucket).await?;
        let path = Key::parse(key)?;
        let no_key = || {
            S3Error::with_message(
                S3ErrorCode::NoSuchKey,
                format!("no key '{}'", key.escape_debug()),
            )
        };
        let Some(file) = path.file else {
            return Err(no_key());
        };
        let mut names = path.dirs.clone();
        names.push(file);
        let entries = self.node.entries();
        match entries
            .at_path(Some(&folder.id), &names)
            .await
            .map_err(s3)?
        {
            Some(e) if e.kind == EntryKind::File => entries
                .entry(&e.id)
                .await
                .map_err(or_missing(S3ErrorCode::NoSuchKey)),
            _ => Err(no_key()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "my-bucket", "a.b.c", "0ab", &"a".repeat(63)] {
            assert!(valid_bucket(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "192.168.1.1",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!valid_bucket(bad), "{bad}");
        }
    }

    #[test]
    fn keys_name_paths_or_are_refused() {
        let k = Key::parse("a/b/c.txt").unwrap();
        assert_eq!((k.dirs, k.file), (vec!["a", "b"], Some("c.txt")));
        let k = Key::parse("dir/").unwrap();
        assert_eq!((k.dirs, k.file), (vec!["dir"], None));
        for bad in ["", "a//b", "../x", "a/./b", "/a", "a/..", &"k".repeat(1025)] {
            assert!(Key::parse(bad).is_err(), "{bad}");
        }
        let long = Key::parse(&"k".repeat(1025)).unwrap_err();
        assert_eq!(*long.code(), S3ErrorCode::KeyTooLongError);
    }
}
