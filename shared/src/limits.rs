//! Every limit in one place: what a client may send (the gateway checks
//! and documents them, the OpenAPI schemas are built from these constants,
//! and the backends check them again; the gateway's WebSocket checks in
//! `gateway::wire::client` and `gateway::ws` use them too), and the page sizes and list caps
//! the backends answer with. A rule both sides check is one function here
//! ([`content_ok`], [`message_content_ok`], [`client_msg_id_ok`]). Lengths
//! say whether they count bytes (UTF-8) or characters (Unicode scalar
//! values, what JSON Schema's `maxLength` counts).

/// Longest post or comment, in characters.
pub const POST_CONTENT_MAX_CHARS: usize = 5000;
/// Longest media URL, in bytes (the URL is ASCII, so also characters).
pub const MEDIA_URL_MAX_BYTES: usize = 2048;
/// Longest chat message content, in bytes.
pub const MESSAGE_CONTENT_MAX_BYTES: usize = 16 * 1024;
/// Longest `client_msg_id`, in characters.
pub const CLIENT_MSG_ID_MAX_CHARS: usize = 64;
/// Largest REST request body, in bytes (larger: 413).
pub const REST_BODY_MAX_BYTES: usize = 64 * 1024;
/// Largest page (`limit`) of a list.
pub const PAGE_MAX: u32 = 100;
/// Largest `offset` of a list (deeper pages: 400).
pub const OFFSET_MAX: u32 = 1_000_000;

/// Page of chat history, conversations, comments and follower lists when
/// none is asked for.
pub const LIST_PAGE: u32 = 50;
/// Page of posts (timelines, a user's posts) when none is asked for.
pub const POSTS_PAGE: u32 = 20;
/// Page of the statistics (top posts, active users) when none is asked for.
pub const STATS_PAGE: u32 = 10;
/// Events of a user's stream per page (pending drain, sync, gap fill) when
/// none is asked for.
pub const STREAM_PAGE: u32 = 500;
/// Largest page of a user's stream.
pub const STREAM_PAGE_MAX: u32 = 1000;
/// Largest page of followers or followees (internal callers, such as
/// presence gathering a user's audience, read these lists whole).
pub const USERS_PAGE_MAX: u32 = 10_000;
/// Most users one presence status request may ask about.
pub const STATUS_USERS_MAX: usize = 10_000;

/// A page size: `default` when `asked` is 0, else `asked` up to `max`.
pub fn page_size(asked: u32, default: u32, max: u32) -> u32 {
    if asked == 0 { default } else { asked.min(max) }
}

/// Why a chat message's content is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageContentError {
    /// Empty or only white space.
    Empty,
    /// Over [`MESSAGE_CONTENT_MAX_BYTES`].
    TooLarge,
}

/// Whether `content` is acceptable chat message content: not only white
/// space, at most [`MESSAGE_CONTENT_MAX_BYTES`] bytes.
pub fn message_content_ok(content: &str) -> Result<(), MessageContentError> {
    if content.trim().is_empty() {
        return Err(MessageContentError::Empty);
    }
    if content.len() > MESSAGE_CONTENT_MAX_BYTES {
        return Err(MessageContentError::TooLarge);
    }
    Ok(())
}

/// Whether `id` is an acceptable `client_msg_id`: 1 to
/// [`CLIENT_MSG_ID_MAX_CHARS`] characters, no NUL (it is stored as text).
pub fn client_msg_id_ok(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= CLIENT_MSG_ID_MAX_CHARS && !id.contains('\0')
}

/// Characters Rust's `str::trim` removes (Unicode `White_Space`), as a
/// regex class body: a text made only of these is blank.
const WHITE_SPACE: &str =
    r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// The pattern of post and comment text: no NUL (PostgreSQL text cannot
/// hold it) and at least one character that is not white space. Written
/// with ASCII escapes only, so ECMA-262, Python and Rust read it alike.
pub fn content_pattern() -> String {
    format!(r"^[^\x00]*[^\x00{WHITE_SPACE}][^\x00]*$")
}

