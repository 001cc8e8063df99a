//! `feed.v1.rpc.create_post`, `delete_post`, `timeline` and `user_posts`.
use chrono::Utc;
use shared::{
    ids::{from_micros, micros, new_id},
    proto::{
        common::v1::{Empty, ErrorCode, ErrorReply},
        feed::v1::{
            CreatePostRequest, DeleteReply, PageRequest, PostAction, PostList, PostReply,
            PostsReply, UpdateType, delete_reply, post_reply, posts_reply,
        },
    },
};
use uuid::Uuid;

use super::{Ctx, event, id, limit, post, post_not_found, unavailable};
use crate::{
    repository::{self, DeleteOutcome, Entry, NewPost, PostRow},
    validate,
};

fn posts(ctx: &Ctx, rows: Result<Vec<PostRow>, ErrorReply>) -> PostsReply {
    PostsReply {
        result: Some(match rows {
            Ok(rows) => posts_reply::Result::Posts(PostList {
                posts: shared::nats::fit_reply(&ctx.nats, rows.iter().map(post)),
            }),
            Err(e) => posts_reply::Result::Error(e),
        }),
    }
}

/// Followers to fan a post out to, read after the post's commit: a follow
/// committed since is either seen here or merges the post in itself.
async fn followers(ctx: &Ctx, author: Uuid) -> Vec<Uuid> {
    match repository::all_followers(&ctx.pool, author).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "failed to read followers for fan-out");
            Vec::new()
        }
    }
}

/// `create_post`: validates, stores, fans out to timelines, then notifies followers.
pub async fn create_post(ctx: Ctx, req: CreatePostRequest) -> PostReply {
    let result = match create(&ctx, req).await {
        Ok(p) => post_reply::Result::Post(p),
        Err(e) => post_reply::Result::Error(e),
    };
    PostReply { result: Some(result) }
}

async fn create(
    ctx: &Ctx,
    req: CreatePostRequest,
) -> Result<shared::proto::feed::v1::Post, ErrorReply> {
    let author = id("user_id", &req.user_id)?;
    validate::content(&req.content)?;
    let (media_url, media_type) = validate::media(&req.media_url, req.media_type)?;
    let max = ctx.fanout_max_followers as i64;
    let followers_now = repository::follower_count_capped(&ctx.pool, author, max + 1)
        .await
        .map_err(|e| unavailable(&e))?;
    let new = NewPost {
        id: new_id(),
        user: author,
        content: req.content,
        media_url,
        media_type: media_type as i16,
        fanned_out: followers_now <= max,
        created_at: from_micros(micros(Utc::now())),
    };
    repository::insert_post(&ctx.pool, &new).await.map_err(|e| unavailable(&e))?;
    metrics::counter!("feed_posts_created_total").increment(1);
    let row = PostRow {
        post_id: new.id,
        user_id: author,
        content: new.content,
        media_url: new.media_url,
        media_type: new.media_type,
        likes_count: 0,
        comments_count: 0,
        fanned_out: new.fanned_out,
        created_at: new.created_at,
    };
    let followers = if row.fanned_out { followers(ctx, author).await } else { Vec::new() };
    let mut timelines = followers.clone();
    timelines.push(author);
    let entry = Entry { post_id: row.post_id, created_at: row.created_at };
    ctx.timelines.add(&timelines, &[entry]).await;

    let ev = event(UpdateType::Newpost, row.post_id, author, author, 0, 0);
    let live = ctx.live.clone();
    tokio::spawn(async move {
        live.broadcast(&followers, &ev).await;
        live.announce(&ev).await;
    });
    Ok(post(&row))
}

/// `delete_post`: the author only; the post leaves every timeline and
/// followers get `postdeleted`.
pub async fn delete_post(ctx: Ctx, req: PostAction) -> DeleteReply {
    let result = match delete(&ctx, req).await {
        Ok(()) => delete_reply::Result::Deleted(Empty {}),
        Err(e) => delete_reply::Result::Error(e),
    };
    DeleteReply { result: Some(result) }
}

async fn delete(ctx: &Ctx, req: PostAction) -> Result<(), ErrorReply> {
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
    // Posts merged on read were never in followers' timelines.
    let followers = if row.fanned_out { followers(ctx, user).await } else { Vec::new() };
    let mut timelines = followers.clone();
    timelines.push(user);
    ctx.timelines.remove(&timelines, &[post_id]).await;

    let ev =
        event(UpdateType::Postdeleted, post_id, user, user, row.likes_count, row.comments_count);
    let live = ctx.live.clone();
    tokio::spawn(async move {
        live.broadcast(&followers, &ev).await;
        live.announce(&ev).await;
    });
    Ok(())
}

/// `timeline`: the caller's home feed, newest first.
pub async fn timeline(ctx: Ctx, req: PageRequest) -> PostsReply {
    let user = match id("user_id", &req.user_id) {
        Ok(u) => u,
        Err(e) => return posts(&ctx, Err(e)),
    };
    let limit = limit(req.limit, 20, 100) as usize;
    let offset = req.offset as usize;
    posts(&ctx, ctx.timelines.page(user, limit, offset).await.map_err(|e| unavailable(&e)))
}

/// `user_posts`: one author's posts, newest first.
pub async fn user_posts(ctx: Ctx, req: PageRequest) -> PostsReply {
    let user = match id("user_id", &req.user_id) {
        Ok(u) => u,
        Err(e) => return posts(&ctx, Err(e)),
    };
    let rows =
        repository::user_posts(&ctx.pool, user, limit(req.limit, 20, 100), i64::from(req.offset))
            .await
            .map_err(|e| unavailable(&e));
    posts(&ctx, rows)
}
