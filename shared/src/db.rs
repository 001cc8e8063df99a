//! PostgreSQL for the services that own tables: the pool lives in the
//! service's own schema (`search_path`), the database and schema are created
//! when missing, and migrations run at start-up under sqlx's advisory lock.
use std::{str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    ConnectOptions, Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

use crate::config::ConfigError;

/// Parses `DATABASE_URL` into connection options.
pub fn parse_url(url: &SecretString) -> Result<PgConnectOptions, ConfigError> {
    let raw = url.expose_secret();
    if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
        return Err(ConfigError::Invalid {
            var: "DATABASE_URL",
            reason: "must be a postgres:// or postgresql:// URL".into(),
        });
    }
    PgConnectOptions::from_str(url.expose_secret()).map_err(|e| ConfigError::Invalid {
        var: "DATABASE_URL",
        reason: format!(
            "not a PostgreSQL URL: {}",
            e.to_string().replace(url.expose_secret(), "…")
        ),
    })
}

/// Builds a lazy pool whose connections use `schema` (no connection is made yet).
pub fn lazy_pool(options: &PgConnectOptions, schema: &str, max_connections: u32) -> PgPool {
    let options = options
        .clone()
        .options([("search_path", schema)])
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(2))
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(options)
}

/// Creates the database when it does not exist (connecting to `postgres`).
pub async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else { return Ok(()) };
    match PgConnection::connect_with(options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {}
        Err(e) => return Err(e.into()),
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let quoted = name.replace('"', "\"\"");
    let sql = format!("create database \"{quoted}\"");
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await {
        Ok(_) => tracing::info!(database = %name, "created database"),
        // Another replica created it first.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {
        }
        Err(e) => return Err(e.into()),
    }
    let _ = admin.close().await;
    Ok(())
}

/// Creates the service's schema and applies its migrations.
pub async fn migrate(pool: &PgPool, schema: &str, migrator: &Migrator) -> anyhow::Result<()> {
    let sql = format!("create schema if not exists \"{}\"", schema.replace('"', "\"\""));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        Ok(_) => {}
        // Two replicas racing on `create schema if not exists`.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "42P06")) => {
        }
        Err(e) => return Err(e.into()),
    }
    migrator.run(pool).await?;
    Ok(())
}

/// Makes the database, schema and tables ready, retrying until PostgreSQL answers.
pub async fn prepare(options: &PgConnectOptions, pool: &PgPool, schema: &str, migrator: &Migrator) {
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            ensure_database(options).await?;
            migrate(pool, schema, migrator).await
        };
        match attempt.await {
            Ok(()) => {
                tracing::info!(schema, "database ready");
                return;
            }
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, "database not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Returns whether the database answers within a second.
pub async fn ping(pool: &PgPool) -> bool {
    let check = async {
        let mut conn = pool.acquire().await?;
        conn.ping().await
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), check).await, Ok(Ok(())))
}

/// Runs [`prepare`] in the background; the returned flag turns true once the
/// schema is ready (readiness waits for it, handlers fail fast until then).
pub fn prepare_in_background(
    options: &PgConnectOptions,
    pool: &PgPool,
    schema: &'static str,
    migrator: &'static Migrator,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let migrated = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (options, pool, flag) = (options.clone(), pool.clone(), migrated.clone());
    tokio::spawn(async move {
        prepare(&options, &pool, schema, migrator).await;
        flag.store(true, std::sync::atomic::Ordering::Release);
    });
    migrated
}
