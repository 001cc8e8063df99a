//! Message path v2: order at commit with several replicas, never the same
//! id twice on one connection however large the catch-up, durable read
//! receipts, and delivery state as a cursor (no second write per message).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::{collections::HashSet, time::Duration};

use e2e_tests::{System, WsClient};
use serde_json::{Value, json};
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);
const NIL: &str = "00000000-0000-0000-0000-000000000000";

fn messages(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|v| v["type"] == "private_message").collect()
}

/// Sends `n` messages keeping `window` in flight; returns the acked ids in send order.
async fn send_pipelined(a: &mut WsClient, to: Uuid, n: usize, window: usize) -> Vec<String> {
    let mut acked = vec![String::new(); n];
    let (mut sent, mut done) = (0, 0);
    while done < n {
        while sent < n && sent - done < window {
            a.send_json(json!({"type": "private_message", "receiver_id": to,
                "content": format!("o{sent}"), "client_msg_id": format!("c{sent}")}))
                .await;
            sent += 1;
        }
        let v = a.recv_json(T).await.expect("an ack");
        if v["type"] == "message_ack" {
            let i: usize = v["client_msg_id"].as_str().unwrap()[1..].parse().unwrap();
            acked[i] = v["message"]["id"].as_str().unwrap().to_owned();
            done += 1;
        } else {
            assert_ne!(v["type"], "error", "{v}");
        }
    }
    acked
}

