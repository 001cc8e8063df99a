//! Error codes that cross NATS as data, with their client-facing names and HTTP statuses.
use crate::proto::common::v1::{ErrorCode, ErrorReply};

impl ErrorCode {
    /// Returns the machine-readable name clients see (`error.code`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Unspecified | Self::Internal => "internal",
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthenticated => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }

    /// Returns the HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Unspecified | Self::Internal => 500,
        }
    }
}

impl ErrorReply {
    /// Builds an error reply.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code: code as i32, message: message.into(), field: String::new() }
    }

    /// Builds an `invalid_argument` reply about one request field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidArgument as i32,
            message: message.into(),
            field: field.to_owned(),
        }
    }

    /// Returns the typed code (internal for unknown numbers).
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::try_from(self.code).unwrap_or(ErrorCode::Internal)
    }
}
