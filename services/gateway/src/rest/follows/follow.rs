//! `POST /api/users/{user_id}/follow`: follows a user.
use super::follow_call;
use crate::rest::prelude::*;

/// Follows a user (idempotent; not yourself: 400).
#[utoipa::path(
    tag = "follows",
    params(("user_id" = Uuid, Path, description = "the user to follow (not yourself)")),
    responses((status = 200, description = "now following", body = FollowState)),
)]
#[post("/api/users/{user_id}/follow")]
pub async fn follow(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    follow_call(user, &path, &state, FeedMethod::Follow).await
}
