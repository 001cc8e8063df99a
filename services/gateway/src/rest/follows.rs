//! Follows: follow and unfollow a user, a user's followers and followees.
use actix_web::{HttpResponse, delete, get, post, web};
use shared::{
    ids::uuid_bytes,
    proto::feed::v1::{FollowReply, FollowRequest, UsersReply, follow_reply, users_reply},
    subjects::FeedMethod,
};

use super::{
    feed::{FollowState, Reply, UserRef, feed_error, id, page_request},
    parse_id,
    schema::Page,
};
use crate::{auth::AuthUser, error::remote, state::AppState};

async fn follow_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let req = FollowRequest {
        follower_id: uuid_bytes(user.0),
        followee_id: uuid_bytes(parse_id("user_id", path)?),
    };
    let reply: FollowReply = state.feed_rpc(method, &req).await?;
    match remote(reply.result)? {
        follow_reply::Result::State(s) => Ok(HttpResponse::Ok().json(FollowState {
            follower_id: id(&s.follower_id),
            followee_id: id(&s.followee_id),
            following: s.following,
        })),
        follow_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

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

async fn users_call(
    user: AuthUser,
    path: &str,
    q: &Page,
    state: &AppState,
    method: FeedMethod,
) -> Reply {
    let req = page_request(parse_id("user_id", path)?, user.0, q, 50)?;
    let reply: UsersReply = state.feed_rpc(method, &req).await?;
    match remote(reply.result)? {
        users_reply::Result::Users(l) => Ok(HttpResponse::Ok()
            .json(l.user_ids.iter().map(|u| UserRef { user_id: id(u) }).collect::<Vec<_>>())),
        users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

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
