//! The request-response codec of the shard protocol: one bounded frame
//! each way, in the version the stream negotiated (see
//! [`crate::protocol`]).

use std::io;

use futures_util::{AsyncRead, AsyncWrite};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;

use crate::protocol::{
    Request, Response, Version, read_request, read_response, write_request, write_response,
};

/// Frames shard requests and responses.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShardCodec;

impl Codec for ShardCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_request(io, Version::of(p.as_ref())).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_response(io).await
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_request(io, &req, Version::of(p.as_ref())).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_response(io, &res).await
    }
}
