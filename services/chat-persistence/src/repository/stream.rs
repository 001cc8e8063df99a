//! Each user's stream: every message to or from the user and every read
//! receipt that concerns them, at dense positions assigned at commit. A
//! transaction that adds to a stream first locks the user's `user_stream` row
//! (always in user-id order, so transactions never deadlock on each other),
//! so positions follow commit order and a rolled-back transaction leaves no
//! hole. The delivered cursor (`stream_cursor`) says how far the stream was
//! written to a live connection: the pending queue is what lies after it.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::{COLUMNS, NewMessage, StoredMessage};

/// Locks the streams of `users` (sorted, no repeats) for the rest of the
/// transaction and returns their last positions (0 for a new user).
pub async fn lock(conn: &mut PgConnection, users: &[Uuid]) -> sqlx::Result<HashMap<Uuid, i64>> {
    const SELECT: &str = "select user_id, last_seq from user_stream \
                          where user_id = any($1) order by user_id for update";
    let mut rows: Vec<(Uuid, i64)> =
        sqlx::query_as(SELECT).bind(users).fetch_all(&mut *conn).await?;
    if rows.len() < users.len() {
        // First message of some user: create their rows, then lock them all.
        sqlx::query(
            "insert into user_stream (user_id) select u from unnest($1::uuid[]) u order by u \
             on conflict do nothing",
        )
        .bind(users)
        .execute(&mut *conn)
        .await?;
        rows = sqlx::query_as(SELECT).bind(users).fetch_all(&mut *conn).await?;
    }
    Ok(rows.into_iter().collect())
}

/// A new message with its positions.
pub struct Positioned<'a> {
    /// The row.
    pub row: &'a NewMessage,
    /// Its position in the sender's stream.
    pub sender_seq: i64,
    /// Its position in the receiver's stream.
    pub receiver_seq: i64,
}

/// Inserts positioned messages and moves the streams' last positions, in
/// one statement (the caller holds the stream locks).
pub async fn insert(
    conn: &mut PgConnection,
    rows: &[Positioned<'_>],
    last: &HashMap<Uuid, i64>,
) -> sqlx::Result<()> {
    let n = rows.len();
    let mut c = Columns::with_capacity(n);
    for p in rows {
        c.ids.push(p.row.id);
        c.senders.push(p.row.sender);
        c.receivers.push(p.row.receiver);
        c.client_ids.push(p.row.client_msg_id.as_deref());
        c.types.push(p.row.message_type);
        c.contents.push(p.row.content_enc.as_slice());
        c.times.push(p.row.created_at);
        c.sender_seqs.push(p.sender_seq);
        c.receiver_seqs.push(p.receiver_seq);
    }
    let (users, seqs): (Vec<Uuid>, Vec<i64>) = last.iter().map(|(u, s)| (*u, *s)).unzip();
    sqlx::query(
        "with inserted as ( \
           insert into message (message_id, sender_id, receiver_id, client_msg_id, message_type, \
                                content_enc, created_at, sender_seq, receiver_seq) \
           select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int2[], \
                                $6::bytea[], $7::timestamptz[], $8::int8[], $9::int8[]) \
           returning 1) \
         update user_stream s set last_seq = v.last_seq \
         from unnest($10::uuid[], $11::int8[]) as v(user_id, last_seq) \
         where s.user_id = v.user_id and s.last_seq < v.last_seq",
    )
    .bind(c.ids)
    .bind(c.senders)
    .bind(c.receivers)
    .bind(c.client_ids)
    .bind(c.types)
    .bind(c.contents)
    .bind(c.times)
    .bind(c.sender_seqs)
    .bind(c.receiver_seqs)
    .bind(users)
    .bind(seqs)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

struct Columns<'a> {
    ids: Vec<Uuid>,
    senders: Vec<Uuid>,
    receivers: Vec<Uuid>,
    client_ids: Vec<Option<&'a str>>,
    types: Vec<i16>,
    contents: Vec<&'a [u8]>,
    times: Vec<DateTime<Utc>>,
    sender_seqs: Vec<i64>,
    receiver_seqs: Vec<i64>,
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
            sender_seqs: Vec::with_capacity(n),
            receiver_seqs: Vec::with_capacity(n),
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
