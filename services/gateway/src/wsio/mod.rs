//! The WebSocket transport: the upgrade is taken over from actix-http's
//! HTTP/1 dispatcher (whose fixed 8 KiB read and write buffers would
//! otherwise stay with every connection for its whole life) and the
//! connection runs on the raw `TcpStream` ([`split`] into [`Frames`] and
//! [`Sink`]), which holds no buffer while idle.
pub mod frame;
pub mod handshake;
pub mod socket;

#[cfg(test)]
mod tests;

pub use socket::{Frames, Incoming, RecvError, Sink, split};
