//! `chat.v1.send`: one connection's sends ([`SendBatch`]), validated and
//! sealed, then group-committed ([`super::commit`]) with the other batches
//! that arrived while the previous commit ran, and answered. The hot path:
//! an ordered route ([`shared::serve::Ordered`]), so each subscription's
//! batches enter the committer's queue in arrival order, waiting for room
//! there rather than spawning a task per batch.
use std::ops::ControlFlow;

use async_nats::Subject;
use prost::Message;
use shared::{
    ids::{from_micros, uuid_from},
    limits::{self, MessageContentError},
    proto::{
        chat::v1::{MessageType, SendBatch, SendBatchReply, SendReply, SendRequest, send_reply},
        common::v1::{ErrorCode, ErrorReply},
    },
    serve::Ordered,
};
use tokio::sync::mpsc;

use super::Ctx;
use crate::repository::NewMessage;

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
    fn is_settled(&self) -> bool {
        self.items.is_empty()
    }
}

/// Feeds each batch, validated and sealed, to the group committer's queue.
pub struct Enqueue {
    commits: mpsc::Sender<QueuedBatch>,
}

impl Enqueue {
    /// Feeds the committer's queue `commits`; dropping this closes it, and
    /// the committer finishes what is queued and stops.
    pub fn new(commits: mpsc::Sender<QueuedBatch>) -> Self {
        Self { commits }
    }
}

impl Ordered<Ctx, SendBatch> for Enqueue {
    async fn handle(
        &mut self,
        ctx: &Ctx,
        batch: SendBatch,
        reply: Option<Subject>,
    ) -> ControlFlow<()> {
        let mut batch = prepare(ctx, batch, reply);
        if batch.is_settled() {
            answer(ctx, &mut batch).await;
        } else if self.commits.send(batch).await.is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// Validates and seals one batch.
fn prepare(ctx: &Ctx, batch: SendBatch, reply: Option<Subject>) -> QueuedBatch {
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
    QueuedBatch { reply, answers, items }
}

fn validate(ctx: &Ctx, req: SendRequest) -> Result<(NewMessage, String), ErrorReply> {
    let id = uuid_from(&req.id).ok_or_else(|| ErrorReply::invalid("id", "bad message id"))?;
    let sender =
        uuid_from(&req.sender_id).ok_or_else(|| ErrorReply::invalid("sender_id", "bad sender"))?;
    let receiver = uuid_from(&req.receiver_id)
        .ok_or_else(|| ErrorReply::invalid("receiver_id", "receiver_id must be a UUID"))?;
    match limits::message_content_ok(&req.content) {
        Ok(()) => {}
        Err(MessageContentError::Empty) => {
            return Err(ErrorReply::invalid("content", "content must not be empty"));
        }
        Err(MessageContentError::TooLarge) => {
            return Err(ErrorReply::new(ErrorCode::TooLarge, "content is too long"));
        }
    }
    // Checked again here: a NUL could not be stored, and one bad id must not
    // fail the whole group commit it would share with other senders.
    if !req.client_msg_id.is_empty() && !limits::client_msg_id_ok(&req.client_msg_id) {
        return Err(ErrorReply::invalid(
            "client_msg_id",
            "client_msg_id must be at most 64 characters, without NUL",
        ));
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

/// Answers one connection's batch (a send without an answer yet gets a
/// retryable `unavailable`).
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
