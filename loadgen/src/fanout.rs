//! `loadgen fanout`: a user with N online followers posts; how long until
//! every follower's WebSocket has the post's `feed_update`.
//!
//! The follow graph is seeded by the caller (`deploy/bench-pinned.sh`, SQL):
//! the author is [`conn::seeded`]`(FANOUT_BASE, 0)`, the followers 1..=N. The
//! followers connect (source addresses spread as in `idle`), then the author
//! posts `--posts` times, one after the other: `--via http` (the gateway:
//! `POST /api/posts`) or `--via ws` (the bare relay: a `post` frame, which it
//! sends to every other connection). Each follower's latency runs from just
//! before the POST is written to its `feed_update` with the post's id.
//! Reports per-follower p50/p99/max and the time until the last follower has
//! it (median and worst over the posts); a follower that never gets it is
//! lost, one that gets it twice is duplicated.
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    Args,
    conn::{self, FANOUT_BASE, Target},
    http,
    stats::{Latencies, fmt_us},
    wire,
};

/// How long one post may take to reach everyone before the rest count as lost.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// The author's way to post.
enum Poster {
    /// A keep-alive connection (opened on first use, again after an error).
    Http(Option<http::Conn>, Target, Vec<u8>),
    Ws(Box<crate::Ws>),
}

impl Poster {
    /// Posts; returns the new post's id.
    async fn post(&mut self) -> anyhow::Result<u128> {
        match self {
            Poster::Http(conn, target, req) => {
                if conn.is_none() {
                    *conn = Some(http::Conn::new(target.tcp(0).await?));
                }
                let Some(c) = conn.as_mut() else { bail!("no connection") };
                let r = match c.send(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        *conn = None;
                        return Err(e);
                    }
                };
                if r.status != 201 {
                    bail!("POST /api/posts answered {}", r.status);
                }
                wire::id(r.body).context("no id in the created post")
            }
            Poster::Ws(ws) => {
                ws.send(Message::text(r#"{"type":"post","content":"fan-out"}"#)).await?;
                loop {
                    let m = tokio::time::timeout(ROUND_TIMEOUT, ws.next())
                        .await?
                        .context("author connection closed")??;
                    if let Message::Text(t) = m
                        && wire::is(t.as_bytes(), &wire::POST_ACK)
                    {
                        return wire::uuid(
                            wire::string(t.as_bytes(), &wire::POST_ID).context("no post_id")?,
                        )
                        .context("bad post_id");
                    }
                }
            }
        }
    }
}

/// Reads one follower's connection, reporting each `newpost` it gets.
async fn follower(mut ws: crate::Ws, idx: usize, tx: mpsc::Sender<(usize, u128, Instant)>) {
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let f = t.as_bytes();
        if !wire::is(f, &wire::FEED_UPDATE) || !wire::is(f, &wire::NEWPOST) {
            continue;
        }
        let Some(post) = wire::string(f, &wire::POST_ID).and_then(wire::uuid) else { continue };
        if tx.send((idx, post, Instant::now())).await.is_err() {
            break;
        }
    }
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let n = args.get("followers", 200usize);
    let posts = args.get("posts", 3usize).max(1);
    let concurrency = args.get("concurrency", 64usize);
    let via = args.0.get("via").map_or("http", String::as_str).to_owned();
    let target = Target::resolve(&args.gateway()).await?;
    let author = conn::seeded(FANOUT_BASE, 0);
    let users: Vec<_> = (1..=n as u64).map(|i| conn::seeded(FANOUT_BASE, i)).collect();
    let started = Instant::now();
    let conns = target.ws_many(secret, &users, concurrency).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    let (tx, mut rx) = mpsc::channel(n.max(1) * 2);
    for (i, ws) in conns.into_iter().enumerate() {
        tokio::spawn(follower(ws, i, tx.clone()));
    }
    drop(tx);
    let mut poster = match via.as_str() {
        "http" => {
            let token = shared::auth::mint(secret, author, 3600, None, None)?;
            let body = r#"{"content":"fan-out benchmark post"}"#;
            let req = http::request("POST", "/api/posts", &target.host, &token, Some(body));
            Poster::Http(None, target.clone(), req)
        }
        "ws" => Poster::Ws(Box::new(target.ws(secret, author, n).await?)),
        other => bail!("--via must be http or ws, not {other}"),
    };
    // Let connect-time traffic (presence's contact lookups for 10,000 new
    // connections keep one core busy for tens of seconds) settle first:
    // with `--settle_cpu N`, until CPU N is mostly idle; then one unmeasured
    // post, retried while the system is still busy (a 503), and awaited by
    // every follower.
    tokio::time::sleep(Duration::from_millis(args.get("settle_ms", 1000u64))).await;
    if let Some(cpu) = args.0.get("settle_cpu") {
        let waited = crate::stats::wait_idle(cpu, 0.8, Duration::from_secs(30)).await?;
        println!("CPU {cpu} idle after {waited:.1?}");
    }
    let settle = Instant::now();
    let first = loop {
        match poster.post().await {
            Ok(id) => break id,
            Err(e) if settle.elapsed() < Duration::from_secs(120) => {
                eprintln!("warm-up post: {e:#}; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let (mut warm, deadline) = (0usize, tokio::time::Instant::now() + ROUND_TIMEOUT * 2);
    while warm < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((_, id, _))) if id == first => warm += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    println!("warm-up post reached {warm} of {n} followers after {:.1?}", settle.elapsed());

    let mut lat = Latencies::new()?;
    let (mut lost, mut dup) = (0usize, 0usize);
    let mut all_ms = Vec::new();
    let mut post_ms = Vec::new();
    for _ in 0..posts {
        let t0 = Instant::now();
        let post = poster.post().await?;
        post_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let mut seen = vec![false; n];
        let (mut got, mut last) = (0usize, t0);
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        while got < n {
            let Ok(Some((idx, id, at))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                break;
            };
            if id != post {
                continue; // a straggler of an earlier post (counted lost there)
            }
            if std::mem::replace(&mut seen[idx], true) {
                dup += 1;
                continue;
            }
            got += 1;
            lat.record(at.saturating_duration_since(t0));
            last = last.max(at);
        }
        lost += n - got;
        all_ms.push(last.saturating_duration_since(t0).as_secs_f64() * 1e3);
    }
    all_ms.sort_by(f64::total_cmp);
    post_ms.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
    let worst = all_ms.last().copied().unwrap_or(0.0);
    println!("followers={n} posts={posts} via={via} (followers connected in {connect_secs:.1}s)");
    println!("{}", lat.line("post→feed_update, per follower"));
    println!(
        "post→last follower: median {} worst {}; POST answered in {} (median); lost {lost}, duplicated {dup}",
        fmt_us(median(&all_ms) * 1e3),
        fmt_us(worst * 1e3),
        fmt_us(median(&post_ms) * 1e3)
    );
    let line = json!({
        "mode": "fanout", "followers": n, "posts": posts, "via": via,
        "p50_us": lat.us(0.5), "p99_us": lat.us(0.99), "max_us": lat.max_us(),
        "all_ms": median(&all_ms), "all_max_ms": worst, "post_ms": median(&post_ms),
        "lost": lost, "duplicated": dup, "errors": 0,
    });
    println!("BENCH {line}");
    if lost > 0 || dup > 0 {
        bail!("{lost} followers missed a post, {dup} got one twice");
    }
    Ok(())
}
