//! `chat.v1.send`: validation, sealing and group commit. The sends that
//! arrive while a commit is in flight form the next batch, committed in one
//! statement; each sender is answered only after its row is committed.
use std::{collections::HashMap, time::Instant};

use async_nats::Subject;
use prost::Message;
use shared::{
    ids::{from_micros, uuid_from},
    proto::{
        chat::v1::{ChatMessage, MessageType, SendReply, SendRequest, send_reply},
        common::v1::{ErrorCode, ErrorReply},
    },
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Ctx;
use crate::repository::{self, NewMessage};

/// The longest message content accepted, in bytes.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// The longest `client_msg_id` accepted, in characters.
pub const MAX_CLIENT_MSG_ID: usize = 64;

/// A validated, sealed send waiting for its batch.
pub struct QueuedSend {
    row: NewMessage,
    plaintext: String,
    reply: Option<Subject>,
}

/// Validates and seals one send, or returns the error to reply with.
pub fn prepare(
    ctx: &Ctx,
    msg: async_nats::Message,
) -> Result<QueuedSend, (Option<Subject>, ErrorReply)> {
    let reply = msg.reply.clone();
    let fail = |e: ErrorReply| (reply.clone(), e);
    let req = SendRequest::decode(msg.payload)
        .map_err(|_| fail(ErrorReply::invalid("payload", "malformed send request")))?;
    let id = uuid_from(&req.id).ok_or_else(|| fail(ErrorReply::invalid("id", "bad message id")))?;
    let sender = uuid_from(&req.sender_id)
        .ok_or_else(|| fail(ErrorReply::invalid("sender_id", "bad sender id")))?;
    let receiver = uuid_from(&req.receiver_id)
        .ok_or_else(|| fail(ErrorReply::invalid("receiver_id", "receiver_id must be a UUID")))?;
    if req.content.trim().is_empty() {
        return Err(fail(ErrorReply::invalid("content", "content must not be empty")));
    }
    if req.content.len() > MAX_CONTENT_BYTES {
        return Err(fail(ErrorReply::new(ErrorCode::TooLarge, "content is too long")));
    }
    if req.client_msg_id.chars().count() > MAX_CLIENT_MSG_ID {
        return Err(fail(ErrorReply::invalid("client_msg_id", "client_msg_id is longer than 64")));
    }
    if sender == receiver {
        return Err(fail(ErrorReply::invalid("receiver_id", "cannot send a message to yourself")));
    }
    let message_type = MessageType::try_from(req.message_type)
        .map_err(|_| fail(ErrorReply::invalid("message_type", "unknown message_type")))?;
    let content_enc = ctx
        .keys
        .seal(req.content.as_bytes(), id.as_bytes())
        .map_err(|_| fail(ErrorReply::new(ErrorCode::Internal, "encryption failed")))?;
    Ok(QueuedSend {
        row: NewMessage {
            id,
            sender,
            receiver,
            client_msg_id: (!req.client_msg_id.is_empty()).then_some(req.client_msg_id),
            message_type: message_type as i16,
            content_enc,
            created_at: from_micros(req.timestamp_micros),
        },
        plaintext: req.content,
        reply,
    })
}

/// Commits batches from the queue until it closes.
pub async fn run_committer(
    ctx: Ctx,
    mut rx: mpsc::Receiver<QueuedSend>,
    batch_max: usize,
    batch_wait: std::time::Duration,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if batch.len() < batch_max && !batch_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + batch_wait;
            while batch.len() < batch_max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(next)) => batch.push(next),
                    _ => break,
                }
            }
        }
        commit(&ctx, &mut batch).await;
        batch.clear();
    }
}

async fn reply(ctx: &Ctx, to: &Option<Subject>, rep: &SendReply) {
    if let Some(to) = to
        && let Err(e) = ctx.nats.publish(to.clone(), rep.encode_to_vec().into()).await
    {
        tracing::warn!(error.cause_chain = ?e, "failed to answer a send");
    }
}

fn error_reply(e: ErrorReply) -> SendReply {
    SendReply { result: Some(send_reply::Result::Error(e)), duplicate: false }
}

