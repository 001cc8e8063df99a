//! What the feed routes share (SPEC §4): the bodies they answer with, the
//! mapping of feed's error replies, and paged requests. The gateway checks
//! the token, ids, paging and the JSON shape; feed checks the content rules
//! again and answers with the field at fault.
use actix_web::HttpResponse;
use serde::Serialize;
use shared::{
    ids::{rfc3339, uuid_bytes, uuid_from},
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        feed::v1::{Comment, MediaType, PageRequest, Post, PostsReply, posts_reply},
    },
    subjects::FeedMethod,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::schema::{MediaKind, Page};
use crate::{
    error::{ApiError, remote},
    state::AppState,
};

/// The result of a handler.
pub type Reply = Result<HttpResponse, ApiError>;

/// Request fields feed may name in an `invalid_argument` reply.
const FIELDS: &[&str] =
    &["content", "media_url", "media_type", "user_id", "post_id", "limit", "offset"];

/// Maps feed's error reply, keeping the field of a validation error.
pub fn feed_error(e: ErrorReply) -> ApiError {
    if e.error_code() == ErrorCode::InvalidArgument
        && let Some(field) = FIELDS.iter().find(|f| **f == e.field)
    {
        return ApiError::invalid(field, e.message);
    }
    e.into()
}

/// A UUID of a reply (nil if a backend sent a malformed one).
pub fn id(bytes: &[u8]) -> Uuid {
    uuid_from(bytes).unwrap_or_default()
}

/// A post.
#[derive(Serialize, ToSchema)]
#[schema(as = Post)]
pub struct PostJson {
    id: Uuid,
    user_id: Uuid,
    /// The text, verbatim.
    content: String,
    media_url: Option<String>,
    media_type: Option<MediaKind>,
    likes_count: u64,
    comments_count: u64,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Post> for PostJson {
    fn from(p: Post) -> Self {
        let media_type = match MediaType::try_from(p.media_type) {
            Ok(MediaType::Photo) => Some(MediaKind::Photo),
            Ok(MediaType::Video) => Some(MediaKind::Video),
            _ => None,
        };
        Self {
            id: id(&p.id),
            user_id: id(&p.user_id),
            media_url: (!p.media_url.is_empty()).then_some(p.media_url),
            content: p.content,
            media_type,
            likes_count: p.likes_count,
            comments_count: p.comments_count,
            created_at: rfc3339(p.created_at_micros),
        }
    }
}

impl Serialize for MediaKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Photo => "photo",
            Self::Video => "video",
        })
    }
}

/// A comment.
#[derive(Serialize, ToSchema)]
#[schema(as = Comment)]
pub struct CommentJson {
    id: Uuid,
    post_id: Uuid,
    user_id: Uuid,
    /// The text, verbatim.
    content: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Comment> for CommentJson {
    fn from(c: Comment) -> Self {
        Self {
            id: id(&c.id),
            post_id: id(&c.post_id),
            user_id: id(&c.user_id),
            content: c.content,
            created_at: rfc3339(c.created_at_micros),
        }
    }
}

/// Whether the caller likes a post, and its likes.
#[derive(Serialize, ToSchema)]
pub struct LikeState {
    /// The post.
    pub post_id: Uuid,
    /// Its likes.
    pub likes_count: u64,
    /// Whether the caller likes it.
    pub liked: bool,
}

/// Whether the caller follows a user.
#[derive(Serialize, ToSchema)]
pub struct FollowState {
    /// The caller.
    pub follower_id: Uuid,
    /// The user followed or not.
    pub followee_id: Uuid,
    /// Whether the caller follows them now.
    pub following: bool,
}

/// A user in a list.
#[derive(Serialize, ToSchema)]
pub struct UserRef {
    /// The user.
    pub user_id: Uuid,
}

/// A user with their number of posts.
#[derive(Serialize, ToSchema)]
pub struct ActiveUser {
    /// The user.
    pub user_id: Uuid,
    /// Their posts.
    pub post_count: u64,
}

/// A deleted post.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The post.
    pub post_id: Uuid,
    /// Always true.
    pub deleted: bool,
}

/// A page request of `user`'s list, for `caller`.
pub fn page_request(
    user: Uuid,
    caller: Uuid,
    q: &Page,
    default: u32,
) -> Result<PageRequest, ApiError> {
    let (limit, offset) = super::parse_page(q, default)?;
    Ok(PageRequest { user_id: uuid_bytes(user), limit, offset, caller_id: uuid_bytes(caller) })
}

/// A page of posts, asked of feed in chunks that always fit one NATS message.
pub async fn posts_page(state: &AppState, method: FeedMethod, req: PageRequest) -> Reply {
    let posts = super::in_chunks(req.limit, req.offset, |limit, offset| {
        let chunk = PageRequest { limit, offset, ..req.clone() };
        async move {
            let reply: PostsReply = state.feed_rpc(method, &chunk).await?;
            match remote(reply.result)? {
                posts_reply::Result::Posts(l) => Ok(l.posts),
                posts_reply::Result::Error(e) => Err(feed_error(e)),
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(posts.into_iter().map(PostJson::from).collect::<Vec<_>>()))
}
