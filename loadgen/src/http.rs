//! A minimal HTTP/1.1 client for the generator: one keep-alive connection,
//! pre-rendered requests, responses with `Content-Length` read into one
//! reused buffer (what the gateway and the relay send). Anything else is an
//! error, never a guess.
use anyhow::{Context, bail};
use memchr::memmem;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response: status and body (borrowed from the connection's buffer).
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

/// Renders a request (`body` sent as JSON when given).
pub fn request(method: &str, path: &str, host: &str, token: &str, body: Option<&str>) -> Vec<u8> {
    let mut r =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n");
    if let Some(b) = body {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        r.push_str("\r\n");
    }
    r.into_bytes()
}

fn content_length(head: &[u8]) -> anyhow::Result<usize> {
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            let v = std::str::from_utf8(&line[15..])?.trim();
            return Ok(v.parse()?);
        }
    }
    bail!("response without Content-Length")
}

impl Conn {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Self { stream, buf: Vec::with_capacity(16 * 1024) }
    }

    /// Sends a pre-rendered request and reads its response.
    pub async fn send(&mut self, req: &[u8]) -> anyhow::Result<Response<'_>> {
        self.stream.write_all(req).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = memmem::find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                bail!("response head over 64 KiB");
            }
            self.read_more().await?;
        };
        let head = &self.buf[..head_end];
        let status = std::str::from_utf8(head.get(9..12).context("short status line")?)?
            .parse::<u16>()
            .context("bad status line")?;
        let len = content_length(head)?;
        while self.buf.len() < head_end + len {
            self.read_more().await?;
        }
        Ok(Response { status, body: &self.buf[head_end..head_end + len] })
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            bail!("connection closed mid-response");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_content_length_in_any_case() {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(content_length(head).unwrap(), 42);
        assert!(content_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn renders_a_request_with_a_body() {
        let r = request("POST", "/api/posts", "h:1", "t", Some(r#"{"content":"x"}"#));
        let s = String::from_utf8(r).unwrap();
        assert!(
            s.starts_with("POST /api/posts HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer t\r\n")
        );
        assert!(s.ends_with("Content-Length: 15\r\n\r\n{\"content\":\"x\"}"));
    }
}
