//! The REST API under `/api`: every route needs `Authorization: Bearer`.
//!
//! A route is a handler with two attributes, `#[utoipa::path(...)]` (what it
//! answers, for the OpenAPI document) and actix's `#[get("/api/...")]`
//! (method and path, read by both actix and utoipa), plus one line in
//! [`routes`]. `utoipa_actix_web` only accepts documented handlers there,
//! and a test checks that no route is registered any other way.
use shared::limits::{OFFSET_MAX, PAGE_MAX};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

pub mod chat;
pub mod dev;
pub mod feed;
pub mod follows;
pub mod openapi;
pub mod pending;
pub mod posts;
pub mod presence;
pub mod reactions;
pub mod schema;
pub mod stats;

/// Every `/api` route: the one list (each handler documents itself).
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(chat::history)
        .service(pending::pending)
        .service(presence::presence)
        .service(chat::conversations)
        .service(posts::create_post)
        .service(posts::timeline)
        .service(posts::user_posts)
        .service(posts::delete_post)
        .service(reactions::like)
        .service(reactions::unlike)
        .service(reactions::add_comment)
        .service(reactions::comments)
        .service(follows::follow)
        .service(follows::unfollow)
        .service(follows::followers)
        .service(follows::following)
        .service(stats::online)
        .service(stats::top_posts)
        .service(stats::active_users)
        .service(openapi::document_json);
}

/// Registers every `/api` route, the OpenAPI document and the docs page.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    routes(&mut ServiceConfig::new(cfg));
    openapi::configure_docs(cfg);
}

/// Parses a `limit` query parameter: 1 to [`PAGE_MAX`], `default` when absent.
pub fn parse_limit(limit: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(l) => match strict_u32(l) {
            Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid("limit", "limit must be an integer from 1 to 100")),
        },
    }
}

/// Parses a page: `limit` 1 to [`PAGE_MAX`], `offset` 0 to [`OFFSET_MAX`].
pub fn parse_page(q: &schema::Page, default_limit: u32) -> Result<(u32, u32), ApiError> {
    let limit = parse_limit(q.limit.as_deref(), default_limit)?;
    let offset = match q.offset.as_deref() {
        None => 0,
        Some(o) => strict_u32(o).filter(|n| *n <= OFFSET_MAX).ok_or_else(|| {
            ApiError::invalid("offset", "offset must be an integer from 0 to 1000000")
        })?,
    };
    Ok((limit, offset))
}

/// Decimal digits only (no sign, no spaces), as JSON Schema's `integer` reads a query value.
fn strict_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a path or query id: a UUID in its hyphenated form (what `format: uuid` means).
pub fn parse_id(field: &'static str, s: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(s)
        .ok()
        .filter(|_| s.len() == 36)
        .ok_or_else(|| ApiError::invalid(field, format!("{field} must be a UUID")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_ids_are_read_strictly() {
        let page = |l: Option<&str>, o: Option<&str>| {
            parse_page(
                &schema::Page { limit: l.map(str::to_owned), offset: o.map(str::to_owned) },
                20,
            )
        };
        assert_eq!(page(None, None).unwrap(), (20, 0));
        assert_eq!(page(Some("100"), Some("1000000")).unwrap(), (100, 1_000_000));
        for (l, o) in [("0", "0"), ("101", "0"), ("1000000", "0"), ("+5", "0"), ("5", "-1")] {
            assert!(page(Some(l), Some(o)).is_err(), "{l} {o}");
        }
        assert!(page(Some("5"), Some("1000001")).is_err());
        assert!(page(Some(" 5"), None).is_err());
        let id = uuid::Uuid::now_v7();
        assert_eq!(parse_id("x", &id.to_string()).unwrap(), id);
        assert!(parse_id("x", &id.simple().to_string()).is_err());
        assert!(parse_id("x", &id.urn().to_string()).is_err());
    }
}
