//! The attack suite: each case gets its documented answer (status or close
//! code), and afterwards nothing it should not have changed has changed.
//! docs/reliability.md lists every case and its answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use e2e_tests::{System, WsClient};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn signed(alg: Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .unwrap()
}

/// A token whose header says `alg` over an HS256 signature of the right key.
fn relabelled(alg: &str, claims: &Value, secret: &str) -> String {
    let t = signed(Algorithm::HS256, claims, secret);
    let (_, rest) = t.split_once('.').unwrap();
    format!("{}.{rest}", B64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)))
}

async fn post_as(sys: &System, token: &str, content: &str) -> (u16, Value) {
    let r = sys
        .http()
        .post(format!("{}/api/posts", sys.gateway(0)))
        .bearer_auth(token)
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn posts_of(sys: &System, author: Uuid) -> Vec<Value> {
    let (status, body) = sys.get(0, &format!("/api/users/{author}/posts"), author).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn forged_or_unfit_tokens_are_a_plain_401_everywhere_and_change_nothing() {
    let sys = System::builder()
        .only(&["chat-persistence", "feed"])
        .env("JWT_ISSUER", "idp")
        .env("JWT_AUDIENCE", "chat")
        .start()
        .await;
    let secret = sys.env.jwt_secret.clone();
    let alice = Uuid::now_v7();
    let sub = alice.to_string();
    let good = json!({"sub": sub, "exp": now() + 600, "iss": "idp", "aud": "chat"});
    let with = |extra: Value| {
        let mut c = good.clone();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let valid = signed(Algorithm::HS256, &good, &secret);
    let (h, rest) = valid.split_once('.').unwrap();
    let (c, _) = rest.split_once('.').unwrap();
    let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let cases = [
        ("alg none", format!("{none_header}.{c}.")),
        ("stripped signature", format!("{h}.{c}.")),
        ("no signature part", format!("{h}.{c}")),
        ("another key", signed(Algorithm::HS256, &good, "another-secret-0123456789-0123456789")),
        ("HS512", signed(Algorithm::HS512, &good, &secret)),
        ("RS256 header", relabelled("RS256", &good, &secret)),
        ("expired", signed(Algorithm::HS256, &with(json!({"exp": now() - 3600})), &secret)),
        (
            "nbf in the future",
            signed(Algorithm::HS256, &with(json!({"nbf": now() + 3600})), &secret),
        ),
        (
            "iat in the future",
            signed(Algorithm::HS256, &with(json!({"iat": now() + 3600})), &secret),
        ),
        ("wrong iss", signed(Algorithm::HS256, &with(json!({"iss": "evil"})), &secret)),
        ("wrong aud", signed(Algorithm::HS256, &with(json!({"aud": "other"})), &secret)),
        ("missing iss", signed(Algorithm::HS256, &with(json!({"iss": null})), &secret)),
        ("missing sub", signed(Algorithm::HS256, &with(json!({"sub": null})), &secret)),
        ("sub not a UUID", signed(Algorithm::HS256, &with(json!({"sub": "alice"})), &secret)),
        ("missing exp", signed(Algorithm::HS256, &with(json!({"exp": null})), &secret)),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in &cases {
        let (status, body) = post_as(&sys, token, "forged").await;
        assert_eq!(status, 401, "{name}: {body}");
        // The client is not told why.
        assert_eq!(body, json!({"error": "authentication required", "code": "unauthorized"}));
        let ws = WsClient::connect_with(&sys, 0, alice, Some(token), None).await;
        assert_eq!(ws.err().map(|r| r.0), Some(401), "{name} (WebSocket)");
    }
    // Nothing was posted; the well-formed token works (the checks are not just refusing all).
    let good_token = valid;
    let r = sys
        .http()
        .get(format!("{}/api/users/{alice}/posts", sys.gateway(0)))
        .bearer_auth(&good_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    assert_eq!(post_as(&sys, &good_token, "genuine").await.0, 201);
    assert!(WsClient::connect_with(&sys, 0, alice, Some(&good_token), None).await.is_ok());
}

#[tokio::test]
async fn impersonation_and_foreign_origins_are_403_and_nobody_comes_online() {
    let sys = System::builder().env("ALLOWED_ORIGINS", "https://app.example").start().await;
    let (alice, mallory) = (Uuid::now_v7(), Uuid::now_v7());
    let as_alice = WsClient::connect_with(&sys, 0, alice, Some(&sys.token(mallory)), None).await;
    assert_eq!(as_alice.err().map(|r| r.0), Some(403), "mallory's token on alice's path");
    let foreign = WsClient::connect_from(&sys, 0, alice, "https://evil.example").await;
    assert_eq!(foreign.err().map(|r| r.0), Some(403), "a foreign Origin");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, online) = sys.get(0, "/api/stats/online", mallory).await;
    assert_eq!(online["online"], 0, "no refused handshake counts as a connection");
    // The allowed origin, and a native client without Origin, connect.
    let ok = WsClient::connect_from(&sys, 0, alice, "https://app.example").await;
    assert!(ok.is_ok());
    assert!(WsClient::connect_with(&sys, 0, alice, Some(&sys.token(alice)), None).await.is_ok());
}

#[tokio::test]
async fn another_pairs_history_and_another_users_post_are_403_and_untouched() {
    let sys = System::builder().only(&["chat-persistence", "feed"]).start().await;
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    assert_eq!(a.send_message(bob, "for bob only", "h1").await["type"], "message_ack");
    let (status, body) =
        sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), carol).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, body) =
        sys.get(0, &format!("/api/messages?user1={carol}&user2={bob}"), carol).await;
    assert_eq!((status, body), (200, json!([])), "carol's own pair with bob is empty");
    let (status, body) = sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), bob).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["content"], "for bob only");

    let (status, post) = sys.post(0, "/api/posts", alice, json!({"content": "mine"})).await;
    assert_eq!(status, 201);
    let id = post["id"].as_str().unwrap();
    let (status, body) = sys.delete(0, &format!("/api/posts/{id}"), carol).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(posts_of(&sys, alice).await.len(), 1, "the post is still there");
    let (status, _) = sys.delete(0, &format!("/api/posts/{id}"), alice).await;
    assert_eq!(status, 200, "its author may");
}

