//! `POST /api/users/{user_id}/follow`: follows a user.
use actix_web::{post, web};
use shared::subjects::FeedMethod;

use super::follow_call;
use crate::{
    auth::AuthUser, rest::feed::Reply, state::AppState, wire::rest::response::FollowState,
};

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
