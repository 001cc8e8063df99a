//! `feed.v1.rpc.comments`: a post's comments, oldest first; an unknown
//! post is `not_found`.
use std::sync::Arc;

use shared::{
    limits::{LIST_PAGE, PAGE_MAX, page_size},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{CommentList, CommentsRequest},
    },
    reply::unavailable,
};

use super::{Ctx, comment, id, post_not_found};
use crate::repository;

/// `feed.v1.rpc.comments`.
pub async fn comments(ctx: Arc<Ctx>, req: CommentsRequest) -> Result<CommentList, ErrorReply> {
    let post = id("post_id", &req.post_id)?;
    let limit = i64::from(page_size(req.limit, LIST_PAGE, PAGE_MAX));
    let rows = repository::comments(&ctx.pool, post, limit, i64::from(req.offset))
        .await
        .map_err(|e| unavailable(&e))?;
    if rows.is_empty()
        && !repository::post_exists(&ctx.pool, post).await.map_err(|e| unavailable(&e))?
    {
        return Err(post_not_found());
    }
    Ok(CommentList { comments: shared::nats::fit_reply(&ctx.nats, rows.iter().map(comment)) })
}
