//! Wiring: connections, migrations, the methods of
//! [`crate::handlers::routes`] served with [`shared::serve`], the timeline
//! repair loop, the ops HTTP server, and the graceful stop (stop taking
//! requests, finish those held, send coalesced updates, drain NATS).
use std::{future::Future, sync::Arc, time::Duration};

use actix_web::dev::Server;
use shared::subjects::{Subjects, queue};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    config::Settings,
    handlers::{self, Ctx},
    live::Live,
    timeline::Timelines,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/feed");

/// The running service.
pub struct Application {
    port: u16,
    server: Server,
    ctx: Ctx,
    stop_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    coalescer: JoinHandle<()>,
    grace: Duration,
}

impl Application {
    /// Connects, starts migrations, subscribes and binds the ops listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let nats = shared::nats::connect(&settings.common.nats, "feed").await?;
        let subjects = Subjects::new(&settings.common.nats.subject_prefix);
        let pool =
            shared::db::lazy_pool(&settings.database, "feed", settings.database_max_connections);
        let redis = shared::redis::connect(&settings.redis_url).await?;

        let migrated =
            shared::db::prepare_in_background(&settings.database, &pool, "feed", &MIGRATOR);

        let timelines = Arc::new(Timelines::new(
            redis.clone(),
            pool.clone(),
            &settings.redis_prefix,
            settings.timeline_cap,
        ));
        let (live, coalescer) = Live::start(nats.clone(), subjects.clone());
        let ctx = Ctx {
            pool,
            nats,
            subjects,
            timelines,
            live,
            fanout_max_followers: settings.fanout_max_followers,
        };

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = shared::serve::serve(
            &ctx.nats,
            &ctx.subjects,
            queue::FEED,
            &stop_rx,
            ctx.clone(),
            handlers::routes(),
        )
        .await?;
        workers.push(repair_loop(&ctx, stop_rx));

        let readiness = shared::ops::Checks::new(ctx.nats.clone())
            .postgres(ctx.pool.clone(), migrated)
            .redis(redis)
            .build();
        let (server, port) = shared::ops::serve(settings.common.http_addr, readiness)?;
        tracing::info!(port, "feed listening");
        Ok(Self {
            port,
            server,
            ctx,
            stop_tx,
            workers,
            coalescer,
            grace: settings.common.shutdown_grace,
        })
    }

    /// The bound ops port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops taking requests,
    /// finishes those held and drains NATS within the grace period.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let nats = self.ctx.nats.clone();
        let (workers, coalescer, ctx) = (self.workers, self.coalescer, self.ctx);
        let finish = async move {
            for w in workers {
                let _ = w.await;
            }
            // The last handle to the coalescer: it sends what it holds and stops.
            drop(ctx);
            let _ = coalescer.await;
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

fn repair_loop(ctx: &Ctx, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let timelines = ctx.timelines.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => timelines.repair().await,
            }
        }
    })
}
