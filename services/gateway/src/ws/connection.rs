//! One WebSocket connection: the catch-up on connect, then a loop over
//! client frames, live events (written in stream order by the [`Cursor`]),
//! the send batch and reads in flight, gap fills, protocol pings and the
//! gateway's drain signal. A connection is never closed for reading slowly:
//! what does not fit its queue is fetched from the stream as it reads.
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use futures_util::{StreamExt, stream::FuturesOrdered};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    presence,
    registry::{Lag, Outbound, Registration},
    state::AppState,
    ws::{cursor::Cursor, delivery, frames, sends::Sends},
};

/// Most sends and read receipts queued or in flight per connection; past it
/// the connection stops reading (back-pressure on the client).
const MAX_IN_FLIGHT: usize = 32;
/// Longest accepted message content, in bytes.
pub(super) const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Consecutive oversized frames before closing with 1009.
pub(super) const MAX_SIZE_STRIKES: u32 = 3;
/// Consecutive rate-limited frames before closing with 1008.
pub(super) const MAX_RATE_STRIKES: u32 = 20;
/// How long a draining connection may take to write what it holds.
const DRAIN_WRITES: Duration = Duration::from_secs(2);
/// The close code of a connection whose token expired (reconnect with a fresh one).
pub const TOKEN_EXPIRED: u16 = 4001;

pub(super) type Work = Pin<Box<dyn Future<Output = Vec<Outbound>>>>;

pub(super) struct Conn {
    pub(super) state: Arc<AppState>,
    pub(super) user: Uuid,
    /// When the token the connection was opened with stops being valid.
    pub(super) expires: Instant,
    pub(super) session: Session,
    pub(super) cursor: Cursor,
    /// Frames the cursor released, reused for every live event.
    pub(super) ready: Vec<Outbound>,
    pub(super) sends: Sends,
    /// When a failed catch-up is tried again.
    pub(super) retry_at: Option<Instant>,
    pub(super) retry_delay: Duration,
    pub(super) size_strikes: u32,
    pub(super) rate_strikes: u32,
}

pub(super) enum Flow {
    Continue,
    Close(CloseReason),
}

pub(super) fn close(code: CloseCode, description: &str) -> Flow {
    Flow::Close(CloseReason { code, description: Some(description.to_owned()) })
}

/// Runs a connection until it closes (at the latest when its token, valid
/// until `expires` in seconds since the epoch, expires: close 4001).
pub async fn run(
    state: Arc<AppState>,
    user: Uuid,
    expires: u64,
    registration: Registration,
    session: Session,
    mut stream: AggregatedMessageStream,
) {
    let Registration { handle, mut rx, lag, subscription } = registration;
    let left = expires.saturating_sub(unix_now());
    let mut conn = Conn {
        state: state.clone(),
        user,
        expires: Instant::now() + Duration::from_secs(left),
        session,
        cursor: Cursor::default(),
        ready: Vec::new(),
        sends: Sends::default(),
        retry_at: None,
        retry_delay: Duration::from_millis(500),
        size_strikes: 0,
        rate_strikes: 0,
    };
    let subscribed = {
        let mut guard = subscription.lock().await;
        if guard.is_none() {
            match Box::pin(delivery::subscribe(&state, user)).await {
                Ok(task) => {
                    *guard = Some(task);
                    true
                }
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "failed to subscribe a user's events");
                    false
                }
            }
        } else {
            true
        }
    };
    let reason = if subscribed {
        Box::pin(presence::connection_opened(&state, user, &handle)).await;
        // The pending drain: the stream after the user's delivered cursor.
        if conn.catch_up().await { conn.serve(&mut stream, &mut rx, &lag).await } else { None }
    } else {
        Some(CloseReason { code: CloseCode::Again, description: Some("try again later".into()) })
    };
    tracing::debug!(%user, reason = ?reason, "connection closed");
    let last = state.registry.unregister(user, handle.id);
    let _ = tokio::time::timeout(DRAIN_WRITES, conn.session.close(reason)).await;
    Box::pin(presence::connection_closed(&state, user, last)).await;
}

impl Conn {
    pub(super) async fn write(&mut self, out: &Outbound) -> bool {
        metrics::counter!("gateway_frames_out_total").increment(1);
        self.session.text(out.frame.clone()).await.is_ok()
    }

    /// Writes frames in order; false when the socket is gone.
    pub(super) async fn write_all(&mut self, outs: &[Outbound]) -> bool {
        for out in outs {
            if !self.write(out).await {
                return false;
            }
        }
        self.report();
        true
    }

    /// Tells chat-persistence (batched, by [`crate::cursors`]) how far the stream was written.
    pub(super) fn report(&self) {
        if let Some(hi) = self.cursor.hi() {
            self.state.cursors.advance(self.user, hi);
        }
    }

    /// An event from the user's subject, or a reply queued by presence.
    async fn on_event(&mut self, out: Outbound) -> bool {
        if out.seq == 0 {
            return self.write(&out).await;
        }
        let mut ready = std::mem::take(&mut self.ready);
        self.cursor.live(out, std::time::Instant::now(), &mut ready);
        let written = ready.is_empty() || self.write_all(&ready).await;
        ready.clear();
        self.ready = ready;
        written
    }

