//! The bodies the REST API answers with, converted from the backends'
//! replies here.
use serde::Serialize;
use shared::{
    ids::{rfc3339, uuid_from},
    proto::{chat::v1 as chat, feed::v1 as feed},
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::request::MediaKind;
use crate::wire::message::MessageJson;

/// A UUID of a reply (nil if a backend sent a malformed one).
fn id(bytes: &[u8]) -> Uuid {
    uuid_from(bytes).unwrap_or_default()
}

/// Every error: a message for people, a code for programs, and the request
/// field at fault when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// Machine-readable: `invalid_argument`, `invalid_json`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `too_large`,
    /// `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// The request field at fault (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
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

impl From<feed::Post> for PostJson {
    fn from(p: feed::Post) -> Self {
        let media_type = match feed::MediaType::try_from(p.media_type) {
            Ok(feed::MediaType::Photo) => Some(MediaKind::Photo),
            Ok(feed::MediaType::Video) => Some(MediaKind::Video),
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

impl From<feed::Comment> for CommentJson {
    fn from(c: feed::Comment) -> Self {
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
    post_id: Uuid,
    /// Its likes.
    likes_count: u64,
    /// Whether the caller likes it.
    liked: bool,
}

impl From<feed::LikeState> for LikeState {
    fn from(s: feed::LikeState) -> Self {
        Self { post_id: id(&s.post_id), likes_count: s.likes_count, liked: s.liked }
    }
}

/// Whether the caller follows a user.
#[derive(Serialize, ToSchema)]
pub struct FollowState {
    /// The caller.
    follower_id: Uuid,
    /// The user followed or not.
    followee_id: Uuid,
    /// Whether the caller follows them now.
    following: bool,
}

impl From<feed::FollowState> for FollowState {
    fn from(s: feed::FollowState) -> Self {
        Self {
            follower_id: id(&s.follower_id),
            followee_id: id(&s.followee_id),
            following: s.following,
        }
    }
}

/// A user in a list.
#[derive(Serialize, ToSchema)]
pub struct UserRef {
    /// The user.
    user_id: Uuid,
}

impl UserRef {
    /// The list of a reply's user ids.
    pub fn list(list: &feed::UserList) -> Vec<Self> {
        list.user_ids.iter().map(|u| Self { user_id: id(u) }).collect()
    }
}

/// A user with their number of posts.
#[derive(Serialize, ToSchema)]
pub struct ActiveUser {
    /// The user.
    user_id: Uuid,
    /// Their posts.
    post_count: u64,
}

impl From<&feed::ActiveUser> for ActiveUser {
    fn from(u: &feed::ActiveUser) -> Self {
        Self { user_id: id(&u.user_id), post_count: u.post_count }
    }
}

/// A deleted post.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The post.
    post_id: Uuid,
    /// Always true.
    deleted: bool,
}

impl Deleted {
    /// The answer for a deleted post.
    pub fn new(post_id: Uuid) -> Self {
        Self { post_id, deleted: true }
    }
}

/// A conversation of the caller.
#[derive(Serialize, ToSchema)]
pub struct Conversation<'a> {
    /// The other participant.
    partner_id: Uuid,
    /// The newest message.
    last_message: Option<MessageJson<'a>>,
    /// When it was sent (RFC 3339).
    #[schema(format = DateTime)]
    last_message_at: Option<String>,
    /// Messages to the caller not read yet.
    unread_count: u64,
}

impl<'a> From<&'a chat::Conversation> for Conversation<'a> {
    fn from(c: &'a chat::Conversation) -> Self {
        Self {
            partner_id: id(&c.partner_id),
            last_message: c.last_message.as_ref().map(MessageJson::from_proto),
            last_message_at: c.last_message.as_ref().map(|m| rfc3339(m.timestamp_micros)),
            unread_count: c.unread_count,
        }
    }
}

/// The caller's pending messages: received, not yet written to any of
/// their connections.
#[derive(Serialize, ToSchema)]
pub struct PendingPage<'a> {
    /// How many messages are pending in all.
    pub pending: u64,
    /// This page of them, oldest first.
    pub messages: Vec<MessageJson<'a>>,
    /// Pass as `after_seq` for the next page; null at the end.
    pub next_after_seq: Option<u64>,
}

/// A contact's presence.
#[derive(Serialize, ToSchema)]
pub struct PresenceDoc {
    /// The user asked about.
    pub user_id: Uuid,
    /// Whether they have a connection now.
    pub online: bool,
    /// When their last connection closed (RFC 3339); null when online or never seen.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
}

/// How many users are online.
#[derive(Serialize, ToSchema)]
pub struct Online {
    /// The count.
    pub online: u64,
}

/// A development token (`POST /api/dev/token`, development mode only).
#[derive(Serialize)]
pub struct DevToken {
    /// Whose token it is.
    pub user_id: Uuid,
    /// The JWT.
    pub token: String,
    /// Seconds it lasts.
    pub expires_in: u64,
}
