//! `GET /api/users/{user_id}/followers`: a user's followers.
use super::users_call;
use crate::rest::prelude::*;

/// A user's followers, newest first.
#[utoipa::path(
    tag = "follows",
    params(("user_id" = Uuid, Path, description = "the user"), Page),
    responses((status = 200, description = "followers", body = Vec<UserRef>)),
)]
#[get("/api/users/{user_id}/followers")]
pub async fn followers(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    users_call(user, &path, &q, &state, FeedMethod::Followers).await
}
