//! `loadgen idle`: opens idle authenticated connections (one user each) and
//! reports the server's resident memory per connection and the connect rate.
//!
//! Against a loopback server the client source addresses are spread over
//! 127.0.0.1–127.0.0.250, so ephemeral ports never run short.
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use uuid::Uuid;

use crate::{Args, conn::Target};

fn rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("bad VmRSS")?.parse()?)
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let n = args.get("connections", 1000usize);
    let concurrency = args.get("concurrency", 32usize).max(1);
    let pid = args.0.get("pid").cloned().context("--pid <server pid> is required")?;
    let target = Target::resolve(&args.gateway()).await?;
    let before = rss_kib(&pid)?;
    let started = Instant::now();
    let users: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let conns = target.ws_many(secret, &users, concurrency).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(&pid)?;
    let per = after.saturating_sub(before) as f64 / n.max(1) as f64;
    let rate = n as f64 / connect_secs.max(1e-9);
    println!(
        "connections={n} server RSS before={before} KiB after={after} KiB => {per:.1} KiB per connection; connected at {rate:.0}/s"
    );
    let line = json!({
        "mode": "idle", "connections": n, "rss_before_kib": before, "rss_after_kib": after,
        "per_conn_kib": per, "connects_per_s": rate,
    });
    println!("BENCH {line}");
    drop(conns);
    Ok(())
}
