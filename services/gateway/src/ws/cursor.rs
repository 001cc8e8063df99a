//! What one connection has written of its user's stream, and the order it
//! writes the rest in. Positions are dense and in commit order, so the
//! connection writes exactly `hi + 1` next: an event from further ahead is
//! held until the missing ones arrive (or are fetched from the stream after
//! [`GAP_WAIT`]), and one at or below `hi` was already written. What was
//! written is always the interval `(lo, hi]`: a `sync` below `lo` backfills
//! `(after, lo]` and lowers `lo`. No id is ever written twice on a
//! connection, whatever the size of the catch-up, and nothing is skipped.
use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use crate::wire::{Kind, Outbound};

/// How long an event from further ahead waits for the ones before it
/// before the connection fetches them from the stream.
pub const GAP_WAIT: Duration = Duration::from_millis(300);
/// Events from further ahead held at most; past it they are dropped and fetched.
const HELD_MAX: usize = 256;
/// Ids of this connection's own sends remembered (their echo is not written back).
const OWN_MAX: usize = 512;

/// A connection's position in its user's stream.
#[derive(Default)]
pub struct Cursor {
    lo: u64,
    hi: Option<u64>,
    held: BTreeMap<u64, Outbound>,
    gap_since: Option<Instant>,
    own: VecDeque<u128>,
    reading: VecDeque<u128>,
}

impl Cursor {
    /// The last position written, once the connection knows where it starts.
    pub fn hi(&self) -> Option<u64> {
        self.hi
    }

    /// The position the written interval starts after.
    pub fn lo(&self) -> u64 {
        self.lo
    }

    /// When the oldest unfilled gap opened, if one is open.
    pub fn gap_deadline(&self) -> Option<Instant> {
        self.gap_since.map(|t| t + GAP_WAIT)
    }

    /// Remembers the id of a message this connection sends: the client gets
    /// its `message_ack`, so the message itself is not written back to it.
    pub fn own(&mut self, id: u128) {
        if self.own.len() == OWN_MAX {
            self.own.pop_front();
        }
        self.own.push_back(id);
    }

    /// Remembers a message this connection marks read: the client knows,
    /// so the receipt in its own stream is not written back to it (the
    /// user's other devices get it).
    pub fn reading(&mut self, message: u128) {
        if self.reading.len() == OWN_MAX {
            self.reading.pop_front();
        }
        self.reading.push_back(message);
    }

    /// Starts the written interval after `after` (the first page of a catch-up).
    pub fn start(&mut self, after: u64) {
        if self.hi.is_none() {
            self.lo = after;
            self.hi = Some(after);
        }
    }

    /// A live stream event: appends to `ready` what to write now, in order
    /// (the caller keeps one buffer: no allocation per event).
    pub fn live(&mut self, out: Outbound, now: Instant, ready: &mut Vec<Outbound>) {
        let Some(hi) = self.hi else {
            self.hold(out, now);
            return;
        };
        if out.seq <= hi {
            return;
        }
        if out.seq > hi + 1 {
            self.hold(out, now);
            return;
        }
        self.take(out, ready);
        self.release_into(ready);
    }

    /// An event of a forward page fetched from the stream (authoritative:
    /// it follows `hi` whatever its number): returns it unless already written or own.
    pub fn fetched(&mut self, out: Outbound) -> Option<Outbound> {
        if self.hi.is_some_and(|hi| out.seq <= hi) {
            return None;
        }
        let mut ready = Vec::with_capacity(1);
        self.take(out, &mut ready);
        ready.pop()
    }

    /// After a fetch: drops held events already written and returns the
    /// held ones that now follow on.
    pub fn release(&mut self) -> Vec<Outbound> {
        let mut ready = Vec::new();
        self.release_into(&mut ready);
        ready
    }

    /// This connection's own send was acknowledged at `seq`: when it is the
    /// next position, the connection is past it (and what was held after it
    /// is appended to `ready`).
    pub fn acked(&mut self, seq: u64, id: u128, ready: &mut Vec<Outbound>) {
        if seq > 0 && self.hi.is_some_and(|hi| seq == hi + 1) {
            self.hi = Some(seq);
            self.own.retain(|o| *o != id);
            self.release_into(ready);
        }
    }

    /// A backfill below `lo` is done: the written interval now starts after `after`.
    pub fn backfilled(&mut self, after: u64) {
        self.lo = self.lo.min(after);
    }

    fn take(&mut self, out: Outbound, ready: &mut Vec<Outbound>) {
        self.hi = Some(out.seq);
        let mine = if out.kind == Kind::Receipt { &mut self.reading } else { &mut self.own };
        if let Some(id) = out.message_id
            && let Some(i) = mine.iter().position(|o| *o == id)
        {
            mine.remove(i);
            return;
        }
        ready.push(out);
    }

