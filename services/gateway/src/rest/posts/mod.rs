//! Post routes: publishing, timelines, deleting, likes and comments.
use shared::proto::feed::v1::{LikeReply, PostAction, like_reply};

use crate::rest::prelude::*;

pub mod comment;
pub mod comments;
pub mod create;
pub mod delete;
pub mod like;
pub mod timeline;
pub mod unlike;
pub mod user_posts;

/// The caller acting on the post of the path.
fn action(user: AuthUser, path: &str) -> Result<PostAction, ApiError> {
    Ok(PostAction { user_id: uuid_bytes(user.0), post_id: uuid_bytes(parse_id("post_id", path)?) })
}

/// Likes or unlikes a post and answers with its likes.
async fn like_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let reply: LikeReply = state.feed_rpc(method, &action(user, path)?).await?;
    match remote(reply.result)? {
        like_reply::Result::State(s) => Ok(HttpResponse::Ok().json(LikeState::from(s))),
        like_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
