//! `feed.v1.rpc.timeline`: the caller's home feed, newest first (see
//! [`crate::timeline`]).
use std::sync::Arc;

use shared::{
    limits::{PAGE_MAX, POSTS_PAGE, page_size},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{PageRequest, PostList},
    },
    reply::unavailable,
};

use super::{Ctx, id, posts};

/// `feed.v1.rpc.timeline`.
pub async fn timeline(ctx: Arc<Ctx>, req: PageRequest) -> Result<PostList, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let limit = page_size(req.limit, POSTS_PAGE, PAGE_MAX) as usize;
    let rows =
        ctx.timelines.page(user, limit, req.offset as usize).await.map_err(|e| unavailable(&e))?;
    Ok(posts(&ctx, &rows))
}
