//! `presence.v1.rpc.online_count`: how many users are online (connected,
//! or within the grace period).
use std::sync::Arc;

use shared::{
    proto::{common::v1::ErrorReply, presence::v1::OnlineCountRequest},
    reply::unavailable,
};

use super::Ctx;

/// `presence.v1.rpc.online_count`.
pub async fn online_count(ctx: Arc<Ctx>, _req: OnlineCountRequest) -> Result<u64, ErrorReply> {
    ctx.store.online_count().await.map_err(|e| unavailable(&e))
}
