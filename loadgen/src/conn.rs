//! Connections to the server under test: many WebSockets from spread source
//! addresses (so ephemeral ports never run short), and the deterministic user
//! ids that `deploy/bench-pinned.sh` seeds with SQL.
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::Context;
use tokio::{net::TcpSocket, task::JoinSet};
use tokio_tungstenite::{
    MaybeTlsStream, client_async_with_config, tungstenite::protocol::WebSocketConfig,
};
use uuid::Uuid;

use crate::Ws;

/// Seeded users of the fan-out scenario: the author is index 0, followers
/// 1..=N. SQL: `('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid`.
pub const FANOUT_BASE: u128 = 0x0000_0000_0000_7000_8000_0000_0000_0000;
/// Seeded users of the `GET /api/posts` scenario, 0..N.
/// SQL: `('00000000-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid`.
pub const POSTS_BASE: u128 = 0x0000_0000_0000_7000_9000_0000_0000_0000;

/// The `i`th seeded user under `base`.
pub fn seeded(base: u128, i: u64) -> Uuid {
    Uuid::from_u128(base + u128::from(i))
}

/// Where the server under test listens.
#[derive(Clone)]
pub struct Target {
    /// `ws://host:port`.
    pub url: String,
    /// `host:port`, for the `Host` header.
    pub host: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// Whether client source addresses are spread over 127.0.0.1–250.
    spread: bool,
}

impl Target {
    /// Resolves `ws://host:port`.
    pub async fn resolve(url: &str) -> anyhow::Result<Self> {
        let host = url
            .strip_prefix("ws://")
            .context("--gateway must be ws://host:port")?
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let addr = tokio::net::lookup_host(&host).await?.next().context("gateway address")?;
        let spread = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
        Ok(Self { url: url.trim_end_matches('/').to_owned(), host, addr, spread })
    }

    /// The source address of the `i`th connection (`None`: the kernel's choice).
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        self.spread.then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8)))
    }

    /// A TCP connection from the `i`th source address, `TCP_NODELAY` on.
    pub async fn tcp(&self, i: usize) -> anyhow::Result<tokio::net::TcpStream> {
        let socket = if self.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = self.source(i) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// A WebSocket as `user` (token minted with `secret`) from the `i`th source address.
    pub async fn ws(&self, secret: &str, user: Uuid, i: usize) -> anyhow::Result<Ws> {
        let token = shared::auth::mint(secret, user, 3600, None, None)?;
        let stream = self.tcp(i).await?;
        let url = format!("{}/ws/chat/{user}?token={token}", self.url);
        // Many clients: small read buffers, so 10,000 of them fit in the generator.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = client_async_with_config(url, MaybeTlsStream::Plain(stream), Some(config))
            .await
            .with_context(|| format!("failed to connect {user}"))?;
        Ok(ws)
    }

    /// Connects every user of `users` (`concurrency` handshakes at a time),
    /// returning the connections in the order of `users`.
    pub async fn ws_many(
        &self,
        secret: &str,
        users: &[Uuid],
        concurrency: usize,
    ) -> anyhow::Result<Vec<Ws>> {
        let mut conns: Vec<Option<Ws>> = (0..users.len()).map(|_| None).collect();
        let mut tasks = JoinSet::new();
        for (i, user) in users.iter().copied().enumerate() {
            if tasks.len() >= concurrency.max(1)
                && let Some(r) = tasks.join_next().await
            {
                let (j, ws) = r??;
                conns[j] = Some(ws);
            }
            let (t, secret) = (self.clone(), secret.to_owned());
            tasks.spawn(async move { anyhow::Ok((i, t.ws_retry(&secret, user, i).await?)) });
        }
        while let Some(r) = tasks.join_next().await {
            let (j, ws) = r??;
            conns[j] = Some(ws);
        }
        conns.into_iter().map(|c| c.context("connection missing")).collect()
    }

    /// [`Target::ws`], retried a few times (a full accept queue refuses).
    pub async fn ws_retry(&self, secret: &str, user: Uuid, i: usize) -> anyhow::Result<Ws> {
        let mut attempt = 0;
        loop {
            match self.ws(secret, user, i).await {
                Ok(ws) => return Ok(ws),
                Err(e) if attempt >= 5 => return Err(e),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_match_the_sql_that_seeds_them() {
        assert_eq!(seeded(FANOUT_BASE, 0).to_string(), "00000000-0000-7000-8000-000000000000");
        assert_eq!(seeded(FANOUT_BASE, 10_000).to_string(), "00000000-0000-7000-8000-000000002710");
        assert_eq!(seeded(POSTS_BASE, 255).to_string(), "00000000-0000-7000-9000-0000000000ff");
    }
}
