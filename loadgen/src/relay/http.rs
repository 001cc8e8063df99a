//! The relay's trivial HTTP side, the baseline of `GET /api/posts`: any
//! `GET /api/…` is answered `200` with one fixed page of 20 posts in the
//! gateway's shape (rendered once at start), on a keep-alive connection.
//! Anything else gets `404`. Nothing is looked up, stored or checked.
use std::sync::LazyLock;

use memchr::memmem;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use uuid::Uuid;

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

static PAGE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let user = Uuid::now_v7();
    let posts: Vec<_> = (0..20)
        .map(|i| {
            json!({
                "id": Uuid::now_v7(), "user_id": user,
                "content": format!("post {i} of the relay's fixed page, about as long as a seeded one"),
                "media_url": null, "media_type": null, "likes_count": 0, "comments_count": 0,
                "created_at": "2026-12-03T10:00:00.000000Z",
            })
        })
        .collect();
    let body = serde_json::to_vec(&posts).unwrap_or_default();
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    r
});

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";

/// Whether the first bytes of a connection are an API request (not a WebSocket upgrade).
pub(super) fn is_api(first: &[u8]) -> bool {
    first.starts_with(b"GET /api/")
}

/// Serves requests until the client closes.
pub(super) async fn serve(mut stream: TcpStream) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let end = loop {
            if let Some(i) = memmem::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let reply = if is_api(&buf) { PAGE.as_slice() } else { NOT_FOUND };
        stream.write_all(reply).await?;
        buf.drain(..end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_twenty_posts_of_json_with_its_length() {
        let page = PAGE.as_slice();
        let at = memmem::find(page, b"\r\n\r\n").unwrap() + 4;
        let v: serde_json::Value = serde_json::from_slice(&page[at..]).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 20);
        let head = std::str::from_utf8(&page[..at]).unwrap();
        assert!(head.contains(&format!("content-length: {}\r\n", page.len() - at)));
    }
}
