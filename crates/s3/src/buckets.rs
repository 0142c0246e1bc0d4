//! Buckets: the top-level folders of the caller's root.

use cairn_node::EntryKind;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::S3Door;
use crate::error::s3;
use crate::keys::{time, valid_bucket};

/// The most folders a root's listing reads.
const MAX_BUCKETS: u64 = 10_000;

impl S3Door {
    pub(crate) async fn h_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = self.principal(&req).await?;
        let root = who.root().map(str::to_owned);
        let children = self
            .node
            .entries()
            .children(root, MAX_BUCKETS)
            .await
            .map_err(s3)?;
        let prefix = req.input.prefix.unwrap_or_default();
        let mut buckets: Vec<Bucket> = children
            .into_iter()
            .filter(|e| e.kind == EntryKind::Folder && valid_bucket(&e.name))
            .filter(|e| e.name.starts_with(&prefix))
            .map(|e| Bucket {
                name: Some(e.name),
                creation_date: Some(time(e.created)),
                ..Default::default()
            })
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some(who.name()),
                id: Some(who.name()),
            }),
            ..Default::default()
        }))
    }

    pub(crate) async fn h_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = self.principal(&req).await?;
        let name = req.input.bucket;
        if !valid_bucket(&name) {
            return Err(s3_error!(
                InvalidBucketName,
                "a bucket name is 3 to 63 of a-z 0-9 . -, begins and ends with a letter or digit"
            ));
        }
        let entries = self.node.entries();
        if let Some(found) = entries.child_named(who.root(), &name).await.map_err(s3)? {
            return Err(if found.kind == EntryKind::Folder {
                s3_error!(BucketAlreadyOwnedByYou)
            } else {
                s3_error!(BucketAlreadyExists, "a file of that name is in the way")
            });
        }
        match entries
            .create_folder(who.root().map(str::to_owned), name.clone())
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == cairn_node::ErrorKind::NameTaken => {
                return Err(s3_error!(BucketAlreadyOwnedByYou));
            }
            Err(e) => return Err(s3(e)),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    pub(crate) async fn h_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let who = self.principal(&req).await?;
        self.bucket(&who, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    pub(crate) async fn h_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let who = self.principal(&req).await?;
        let folder = self.bucket(&who, &req.input.bucket).await?;
        let entries = self.node.entries();
        let inside = entries
            .children(Some(folder.id.clone()), 1)
            .await
            .map_err(s3)?;
        let uploads = entries.multiparts_in(&folder.id, "", 1).await.map_err(s3)?;
        if !inside.is_empty() || !uploads.is_empty() {
            return Err(s3_error!(BucketNotEmpty));
        }
        entries.delete(&folder.id, false).await.map_err(|e| {
            if e.kind() == cairn_node::ErrorKind::Conflict {
                s3_error!(BucketNotEmpty)
            } else {
                s3(e)
            }
        })?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(crate) async fn h_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let who = self.principal(&req).await?;
        self.bucket(&who, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }
}
