//! A tab's queue of pushes: bounded, one reader, and small at rest.
//!
//! tokio's `mpsc` channel allocates a block of 32 slots when it is made,
//! about a kilobyte with a [`Push`] in each, and every connected tab has
//! one — while a tab at rest has nothing queued. This queue is a `VecDeque`
//! that allocates on its first push, behind a lock the hub and the tab's
//! loop take for a moment each, and a `Notify` that wakes the loop: about a
//! hundred bytes a tab.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::Notify;

use crate::sync::lock;

#[derive(Debug)]
struct Shared<T> {
    queue: Mutex<VecDeque<T>>,
    ready: Notify,
    /// The sender is gone: once the queue is empty, nothing more comes.
    closed: AtomicBool,
    capacity: usize,
}

/// The hub's end.
#[derive(Debug)]
pub struct Sender<T>(Arc<Shared<T>>);

/// The tab's end.
#[derive(Debug)]
pub struct Receiver<T>(Arc<Shared<T>>);

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and the sender is gone.
    Disconnected,
}

/// A queue holding at most `capacity` pushes.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        closed: AtomicBool::new(false),
        capacity,
    });
    (Sender(Arc::clone(&shared)), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `push`, or hands it back when the queue is full.
    pub fn try_send(&self, push: T) -> Result<(), T> {
        {
            let mut queue = lock(&self.0.queue);
            if queue.len() >= self.0.capacity {
                return Err(push);
            }
            queue.push_back(push);
        }
        // A permit is stored when the loop is not waiting: no lost wake-up.
        self.0.ready.notify_one();
        Ok(())
    }

    /// Room left in the queue.
    pub fn capacity(&self) -> usize {
        self.0.capacity.saturating_sub(lock(&self.0.queue).len())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.ready.notify_one();
    }
}

impl<T> Receiver<T> {
    /// The next push, waiting for one; `None` once the sender is gone and
    /// everything it queued has been taken.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            match self.try_recv() {
                Ok(push) => return Some(push),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => self.0.ready.notified().await,
            }
        }
    }

    /// The next push if one is queued now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        // Read before the queue: a push queued before the sender dropped
        // is still taken.
        let closed = self.0.closed.load(Ordering::Acquire);
        match lock(&self.0.queue).pop_front() {
            Some(push) => Ok(push),
            None if closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn pushes_arrive_in_order_up_to_the_capacity_then_the_end() {
        let (sender, mut receiver) = channel(2);
        assert!(sender.try_send(1u16).is_ok());
        assert!(sender.try_send(2u16).is_ok());
        assert!(sender.try_send(3u16).is_err(), "full");
        assert_eq!(sender.capacity(), 0);
        assert_eq!(receiver.recv().await, Some(1));
        assert_eq!(sender.capacity(), 1);
        drop(sender);
        assert_eq!(receiver.recv().await, Some(2), "queued before the drop");
        assert!(receiver.recv().await.is_none());
        assert_eq!(receiver.try_recv().err(), Some(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_push_and_for_the_end() {
        let (sender, mut receiver) = channel(4);
        assert_eq!(receiver.try_recv().err(), Some(TryRecvError::Empty));
        let reader = tokio::spawn(async move {
            let first = receiver.recv().await;
            let end = receiver.recv().await.is_none();
            (first, end)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(sender.try_send(7u16).is_ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(sender);
        let (first, end) = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!((first, end), (Some(7), true));
    }
}
