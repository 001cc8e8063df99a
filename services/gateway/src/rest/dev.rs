//! `POST /api/dev/token` `{"user_id": "<uuid>"}`: a token for any user, so a
//! person trying the product needs no identity provider. Registered only
//! when `DEV_MODE=true` (`deploy/run.sh` sets it; compose and Kubernetes do
//! not): otherwise the route does not exist and answers 404 like any other
//! unknown path.
use actix_web::{HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::Value;
use shared::proto::common::v1::ErrorCode;

use crate::{
    error::ApiError,
    state::AppState,
    wire::rest::{request::dev_token_user, response::DevToken},
};

/// How long a development token lasts.
pub const DEV_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Registers the route (call only in development mode).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/dev/token", web::post().to(dev_token));
}

async fn dev_token(
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(dev) = state.settings.dev_tokens.as_ref() else {
        return Err(ApiError::coded(ErrorCode::NotFound, "no such route"));
    };
    let user = dev_token_user(&body)?;
    let token = shared::auth::mint(
        dev.secret.expose_secret(),
        user,
        DEV_TOKEN_TTL_SECS,
        dev.issuer.as_deref(),
        dev.audience.as_deref(),
    )
    .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e).context("failed to mint a token")))?;
    Ok(HttpResponse::Ok().json(DevToken { user_id: user, token, expires_in: DEV_TOKEN_TTL_SECS }))
}
