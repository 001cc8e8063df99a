//! Read receipts: the message's read time, and a receipt event in the
//! sender's and the reader's streams.
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A message's sender and receiver, and when it was read.
pub async fn message_parties(
    pool: &PgPool,
    message: Uuid,
) -> sqlx::Result<Option<(Uuid, Uuid, Option<DateTime<Utc>>)>> {
    sqlx::query_as("select sender_id, receiver_id, read_at from message where message_id = $1")
        .bind(message)
        .fetch_optional(pool)
        .await
}

/// Marks a message read and adds the receipt to the sender's and the
/// reader's streams (`chat_record_read`, see its migration: one round trip,
/// both stream locks in user-id order). Returns the receipt's positions in
/// the sender's and the reader's streams, or `None` when it was already read.
pub async fn record(
    pool: &PgPool,
    message: Uuid,
    sender: Uuid,
    reader: Uuid,
    read_at: DateTime<Utc>,
) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as("select * from chat_record_read($1, $2, $3, $4)")
        .bind(message)
        .bind(sender)
        .bind(reader)
        .bind(read_at)
        .fetch_optional(pool)
        .await
}
