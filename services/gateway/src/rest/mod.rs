//! The REST API under `/api`: every route needs `Authorization: Bearer`.
use actix_web::web;

pub mod chat;
pub mod dev;
pub mod feed;
pub mod openapi;
pub mod pending;
pub mod presence;
pub mod stats;

/// Query parameters of paged lists.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    /// 1..=100.
    pub limit: Option<String>,
    /// ≥ 0.
    pub offset: Option<String>,
}

impl Page {
    /// Validates the page; `default_limit` when absent.
    pub fn parse(&self, default_limit: u32) -> Result<(u32, u32), crate::error::ApiError> {
        use crate::error::ApiError;
        let limit = match &self.limit {
            None => default_limit,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        "limit must be an integer from 1 to 100",
                    ));
                }
            },
        };
        let offset = match &self.offset {
            None => 0,
            Some(o) => o
                .parse::<u32>()
                .map_err(|_| ApiError::invalid("offset", "offset must be an integer ≥ 0"))?,
        };
        Ok((limit, offset))
    }
}

/// Parses a path or query id.
pub fn parse_id(field: &'static str, s: &str) -> Result<uuid::Uuid, crate::error::ApiError> {
    uuid::Uuid::parse_str(s)
        .map_err(|_| crate::error::ApiError::invalid(field, format!("{field} must be a UUID")))
}

/// Items per backend request for lists whose items can be large (a post or a
/// comment up to 5000 characters, a message up to 16 KiB): 25 of them stay
/// well under NATS's default 1 MB message, so a page is never cut short.
pub const CHUNK: u32 = 25;

/// Fetches `limit` items from `offset` in requests of at most [`CHUNK`],
/// stopping early at the end of the list.
pub async fn in_chunks<T, F, Fut>(
    limit: u32,
    offset: u32,
    mut fetch: F,
) -> Result<Vec<T>, crate::error::ApiError>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, crate::error::ApiError>>,
{
    let mut out = Vec::with_capacity(limit as usize);
    while (out.len() as u32) < limit {
        let want = CHUNK.min(limit - out.len() as u32);
        let got = fetch(want, offset + out.len() as u32).await?;
        let n = got.len() as u32;
        out.extend(got);
        if n < want {
            break;
        }
    }
    Ok(out)
}

/// Registers every `/api` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    chat::configure(cfg);
    pending::configure(cfg);
    presence::configure(cfg);
    feed::configure(cfg);
    stats::configure(cfg);
    openapi::configure(cfg);
}
