//! Latency histograms (HDR, nanoseconds, 3 significant digits).
use std::time::{Duration, Instant};

use anyhow::Context;

use hdrhistogram::Histogram;

/// Highest recordable latency: one hour (anything above saturates).
const MAX_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(Histogram::new_with_bounds(1, MAX_NS, 3)?))
    }

    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(MAX_NS).max(1);
        self.0.saturating_record(ns);
    }

    pub fn merge(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.0.add(&other.0)?;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` in microseconds (0 when empty).
    pub fn us(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_us(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.max() as f64 / 1000.0
    }

    /// One human-readable line.
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: n={} p50={} p99={} p999={} max={}",
            self.len(),
            fmt_us(self.us(0.50)),
            fmt_us(self.us(0.99)),
            fmt_us(self.us(0.999)),
            fmt_us(self.max_us())
        )
    }
}

/// Formats microseconds as µs below 1 ms, ms otherwise.
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 { format!("{us:.1}µs") } else { format!("{:.2}ms", us / 1000.0) }
}

/// Busy and total jiffies of one CPU (`/proc/stat`).
fn cpu_jiffies(cpu: &str) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{cpu} ");
    let line = stat.lines().find(|l| l.starts_with(&name)).context("no such CPU")?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Waits until `cpu` has been at least `idle` idle (0..1) over one second,
/// or `max` has passed; returns how long it waited.
pub async fn wait_idle(cpu: &str, idle: f64, max: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = cpu_jiffies(cpu)?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cpu_jiffies(cpu)?;
        let (busy, total) = (now.0 - last.0, now.1 - last.1);
        last = now;
        if total > 0 && 1.0 - busy as f64 / total as f64 >= idle || started.elapsed() >= max {
            return Ok(started.elapsed());
        }
    }
}
