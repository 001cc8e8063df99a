//! `GET /ws/chat/{user_id}`: the handshake checks (token, impersonation,
//! origin, connection cap) happen before the upgrade; then one task per
//! connection runs [`connection::run`]. This module holds the connection
//! and nothing else: its JSON is in [`crate::wire`], the transport in
//! `socket.rs`.
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use shared::proto::common::v1::ErrorCode;
use uuid::Uuid;

use crate::{auth::ws_token, error::ApiError, state::AppState};

mod catchup;
mod connection;
mod cursor;
mod inbound;
mod sends;
mod socket;
mod writer;

/// Upgrades an authenticated, authorized request to a WebSocket.
pub async fn handshake(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let state: Arc<AppState> = state.into_inner();
    if *state.draining.borrow() {
        return Err(ApiError::coded(ErrorCode::Unavailable, "gateway is restarting").into());
    }
    let token = ws_token(&req).ok_or(ApiError::Unauthorized)?;
    let (user, expires) =
        state.verifier.verify_until(&token).map_err(|_| ApiError::Unauthorized)?;
    let forbidden = |message: &str| ApiError::coded(ErrorCode::Forbidden, message);
    if Uuid::parse_str(path.as_str()).ok() != Some(user) {
        return Err(forbidden("token subject does not match the user in the path").into());
    }
    // Browsers always send Origin; native clients usually send none, and
    // cannot be tricked into a cross-site request, so only a present Origin is checked.
    if !state.settings.allowed_origins.is_empty()
        && let Some(origin) = req.headers().get("origin")
    {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        if !state.settings.allowed_origins.iter().any(|o| o == origin) {
            return Err(forbidden("origin not allowed").into());
        }
    }
    let Some(registration) =
        state.registry.try_register(user, state.settings.max_connections_per_user)
    else {
        let message = "too many connections for this user";
        return Err(ApiError::RateLimited { message, retry_after_secs: 5 }.into());
    };
    // The codec's hard limit is above the soft one, so an oversized frame
    // normally gets an `error` and the connection survives; past the hard
    // limit the frame cannot be read and the connection closes with 1009.
    let hard_limit = state.settings.max_frame_bytes.saturating_mul(4);
    let (response, sink, frames) = match socket::upgrade(&req, body, hard_limit) {
        Ok(upgraded) => upgraded,
        Err(e) => {
            state.registry.unregister(user, registration.handle.id);
            return Err(e);
        }
    };
    actix_web::rt::spawn(connection::run(state, user, expires, registration, sink, frames));
    Ok(response)
}
