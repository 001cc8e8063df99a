//! `chat.v1.rpc.sync`: pages of a user's stream, for the pending drain on
//! connect, the client's `sync`, and a gateway filling a gap.
use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    proto::{
        chat::v1::{
            ReadReceipt, StreamEvent, StreamPage, StreamReply, SyncRequest, stream_event,
            stream_reply,
        },
        common::v1::ErrorReply,
    },
};
use uuid::Uuid;

use super::{Ctx, queries::unavailable};
use crate::repository::stream::{self, StreamRow};

/// Events per page unless the request asks for fewer.
const PAGE: u32 = 500;
/// The most events per page.
const PAGE_MAX: u32 = 1000;

fn failed(e: ErrorReply) -> StreamReply {
    StreamReply { result: Some(stream_reply::Result::Error(e)) }
}

/// `chat.v1.rpc.sync`.
pub async fn sync(ctx: Ctx, req: SyncRequest) -> StreamReply {
    let Some(user) = uuid_from(&req.user_id) else {
        return failed(ErrorReply::invalid("user_id", "bad user id"));
    };
    let after = if req.from_delivered {
        stream::delivered(&ctx.pool, user).await
    } else if req.after.is_empty() {
        Ok(i64::try_from(req.after_seq).unwrap_or(i64::MAX))
    } else {
        match uuid_from(&req.after) {
            Some(after) => stream::position_of(&ctx.pool, user, after).await,
            None => return failed(ErrorReply::invalid("after", "after must be a message id")),
        }
    };
    let after = match after {
        Ok(after) => after,
        Err(e) => return failed(unavailable(&e)),
    };
    let until = if req.until_seq == 0 {
        i64::MAX
    } else {
        i64::try_from(req.until_seq).unwrap_or(i64::MAX)
    };
    let limit = if req.limit == 0 { PAGE } else { req.limit.min(PAGE_MAX) };
    let rows = match stream::page(&ctx.pool, user, after, until, i64::from(limit)).await {
        Ok(rows) => rows,
        Err(e) => return failed(unavailable(&e)),
    };
    let full = rows.len() == limit as usize;
    let events = shared::nats::fit_reply(&ctx.nats, rows.iter().map(|r| event(&ctx, user, r)));
    let more = full || events.len() < rows.len();
    let page = StreamPage { after_seq: u64::try_from(after).unwrap_or_default(), events, more };
    StreamReply { result: Some(stream_reply::Result::Page(page)) }
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
