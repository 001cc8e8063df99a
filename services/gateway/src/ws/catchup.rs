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

use super::{connection::Conn, frames};

/// Events asked for per page (replies are also cut to fit one NATS message).
const PAGE: u32 = 500;
/// The longest wait between attempts of a failed catch-up.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Where a page starts.
pub(super) enum Start {
    /// After the user's delivered cursor.
    Delivered,
    /// After a position.
    Seq(u64),
    /// After the position of a message id.
    Message(uuid::Uuid),
}

impl Conn {
    async fn page(&self, from: &Start, until: u64) -> Option<StreamPage> {
        let mut req = SyncRequest {
            user_id: uuid_bytes(self.user),
            limit: PAGE,
            until_seq: until,
            ..Default::default()
        };
        match from {
            Start::Delivered => req.from_delivered = true,
            Start::Seq(seq) => req.after_seq = *seq,
            Start::Message(id) => req.after = uuid_bytes(*id),
        }
        let subject = self.state.subjects.get(subjects::CHAT_SYNC);
        match shared::nats::request::<_, StreamReply>(&self.state.nats, subject, &req).await {
            Ok(StreamReply { result: Some(stream_reply::Result::Page(page)) }) => Some(page),
            other => {
                tracing::debug!(reply = ?other.err(), "stream page unavailable");
                None
            }
        }
    }

    /// Writes the stream forward from the cursor (from the delivered cursor
    /// when the connection has not started) until it is caught up. A failed
    /// page is retried later with back-off. Returns false when the socket is gone.
    pub(super) async fn catch_up(&mut self) -> bool {
        // Boxed: the paged fetch is a large future, and inline it would
        // enlarge every idle connection's task by its size.
        Box::pin(self.catch_up_inline()).await
    }

    async fn catch_up_inline(&mut self) -> bool {
        self.retry_at = None;
        loop {
            if *self.state.draining.borrow() {
                return true;
            }
            let from = self.cursor.hi().map_or(Start::Delivered, Start::Seq);
            let Some(page) = self.page(&from, 0).await else {
                self.retry_at = Some(Instant::now() + self.retry_delay);
                self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
                return true;
            };
            self.retry_delay = Duration::from_millis(500);
            self.cursor.start(page.after_seq);
            let mut ready = Vec::with_capacity(page.events.len());
            for event in &page.events {
                if let Some(out) = frames::stream_event(event).and_then(|o| self.cursor.fetched(o))
                {
                    ready.push(out);
                }
            }
            if !self.write_all(&ready).await {
                return false;
            }
            if !page.more || page.events.is_empty() {
                break;
            }
        }
        let ready = self.cursor.release();
        self.write_all(&ready).await
    }

    /// A client's `sync`: everything after `from` the connection has not
    /// written. Below where the connection started it backfills up to there;
    /// then it catches up forward. Returns false when the socket is gone.
    pub(super) async fn sync(&mut self, from: Start) -> bool {
        Box::pin(self.sync_inline(from)).await
    }

    async fn sync_inline(&mut self, from: Start) -> bool {
        if self.cursor.hi().is_none() {
            // Not started yet (the drain failed): start here instead.
            let Some(page) = self.page(&from, 0).await else {
                let e = frames::error("unavailable", "sync failed; retry", None);
                return self.write(&e).await;
            };
            self.cursor.start(page.after_seq);
            return self.catch_up().await;
        }
        let lo = self.cursor.lo();
        let mut from = from;
        let mut start = None;
        // Positions start at 1: a connection that started at 0 has nothing below it.
        #[allow(clippy::while_immutable_condition)] // left by break and return
        while lo > 0 {
            let Some(page) = self.page(&from, lo).await else {
                let e = frames::error("unavailable", "sync failed; retry", None);
                return self.write(&e).await;
            };
            start.get_or_insert(page.after_seq);
            if page.after_seq >= lo {
                break;
            }
            let outs: Vec<_> = page.events.iter().filter_map(frames::stream_event).collect();
            for out in &outs {
                if !self.write(out).await {
                    return false;
                }
            }
            match outs.last().map(|o| o.seq) {
                Some(seq) if page.more => from = Start::Seq(seq),
                _ => break,
            }
        }
        if let Some(start) = start {
            self.cursor.backfilled(start);
        }
        self.catch_up().await
    }
}
