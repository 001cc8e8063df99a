//! The connections this gateway holds, by user, and the per-user delivery
//! subscriptions. A user's subject is subscribed while the user has at least
//! one connection here, so a message costs one NATS delivery per gateway that
//! holds its receiver, never a broadcast to every gateway. A connection whose
//! queue is full is never closed for it: ephemeral events are dropped, and a
//! dropped stream event marks the connection lagging, so it fetches what it
//! missed from the stream at the pace it reads.
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

use dashmap::DashMap;
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

use crate::{
    delivery::Delivery,
    wire::{Kind, Outbound},
};

/// The registry's handle on one connection.
#[derive(Clone)]
pub struct ConnHandle {
    /// Connection id (unique in this process).
    pub id: u64,
    tx: crate::outq::Sender,
    lag: Arc<Lag>,
}

/// Set when a stream event could not be queued for a connection (its queue
/// was full, or NATS reconnected and may have lost events): the connection
/// fetches from the stream once it has written what it holds.
#[derive(Default)]
pub struct Lag {
    flag: AtomicBool,
    notify: Notify,
}

impl Lag {
    /// Completes once the connection lags.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Marks the connection lagging.
    pub fn trip(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Clears the mark (the connection is about to fetch what it missed).
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }
}

#[derive(Default)]
struct UserSlot {
    conns: Vec<ConnHandle>,
    /// The delivery subscription, created by the first connection.
    subscription: Arc<Mutex<Option<Delivery>>>,
}

/// Every connection this gateway holds.
pub struct Registry {
    users: DashMap<Uuid, UserSlot>,
    connections: AtomicUsize,
    next_id: AtomicU64,
    queue: usize,
}

/// What a new connection receives from the registry.
pub struct Registration {
    /// The registry's handle.
    pub handle: ConnHandle,
    /// The connection's outbound queue.
    pub rx: crate::outq::Receiver,
    /// Tripped when a stream event could not be queued.
    pub lag: Arc<Lag>,
    /// Guards the user's delivery subscription (held while it is being created).
    pub subscription: Arc<Mutex<Option<Delivery>>>,
}

impl Registry {
    /// Creates an empty registry with the given per-connection queue length.
    pub fn new(queue: usize) -> Self {
        Self {
            users: DashMap::new(),
            connections: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            queue,
        }
    }

    /// How many connections are open here.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// How many connections a user has here.
    pub fn connections_of(&self, user: Uuid) -> usize {
        self.users.get(&user).map_or(0, |s| s.conns.len())
    }

    /// The connection count of every user here (for presence heartbeats).
    pub fn snapshot(&self) -> Vec<(Uuid, usize)> {
        self.users.iter().map(|e| (*e.key(), e.conns.len())).collect()
    }

    /// Adds a connection of `user` unless the user already has `max` here
    /// (checked and added under the user's entry lock, so concurrent
    /// handshakes cannot overshoot).
    pub fn try_register(&self, user: Uuid, max: usize) -> Option<Registration> {
        let mut slot = self.users.entry(user).or_default();
        if slot.conns.len() >= max {
            let empty = slot.conns.is_empty();
            drop(slot);
            if empty {
                self.users.remove_if(&user, |_, s| s.conns.is_empty());
            }
            return None;
        }
        let (tx, rx) = crate::outq::bounded(self.queue);
        let lag = Arc::new(Lag::default());
        let handle =
            ConnHandle { id: self.next_id.fetch_add(1, Ordering::Relaxed), tx, lag: lag.clone() };
        slot.conns.push(handle.clone());
        let subscription = slot.subscription.clone();
        drop(slot);
        self.connections.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("gateway_connections").increment(1.0);
        Some(Registration { handle, rx, lag, subscription })
    }

    /// Removes a connection (and the user's subscription with their last one).
    pub fn unregister(&self, user: Uuid, id: u64) {
        let removed = self.users.remove_if_mut(&user, |_, slot| {
            slot.conns.retain(|c| c.id != id);
            slot.conns.is_empty()
        });
        if let Some((_, slot)) = removed
            && let Ok(guard) = slot.subscription.try_lock()
            && let Some(delivery) = guard.as_ref()
        {
            delivery.cancel();
        }
        self.connections.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("gateway_connections").decrement(1.0);
    }

    /// Hands an event to every connection of `user`. A full queue drops
    /// typing at half capacity and any other ephemeral event when full; a
    /// stream event that does not fit marks the connection lagging.
    pub fn dispatch(&self, user: Uuid, out: &Outbound) {
        let Some(slot) = self.users.get(&user) else { return };
        for c in &slot.conns {
            if out.kind == Kind::Typing && c.tx.capacity() < self.queue / 2 {
                metrics::counter!("gateway_typing_dropped_total").increment(1);
                continue;
            }
            if c.tx.try_send(out.clone()).is_err() {
                metrics::counter!("gateway_queue_full_total").increment(1);
                if out.seq > 0 {
                    c.lag.trip();
                }
            }
        }
    }

    /// Marks every connection lagging (after a NATS reconnect, events
    /// published meanwhile may be lost: each connection fetches them).
    pub fn lag_all(&self) {
        for slot in &self.users {
            for c in &slot.conns {
                c.lag.trip();
            }
        }
    }
}

impl ConnHandle {
    /// Queues a frame for this connection only; false when its queue is full or closed.
    pub fn try_send(&self, out: Outbound) -> bool {
        self.tx.try_send(out).is_ok()
    }
}
