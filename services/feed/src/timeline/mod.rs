//! Home timelines: the reader's own posts and those of everyone they follow,
//! newest first.
//!
//! - **Fan-out on write.** A new post's id is added to the Redis timeline of
//!   its author and of each follower whose timeline exists (see [`store`]),
//!   capped at `FEED_TIMELINE_CAP` ids (Mastodon keeps 400).
//! - **Built when missing.** A timeline that does not exist (never read,
//!   expired after [`IDLE_TTL`] unread, evicted, or lost with Redis) is built
//!   from PostgreSQL on its next read, then caught up with posts committed
//!   while it was built, so a returning user never sees an empty or gappy feed.
//! - **Merge on read.** Authors with more than `FEED_FANOUT_MAX_FOLLOWERS`
//!   followers when they post are not fanned out (one celebrity post would be
//!   that many Redis writes); their posts (`fanned_out = false`) are merged
//!   into each reader's page from PostgreSQL.
//! - **Beyond the cap**, or when Redis fails, pages come from PostgreSQL.
//! - Unfollow removes the author's posts from the reader's timeline, follow
//!   merges them in, and a deleted post is removed from every timeline. A
//!   race that leaves a stale id behind is caught on read (the page's posts
//!   are re-checked against PostgreSQL) and the id is removed.
use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::Duration,
};

use chrono::Utc;
use shared::ids::{from_micros, micros};
use sqlx::PgPool;
use uuid::Uuid;

use crate::repository::{self, Entry, PostRow};

pub mod store;

use store::Store;

/// Timelines unread for this long expire from Redis (and are rebuilt if read again).
pub const IDLE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// After a rebuild, posts this much older than its start are re-added, in
/// case they committed while it ran and their fan-out found no timeline.
const CATCH_UP: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// Users whose timeline write failed are remembered (up to this many) and
/// their timelines dropped once Redis answers, to be rebuilt.
const MAX_DIRTY: usize = 100_000;
/// Attempts at a cached page before PostgreSQL answers instead.
const ATTEMPTS: usize = 3;

/// The timelines of every user.
pub struct Timelines {
    store: Store,
    pool: PgPool,
    cap: usize,
    dirty: Mutex<HashSet<Uuid>>,
}

enum Cached {
    Page(Vec<PostRow>),
    Stale,
    Fallback,
}

fn entry(e: &Entry) -> (i64, Uuid) {
    (micros(e.created_at), e.post_id)
}

impl Timelines {
    /// Creates the timelines over Redis and PostgreSQL.
    pub fn new(redis: fred::prelude::Client, pool: PgPool, prefix: &str, cap: usize) -> Self {
        let store = Store::new(redis, prefix, cap, IDLE_TTL);
        Self { store, pool, cap, dirty: Mutex::new(HashSet::new()) }
    }

    /// A page of a user's home timeline.
    pub async fn page(
        &self,
        user: Uuid,
        limit: usize,
        offset: usize,
    ) -> sqlx::Result<Vec<PostRow>> {
        if offset + limit <= self.cap {
            for _ in 0..ATTEMPTS {
                match self.cached_page(user, limit, offset).await? {
                    Cached::Page(rows) => {
                        metrics::counter!("feed_timeline_reads_total", "source" => "redis")
                            .increment(1);
                        return Ok(rows);
                    }
                    Cached::Stale => continue,
                    Cached::Fallback => break,
                }
            }
        }
        metrics::counter!("feed_timeline_reads_total", "source" => "postgresql").increment(1);
        let (limit, offset) = (limit as i64, offset as i64);
        repository::timeline_page(&self.pool, user, limit, offset).await
    }

