//! "Durable before acknowledged" does not rest on a default: the service's
//! connections commit synchronously even where the database says otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::str::FromStr;

use sqlx::{Connection, postgres::PgConnectOptions};

fn base() -> String {
    std::env::var("E2E_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[tokio::test]
async fn connections_commit_synchronously_whatever_the_database_default() {
    let name = format!("sync_commit_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", base())).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter database {name} set synchronous_commit = off"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let options = PgConnectOptions::from_str(&format!("{}/{name}", base())).unwrap();
    let show = |options: PgConnectOptions| async move {
        let pool = shared::db::lazy_pool(&options, "chat", 1);
        let value: String =
            sqlx::query_scalar("show synchronous_commit").fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    };
    assert_eq!(show(options.clone()).await, "off", "the database default is off");
    assert_eq!(show(chat_persistence::startup::durable(&options)).await, "on");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(&mut admin)
        .await
        .unwrap();
}
