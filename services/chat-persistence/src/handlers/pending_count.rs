//! `chat.v1.rpc.pending_count`: how many messages a user has not been
//! delivered yet.
use std::sync::Arc;

use shared::{
    ids::uuid_from,
    proto::{chat::v1::PendingCountRequest, common::v1::ErrorReply},
    reply::unavailable,
};

use super::Ctx;
use crate::repository::stream;

/// `chat.v1.rpc.pending_count`: messages received after the delivered cursor.
pub async fn pending_count(ctx: Arc<Ctx>, req: PendingCountRequest) -> Result<u64, ErrorReply> {
    let user =
        uuid_from(&req.user_id).ok_or_else(|| ErrorReply::invalid("user_id", "bad user id"))?;
    let count = stream::pending_count(&ctx.pool, user).await.map_err(|e| unavailable(&e))?;
    Ok(u64::try_from(count).unwrap_or_default())
}
