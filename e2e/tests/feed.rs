//! Feed end to end: the real gateway and feed binaries, real HTTP and
//! WebSocket clients, real PostgreSQL, Redis and NATS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e_tests::{System, WsClient};
use fred::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

const T: Duration = Duration::from_secs(5);

async fn feed_system() -> System {
    System::builder().only(&["feed"]).start().await
}

fn user() -> Uuid {
    Uuid::now_v7()
}

/// Connects a user and waits until the gateway has subscribed its events.
async fn connected(sys: &System, user: Uuid) -> WsClient {
    let mut c = WsClient::connect(sys, 0, user).await;
    c.send_json(json!({"type": "ping"})).await;
    c.recv_type("pong", T).await.expect("pong");
    c
}

async fn create(sys: &System, author: Uuid, content: &str) -> Value {
    let (status, post) = sys.post(0, "/api/posts", author, json!({ "content": content })).await;
    assert_eq!(status, 201, "{post}");
    post
}

async fn follow(sys: &System, follower: Uuid, followee: Uuid) {
    let (status, body) =
        sys.post(0, &format!("/api/users/{followee}/follow"), follower, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"follower_id": follower, "followee_id": followee, "following": true}));
}

async fn feed_contents(sys: &System, user: Uuid, query: &str) -> Vec<String> {
    let (status, body) = sys.get(0, &format!("/api/posts{query}"), user).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().iter().map(|p| p["content"].as_str().unwrap().to_owned()).collect()
}

fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_argument", "{body}");
    assert!(body["error"].as_str().unwrap().contains(field), "{field} not named in {body}");
}

