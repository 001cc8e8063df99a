//! The JSON bodies of the REST API: what the handlers parse and render, and
//! (through `utoipa::ToSchema`) what the OpenAPI document says about them.
//! Lengths and patterns come from [`shared::limits`], so the document and
//! the checks cannot drift apart.
use serde::Serialize;
use serde_json::Value;
use shared::limits;
use utoipa::{
    IntoParams, ToSchema,
    openapi::{ObjectBuilder, Type, schema::SchemaType},
};
use uuid::Uuid;

use crate::error::ApiError;

/// Every error: a message for people, a code for programs, and the request
/// field at fault when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// Machine-readable: `invalid_argument`, `invalid_json`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `too_large`,
    /// `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// The request field at fault (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

fn content_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(1))
        .max_length(Some(limits::POST_CONTENT_MAX_CHARS))
        .pattern(Some(limits::content_pattern()))
        .description(Some(
            "1 to 5000 characters, not only white space, no NUL; stored and returned verbatim",
        ))
}

fn media_url_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(limits::MEDIA_URL_MAX_BYTES))
        .pattern(Some(limits::MEDIA_URL_PATTERN))
        .description(Some("an http(s) URL of at most 2048 bytes; null or absent for none"))
}

/// A new post (unknown members are ignored).
#[derive(ToSchema)]
pub struct NewPost {
    /// The text.
    #[schema(schema_with = content_schema)]
    pub content: String,
    /// The media it shows.
    #[schema(schema_with = media_url_schema)]
    pub media_url: Option<String>,
    /// What the media is; ignored without `media_url`.
    #[schema(required = false)]
    pub media_type: Option<MediaKind>,
}

/// A post's media type.
#[derive(ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[schema(rename_all = "lowercase")]
pub enum MediaKind {
    /// A photo.
    Photo,
    /// A video.
    Video,
}

/// Reads an optional string member of a JSON body; `null` counts as absent.
fn text<'a>(body: &'a Value, field: &'static str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(field, format!("{field} must be a string"))),
    }
}

/// Reads the required `content` of a post or comment body, checked.
fn content(body: &Value) -> Result<String, ApiError> {
    if !body.is_object() {
        return Err(ApiError::invalid("content", "the body must be a JSON object with content"));
    }
    let text = text(body, "content")?
        .ok_or_else(|| ApiError::invalid("content", "content is required"))?;
    limits::content_ok(text).map_err(|e| ApiError::invalid("content", e))?;
    Ok(text.to_owned())
}

impl NewPost {
    /// Parses and checks a body (each error names its field).
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let content = content(body)?;
        let media_type = match text(body, "media_type")? {
            None => None,
            Some("photo") => Some(MediaKind::Photo),
            Some("video") => Some(MediaKind::Video),
            Some(_) => {
                return Err(ApiError::invalid("media_type", "media_type must be photo or video"));
            }
        };
        let media_url = text(body, "media_url")?.map(str::to_owned);
        if let Some(url) = &media_url
            && !limits::media_url_ok(url)
        {
            return Err(ApiError::invalid(
                "media_url",
                "media_url must be an http(s) URL of at most 2048 bytes",
            ));
        }
        Ok(Self { content, media_type: media_url.as_ref().and(media_type), media_url })
    }
}

/// A new comment (unknown members are ignored).
#[derive(ToSchema)]
pub struct NewComment {
    /// The text.
    #[schema(schema_with = content_schema)]
    pub content: String,
}

impl NewComment {
    /// Parses and checks a body.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        Ok(Self { content: content(body)? })
    }
}

/// A page of a list.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many items, 1 to 100 (default 20 for posts, 50 otherwise).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// How many items to skip, 0 to 1000000.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub offset: Option<String>,
}

/// The size of a ranking.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Top {
    /// How many items, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A chat message (the `message` object of the WebSocket frames, rendered
/// by `ws::frames::MessageJson`; this type only describes it, and
/// schemathesis checks every response against it).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(as = Message)]
pub struct MessageDoc {
    id: Uuid,
    sender_id: Uuid,
    receiver_id: Uuid,
    /// The plain text (empty when `undecryptable`).
    content: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    timestamp: String,
    read: bool,
    message_type: MessageKind,
    /// Present (true) when the stored form could not be decrypted.
    #[schema(required = false, nullable = false)]
    undecryptable: Option<bool>,
    /// Its position in the caller's stream.
    #[schema(required = false, nullable = false)]
    seq: Option<u64>,
}

/// A chat message's type.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MessageKind {
    /// Text.
    Text,
    /// An image.
    Image,
    /// A video.
    Video,
    /// Audio.
    Audio,
    /// A file.
    File,
}

/// A conversation of the caller.
#[derive(Serialize, ToSchema)]
pub struct Conversation {
    /// The other participant.
    pub partner_id: Uuid,
    /// The newest message.
    #[schema(value_type = Option<MessageDoc>)]
    pub last_message: Option<Value>,
    /// When it was sent (RFC 3339).
    #[schema(format = DateTime)]
    pub last_message_at: Option<String>,
    /// Messages to the caller not read yet.
    pub unread_count: u64,
}

/// The caller's pending messages: received, not yet written to any of
/// their connections.
#[derive(ToSchema)]
#[allow(dead_code)] // the document's shape of `rest::pending`'s answer
pub struct PendingPage {
    /// How many messages are pending in all.
    pending: u64,
    /// This page of them, oldest first.
    messages: Vec<MessageDoc>,
    /// Pass as `after_seq` for the next page; null at the end.
    next_after_seq: Option<u64>,
}

/// A contact's presence.
#[derive(ToSchema)]
#[allow(dead_code)] // the document's shape of `rest::presence`'s answer
pub struct PresenceDoc {
    /// The user asked about.
    user_id: Uuid,
    /// Whether they have a connection now.
    online: bool,
    /// When their last connection closed (RFC 3339); null when online or never seen.
    #[schema(format = DateTime)]
    last_seen: Option<String>,
}

/// How many users are online.
#[derive(Serialize, ToSchema)]
pub struct Online {
    /// The count.
    pub online: u64,
}
