//! `GET /api/users/{user_id}/following`: the users a user follows.
use super::users_call;
use crate::rest::prelude::*;

/// The users a user follows, newest first.
#[utoipa::path(
    tag = "follows",
    params(("user_id" = Uuid, Path, description = "the user"), Page),
    responses((status = 200, description = "followees", body = Vec<UserRef>)),
)]
#[get("/api/users/{user_id}/following")]
pub async fn following(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    users_call(user, &path, &q, &state, FeedMethod::Following).await
}
