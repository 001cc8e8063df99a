//! `GET /api/stats/active-users`: the users with the most posts.
use shared::proto::feed::v1::{ActiveUsersReply, ActiveUsersRequest, active_users_reply};

use crate::rest::prelude::*;

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
        active_users_reply::Result::Users(l) => {
            Ok(HttpResponse::Ok().json(l.users.iter().map(ActiveUser::from).collect::<Vec<_>>()))
        }
        active_users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
