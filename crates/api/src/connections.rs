//! The connections one listener keeps open, bounded in all and per client
//! address. At a bound, the connection idle longest (no request under way)
//! is shed to make room for the new one: a node full of idle keep-alive
//! connections still serves a new client at once, and only a node whose
//! every connection is busy turns new ones away.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use tokio_util::sync::CancellationToken;

/// The open connections of one listener.
#[derive(Clone)]
pub(crate) struct Connections(Arc<Shared>);

struct Shared {
    /// `[http] max_connections`; changed by a reload.
    max: AtomicUsize,
    /// `[http] max_connections_per_ip`; changed by a reload.
    max_per_ip: AtomicUsize,
    /// When the listener started: activity times count from here.
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: HashMap<u64, Record>,
    per_ip: HashMap<IpAddr, usize>,
}

struct Record {
    ip: IpAddr,
    activity: Arc<Activity>,
    shed: CancellationToken,
}

/// What a connection is doing, kept by its requests.
#[derive(Default)]
pub(crate) struct Activity {
    /// Requests whose response is not yet all sent.
    busy: AtomicUsize,
    /// Milliseconds from the epoch to its last request's start or end.
    last: AtomicU64,
    /// Milliseconds from the epoch to the client's last progress: bytes
    /// read from or written to its socket, a response body asked for more.
    progress: AtomicU64,
    /// Whether a response has started (its head is being sent).
    responding: AtomicBool,
    /// Whether the response waits on the node (its body was asked for
    /// more and had none yet), not on the client.
    waiting: AtomicBool,
    /// Whether the handler waits for more of the request's body.
    receiving: AtomicBool,
}

/// One admitted connection: counted until dropped; `shed` is cancelled
/// when the listener needs its place.
pub(crate) struct Admitted {
    of: Connections,
    id: u64,
    pub(crate) activity: Arc<Activity>,
    pub(crate) shed: CancellationToken,
}

impl Connections {
    pub(crate) fn new(max: usize, max_per_ip: usize) -> Self {
        Self(Arc::new(Shared {
            max: AtomicUsize::new(max.max(1)),
            max_per_ip: AtomicUsize::new(max_per_ip.max(1)),
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
        }))
    }

    /// New bounds, for connections admitted from now on (those open stay
    /// until they end or are shed for a new one).
    pub(crate) fn set_limits(&self, max: usize, max_per_ip: usize) {
        self.0.max.store(max.max(1), Ordering::Relaxed);
        self.0
            .max_per_ip
            .store(max_per_ip.max(1), Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        self.0.epoch.elapsed().as_millis() as u64
    }

    /// Admits a connection from `ip`, shedding the longest idle one (of
    /// that address when its bound is the one reached) if a bound is
    /// reached; `None` when every connection in the way is busy.
    pub(crate) fn admit(&self, ip: IpAddr) -> Option<Admitted> {
        let mut table = self.0.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.per_ip.get(&ip).copied().unwrap_or(0) >= self.0.max_per_ip.load(Ordering::Relaxed)
            && !table.shed_idlest(Some(ip))
        {
            return None;
        }
        if table.open.len() >= self.0.max.load(Ordering::Relaxed) && !table.shed_idlest(None) {
            return None;
        }
        table.next += 1;
        let id = table.next;
        let activity = Arc::new(Activity::default());
        activity.last.store(self.now(), Ordering::Relaxed);
        let shed = CancellationToken::new();
        table.open.insert(
            id,
            Record {
                ip,
                activity: activity.clone(),
                shed: shed.clone(),
            },
        );
        *table.per_ip.entry(ip).or_insert(0) += 1;
        Some(Admitted {
            of: self.clone(),
            id,
            activity,
            shed,
        })
    }

    /// Sheds the longest idle connection of all (when accepting fails for
    /// want of file descriptors); whether there was one.
    pub(crate) fn shed_one(&self) -> bool {
        let mut table = self.0.table.lock().unwrap_or_else(|p| p.into_inner());
        table.shed_idlest(None)
    }
}

impl Table {
    /// Sheds the connection (of `ip`, if given) with no request under way
    /// that was active longest ago: it stops counting now and closes as
    /// soon as its task sees the signal.
    fn shed_idlest(&mut self, ip: Option<IpAddr>) -> bool {
        let idlest = self
            .open
            .iter()
            .filter(|(_, r)| ip.is_none_or(|ip| r.ip == ip))
            .filter(|(_, r)| r.activity.busy.load(Ordering::Relaxed) == 0)
            .min_by_key(|(_, r)| r.activity.last.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        let Some(id) = idlest else {
            return false;
        };
        if let Some(record) = self.remove(id) {
            tracing::debug!(ip = %record.ip, "connection limit reached: the idlest connection is shed");
            record.shed.cancel();
        }
        true
    }

    fn remove(&mut self, id: u64) -> Option<Record> {
        let record = self.open.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&record.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&record.ip);
            }
        }
        Some(record)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut table = self.of.0.table.lock().unwrap_or_else(|p| p.into_inner());
        table.remove(self.id);
    }
}

