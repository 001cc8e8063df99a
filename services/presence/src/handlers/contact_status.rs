//! `presence.v1.rpc.contact_status`: one user's status for a caller who
//! watches them (a chat partner or followee), or the caller's own; anyone
//! else gets `not_found`, the same answer as for a user who never existed.
use std::sync::Arc;

use shared::{
    ids::uuid_from,
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        presence::v1::{ContactStatusRequest, UserPresence},
    },
};

use super::{Ctx, status::statuses};

/// `presence.v1.rpc.contact_status`.
pub async fn contact_status(
    ctx: Arc<Ctx>,
    req: ContactStatusRequest,
) -> Result<UserPresence, ErrorReply> {
    let (Some(caller), Some(user)) = (uuid_from(&req.caller_id), uuid_from(&req.user_id)) else {
        return Err(ErrorReply::invalid("user_id", "caller_id and user_id must be UUIDs"));
    };
    if caller != user && !ctx.contacts.watched(caller).await.contains(&user) {
        return Err(ErrorReply::new(ErrorCode::NotFound, "no presence to show for this user"));
    }
    Ok(statuses(&ctx, &[user]).await?.into_iter().next().unwrap_or_default())
}