#[tokio::test]
async fn live_order_holds_with_two_chat_persistence_replicas_and_16_in_flight() {
    let sys = System::builder()
        .only(&["chat-persistence", "chat-persistence", "presence"])
        .gateways(2)
        .unlimited()
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut b = WsClient::connect(&sys, 1, bob).await;
    let mut b2 = WsClient::connect(&sys, 0, bob).await;
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let n = 400;
    let acked = send_pipelined(&mut a, bob, n, 16).await;
    for (name, conn) in [("gateway 1", &mut b), ("gateway 0", &mut b2)] {
        let mut got = Vec::new();
        while got.len() < n {
            let v = conn.recv_json(T).await.unwrap_or_else(|| panic!("{name}: got {}", got.len()));
            if v["type"] == "private_message" {
                assert_eq!(v["message"]["seq"].as_u64(), Some(got.len() as u64 + 1), "{name}");
                got.push(v["message"]["id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(got, acked, "{name}: live frames in send order");
    }
    // Both replicas took part.
    for replica in sys.backends.iter().filter(|s| s.name == "chat-persistence") {
        let metrics = reqwest::get(format!("{}/metrics", replica.url())).await.unwrap();
        let text = metrics.text().await.unwrap();
        assert!(text.contains("chat_messages_committed_total"), "a replica committed nothing");
    }
    // History shows the same order, newest first.
    let (status, history) =
        sys.get(0, &format!("/api/messages?user1={alice}&user2={bob}&limit=100"), bob).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        history.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    let newest: Vec<&str> = acked.iter().rev().take(100).map(String::as_str).collect();
    assert_eq!(ids, newest);
}

#[tokio::test]
async fn twenty_thousand_pending_then_syncs_never_write_an_id_twice() {
    let sys = System::builder()
        .only(&["chat-persistence", "presence"])
        .env("WS_RATE_PER_SEC", "1000000")
        .env("WS_RATE_BURST", "1000000")
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let n = 20_000;
    let acked = send_pipelined(&mut a, bob, n, 32).await;
    let (_, pending) = sys.get(0, "/api/messages/pending", bob).await;
    assert_eq!(pending["pending"], n);

    let mut b = WsClient::connect(&sys, 0, bob).await;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let v = b.recv_json(T).await.unwrap_or_else(|| panic!("drain stopped at {}", got.len()));
        if v["type"] == "private_message" {
            got.push(v["message"]["id"].as_str().unwrap().to_owned());
        }
    }
    // Syncs from the start and from the middle, as a reconnecting client does.
    for after in [NIL, acked[0].as_str(), acked[n / 2].as_str(), acked[n - 1].as_str()] {
        b.send_json(json!({"type": "sync", "after": after})).await;
        b.send_json(json!({"type": "sync", "after_seq": 0})).await;
    }
    let rest = b.drain(Duration::from_secs(3)).await;
    got.extend(messages(&rest).iter().map(|v| v["message"]["id"].as_str().unwrap().to_owned()));
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an id was written twice on one connection");
    assert_eq!(got, acked, "everything once, in order");
    // Delivered is a cursor: once written, nothing is pending any more.
    let mut left = n as u64;
    for _ in 0..50 {
        let (_, p) = sys.get(0, "/api/messages/pending", bob).await;
        left = p["pending"].as_u64().unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_new_connection_that_syncs_from_an_old_id_gets_what_it_lacks_once() {
    let sys = System::builder().only(&["chat-persistence", "presence"]).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let ack = a.send_message(bob, &format!("m{i}"), &format!("k{i}")).await;
        ids.push(ack["message"]["id"].as_str().unwrap().to_owned());
    }
    // Bob's first device reads the first four and goes away.
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let first = b.drain(Duration::from_secs(1)).await;
    assert_eq!(messages(&first).len(), 6);
    b.close().await;
    tokio::time::sleep(Duration::from_millis(400)).await; // the delivered cursor moves
    // A device that only has m0..m1 connects: nothing is pending, it syncs after m1.
    let mut c = WsClient::connect(&sys, 0, bob).await;
    c.send_json(json!({"type": "sync", "after": ids[1]})).await;
    c.send_json(json!({"type": "sync", "after": ids[3]})).await;
    let frames = c.drain(Duration::from_secs(2)).await;
    let got: Vec<&str> =
        messages(&frames).iter().map(|v| v["message"]["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids[2..].iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn read_receipts_reach_every_device_of_the_sender_and_the_readers_other_devices() {
    let sys = System::builder().only(&["chat-persistence", "presence"]).gateways(2).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let ack = a.send_message(bob, "read me", "r1").await;
    let id = ack["message"]["id"].as_str().unwrap().to_owned();
    a.close().await; // the sender is offline when the message is read
    let mut b1 = WsClient::connect(&sys, 0, bob).await;
    let mut b2 = WsClient::connect(&sys, 1, bob).await;
    b1.drain(Duration::from_millis(500)).await;
    b2.drain(Duration::from_millis(500)).await;
    b1.send_json(json!({"type": "read_receipt", "message_id": id})).await;
    let other = b2.recv_type("read_receipt", T).await.expect("the reader's other device learns it");
    assert_eq!(other["message_id"], id.as_str());
    assert_eq!(other["reader_id"], bob.to_string());
    let own = b1.drain(Duration::from_millis(500)).await;
    assert!(own.iter().all(|v| v["type"] != "read_receipt"), "not echoed to the reading device");
    // The sender's next connection gets it in the pending drain; a second
    // device, which finds the user's delivered cursor past it, gets it with
    // the `sync` a reconnecting client sends (after the last message it has).
    let mut dev = WsClient::connect(&sys, 0, alice).await;
    let r = dev.recv_type("read_receipt", T).await.expect("the offline sender gets the receipt");
    assert_eq!(r["message_id"], id.as_str());
    assert!(r["seq"].as_u64().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await; // the delivered cursor moves
    let mut other = WsClient::connect(&sys, 1, alice).await;
    other.send_json(json!({"type": "sync", "after": id})).await;
    let r2 = other.recv_type("read_receipt", T).await.expect("the sender's other device syncs it");
    assert_eq!(r2["message_id"], id.as_str());
    for conn in [&mut dev, &mut other] {
        let frames = conn.drain(Duration::from_millis(300)).await;
        assert!(frames.iter().all(|v| v["type"] != "read_receipt"), "once per connection");
    }
    // Reading again changes nothing and adds no event.
    b1.send_json(json!({"type": "read_receipt", "message_id": id})).await;
    assert!(b2.drain(Duration::from_secs(1)).await.iter().all(|v| v["type"] != "read_receipt"));
}

#[tokio::test]
async fn no_message_row_is_written_twice_on_the_normal_path() {
    let sys = System::builder().only(&["chat-persistence", "presence"]).unlimited().start().await;
    let db = sys.db("chat").await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let acked = send_pipelined(&mut a, bob, 200, 16).await;
    let got = b.drain(Duration::from_secs(2)).await;
    assert_eq!(messages(&got).len(), acked.len());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // n_tup_upd counts every rewrite of a row: delivery moves a cursor, not
    // the messages. A backend publishes its statistics when idle, within
    // about 10 s: wait until the inserts show, so the update count is read
    // from the same flush.
    let mut stats = (0, 0);
    for _ in 0..200 {
        stats = sqlx::query_as(
            "select n_tup_ins, n_tup_upd from pg_stat_user_tables \
             where relname = 'message' and schemaname = 'chat'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if stats.0 >= acked.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (inserted, updated): (i64, i64) = stats;
    assert_eq!(inserted, acked.len() as i64);
    assert_eq!(updated, 0, "a message row was rewritten on the normal path");
    let delivered: i64 =
        sqlx::query_scalar("select delivered_seq from stream_cursor where user_id = $1")
            .bind(bob)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(delivered, acked.len() as i64);
}
