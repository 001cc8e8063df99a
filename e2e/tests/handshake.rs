//! The WebSocket handshake and framing as the gateway's own transport
//! (`services/gateway/src/wsio`) sees them, over raw TCP: refusals are
//! JSON errors and hold no place in the user's connection cap, a frame the
//! client sends in the same packet as its handshake is not lost, and a
//! frame RFC 6455 forbids closes the connection with its code.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use e2e_tests::{System, WsClient};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

async fn open(sys: &System) -> TcpStream {
    let addr = sys.gateway(0).trim_start_matches("http://").to_owned();
    TcpStream::connect(addr).await.unwrap()
}

/// Sends `head` (and `then`, in the same write), returns what the gateway
/// answered until it closed or `T` passed.
async fn exchange(sys: &System, head: &str, then: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = open(sys).await;
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(then);
    s.write_all(&out).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the response head (and whatever came with it).
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a response: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    (s, got)
}

fn status_and_body(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn upgrade_head(path: &str, token: &str, key: Option<&str>) -> String {
    let key = key.map(|k| format!("sec-websocket-key: {k}\r\n")).unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         sec-websocket-version: 13\r\n{key}authorization: Bearer {token}\r\n\r\n"
    )
}

/// A masked client frame.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend(mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads server frames until a close; returns its code.
async fn close_code(s: &mut TcpStream, mut pending: Vec<u8>) -> Option<u16> {
    let mut buf = [0u8; 4096];
    loop {
        while pending.len() >= 2 {
            let len = (pending[1] & 0x7F) as usize;
            assert!(len < 126, "only short frames are expected here");
            if pending.len() < 2 + len {
                break;
            }
            if pending[0] & 0x0F == 0x8 {
                return (len >= 2).then(|| u16::from_be_bytes([pending[2], pending[3]]));
            }
            pending.drain(..2 + len);
        }
        let n = tokio::time::timeout(T, s.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn refused_handshakes_are_json_errors_and_take_no_place() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("WS_MAX_CONNECTIONS_PER_USER", "1")
        .start()
        .await;
    let alice = Uuid::now_v7();
    let token = sys.token(alice);
    // An upgrade on a path that is not the WebSocket's.
    let (_, raw) = exchange(&sys, &upgrade_head("/api/posts", &token, Some(KEY)), b"").await;
    assert_eq!(status_and_body(&raw).0, 404);
    assert_eq!(status_and_body(&raw).1["code"], "not_found");
    // No Sec-WebSocket-Key: 400, after every other check passed.
    let path = format!("/ws/chat/{alice}");
    for _ in 0..3 {
        let (_, raw) = exchange(&sys, &upgrade_head(&path, &token, None), b"").await;
        let (status, body) = status_and_body(&raw);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "invalid_argument");
    }
    // A plain GET (no upgrade) after the same checks: 400.
    let plain = format!("GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n");
    let (_, raw) = exchange(&sys, &plain, b"").await;
    assert_eq!(status_and_body(&raw).0, 400);
    // A POST with the upgrade headers: 405.
    let post = upgrade_head(&path, &token, Some(KEY)).replacen("GET", "POST", 1);
    let (_, raw) = exchange(&sys, &post, b"").await;
    assert_eq!(status_and_body(&raw).0, 405);
    // None of them kept the one place alice has.
    let mut a = WsClient::connect(&sys, 0, alice).await;
    a.send_json(serde_json::json!({"type": "ping"})).await;
    assert_eq!(a.recv_type("pong", T).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn a_frame_sent_with_the_handshake_is_answered() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let alice = Uuid::now_v7();
    let head = upgrade_head(&format!("/ws/chat/{alice}"), &sys.token(alice), Some(KEY));
    let (mut s, raw) = exchange(&sys, &head, &masked(0x1, br#"{"type":"ping"}"#)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut pending = raw[split..].to_vec();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + T;
    while !String::from_utf8_lossy(&pending).contains(r#""pong""#) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the pong");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn frames_the_rfc_forbids_close_with_1002() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let alice = Uuid::now_v7();
    let head = upgrade_head(&format!("/ws/chat/{alice}"), &sys.token(alice), Some(KEY));
    let unmasked = [0x81u8, 0x02, b'h', b'i'];
    let reserved = {
        let mut f = masked(0x1, b"hi");
        f[0] |= 0x40;
        f
    };
    let orphan_continuation = masked(0x0, b"hi");
    for bad in [unmasked.to_vec(), reserved, orphan_continuation] {
        let (mut s, raw) = exchange(&sys, &head, b"").await;
        assert!(raw.starts_with(b"HTTP/1.1 101"));
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        s.write_all(&bad).await.unwrap();
        assert_eq!(close_code(&mut s, raw[split..].to_vec()).await, Some(1002), "{bad:?}");
    }
}
