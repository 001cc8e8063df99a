//! The foundation as operators see it: settings errors name the variable and
//! stop the service; `/readyz` follows the dependencies; ops endpoints answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use e2e_tests::{Proxy, Service, TestEnv, bin_dir, free_port};

/// Runs a binary with an environment and returns (exit success, stderr+stdout).
fn run_with(bin: &str, env: &HashMap<String, String>) -> (bool, String) {
    let out =
        std::process::Command::new(bin_dir().join(bin)).env_clear().envs(env).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn bad_settings_stop_each_service_with_the_variable_named() {
    let env = TestEnv::new();
    let base = env.service_env(free_port());
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("gateway", "JWT_SECRET", None),
        ("gateway", "JWT_SECRET", Some("short")),
        ("gateway", "HTTP_ADDR", Some("not-an-address")),
        ("gateway", "WS_MAX_FRAME_BYTES", Some("lots")),
        ("gateway", "NATS_REQUEST_TIMEOUT_MS", Some("0")),
        ("chat-persistence", "ENCRYPTION_KEY", None),
        ("chat-persistence", "ENCRYPTION_KEY", Some("dG9vLXNob3J0")),
        ("chat-persistence", "ENCRYPTION_OLD_KEYS", Some("%%%")),
        ("chat-persistence", "DATABASE_URL", Some("mysql://nope")),
        ("feed", "DATABASE_URL", Some("mysql://nope")),
        ("presence", "REDIS_URL", Some("http://x")),
        ("presence", "NATS_SUBJECT_PREFIX", Some("a b")),
    ];
    for (bin, var, value) in cases {
        let mut env = base.clone();
        match value {
            Some(v) => env.insert((*var).to_owned(), (*v).to_owned()),
            None => env.remove(*var),
        };
        let (ok, text) = run_with(bin, &env);
        assert!(!ok, "{bin} started with {var}={value:?}");
        assert!(text.contains(var), "{bin} with {var}={value:?} said: {text}");
        if let Some(v) = value
            && (*var == "JWT_SECRET" || var.starts_with("ENCRYPTION"))
        {
            assert!(!text.contains(v), "a secret value was printed: {text}");
        }
    }
}

async fn wait_status(svc: &Service, want: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if svc.readyz().await == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{} /readyz never became {want}", svc.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_follows_postgresql_for_the_services_that_own_tables() {
    let proxy = Proxy::start().await;
    let env = TestEnv::new();
    for name in ["chat-persistence", "feed"] {
        let mut vars = env.service_env(free_port());
        vars.insert(
            "DATABASE_URL".into(),
            format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, env.database),
        );
        let svc = Service::start(name, vars, true).await;
        assert_eq!(svc.readyz().await, 200);
        let health = reqwest::get(format!("{}/healthz", svc.url())).await.unwrap();
        assert_eq!(health.status(), 200);
        let metrics = reqwest::get(format!("{}/metrics", svc.url())).await.unwrap();
        assert_eq!(metrics.status(), 200);
        proxy.cut().await;
        wait_status(&svc, 503, Duration::from_secs(10)).await;
        let body: serde_json::Value =
            reqwest::get(format!("{}/readyz", svc.url())).await.unwrap().json().await.unwrap();
        assert!(body["unavailable"].to_string().contains("postgresql"), "{body}");
        // Still alive while a dependency is down.
        assert_eq!(reqwest::get(format!("{}/healthz", svc.url())).await.unwrap().status(), 200);
        proxy.restore();
        wait_status(&svc, 200, Duration::from_secs(15)).await;
    }
}

#[tokio::test]
async fn services_start_before_their_database_exists_and_create_it() {
    let env = TestEnv::new();
    let svc = Service::start("chat-persistence", env.service_env(free_port()), true).await;
    assert_eq!(svc.readyz().await, 200);
    let pool =
        sqlx::PgPool::connect(&format!("{}?options=-csearch_path%3Dchat", env.database_url()))
            .await
            .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'chat' order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.contains(&"message".to_owned()), "{tables:?}");
    let columns: Vec<String> = sqlx::query_scalar(
        "select column_name::text from information_schema.columns where table_schema = 'chat' and table_name = 'message'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!columns.iter().any(|c| c == "content"), "no plaintext column: {columns:?}");
}

#[tokio::test]
async fn gateway_serves_openapi_and_exits_cleanly_on_sigterm() {
    let env = TestEnv::new();
    let mut gw = Service::start("gateway", env.service_env(free_port()), true).await;
    assert_eq!(gw.readyz().await, 200);
    let r = reqwest::get(format!("{}/api/openapi.json", gw.url())).await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["paths"]["/api/messages"].is_object());
    let status = gw.terminate(Duration::from_secs(15)).await.expect("gateway exits");
    assert!(status.success(), "{status:?}");
}
