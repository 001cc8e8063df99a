//! Upgrading a database written by the first message path: existing
//! messages get positions in id order, and each user's delivered cursor
//! stops just before their first undelivered message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use sqlx::Connection;

fn base() -> String {
    std::env::var("E2E_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

const V1: &str =
    include_str!("../../../migrations/chat_persistence/20261124000001_create_message.sql");
const V2: &str =
    include_str!("../../../migrations/chat_persistence/20261203000001_stream_positions.sql");

#[tokio::test]
async fn existing_messages_get_positions_and_undelivered_ones_stay_pending() {
    let name = format!("migration_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", base())).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut db = sqlx::PgConnection::connect(&format!("{}/{name}", base())).await.unwrap();
    sqlx::raw_sql(V1).execute(&mut db).await.unwrap();
    let (a, b, c) = (
        "aaaaaaaa-0000-0000-0000-000000000001",
        "bbbbbbbb-0000-0000-0000-000000000002",
        "cccccccc-0000-0000-0000-000000000003",
    );
    // a→b delivered, b→a delivered, a→b undelivered, a→c undelivered.
    let rows = [(1, a, b, true), (2, b, a, true), (3, a, b, false), (4, a, c, false)];
    for (n, from, to, delivered) in rows {
        sqlx::query(
            "insert into message (message_id, sender_id, receiver_id, client_msg_id, content_enc, \
             created_at, delivered_at) values ($1::uuid, $2::uuid, $3::uuid, $4, '\\x00', now(), \
             case when $5 then now() end)",
        )
        .bind(format!("00000000-0000-7000-8000-00000000000{n}"))
        .bind(from)
        .bind(to)
        .bind(format!("c{n}"))
        .bind(delivered)
        .execute(&mut db)
        .await
        .unwrap();
    }
    sqlx::raw_sql(V2).execute(&mut db).await.unwrap();
    let seqs: Vec<(i64, i64)> =
        sqlx::query_as("select sender_seq, receiver_seq from message order by message_id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(seqs, [(1, 1), (2, 2), (3, 3), (4, 1)]);
    let cursors: Vec<(String, i64, i64)> = sqlx::query_as(
        "select s.user_id::text, s.last_seq, c.delivered_seq from user_stream s \
         join stream_cursor c using (user_id) order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        cursors,
        [(a.to_owned(), 4, 4), (b.to_owned(), 3, 2), (c.to_owned(), 1, 0)],
        "b's and c's undelivered messages stay after their cursors"
    );
    db.close().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(&mut admin)
        .await
        .unwrap();
}
