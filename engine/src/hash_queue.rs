//! The queue in front of password hashing: bounded, and fair across the
//! addresses that ask.
//!
//! Argon2 is meant to be slow (tens of milliseconds of a core, 19 MiB each),
//! so only a few hashes run at once and the rest wait. An unbounded wait
//! would let one flood delay everyone by seconds; a plain bounded one would
//! let a flood fill it and turn real people away. So:
//!
//! - at most `capacity` wait; past that a request is refused at once (the
//!   API's 503 with `Retry-After`), never left hanging;
//! - the waiting are served round-robin by address, one from each address
//!   with anyone waiting, so a person who is not flooding waits behind at
//!   most one hash per flooding address, whatever their volume;
//! - when the queue is full, a request from an address with nobody waiting
//!   takes the place of the newest waiter of the address with the most
//!   waiting: a flood can only push itself out;
//! - a check from an address that has signed in to the account before
//!   ([`Lane::Known`], the throttle's knowledge) waits in a lane of its own,
//!   served first: a flood from more addresses than the queue holds can
//!   turn strangers away, but not the account's owner at home.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use crate::sync::lock;

/// Who asked for a hash: an address (an IPv4 address, an IPv6 /64), or a
/// fixed key for hashes nobody outside asked for.
pub type Asker = [u8; 16];

/// Which lane a hash waits in (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The account's owner, as far as the throttle knows: an address that
    /// signed in to it before.
    Known,
    /// Everyone else, fair by address.
    Open,
}

/// The queue is full and this request's address already has its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password service is busy")]
pub struct Busy;

#[derive(Debug)]
struct State {
    /// Hashes allowed at once.
    permits: usize,
    running: usize,
    capacity: usize,
    waiting: usize,
    /// Each address's waiters, oldest first.
    queues: HashMap<Asker, VecDeque<oneshot::Sender<Slot>>>,
    /// The addresses with waiters, in the order they are served.
    ring: VecDeque<Asker>,
    /// The known lane's waiters, oldest first (served before the ring);
    /// counted apart, with a capacity of their own.
    known: VecDeque<oneshot::Sender<Slot>>,
}

/// The queue. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct HashQueue {
    state: Arc<Mutex<State>>,
}

/// The right to run one hash; handed to the next waiter when dropped.
#[derive(Debug)]
pub struct Slot {
    queue: Option<HashQueue>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            queue.release();
        }
    }
}

impl HashQueue {
    /// A queue running `permits` hashes at once, with up to `capacity` waiting.
    pub fn new(permits: usize, capacity: usize) -> Self {
        HashQueue {
            state: Arc::new(Mutex::new(State {
                permits: permits.max(1),
                running: 0,
                capacity,
                waiting: 0,
                queues: HashMap::new(),
                ring: VecDeque::new(),
                known: VecDeque::new(),
            })),
        }
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        lock(&self.state).running
    }

    /// Waits for a slot for `asker` in `lane`, or is refused at once when
    /// the queue is full (or this waiter was pushed out by a fairer one).
    pub async fn slot(&self, asker: Asker, lane: Lane) -> Result<Slot, Busy> {
        let receiver = {
            let mut state = lock(&self.state);
            if state.running < state.permits {
                state.running += 1;
                return Ok(Slot {
                    queue: Some(self.clone()),
                });
            }
            if lane == Lane::Known {
                // Skip those that gave up while counting the lane.
                state.known.retain(|waiter| !waiter.is_closed());
                if state.known.len() >= state.capacity {
                    return Err(Busy);
                }
                let (sender, receiver) = oneshot::channel();
                state.known.push_back(sender);
                receiver
            } else {
                Self::join_the_ring(&mut state, asker)?
            }
        };
        self.wait(receiver).await
    }

    /// Queues an open-lane waiter of `asker`, pushing out the largest
    /// address's newest when full; `Busy` when `asker` has its share.
    fn join_the_ring(state: &mut State, asker: Asker) -> Result<oneshot::Receiver<Slot>, Busy> {
        if state.waiting >= state.capacity {
            let has_waiters = state.queues.get(&asker).is_some_and(|q| !q.is_empty());
            if has_waiters || !push_out_the_largest(state) {
                return Err(Busy);
            }
        }
        let (sender, receiver) = oneshot::channel();
        let queue = state.queues.entry(asker).or_default();
        let first = queue.is_empty();
        queue.push_back(sender);
        if first {
            state.ring.push_back(asker);
        }
        state.waiting += 1;
        Ok(receiver)
    }

    async fn wait(&self, receiver: oneshot::Receiver<Slot>) -> Result<Slot, Busy> {
        let mut slot = receiver.await.map_err(|_| Busy)?;
        // The slot was handed over without its queue (see `release`).
        slot.queue = Some(self.clone());
        Ok(slot)
    }

