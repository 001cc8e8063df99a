//! `chat.v1.send`: one connection's sends ([`SendBatch`]), validated and
//! sealed, then group-committed with the other batches that arrived while
//! the previous commit ran. The commit is the message path in four steps:
//! [`store`] (positions and rows, one transaction), [`deliver`] (publish to
//! the participants), [`answer`] (the senders' acks), and the contact notice.
use std::{collections::HashMap, time::Instant};

use async_nats::Subject;
use prost::Message;
use shared::{
    ids::{from_micros, micros, uuid_bytes, uuid_from},
    proto::{
        chat::v1::{
            ChatMessage, MessageType, SendBatch, SendBatchReply, SendReply, SendRequest, send_reply,
        },
        common::v1::{ErrorCode, ErrorReply},
    },
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Ctx;
use crate::repository::{
    self, NewMessage, StoredMessage,
    stream::{self, Positioned},
};

/// The longest message content accepted, in bytes.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// The longest `client_msg_id` accepted, in characters.
pub const MAX_CLIENT_MSG_ID: usize = 64;

/// One connection's batch, waiting for its commit.
pub struct QueuedBatch {
    reply: Option<Subject>,
    /// One answer per send; validation errors are filled in at once.
    answers: Vec<Option<SendReply>>,
    items: Vec<Item>,
}

struct Item {
    /// Index of the send in its batch.
    index: usize,
    row: NewMessage,
    plaintext: String,
}

/// What the commit made of one send.
enum Stored {
    /// Committed now, at these positions.
    New { sender_seq: i64, receiver_seq: i64 },
    /// Repeats a committed `(sender, client_msg_id)`.
    Repeat(Box<StoredMessage>),
    /// Repeats an earlier send of the same batch (by its flat index).
    RepeatOf(usize),
}

impl QueuedBatch {
    /// True when every send already has its answer (all failed validation).
    pub fn is_settled(&self) -> bool {
        self.items.is_empty()
    }
}

/// Decodes, validates and seals one batch; `None` when it cannot be answered.
pub fn prepare(ctx: &Ctx, msg: async_nats::Message) -> Option<QueuedBatch> {
    let reply = msg.reply.clone();
    let Ok(batch) = SendBatch::decode(msg.payload) else {
        tracing::warn!("malformed send batch");
        return None;
    };
    let mut answers = Vec::with_capacity(batch.sends.len());
    let mut items = Vec::with_capacity(batch.sends.len());
    for (index, req) in batch.sends.into_iter().enumerate() {
        match validate(ctx, req) {
            Ok((row, plaintext)) => {
                answers.push(None);
                items.push(Item { index, row, plaintext });
            }
            Err(e) => answers.push(Some(error_reply(e))),
        }
    }
    Some(QueuedBatch { reply, answers, items })
}

fn validate(ctx: &Ctx, req: SendRequest) -> Result<(NewMessage, String), ErrorReply> {
    let id = uuid_from(&req.id).ok_or_else(|| ErrorReply::invalid("id", "bad message id"))?;
    let sender =
        uuid_from(&req.sender_id).ok_or_else(|| ErrorReply::invalid("sender_id", "bad sender"))?;
    let receiver = uuid_from(&req.receiver_id)
        .ok_or_else(|| ErrorReply::invalid("receiver_id", "receiver_id must be a UUID"))?;
    if req.content.trim().is_empty() {
        return Err(ErrorReply::invalid("content", "content must not be empty"));
    }
    if req.content.len() > MAX_CONTENT_BYTES {
        return Err(ErrorReply::new(ErrorCode::TooLarge, "content is too long"));
    }
    if req.client_msg_id.chars().count() > MAX_CLIENT_MSG_ID {
        return Err(ErrorReply::invalid("client_msg_id", "client_msg_id is longer than 64"));
    }
    if sender == receiver {
        return Err(ErrorReply::invalid("receiver_id", "cannot send a message to yourself"));
    }
    let message_type = MessageType::try_from(req.message_type)
        .map_err(|_| ErrorReply::invalid("message_type", "unknown message_type"))?;
    let content_enc = ctx
        .keys
        .seal(req.content.as_bytes(), id.as_bytes())
        .map_err(|_| ErrorReply::new(ErrorCode::Internal, "encryption failed"))?;
    let row = NewMessage {
        id,
        sender,
        receiver,
        client_msg_id: (!req.client_msg_id.is_empty()).then_some(req.client_msg_id),
        message_type: message_type as i16,
        content_enc,
        created_at: from_micros(req.timestamp_micros),
    };
    Ok((row, req.content))
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

    let messages = deliver(ctx, group, &stored).await;
    let mut flat = 0;
    for batch in group.iter_mut() {
        for item in &batch.items {
            let duplicate = !matches!(stored[flat], Stored::New { .. });
            let message = messages[flat].clone();
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

/// Step 1: in one transaction, locks the participants' streams, finds the
/// sends that repeat a committed `client_msg_id`, gives every new message
/// its next position in both streams (in batch order, which is each
/// connection's send order) and inserts them.
async fn store(ctx: &Ctx, rows: &[&NewMessage]) -> sqlx::Result<Vec<Stored>> {
    let mut users: Vec<Uuid> = rows.iter().flat_map(|r| [r.sender, r.receiver]).collect();
    users.sort_unstable();
    users.dedup();
    let mut tx = ctx.pool.begin().await?;
    let mut last = stream::lock(&mut tx, &users).await?;
    let originals = committed_originals(&mut tx, rows).await?;

    let mut stored = Vec::with_capacity(rows.len());
    let mut first_of: HashMap<(Uuid, &str), usize> = HashMap::new();
    let mut fresh = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if let Some(cid) = row.client_msg_id.as_deref() {
            if let Some(original) = originals.get(&(row.sender, cid.to_owned())) {
                stored.push(Stored::Repeat(Box::new(original.clone())));
                continue;
            }
            if let Some(&earlier) = first_of.get(&(row.sender, cid)) {
                stored.push(Stored::RepeatOf(earlier));
                continue;
            }
            first_of.insert((row.sender, cid), i);
        }
        let sender_seq = next(&mut last, row.sender);
        let receiver_seq = next(&mut last, row.receiver);
        stored.push(Stored::New { sender_seq, receiver_seq });
        fresh.push(Positioned { row, sender_seq, receiver_seq });
    }
    if !fresh.is_empty() {
        stream::insert(&mut tx, &fresh, &last).await?;
    }
    tx.commit().await?;
    Ok(stored)
}

fn next(last: &mut HashMap<Uuid, i64>, user: Uuid) -> i64 {
    let seq = last.entry(user).or_default();
    *seq += 1;
    *seq
}

async fn committed_originals(
    conn: &mut sqlx::PgConnection,
    rows: &[&NewMessage],
) -> sqlx::Result<HashMap<(Uuid, String), StoredMessage>> {
    let keyed: Vec<(Uuid, String)> = rows
        .iter()
        .filter_map(|r| r.client_msg_id.as_ref().map(|c| (r.sender, c.clone())))
        .collect();
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let (senders, cids): (Vec<Uuid>, Vec<String>) = keyed.into_iter().unzip();
    let found = repository::find_by_client_ids(conn, &senders, &cids).await?;
    Ok(found
        .into_iter()
        .map(|m| ((m.sender_id, m.client_msg_id.clone().unwrap_or_default()), m))
        .collect())
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
                ctx.delivery
                    .message(original.receiver_id, &ctx.open(original, original.receiver_id))
                    .await;
                ctx.open(original, original.sender_id)
            }
            Stored::RepeatOf(earlier) => messages[*earlier].clone(),
        };
        messages.push(message);
    }
    messages
}

