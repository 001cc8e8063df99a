//! Publishing committed events to the users they concern, on their
//! `gw.v1.deliver.<user>` subjects, each copy carrying its position in that
//! user's stream. A publish is at most once, and that is enough: a gateway
//! writes a user's events in position order, notices a gap (a later
//! position arriving first) and fetches what is missing from the stream, so
//! a lost or late publish delays an event but never loses or reorders it.
//! The gateways report how far they wrote each stream
//! ([`crate::handlers::delivered`]).
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use async_nats::Client;
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use shared::{
    ids::uuid_bytes,
    proto::{
        chat::v1::{ChatMessage, ReadReceipt},
        presence::v1::ContactsChanged,
    },
    subjects::{self, Subjects},
};
use uuid::Uuid;

use crate::{handlers::Ctx, repository::stream};

/// Field numbers of `gateway.v1.UserEvent`'s `oneof event`. A `UserEvent`
/// holding one message is encoded as that one field, so the event is
/// encoded straight from a borrowed message, without copying its content
/// into an event (a test checks the bytes are a `UserEvent`'s).
const PRIVATE_MESSAGE: u8 = 1;
const READ_RECEIPT: u8 = 3;

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
    /// user's stream).
    pub async fn message(&self, user: Uuid, m: &ChatMessage) {
        self.publish(user, PRIVATE_MESSAGE, m).await;
    }

    /// Publishes a read receipt to `user` (its `seq` is the position in
    /// that user's stream).
    pub async fn receipt(&self, user: Uuid, r: &ReadReceipt) {
        self.publish(user, READ_RECEIPT, r).await;
    }

    async fn publish(&self, user: Uuid, field: u8, event: &impl Message) {
        let payload = user_event(field, event);
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

/// Encodes a `gateway.v1.UserEvent` whose `event` is `field` (below 16)
/// holding `event`.
fn user_event(field: u8, event: &impl Message) -> Bytes {
    let len = event.encoded_len();
    let mut buf = BytesMut::with_capacity(1 + prost::length_delimiter_len(len) + len);
    // The key: the field number and wire type 2 (length-delimited).
    buf.put_u8(field << 3 | 2);
    // A BytesMut grows as needed: neither can run out of room.
    let _ = prost::encode_length_delimiter(len, &mut buf);
    let _ = event.encode(&mut buf);
    buf.freeze()
}

/// How far back the start-up offer looks.
const RECENT_MINUTES: u64 = 15;

/// At start-up: offers again the recent messages that lie after their
/// receiver's delivered cursor, so one committed by a replica that died
/// before publishing it reaches an online receiver without waiting for a
/// later message or a reconnect (gateways drop what they already wrote).
pub async fn offer_recent(ctx: &Ctx) {
    let since_ms = chrono::Utc::now().timestamp_millis()
        - i64::try_from(RECENT_MINUTES * 60_000).unwrap_or_default();
    let since = Uuid::from_u128(u128::from(u64::try_from(since_ms).unwrap_or(0)) << 80);
    match stream::recent_undelivered(&ctx.pool, since).await {
        Ok(rows) if rows.is_empty() => {}
        Ok(rows) => {
            tracing::info!(messages = rows.len(), "offering recent undelivered messages again");
            for r in &rows {
                ctx.delivery.message(r.receiver_id, &ctx.open(r, r.receiver_id)).await;
            }
        }
        Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to offer recent messages"),
    }
}

#[cfg(test)]
mod tests {
    use shared::proto::gateway::v1::{UserEvent, user_event};

    use super::*;

    #[test]
    fn events_encode_as_user_events() {
        let m = ChatMessage { content: "hola".into(), seq: 7, ..Default::default() };
        let event = UserEvent { event: Some(user_event::Event::PrivateMessage(m.clone())) };
        assert_eq!(user_event(PRIVATE_MESSAGE, &m), event.encode_to_vec());
        let r = ReadReceipt { seq: 9, ..Default::default() };
        let event = UserEvent { event: Some(user_event::Event::ReadReceipt(r.clone())) };
        assert_eq!(user_event(READ_RECEIPT, &r), event.encode_to_vec());
    }
}
