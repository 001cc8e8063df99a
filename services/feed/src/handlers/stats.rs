//! `feed.v1.rpc.top_posts` and `active_users`: the seed's two statistics queries.
use shared::{
    ids::uuid_bytes,
    proto::feed::v1::{
        ActiveUser, ActiveUserList, ActiveUsersReply, ActiveUsersRequest, PostList, PostsReply,
        TopPostsRequest, active_users_reply, posts_reply,
    },
};

use super::{Ctx, limit, post, unavailable};
use crate::repository;

/// `top_posts`: the most liked posts.
pub async fn top_posts(ctx: Ctx, req: TopPostsRequest) -> PostsReply {
    let result = match repository::top_posts(&ctx.pool, limit(req.limit, 10, 100)).await {
        Ok(rows) => posts_reply::Result::Posts(PostList {
            posts: shared::nats::fit_reply(&ctx.nats, rows.iter().map(post)),
        }),
        Err(e) => posts_reply::Result::Error(unavailable(&e)),
    };
    PostsReply { result: Some(result) }
}

/// `active_users`: the users with the most posts.
pub async fn active_users(ctx: Ctx, req: ActiveUsersRequest) -> ActiveUsersReply {
    let result = match repository::active_users(&ctx.pool, limit(req.limit, 10, 100)).await {
        Ok(rows) => active_users_reply::Result::Users(ActiveUserList {
            users: rows
                .into_iter()
                .map(|(user, n)| ActiveUser {
                    user_id: uuid_bytes(user),
                    post_count: u64::try_from(n).unwrap_or(0),
                })
                .collect(),
        }),
        Err(e) => active_users_reply::Result::Error(unavailable(&e)),
    };
    ActiveUsersReply { result: Some(result) }
}
