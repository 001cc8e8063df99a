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

use bytes::Bytes;
use bytestring::ByteString;
use dashmap::DashMap;
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

/// What kind of outbound frame this is (typing is dropped first under pressure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A typing indicator: ephemeral, dropped first when a queue fills.
    Typing,
    /// A read receipt (its `message_id` is the message read).
    Receipt,
    /// Any other event.
    Event,
    /// A reply to this connection (never de-duplicated; its message id is remembered).
    Reply,
}

/// One outbound frame, serialized once and shared by every connection it goes to.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// The JSON text.
    pub frame: ByteString,
    /// The message id (of a message or message ack).
    pub message_id: Option<u128>,
    /// Its kind.
    pub kind: Kind,
    /// Its position in the user's stream; 0 for an ephemeral event or a reply.
    pub seq: u64,
}

impl Outbound {
    /// Wraps a serialized JSON frame.
    pub fn new(json: Vec<u8>, message_id: Option<u128>, kind: Kind) -> Self {
        // serde_json always writes valid UTF-8.
        let frame = ByteString::try_from(Bytes::from(json)).unwrap_or_default();
        Self { frame, message_id, kind, seq: 0 }
    }

    /// Sets the stream position of a durable event.
    pub fn at(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }
}

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

/// A user's delivery subscription.
pub enum Delivery {
    /// On the gateway's multiplexed delivery connection.
    Mux(crate::mux::Subscription),
    /// An async-nats subscription and the task that dispatches it.
    Task(tokio::task::AbortHandle),
}

impl Delivery {
    /// Ends the subscription.
    pub fn cancel(&self) {
        match self {
            Self::Mux(sub) => sub.cancel(),
            Self::Task(task) => task.abort(),
        }
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

    /// Removes a connection; returns true when it was the user's last one here.
    pub fn unregister(&self, user: Uuid, id: u64) -> bool {
        let mut last = false;
        let removed = self.users.remove_if_mut(&user, |_, slot| {
            slot.conns.retain(|c| c.id != id);
            last = slot.conns.is_empty();
            last
        });
        if let Some((_, slot)) = removed
            && let Ok(guard) = slot.subscription.try_lock()
            && let Some(delivery) = guard.as_ref()
        {
            delivery.cancel();
        }
        self.connections.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("gateway_connections").decrement(1.0);
        last
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
