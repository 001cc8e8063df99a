//! The harness's own PostgreSQL, Redis and NATS servers: each on a free
//! loopback port, with its data in a fresh temporary directory, killable with
//! SIGKILL and restartable on the same port. The machine's servers (5432,
//! 6379, 4222) are never touched. Everything is killed and removed on drop,
//! also when a test panics.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

/// A fresh directory `/tmp/chat-faults-<pid>-<n>`, removed on drop.
pub struct TempRoot {
    /// Its path.
    pub path: PathBuf,
}

impl TempRoot {
    /// Creates it (world-traversable, so PostgreSQL's user reaches its own
    /// subdirectory), after removing those left by harnesses that no longer run.
    pub fn new() -> Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        if let Ok(dir) = std::fs::read_dir("/tmp") {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("chat-faults-")) else {
                    continue;
                };
                if let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok())
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let path = PathBuf::from(format!(
            "/tmp/chat-faults-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        set_mode(&path, 0o755)?;
        Ok(Self { path })
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Sends SIGKILL to these processes (errors, e.g. already gone, ignored).
pub fn sigkill(pids: &[u32]) {
    signal("-KILL", pids);
}

/// Sends a signal (`-TERM`, `-KILL`, …) with `kill(1)` (the workspace forbids `unsafe`).
pub fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = std::process::Command::new("kill")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Parses `/proc/<pid>/stat`: (state, parent pid).
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Every descendant of `pid` (children, grandchildren…), found through `/proc/*/stat`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(p) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some((_, ppid)) = proc_stat(p)
            {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parents {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// Waits until none of `pids` is alive (or `timeout`).
pub async fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free loopback port that is none of the machine's well-known servers' ports.
pub fn free_port() -> u16 {
    loop {
        let p = crate::free_port();
        if ![5432, 6379, 4222, 8222, 6222].contains(&p) {
            return p;
        }
    }
}

/// `setpriv(1)`, when installed: every process the harness starts runs
/// through `setpriv --pdeathsig KILL` so that it dies with the harness even
/// when the harness itself is SIGKILLed (a test timeout) and no `Drop` runs.
fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            ["/usr/bin/setpriv", "/bin/setpriv"].iter().map(PathBuf::from).find(|p| p.exists())
        })
        .as_deref()
}

/// A command for `program` that dies with the harness (see [`setpriv`]),
/// run as `user` (name, uid, gid) when given.
pub fn command(program: &Path, user: Option<&(String, u32, u32)>) -> Command {
    match setpriv() {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL"]);
            if let Some((name, _, _)) = user {
                cmd.args(["--reuid", name, "--regid", name, "--init-groups"]);
            }
            cmd.arg("--").arg(program);
            cmd
        }
        None => {
            let mut cmd = Command::new(program);
            if let Some((_, uid, gid)) = user {
                cmd.uid(*uid).gid(*gid);
            }
            cmd
        }
    }
}

/// Whether a server on `port` answers `hello` (nothing: just connect) with
/// bytes starting with `expect`, within a second each way.
async fn greets(port: u16, hello: &[u8], expect: &[u8]) -> bool {
    let second = Duration::from_secs(1);
    let Ok(Ok(mut s)) = tokio::time::timeout(second, TcpStream::connect(("127.0.0.1", port))).await
    else {
        return false;
    };
    if !hello.is_empty() && s.write_all(hello).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(second, s.read(&mut buf)).await,
        Ok(Ok(n)) if buf[..n].starts_with(expect)
    )
}

/// One server process: how to start it, its child, its log.
struct Daemon {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    user: Option<(String, u32, u32)>,
    cwd: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let mut cmd = command(&self.program, self.user.as_ref());
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {} ({})", self.label, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Kills it (see [`Daemon::kill_tree`]) and starts it again.
    async fn respawn(&mut self) -> Result<()> {
        self.kill_tree().await;
        self.spawn()
    }

    /// SIGKILLs the process and all its descendants at once, and waits for them.
    async fn kill_tree(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let mut pids = Vec::new();
        if let Some(pid) = child.id() {
            pids.push(pid);
            pids.extend(descendants(pid));
        }
        sigkill(&pids);
        let _ = child.wait().await;
        wait_gone(&pids, Duration::from_secs(10)).await;
    }

    /// The synchronous kill for `Drop`.
    fn kill_tree_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let mut pids = vec![pid];
                pids.extend(descendants(pid));
                sigkill(&pids);
            }
            let _ = child.start_kill();
        }
    }

    /// The exit status if the process has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_tree_now();
    }
}

/// Looks up a user's uid and gid in `/etc/passwd`.
fn user_ids(name: &str) -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == name {
            return Ok((f[2].parse()?, f[3].parse()?));
        }
    }
    bail!("no user {name:?} in /etc/passwd")
}