#[tokio::test]
async fn oversized_deep_and_malformed_rest_input_is_4xx_with_the_field_never_5xx() {
    let sys = System::builder().only(&["chat-persistence", "feed"]).start().await;
    let alice = Uuid::now_v7();
    let url = format!("{}/api/posts", sys.gateway(0));
    let raw = |body: Vec<u8>| {
        sys.http()
            .post(&url)
            .bearer_auth(sys.token(alice))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // 20 MB: refused from its Content-Length, before it is read.
    let r = raw(vec![b' '; 20_000_000]).await.unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "too_large");
    let deep = format!("{{\"content\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let bad_utf8 = b"{\"content\":\"\xff\xfe bad\"}".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("10,000 deep", deep.into_bytes(), "body"),
        ("invalid UTF-8", bad_utf8, "body"),
        ("lone surrogate", br#"{"content":"\ud800"}"#.to_vec(), "body"),
        ("NUL", br#"{"content":"a\u0000b"}"#.to_vec(), "content"),
        (
            "5001 characters",
            json!({"content": "é".repeat(5001)}).to_string().into_bytes(),
            "content",
        ),
        ("not JSON", b"{content:".to_vec(), "body"),
    ];
    for (name, body, field) in cases {
        let r = raw(body).await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!((status, body["field"].as_str()), (400, Some(field)), "{name}: {body}");
    }
    for (query, field) in [
        ("limit=1000000", "limit"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999", "offset"),
        ("offset=1000001", "offset"),
        ("limit=%FF", "limit"),
        ("limit=1%00", "limit"),
        ("limit=1&limit=2", "query"),
    ] {
        let (status, body) = sys.get(0, &format!("/api/posts?{query}"), alice).await;
        assert_eq!((status, body["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }
    let (status, body) = sys.get(0, "/api/messages?user1=x&user2=y", alice).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("user1")), "{body}");
    assert!(posts_of(&sys, alice).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn oversized_deep_and_invalid_frames_get_1009_an_error_frame_and_1007() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    // A 10 MiB frame: over 4× WS_MAX_FRAME_BYTES, not even read: 1009.
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let huge = json!({"type": "private_message", "receiver_id": bob,
        "content": "x".repeat(10 * 1024 * 1024)});
    a.send_raw(Message::Text(huge.to_string().into())).await;
    assert_eq!(a.expect_close(T).await, Some(1009));
    // JSON nested 10,000 deep: an error frame with a code; the socket lives on.
    let mut a = WsClient::connect(&sys, 0, alice).await;
    a.send_text(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))).await;
    assert_eq!(a.recv_type("error", T).await.unwrap()["code"], "invalid_json");
    let deep_field = format!(
        r#"{{"type":"private_message","receiver_id":"{bob}","content":"x","client_msg_id":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    a.send_text(&deep_field).await;
    assert_eq!(a.recv_type("error", T).await.unwrap()["code"], "invalid_json");
    a.send_json(json!({"type": "ping"})).await;
    assert!(a.recv_type("pong", T).await.is_some());
    // Invalid UTF-8 in a text frame: 1007.
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        b"{\"type\":\"ping\",\"x\":\"\xff\"}".to_vec(),
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    a.send_raw(Message::Frame(frame)).await;
    assert_eq!(a.expect_close(T).await, Some(1007));
    // None of it was stored.
    let (status, body) =
        sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), alice).await;
    assert_eq!((status, body), (200, json!([])));
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_and_sockets_per_user_are_capped() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("WS_MAX_CONNECTIONS_PER_USER", "3")
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    // 25 typing frames at once: 10 pass (the typing burst), 15 are refused
    // with `rate_limited`, and the socket stays usable.
    for _ in 0..25 {
        a.send_json(json!({"type": "typing", "receiver_id": bob})).await;
    }
    let frames = a.drain(Duration::from_millis(800)).await;
    let limited = frames.iter().filter(|f| f["code"] == "rate_limited").count();
    assert_eq!(limited, 15, "{frames:?}");
    a.send_json(json!({"type": "ping"})).await;
    assert!(a.recv_type("pong", T).await.is_some(), "usable after the refusals");
    // A flood that goes on (20 refused frames in a row) is closed with 1008.
    for _ in 0..200 {
        if !a
            .send_raw(Message::Text(
                json!({"type": "typing", "receiver_id": bob}).to_string().into(),
            ))
            .await
        {
            break;
        }
    }
    let (_, code) = a.until_close(T).await;
    assert_eq!(code, Some(1008));
    // Many sockets for one user: the cap is per gateway, the next is a 429.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(WsClient::connect(&sys, 0, alice).await);
    }
    let fourth = WsClient::connect_with(&sys, 0, alice, Some(&sys.token(alice)), None).await;
    assert_eq!(fourth.err().map(|r| r.0), Some(429));
    // Another user is not affected, and nothing was sent to bob.
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let got = b.drain(Duration::from_millis(500)).await;
    assert!(got.iter().all(|f| f["type"] != "private_message"), "{got:?}");
}

#[tokio::test]
async fn a_tampered_or_copied_ciphertext_is_marked_undecryptable_never_shown_wrong() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let m1 = a.send_message(bob, "first secret", "c1").await["message"]["id"].clone();
    let m2 = a.send_message(bob, "second secret", "c2").await["message"]["id"].clone();
    let m3 = a.send_message(bob, "third, untouched", "c3").await["message"]["id"].clone();
    let (m1, m2) = (
        Uuid::parse_str(m1.as_str().unwrap()).unwrap(),
        Uuid::parse_str(m2.as_str().unwrap()).unwrap(),
    );
    let db = sys.db("chat").await;
    // m1 gets a copy of m2's (valid) ciphertext; one byte of m2 is flipped.
    sqlx::query("update message set content_enc = (select content_enc from message where message_id = $2) where message_id = $1")
        .bind(m1)
        .bind(m2)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("update message set content_enc = set_byte(content_enc, 30, (get_byte(content_enc, 30) + 1) % 256) where message_id = $1")
        .bind(m2)
        .execute(&db)
        .await
        .unwrap();
    let (status, body) = sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), bob).await;
    assert_eq!(status, 200, "{body}");
    let by_id = |id: &str| body.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone();
    for id in [m1.to_string(), m2.to_string()] {
        let m = by_id(&id);
        assert_eq!(
            (m["content"].as_str(), m["undecryptable"].as_bool()),
            (Some(""), Some(true)),
            "{m}"
        );
    }
    assert_eq!(by_id(m3.as_str().unwrap())["content"], "third, untouched");
    assert!(!body.to_string().contains("second secret"), "never the wrong content: {body}");
    // The same on the WebSocket: bob's pending events.
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let frames = b.drain(Duration::from_millis(1500)).await;
    let texts: Vec<&str> = frames.iter().filter_map(|f| f["message"]["content"].as_str()).collect();
    assert_eq!(texts, ["", "", "third, untouched"], "{frames:?}");
}

