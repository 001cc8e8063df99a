//! The Redis half of home timelines: one sorted set per user
//! (`<REDIS_KEY_PREFIX>feed:timeline:<user>`) of post ids (32 hex digits)
//! scored by creation time in microseconds, plus a sentinel member `!`
//! whose score is the set's floor. The set holds every timeline post newer
//! than the floor (a floor of -1: every post there is); older posts are only
//! in PostgreSQL. The sentinel lives inside the set so a timeline either
//! exists whole or not at all (Redis evicts and expires whole keys): writes go
//! only to timelines that exist, and a missing one is rebuilt from
//! PostgreSQL on its next read. Every write is a Lua script, so it is
//! atomic; scripts run with fred's `evalsha_with_reload` (by SHA-1, loaded
//! again when Redis answers `NOSCRIPT`).
use std::{sync::LazyLock, time::Duration};

use fred::{prelude::*, types::scripts::Script};
use uuid::Uuid;

/// Keys per script call when one write touches many timelines.
const KEYS_PER_CALL: usize = 256;

/// Reads the sentinel's floor and the newest `ARGV[1]` entries above it, and
/// refreshes the TTL (only timelines that are read stay in Redis).
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local floor = redis.call('zscore', KEYS[1], '!')
if not floor then return false end
redis.call('pexpire', KEYS[1], ARGV[2])
local ids = redis.call('zrevrangebyscore', KEYS[1], '+inf', '(' .. floor,
  'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
return {floor, ids}
",
    )
});

/// Creates a timeline from scratch unless a complete one exists:
/// ARGV = floor, ttl ms, then score/member pairs.
static BUILD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
if redis.call('zscore', KEYS[1], '!') then return 0 end
redis.call('del', KEYS[1])
redis.call('zadd', KEYS[1], ARGV[1], '!')
for i = 3, #ARGV, 2 do redis.call('zadd', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Adds score/member pairs (ARGV[2..]) to each timeline of KEYS that exists,
/// above its floor, then trims it to ARGV[1] posts, raising the floor to the
/// newest post trimmed.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local cap = tonumber(ARGV[1])
local added = 0
for _, key in ipairs(KEYS) do
  local floor = redis.call('zscore', key, '!')
  if floor then
    floor = tonumber(floor)
    for i = 2, #ARGV, 2 do
      if tonumber(ARGV[i]) > floor then
        added = added + redis.call('zadd', key, ARGV[i], ARGV[i + 1])
      end
    end
    local excess = redis.call('zcard', key) - 1 - cap
    if excess > 0 then
      local cut = redis.call('zrange', key, excess, excess, 'WITHSCORES')
      redis.call('zremrangebyrank', key, 1, excess)
      redis.call('zadd', key, cut[2], '!')
    end
  end
end
return added
",
    )
});

/// Removes the members ARGV from every timeline of KEYS.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r"
local removed = 0
for _, key in ipairs(KEYS) do removed = removed + redis.call('zrem', key, unpack(ARGV)) end
return removed
",
    )
});

/// What a timeline holds: its floor (`None`: complete) and its newest entries.
#[derive(Debug, Default)]
pub struct Window {
    /// Micros below which (inclusive) posts are only in PostgreSQL; `None` when none are.
    pub floor: Option<i64>,
    /// `(created_at micros, post id)`, newest first.
    pub entries: Vec<(i64, Uuid)>,
}

/// Redis timelines under a key prefix.
#[derive(Clone)]
pub struct Store {
    redis: Client,
    prefix: String,
    cap: usize,
    ttl: Duration,
}

fn member(id: Uuid) -> String {
    id.simple().to_string()
}

/// Reads a number whether Redis sent it as a double, an integer or a string.
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

impl Store {
    /// Creates the store; `cap` posts per timeline, idle timelines expire after `ttl`.
    pub fn new(redis: Client, prefix: &str, cap: usize, ttl: Duration) -> Self {
        Self { redis, prefix: prefix.to_owned(), cap, ttl }
    }