async fn send(sys: &System, method: &str, path: &str, token: Option<String>) -> (u16, Value) {
    let url = format!("{}{path}", sys.gateway(0));
    let mut req = match method {
        "POST" => sys.http().post(url).json(&json!({"content": "x"})),
        "DELETE" => sys.http().delete(url),
        _ => sys.http().get(url),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn seed_bodies_work_verbatim_and_posts_have_the_spec_shape() {
    let sys = feed_system().await;
    let (author, reader) = (user(), user());
    let r = sys
        .http()
        .post(format!("{}/api/posts", sys.gateway(0)))
        .bearer_auth(sys.token(author))
        .header("content-type", "application/json")
        .body(r#"{"content":"¡Mi primer post! 🎉","media_url":"https://example.com/photo.jpg","media_type":"photo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let post: Value = r.json().await.unwrap();
    let post_id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(Uuid::parse_str(&post_id).unwrap().get_version_num(), 7);
    assert_eq!(post["user_id"], json!(author));
    assert_eq!(post["content"], "¡Mi primer post! 🎉");
    assert_eq!(post["media_url"], "https://example.com/photo.jpg");
    assert_eq!(post["media_type"], "photo");
    assert_eq!((post["likes_count"].clone(), post["comments_count"].clone()), (json!(0), json!(0)));
    let created = post["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && chrono_like(created), "{created}");

    let r = sys
        .http()
        .post(format!("{}/api/posts/{post_id}/comments", sys.gateway(0)))
        .bearer_auth(sys.token(reader))
        .header("content-type", "application/json")
        .body(r#"{"content":"¡Excelente post!"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let comment: Value = r.json().await.unwrap();
    assert_eq!(comment["content"], "¡Excelente post!");
    assert_eq!(comment["post_id"], json!(post_id));
    assert_eq!(comment["user_id"], json!(reader));
    assert!(Uuid::parse_str(comment["id"].as_str().unwrap()).is_ok());
    assert!(comment["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, like) =
        sys.post(0, &format!("/api/posts/{post_id}/like"), reader, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(like, json!({"post_id": post_id, "likes_count": 1, "liked": true}));

    // A text-only post has null media.
    let plain = create(&sys, author, "solo texto").await;
    assert_eq!(
        (plain["media_url"].clone(), plain["media_type"].clone()),
        (Value::Null, Value::Null)
    );

    let (status, feed) = sys.get(0, "/api/posts?limit=20&offset=0", author).await;
    assert_eq!(status, 200);
    assert_eq!(feed.as_array().unwrap().len(), 2);
    assert_eq!(feed[0]["content"], "solo texto");
    assert_eq!(feed[1]["id"], json!(post_id));
    assert_eq!(feed[1]["likes_count"], 1);
    assert_eq!(feed[1]["comments_count"], 1);

    let (status, comments) = sys.get(0, &format!("/api/posts/{post_id}/comments"), author).await;
    assert_eq!(status, 200);
    assert_eq!(comments, json!([comment]));
}

fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn post_and_comment_content_rules_are_400_naming_the_field() {
    let sys = feed_system().await;
    let author = user();
    let cases = [
        (json!({"content": ""}), "content"),
        (json!({"content": "   "}), "content"),
        (json!({"content": "a".repeat(5001)}), "content"),
        (json!({}), "content"),
        (json!({"content": 42}), "content"),
        (json!(["content"]), "content"),
        (json!({"content": "x", "media_url": "ftp://example.com/a.jpg"}), "media_url"),
        (json!({"content": "x", "media_url": "javascript:alert(1)"}), "media_url"),
        (json!({"content": "x", "media_url": "not a url", "media_type": "photo"}), "media_url"),
        (json!({"content": "x", "media_url": 7}), "media_url"),
        (
            json!({"content": "x", "media_url": "https://e.com/a.gif", "media_type": "gif"}),
            "media_type",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = sys.post(0, "/api/posts", author, body.clone()).await;
        assert_invalid(status, &reply, field);
        assert_eq!(reply["field"], field, "{body} → {reply}");
    }
    // Exactly 5000 characters (multi-byte) is fine, and so is a video.
    let long = "é".repeat(5000);
    let (status, _) = sys.post(0, "/api/posts", author, json!({"content": long})).await;
    assert_eq!(status, 201);
    let video =
        json!({"content": "v", "media_url": "http://example.com/v.mp4", "media_type": "video"});
    let (status, post) = sys.post(0, "/api/posts", author, video).await;
    assert_eq!((status, post["media_type"].clone()), (201, json!("video")));
    // A media type without a URL describes nothing: it is dropped (the
    // OpenAPI schema allows it, so the server accepts it).
    let (status, post) =
        sys.post(0, "/api/posts", author, json!({"content": "x", "media_type": "photo"})).await;
    assert_eq!((status, post["media_type"].clone()), (201, Value::Null), "{post}");

    // Malformed JSON.
    let r = sys
        .http()
        .post(format!("{}/api/posts", sys.gateway(0)))
        .bearer_auth(sys.token(author))
        .header("content-type", "application/json")
        .body("{\"content\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_json");

    // Comments follow the same content rule.
    let post_id = post["id"].as_str().unwrap();
    for body in [json!({"content": ""}), json!({"content": "b".repeat(5001)}), json!({})] {
        let (status, reply) =
            sys.post(0, &format!("/api/posts/{post_id}/comments"), author, body).await;
        assert_invalid(status, &reply, "content");
    }
}

#[tokio::test]
async fn every_feed_route_needs_a_token_and_uuid_ids() {
    let sys = feed_system().await;
    let routes = [
        ("POST", "/api/posts"),
        ("GET", "/api/posts"),
        ("DELETE", "/api/posts/{p}"),
        ("POST", "/api/posts/{p}/like"),
        ("DELETE", "/api/posts/{p}/like"),
        ("POST", "/api/posts/{p}/comments"),
        ("GET", "/api/posts/{p}/comments"),
        ("GET", "/api/users/{u}/posts"),
        ("POST", "/api/users/{u}/follow"),
        ("DELETE", "/api/users/{u}/follow"),
        ("GET", "/api/users/{u}/followers"),
        ("GET", "/api/users/{u}/following"),
        ("GET", "/api/stats/top-posts"),
        ("GET", "/api/stats/active-users"),
    ];
    let someone = user();
    for (method, route) in routes {
        let path = route.replace("{p}", &someone.to_string()).replace("{u}", &someone.to_string());
        let (status, body) = send(&sys, method, &path, None).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert_eq!(body["code"], "unauthorized");
        let (status, _) = send(&sys, method, &path, Some("bad.token.here".into())).await;
        assert_eq!(status, 401, "{method} {path}");
        if route.contains('{') {
            let field = if route.contains("{p}") { "post_id" } else { "user_id" };
            let bad = route.replace("{p}", "not-a-uuid").replace("{u}", "not-a-uuid");
            let (status, body) = send(&sys, method, &bad, Some(sys.token(someone))).await;
            assert_invalid(status, &body, field);
            assert_eq!(body["field"], field);
        }
    }
}

#[tokio::test]
async fn unknown_posts_are_404_and_only_the_author_deletes() {
    let sys = feed_system().await;
    let (author, other) = (user(), user());
    let missing = Uuid::now_v7();
    for (method, path) in [
        ("POST", format!("/api/posts/{missing}/like")),
        ("DELETE", format!("/api/posts/{missing}/like")),
        ("POST", format!("/api/posts/{missing}/comments")),
        ("GET", format!("/api/posts/{missing}/comments")),
        ("DELETE", format!("/api/posts/{missing}")),
    ] {
        let (status, body) = send(&sys, method, &path, Some(sys.token(author))).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["code"], "not_found");
    }

    follow(&sys, other, author).await;
    let post = create(&sys, author, "mine").await;
    let id = post["id"].as_str().unwrap();
    sys.post(0, &format!("/api/posts/{id}/comments"), other, json!({"content": "c"})).await;
    sys.post(0, &format!("/api/posts/{id}/like"), other, json!({})).await;
    let (status, body) = sys.delete(0, &format!("/api/posts/{id}"), other).await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")), "{body}");
    assert_eq!(feed_contents(&sys, other, "").await, ["mine"]);

    let (status, body) = sys.delete(0, &format!("/api/posts/{id}"), author).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"post_id": id, "deleted": true}));
    // Gone everywhere: both timelines, the author's page, likes and comments.
    assert!(feed_contents(&sys, author, "").await.is_empty());
    assert!(feed_contents(&sys, other, "").await.is_empty());
    let (_, page) = sys.get(0, &format!("/api/users/{author}/posts"), other).await;
    assert_eq!(page, json!([]));
    let (status, _) = sys.post(0, &format!("/api/posts/{id}/like"), other, json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = sys.get(0, &format!("/api/posts/{id}/comments"), other).await;
    assert_eq!(status, 404);
    let (status, _) = sys.delete(0, &format!("/api/posts/{id}"), author).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn paging_parameters_are_validated() {
    let sys = feed_system().await;
    let u = user();
    let post = create(&sys, u, "p").await;
    let id = post["id"].as_str().unwrap();
    let lists = [
        "/api/posts".to_owned(),
        format!("/api/posts/{id}/comments"),
        format!("/api/users/{u}/posts"),
        format!("/api/users/{u}/followers"),
        format!("/api/users/{u}/following"),
    ];
    for base in &lists {
        for (query, field) in [
            ("?limit=0", "limit"),
            ("?limit=101", "limit"),
            ("?limit=abc", "limit"),
            ("?offset=-1", "offset"),
            ("?offset=x", "offset"),
        ] {
            let (status, body) = sys.get(0, &format!("{base}{query}"), u).await;
            assert_invalid(status, &body, field);
        }
        let (status, _) = sys.get(0, &format!("{base}?limit=100&offset=0"), u).await;
        assert_eq!(status, 200, "{base}");
    }
    for base in ["/api/stats/top-posts", "/api/stats/active-users"] {
        let (status, body) = sys.get(0, &format!("{base}?limit=0"), u).await;
        assert_invalid(status, &body, "limit");
        let (status, body) = sys.get(0, &format!("{base}?limit=101"), u).await;
        assert_invalid(status, &body, "limit");
    }
}

#[tokio::test]
async fn likes_are_idempotent_and_can_be_taken_back() {
    let sys = feed_system().await;
    let (author, fan) = (user(), user());
    let id = create(&sys, author, "like me").await["id"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        let (status, body) = sys.post(0, &format!("/api/posts/{id}/like"), fan, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"post_id": id, "likes_count": 1, "liked": true}));
    }
    let (_, posts) = sys.get(0, &format!("/api/users/{author}/posts"), fan).await;
    assert_eq!(posts[0]["likes_count"], 1);
    for _ in 0..2 {
        let (status, body) = sys.delete(0, &format!("/api/posts/{id}/like"), fan).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"post_id": id, "likes_count": 0, "liked": false}));
    }
}

#[tokio::test]
async fn a_hundred_users_liking_at_once_count_exactly_and_top_posts_show_it() {
    let sys = feed_system().await;
    let author = user();
    let quiet = create(&sys, author, "quiet").await;
    let id = create(&sys, author, "popular").await["id"].as_str().unwrap().to_owned();
    let likes = (0..100).map(|_| {
        let (sys, id) = (&sys, id.clone());
        async move { sys.post(0, &format!("/api/posts/{id}/like"), user(), json!({})).await }
    });
    let results = futures_util::future::join_all(likes).await;
    assert!(results.iter().all(|(s, b)| *s == 200 && b["liked"] == true), "{results:?}");
    // Concurrent likes of the same user as well: still one each.
    let fan = user();
    let path = format!("/api/posts/{id}/like");
    let again = (0..10).map(|_| sys.post(0, &path, fan, json!({})));
    futures_util::future::join_all(again).await;

    let (_, posts) = sys.get(0, &format!("/api/users/{author}/posts"), author).await;
    assert_eq!(posts[0]["content"], "popular");
    assert_eq!(posts[0]["likes_count"], 101);
    let (status, top) = sys.get(0, "/api/stats/top-posts?limit=2", author).await;
    assert_eq!(status, 200);
    assert_eq!(top.as_array().unwrap().len(), 2);
    assert_eq!((top[0]["id"].clone(), top[0]["likes_count"].clone()), (json!(id), json!(101)));
    assert_eq!(top[1]["id"], quiet["id"]);
}

#[tokio::test]
async fn comments_are_listed_oldest_first_with_paging() {
    let sys = feed_system().await;
    let (author, a, b) = (user(), user(), user());
    let id = create(&sys, author, "discuss").await["id"].as_str().unwrap().to_owned();
    for (i, who) in [a, b, a, b, a].into_iter().enumerate() {
        let body = json!({"content": format!("c{i}")});
        let (status, _) = sys.post(0, &format!("/api/posts/{id}/comments"), who, body).await;
        assert_eq!(status, 201);
    }
    let (_, all) = sys.get(0, &format!("/api/posts/{id}/comments"), author).await;
    let texts: Vec<&str> =
        all.as_array().unwrap().iter().map(|c| c["content"].as_str().unwrap()).collect();
    assert_eq!(texts, ["c0", "c1", "c2", "c3", "c4"]);
    assert_eq!(all[1]["user_id"], json!(b));
    let (_, page) = sys.get(0, &format!("/api/posts/{id}/comments?limit=2&offset=2"), author).await;
    assert_eq!(page, json!([all[2], all[3]]));
    let (_, posts) = sys.get(0, &format!("/api/users/{author}/posts"), author).await;
    assert_eq!(posts[0]["comments_count"], 5);
}

#[tokio::test]
async fn timeline_follows_and_unfollows() {
    let sys = feed_system().await;
    let (reader, alice, bob, stranger) = (user(), user(), user(), user());
    create(&sys, alice, "alice old").await;
    create(&sys, stranger, "stranger").await;
    create(&sys, reader, "reader 1").await;
    // The first read builds the reader's timeline.
    assert_eq!(feed_contents(&sys, reader, "").await, ["reader 1"]);

    follow(&sys, reader, alice).await;
    follow(&sys, reader, alice).await; // idempotent
    follow(&sys, reader, bob).await;
    // Following merges the author's earlier posts in, in time order.
    assert_eq!(feed_contents(&sys, reader, "").await, ["reader 1", "alice old"]);
    create(&sys, bob, "bob 1").await;
    create(&sys, alice, "alice 2").await;
    create(&sys, reader, "reader 2").await;
    assert_eq!(
        feed_contents(&sys, reader, "").await,
        ["reader 2", "alice 2", "bob 1", "reader 1", "alice old"]
    );
    assert_eq!(feed_contents(&sys, reader, "?limit=2&offset=1").await, ["alice 2", "bob 1"]);
    // Others' timelines are their own.
    assert_eq!(feed_contents(&sys, alice, "").await, ["alice 2", "alice old"]);

    let (_, followers) = sys.get(0, &format!("/api/users/{alice}/followers"), bob).await;
    assert_eq!(followers, json!([{"user_id": reader}]));
    let (_, following) = sys.get(0, &format!("/api/users/{reader}/following"), reader).await;
    assert_eq!(following, json!([{"user_id": bob}, {"user_id": alice}]));
    let (_, alice_posts) = sys.get(0, &format!("/api/users/{alice}/posts"), reader).await;
    assert_eq!(alice_posts.as_array().unwrap().len(), 2);

    let (status, body) = sys.delete(0, &format!("/api/users/{alice}/follow"), reader).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"follower_id": reader, "followee_id": alice, "following": false}));
    assert_eq!(feed_contents(&sys, reader, "").await, ["reader 2", "bob 1", "reader 1"]);
    create(&sys, alice, "alice 3").await;
    assert_eq!(feed_contents(&sys, reader, "").await, ["reader 2", "bob 1", "reader 1"]);
    let (_, followers) = sys.get(0, &format!("/api/users/{alice}/followers"), bob).await;
    assert_eq!(followers, json!([]));
    let (status, _) = sys.delete(0, &format!("/api/users/{alice}/follow"), reader).await;
    assert_eq!(status, 200);

    let (status, body) =
        sys.post(0, &format!("/api/users/{reader}/follow"), reader, json!({})).await;
    assert_invalid(status, &body, "user_id");
}