impl Admitted {
    /// Whether a request has waited on its client for `timeout` with no
    /// progress: a client that stopped reading its response (holding the
    /// response's buffers) or stopped sending its body. A request the node
    /// itself is working on (its handler running, its body waiting for the
    /// node's bytes) is never stalled.
    pub(crate) fn stalled(&self, timeout: std::time::Duration) -> bool {
        let a = &self.activity;
        let on_client = a.receiving.load(Ordering::Relaxed)
            || (a.responding.load(Ordering::Relaxed) && !a.waiting.load(Ordering::Relaxed));
        a.busy.load(Ordering::Relaxed) > 0
            && on_client
            && self.of.now().saturating_sub(
                a.progress
                    .load(Ordering::Relaxed)
                    .max(a.last.load(Ordering::Relaxed)),
            ) >= timeout.as_millis() as u64
    }

    /// Marks a request under way until the returned guard is dropped (with
    /// the last byte of its response, or the response).
    pub(crate) fn request(&self) -> Busy {
        self.activity.busy.fetch_add(1, Ordering::Relaxed);
        self.activity.last.store(self.of.now(), Ordering::Relaxed);
        Busy {
            activity: self.activity.clone(),
            of: self.of.clone(),
        }
    }
}

/// A request under way on a connection.
pub(crate) struct Busy {
    activity: Arc<Activity>,
    of: Connections,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.activity.waiting.store(false, Ordering::Relaxed);
        self.activity.responding.store(false, Ordering::Relaxed);
        self.activity.receiving.store(false, Ordering::Relaxed);
        self.activity.last.store(self.of.now(), Ordering::Relaxed);
        self.activity.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request marked busy until it is all
/// sent (or dropped), and notes when the client takes more of it.
pub(crate) fn tracked(body: Body, busy: Busy) -> Body {
    busy.activity.responding.store(true, Ordering::Relaxed);
    Body::new(Watched {
        body,
        activity: busy.activity.clone(),
        side: Side::Response(busy),
    })
}

/// A request body that notes whether the handler waits for the client's
/// next bytes.
pub(crate) fn receiving<B>(body: B, of: &Admitted) -> Body
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    Body::new(Watched {
        body,
        activity: of.activity.clone(),
        side: Side::Request,
    })
}

/// A body of a request under way, noting whether it waits (the node for
/// the client's next bytes, or the client for the node's).
struct Watched<B> {
    body: B,
    activity: Arc<Activity>,
    side: Side,
}

enum Side {
    /// The request's body, read by the handler.
    Request,
    /// The response's body, whose request is busy until it is dropped.
    Response(Busy),
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Watched<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Side::Response(busy) = &self.side {
            // The client asks for more: progress.
            self.activity
                .progress
                .store(busy.of.now(), Ordering::Relaxed);
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        // Waiting from now on, or not; a body that ended waits for nothing.
        let pending = match self.side {
            Side::Request => &self.activity.receiving,
            Side::Response(_) => &self.activity.waiting,
        };
        pending.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket, noting when the client sends bytes or takes
/// bytes written to it.
pub(crate) struct Stamped<S> {
    io: S,
    activity: Arc<Activity>,
    of: Connections,
}

impl Admitted {
    /// `io`, its writes noted as this connection's progress.
    pub(crate) fn stamped<S>(&self, io: S) -> Stamped<S> {
        Stamped {
            io,
            activity: self.activity.clone(),
            of: self.of.clone(),
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stamped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity
                .progress
                .store(self.of.now(), Ordering::Relaxed);
        }
        read
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Stamped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<S> Stamped<S> {
    fn note(&self, written: &Poll<std::io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity
                .progress
                .store(self.of.now(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    /// At the bound the longest idle connection is shed, never a busy one,
    /// and an address at its own bound sheds only its own.
    #[test]
    fn the_idlest_connection_makes_room_and_busy_ones_stay() {
        let open = Connections::new(3, 2);
        let a = open.admit(ip(1)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = open.admit(ip(1)).unwrap();
        let busy = b.request();
        // ip 1 is at its bound: its idle `a` goes, busy `b` stays.
        let c = open.admit(ip(1)).unwrap();
        assert!(a.shed.is_cancelled() && !b.shed.is_cancelled());
        // Now both of ip 1 are busy: a third is refused.
        let busy_c = c.request();
        assert!(open.admit(ip(1)).is_none());
        let d = open.admit(ip(2)).unwrap();
        // All three places taken (b, c busy; d idle): d is shed for e.
        let e = open.admit(ip(3)).unwrap();
        assert!(d.shed.is_cancelled() && !e.shed.is_cancelled());
        // A request that ends makes its connection idle again.
        drop(busy);
        let f = open.admit(ip(4)).unwrap();
        assert!(b.shed.is_cancelled() || e.shed.is_cancelled());
        drop((busy_c, f));
        // Dropping shed connections does not count them twice.
        drop((a, b, c, d, e));
        assert_eq!(open.0.table.lock().unwrap().open.len(), 0);
        assert!(open.0.table.lock().unwrap().per_ip.is_empty());
    }
}
