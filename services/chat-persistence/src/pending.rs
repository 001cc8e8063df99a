//! The per-user pending queue in Redis: a sorted set of undelivered message
//! ids (UUIDv7 hex, scored by time, so it drains in order). It holds ids
//! only, never content. PostgreSQL's `delivered_at is null` rows are the
//! truth: when the `ready` marker is missing (Redis restarted or was
//! flushed) the queue is rebuilt from them, and when Redis cannot be reached
//! reads fall back to PostgreSQL.
use std::{collections::HashSet, sync::Mutex};

use fred::{
    prelude::*,
    types::{Expiration, SetOptions},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::repository;

/// Users whose queue write failed are remembered (up to this many) and repaired
/// from PostgreSQL once Redis answers again.
const MAX_SUSPECT_USERS: usize = 100_000;

/// The error detail of a read made while another caller rebuilds the queues.
const REBUILDING: &str = "pending queue rebuild in progress";

/// The pending queue of every user.
pub struct PendingQueue {
    redis: Client,
    pool: PgPool,
    prefix: String,
    suspects: Mutex<HashSet<Uuid>>,
}

impl PendingQueue {
    /// Creates the queue over a Redis client, under a key prefix.
    pub fn new(redis: Client, pool: PgPool, prefix: &str) -> Self {
        Self { redis, pool, prefix: prefix.to_owned(), suspects: Mutex::new(HashSet::new()) }
    }

    fn key(&self, user: Uuid) -> String {
        format!("{}chat:pending:{}", self.prefix, user.simple())
    }

    fn marker(&self) -> String {
        format!("{}chat:pending:ready", self.prefix)
    }

    /// Adds messages `(receiver, id, created_at millis)` to their receivers' queues.
    pub async fn push(&self, items: &[(Uuid, Uuid, i64)]) {
        if items.is_empty() {
            return;
        }
        let pipe = self.redis.pipeline();
        for (receiver, id, at) in items {
            let member = id.simple().to_string();
            let queued: FredResult<()> = pipe
                .zadd(self.key(*receiver), None, None, false, false, (*at as f64, member))
                .await;
            if queued.is_err() {
                break;
            }
        }
        if let Err(e) = pipe.all::<Vec<Value>>().await {
            tracing::warn!(error.cause_chain = ?e, "failed to queue pending messages; will repair");
            if let Ok(mut s) = self.suspects.lock() {
                for (receiver, _, _) in items {
                    if s.len() < MAX_SUSPECT_USERS {
                        s.insert(*receiver);
                    }
                }
            }
        }
    }

    /// Removes delivered messages `(receiver, id)` from their queues.
    pub async fn remove(&self, items: &[(Uuid, Uuid)]) {
        if items.is_empty() {
            return;
        }
        let pipe = self.redis.pipeline();
        for (receiver, id) in items {
            let queued: FredResult<()> =
                pipe.zrem(self.key(*receiver), id.simple().to_string()).await;
            if queued.is_err() {
                break;
            }
        }
        if let Err(e) = pipe.all::<Vec<Value>>().await {
            // Harmless: a stale id is dropped when a drain finds its row delivered.
            tracing::debug!(error.cause_chain = ?e, "failed to remove delivered ids from redis");
        }
    }

    /// Rebuilds every queue from PostgreSQL when the marker is missing.
    async fn ensure_ready(&self) -> FredResult<()> {
        let marker = self.marker();
        let present: i64 = self.redis.exists(&marker).await?;
        if present == 1 {
            return Ok(());
        }
        let lock = format!("{marker}:lock");
        let got: Option<String> = self
            .redis
            .set(&lock, "1", Some(Expiration::EX(30)), Some(SetOptions::NX), false)
            .await?;
        if got.is_none() {
            // Another caller is rebuilding: read from PostgreSQL meanwhile.
            return Err(Error::new(ErrorKind::Timeout, REBUILDING));
        }
        let rows = repository::all_undelivered(&self.pool)
            .await
            .map_err(|e| Error::new(ErrorKind::IO, e.to_string()))?;
        tracing::info!(messages = rows.len(), "rebuilding pending queues from postgresql");
        for chunk in rows.chunks(1000) {
            let pipe = self.redis.pipeline();
            for (receiver, id, at) in chunk {
                let _: () = pipe
                    .zadd(
                        self.key(*receiver),
                        None,
                        None,
                        false,
                        false,
                        (at.timestamp_millis() as f64, id.simple().to_string()),
                    )
                    .await?;
            }
            pipe.all::<Vec<Value>>().await?;
        }
        let _: () = self.redis.set(&marker, "1", None, None, false).await?;
        let _: i64 = self.redis.del(&lock).await?;
        Ok(())
    }

    /// The oldest `limit` pending ids of a user, or `None` when Redis cannot answer.
    pub async fn ids(&self, user: Uuid, limit: i64) -> Option<Vec<Uuid>> {
        let read = async {
            self.ensure_ready().await?;
            let members: Vec<String> =
                self.redis.zrange(self.key(user), 0, limit - 1, None, false, None, false).await?;
            Ok::<_, Error>(members.iter().filter_map(|m| Uuid::parse_str(m).ok()).collect())
        };
        match read.await {
            Ok(ids) => Some(ids),
            Err(e) if e.details() == REBUILDING => {
                tracing::debug!("pending queue being rebuilt; using postgresql");
                None
            }
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, "pending queue unavailable; using postgresql");
                None
            }
        }
    }

    /// How many messages a user has pending, or `None` when Redis cannot answer.
    pub async fn count(&self, user: Uuid) -> Option<u64> {
        let read = async {
            self.ensure_ready().await?;
            self.redis.zcard::<u64, _>(self.key(user)).await
        };
        read.await.ok()
    }

    /// Re-queues, from PostgreSQL, the users whose queue writes failed.
    pub async fn repair(&self) {
        let users: Vec<Uuid> = match self.suspects.lock() {
            Ok(s) if !s.is_empty() => s.iter().copied().collect(),
            _ => return,
        };
        if !shared::redis::ping(&self.redis).await {
            return;
        }
        for user in users {
            let Ok(rows) = repository::undelivered(&self.pool, user, 10_000).await else { return };
            let items: Vec<(Uuid, Uuid, i64)> = rows
                .iter()
                .map(|r| (user, r.message_id, r.created_at.timestamp_millis()))
                .collect();
            if let Ok(mut s) = self.suspects.lock() {
                s.remove(&user);
            }
            self.push(&items).await;
        }
    }
}