    /// Gives a finished hash's slot to the next waiter: the known lane's
    /// first, then round-robin by address; waiters that gave up meanwhile
    /// are skipped.
    fn release(&self) {
        let mut state = lock(&self.state);
        while let Some(next) = state.known.pop_front() {
            if next.send(Slot { queue: None }).is_ok() {
                return;
            }
        }
        while let Some(asker) = state.ring.pop_front() {
            let Some(queue) = state.queues.get_mut(&asker) else {
                continue;
            };
            let next = queue.pop_front();
            let more = !queue.is_empty();
            if more {
                state.ring.push_back(asker);
            } else {
                state.queues.remove(&asker);
            }
            let Some(next) = next else { continue };
            state.waiting -= 1;
            if next.send(Slot { queue: None }).is_ok() {
                // The slot passes on: `running` stays as it is.
                return;
            }
        }
        state.running -= 1;
    }

    /// Hashes waiting for a slot (the metrics' queue depth; tests).
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiting
    }
}

/// Drops the newest waiter of the address with the most waiting (it hears
/// `Busy`); `false` when nobody waits.
fn push_out_the_largest(state: &mut State) -> bool {
    let Some(largest) = state
        .queues
        .iter()
        .max_by_key(|(_, queue)| queue.len())
        .map(|(asker, _)| *asker)
    else {
        return false;
    };
    let Some(queue) = state.queues.get_mut(&largest) else {
        return false;
    };
    // Dropping the sender tells its waiter `Busy`.
    let pushed_out = queue.pop_back().is_some();
    if queue.is_empty() {
        state.queues.remove(&largest);
        state.ring.retain(|asker| *asker != largest);
    }
    if pushed_out {
        state.waiting -= 1;
    }
    pushed_out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn asker(n: u8) -> Asker {
        [n; 16]
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_pushes_out_the_flood_not_the_newcomer() {
        let queue = HashQueue::new(1, 2);
        let running = queue.slot(asker(1), Lane::Open).await.expect("a free slot");
        let flood = queue.clone();
        let first = tokio::spawn(async move { flood.slot(asker(1), Lane::Open).await });
        let flood = queue.clone();
        let second = tokio::spawn(async move { flood.slot(asker(1), Lane::Open).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(queue.waiting(), 2);
        // Full: the flooding address gets no third place...
        assert_eq!(queue.slot(asker(1), Lane::Open).await.err(), Some(Busy));
        // ...but a newcomer takes the flood's newest place.
        let person = queue.clone();
        let person = tokio::spawn(async move { person.slot(asker(2), Lane::Open).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let outcomes = [first.is_finished(), second.is_finished()];
        assert_eq!(
            outcomes.iter().filter(|done| **done).count(),
            1,
            "one pushed out"
        );
        drop(running);
        // Both left are served: the flood's remaining waiter and the person.
        let mut served = 0;
        for handle in [first, second, person] {
            if let Ok(slot) = handle.await.expect("joined") {
                served += 1;
                drop(slot);
            }
        }
        assert_eq!((served, queue.waiting()), (2, 0));
    }

    #[tokio::test]
    async fn waiters_are_served_round_robin_by_address() {
        let queue = HashQueue::new(1, 100);
        let running = queue.slot(asker(9), Lane::Open).await.expect("a free slot");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        // Address 1 queues five before address 2 queues one.
        for n in [1, 1, 1, 1, 1, 2] {
            let (queue, order) = (queue.clone(), Arc::clone(&order));
            handles.push(tokio::spawn(async move {
                let _slot = queue.slot(asker(n), Lane::Open).await.expect("served");
                lock(&order).push(n);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(running);
        for handle in handles {
            handle.await.expect("joined");
        }
        let order = lock(&order).clone();
        let second = order.iter().position(|n| *n == 2).expect("served");
        assert!(
            second <= 1,
            "address 2 waited behind one of address 1's: {order:?}"
        );
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_passes_its_turn() {
        let queue = HashQueue::new(1, 10);
        let running = queue.slot(asker(1), Lane::Open).await.expect("a free slot");
        let gave_up = queue.clone();
        let gave_up = tokio::spawn(async move { gave_up.slot(asker(2), Lane::Open).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        gave_up.abort();
        let _ = gave_up.await;
        let waiting = queue.clone();
        let waiting = tokio::spawn(async move { waiting.slot(asker(3), Lane::Open).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(running);
        let slot = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("not stuck")
            .expect("joined");
        assert!(slot.is_ok());
    }

    /// A flood from more addresses than the queue holds fills it with one
    /// waiter each, and a stranger is turned away; the account's owner, in
    /// the known lane, is not, and goes before every one of them.
    #[tokio::test]
    async fn the_known_lane_is_never_crowded_out_and_goes_first() {
        let queue = HashQueue::new(1, 4);
        let running = queue.slot(asker(0), Lane::Open).await.expect("a free slot");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for n in 1..=4 {
            let (queue, order) = (queue.clone(), Arc::clone(&order));
            handles.push(tokio::spawn(async move {
                let _slot = queue.slot(asker(n), Lane::Open).await.expect("served");
                lock(&order).push(n);
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(queue.waiting(), 4);
        let owner = {
            let (queue, order) = (queue.clone(), Arc::clone(&order));
            tokio::spawn(async move {
                let _slot = queue.slot(asker(99), Lane::Known).await.expect("served");
                lock(&order).push(99);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(running);
        owner.await.expect("joined");
        for handle in handles {
            // A stranger may have been pushed out by another: Busy, not a panic.
            let _ = handle.await;
        }
        assert_eq!(lock(&order).first(), Some(&99), "{:?}", lock(&order));
    }
}
