//! One module per NATS subject, and [`routes`]: the list of every subject
//! the service serves with its handler ([`shared::serve`] does the rest).
//! [`Ctx`] is what every handler shares.
use std::sync::Arc;

use async_nats::Client;
use shared::{
    crypto::KeyRing,
    ids::{micros, uuid_bytes},
    proto::chat::v1::{
        ChatMessage, ContactsReply, ConversationsReply, MessagesReply, PendingCountReply,
        ReadReply, StreamReply,
    },
    serve::Route,
    subjects,
};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{delivery::Delivery, repository::StoredMessage};

pub mod commit;
pub mod contacts;
pub mod conversations;
pub mod delivered;
pub mod history;
pub mod pending_count;
pub mod read;
pub mod send;
pub mod sync;

/// Concurrent handlers per request/reply subject.
const PERMITS: u32 = 256;
/// Concurrent delivered-cursor updates.
const CURSOR_PERMITS: u32 = 16;

/// Every subject chat-persistence serves. Sends go, in arrival order, to
/// the group committer's queue `commits`.
pub fn routes(commits: mpsc::Sender<send::QueuedBatch>) -> Vec<Route<Ctx>> {
    vec![
        Route::ordered(subjects::CHAT_SEND, send::Enqueue::new(commits)),
        Route::rpc::<MessagesReply, _, _>(subjects::CHAT_HISTORY, PERMITS, history::history),
        Route::rpc::<StreamReply, _, _>(subjects::CHAT_SYNC, PERMITS, sync::sync),
        Route::rpc::<PendingCountReply, _, _>(
            subjects::CHAT_PENDING_COUNT,
            PERMITS,
            pending_count::pending_count,
        ),
        Route::rpc::<ReadReply, _, _>(subjects::CHAT_READ, PERMITS, read::read),
        Route::rpc::<ConversationsReply, _, _>(
            subjects::CHAT_CONVERSATIONS,
            PERMITS,
            conversations::conversations,
        ),
        Route::rpc::<ContactsReply, _, _>(subjects::CHAT_CONTACTS, PERMITS, contacts::contacts),
        Route::event(subjects::CHAT_DELIVERED, CURSOR_PERMITS, delivered::delivered),
    ]
}

/// What every handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The service's pool (its own schema).
    pub pool: PgPool,
    /// The NATS connection.
    pub nats: Client,
    /// Encryption keys.
    pub keys: Arc<KeyRing>,
    /// Publishes events to users.
    pub delivery: Delivery,
}

impl Ctx {
    /// Opens a stored row into the message as `viewer` sees it (its position
    /// in the viewer's stream); a row that fails to open is flagged
    /// `undecryptable` with empty content, never an error for the page.
    pub fn open(&self, row: &StoredMessage, viewer: Uuid) -> ChatMessage {
        let (content, undecryptable) = match self
            .keys
            .open_text(&row.content_enc, row.message_id.as_bytes())
        {
            Ok(text) => (text, false),
            Err(e) => {
                tracing::warn!(message_id = %row.message_id, error = %e, "message does not decrypt");
                metrics::counter!("chat_undecryptable_total").increment(1);
                (String::new(), true)
            }
        };
        ChatMessage {
            id: uuid_bytes(row.message_id),
            sender_id: uuid_bytes(row.sender_id),
            receiver_id: uuid_bytes(row.receiver_id),
            content,
            timestamp_micros: micros(row.created_at),
            read: row.read_at.is_some(),
            message_type: i32::from(row.message_type),
            client_msg_id: row.client_msg_id.clone().unwrap_or_default(),
            undecryptable,
            seq: row.seq_for(viewer),
        }
    }
}
