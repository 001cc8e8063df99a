//! The gateway's HTTP error: every failure, REST or handshake, is answered
//! from here as `{"error": "...", "code": "...", "field"?}` with its status
//! (and `Retry-After` or `Allow` where they apply); a 500 never shows its cause.
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use shared::{
    nats::RpcError,
    proto::common::v1::{ErrorCode, ErrorReply},
};

use crate::wire::rest::{Invalid, response::ErrorBody};

/// Why an HTTP request failed.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// Bad input; names the field.
    #[error("{message}")]
    Validation {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A JSON body that could not be read: `invalid_json`, or `too_large` (413) over the limit.
    #[error("{message}")]
    Body {
        /// Whether it was over the size limit.
        too_large: bool,
        /// What is wrong.
        message: String,
    },
    /// No or invalid token.
    #[error("authentication required")]
    Unauthorized,
    /// An error with a code of the contract: a backend's error reply, or
    /// one the gateway gives itself (forbidden, not found, restarting).
    #[error("{message}")]
    Coded {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
        /// The request field at fault, if one was named.
        field: Option<String>,
    },
    /// A known path asked with a method it does not serve.
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method asked.
        method: String,
        /// The methods the path serves (`GET, POST`).
        allow: String,
    },
    /// Too many requests (or connections) from this user.
    #[error("{message}")]
    RateLimited {
        /// What was refused.
        message: &'static str,
        /// Seconds until a request will be accepted again.
        retry_after_secs: u64,
    },
    /// A backend did not answer (no responders or timeout).
    #[error("service unavailable, retry later")]
    Unavailable,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            writeln!(f, "caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl ApiError {
    /// A validation error about one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation { field, message: message.into() }
    }

    /// An error with a code of the contract and no field.
    pub fn coded(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Coded { code, message: message.into(), field: None }
    }

    /// The per-user request rate was exceeded.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::RateLimited { message: "too many requests, slow down", retry_after_secs }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "invalid_argument",
            Self::Body { too_large: true, .. } => "too_large",
            Self::Body { too_large: false, .. } => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::Coded { code, .. } => code.wire_name(),
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::Validation { field, .. } => Some(field),
            Self::Body { .. } => Some("body"),
            Self::Coded { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::Validation { field: e.field, message: e.message }
    }
}

impl From<ErrorReply> for ApiError {
    fn from(e: ErrorReply) -> Self {
        let code = e.error_code();
        let message = if e.field.is_empty() || e.message.contains(&e.field) {
            e.message
        } else {
            format!("{}: {}", e.field, e.message)
        };
        let field = (!e.field.is_empty()).then_some(e.field);
        Self::Coded { code, message, field }
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Unavailable(_) => Self::Unavailable,
            RpcError::Decode(e) => Self::Unexpected(anyhow::Error::new(e).context("bad reply")),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. } | Self::Body { too_large: false, .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::Body { too_large: true, .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Coded { code, .. } => StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Unexpected(e) => {
                tracing::error!(error.cause_chain = ?e, "request failed");
                "internal error".to_owned()
            }
            e => e.to_string(),
        };
        let body = ErrorBody {
            error: message,
            code: self.code().to_owned(),
            field: self.field().map(str::to_owned),
        };
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable | Self::Coded { code: ErrorCode::Unavailable, .. } => {
                resp.insert_header(("Retry-After", "1"));
            }
            Self::RateLimited { retry_after_secs, .. } => {
                resp.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed { allow, .. } => {
                resp.insert_header(("Allow", allow.as_str()));
            }
            _ => {}
        }
        resp.json(body)
    }
}

/// Turns a reply's `oneof` error into an [`ApiError`]; `None` result means a malformed reply.
pub fn remote<T>(result: Option<T>) -> Result<T, ApiError> {
    result.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("empty reply from backend")))
}
