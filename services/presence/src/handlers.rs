//! One handler per NATS subject: connection events and heartbeats from the
//! gateways, the status and online-count queries, and the sweep.
use std::{sync::Arc, time::Duration};

use async_nats::{Client, Message as NatsMessage};
use prost::Message;
use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        presence::v1::{
            ConnChange, ConnEvent, ConnReply, ContactStatusReply, ContactStatusRequest,
            ContactsChanged, Heartbeat, OnlineCountReply, StatusReply, StatusRequest, UserPresence,
        },
    },
};
use uuid::Uuid;

use crate::{
    announce::Announcer,
    contacts::Contacts,
    store::{ALL_BUCKETS, Store},
};

/// Most users one status request may ask about.
pub const MAX_STATUS_USERS: usize = 10_000;

/// What every handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The NATS connection.
    pub nats: Client,
    /// The presence keys.
    pub store: Store,
    /// Contact lookups.
    pub contacts: Arc<Contacts>,
    /// Queues transitions for announcement.
    pub announcer: Announcer,
    /// The longest a gateway lives without a heartbeat (`PRESENCE_GATEWAY_TTL_SECS`).
    pub gateway_ttl: Duration,
}

fn unavailable(e: &fred::error::Error) -> ErrorReply {
    tracing::warn!(error.cause_chain = ?e, "redis unavailable");
    ErrorReply::new(ErrorCode::Unavailable, "presence store unavailable")
}

/// `presence.v1.conn`: a connection opened or closed. An `opened` event sent
/// as a request is answered, once applied, with the user's online contacts.
pub async fn conn(ctx: Ctx, msg: NatsMessage) {
    let Ok(event) = ConnEvent::decode(msg.payload.clone()) else {
        tracing::warn!("undecodable connection event");
        return;
    };
    let (Some(user), false) = (uuid_from(&event.user_id), event.gateway_id.is_empty()) else {
        tracing::warn!("connection event without a user or gateway");
        return;
    };
    let applied = ctx
        .store
        .apply_conn(&event.gateway_id, user, event.connections, event.seq, ctx.gateway_ttl)
        .await;
    let came_online = match applied {
        Ok(users) => users,
        Err(e) => {
            let error = Some(unavailable(&e));
            shared::nats::respond(&ctx.nats, &msg, &ConnReply { contacts: vec![], error }).await;
            return;
        }
    };
    ctx.announcer.announce(came_online, true).await;
    if msg.reply.is_none() {
        return;
    }
    let reply = if event.change == ConnChange::Opened as i32 {
        snapshot(&ctx, user).await
    } else {
        ConnReply::default()
    };
    shared::nats::respond(&ctx.nats, &msg, &reply).await;
}

/// The contacts `user` watches who are online now.
async fn snapshot(ctx: &Ctx, user: Uuid) -> ConnReply {
    let watched = ctx.contacts.watched(user).await;
    match ctx.store.status(&watched).await {
        Ok(statuses) => {
            let now = micros(chrono::Utc::now());
            let contacts = watched
                .iter()
                .zip(statuses)
                .filter(|(_, s)| s.online)
                .map(|(u, _)| UserPresence {
                    user_id: uuid_bytes(*u),
                    online: true,
                    last_seen_micros: now,
                })
                .collect();
            ConnReply { contacts, error: None }
        }
        Err(e) => ConnReply { contacts: vec![], error: Some(unavailable(&e)) },
    }
}

/// `presence.v1.heartbeat`: a gateway is alive, with all its users' counts.
pub async fn heartbeat(ctx: Ctx, msg: NatsMessage) {
    let Ok(beat) = Heartbeat::decode(msg.payload.clone()) else {
        tracing::warn!("undecodable heartbeat");
        return;
    };
    if beat.gateway_id.is_empty() {
        return;
    }
    // A gateway may ask for a shorter life, never for a longer one than promised.
    let asked = Duration::from_secs(u64::from(beat.ttl_secs));
    let ttl = if asked.is_zero() { ctx.gateway_ttl } else { asked.min(ctx.gateway_ttl) };
    let counts: Vec<(Uuid, u32)> = beat
        .users
        .iter()
        .filter_map(|u| uuid_from(&u.user_id).map(|id| (id, u.connections)))
        .collect();
    let buckets = if beat.buckets == 0 { ALL_BUCKETS } else { beat.buckets };
    match ctx.store.apply_heartbeat(&beat.gateway_id, beat.seq, ttl, buckets, &counts).await {
        Ok(came_online) => ctx.announcer.announce(came_online, true).await,
        Err(e) => tracing::warn!(error.cause_chain = ?e, gateway = %beat.gateway_id,
            "failed to apply heartbeat"),
    }
}

