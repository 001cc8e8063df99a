//! The fault harness: a whole system of its own (two gateways, two replicas
//! of every backend, its own PostgreSQL, Redis and NATS), a seeded chat
//! workload over real WebSockets, SIGKILLs of one component at a time while
//! it runs, and a checker for lost, duplicated, reordered and unexpected
//! messages and hung sends. See `docs/reliability.md`.
pub mod check;
pub mod cluster;
pub mod rng;
pub mod servers;
pub mod workload;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;

pub use check::Report;
pub use cluster::{Cluster, ClusterOptions, Component};

use check::FaultEvent;
use rng::Rng;
use workload::{Pacer, Pair, Shared};

/// One run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Messages to acknowledge in all (`--messages`).
    pub messages: u64,
    /// Seed of every random choice (`--seed`).
    pub seed: u64,
    /// Kills per component (`--kills`).
    pub kills: usize,
    /// Sender→receiver pairs (`--pairs`).
    pub pairs: usize,
    /// Messages in flight per sender (`--window`).
    pub window: usize,
    /// Components killed in turn.
    pub components: Vec<Component>,
    /// At least this long between a component being back and the next kill (`--gap`).
    pub gap: Duration,
    /// New messages per second in all; `None` spreads `messages` over the planned faults (`--rate`, 0 = unlimited).
    pub rate: Option<f64>,
    /// How long a killed component stays down: a random value in this range (ms).
    pub downtime_ms: (u64, u64),
    /// After the last fault, how long to wait for every sent message to be acknowledged.
    pub ack_deadline: Duration,
    /// Print progress lines.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            messages: 100_000,
            seed: 1,
            kills: 5,
            pairs: 10,
            window: 16,
            components: vec![
                Component::Gateway,
                Component::ChatPersistence,
                Component::Nats,
                Component::Redis,
                Component::Postgres,
                Component::Presence,
            ],
            gap: Duration::from_secs(3),
            rate: None,
            downtime_ms: (300, 1500),
            ack_deadline: Duration::from_secs(60),
            verbose: true,
        }
    }
}

impl Config {
    /// The quick run: ~3,000 messages, one kill of each component.
    pub fn short(seed: u64) -> Self {
        Self { messages: 3_000, seed, kills: 1, ..Self::default() }
    }

    fn planned_kills(&self) -> usize {
        self.kills * self.components.len()
    }

    /// New messages per second (0 = unlimited): by default `messages` spread
    /// over the planned faults (each takes roughly gap + 3 s), so that the
    /// faults hit a workload in full swing rather than an idle system.
    pub fn effective_rate(&self) -> f64 {
        match self.rate {
            Some(r) => r,
            None if self.planned_kills() == 0 => 0.0,
            None => {
                let secs = (self.planned_kills() + 1) as f64 * (self.gap.as_secs_f64() + 3.0);
                (self.messages as f64 / secs).max(20.0)
            }
        }
    }
}

macro_rules! say {
    ($cfg:expr, $started:expr, $($arg:tt)*) => {
        if $cfg.verbose {
            println!("[faults t+{:>6.1}s] {}", $started.elapsed().as_secs_f64(), format!($($arg)*));
        }
    };
}

