//! `GET /api/openapi.json`: the REST contract, served from `openapi.json`
//! beside this file (kept in step with the routes by a test).
use actix_web::{HttpResponse, web};

static DOCUMENT: &str = include_str!("openapi.json");

/// Registers the OpenAPI route (no token needed).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT)
}
