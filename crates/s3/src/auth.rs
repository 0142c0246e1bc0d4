//! Access keys and who is asking: s3s checks a request's signature with
//! the secret the engine derives for its key id; the operations then ask
//! whose key it is.

use cairn_node::{Node, Reader, User};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Request, S3Result, s3_error};

use crate::S3Door;
use crate::error::internal;

/// The secrets of the node's access keys, for s3s's signature checks.
pub(crate) struct Keys {
    node: Node,
}

impl Keys {
    pub(crate) fn new(node: Node) -> Self {
        Self { node }
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.node.accounts().access_secret(access_key).await {
            Ok(Some((_, secret))) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => Err(internal(e)),
        }
    }
}

/// Whose key signed a request.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// The node's operator: the root folder.
    Operator,
    /// A gateway account: its home folder.
    User(User),
}

impl Principal {
    /// The folder whose folders are this principal's buckets (`None`:
    /// the root).
    pub(crate) fn root(&self) -> Option<&str> {
        match self {
            Self::Operator => None,
            Self::User(u) => Some(&u.home),
        }
    }

    /// This principal as the paid-file rules see a reader.
    pub(crate) fn reader(&self) -> Reader {
        match self {
            Self::Operator => Reader::Admin,
            Self::User(u) => Reader::User(u.clone()),
        }
    }

    /// The account's display name, for listings' owners.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::User(u) => u.login.clone(),
        }
    }
}

impl S3Door {
    /// Whose key signed `req` (s3s has checked the signature; a request
    /// without one never gets here).
    pub(crate) async fn principal<T>(&self, req: &S3Request<T>) -> S3Result<Principal> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "every request must be signed"));
        };
        match self
            .node
            .accounts()
            .access_secret(&credentials.access_key)
            .await
        {
            Ok(Some((None, _))) => Ok(Principal::Operator),
            Ok(Some((Some(user), _))) => Ok(Principal::User(user)),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => Err(internal(e)),
        }
    }
}
