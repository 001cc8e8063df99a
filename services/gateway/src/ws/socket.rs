//! The WebSocket transport as the connection sees it, over [`crate::wsio`]
//! (the raw socket taken over from actix-http at the upgrade): the
//! [`Frames`] the client sends and the [`Sink`] the connection writes to;
//! the rest of `ws` sees only these, [`Incoming`] and [`Close`]. Writes are
//! queued and go out in one `write` per turn of the connection's loop
//! ([`Sink::flush_now`]), or when the socket can take them.
use std::{io, time::Duration};

use bytes::Bytes;
use bytestring::ByteString;

use crate::wsio::{self, RecvError, frame::ProtocolError};

/// A close frame to send: its code and a reason for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The close code (RFC 6455 §7.4, or 4001 for an expired token).
    pub code: u16,
    /// Why.
    pub reason: &'static str,
}

impl Close {
    /// 1000: normal closure.
    pub const NORMAL: u16 = 1000;
    /// 1008: the client broke a policy (the rate limit).
    pub const POLICY: u16 = 1008;
    /// 1009: frames too large.
    pub const TOO_BIG: u16 = 1009;
    /// 1012: the server is restarting.
    pub const RESTART: u16 = 1012;
    /// 1013: try again later.
    pub const TRY_AGAIN: u16 = 1013;
    /// 4001: the token expired (reconnect with a fresh one).
    pub const TOKEN_EXPIRED: u16 = 4001;
}

/// What the client sent.
pub enum Incoming {
    /// A text frame (continuations already joined).
    Text(ByteString),
    /// A binary frame (refused by the protocol, answered with an error).
    Binary,
    /// A ping, to be answered with a pong carrying its data.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client closed, or the socket is gone.
    Closed,
    /// The client broke the protocol: the connection closes with this.
    Failed(Close),
}

/// The frames the client sends.
pub struct Frames(wsio::Frames);

/// Where the connection writes.
pub struct Sink(wsio::Sink);

/// Wraps the halves of an upgraded socket.
pub fn wrap((frames, sink): (wsio::Frames, wsio::Sink)) -> (Sink, Frames) {
    (Sink(sink), Frames(frames))
}

impl Frames {
    /// The next thing the client sent (cancel-safe).
    pub async fn next(&mut self) -> Incoming {
        match self.0.recv().await {
            Ok(wsio::Incoming::Text(text)) => Incoming::Text(text),
            Ok(wsio::Incoming::Binary) => Incoming::Binary,
            Ok(wsio::Incoming::Ping(data)) => Incoming::Ping(data),
            Ok(wsio::Incoming::Pong) => Incoming::Pong,
            Ok(wsio::Incoming::Close(_)) | Err(RecvError::Eof | RecvError::Io(_)) => {
                Incoming::Closed
            }
            Err(RecvError::Protocol(e)) => {
                tracing::debug!(error = %e, "websocket protocol error");
                Incoming::Failed(protocol_close(e))
            }
        }
    }
}

impl Sink {
    /// Queues a text frame (waiting only while a large backlog is unread);
    /// false when the socket is gone.
    pub async fn text(&mut self, frame: &[u8]) -> bool {
        self.0.send_text(frame).await.is_ok()
    }

    /// Queues a ping.
    pub fn ping(&mut self) {
        self.0.ping();
    }

    /// Queues the answer to a ping.
    pub fn pong(&mut self, data: &[u8]) {
        self.0.pong(data);
    }

    /// Writes what is queued as far as the socket takes it now; false when
    /// the socket is gone.
    pub fn flush_now(&mut self) -> bool {
        self.0.try_flush().is_ok()
    }

    /// Bytes queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.0.backlog()
    }

    /// Resolves when the socket can take more of the backlog.
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }

    /// Sends the close frame (none: an empty one), writes what is queued
    /// within `within`, and ends the socket.
    pub async fn close(self, frames: Frames, close: Option<Close>, within: Duration) {
        let (code, reason) = close.map_or((None, ""), |c| (Some(c.code), c.reason));
        self.0.close(frames.0, code, reason, within).await;
    }
}

fn protocol_close(e: ProtocolError) -> Close {
    let reason = match e {
        ProtocolError::Overflow => "frame too large",
        ProtocolError::Utf8 => "text frame is not valid UTF-8",
        _ => "protocol error",
    };
    Close { code: e.close_code(), reason }
}
