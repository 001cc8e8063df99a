//! `presence.v1.rpc.status`: which of these users are online, and when
//! each was last seen.
use std::sync::Arc;

use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    limits::STATUS_USERS_MAX,
    proto::{
        common::v1::ErrorReply,
        presence::v1::{StatusRequest, UserPresence, UserPresenceList},
    },
    reply::unavailable,
};
use uuid::Uuid;

use super::Ctx;

/// `presence.v1.rpc.status`.
pub async fn status(ctx: Arc<Ctx>, req: StatusRequest) -> Result<UserPresenceList, ErrorReply> {
    if req.user_ids.len() > STATUS_USERS_MAX {
        return Err(ErrorReply::invalid("user_ids", format!("at most {STATUS_USERS_MAX} users")));
    }
    let ids = req
        .user_ids
        .iter()
        .map(|b| uuid_from(b))
        .collect::<Option<Vec<Uuid>>>()
        .ok_or_else(|| ErrorReply::invalid("user_ids", "bad id"))?;
    Ok(UserPresenceList { users: statuses(&ctx, &ids).await? })
}

/// Each user's presence, in order: online ones were last seen now.
pub(super) async fn statuses(ctx: &Ctx, ids: &[Uuid]) -> Result<Vec<UserPresence>, ErrorReply> {
    let statuses = ctx.store.status(ids).await.map_err(|e| unavailable(&e))?;
    let now = micros(chrono::Utc::now());
    Ok(ids
        .iter()
        .zip(statuses)
        .map(|(u, s)| UserPresence {
            user_id: uuid_bytes(*u),
            online: s.online,
            last_seen_micros: if s.online { now } else { s.last_seen_micros },
        })
        .collect())
}
