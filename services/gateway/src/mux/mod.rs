//! The users' delivery subscriptions, multiplexed on one NATS connection of
//! the gateway's own. NATS still routes by subject (one `SUB` per user with
//! a connection here, so a message reaches only the gateways holding its
//! receiver), but every event is parsed and handed to the registry by this
//! one task: no channel and no task per user (async-nats gives every
//! subscription a channel whose first block is 32 messages, about 6 KiB),
//! and one hop fewer per event.
//!
//! Speaks the NATS client protocol's subset a subscriber needs (`INFO`,
//! `CONNECT`, `SUB`, `UNSUB`, `MSG`, `PING`/`PONG`). A subscription is
//! confirmed by the `PONG` that answers the `PING` sent after its `SUB`.
//! After a reconnect every subscription is sent again and, once confirmed,
//! every connection is marked lagging: what was published meanwhile is
//! fetched from the streams. Used for plain `nats://` URLs without
//! credentials; with TLS or credentials the gateway subscribes through
//! async-nats instead ([`crate::delivery`]).
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::registry::Registry;

mod connection;

/// Pending subscribe/unsubscribe commands.
const COMMANDS: usize = 4096;

enum Command {
    Sub { sid: u64, user: Uuid, subject: String, done: oneshot::Sender<()> },
    Unsub { sid: u64 },
}

/// The handle the connections use.
pub struct DeliveryMux {
    tx: mpsc::Sender<Command>,
    next_sid: AtomicU64,
}

/// One user's subscription; dropping it does not unsubscribe, [`Subscription::cancel`] does.
pub struct Subscription {
    sid: u64,
    tx: mpsc::Sender<Command>,
}

impl Subscription {
    /// Unsubscribes (queued; never blocks).
    pub fn cancel(&self) {
        let command = Command::Unsub { sid: self.sid };
        if let Err(mpsc::error::TrySendError::Full(command)) = self.tx.try_send(command) {
            let tx = self.tx.clone();
            tokio::spawn(async move { tx.send(command).await });
        }
    }
}

/// The `host:port` of each URL when the multiplexer can serve them (plain
/// `nats://` URLs without user info), else `None`.
pub fn plain_addresses(url: &str, tls: bool, creds: bool) -> Option<Vec<String>> {
    if tls || creds {
        return None;
    }
    url.split(',')
        .map(|u| {
            let u = u.trim();
            let rest = u.strip_prefix("nats://").unwrap_or(u);
            let hostport = rest.trim_end_matches('/');
            if hostport.is_empty() || hostport.contains(['@', '/', '?']) || rest.contains("://") {
                return None;
            }
            Some(if hostport.contains(':') {
                hostport.to_owned()
            } else {
                format!("{hostport}:4222")
            })
        })
        .collect()
}

impl DeliveryMux {
    /// Starts the connection task for these server addresses.
    pub fn start(addresses: Vec<String>, name: String, registry: Arc<Registry>) -> Self {
        let (tx, rx) = mpsc::channel(COMMANDS);
        tokio::spawn(connection::run(addresses, name, registry, rx));
        Self { tx, next_sid: AtomicU64::new(1) }
    }

    /// Subscribes `user`'s events to `subject`; returns once the server confirmed it.
    pub async fn subscribe(&self, user: Uuid, subject: String) -> anyhow::Result<Subscription> {
        let sid = self.next_sid.fetch_add(1, Ordering::Relaxed);
        let (done, confirmed) = oneshot::channel();
        self.tx
            .send(Command::Sub { sid, user, subject, done })
            .await
            .map_err(|_| anyhow::anyhow!("delivery connection stopped"))?;
        // Unsubscribes unless confirmed, also when the caller gives up
        // waiting (its timeout drops this future).
        let mut pending = Unconfirmed(Some(Subscription { sid, tx: self.tx.clone() }));
        if confirmed.await.is_err() {
            anyhow::bail!("nats connection lost before the subscription was confirmed");
        }
        pending.0.take().ok_or_else(|| anyhow::anyhow!("subscription already taken"))
    }
}

/// A subscription not confirmed yet: cancelled if dropped as such.
struct Unconfirmed(Option<Subscription>);

impl Drop for Unconfirmed {
    fn drop(&mut self) {
        if let Some(sub) = self.0.take() {
            sub.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn plain_urls_are_served_and_others_left_to_async_nats() {
        assert_eq!(
            plain_addresses("nats://127.0.0.1:4222", false, false),
            Some(vec!["127.0.0.1:4222".into()])
        );
        assert_eq!(
            plain_addresses("nats://a:1, nats://b", false, false),
            Some(vec!["a:1".into(), "b:4222".into()])
        );
        assert_eq!(plain_addresses("nats://u:p@a:1", false, false), None);
        assert_eq!(plain_addresses("tls://a:1", false, false), None);
        assert_eq!(plain_addresses("nats://a:1", true, false), None);
        assert_eq!(plain_addresses("nats://a:1", false, true), None);
    }

    #[tokio::test]
    async fn an_abandoned_or_failed_subscribe_unsubscribes() {
        // A server that accepts and never answers: the caller gives up.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let n = socket.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return String::from_utf8_lossy(&seen).into_owned();
                }
                seen.extend_from_slice(&chunk[..n]);
                if seen.windows(7).any(|w| w == b"UNSUB 1") {
                    return String::from_utf8_lossy(&seen).into_owned();
                }
            }
        });
        let mux = DeliveryMux::start(vec![address], "test".into(), Arc::new(Registry::new(8)));
        let user = Uuid::now_v7();
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            mux.subscribe(user, "p.deliver.u".into()),
        )
        .await;
        assert!(waited.is_err(), "no PONG: the caller times out");
        let seen = tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
        assert!(seen.contains("SUB p.deliver.u 1\r\n"), "{seen}");
        assert!(seen.contains("UNSUB 1\r\n"), "the abandoned subscription is withdrawn: {seen}");
    }
}