/// `presence.v1.rpc.status`: which of these users are online, and when each was last seen.
pub async fn status(ctx: Ctx, msg: NatsMessage) {
    let req = StatusRequest::decode(msg.payload.clone()).unwrap_or_default();
    let reply = status_reply(&ctx, &req).await;
    shared::nats::respond(&ctx.nats, &msg, &reply).await;
}

async fn status_reply(ctx: &Ctx, req: &StatusRequest) -> StatusReply {
    if req.user_ids.len() > MAX_STATUS_USERS {
        let error = ErrorReply::invalid("user_ids", format!("at most {MAX_STATUS_USERS} users"));
        return StatusReply { users: vec![], error: Some(error) };
    }
    let Some(ids) = req.user_ids.iter().map(|b| uuid_from(b)).collect::<Option<Vec<Uuid>>>() else {
        return StatusReply {
            users: vec![],
            error: Some(ErrorReply::invalid("user_ids", "bad id")),
        };
    };
    match ctx.store.status(&ids).await {
        Ok(statuses) => {
            let now = micros(chrono::Utc::now());
            let users = ids
                .iter()
                .zip(statuses)
                .map(|(u, s)| UserPresence {
                    user_id: uuid_bytes(*u),
                    online: s.online,
                    last_seen_micros: if s.online { now } else { s.last_seen_micros },
                })
                .collect();
            StatusReply { users, error: None }
        }
        Err(e) => StatusReply { users: vec![], error: Some(unavailable(&e)) },
    }
}

/// `presence.v1.rpc.contact_status`: one user's status for a caller who
/// watches them (a chat partner or followee), or the caller's own; anyone
/// else gets `not_found`, the same answer as for a user who never existed.
pub async fn contact_status(ctx: Ctx, msg: NatsMessage) {
    let req = ContactStatusRequest::decode(msg.payload.clone()).unwrap_or_default();
    let reply = contact_status_reply(&ctx, &req).await;
    shared::nats::respond(&ctx.nats, &msg, &reply).await;
}

async fn contact_status_reply(ctx: &Ctx, req: &ContactStatusRequest) -> ContactStatusReply {
    let (Some(caller), Some(user)) = (uuid_from(&req.caller_id), uuid_from(&req.user_id)) else {
        let error = ErrorReply::invalid("user_id", "caller_id and user_id must be UUIDs");
        return ContactStatusReply { user: None, error: Some(error) };
    };
    if caller != user && !ctx.contacts.watched(caller).await.contains(&user) {
        let error = ErrorReply::new(ErrorCode::NotFound, "no presence to show for this user");
        return ContactStatusReply { user: None, error: Some(error) };
    }
    let reply = status_reply(ctx, &StatusRequest { user_ids: vec![uuid_bytes(user)] }).await;
    ContactStatusReply { user: reply.users.into_iter().next(), error: reply.error }
}

/// `presence.v1.rpc.online_count`: how many users are online.
pub async fn online_count(ctx: Ctx, msg: NatsMessage) {
    let reply = match ctx.store.online_count().await {
        Ok(online) => OnlineCountReply { online, error: None },
        Err(e) => OnlineCountReply { online: 0, error: Some(unavailable(&e)) },
    };
    shared::nats::respond(&ctx.nats, &msg, &reply).await;
}

/// `presence.v1.contacts_changed` (every replica): forgets the cached
/// contacts of these users.
pub async fn contacts_changed(ctx: Ctx, msg: NatsMessage) {
    let Ok(changed) = ContactsChanged::decode(msg.payload.clone()) else { return };
    for user in changed.user_ids.iter().filter_map(|b| uuid_from(b)) {
        ctx.contacts.forget(user);
    }
}

/// One sweep: reaps dead gateways and announces the offlines whose grace ran out.
pub async fn sweep(ctx: &Ctx) {
    match ctx.store.sweep().await {
        Ok(swept) => {
            ctx.announcer.announce(swept.online, true).await;
            ctx.announcer.announce(swept.offline, false).await;
        }
        Err(e) => tracing::debug!(error.cause_chain = ?e, "sweep failed"),
    }
}
