//! Graceful stop when a dependency is gone: each service, told to stop
//! (SIGTERM) after its NATS server (or PostgreSQL) was SIGKILLed, must exit
//! within `SHUTDOWN_GRACE_SECS` + 5 s — a pod that ignores its grace period
//! is SIGKILLed by Kubernetes with its work in flight. The gateway holds
//! 2,000 idle authenticated WebSocket connections while it stops. Every test
//! runs its own PostgreSQL, Redis and NATS (the machine's are not touched).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use e2e_tests::faults::{Cluster, ClusterOptions, workload};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const GRACE: u64 = 3;
/// The longest a stop may take: the grace period plus 5 s.
const LIMIT: Duration = Duration::from_secs(GRACE + 5);
const IDLE_CONNECTIONS: usize = 2_000;

/// Raises this process's open-file limit (children inherit it) with `prlimit(1)`.
fn raise_nofile(want: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if soft >= want {
        return;
    }
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={want}:{want}"))
        .status();
    eprintln!("raised RLIMIT_NOFILE from {soft} to {want}: {status:?}");
}

async fn cluster(gateways: usize, chat: usize, presence: usize, feed: usize) -> Cluster {
    raise_nofile(3 * IDLE_CONNECTIONS as u64 + 1024);
    Cluster::start(ClusterOptions {
        gateways,
        chat_persistence: chat,
        presence,
        feed,
        grace_secs: GRACE,
        ..ClusterOptions::default()
    })
    .await
    .expect("cluster")
}

fn ws_base(c: &Cluster) -> String {
    c.gateway_urls()[0].clone()
}

fn http_base(c: &Cluster) -> String {
    ws_base(c).replace("ws://", "http://")
}

