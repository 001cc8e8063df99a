//! The end-to-end harness: starts the service binaries (from the same
//! `target/` as the tests) as real processes, each test on its own
//! database, NATS subject prefix and Redis key prefix, so tests run in
//! parallel; and drives them through real HTTP and WebSocket clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod faults;
pub mod procs;
mod ws;

use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};

use std::sync::Arc;

use fred::prelude::*;
pub use procs::Proc;
use uuid::Uuid;
pub use ws::WsClient;

/// The PostgreSQL server tests use (`E2E_PG_URL` overrides).
pub fn pg_base() -> String {
    std::env::var("E2E_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("E2E_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The NATS server tests use.
pub fn nats_url() -> String {
    std::env::var("E2E_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Directory of the built binaries (the test binary lives in `<dir>/deps`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(|p| p.parent()).expect("target dir").to_path_buf()
}

/// Returns a free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One running service process for a test: a [`Proc`] whose failures
/// panic, logging to `e2e-logs/<prefix>-<name>-<port>.log`.
pub struct Service {
    /// Binary name.
    pub name: String,
    proc: Proc,
}

impl Service {
    /// Starts a binary with an environment and waits for `/readyz` (unless `wait` is false).
    pub async fn start(name: &str, env: HashMap<String, String>, wait: bool) -> Service {
        let log_dir = bin_dir().join("e2e-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let prefix = env.get("NATS_SUBJECT_PREFIX").cloned().unwrap_or_default();
        let port = env["HTTP_ADDR"].rsplit(':').next().unwrap_or_default().to_owned();
        let log = log_dir.join(format!("{prefix}-{name}-{port}.log"));
        let proc = Proc::spawn(name, 0, env, log)
            .unwrap_or_else(|e| panic!("failed to start {name}: {e:#}"));
        let mut s = Service { name: name.to_owned(), proc };
        if wait {
            s.wait_ready(Duration::from_secs(60)).await;
        }
        s
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.proc.addr
    }

    /// The base URL of its HTTP listener.
    pub fn url(&self) -> String {
        self.proc.url()
    }

    /// Polls `/readyz` until it answers 200. A process that exits during
    /// start-up is started again on another port (its port may have been
    /// taken by a parallel test between choosing and binding it), twice at most.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let client = reqwest::Client::new();
        for restarts in 0.. {
            match self.proc.wait_ready(&client, timeout).await {
                Ok(()) => return,
                Err(e) if restarts < 2 && !self.proc.running() => {
                    eprintln!("{e:#}; starting it again on another port");
                    self.proc.set_env("HTTP_ADDR", &format!("127.0.0.1:{}", free_port())).unwrap();
                    self.proc.restart().unwrap();
                }
                Err(e) => panic!("{e:#}"),
            }
        }
    }

    /// Returns the `/readyz` status code (0 when it does not answer).
    pub async fn readyz(&self) -> u16 {
        self.proc.readyz(&reqwest::Client::new()).await
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill(&mut self) {
        self.proc.kill().await;
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the process to exit;
    /// returns its exit status (`None`: still running, then SIGKILLed).
    pub async fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.terminate(timeout).await.1
    }

    /// Changes a variable for the next (re)start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.proc.set_env(key, value).unwrap();
    }

    /// Removes a variable for the next (re)start.
    pub fn remove_env(&mut self, key: &str) {
        self.proc.remove_env(key);
    }

    /// Starts the process again with the same environment and waits until ready.
    pub async fn restart(&mut self) {
        self.proc.kill().await;
        self.proc.restart().unwrap();
        self.wait_ready(Duration::from_secs(60)).await;
    }

    /// Returns the process id.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }
}

/// Isolation and secrets of one test.
#[derive(Clone)]
pub struct TestEnv {
    /// NATS subject prefix (also names the logs).
    pub prefix: String,
    /// Redis key prefix.
    pub redis_prefix: String,
    /// Database name.
    pub database: String,
    /// HS256 secret.
    pub jwt_secret: String,
    /// Base64 AES-256 key.
    pub encryption_key: String,
    /// Extra variables for every service.
    pub extra: HashMap<String, String>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Fresh names and secrets.
    pub fn new() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        Self {
            prefix: format!("t{id}"),
            redis_prefix: format!("t{id}:"),
            database: format!("e2e_{id}"),
            jwt_secret: format!("e2e-secret-{}", Uuid::new_v4().simple()),
            encryption_key: shared::crypto::generate_key_base64().unwrap(),
            extra: HashMap::new(),
        }
    }

    /// The `DATABASE_URL` of this test's database.
    pub fn database_url(&self) -> String {
        format!("{}/{}", pg_base(), self.database)
    }

    /// The environment of one service, listening on `port`.
    pub fn service_env(&self, port: u16) -> HashMap<String, String> {
        let mut env = HashMap::from([
            ("HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            ("NATS_URL".to_owned(), nats_url()),
            ("NATS_SUBJECT_PREFIX".to_owned(), self.prefix.clone()),
            ("REDIS_URL".to_owned(), redis_url()),
            ("REDIS_KEY_PREFIX".to_owned(), self.redis_prefix.clone()),
            ("DATABASE_URL".to_owned(), self.database_url()),
            ("JWT_SECRET".to_owned(), self.jwt_secret.clone()),
            ("ENCRYPTION_KEY".to_owned(), self.encryption_key.clone()),
            ("RUST_LOG".to_owned(), std::env::var("E2E_LOG").unwrap_or_else(|_| "info".into())),
            ("SHUTDOWN_GRACE_SECS".to_owned(), "10".into()),
        ]);
        env.extend(self.extra.clone());
        env
    }

    /// Mints a token for a user.
    pub fn token(&self, user: Uuid) -> String {
        shared::auth::mint(&self.jwt_secret, user, 3600, None, None).unwrap()
    }
}

/// Which services a [`System`] starts.
pub struct Builder {
    env: TestEnv,
    gateways: usize,
    services: Vec<&'static str>,
}

impl Builder {
    /// How many gateways (default 1).
    pub fn gateways(mut self, n: usize) -> Self {
        self.gateways = n;
        self
    }

    /// Sets a variable for every service.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.extra.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Lifts the per-connection WebSocket rate limit (for tests that send fast).
    pub fn unlimited(self) -> Self {
        self.env("WS_RATE_PER_SEC", "100000").env("WS_RATE_BURST", "100000")
    }

    /// Starts only these backend services (default: all three).
    pub fn only(mut self, services: &[&'static str]) -> Self {
        self.services = services.to_vec();
        self
    }

    /// Starts everything and waits until each service is ready.
    pub async fn start(self) -> System {
        let mut backends = Vec::new();
        for name in &self.services {
            let env = self.env.service_env(free_port());
            backends.push(Service::start(name, env, false));
        }
        let backends = futures_util::future::join_all(backends).await;
        let mut gateways = Vec::new();
        for i in 0..self.gateways {
            let mut env = self.env.service_env(free_port());
            env.insert("GATEWAY_ID".into(), format!("{}-gw{i}", self.env.prefix));
            gateways.push(Service::start("gateway", env, false).await);
        }
        let mut sys = System { env: self.env, backends, gateways, http: reqwest::Client::new() };
        for s in sys.backends.iter_mut().chain(sys.gateways.iter_mut()) {
            s.wait_ready(Duration::from_secs(60)).await;
        }
        sys
    }
}

/// A running system for one test.
pub struct System {
    /// Isolation and secrets.
    pub env: TestEnv,
    /// chat-persistence, feed, presence (those started).
    pub backends: Vec<Service>,
    /// The gateways.
    pub gateways: Vec<Service>,
    http: reqwest::Client,
}

impl System {
    /// A builder with fresh isolation.
    pub fn builder() -> Builder {
        Builder {
            env: TestEnv::new(),
            gateways: 1,
            services: vec!["chat-persistence", "feed", "presence"],
        }
    }

    /// Starts all services with one gateway.
    pub async fn start() -> System {
        Self::builder().start().await
    }

    /// Starts all services with `n` gateways.
    pub async fn start_with(n: usize) -> System {
        Self::builder().gateways(n).start().await
    }

    /// The base URL of gateway `i`.
    pub fn gateway(&self, i: usize) -> String {
        self.gateways[i].url()
    }

    /// A backend service by name.
    pub fn service(&mut self, name: &str) -> &mut Service {
        self.backends.iter_mut().find(|s| s.name == name).expect("service not started")
    }

    /// Mints a token.
    pub fn token(&self, user: Uuid) -> String {
        self.env.token(user)
    }

    /// An HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// SIGKILLs gateway `i`.
    pub async fn kill_gateway(&mut self, i: usize) {
        self.gateways[i].kill().await;
    }

    /// Connects to this test's database (`search_path` set to `schema`).
    pub async fn db(&self, schema: &str) -> sqlx::PgPool {
        let url = format!("{}?options=-csearch_path%3D{schema}", self.env.database_url());
        sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap()
    }

    /// A Redis client.
    pub async fn redis(&self) -> fred::clients::Client {
        let c =
            fred::clients::Client::new(Config::from_url(&redis_url()).unwrap(), None, None, None);
        c.init().await.unwrap();
        c
    }

    /// Deletes every Redis key of this test (as if Redis had lost them).
    pub async fn redis_delete_prefix(&self) -> usize {
        let redis = self.redis().await;
        let pattern = format!("{}*", self.env.redis_prefix);
        let mut deleted = 0;
        let mut cursor = "0".to_owned();
        loop {
            let (next, keys): (String, Vec<String>) = redis
                .custom(
                    fred::cmd!("SCAN"),
                    vec![
                        cursor.clone(),
                        "MATCH".into(),
                        pattern.clone(),
                        "COUNT".into(),
                        "1000".into(),
                    ],
                )
                .await
                .unwrap();
            if !keys.is_empty() {
                deleted += keys.len();
                let _: i64 = redis.del(keys).await.unwrap();
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        deleted
    }

    /// GET with a user's token; returns status and JSON body.
    pub async fn get(&self, gw: usize, path: &str, user: Uuid) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, gw, path, user, None).await
    }

    /// POST JSON with a user's token; returns status and JSON body.
    pub async fn post(
        &self,
        gw: usize,
        path: &str,
        user: Uuid,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, gw, path, user, Some(body)).await
    }

    /// DELETE with a user's token; returns status and JSON body.
    pub async fn delete(&self, gw: usize, path: &str, user: Uuid) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, gw, path, user, None).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        gw: usize,
        path: &str,
        user: Uuid,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.gateway(gw)))
            .bearer_auth(self.token(user));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // Dropping a service kills its process.
        self.backends.clear();
        self.gateways.clear();
        // Best effort: drop the test database once the services are gone.
        let db = self.env.database.clone();
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 1; psql -q -h 127.0.0.1 -U postgres -d postgres -c 'drop database if exists \"{db}\" with (force)' >/dev/null 2>&1"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

/// A TCP proxy to PostgreSQL that can be cut and restored.
pub struct Proxy {
    /// The port to connect to instead of PostgreSQL's.
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    /// Starts forwarding to PostgreSQL on 127.0.0.1:5432.
    pub async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().await.push(task);
            }
        });
        Proxy { port, up, conns }
    }

    /// Refuses new connections and breaks the open ones.
    pub async fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().await.drain(..) {
            t.abort();
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
