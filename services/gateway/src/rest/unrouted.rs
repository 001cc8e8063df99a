//! What no route answered: 405 with `Allow` for a documented path asked
//! with another method, else 404.
use actix_web::{HttpRequest, HttpResponse};
use shared::proto::common::v1::ErrorCode;

use super::openapi::allowed_methods;
use crate::error::ApiError;

/// Answers a request no route took.
pub async fn unrouted(req: HttpRequest) -> HttpResponse {
    HttpResponse::from_error(match allowed_methods(req.path()) {
        Some(allow) => {
            ApiError::MethodNotAllowed { method: req.method().to_string(), allow: allow.to_owned() }
        }
        None => ApiError::coded(ErrorCode::NotFound, "no such route"),
    })
}
