//! `feed.v1.rpc.like`, `unlike`, `comment` and `comments`. A like or comment
//! by someone else sends the post's author a coalesced live update.
use chrono::Utc;
use shared::{
    ids::{from_micros, micros, new_id, uuid_bytes},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{
            CommentList, CommentReply, CommentRequest, CommentsReply, CommentsRequest, LikeReply,
            LikeState, PostAction, UpdateType, comment_reply, comments_reply, like_reply,
        },
    },
};

use super::{Ctx, comment, event, id, limit, post_not_found, unavailable};
use crate::{
    repository::{self, CommentRow, LikeOutcome},
    validate,
};

fn like_reply(result: Result<LikeState, ErrorReply>) -> LikeReply {
    LikeReply {
        result: Some(match result {
            Ok(s) => like_reply::Result::State(s),
            Err(e) => like_reply::Result::Error(e),
        }),
    }
}

/// `like`: idempotent; the author hears of a new like by someone else.
pub async fn like(ctx: Ctx, req: PostAction) -> LikeReply {
    like_reply(toggle(&ctx, req, true).await)
}

/// `unlike`: idempotent.
pub async fn unlike(ctx: Ctx, req: PostAction) -> LikeReply {
    like_reply(toggle(&ctx, req, false).await)
}

async fn toggle(ctx: &Ctx, req: PostAction, liked: bool) -> Result<LikeState, ErrorReply> {
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
        let ev = event(
            UpdateType::Newlike,
            post,
            counters.user_id,
            user,
            counters.likes_count,
            counters.comments_count,
        );
        if counters.user_id != user {
            ctx.live.counter_update(counters.user_id, ev.clone());
        }
        ctx.live.announce(&ev).await;
    }
    Ok(LikeState {
        post_id: uuid_bytes(post),
        likes_count: u64::try_from(counters.likes_count).unwrap_or(0),
        liked,
    })
}

/// `comment`: validates, stores and counts; the author hears of it.
pub async fn add_comment(ctx: Ctx, req: CommentRequest) -> CommentReply {
    let result = match comment_on(&ctx, req).await {
        Ok(c) => comment_reply::Result::Comment(c),
        Err(e) => comment_reply::Result::Error(e),
    };
    CommentReply { result: Some(result) }
}

async fn comment_on(
    ctx: &Ctx,
    req: CommentRequest,
) -> Result<shared::proto::feed::v1::Comment, ErrorReply> {
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
    let ev = event(
        UpdateType::Newcomment,
        post,
        counters.user_id,
        user,
        counters.likes_count,
        counters.comments_count,
    );
    if counters.user_id != user {
        ctx.live.counter_update(counters.user_id, ev.clone());
    }
    ctx.live.announce(&ev).await;
    Ok(comment(&row))
}

/// `comments`: a post's comments, oldest first; unknown post → not found.
pub async fn comments(ctx: Ctx, req: CommentsRequest) -> CommentsReply {
    let result = match list(&ctx, req).await {
        Ok(list) => comments_reply::Result::Comments(list),
        Err(e) => comments_reply::Result::Error(e),
    };
    CommentsReply { result: Some(result) }
}

async fn list(ctx: &Ctx, req: CommentsRequest) -> Result<CommentList, ErrorReply> {
    let post = id("post_id", &req.post_id)?;
    let rows =
        repository::comments(&ctx.pool, post, limit(req.limit, 50, 100), i64::from(req.offset))
            .await
            .map_err(|e| unavailable(&e))?;
    if rows.is_empty()
        && !repository::post_exists(&ctx.pool, post).await.map_err(|e| unavailable(&e))?
    {
        return Err(post_not_found());
    }
    Ok(CommentList { comments: shared::nats::fit_reply(&ctx.nats, rows.iter().map(comment)) })
}
