//! A connection's writing side: the socket's [`Sink`] and the connection's
//! place in its user's stream ([`Cursor`]). Live events, acks, fetched pages
//! and replies are all written here, and how far the stream was written is
//! reported to chat-persistence (batched by [`crate::cursors`]).
use super::{
    connection::Peer,
    cursor::Cursor,
    sends::Answer,
    socket::{Close, Sink},
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
        self.sink.text(out.frame.clone()).await
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

    /// Sends a protocol ping; false when the socket is gone.
    pub(super) async fn ping(&mut self) -> bool {
        self.sink.ping().await
    }

    /// Answers a protocol ping; false when the socket is gone.
    pub(super) async fn pong(&mut self, data: &[u8]) -> bool {
        self.sink.pong(data).await
    }

    /// Closes the socket.
    pub(super) async fn close(self, close: Option<Close>) {
        self.sink.close(close).await;
    }
}
