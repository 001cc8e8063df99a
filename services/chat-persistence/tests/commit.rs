//! The one-round-trip commit (`chat_commit_messages`, `chat_record_read`)
//! against a real database: positions dense and in batch order, repeats of a
//! `client_msg_id` found within a batch and across batches, and concurrent
//! commits for the same users serialised without a hole, a duplicate or an
//! error (the look-up runs after the stream locks are granted).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chat_persistence::repository::{NewMessage, receipt, stream};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

fn base() -> String {
    std::env::var("E2E_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/chat_persistence");

async fn database() -> (PgPool, String) {
    let name = format!("commit_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", base())).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = PgPool::connect(&format!("{}/{name}", base())).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (pool, name)
}

async fn drop_database(pool: PgPool, name: &str) {
    pool.close().await;
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", base())).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

fn message(sender: Uuid, receiver: Uuid, cid: Option<&str>) -> NewMessage {
    NewMessage {
        id: Uuid::now_v7(),
        sender,
        receiver,
        client_msg_id: cid.map(str::to_owned),
        message_type: 0,
        content_enc: vec![1, 2, 3],
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn positions_follow_batch_order_and_repeats_are_found_within_and_across_batches() {
    let (pool, name) = database().await;
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let batch = [
        message(a, b, Some("x")),
        message(a, b, None),
        message(b, a, Some("x")), // another sender's "x" is another message
        message(a, b, Some("x")), // repeats the first, in the same batch
        message(a, c, None),
    ];
    let rows: Vec<&NewMessage> = batch.iter().collect();
    let got = stream::commit(&pool, &rows).await.unwrap();
    let seqs: Vec<_> = got.iter().map(|c| (c.idx, c.sender_seq, c.receiver_seq)).collect();
    assert_eq!(
        seqs,
        [
            (1, Some(1), Some(1)),
            (2, Some(2), Some(2)),
            (3, Some(3), Some(3)),
            (4, None, None),
            (5, Some(4), Some(1)),
        ]
    );
    assert_eq!(got[3].repeat_of, Some(1));
    assert_eq!(got[3].original_id, None);

    // A later batch repeating "x" finds the committed original.
    let again = [message(a, b, Some("x")), message(b, a, None)];
    let rows: Vec<&NewMessage> = again.iter().collect();
    let got = stream::commit(&pool, &rows).await.unwrap();
    assert_eq!(got[0].original_id, Some(batch[0].id));
    assert_eq!((got[0].sender_seq, got[0].repeat_of), (None, None));
    assert_eq!((got[1].sender_seq, got[1].receiver_seq), (Some(4), Some(5)));
    let last: Vec<(Uuid, i64)> =
        sqlx::query_as("select user_id, last_seq from user_stream order by user_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(last, [(a, 5), (b, 4), (c, 1)]);

    // A receipt takes the next position in both streams, once.
    let first = receipt::record(&pool, batch[0].id, a, b, chrono::Utc::now()).await.unwrap();
    assert_eq!(first, Some((6, 5)));
    let twice = receipt::record(&pool, batch[0].id, a, b, chrono::Utc::now()).await.unwrap();
    assert_eq!(twice, None);
    drop_database(pool, &name).await;
}

#[tokio::test]
async fn concurrent_commits_for_the_same_users_leave_dense_positions_and_no_duplicate() {
    let (pool, name) = database().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // 8 committers race, each sending the same 50 client_msg_ids (and 50
    // messages without one) from a to b.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let cid = format!("m{i}");
                let batch = [message(a, b, Some(&cid)), message(a, b, None)];
                let rows: Vec<&NewMessage> = batch.iter().collect();
                stream::commit(&pool, &rows).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (n, distinct_cids, max_s, max_r): (i64, i64, i64, i64) = sqlx::query_as(
        "select count(*), count(distinct client_msg_id), max(sender_seq), max(receiver_seq) \
         from message",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(distinct_cids, 50, "each client_msg_id committed once");
    assert_eq!(n, 50 + 8 * 50);
    assert_eq!((max_s, max_r), (n, n), "positions are dense: 1..=n in both streams");
    let last: i64 = sqlx::query_scalar("select last_seq from user_stream where user_id = $1")
        .bind(a)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(last, n);
    drop_database(pool, &name).await;
}