    fn hold(&mut self, out: Outbound, now: Instant) {
        if self.held.len() >= HELD_MAX {
            // Too far behind to hold: fetch everything from the stream instead.
            self.held.clear();
        }
        self.held.insert(out.seq, out);
        self.gap_since.get_or_insert(now);
    }

    fn release_into(&mut self, ready: &mut Vec<Outbound>) {
        let Some(mut hi) = self.hi else { return };
        while let Some(entry) = self.held.first_entry() {
            let seq = *entry.key();
            if seq <= hi {
                entry.remove();
            } else if seq == hi + 1 {
                let out = entry.remove();
                self.take(out, ready);
                hi = seq;
            } else {
                break;
            }
        }
        if self.held.is_empty() {
            self.gap_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Outbound {
        Outbound::new(format!("{{\"n\":{seq}}}").into_bytes(), Some(u128::from(seq)), Kind::Event)
            .at(seq)
    }

    fn seqs(v: &[Outbound]) -> Vec<u64> {
        v.iter().map(|o| o.seq).collect()
    }

    trait Collect {
        fn live_now(&mut self, out: Outbound) -> Vec<Outbound>;
        fn acked_now(&mut self, seq: u64, id: u128) -> Vec<Outbound>;
    }

    impl Collect for Cursor {
        fn live_now(&mut self, out: Outbound) -> Vec<Outbound> {
            let mut ready = Vec::new();
            self.live(out, Instant::now(), &mut ready);
            ready
        }
        fn acked_now(&mut self, seq: u64, id: u128) -> Vec<Outbound> {
            let mut ready = Vec::new();
            self.acked(seq, id, &mut ready);
            ready
        }
    }

    #[test]
    fn events_are_written_once_in_position_order_whatever_order_they_arrive_in() {
        let mut c = Cursor::default();
        assert!(c.live_now(ev(3)).is_empty());
        c.start(1);
        assert_eq!(seqs(&c.release()), Vec::<u64>::new());
        assert_eq!(seqs(&c.live_now(ev(2))), vec![2, 3]);
        assert!(c.live_now(ev(2)).is_empty());
        assert!(c.live_now(ev(5)).is_empty());
        assert!(c.gap_deadline().is_some());
        assert_eq!(seqs(&c.live_now(ev(4))), vec![4, 5]);
        assert!(c.gap_deadline().is_none());
        assert_eq!(c.hi(), Some(5));
        assert_eq!(c.lo(), 1);
    }

    #[test]
    fn a_fetch_fills_a_gap_and_releases_what_was_held() {
        let mut c = Cursor::default();
        c.start(10);
        assert!(c.live_now(ev(13)).is_empty());
        assert!(c.fetched(ev(10)).is_none());
        assert_eq!(c.fetched(ev(11)).map(|o| o.seq), Some(11));
        assert_eq!(c.fetched(ev(12)).map(|o| o.seq), Some(12));
        assert_eq!(seqs(&c.release()), vec![13]);
        assert!(c.fetched(ev(13)).is_none());
    }

    #[test]
    fn own_messages_move_the_cursor_without_being_written_back() {
        let mut c = Cursor::default();
        c.start(0);
        c.own(2);
        assert_eq!(seqs(&c.live_now(ev(1))), vec![1]);
        assert!(c.live_now(ev(2)).is_empty());
        assert_eq!(c.hi(), Some(2));
        c.own(4);
        assert!(c.live_now(ev(4)).is_empty());
        assert_eq!(seqs(&c.acked_now(3, 3)), Vec::<u64>::new());
        assert_eq!(c.hi(), Some(4));
    }

    #[test]
    fn the_receipt_of_a_read_made_here_is_not_written_back() {
        let mut c = Cursor::default();
        c.start(0);
        c.reading(7);
        let receipt = |seq: u64| Outbound::new(b"{}".to_vec(), Some(7), Kind::Receipt).at(seq);
        assert!(c.live_now(receipt(1)).is_empty());
        assert_eq!(c.hi(), Some(1));
        // The message itself (same id) is not affected, nor a later receipt.
        assert_eq!(seqs(&c.live_now(ev(2))), vec![2]);
        assert_eq!(seqs(&c.live_now(receipt(3))), vec![3]);
    }

    #[test]
    fn an_ack_at_the_next_position_releases_the_held_events_after_it() {
        let mut c = Cursor::default();
        c.start(0);
        c.own(1);
        assert!(c.live_now(ev(2)).is_empty());
        assert_eq!(seqs(&c.acked_now(1, 1)), vec![2]);
        assert!(c.live_now(ev(1)).is_empty());
    }

    #[test]
    fn too_many_held_events_are_dropped_and_left_to_the_fetch() {
        let mut c = Cursor::default();
        c.start(0);
        for s in 2..(HELD_MAX as u64 + 3) {
            assert!(c.live_now(ev(s)).is_empty());
        }
        assert!(c.held.len() < HELD_MAX);
        assert!(c.gap_deadline().is_some());
    }
}
