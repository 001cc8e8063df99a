//! The REST error type: every failure is `{"error": "...", "code": "..."}`
//! with the right status; a 500 never shows its cause.
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use shared::{
    nats::RpcError,
    proto::common::v1::{ErrorCode, ErrorReply},
};

/// Why a REST request failed.
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
    /// No or invalid token.
    #[error("authentication required")]
    Unauthorized,
    /// An error reply from a backend service.
    #[error("{message}")]
    Remote {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
        /// The request field at fault, if the backend named one.
        field: Option<String>,
    },
    /// Too many requests from this user.
    #[error("too many requests, slow down")]
    RateLimited {
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

    fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "invalid_argument",
            Self::Unauthorized => "unauthorized",
            Self::Remote { code, .. } => code.wire_name(),
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Unexpected(_) => "internal",
        }
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
        Self::Remote { code, message, field }
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
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Remote { code, .. } => StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
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
        let mut body = serde_json::json!({"error": message, "code": self.code()});
        match self {
            Self::Validation { field, .. } => body["field"] = serde_json::Value::from(*field),
            Self::Remote { field: Some(field), .. } => {
                body["field"] = serde_json::Value::from(field.as_str());
            }
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unavailable | Self::Remote { code: ErrorCode::Unavailable, .. }) {
            resp.insert_header(("Retry-After", "1"));
        }
        if let Self::RateLimited { retry_after_secs } = self {
            resp.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        resp.json(body)
    }
}

/// Turns a reply's `oneof` error into an [`ApiError`]; `None` result means a malformed reply.
pub fn remote<T>(result: Option<T>) -> Result<T, ApiError> {
    result.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("empty reply from backend")))
}
