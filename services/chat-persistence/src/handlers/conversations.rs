//! `chat.v1.rpc.conversations`: the caller's chat partners, each with the
//! last message and the unread count.
use std::sync::Arc;

use shared::{
    ids::{uuid_bytes, uuid_from},
    limits::{LIST_PAGE, PAGE_MAX, page_size},
    proto::{
        chat::v1::{Conversation, ConversationList, ConversationsRequest},
        common::v1::ErrorReply,
    },
    reply::unavailable,
};

use super::Ctx;
use crate::repository;

/// `chat.v1.rpc.conversations`.
pub async fn conversations(
    ctx: Arc<Ctx>,
    req: ConversationsRequest,
) -> Result<ConversationList, ErrorReply> {
    let user =
        uuid_from(&req.user_id).ok_or_else(|| ErrorReply::invalid("user_id", "bad user id"))?;
    let limit = i64::from(page_size(req.limit, LIST_PAGE, PAGE_MAX));
    let rows = repository::conversations(&ctx.pool, user, limit, i64::from(req.offset))
        .await
        .map_err(|e| unavailable(&e))?;
    let conversations = shared::nats::fit_reply(
        &ctx.nats,
        rows.iter().map(|r| Conversation {
            partner_id: uuid_bytes(r.partner_id),
            last_message: Some(ctx.open(&r.last, user)),
            unread_count: u64::try_from(r.unread_count).unwrap_or_default(),
        }),
    );
    Ok(ConversationList { conversations })
}
