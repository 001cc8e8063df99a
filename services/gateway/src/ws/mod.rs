//! `GET /ws/chat/{user_id}`: the handshake checks (token, impersonation,
//! origin, connection cap) happen before the upgrade; then one task per
//! connection runs [`connection::run`]. actix-http hands every request with
//! `Upgrade: websocket` to [`upgrade`] with its raw socket (see
//! [`crate::server`]); the same path without it reaches [`handshake`]. This
//! module holds the connection and nothing else: its JSON is in
//! [`crate::wire`], the transport in `socket.rs` over [`crate::wsio`].
use std::{sync::Arc, time::Instant};

use actix_codec::Framed;
use actix_http::{Request, h1};
use actix_web::{HttpRequest, HttpResponse, ResponseError, dev::RequestHead, web};
use bytes::BytesMut;
use shared::proto::common::v1::ErrorCode;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use uuid::Uuid;

use crate::{auth::ws_token, error::ApiError, registry::Registration, state::AppState, wsio};

mod catchup;
mod connection;
mod cursor;
mod inbound;
mod sends;
mod socket;
mod writer;

/// The WebSocket path, with the user as its one segment after it.
const PATH: &str = "/ws/chat/";

/// A handshake that passed every check: the user, when its token
/// expires, and its place in the registry.
struct Admitted {
    user: Uuid,
    expires: u64,
    registration: Registration,
}

/// The checks before an upgrade, in order: draining (503), token (401),
/// the path's user is the token's (403), origin (403), the user's
/// connection cap (429).
fn admit(state: &AppState, head: &RequestHead) -> Result<Admitted, ApiError> {
    if *state.draining.borrow() {
        return Err(ApiError::coded(ErrorCode::Unavailable, "gateway is restarting"));
    }
    let token = ws_token(head).ok_or(ApiError::Unauthorized)?;
    let (user, expires) =
        state.verifier.verify_until(&token).map_err(|_| ApiError::Unauthorized)?;
    let forbidden = |message: &str| ApiError::coded(ErrorCode::Forbidden, message);
    let path_user = head.uri.path().strip_prefix(PATH).and_then(|id| Uuid::parse_str(id).ok());
    if path_user != Some(user) {
        return Err(forbidden("token subject does not match the user in the path"));
    }
    // Browsers always send Origin; native clients usually send none, and
    // cannot be tricked into a cross-site request, so only a present Origin is checked.
    if !state.settings.allowed_origins.is_empty()
        && let Some(origin) = head.headers.get("origin")
    {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        if !state.settings.allowed_origins.iter().any(|o| o == origin) {
            return Err(forbidden("origin not allowed"));
        }
    }
    let Some(registration) =
        state.registry.try_register(user, state.settings.max_connections_per_user)
    else {
        let message = "too many connections for this user";
        return Err(ApiError::RateLimited { message, retry_after_secs: 5 });
    };
    Ok(Admitted { user, expires, registration })
}

/// `GET /ws/chat/{user_id}` without `Upgrade: websocket`: the same checks,
/// then 400 (a WebSocket client always asks for the upgrade).
pub async fn handshake(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admitted = admit(&state, req.head())?;
    state.registry.unregister(admitted.user, admitted.registration.handle.id);
    Err(ApiError::invalid("upgrade", "expected a WebSocket upgrade (Upgrade: websocket)"))
}

/// A request with `Upgrade: websocket`, handed over by actix-http with its
/// connection: answers 101 and runs the connection on the raw socket, or
/// answers the refusal and closes.
pub async fn upgrade(state: Arc<AppState>, req: Request, framed: Framed<TcpStream, h1::Codec>) {
    let started = Instant::now();
    let parts = framed.into_parts();
    let mut io = parts.io;
    // Bytes the client sent after its handshake; the dispatcher's own 8 KiB
    // buffers are dropped here.
    let read = if parts.read_buf.is_empty() {
        BytesMut::new()
    } else {
        BytesMut::from(&parts.read_buf[..])
    };
    let head = req.head();
    let admitted = check(&state, head);
    let status = match &admitted {
        Ok(_) => 101,
        Err(e) => e.status_code().as_u16(),
    };
    record(head, status, started);
    let Admitted { user, expires, registration } = match admitted {
        Ok(a) => a,
        Err(refusal) => return wsio::handshake::refuse(io, refusal.error_response()).await,
    };
    // actix-http set it on accept; the connection depends on it (small frames, no Nagle delay).
    let _ = io.set_nodelay(true);
    let key = head.headers.get("sec-websocket-key").map(|k| k.as_bytes()).unwrap_or_default();
    let answer = wsio::handshake::switching(key);
    let written = tokio::time::timeout(std::time::Duration::from_secs(5), io.write_all(&answer));
    if !matches!(written.await, Ok(Ok(()))) {
        state.registry.unregister(user, registration.handle.id);
        return;
    }
    // A frame larger than this cannot be read: the connection closes with
    // 1009. Between `max_frame_bytes` and it, the frame gets an `error`
    // and the connection survives.
    let hard_limit = state.settings.max_frame_bytes.saturating_mul(4);
    let (sink, frames) = socket::wrap(wsio::split(io, read, hard_limit));
    actix_web::rt::spawn(connection::run(state, user, expires, registration, sink, frames));
}

/// [`admit`], then the WebSocket headers (method, version, key).
fn check(state: &AppState, head: &RequestHead) -> Result<Admitted, ApiError> {
    if !head.uri.path().starts_with(PATH) {
        return Err(ApiError::coded(ErrorCode::NotFound, "no such route"));
    }
    let admitted = admit(state, head)?;
    match actix_http::ws::verify_handshake(head) {
        Ok(()) => Ok(admitted),
        Err(e) => {
            state.registry.unregister(admitted.user, admitted.registration.handle.id);
            Err(match e {
                actix_http::ws::HandshakeError::GetMethodRequired => ApiError::MethodNotAllowed {
                    method: head.method.to_string(),
                    allow: "GET".to_owned(),
                },
                other => ApiError::invalid("upgrade", format!("bad WebSocket handshake: {other}")),
            })
        }
    }
}

/// The access log line and the request metrics of a handshake (it bypasses
/// the app's middleware; a WebSocket frame carries no request id).
fn record(head: &RequestHead, status: u16, started: Instant) {
    let route = if head.uri.path().starts_with(PATH) { "/ws/chat/{user_id}" } else { "unmatched" };
    crate::observe::served("", &head.method, route, status, started.elapsed());
}
