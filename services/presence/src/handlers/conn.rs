//! `presence.v1.conn`: a connection opened or closed on a gateway. An
//! `opened` event is sent as a request and answered, once applied, with
//! the connecting user's contacts who are online.
use std::sync::Arc;

use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    proto::{
        common::v1::ErrorReply,
        presence::v1::{ConnChange, ConnEvent, UserPresence, UserPresenceList},
    },
    reply::unavailable,
};
use uuid::Uuid;

use super::Ctx;

/// `presence.v1.conn`.
pub async fn conn(ctx: Arc<Ctx>, event: ConnEvent) -> Result<UserPresenceList, ErrorReply> {
    let (Some(user), false) = (uuid_from(&event.user_id), event.gateway_id.is_empty()) else {
        return Err(ErrorReply::invalid(
            "user_id",
            "a connection event needs a user and a gateway",
        ));
    };
    let came_online = ctx
        .store
        .apply_conn(&event.gateway_id, user, event.connections, event.seq, ctx.gateway_ttl)
        .await
        .map_err(|e| unavailable(&e))?;
    ctx.announcer.announce(came_online, true).await;
    if event.change != ConnChange::Opened as i32 {
        return Ok(UserPresenceList::default());
    }
    snapshot(&ctx, user).await
}

/// The contacts `user` watches who are online now.
async fn snapshot(ctx: &Ctx, user: Uuid) -> Result<UserPresenceList, ErrorReply> {
    let watched = ctx.contacts.watched(user).await;
    let statuses = ctx.store.status(&watched).await.map_err(|e| unavailable(&e))?;
    let now = micros(chrono::Utc::now());
    let users = watched
        .iter()
        .zip(statuses)
        .filter(|(_, s)| s.online)
        .map(|(u, _)| UserPresence { user_id: uuid_bytes(*u), online: true, last_seen_micros: now })
        .collect();
    Ok(UserPresenceList { users })
}
