//! `POST /api/posts`: publishes a post.
use serde_json::Value;
use shared::proto::feed::v1::{CreatePostRequest, MediaType, PostReply, post_reply};

use crate::rest::prelude::*;

/// Publishes a post; followers get a `newpost` event.
#[utoipa::path(
    tag = "posts",
    request_body = NewPost,
    responses((status = 201, description = "the post", body = PostJson)),
)]
#[post("/api/posts")]
pub async fn create_post(
    user: AuthUser,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Reply {
    let new = NewPost::parse(&body)?;
    let req = CreatePostRequest {
        user_id: uuid_bytes(user.0),
        content: new.content,
        media_url: new.media_url.unwrap_or_default(),
        media_type: match new.media_type {
            None => MediaType::None,
            Some(MediaKind::Photo) => MediaType::Photo,
            Some(MediaKind::Video) => MediaType::Video,
        } as i32,
    };
    let reply: PostReply = state.feed_rpc(FeedMethod::CreatePost, &req).await?;
    match remote(reply.result)? {
        post_reply::Result::Post(p) => Ok(HttpResponse::Created().json(PostJson::from(p))),
        post_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
