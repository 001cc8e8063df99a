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
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::{Buf, BytesMut};
use prost::Message;
use shared::proto::gateway::v1::UserEvent;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{mpsc, oneshot},
};
use uuid::Uuid;

use crate::{registry::Registry, wire::server};

/// Longest protocol line accepted (a `MSG` line or `INFO`).
const MAX_LINE: usize = 64 * 1024;
/// Pending subscribe/unsubscribe commands.
const COMMANDS: usize = 4096;
/// Keep-alive: a `PING` this often, and the connection is dropped when two go unanswered.
const PING_EVERY: Duration = Duration::from_secs(10);

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
        tokio::spawn(run(addresses, name, registry, rx));
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

struct Sub {
    user: Uuid,
    subject: String,
}

struct State {
    subs: HashMap<u64, Sub>,
    /// Who waits for each `PING` sent, in order (`None`: a keep-alive).
    pongs: VecDeque<Option<Vec<oneshot::Sender<()>>>>,
    /// Subscribers waiting for a connection.
    waiting: Vec<oneshot::Sender<()>>,
    registry: Arc<Registry>,
}

async fn run(
    addresses: Vec<String>,
    name: String,
    registry: Arc<Registry>,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut state =
        State { subs: HashMap::new(), pongs: VecDeque::new(), waiting: Vec::new(), registry };
    let mut attempt: u32 = 0;
    let mut connected_before = false;
    loop {
        let address = &addresses[attempt as usize % addresses.len().max(1)];
        match connect(address, &name).await {
            Ok(stream) => {
                attempt = 0;
                if connected_before {
                    tracing::warn!("delivery connection to nats re-established");
                }
                let stopped = serve(stream, &mut state, &mut rx, connected_before).await;
                connected_before = true;
                if stopped {
                    return;
                }
                metrics::counter!("gateway_delivery_reconnects_total").increment(1);
            }
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, address, "delivery connection to nats failed");
                attempt = attempt.saturating_add(1);
            }
        }
        // Subscribers waiting for a confirmation wait for the next connection.
        for waiters in state.pongs.drain(..).flatten() {
            state.waiting.extend(waiters);
        }
        let backoff = Duration::from_millis(100 * u64::from(attempt.min(20)));
        // Commands keep coming while disconnected; subscriptions are kept for the next connection.
        let sleep = tokio::time::sleep(backoff.max(Duration::from_millis(50)));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                command = rx.recv() => match command {
                    None => return,
                    Some(command) => apply_offline(&mut state, command),
                },
            }
        }
    }
}

fn apply_offline(state: &mut State, command: Command) {
    match command {
        Command::Sub { sid, user, subject, done } => {
            state.subs.insert(sid, Sub { user, subject });
            state.waiting.push(done);
        }
        Command::Unsub { sid } => {
            state.subs.remove(&sid);
        }
    }
}

async fn connect(address: &str, name: &str) -> anyhow::Result<TcpStream> {
    let stream =
        tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(address)).await??;
    stream.set_nodelay(true)?;
    let connect = serde_json::json!({
        "verbose": false, "pedantic": false, "lang": "rust", "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1, "name": format!("{name}-delivery"), "headers": false, "echo": false,
    });
    let mut stream = stream;
    stream.write_all(format!("CONNECT {connect}\r\n").as_bytes()).await?;
    Ok(stream)
}

/// Serves one connection; true when the gateway is stopping (commands closed).
async fn serve(
    stream: TcpStream,
    state: &mut State,
    rx: &mut mpsc::Receiver<Command>,
    reconnected: bool,
) -> bool {
    let (mut reader, mut writer) = stream.into_split();
    let mut out = BytesMut::with_capacity(4096);
    // Every subscription again, then one PING confirming them all.
    for (sid, sub) in &state.subs {
        out.extend_from_slice(format!("SUB {} {sid}\r\n", sub.subject).as_bytes());
    }
    out.extend_from_slice(b"PING\r\n");
    state.pongs.push_back(Some(std::mem::take(&mut state.waiting)));
    let mut lag_on_pong = reconnected;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                return false;
            }
            out.clear();
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                }
                match parse(&mut buf, state, &mut out) {
                    Ok(pongs) => {
                        if pongs > 0 && lag_on_pong {
                            // Resubscribed: what was published while away is fetched.
                            lag_on_pong = false;
                            state.registry.lag_all();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "nats protocol error on the delivery connection");
                        return false;
                    }
                }
            }
            command = rx.recv() => {
                let Some(command) = command else { return true };
                let mut confirm = Vec::new();
                let mut next = Some(command);
                while let Some(command) = next {
                    match command {
                        Command::Sub { sid, user, subject, done } => {
                            out.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes());
                            state.subs.insert(sid, Sub { user, subject });
                            confirm.push(done);
                        }
                        Command::Unsub { sid } => {
                            if state.subs.remove(&sid).is_some() {
                                out.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes());
                            }
                        }
                    }
                    next = rx.try_recv().ok();
                }
                if !confirm.is_empty() {
                    out.extend_from_slice(b"PING\r\n");
                    state.pongs.push_back(Some(confirm));
                }
            }
            _ = ping.tick() => {
                if state.pongs.iter().filter(|p| p.is_none()).count() >= 2 {
                    tracing::warn!("nats stopped answering on the delivery connection");
                    return false;
                }
                out.extend_from_slice(b"PING\r\n");
                state.pongs.push_back(None);
            }
        }
    }
}

