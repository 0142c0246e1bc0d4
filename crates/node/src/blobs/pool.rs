//! What every stream of a blob reads with: the read workers, which read,
//! decrypt and verify segments, and the budget of segment buffers they
//! read into.
//!
//! A segment is read only once a buffer of the budget is granted for it,
//! and the buffer goes back only when the last byte of it has been handed
//! to the client's socket. So the memory of all streams together is
//! bounded by `[read] buffer_mib`, whatever the number of clients; a slow
//! client holds a buffer, never a thread. Buffers are reused: a released
//! one waits in a spare list for the next grant, and spares left unused
//! for a while are freed, so the memory of a burst is given back.
//!
//! Grants are fair between streams: a stream's first segment goes before
//! the next segment of a stream already under way, and an eighth of the
//! budget is kept for first segments, so a new reader starts at once
//! however many are reading; within each class requests are served in the
//! order they came, and a first segment is read before the others waiting
//! for a worker. Reading ahead takes only what nobody waits for and
//! leaves half the budget free.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_core::layout::SEGMENT_SIZE;
use tokio::sync::oneshot;

use crate::tasks::Workers;

/// Spare buffers kept however long they go unused.
const KEEP_SPARE: usize = 4;

/// How long a spare buffer past [`KEEP_SPARE`] is kept unused.
const SPARE_FOR: Duration = Duration::from_secs(2);

/// The nice level of the read workers.
const READ_NICE: i32 = 5;

/// The read workers and the segment budget every stream shares.
#[derive(Clone)]
pub(crate) struct ReadPool {
    pub(crate) workers: Arc<Workers>,
    pub(crate) budget: Budget,
}

impl ReadPool {
    /// `workers` threads and `buffer_mib` MiB of segment buffers (at least
    /// one segment's worth).
    pub(crate) fn new(workers: usize, buffer_mib: u64) -> Self {
        let slots = ((buffer_mib << 20) / SEGMENT_SIZE).max(1) as usize;
        Self {
            // Reading runs below the threads that answer requests, so a
            // status or a listing waits for no stream even with every core
            // busy decrypting.
            workers: Arc::new(Workers::new("cairn-read", workers, READ_NICE)),
            budget: Budget::new(slots),
        }
    }
}

/// Which grants go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// A stream's first segment.
    First,
    /// The segment a stream under way needs next.
    Next,
}

/// A budget of segment buffers; cheap to clone.
#[derive(Clone)]
pub(crate) struct Budget(Arc<Inner>);

struct Inner {
    total: usize,
    /// Slots only a first segment may take: a new reader starts at once
    /// even while the streams under way want every other slot.
    reserve: usize,
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Waiting grants by class, then arrival.
    waiting: BTreeMap<(Class, u64), Waiter>,
    arrivals: u64,
    /// Released buffers, the most recently released last.
    spare: Vec<(Vec<u8>, Instant)>,
}

struct Waiter {
    need: usize,
    grant: oneshot::Sender<Vec<Slot>>,
}

/// One segment's share of the budget, with its buffer; given back when
/// dropped (when the bytes read into it are gone to the client).
pub(crate) struct Slot {
    budget: Option<Arc<Inner>>,
    pub(crate) buf: Vec<u8>,
}

impl AsRef<[u8]> for Slot {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(budget) = self.budget.take() {
            let buf = std::mem::take(&mut self.buf);
            let mut state = budget.lock();
            state.free += 1;
            state.keep(buf, budget.total);
            state.grant_waiting(&budget);
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Keeps a released buffer for reuse (never more than the budget).
    fn keep(&mut self, mut buf: Vec<u8>, total: usize) {
        if buf.capacity() >= SEGMENT_SIZE as usize && self.spare.len() < total {
            buf.clear();
            self.spare.push((buf, Instant::now()));
        }
    }

