//! `feed.v1.rpc.create_post`: validates, stores, fans out to timelines,
//! then notifies followers.
use std::sync::Arc;

use chrono::Utc;
use shared::{
    ids::{from_micros, micros, new_id},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{CreatePostRequest, Post, UpdateType},
    },
    reply::unavailable,
};

use super::{Ctx, audience, broadcast, event, id, post};
use crate::{
    repository::{self, Entry, NewPost, PostRow},
    validate,
};

/// `feed.v1.rpc.create_post`.
pub async fn create_post(ctx: Arc<Ctx>, req: CreatePostRequest) -> Result<Post, ErrorReply> {
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
    let (timelines, followers) = audience(&ctx, author, row.fanned_out).await;
    let entry = Entry { post_id: row.post_id, created_at: row.created_at };
    ctx.timelines.add(&timelines, &[entry]).await;
    broadcast(&ctx, followers, event(UpdateType::Newpost, row.post_id, author, author, 0, 0));
    Ok(post(&row))
}