/// Handles every complete operation in `buf`; returns how many `PONG`s came.
fn parse(buf: &mut BytesMut, state: &mut State, out: &mut BytesMut) -> Result<usize, String> {
    let mut pongs = 0;
    loop {
        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() > MAX_LINE {
                return Err("protocol line too long".into());
            }
            return Ok(pongs);
        };
        let line = &buf[..end];
        if line.starts_with(b"MSG ") {
            let fields: Vec<&[u8]> =
                line[4..].split(|b| *b == b' ').filter(|f| !f.is_empty()).collect();
            let (sid, size) = match fields.as_slice() {
                [_, sid, size] | [_, sid, _, size] => (number(sid)?, number(size)?),
                _ => return Err("malformed MSG".into()),
            };
            let size = usize::try_from(size).map_err(|_| "MSG too large")?;
            let total = end + 2 + size + 2;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                return Ok(pongs);
            }
            if let Some(sub) = state.subs.get(&sid) {
                dispatch(&state.registry, sub.user, &buf[end + 2..end + 2 + size]);
            }
            buf.advance(total);
            continue;
        }
        if line == b"PING" {
            out.extend_from_slice(b"PONG\r\n");
        } else if line == b"PONG" {
            pongs += 1;
            if let Some(Some(waiters)) = state.pongs.pop_front() {
                for done in waiters {
                    let _ = done.send(());
                }
            }
        } else if line.starts_with(b"-ERR") {
            tracing::warn!(error = %String::from_utf8_lossy(line), "nats error on the delivery connection");
        }
        // INFO and +OK need nothing.
        buf.advance(end + 2);
    }
}

fn number(field: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "malformed number in MSG".to_owned())
}

fn dispatch(registry: &Registry, user: Uuid, payload: &[u8]) {
    metrics::counter!("gateway_events_in_total").increment(1);
    match UserEvent::decode(payload) {
        Ok(event) => {
            if let Some(out) = server::render(&event) {
                registry.dispatch(user, &out);
            }
        }
        Err(e) => tracing::warn!(error = %e, "undecodable user event"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn parses_split_messages_pings_and_pongs() {
        let registry = Arc::new(Registry::new(8));
        let mut state =
            State { subs: HashMap::new(), pongs: VecDeque::new(), waiting: Vec::new(), registry };
        let (done, mut confirmed) = oneshot::channel();
        state.pongs.push_back(Some(vec![done]));
        let mut out = BytesMut::new();
        let mut buf = BytesMut::from(&b"INFO {}\r\n+OK\r\nPING\r\nMSG a.b 7 3\r\nab"[..]);
        assert_eq!(parse(&mut buf, &mut state, &mut out).unwrap(), 0);
        assert_eq!(&out[..], b"PONG\r\n");
        assert_eq!(&buf[..], b"MSG a.b 7 3\r\nab", "an incomplete message waits");
        buf.extend_from_slice(b"c\r\nMSG a.b 7 r.1 0\r\n\r\nPONG\r\n");
        assert_eq!(parse(&mut buf, &mut state, &mut out).unwrap(), 1);
        assert!(buf.is_empty());
        assert!(confirmed.try_recv().is_ok(), "the PONG confirms the waiting subscription");
        let mut bad = BytesMut::from(&b"MSG x\r\n"[..]);
        assert!(parse(&mut bad, &mut state, &mut out).is_err());
    }
}
