//! `loadgen storm`: a reconnect storm. `--clients` users connect; each sends
//! one message to the next (so every stream has positions) and notes the
//! highest `seq` it saw; then all connections drop at once; while they are
//! away, `--senders` other users send `--waiting` messages to each of them
//! (every one acknowledged, so durable); then all reconnect together
//! (`--concurrency` handshakes at a time) and send `{"type":"sync",
//! "after_seq":<highest seen>}` as soon as they are up.
//!
//! Each client reads until it has every message that was waiting for it.
//! Lost: acknowledged while it was away and never delivered after the
//! reconnect. Duplicated: the same id twice on one connection. Reports the
//! reconnect rate (handshakes per second until the last is up) and the time
//! until every client has resumed (has everything that was waiting).
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::{
    Args, Ws,
    conn::Target,
    stats::{Latencies, fmt_us},
    wire,
};

/// How long a phase may take before what is missing counts as lost.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends one message to `to` and reads until it has its ack; returns the
/// highest `seq` seen (the ack's, or a message's from its predecessor that
/// came first). A send refused as `unavailable` (a busy system) is resent
/// with the same `client_msg_id`.
async fn warm(mut ws: Ws, to: Uuid) -> anyhow::Result<(Ws, u64)> {
    let frame = wire::MessageFrames::new(to, 40).render(1, 0);
    ws.send(Message::text(frame.clone())).await?;
    let (mut acked, mut high) = (false, 0u64);
    // One deadline: protocol pings arrive every 20 s and must not extend it.
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    while !acked {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("no ack or message before the drop")?
            .context("connection closed before the drop")??;
        let Message::Text(t) = m else { continue };
        let f = t.as_bytes();
        if wire::is(f, &wire::ACK) {
            acked = true;
        } else if !wire::is(f, &wire::PRIVATE_MESSAGE) {
            if wire::cid(f).is_some() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                ws.send(Message::text(frame.clone())).await?;
            }
            continue;
        }
        high = high.max(wire::seq(f).unwrap_or(0));
    }
    Ok((ws, high))
}

/// Sends `waiting` messages to every user of `to` (window 16); returns the
/// acknowledged message ids, per receiver index.
async fn send_waiting(
    mut ws: Ws,
    to: Vec<(usize, Uuid)>,
    waiting: usize,
) -> anyhow::Result<Vec<(usize, u128)>> {
    let mut acked = Vec::with_capacity(to.len() * waiting);
    let plan: Vec<(usize, Uuid)> =
        to.iter().flat_map(|t| std::iter::repeat_n(*t, waiting)).collect();
    let mut in_flight = std::collections::HashMap::new();
    let mut next = 0usize;
    while next < plan.len() || !in_flight.is_empty() {
        while next < plan.len() && in_flight.len() < 16 {
            let (idx, user) = plan[next];
            next += 1;
            let frame = wire::MessageFrames::new(user, 40).render(next as u64, 0);
            ws.feed(Message::text(frame)).await?;
            in_flight.insert(next as u64, idx);
        }
        ws.flush().await?;
        let m = tokio::time::timeout(PHASE_TIMEOUT, ws.next())
            .await
            .context("no ack for a waiting message")?
            .context("sender connection closed")??;
        let Message::Text(t) = m else { continue };
        let f = t.as_bytes();
        let Some(n) = wire::cid(f) else { continue };
        let Some(idx) = in_flight.remove(&n) else { continue };
        if !wire::is(f, &wire::ACK) {
            bail!("a waiting message was refused: {}", t.as_str());
        }
        acked.push((idx, wire::id(f).context("ack without id")?));
    }
    Ok(acked)
}

struct Resumed {
    connected: Instant,
    resumed: Instant,
    lost: usize,
    dup: usize,
}

