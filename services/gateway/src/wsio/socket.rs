//! A server WebSocket over a raw `TcpStream`, split into the [`Frames`]
//! the client sends and the [`Sink`] written to; lean by construction: an
//! idle connection holds no buffer. Bytes are read only once the socket is
//! readable, into a buffer released as soon as every frame in it is taken;
//! frames to send are queued in a buffer written out by [`Sink::try_flush`]
//! (one `write` for everything queued since the last flush) and released
//! once written.
use std::{io, time::Duration};

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use tokio::{
    io::AsyncWriteExt,
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use super::frame::{self, Opcode, ProtocolError};

/// How much is read at a time.
const READ_CHUNK: usize = 4096;
/// Queued output past which [`Socket::send_text`] waits for the peer to read.
const HIGH_WATER: usize = 256 * 1024;
/// A written-out send buffer larger than this is released, not kept.
const KEEP_WRITE: usize = 512;
/// How long a closing socket waits for the peer to read the close frame and
/// hang up, so that unread input does not turn the close into a reset.
const LINGER: Duration = Duration::from_secs(1);

/// A complete message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(ByteString),
    Binary,
    /// A ping: answer it with a pong carrying the same bytes.
    Ping(Bytes),
    Pong,
    /// The client's close code (1005 when it gave none).
    Close(u16),
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    #[error("peer hung up")]
    Eof,
}

/// Splits an upgraded stream; `read` holds bytes the client sent after its
/// handshake that were already read. A frame or message longer than
/// `max_len` ends the connection (1009).
pub fn split(io: TcpStream, read: BytesMut, max_len: usize) -> (Frames, Sink) {
    let (r, w) = io.into_split();
    (Frames { io: r, rbuf: read, partial: None, max_len }, Sink { io: w, wbuf: BytesMut::new() })
}

/// What the client sends.
pub struct Frames {
    io: OwnedReadHalf,
    rbuf: BytesMut,
    /// A fragmented message being put together: its opcode and bytes so far.
    partial: Option<Box<(Opcode, BytesMut)>>,
    max_len: usize,
}

/// Where the server writes.
pub struct Sink {
    io: OwnedWriteHalf,
    wbuf: BytesMut,
}

impl Frames {
    /// The next message or control frame. Cancel-safe: what was read stays
    /// buffered.
    pub async fn recv(&mut self) -> Result<Incoming, RecvError> {
        loop {
            if let Some(incoming) = self.parse()? {
                return Ok(incoming);
            }
            self.fill().await?;
        }
    }

    /// Buffer capacity held (read buffer and a partial message).
    pub fn held(&self) -> usize {
        self.rbuf.capacity() + self.partial.as_ref().map_or(0, |p| p.1.capacity())
    }

    /// Reads once the socket is readable (no buffer is held while waiting).
    async fn fill(&mut self) -> Result<(), RecvError> {
        loop {
            self.io.readable().await?;
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            match self.io.try_read_buf(&mut self.rbuf) {
                Ok(0) => return Err(RecvError::Eof),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes the next complete message or control frame out of the read
    /// buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        loop {
            let Some(header) = frame::parse_header(&self.rbuf, self.max_len)? else {
                return Ok(None);
            };
            let total = header.size + header.len;
            if self.rbuf.len() < total {
                self.rbuf.reserve(total - self.rbuf.len());
                return Ok(None);
            }
            let mut payload = self.rbuf.split_to(total);
            if self.rbuf.is_empty() {
                self.rbuf = BytesMut::new();
            }
            payload.advance(header.size);
            frame::unmask(&mut payload, header.mask);
            match header.opcode {
                Opcode::Text | Opcode::Binary => {
                    if self.partial.is_some() {
                        return Err(ProtocolError::Continuation);
                    }
                    if header.fin {
                        return complete(header.opcode, payload).map(Some);
                    }
                    self.partial = Some(Box::new((header.opcode, payload)));
                }
                Opcode::Continuation => {
                    let mut partial = self.partial.take().ok_or(ProtocolError::Continuation)?;
                    let message = &mut partial.1;
                    if message.len() + payload.len() > self.max_len {
                        return Err(ProtocolError::Overflow);
                    }
                    message.extend_from_slice(&payload);
                    if header.fin {
                        let (opcode, message) = *partial;
                        return complete(opcode, message).map(Some);
                    }
                    self.partial = Some(partial);
                }
                Opcode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
                Opcode::Pong => return Ok(Some(Incoming::Pong)),
                Opcode::Close => {
                    return frame::parse_close(&payload).map(|c| Some(Incoming::Close(c)));
                }
            }
        }
    }
}

impl Sink {
    /// Queues a text frame; waits only when [`HIGH_WATER`] bytes are queued
    /// and the client is not reading them.
    pub async fn send_text(&mut self, text: &[u8]) -> io::Result<()> {
        self.queue(Opcode::Text, text);
        if self.wbuf.len() >= HIGH_WATER { self.flush().await } else { Ok(()) }
    }

