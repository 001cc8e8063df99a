//! The presence state machine (the Lua scripts) against a real Redis
//! (`REDIS_URL`, default loopback), each test under its own key prefix.
#![allow(clippy::unwrap_used)]
use std::time::Duration;

use fred::prelude::*;
use presence::store::{ALL_BUCKETS as ALL, Store, bucket_of};
use uuid::Uuid;

const GRACE: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_secs(15);

/// A store under a fresh prefix; its keys are deleted when the test ends.
struct TestStore {
    store: Store,
    redis: Client,
    prefix: String,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    /// Deletes the test's keys (call at the end of a passing test).
    async fn clean(self) {
        let pattern = format!("{}*", self.prefix);
        let (_, keys): (String, Vec<String>) = self
            .redis
            .custom(fred::cmd!("SCAN"), vec!["0", "MATCH", &pattern, "COUNT", "100000"])
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = self.redis.del(keys).await.unwrap();
        }
    }
}

async fn store() -> TestStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = shared::redis::connect(&url).await.unwrap();
    redis.wait_for_connect().await.unwrap();
    let prefix = format!("test:{}:", Uuid::new_v4().simple());
    TestStore { store: Store::new(redis.clone(), &prefix, GRACE), redis, prefix }
}

async fn online(s: &Store, user: Uuid) -> bool {
    s.status(&[user]).await.unwrap()[0].online
}

#[tokio::test]
async fn online_while_any_connection_is_open_and_offline_after_the_grace() {
    let s = store().await;
    let u = Uuid::new_v4();
    assert_eq!(s.apply_conn("g1", u, 1, 1, TTL).await.unwrap(), vec![u]);
    assert!(s.apply_conn("g2", u, 1, 1, TTL).await.unwrap().is_empty());
    assert!(s.apply_conn("g1", u, 0, 2, TTL).await.unwrap().is_empty());
    assert!(s.sweep().await.unwrap().offline.is_empty());
    assert!(online(&s, u).await);
    s.apply_conn("g2", u, 0, 2, TTL).await.unwrap();
    assert!(online(&s, u).await, "still online within the grace");
    assert!(s.sweep().await.unwrap().offline.is_empty());
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert_eq!(s.sweep().await.unwrap().offline, vec![u]);
    assert!(s.sweep().await.unwrap().offline.is_empty(), "announced once");
    let status = s.status(&[u]).await.unwrap()[0];
    assert!(!status.online && status.last_seen_micros > 0);
    s.clean().await;
}

#[tokio::test]
async fn a_reconnect_within_the_grace_announces_nothing() {
    let s = store().await;
    let u = Uuid::new_v4();
    s.apply_conn("g1", u, 1, 1, TTL).await.unwrap();
    s.apply_conn("g1", u, 0, 2, TTL).await.unwrap();
    assert!(s.apply_conn("g2", u, 1, 1, TTL).await.unwrap().is_empty());
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert!(s.sweep().await.unwrap().offline.is_empty());
    assert!(online(&s, u).await);
    s.clean().await;
}

#[tokio::test]
async fn events_older_than_what_was_applied_are_ignored() {
    let s = store().await;
    let u = Uuid::new_v4();
    s.apply_conn("g1", u, 1, 10, TTL).await.unwrap();
    s.apply_conn("g1", u, 0, 12, TTL).await.unwrap();
    // The open with seq 11 arrives late: it must not resurrect the connection.
    assert!(s.apply_conn("g1", u, 1, 11, TTL).await.unwrap().is_empty());
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert_eq!(s.sweep().await.unwrap().offline, vec![u]);
    s.clean().await;
}

#[tokio::test]
async fn a_heartbeat_sets_the_counts_but_not_over_newer_events() {
    let s = store().await;
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    s.apply_conn("g1", a, 1, 5, TTL).await.unwrap();
    s.apply_conn("g1", b, 1, 20, TTL).await.unwrap();
    // As of seq 10: a is gone, c is here (its event was lost), b is not yet.
    let came = s.apply_heartbeat("g1", 10, TTL, ALL, &[(c, 2)]).await.unwrap();
    assert_eq!(came, vec![c]);
    assert!(online(&s, b).await, "b's event (seq 20) is newer than the heartbeat");
    // An event older than the heartbeat is ignored.
    s.apply_conn("g1", c, 0, 9, TTL).await.unwrap();
    assert!(online(&s, c).await);
    // A stale heartbeat changes nothing.
    s.apply_heartbeat("g1", 8, TTL, ALL, &[]).await.unwrap();
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert_eq!(s.sweep().await.unwrap().offline, vec![a]);
    assert_eq!(s.online_count().await.unwrap(), 2);
    s.clean().await;
}

fn user_in(bucket: u32) -> Uuid {
    loop {
        let u = Uuid::new_v4();
        if bucket_of(u) == bucket {
            return u;
        }
    }
}

#[tokio::test]
async fn a_split_heartbeat_reconciles_only_the_buckets_it_covers() {
    let s = store().await;
    let (b3, b7) = (user_in(3), user_in(7));
    s.apply_conn("g1", b3, 1, 1, TTL).await.unwrap();
    s.apply_conn("g1", b7, 1, 2, TTL).await.unwrap();
    // Bucket 3's part of the snapshot as of seq 10 lists no one: b3 left.
    s.apply_heartbeat("g1", 10, TTL, 1 << 3, &[(b7, 5)]).await.unwrap();
    // An older event in bucket 3 is ignored; in bucket 7 it still applies.
    s.apply_conn("g1", b3, 1, 9, TTL).await.unwrap();
    s.apply_conn("g1", b7, 2, 9, TTL).await.unwrap();
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert_eq!(s.sweep().await.unwrap().offline, vec![b3]);
    assert!(online(&s, b7).await);
    s.apply_heartbeat("g1", 11, TTL, 1 << 7, &[]).await.unwrap();
    tokio::time::sleep(GRACE + Duration::from_millis(50)).await;
    assert_eq!(s.sweep().await.unwrap().offline, vec![b7]);
    s.clean().await;
}

#[tokio::test]
async fn a_silent_gateway_expires_and_its_late_events_are_ignored() {
    let s = store().await;
    let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
    s.apply_heartbeat("dead", 1, Duration::from_millis(200), ALL, &[(u, 1)]).await.unwrap();
    s.apply_conn("alive", v, 1, 1, TTL).await.unwrap();
    s.apply_heartbeat("dead", 2, Duration::from_millis(200), ALL, &[(u, 1), (v, 1)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No grace after a gateway's death: it has been silent for its whole TTL.
    assert_eq!(s.sweep().await.unwrap().offline, vec![u]);
    assert!(online(&s, v).await, "v still has a connection on another gateway");
    assert!(s.apply_conn("dead", u, 1, 3, TTL).await.unwrap().is_empty(), "ignored");
    assert!(!online(&s, u).await);
    // A heartbeat brings it back (a healed partition).
    assert_eq!(s.apply_heartbeat("dead", 4, TTL, ALL, &[(u, 1)]).await.unwrap(), vec![u]);
    s.clean().await;
}

#[tokio::test]
async fn the_online_count_counts_users_not_connections() {
    let s = store().await;
    let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    for (i, u) in users.iter().enumerate() {
        let gw = if i % 2 == 0 { "g1" } else { "g2" };
        s.apply_conn(gw, *u, 1, 1, TTL).await.unwrap();
    }
    s.apply_conn("g2", users[0], 3, 1, TTL).await.unwrap();
    assert_eq!(s.online_count().await.unwrap(), 100);
    assert_eq!(s.connected(&users[..10]).await.unwrap().len(), 10);
    s.clean().await;
}
