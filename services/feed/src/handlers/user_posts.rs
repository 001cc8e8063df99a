//! `feed.v1.rpc.user_posts`: one author's posts, newest first.
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
use crate::repository;

/// `feed.v1.rpc.user_posts`.
pub async fn user_posts(ctx: Arc<Ctx>, req: PageRequest) -> Result<PostList, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let limit = i64::from(page_size(req.limit, POSTS_PAGE, PAGE_MAX));
    let rows = repository::user_posts(&ctx.pool, user, limit, i64::from(req.offset))
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(posts(&ctx, &rows))
}
