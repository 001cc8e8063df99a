//! `GET /ws/chat/{user_id}`: the handshake checks (token, impersonation,
//! origin, connection cap) happen before the upgrade; then one task per
//! connection runs [`connection::run`].
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use crate::{auth::ws_token, error::ApiError, state::AppState};

mod catchup;
pub mod connection;
pub mod cursor;
pub mod delivery;
pub mod frames;
mod inbound;
mod sends;

/// Upgrades an authenticated, authorized request to a WebSocket.
pub async fn handshake(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let state: Arc<AppState> = state.into_inner();
    if *state.draining.borrow() {
        return Ok(HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(serde_json::json!({"error": "gateway is restarting", "code": "unavailable"})));
    }
    let token = ws_token(&req).ok_or(ApiError::Unauthorized)?;
    let (user, expires) =
        state.verifier.verify_until(&token).map_err(|_| ApiError::Unauthorized)?;
    let forbidden = |msg: &str| {
        HttpResponse::Forbidden().json(serde_json::json!({"error": msg, "code": "forbidden"}))
    };
    if Uuid::parse_str(path.as_str()).ok() != Some(user) {
        return Ok(forbidden("token subject does not match the user in the path"));
    }
    // Browsers always send Origin; native clients usually send none, and
    // cannot be tricked into a cross-site request, so only a present Origin is checked.
    if !state.settings.allowed_origins.is_empty()
        && let Some(origin) = req.headers().get("origin")
    {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        if !state.settings.allowed_origins.iter().any(|o| o == origin) {
            return Ok(forbidden("origin not allowed"));
        }
    }
    let Some(registration) =
        state.registry.try_register(user, state.settings.max_connections_per_user)
    else {
        return Ok(HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "5"))
            .json(serde_json::json!({"error": "too many connections for this user", "code": "rate_limited"})));
    };
    let (response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(upgraded) => upgraded,
        Err(e) => {
            state.registry.unregister(user, registration.handle.id);
            return Err(e);
        }
    };
    // The codec's hard limit is above the soft one, so an oversized frame
    // normally gets an `error` and the connection survives; past the hard
    // limit the frame cannot be read and the connection closes with 1009.
    let hard_limit = state.settings.max_frame_bytes.saturating_mul(4);
    let stream = stream
        .max_frame_size(hard_limit)
        .aggregate_continuations()
        .max_continuation_size(hard_limit);
    actix_web::rt::spawn(connection::run(state, user, expires, registration, session, stream));
    Ok(response)
}
