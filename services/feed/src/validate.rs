//! Content rules of posts and comments. Errors name the request field so the
//! gateway can answer 400 with it.
use shared::{
    limits,
    proto::{common::v1::ErrorReply, feed::v1::MediaType},
};

/// Checks a post's or comment's text by [`limits::content_ok`]: 1 to 5000
/// characters, not only white space, no NUL (PostgreSQL text cannot hold
/// it: it is bad input, not a reason for a 5xx).
pub fn content(text: &str) -> Result<(), ErrorReply> {
    limits::content_ok(text).map_err(|e| ErrorReply::invalid("content", e))
}

/// Checks a post's media: the URL (empty for none) must match
/// [`limits::MEDIA_URL_PATTERN`] (http(s), at most 2048 bytes); the type is
/// photo or video, and is dropped without a URL. Returns the URL to store,
/// if any, and the type.
pub fn media(url: &str, media_type: i32) -> Result<(Option<String>, MediaType), ErrorReply> {
    let kind = MediaType::try_from(media_type)
        .map_err(|_| ErrorReply::invalid("media_type", "media_type must be photo or video"))?;
    if url.is_empty() {
        return Ok((None, MediaType::None));
    }
    if !limits::media_url_ok(url) {
        return Err(ErrorReply::invalid(
            "media_url",
            "media_url must be an http(s) URL of at most 2048 bytes",
        ));
    }
    Ok((Some(url.to_owned()), kind))
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
            media("https://example.com/photo.jpg", photo).unwrap(),
            (Some("https://example.com/photo.jpg".to_owned()), MediaType::Photo)
        );
        assert!(media("http://example.com/v.mp4", MediaType::Video as i32).is_ok());
        assert!(media("https://example.com/x", 0).is_ok());
        assert_eq!(media("", 0).unwrap(), (None, MediaType::None));
        for bad in ["javascript:alert(1)", "ftp://x/y", "https://", "not a url", "//x.com/a"] {
            assert_eq!(field(media(bad, photo)), "media_url", "{bad}");
        }
        assert_eq!(field(media("https://user:pw@x.com/a", photo)), "media_url");
    }

    #[test]
    fn media_type_is_known_and_dropped_without_a_url() {
        assert_eq!(media("", MediaType::Photo as i32).unwrap(), (None, MediaType::None));
        assert_eq!(field(media("https://x.com/a", 9)), "media_type");
    }
}
