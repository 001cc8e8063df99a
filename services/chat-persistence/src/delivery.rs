//! Publishing committed events to the users they concern, on their
//! `gw.v1.deliver.<user>` subjects, each copy carrying its position in that
//! user's stream. A publish is at most once, and that is enough: a gateway
//! writes a user's events in position order, notices a gap (a later
//! position arriving first) and fetches what is missing from the stream, so
//! a lost or late publish delays an event but never loses or reorders it.
//! The gateways report how far they wrote each stream ([`cursors`]).
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use async_nats::Client;
use bytes::Bytes;
use prost::Message;
use shared::{
    ids::{uuid_bytes, uuid_from},
    proto::{
        chat::v1::{ChatMessage, DeliveredNotice, ReadReceipt},
        gateway::v1::{UserEvent, user_event},
        presence::v1::ContactsChanged,
    },
    subjects::{self, Subjects},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::repository::stream;

/// Chat pairs remembered as already announced to presence (then forgotten at once).
const KNOWN_PAIRS: usize = 200_000;

/// Publishes events to users.
#[derive(Clone)]
pub struct Delivery {
    nats: Client,
    subjects: Subjects,
    known_pairs: Arc<Mutex<HashSet<(Uuid, Uuid)>>>,
}

impl Delivery {
    /// Creates the publisher.
    pub fn new(nats: Client, subjects: Subjects) -> Self {
        Self { nats, subjects, known_pairs: Arc::default() }
    }

    /// Publishes a message to `user` (its `seq` is the position in that
    /// user's stream) and hands it back: the event is encoded in place, the
    /// content is not copied.
    pub async fn message(&self, user: Uuid, m: ChatMessage) -> ChatMessage {
        let event = UserEvent { event: Some(user_event::Event::PrivateMessage(m)) };
        self.publish(user, &event).await;
        match event.event {
            Some(user_event::Event::PrivateMessage(m)) => m,
            _ => ChatMessage::default(),
        }
    }

    /// Publishes a read receipt to `user` (its `seq` is the position in that
    /// user's stream) and hands it back.
    pub async fn receipt(&self, user: Uuid, r: ReadReceipt) -> ReadReceipt {
        let event = UserEvent { event: Some(user_event::Event::ReadReceipt(r)) };
        self.publish(user, &event).await;
        match event.event {
            Some(user_event::Event::ReadReceipt(r)) => r,
            _ => ReadReceipt::default(),
        }
    }

    async fn publish(&self, user: Uuid, event: &UserEvent) {
        let payload = Bytes::from(event.encode_to_vec());
        // A lost publish is fetched by the gateway (gap, reconnect, or next connect).
        shared::nats::publish_bytes(&self.nats, self.subjects.deliver(user), payload).await;
        metrics::counter!("chat_events_published_total").increment(1);
    }

    /// Tells presence about chat pairs it may not know yet (presence caches
    /// contact sets); pairs already announced by this process are skipped.
    pub async fn notice_new_contacts(&self, pairs: impl Iterator<Item = (Uuid, Uuid)>) {
        let mut users = Vec::new();
        if let Ok(mut known) = self.known_pairs.lock() {
            for (a, b) in pairs {
                let pair = if a < b { (a, b) } else { (b, a) };
                if known.len() >= KNOWN_PAIRS {
                    known.clear();
                }
                if known.insert(pair) {
                    users.extend([a, b]);
                }
            }
        }
        if users.is_empty() {
            return;
        }
        users.sort_unstable();
        users.dedup();
        let notice = ContactsChanged { user_ids: users.into_iter().map(uuid_bytes).collect() };
        let subject = self.subjects.get(subjects::PRESENCE_CONTACTS_CHANGED);
        shared::nats::publish(&self.nats, subject, &notice).await;
    }
}

/// `chat.v1.delivered`: moves the delivered cursors a gateway reports.
pub async fn cursors(pool: &PgPool, payload: Bytes) {
    let Ok(notice) = DeliveredNotice::decode(payload) else { return };
    let cursors: Vec<(Uuid, i64)> = notice
        .cursors
        .iter()
        .filter_map(|c| Some((uuid_from(&c.user_id)?, i64::try_from(c.seq).ok()?)))
        .collect();
    if cursors.is_empty() {
        return;
    }
    match stream::advance_delivered(pool, &cursors).await {
        Ok(moved) => metrics::counter!("chat_cursors_advanced_total").increment(moved),
        // The cursors stay behind: those events are written again on the next connect.
        Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to move delivered cursors"),
    }
}
