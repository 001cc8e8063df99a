//! Wiring: connections, queue-group subscriptions, the sweeper, the ops HTTP
//! server, and the graceful stop (stop taking work, announce what is queued,
//! drain NATS).
use std::{future::Future, sync::Arc, time::Duration};

use actix_web::dev::Server;
use anyhow::Context;
use futures_util::StreamExt;
use shared::subjects::{self, Subjects, queue};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    announce::Announcer,
    config::Settings,
    contacts::Contacts,
    handlers::{self, Ctx},
    store::Store,
};

/// How often each replica sweeps (reaps dead gateways, announces offlines).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(200);
/// Sweeps between two updates of the `presence_online_users` gauge (5 s).
const GAUGE_EVERY: u32 = 25;

/// The running service.
pub struct Application {
    port: u16,
    server: Server,
    ctx: Ctx,
    stop_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    announcer: JoinHandle<()>,
    grace: Duration,
}

impl Application {
    /// Connects, subscribes, starts the sweeper and binds the ops listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let nats = shared::nats::connect(&settings.common.nats, "presence").await?;
        let subjects = Subjects::new(&settings.common.nats.subject_prefix);
        let redis = shared::redis::connect(&settings.redis_url).await?;
        let store = Store::new(redis, &settings.redis_prefix, settings.grace);
        let contacts = Arc::new(Contacts::new(nats.clone(), subjects.clone()));
        let (announcer, announcer_task) =
            Announcer::start(nats.clone(), subjects.clone(), store.clone(), contacts.clone());
        let ctx = Ctx { nats, store, contacts, announcer, gateway_ttl: settings.gateway_ttl };

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = Vec::new();
        let (s, stop) = (&subjects, &stop_rx);
        workers.push(serve(&ctx, s, subjects::PRESENCE_CONN, stop, 256, handlers::conn).await?);
        workers.push(
            serve(&ctx, s, subjects::PRESENCE_HEARTBEAT, stop, 8, handlers::heartbeat).await?,
        );
        workers.push(serve(&ctx, s, subjects::PRESENCE_STATUS, stop, 64, handlers::status).await?);
        workers.push(
            serve(&ctx, s, subjects::PRESENCE_CONTACT_STATUS, stop, 64, handlers::contact_status)
                .await?,
        );
        workers.push(
            serve(&ctx, s, subjects::PRESENCE_ONLINE_COUNT, stop, 16, handlers::online_count)
                .await?,
        );
        workers.push(sweeper(ctx.clone(), stop_rx.clone()));
        workers.push(contacts_listener(&ctx, &subjects, stop_rx.clone()).await?);

        let readiness =
            shared::ops::Checks::new(ctx.nats.clone()).redis(ctx.store.redis().clone()).build();
        let (server, port) = shared::ops::serve(settings.common.http_addr, readiness)?;
        tracing::info!(port, grace_ms = settings.grace.as_millis(), "presence listening");
        Ok(Self {
            port,
            server,
            ctx,
            stop_tx,
            workers,
            announcer: announcer_task,
            grace: settings.common.shutdown_grace,
        })
    }

    /// The bound ops port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops taking work, announces
    /// what is queued and drains NATS within the grace period. The state
    /// lives in Redis, so the other replicas carry on without this one.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let nats = self.ctx.nats.clone();
        let (workers, announcer, ctx) = (self.workers, self.announcer, self.ctx);
        let finish = async move {
            for w in workers {
                let _ = w.await;
            }
            // The last sender goes with the context: the announcer finishes its queue.
            drop(ctx);
            let _ = announcer.await;
        };
        shared::ops::run_until_stopped(
            self.server,
            shutdown,
            self.stop_tx,
            self.grace,
            nats,
            finish,
        )
        .await
    }
}

/// Subscribes `subject` in presence's queue group and runs `handler` on each
/// message, at most `permits` at once (see [`shared::nats::serve_queue`]).
async fn serve<F, Fut>(
    ctx: &Ctx,
    subjects: &Subjects,
    subject: &str,
    stop: &watch::Receiver<bool>,
    permits: u32,
    handler: F,
) -> anyhow::Result<JoinHandle<()>>
where
    F: Fn(Ctx, async_nats::Message) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let c = ctx.clone();
    shared::nats::serve_queue(
        &ctx.nats,
        subjects.get(subject),
        queue::PRESENCE,
        stop.clone(),
        permits,
        move |msg| handler(c.clone(), msg),
    )
    .await
    .with_context(|| format!("failed to subscribe {subject}"))
}

/// Every replica keeps its own contact cache, so contact changes are
/// subscribed without a queue group: each replica forgets what changed.
async fn contacts_listener(
    ctx: &Ctx,
    subjects: &Subjects,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut sub = ctx
        .nats
        .subscribe(subjects.get(subjects::PRESENCE_CONTACTS_CHANGED))
        .await
        .context("failed to subscribe to contact changes")?;
    let ctx = ctx.clone();
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                next = sub.next() => match next {
                    Some(msg) => handlers::contacts_changed(ctx.clone(), msg).await,
                    None => break,
                },
            }
        }
        let _ = sub.unsubscribe().await;
    }))
}

fn sweeper(ctx: Ctx, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweeps = 0u32;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => handlers::sweep(&ctx).await,
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
