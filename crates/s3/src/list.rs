//! Listings (ListObjects v1 and v2): the keys under a prefix, in S3's
//! order (bytewise), from after a marker, grouped by a delimiter.
//!
//! Keys are the paths of files below the bucket folder. Walking the tree
//! depth first, a folder's entries sorted by their key there (a folder's
//! name with its `/`) gives every key in bytewise order, so a page stops
//! as soon as it is full. A subtree wholly before the marker is skipped
//! without being read; the prefix's folders are walked to, not searched.
//! With `/` as the delimiter a folder is a common prefix and is not
//! entered. An empty folder shows as a directory marker (`name/`, no
//! bytes) where S3 would list one.

use cairn_node::{EntryKind, Listed};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::S3Door;
use crate::error::s3;
use crate::keys::{ETAG, etag_of, time};

/// Most keys one page holds.
const MAX_KEYS: usize = 1000;

/// What a listing asks.
struct Ask<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    /// List only keys after this one.
    after: &'a str,
    max: usize,
}

/// One page of a listing.
#[derive(Default)]
struct Page {
    objects: Vec<Object>,
    prefixes: Vec<String>,
    /// More keys follow.
    truncated: bool,
    /// The last key or prefix on the page.
    last: Option<String>,
}

impl Page {
    fn count(&self) -> usize {
        self.objects.len() + self.prefixes.len()
    }
}