#[tokio::test]
async fn a_lost_timeline_is_rebuilt_from_postgresql() {
    let sys = feed_system().await;
    let (reader, alice, bob) = (user(), user(), user());
    follow(&sys, reader, alice).await;
    follow(&sys, reader, bob).await;
    for i in 0..5 {
        create(&sys, if i % 2 == 0 { alice } else { bob }, &format!("p{i}")).await;
    }
    let before = feed_contents(&sys, reader, "").await;
    assert_eq!(before, ["p4", "p3", "p2", "p1", "p0"]);
    assert!(sys.redis_delete_prefix().await > 0, "the timelines should have been in redis");
    // Posted while the timeline is missing: the rebuild has it too.
    create(&sys, alice, "p5").await;
    assert_eq!(feed_contents(&sys, reader, "").await, ["p5", "p4", "p3", "p2", "p1", "p0"]);
    // And the rebuilt timeline is live again for fan-out.
    create(&sys, bob, "p6").await;
    assert_eq!(feed_contents(&sys, reader, "?limit=2").await, ["p6", "p5"]);
    let redis = sys.redis().await;
    let key = format!("{}feed:timeline:{}", sys.env.redis_prefix, reader.simple());
    let n: i64 = redis.zcard(&key).await.unwrap();
    assert_eq!(n, 8, "7 posts and the sentinel");
}

