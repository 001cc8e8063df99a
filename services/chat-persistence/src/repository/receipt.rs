//! Read receipts: the message's read time, and a receipt event in the
//! sender's and the reader's streams (the caller holds both streams' locks,
//! see [`super::stream::lock`]).
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
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

/// Marks a message read (the caller holds both streams' locks); returns
/// false when it was already read.
pub async fn mark_read(
    conn: &mut PgConnection,
    message: Uuid,
    read_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("update message set read_at = $2 where message_id = $1 and read_at is null")
            .bind(message)
            .bind(read_at)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A read receipt as stored in one user's stream.
pub struct ReceiptRow {
    /// Whose stream.
    pub user_id: Uuid,
    /// Its position there.
    pub seq: i64,
}

/// Adds a read receipt to the given streams and moves their last positions.
pub async fn insert(
    conn: &mut PgConnection,
    rows: &[ReceiptRow],
    message: (Uuid, Uuid, Uuid),
    read_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let (message_id, sender, reader) = message;
    let users: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    sqlx::query(
        "with inserted as ( \
           insert into receipt (user_id, seq, message_id, sender_id, reader_id, read_at) \
           select u, s, $3, $4, $5, $6 from unnest($1::uuid[], $2::int8[]) as v(u, s) \
           returning 1) \
         update user_stream t set last_seq = v.s \
         from unnest($1::uuid[], $2::int8[]) as v(u, s) where t.user_id = v.u",
    )
    .bind(users)
    .bind(seqs)
    .bind(message_id)
    .bind(sender)
    .bind(reader)
    .bind(read_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
