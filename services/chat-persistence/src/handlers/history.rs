//! `chat.v1.rpc.history`: the messages between two users, newest first.
use std::sync::Arc;

use shared::{
    ids::uuid_from,
    limits::{LIST_PAGE, PAGE_MAX, page_size},
    proto::{
        chat::v1::{HistoryRequest, MessageList},
        common::v1::{ErrorCode, ErrorReply},
    },
    reply::unavailable,
};

use super::Ctx;
use crate::repository;

/// `chat.v1.rpc.history`: the caller must be one of the two users.
pub async fn history(ctx: Arc<Ctx>, req: HistoryRequest) -> Result<MessageList, ErrorReply> {
    let (Some(caller), Some(a), Some(b)) =
        (uuid_from(&req.caller_id), uuid_from(&req.user1), uuid_from(&req.user2))
    else {
        return Err(ErrorReply::invalid("user1", "user1 and user2 must be UUIDs"));
    };
    if caller != a && caller != b {
        return Err(ErrorReply::new(ErrorCode::Forbidden, "not a participant of this chat"));
    }
    let limit = i64::from(page_size(req.limit, LIST_PAGE, PAGE_MAX));
    let rows = repository::history(&ctx.pool, a, b, limit, i64::from(req.offset))
        .await
        .map_err(|e| unavailable(&e))?;
    let messages = shared::nats::fit_reply(&ctx.nats, rows.iter().map(|r| ctx.open(r, caller)));
    Ok(MessageList { messages })
}
