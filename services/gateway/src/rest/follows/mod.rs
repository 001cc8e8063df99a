//! Follow routes: follow and unfollow a user, a user's followers and followees.
use shared::proto::feed::v1::{FollowReply, FollowRequest, UsersReply, follow_reply, users_reply};

use crate::rest::prelude::*;

pub mod follow;
pub mod followers;
pub mod following;
pub mod unfollow;

/// Follows or unfollows the user of the path and answers with the state.
async fn follow_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let req = FollowRequest {
        follower_id: uuid_bytes(user.0),
        followee_id: uuid_bytes(parse_id("user_id", path)?),
    };
    let reply: FollowReply = state.feed_rpc(method, &req).await?;
    match remote(reply.result)? {
        follow_reply::Result::State(s) => Ok(HttpResponse::Ok().json(FollowState::from(s))),
        follow_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// A page of the followers or followees of the user of the path.
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
        users_reply::Result::Users(l) => Ok(HttpResponse::Ok().json(UserRef::list(&l))),
        users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
