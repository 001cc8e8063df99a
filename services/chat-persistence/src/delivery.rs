//! Delivery routing after commit. Each committed message is already in the
//! receiver's pending queue (added while it was being committed), and is
//! offered to the receiver's delivery subject as a request whose reply names
//! the message; a gateway holding a
//! connection of the receiver answers `delivered`, and only then is the
//! message marked delivered and taken off the queue. No answer (the receiver
//! is offline, or a gateway died) leaves it pending: nothing is lost, and the
//! gateway de-duplicates by id if it is offered twice.
use std::sync::Arc;

use async_nats::{Client, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use prost::Message;
use shared::{
    ids::uuid_from,
    proto::{
        chat::v1::ChatMessage,
        gateway::v1::{DeliverReply, UserEvent, user_event},
    },
    subjects::Subjects,
};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{pending::PendingQueue, repository};

/// Capacity of the queues between the committer, the router and the flusher.
const QUEUE: usize = 1024;

/// Handles to the delivery tasks.
#[derive(Clone)]
pub struct Delivery {
    route_tx: mpsc::Sender<(Vec<ChatMessage>, bool)>,
    delivered_tx: mpsc::Sender<(Option<Uuid>, Uuid)>,
}

impl Delivery {
    /// Starts the router, the reply listener and the delivered flusher.
    pub async fn start(
        nats: Client,
        subjects: Subjects,
        pool: PgPool,
        pending: Arc<PendingQueue>,
    ) -> anyhow::Result<Self> {
        let (route_tx, route_rx) = mpsc::channel(QUEUE);
        let (delivered_tx, delivered_rx) = mpsc::channel(QUEUE * 8);
        let inbox = nats.new_inbox();
        let replies = nats.subscribe(format!("{inbox}.>")).await?;
        tokio::spawn(route(nats.clone(), subjects, inbox.clone(), route_rx));
        tokio::spawn(listen_replies(replies, inbox.len() + 1, delivered_tx.clone()));
        tokio::spawn(flush_delivered(pool, pending, delivered_rx));
        Ok(Self { route_tx, delivered_tx })
    }

    /// Routes committed messages to their receivers (and the senders' other devices).
    pub async fn route(&self, batch: Vec<ChatMessage>) {
        if !batch.is_empty() && self.route_tx.send((batch, true)).await.is_err() {
            tracing::error!("delivery router stopped; messages stay pending");
        }
    }

    /// Offers pending messages to their receiver again (no echo to the sender),
    /// e.g. when presence says the receiver came online.
    pub async fn reoffer(&self, batch: Vec<ChatMessage>) {
        if !batch.is_empty() && self.route_tx.send((batch, false)).await.is_err() {
            tracing::error!("delivery router stopped; messages stay pending");
        }
    }

    /// Records messages as delivered (from a gateway's notice after a drain).
    pub async fn delivered(&self, receiver: Uuid, ids: impl IntoIterator<Item = Uuid>) {
        for id in ids {
            if self.delivered_tx.send((Some(receiver), id)).await.is_err() {
                return;
            }
        }
    }
}

/// Encodes the event delivered to participants for one message.
pub fn message_event(m: &ChatMessage) -> Bytes {
    let event = UserEvent { event: Some(user_event::Event::PrivateMessage(m.clone())) };
    Bytes::from(event.encode_to_vec())
}

async fn route(
    nats: Client,
    subjects: Subjects,
    inbox: String,
    mut rx: mpsc::Receiver<(Vec<ChatMessage>, bool)>,
) {
    while let Some((batch, fresh)) = rx.recv().await {
        for m in &batch {
            let (Some(receiver), Some(sender), Some(id)) =
                (uuid_from(&m.receiver_id), uuid_from(&m.sender_id), uuid_from(&m.id))
            else {
                continue;
            };
            let payload = message_event(m);
            let reply = Subject::from(format!("{inbox}.{}.{}", receiver.simple(), id.simple()));
            if let Err(e) =
                nats.publish_with_reply(subjects.deliver(receiver), reply, payload.clone()).await
            {
                tracing::warn!(error.cause_chain = ?e, "failed to offer a message; it stays pending");
            }
            // The sender's other devices see what was sent from this one.
            if fresh && let Err(e) = nats.publish(subjects.deliver(sender), payload).await {
                tracing::debug!(error.cause_chain = ?e, "failed to echo a message to its sender");
            }
            metrics::counter!("chat_messages_routed_total").increment(1);
        }
    }
}

async fn listen_replies(
    mut replies: async_nats::Subscriber,
    skip: usize,
    delivered_tx: mpsc::Sender<(Option<Uuid>, Uuid)>,
) {
    while let Some(msg) = replies.next().await {
        // No responders (503): the receiver has no live connection; it stays pending.
        if msg.status.is_some() {
            continue;
        }
        let Ok(reply) = DeliverReply::decode(msg.payload) else { continue };
        if !reply.delivered {
            continue;
        }
        let tail = msg.subject.get(skip..).unwrap_or_default();
        let mut parts = tail.split('.');
        let (Some(receiver), Some(id)) = (parts.next(), parts.next()) else { continue };
        if let (Ok(receiver), Ok(id)) = (Uuid::parse_str(receiver), Uuid::parse_str(id))
            && delivered_tx.send((Some(receiver), id)).await.is_err()
        {
            return;
        }
    }
}

async fn flush_delivered(
    pool: PgPool,
    pending: Arc<PendingQueue>,
    mut rx: mpsc::Receiver<(Option<Uuid>, Uuid)>,
) {
    let mut ids = Vec::with_capacity(1024);
    while let Some((_, first)) = rx.recv().await {
        ids.clear();
        ids.push(first);
        while ids.len() < 1024 {
            match rx.try_recv() {
                Ok((_, id)) => ids.push(id),
                Err(_) => break,
            }
        }
        match repository::mark_delivered(&pool, &ids).await {
            Ok(changed) => {
                metrics::counter!("chat_messages_delivered_total").increment(changed.len() as u64);
                pending.remove(&changed).await;
            }
            // The rows stay undelivered: they are offered again on the next connect.
            Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to mark messages delivered"),
        }
    }
}
