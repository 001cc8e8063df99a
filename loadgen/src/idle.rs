//! `loadgen idle`: opens idle authenticated connections (one user each) and
//! reports the server's resident memory per connection and the connect rate.
//!
//! Against a loopback server the client source addresses are spread over
//! 127.0.0.1–127.0.0.250, so ephemeral ports never run short.
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;
use tokio::{net::TcpSocket, task::JoinSet};
use tokio_tungstenite::{
    MaybeTlsStream, client_async_with_config, tungstenite::protocol::WebSocketConfig,
};
use uuid::Uuid;

use crate::{Args, Ws};

fn rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("bad VmRSS")?.parse()?)
}

/// Connects as `user` from `src` (when given).
async fn connect_from(
    gateway: &str,
    addr: SocketAddr,
    secret: &str,
    user: Uuid,
    src: Option<IpAddr>,
) -> anyhow::Result<Ws> {
    let token = shared::auth::mint(secret, user, 3600, None, None)?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = src {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("{gateway}/ws/chat/{user}?token={token}");
    // Idle clients: small read buffers, so 10,000 of them fit in the generator.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = client_async_with_config(url, MaybeTlsStream::Plain(stream), Some(config))
        .await
        .with_context(|| format!("failed to connect {user}"))?;
    Ok(ws)
}

pub async fn run(args: &Args, secret: &str) -> anyhow::Result<()> {
    let n = args.get("connections", 1000usize);
    let concurrency = args.get("concurrency", 32usize).max(1);
    let pid = args.0.get("pid").cloned().context("--pid <server pid> is required")?;
    let gateway = args.gateway();
    let host = gateway
        .strip_prefix("ws://")
        .context("--gateway must be ws://host:port")?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let addr = tokio::net::lookup_host(&host).await?.next().context("gateway address")?;
    let spread = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
    let before = rss_kib(&pid)?;
    let started = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut tasks = JoinSet::new();
    for i in 0..n {
        if tasks.len() >= concurrency
            && let Some(r) = tasks.join_next().await
        {
            conns.push(r??);
        }
        let src = spread.then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8)));
        let (gateway, secret) = (gateway.clone(), secret.to_owned());
        tasks
            .spawn(async move { connect_from(&gateway, addr, &secret, Uuid::now_v7(), src).await });
    }
    while let Some(r) = tasks.join_next().await {
        conns.push(r??);
    }
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
