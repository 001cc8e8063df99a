//! One module per NATS subject, and [`routes`]: the list of every feed
//! method with its handler ([`shared::serve`] does the rest). [`Ctx`] is
//! what every handler shares; the helpers here turn rows into protobuf.
use std::sync::Arc;

use async_nats::Client;
use shared::{
    ids::{micros, uuid_bytes},
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        feed::v1::{
            ActiveUsersReply, Comment, CommentReply, CommentsReply, DeleteReply, FeedEvent,
            FollowReply, LikeReply, Post, PostList, PostReply, PostsReply, UpdateType, UsersReply,
        },
    },
    serve::Route,
    subjects::{FeedMethod, Subjects},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    live::Live,
    repository::{self, CommentRow, PostRow},
    timeline::Timelines,
};

pub mod active_users;
pub mod comment;
pub mod comments;
pub mod create_post;
pub mod delete_post;
pub mod follow;
pub mod followers;
pub mod like;
pub mod timeline;
pub mod top_posts;
pub mod user_posts;

/// Concurrent handlers per method.
const PERMITS: u32 = 256;

/// Every feed method and its handler.
pub fn routes() -> Vec<Route<Ctx>> {
    use FeedMethod as M;
    vec![
        Route::rpc::<PostReply, _, _>(M::CreatePost.subject(), PERMITS, create_post::create_post),
        Route::rpc::<DeleteReply, _, _>(M::DeletePost.subject(), PERMITS, delete_post::delete_post),
        Route::rpc::<PostsReply, _, _>(M::Timeline.subject(), PERMITS, timeline::timeline),
        Route::rpc::<PostsReply, _, _>(M::UserPosts.subject(), PERMITS, user_posts::user_posts),
        Route::rpc::<LikeReply, _, _>(M::Like.subject(), PERMITS, |c, r| like::like(c, r, true)),
        Route::rpc::<LikeReply, _, _>(M::Unlike.subject(), PERMITS, |c, r| like::like(c, r, false)),
        Route::rpc::<CommentReply, _, _>(M::Comment.subject(), PERMITS, comment::comment),
        Route::rpc::<CommentsReply, _, _>(M::Comments.subject(), PERMITS, comments::comments),
        Route::rpc::<FollowReply, _, _>(M::Follow.subject(), PERMITS, |c, r| {
            follow::follow(c, r, true)
        }),
        Route::rpc::<FollowReply, _, _>(M::Unfollow.subject(), PERMITS, |c, r| {
            follow::follow(c, r, false)
        }),
        Route::rpc::<UsersReply, _, _>(M::Followers.subject(), PERMITS, |c, r| {
            followers::followers(c, r, true)
        }),
        Route::rpc::<UsersReply, _, _>(M::Following.subject(), PERMITS, |c, r| {
            followers::followers(c, r, false)
        }),
        Route::rpc::<PostsReply, _, _>(M::TopPosts.subject(), PERMITS, top_posts::top_posts),
        Route::rpc::<ActiveUsersReply, _, _>(
            M::ActiveUsers.subject(),
            PERMITS,
            active_users::active_users,
        ),
    ]
}

/// What every handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The service's pool (schema `feed`).
    pub pool: PgPool,
    /// The NATS connection.
    pub nats: Client,
    /// Subject names with the deployment's prefix.
    pub subjects: Subjects,
    /// Home timelines (Redis, rebuilt from PostgreSQL).
    pub timelines: Arc<Timelines>,
    /// Live event publisher.
    pub live: Live,
    /// `FEED_FANOUT_MAX_FOLLOWERS`.
    pub fanout_max_followers: usize,
}

/// The reply to an unknown post.
pub fn post_not_found() -> ErrorReply {
    ErrorReply::new(ErrorCode::NotFound, "post not found")
}

/// Decodes a required UUID field, or the error naming it.
pub fn id(field: &str, bytes: &[u8]) -> Result<Uuid, ErrorReply> {
    shared::ids::uuid_from(bytes)
        .ok_or_else(|| ErrorReply::invalid(field, format!("{field} must be a UUID")))
}

/// Converts a non-negative counter for the wire.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Converts a stored post.
pub fn post(row: &PostRow) -> Post {
    Post {
        id: uuid_bytes(row.post_id),
        user_id: uuid_bytes(row.user_id),
        content: row.content.clone(),
        media_url: row.media_url.clone().unwrap_or_default(),
        media_type: i32::from(row.media_type),
        likes_count: count(row.likes_count),
        comments_count: count(row.comments_count),
        created_at_micros: micros(row.created_at),
    }
}

/// Converts a stored comment.
pub fn comment(row: &CommentRow) -> Comment {
    Comment {
        id: uuid_bytes(row.comment_id),
        post_id: uuid_bytes(row.post_id),
        user_id: uuid_bytes(row.user_id),
        content: row.content.clone(),
        created_at_micros: micros(row.created_at),
    }
}

/// Builds a feed event about a post, stamped now.
pub fn event(
    kind: UpdateType,
    post: Uuid,
    author: Uuid,
    actor: Uuid,
    likes: i64,
    comments: i64,
) -> FeedEvent {
    FeedEvent {
        post_id: uuid_bytes(post),
        user_id: uuid_bytes(author),
        update_type: kind as i32,
        timestamp_micros: micros(chrono::Utc::now()),
        likes_count: count(likes),
        comments_count: count(comments),
        actor_id: uuid_bytes(actor),
    }
}

/// The timelines a change to `author`'s post goes to: the author's, and
/// their followers' when the post was fanned out (posts merged on read
/// were never in followers' timelines). Returns them with the followers,
/// who also get the live event. Read after the post's commit: a follow
/// committed since is either seen here or merges the post in itself.
async fn audience(ctx: &Ctx, author: Uuid, fanned_out: bool) -> (Vec<Uuid>, Vec<Uuid>) {
    let followers = if fanned_out {
        repository::all_followers(&ctx.pool, author).await.unwrap_or_else(|e| {
            tracing::error!(error.cause_chain = ?e, "failed to read followers for fan-out");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let mut timelines = followers.clone();
    timelines.push(author);
    (timelines, followers)
}

/// Tells of a like or comment by `actor`: the post's author (unless it was
/// theirs) by a coalesced live update, everyone on `feed.v1.events`.
async fn counters_changed(
    ctx: &Ctx,
    kind: UpdateType,
    post: Uuid,
    actor: Uuid,
    counters: &repository::Counters,
) {
    let author = counters.user_id;
    let ev = event(kind, post, author, actor, counters.likes_count, counters.comments_count);
    if author != actor {
        ctx.live.counter_update(author, ev.clone());
    }
    ctx.live.announce(&ev).await;
}

/// A list of posts, as many as fit in one reply.
fn posts(ctx: &Ctx, rows: &[PostRow]) -> PostList {
    PostList { posts: shared::nats::fit_reply(&ctx.nats, rows.iter().map(post)) }
}

/// Sends a post's event to `followers` and on `feed.v1.events`, without
/// holding up the reply.
fn broadcast(ctx: &Ctx, followers: Vec<Uuid>, event: FeedEvent) {
    let live = ctx.live.clone();
    tokio::spawn(async move {
        live.broadcast(&followers, &event).await;
        live.announce(&event).await;
    });
}