/// Starts the system, runs the workload under faults, checks, and tears everything down.
pub async fn run(cfg: &Config) -> Result<Report> {
    let started = Instant::now();
    let log_dir = cluster::new_log_dir(&format!("seed{}", cfg.seed))?;
    say!(
        cfg,
        started,
        "starting own PostgreSQL, Redis, NATS and the services (logs: {})",
        log_dir.display()
    );
    let mut cluster = Cluster::start(ClusterOptions {
        log_dir: Some(log_dir.clone()),
        ..ClusterOptions::default()
    })
    .await?;
    say!(
        cfg,
        started,
        "up: postgresql :{}, redis :{}, nats :{}, {} service processes; rate {:.0} msg/s",
        cluster.pg.port,
        cluster.redis.port,
        cluster.nats.port,
        cluster.services.len(),
        cfg.effective_rate()
    );
    let gateways = cluster.gateway_urls();
    let mut rng = Rng::new(cfg.seed);
    let pairs: Vec<Pair> = (0..cfg.pairs)
        .map(|i| {
            let sender_gw = i % gateways.len();
            let receiver_gw = if rng.chance(0.8) { (i + 1) % gateways.len() } else { sender_gw };
            Pair { index: i, sender: rng.uuid(), receiver: rng.uuid(), sender_gw, receiver_gw }
        })
        .collect();
    let sh = Arc::new(Shared {
        started,
        seed: cfg.seed,
        gateways,
        target: cfg.messages,
        window: cfg.window,
        resend_after: Duration::from_secs(5),
        hang_after: Duration::from_secs(10),
        created: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        faults_done: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        final_sync: AtomicBool::new(false),
        receivers_abort: AtomicBool::new(false),
        resends: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        pacer: Mutex::new(Pacer::new(cfg.effective_rate())),
    });
    let receivers: Vec<_> = pairs
        .iter()
        .map(|p| {
            let token = cluster.token(p.receiver);
            tokio::spawn(workload::run_receiver(
                sh.clone(),
                p.clone(),
                token,
                rng.fork(1000 + p.index as u64),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let senders: Vec<_> = pairs
        .iter()
        .map(|p| {
            let token = cluster.token(p.sender);
            tokio::spawn(workload::run_sender(
                sh.clone(),
                p.clone(),
                token,
                rng.fork(2000 + p.index as u64),
            ))
        })
        .collect();
    let progress = {
        let sh = sh.clone();
        let verbose = cfg.verbose;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if verbose {
                    println!(
                        "[faults t+{:>6.1}s] created {}, acked {}, resends {}, reconnects {}",
                        started.elapsed().as_secs_f64(),
                        sh.created.load(Ordering::Relaxed),
                        sh.acked.load(Ordering::Relaxed),
                        sh.resends.load(Ordering::Relaxed),
                        sh.reconnects.load(Ordering::Relaxed)
                    );
                }
            }
        })
    };

    let faults = inject_faults(&mut cluster, cfg, &sh, &mut rng, started).await;
    sh.faults_done.store(true, Ordering::SeqCst);
    say!(
        cfg,
        started,
        "faults done; sending up to {} messages, then waiting for every ack",
        cfg.messages
    );

    // Wait for every sender to be done (all acknowledged), or the deadline.
    // A stuck system ends the wait too: no new ack for `ack_deadline`.
    let mut deadline: Option<Instant> = None;
    let (mut seen, mut progress_at) = (sh.acked.load(Ordering::SeqCst), Instant::now());
    loop {
        if senders.iter().all(tokio::task::JoinHandle::is_finished) {
            break;
        }
        let acked = sh.acked.load(Ordering::SeqCst);
        if acked != seen {
            (seen, progress_at) = (acked, Instant::now());
        }
        if deadline.is_none() && sh.created.load(Ordering::SeqCst) >= cfg.messages {
            deadline = Some(Instant::now() + cfg.ack_deadline);
        }
        if deadline.is_some_and(|d| Instant::now() > d) || progress_at.elapsed() > cfg.ack_deadline
        {
            say!(cfg, started, "ack deadline passed (acked {acked}): senders give up");
            sh.abort.store(true, Ordering::SeqCst);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut sender_logs = Vec::new();
    for h in senders {
        sender_logs.push(h.await?);
    }
    say!(
        cfg,
        started,
        "senders done ({} acked); receivers reconnect for a final sync",
        sh.acked.load(Ordering::SeqCst)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    sh.final_sync.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !receivers.iter().all(tokio::task::JoinHandle::is_finished) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sh.receivers_abort.store(true, Ordering::SeqCst);
    let mut receiver_logs = Vec::new();
    for h in receivers {
        receiver_logs.push(h.await?);
    }
    progress.abort();
    let duration = started.elapsed();
    let pool = cluster.db("chat").await?;
    let (rows, has_seq) = check::read_db(&pool).await?;
    pool.close().await;
    let report = check::check(&check::Inputs {
        seed: cfg.seed,
        target: cfg.messages,
        pairs: &pairs,
        senders: &sender_logs,
        receivers: &receiver_logs,
        db: &rows,
        db_has_seq: has_seq,
        faults: &faults,
        duration,
        log_dir: log_dir.display().to_string(),
    });
    drop(cluster);
    Ok(report)
}

/// Kills one component at a time, in turn, `kills` times each: each kill
/// waits for its share of the acknowledged target and at least `gap` since
/// the previous component came back.
async fn inject_faults(
    cluster: &mut Cluster,
    cfg: &Config,
    sh: &Shared,
    rng: &mut Rng,
    started: Instant,
) -> Vec<FaultEvent> {
    let total = cfg.planned_kills();
    let mut events = Vec::new();
    let mut last = Instant::now();
    for k in 0..total {
        let component = cfg.components[k % cfg.components.len()];
        let round = k / cfg.components.len();
        let replicas = component.binary().map_or(1, |b| cluster.replicas(b)).max(1);
        let replica = round % replicas;
        let want = cfg.messages * (k as u64 + 1) / (total as u64 + 1);
        // Wait for progress (but not forever: a stuck system still gets its faults).
        let mut seen = sh.acked.load(Ordering::SeqCst);
        let mut progress_at = Instant::now();
        loop {
            let acked = sh.acked.load(Ordering::SeqCst);
            if acked != seen {
                seen = acked;
                progress_at = Instant::now();
            }
            if last.elapsed() >= cfg.gap && acked >= want {
                break;
            }
            if last.elapsed() >= cfg.gap && progress_at.elapsed() > Duration::from_secs(60) {
                say!(
                    cfg,
                    started,
                    "no progress for 60 s (acked {acked}, want {want}); injecting the next fault anyway"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let at = started.elapsed();
        say!(
            cfg,
            started,
            "SIGKILL {component}#{replica} (acked {})",
            sh.acked.load(Ordering::SeqCst)
        );
        let killed = Instant::now();
        cluster.kill(component, replica).await;
        tokio::time::sleep(Duration::from_millis(rng.range(cfg.downtime_ms.0, cfg.downtime_ms.1)))
            .await;
        let error = cluster.restart(component, replica).await.err().map(|e| format!("{e:#}"));
        let down_for = killed.elapsed();
        let back = Instant::now();
        let not_ready = cluster.not_ready_after(Duration::from_secs(60)).await;
        let all_ready_after = back.elapsed();
        say!(
            cfg,
            started,
            "{component}#{replica} back after {:.1} s; every service ready {:.1} s later{}{}",
            down_for.as_secs_f64(),
            all_ready_after.as_secs_f64(),
            if not_ready.is_empty() {
                String::new()
            } else {
                format!("; NOT READY: {}", not_ready.join(", "))
            },
            error.as_deref().map(|e| format!("; RESTART FAILED: {e}")).unwrap_or_default()
        );
        events.push(FaultEvent {
            at,
            component,
            replica,
            down_for,
            all_ready_after,
            not_ready,
            error,
        });
        last = Instant::now();
    }
    events
}