    /// Returns the Redis key of a user's timeline.
    pub fn key(&self, user: Uuid) -> String {
        format!("{}feed:timeline:{}", self.prefix, user.simple())
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// Reads the newest `n` entries; `None` when the timeline does not exist.
    pub async fn read(&self, user: Uuid, n: usize) -> FredResult<Option<Window>> {
        let reply: Value = READ
            .evalsha_with_reload(
                &self.redis,
                vec![self.key(user)],
                vec![n.to_string(), self.ttl_ms()],
            )
            .await?;
        if reply.is_null() {
            return Ok(None);
        }
        let mut parts = reply.into_array().into_iter();
        let floor = parts.next().as_ref().and_then(number).unwrap_or(-1.0);
        let flat = parts.next().map(Value::into_array).unwrap_or_default();
        let entries = flat
            .chunks(2)
            .filter_map(|pair| {
                let id = Uuid::parse_str(pair.first()?.as_str()?.as_ref()).ok()?;
                let score = number(pair.get(1)?)?;
                Some((score as i64, id))
            })
            .collect();
        let floor = (floor >= 0.0).then_some(floor as i64);
        Ok(Some(Window { floor, entries }))
    }

    /// Creates a user's timeline from `(micros, id)` entries and its floor
    /// (`None`: the entries are the whole timeline). Returns `false` when a
    /// complete timeline already existed (it is left as it is).
    pub async fn build(
        &self,
        user: Uuid,
        floor: Option<i64>,
        entries: &[(i64, Uuid)],
    ) -> FredResult<bool> {
        let floor = floor.unwrap_or(-1);
        let mut args = Vec::with_capacity(2 + entries.len() * 2);
        args.push(floor.to_string());
        args.push(self.ttl_ms());
        for (score, id) in entries.iter().filter(|(s, _)| *s > floor) {
            args.push(score.to_string());
            args.push(member(*id));
        }
        let built: i64 = BUILD.evalsha_with_reload(&self.redis, vec![self.key(user)], args).await?;
        Ok(built == 1)
    }

    /// Adds `(micros, id)` entries to the timelines of `users` that exist.
    pub async fn add(&self, users: &[Uuid], entries: &[(i64, Uuid)]) -> FredResult<()> {
        if users.is_empty() || entries.is_empty() {
            return Ok(());
        }
        let mut args = Vec::with_capacity(1 + entries.len() * 2);
        args.push(self.cap.to_string());
        for (score, id) in entries {
            args.push(score.to_string());
            args.push(member(*id));
        }
        for chunk in users.chunks(KEYS_PER_CALL) {
            let keys: Vec<String> = chunk.iter().map(|u| self.key(*u)).collect();
            let _: i64 = ADD.evalsha_with_reload(&self.redis, keys, args.clone()).await?;
        }
        Ok(())
    }

    /// Removes posts from the timelines of `users`.
    pub async fn remove(&self, users: &[Uuid], posts: &[Uuid]) -> FredResult<()> {
        if users.is_empty() || posts.is_empty() {
            return Ok(());
        }
        for ids in posts.chunks(1000) {
            let args: Vec<String> = ids.iter().map(|id| member(*id)).collect();
            for chunk in users.chunks(KEYS_PER_CALL) {
                let keys: Vec<String> = chunk.iter().map(|u| self.key(*u)).collect();
                let _: i64 = REMOVE.evalsha_with_reload(&self.redis, keys, args.clone()).await?;
            }
        }
        Ok(())
    }

    /// Deletes timelines (they are rebuilt from PostgreSQL when next read).
    pub async fn drop_timelines(&self, users: &[Uuid]) -> FredResult<()> {
        for chunk in users.chunks(KEYS_PER_CALL) {
            let keys: Vec<String> = chunk.iter().map(|u| self.key(*u)).collect();
            let _: i64 = self.redis.del(keys).await?;
        }
        Ok(())
    }

    /// Returns whether Redis answers.
    pub async fn ping(&self) -> bool {
        shared::redis::ping(&self.redis).await
    }
}
