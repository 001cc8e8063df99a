//! Service processes (the built binaries), configured only by their
//! environment, each logging to its own file, killable and restartable on
//! the same port.
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use tokio::process::Child;

/// Where the service binaries are: `FAULTS_BIN_DIR`, else the directory of
/// the running executable (`target/debug` for the `faults` binary,
/// `target/debug/deps` → `target/debug` for a test).
pub fn service_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FAULTS_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// One service process.
pub struct Proc {
    /// The binary (`gateway`, `chat-persistence`, `feed`, `presence`).
    pub name: String,
    /// Which replica of it (0, 1, …).
    pub replica: usize,
    /// Where it listens (`HTTP_ADDR`).
    pub addr: SocketAddr,
    env: HashMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl Proc {
    /// Starts replica `replica` of `name` with `env` (which must hold
    /// `HTTP_ADDR`), appending its output to `log`.
    pub fn spawn(
        name: &str,
        replica: usize,
        env: HashMap<String, String>,
        log: PathBuf,
    ) -> Result<Self> {
        let addr: SocketAddr = env.get("HTTP_ADDR").context("HTTP_ADDR")?.parse()?;
        let mut p = Self { name: name.to_owned(), replica, addr, log, env, child: None, starts: 0 };
        p.start()?;
        Ok(p)
    }

    /// `name#replica`.
    pub fn label(&self) -> String {
        format!("{}#{}", self.name, self.replica)
    }

    /// The log file (appended to across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    fn start(&mut self) -> Result<()> {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        {
            use std::io::Write;
            let _ = writeln!(
                log,
                "==== faults harness: start #{} of {}",
                self.starts + 1,
                self.label()
            );
        }
        let bin = service_bin_dir().join(&self.name);
        let child = crate::faults::servers::command(&bin, None)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("start {} (build the workspace binaries first)", bin.display())
            })?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// Changes a variable for the next (re)start; `HTTP_ADDR` moves it.
    pub fn set_env(&mut self, key: &str, value: &str) -> Result<()> {
        if key == "HTTP_ADDR" {
            self.addr = value.parse()?;
        }
        self.env.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// Removes a variable for the next (re)start.
    pub fn remove_env(&mut self, key: &str) {
        self.env.remove(key);
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket base URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// `/readyz` status (0 when it does not answer).
    pub async fn readyz(&self, http: &reqwest::Client) -> u16 {
        match tokio::time::timeout(
            Duration::from_secs(2),
            http.get(format!("{}/readyz", self.url())).send(),
        )
        .await
        {
            Ok(Ok(r)) => r.status().as_u16(),
            _ => 0,
        }
    }

    /// Polls `/readyz` until 200; fails if the process exits or `timeout` passes.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!(
                    "{} exited during start-up: {status} (see {})",
                    self.label(),
                    self.log.display()
                );
            }
            if self.readyz(http).await == 200 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} not ready within {timeout:?}", self.label());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits for it.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    }

    /// Starts it again with the same environment (same port).
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
        }
        self.start()
    }

    /// Sends SIGTERM and waits up to `timeout`. Returns how long it took and
    /// its exit status, or `None` if it was still running (then it is SIGKILLed).
    pub async fn terminate(
        &mut self,
        timeout: Duration,
    ) -> (Duration, Option<std::process::ExitStatus>) {
        let started = Instant::now();
        let Some(mut c) = self.child.take() else { return (Duration::ZERO, None) };
        if let Some(pid) = c.id() {
            crate::faults::servers::signal("-TERM", &[pid]);
        }
        match tokio::time::timeout(timeout, c.wait()).await {
            Ok(Ok(status)) => (started.elapsed(), Some(status)),
            _ => {
                let _ = c.start_kill();
                let _ = c.wait().await;
                (started.elapsed(), None)
            }
        }
    }

    /// Whether it is running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}
