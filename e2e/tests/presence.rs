//! Presence end to end: real gateways, presence, chat-persistence (and feed
//! where follows matter) as processes, real WebSocket clients, real Redis
//! and NATS. Contacts are made the way users make them: a private message,
//! or a follow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use e2e_tests::{System, WsClient};
use serde_json::Value;
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);
/// The grace most tests run with, to be quick (the default is 2 s).
const GRACE_MS: &str = "500";

async fn system(gateways: usize, grace_ms: Option<&str>) -> System {
    let mut b = System::builder().gateways(gateways).only(&["chat-persistence", "presence"]);
    if let Some(g) = grace_ms {
        b = b.env("PRESENCE_GRACE_MS", g);
    }
    b.start().await
}

/// Makes `from` and `to` contacts: `from` sends `to` a private message.
async fn message(from: &mut WsClient, to: Uuid) {
    let ack = from.send_message(to, "hello", &Uuid::new_v4().to_string()).await;
    assert_eq!(ack["type"], "message_ack", "{ack}");
}

fn status_of(v: &Value) -> Option<(Uuid, bool)> {
    if v["type"] != "user_status" {
        return None;
    }
    Some((v["user_id"].as_str()?.parse().ok()?, v["online"].as_bool()?))
}

/// The next user_status frame, skipping other frames.
async fn next_status(c: &mut WsClient, timeout: Duration) -> Option<(Uuid, bool)> {
    status_of(&c.recv_type("user_status", timeout).await?)
}

/// Every user_status frame that arrives within `window`.
async fn statuses(c: &mut WsClient, window: Duration) -> Vec<(Uuid, bool)> {
    c.drain(window).await.iter().filter_map(status_of).collect()
}

async fn online_count(sys: &System, gw: usize) -> u64 {
    let (status, body) = sys.get(gw, "/api/stats/online", Uuid::now_v7()).await;
    assert_eq!(status, 200, "{body}");
    body["online"].as_u64().unwrap()
}

async fn wait_online_count(sys: &System, gw: usize, want: u64) {
    let deadline = Instant::now() + T;
    loop {
        let n = online_count(sys, gw).await;
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "online count stuck at {n}, expected {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn online_and_offline_reach_a_contact_on_the_other_gateway() {
    let sys = system(2, Some(GRACE_MS)).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    // Let presence answer alice's connection first: a snapshot computed
    // after the message below would rightly list bob, offline.
    wait_online_count(&sys, 0, 1).await;
    assert!(statuses(&mut a, Duration::from_millis(200)).await.is_empty());
    message(&mut a, bob).await;

    let mut b = WsClient::connect(&sys, 1, bob).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));
    assert_eq!(next_status(&mut b, T).await, Some((alice, true)), "bob's snapshot");
    b.close().await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, false)));

    // And the other way round: alice's status reaches bob.
    let mut b = WsClient::connect(&sys, 1, bob).await;
    assert_eq!(next_status(&mut b, T).await, Some((alice, true)), "bob's snapshot");
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));
    a.close().await;
    assert_eq!(next_status(&mut b, T).await, Some((alice, false)));
}

#[tokio::test]
async fn a_non_contact_hears_nothing() {
    let sys = system(2, Some(GRACE_MS)).await;
    let (alice, bob, carol, dave) =
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;
    // Carol and Dave are strangers to both, one on each gateway.
    let mut c = WsClient::connect(&sys, 0, carol).await;
    let mut d = WsClient::connect(&sys, 1, dave).await;

    let b = WsClient::connect(&sys, 1, bob).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));
    b.close().await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, false)));
    a.close().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(statuses(&mut c, Duration::from_millis(300)).await, vec![]);
    assert_eq!(statuses(&mut d, Duration::from_millis(300)).await, vec![]);
}

#[tokio::test]
async fn with_two_devices_offline_comes_only_after_both_close() {
    let sys = system(2, Some(GRACE_MS)).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;

    let phone = WsClient::connect(&sys, 0, bob).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));
    let laptop = WsClient::connect(&sys, 1, bob).await;
    phone.close().await;
    assert_eq!(statuses(&mut a, Duration::from_millis(2000)).await, vec![], "the laptop is open");

    laptop.close().await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, false)));
}

#[tokio::test]
async fn users_of_a_killed_gateway_are_reported_offline_within_30_seconds() {
    // Default timings: heartbeat every 5 s, a gateway expires after 15 s.
    let mut sys = system(2, None).await;
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;
    let _b = WsClient::connect(&sys, 1, bob).await;
    let _c = WsClient::connect(&sys, 1, carol).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));
    wait_online_count(&sys, 0, 3).await;

    let killed = Instant::now();
    sys.kill_gateway(1).await;
    assert_eq!(next_status(&mut a, Duration::from_secs(30)).await, Some((bob, false)));
    assert!(killed.elapsed() < Duration::from_secs(30), "took {:?}", killed.elapsed());
    wait_online_count(&sys, 0, 1).await;
}

#[tokio::test]
async fn a_quick_reconnect_sends_no_offline_online_pair() {
    // The default grace: 2 s.
    let sys = system(2, None).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;
    let b = WsClient::connect(&sys, 1, bob).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));

    // A network blip: bob comes back at once, on the other gateway.
    b.close().await;
    let b = WsClient::connect(&sys, 0, bob).await;
    assert_eq!(statuses(&mut a, Duration::from_secs(4)).await, vec![]);

    b.close().await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, false)), "a real offline still comes");
}