async fn commit(ctx: &Ctx, batch: &mut [QueuedSend]) {
    let started = Instant::now();
    tracing::debug!(batch = batch.len(), "committing");
    let rows: Vec<NewMessage> = batch.iter().map(|q| q.row.clone()).collect();
    // The receivers' pending queues are written while the rows are committed,
    // and the senders are answered only once both are done: an acknowledged
    // message is always in its queue (or, if Redis failed, queued for repair
    // from PostgreSQL), even if this process dies right after the commit.
    // Ids of sends that end up not committed are dropped below or on drain.
    let items: Vec<(Uuid, Uuid, i64)> =
        rows.iter().map(|r| (r.receiver, r.id, r.created_at.timestamp_millis())).collect();
    let (inserted, ()) =
        tokio::join!(repository::insert_batch(&ctx.pool, &rows), ctx.pending.push(&items));
    let inserted = match inserted {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, batch = batch.len(), "commit failed");
            metrics::counter!("chat_commit_failures_total").increment(1);
            // The queued ids stay: if the commit did happen (an ambiguous failure), they
            // are right; if not, a drain finds no row for them and drops them.
            let rep =
                error_reply(ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry"));
            for q in batch.iter() {
                reply(ctx, &q.reply, &rep).await;
            }
            return;
        }
    };
    tracing::debug!(inserted = inserted.len(), "committed");
    metrics::histogram!("chat_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("chat_commit_batch_size").record(batch.len() as f64);
    metrics::counter!("chat_messages_committed_total").increment(inserted.len() as u64);

    // Sends not inserted repeated a (sender, client_msg_id): answer with the original.
    let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
    let stale: Vec<(Uuid, Uuid)> =
        rows.iter().filter(|r| !inserted.contains(&r.id)).map(|r| (r.receiver, r.id)).collect();
    ctx.pending.remove(&stale).await;
    let repeats: Vec<&QueuedSend> =
        batch.iter().filter(|q| !inserted.contains(&q.row.id)).collect();
    let mut originals = HashMap::new();
    if !repeats.is_empty() {
        let senders = repeats.iter().map(|q| q.row.sender).collect();
        let cids =
            repeats.iter().map(|q| q.row.client_msg_id.clone().unwrap_or_default()).collect();
        match repository::find_by_client_ids(&ctx.pool, senders, cids).await {
            Ok(rows) => {
                for r in rows {
                    originals.insert((r.sender_id, r.client_msg_id.clone().unwrap_or_default()), r);
                }
            }
            Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to load original messages"),
        }
    }

    let mut routed = Vec::with_capacity(batch.len());
    let mut requeue = Vec::new();
    for q in batch.iter_mut() {
        if inserted.contains(&q.row.id) {
            let m = ChatMessage {
                id: shared::ids::uuid_bytes(q.row.id),
                sender_id: shared::ids::uuid_bytes(q.row.sender),
                receiver_id: shared::ids::uuid_bytes(q.row.receiver),
                content: std::mem::take(&mut q.plaintext),
                timestamp_micros: shared::ids::micros(q.row.created_at),
                read: false,
                message_type: i32::from(q.row.message_type),
                client_msg_id: q.row.client_msg_id.clone().unwrap_or_default(),
                undecryptable: false,
            };
            reply(
                ctx,
                &q.reply,
                &SendReply {
                    result: Some(send_reply::Result::Message(m.clone())),
                    duplicate: false,
                },
            )
            .await;
            routed.push(m);
            continue;
        }
        let key = (q.row.sender, q.row.client_msg_id.clone().unwrap_or_default());
        match originals.get(&key) {
            Some(original) => {
                let m = ctx.open(original);
                reply(
                    ctx,
                    &q.reply,
                    &SendReply {
                        result: Some(send_reply::Result::Message(m.clone())),
                        duplicate: true,
                    },
                )
                .await;
                // Queue and offer it again if it never reached the receiver
                // (e.g. the process died after its commit).
                if original.delivered_at.is_none()
                    && !routed.iter().any(|r: &ChatMessage| r.id == m.id)
                {
                    let at = original.created_at.timestamp_millis();
                    requeue.push((original.receiver_id, original.message_id, at));
                    routed.push(m);
                }
            }
            None => {
                let e = ErrorReply::new(ErrorCode::Unavailable, "message state unknown, retry");
                reply(ctx, &q.reply, &error_reply(e)).await;
            }
        }
    }
    if !inserted.is_empty() {
        // Presence caches contact sets: these users may have a new chat partner.
        let mut users: Vec<Uuid> = batch
            .iter()
            .filter(|q| inserted.contains(&q.row.id))
            .flat_map(|q| [q.row.sender, q.row.receiver])
            .collect();
        users.sort_unstable();
        users.dedup();
        let notice = shared::proto::presence::v1::ContactsChanged {
            user_ids: users.into_iter().map(shared::ids::uuid_bytes).collect(),
        };
        let subject = ctx.subjects.get(shared::subjects::PRESENCE_CONTACTS_CHANGED);
        shared::nats::publish(&ctx.nats, subject, &notice).await;
    }
    ctx.pending.push(&requeue).await;
    if let Err(e) = ctx.nats.flush().await {
        tracing::warn!(error.cause_chain = ?e, "failed to flush replies");
    }
    ctx.delivery.route(routed).await;
}
