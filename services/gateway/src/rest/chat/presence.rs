//! `GET /api/users/{user_id}/presence`: whether a contact is online and when
//! they were last seen. Presence goes only to contacts (SPEC §3): the
//! caller's chat partners and the people the caller follows (exactly those
//! whose `user_status` the caller receives), and the caller themself.
//! Anyone else gets 404, as an unknown id would: a stranger learns nothing,
//! not even that the user exists.
use shared::{
    ids::{rfc3339, uuid_bytes},
    proto::presence::v1::{ContactStatusReply, ContactStatusRequest},
    reply::Reply,
};

use crate::rest::prelude::*;

/// Whether a contact is online and when they were last seen (contacts
/// only: chat partners, people the caller follows, and the caller).
#[utoipa::path(
    tag = "chat",
    params(("user_id" = uuid::Uuid, Path, description = "the contact")),
    responses(
        (status = 200, description = "the contact's presence", body = PresenceDoc),
        (status = 404, description = "not a contact of the caller (or no such user)", body = ErrorBody),
    ),
)]
#[get("/api/users/{user_id}/presence")]
pub async fn presence(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = parse_id("user_id", &path)?;
    let req = ContactStatusRequest { caller_id: uuid_bytes(user.0), user_id: uuid_bytes(target) };
    let reply: ContactStatusReply = state.rpc(subjects::PRESENCE_CONTACT_STATUS, &req).await?;
    let status = reply.into_result()?;
    let last_seen = (status.last_seen_micros > 0).then(|| rfc3339(status.last_seen_micros));
    Ok(HttpResponse::Ok().json(PresenceDoc { user_id: target, online: status.online, last_seen }))
}