/// Step 3: answers one connection's batch.
async fn answer(ctx: &Ctx, batch: &mut QueuedBatch) {
    let Some(to) = &batch.reply else { return };
    let replies = batch
        .answers
        .iter_mut()
        .map(|a| {
            a.take().unwrap_or_else(|| {
                error_reply(ErrorReply::new(ErrorCode::Unavailable, "message state unknown, retry"))
            })
        })
        .collect();
    let reply = SendBatchReply { replies };
    // Unanswered, the gateway tells the client `unavailable` and it resends.
    shared::nats::publish_bytes(&ctx.nats, to.clone(), reply.encode_to_vec().into()).await;
}

/// Answers a batch that could not be decoded into sends at all.
pub async fn answer_now(ctx: &Ctx, mut batch: QueuedBatch) {
    answer(ctx, &mut batch).await;
}

async fn flush(ctx: &Ctx) {
    match tokio::time::timeout(shared::nats::PUBLISH_TIMEOUT, ctx.nats.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error.cause_chain = ?e, "failed to flush replies"),
        Err(_) => tracing::warn!("flushing replies timed out: nats unreachable"),
    }
}

fn error_reply(e: ErrorReply) -> SendReply {
    SendReply { result: Some(send_reply::Result::Error(e)), duplicate: false }
}