    /// `need` slots of class `class` if they are free and no grant of its
    /// class or a better one waits.
    fn grant_now(&mut self, budget: &Arc<Inner>, need: usize, class: Class) -> Option<Vec<Slot>> {
        let ahead = self.waiting.keys().next().is_some_and(|(c, _)| *c <= class);
        (!ahead && self.fits(budget, need, class)).then(|| self.take(budget, need))
    }

    /// Whether `need` slots of class `class` are free (past the reserve,
    /// unless it is a first segment).
    fn fits(&self, budget: &Inner, need: usize, class: Class) -> bool {
        match class {
            Class::First => self.free >= need,
            Class::Next => self.free >= need + budget.reserve,
        }
    }

    /// `need` slots out of the free ones, with spare buffers where there
    /// are.
    fn take(&mut self, budget: &Arc<Inner>, need: usize) -> Vec<Slot> {
        self.free -= need;
        (0..need)
            .map(|_| Slot {
                budget: Some(budget.clone()),
                buf: self.spare.pop().map(|(b, _)| b).unwrap_or_default(),
            })
            .collect()
    }

    /// Grants what the free slots allow to the waiters, in order (the
    /// first waiter that does not fit holds the rest back, so a grant of
    /// several slots is never starved by single ones).
    fn grant_waiting(&mut self, budget: &Arc<Inner>) {
        while let Some((&key, waiter)) = self.waiting.first_key_value() {
            if !self.fits(budget, waiter.need, key.0) {
                break;
            }
            let Some(waiter) = self.waiting.remove(&key) else {
                break;
            };
            let slots = self.take(budget, waiter.need);
            if let Err(slots) = waiter.grant.send(slots) {
                // The stream went away while it waited: its slots go back
                // without running their drop (which would take this lock).
                for mut slot in slots {
                    slot.budget = None;
                    self.free += 1;
                    self.keep(std::mem::take(&mut slot.buf), budget.total);
                }
            }
        }
    }
}

impl Budget {
    pub(crate) fn new(total: usize) -> Self {
        Self(Arc::new(Inner {
            total,
            reserve: total / 8,
            state: Mutex::new(State {
                free: total,
                waiting: BTreeMap::new(),
                arrivals: 0,
                spare: Vec::new(),
            }),
        }))
    }

    /// The most slots one grant of the next segments of a stream can get
    /// (all but the reserve).
    pub(crate) fn most(&self) -> usize {
        self.0.total - self.0.reserve
    }

    /// `need` slots (at most the whole budget), as soon as they are free
    /// and every grant ahead of this one is served.
    pub(crate) async fn acquire(&self, need: usize, class: Class) -> Vec<Slot> {
        let need = need.clamp(1, self.0.total);
        let rx = {
            let mut state = self.0.lock();
            if let Some(slots) = state.grant_now(&self.0, need, class) {
                return slots;
            }
            let (tx, rx) = oneshot::channel();
            state.arrivals += 1;
            let key = (class, state.arrivals);
            state.waiting.insert(key, Waiter { need, grant: tx });
            rx
        };
        // The sender is dropped only when granted or when the budget is
        // gone, which outlives every stream that holds a clone of it.
        rx.await.unwrap_or_default()
    }

    /// `need` slots now, if [`Budget::acquire`] would grant them without
    /// waiting.
    pub(crate) fn try_now(&self, need: usize, class: Class) -> Option<Vec<Slot>> {
        let need = need.clamp(1, self.0.total);
        self.0.lock().grant_now(&self.0, need, class)
    }

    /// `need` slots for reading ahead, if nobody waits and at least half
    /// the budget would stay free.
    pub(crate) fn try_ahead(&self, need: usize) -> Option<Vec<Slot>> {
        let mut state = self.0.lock();
        if !state.waiting.is_empty() || state.free < need + self.0.total / 2 {
            return None;
        }
        Some(state.take(&self.0, need))
    }

