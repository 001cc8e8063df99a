//! A server frame ready to write, with what the connection needs to place
//! it in the user's stream.
use bytes::Bytes;
use bytestring::ByteString;

/// What kind of outbound frame this is (typing is dropped first under pressure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A typing indicator: ephemeral, dropped first when a queue fills.
    Typing,
    /// A read receipt (its `message_id` is the message read).
    Receipt,
    /// Any other event.
    Event,
    /// A reply to this connection (never de-duplicated; its message id is remembered).
    Reply,
}

/// One outbound frame, serialized once and shared by every connection it goes to.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// The JSON text.
    pub frame: ByteString,
    /// The message id (of a message or message ack).
    pub message_id: Option<u128>,
    /// Its kind.
    pub kind: Kind,
    /// Its position in the user's stream; 0 for an ephemeral event or a reply.
    pub seq: u64,
}

impl Outbound {
    /// Wraps a serialized JSON frame.
    pub fn new(json: Vec<u8>, message_id: Option<u128>, kind: Kind) -> Self {
        // serde_json always writes valid UTF-8.
        let frame = ByteString::try_from(Bytes::from(json)).unwrap_or_default();
        Self { frame, message_id, kind, seq: 0 }
    }

    /// Sets the stream position of a durable event.
    pub fn at(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }
}