/// Opens `n` idle connections of distinct users; each is read until it
/// closes (answering pings) and yields its close code.
async fn open_idle(c: &Cluster, n: usize) -> Vec<tokio::task::JoinHandle<Option<u16>>> {
    let base = ws_base(c);
    let users: Vec<(Uuid, String)> =
        (0..n).map(|_| Uuid::new_v4()).map(|u| (u, c.token(u))).collect();
    let started = Instant::now();
    let opened: Vec<_> = futures_util::stream::iter(users)
        .map(|(u, t)| {
            let base = base.clone();
            async move {
                for _ in 0..5 {
                    match workload::connect(&base, u, &t).await {
                        Ok(ws) => return Some(ws),
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
                None
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let opened: Vec<_> = opened.into_iter().flatten().collect();
    eprintln!("{} of {n} idle connections open in {:?}", opened.len(), started.elapsed());
    assert_eq!(opened.len(), n, "every idle connection opens");
    opened
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                while let Some(m) = ws.next().await {
                    match m {
                        Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
                None
            })
        })
        .collect()
}

/// Some real work first: messages between two users, a post, a follow.
async fn warm_up(c: &Cluster) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let base = ws_base(c);
    let mut wa = workload::connect(&base, a, &c.token(a)).await.expect("connect a");
    let mut wb = workload::connect(&base, b, &c.token(b)).await.expect("connect b");
    for i in 0..20 {
        let f = json!({"type":"private_message","receiver_id":b,"content":format!("warm {i}"),"client_msg_id":format!("w{i}")});
        wa.send(Message::text(f.to_string())).await.unwrap();
    }
    let mut acks = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while acks < 20 && Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_secs(1), wa.next()).await
            && t.as_str().contains("message_ack")
        {
            acks += 1;
        }
    }
    assert_eq!(acks, 20, "warm-up messages acknowledged");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/posts", http_base(c)))
        .bearer_auth(c.token(a))
        .json(&json!({"content": "warm-up post"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "post: {}", r.status());
    let r = http
        .post(format!("{}/api/users/{a}/follow", http_base(c)))
        .bearer_auth(c.token(b))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "follow: {}", r.status());
    drop(wb.close(None).await);
    drop(wa.close(None).await);
}

/// Work in flight when the dependency dies: sends without waiting for their
/// acks, posts, connections coming and going. Returns the tasks (aborted at the end).
fn load(c: &Cluster) -> Vec<tokio::task::JoinHandle<()>> {
    let base = ws_base(c);
    let http_base = http_base(c);
    let mut tasks = Vec::new();
    for n in 0..4 {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (ta, base) = (c.token(a), base.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut ws) = workload::connect(&base, a, &ta).await else { return };
            for i in 0.. {
                let f = json!({"type":"private_message","receiver_id":b,"content":format!("load {n} {i}"),"client_msg_id":format!("l{n}-{i}")});
                if ws.send(Message::text(f.to_string())).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
        let (tb, http_base) = (c.token(b), http_base.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    http.post(format!("{http_base}/api/posts"))
                        .bearer_auth(&tb)
                        .json(&json!({"content": "load post"}))
                        .send(),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tasks
}

/// SIGTERMs `name#0` and asserts it exits within the limit.
async fn assert_stops_in_time(c: &mut Cluster, name: &str, what: &str) {
    let p = c.service(name, 0);
    let pid = p.pid();
    let (took, status) = p.terminate(LIMIT + Duration::from_secs(15)).await;
    eprintln!(
        "{name} (pid {pid:?}) with {what}: SIGTERM → {} after {took:.1?} (limit {LIMIT:?}); logs: {}",
        match status {
            Some(s) => format!("exited ({s})"),
            None => "STILL RUNNING, SIGKILLed".into(),
        },
        c.logs().display()
    );
    // A clean exit: the graceful path itself is bounded; the watchdog that
    // ends an overrunning stop exits with 1 and would fail this.
    assert!(
        status.is_some_and(|s| s.success()) && took <= LIMIT,
        "{name} with {what} must exit within SHUTDOWN_GRACE_SECS + 5 s = {LIMIT:?}; took {took:.1?}, status {status:?} (logs: {})",
        c.logs().display()
    );
}

async fn gateway_with_idle_connections(kill_nats: bool) {
    let mut c = cluster(1, 1, 1, 0).await;
    let clients = open_idle(&c, IDLE_CONNECTIONS).await;
    // Let every start-up exchange (pending drain, presence) finish: the connections are idle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if kill_nats {
        c.nats.kill().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let what = format!(
        "{IDLE_CONNECTIONS} idle connections{}",
        if kill_nats { " and NATS gone" } else { " (NATS up)" }
    );
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        assert_stops_in_time(&mut c, "gateway", &what),
    ))
    .await;
    // How the clients were closed (also when the stop was late).
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for h in clients {
        let key = match tokio::time::timeout(Duration::from_secs(30), h).await {
            Ok(Ok(Some(code))) => format!("close {code}"),
            Ok(Ok(None)) => "no close frame".into(),
            _ => "still open".into(),
        };
        *codes.entry(key).or_default() += 1;
    }
    eprintln!("client connections ended: {codes:?}");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_with_2000_idle_connections_stops_in_time_when_nats_is_gone() {
    gateway_with_idle_connections(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_with_2000_idle_connections_stops_in_time_with_nats_up_control() {
    gateway_with_idle_connections(false).await;
}

#[derive(Clone, Copy, Debug)]
enum Gone {
    Nats,
    Postgres,
}

async fn backend_stops_in_time(name: &str, gone: Gone) {
    let mut c = cluster(1, 1, 1, 1).await;
    warm_up(&c).await;
    let tasks = load(&c);
    tokio::time::sleep(Duration::from_millis(500)).await;
    match gone {
        Gone::Nats => c.nats.kill().await,
        Gone::Postgres => c.pg.kill().await,
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let what = match gone {
        Gone::Nats => "NATS gone",
        Gone::Postgres => "PostgreSQL gone",
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        assert_stops_in_time(&mut c, name, what),
    ))
    .await;
    for t in tasks {
        t.abort();
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_persistence_stops_in_time_when_nats_is_gone() {
    backend_stops_in_time("chat-persistence", Gone::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_stops_in_time_when_nats_is_gone() {
    backend_stops_in_time("feed", Gone::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_stops_in_time_when_nats_is_gone() {
    backend_stops_in_time("presence", Gone::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_persistence_stops_in_time_when_postgresql_is_gone() {
    backend_stops_in_time("chat-persistence", Gone::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_stops_in_time_when_postgresql_is_gone() {
    backend_stops_in_time("feed", Gone::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_stops_in_time_when_postgresql_is_gone() {
    backend_stops_in_time("presence", Gone::Postgres).await;
}
