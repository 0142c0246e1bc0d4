//! Multipart uploads, on the engine's (`Entries::begin_multipart` and
//! the rest): each part sealed as it arrives, the completed object one
//! blob, its ETag S3's (the MD5 of the parts' MD5s, a dash, their count).

use md5::Digest;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::S3Door;
use crate::auth::Principal;
use crate::error::{or_missing, s3};
use crate::keys::{ETAG, Key, META, metadata_in, time};
use crate::objects::body_stream;

/// The smallest part but the last, as S3 has it.
const MIN_PART: u64 = 5 << 20;
/// Most parts one listing holds.
const MAX_PARTS: u32 = 1000;

fn no_upload(id: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        format!("no multipart upload '{}' for this key", id.escape_debug()),
    )
}

/// `tag` without its quotes.
fn bare(tag: &str) -> &str {
    tag.trim_matches('"')
}

impl S3Door {
    /// Upload `id`, if it is `key`'s in bucket `bucket` of `who`.
    async fn upload_of(
        &self,
        who: &Principal,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> S3Result<cairn_node::MultipartUpload> {
        let folder = self.bucket(who, bucket).await?;
        let path = Key::parse(key)?;
        let Some(name) = path.file else {
            return Err(no_upload(id));
        };
        let entries = self.node.entries();
        let upload = entries.multipart(id).await.map_err(|_| no_upload(id))?;
        let parent = if path.dirs.is_empty() {
            Some(folder.id)
        } else {
            entries
                .at_path(Some(&folder.id), &path.dirs)
                .await
                .map_err(s3)?
                .map(|e| e.id)
        };
        if parent.as_deref() != Some(upload.parent.as_str()) || upload.name != name {
            return Err(no_upload(id));
        }
        Ok(upload)
    }

    /// Refuses a part that would take an account past its quota with the
    /// parts already sent (which count once the file is complete; this
    /// keeps an upload never completed from holding more meanwhile).
    async fn parts_fit_quota(
        &self,
        user: &cairn_node::User,
        upload: &str,
        adding: u64,
    ) -> S3Result<()> {
        let Some(limit) = user.storage_limit else {
            return Ok(());
        };
        let info = self.node.accounts().info(user).await.map_err(s3)?;
        let held: u64 = self
            .node
            .entries()
            .parts(upload, 0, cairn_node::MAX_PART_NUMBER)
            .await
            .map_err(s3)?
            .iter()
            .map(|p| p.size)
            .sum();
        if info.storage_used + held + adding > limit {
            let mut err = S3Error::with_message(
                S3ErrorCode::Custom("QuotaExceeded".into()),
                format!("the account's storage quota of {limit} bytes would be passed"),
            );
            err.set_status_code(axum::http::StatusCode::FORBIDDEN);
            return Err(err);
        }
        Ok(())
    }

    pub(crate) async fn h_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        if input.key.ends_with('/') {
            return Err(s3_error!(
                InvalidArgument,
                "a multipart upload's key cannot end with '/'"
            ));
        }
        let (parent, name) = self.place_of(&who, &input.bucket, &input.key).await?;
        let metadata = metadata_in(input.metadata.as_ref(), input.content_type.as_deref())?;
        let upload = self
            .node
            .entries()
            .begin_multipart(parent, name.unwrap_or_default(), metadata)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let upload = self
            .upload_of(&who, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let number = u32::try_from(input.part_number)
            .ok()
            .filter(|n| (1..=cairn_node::MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| s3_error!(InvalidArgument, "part numbers are 1 to 10,000"))?;
        let size = input.content_length.map(|n| n.max(0) as u64);
        if let Principal::User(user) = &who {
            self.parts_fit_quota(user, &upload.id, size.unwrap_or(0))
                .await?;
        }
        let (body, fault) = body_stream(input.body);
        let part = self
            .node
            .entries()
            .put_part(&upload.id, number, body, size)
            .await
            .map_err(|e| {
                if e.kind() == cairn_node::ErrorKind::NotFound {
                    no_upload(&upload.id)
                } else {
                    fault.or(e)
                }
            })?;
        if let Some(b64) = input.content_md5.as_deref() {
            use base64::Engine;
            let sent = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map(hex::encode)
                .unwrap_or_default();
            if sent != part.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "the part's MD5 is {}, Content-MD5 says {sent}; send the part again",
                    part.md5
                ));
            }
        }
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.md5)),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let upload = self
            .upload_of(&who, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let asked = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(MalformedXML, "the upload lists no parts"));
        }
        let entries = self.node.entries();
        let stored = entries
            .parts(&upload.id, 0, cairn_node::MAX_PART_NUMBER)
            .await
            .map_err(|_| no_upload(&upload.id))?;
        // S3 checks the order first, then each part, then their sizes.
        let asked: Vec<(i32, Option<String>)> = asked
            .iter()
            .map(|p| {
                let tag = p.e_tag.as_ref().map(|t| bare(t.value()).to_owned());
                (p.part_number.unwrap_or(0), tag)
            })
            .collect();
        if asked.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(s3_error!(
                InvalidPartOrder,
                "the parts must be listed in ascending order"
            ));
        }
        let mut chosen = Vec::with_capacity(asked.len());
        for (n, tag) in &asked {
            let found = u32::try_from(*n)
                .ok()
                .and_then(|n| stored.iter().find(|s| s.number == n))
                .filter(|s| tag.as_ref().is_none_or(|t| *t == s.md5))
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "part {n} was not uploaded, or its ETag differs"
                    )
                })?;
            chosen.push(found);
        }
        if let Some(small) = chosen[..chosen.len() - 1]
            .iter()
            .find(|p| p.size < MIN_PART)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "part {} is under 5 MiB and not the last",
                small.number
            ));
        }
        let mut digests = md5::Md5::new();
        for p in &chosen {
            digests.update(hex::decode(&p.md5).unwrap_or_default());
        }
        let numbers: Vec<u32> = chosen.iter().map(|p| p.number).collect();
        let composite = format!("{}-{}", hex::encode(digests.finalize()), numbers.len());
        let extra = [(ETAG.to_owned(), composite.clone())].into();
        entries
            .complete_multipart(&upload.id, &numbers, extra, Some(META))
            .await
            .map_err(or_missing(S3ErrorCode::NoSuchUpload))?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(composite)),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let upload = self
            .upload_of(&who, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let entries = self.node.entries();
        if !entries.abort_multipart(&upload.id).await.map_err(s3)? {
            return Err(no_upload(&upload.id));
        }
        let bucket = self.bucket(&who, &input.bucket).await?;
        entries
            .prune_empty(&upload.parent, &bucket.id)
            .await
            .map_err(s3)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn h_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let upload = self
            .upload_of(&who, &input.bucket, &input.key, &input.upload_id)
            .await?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input
            .max_parts
            .map_or(MAX_PARTS, |m| (m.max(0) as u32).min(MAX_PARTS));
        let mut parts = self
            .node
            .entries()
            .parts(&upload.id, marker, max + 1)
            .await
            .map_err(|_| no_upload(&upload.id))?;
        let truncated = parts.len() > max as usize;
        parts.truncate(max as usize);
        let next = parts.last().map(|p| p.number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: truncated.then_some(next).flatten(),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        e_tag: Some(ETag::Strong(p.md5)),
                        last_modified: Some(time(p.created)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let who = self.principal(&req).await?;
        let input = req.input;
        let bucket = self.bucket(&who, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let (dirs, name_prefix) = prefix.rsplit_once('/').unwrap_or(("", &prefix));
        let names: Vec<&str> = dirs.split('/').filter(|n| !n.is_empty()).collect();
        let entries = self.node.entries();
        let folder = if names.is_empty() {
            Some(bucket.id.clone())
        } else {
            entries
                .at_path(Some(&bucket.id), &names)
                .await
                .map_err(s3)?
                .map(|e| e.id)
        };
        let max = input.max_uploads.map_or(1000, |m| m.clamp(0, 1000) as u32);
        let uploads = match folder {
            Some(f) => entries
                .multiparts_in(&f, name_prefix, max)
                .await
                .map_err(s3)?,
            None => Vec::new(),
        };
        let base = if names.is_empty() {
            String::new()
        } else {
            format!("{}/", names.join("/"))
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            max_uploads: Some(max as i32),
            is_truncated: Some(false),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(format!("{base}{}", u.name)),
                        upload_id: Some(u.id),
                        initiated: Some(time(u.created)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}
