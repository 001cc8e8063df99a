//! Chat end to end: the real gateway and chat-persistence binaries, real
//! WebSocket clients, real PostgreSQL, Redis and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e_tests::{System, WsClient};
use fred::prelude::*;
use serde_json::json;
use uuid::Uuid;

const T: Duration = Duration::from_secs(5);

async fn chat_system(gateways: usize) -> System {
    System::builder().gateways(gateways).only(&["chat-persistence"]).start().await
}

async fn pong_still_works(c: &mut WsClient) {
    c.send_json(json!({"type": "ping"})).await;
    assert_eq!(c.recv_type("pong", T).await.expect("connection should still work")["type"], "pong");
}

#[tokio::test]
async fn handshake_refuses_missing_invalid_and_impersonating_tokens() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("ALLOWED_ORIGINS", "https://app.example")
        .start()
        .await;
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let no_token = WsClient::connect_with(&sys, 0, alice, None, Some("https://app.example")).await;
    assert_eq!(no_token.err().map(|r| r.0), Some(401));
    let garbage =
        WsClient::connect_with(&sys, 0, alice, Some("not.a.jwt"), Some("https://app.example"))
            .await;
    assert_eq!(garbage.err().map(|r| r.0), Some(401));
    let other_secret =
        shared::auth::mint("another-secret-0123456789-0123456789", alice, 60, None, None).unwrap();
    let forged =
        WsClient::connect_with(&sys, 0, alice, Some(&other_secret), Some("https://app.example"))
            .await;
    assert_eq!(forged.err().map(|r| r.0), Some(401));
    // Bob's valid token on Alice's path: impersonation.
    let imp =
        WsClient::connect_with(&sys, 0, alice, Some(&sys.token(bob)), Some("https://app.example"))
            .await;
    assert_eq!(imp.err().map(|r| r.0), Some(403));
    let bad_origin = WsClient::connect_from(&sys, 0, alice, "https://evil.example").await;
    assert_eq!(bad_origin.err().map(|r| r.0), Some(403));
    let ok = WsClient::connect_from(&sys, 0, alice, "https://app.example").await;
    assert!(ok.is_ok());
    // The token may come in the query string (browsers).
    let mut q = WsClient::connect_query(&sys, 0, bob, &sys.token(bob)).await.expect("query token");
    pong_still_works(&mut q).await;
}

