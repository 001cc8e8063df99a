//! Feed REST routes (posts, likes, comments, follows, statistics).
use actix_web::web;

/// Registers the feed routes.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
