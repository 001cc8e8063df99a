//! `DELETE /api/users/{user_id}/follow`: stops following a user.
use super::follow_call;
use crate::rest::prelude::*;

/// Stops following a user (idempotent).
#[utoipa::path(
    tag = "follows",
    params(("user_id" = Uuid, Path, description = "the user to unfollow")),
    responses((status = 200, description = "not following", body = FollowState)),
)]
#[delete("/api/users/{user_id}/follow")]
pub async fn unfollow(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Reply {
    follow_call(user, &path, &state, FeedMethod::Unfollow).await
}
