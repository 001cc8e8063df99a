//! Content rules of posts and comments. Errors name the request field so the
//! gateway can answer 400 with it.
use shared::proto::{common::v1::ErrorReply, feed::v1::MediaType};

/// Longest post or comment, in characters.
pub const MAX_CONTENT_CHARS: usize = 5000;
/// Longest media URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Checks a post's or comment's text: 1 to 5000 characters, not only
/// blanks, no NUL (PostgreSQL text cannot hold it: it is bad input, not a
/// reason for a 5xx).
pub fn content(text: &str) -> Result<(), ErrorReply> {
    if text.trim().is_empty() {
        return Err(ErrorReply::invalid("content", "content must not be empty"));
    }
    if text.contains('\0') {
        return Err(ErrorReply::invalid("content", "content must not contain NUL characters"));
    }
    if text.chars().count() > MAX_CONTENT_CHARS {
        return Err(ErrorReply::invalid(
            "content",
            format!("content must be at most {MAX_CONTENT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks a post's media: the URL (empty for none) must be http(s); the type,
/// when given, must be photo or video and comes only with a URL. Returns the
/// URL to store, if any.
pub fn media(url: &str, media_type: i32) -> Result<Option<String>, ErrorReply> {
    let kind = MediaType::try_from(media_type)
        .map_err(|_| ErrorReply::invalid("media_type", "media_type must be photo or video"))?;
    if url.is_empty() {
        if kind != MediaType::None {
            return Err(ErrorReply::invalid(
                "media_type",
                "media_type is only allowed with a media_url",
            ));
        }
        return Ok(None);
    }
    let invalid = || ErrorReply::invalid("media_url", "media_url must be an http(s) URL");
    if url.len() > MAX_URL_BYTES {
        return Err(ErrorReply::invalid(
            "media_url",
            format!("media_url must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    if url.trim() != url || url.chars().any(char::is_control) {
        return Err(invalid());
    }
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(invalid());
    }
    Ok(Some(url.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<impl std::fmt::Debug, ErrorReply>) -> String {
        r.expect_err("should be rejected").field
    }

    #[test]
    fn content_must_have_1_to_5000_characters() {
        assert!(content("¡Mi primer post! 🎉").is_ok());
        assert!(content(&"é".repeat(5000)).is_ok());
        assert_eq!(field(content("")), "content");
        assert_eq!(field(content("  \n")), "content");
        assert_eq!(field(content(&"a".repeat(5001))), "content");
        assert_eq!(field(content("nul \0 inside")), "content");
    }

    #[test]
    fn media_url_must_be_http_or_https() {
        let photo = MediaType::Photo as i32;
        assert_eq!(
            media("https://example.com/photo.jpg", photo).unwrap().as_deref(),
            Some("https://example.com/photo.jpg")
        );
        assert!(media("http://example.com/v.mp4", MediaType::Video as i32).is_ok());
        assert!(media("https://example.com/x", 0).is_ok());
        assert_eq!(media("", 0).unwrap(), None);
        for bad in ["javascript:alert(1)", "ftp://x/y", "https://", "not a url", "//x.com/a"] {
            assert_eq!(field(media(bad, photo)), "media_url", "{bad}");
        }
        assert_eq!(field(media("https://user:pw@x.com/a", photo)), "media_url");
    }

    #[test]
    fn media_type_needs_a_url_and_a_known_value() {
        assert_eq!(field(media("", MediaType::Photo as i32)), "media_type");
        assert_eq!(field(media("https://x.com/a", 9)), "media_type");
    }
}
