//! SQL of feed (schema `feed`): posts and their counters, likes, comments,
//! follows and per-author statistics. Handlers never see SQL; generated
//! protobuf types never reach it.
use chrono::{DateTime, Utc};
use uuid::Uuid;

mod posts;
mod social;
mod timeline;

pub use posts::*;
pub use social::*;
pub use timeline::*;

/// A stored post.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostRow {
    /// UUIDv7.
    pub post_id: Uuid,
    /// The author.
    pub user_id: Uuid,
    /// The text.
    pub content: String,
    /// An http(s) URL, if the post has media.
    pub media_url: Option<String>,
    /// `feed.v1.MediaType` as a number.
    pub media_type: i16,
    /// Exact number of likes.
    pub likes_count: i64,
    /// Exact number of comments.
    pub comments_count: i64,
    /// Whether the post was written to followers' Redis timelines.
    pub fanned_out: bool,
    /// When it was posted (microsecond precision; the timeline score).
    pub created_at: DateTime<Utc>,
}

const POST_COLUMNS: &str = "p.post_id, p.user_id, p.content, p.media_url, p.media_type, \
                            p.likes_count, p.comments_count, p.fanned_out, p.created_at";

/// A post about to be stored (already validated).
#[derive(Debug, Clone)]
pub struct NewPost {
    /// UUIDv7.
    pub id: Uuid,
    /// The author.
    pub user: Uuid,
    /// The text.
    pub content: String,
    /// The media URL, if any.
    pub media_url: Option<String>,
    /// `feed.v1.MediaType` as a number.
    pub media_type: i16,
    /// Whether it is written to followers' timelines (the author is not a celebrity).
    pub fanned_out: bool,
    /// When it was posted, truncated to microseconds.
    pub created_at: DateTime<Utc>,
}

/// A stored comment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    /// UUIDv7.
    pub comment_id: Uuid,
    /// The post commented on.
    pub post_id: Uuid,
    /// The commenter.
    pub user_id: Uuid,
    /// The text.
    pub content: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A post's author and counters, as left by a like, unlike or comment.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Counters {
    /// The post's author.
    pub user_id: Uuid,
    /// Likes after the change.
    pub likes_count: i64,
    /// Comments after the change.
    pub comments_count: i64,
}

/// One entry of a home timeline: a post id and its score (creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Entry {
    /// The post.
    pub post_id: Uuid,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// Returns whether an error is a foreign-key violation (the post is gone).
fn is_missing_parent(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23503"))
}
