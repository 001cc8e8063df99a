//! Rate limits per action: one action over its limit is refused while the
//! others go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use e2e_tests::{System, WsClient};
use serde_json::json;
use uuid::Uuid;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_action_over_its_own_limit_is_refused_and_the_others_go_on() {
    let sys = System::builder()
        .only(&["chat-persistence", "feed"])
        .env("WS_TYPING_RATE_PER_SEC", "1")
        .env("WS_TYPING_RATE_BURST", "2")
        .env("API_WRITE_RATE_PER_SEC", "1")
        .env("API_WRITE_RATE_BURST", "2")
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = WsClient::connect(&sys, 0, alice).await;
    for _ in 0..3 {
        a.send_json(json!({"type": "typing", "receiver_id": bob})).await;
    }
    let e = a.recv_type("error", T).await.expect("the third typing is over its limit");
    assert_eq!(e["code"], "rate_limited");
    // Sends have their own bucket.
    assert_eq!(a.send_message(bob, "still sending", "l1").await["type"], "message_ack");

    // REST: writes have their own bucket within the request budget.
    let mut statuses = Vec::new();
    for i in 0..3 {
        let (status, _) =
            sys.post(0, "/api/posts", alice, json!({"content": format!("p{i}")})).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [201, 201, 429]);
    let (status, _) = sys.get(0, "/api/posts", alice).await;
    assert_eq!(status, 200, "reads are not writes");
}