    /// Queues a ping.
    pub fn ping(&mut self) {
        self.queue(Opcode::Ping, b"");
    }

    /// Queues the answer to a ping.
    pub fn pong(&mut self, data: &[u8]) {
        self.queue(Opcode::Pong, &data[..data.len().min(125)]);
    }

    /// Bytes queued and not yet written.
    pub fn backlog(&self) -> usize {
        self.wbuf.len()
    }

    /// Buffer capacity held.
    pub fn held(&self) -> usize {
        self.wbuf.capacity()
    }

    /// Writes what is queued without waiting; what the kernel does not take
    /// stays queued (wait for [`Sink::writable`], then call again).
    pub fn try_flush(&mut self) -> io::Result<()> {
        while !self.wbuf.is_empty() {
            match self.io.try_write(&self.wbuf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if self.wbuf.capacity() > KEEP_WRITE {
            self.wbuf = BytesMut::new();
        }
        Ok(())
    }

    /// Resolves when the socket can take more bytes.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        loop {
            self.try_flush()?;
            if self.wbuf.is_empty() {
                return Ok(());
            }
            self.io.writable().await?;
        }
    }

    /// Sends a close frame (no code for `None`: the answer to a close
    /// without one), writes what is queued within `within`, and hangs up.
    /// Reads what the client still sends until it hangs up too (at most
    /// [`LINGER`]): closing with unread input would reset the connection
    /// and could discard the close frame.
    pub async fn close(
        mut self,
        frames: Frames,
        code: Option<u16>,
        reason: &str,
        within: Duration,
    ) {
        let mut payload = [0u8; 125];
        let len = match code {
            None => 0,
            Some(code) => {
                payload[..2].copy_from_slice(&code.to_be_bytes());
                let mut end = reason.len().min(123);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
                2 + end
            }
        };
        self.queue(Opcode::Close, &payload[..len]);
        if tokio::time::timeout(within, self.flush()).await.is_err() {
            return;
        }
        let _ = self.io.shutdown().await;
        let _ = tokio::time::timeout(LINGER, async {
            let mut sink = [0u8; 256];
            loop {
                if frames.io.readable().await.is_err() {
                    return;
                }
                match frames.io.try_read(&mut sink) {
                    Ok(0) => return,
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
                    _ => {}
                }
            }
        })
        .await;
    }

    fn queue(&mut self, opcode: Opcode, payload: &[u8]) {
        frame::put_header(&mut self.wbuf, opcode, payload.len());
        self.wbuf.extend_from_slice(payload);
    }
}

fn complete(opcode: Opcode, payload: BytesMut) -> Result<Incoming, ProtocolError> {
    if opcode == Opcode::Binary {
        return Ok(Incoming::Binary);
    }
    ByteString::try_from(payload.freeze()).map(Incoming::Text).map_err(|_| ProtocolError::Utf8)
}
