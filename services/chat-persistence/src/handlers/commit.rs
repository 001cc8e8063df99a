//! The group commit of `chat.v1.send`, as the message path in steps:
//! [`store`] (positions and rows, one transaction), [`deliver`] (publish to
//! the participants), then the senders' acks ([`super::send`]) and the
//! contact notice.
use std::{collections::HashMap, time::Instant};

use shared::{
    ids::{micros, uuid_bytes},
    proto::{
        chat::v1::{ChatMessage, SendReply, send_reply},
        common::v1::{ErrorCode, ErrorReply},
    },
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Ctx,
    send::{QueuedBatch, answer, error_reply, flush},
};
use crate::repository::{self, NewMessage, StoredMessage, stream};

/// What the commit made of one send.
enum Stored {
    /// Committed now, at these positions.
    New { sender_seq: i64, receiver_seq: i64 },
    /// Repeats a committed `(sender, client_msg_id)`.
    Repeat(Box<StoredMessage>),
    /// Repeats an earlier send of the same batch (by its flat index).
    RepeatOf(usize),
}

/// Commits batches from the queue until it closes: everything that queued
/// up during a commit (up to `batch_max` sends) forms the next one.
pub async fn run_committer(
    ctx: Ctx,
    mut rx: mpsc::Receiver<QueuedBatch>,
    batch_max: usize,
    batch_wait: std::time::Duration,
) {
    let mut group: Vec<QueuedBatch> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut sends = first.items.len();
        group.push(first);
        while sends < batch_max {
            match rx.try_recv() {
                Ok(next) => {
                    sends += next.items.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        if sends < batch_max && !batch_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + batch_wait;
            while sends < batch_max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(next)) => {
                        sends += next.items.len();
                        group.push(next);
                    }
                    _ => break,
                }
            }
        }
        commit(&ctx, &mut group).await;
        group.clear();
    }
}

async fn commit(ctx: &Ctx, group: &mut [QueuedBatch]) {
    let started = Instant::now();
    let rows: Vec<&NewMessage> =
        group.iter().flat_map(|b| b.items.iter().map(|i| &i.row)).collect();
    let outcome = if rows.is_empty() { Ok(Vec::new()) } else { store(ctx, &rows).await };
    let stored = match outcome {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, sends = rows.len(), "commit failed");
            metrics::counter!("chat_commit_failures_total").increment(1);
            let failed =
                error_reply(ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry"));
            for batch in group.iter_mut() {
                for item in &batch.items {
                    batch.answers[item.index] = Some(failed.clone());
                }
                answer(ctx, batch).await;
            }
            flush(ctx).await;
            return;
        }
    };
    let committed = stored.iter().filter(|s| matches!(s, Stored::New { .. })).count();
    metrics::histogram!("chat_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("chat_commit_batch_size").record(rows.len() as f64);
    metrics::counter!("chat_messages_committed_total").increment(committed as u64);

    let mut messages = deliver(ctx, group, &stored).await.into_iter();
    let mut flat = 0;
    for batch in group.iter_mut() {
        for item in &batch.items {
            let duplicate = !matches!(stored[flat], Stored::New { .. });
            let message = messages.next().unwrap_or_default();
            batch.answers[item.index] =
                Some(SendReply { result: Some(send_reply::Result::Message(message)), duplicate });
            flat += 1;
        }
        answer(ctx, batch).await;
    }
    flush(ctx).await;
    let pairs = group
        .iter()
        .flat_map(|b| b.items.iter())
        .zip(&stored)
        .filter(|(_, s)| matches!(s, Stored::New { .. }))
        .map(|(i, _)| (i.row.sender, i.row.receiver));
    ctx.delivery.notice_new_contacts(pairs).await;
}

/// Step 1: in one transaction (one call, one round trip: see
/// [`stream::commit`]), locks the participants' streams, finds the sends
/// that repeat a committed `client_msg_id`, gives every new message its next
/// position in both streams (in batch order, which is each connection's send
/// order) and inserts them. The committed originals of repeats, which are
/// rare, are read afterwards.
async fn store(ctx: &Ctx, rows: &[&NewMessage]) -> sqlx::Result<Vec<Stored>> {
    let committed = stream::commit(&ctx.pool, rows).await?;
    if committed.len() != rows.len() {
        return Err(sqlx::Error::Protocol(format!(
            "commit answered {} rows for {} messages",
            committed.len(),
            rows.len()
        )));
    }
    let repeated: Vec<Uuid> = committed.iter().filter_map(|c| c.original_id).collect();
    let originals: HashMap<Uuid, StoredMessage> = if repeated.is_empty() {
        HashMap::new()
    } else {
        repository::find_by_ids(&ctx.pool, &repeated)
            .await?
            .into_iter()
            .map(|m| (m.message_id, m))
            .collect()
    };
    let mut stored = Vec::with_capacity(rows.len());
    for c in committed {
        let outcome = match (c.sender_seq, c.receiver_seq, c.repeat_of, c.original_id) {
            (Some(sender_seq), Some(receiver_seq), _, _) => {
                Stored::New { sender_seq, receiver_seq }
            }
            (_, _, Some(first), _) => Stored::RepeatOf(usize::try_from(first - 1).unwrap_or(0)),
            (_, _, _, Some(original)) => match originals.get(&original) {
                Some(m) => Stored::Repeat(Box::new(m.clone())),
                None => return Err(sqlx::Error::RowNotFound),
            },
            _ => return Err(sqlx::Error::RowNotFound),
        };
        stored.push(outcome);
    }
    Ok(stored)
}

/// Step 2: publishes each new message to its receiver and to the sender's
/// other devices, each at their position, and offers a repeated one to its
/// receiver again (its first offer may have died with a replica). Returns
/// the message of every send as the sender sees it, for the acks. Published
/// before the acks, on the same connection: an acknowledged message's
/// offers have reached NATS.
async fn deliver(ctx: &Ctx, group: &mut [QueuedBatch], stored: &[Stored]) -> Vec<ChatMessage> {
    let mut messages: Vec<ChatMessage> = Vec::with_capacity(stored.len());
    let items = group.iter_mut().flat_map(|b| b.items.iter_mut());
    for (item, outcome) in items.zip(stored) {
        let message = match outcome {
            Stored::New { sender_seq, receiver_seq } => {
                let row = &item.row;
                let mut m = ChatMessage {
                    id: uuid_bytes(row.id),
                    sender_id: uuid_bytes(row.sender),
                    receiver_id: uuid_bytes(row.receiver),
                    content: std::mem::take(&mut item.plaintext),
                    timestamp_micros: micros(row.created_at),
                    read: false,
                    message_type: i32::from(row.message_type),
                    client_msg_id: row.client_msg_id.clone().unwrap_or_default(),
                    undecryptable: false,
                    seq: u64::try_from(*receiver_seq).unwrap_or_default(),
                };
                ctx.delivery.message(row.receiver, &m).await;
                m.seq = u64::try_from(*sender_seq).unwrap_or_default();
                ctx.delivery.message(row.sender, &m).await;
                m
            }
            Stored::Repeat(original) => {
                // Offered again at the receiver's position, acked at the sender's.
                let receiver = original.receiver_id;
                let mut m = ctx.open(original, receiver);
                ctx.delivery.message(receiver, &m).await;
                m.seq = original.seq_for(original.sender_id);
                m
            }
            Stored::RepeatOf(earlier) => messages[*earlier].clone(),
        };
        messages.push(message);
    }
    messages
}