/// The keys of a folder's entries, in key order.
fn keyed(listed: Vec<Listed>, base: &str) -> Vec<(String, Listed)> {
    let mut out: Vec<(String, Listed)> = listed
        .into_iter()
        .map(|l| {
            let slash = if l.entry.kind == EntryKind::Folder {
                "/"
            } else {
                ""
            };
            (format!("{base}{}{slash}", l.entry.name), l)
        })
        .collect();
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

/// `key` percent-encoded as S3's `encoding-type=url` asks (all but
/// unreserved characters and `/`).
fn url_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3Door {
    /// The page `ask` names in bucket folder `bucket`.
    async fn page(&self, bucket: &str, ask: &Ask<'_>) -> S3Result<Page> {
        let mut page = Page::default();
        if ask.max == 0 {
            return Ok(page);
        }
        // The folders the prefix names whole are walked to.
        let (dirs, _) = ask.prefix.rsplit_once('/').unwrap_or(("", ask.prefix));
        let names: Vec<&str> = dirs.split('/').filter(|n| !n.is_empty()).collect();
        let start = if names.is_empty() {
            Some(bucket.to_owned())
        } else {
            match self
                .node
                .entries()
                .at_path(Some(bucket), &names)
                .await
                .map_err(s3)?
            {
                Some(e) if e.kind == EntryKind::Folder => Some(e.id),
                _ => None,
            }
        };
        if let Some(folder) = start {
            let base = if names.is_empty() {
                String::new()
            } else {
                format!("{}/", names.join("/"))
            };
            self.walk(&folder, &base, ask, &mut page).await?;
        }
        Ok(page)
    }

    /// Adds the keys below folder `folder` (whose keys begin with `base`)
    /// to `page`, until it is full.
    async fn walk(&self, folder: &str, base: &str, ask: &Ask<'_>, page: &mut Page) -> S3Result<()> {
        // Depth first, with an explicit stack: (folder, base, its keyed
        // entries, where we are in them).
        let first = self.keyed_in(folder, base, ask.prefix).await?;
        let mut stack = vec![(first, 0usize)];
        while let Some((entries, at)) = stack.last_mut() {
            let Some((key, listed)) = entries.get(*at) else {
                stack.pop();
                continue;
            };
            *at += 1;
            let (key, listed) = (key.clone(), listed.clone());
            if !key.starts_with(ask.prefix) && !ask.prefix.starts_with(key.as_str()) {
                continue;
            }
            let folder = listed.entry.kind == EntryKind::Folder;
            // Wholly at or before the marker (its subtree too).
            if key.as_str() <= ask.after && !(folder && ask.after.starts_with(key.as_str())) {
                continue;
            }
            if folder {
                // The delimiter groups the whole subtree under one prefix.
                if let Some(common) = self.common_prefix(&key, ask)
                    && key.starts_with(common.as_str())
                {
                    if !self.push_prefix(page, common, ask) {
                        return Ok(());
                    }
                    continue;
                }
                let inside = self.keyed_in(&listed.entry.id, &key, "").await?;
                if inside.is_empty() && key.starts_with(ask.prefix) && key.as_str() > ask.after {
                    // An empty folder: its marker.
                    if !self.push_key(page, &key, &listed, ask) {
                        return Ok(());
                    }
                }
                stack.push((inside, 0));
            } else if key.starts_with(ask.prefix) && !self.push_key(page, &key, &listed, ask) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The entries of `folder` whose keys (under `base`) begin with what
    /// of `prefix` lies below `base`, in key order.
    async fn keyed_in(
        &self,
        folder: &str,
        base: &str,
        prefix: &str,
    ) -> S3Result<Vec<(String, Listed)>> {
        let below = prefix.strip_prefix(base).unwrap_or("");
        let name_prefix = below.split('/').next().unwrap_or("");
        let listed = self
            .node
            .entries()
            .listed(folder, name_prefix, ETAG)
            .await
            .map_err(s3)?;
        Ok(keyed(listed, base))
    }

    /// The common prefix `key` falls under, if the delimiter groups it.
    fn common_prefix(&self, key: &str, ask: &Ask<'_>) -> Option<String> {
        let delimiter = ask.delimiter.filter(|d| !d.is_empty())?;
        let rest = key.strip_prefix(ask.prefix)?;
        let at = rest.find(delimiter)?;
        Some(format!("{}{}", ask.prefix, &rest[..at + delimiter.len()]))
    }

    /// Adds common prefix `prefix` once; `false` when the page is full
    /// (and so truncated).
    fn push_prefix(&self, page: &mut Page, prefix: String, ask: &Ask<'_>) -> bool {
        if page.prefixes.last() == Some(&prefix) || prefix.as_str() <= ask.after {
            return true;
        }
        if page.count() >= ask.max {
            page.truncated = true;
            return false;
        }
        page.last = Some(prefix.clone());
        page.prefixes.push(prefix);
        true
    }

    /// Adds the object `key` (or the common prefix it falls under);
    /// `false` when the page is full (and so truncated).
    fn push_key(&self, page: &mut Page, key: &str, listed: &Listed, ask: &Ask<'_>) -> bool {
        if let Some(common) = self.common_prefix(key, ask) {
            return self.push_prefix(page, common, ask);
        }
        if page.count() >= ask.max {
            page.truncated = true;
            return false;
        }
        let entry = &listed.entry;
        page.last = Some(key.to_owned());
        page.objects.push(Object {
            key: Some(key.to_owned()),
            size: Some(entry.size as i64),
            last_modified: Some(time(entry.modified)),
            e_tag: (entry.kind == EntryKind::File)
                .then(|| etag_of(entry, listed.md5.as_deref(), listed.value.as_deref())),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        });
        true
    }

    pub(crate) async fn h_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&who, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone())
            .unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let ask = Ask {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            after: &after,
            max,
        };
        let page = self.page(&bucket.id, &ask).await?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let (objects, prefixes) = encoded(page.objects, page.prefixes, url);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(if url { url_encode(&prefix) } else { prefix }),
            delimiter: input.delimiter,
            max_keys: Some(max as i32),
            key_count: Some((objects.len() + prefixes.len()) as i32),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: page.truncated.then_some(page.last).flatten(),
            start_after: input.start_after,
            contents: Some(objects),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    pub(crate) async fn h_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&who, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.marker.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let ask = Ask {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            after: &after,
            max,
        };
        let page = self.page(&bucket.id, &ask).await?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let next_marker = page.truncated.then(|| page.last.clone()).flatten();
        let (objects, prefixes) = encoded(page.objects, page.prefixes, url);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(if url { url_encode(&prefix) } else { prefix }),
            marker: input.marker,
            delimiter: input.delimiter,
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker: next_marker.map(|m| if url { url_encode(&m) } else { m }),
            contents: Some(objects),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// `max-keys` as asked (default and at most 1,000).
fn max_keys(asked: Option<i32>) -> S3Result<usize> {
    match asked {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys is negative")),
        Some(n) => Ok((n as usize).min(MAX_KEYS)),
    }
}

/// The page's keys and prefixes, URL-encoded when asked.
fn encoded(
    mut objects: Vec<Object>,
    prefixes: Vec<String>,
    url: bool,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    if url {
        for o in &mut objects {
            o.key = o.key.as_deref().map(url_encode);
        }
    }
    let prefixes = prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(if url { url_encode(&p) } else { p }),
        })
        .collect();
    (objects, prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_as_s3_asks() {
        assert_eq!(url_encode("a b/c+d.txt"), "a%20b/c%2Bd.txt");
        assert_eq!(url_encode("é"), "%C3%A9");
    }
}