#[tokio::test]
async fn seed_frames_work_verbatim_and_every_frame_type_is_answered() {
    let sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut b = WsClient::connect(&sys, 0, bob).await;

    pong_still_works(&mut a).await;
    // The seed's private_message, verbatim apart from the receiver id.
    a.send_text(&format!(
        r#"{{"type":"private_message","receiver_id":"{bob}","content":"¡Hola! ¿Cómo estás?"}}"#
    ))
    .await;
    let ack = a.recv_type("message_ack", T).await.expect("ack");
    assert_eq!(ack["client_msg_id"], serde_json::Value::Null);
    let msg = b.recv_type("private_message", T).await.expect("delivered");
    let m = &msg["message"];
    assert_eq!(m["content"], "¡Hola! ¿Cómo estás?");
    assert_eq!(m["sender_id"], alice.to_string());
    assert_eq!(m["receiver_id"], bob.to_string());
    assert_eq!(m["read"], false);
    assert_eq!(m["message_type"], "text");
    assert_eq!(m["id"], ack["message"]["id"]);
    let ts = m["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && chrono_like(ts), "{ts}");
    let id = Uuid::parse_str(m["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);

    // typing (seed) reaches the receiver.
    a.send_text(&format!(r#"{{"type":"typing","receiver_id":"{bob}"}}"#)).await;
    let typing = b.recv_type("typing", T).await.expect("typing");
    assert_eq!(typing["user_id"], alice.to_string());

    // read_receipt (seed) from the receiver reaches the sender.
    b.send_text(&format!(r#"{{"type":"read_receipt","message_id":"{id}"}}"#)).await;
    let rr = a.recv_type("read_receipt", T).await.expect("read receipt");
    assert_eq!(rr["message_id"], id.to_string());
    assert_eq!(rr["reader_id"], bob.to_string());
    assert!(rr["read_at"].as_str().unwrap().ends_with('Z'));

    // message_type and sync.
    let second = a.send_message(bob, "a picture", "c-2").await;
    assert_eq!(second["type"], "message_ack");
    a.send_json(json!({"type":"private_message","receiver_id":bob,"content":"x","message_type":"image","client_msg_id":"c-3"})).await;
    let third = a.recv_type("message_ack", T).await.unwrap();
    assert_eq!(third["message"]["message_type"], "image");
    // Both reached Bob's live connection; once confirmed they are not pending.
    for _ in 0..2 {
        b.recv_type("private_message", T).await.expect("live delivery");
    }
    wait_pending(&sys, bob, 0).await;
    // A fresh device of Bob asks for everything after the first message.
    let mut b2 = WsClient::connect(&sys, 0, bob).await;
    b2.send_json(json!({"type": "sync", "after": id})).await;
    let got: Vec<_> = b2
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .filter(|v| v["type"] == "private_message")
        .collect();
    let ids: Vec<_> = got.iter().map(|v| v["message"]["id"].clone()).collect();
    assert_eq!(ids, vec![second["message"]["id"].clone(), third["message"]["id"].clone()]);

    // History over REST shows the read flag and decrypted content, newest first.
    let (status, body) = sys
        .get(0, &format!("/api/messages?user1={alice}&user2={bob}&limit=50&offset=0"), bob)
        .await;
    assert_eq!(status, 200);
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[2]["content"], "¡Hola! ¿Cómo estás?");
    assert_eq!(list[2]["read"], true);
    assert_eq!(list[0]["id"], third["message"]["id"]);
}

async fn wait_pending(sys: &System, user: Uuid, want: u64) {
    for _ in 0..50 {
        let (_, body) = sys.get(0, "/api/messages/pending", user).await;
        if body["pending"].as_u64() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pending count of {user} never reached {want}");
}

fn chrono_like(ts: &str) -> bool {
    ts.len() >= 20 && ts.as_bytes()[4] == b'-' && ts.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn bad_frames_get_error_codes_and_the_connection_keeps_working() {
    let sys = chat_system(1).await;
    let alice = Uuid::now_v7();
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let cases = [
        ("not json".to_owned(), "invalid_json"),
        (r#"{"type":"dance"}"#.to_owned(), "unknown_type"),
        (r#"{"content":"no type"}"#.to_owned(), "missing_field"),
        (r#"{"type":"private_message","content":"hi"}"#.to_owned(), "missing_field"),
        (
            r#"{"type":"private_message","receiver_id":"nope","content":"hi"}"#.to_owned(),
            "invalid_uuid",
        ),
        (
            format!(
                r#"{{"type":"private_message","receiver_id":"{}","content":"   "}}"#,
                Uuid::now_v7()
            ),
            "empty_content",
        ),
        (
            format!(
                r#"{{"type":"private_message","receiver_id":"{}","content":"{}"}}"#,
                Uuid::now_v7(),
                "x".repeat(20_000)
            ),
            "too_large",
        ),
        (
            format!(r#"{{"type":"private_message","receiver_id":"{alice}","content":"me"}}"#),
            "invalid_argument",
        ),
        (
            format!(
                r#"{{"type":"private_message","receiver_id":"{}","content":"x","client_msg_id":"{}"}}"#,
                Uuid::now_v7(),
                "k".repeat(65)
            ),
            "invalid_argument",
        ),
        (
            format!(
                r#"{{"type":"private_message","receiver_id":"{}","content":"x","message_type":"hologram"}}"#,
                Uuid::now_v7()
            ),
            "invalid_argument",
        ),
        (r#"{"type":"typing","receiver_id":"zzz"}"#.to_owned(), "invalid_uuid"),
        (r#"{"type":"read_receipt"}"#.to_owned(), "missing_field"),
        (format!(r#"{{"type":"read_receipt","message_id":"{}"}}"#, Uuid::now_v7()), "not_found"),
        (r#"{"type":"sync","after":"yesterday"}"#.to_owned(), "invalid_uuid"),
        (r#"{"type":"sync"}"#.to_owned(), "missing_field"),
        (r#"{"type":"sync","after_seq":-3}"#.to_owned(), "invalid_argument"),
        (r#"{"type":"sync","after_seq":"12"}"#.to_owned(), "invalid_argument"),
        ("x".repeat(70 * 1024), "too_large"),
    ];
    for (frame, code) in &cases {
        a.send_text(frame).await;
        let e = a.recv_type("error", T).await.unwrap_or_else(|| panic!("no error for {code}"));
        assert_eq!(e["code"], *code, "frame {:.60}", frame);
        assert!(!e["message"].as_str().unwrap().is_empty());
        pong_still_works(&mut a).await;
    }
    // Nothing valid was lost among the bad frames.
    let bob = Uuid::now_v7();
    assert_eq!(a.send_message(bob, "still here", "ok-1").await["type"], "message_ack");
}

#[tokio::test]
async fn oversized_frames_that_persist_close_with_1009_and_bad_utf8_with_1007() {
    let sys = chat_system(1).await;
    let mut a = WsClient::connect(&sys, 0, Uuid::now_v7()).await;
    for _ in 0..3 {
        a.send_text(&"y".repeat(65 * 1024)).await;
    }
    assert_eq!(a.expect_close(T).await, Some(1009));
    let mut b = WsClient::connect(&sys, 0, Uuid::now_v7()).await;
    b.send_raw(tokio_tungstenite::tungstenite::Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(b.recv_type("error", T).await.unwrap()["code"], "invalid_json");
    // A text frame whose payload is not UTF-8 cannot be sent by tungstenite's
    // typed API; a raw frame with invalid bytes is built by hand.
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        vec![0xff, 0xfe, 0xfd],
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    b.send_raw(tokio_tungstenite::tungstenite::Message::Frame(frame)).await;
    assert_eq!(b.expect_close(T).await, Some(1007));
}

#[tokio::test]
async fn rate_limited_clients_get_errors_then_1008() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("WS_RATE_PER_SEC", "1")
        .env("WS_RATE_BURST", "2")
        .start()
        .await;
    let mut a = WsClient::connect(&sys, 0, Uuid::now_v7()).await;
    let bob = Uuid::now_v7();
    for _ in 0..3 {
        a.send_json(json!({"type":"typing","receiver_id":bob})).await;
    }
    assert_eq!(a.recv_type("error", T).await.unwrap()["code"], "rate_limited");
    pong_still_works(&mut a).await;
    for _ in 0..30 {
        a.send_json(json!({"type":"typing","receiver_id":bob})).await;
    }
    assert_eq!(a.expect_close(T).await, Some(1008));
}

#[tokio::test]
async fn offline_receiver_gets_every_pending_message_in_order_on_connect() {
    let sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut sent = Vec::new();
    for i in 0..25 {
        let ack = a.send_message(bob, &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(ack["type"], "message_ack");
        sent.push(ack["message"]["id"].clone());
    }
    let (s, body) = sys.get(0, "/api/messages/pending", bob).await;
    assert_eq!((s, body["pending"].as_u64()), (200, Some(25)));
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let got: Vec<_> = b
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .filter(|v| v["type"] == "private_message")
        .collect();
    let ids: Vec<_> = got.iter().map(|v| v["message"]["id"].clone()).collect();
    assert_eq!(ids, sent, "every pending message, once, in order");
    assert_eq!(got[0]["message"]["content"], "m0");
    // Delivered: not pending any more, and not again on the next connect.
    wait_pending(&sys, bob, 0).await;
    b.close().await;
    let mut b2 = WsClient::connect(&sys, 0, bob).await;
    assert!(
        b2.drain(Duration::from_millis(800)).await.iter().all(|v| v["type"] != "private_message")
    );
    // Conversations list the partner with the last message.
    let (s, convs) = sys.get(0, "/api/conversations", alice).await;
    assert_eq!(s, 200);
    assert_eq!(convs[0]["partner_id"], bob.to_string());
    assert_eq!(convs[0]["last_message"]["content"], "m24");
    let (_, convs) = sys.get(0, "/api/conversations", bob).await;
    assert_eq!(convs[0]["unread_count"], 25);
}

#[tokio::test]
async fn every_device_gets_every_event_and_gateways_route_across() {
    let sys = chat_system(2).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut a_phone = WsClient::connect(&sys, 1, alice).await;
    let mut b1 = WsClient::connect(&sys, 1, bob).await;
    let mut b2 = WsClient::connect(&sys, 0, bob).await;
    let ack = a.send_message(bob, "to both devices", "x1").await;
    let id = ack["message"]["id"].clone();
    for b in [&mut b1, &mut b2] {
        assert_eq!(b.recv_type("private_message", T).await.unwrap()["message"]["id"], id);
    }
    // The sender's other device sees what was sent; the sending one only its ack.
    assert_eq!(a_phone.recv_type("private_message", T).await.unwrap()["message"]["id"], id);
    assert!(
        a.drain(Duration::from_millis(500)).await.iter().all(|v| v["type"] != "private_message")
    );
    // Typing crosses gateways too.
    b1.send_json(json!({"type":"typing","receiver_id":alice})).await;
    assert_eq!(a.recv_type("typing", T).await.unwrap()["user_id"], bob.to_string());
    // Operators see it in the metrics.
    let metrics =
        reqwest::get(format!("{}/metrics", sys.gateway(0))).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gateway_connections 2"), "{metrics}");
    assert!(metrics.contains("gateway_send_seconds_bucket"), "{metrics}");
    let chat = sys.backends[0].url();
    let metrics = reqwest::get(format!("{chat}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("chat_messages_committed_total 1"), "{metrics}");
    assert!(metrics.contains("chat_commit_seconds_bucket"), "{metrics}");
}

#[tokio::test]
async fn resending_a_client_msg_id_yields_one_message() {
    let sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let first = a.send_message(bob, "once", "same-id").await;
    for _ in 0..3 {
        let again = a.send_message(bob, "once", "same-id").await;
        assert_eq!(again["type"], "message_ack");
        assert_eq!(again["message"]["id"], first["message"]["id"]);
        assert_eq!(again["duplicate"], true);
    }
    let got: Vec<_> = b
        .drain(Duration::from_secs(1))
        .await
        .into_iter()
        .filter(|v| v["type"] == "private_message")
        .collect();
    assert_eq!(got.len(), 1, "the receiver sees the message once");
    let db = sys.db("chat").await;
    let n: i64 = sqlx::query_scalar("select count(*) from message where sender_id = $1")
        .bind(alice)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn only_the_receiver_reads_and_only_participants_see_history() {
    let sys = chat_system(1).await;
    let (alice, bob, eve) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut e = WsClient::connect(&sys, 0, eve).await;
    let ack = a.send_message(bob, "private", "p1").await;
    let id = ack["message"]["id"].as_str().unwrap().to_owned();
    // Neither a third user nor the sender may mark it read.
    e.send_json(json!({"type":"read_receipt","message_id":id})).await;
    assert_eq!(e.recv_type("error", T).await.unwrap()["code"], "forbidden");
    a.send_json(json!({"type":"read_receipt","message_id":id})).await;
    assert_eq!(a.recv_type("error", T).await.unwrap()["code"], "forbidden");
    let (s, body) = sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), eve).await;
    assert_eq!(s, 403);
    assert_eq!(body["code"], "forbidden");
    let (s, _) = sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), alice).await;
    assert_eq!(s, 200);
    for (q, field) in [
        (format!("user1={alice}&user2={bob}&limit=0"), "limit"),
        (format!("user1={alice}&user2={bob}&limit=101"), "limit"),
        (format!("user1={alice}&user2={bob}&offset=-1"), "offset"),
        (format!("user1=nope&user2={bob}"), "user1"),
        (format!("user1={alice}"), "user2"),
    ] {
        let (s, body) = sys.get(0, &format!("/api/messages?{q}"), alice).await;
        assert_eq!(s, 400, "{q}");
        assert_eq!(body["field"], field, "{q}");
    }
    let r = sys
        .http()
        .get(format!("{}/api/messages?user1={alice}&user2={bob}", sys.gateway(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn pending_messages_need_no_redis_and_rest_encrypted() {
    let sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let secret = "the-plaintext-marker-ZQX";
    for i in 0..5 {
        assert_eq!(
            a.send_message(bob, &format!("{secret} {i}"), &format!("r{i}")).await["type"],
            "message_ack"
        );
    }
    // The pending queue is the stream after the delivered cursor, in
    // PostgreSQL: losing Redis loses nothing (chat keeps nothing there).
    sys.redis_delete_prefix().await;
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let got: Vec<_> = b
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .filter(|v| v["type"] == "private_message")
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got[4]["message"]["content"], format!("{secret} 4"));
    // No plaintext rests in PostgreSQL or Redis.
    let db = sys.db("chat").await;
    let rows: Vec<Vec<u8>> =
        sqlx::query_scalar("select content_enc from message").fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(!r.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    let dump: String = sqlx::query_scalar("select string_agg(m::text, ',') from message m")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(!dump.contains(secret));
    let redis = sys.redis().await;
    let keys: Vec<String> =
        redis.custom(fred::cmd!("KEYS"), vec![format!("{}*", sys.env.redis_prefix)]).await.unwrap();
    for k in keys {
        let t: String = redis.custom(fred::cmd!("TYPE"), vec![k.clone()]).await.unwrap();
        if t == "zset" {
            let members: Vec<String> =
                redis.custom(fred::cmd!("ZRANGE"), vec![k, "0".into(), "-1".into()]).await.unwrap();
            assert!(members.iter().all(|m| !m.contains(secret)));
        }
    }
}

#[tokio::test]
async fn sends_fail_fast_while_chat_persistence_is_down_and_resend_yields_one() {
    let mut sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    sys.service("chat-persistence").kill().await;
    let (status, body) =
        sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}"), alice).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")));
    let started = std::time::Instant::now();
    let e = a.send_message(bob, "while down", "down-1").await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unavailable");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    sys.service("chat-persistence").restart().await;
    let ok = a.send_message(bob, "while down", "down-1").await;
    assert_eq!(ok["type"], "message_ack");
    let again = a.send_message(bob, "while down", "down-1").await;
    assert_eq!(again["message"]["id"], ok["message"]["id"]);
}

#[tokio::test]
async fn sigkill_of_chat_persistence_loses_no_acknowledged_message_and_duplicates_none() {
    let mut sys =
        System::builder().only(&["chat-persistence"]).env("WS_RATE_PER_SEC", "1000").start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let total = 60;
    let mut acked = std::collections::BTreeMap::new();
    let mut i = 0;
    let mut killed = false;
    while i < total {
        if i == 20 && !killed {
            killed = true;
            sys.service("chat-persistence").kill().await;
            // Restart in the background while the client keeps trying.
            let mut svc = sys.backends.remove(0);
            let handle = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                svc.restart().await;
                svc
            });
            // Sends during the outage get `unavailable` and are retried with the same id.
            loop {
                let r = a.send_message(bob, &format!("k{i}"), &format!("k{i}")).await;
                if r["type"] == "message_ack" {
                    acked.insert(i, r["message"]["id"].clone());
                    break;
                }
                assert_eq!(r["code"], "unavailable");
                tokio::time::sleep(Duration::from_millis(100)).await;
                if handle.is_finished() {
                    break;
                }
            }
            sys.backends.insert(0, handle.await.unwrap());
            if acked.contains_key(&i) {
                i += 1;
            }
            continue;
        }
        let r = a.send_message(bob, &format!("k{i}"), &format!("k{i}")).await;
        if r["type"] == "message_ack" {
            acked.insert(i, r["message"]["id"].clone());
            i += 1;
        } else {
            assert_eq!(r["code"], "unavailable");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(acked.len(), total);
    let db = sys.db("chat").await;
    let rows: Vec<(Uuid, Option<String>)> =
        sqlx::query_as("select message_id, client_msg_id from message where sender_id = $1")
            .bind(alice)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(rows.len(), total, "one row per acknowledged message, no duplicates");
    for (k, id) in &acked {
        let id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
        assert!(
            rows.iter().any(|(rid, cid)| *rid == id && cid.as_deref() == Some(&format!("k{k}")))
        );
    }
    // The receiver ends up with every message exactly once (live, or after reconnecting).
    let mut seen = std::collections::HashSet::new();
    let live = b.drain(Duration::from_secs(2)).await;
    eprintln!("live frames: {}", live.len());
    for v in live {
        if v["type"] == "private_message" {
            assert!(seen.insert(v["message"]["id"].to_string()), "duplicate on one connection");
        }
    }
    b.close().await;
    let mut b2 = WsClient::connect(&sys, 0, bob).await;
    for v in b2.drain(Duration::from_secs(2)).await {
        if v["type"] == "private_message" {
            seen.insert(v["message"]["id"].to_string());
        }
    }
    assert_eq!(seen.len(), total);
}

#[tokio::test]
async fn sigterm_drains_a_gateway_with_1012_and_keeps_every_acknowledged_message() {
    let mut sys = chat_system(1).await;
    let bob = Uuid::now_v7();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(WsClient::connect(&sys, 0, Uuid::now_v7()).await);
    }
    // Every client fires sends without waiting for acks, then the gateway is told to stop.
    for (n, c) in clients.iter_mut().enumerate() {
        for i in 0..20 {
            c.send_json(json!({"type":"private_message","receiver_id":bob,"content":format!("d{n}-{i}"),"client_msg_id":format!("d{n}-{i}")})).await;
        }
    }
    // Once every client has an ack, the rest of its sends are in flight.
    let mut acked = Vec::new();
    for c in clients.iter_mut() {
        let first = c.recv_type("message_ack", T).await.expect("first ack");
        acked.push(first["message"]["id"].as_str().unwrap().to_owned());
    }
    let pid = sys.gateways[0].pid().unwrap();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    for c in clients.iter_mut() {
        let (frames, code) = c.until_close(Duration::from_secs(15)).await;
        assert_eq!(code, Some(1012), "clients are told to reconnect elsewhere");
        for v in frames {
            if v["type"] == "message_ack" {
                acked.push(v["message"]["id"].as_str().unwrap().to_owned());
            } else {
                // Anything not acknowledged was answered (e.g. unavailable), never dropped silently.
                assert!(v["type"] == "error" || v["type"] == "private_message", "{v}");
            }
        }
    }
    let status = sys.gateways[0].terminate(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "gateway exits cleanly in time: {status:?}");
    assert!(!acked.is_empty());
    let db = sys.db("chat").await;
    for id in &acked {
        let id = Uuid::parse_str(id).unwrap();
        let n: i64 = sqlx::query_scalar("select count(*) from message where message_id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged message {id} is in postgresql");
    }
}

#[tokio::test]
async fn idle_connections_are_closed_and_connections_per_user_are_capped() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("WS_IDLE_TIMEOUT_SECS", "1")
        .env("WS_PING_INTERVAL_SECS", "1")
        .env("WS_MAX_CONNECTIONS_PER_USER", "2")
        .start()
        .await;
    let alice = Uuid::now_v7();
    let _one = WsClient::connect(&sys, 0, alice).await;
    let mut two = WsClient::connect(&sys, 0, alice).await;
    let third = WsClient::connect_with(&sys, 0, alice, Some(&sys.token(alice)), None).await;
    assert_eq!(third.err().map(|r| r.0), Some(429));
    // A client that neither sends nor answers pings is closed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(two.expect_close(T).await, Some(1000));
}

#[tokio::test]
async fn a_slow_reader_is_never_closed_and_gets_everything_once_in_order() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("WS_OUTBOUND_QUEUE", "8")
        .unlimited()
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut slow = WsClient::connect(&sys, 0, bob).await;
    // Bob reads nothing while Alice sends far more than socket buffers and his queue hold.
    let big = "z".repeat(15_000);
    let mut acked = Vec::new();
    for i in 0..600 {
        let ack = a.send_message(bob, &big, &format!("s{i}")).await;
        assert_eq!(ack["type"], "message_ack");
        acked.push(ack["message"]["id"].as_str().unwrap().to_owned());
    }
    // Then he reads: what did not fit his queue is fetched from the stream as he reads.
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while got.len() < acked.len() {
        let v =
            slow.recv_json(Duration::from_secs(10)).await.expect("the slow reader got everything");
        assert_ne!(v["type"], "error", "{v}");
        if v["type"] == "private_message" {
            got.push(v["message"]["id"].as_str().unwrap().to_owned());
            seqs.push(v["message"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(got, acked, "every message once, in send order");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "positions are dense and increasing");
    // A sync from the start on the same connection brings nothing written already.
    slow.send_json(json!({"type": "sync", "after": "00000000-0000-0000-0000-000000000000"})).await;
    let again = slow.drain(Duration::from_secs(2)).await;
    assert!(again.iter().all(|v| v["type"] != "private_message"), "no id twice on one connection");
    pong_still_works(&mut slow).await;
}

#[tokio::test]
async fn pages_of_large_messages_are_complete() {
    let sys = System::builder().only(&["chat-persistence"]).unlimited().start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let big = "é".repeat(8_000); // 16 000 bytes: 100 of them are over 1 MB
    for i in 0..100 {
        assert_eq!(a.send_message(bob, &big, &format!("L{i}")).await["type"], "message_ack");
    }
    let (s, body) =
        sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}&limit=100"), bob).await;
    assert_eq!(s, 200);
    assert_eq!(body.as_array().unwrap().len(), 100, "a full page, however large");
    // All 100 pending messages arrive on connect, though no single reply can carry them.
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let got = b.drain(Duration::from_secs(3)).await;
    assert_eq!(got.iter().filter(|v| v["type"] == "private_message").count(), 100);
}

#[tokio::test]
async fn rest_requests_over_the_rate_get_429_with_retry_after() {
    let sys = System::builder()
        .only(&["chat-persistence"])
        .env("API_RATE_PER_SEC", "1")
        .env("API_RATE_BURST", "2")
        .start()
        .await;
    let alice = Uuid::now_v7();
    let url = format!("{}/api/messages/pending", sys.gateway(0));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let r = sys.http().get(&url).bearer_auth(sys.token(alice)).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    // Every response carries a request id: the client's own when it sent one.
    let r = sys
        .http()
        .get(&url)
        .bearer_auth(sys.token(Uuid::now_v7()))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let r = sys.http().get(&url).bearer_auth(sys.token(Uuid::now_v7())).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 32);
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Another user is not affected.
    let (s, _) = sys.get(0, "/api/messages/pending", Uuid::now_v7()).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn sends_fail_fast_while_postgresql_is_unreachable_and_resend_yields_one() {
    let proxy = e2e_tests::Proxy::start().await;
    let env = e2e_tests::TestEnv::new();
    let url = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, env.database);
    let sys = System::builder().only(&["chat-persistence"]).env("DATABASE_URL", &url).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    assert_eq!(a.send_message(bob, "before", "pg-0").await["type"], "message_ack");
    proxy.cut().await;
    let started = std::time::Instant::now();
    let e = a.send_message(bob, "during", "pg-1").await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("unavailable")));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    proxy.restore();
    // Resent with the same id until the database is back: exactly one message.
    let mut acked = None;
    for _ in 0..50 {
        let r = a.send_message(bob, "during", "pg-1").await;
        if r["type"] == "message_ack" {
            acked = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(acked.is_some(), "the send succeeds once PostgreSQL is back");
    let again = a.send_message(bob, "during", "pg-1").await;
    assert_eq!(again["message"]["id"], acked.unwrap()["message"]["id"]);
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let got: Vec<_> = b
        .drain(Duration::from_secs(2))
        .await
        .into_iter()
        .filter(|v| v["type"] == "private_message")
        .collect();
    assert_eq!(got.len(), 2, "before + during, once each");
}

#[tokio::test]
async fn keys_rotate_and_a_message_that_cannot_open_never_breaks_a_page() {
    let mut sys = chat_system(1).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    for i in 0..2 {
        assert_eq!(
            a.send_message(bob, &format!("old {i}"), &format!("o{i}")).await["type"],
            "message_ack"
        );
    }
    let old_key = sys.env.encryption_key.clone();
    let new_key = shared::crypto::generate_key_base64().unwrap();
    // Rotate: the new key seals, the old one still opens.
    let svc = sys.service("chat-persistence");
    svc.set_env("ENCRYPTION_KEY", &new_key);
    svc.set_env("ENCRYPTION_OLD_KEYS", &old_key);
    svc.restart().await;
    assert_eq!(a.send_message(bob, "new 0", "n0").await["type"], "message_ack");
    let history = format!("/api/messages?user1={alice}&user2={bob}");
    let (s, body) = sys.get(0, &history, alice).await;
    assert_eq!(s, 200);
    let contents: Vec<&str> =
        body.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["new 0", "old 1", "old 0"]);
    // Two key ids rest in the table: the rotation really happened.
    let db = sys.db("chat").await;
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("select content_enc from message order by message_id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(envelopes[0][1..9], envelopes[1][1..9]);
    assert_ne!(envelopes[0][1..9], envelopes[2][1..9]);
    // Forget the old key: its messages are flagged, the page still answers.
    let svc = sys.service("chat-persistence");
    svc.remove_env("ENCRYPTION_OLD_KEYS");
    svc.restart().await;
    let (s, body) = sys.get(0, &history, alice).await;
    assert_eq!(s, 200);
    let list = body.as_array().unwrap();
    assert_eq!(list[0]["content"], "new 0");
    assert!(list[0].get("undecryptable").is_none());
    for m in &list[1..] {
        assert_eq!(m["undecryptable"], true, "{m}");
        assert_eq!(m["content"], "");
    }
}