    /// Frees the spare buffers left unused for a while (keeping a few),
    /// and asks the allocator to give what it freed back to the system.
    pub(crate) fn trim(&self) {
        let freed: Vec<(Vec<u8>, Instant)> = {
            let mut state = self.0.lock();
            let keep_from = state.spare.len().saturating_sub(KEEP_SPARE);
            let now = Instant::now();
            // The oldest releases come first in the list.
            let stale = state.spare[..keep_from]
                .iter()
                .take_while(|(_, at)| now.duration_since(*at) >= SPARE_FOR)
                .count();
            state.spare.drain(..stale).collect()
        };
        if !freed.is_empty() {
            drop(freed);
            give_back_freed_memory();
        }
    }

    /// Slots in use and spare buffers held (tests, status).
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> (usize, usize) {
        let state = self.0.lock();
        (self.0.total - state.free, state.spare.len())
    }
}

/// Returns the free pages of every malloc arena to the system (glibc
/// keeps them otherwise: after a burst of downloads, the connections'
/// and requests' small blocks are scattered over the threads' arenas).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes malloc's own
    // locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(mut slots: Vec<Slot>) -> Vec<Slot> {
        for s in &mut slots {
            s.buf.reserve_exact(SEGMENT_SIZE as usize);
        }
        slots
    }

    /// The budget is never exceeded; a first segment goes before the next
    /// segments of streams under way; a released buffer is reused.
    #[tokio::test]
    async fn grants_stay_within_the_budget_and_first_segments_go_first() {
        let budget = Budget::new(2);
        let held = filled(budget.acquire(2, Class::First).await);
        assert_eq!(budget.in_use(), (2, 0));
        assert!(budget.try_ahead(1).is_none(), "no slot is free");
        let next = tokio::spawn({
            let b = budget.clone();
            async move { b.acquire(1, Class::Next).await }
        });
        tokio::task::yield_now().await;
        let first = tokio::spawn({
            let b = budget.clone();
            async move { b.acquire(1, Class::First).await }
        });
        tokio::task::yield_now().await;
        let mut held = held.into_iter();
        drop(held.next());
        let first = first.await.unwrap();
        assert!(
            !next.is_finished(),
            "a next segment went before a first one"
        );
        assert!(
            first[0].buf.capacity() >= SEGMENT_SIZE as usize,
            "buffer not reused"
        );
        drop(held);
        let next = next.await.unwrap();
        assert_eq!(budget.in_use(), (2, 0));
        drop((first, next));
        assert_eq!(budget.in_use().0, 0);
    }

    /// An eighth of the budget is kept for first segments.
    #[tokio::test]
    async fn the_reserve_is_for_first_segments() {
        let budget = Budget::new(8);
        let under_way = budget.acquire(7, Class::Next).await;
        assert!(
            budget.try_now(1, Class::Next).is_none(),
            "the reserve went to a next segment"
        );
        let first = budget
            .try_now(1, Class::First)
            .expect("a first segment takes the reserve");
        drop(under_way);
        assert!(
            budget.try_now(7, Class::Next).is_none(),
            "would eat the reserve"
        );
        assert_eq!(budget.try_now(6, Class::Next).map(|s| s.len()), Some(6));
        drop(first);
    }

    /// A waiter that gives up leaves no slot behind; reading ahead takes
    /// only from a half-free budget; stale spares are freed.
    #[tokio::test]
    async fn abandoned_grants_and_spares_are_given_back() {
        let budget = Budget::new(4);
        let held = filled(budget.acquire(4, Class::Next).await);
        let gone = tokio::spawn({
            let b = budget.clone();
            async move { b.acquire(3, Class::Next).await }
        });
        tokio::task::yield_now().await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        assert_eq!(budget.in_use(), (0, 4));
        let ahead = budget.try_ahead(2).expect("half is free");
        assert!(budget.try_ahead(1).is_none(), "would leave less than half");
        drop(ahead);
        budget.trim();
        assert_eq!(budget.in_use().1, 4, "fresh spares are kept");
    }
}
