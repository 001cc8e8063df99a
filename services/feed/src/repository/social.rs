//! Likes, comments and follows. Counters move in the same transaction as the
//! row that justifies them, so they stay exact under any concurrency.
use sqlx::PgPool;
use uuid::Uuid;

use super::{CommentRow, Counters, is_missing_parent};

/// The result of a like or unlike on an existing post.
#[derive(Debug, Clone, Copy)]
pub struct LikeOutcome {
    /// Whether this call changed anything (a repeated like does not).
    pub changed: bool,
    /// The post's author and counters afterwards.
    pub counters: Counters,
}

/// Likes a post once per user; `None` when the post does not exist.
pub async fn like(pool: &PgPool, post: Uuid, user: Uuid) -> sqlx::Result<Option<LikeOutcome>> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "insert into post_like (post_id, user_id) values ($1, $2) on conflict do nothing",
    )
    .bind(post)
    .bind(user)
    .execute(&mut *tx)
    .await;
    let changed = match inserted {
        Ok(done) => done.rows_affected() == 1,
        Err(e) if is_missing_parent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let counters = move_likes(&mut tx, post, if changed { 1 } else { 0 }).await?;
    tx.commit().await?;
    Ok(counters.map(|counters| LikeOutcome { changed, counters }))
}

/// Takes a user's like back; `None` when the post does not exist.
pub async fn unlike(pool: &PgPool, post: Uuid, user: Uuid) -> sqlx::Result<Option<LikeOutcome>> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query("delete from post_like where post_id = $1 and user_id = $2")
        .bind(post)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let changed = deleted.rows_affected() == 1;
    let counters = move_likes(&mut tx, post, if changed { -1 } else { 0 }).await?;
    tx.commit().await?;
    Ok(counters.map(|counters| LikeOutcome { changed, counters }))
}

async fn move_likes(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    post: Uuid,
    delta: i64,
) -> sqlx::Result<Option<Counters>> {
    if delta == 0 {
        return sqlx::query_as(
            "select user_id, likes_count, comments_count from post where post_id = $1",
        )
        .bind(post)
        .fetch_optional(&mut **tx)
        .await;
    }
    sqlx::query_as(
        "update post set likes_count = likes_count + $2 where post_id = $1 \
         returning user_id, likes_count, comments_count",
    )
    .bind(post)
    .bind(delta)
    .fetch_optional(&mut **tx)
    .await
}

/// Adds a comment and counts it; `None` when the post does not exist.
pub async fn add_comment(pool: &PgPool, comment: &CommentRow) -> sqlx::Result<Option<Counters>> {
    let mut tx = pool.begin().await?;
    let counters: Option<Counters> = sqlx::query_as(
        "update post set comments_count = comments_count + 1 where post_id = $1 \
         returning user_id, likes_count, comments_count",
    )
    .bind(comment.post_id)
    .fetch_optional(&mut *tx)
    .await?;
    if counters.is_none() {
        return Ok(None);
    }
    sqlx::query(
        "insert into comment (comment_id, post_id, user_id, content, created_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(comment.comment_id)
    .bind(comment.post_id)
    .bind(comment.user_id)
    .bind(&comment.content)
    .bind(comment.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(counters)
}

/// A post's comments, oldest first.
pub async fn comments(
    pool: &PgPool,
    post: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<CommentRow>> {
    sqlx::query_as(
        "select comment_id, post_id, user_id, content, created_at from comment \
         where post_id = $1 order by created_at, comment_id limit $2 offset $3",
    )
    .bind(post)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// Makes `follower` follow `followee`; returns whether it is new.
pub async fn follow(pool: &PgPool, follower: Uuid, followee: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into follow (follower_id, followee_id) values ($1, $2) on conflict do nothing",
    )
    .bind(follower)
    .bind(followee)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes `follower` stop following `followee`; returns whether it followed.
pub async fn unfollow(pool: &PgPool, follower: Uuid, followee: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from follow where follower_id = $1 and followee_id = $2")
        .bind(follower)
        .bind(followee)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of a user's followers, newest follow first.
pub async fn followers(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select follower_id from follow where followee_id = $1 \
         order by created_at desc, follower_id limit $2 offset $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// A page of the users someone follows, newest follow first.
pub async fn following(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "select followee_id from follow where follower_id = $1 \
         order by created_at desc, followee_id limit $2 offset $3",
    )
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// Every follower of a user (the fan-out list).
pub async fn all_followers(pool: &PgPool, user: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("select follower_id from follow where followee_id = $1")
        .bind(user)
        .fetch_all(pool)
        .await
}

/// How many followers a user has, counting no further than `cap` (cheap for celebrities).
pub async fn follower_count_capped(pool: &PgPool, user: Uuid, cap: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from (select 1 from follow where followee_id = $1 limit $2) f",
    )
    .bind(user)
    .bind(cap)
    .fetch_one(pool)
    .await
}
