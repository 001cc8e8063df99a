//! `POST /api/posts/{post_id}/like`: likes a post.
use actix_web::{post, web};
use shared::subjects::FeedMethod;

use super::like_call;
use crate::{
    auth::AuthUser,
    rest::feed::Reply,
    state::AppState,
    wire::rest::response::{ErrorBody, LikeState},
};

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
