//! A whole system of its own: PostgreSQL, Redis and NATS of its own, and
//! N replicas of each service pointing at them, configured only by
//! environment variables.
use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use uuid::Uuid;

use super::servers::{Nats, Postgres, Redis, TempRoot};
use crate::procs::{Proc, service_bin_dir};

/// What a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// A gateway replica.
    Gateway,
    /// A chat-persistence replica.
    ChatPersistence,
    /// The NATS server.
    Nats,
    /// The Redis server.
    Redis,
    /// The PostgreSQL server.
    Postgres,
    /// A presence replica.
    Presence,
    /// A feed replica.
    Feed,
}

impl Component {
    /// The binary of a service component.
    pub fn binary(self) -> Option<&'static str> {
        Some(match self {
            Self::Gateway => "gateway",
            Self::ChatPersistence => "chat-persistence",
            Self::Presence => "presence",
            Self::Feed => "feed",
            Self::Nats | Self::Redis | Self::Postgres => return None,
        })
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gateway => "gateway",
            Self::ChatPersistence => "chat-persistence",
            Self::Nats => "nats",
            Self::Redis => "redis",
            Self::Postgres => "postgresql",
            Self::Presence => "presence",
            Self::Feed => "feed",
        })
    }
}

/// How many of what to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Gateways.
    pub gateways: usize,
    /// chat-persistence replicas.
    pub chat_persistence: usize,
    /// presence replicas.
    pub presence: usize,
    /// feed replicas.
    pub feed: usize,
    /// `SHUTDOWN_GRACE_SECS`.
    pub grace_secs: u64,
    /// Extra variables for every service.
    pub env: HashMap<String, String>,
    /// Where logs go (a fresh directory under `target/debug/faults-logs` when `None`).
    pub log_dir: Option<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            gateways: 2,
            chat_persistence: 2,
            presence: 2,
            feed: 2,
            grace_secs: 2,
            env: HashMap::new(),
            log_dir: None,
        }
    }
}

/// The running system. Dropping it kills every process and removes its data.
pub struct Cluster {
    /// Service processes: gateways first, then the backends.
    pub services: Vec<Proc>,
    /// Its PostgreSQL.
    pub pg: Postgres,
    /// Its Redis.
    pub redis: Redis,
    /// Its NATS.
    pub nats: Nats,
    /// The HS256 secret the gateways check.
    pub jwt_secret: String,
    /// Logs of every process (kept after the run).
    pub log_dir: PathBuf,
    http: reqwest::Client,
    // Last: removed after the processes above are gone.
    _root: TempRoot,
}

