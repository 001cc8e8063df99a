//! Load generator for a running system (see docs/benchmarks.md).
//!
//! `loadgen chat --gateway ws://127.0.0.1:3000 --pairs 50 --window 16 [--messages 200 | --duration SECS] [--size 100]`
//! connects `pairs` senders and receivers, each sender keeps `window` sends in
//! flight, and reports sends/s, deliveries/s, send→ack and send→deliver
//! latency (HDR p50/p99/p999), and whether every acknowledged message reached
//! its receiver exactly once.
//!
//! `loadgen idle --gateway ws://127.0.0.1:3000 --connections 2000 --pid <server pid>`
//! opens idle connections and reports the server's resident memory per connection.
//!
//! `loadgen fanout --followers 10000 [--posts 3] [--via http|ws]`: a seeded
//! author with N online followers posts; time until every follower has its
//! `feed_update` (see `fanout.rs`).
//!
//! `loadgen posts --users 10000 --rate 500 --duration 10`: `GET /api/posts`
//! at a fixed rate, open loop (see `posts.rs`).
//!
//! `loadgen storm --clients 10000 [--waiting 2]`: all clients drop at once
//! and reconnect resuming with `sync` (see `storm.rs`).
//!
//! `loadgen relay --listen 127.0.0.1:3900` runs a bare WebSocket relay speaking
//! the same frames (the baseline; see `relay/`).
//!
//! Every generator mode ends with one machine-readable line, `BENCH {json}`.
//! Tokens are minted with `JWT_SECRET` from the environment. The generator
//! runs on one thread (`current_thread`: the benchmark pins it to one core,
//! where a second worker thread would only add switches); the relay runs on
//! tokio's multi-thread runtime, `--threads N` workers (default: one per CPU
//! it may use).
use std::collections::HashMap;

use anyhow::{Context, bail};
use tokio_tungstenite::{connect_async_with_config, tungstenite::protocol::WebSocketConfig};
use uuid::Uuid;

mod chat;
mod conn;
mod fanout;
mod http;
mod idle;
mod posts;
mod relay;
mod stats;
mod storm;
mod wire;

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
    // tungstenite zeroes the free part of its read buffer before every read:
    // at the default 128 KiB that memset was 10% of the generator's time.
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let url = format!("{gateway}/ws/chat/{user}?token={token}");
    let (ws, _) = connect_async_with_config(url, Some(config), true)
        .await
        .with_context(|| format!("failed to connect {user}"))?;
    Ok(ws)
}

fn main() -> anyhow::Result<()> {
    let (mode, args) = Args::parse();
    if mode == "relay" {
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = args.0.get("threads").and_then(|t| t.parse().ok()) {
            rt.worker_threads(n);
        }
        return rt.enable_all().build()?.block_on(relay::run(&args));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(generate(&mode, &args))
}

async fn generate(mode: &str, args: &Args) -> anyhow::Result<()> {
    let secret = || std::env::var("JWT_SECRET").context("JWT_SECRET must be set (the gateway's)");
    match mode {
        "chat" => chat::run(args, &secret()?).await,
        "idle" => idle::run(args, &secret()?).await,
        "fanout" => fanout::run(args, &secret()?).await,
        "posts" => posts::run(args, &secret()?).await,
        "storm" => storm::run(args, &secret()?).await,
        _ => bail!(
            "usage: loadgen chat|idle|fanout|posts|storm|relay [--gateway ws://host:port] (see docs/benchmarks.md)"
        ),
    }
}