/// The newest `/usr/lib/postgresql/<version>/bin` (`FAULTS_PG_BIN` overrides).
pub fn pg_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("FAULTS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir("/usr/lib/postgresql").context("/usr/lib/postgresql")? {
        let entry = entry?;
        let bin = entry.path().join("bin");
        if let Some(v) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
            && bin.join("postgres").exists()
            && best.as_ref().is_none_or(|(b, _)| v > *b)
        {
            best = Some((v, bin));
        }
    }
    best.map(|(_, b)| b).context("no PostgreSQL server under /usr/lib/postgresql/*/bin")
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} not ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A PostgreSQL cluster of its own (`initdb` as `postgres`, trust auth,
/// `fsync` and `synchronous_commit` on).
pub struct Postgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    daemon: Daemon,
}

impl Postgres {
    /// Initialises a cluster under `root/pg` and starts it.
    pub async fn start(root: &Path, log_dir: &Path) -> Result<Self> {
        let bin = pg_bin_dir()?;
        let (uid, gid) = user_ids("postgres")?;
        let data = root.join("pg");
        std::fs::create_dir_all(&data)?;
        std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
        set_mode(&data, 0o700)?;
        let user = ("postgres".to_owned(), uid, gid);
        let out = command(&bin.join("initdb"), Some(&user))
            .args(["-D", &data.to_string_lossy(), "-A", "trust", "-U", "postgres"])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .current_dir(&data)
            .stdin(Stdio::null())
            .output()
            .await
            .context("run initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = free_port();
        let d = data.to_string_lossy().into_owned();
        let args = [
            "-D",
            &d,
            "-p",
            &port.to_string(),
            "-k",
            &d,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
            "-c",
            "max_connections=200",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut pg = Self {
            port,
            daemon: Daemon {
                label: "postgresql".into(),
                program: bin.join("postgres"),
                args,
                user: Some(user),
                cwd: data,
                log: log_dir.join(format!("postgresql-{port}.log")),
                child: None,
            },
        };
        pg.daemon.spawn()?;
        pg.wait_ready(Duration::from_secs(60)).await?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.pid()
    }

    /// Waits until it accepts connections (crash recovery done).
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let url = self.url("postgres");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.daemon.exited() {
                bail!("postgresql exited: {status}");
            }
            let attempt = tokio::time::timeout(Duration::from_secs(2), async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&url).await?;
                sqlx::query("select 1").execute(&mut c).await?;
                c.close().await
            })
            .await;
            if matches!(attempt, Ok(Ok(()))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("postgresql not ready within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the postmaster and every backend at once (no clean shutdown).
    pub async fn kill(&mut self) {
        self.daemon.kill_tree().await;
    }

    /// Starts it again on the same port (crash recovery) and waits until it accepts connections.
    pub async fn restart(&mut self) -> Result<()> {
        self.daemon.respawn().await?;
        self.wait_ready(Duration::from_secs(120)).await
    }
}

/// A Redis server of its own, nothing persisted (a restart loses everything).
pub struct Redis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    daemon: Daemon,
}

impl Redis {
    /// Starts it with its working directory under `root/redis`.
    pub async fn start(root: &Path, log_dir: &Path) -> Result<Self> {
        let dir = root.join("redis");
        std::fs::create_dir_all(&dir)?;
        let port = free_port();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.to_string_lossy(),
        ]
        .map(str::to_owned)
        .to_vec();
        let mut r = Self {
            port,
            daemon: Daemon {
                label: "redis".into(),
                program: "redis-server".into(),
                args,
                user: None,
                cwd: dir,
                log: log_dir.join(format!("redis-{port}.log")),
                child: None,
            },
        };
        r.daemon.spawn()?;
        r.wait_ready(Duration::from_secs(30)).await?;
        Ok(r)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits until it answers PING.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let port = self.port;
        wait_until("redis", timeout, || greets(port, b"PING\r\n", b"+PONG")).await
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        self.daemon.kill_tree().await;
    }

    /// Starts it again (empty) on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.daemon.respawn().await?;
        self.wait_ready(Duration::from_secs(30)).await
    }
}

/// A NATS server of its own (JetStream on, its store under `root/nats`).
pub struct Nats {
    /// Its port on 127.0.0.1.
    pub port: u16,
    daemon: Daemon,
}

impl Nats {
    /// Starts it.
    pub async fn start(root: &Path, log_dir: &Path) -> Result<Self> {
        let dir = root.join("nats");
        std::fs::create_dir_all(&dir)?;
        let port = free_port();
        let args =
            ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", &dir.to_string_lossy()]
                .map(str::to_owned)
                .to_vec();
        let mut n = Self {
            port,
            daemon: Daemon {
                label: "nats".into(),
                program: "nats-server".into(),
                args,
                user: None,
                cwd: root.to_path_buf(),
                log: log_dir.join(format!("nats-{port}.log")),
                child: None,
            },
        };
        n.daemon.spawn()?;
        n.wait_ready(Duration::from_secs(30)).await?;
        Ok(n)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Waits until it greets with `INFO`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let port = self.port;
        wait_until("nats", timeout, || greets(port, b"", b"INFO")).await
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        self.daemon.kill_tree().await;
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.daemon.respawn().await?;
        self.wait_ready(Duration::from_secs(30)).await
    }
}
