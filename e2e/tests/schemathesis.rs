//! schemathesis (`--checks all`: no 5xx, statuses, headers, content types
//! and bodies as documented, schema-valid input accepted and invalid input
//! refused, 405 with `Allow`, authentication enforced, one user's objects
//! not readable by the other) against a live system, as two users, with
//! `deploy/schemathesis.sh`: 0 failures. `bash deploy/fuzz.sh` is the
//! longer run.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::System;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_checks_all_find_no_failure() {
    let sys = System::builder()
        .env("API_RATE_PER_SEC", "100000")
        .env("API_RATE_BURST", "100000")
        .start()
        .await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    // Something for each to read: a post each, a follow, and a conversation.
    for u in [alice, bob] {
        let (status, _) = sys.post(0, "/api/posts", u, json!({"content": "hello"})).await;
        assert_eq!(status, 201);
    }
    let (status, _) = sys.post(0, &format!("/api/users/{bob}/follow"), alice, json!({})).await;
    assert_eq!(status, 200);
    let mut ws = e2e_tests::WsClient::connect(&sys, 0, alice).await;
    assert_eq!(ws.send_message(bob, "hi bob", "s1").await["type"], "message_ack");
    drop(ws);

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let status = tokio::process::Command::new("bash")
        .arg("deploy/schemathesis.sh")
        .current_dir(&root)
        .env("GATEWAY_URL", sys.gateway(0))
        .env("USER_A", alice.to_string())
        .env("TOKEN_A", sys.token(alice))
        .env("USER_B", bob.to_string())
        .env("TOKEN_B", sys.token(bob))
        .env("MAX_EXAMPLES", std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or("15".into()))
        .env("MAX_TIME", std::env::var("SCHEMATHESIS_MAX_TIME").unwrap_or("100".into()))
        .env("SEED", "1")
        .env(
            "REPORT_DIR",
            format!("{}/schemathesis-{}", e2e_tests::bin_dir().display(), sys.env.prefix),
        )
        .status()
        .await
        .unwrap();
    assert!(status.success(), "schemathesis found failures (its report is above)");
    // The system is still healthy afterwards.
    assert_eq!(sys.gateways[0].readyz().await, 200);
}
