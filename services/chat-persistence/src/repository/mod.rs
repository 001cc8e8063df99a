//! SQL of chat-persistence. Rows hold only the sealed envelope of the
//! content. [`stream`] holds the positions, the stream pages and the
//! delivered cursors; this module the message rows and the per-pair views.
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

pub mod receipt;
pub mod stream;

/// A message about to be committed (already sealed).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// UUIDv7 assigned by the gateway.
    pub id: Uuid,
    /// The author.
    pub sender: Uuid,
    /// The recipient.
    pub receiver: Uuid,
    /// The sender's idempotency key, when given.
    pub client_msg_id: Option<String>,
    /// `chat.v1.MessageType` as a number.
    pub message_type: i16,
    /// The AES-256-GCM envelope of the content, bound to `id`.
    pub content_enc: Vec<u8>,
    /// When the gateway received it.
    pub created_at: DateTime<Utc>,
}

/// A committed message row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredMessage {
    /// Message id.
    pub message_id: Uuid,
    /// The author.
    pub sender_id: Uuid,
    /// The recipient.
    pub receiver_id: Uuid,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// `chat.v1.MessageType` as a number.
    pub message_type: i16,
    /// The sealed content.
    pub content_enc: Vec<u8>,
    /// When the gateway received it.
    pub created_at: DateTime<Utc>,
    /// When the receiver read it.
    pub read_at: Option<DateTime<Utc>>,
    /// Its position in the sender's stream.
    pub sender_seq: i64,
    /// Its position in the receiver's stream.
    pub receiver_seq: i64,
}

impl StoredMessage {
    /// The message's position in `viewer`'s stream (0 when not a participant).
    pub fn seq_for(&self, viewer: Uuid) -> u64 {
        let seq = if viewer == self.sender_id {
            self.sender_seq
        } else if viewer == self.receiver_id {
            self.receiver_seq
        } else {
            0
        };
        u64::try_from(seq).unwrap_or_default()
    }
}

const COLUMNS: &str = "message_id, sender_id, receiver_id, client_msg_id, message_type, \
                       content_enc, created_at, read_at, sender_seq, receiver_seq";

/// The committed messages with these ids.
pub async fn find_by_ids(
    executor: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!("select {COLUMNS} from message where message_id = any($1)");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ids).fetch_all(executor).await
}

/// The messages between two users, newest first (commit order).
pub async fn history(
    pool: &PgPool,
    a: Uuid,
    b: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message \
         where least(sender_id, receiver_id) = least($1::uuid, $2::uuid) \
           and greatest(sender_id, receiver_id) = greatest($1::uuid, $2::uuid) \
         order by (case when sender_id < receiver_id then sender_seq else receiver_seq end) desc \
         limit $3 offset $4"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(a)
        .bind(b)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

/// One conversation of a user.
#[derive(Debug, sqlx::FromRow)]
pub struct ConversationRow {
    /// The other participant.
    pub partner_id: Uuid,
    /// Messages from the partner the user has not read.
    pub unread_count: i64,
    /// The last message's columns.
    #[sqlx(flatten)]
    pub last: StoredMessage,
}

/// A user's conversations, most recent first.
pub async fn conversations(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    let sql = format!(
        "with mine as ( \
           (select receiver_id as partner_id, sender_seq as seq, {COLUMNS} \
              from message where sender_id = $1) \
           union all \
           (select sender_id, receiver_seq, {COLUMNS} from message where receiver_id = $1)), \
         last as (select distinct on (partner_id) * from mine order by partner_id, seq desc) \
         select l.*, (select count(*) from message u where u.receiver_id = $1 \
                        and u.sender_id = l.partner_id and u.read_at is null) as unread_count \
         from last l order by l.seq desc limit $2 offset $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

/// The people a user has exchanged messages with.
pub async fn contacts(executor: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select receiver_id from message where sender_id = $1 \
         union select sender_id from message where receiver_id = $1",
    )
    .bind(user)
    .fetch_all(executor)
    .await
}
