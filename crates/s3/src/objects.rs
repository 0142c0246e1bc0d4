//! Objects: read (whole, ranged, conditional), written (single part),
//! copied (the same blob, nothing re-read) and deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use cairn_node::{EntryInfo, EntryKind, NodeError, OnConflict, UploadTarget};
use futures_util::TryStreamExt;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::S3Door;
use crate::auth::Principal;
use crate::error::{or_missing, s3};
use crate::keys::{
    ETAG, ETAG_IS_MD5, Key, META, content_type, etag, metadata_in, metadata_out, time,
};

/// The MD5 of nothing: a directory marker's ETag.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The conditional headers of a read.
struct Conditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

fn unix_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

fn matches(cond: &ETagCondition, tag: &ETag) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(t) => t.value() == tag.value(),
    }
}

impl Conditions<'_> {
    /// RFC 9110's order: If-Match, else If-Unmodified-Since; then
    /// If-None-Match, else If-Modified-Since.
    fn check(&self, info: &EntryInfo) -> S3Result<()> {
        let tag = etag(info);
        let modified = info.entry.modified / 1000;
        match (self.if_match, self.if_unmodified_since) {
            (Some(c), _) if !matches(c, &tag) => return Err(s3_error!(PreconditionFailed)),
            (None, Some(t)) if modified > unix_secs(t) => {
                return Err(s3_error!(PreconditionFailed));
            }
            _ => {}
        }
        match (self.if_none_match, self.if_modified_since) {
            (Some(c), _) if matches(c, &tag) => Err(s3_error!(NotModified)),
            (None, Some(t)) if modified <= unix_secs(t) => Err(s3_error!(NotModified)),
            _ => Ok(()),
        }
    }
}

/// A `Content-MD5` header's 16 bytes, as 32 hex digits.
fn content_md5(header: Option<&str>) -> S3Result<Option<String>> {
    let Some(b64) = header else {
        return Ok(None);
    };
    match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
        Ok(raw) if raw.len() == 16 => Ok(Some(hex::encode(raw))),
        _ => Err(s3_error!(
            InvalidDigest,
            "Content-MD5 is not the base64 of 16 bytes"
        )),
    }
}

/// What went wrong in a request body, as s3s said it: its aws-chunked
/// decoder's errors reach the engine as a cut-off body, and are told
/// apart here.
#[derive(Clone, Default)]
pub(crate) struct BodyFault(Arc<std::sync::Mutex<Option<String>>>);

impl BodyFault {
    /// S3's error for the body's fault, if it had one.
    pub(crate) fn error(&self) -> Option<S3Error> {
        let said = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        Some(if said.contains("SignatureMismatch") {
            S3Error::with_message(
                S3ErrorCode::SignatureDoesNotMatch,
                "a chunk's signature does not match",
            )
        } else {
            S3Error::with_message(S3ErrorCode::IncompleteBody, said)
        })
    }

    /// `e` as S3 answers it: the body's fault first.
    pub(crate) fn or(&self, e: NodeError) -> S3Error {
        self.error().unwrap_or_else(|| s3(e))
    }
}

/// A request body as the engine reads it, and what may go wrong in it.
pub(crate) fn body_stream(
    body: Option<StreamingBlob>,
) -> (
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Unpin + 'static,
    BodyFault,
) {
    let fault = BodyFault::default();
    let seen = fault.clone();
    let body = body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<
            Result<bytes::Bytes, std::io::Error>,
        >())
    });
    let stream = body.map_err(move |e| {
        let mut said = seen.0.lock().unwrap_or_else(|p| p.into_inner());
        said.get_or_insert_with(|| e.to_string());
        std::io::Error::other(e)
    });
    (stream, fault)
}