#[tokio::test]
async fn the_connect_snapshot_lists_exactly_the_online_contacts() {
    let sys = system(2, Some(GRACE_MS)).await;
    let dave = Uuid::now_v7();
    let mut online = HashSet::new();
    let mut keep = Vec::new();
    for i in 0..3 {
        let friend = Uuid::now_v7();
        let mut c = WsClient::connect(&sys, i % 2, friend).await;
        message(&mut c, dave).await;
        online.insert(friend);
        keep.push(c);
    }
    // A contact who has gone offline, and a stranger who is online.
    let mut gone = WsClient::connect(&sys, 0, Uuid::now_v7()).await;
    message(&mut gone, dave).await;
    gone.close().await;
    let _stranger = WsClient::connect(&sys, 1, Uuid::now_v7()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut d = WsClient::connect(&sys, 1, dave).await;
    let got = statuses(&mut d, Duration::from_secs(2)).await;
    assert_eq!(got.len(), online.len(), "one frame per online contact: {got:?}");
    assert_eq!(got.iter().map(|(u, _)| *u).collect::<HashSet<_>>(), online);
    assert!(got.iter().all(|(_, on)| *on));
}

#[tokio::test]
async fn the_online_count_is_right_with_100_users_across_two_gateways() {
    let sys = System::builder()
        .gateways(2)
        .only(&["presence"])
        .env("PRESENCE_GRACE_MS", GRACE_MS)
        .start()
        .await;
    let mut clients = Vec::new();
    for i in 0..100 {
        clients.push(WsClient::connect(&sys, i % 2, Uuid::now_v7()).await);
    }
    // A second device is still one user.
    let twin = WsClient::connect(&sys, 1, clients[0].user).await;
    wait_online_count(&sys, 0, 100).await;
    assert_eq!(online_count(&sys, 1).await, 100);

    twin.close().await;
    for c in clients.drain(..40) {
        c.close().await;
    }
    wait_online_count(&sys, 1, 60).await;
}

#[tokio::test]
async fn followers_hear_a_user_and_the_snapshot_shows_whom_one_follows() {
    let sys = System::builder().gateways(2).env("PRESENCE_GRACE_MS", GRACE_MS).start().await;
    let (alice, carol) = (Uuid::now_v7(), Uuid::now_v7());
    let (status, body) =
        sys.post(0, &format!("/api/users/{alice}/follow"), carol, serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");

    let mut c = WsClient::connect(&sys, 1, carol).await;
    // Carol's snapshot: whom she follows is offline.
    assert_eq!(statuses(&mut c, Duration::from_millis(500)).await, vec![]);
    let mut a = WsClient::connect(&sys, 0, alice).await;
    assert_eq!(next_status(&mut c, T).await, Some((alice, true)), "carol follows alice");
    // Alice does not follow carol: nothing about carol reaches her.
    assert_eq!(statuses(&mut a, Duration::from_secs(1)).await, vec![]);

    let mut c2 = WsClient::connect(&sys, 0, carol).await;
    assert_eq!(statuses(&mut c2, Duration::from_secs(2)).await, vec![(alice, true)]);
    a.close().await;
    assert_eq!(next_status(&mut c, T).await, Some((alice, false)));
    assert_eq!(next_status(&mut c2, T).await, Some((alice, false)));
}

#[tokio::test]
async fn two_presence_replicas_announce_each_transition_once() {
    let sys = System::builder()
        .gateways(2)
        .only(&["chat-persistence", "presence", "presence"])
        .env("PRESENCE_GRACE_MS", GRACE_MS)
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;
    for _ in 0..3 {
        let b = WsClient::connect(&sys, 1, bob).await;
        assert_eq!(statuses(&mut a, Duration::from_secs(1)).await, vec![(bob, true)]);
        b.close().await;
        assert_eq!(statuses(&mut a, Duration::from_secs(2)).await, vec![(bob, false)]);
    }
}

#[tokio::test]
async fn a_draining_gateway_hands_users_over_without_a_flap() {
    let sys = system(2, None).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    message(&mut a, bob).await;
    let mut b = WsClient::connect(&sys, 1, bob).await;
    assert_eq!(next_status(&mut a, T).await, Some((bob, true)));

    // SIGTERM: the gateway closes with 1012 and bob reconnects elsewhere at once.
    let pid = sys.gateways[1].pid().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(b.expect_close(T).await, Some(1012));
    let _b = WsClient::connect(&sys, 0, bob).await;
    assert_eq!(statuses(&mut a, Duration::from_secs(4)).await, vec![]);
    wait_online_count(&sys, 0, 2).await;
}

#[tokio::test]
async fn presence_rebuilds_from_heartbeats_after_redis_loses_its_keys() {
    let sys = System::builder()
        .gateways(2)
        .only(&["presence"])
        .env("PRESENCE_HEARTBEAT_SECS", "1")
        .start()
        .await;
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(WsClient::connect(&sys, i % 2, Uuid::now_v7()).await);
    }
    wait_online_count(&sys, 0, 10).await;
    assert!(sys.redis_delete_prefix().await > 0);
    wait_online_count(&sys, 1, 10).await;
}