    async fn cached_page(&self, user: Uuid, limit: usize, offset: usize) -> sqlx::Result<Cached> {
        let need = offset + limit;
        let window = match self.store.read(user, need).await {
            Ok(Some(w)) => w,
            Ok(None) => {
                self.rebuild(user).await?;
                match self.store.read(user, need).await {
                    Ok(Some(w)) => w,
                    _ => return Ok(Cached::Fallback),
                }
            }
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, "timeline unavailable; using postgresql");
                return Ok(Cached::Fallback);
            }
        };
        let after = window.floor.map(from_micros);
        let merged = repository::merged_entries(&self.pool, user, after, need as i64).await?;
        let mut all = window.entries;
        all.extend(merged.iter().map(entry));
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        if all.len() < need && window.floor.is_some() {
            // The page reaches below what Redis holds.
            return Ok(Cached::Fallback);
        }
        let ids: Vec<Uuid> = all.iter().skip(offset).take(limit).map(|(_, id)| *id).collect();
        if ids.is_empty() {
            return Ok(Cached::Page(Vec::new()));
        }
        let rows = repository::visible_posts(&self.pool, user, &ids).await?;
        if rows.len() < ids.len() {
            let found: HashSet<Uuid> = rows.iter().map(|r| r.post_id).collect();
            let stale: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains(id)).collect();
            tracing::debug!(stale = stale.len(), "dropping stale timeline entries");
            self.remove(&[user], &stale).await;
            return Ok(Cached::Stale);
        }
        let mut by_id: HashMap<Uuid, PostRow> = rows.into_iter().map(|r| (r.post_id, r)).collect();
        Ok(Cached::Page(ids.iter().filter_map(|id| by_id.remove(id)).collect()))
    }

    /// Builds a user's timeline from PostgreSQL (unless another request just did).
    async fn rebuild(&self, user: Uuid) -> sqlx::Result<()> {
        let started = Utc::now();
        let cap = self.cap as i64;
        // One more than fits: it sets the floor, or shows that everything fits.
        let mut rows = repository::fanned_entries(&self.pool, user, None, cap + 1).await?;
        let floor =
            if rows.len() > self.cap { rows.pop().map(|e| micros(e.created_at)) } else { None };
        let entries: Vec<(i64, Uuid)> = rows.iter().map(entry).collect();
        match self.store.build(user, floor, &entries).await {
            Ok(true) => {
                metrics::counter!("feed_timeline_rebuilds_total").increment(1);
                let recent =
                    repository::fanned_entries(&self.pool, user, Some(started - CATCH_UP), cap)
                        .await?;
                self.add(&[user], &recent).await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to build a timeline"),
        }
        Ok(())
    }

    /// Adds posts to the timelines of `users` that exist.
    pub async fn add(&self, users: &[Uuid], posts: &[Entry]) {
        let entries: Vec<(i64, Uuid)> = posts.iter().map(entry).collect();
        if let Err(e) = self.store.add(users, &entries).await {
            tracing::warn!(error.cause_chain = ?e, "failed to add to timelines; will drop them");
            self.mark_dirty(users);
        } else {
            metrics::counter!("feed_fanout_writes_total").increment(users.len() as u64);
        }
    }

    /// Removes posts from the timelines of `users`.
    pub async fn remove(&self, users: &[Uuid], posts: &[Uuid]) {
        if let Err(e) = self.store.remove(users, posts).await {
            tracing::warn!(error.cause_chain = ?e, "failed to remove from timelines; will drop them");
            self.mark_dirty(users);
        }
    }

    /// Merges a newly followed author's recent posts into the follower's timeline.
    pub async fn on_follow(&self, follower: Uuid, followee: Uuid) -> sqlx::Result<()> {
        let posts = repository::author_entries(&self.pool, followee, true, self.cap as i64).await?;
        self.add(&[follower], &posts).await;
        Ok(())
    }

    /// Removes an unfollowed author's posts from the follower's timeline.
    pub async fn on_unfollow(&self, follower: Uuid, followee: Uuid) -> sqlx::Result<()> {
        let posts =
            repository::author_entries(&self.pool, followee, false, self.cap as i64).await?;
        let ids: Vec<Uuid> = posts.iter().map(|e| e.post_id).collect();
        self.remove(&[follower], &ids).await;
        Ok(())
    }

    /// Drops a user's timeline so that its next read rebuilds it from PostgreSQL.
    pub async fn invalidate(&self, user: Uuid) {
        if let Err(e) = self.store.drop_timelines(&[user]).await {
            tracing::warn!(error.cause_chain = ?e, "failed to drop a timeline; will retry");
            self.mark_dirty(&[user]);
        }
    }

    fn mark_dirty(&self, users: &[Uuid]) {
        if let Ok(mut dirty) = self.dirty.lock() {
            for u in users {
                if dirty.len() >= MAX_DIRTY {
                    tracing::error!(
                        "too many timelines to repair; some may miss posts until they expire"
                    );
                    break;
                }
                dirty.insert(*u);
            }
        }
    }

    /// Drops the timelines whose writes failed, once Redis answers again
    /// (they are rebuilt from PostgreSQL on their next read).
    pub async fn repair(&self) {
        let users: Vec<Uuid> = match self.dirty.lock() {
            Ok(d) if !d.is_empty() => d.iter().copied().collect(),
            _ => return,
        };
        if !self.store.ping().await {
            return;
        }
        if self.store.drop_timelines(&users).await.is_ok() {
            if let Ok(mut d) = self.dirty.lock() {
                for u in &users {
                    d.remove(u);
                }
            }
            tracing::info!(timelines = users.len(), "dropped timelines after failed writes");
        }
    }
}