impl S3Door {
    pub(crate) async fn h_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let who = self.principal(&req).await?;
        let input = &req.input;
        let info = self.object(&who, &input.bucket, &input.key).await?;
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&info)?;
        let size = info.entry.size;
        // The paid-file rules decide who sees it, as at every door.
        self.node
            .paid()
            .visible_entry(&info.entry.id, &who.reader())
            .await
            .map_err(or_missing(S3ErrorCode::NoSuchKey))?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(size as i64),
            content_type: Some(content_type(&info)),
            e_tag: Some(etag(&info)),
            last_modified: Some(time(info.entry.modified)),
            metadata: Some(metadata_out(&info)),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let info = self.object(&who, &input.bucket, &input.key).await?;
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&info)?;
        let size = info.entry.size;
        let range = match &input.range {
            None => 0..size,
            Some(r) => r.check(size).map_err(|_| {
                s3_error!(InvalidRange, "the range is past the object's {size} bytes")
            })?,
        };
        let opened = self
            .node
            .paid()
            .open_for(&info, &who.reader())
            .await
            .map_err(or_missing(S3ErrorCode::NoSuchKey))?;
        let len = range.end - range.start;
        if let Principal::User(user) = &who {
            self.node
                .accounts()
                .charge_traffic(user, len)
                .await
                .map_err(s3)?;
        }
        let stream = self.node.blobs().stream(
            opened.handle,
            range.clone(),
            info.entry.name.clone(),
            Some(info.entry.id.clone()),
        );
        let body = StreamingBlob::wrap(sync_wrapper::SyncStream::new(stream));
        let content_range = input.range.is_some().then(|| {
            format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            )
        });
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: Some(len as i64),
            content_range,
            content_type: Some(content_type(&info)),
            e_tag: Some(etag(&info)),
            last_modified: Some(time(info.entry.modified)),
            metadata: Some(metadata_out(&info)),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let entries = self.node.entries();
        let (parent, name) = self.place_of(&who, &input.bucket, &input.key).await?;
        let Some(name) = name else {
            // A directory marker: the folder is all there is.
            return Ok(S3Response::new(PutObjectOutput {
                e_tag: Some(ETag::Strong(EMPTY_MD5.into())),
                ..Default::default()
            }));
        };
        let mut metadata = metadata_in(input.metadata.as_ref(), input.content_type.as_deref())?;
        metadata.insert(ETAG.into(), ETAG_IS_MD5.into());
        let expected = content_md5(input.content_md5.as_deref())?;
        let bad_digest = Arc::new(AtomicBool::new(false));
        let refused = bad_digest.clone();
        let check: cairn_node::Md5Check = Box::new(move |md5| match &expected {
            Some(want) if want != md5 => {
                refused.store(true, Ordering::Relaxed);
                Err(NodeError::Invalid(format!(
                    "the body's MD5 is {md5}, Content-MD5 says {want}"
                )))
            }
            _ => Ok(()),
        });
        let target = UploadTarget {
            parent: Some(parent),
            name,
            on_conflict: OnConflict::Replace,
            wait_digests: false,
        };
        let size = input.content_length.map(|n| n.max(0) as u64);
        let (body, fault) = body_stream(input.body);
        let stored = entries
            .upload_md5(target, body, size, metadata, check, Some(META))
            .await;
        let md5 = match stored {
            Ok((_, md5)) => md5,
            Err(e) if bad_digest.load(Ordering::Relaxed) => {
                return Err(S3Error::with_message(S3ErrorCode::BadDigest, e.to_string()));
            }
            Err(e) => return Err(fault.or(e)),
        };
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(md5)),
            ..Default::default()
        }))
    }

    /// Where `key` puts a file in bucket `bucket` of `who`: its folder,
    /// made where missing, and its name (`None` for a directory marker).
    /// A folder where the file should go is a conflict S3 has no word
    /// for, and is refused.
    pub(crate) async fn place_of(
        &self,
        who: &Principal,
        bucket: &str,
        key: &str,
    ) -> S3Result<(String, Option<String>)> {
        let bucket = self.bucket(who, bucket).await?;
        let key = Key::parse(key)?;
        let entries = self.node.entries();
        let parent = entries
            .make_folders(Some(&bucket.id), &key.dirs)
            .await
            .map_err(s3)?
            .unwrap_or(bucket.id);
        let Some(name) = key.file else {
            return Ok((parent, None));
        };
        match entries.child_named(Some(&parent), name).await.map_err(s3)? {
            Some(e) if e.kind == EntryKind::Folder => Err(s3_error!(
                InvalidArgument,
                "'{}' is a folder here (other keys begin with it), so no object can have that key",
                name.escape_debug()
            )),
            _ => Ok((parent, Some(name.to_owned()))),
        }
    }

    pub(crate) async fn h_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "access points are not supported"));
        };
        let source = self.object(&who, src_bucket, src_key).await?;
        Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check(&source)
        .map_err(|e| match e.code() {
            S3ErrorCode::NotModified => s3_error!(PreconditionFailed),
            _ => e,
        })?;
        // Who may not read all of it may not copy it.
        let opened = self
            .node
            .paid()
            .open_for(&source, &who.reader())
            .await
            .map_err(or_missing(S3ErrorCode::NoSuchKey))?;
        if opened.status.access.readable(source.entry.size) != (0..source.entry.size) {
            return Err(s3_error!(
                AccessDenied,
                "the source is a paid file not paid for"
            ));
        }
        if input.key.ends_with('/') {
            return Err(s3_error!(
                InvalidArgument,
                "a copy's key cannot end with '/'"
            ));
        }
        let entries = self.node.entries();
        let (parent, name) = self.place_of(&who, &input.bucket, &input.key).await?;
        let name = name.unwrap_or_default();
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let metadata = if replace {
            let mut m = metadata_in(input.metadata.as_ref(), input.content_type.as_deref())?;
            if let Some(v) = source.metadata.get(ETAG) {
                m.insert(ETAG.into(), v.clone());
            }
            m
        } else {
            source
                .metadata
                .iter()
                .filter(|(k, _)| k.starts_with(META))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let info = entries
            .copy_file(
                &source.entry.id,
                Some(parent),
                name,
                OnConflict::Replace,
                metadata,
                Some(META),
            )
            .await
            .map_err(s3)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&info)),
                last_modified: Some(time(info.entry.modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = self.principal(&req).await?;
        let input = &req.input;
        let bucket = self.bucket(&who, &input.bucket).await?;
        self.delete_key(&bucket.id, &input.key).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    /// Deletes what `key` names in the bucket folder `bucket` (nothing
    /// there is no error, as in S3), and the folders it leaves empty.
    async fn delete_key(&self, bucket: &str, key: &str) -> S3Result<()> {
        let path = Key::parse(key)?;
        let mut names = path.dirs.clone();
        names.extend(path.file);
        let entries = self.node.entries();
        let Some(found) = entries.at_path(Some(bucket), &names).await.map_err(s3)? else {
            return Ok(());
        };
        match (found.kind, path.file) {
            (EntryKind::File, Some(_)) => {
                entries.delete(&found.id, false).await.map_err(s3)?;
                if let Some(parent) = &found.parent {
                    entries.prune_empty(parent, bucket).await.map_err(s3)?;
                }
            }
            // A directory marker: the folder goes when empty.
            (EntryKind::Folder, None) => {
                entries.prune_empty(&found.id, bucket).await.map_err(s3)?;
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) async fn h_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&who, &input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            match self.delete_key(&bucket.id, &object.key).await {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    key: Some(object.key),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}
