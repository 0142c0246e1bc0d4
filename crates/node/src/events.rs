//! What the node tells its watchers: job progress and catalog changes, in
//! order, over a broadcast channel that the WebSocket streams.
//!
//! A watcher that falls behind by more than the channel's capacity misses
//! events (and is told so by the WebSocket); it never slows the node down.
//!
//! Each event is numbered, and the last [`KEPT`] are kept, so a client
//! without a WebSocket can long-poll ([`crate::Node::poll_events`]): it asks for what
//! came after the last number it saw, and is told when some of that is no
//! longer kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::{Entry, JobRecord};

/// One event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A job started, finished, failed or was cancelled.
    Job {
        /// The job as it is now.
        job: JobRecord,
    },
    /// A running job moved on.
    JobProgress {
        /// Job id.
        id: String,
        /// Bytes done.
        done: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// An entry appeared.
    EntryAdded {
        /// The new entry.
        entry: Entry,
    },
    /// An entry was renamed, moved, replaced or had its metadata changed.
    EntryChanged {
        /// The entry as it is now.
        entry: Entry,
    },
    /// An entry (and, for a folder, everything below it) was deleted.
    EntryRemoved {
        /// Its id.
        id: String,
    },
    /// Aliases were computed for a blob.
    BlobAliases {
        /// The blob id.
        blob: String,
    },
    /// A private message came in.
    Message {
        /// The message, as kept.
        message: cairn_store::messages::Message,
    },
    /// Another identity granted this node a share (or gave it the
    /// share's new key).
    ShareGranted {
        /// The share's id.
        share: String,
        /// The identity that owns it (a peer id).
        owner: String,
        /// Its label.
        label: String,
    },
    /// A group's creator handed this node the group: joined, or its
    /// members or key changed.
    GroupChanged {
        /// The group's id.
        group: String,
        /// Its creator (a peer id).
        creator: String,
        /// Its label.
        label: String,
    },
    /// The node is stopping.
    Shutdown,
}

/// How many of the latest events are kept for long polls.
pub const KEPT: usize = 1024;

/// An event and its number.
#[derive(Debug, Clone, Serialize)]
pub struct Numbered {
    /// Its number: 1 for the node's first event since it started, then
    /// one more for each.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// What a long poll got.
#[derive(Debug, Clone, Serialize)]
pub struct Polled {
    /// The events after the number asked, oldest first.
    pub events: Vec<Numbered>,
    /// What to ask after next time: the last number given, else the last
    /// there was.
    pub next: u64,
    /// Some events after the number asked are no longer kept.
    pub missed: bool,
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub(crate) struct Events(Arc<Inner>);

struct Inner {
    tx: broadcast::Sender<Event>,
    /// The latest events, and the last number given.
    kept: Mutex<(VecDeque<Numbered>, u64)>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Inner {
            tx: broadcast::channel(1024).0,
            kept: Mutex::new((VecDeque::with_capacity(KEPT), 0)),
        }))
    }

    pub(crate) fn send(&self, event: Event) {
        // Numbered and sent under one lock, so numbers follow the order
        // watchers see.
        let mut kept = self.kept();
        kept.1 += 1;
        let seq = kept.1;
        if kept.0.len() == KEPT {
            kept.0.pop_front();
        }
        kept.0.push_back(Numbered {
            seq,
            event: event.clone(),
        });
        // No receivers is fine: nobody is watching.
        let _ = self.0.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.tx.subscribe()
    }

    /// The events after number `after` (at most `max`), waiting up to
    /// `wait` for one when there is none yet.
    pub(crate) async fn poll(&self, after: u64, wait: Duration, max: usize) -> Polled {
        // Subscribed before looking, so nothing sent in between is missed.
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let polled = self.since(after, max);
            if !polled.events.is_empty() || polled.missed {
                return polled;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return polled,
                Ok(_) => continue,
            }
        }
    }

    fn since(&self, after: u64, max: usize) -> Polled {
        let kept = self.kept();
        let (events, last) = (&kept.0, kept.1);
        let oldest = events.front().map_or(last + 1, |e| e.seq);
        let taken: Vec<Numbered> = events
            .iter()
            .filter(|e| e.seq > after)
            .take(max.max(1))
            .cloned()
            .collect();
        Polled {
            next: taken.last().map_or(last, |e| e.seq),
            missed: after + 1 < oldest && after < last,
            events: taken,
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, (VecDeque<Numbered>, u64)> {
        self.0.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(i: usize) -> Event {
        Event::EntryRemoved { id: i.to_string() }
    }

    #[tokio::test]
    async fn a_long_poll_gets_what_came_after_and_hears_what_was_dropped() {
        let events = Events::new();
        let none = events.poll(0, Duration::ZERO, 10).await;
        assert_eq!((none.events.len(), none.next, none.missed), (0, 0, false));
        events.send(removed(1));
        events.send(removed(2));
        let got = events.poll(0, Duration::ZERO, 10).await;
        assert_eq!(
            got.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(got.next, 2);
        let one = events.poll(0, Duration::ZERO, 1).await;
        assert_eq!((one.events.len(), one.next), (1, 1));

        // A poll waits for the next event.
        let waiting = {
            let events = events.clone();
            tokio::spawn(async move { events.poll(2, Duration::from_secs(10), 10).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        events.send(removed(3));
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.events[0].seq, 3);

        // More than are kept: the oldest go, and a poll from before says so.
        for i in 0..KEPT + 10 {
            events.send(removed(i));
        }
        let late = events.poll(2, Duration::ZERO, 5).await;
        assert!(late.missed);
        assert_eq!(late.events[0].seq, (3 + KEPT + 10 - KEPT + 1) as u64);
        let nothing = events
            .poll(late.next + 10_000, Duration::from_millis(10), 5)
            .await;
        assert!(nothing.events.is_empty() && !nothing.missed);
    }
}
