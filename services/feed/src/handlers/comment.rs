//! `feed.v1.rpc.comment`: validates, stores and counts; the author hears of
//! it by someone else (a coalesced live update).
use std::sync::Arc;

use chrono::Utc;
use shared::{
    ids::{from_micros, micros, new_id},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{Comment, CommentRequest, UpdateType},
    },
    reply::unavailable,
};

use super::{Ctx, comment as to_proto, counters_changed, id, post_not_found};
use crate::{
    repository::{self, CommentRow},
    validate,
};

/// `feed.v1.rpc.comment`.
pub async fn comment(ctx: Arc<Ctx>, req: CommentRequest) -> Result<Comment, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let post = id("post_id", &req.post_id)?;
    validate::content(&req.content)?;
    let row = CommentRow {
        comment_id: new_id(),
        post_id: post,
        user_id: user,
        content: req.content,
        created_at: from_micros(micros(Utc::now())),
    };
    let counters = repository::add_comment(&ctx.pool, &row)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(post_not_found)?;
    counters_changed(&ctx, UpdateType::Newcomment, post, user, &counters).await;
    Ok(to_proto(&row))
}
