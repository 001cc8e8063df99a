//! REST request bodies and parameters, parsed and checked (each error
//! names its field).
use serde::Serialize;
use serde_json::Value;
use shared::limits::{self, OFFSET_MAX, PAGE_MAX};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{ObjectBuilder, Type, schema::SchemaType},
};
use uuid::Uuid;

use super::Invalid;

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
fn text<'a>(body: &'a Value, field: &'static str) -> Result<Option<&'a str>, Invalid> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Invalid::new(field, format!("{field} must be a string"))),
    }
}

/// Reads the required `content` of a post or comment body, checked.
fn content(body: &Value) -> Result<String, Invalid> {
    if !body.is_object() {
        return Err(Invalid::new("content", "the body must be a JSON object with content"));
    }
    let text =
        text(body, "content")?.ok_or_else(|| Invalid::new("content", "content is required"))?;
    limits::content_ok(text).map_err(|e| Invalid::new("content", e))?;
    Ok(text.to_owned())
}

impl NewPost {
    /// Parses and checks a body (each error names its field).
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        let content = content(body)?;
        let media_type = match text(body, "media_type")? {
            None => None,
            Some("photo") => Some(MediaKind::Photo),
            Some("video") => Some(MediaKind::Video),
            Some(_) => {
                return Err(Invalid::new("media_type", "media_type must be photo or video"));
            }
        };
        let media_url = text(body, "media_url")?.map(str::to_owned);
        if let Some(url) = &media_url
            && !limits::media_url_ok(url)
        {
            return Err(Invalid::new(
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
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
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

impl Serialize for MediaKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Photo => "photo",
            Self::Video => "video",
        })
    }
}

/// Parses a `limit` query parameter: 1 to [`PAGE_MAX`], `default` when absent.
pub fn parse_limit(limit: Option<&str>, default: u32) -> Result<u32, Invalid> {
    match limit {
        None => Ok(default),
        Some(l) => match strict_u32(l) {
            Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
            _ => Err(Invalid::new("limit", "limit must be an integer from 1 to 100")),
        },
    }
}

/// Parses a page: `limit` 1 to [`PAGE_MAX`], `offset` 0 to [`OFFSET_MAX`].
pub fn parse_page(q: &Page, default_limit: u32) -> Result<(u32, u32), Invalid> {
    let limit = parse_limit(q.limit.as_deref(), default_limit)?;
    let offset = match q.offset.as_deref() {
        None => 0,
        Some(o) => strict_u32(o)
            .filter(|n| *n <= OFFSET_MAX)
            .ok_or_else(|| Invalid::new("offset", "offset must be an integer from 0 to 1000000"))?,
    };
    Ok((limit, offset))
}

/// Reads the `user_id` of a development token request (`{"user_id": "<uuid>"}`).
pub fn dev_token_user(body: &Value) -> Result<Uuid, Invalid> {
    match body.get("user_id") {
        Some(Value::String(s)) => parse_id("user_id", s),
        Some(_) => Err(Invalid::new("user_id", "user_id must be a UUID string")),
        None => Err(Invalid::new("user_id", "user_id is required")),
    }
}

/// Decimal digits only (no sign, no spaces), as JSON Schema's `integer` reads a query value.
fn strict_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a path or query id: a UUID in its hyphenated form (what `format: uuid` means).
pub fn parse_id(field: &'static str, s: &str) -> Result<Uuid, Invalid> {
    Uuid::try_parse(s)
        .ok()
        .filter(|_| s.len() == 36)
        .ok_or_else(|| Invalid::new(field, format!("{field} must be a UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_ids_are_read_strictly() {
        let page = |l: Option<&str>, o: Option<&str>| {
            parse_page(&Page { limit: l.map(str::to_owned), offset: o.map(str::to_owned) }, 20)
        };
        assert_eq!(page(None, None).unwrap(), (20, 0));
        assert_eq!(page(Some("100"), Some("1000000")).unwrap(), (100, 1_000_000));
        for (l, o) in [("0", "0"), ("101", "0"), ("1000000", "0"), ("+5", "0"), ("5", "-1")] {
            assert!(page(Some(l), Some(o)).is_err(), "{l} {o}");
        }
        assert!(page(Some("5"), Some("1000001")).is_err());
        assert!(page(Some(" 5"), None).is_err());
        let id = Uuid::now_v7();
        assert_eq!(parse_id("x", &id.to_string()).unwrap(), id);
        assert!(parse_id("x", &id.simple().to_string()).is_err());
        assert!(parse_id("x", &id.urn().to_string()).is_err());
    }
}