/// A fresh log directory `target/debug/faults-logs/<label>-<time>-<pid>`.
pub fn new_log_dir(label: &str) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let dir = service_bin_dir()
        .join("faults-logs")
        .join(format!("{label}-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn random_secret() -> String {
    format!("faults-{}-{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl Cluster {
    /// Starts the servers, then the services, and waits until every service is ready.
    pub async fn start(opts: ClusterOptions) -> Result<Self> {
        let log_dir = match &opts.log_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                d.clone()
            }
            None => new_log_dir("cluster")?,
        };
        let root = TempRoot::new()?;
        let (pg, redis, nats) = tokio::join!(
            Postgres::start(&root.path, &log_dir),
            Redis::start(&root.path, &log_dir),
            Nats::start(&root.path, &log_dir)
        );
        let (pg, redis, nats) = (pg?, redis?, nats?);
        let jwt_secret = random_secret();
        let encryption_key =
            shared::crypto::generate_key_base64().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut cluster = Self {
            services: Vec::new(),
            pg,
            redis,
            nats,
            jwt_secret,
            log_dir,
            http: reqwest::Client::new(),
            _root: root,
        };
        let base = cluster.base_env(&opts, &encryption_key);
        let mut plan = Vec::new();
        for (name, n) in [
            ("chat-persistence", opts.chat_persistence),
            ("presence", opts.presence),
            ("feed", opts.feed),
            ("gateway", opts.gateways),
        ] {
            for replica in 0..n {
                plan.push((name, replica));
            }
        }
        for (name, replica) in plan {
            let mut env = base.clone();
            env.insert("HTTP_ADDR".into(), format!("127.0.0.1:{}", super::servers::free_port()));
            match name {
                "chat-persistence" => {
                    env.insert("DATABASE_URL".into(), cluster.pg.url("chat"));
                }
                "feed" => {
                    env.insert("DATABASE_URL".into(), cluster.pg.url("feed"));
                }
                "gateway" => {
                    env.insert("GATEWAY_ID".into(), format!("faults-gw{replica}"));
                }
                _ => {}
            }
            env.extend(opts.env.clone());
            let p = Proc::spawn(
                name,
                replica,
                env,
                cluster.log_dir.join(format!("{name}-{replica}.log")),
            )?;
            cluster.services.push(p);
            if name == "chat-persistence" && replica == 0 {
                // Let the first replica create the database and migrate alone.
                let http = cluster.http.clone();
                cluster.services[0].wait_ready(&http, Duration::from_secs(60)).await?;
            }
        }
        cluster.wait_all_ready(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    fn base_env(&self, opts: &ClusterOptions, encryption_key: &str) -> HashMap<String, String> {
        HashMap::from(
            [
                ("NATS_URL", self.nats.url()),
                ("REDIS_URL", self.redis.url()),
                ("JWT_SECRET", self.jwt_secret.clone()),
                ("ENCRYPTION_KEY", encryption_key.to_owned()),
                ("SHUTDOWN_GRACE_SECS", opts.grace_secs.to_string()),
                ("RUST_LOG", std::env::var("FAULTS_LOG").unwrap_or_else(|_| "info".into())),
                ("NO_COLOR", "1".into()),
                ("WS_RATE_PER_SEC", "100000".into()),
                ("WS_RATE_BURST", "100000".into()),
                ("API_RATE_PER_SEC", "100000".into()),
                ("API_RATE_BURST", "100000".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
    }

    /// Replicas of one service.
    pub fn replicas(&self, name: &str) -> usize {
        self.services.iter().filter(|s| s.name == name).count()
    }

    /// A service process by binary and replica.
    pub fn service(&mut self, name: &str, replica: usize) -> &mut Proc {
        self.services
            .iter_mut()
            .find(|s| s.name == name && s.replica == replica)
            .unwrap_or_else(|| panic!("no {name}#{replica}"))
    }

    /// WebSocket base URLs of the gateways (stable across restarts).
    pub fn gateway_urls(&self) -> Vec<String> {
        self.services.iter().filter(|s| s.name == "gateway").map(Proc::ws_url).collect()
    }

    /// Mints a token for `user` (valid 24 h).
    pub fn token(&self, user: Uuid) -> String {
        shared::auth::mint(&self.jwt_secret, user, 24 * 3600, None, None)
            .unwrap_or_else(|e| panic!("mint a token: {e}"))
    }

    /// Waits until every running service answers `/readyz` 200; returns the
    /// labels of those that did not within `timeout` (empty = all ready).
    pub async fn not_ready_after(&mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut down = Vec::new();
            for s in &self.services {
                if s.pid().is_some() && s.readyz(&self.http).await != 200 {
                    down.push(s.label());
                }
            }
            if down.is_empty() || Instant::now() > deadline {
                return down;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Like [`Self::not_ready_after`], as an error.
    pub async fn wait_all_ready(&mut self, timeout: Duration) -> Result<()> {
        let down = self.not_ready_after(timeout).await;
        anyhow::ensure!(
            down.is_empty(),
            "not ready within {timeout:?}: {} (logs: {})",
            down.join(", "),
            self.log_dir.display()
        );
        Ok(())
    }

    /// SIGKILLs a component (a service replica, or a server).
    pub async fn kill(&mut self, c: Component, replica: usize) {
        match c {
            Component::Nats => self.nats.kill().await,
            Component::Redis => self.redis.kill().await,
            Component::Postgres => self.pg.kill().await,
            _ => {
                let name = c.binary().unwrap_or_default();
                self.service(name, replica).kill().await;
            }
        }
    }

    /// Starts a killed component again (same port) and waits until it is up
    /// (a server accepts connections; a service answers `/readyz` 200).
    pub async fn restart(&mut self, c: Component, replica: usize) -> Result<()> {
        match c {
            Component::Nats => self.nats.restart().await,
            Component::Redis => self.redis.restart().await,
            Component::Postgres => self.pg.restart().await,
            _ => {
                let name = c.binary().unwrap_or_default();
                let http = self.http.clone();
                let p = self.service(name, replica);
                p.restart()?;
                p.wait_ready(&http, Duration::from_secs(60)).await
            }
        }
    }

    /// The database the services use, `chat` or `feed`.
    pub async fn db(&self, db: &str) -> Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.pg.url(db))
            .await?)
    }

    /// Where the logs are.
    pub fn logs(&self) -> &Path {
        &self.log_dir
    }
}
