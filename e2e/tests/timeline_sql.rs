//! The home timeline's SQL (per-author index scans, merged): what a timeline
//! built from PostgreSQL and a page read beyond the Redis cap contain, on a
//! follow graph seeded straight into the feed's tables: the reader's own
//! posts (fanned out or not), a followee's fanned-out posts, a celebrity
//! followee's posts that were never fanned out (merged on read), and a
//! stranger's posts that must never show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::System;
use uuid::Uuid;

struct Seeded {
    id: Uuid,
    author: Uuid,
    /// Seconds after a fixed instant.
    at: i32,
}

async fn insert(db: &sqlx::PgPool, author: Uuid, fanned_out: bool, at: i32) -> Seeded {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into post (post_id, user_id, content, fanned_out, created_at) \
         values ($1, $2, 'seeded', $3, \
                 timestamptz '2026-11-01 00:00:00+00' + make_interval(secs => $4))",
    )
    .bind(id)
    .bind(author)
    .bind(fanned_out)
    .bind(f64::from(at))
    .execute(db)
    .await
    .unwrap();
    Seeded { id, author, at }
}

async fn page(sys: &System, reader: Uuid, limit: usize, offset: usize) -> Vec<Uuid> {
    let (status, body) =
        sys.get(0, &format!("/api/posts?limit={limit}&offset={offset}"), reader).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|p| Uuid::parse_str(p["id"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn timelines_built_from_postgresql_hold_exactly_the_followed_posts_in_order() {
    // A cap of 6: the first read builds a timeline with a floor, and pages
    // past it are read from PostgreSQL.
    let sys = System::builder().only(&["feed"]).env("FEED_TIMELINE_CAP", "6").start().await;
    let db = sys.db("feed").await;
    let (reader, friend, celebrity, stranger) =
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for followee in [friend, celebrity] {
        sqlx::query("insert into follow (follower_id, followee_id) values ($1, $2)")
            .bind(reader)
            .bind(followee)
            .execute(&db)
            .await
            .unwrap();
    }
    let mut posts = Vec::new();
    for i in 0..24 {
        let at = i * 7;
        // Interleaved authors; the reader's own posts alternate fanned-out or not.
        let (author, fanned_out) = match i % 4 {
            0 => (reader, i % 8 == 0),
            1 => (friend, true),
            2 => (celebrity, false),
            _ => (stranger, true),
        };
        posts.push(insert(&db, author, fanned_out, at).await);
    }
    // Two posts at the same instant: the id breaks the tie, newest first.
    posts.push(insert(&db, friend, true, 3).await);
    posts.push(insert(&db, friend, true, 3).await);

    let mut expected: Vec<&Seeded> = posts.iter().filter(|p| p.author != stranger).collect();
    expected.sort_by_key(|p| std::cmp::Reverse((p.at, p.id)));
    let expected: Vec<Uuid> = expected.iter().map(|p| p.id).collect();
    assert_eq!(expected.len(), 20);

    // The first read builds the timeline (own + fanned out from PostgreSQL,
    // the celebrity merged on read); later pages go past the cap.
    let mut paged = Vec::new();
    for offset in (0..expected.len()).step_by(4) {
        paged.extend(page(&sys, reader, 4, offset).await);
    }
    assert_eq!(paged, expected);
    // Whole, in one page straight from PostgreSQL, and again from the cache.
    assert_eq!(page(&sys, reader, 100, 0).await, expected);
    assert_eq!(page(&sys, reader, 5, 0).await, expected[..5]);
    // The stranger's own timeline is theirs alone.
    let theirs = page(&sys, stranger, 100, 0).await;
    assert_eq!(theirs.len(), 6);
    assert!(theirs.iter().all(|id| posts.iter().any(|p| p.id == *id && p.author == stranger)));
}
