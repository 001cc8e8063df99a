//! The WebSocket transport: the only file that knows actix-ws. [`upgrade`]
//! answers the handshake and splits the socket into the [`Frames`] the
//! client sends and the [`Sink`] the connection writes to; the rest of `ws`
//! sees only these, [`Incoming`] and [`Close`].
use std::future::Future;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session,
};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::{FutureExt, StreamExt};

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
pub struct Frames(AggregatedMessageStream);

/// Where the connection writes.
pub struct Sink(Session);

/// Upgrades a handshake request. A frame larger than `max_frame_bytes` cannot
/// be read: the connection fails with 1009.
pub fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
    max_frame_bytes: usize,
) -> Result<(HttpResponse, Sink, Frames), actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    let stream = stream
        .max_frame_size(max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(max_frame_bytes);
    Ok((response, Sink(session), Frames(stream)))
}

impl Frames {
    /// The next thing the client sent.
    pub fn next(&mut self) -> impl Future<Output = Incoming> + '_ {
        self.0.next().map(|frame| match frame {
            None | Some(Ok(AggregatedMessage::Close(_))) => Incoming::Closed,
            Some(Ok(AggregatedMessage::Text(text))) => Incoming::Text(text),
            Some(Ok(AggregatedMessage::Binary(_))) => Incoming::Binary,
            Some(Ok(AggregatedMessage::Ping(data))) => Incoming::Ping(data),
            Some(Ok(AggregatedMessage::Pong(_))) => Incoming::Pong,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "websocket protocol error");
                Incoming::Failed(protocol_close(&e))
            }
        })
    }
}

impl Sink {
    /// Writes a text frame; false when the socket is gone.
    pub async fn text(&mut self, frame: ByteString) -> bool {
        self.0.text(frame).await.is_ok()
    }

    /// Sends a ping; false when the socket is gone.
    pub async fn ping(&mut self) -> bool {
        self.0.ping(b"").await.is_ok()
    }

    /// Answers a ping; false when the socket is gone.
    pub async fn pong(&mut self, data: &[u8]) -> bool {
        self.0.pong(data).await.is_ok()
    }

    /// Sends the close frame (none: just closes) and ends the socket.
    pub async fn close(self, close: Option<Close>) {
        let reason = close.map(|c| CloseReason {
            code: CloseCode::from(c.code),
            description: Some(c.reason.to_owned()),
        });
        let _ = self.0.close(reason).await;
    }
}

fn protocol_close(e: &ProtocolError) -> Close {
    let (code, reason) = match e {
        ProtocolError::Overflow => (CloseCode::Size, "frame too large"),
        ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (CloseCode::Invalid, "text frame is not valid UTF-8")
        }
        _ => (CloseCode::Protocol, "protocol error"),
    };
    Close { code: code.into(), reason }
}
