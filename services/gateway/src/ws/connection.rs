//! One WebSocket connection: the catch-up on connect, then a loop over
//! client frames, live events (written in stream order by the [`Writer`]),
//! the send batch and reads in flight, gap fills, protocol pings and the
//! gateway's drain signal. A connection is never closed for reading slowly:
//! what does not fit its queue is fetched from the stream as it reads.
//!
//! Each part owns its state: the [`Writer`] what was written, [`Inbound`]
//! the strikes, [`CatchUp`] the retry schedule, [`Sends`] the batches; the
//! loop here hands them the [`Peer`] they all read.
use std::{sync::Arc, time::Duration};

use futures_util::{StreamExt, stream::FuturesOrdered};
use tokio::time::Instant;
use uuid::Uuid;

use super::{
    catchup::CatchUp,
    inbound::{self, Inbound, Refused, Work},
    sends::Sends,
    socket::{Close, Frames, Incoming, Sink},
    writer::Writer,
};
use crate::{
    delivery,
    outq::Receiver,
    presence,
    registry::{Lag, Registration},
    state::AppState,
    wire::{Outbound, client::ClientFrame, server},
};

/// Most sends and read receipts queued or in flight per connection; past it
/// the connection stops reading (back-pressure on the client).
const MAX_IN_FLIGHT: usize = 32;
/// How long a draining connection may take to write what it holds.
const DRAIN_WRITES: Duration = Duration::from_secs(2);

/// Whose connection it is, and the gateway it runs in: what every part of
/// the connection reads.
pub(super) struct Peer {
    /// The gateway.
    pub(super) state: Arc<AppState>,
    /// The connection's user.
    pub(super) user: Uuid,
}

struct Conn {
    peer: Peer,
    /// When the token the connection was opened with stops being valid.
    expires: Instant,
    writer: Writer,
    inbound: Inbound,
    catch_up: CatchUp,
    sends: Sends,
}

/// Whether the loop goes on after a client frame.
enum Flow {
    Continue,
    /// Stop, closing with this (none: the socket is gone).
    Stop(Option<Close>),
}

/// Runs a connection until it closes (at the latest when its token, valid
/// until `expires` in seconds since the epoch, expires: close 4001).
pub(super) async fn run(
    state: Arc<AppState>,
    user: Uuid,
    expires: u64,
    registration: Registration,
    sink: Sink,
    mut frames: Frames,
) {
    let Registration { handle, mut rx, lag, subscription } = registration;
    let left = expires.saturating_sub(unix_now());
    let mut conn = Conn {
        peer: Peer { state: state.clone(), user },
        expires: Instant::now() + Duration::from_secs(left),
        writer: Writer::new(sink),
        inbound: Inbound::default(),
        catch_up: CatchUp::default(),
        sends: Sends::default(),
    };
    let close = if delivery::ensure(&state, user, &subscription).await {
        Box::pin(presence::connection_opened(&state, user, &handle)).await;
        // The pending drain: the stream after the user's delivered cursor.
        if conn.catch_up().await { conn.serve(&mut frames, &mut rx, &lag).await } else { None }
    } else {
        Some(Close { code: Close::TRY_AGAIN, reason: "try again later" })
    };
    tracing::debug!(%user, close = ?close, "connection closed");
    state.registry.unregister(user, handle.id);
    Box::pin(conn.writer.close(frames, close, DRAIN_WRITES)).await;
    Box::pin(presence::connection_closed(&state, user)).await;
}

impl Conn {
    /// Writes the stream forward from where the connection is; false when the socket is gone.
    async fn catch_up(&mut self) -> bool {
        self.catch_up.forward(&self.peer, &mut self.writer).await
    }

