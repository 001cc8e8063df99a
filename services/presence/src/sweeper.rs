//! The sweep every replica runs every [`SWEEP_INTERVAL`]: it reaps the
//! gateways whose heartbeats stopped and announces the offlines whose grace
//! ran out (the scripts make concurrent sweeps of replicas safe).
use std::time::Duration;

use tokio::{sync::watch, task::JoinHandle};

use crate::handlers::Ctx;

/// How often each replica sweeps (reaps dead gateways, announces offlines).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(200);
/// Sweeps between two updates of the `presence_online_users` gauge (5 s).
const GAUGE_EVERY: u32 = 25;

/// Sweeps until `stop`, and sets the `presence_online_users` gauge every
/// [`GAUGE_EVERY`] sweeps.
pub fn start(ctx: Ctx, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweeps = 0u32;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => sweep(&ctx).await,
            }
            sweeps = sweeps.wrapping_add(1);
            if sweeps.is_multiple_of(GAUGE_EVERY)
                && let Ok(n) = ctx.store.online_count().await
            {
                metrics::gauge!("presence_online_users").set(n as f64);
            }
        }
    })
}

/// One sweep: reaps dead gateways and announces the offlines whose grace ran out.
pub async fn sweep(ctx: &Ctx) {
    match ctx.store.sweep().await {
        Ok(swept) => {
            ctx.announcer.announce(swept.online, true).await;
            ctx.announcer.announce(swept.offline, false).await;
        }
        Err(e) => tracing::debug!(error.cause_chain = ?e, "sweep failed"),
    }
}
