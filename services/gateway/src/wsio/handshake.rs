//! The HTTP side of the upgrade, written straight to the socket: the 101
//! answer, or a refusal (any `HttpResponse`, normally an `ApiError`'s)
//! after which the connection is closed.
use actix_web::{HttpResponse, body::MessageBody};
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// The `101 Switching Protocols` answer to a handshake with this
/// `Sec-WebSocket-Key`.
pub fn switching(key: &[u8]) -> Vec<u8> {
    let accept = actix_http::ws::hash_key(key);
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ",
    );
    out.extend_from_slice(&accept);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Serialises a refusal: status line, its headers, `content-length`,
/// `connection: close`, then the body.
pub fn refusal(response: HttpResponse) -> Vec<u8> {
    let status = response.status();
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if name == "content-length" || name == "connection" {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = response.into_body().try_into_bytes().unwrap_or_default();
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    out
}

/// Writes a refusal and hangs up.
pub async fn refuse(mut io: TcpStream, response: HttpResponse) {
    let bytes = refusal(response);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        io.write_all(&bytes).await?;
        io.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455_example() {
        let out = String::from_utf8(switching(b"dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(out.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(out.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(out.ends_with("\r\n\r\n"));
    }

    #[test]
    fn refusal_carries_status_headers_and_body() {
        let response = HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "5"))
            .json(serde_json::json!({"error": "too many", "code": "rate_limited"}));
        let out = String::from_utf8(refusal(response)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{head}");
        assert!(head.contains("retry-after: 5"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap()["code"],
            "rate_limited"
        );
    }
}