#[tokio::test]
async fn pages_beyond_the_redis_cap_come_from_postgresql() {
    let sys = System::builder().only(&["feed"]).env("FEED_TIMELINE_CAP", "5").start().await;
    let (reader, author) = (user(), user());
    follow(&sys, reader, author).await;
    assert!(feed_contents(&sys, reader, "").await.is_empty());
    let mut expected = Vec::new();
    for i in 0..12 {
        let who = if i % 3 == 0 { reader } else { author };
        create(&sys, who, &format!("p{i:02}")).await;
        expected.insert(0, format!("p{i:02}"));
    }
    let mut paged = Vec::new();
    for offset in (0..12).step_by(4) {
        paged.extend(feed_contents(&sys, reader, &format!("?limit=4&offset={offset}")).await);
    }
    assert_eq!(paged, expected);
    assert_eq!(feed_contents(&sys, reader, "?limit=100").await, expected);
    assert_eq!(feed_contents(&sys, reader, "?limit=3&offset=3").await, expected[3..6]);
    let redis = sys.redis().await;
    let key = format!("{}feed:timeline:{}", sys.env.redis_prefix, reader.simple());
    let n: i64 = redis.zcard(&key).await.unwrap();
    assert_eq!(n, 6, "capped at 5 posts plus the sentinel");
}

