//! `feed.v1.rpc.followers` and `following`: one handler, told by its
//! subject which list; a page of user ids, newest first. `followers` also
//! serves presence (who should hear that a user came online), so pages go
//! up to [`USERS_PAGE_MAX`] ids.
use std::sync::Arc;

use shared::{
    ids::uuid_bytes,
    limits::{LIST_PAGE, USERS_PAGE_MAX, page_size},
    proto::{
        common::v1::ErrorReply,
        feed::v1::{PageRequest, UserList},
    },
    reply::unavailable,
};

use super::{Ctx, id};
use crate::repository;

/// `feed.v1.rpc.followers` (`followers`) or `following`.
pub async fn followers(
    ctx: Arc<Ctx>,
    req: PageRequest,
    followers: bool,
) -> Result<UserList, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let limit = i64::from(page_size(req.limit, LIST_PAGE, USERS_PAGE_MAX));
    let offset = i64::from(req.offset);
    let ids = if followers {
        repository::followers(&ctx.pool, user, limit, offset).await
    } else {
        repository::following(&ctx.pool, user, limit, offset).await
    }
    .map_err(|e| unavailable(&e))?;
    Ok(UserList { user_ids: ids.into_iter().map(uuid_bytes).collect() })
}