/// Reconnects, asks for everything after `after`, reads until `expect` is in.
async fn resume(
    target: Target,
    secret: String,
    user: Uuid,
    i: usize,
    after: u64,
    expect: Vec<u128>,
) -> anyhow::Result<Resumed> {
    let mut ws = target.ws_retry(&secret, user, i).await?;
    let connected = Instant::now();
    ws.send(Message::text(format!(r#"{{"type":"sync","after_seq":{after}}}"#))).await?;
    let mut want: HashSet<u128> = expect.into_iter().collect();
    let (mut seen, mut dup) = (HashSet::new(), 0usize);
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    while !want.is_empty() {
        let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await else { break };
        let Message::Text(t) = m else { continue };
        let f = t.as_bytes();
        if !wire::is(f, &wire::PRIVATE_MESSAGE) {
            continue;
        }
        let id = wire::id(f).unwrap_or_default();
        if !seen.insert(id) {
            dup += 1;
        }
        want.remove(&id);
    }
    let resumed = Instant::now();
    // Anything written twice right after the last expected one.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(200);
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout_at(quiet, ws.next()).await {
        if wire::is(t.as_bytes(), &wire::PRIVATE_MESSAGE)
            && !seen.insert(wire::id(t.as_bytes()).unwrap_or_default())
        {
            dup += 1;
        }
    }
    Ok(Resumed { connected, resumed, lost: want.len(), dup })
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let n = args.get("clients", 200usize).max(2);
    let waiting = args.get("waiting", 2usize).max(1);
    let senders = args.get("senders", 8usize).max(1);
    let concurrency = args.get("concurrency", 500usize).max(1);
    let target = Target::resolve(&args.gateway()).await?;
    let users: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();

    // 1. Everyone online, with a position in its stream.
    let conns = target.ws_many(secret, &users, 64).await?;
    let mut warming = JoinSet::new();
    let mut high = vec![0u64; n];
    let mut held = Vec::with_capacity(n);
    for (i, ws) in conns.into_iter().enumerate() {
        if warming.len() >= 256
            && let Some(r) = warming.join_next().await
        {
            let (j, r) = r?;
            let (ws, h) = r?;
            high[j] = h;
            held.push(ws);
        }
        let to = users[(i + 1) % n];
        warming.spawn(async move { (i, warm(ws, to).await) });
    }
    while let Some(r) = warming.join_next().await {
        let (i, r) = r?;
        let (ws, h) = r?;
        high[i] = h;
        held.push(ws);
    }
    // 2. All drop at once (no close handshake: the sockets just go).
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 3. Messages wait for them.
    let sender_users: Vec<Uuid> = (0..senders).map(|_| Uuid::now_v7()).collect();
    let sender_conns = target.ws_many(secret, &sender_users, senders).await?;
    let mut sending = JoinSet::new();
    for (s, ws) in sender_conns.into_iter().enumerate() {
        let to: Vec<(usize, Uuid)> =
            (0..n).filter(|i| i % senders == s).map(|i| (i, users[i])).collect();
        sending.spawn(send_waiting(ws, to, waiting));
    }
    let mut expect: Vec<Vec<u128>> = vec![Vec::new(); n];
    while let Some(r) = sending.join_next().await {
        for (idx, id) in r?? {
            expect[idx].push(id);
        }
    }

    // 4. The storm.
    let t0 = Instant::now();
    let mut storm = JoinSet::new();
    let mut waiting_tasks = 0usize;
    let mut results = Vec::with_capacity(n);
    for (i, exp) in expect.into_iter().enumerate() {
        if waiting_tasks >= concurrency
            && let Some(r) = storm.join_next().await
        {
            results.push(r??);
            waiting_tasks -= 1;
        }
        let (t, s) = (target.clone(), secret.to_owned());
        storm.spawn(resume(t, s, users[i], i, high[i], exp));
        waiting_tasks += 1;
    }
    while let Some(r) = storm.join_next().await {
        results.push(r??);
    }
    report(n, waiting, t0, &results)
}

fn report(n: usize, waiting: usize, t0: Instant, results: &[Resumed]) -> anyhow::Result<()> {
    let mut resume_lat = Latencies::new()?;
    let (mut last_conn, mut last_resume) = (t0, t0);
    let (mut lost, mut dup) = (0usize, 0usize);
    for r in results {
        last_conn = last_conn.max(r.connected);
        last_resume = last_resume.max(r.resumed);
        resume_lat.record(r.resumed.saturating_duration_since(t0));
        lost += r.lost;
        dup += r.dup;
    }
    let connect_secs = last_conn.saturating_duration_since(t0).as_secs_f64();
    let resume_secs = last_resume.saturating_duration_since(t0).as_secs_f64();
    let rate = n as f64 / connect_secs.max(1e-9);
    println!("clients={n} waiting={waiting} each");
    println!(
        "reconnected {n} in {connect_secs:.2}s ({rate:.0}/s); all resumed after {}; lost {lost}, duplicated {dup}",
        fmt_us(resume_secs * 1e6)
    );
    println!("{}", resume_lat.line("storm start→client resumed"));
    let line = json!({
        "mode": "storm", "clients": n, "waiting": waiting, "connects_per_s": rate,
        "connect_secs": connect_secs, "resume_secs": resume_secs,
        "resume_p50_us": resume_lat.us(0.5), "resume_p99_us": resume_lat.us(0.99),
        "lost": lost, "duplicated": dup, "errors": 0,
    });
    println!("BENCH {line}");
    if lost > 0 || dup > 0 {
        bail!("reconnect storm: {lost} lost, {dup} duplicated");
    }
    Ok(())
}
