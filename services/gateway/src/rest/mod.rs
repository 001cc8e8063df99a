//! The REST API under `/api`: every route needs `Authorization: Bearer`.
use actix_web::web;

pub mod chat;
pub mod feed;
pub mod openapi;
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

/// Registers every `/api` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    chat::configure(cfg);
    feed::configure(cfg);
    stats::configure(cfg);
    openapi::configure(cfg);
}
