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
//! `loadgen relay --listen 127.0.0.1:3900` runs a bare WebSocket relay speaking
//! the same frames (the baseline; see `relay.rs`).
//!
//! `chat` and `idle` end with one machine-readable line, `BENCH {json}`.
//! Tokens are minted with `JWT_SECRET` from the environment.
use std::collections::HashMap;

use anyhow::{Context, bail};
use tokio_tungstenite::connect_async_with_config;
use uuid::Uuid;

mod chat;
mod idle;
mod relay;
mod stats;

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
    let (ws, _) =
        connect_async_with_config(format!("{gateway}/ws/chat/{user}?token={token}"), None, true)
            .await
            .with_context(|| format!("failed to connect {user}"))?;
    Ok(ws)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mode, args) = Args::parse();
    if mode == "relay" {
        return relay::run(&args).await;
    }
    let secret = || std::env::var("JWT_SECRET").context("JWT_SECRET must be set (the gateway's)");
    match mode.as_str() {
        "chat" => chat::run(&args, &secret()?).await,
        "idle" => idle::run(&args, &secret()?).await,
        _ => bail!(
            "usage: loadgen chat|idle|relay [--gateway ws://host:port] [--pairs N --window N --messages N | --duration SECS --size BYTES] [--connections N --pid PID --concurrency N] [--listen ADDR]"
        ),
    }
}