#[tokio::test]
async fn sql_like_text_rtl_overrides_and_emoji_at_the_limit_are_stored_verbatim() {
    let sys = System::builder().only(&["chat-persistence", "feed"]).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let texts = [
        "'; drop table post; -- \" or 1=1 /*".to_owned(),
        "\u{202E}gnp.exe \u{200F}\u{2067}isolated\u{2069}".to_owned(),
        "🎉".repeat(5000),
    ];
    for text in &texts {
        let (status, post) = sys.post(0, "/api/posts", alice, json!({"content": text})).await;
        assert_eq!(status, 201, "{post}");
        assert_eq!(post["content"].as_str(), Some(text.as_str()));
    }
    let (status, _) = sys.post(0, "/api/posts", alice, json!({"content": "🎉".repeat(5001)})).await;
    assert_eq!(status, 400, "5000 characters, counted as characters");
    let stored: Vec<String> = posts_of(&sys, alice)
        .await
        .iter()
        .map(|p| p["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, texts.iter().rev().cloned().collect::<Vec<_>>());
    // Chat content is limited in bytes: 4096 four-byte emoji is exactly 16 KiB.
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let at_limit = "😀".repeat(4096);
    assert_eq!(a.send_message(bob, &at_limit, "e1").await["type"], "message_ack");
    let over = a.send_message(bob, &"😀".repeat(4097), "e2").await;
    assert_eq!(over["code"], "too_large");
    assert_eq!(a.send_message(bob, &texts[0], "e3").await["type"], "message_ack");
    assert_eq!(a.send_message(bob, &texts[1], "e4").await["type"], "message_ack");
    let (_, history) = sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), bob).await;
    let got: Vec<&str> =
        history.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(got, [texts[1].as_str(), texts[0].as_str(), at_limit.as_str()]);
}
