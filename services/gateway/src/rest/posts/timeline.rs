//! `GET /api/posts`: the caller's timeline.
use crate::rest::prelude::*;

/// The caller's timeline: their posts and those of the users they follow, newest first.
#[utoipa::path(
    tag = "posts",
    params(Page),
    responses((status = 200, description = "posts, newest first", body = Vec<PostJson>)),
)]
#[get("/api/posts")]
pub async fn timeline(user: AuthUser, q: web::Query<Page>, state: web::Data<AppState>) -> Reply {
    let req = page_request(user.0, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::Timeline, req).await
}
