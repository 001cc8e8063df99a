//! Benchmark smoke test: every `loadgen` scenario for a second or two against
//! `loadgen relay`, both run as processes from the built binaries, and the
//! feed and storm scenarios against the real system too (seeded with the
//! same SQL as `deploy/bench-pinned.sh`). Checks each run reports nothing
//! lost or duplicated and non-zero rates, so `deploy/bench-pinned.sh` has a
//! working baseline and a generator that speaks the gateway's frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpStream,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use e2e_tests::{System, bin_dir, free_port};
use serde_json::Value;

const SECRET: &str = "bench-smoke-secret-0123456789-0123456789";

/// The relay process, killed when the test ends (pass or fail).
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_relay() -> (Relay, u16) {
    let port = free_port();
    let child = Command::new(bin_dir().join("loadgen"))
        .args(["relay", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("failed to start loadgen relay: {e} (build the workspace first)")
        });
    let relay = Relay(child);
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "relay did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (relay, port)
}

/// Runs the load generator and returns its `BENCH` line.
fn loadgen(args: &[&str]) -> Value {
    loadgen_with(SECRET, args)
}

/// Runs the load generator with the server's JWT secret.
fn loadgen_with(secret: &str, args: &[&str]) -> Value {
    let Output { status, stdout, stderr } = Command::new(bin_dir().join("loadgen"))
        .args(args)
        .env("JWT_SECRET", secret)
        .stdin(Stdio::null())
        .output()
        .expect("run loadgen");
    let out = String::from_utf8_lossy(&stdout);
    assert!(status.success(), "loadgen {args:?} failed: {out}{}", String::from_utf8_lossy(&stderr));
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .unwrap_or_else(|| panic!("no BENCH line in: {out}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn chat_against_the_bare_relay_loses_and_duplicates_nothing() {
    let (_relay, port) = start_relay();
    let url = format!("ws://127.0.0.1:{port}");
    let started = Instant::now();
    let v =
        loadgen(&["chat", "--gateway", &url, "--pairs", "4", "--window", "8", "--duration", "2"]);
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    let acked = v["acked"].as_u64().unwrap();
    assert!(acked > 0, "{v}");
    assert_eq!(v["delivered"].as_u64().unwrap(), acked, "{v}");
    assert!(v["deliveries_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["sends_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["ack_p50_us"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["deliver_p99_us"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn idle_connections_to_the_bare_relay_report_memory_per_connection() {
    let (relay, port) = start_relay();
    let url = format!("ws://127.0.0.1:{port}");
    let pid = relay.0.id().to_string();
    let v = loadgen(&["idle", "--gateway", &url, "--connections", "100", "--pid", &pid]);
    assert_eq!(v["connections"], 100, "{v}");
    assert!(v["rss_after_kib"].as_u64().unwrap() > 0, "{v}");
    assert!(v["connects_per_s"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn fan_out_through_the_bare_relay_reaches_every_follower_once() {
    let (_relay, port) = start_relay();
    let url = format!("ws://127.0.0.1:{port}");
    let v = loadgen(&[
        "fanout",
        "--gateway",
        &url,
        "--followers",
        "50",
        "--posts",
        "2",
        "--via",
        "ws",
        "--settle_ms",
        "100",
    ]);
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert!(v["all_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["p99_us"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn open_loop_gets_on_the_bare_relay_hold_their_rate() {
    let (_relay, port) = start_relay();
    let url = format!("ws://127.0.0.1:{port}");
    let v = loadgen(&[
        "posts",
        "--gateway",
        &url,
        "--users",
        "100",
        "--rate",
        "200",
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "--conns",
        "4",
    ]);
    assert_eq!(v["errors"], 0, "{v}");
    // 200/s for 1 s, give or take the first and last tick.
    let n = v["requests"].as_u64().unwrap();
    assert!((190..=210).contains(&n), "{v}");
    assert_eq!(v["posts_per_page"].as_f64().unwrap(), 20.0, "{v}");
    assert!(v["p99_us"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn a_reconnect_storm_on_the_bare_relay_loses_nothing() {
    let (_relay, port) = start_relay();
    let url = format!("ws://127.0.0.1:{port}");
    let v = loadgen(&["storm", "--gateway", &url, "--clients", "60", "--senders", "3"]);
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert!(v["connects_per_s"].as_f64().unwrap() > 0.0, "{v}");
}

/// Runs a seeding script of `deploy/bench/` with its psql variables set.
async fn seed(sys: &System, file: &str, vars: &[(&str, u64)]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/bench").join(file);
    let mut sql = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    for (name, value) in vars {
        sql = sql.replace(&format!(":{name}"), &value.to_string());
    }
    // Several statements in one go run as one transaction, where VACUUM may not.
    sql = sql.replace("vacuum analyze", "analyze");
    let db = sys.db("feed").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&db).await.unwrap();
}

/// The feed and storm scenarios against the real system: the seeding SQL
/// makes the ids loadgen expects, and the generator reads the gateway's frames.
#[tokio::test]
async fn fan_out_timeline_and_storm_scenarios_run_against_the_system() {
    let sys = System::start().await;
    seed(&sys, "seed-fanout.sql", &[("followers", 30)]).await;
    seed(&sys, "seed-posts.sql", &[("users", 100), ("posts", 5), ("follows", 3)]).await;
    let url = sys.gateway(0).replacen("http://", "ws://", 1);
    let secret = sys.env.jwt_secret.clone();
    let run = move |args: Vec<String>| {
        let secret = secret.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            loadgen_with(&secret, &args)
        })
    };
    let args = |s: &str| -> Vec<String> {
        s.replace("URL", &url).split_whitespace().map(str::to_owned).collect()
    };

    let v = run(args("fanout --gateway URL --followers 30 --posts 2 --via http")).await.unwrap();
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert!(v["post_ms"].as_f64().unwrap() > 0.0, "{v}");

    let v =
        run(args("posts --gateway URL --users 100 --rate 50 --duration 1 --warmup 0.2 --conns 4"))
            .await
            .unwrap();
    assert_eq!(v["errors"], 0, "{v}");
    // Own 5 posts and 3 followees' 5 each: a full page of 20.
    assert_eq!(v["posts_per_page"].as_f64().unwrap(), 20.0, "{v}");

    let v = run(args("storm --gateway URL --clients 40 --senders 4")).await.unwrap();
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert!(v["connects_per_s"].as_f64().unwrap() > 0.0, "{v}");
}
