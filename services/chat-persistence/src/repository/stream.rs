//! Each user's stream: every message to or from the user and every read
//! receipt that concerns them, at dense positions assigned at commit. A
//! transaction that adds to a stream first locks the user's `user_stream` row
//! (always in user-id order, so transactions never deadlock on each other),
//! so positions follow commit order and a rolled-back transaction leaves no
//! hole. The delivered cursor (`stream_cursor`) says how far the stream was
//! written to a live connection: the pending queue is what lies after it.
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::{COLUMNS, NewMessage, StoredMessage};

/// What the commit made of one message of a batch.
#[derive(Debug, sqlx::FromRow)]
pub struct Committed {
    /// Its index in the batch, from 1.
    pub idx: i32,
    /// Its position in the sender's stream (None for a repeat).
    pub sender_seq: Option<i64>,
    /// Its position in the receiver's stream (None for a repeat).
    pub receiver_seq: Option<i64>,
    /// The index (from 1) of an earlier message of the batch it repeats.
    pub repeat_of: Option<i32>,
    /// The committed message it repeats.
    pub original_id: Option<Uuid>,
}

/// Commits a batch in one round trip (`chat_commit_messages`, see its
/// migration): locks the participants' streams in user-id order, finds the
/// messages that repeat a committed or an earlier `(sender, client_msg_id)`,
/// gives every new one its next positions in batch order, inserts them and
/// moves the streams. One row per message, in batch order.
pub async fn commit(pool: &PgPool, rows: &[&NewMessage]) -> sqlx::Result<Vec<Committed>> {
    let n = rows.len();
    let mut c = Columns::with_capacity(n);
    for row in rows {
        c.ids.push(row.id);
        c.senders.push(row.sender);
        c.receivers.push(row.receiver);
        c.client_ids.push(row.client_msg_id.as_deref());
        c.types.push(row.message_type);
        c.contents.push(row.content_enc.as_slice());
        c.times.push(row.created_at);
    }
    sqlx::query_as("select * from chat_commit_messages($1, $2, $3, $4, $5, $6, $7)")
        .bind(c.ids)
        .bind(c.senders)
        .bind(c.receivers)
        .bind(c.client_ids)
        .bind(c.types)
        .bind(c.contents)
        .bind(c.times)
        .fetch_all(pool)
        .await
}

struct Columns<'a> {
    ids: Vec<Uuid>,
    senders: Vec<Uuid>,
    receivers: Vec<Uuid>,
    client_ids: Vec<Option<&'a str>>,
    types: Vec<i16>,
    contents: Vec<&'a [u8]>,
    times: Vec<DateTime<Utc>>,
}

impl Columns<'_> {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            senders: Vec::with_capacity(n),
            receivers: Vec::with_capacity(n),
            client_ids: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            contents: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
        }
    }
}

/// One event of a user's stream: a message (`kind` 0) or a read receipt
/// (`kind` 1, where `receiver_id` is the reader and `created_at` the read time).
#[derive(Debug, sqlx::FromRow)]
pub struct StreamRow {
    /// Its position in the stream.
    pub seq: i64,
    /// 0 message, 1 read receipt.
    pub kind: i16,
    /// The message's columns (for a receipt: id, sender, reader, read time).
    #[sqlx(flatten)]
    pub message: StoredMessage,
}

