//! The home timeline in PostgreSQL: the entries that rebuild a Redis
//! timeline, the celebrity posts merged on read, and the full query used
//! beyond the Redis cap or when Redis is down. A home timeline is the
//! reader's own posts and those of the users they follow, newest first.
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Entry, POST_COLUMNS, PostRow};

/// The authors of a user's home timeline: the user (`own`) and everyone
/// they follow. The timeline queries read each author's posts through
/// `post_user_idx` (one short index scan per author, newest first, stopping
/// at the limit) and merge them: a single scan with `user_id = $1 or
/// user_id in (…)` cannot use that index and read every post of the table
/// (a sequential scan: 330 ms at 1,000,000 posts, for each timeline built).
const AUTHORS: &str = "(select $1::uuid as author, true as own \
                       union all \
                       select f.followee_id, false from follow f where f.follower_id = $1) a";

/// The newest fanned-out entries of a user's timeline (own posts, and the
/// followees' posts that fan-out writes), newer than `after` when given.
///
/// "Fanned out" is asked of the partial index of the posts that were not
/// (`post_merged_idx`, nearly empty) instead of the post row, so each
/// author's scan is index-only once the table is vacuumed.
pub async fn fanned_entries(
    pool: &PgPool,
    user: Uuid,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    let sql = format!(
        "select e.post_id, e.created_at from {AUTHORS} cross join lateral \
           (select p.post_id, p.created_at from post p \
            where p.user_id = a.author \
              and p.created_at > coalesce($2, '-infinity'::timestamptz) \
              and (a.own or not exists (select 1 from post m \
                   where m.user_id = p.user_id and m.created_at = p.created_at \
                     and m.post_id = p.post_id and not m.fanned_out)) \
            order by p.created_at desc, p.post_id desc limit $3) e \
         order by e.created_at desc, e.post_id desc limit $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The newest posts of followed celebrities (not fanned out), newer than `after`.
pub async fn merged_entries(
    pool: &PgPool,
    user: Uuid,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "select p.post_id, p.created_at from follow f \
         join post p on p.user_id = f.followee_id and not p.fanned_out \
         where f.follower_id = $1 and p.created_at > coalesce($2, '-infinity'::timestamptz) \
         order by p.created_at desc, p.post_id desc limit $3",
    )
    .bind(user)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// An author's newest entries (to merge on follow, or remove on unfollow).
pub async fn author_entries(
    pool: &PgPool,
    author: Uuid,
    fanned_only: bool,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "select post_id, created_at from post where user_id = $1 and (fanned_out or not $2) \
         order by created_at desc, post_id desc limit $3",
    )
    .bind(author)
    .bind(fanned_only)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The posts among `ids` that `viewer` may see in their timeline (their own,
/// or by someone they follow), in no particular order.
pub async fn visible_posts(
    pool: &PgPool,
    viewer: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<Vec<PostRow>> {
    let sql = format!(
        "select {POST_COLUMNS} from post p where p.post_id = any($2) \
           and (p.user_id = $1 or exists (select 1 from follow f \
                where f.follower_id = $1 and f.followee_id = p.user_id))"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(viewer).bind(ids).fetch_all(pool).await
}

/// A page of the home timeline straight from PostgreSQL (every post of the
/// user and of the users they follow, fanned out or not).
pub async fn timeline_page(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<PostRow>> {
    let sql = format!(
        "select {POST_COLUMNS} from {AUTHORS} cross join lateral \
           (select * from post p where p.user_id = a.author \
            order by p.created_at desc, p.post_id desc limit $2 + $3) p \
         order by p.created_at desc, p.post_id desc limit $2 offset $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}
