//! One module per NATS subject group. [`Ctx`] is what every handler shares.
use std::sync::Arc;

use async_nats::Client;
use shared::{
    crypto::KeyRing,
    ids::{micros, uuid_bytes},
    proto::chat::v1::ChatMessage,
    subjects::Subjects,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{delivery::Delivery, repository::StoredMessage};

pub mod commit;
pub mod queries;
pub mod read;
pub mod send;
pub mod stream;

/// What every handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The service's pool (its own schema).
    pub pool: PgPool,
    /// The NATS connection.
    pub nats: Client,
    /// Subject names with the deployment's prefix.
    pub subjects: Subjects,
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