#[tokio::test]
async fn posts_of_authors_over_the_fanout_threshold_are_merged_on_read() {
    let sys = System::builder().only(&["feed"]).env("FEED_FANOUT_MAX_FOLLOWERS", "1").start().await;
    let (star, fan1, fan2, friend) = (user(), user(), user(), user());
    follow(&sys, fan1, star).await;
    follow(&sys, fan2, star).await;
    follow(&sys, fan1, friend).await;
    let mut ws = connected(&sys, fan1).await;
    create(&sys, friend, "friend 1").await;
    assert_eq!(ws.recv_type("feed_update", T).await.unwrap()["update"]["update_type"], "newpost");
    let star_post = create(&sys, star, "star 1").await;
    create(&sys, friend, "friend 2").await;
    assert_eq!(feed_contents(&sys, fan1, "").await, ["friend 2", "star 1", "friend 1"]);
    assert_eq!(feed_contents(&sys, fan2, "").await, ["star 1"]);
    assert_eq!(feed_contents(&sys, star, "").await, ["star 1"]);
    // The celebrity's post was never written to a follower's Redis timeline.
    let redis = sys.redis().await;
    let key = format!("{}feed:timeline:{}", sys.env.redis_prefix, fan1.simple());
    let members: Vec<String> = redis.zrange(&key, 0, -1, None, false, None, false).await.unwrap();
    let star_id = Uuid::parse_str(star_post["id"].as_str().unwrap()).unwrap();
    assert_eq!(members.len(), 3);
    assert!(!members.contains(&star_id.simple().to_string()));
    // Live: friend 2 came through, star 1 did not (no live fan-out for celebrities).
    let update = ws.recv_type("feed_update", T).await.unwrap();
    assert_eq!(update["update"]["user_id"], json!(friend));
    // Unfollowing and deleting still work for merged posts.
    sys.delete(0, &format!("/api/users/{star}/follow"), fan2).await;
    assert!(feed_contents(&sys, fan2, "").await.is_empty());
    sys.delete(0, &format!("/api/posts/{star_id}"), star).await;
    assert_eq!(feed_contents(&sys, fan1, "").await, ["friend 2", "friend 1"]);
}

