//! Fetching a user's stream from chat-persistence: forward from what the
//! connection wrote (the pending drain on connect, a gap that did not fill,
//! events that did not fit the queue), and backward for a client's `sync`
//! below where the connection started. Page by page, each written before
//! the next is asked for, so catch-up goes at the pace the client reads.
use std::time::Duration;

use shared::{
    ids::uuid_bytes,
    proto::chat::v1::{StreamPage, StreamReply, SyncRequest, stream_reply},
    subjects,
};
use tokio::time::Instant;

use super::{connection::Peer, writer::Writer};
use crate::wire::{client::SyncFrom, server};

/// Events asked for per page (replies are also cut to fit one NATS message).
const PAGE: u32 = 500;
/// The first wait before a failed catch-up is tried again.
const RETRY_MIN: Duration = Duration::from_millis(500);
/// The longest wait between attempts of a failed catch-up.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Where a page starts.
enum Start {
    /// After the user's delivered cursor.
    Delivered,
    /// After a position.
    Seq(u64),
    /// After the position of a message id.
    Message(uuid::Uuid),
}

impl From<SyncFrom> for Start {
    fn from(from: SyncFrom) -> Self {
        match from {
            SyncFrom::Seq(seq) => Self::Seq(seq),
            SyncFrom::Message(id) => Self::Message(id),
        }
    }
}

/// A connection's fetches from its stream, and when a failed one is tried again.
pub(super) struct CatchUp {
    retry_at: Option<Instant>,
    retry_delay: Duration,
}

impl Default for CatchUp {
    fn default() -> Self {
        Self { retry_at: None, retry_delay: RETRY_MIN }
    }
}

/// A page of the user's stream after `from`, up to `until` (0: no bound);
/// `None` when chat-persistence did not give one.
async fn page(peer: &Peer, from: &Start, until: u64) -> Option<StreamPage> {
    let mut req = SyncRequest {
        user_id: uuid_bytes(peer.user),
        limit: PAGE,
        until_seq: until,
        ..Default::default()
    };
    match from {
        Start::Delivered => req.from_delivered = true,
        Start::Seq(seq) => req.after_seq = *seq,
        Start::Message(id) => req.after = uuid_bytes(*id),
    }
    let subject = peer.state.subjects.get(subjects::CHAT_SYNC);
    match shared::nats::request::<_, StreamReply>(&peer.state.nats, subject, &req).await {
        Ok(StreamReply { result: Some(stream_reply::Result::Page(page)) }) => Some(page),
        other => {
            tracing::debug!(reply = ?other.err(), "stream page unavailable");
            None
        }
    }
}

impl CatchUp {
    /// When the failed catch-up is tried again, if one failed.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Writes the stream forward from the cursor (from the delivered cursor
    /// when the connection has not started) until it is caught up. A failed
    /// page is retried later with back-off. Returns false when the socket is gone.
    pub(super) async fn forward(&mut self, peer: &Peer, writer: &mut Writer) -> bool {
        // Boxed: the paged fetch is a large future, and inline it would
        // enlarge every idle connection's task by its size.
        Box::pin(self.forward_inline(peer, writer)).await
    }

    async fn forward_inline(&mut self, peer: &Peer, writer: &mut Writer) -> bool {
        self.retry_at = None;
        loop {
            if *peer.state.draining.borrow() {
                return true;
            }
            let from = writer.cursor().hi().map_or(Start::Delivered, Start::Seq);
            let Some(page) = page(peer, &from, 0).await else {
                self.retry_at = Some(Instant::now() + self.retry_delay);
                self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
                return true;
            };
            self.retry_delay = RETRY_MIN;
            let cursor = writer.cursor();
            cursor.start(page.after_seq);
            let mut ready = Vec::with_capacity(page.events.len());
            for event in &page.events {
                if let Some(out) = server::stream_event(event).and_then(|o| cursor.fetched(o)) {
                    ready.push(out);
                }
            }
            if !writer.write_all(peer, &ready).await {
                return false;
            }
            if !page.more || page.events.is_empty() {
                break;
            }
        }
        let ready = writer.cursor().release();
        writer.write_all(peer, &ready).await
    }

    /// A client's `sync`: everything after `from` the connection has not
    /// written. Below where the connection started it backfills up to there;
    /// then it catches up forward. Returns false when the socket is gone.
    pub(super) async fn sync(&mut self, peer: &Peer, writer: &mut Writer, from: SyncFrom) -> bool {
        Box::pin(self.sync_inline(peer, writer, from.into())).await
    }

    async fn sync_inline(&mut self, peer: &Peer, writer: &mut Writer, from: Start) -> bool {
        if writer.cursor().hi().is_none() {
            // Not started yet (the drain failed): start here instead.
            let Some(page) = page(peer, &from, 0).await else {
                return writer
                    .write(&server::error("unavailable", "sync failed; retry", None))
                    .await;
            };
            writer.cursor().start(page.after_seq);
            return self.forward(peer, writer).await;
        }
        let lo = writer.cursor().lo();
        let mut from = from;
        let mut start = None;
        // Positions start at 1: a connection that started at 0 has nothing below it.
        #[allow(clippy::while_immutable_condition)] // left by break and return
        while lo > 0 {
            let Some(page) = page(peer, &from, lo).await else {
                return writer
                    .write(&server::error("unavailable", "sync failed; retry", None))
                    .await;
            };
            start.get_or_insert(page.after_seq);
            if page.after_seq >= lo {
                break;
            }
            let outs: Vec<_> = page.events.iter().filter_map(server::stream_event).collect();
            for out in &outs {
                if !writer.write(out).await {
                    return false;
                }
            }
            match outs.last().map(|o| o.seq) {
                Some(seq) if page.more => from = Start::Seq(seq),
                _ => break,
            }
        }
        if let Some(start) = start {
            writer.cursor().backfilled(start);
        }
        self.forward(peer, writer).await
    }
}
