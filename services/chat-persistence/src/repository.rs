//! SQL of chat-persistence. Rows hold only the sealed envelope of the content.
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

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
    /// When a gateway handed it to a live connection of the receiver.
    pub delivered_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "message_id, sender_id, receiver_id, client_msg_id, message_type, \
                       content_enc, created_at, read_at, delivered_at";

/// Inserts a batch in one statement; returns the ids actually inserted (a
/// repeated `(sender, client_msg_id)` is skipped, not an error).
pub async fn insert_batch(pool: &PgPool, batch: &[NewMessage]) -> sqlx::Result<Vec<Uuid>> {
    let n = batch.len();
    let (mut ids, mut senders, mut receivers) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut client_ids, mut types, mut contents, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in batch {
        ids.push(m.id);
        senders.push(m.sender);
        receivers.push(m.receiver);
        client_ids.push(m.client_msg_id.clone());
        types.push(m.message_type);
        contents.push(m.content_enc.clone());
        times.push(m.created_at);
    }
    sqlx::query_scalar(
        "insert into message \
             (message_id, sender_id, receiver_id, client_msg_id, message_type, content_enc, created_at) \
         select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int2[], \
                              $6::bytea[], $7::timestamptz[]) \
         on conflict do nothing \
         returning message_id",
    )
    .bind(ids)
    .bind(senders)
    .bind(receivers)
    .bind(client_ids)
    .bind(types)
    .bind(contents)
    .bind(times)
    .fetch_all(pool)
    .await
}

/// Finds the committed messages of these `(sender, client_msg_id)` pairs.
pub async fn find_by_client_ids(
    pool: &PgPool,
    senders: Vec<Uuid>,
    client_ids: Vec<String>,
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message \
         where (sender_id, client_msg_id) in (select * from unnest($1::uuid[], $2::text[]))"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(senders).bind(client_ids).fetch_all(pool).await
}

/// The messages between two users, newest first.
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
         order by message_id desc limit $3 offset $4"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(a)
        .bind(b)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

/// Every message to or from `user` after `after`, oldest first.
pub async fn since(
    pool: &PgPool,
    user: Uuid,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select * from ( \
           (select {COLUMNS} from message where sender_id = $1 and message_id > $2 \
            order by message_id limit $3) \
           union all \
           (select {COLUMNS} from message where receiver_id = $1 and message_id > $2 \
            and sender_id <> $1 order by message_id limit $3) \
         ) m order by message_id limit $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The undelivered messages of a receiver among `ids`, oldest first.
pub async fn undelivered_by_ids(
    pool: &PgPool,
    receiver: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message \
         where receiver_id = $1 and message_id = any($2) and delivered_at is null \
         order by message_id"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(receiver).bind(ids).fetch_all(pool).await
}

/// A receiver's undelivered messages, oldest first.
pub async fn undelivered(
    pool: &PgPool,
    receiver: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message where receiver_id = $1 and delivered_at is null \
         order by message_id limit $2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(receiver).bind(limit).fetch_all(pool).await
}

/// A receiver's undelivered messages after an id, oldest first.
pub async fn undelivered_after(
    pool: &PgPool,
    receiver: Uuid,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message where receiver_id = $1 and delivered_at is null \
         and message_id > $2 order by message_id limit $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(receiver)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// How many messages are undelivered in all (the `chat_pending_messages` gauge).
pub async fn undelivered_total(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from message where delivered_at is null")
        .fetch_one(pool)
        .await
}

/// How many undelivered messages a receiver has.
pub async fn undelivered_count(pool: &PgPool, receiver: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from message where receiver_id = $1 and delivered_at is null",
    )
    .bind(receiver)
    .fetch_one(pool)
    .await
}

/// Every undelivered message: `(receiver, id, created_at)` (rebuilding the pending queue).
pub async fn all_undelivered(pool: &PgPool) -> sqlx::Result<Vec<(Uuid, Uuid, DateTime<Utc>)>> {
    sqlx::query_as(
        "select receiver_id, message_id, created_at from message where delivered_at is null",
    )
    .fetch_all(pool)
    .await
}

/// Undelivered messages committed in the last `minutes` (re-queued at start-up).
pub async fn undelivered_recent(pool: &PgPool, minutes: i32) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message where delivered_at is null \
         and created_at > now() - make_interval(mins => $1) order by message_id limit 100000"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(minutes).fetch_all(pool).await
}

/// Marks messages delivered; returns `(receiver, id)` of the rows that changed.
pub async fn mark_delivered(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as(
        "update message set delivered_at = now() \
         where message_id = any($1) and delivered_at is null \
         returning receiver_id, message_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// The outcome of a read receipt.
#[derive(Debug)]
pub enum ReadOutcome {
    /// Marked read (or already read): the sender and when.
    Read {
        /// The message's sender, who is told.
        sender: Uuid,
        /// When it was read.
        read_at: DateTime<Utc>,
    },
    /// The reader is not the message's receiver.
    NotReceiver,
    /// No such message.
    NotFound,
}

/// Marks a message read by its receiver.
pub async fn mark_read(pool: &PgPool, message: Uuid, reader: Uuid) -> sqlx::Result<ReadOutcome> {
    let row: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "with target as (select message_id, sender_id, receiver_id, read_at from message \
                         where message_id = $1), \
              upd as (update message m set read_at = coalesce(m.read_at, now()), \
                             delivered_at = coalesce(m.delivered_at, now()) \
                      from target t where m.message_id = t.message_id and t.receiver_id = $2 \
                      returning m.read_at) \
         select t.sender_id, t.receiver_id, coalesce((select read_at from upd), t.read_at, now()) \
         from target t",
    )
    .bind(message)
    .bind(reader)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => ReadOutcome::NotFound,
        Some((_, receiver, _)) if receiver != reader => ReadOutcome::NotReceiver,
        Some((sender, _, read_at)) => ReadOutcome::Read { sender, read_at },
    })
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
           select case when sender_id = $1 then receiver_id else sender_id end as partner_id, \
                  {COLUMNS} \
           from message where sender_id = $1 or receiver_id = $1), \
         last as (select distinct on (partner_id) * from mine order by partner_id, message_id desc) \
         select l.*, (select count(*) from message u where u.receiver_id = $1 \
                        and u.sender_id = l.partner_id and u.read_at is null) as unread_count \
         from last l order by l.message_id desc limit $2 offset $3"
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