    async fn serve(&mut self, frames: &mut Frames, rx: &mut Receiver, lag: &Lag) -> Option<Close> {
        let settings = &self.peer.state.settings;
        let mut draining = self.peer.state.draining.clone();
        let mut reads: FuturesOrdered<Work> = FuturesOrdered::new();
        let mut ping = tokio::time::interval(settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();
        let idle = settings.idle_timeout;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        // Whether the socket took less than was queued (wait until it is writable).
        let mut stalled = false;
        loop {
            // A failed fetch is retried on its own back-off, not by the gap timer.
            let retry = self.catch_up.retry_at();
            let gap = match retry {
                None => self.writer.cursor().gap_deadline().map_or(far, Instant::from_std),
                Some(_) => far,
            };
            let retry = retry.unwrap_or(far);
            tokio::select! {
                biased;
                _ = draining.wait_for(|d| *d) => {
                    Box::pin(self.finish(&mut reads, rx)).await;
                    return Some(Close { code: Close::RESTART, reason: "gateway restarting, reconnect" });
                }
                written = self.writer.writable(), if stalled => {
                    if written.is_err() || !self.writer.flush_now() {
                        return None;
                    }
                    stalled = self.writer.backlog() > 0;
                }
                Some(answers) = self.sends.next(), if self.sends.waiting() => {
                    self.sends.answered(&self.peer);
                    if !self.writer.answers(&self.peer, answers).await {
                        return None;
                    }
                }
                Some(outs) = reads.next(), if !reads.is_empty() => {
                    if !self.writer.write_all(&self.peer, &outs).await {
                        return None;
                    }
                }
                out = rx.recv() => {
                    if !self.writer.event(&self.peer, out).await {
                        return None;
                    }
                }
                () = lag.wait() => {
                    // Write what is queued first, then fetch what did not fit.
                    while let Some(out) = rx.try_recv() {
                        if !self.writer.event(&self.peer, out).await {
                            return None;
                        }
                    }
                    lag.clear();
                    if !self.catch_up().await {
                        return None;
                    }
                    last_heard = Instant::now();
                }
                () = tokio::time::sleep_until(gap), if gap < far => {
                    metrics::counter!("gateway_gap_fills_total").increment(1);
                    if !self.catch_up().await {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(self.expires) => {
                    let reason = "token expired; reconnect with a fresh one";
                    return Some(Close { code: Close::TOKEN_EXPIRED, reason });
                }
                () = tokio::time::sleep_until(retry), if retry < far => {
                    if !self.catch_up().await {
                        return None;
                    }
                }
                incoming = frames.next(), if self.sends.len() + reads.len() < MAX_IN_FLIGHT => {
                    last_heard = Instant::now();
                    let flow = match incoming {
                        Incoming::Text(text) => {
                            metrics::counter!("gateway_frames_in_total").increment(1);
                            self.on_text(&text, &mut reads).await
                        }
                        Incoming::Binary => {
                            let why = "binary frames are not supported; send JSON text";
                            self.reply(&server::error("invalid_json", why, None)).await
                        }
                        Incoming::Ping(data) => {
                            self.writer.pong(&data);
                            Flow::Continue
                        }
                        Incoming::Pong => Flow::Continue,
                        Incoming::Closed => Flow::Stop(None),
                        Incoming::Failed(close) => Flow::Stop(Some(close)),
                    };
                    if let Flow::Stop(close) = flow {
                        return close;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        return Some(Close { code: Close::NORMAL, reason: "idle timeout" });
                    }
                    self.writer.ping();
                }
                // Last, once nothing else is ready: everything written since
                // the last flush goes out in one write; what the socket does
                // not take waits for it to be writable.
                () = std::future::ready(()), if !stalled && self.writer.backlog() > 0 => {
                    if !self.writer.flush_now() {
                        return None;
                    }
                    stalled = self.writer.backlog() > 0;
                }
            }
        }
    }

    /// Acts on a client frame: a send queues for the next batch, a receipt
    /// goes in flight, a `sync` fetches the stream, typing is published.
    async fn on_text(&mut self, text: &str, reads: &mut FuturesOrdered<Work>) -> Flow {
        let frame = match self.inbound.admit(&self.peer, text) {
            Ok(frame) => frame,
            Err(Refused::Reply(out)) => return self.reply(&out).await,
            Err(Refused::Close(out, close)) => {
                let _ = self.writer.write(&out).await;
                return Flow::Stop(Some(close));
            }
        };
        match frame {
            ClientFrame::Ping => return self.reply(&server::pong()).await,
            ClientFrame::PrivateMessage(m) => {
                let id = self.sends.push(&self.peer, m);
                // The echo of this message to the user's devices is not written back here.
                self.writer.cursor().own(id);
            }
            ClientFrame::Typing { receiver_id } => inbound::typing(&self.peer, receiver_id).await,
            ClientFrame::ReadReceipt { message_id } => {
                // The receipt comes back in this user's stream for their other devices.
                self.writer.cursor().reading(message_id.as_u128());
                reads.push_back(inbound::read_receipt(&self.peer, message_id));
            }
            ClientFrame::Sync(from) => {
                if !self.catch_up.sync(&self.peer, &mut self.writer, from).await {
                    return Flow::Stop(None);
                }
            }
        }
        Flow::Continue
    }

    async fn reply(&mut self, out: &Outbound) -> Flow {
        if self.writer.write(out).await { Flow::Continue } else { Flow::Stop(None) }
    }

    /// Draining: answers what the client sent and writes what is queued,
    /// within [`DRAIN_WRITES`] (a client that does not read cannot hold the
    /// gateway), before the 1012 close.
    async fn finish(&mut self, reads: &mut FuturesOrdered<Work>, rx: &mut Receiver) {
        let limit = self.peer.state.settings.common.nats.request_timeout + DRAIN_WRITES;
        let work = async {
            while let Some(answers) = self.sends.next().await {
                self.sends.answered(&self.peer);
                if !self.writer.answers(&self.peer, answers).await {
                    return;
                }
            }
            while let Some(outs) = reads.next().await {
                if !self.writer.write_all(&self.peer, &outs).await {
                    return;
                }
            }
            while let Some(out) = rx.try_recv() {
                if !self.writer.event(&self.peer, out).await {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(limit, work).await;
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, E, G, F>(_: fn(A, B, C, D, E, G) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn an_idle_connection_task_stays_small() {
        // The task of every open connection holds this future: its large
        // steps (catch-up, sync, drain, presence) are boxed so that it stays
        // this small while the connection idles: 2288 bytes (2576 before the
        // connection was split into its parts, 2176 after; the raw-socket
        // halves held inline since cost 112 bytes, and drop actix-http's
        // 16 KiB of dispatcher buffers).
        let size = future_size(super::run);
        assert!(size <= 2288, "the connection future grew to {size} bytes");
    }
}
