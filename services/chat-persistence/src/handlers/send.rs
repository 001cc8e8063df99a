//! `chat.v1.send`: one connection's sends ([`SendBatch`]), validated and
//! sealed, then group-committed ([`super::commit`]) with the other batches
//! that arrived while the previous commit ran, and answered.
use async_nats::Subject;
use prost::Message;
use shared::{
    ids::{from_micros, uuid_from},
    proto::{
        chat::v1::{MessageType, SendBatch, SendBatchReply, SendReply, SendRequest, send_reply},
        common::v1::{ErrorCode, ErrorReply},
    },
};

use super::Ctx;
use crate::repository::NewMessage;

/// The longest message content accepted, in bytes.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// The longest `client_msg_id` accepted, in characters.
pub const MAX_CLIENT_MSG_ID: usize = 64;

/// One connection's batch, waiting for its commit.
pub struct QueuedBatch {
    pub(super) reply: Option<Subject>,
    /// One answer per send; validation errors are filled in at once.
    pub(super) answers: Vec<Option<SendReply>>,
    pub(super) items: Vec<Item>,
}

/// One valid, sealed send of a batch.
pub(super) struct Item {
    /// Index of the send in its batch.
    pub(super) index: usize,
    pub(super) row: NewMessage,
    pub(super) plaintext: String,
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
    // Stored as text, which cannot hold NUL: one bad id must not fail the
    // whole group commit it would share with other senders.
    if req.client_msg_id.contains('\0') {
        return Err(ErrorReply::invalid("client_msg_id", "client_msg_id must not contain NUL"));
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

/// Answers one connection's batch.
pub(super) async fn answer(ctx: &Ctx, batch: &mut QueuedBatch) {
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

pub(super) async fn flush(ctx: &Ctx) {
    match tokio::time::timeout(shared::nats::PUBLISH_TIMEOUT, ctx.nats.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error.cause_chain = ?e, "failed to flush replies"),
        Err(_) => tracing::warn!("flushing replies timed out: nats unreachable"),
    }
}

pub(super) fn error_reply(e: ErrorReply) -> SendReply {
    SendReply { result: Some(send_reply::Result::Error(e)), duplicate: false }
}