/// The pattern of a media URL: `http` or `https`, a host name of letters,
/// digits and inner hyphens in dot-separated labels, an optional port of up
/// to five digits, and an optional path, query and fragment of the URL
/// characters of RFC 3986 (no spaces, quotes or angle brackets).
pub const MEDIA_URL_PATTERN: &str = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?([/?#][A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?$";

/// Whether `text` is acceptable post or comment content (the pattern and
/// the length), checked without a regex.
pub fn content_ok(text: &str) -> Result<(), &'static str> {
    if text.contains('\0') {
        return Err("content must not contain NUL characters");
    }
    if text.trim().is_empty() {
        return Err("content must not be empty or only white space");
    }
    if text.chars().count() > POST_CONTENT_MAX_CHARS {
        return Err("content must be at most 5000 characters");
    }
    Ok(())
}

/// Whether `url` matches [`MEDIA_URL_PATTERN`] and fits [`MEDIA_URL_MAX_BYTES`].
pub fn media_url_ok(url: &str) -> bool {
    fn label(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    }
    if url.len() > MEDIA_URL_MAX_BYTES {
        return false;
    }
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()));
    let tail_ok =
        tail.bytes().all(|c| c.is_ascii_alphanumeric() || b"._~!$&'()*+,;=:@%/?#-".contains(&c));
    host.split('.').all(label) && port_ok && tail_ok
}

/// Consecutive oversized WebSocket frames before the gateway closes with 1009.
pub const WS_SIZE_STRIKES_MAX: u32 = 3;
/// Consecutive rate-limited WebSocket frames before the gateway closes with 1008.
pub const WS_RATE_STRIKES_MAX: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_one_to_5000_characters_not_blank_without_nul() {
        assert!(content_ok("¡Hola! 🎉").is_ok());
        assert!(content_ok(&"é".repeat(5000)).is_ok());
        assert!(content_ok(&"a".repeat(5001)).is_err());
        for bad in ["", " \n\t", "\u{3000}\u{2028}", "nul \0 inside"] {
            assert!(content_ok(bad).is_err(), "{bad:?}");
        }
        // The pattern names exactly the characters trim() removes.
        let blank: String =
            (0..=0x3000u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        assert!(blank.trim().is_empty());
        assert_eq!(blank.chars().count(), 25, "{blank:?}");
    }

    #[test]
    fn chat_messages_and_their_client_ids_have_one_rule() {
        assert_eq!(message_content_ok("hola"), Ok(()));
        assert_eq!(message_content_ok(" \n"), Err(MessageContentError::Empty));
        assert_eq!(message_content_ok(&"a".repeat(MESSAGE_CONTENT_MAX_BYTES)), Ok(()));
        let over = "é".repeat(MESSAGE_CONTENT_MAX_BYTES / 2 + 1);
        assert_eq!(message_content_ok(&over), Err(MessageContentError::TooLarge));
        assert!(client_msg_id_ok("c-1") && client_msg_id_ok(&"é".repeat(64)));
        for bad in ["", "nul\0", &"a".repeat(65)] {
            assert!(!client_msg_id_ok(bad), "{bad:?}");
        }
        assert_eq!(
            (page_size(0, 50, 100), page_size(7, 50, 100), page_size(500, 50, 100)),
            (50, 7, 100)
        );
    }

    #[test]
    fn media_urls_follow_the_pattern() {
        for good in [
            "https://example.com/photo.jpg",
            "http://a",
            "https://cdn-1.example.co.uk:8443/p/a.png?x=1&y=%20#top",
            "http://x/",
        ] {
            assert!(media_url_ok(good), "{good}");
        }
        for bad in [
            "",
            "javascript:alert(1)",
            "ftp://x/y",
            "https://",
            "https://-x.com/",
            "https://x..com/",
            "https://user:pw@x.com/a",
            "https://x.com/a b",
            "https://x.com/<script>",
            "https://x.com:123456/",
            "//x.com/a",
        ] {
            assert!(!media_url_ok(bad), "{bad}");
        }
        assert!(!media_url_ok(&format!("https://x.com/{}", "a".repeat(MEDIA_URL_MAX_BYTES))));
    }
}
