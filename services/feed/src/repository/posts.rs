//! Posts: create, delete, read by author or id, and the statistics queries.
use sqlx::PgPool;
use uuid::Uuid;

use super::{POST_COLUMNS, PostRow};
use crate::repository::NewPost;

/// What deleting a post did.
#[derive(Debug)]
pub enum DeleteOutcome {
    /// The post was deleted (with its likes and comments); here is what it was.
    Deleted(PostRow),
    /// No such post.
    NotFound,
    /// The post belongs to someone else.
    Forbidden,
}

/// Stores a post and counts it for its author, in one transaction.
pub async fn insert_post(pool: &PgPool, post: &NewPost) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "insert into post (post_id, user_id, content, media_url, media_type, fanned_out, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(post.id)
    .bind(post.user)
    .bind(&post.content)
    .bind(&post.media_url)
    .bind(post.media_type)
    .bind(post.fanned_out)
    .bind(post.created_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into author_stat (user_id, post_count) values ($1, 1) \
         on conflict (user_id) do update set post_count = author_stat.post_count + 1",
    )
    .bind(post.user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Deletes a post if `user` wrote it; likes and comments go with it.
pub async fn delete_post(pool: &PgPool, post: Uuid, user: Uuid) -> sqlx::Result<DeleteOutcome> {
    let mut tx = pool.begin().await?;
    let sql = format!("select {POST_COLUMNS} from post p where p.post_id = $1 for update");
    let row: Option<PostRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(post).fetch_optional(&mut *tx).await?;
    let Some(row) = row else { return Ok(DeleteOutcome::NotFound) };
    if row.user_id != user {
        return Ok(DeleteOutcome::Forbidden);
    }
    sqlx::query("delete from post where post_id = $1").bind(post).execute(&mut *tx).await?;
    sqlx::query(
        "update author_stat set post_count = greatest(post_count - 1, 0) where user_id = $1",
    )
    .bind(user)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(DeleteOutcome::Deleted(row))
}

/// Returns whether a post exists.
pub async fn post_exists(pool: &PgPool, post: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from post where post_id = $1)")
        .bind(post)
        .fetch_one(pool)
        .await
}

/// An author's posts, newest first.
pub async fn user_posts(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<PostRow>> {
    let sql = format!(
        "select {POST_COLUMNS} from post p where p.user_id = $1 \
         order by p.created_at desc, p.post_id desc limit $2 offset $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

/// The most liked posts (the seed's "top posts" query).
pub async fn top_posts(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<PostRow>> {
    let sql = format!(
        "select {POST_COLUMNS} from post p \
         order by p.likes_count desc, p.created_at desc, p.post_id desc limit $1"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await
}

/// The users with the most posts (the seed's "most active users" query).
pub async fn active_users(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<(Uuid, i64)>> {
    sqlx::query_as(
        "select user_id, post_count from author_stat where post_count > 0 \
         order by post_count desc, user_id limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
