//! Why a client frame was refused: the `error` frame's code and message.
use std::borrow::Cow;

use super::FrameKind;

/// The `code` of an `error` frame answering a bad frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Not a JSON object of the frame's shape.
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// `type` names no frame.
    UnknownType,
    /// A field has a value it may not have.
    InvalidArgument,
    /// An id field is not a UUID.
    InvalidUuid,
    /// The content is blank.
    EmptyContent,
    /// The content is over the limit.
    TooLarge,
}

impl Code {
    /// The wire name (`error.code`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::MissingField => "missing_field",
            Self::UnknownType => "unknown_type",
            Self::InvalidArgument => "invalid_argument",
            Self::InvalidUuid => "invalid_uuid",
            Self::EmptyContent => "empty_content",
            Self::TooLarge => "too_large",
        }
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The frame's type when it was read (the frame counts against that type's rate).
    pub kind: Option<FrameKind>,
    /// The error code.
    pub code: Code,
    /// What is wrong, for people.
    pub message: Cow<'static, str>,
    /// The `client_msg_id` of a `private_message`, echoed in the error when it was valid.
    pub client_msg_id: Option<String>,
}

impl FrameError {
    pub(super) fn new(kind: Option<FrameKind>, code: Code, message: &'static str) -> Self {
        Self { kind, code, message: Cow::Borrowed(message), client_msg_id: None }
    }

    pub(super) fn about(mut self, client_msg_id: Option<&str>) -> Self {
        self.client_msg_id = client_msg_id.map(str::to_owned);
        self
    }
}
