//! Live `feed_update` events. Each goes to its recipients' delivery subjects
//! (`gw.v1.deliver.<user>`, a plain core-NATS publish: the gateway holding a
//! connection of the user writes it to every one of them, and nobody listens
//! for users who are offline) and, once, to `feed.v1.events` for other
//! services.
//!
//! - `newpost` and `postdeleted` go to the author's followers. Authors over
//!   `FEED_FANOUT_MAX_FOLLOWERS` followers are not live-notified to their
//!   followers (no event storm per celebrity post; their readers see new
//!   posts on their next read) — the same threshold as timeline fan-out.
//! - `newlike` and `newcomment` go to the post's author (not for their own
//!   actions), coalesced: at most one event per (recipient, post) per
//!   [`COALESCE_WINDOW`]. The first of a burst goes at once; the rest are
//!   folded into one event with the latest counts (and the latest type),
//!   sent when the window closes. The window is per replica: with N feed
//!   replicas a recipient may get up to N per post per second.
use std::{collections::HashMap, time::Duration};

use async_nats::Client;
use bytes::Bytes;
use prost::Message;
use shared::{
    proto::{
        feed::v1::FeedEvent,
        gateway::v1::{UserEvent, user_event},
    },
    subjects::{self, Subjects},
};
use tokio::{sync::mpsc, time::Instant};
use uuid::Uuid;

/// The shortest gap between two counter updates to one recipient about one post.
pub const COALESCE_WINDOW: Duration = Duration::from_secs(1);
/// How often held updates are checked for a closed window.
const TICK: Duration = Duration::from_millis(50);
/// Counter updates waiting for the coalescer; beyond this they are dropped (they are best effort).
const QUEUE: usize = 8192;

/// Publishes live events.
#[derive(Clone)]
pub struct Live {
    nats: Client,
    subjects: Subjects,
    counters: mpsc::Sender<(Uuid, FeedEvent)>,
}

fn encode(event: &FeedEvent) -> Bytes {
    let wrapped = UserEvent { event: Some(user_event::Event::FeedUpdate(event.clone())) };
    Bytes::from(wrapped.encode_to_vec())
}

impl Live {
    /// Starts the coalescer; it sends what it holds and stops once every
    /// [`Live`] handle is dropped (the returned task ends then).
    pub fn start(nats: Client, subjects: Subjects) -> (Self, tokio::task::JoinHandle<()>) {
        let (counters, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(coalesce(nats.clone(), subjects.clone(), rx));
        (Self { nats, subjects, counters }, task)
    }

    /// Publishes an event on `feed.v1.events`.
    pub async fn announce(&self, event: &FeedEvent) {
        let subject = self.subjects.get(subjects::FEED_EVENTS);
        shared::nats::publish(&self.nats, subject, event).await;
    }

    /// Sends an event to each recipient (encoded once).
    pub async fn broadcast(&self, recipients: &[Uuid], event: &FeedEvent) {
        let payload = encode(event);
        for user in recipients {
            if let Err(e) = self.nats.publish(self.subjects.deliver(*user), payload.clone()).await {
                tracing::warn!(error.cause_chain = ?e, "failed to publish a feed update");
                return;
            }
        }
        metrics::counter!("feed_live_events_total").increment(recipients.len() as u64);
    }

    /// Sends a counter update (like, comment) to one recipient, coalesced.
    pub fn counter_update(&self, recipient: Uuid, event: FeedEvent) {
        if self.counters.try_send((recipient, event)).is_err() {
            metrics::counter!("feed_live_events_dropped_total").increment(1);
        }
    }
}

struct Slot {
    last_sent: Instant,
    held: Option<FeedEvent>,
    /// The highest likes + comments seen in this window: concurrent handlers
    /// may hand over their events out of order, and the older counts must
    /// not replace the newer ones.
    seen: u64,
}

fn total(event: &FeedEvent) -> u64 {
    event.likes_count.saturating_add(event.comments_count)
}

async fn send(nats: &Client, subjects: &Subjects, recipient: Uuid, event: &FeedEvent) {
    if let Err(e) = nats.publish(subjects.deliver(recipient), encode(event)).await {
        tracing::warn!(error.cause_chain = ?e, "failed to publish a feed update");
    }
    metrics::counter!("feed_live_events_total").increment(1);
}

async fn coalesce(nats: Client, subjects: Subjects, mut rx: mpsc::Receiver<(Uuid, FeedEvent)>) {
    let mut slots: HashMap<(Uuid, Bytes), Slot> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = rx.recv() => {
                let Some((recipient, event)) = next else { break };
                let now = Instant::now();
                match slots.get_mut(&(recipient, event.post_id.clone())) {
                    Some(slot) if now.duration_since(slot.last_sent) < COALESCE_WINDOW => {
                        if total(&event) >= slot.seen {
                            slot.seen = total(&event);
                            slot.held = Some(event);
                        }
                        metrics::counter!("feed_live_events_coalesced_total").increment(1);
                    }
                    _ => {
                        send(&nats, &subjects, recipient, &event).await;
                        let seen = total(&event);
                        slots.insert(
                            (recipient, event.post_id.clone()),
                            Slot { last_sent: now, held: None, seen },
                        );
                    }
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let mut due = Vec::new();
                slots.retain(|(recipient, _), slot| {
                    if now.duration_since(slot.last_sent) < COALESCE_WINDOW {
                        return true;
                    }
                    match slot.held.take() {
                        Some(event) => {
                            due.push((*recipient, event));
                            slot.last_sent = now;
                            true
                        }
                        None => false,
                    }
                });
                for (recipient, event) in due {
                    send(&nats, &subjects, recipient, &event).await;
                }
            }
        }
    }
    // Shutting down: what is held still goes out.
    for ((recipient, _), slot) in slots {
        if let Some(event) = slot.held {
            send(&nats, &subjects, recipient, &event).await;
        }
    }
}
