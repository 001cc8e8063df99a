//! A connection's writing side: the socket's [`Sink`] and the connection's
//! place in its user's stream ([`Cursor`]). Live events, acks, fetched pages
//! and replies are all written here, and how far the stream was written is
//! reported to chat-persistence (batched by [`crate::cursors`]).
use super::{
    connection::Peer,
    cursor::Cursor,
    sends::Answer,
    socket::{Close, Frames, Sink},
};
use crate::wire::Outbound;

/// Writes a connection's frames, in stream order where they have one.
pub(super) struct Writer {
    sink: Sink,
    cursor: Cursor,
    /// Frames the cursor released, reused for every live event.
    ready: Vec<Outbound>,
}

impl Writer {
    /// A writer that has not started on the stream yet.
    pub(super) fn new(sink: Sink) -> Self {
        Self { sink, cursor: Cursor::default(), ready: Vec::new() }
    }

    /// Where the connection is in its user's stream.
    pub(super) fn cursor(&mut self) -> &mut Cursor {
        &mut self.cursor
    }

    /// Writes one frame; false when the socket is gone.
    pub(super) async fn write(&mut self, out: &Outbound) -> bool {
        metrics::counter!("gateway_frames_out_total").increment(1);
        self.sink.text(out.frame.as_bytes()).await
    }

    /// Writes frames in order and reports how far the stream was written;
    /// false when the socket is gone.
    pub(super) async fn write_all(&mut self, peer: &Peer, outs: &[Outbound]) -> bool {
        for out in outs {
            if !self.write(out).await {
                return false;
            }
        }
        if let Some(hi) = self.cursor.hi() {
            peer.state.cursors.advance(peer.user, hi);
        }
        true
    }

    /// An event from the user's subject, or a frame queued by presence:
    /// written now, or held by the cursor until the events before it are.
    pub(super) async fn event(&mut self, peer: &Peer, out: Outbound) -> bool {
        if out.seq == 0 {
            return self.write(&out).await;
        }
        let mut ready = std::mem::take(&mut self.ready);
        self.cursor.live(out, std::time::Instant::now(), &mut ready);
        let written = ready.is_empty() || self.write_all(peer, &ready).await;
        ready.clear();
        self.ready = ready;
        written
    }

    /// Writes the acks (or errors) of a send batch, moving the cursor past
    /// acknowledged messages that are next in the stream.
    pub(super) async fn answers(&mut self, peer: &Peer, answers: Vec<Answer>) -> bool {
        for answer in answers {
            let (out, acked) = match answer {
                Answer::Ack { out, seq, id } => (out, Some((seq, id))),
                Answer::Error(out) => (out, None),
            };
            if !self.write(&out).await {
                return false;
            }
            if let Some((seq, id)) = acked {
                let mut ready = Vec::new();
                self.cursor.acked(seq, id, &mut ready);
                if !self.write_all(peer, &ready).await {
                    return false;
                }
            }
        }
        true
    }

    /// Queues a protocol ping.
    pub(super) fn ping(&mut self) {
        self.sink.ping();
    }

    /// Queues the answer to a protocol ping.
    pub(super) fn pong(&mut self, data: &[u8]) {
        self.sink.pong(data);
    }

    /// Writes what is queued as far as the socket takes it now; false when
    /// the socket is gone.
    pub(super) fn flush_now(&mut self) -> bool {
        self.sink.flush_now()
    }

    /// Bytes queued and not yet written.
    pub(super) fn backlog(&self) -> usize {
        self.sink.backlog()
    }

    /// Resolves when the socket can take more of the backlog.
    pub(super) async fn writable(&self) -> std::io::Result<()> {
        self.sink.writable().await
    }

    /// Closes the socket, writing what is queued within `within`.
    pub(super) async fn close(
        self,
        frames: Frames,
        close: Option<Close>,
        within: std::time::Duration,
    ) {
        self.sink.close(frames, close, within).await;
    }
}
