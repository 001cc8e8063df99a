//! Load generator for a running system (see docs/benchmarks.md).
//!
//! `loadgen chat --gateway ws://127.0.0.1:3000 --pairs 50 --messages 200 --window 16`
//! connects `pairs` senders and receivers, each sender keeps `window` sends in
//! flight, and reports sends/s, ack and delivery latency percentiles, and
//! whether every acknowledged message reached its receiver exactly once.
//!
//! `loadgen idle --gateway ws://127.0.0.1:3000 --connections 2000 --pid <gateway pid>`
//! opens idle connections and reports the gateway's resident memory per connection.
//!
//! Tokens are minted with `JWT_SECRET` from the environment.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{connect_async, tungstenite::Message};
use uuid::Uuid;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> (String, Args) {
        let mut it = std::env::args().skip(1);
        let mode = it.next().unwrap_or_default();
        let mut map = HashMap::new();
        while let Some(k) = it.next() {
            if let Some(k) = k.strip_prefix("--") {
                map.insert(k.to_owned(), it.next().unwrap_or_default());
            }
        }
        (mode, Args(map))
    }

    fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        self.0.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    fn gateway(&self) -> String {
        self.0.get("gateway").cloned().unwrap_or_else(|| "ws://127.0.0.1:3000".into())
    }
}

async fn connect(gateway: &str, secret: &str, user: Uuid) -> anyhow::Result<Ws> {
    let token = shared::auth::mint(secret, user, 3600, None, None)?;
    let (ws, _) = connect_async(format!("{gateway}/ws/chat/{user}?token={token}"))
        .await
        .with_context(|| format!("failed to connect {user}"))?;
    Ok(ws)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    println!(
        "{name}: n={} p50={:.2?} p95={:.2?} p99={:.2?} max={:.2?}",
        v.len(),
        percentile(&v, 0.50),
        percentile(&v, 0.95),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default()
    );
}

async fn sender(
    mut ws: Ws,
    to: Uuid,
    messages: usize,
    window: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<String>, usize)> {
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::with_capacity(messages);
    let mut acked = Vec::with_capacity(messages);
    let (mut next, mut retries) = (0usize, 0usize);
    let mut pending: Vec<String> = Vec::new();
    while acked.len() < messages {
        while sent_at.len() < window && (next < messages || !pending.is_empty()) {
            let cid = match pending.pop() {
                Some(c) => c,
                None => {
                    next += 1;
                    format!("m{next}")
                }
            };
            let frame = json!({"type":"private_message","receiver_id":to,"content":format!("load {cid}"),"client_msg_id":cid});
            ws.send(Message::text(frame.to_string())).await?;
            sent_at.insert(cid, Instant::now());
        }
        let Some(msg) = tokio::time::timeout(Duration::from_secs(30), ws.next()).await? else {
            bail!("sender connection closed");
        };
        let Message::Text(t) = msg? else { continue };
        let v: Value = serde_json::from_str(t.as_str())?;
        let Some(cid) = v["client_msg_id"].as_str().map(str::to_owned) else { continue };
        let Some(at) = sent_at.remove(&cid) else { continue };
        if v["type"] == "message_ack" {
            latencies.push(at.elapsed());
            acked.push(v["message"]["id"].as_str().unwrap_or_default().to_owned());
        } else {
            // unavailable or rate_limited: resend with the same id later.
            retries += 1;
            pending.push(cid);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok((latencies, acked, retries))
}

async fn receiver(
    mut ws: Ws,
    expect: usize,
    deadline: Duration,
) -> anyhow::Result<(Vec<String>, Vec<Duration>)> {
    let mut ids = Vec::with_capacity(expect);
    let mut lag = Vec::with_capacity(expect);
    let end = tokio::time::Instant::now() + deadline;
    while ids.len() < expect {
        let Ok(Some(msg)) = tokio::time::timeout_at(end, ws.next()).await else { break };
        let Message::Text(t) = msg? else { continue };
        let v: Value = serde_json::from_str(t.as_str())?;
        if v["type"] == "private_message" {
            ids.push(v["message"]["id"].as_str().unwrap_or_default().to_owned());
            // Millisecond timestamps: end-to-end delivery lag from the gateway's receipt.
            let uuid = Uuid::parse_str(v["message"]["id"].as_str().unwrap_or_default())?;
            if let Some(ts) = uuid.get_timestamp() {
                let (s, n) = ts.to_unix();
                let sent = Duration::new(s, n);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
                lag.push(now.saturating_sub(sent));
            }
        }
    }
    Ok((ids, lag))
}

async fn chat(args: &Args, secret: &str) -> anyhow::Result<()> {
    let (pairs, messages, window) =
        (args.get("pairs", 20usize), args.get("messages", 200usize), args.get("window", 16usize));
    let gateway = args.gateway();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..pairs {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        receivers.push(connect(&gateway, secret, b).await?);
        senders.push((connect(&gateway, secret, a).await?, b));
    }
    let started = Instant::now();
    let recv_tasks: Vec<_> = receivers
        .into_iter()
        .map(|ws| tokio::spawn(receiver(ws, messages, Duration::from_secs(120))))
        .collect();
    let send_tasks: Vec<_> = senders
        .into_iter()
        .map(|(ws, to)| tokio::spawn(sender(ws, to, messages, window)))
        .collect();
    let (mut ack_lat, mut acked_ids, mut retries) = (Vec::new(), Vec::new(), 0);
    for t in send_tasks {
        let (l, ids, r) = t.await??;
        ack_lat.extend(l);
        acked_ids.push(ids);
        retries += r;
    }
    let send_elapsed = started.elapsed();
    let (mut lost, mut dup, mut lag_all) = (0usize, 0usize, Vec::new());
    for (t, acked) in recv_tasks.into_iter().zip(acked_ids.iter()) {
        let (got, lag) = t.await??;
        lag_all.extend(lag);
        let set: HashSet<&String> = got.iter().collect();
        dup += got.len() - set.len();
        lost += acked.iter().filter(|id| !set.contains(id)).count();
    }
    let total = pairs * messages;
    println!("pairs={pairs} messages/sender={messages} window={window} total={total}");
    println!(
        "sends: {:.0}/s over {:.2?} (retries {retries})",
        total as f64 / send_elapsed.as_secs_f64(),
        send_elapsed
    );
    report("ack latency", ack_lat);
    report("delivery lag (id time to receiver)", lag_all);
    println!("acknowledged but not delivered: {lost}; delivered twice on one connection: {dup}");
    if lost > 0 || dup > 0 {
        bail!("delivery guarantee violated");
    }
    Ok(())
}

fn rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("bad VmRSS")?.parse()?)
}

async fn idle(args: &Args, secret: &str) -> anyhow::Result<()> {
    let n = args.get("connections", 1000usize);
    let pid = args.0.get("pid").cloned().context("--pid <gateway pid> is required")?;
    let gateway = args.gateway();
    let before = rss_kib(&pid)?;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(&gateway, secret, Uuid::now_v7()).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(&pid)?;
    println!(
        "connections={n} gateway RSS before={before} KiB after={after} KiB => {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    drop(conns);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mode, args) = Args::parse();
    let secret = std::env::var("JWT_SECRET").context("JWT_SECRET must be set (the gateway's)")?;
    match mode.as_str() {
        "chat" => chat(&args, &secret).await,
        "idle" => idle(&args, &secret).await,
        _ => bail!(
            "usage: loadgen chat|idle [--gateway ws://host:port] [--pairs N --messages N --window N] [--connections N --pid PID]"
        ),
    }
}
