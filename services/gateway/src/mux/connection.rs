//! The delivery connection itself: connects (to each address in turn),
//! subscribes again after a reconnect, keeps the connection alive with
//! `PING`s, and hands each `MSG` to the registry.
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
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

use super::Command;
use crate::{registry::Registry, wire::server};

/// Longest protocol line accepted (a `MSG` line or `INFO`).
const MAX_LINE: usize = 64 * 1024;
/// Keep-alive: a `PING` this often, and the connection is dropped when two go unanswered.
const PING_EVERY: Duration = Duration::from_secs(10);

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

/// Serves the delivery connection until the gateway stops (the commands close).
pub(super) async fn run(
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
