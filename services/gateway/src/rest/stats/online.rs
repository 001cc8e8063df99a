//! `GET /api/stats/online`: how many users are online.
use shared::{
    proto::presence::v1::{OnlineCountReply, OnlineCountRequest},
    reply::Reply as _,
};

use crate::rest::prelude::*;

/// How many users are online now.
#[utoipa::path(
    tag = "stats",
    responses((status = 200, description = "users online", body = Online)),
)]
#[get("/api/stats/online")]
pub async fn online(_user: AuthUser, state: web::Data<AppState>) -> Reply {
    let reply: OnlineCountReply =
        state.rpc(subjects::PRESENCE_ONLINE_COUNT, &OnlineCountRequest {}).await?;
    Ok(HttpResponse::Ok().json(Online { online: reply.into_result()? }))
}
