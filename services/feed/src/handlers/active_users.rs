//! `feed.v1.rpc.active_users`: the users with the most posts (one of the
//! seed's two statistics).
use std::sync::Arc;

use shared::{
    ids::uuid_bytes,
    limits::{PAGE_MAX, STATS_PAGE, page_size},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{ActiveUser, ActiveUserList, ActiveUsersRequest},
    },
    reply::unavailable,
};

use super::Ctx;
use crate::repository;

/// `feed.v1.rpc.active_users`.
pub async fn active_users(
    ctx: Arc<Ctx>,
    req: ActiveUsersRequest,
) -> Result<ActiveUserList, ErrorReply> {
    let limit = i64::from(page_size(req.limit, STATS_PAGE, PAGE_MAX));
    let rows = repository::active_users(&ctx.pool, limit).await.map_err(|e| unavailable(&e))?;
    let users = rows
        .into_iter()
        .map(|(user, n)| ActiveUser {
            user_id: uuid_bytes(user),
            post_count: u64::try_from(n).unwrap_or(0),
        })
        .collect();
    Ok(ActiveUserList { users })
}
