//! `feed.v1.rpc.delete_post`: the author only; the post leaves every
//! timeline and followers get `postdeleted`.
use std::sync::Arc;

use shared::{
    proto::{
        common::v1::{Empty, ErrorCode, ErrorReply},
        feed::v1::{PostAction, UpdateType},
    },
    reply::unavailable,
};

use super::{Ctx, audience, broadcast, event, id, post_not_found};
use crate::repository::{self, DeleteOutcome};

/// `feed.v1.rpc.delete_post`.
pub async fn delete_post(ctx: Arc<Ctx>, req: PostAction) -> Result<Empty, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let post_id = id("post_id", &req.post_id)?;
    let row = match repository::delete_post(&ctx.pool, post_id, user).await {
        Ok(DeleteOutcome::Deleted(row)) => row,
        Ok(DeleteOutcome::NotFound) => return Err(post_not_found()),
        Ok(DeleteOutcome::Forbidden) => {
            return Err(ErrorReply::new(ErrorCode::Forbidden, "only the author can delete a post"));
        }
        Err(e) => return Err(unavailable(&e)),
    };
    let (timelines, followers) = audience(&ctx, user, row.fanned_out).await;
    ctx.timelines.remove(&timelines, &[post_id]).await;
    let ev =
        event(UpdateType::Postdeleted, post_id, user, user, row.likes_count, row.comments_count);
    broadcast(&ctx, followers, ev);
    Ok(Empty {})
}
