//! The REST API's JSON (SPEC §4): request bodies and parameters, parsed and
//! checked into [`Invalid`] when they are not acceptable, and the bodies it
//! answers with. Through `utoipa` they are also what the OpenAPI document
//! says; lengths and patterns come from [`shared::limits`], so the document
//! and the checks cannot drift apart.
pub mod request;
pub mod response;

/// A request value that is not acceptable: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field (or `body`, `query`, `path`).
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl Invalid {
    /// An error about one field.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}
