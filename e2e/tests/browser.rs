//! The try-it page in a real browser: `e2e/browser/chat.mjs` drives Debian's
//! headless Chromium (playwright-core) against two real gateways in
//! development mode and the real backends: two users chat both ways with
//! typing and read ticks, follow, post, like and comment with the counters
//! moving live; the gateway both pages were loaded from is SIGKILLed while
//! they send, and each page goes on with the other gateway, every message
//! shown exactly once; a phone-sized viewport does not scroll sideways; a
//! gateway without `DEV_MODE` gives no token and the page takes a pasted one.
//! Screenshots of each run go to `target/browser/<run>/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, process::Stdio, time::Duration};

use e2e_tests::{Service, System, free_port};
use uuid::Uuid;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[tokio::test]
async fn the_page_chats_posts_and_survives_a_gateway_kill_in_chromium() {
    let root = root();
    // Chromium and playwright-core, installed when missing (quick when present).
    let deps = std::process::Command::new("bash")
        .arg(root.join("deploy/browser-deps.sh"))
        .status()
        .expect("bash");
    assert!(deps.success(), "deploy/browser-deps.sh failed");

    // A dead gateway's users go offline after 5 s rather than 15 (the page
    // shows alice go offline after the kill).
    let sys = System::builder()
        .gateways(2)
        .env("DEV_MODE", "true")
        .env("PRESENCE_GATEWAY_TTL_SECS", "5")
        .env("PRESENCE_HEARTBEAT_SECS", "1")
        .start()
        .await;
    // A third gateway without DEV_MODE: there the page asks for a token.
    let mut env = sys.env.service_env(free_port());
    env.remove("DEV_MODE");
    env.insert("GATEWAY_ID".into(), format!("{}-gw-nodev", sys.env.prefix));
    let plain = Service::start("gateway", env, true).await;
    let dave = Uuid::new_v4();
    let out = root.join("target/browser").join(&sys.env.prefix);
    let pid = sys.gateways[0].pid().expect("gateway 0 runs");
    let child = tokio::process::Command::new("node")
        .arg(root.join("e2e/browser/chat.mjs"))
        .current_dir(root.join("e2e/browser"))
        .env("GW_A", sys.gateway(0))
        .env("GW_B", sys.gateway(1))
        .env("GW_A_PID", pid.to_string())
        .env("GW_PLAIN", plain.url())
        .env("PLAIN_USER", dave.to_string())
        .env("PLAIN_TOKEN", sys.token(dave))
        .env("OUT_DIR", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let output = tokio::time::timeout(Duration::from_secs(150), child.wait_with_output())
        .await
        .expect("the browser scenario finished within 150 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}\nscreenshots: {}", out.display());
    assert!(output.status.success(), "browser scenario failed:\n{stdout}\n{stderr}");
    for shot in ["chat-alice.png", "chat-bob.png", "feed-bob.png", "phone-chat.png"] {
        assert!(out.join(shot).exists(), "{shot} saved");
    }
}

/// The reference client's reconnect rules against a scripted WebSocket
/// (`e2e/browser/client.test.mjs`, Node's test runner): failover, `sync`
/// after the last `seq`, resending with the same `client_msg_id`, one event
/// per message id, close codes 1012 and 4001, the back-off bounds.
#[tokio::test]
async fn the_reference_client_resumes_resends_and_deduplicates() {
    let root = root();
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg(root.join("e2e/browser/client.test.mjs"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the client tests finished within 60 s")
        .expect("node runs (deploy/browser-deps.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("# fail 0") && !stdout.contains("# pass 0"), "{stdout}");
}
