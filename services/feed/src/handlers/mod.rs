//! NATS request handlers, one module per resource. [`Ctx`] is what every
//! handler shares; the helpers here turn rows into protobuf and storage
//! errors into retryable `unavailable` replies.
use std::sync::Arc;

use async_nats::Client;
use shared::{
    ids::{micros, uuid_bytes},
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        feed::v1::{Comment, FeedEvent, Post, UpdateType},
    },
    subjects::Subjects,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    live::Live,
    repository::{CommentRow, PostRow},
    timeline::Timelines,
};

pub mod follows;
pub mod posts;
pub mod reactions;
pub mod stats;

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

/// Logs a storage failure and returns the retryable error clients get.
pub fn unavailable(e: &sqlx::Error) -> ErrorReply {
    tracing::warn!(error.cause_chain = ?e, "query failed");
    ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry")
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

/// A page size: `default` when 0, at most `max`.
pub fn limit(value: u32, default: u32, max: u32) -> i64 {
    i64::from(if value == 0 { default } else { value.min(max) })
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
