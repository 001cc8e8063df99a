//! Tokens checked fully (not before, issued in the future, expiry during a
//! connection) and text PostgreSQL cannot hold refused as bad input, never
//! a 5xx, never failing other users' sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use e2e_tests::{System, WsClient};
use serde_json::json;
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn token(sys: &System, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(sys.env.jwt_secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_not_yet_valid_or_issued_in_the_future_are_refused_everywhere() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let alice = Uuid::now_v7();
    let cases = [
        json!({"sub": alice.to_string(), "exp": now() + 7200, "nbf": now() + 3600}),
        json!({"sub": alice.to_string(), "exp": now() + 7200, "iat": now() + 3600}),
    ];
    for claims in cases {
        let t = token(&sys, claims.clone());
        let ws = WsClient::connect_with(&sys, 0, alice, Some(&t), None).await;
        assert_eq!(ws.err().map(|r| r.0), Some(401), "{claims}");
        let r = reqwest::Client::new()
            .get(format!("{}/api/messages/pending", sys.gateway(0)))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{claims}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("nbf") && !body.contains("iat"), "the reason is not told: {body}");
    }
}

#[tokio::test]
async fn a_socket_is_closed_with_4001_when_its_token_expires() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let alice = Uuid::now_v7();
    // Expired 27 s ago: still inside the 30 s leeway for about 3 s.
    let t = token(&sys, json!({"sub": alice.to_string(), "exp": now() - 27}));
    let mut ws = WsClient::connect_with(&sys, 0, alice, Some(&t), None).await.expect("accepted");
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(ws.recv_type("pong", T).await.unwrap()["type"], "pong");
    assert_eq!(ws.expect_close(Duration::from_secs(10)).await, Some(4001));
}

#[tokio::test]
async fn nul_in_stored_text_is_a_400_or_an_error_frame_and_fails_no_one_else() {
    let sys = System::builder()
        .only(&["chat-persistence", "feed"])
        .env("WS_RATE_PER_SEC", "1000")
        .env("WS_RATE_BURST", "1000")
        .start()
        .await;
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (status, body) =
        sys.post(0, "/api/posts", alice, json!({"content": "nul \u{0} inside"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "content");
    let (status, post) = sys.post(0, "/api/posts", alice, json!({"content": "fine"})).await;
    assert_eq!(status, 201);
    let path = format!("/api/posts/{}/comments", post["id"].as_str().unwrap());
    let (status, body) = sys.post(0, &path, alice, json!({"content": "\u{0}"})).await;
    assert_eq!(status, 400, "{body}");

    // A client_msg_id with NUL, sent together with other users' messages.
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut c = WsClient::connect(&sys, 0, carol).await;
    for i in 0..20 {
        c.send_json(json!({"type": "private_message", "receiver_id": bob,
            "content": "ok", "client_msg_id": format!("c{i}")}))
            .await;
    }
    a.send_json(json!({"type": "private_message", "receiver_id": bob,
        "content": "x", "client_msg_id": "bad\u{0}id"}))
        .await;
    let e = a.recv_type("error", T).await.unwrap();
    assert_eq!(e["code"], "invalid_argument");
    for _ in 0..20 {
        let v = c.recv_json(T).await.unwrap();
        assert_eq!(v["type"], "message_ack", "{v}");
    }
}
