//! Presence state in Redis. Every change runs as one Lua script (see
//! `src/lua/`), so replicas applying events for the same user or gateway at
//! once never race: the scripts keep each gateway's per-user connection
//! counts, the users' totals, the grace period before an offline is
//! announced, each gateway's expiry and each user's last seen time.
use std::{sync::LazyLock, time::Duration};

use fred::{
    prelude::*,
    types::{Value, scripts::Script},
};
use uuid::Uuid;

/// How long a user's last seen time is kept after they were last online.
const SEEN_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long events of a reaped gateway are ignored (until it heartbeats again).
const TOMBSTONE: Duration = Duration::from_secs(3600);
/// Most offline announcements one sweep pops.
const SWEEP_BATCH: usize = 1000;
/// Most users one read command asks about.
const READ_CHUNK: usize = 1000;

/// The mask of all 16 user buckets.
pub const ALL_BUCKETS: u32 = 0xFFFF;

/// Returns a user's bucket (0-15): the last hex digit of its id.
pub fn bucket_of(user: Uuid) -> u32 {
    u32::from(user.as_bytes()[15] & 0x0f)
}

/// A script of `src/lua/`, after the prelude every script shares. Run with
/// fred's `evalsha_with_reload`: by its SHA-1, loaded again when Redis
/// answers `NOSCRIPT` (after a restart or a `SCRIPT FLUSH`).
macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::from_lua(concat!(include_str!("lua/prelude.lua"), "\n", include_str!($file)))
        })
    };
}

static CONN: LazyLock<Script> = script!("lua/conn.lua");
static HEARTBEAT: LazyLock<Script> = script!("lua/heartbeat.lua");
static SWEEP: LazyLock<Script> = script!("lua/sweep.lua");
static STATUS: LazyLock<Script> = script!("lua/status.lua");
static COUNT: LazyLock<Script> = script!("lua/count.lua");

/// A user's status as presence announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Connected somewhere, or disconnected for less than the grace period.
    pub online: bool,
    /// Microseconds of the last connect or disconnect (0 when never seen).
    pub last_seen_micros: i64,
}

/// What one sweep decided.
#[derive(Debug, Default)]
pub struct Swept {
    /// Users who came online (none in practice: reaping only removes connections).
    pub online: Vec<Uuid>,
    /// Users whose grace ran out, or whose gateway died: now offline.
    pub offline: Vec<Uuid>,
}

/// The presence keys under one prefix.
#[derive(Clone)]
pub struct Store {
    redis: Client,
    prefix: String,
    grace: Duration,
}

impl Store {
    /// Creates the store; `prefix` is `REDIS_KEY_PREFIX` and `grace` the debounce of offlines.
    pub fn new(redis: Client, prefix: &str, grace: Duration) -> Self {
        Self { redis, prefix: format!("{prefix}presence:"), grace }
    }

    /// Returns the Redis client.
    pub fn redis(&self) -> &Client {
        &self.redis
    }

    fn args(&self) -> Vec<String> {
        vec![
            self.prefix.clone(),
            self.grace.as_millis().to_string(),
            SEEN_RETENTION.as_millis().to_string(),
        ]
    }

    /// Sets `user`'s connection count on `gateway` (if `seq` is the newest
    /// word on it); returns the users who came online.
    pub async fn apply_conn(
        &self,
        gateway: &str,
        user: Uuid,
        connections: u32,
        seq: u64,
        new_gateway_ttl: Duration,
    ) -> FredResult<Vec<Uuid>> {
        let mut args = self.args();
        args.extend([
            gateway.to_owned(),
            user.simple().to_string(),
            connections.to_string(),
            seq.to_string(),
            new_gateway_ttl.as_millis().to_string(),
        ]);
        Ok(users(&CONN.evalsha_with_reload(&self.redis, (), args).await?))
    }

    /// Replaces `gateway`'s counts, for the users in the `buckets` mask (see
    /// [`bucket_of`]), with a heartbeat's (except users with newer events) and
    /// extends its life by `ttl`; returns the users who came online.
    pub async fn apply_heartbeat(
        &self,
        gateway: &str,
        seq: u64,
        ttl: Duration,
        buckets: u32,
        counts: &[(Uuid, u32)],
    ) -> FredResult<Vec<Uuid>> {
        let mut args = self.args();
        args.reserve(4 + counts.len() * 2);
        args.extend([
            gateway.to_owned(),
            seq.to_string(),
            ttl.as_millis().to_string(),
            (buckets & ALL_BUCKETS).to_string(),
        ]);
        for (user, n) in counts {
            args.push(user.simple().to_string());
            args.push(n.to_string());
        }
        Ok(users(&HEARTBEAT.evalsha_with_reload(&self.redis, (), args).await?))
    }

    /// Reaps expired gateways and pops the users whose grace ran out.
    pub async fn sweep(&self) -> FredResult<Swept> {
        let mut args = self.args();
        args.extend([TOMBSTONE.as_millis().to_string(), SWEEP_BATCH.to_string()]);
        let value: Value = SWEEP.evalsha_with_reload(&self.redis, (), args).await?;
        let mut parts = match value {
            Value::Array(parts) => parts.into_iter(),
            _ => return Ok(Swept::default()),
        };
        let online = parts.next().map(|v| users(&v)).unwrap_or_default();
        let offline = parts.next().map(|v| users(&v)).unwrap_or_default();
        Ok(Swept { online, offline })
    }

    /// Returns each user's announced status, in order.
    pub async fn status(&self, ids: &[Uuid]) -> FredResult<Vec<Status>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(READ_CHUNK) {
            let mut args = self.args();
            args.extend(chunk.iter().map(|u| u.simple().to_string()));
            let rows: Value = STATUS.evalsha_with_reload(&self.redis, (), args).await?;
            let Value::Array(rows) = rows else { continue };
            for row in rows {
                let (online, seen) = match row {
                    Value::Array(cols) => (
                        cols.first().and_then(Value::as_i64).unwrap_or(0) == 1,
                        cols.get(1).and_then(Value::as_string).unwrap_or_default(),
                    ),
                    _ => (false, String::new()),
                };
                out.push(Status { online, last_seen_micros: seen.parse().unwrap_or(0) });
            }
        }
        Ok(out)
    }

    /// Returns those of `ids` who have an open connection right now.
    pub async fn connected(&self, ids: &[Uuid]) -> FredResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(READ_CHUNK) {
            let fields: Vec<String> = chunk.iter().map(|u| u.simple().to_string()).collect();
            let counts: Vec<Option<i64>> =
                self.redis.hmget(format!("{}conns", self.prefix), fields).await?;
            out.extend(chunk.iter().zip(counts).filter(|(_, n)| n.is_some()).map(|(u, _)| *u));
        }
        Ok(out)
    }

    /// How many users are online: connected, or within grace.
    pub async fn online_count(&self) -> FredResult<u64> {
        let count: Value = COUNT.evalsha_with_reload(&self.redis, (), self.args()).await?;
        Ok(count.as_u64().unwrap_or(0))
    }
}

fn users(value: &Value) -> Vec<Uuid> {
    match value {
        Value::Array(items) => {
            items.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(&s).ok())).collect()
        }
        _ => Vec::new(),
    }
}
