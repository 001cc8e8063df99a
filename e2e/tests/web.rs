//! What the try-it page relies on, end to end: the page itself at `/`,
//! development tokens only in development mode, CORS on the API, a
//! contact's presence over REST (and nobody else's), and the pending
//! messages over REST, paged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use e2e_tests::{System, WsClient};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn the_page_is_served_at_the_root_with_its_modules() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let http = reqwest::Client::new();
    let page = http.get(sys.gateway(0)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"src="/app.js""#), "{html}");
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/client.js", "text/javascript"),
        ("/chat.js", "text/javascript"),
        ("/feed.js", "text/javascript"),
        ("/ui.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/logo.svg", "image/svg+xml"),
    ] {
        let r = http.get(format!("{}{path}", sys.gateway(0))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
    }
    let client = http.get(format!("{}/client.js", sys.gateway(0))).send().await.unwrap();
    assert!(client.text().await.unwrap().contains("export class ChatClient"));
    let missing = http.get(format!("{}/nothing.js", sys.gateway(0))).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn dev_tokens_exist_only_in_development_mode() {
    let off = System::builder().only(&["chat-persistence"]).start().await;
    let http = reqwest::Client::new();
    let user = Uuid::new_v4();
    let r = http
        .post(format!("{}/api/dev/token", off.gateway(0)))
        .json(&json!({"user_id": user}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no dev tokens unless DEV_MODE=true");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");

    let on = System::builder().only(&["chat-persistence"]).env("DEV_MODE", "true").start().await;
    let url = format!("{}/api/dev/token", on.gateway(0));
    let r = http.post(&url).json(&json!({"user_id": user})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user_id"], user.to_string());
    let token = body["token"].as_str().unwrap();
    // The token works, on REST and on the WebSocket.
    let r = http
        .get(format!("{}/api/conversations", on.gateway(0)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let Ok(ws) = WsClient::connect_query(&on, 0, user, token).await else {
        panic!("the dev token was refused on the WebSocket");
    };
    ws.close().await;
    // Bad input is a 400 naming the field.
    for bad in [json!({}), json!({"user_id": "nope"}), json!({"user_id": 7})] {
        let r = http.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "user_id");
    }
}

#[tokio::test]
async fn the_api_answers_cors_preflights_and_marks_answers_readable() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let http = reqwest::Client::new();
    let origin = "http://127.0.0.1:3999";
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{}/api/conversations", sys.gateway(0)))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert!(
        r.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization")
    );
    let r = http
        .get(format!("{}/api/conversations", sys.gateway(0)))
        .header("origin", origin)
        .bearer_auth(sys.token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);

    // With ALLOWED_ORIGINS set, another origin gets no CORS headers.
    let strict = System::builder()
        .only(&["chat-persistence"])
        .env("ALLOWED_ORIGINS", "https://chat.example")
        .start()
        .await;
    let r = http
        .get(format!("{}/api/conversations", strict.gateway(0)))
        .header("origin", origin)
        .bearer_auth(strict.token(Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

/// Polls a GET until `done` holds for its answer (presence learns a new
/// contact a moment after the message that makes it).
async fn poll(sys: &System, path: &str, user: Uuid, done: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = sys.get(0, path, user).await;
        if done(status, &body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn presence_over_rest_is_for_contacts_only() {
    let sys = System::builder().only(&["chat-persistence", "presence"]).start().await;
    let (alice, bob, stranger) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    let path = |u: Uuid| format!("/api/users/{u}/presence");

    // Before any message: bob is a stranger to alice, and so is an unknown id.
    let (status, body) = sys.get(0, &path(alice), bob).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, _) = sys.get(0, &path(Uuid::now_v7()), bob).await;
    assert_eq!(status, 404);
    // One's own presence is always there.
    let me = poll(&sys, &path(alice), alice, |s, b| s == 200 && b["online"] == true).await;
    assert_eq!(me["user_id"], alice.to_string());

    let ack = a.send_message(bob, "hi", "c-1").await;
    assert_eq!(ack["type"], "message_ack", "{ack}");
    // Now bob sees alice online, and alice sees bob offline (never connected: no last seen).
    let seen = poll(&sys, &path(alice), bob, |s, _| s == 200).await;
    assert_eq!(seen["online"], true, "{seen}");
    let seen = poll(&sys, &path(bob), alice, |s, _| s == 200).await;
    assert_eq!((seen["online"].as_bool(), seen["last_seen"].is_null()), (Some(false), true));
    // A stranger still learns nothing.
    let (status, _) = sys.get(0, &path(alice), stranger).await;
    assert_eq!(status, 404);

    // Alice leaves: offline, with when she was last seen.
    a.close().await;
    let gone = poll(&sys, &path(alice), bob, |s, b| s == 200 && b["online"] == false).await;
    let last_seen = gone["last_seen"].as_str().expect("last_seen once seen");
    assert!(chrono_like(last_seen), "{last_seen}");
    let (status, body) = sys.get(0, "/api/users/not-a-uuid/presence", bob).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("user_id")));
}

fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T') && s.ends_with('Z')
}

#[tokio::test]
async fn pending_messages_are_listed_oldest_first_in_pages() {
    let sys = System::builder().only(&["chat-persistence"]).start().await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    for i in 0..5 {
        let ack = a.send_message(bob, &format!("m{i}"), &format!("c-{i}")).await;
        assert_eq!(ack["type"], "message_ack", "{ack}");
    }
    // Alice's own sends are not pending for her.
    let (status, body) = sys.get(0, "/api/messages/pending", alice).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["pending"].as_u64(), body["messages"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );

    let (status, first) = sys.get(0, "/api/messages/pending?limit=2", bob).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["pending"], 5, "the count of them all, as before");
    let contents = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(contents(&first), ["m0", "m1"]);
    let m = &first["messages"][0];
    assert_eq!(
        (m["sender_id"].as_str(), m["receiver_id"].as_str()),
        (Some(&*alice.to_string()), Some(&*bob.to_string()))
    );
    assert!(m["id"].is_string() && m["timestamp"].is_string() && m["read"] == false, "{m}");
    let mut seen = contents(&first);
    let mut next = first["next_after_seq"].as_u64().expect("a next page");
    loop {
        let (status, page) =
            sys.get(0, &format!("/api/messages/pending?limit=2&after_seq={next}"), bob).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(contents(&page));
        match page["next_after_seq"].as_u64() {
            Some(n) => next = n,
            None => break,
        }
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"], "each once, oldest first");

    // Listing does not deliver: bob's connection still gets all five.
    let mut b = WsClient::connect(&sys, 0, bob).await;
    let frames = b.drain(Duration::from_secs(2)).await;
    let got = frames.iter().filter(|f| f["type"] == "private_message").count();
    assert_eq!(got, 5);
    // Once written to a connection they are no longer pending.
    let body = poll(&sys, "/api/messages/pending", bob, |s, b| s == 200 && b["pending"] == 0).await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(0));

    for bad in ["limit=0", "limit=101", "limit=x", "after_seq=-1", "after_seq=x"] {
        let (status, body) = sys.get(0, &format!("/api/messages/pending?{bad}"), bob).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
