//! Statistics: users online (asked of presence), top posts and most active
//! authors (asked of feed).
use actix_web::{HttpResponse, get, web};
use shared::{
    proto::{
        feed::v1::{ActiveUsersReply, ActiveUsersRequest, PostsReply, TopPostsRequest},
        feed::v1::{active_users_reply, posts_reply},
        presence::v1::{OnlineCountReply, OnlineCountRequest},
    },
    reply::Reply as _,
    subjects::{self, FeedMethod},
};

use super::{
    feed::{ActiveUser, PostJson, Reply, feed_error, id},
    parse_limit,
    schema::{Online, Top},
};
use crate::{auth::AuthUser, error::remote, state::AppState};

/// How many users are online now.
#[utoipa::path(
    tag = "stats",
    responses((status = 200, description = "users online", body = Online)),
)]
#[get("/api/stats/online")]
pub async fn online(_user: AuthUser, state: web::Data<AppState>) -> Reply {
    let reply: OnlineCountReply =
        state.rpc(subjects::PRESENCE_ONLINE_COUNT, &OnlineCountRequest {}).await?;
    Ok(HttpResponse::Ok().json(Online { online: reply.into_result()? }))
}

/// The most liked posts.
#[utoipa::path(
    tag = "stats",
    params(Top),
    responses((status = 200, description = "posts, most liked first", body = Vec<PostJson>)),
)]
#[get("/api/stats/top-posts")]
pub async fn top_posts(_user: AuthUser, q: web::Query<Top>, state: web::Data<AppState>) -> Reply {
    let limit = parse_limit(q.limit.as_deref(), 10)?;
    let reply: PostsReply =
        state.feed_rpc(FeedMethod::TopPosts, &TopPostsRequest { limit }).await?;
    match remote(reply.result)? {
        posts_reply::Result::Posts(l) => {
            Ok(HttpResponse::Ok().json(l.posts.into_iter().map(PostJson::from).collect::<Vec<_>>()))
        }
        posts_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// The users with the most posts.
#[utoipa::path(
    tag = "stats",
    params(Top),
    responses((status = 200, description = "users, most posts first", body = Vec<ActiveUser>)),
)]
#[get("/api/stats/active-users")]
pub async fn active_users(
    _user: AuthUser,
    q: web::Query<Top>,
    state: web::Data<AppState>,
) -> Reply {
    let limit = parse_limit(q.limit.as_deref(), 10)?;
    let reply: ActiveUsersReply =
        state.feed_rpc(FeedMethod::ActiveUsers, &ActiveUsersRequest { limit }).await?;
    match remote(reply.result)? {
        active_users_reply::Result::Users(l) => Ok(HttpResponse::Ok().json(
            l.users
                .iter()
                .map(|u| ActiveUser { user_id: id(&u.user_id), post_count: u.post_count })
                .collect::<Vec<_>>(),
        )),
        active_users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
