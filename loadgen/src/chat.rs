//! `loadgen chat`: pairs of senders and receivers over real WebSockets.
//!
//! Each sender keeps `window` sends in flight to its own receiver, either for
//! `--messages N` messages or for `--duration SECS` seconds (then it stops
//! sending and waits for the acks of what is in flight). Every content starts
//! with the send time (nanoseconds since the run's start, same process), so
//! send→deliver latency is measured to the microsecond, and is padded to
//! `--size` bytes (100 by default). Every acknowledged message must reach its
//! receiver exactly once, or the run fails (after printing its figures).
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::{Args, Ws, connect, stats::Latencies, wire};

/// How long a receiver waits for the rest once its sender is done.
const DRAIN: Duration = Duration::from_secs(15);

/// When a sender stops starting new messages.
#[derive(Clone, Copy)]
enum Until {
    Count(usize),
    Deadline(Instant),
}

impl Until {
    fn more(&self, started: usize) -> bool {
        match *self {
            Until::Count(n) => started < n,
            Until::Deadline(at) => Instant::now() < at,
        }
    }
}

struct SenderOut {
    ack: Latencies,
    acked: Vec<u128>,
    errors: usize,
}

async fn sender(
    mut ws: Ws,
    to: Uuid,
    until: Until,
    window: usize,
    size: usize,
    base: Instant,
) -> anyhow::Result<SenderOut> {
    // Keyed by the number in `client_msg_id` (`m<n>`): no string per message.
    let mut in_flight: HashMap<u64, Instant> = HashMap::with_capacity(window * 2);
    let mut out = SenderOut { ack: Latencies::new()?, acked: Vec::new(), errors: 0 };
    let frames = wire::MessageFrames::new(to, size);
    let mut next = 0u64;
    let mut pending: Vec<u64> = Vec::new();
    loop {
        // Fill the window, then one flush for all of it.
        let mut fed = false;
        while in_flight.len() < window {
            let n = match pending.pop() {
                Some(n) => n,
                None if until.more(next as usize) => {
                    next += 1;
                    next
                }
                None => break,
            };
            let sent = base.elapsed().as_nanos() as u64;
            ws.feed(Message::text(frames.render(n, sent))).await?;
            in_flight.insert(n, Instant::now());
            fed = true;
        }
        if fed {
            ws.flush().await?;
        }
        if in_flight.is_empty() {
            break;
        }
        let Some(msg) = tokio::time::timeout(Duration::from_secs(30), ws.next()).await? else {
            bail!("sender connection closed");
        };
        let Message::Text(t) = msg? else { continue };
        let f = t.as_bytes();
        let Some(n) = wire::cid(f) else { continue };
        let Some(at) = in_flight.remove(&n) else { continue };
        if wire::is(f, &wire::ACK) {
            out.ack.record(at.elapsed());
            out.acked.push(wire::id(f).unwrap_or_default());
        } else {
            // unavailable or rate_limited: resend with the same id later.
            out.errors += 1;
            pending.push(n);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(out)
}

struct ReceiverOut {
    ids: Vec<u128>,
    lag: Latencies,
    last: Option<Instant>,
}

/// Reads deliveries until it has as many as its sender reports acknowledged
/// (plus `DRAIN` at most once that is known).
async fn receiver(
    mut ws: Ws,
    mut expect: oneshot::Receiver<usize>,
    base: Instant,
) -> anyhow::Result<ReceiverOut> {
    let mut out = ReceiverOut { ids: Vec::new(), lag: Latencies::new()?, last: None };
    let mut expected: Option<usize> = None;
    // Until the sender is done, only a dead connection ends the wait.
    let mut end = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    loop {
        if expected.is_some_and(|e| out.ids.len() >= e) {
            break;
        }
        let msg = tokio::select! {
            n = &mut expect, if expected.is_none() => {
                expected = Some(n.unwrap_or(0));
                end = tokio::time::Instant::now() + DRAIN;
                continue;
            }
            m = tokio::time::timeout_at(end, ws.next()) => m,
        };
        let Ok(Some(msg)) = msg else { break };
        let Message::Text(t) = msg? else { continue };
        let f = t.as_bytes();
        if !wire::is(f, &wire::PRIVATE_MESSAGE) {
            continue;
        }
        let now = Instant::now();
        out.last = Some(now);
        out.ids.push(wire::id(f).unwrap_or_default());
        if let Some(ns) = wire::sent_ns(f) {
            out.lag.record(now.saturating_duration_since(base + Duration::from_nanos(ns)));
        }
    }
    Ok(out)
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let (pairs, window, size) = (
        args.get("pairs", 20usize),
        args.get("window", 16usize).max(1),
        args.get("size", 100usize),
    );
    let duration = args.get("duration", 0.0f64);
    let messages = args.get("messages", 200usize);
    let gateway = args.gateway();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..pairs {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        receivers.push(connect(&gateway, secret, b).await?);
        senders.push((connect(&gateway, secret, a).await?, b));
    }
    let base = Instant::now();
    let until = if duration > 0.0 {
        Until::Deadline(base + Duration::from_secs_f64(duration))
    } else {
        Until::Count(messages)
    };
    let mut recv_tasks = Vec::new();
    let mut send_tasks = Vec::new();
    for (ws, (sws, to)) in receivers.into_iter().zip(senders) {
        let (tx, rx) = oneshot::channel();
        recv_tasks.push(tokio::spawn(receiver(ws, rx, base)));
        let task = tokio::spawn(sender(sws, to, until, window, size, base));
        send_tasks.push((task, tx));
    }
    let mut ack = Latencies::new()?;
    let (mut acked_ids, mut errors, mut sender_failures) = (Vec::new(), 0usize, 0usize);
    for (t, tx) in send_tasks {
        let out = match t.await? {
            Ok(o) => o,
            Err(e) => {
                eprintln!("sender failed: {e:#}");
                sender_failures += 1;
                SenderOut { ack: Latencies::new()?, acked: Vec::new(), errors: 0 }
            }
        };
        // The receiver may be gone already; its result says so.
        let _ = tx.send(out.acked.len());
        ack.merge(&out.ack)?;
        acked_ids.push(out.acked);
        errors += out.errors;
    }
    let send_elapsed = base.elapsed();
    let (mut lost, mut dup, mut delivered) = (0usize, 0usize, 0usize);
    let mut lag = Latencies::new()?;
    let mut last = base;
    for (t, acked) in recv_tasks.into_iter().zip(acked_ids.iter()) {
        let out = t.await??;
        lag.merge(&out.lag)?;
        last = last.max(out.last.unwrap_or(base));
        delivered += out.ids.len();
        let set: HashSet<&u128> = out.ids.iter().collect();
        dup += out.ids.len() - set.len();
        lost += acked.iter().filter(|id| !set.contains(id)).count();
    }
    let acked_total: usize = acked_ids.iter().map(Vec::len).sum();
    let deliver_elapsed = last.saturating_duration_since(base);
    let sends_per_s = acked_total as f64 / send_elapsed.as_secs_f64().max(1e-9);
    let deliveries_per_s = delivered as f64 / deliver_elapsed.as_secs_f64().max(1e-9);
    println!(
        "pairs={pairs} window={window} size={size} {}",
        match until {
            Until::Count(n) => format!("messages/sender={n}"),
            Until::Deadline(_) => format!("duration={duration}s"),
        }
    );
    println!(
        "sends: {acked_total} acknowledged, {sends_per_s:.0}/s over {send_elapsed:.2?} (errors {errors})"
    );
    println!("deliveries: {delivered}, {deliveries_per_s:.0}/s over {deliver_elapsed:.2?}");
    println!("{}", ack.line("send→ack"));
    println!("{}", lag.line("send→deliver"));
    println!("acknowledged but not delivered: {lost}; delivered twice on one connection: {dup}");
    let line = json!({
        "mode": "chat", "pairs": pairs, "window": window, "size": size,
        "acked": acked_total, "delivered": delivered, "errors": errors,
        "sender_failures": sender_failures, "lost": lost, "duplicated": dup,
        "send_secs": send_elapsed.as_secs_f64(), "deliver_secs": deliver_elapsed.as_secs_f64(),
        "sends_per_s": sends_per_s, "deliveries_per_s": deliveries_per_s,
        "ack_p50_us": ack.us(0.5), "ack_p99_us": ack.us(0.99), "ack_p999_us": ack.us(0.999),
        "deliver_p50_us": lag.us(0.5), "deliver_p99_us": lag.us(0.99),
        "deliver_p999_us": lag.us(0.999),
    });
    println!("BENCH {line}");
    if lost > 0 || dup > 0 {
        bail!("delivery guarantee violated");
    }
    if sender_failures > 0 || acked_total == 0 {
        bail!("{sender_failures} senders failed, {acked_total} messages acknowledged");
    }
    Ok(())
}
