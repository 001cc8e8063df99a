//! `chat.v1.rpc.sync`: pages of a user's stream, for the pending drain on
//! connect, the client's `sync`, and a gateway filling a gap.
use std::sync::Arc;

use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    limits::{STREAM_PAGE, STREAM_PAGE_MAX, page_size},
    proto::{
        chat::v1::{ReadReceipt, StreamEvent, StreamPage, SyncRequest, stream_event},
        common::v1::ErrorReply,
    },
    reply::unavailable,
};
use uuid::Uuid;

use super::Ctx;
use crate::repository::stream::{self, StreamRow};

/// `chat.v1.rpc.sync`.
pub async fn sync(ctx: Arc<Ctx>, req: SyncRequest) -> Result<StreamPage, ErrorReply> {
    let user =
        uuid_from(&req.user_id).ok_or_else(|| ErrorReply::invalid("user_id", "bad user id"))?;
    let after = if req.from_delivered {
        stream::delivered(&ctx.pool, user).await
    } else if req.after.is_empty() {
        Ok(i64::try_from(req.after_seq).unwrap_or(i64::MAX))
    } else {
        match uuid_from(&req.after) {
            Some(after) => stream::position_of(&ctx.pool, user, after).await,
            None => return Err(ErrorReply::invalid("after", "after must be a message id")),
        }
    };
    let after = after.map_err(|e| unavailable(&e))?;
    let until = if req.until_seq == 0 {
        i64::MAX
    } else {
        i64::try_from(req.until_seq).unwrap_or(i64::MAX)
    };
    let limit = page_size(req.limit, STREAM_PAGE, STREAM_PAGE_MAX);
    let rows = stream::page(&ctx.pool, user, after, until, i64::from(limit))
        .await
        .map_err(|e| unavailable(&e))?;
    let full = rows.len() == limit as usize;
    let events = shared::nats::fit_reply(&ctx.nats, rows.iter().map(|r| event(&ctx, user, r)));
    let more = full || events.len() < rows.len();
    Ok(StreamPage { after_seq: u64::try_from(after).unwrap_or_default(), events, more })
}

fn event(ctx: &Ctx, user: Uuid, row: &StreamRow) -> StreamEvent {
    let seq = u64::try_from(row.seq).unwrap_or_default();
    let event = if row.kind == 1 {
        let m = &row.message;
        stream_event::Event::Receipt(ReadReceipt {
            message_id: uuid_bytes(m.message_id),
            reader_id: uuid_bytes(m.receiver_id),
            sender_id: uuid_bytes(m.sender_id),
            read_at_micros: micros(m.created_at),
            seq,
        })
    } else {
        let mut m = ctx.open(&row.message, user);
        m.seq = seq;
        stream_event::Event::Message(m)
    };
    StreamEvent { event: Some(event) }
}
