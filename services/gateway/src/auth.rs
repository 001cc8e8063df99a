//! Who the caller is: the `AuthUser` extractor for REST (`Authorization:
//! Bearer`), and the WebSocket token lookup (header, or `token` query
//! parameter for browsers).
use std::future::{Ready, ready};

use actix_web::{
    FromRequest, HttpRequest,
    dev::{Payload, RequestHead},
    http::{Method, header::HeaderMap},
    web,
};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

/// The authenticated user of a REST request.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub Uuid);

/// Returns the bearer token of the `Authorization` header.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    bearer_in(req.headers())
}

fn bearer_in(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Returns the token of a WebSocket handshake: the header first, else `?token=`.
pub fn ws_token(head: &RequestHead) -> Option<String> {
    if let Some(t) = bearer_in(&head.headers) {
        return Some(t.to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(
        head.uri.query().unwrap_or_default(),
    )
    .ok()
    .and_then(|q| q.get("token").cloned())
    .filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Unexpected(anyhow::anyhow!("state missing"))));
        };
        ready(
            bearer(req)
                .ok_or(ApiError::Unauthorized)
                .and_then(|t| state.verifier.verify(t).map_err(|_| ApiError::Unauthorized))
                .and_then(|user| {
                    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
                    match state.api_limiter.check_key(&user).and_then(|()| {
                        if write { state.actions.api_writes.check_key(&user) } else { Ok(()) }
                    }) {
                        Ok(()) => Ok(AuthUser(user)),
                        Err(not_until) => {
                            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                                &governor::clock::DefaultClock::default(),
                            ));
                            Err(ApiError::rate_limited(wait.as_secs() + 1))
                        }
                    }
                }),
        )
    }
}