    async fn serve(
        &mut self,
        stream: &mut AggregatedMessageStream,
        rx: &mut crate::outq::Receiver,
        lag: &Lag,
    ) -> Option<CloseReason> {
        let mut draining = self.state.draining.clone();
        let mut reads: FuturesOrdered<Work> = FuturesOrdered::new();
        let mut ping = tokio::time::interval(self.state.settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();
        let idle = self.state.settings.idle_timeout;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            // A failed fetch is retried on its own back-off, not by the gap timer.
            let gap = match self.retry_at {
                None => self.cursor.gap_deadline().map_or(far, Instant::from_std),
                Some(_) => far,
            };
            let retry = self.retry_at.unwrap_or(far);
            tokio::select! {
                biased;
                _ = draining.wait_for(|d| *d) => {
                    Box::pin(self.finish(&mut reads, rx)).await;
                    return Some(CloseReason {
                        code: CloseCode::Restart,
                        description: Some("gateway restarting, reconnect".into()),
                    });
                }
                Some(answers) = self.sends.in_flight.next(), if !self.sends.in_flight.is_empty() => {
                    self.sends.answered(&self.state);
                    if !self.on_answers(answers).await {
                        return None;
                    }
                }
                Some(outs) = reads.next(), if !reads.is_empty() => {
                    if !self.write_all(&outs).await {
                        return None;
                    }
                }
                out = rx.recv() => {
                    if !self.on_event(out).await {
                        return None;
                    }
                }
                () = lag.wait() => {
                    // Write what is queued first, then fetch what did not fit.
                    while let Some(out) = rx.try_recv() {
                        if !self.on_event(out).await {
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
                    return Some(CloseReason {
                        code: CloseCode::Other(TOKEN_EXPIRED),
                        description: Some("token expired; reconnect with a fresh one".into()),
                    });
                }
                () = tokio::time::sleep_until(retry), if retry < far => {
                    if !self.catch_up().await {
                        return None;
                    }
                }
                frame = stream.next(), if self.sends.len() + reads.len() < MAX_IN_FLIGHT => {
                    last_heard = Instant::now();
                    let flow = match frame {
                        None => return None,
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            metrics::counter!("gateway_frames_in_total").increment(1);
                            self.on_text(&text, &mut reads).await
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            self.reply(frames::error("invalid_json", "binary frames are not supported; send JSON text", None)).await
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() { return None }
                            Flow::Continue
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => Flow::Continue,
                        Some(Ok(AggregatedMessage::Close(_))) => return None,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "websocket protocol error");
                            return Some(protocol_close(&e));
                        }
                    };
                    if let Flow::Close(reason) = flow {
                        return Some(reason);
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        return Some(CloseReason { code: CloseCode::Normal, description: Some("idle timeout".into()) });
                    }
                    if self.session.ping(b"").await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Writes the acks (or errors) of a send batch, moving the cursor past
    /// acknowledged messages that are next in the stream.
    async fn on_answers(&mut self, answers: Vec<super::sends::Answer>) -> bool {
        for answer in answers {
            let ready = match answer {
                super::sends::Answer::Ack { out, seq, id } => {
                    if !self.write(&out).await {
                        return false;
                    }
                    let mut ready = Vec::new();
                    self.cursor.acked(seq, id, &mut ready);
                    ready
                }
                super::sends::Answer::Error(out) => {
                    if !self.write(&out).await {
                        return false;
                    }
                    continue;
                }
            };
            if !self.write_all(&ready).await {
                return false;
            }
        }
        true
    }

    /// Draining: answers what the client sent and writes what is queued,
    /// within [`DRAIN_WRITES`] (a client that does not read cannot hold the
    /// gateway), before the 1012 close.
    async fn finish(&mut self, reads: &mut FuturesOrdered<Work>, rx: &mut crate::outq::Receiver) {
        let limit = self.state.settings.common.nats.request_timeout + DRAIN_WRITES;
        let work = async {
            while let Some(answers) = self.sends.in_flight.next().await {
                self.sends.answered(&self.state);
                if !self.on_answers(answers).await {
                    return;
                }
            }
            while let Some(outs) = reads.next().await {
                if !self.write_all(&outs).await {
                    return;
                }
            }
            while let Some(out) = rx.try_recv() {
                if !self.on_event(out).await {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(limit, work).await;
    }

    pub(super) async fn reply(&mut self, out: Outbound) -> Flow {
        if self.write(&out).await { Flow::Continue } else { close(CloseCode::Away, "") }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn protocol_close(e: &actix_ws::ProtocolError) -> CloseReason {
    use actix_ws::ProtocolError;
    let (code, description) = match e {
        ProtocolError::Overflow => (CloseCode::Size, "frame too large"),
        ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (CloseCode::Invalid, "text frame is not valid UTF-8")
        }
        _ => (CloseCode::Protocol, "protocol error"),
    };
    CloseReason { code, description: Some(description.to_owned()) }
}
