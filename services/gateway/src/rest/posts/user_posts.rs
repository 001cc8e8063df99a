//! `GET /api/users/{user_id}/posts`: a user's posts.
use crate::rest::prelude::*;

/// A user's posts, newest first.
#[utoipa::path(
    tag = "posts",
    params(("user_id" = Uuid, Path, description = "the author"), Page),
    responses((status = 200, description = "posts, newest first", body = Vec<PostJson>)),
)]
#[get("/api/users/{user_id}/posts")]
pub async fn user_posts(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    let req = page_request(parse_id("user_id", &path)?, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::UserPosts, req).await
}
