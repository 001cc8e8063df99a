//! `POST /api/posts/{post_id}/like`: likes a post.
use super::like_call;
use crate::rest::prelude::*;

/// Likes a post (idempotent: a second like changes nothing).
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "the post's likes", body = LikeState),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[post("/api/posts/{post_id}/like")]
pub async fn like(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Like).await
}
