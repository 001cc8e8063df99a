//! `loadgen posts`: `GET /api/posts` (each seeded user's home timeline) at a
//! fixed rate, open loop: request `i` is due at `start + i / rate` whatever
//! happened before, and its latency runs from that due time, so a slow
//! response delays the requests behind it and they count it (no coordinated
//! omission). `--conns` keep-alive connections take the due requests in
//! turn; when all are busy, the wait is part of the latency.
//!
//! Users are [`conn::seeded`]`(POSTS_BASE, 0..--users)`, seeded by the
//! caller; each request is for the next user of a fixed shuffle, so
//! consecutive requests hit different timelines. The first `--warmup`
//! seconds run at the same rate and are not recorded.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use memchr::memmem;
use serde_json::json;

use crate::{
    Args,
    conn::{self, POSTS_BASE, Target},
    http,
    stats::Latencies,
};

struct WorkerOut {
    lat: Latencies,
    /// Requests answered, the warm-up's included.
    total: u64,
    done: u64,
    errors: u64,
    posts: u64,
}

struct Plan {
    start: Instant,
    warmup: Duration,
    end: Duration,
    period_ns: f64,
    next: AtomicU64,
    requests: Vec<Vec<u8>>,
}

async fn worker(plan: Arc<Plan>, mut c: http::Conn) -> anyhow::Result<WorkerOut> {
    let mut out = WorkerOut { lat: Latencies::new()?, total: 0, done: 0, errors: 0, posts: 0 };
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        let due = Duration::from_nanos((i as f64 * plan.period_ns) as u64);
        if due >= plan.end {
            return Ok(out);
        }
        let at = plan.start + due;
        tokio::time::sleep_until(at.into()).await;
        // A multiplicative shuffle: consecutive requests, distant users.
        let n = plan.requests.len() as u64;
        let req = &plan.requests[(i.wrapping_mul(2_654_435_761) % n) as usize];
        let r = c.send(req).await?;
        let ok = r.status == 200;
        let posts = memmem::find_iter(r.body, br#""user_id""#).count() as u64;
        out.total += 1;
        if due < plan.warmup {
            continue;
        }
        out.lat.record(at.elapsed());
        out.done += 1;
        if ok { out.posts += posts } else { out.errors += 1 }
    }
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let users = args.get("users", 10_000u64).max(1);
    let rate = args.get("rate", 500.0f64).max(1.0);
    let duration = args.get("duration", 10.0f64);
    let warmup = args.get("warmup", 2.0f64);
    let conns = args.get("conns", 64usize).max(1);
    let limit = args.get("limit", 20u32);
    let target = Target::resolve(&args.gateway()).await?;
    let path = format!("/api/posts?limit={limit}");
    let mut requests = Vec::with_capacity(users as usize);
    for i in 0..users {
        let token = shared::auth::mint(secret, conn::seeded(POSTS_BASE, i), 3600, None, None)?;
        requests.push(http::request("GET", &path, &target.host, &token, None));
    }
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        cs.push(http::Conn::new(target.tcp(i).await?));
    }
    let plan = Arc::new(Plan {
        start: Instant::now() + Duration::from_millis(50),
        warmup: Duration::from_secs_f64(warmup),
        end: Duration::from_secs_f64(warmup + duration),
        period_ns: 1e9 / rate,
        next: AtomicU64::new(0),
        requests,
    });
    let tasks: Vec<_> = cs.into_iter().map(|c| tokio::spawn(worker(plan.clone(), c))).collect();
    let mut lat = Latencies::new()?;
    let (mut total, mut done, mut errors, mut posts, mut failures) =
        (0u64, 0u64, 0u64, 0u64, 0usize);
    for t in tasks {
        match t.await? {
            Ok(o) => {
                lat.merge(&o.lat)?;
                total += o.total;
                done += o.done;
                errors += o.errors;
                posts += o.posts;
            }
            Err(e) => {
                eprintln!("connection failed: {e:#}");
                failures += 1;
            }
        }
    }
    let elapsed = plan.start.elapsed().as_secs_f64() - warmup;
    let achieved = done as f64 / elapsed.max(1e-9);
    let per_page = posts as f64 / done.saturating_sub(errors).max(1) as f64;
    println!(
        "GET {path} for {users} users at {rate}/s offered, {duration}s measured after {warmup}s warm-up, {conns} connections"
    );
    println!(
        "{}; achieved {achieved:.0}/s; errors {errors}; {per_page:.1} posts per page",
        lat.line("scheduled→response")
    );
    let line = json!({
        "mode": "posts", "users": users, "rate": rate, "duration": duration, "conns": conns,
        "requests": done, "requests_total": total, "errors": errors, "failures": failures, "achieved_per_s": achieved,
        "posts_per_page": per_page,
        "p50_us": lat.us(0.5), "p99_us": lat.us(0.99), "p999_us": lat.us(0.999),
        "max_us": lat.max_us(),
    });
    println!("BENCH {line}");
    if failures > 0 || errors > 0 || done == 0 {
        bail!("{failures} connections failed, {errors} errors, {done} requests");
    }
    Ok(())
}