#[tokio::test]
async fn followers_and_authors_get_live_feed_updates() {
    let sys = feed_system().await;
    let (author, follower, other) = (user(), user(), user());
    follow(&sys, follower, author).await;
    let mut a = connected(&sys, author).await;
    let mut f = connected(&sys, follower).await;
    let mut o = connected(&sys, other).await;

    let post = create(&sys, author, "live").await;
    let id = post["id"].clone();
    let u = f.recv_type("feed_update", T).await.expect("newpost")["update"].clone();
    assert_eq!(u["update_type"], "newpost");
    assert_eq!((u["post_id"].clone(), u["user_id"].clone()), (id.clone(), json!(author)));
    assert!(u["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!((u["likes_count"].clone(), u["comments_count"].clone()), (json!(0), json!(0)));

    sys.post(0, &format!("/api/posts/{}/like", id.as_str().unwrap()), follower, json!({})).await;
    let u = a.recv_type("feed_update", T).await.expect("newlike")["update"].clone();
    assert_eq!(u["update_type"], "newlike");
    assert_eq!((u["post_id"].clone(), u["likes_count"].clone()), (id.clone(), json!(1)));
    // Within the coalescing window: delayed, not lost.
    let path = format!("/api/posts/{}/comments", id.as_str().unwrap());
    sys.post(0, &path, other, json!({"content": "nice"})).await;
    let u = a.recv_type("feed_update", T).await.expect("newcomment")["update"].clone();
    assert_eq!(u["update_type"], "newcomment");
    assert_eq!((u["likes_count"].clone(), u["comments_count"].clone()), (json!(1), json!(1)));

    // The author's own like sends nothing to the author.
    sys.post(0, &format!("/api/posts/{}/like", id.as_str().unwrap()), author, json!({})).await;
    sys.delete(0, &format!("/api/posts/{}", id.as_str().unwrap()), author).await;
    let u = f.recv_type("feed_update", T).await.expect("postdeleted")["update"].clone();
    assert_eq!(u["update_type"], "postdeleted");
    assert_eq!((u["post_id"].clone(), u["likes_count"].clone()), (id, json!(2)));
    let to_author = a.drain(Duration::from_millis(1500)).await;
    assert!(to_author.iter().all(|v| v["type"] != "feed_update"), "{to_author:?}");
    // Not a follower: no newpost, no postdeleted.
    let to_other = o.drain(Duration::from_millis(300)).await;
    assert!(to_other.iter().all(|v| v["type"] != "feed_update"), "{to_other:?}");
}

#[tokio::test]
async fn bursts_of_counter_updates_are_coalesced_per_post() {
    let sys = feed_system().await;
    let author = user();
    let id = create(&sys, author, "viral").await["id"].as_str().unwrap().to_owned();
    let mut a = connected(&sys, author).await;
    let likes = (0..30).map(|_| {
        let (sys, id) = (&sys, id.clone());
        async move { sys.post(0, &format!("/api/posts/{id}/like"), user(), json!({})).await }
    });
    futures_util::future::join_all(likes).await;
    let frames = a.drain(Duration::from_millis(3000)).await;
    let updates: Vec<&Value> = frames.iter().filter(|v| v["type"] == "feed_update").collect();
    assert!(!updates.is_empty() && updates.len() <= 3, "{updates:?}");
    assert_eq!(updates.last().unwrap()["update"]["likes_count"], 30);
}

#[tokio::test]
async fn active_users_rank_authors_by_post_count() {
    let sys = feed_system().await;
    let (busy, calm, quiet) = (user(), user(), user());
    for i in 0..3 {
        create(&sys, busy, &format!("b{i}")).await;
    }
    create(&sys, calm, "c").await;
    let deleted = create(&sys, quiet, "q").await;
    sys.delete(0, &format!("/api/posts/{}", deleted["id"].as_str().unwrap()), quiet).await;
    let (status, body) = sys.get(0, "/api/stats/active-users", calm).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"user_id": busy, "post_count": 3}, {"user_id": calm, "post_count": 1}])
    );
    let (_, one) = sys.get(0, "/api/stats/active-users?limit=1", calm).await;
    assert_eq!(one, json!([{"user_id": busy, "post_count": 3}]));
}

#[tokio::test]
async fn feed_down_is_a_quick_503_not_a_hang() {
    let mut sys = feed_system().await;
    let u = user();
    sys.service("feed").kill().await;
    let started = std::time::Instant::now();
    let (status, body) = sys.get(0, "/api/posts", u).await;
    assert_eq!((status, body["code"].clone()), (503, json!("unavailable")), "{body}");
    let (status, _) = sys.post(0, "/api/posts", u, json!({"content": "x"})).await;
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_secs(8));
    // Back up: everything works again.
    sys.service("feed").restart().await;
    create(&sys, u, "after restart").await;
    assert_eq!(feed_contents(&sys, u, "").await, ["after restart"]);
}