/// The events of `user`'s stream in `(after, until]`, in position order.
pub async fn page(
    pool: &PgPool,
    user: Uuid,
    after: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<StreamRow>> {
    let sql = format!(
        "select * from ( \
           (select sender_seq as seq, 0::int2 as kind, {COLUMNS} from message \
             where sender_id = $1 and sender_seq > $2 and sender_seq <= $3 \
             order by sender_seq limit $4) \
           union all \
           (select receiver_seq, 0::int2, {COLUMNS} from message \
             where receiver_id = $1 and receiver_seq > $2 and receiver_seq <= $3 \
             order by receiver_seq limit $4) \
           union all \
           (select r.seq, 1::int2, r.message_id, r.sender_id, r.reader_id, null::text, \
                   0::int2, ''::bytea, r.read_at, r.read_at, 0::int8, 0::int8 \
              from receipt r where r.user_id = $1 and r.seq > $2 and r.seq <= $3 \
             order by r.seq limit $4) \
         ) e order by seq limit $4"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(after)
        .bind(until)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The position in `user`'s stream of a message id: the message's own when
/// the user took part in it, else that of the user's last message with a
/// smaller id (ids are time-ordered), so any id, even the nil one, resumes.
pub async fn position_of(pool: &PgPool, user: Uuid, message: Uuid) -> sqlx::Result<i64> {
    if message.is_nil() {
        return Ok(0);
    }
    let own: Option<i64> = sqlx::query_scalar(
        "select case when sender_id = $1 then sender_seq else receiver_seq end \
         from message where message_id = $2 and (sender_id = $1 or receiver_id = $1)",
    )
    .bind(user)
    .bind(message)
    .fetch_optional(pool)
    .await?;
    if let Some(seq) = own {
        return Ok(seq);
    }
    sqlx::query_scalar(
        "select greatest( \
           coalesce((select max(sender_seq) from message where sender_id = $1 and message_id < $2), 0), \
           coalesce((select max(receiver_seq) from message where receiver_id = $1 and message_id < $2), 0))",
    )
    .bind(user)
    .bind(message)
    .fetch_one(pool)
    .await
}

/// A user's delivered cursor (0 when nothing was ever delivered).
pub async fn delivered(executor: impl PgExecutor<'_>, user: Uuid) -> sqlx::Result<i64> {
    let seq: Option<i64> =
        sqlx::query_scalar("select delivered_seq from stream_cursor where user_id = $1")
            .bind(user)
            .fetch_optional(executor)
            .await?;
    Ok(seq.unwrap_or(0))
}

/// Moves delivered cursors forward (never back), in user-id order.
pub async fn advance_delivered(pool: &PgPool, cursors: &[(Uuid, i64)]) -> sqlx::Result<u64> {
    let mut sorted = cursors.to_vec();
    sorted.sort_unstable();
    // One cursor per user: the furthest.
    sorted.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 = earlier.1.max(later.1);
        }
        same
    });
    let (users, seqs): (Vec<Uuid>, Vec<i64>) = sorted.into_iter().unzip();
    let done = sqlx::query(
        "insert into stream_cursor (user_id, delivered_seq) \
         select * from unnest($1::uuid[], $2::int8[]) \
         on conflict (user_id) do update set delivered_seq = excluded.delivered_seq \
         where stream_cursor.delivered_seq < excluded.delivered_seq",
    )
    .bind(users)
    .bind(seqs)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// How many messages a receiver has after their delivered cursor.
pub async fn pending_count(pool: &PgPool, receiver: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from message where receiver_id = $1 and receiver_seq > \
         coalesce((select delivered_seq from stream_cursor where user_id = $1), 0)",
    )
    .bind(receiver)
    .fetch_one(pool)
    .await
}

/// Events in streams not yet written to any connection, in all (a gauge;
/// counts positions, so it includes receipts and the users' own messages).
pub async fn pending_total(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select coalesce(sum(s.last_seq - coalesce(c.delivered_seq, 0)), 0)::int8 \
         from user_stream s left join stream_cursor c using (user_id)",
    )
    .fetch_one(pool)
    .await
}

/// Messages with an id after `since` (ids are UUIDv7: a time range of the
/// primary key) that lie after their receiver's delivered cursor (offered
/// again at start-up).
pub async fn recent_undelivered(pool: &PgPool, since: Uuid) -> sqlx::Result<Vec<StoredMessage>> {
    let sql = format!(
        "select {COLUMNS} from message m \
         where m.message_id > $1 \
           and m.receiver_seq > coalesce( \
                 (select delivered_seq from stream_cursor c where c.user_id = m.receiver_id), 0) \
         order by m.receiver_id, m.receiver_seq limit 100000"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(since).fetch_all(pool).await
}
