//! HTTP metrics and the `/metrics` scrape.
//!
//! [`Http`] counts every door's requests by layer, route, method and
//! status, and the body bytes each layer received and sent, where they
//! pass: a middleware ([`Http::count`]) on the layer's router. The route is
//! the template the router matched (`/api/v1/entries/{id}`), never the path
//! a client sent, so a scanner cannot make a label per URL; a request no
//! route of the layer matched (its fallback) is `unmatched`.
//!
//! `h_metrics` answers the scrape on the main listener (behind the admin
//! secret) and [`app`] on `[metrics] listen` (without it); both call
//! `Node::scrape`, which encodes the engine's registry.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_node::Node;
use http_body::Body as HttpBody;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::AppState;
use crate::error::ApiError;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    layer: &'static str,
    route: String,
    method: &'static str,
    status: u16,
}

/// The HTTP counters of one node, registered in its registry. Cheap to
/// clone; made once by the binary and used for every layer's router.
#[derive(Clone)]
pub struct Http {
    requests: Family<RequestLabels, Counter>,
    bytes: Family<[(&'static str, &'static str); 2], Counter>,
}

impl Http {
    /// Registers the HTTP counters in `node`'s registry
    /// (`cairn_http_requests_total`, `cairn_http_body_bytes_total`). Call
    /// once per node.
    pub fn register(node: &Node) -> Self {
        let http = Self {
            requests: Family::default(),
            bytes: Family::default(),
        };
        node.metrics().register(
            "http_requests",
            "HTTP requests answered, by layer, matched route, method and status",
            http.requests.clone(),
        );
        node.metrics().register(
            "http_body_bytes",
            "HTTP body bytes, by layer and direction (in: request bodies, out: responses)",
            http.bytes.clone(),
        );
        http
    }

    /// `router` with its requests and bytes counted as `layer`'s (`native`,
    /// `openload`, …). Layered on each of the router's routes, where the
    /// matched route is known; merge or nest it after.
    pub fn count(&self, router: Router, layer: &'static str) -> Router {
        let counting = Arc::new(Counting {
            requests: self.requests.clone(),
            layer,
            // Owned clones: a guard of the family held across the second
            // call would deadlock its lock.
            received: self
                .bytes
                .get_or_create_owned(&[("layer", layer), ("direction", "in")]),
            sent: self
                .bytes
                .get_or_create_owned(&[("layer", layer), ("direction", "out")]),
        });
        router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| counting.clone().measure(req, next),
        ))
    }
}

/// One layer's counting middleware.
struct Counting {
    requests: Family<RequestLabels, Counter>,
    layer: &'static str,
    received: Counter,
    sent: Counter,
}

impl Counting {
    /// Counts the request when its answer's head is ready, and its body
    /// bytes as they pass either way.
    async fn measure(self: Arc<Self>, req: Request, next: Next) -> Response {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
        let method = method_label(req.method());
        let req = req.map(|body| Body::new(Counted::new(body, self.received.clone())));
        let response = next.run(req).await;
        let labels = RequestLabels {
            layer: self.layer,
            route,
            method,
            status: response.status().as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        response.map(|body| Body::new(Counted::new(body, self.sent.clone())))
    }
}

/// A method's label: the standard ones by name, any other `other` (a
/// client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|m| *m == method)
        .map_or("other", |m| m.as_str())
}

/// A body whose data bytes are added to a counter as they pass.
struct Counted {
    body: Body,
    counter: Counter,
}

impl Counted {
    fn new(body: Body, counter: Counter) -> Self {
        Self { body, counter }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counter.inc_by(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `GET /metrics`: every metric of the node, in the OpenMetrics text
/// format.
pub(crate) async fn h_metrics(State(s): State<AppState>) -> Response {
    scrape(&s.node).await
}

async fn scrape(node: &Node) -> Response {
    match node.scrape().await {
        Ok(text) => (
            [(header::CONTENT_TYPE, cairn_node::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The application of `[metrics] listen`: `/metrics` without the secret,
/// and nothing else.
pub fn app(node: Node) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(h_metrics))
        .with_state(AppState { node })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&odd), "other");
    }
}
