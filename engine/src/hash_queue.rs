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
//!   waiting: a flood can only push itself out.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use crate::sync::lock;

/// Who asked for a hash: an address (an IPv4 address, an IPv6 /64), or a
/// fixed key for hashes nobody outside asked for.
pub type Asker = [u8; 16];

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
            })),
        }
    }

    /// Hashes running now.
    pub fn running(&self) -> usize {
        lock(&self.state).running
    }

    /// Waits for a slot for `asker`, or is refused at once when the queue is
    /// full (or this waiter was pushed out by a fairer one).
    pub async fn slot(&self, asker: Asker) -> Result<Slot, Busy> {
        let receiver = {
            let mut state = lock(&self.state);
            if state.running < state.permits {
                state.running += 1;
                return Ok(Slot {
                    queue: Some(self.clone()),
                });
            }
            if state.waiting >= state.capacity {
                let has_waiters = state.queues.get(&asker).is_some_and(|q| !q.is_empty());
                if has_waiters || !push_out_the_largest(&mut state) {
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
            receiver
        };
        let mut slot = receiver.await.map_err(|_| Busy)?;
        // The slot was handed over without its queue (see `release`).
        slot.queue = Some(self.clone());
        Ok(slot)
    }

    /// Gives a finished hash's slot to the next waiter, round-robin by
    /// address; waiters that gave up meanwhile are skipped.
    fn release(&self) {
        let mut state = lock(&self.state);
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
        let running = queue.slot(asker(1)).await.expect("a free slot");
        let flood = queue.clone();
        let first = tokio::spawn(async move { flood.slot(asker(1)).await });
        let flood = queue.clone();
        let second = tokio::spawn(async move { flood.slot(asker(1)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(queue.waiting(), 2);
        // Full: the flooding address gets no third place...
        assert_eq!(queue.slot(asker(1)).await.err(), Some(Busy));
        // ...but a newcomer takes the flood's newest place.
        let person = queue.clone();
        let person = tokio::spawn(async move { person.slot(asker(2)).await });
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
        let running = queue.slot(asker(9)).await.expect("a free slot");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        // Address 1 queues five before address 2 queues one.
        for n in [1, 1, 1, 1, 1, 2] {
            let (queue, order) = (queue.clone(), Arc::clone(&order));
            handles.push(tokio::spawn(async move {
                let _slot = queue.slot(asker(n)).await.expect("served");
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
        let running = queue.slot(asker(1)).await.expect("a free slot");
        let gave_up = queue.clone();
        let gave_up = tokio::spawn(async move { gave_up.slot(asker(2)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        gave_up.abort();
        let _ = gave_up.await;
        let waiting = queue.clone();
        let waiting = tokio::spawn(async move { waiting.slot(asker(3)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(running);
        let slot = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("not stuck")
            .expect("joined");
        assert!(slot.is_ok());
    }
}
