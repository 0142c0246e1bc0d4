//! cairn's S3-compatible API, for rclone, aws-cli and every S3 SDK.
//!
//! A translation, like the seeds' layers: the protocol (SigV4 headers
//! and presigned URLs, aws-chunked bodies with their trailers, the XML)
//! is the `s3s` crate's; this crate maps its operations onto the engine's
//! entries and owns nothing but the names.
//!
//! - **Who.** Every request is signed with an access key
//!   (`node.accounts().access_key`): the operator's sees the node's root,
//!   an account's its home folder. Nothing is anonymous.
//! - **Buckets** are the top-level folders of that root; **objects** are
//!   the files below them, a key's `/` making folders (made as needed,
//!   removed again when a delete leaves them empty). A key ending in `/`
//!   is a folder ("directory marker"). Keys with an empty, `.` or `..`
//!   part cannot name a file and are refused.
//! - **Content.** Bodies are sealed through the engine's one pipeline as
//!   any upload; reads are verified, ranged, and go through the paid-file
//!   rules and the account's traffic limit; a quota applies to writes.
//! - **ETags.** A single-part object's is the MD5 of its bytes (computed
//!   as it is sealed, and kept as the blob's `md5` alias); a multipart
//!   object's is S3's: the MD5 of its parts' MD5s, a dash, their count.
//! - **Metadata** (`x-amz-meta-*`, the content headers) is kept in the
//!   entry's metadata under `s3.`.
//!
//! Modules: `auth` (keys and who is asking), `error` (engine errors as
//! S3's), `keys` (bucket names, keys, the paths they name), `buckets`,
//! `objects`, `list`, `multipart`.

mod auth;
mod buckets;
mod error;
mod keys;
mod list;
mod multipart;
mod objects;

use cairn_node::Node;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result};

/// The S3 door over one node. Cheap to clone.
#[derive(Clone)]
pub struct S3Door {
    node: Node,
}

/// The S3 API as an axum router, to serve on a listener of its own.
pub fn router(node: Node) -> axum::Router {
    let mut builder = S3ServiceBuilder::new(S3Door { node: node.clone() });
    builder.set_auth(auth::Keys::new(node));
    let service = builder.build();
    let service = axum::error_handling::HandleError::new(service, |e: s3s::HttpError| async move {
        tracing::warn!(error = ?e, "S3 request failed");
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    });
    axum::Router::new().fallback_service(service)
}

#[async_trait::async_trait]
impl S3 for S3Door {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.h_list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.h_create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.h_head_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.h_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.h_get_bucket_location(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.h_list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.h_list_objects_v2(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.h_head_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.h_get_object(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.h_put_object(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.h_copy_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.h_delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.h_delete_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.h_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.h_upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.h_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.h_abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.h_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.h_list_multipart_uploads(req).await
    }
}
