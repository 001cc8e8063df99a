//! The REST API under `/api`: every route needs `Authorization: Bearer`.
//!
//! A route is one file with one handler carrying two attributes,
//! `#[utoipa::path(...)]` (what it answers, for the OpenAPI document) and
//! actix's `#[get("/api/...")]` (method and path, read by both actix and
//! utoipa), plus one line in [`routes`]. Its JSON bodies are in
//! [`crate::wire::rest`]. `utoipa_actix_web` only accepts documented
//! handlers in [`routes`], and `openapi_tests.rs` fails when
//! `startup::routes` serves a route the document lacks (the development-only
//! [`dev`] route is registered apart, and only in development mode).
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

pub mod chat;
pub mod dev;
pub mod feed;
pub mod follows;
pub mod openapi;
pub mod posts;
pub mod prelude;
pub mod stats;
pub mod unrouted;

/// Every `/api` route: the one list (each handler documents itself).
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(chat::history::history)
        .service(chat::pending::pending)
        .service(chat::presence::presence)
        .service(chat::conversations::conversations)
        .service(posts::create::create_post)
        .service(posts::timeline::timeline)
        .service(posts::user_posts::user_posts)
        .service(posts::delete::delete_post)
        .service(posts::like::like)
        .service(posts::unlike::unlike)
        .service(posts::comment::add_comment)
        .service(posts::comments::comments)
        .service(follows::follow::follow)
        .service(follows::unfollow::unfollow)
        .service(follows::followers::followers)
        .service(follows::following::following)
        .service(stats::online::online)
        .service(stats::top_posts::top_posts)
        .service(stats::active_users::active_users)
        .service(openapi::document_json);
}

/// Registers every `/api` route, the OpenAPI document and the docs page.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    routes(&mut ServiceConfig::new(cfg));
    openapi::configure_docs(cfg);
}

/// Items per backend request for lists whose items can be large (a post or a
/// comment up to 5000 characters, a message up to 16 KiB): 25 of them stay
/// well under NATS's default 1 MB message, so a page is never cut short.
pub const CHUNK: u32 = 25;

/// Fetches `limit` items from `offset` in requests of at most [`CHUNK`],
/// stopping early at the end of the list.
pub async fn in_chunks<T, F, Fut>(limit: u32, offset: u32, mut fetch: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, ApiError>>,
{
    let mut out = Vec::with_capacity(limit as usize);
    while (out.len() as u32) < limit {
        let want = CHUNK.min(limit - out.len() as u32);
        let got = fetch(want, offset.saturating_add(out.len() as u32)).await?;
        let n = got.len() as u32;
        out.extend(got);
        if n < want {
            break;
        }
    }
    Ok(out)
}
