//! The generator's side of the frames, without a JSON parser: received frames
//! are scanned for the few fields a scenario needs (the server writes compact
//! JSON, and everything the generator itself puts in a string is plain
//! ASCII without quotes, so a byte search is exact), and outgoing frames are
//! written into one buffer from pre-rendered parts.
use std::sync::OnceLock;

use memchr::memmem::Finder;
use uuid::Uuid;

/// A byte string searched for in frames, its searcher built once (building
/// one per search was 3% of the generator's time).
pub struct Key {
    text: &'static [u8],
    finder: OnceLock<Finder<'static>>,
}

impl Key {
    /// A key for `text`.
    pub const fn new(text: &'static [u8]) -> Self {
        Self { text, finder: OnceLock::new() }
    }

    fn find(&self, hay: &[u8]) -> Option<usize> {
        self.finder.get_or_init(|| Finder::new(self.text)).find(hay)
    }
}

pub static ACK: Key = Key::new(br#""type":"message_ack""#);
pub static PRIVATE_MESSAGE: Key = Key::new(br#""type":"private_message""#);
pub static FEED_UPDATE: Key = Key::new(br#""type":"feed_update""#);
pub static NEWPOST: Key = Key::new(br#""update_type":"newpost""#);
pub static POST_ACK: Key = Key::new(br#""type":"post_ack""#);
pub static POST_ID: Key = Key::new(br#""post_id":""#);
static ID: Key = Key::new(br#""id":""#);
static SEQ: Key = Key::new(br#""seq":"#);
static CID: Key = Key::new(br#""client_msg_id":""#);
static CONTENT: Key = Key::new(br#""content":""#);

/// Whether the frame contains `key` (e.g. [`ACK`]: is a `message_ack`).
pub fn is(frame: &[u8], key: &Key) -> bool {
    key.find(frame).is_some()
}

/// The string value of the first `"key":"…"` in the frame (`key` given as
/// `br#""key":""#`, i.e. with the quotes, the colon and the opening quote).
pub fn string<'a>(frame: &'a [u8], key: &Key) -> Option<&'a [u8]> {
    let start = key.find(frame)? + key.text.len();
    let len = memchr::memchr(b'"', &frame[start..])?;
    Some(&frame[start..start + len])
}

/// The unsigned number value of the first `"key":N` (`key` as `br#""key":"#`).
pub fn number(frame: &[u8], key: &Key) -> Option<u64> {
    let start = key.find(frame)? + key.text.len();
    digits(&frame[start..])
}

/// The leading decimal digits of `s`.
pub fn digits(s: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

/// A UUID in its hyphenated text form, as a number (no allocation).
pub fn uuid(s: &[u8]) -> Option<u128> {
    if s.len() != 36 {
        return None;
    }
    let mut n: u128 = 0;
    for (i, &b) in s.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(d);
    }
    Some(n)
}

/// The first `"id":"<uuid>"` of a frame (a message's or a post's id: the
/// other id fields are `…_id`, which this key does not match).
pub fn id(frame: &[u8]) -> Option<u128> {
    uuid(string(frame, &ID)?)
}

/// `seq` of a `private_message` / `message_ack` frame.
pub fn seq(frame: &[u8]) -> Option<u64> {
    number(frame, &SEQ)
}

/// Appends the decimal form of `n`.
pub fn push_u64(buf: &mut String, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &tmp[i..] {
        buf.push(char::from(b));
    }
}

/// A `private_message` frame to `to` with `client_msg_id` `m<n>` and a
/// content that starts with `sent_ns` and is padded with `x` to `size` bytes.
pub struct MessageFrames {
    head: String,
    size: usize,
}

impl MessageFrames {
    /// Frames to `to`, contents of `size` bytes.
    pub fn new(to: Uuid, size: usize) -> Self {
        Self { head: format!(r#"{{"type":"private_message","receiver_id":"{to}","#), size }
    }

    /// Renders one frame.
    pub fn render(&self, n: u64, sent_ns: u64) -> String {
        let mut s = String::with_capacity(self.head.len() + self.size + 48);
        s.push_str(&self.head);
        s.push_str(r#""client_msg_id":"m"#);
        push_u64(&mut s, n);
        s.push_str(r#"","content":""#);
        let start = s.len();
        push_u64(&mut s, sent_ns);
        s.push_str(" m");
        push_u64(&mut s, n);
        s.push(' ');
        while s.len() - start < self.size {
            s.push('x');
        }
        s.push_str(r#""}"#);
        s
    }
}

/// The number in a `client_msg_id` of the form `m<n>`.
pub fn cid(frame: &[u8]) -> Option<u64> {
    let v = string(frame, &CID)?;
    digits(v.strip_prefix(b"m")?)
}

/// The send time carried at the start of a message's content.
pub fn sent_ns(frame: &[u8]) -> Option<u64> {
    digits(string(frame, &CONTENT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_the_fields_of_a_gateway_frame() {
        let f = br#"{"client_msg_id":"m42","message":{"content":"123456 m42 xx","id":"0192a7e4-7b1c-7d3e-8f00-0123456789ab","message_type":"text","read":false,"receiver_id":"0192a7e4-7b1c-7d3e-8f00-000000000001","sender_id":"0192a7e4-7b1c-7d3e-8f00-000000000002","seq":17,"timestamp":"2026-12-03T10:00:00.000Z"},"type":"message_ack"}"#;
        assert!(is(f, &ACK));
        assert!(!is(f, &PRIVATE_MESSAGE));
        assert_eq!(cid(f), Some(42));
        assert_eq!(seq(f), Some(17));
        assert_eq!(sent_ns(f), Some(123_456));
        let want = Uuid::parse_str("0192a7e4-7b1c-7d3e-8f00-0123456789ab").unwrap().as_u128();
        assert_eq!(id(f), Some(want));
    }

    #[test]
    fn renders_a_frame_the_server_parses() {
        let to = Uuid::now_v7();
        let s = MessageFrames::new(to, 100).render(7, 99);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["type"], "private_message");
        assert_eq!(v["receiver_id"], to.to_string());
        assert_eq!(v["client_msg_id"], "m7");
        let content = v["content"].as_str().unwrap();
        assert_eq!(content.len(), 100);
        assert!(content.starts_with("99 m7 x"));
        assert_eq!(sent_ns(s.as_bytes()), Some(99));
    }

    #[test]
    fn refuses_what_is_not_a_uuid_or_a_number() {
        assert_eq!(uuid(b"not-a-uuid"), None);
        assert_eq!(uuid(b"0192a7e4x7b1c-7d3e-8f00-0123456789ab"), None);
        assert_eq!(digits(b"x1"), None);
        assert_eq!(digits(b"99999999999999999999999"), None);
    }
}
