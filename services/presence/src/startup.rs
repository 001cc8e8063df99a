//! Wiring: connections, the subjects of [`crate::handlers::routes`] served
//! with [`shared::serve`], the sweeper, the ops HTTP server, and the
//! graceful stop (stop taking work, announce what is queued, drain NATS).
use std::{future::Future, sync::Arc, time::Duration};

use actix_web::dev::Server;
use shared::subjects::{Subjects, queue};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    announce::Announcer,
    config::Settings,
    contacts::Contacts,
    handlers::{self, Ctx},
    store::Store,
    sweeper,
};

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
        let routes = handlers::routes();
        let mut workers = shared::serve::serve(
            &ctx.nats,
            &subjects,
            queue::PRESENCE,
            &stop_rx,
            ctx.clone(),
            routes,
        )
        .await?;
        workers.push(sweeper::start(ctx.clone(), stop_rx));

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
