//! Benchmark smoke test: `loadgen chat` (and `loadgen idle`) for a couple of
//! seconds against `loadgen relay`, both run as processes from the built
//! binaries. Checks the run reports nothing lost or duplicated and a
//! non-zero rate, so `deploy/bench-pinned.sh` has a working baseline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpStream,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use e2e_tests::{bin_dir, free_port};
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
    let Output { status, stdout, stderr } = Command::new(bin_dir().join("loadgen"))
        .args(args)
        .env("JWT_SECRET", SECRET)
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
