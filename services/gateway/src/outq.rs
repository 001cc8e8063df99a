//! A connection's bounded outbound queue. Unlike a tokio `mpsc` channel,
//! which allocates a block of 32 slots when it is created, an empty queue
//! holds no buffer: an idle connection costs a few dozen bytes here, and a
//! queue that grew under a burst gives its buffer back once drained.
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::Notify;

use crate::wire::Outbound;

/// Capacity a drained queue keeps; past it the buffer is given back.
const KEEP: usize = 8;

struct Shared {
    items: Mutex<VecDeque<Outbound>>,
    ready: Notify,
    cap: usize,
}

/// The producer side (cloned by the registry and presence).
#[derive(Clone)]
pub struct Sender(Arc<Shared>);

/// The consumer side (the connection's task).
pub struct Receiver(Arc<Shared>);

/// A queue holding at most `cap` frames.
pub fn bounded(cap: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        cap: cap.max(1),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    /// Queues a frame; gives it back when the queue is full.
    pub fn try_send(&self, out: Outbound) -> Result<(), Outbound> {
        {
            let mut items = self.0.items.lock().unwrap_or_else(PoisonError::into_inner);
            if items.len() >= self.0.cap {
                return Err(out);
            }
            items.push_back(out);
        }
        self.0.ready.notify_one();
        Ok(())
    }

    /// Free slots.
    pub fn capacity(&self) -> usize {
        let items = self.0.items.lock().unwrap_or_else(PoisonError::into_inner);
        self.0.cap.saturating_sub(items.len())
    }
}

impl Receiver {
    /// The next frame, waiting for one.
    pub async fn recv(&mut self) -> Outbound {
        loop {
            if let Some(out) = self.try_recv() {
                return out;
            }
            // A permit stored by a send since the check above wakes this at once.
            self.0.ready.notified().await;
        }
    }

    /// The next frame, if one is queued.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        let mut items = self.0.items.lock().unwrap_or_else(PoisonError::into_inner);
        let out = items.pop_front();
        if items.is_empty() && items.capacity() > KEEP {
            items.shrink_to(KEEP);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wire::Kind;

    fn frame(n: u64) -> Outbound {
        Outbound::new(format!("{{\"n\":{n}}}").into_bytes(), None, Kind::Event).at(n)
    }

    #[tokio::test]
    async fn keeps_order_refuses_past_capacity_and_wakes_the_reader() {
        let (tx, mut rx) = bounded(3);
        assert!(rx.try_recv().is_none());
        for n in 1..=3 {
            assert!(tx.try_send(frame(n)).is_ok());
        }
        assert_eq!(tx.capacity(), 0);
        assert_eq!(tx.try_send(frame(4)).unwrap_err().seq, 4);
        for n in 1..=3 {
            assert_eq!(rx.recv().await.seq, n);
        }
        let reader = tokio::spawn(async move { rx.recv().await.seq });
        tokio::task::yield_now().await;
        tx.try_send(frame(9)).unwrap();
        assert_eq!(reader.await.unwrap(), 9);
    }

    #[tokio::test]
    async fn a_drained_queue_gives_its_buffer_back() {
        let (tx, mut rx) = bounded(256);
        for n in 0..200 {
            tx.try_send(frame(n)).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(rx.0.items.lock().unwrap().capacity() <= KEEP);
    }
}
