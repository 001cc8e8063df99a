//! `GET /api/stats/online`: how many users are online (asked of presence).
use actix_web::{HttpResponse, web};
use shared::{
    proto::presence::v1::{OnlineCountReply, OnlineCountRequest},
    subjects,
};

use crate::{auth::AuthUser, error::ApiError, state::AppState};

/// Registers the presence statistics route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/stats/online", web::get().to(online));
}

async fn online(_user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let reply: OnlineCountReply =
        state.rpc(subjects::PRESENCE_ONLINE_COUNT, &OnlineCountRequest {}).await?;
    if let Some(e) = reply.error {
        return Err(e.into());
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"online": reply.online})))
}
