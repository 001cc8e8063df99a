//! `feed.v1.rpc.top_posts`: the most liked posts (one of the seed's two
//! statistics).
use std::sync::Arc;

use shared::{
    limits::{PAGE_MAX, STATS_PAGE, page_size},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{PostList, TopPostsRequest},
    },
    reply::unavailable,
};

use super::{Ctx, posts};
use crate::repository;

/// `feed.v1.rpc.top_posts`.
pub async fn top_posts(ctx: Arc<Ctx>, req: TopPostsRequest) -> Result<PostList, ErrorReply> {
    let limit = i64::from(page_size(req.limit, STATS_PAGE, PAGE_MAX));
    let rows = repository::top_posts(&ctx.pool, limit).await.map_err(|e| unavailable(&e))?;
    Ok(posts(&ctx, &rows))
}
