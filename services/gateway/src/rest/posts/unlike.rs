//! `DELETE /api/posts/{post_id}/like`: takes a like back.
use super::like_call;
use crate::rest::prelude::*;

/// Takes a like back (idempotent).
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "the post's likes", body = LikeState),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[delete("/api/posts/{post_id}/like")]
pub async fn unlike(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Unlike).await
}
