//! `feed.v1.rpc.like` and `unlike`: one handler, told by its subject which
//! way. Both are idempotent; the author hears of a new like by someone else
//! (a coalesced live update).
use std::sync::Arc;

use shared::{
    ids::uuid_bytes,
    proto::{
        common::v1::ErrorReply,
        feed::v1::{LikeState, PostAction, UpdateType},
    },
    reply::unavailable,
};

use super::{Ctx, counters_changed, id, post_not_found};
use crate::repository::{self, LikeOutcome};

/// `feed.v1.rpc.like` (`liked`) or `unlike`.
pub async fn like(ctx: Arc<Ctx>, req: PostAction, liked: bool) -> Result<LikeState, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let post = id("post_id", &req.post_id)?;
    let outcome = if liked {
        repository::like(&ctx.pool, post, user).await
    } else {
        repository::unlike(&ctx.pool, post, user).await
    };
    let LikeOutcome { changed, counters } =
        outcome.map_err(|e| unavailable(&e))?.ok_or_else(post_not_found)?;
    if liked && changed {
        counters_changed(&ctx, UpdateType::Newlike, post, user, &counters).await;
    }
    Ok(LikeState {
        post_id: uuid_bytes(post),
        likes_count: u64::try_from(counters.likes_count).unwrap_or(0),
        liked,
    })
}
