//! `POST /api/posts/{post_id}/comments`: comments on a post.
use serde_json::Value;
use shared::proto::feed::v1::{CommentReply, CommentRequest, comment_reply};

use crate::rest::prelude::*;

/// Comments on a post; its author gets a `newcomment` event.
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    request_body = NewComment,
    responses(
        (status = 201, description = "the comment", body = CommentJson),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[post("/api/posts/{post_id}/comments")]
pub async fn add_comment(
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Reply {
    let post_id = parse_id("post_id", &path)?;
    let req = CommentRequest {
        user_id: uuid_bytes(user.0),
        post_id: uuid_bytes(post_id),
        content: NewComment::parse(&body)?.content,
    };
    let reply: CommentReply = state.feed_rpc(FeedMethod::Comment, &req).await?;
    match remote(reply.result)? {
        comment_reply::Result::Comment(c) => Ok(HttpResponse::Created().json(CommentJson::from(c))),
        comment_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
